use super::*;

fn event(id: &str) -> Event {
    let json = format!(
        r#"{{"event_id":"{id}","kind":"sign_in","user":"u","ip":"10.0.0.1","outcome":"failure","timestamp":"2026-11-26T10:00:00Z","password_sha1":"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"}}"#
    );
    Event::from_json(json.as_bytes()).unwrap()
}

fn read_all(j: &Journal, from: u64) -> Vec<Entry> {
    let mut out = Vec::new();
    j.replay(from, |_, e| {
        out.push(e);
        Ok(())
    })
    .unwrap();
    out
}

#[tokio::test]
async fn entries_come_back_in_order_across_segments_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), 1).unwrap(); // rolls at 64 KiB
    let mut scratch = Vec::new();
    let mut want = Vec::new();
    let mut middle = 0;
    for i in 0..2000 {
        let e = if i % 10 == 9 {
            Entry::Feedback {
                event_id: format!("e{i}"),
                verdict: FeedbackVerdict::Fraudulent,
            }
        } else {
            Entry::Event(event(&format!("e{i}")))
        };
        let at = j.append((&e).into(), &mut scratch).unwrap();
        if i == 999 {
            middle = at;
        }
        want.push(e);
    }
    j.sync(j.end()).await.unwrap();
    assert!(segments(dir.path()).unwrap().len() > 3, "several segments");
    assert_eq!(read_all(&j, 0), want);
    assert_eq!(read_all(&j, middle), want[1000..]);
    drop(j);
    let j = Journal::open(dir.path(), 1).unwrap();
    assert_eq!(read_all(&j, 0), want, "the same after reopening");
    let deleted = j.delete_before(middle).unwrap();
    assert!(deleted > 0);
    assert_eq!(
        read_all(&j, middle),
        want[1000..],
        "what is kept still reads"
    );
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_and_what_was_synced_survives() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(dir.path(), 1 << 30).unwrap();
    let mut scratch = Vec::new();
    let end = j
        .append(EntryRef::Event(&event("a")), &mut scratch)
        .unwrap();
    j.append(EntryRef::Event(&event("b")), &mut scratch)
        .unwrap();
    j.sync(j.end()).await.unwrap();
    drop(j);
    // Cut the second record in half, as a crash mid-write would.
    let seg = dir.path().join(segment_name(0));
    let len = std::fs::metadata(&seg).unwrap().len();
    let f = OpenOptions::new().write(true).open(&seg).unwrap();
    f.set_len(len - 20).unwrap();
    let j = Journal::open(dir.path(), 1 << 30).unwrap();
    assert_eq!(j.end(), end);
    assert_eq!(read_all(&j, 0), [Entry::Event(event("a"))]);
    // Appending continues from the cut.
    j.append(EntryRef::Event(&event("c")), &mut scratch)
        .unwrap();
    j.sync(j.end()).await.unwrap();
    assert_eq!(
        read_all(&j, 0),
        [Entry::Event(event("a")), Entry::Event(event("c"))]
    );
}
