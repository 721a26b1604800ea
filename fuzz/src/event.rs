//! `event_decode`: one event, the quick decoder against serde's.

use palisade::event::Event;

/// A field no decoder knows with a number for its value: serde_json ignores
/// it, and the quick decoder steps aside for any number, so a document with
/// it inserted takes serde's path whatever the quick path would have done.
const SERDE_ONLY: &str = "\"fuzz_serde_only\":0";

/// The document with [`SERDE_ONLY`] inserted after its opening brace; `None`
/// when it has none.
fn serde_only(json: &[u8]) -> Option<Vec<u8>> {
    let open = json.iter().position(|b| !b.is_ascii_whitespace())?;
    if json[open] != b'{' {
        return None;
    }
    let after = &json[open + 1..];
    let empty = after.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'}');
    let mut out = json[..=open].to_vec();
    out.extend_from_slice(SERDE_ONLY.as_bytes());
    if !empty {
        out.push(b',');
    }
    out.extend_from_slice(after);
    Some(out)
}

/// Arbitrary bytes as one event (`src/event/parse.rs`). The quick decoder
/// (`src/event/fast.rs`) is private; what it decides shows in
/// `Event::from_json`, which takes it when it answers. So the same document
/// is decoded again with a field inserted that sends it down serde's path
/// (see [`SERDE_ONLY`]): an event the one path accepts the other must
/// accept, equal; one path must not refuse what the other takes. Also: an
/// event decoded into a used one equals one decoded afresh, and an accepted
/// event written as JSON (as the journal writes it) reads back equal.
pub fn event_decode(data: &[u8]) {
    let plain = Event::from_json(data);
    let mut reused = Event::from_json(GOOD_EVENT.as_bytes()).expect("the sample event decodes");
    let again = reused.decode_json_into(data);
    match (&plain, again) {
        (Ok(e), Ok(())) => assert_eq!(e, &reused, "decoding into a used event differs"),
        (Err(a), Err(b)) => assert_eq!(a, &b, "decoding into a used event fails differently"),
        (a, b) => panic!("decoding into a used event: {b:?}, afresh: {a:?}"),
    }
    // Below the size limit with room for the inserted field, so both sizes
    // are judged alike.
    if data.len() + SERDE_ONLY.len() < palisade::event::MAX_EVENT_BYTES {
        if let Some(doc) = serde_only(data) {
            let serde = Event::from_json(&doc);
            match (&plain, &serde) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "the quick path and serde disagree"),
                (Err(_), Err(_)) => {}
                (a, b) => panic!("the quick path and serde disagree: {a:?} against {b:?}"),
            }
        }
    }
    if let Ok(e) = plain {
        let json = serde_json::to_vec(&e).expect("an event serializes");
        let back = Event::from_json(&json);
        assert_eq!(
            back.as_ref().ok(),
            Some(&e),
            "an accepted event does not read back from its JSON {:?}: {back:?}",
            String::from_utf8_lossy(&json)
        );
    }
}

/// What [`event_decode`] decodes into before the input, so a reused event
/// has every optional field set.
pub(crate) const GOOD_EVENT: &str = r#"{"event_id":"seed","timestamp":"2026-11-26T10:00:00Z","kind":"sign_in","user":"alice@example.com","user_exists":true,"ip":"203.0.113.7","outcome":"failure","failure_reason":"bad_password","user_agent":"Mozilla/5.0","device_id":"d1","password_sha1":"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8","mfa":"none","tenant":"t1","label":"l1"}"#;
