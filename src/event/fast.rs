//! A quick decoder for the shape nearly every event has: one flat JSON object
//! whose values are strings without escapes, booleans or null. It answers
//! `None` for anything else (a nested or numeric value, an escape, a duplicate
//! field, a value of the wrong type, any syntax it does not expect), and the
//! caller then decodes with serde_json, which also reports every error. So the
//! quick path never decides what is valid; it only skips serde's generic
//! machinery when the answer is certain. A property test holds the two
//! decoders to the same result.

use super::parse::{RawEvent, RawFailureReason, RawKind, RawMfa, RawOutcome};
use super::scan::special;
use std::borrow::Cow;

/// A JSON value the quick path understands.
enum Value<'a> {
    Str(&'a str),
    Bool(bool),
    Null,
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_ws(&mut self) {
        let b = self.text.as_bytes();
        while self.at < b.len() && matches!(b[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// A string without escapes or control characters; the text is already
    /// known to be UTF-8, so any byte range between quotes is a `str`.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = &self.text.as_bytes()[self.at..];
        let end = special(rest)?;
        if rest[end] != b'"' {
            return None;
        }
        let s = &self.text[self.at..self.at + end];
        self.at += end + 1;
        Some(s)
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.text[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    fn value(&mut self) -> Option<Value<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Value::Str),
            b't' => self.literal("true").map(|_| Value::Bool(true)),
            b'f' => self.literal("false").map(|_| Value::Bool(false)),
            b'n' => self.literal("null").map(|_| Value::Null),
            _ => None,
        }
    }
}

fn text<'a>(slot: &mut Option<Cow<'a, str>>, seen: &mut bool, v: Value<'a>) -> Option<()> {
    if std::mem::replace(seen, true) {
        return None; // serde reports a duplicate field
    }
    *slot = match v {
        Value::Str(s) => Some(Cow::Borrowed(s)),
        Value::Null => None,
        Value::Bool(_) => return None,
    };
    Some(())
}

fn variant<T>(
    slot: &mut Option<T>,
    seen: &mut bool,
    v: Value<'_>,
    parse: fn(&str) -> Option<T>,
) -> Option<()> {
    if std::mem::replace(seen, true) {
        return None;
    }
    *slot = match v {
        Value::Str(s) => Some(parse(s)?),
        Value::Null => None,
        Value::Bool(_) => return None,
    };
    Some(())
}

/// The event, if it has the common shape; `None` means "ask serde_json".
pub(super) fn decode(json: &str) -> Option<RawEvent<'_>> {
    let mut c = Cursor { text: json, at: 0 };
    let mut raw = RawEvent::default();
    let mut seen = [false; 14];
    c.skip_ws();
    c.eat(b'{')?;
    c.skip_ws();
    if c.eat(b'}').is_none() {
        loop {
            c.skip_ws();
            let key = c.string()?;
            c.skip_ws();
            c.eat(b':')?;
            c.skip_ws();
            let v = c.value()?;
            let s = &mut seen;
            match key {
                "event_id" => text(&mut raw.event_id, &mut s[0], v)?,
                "timestamp" => text(&mut raw.timestamp, &mut s[1], v)?,
                "kind" => variant(&mut raw.kind, &mut s[2], v, RawKind::from_wire)?,
                "user" => text(&mut raw.user, &mut s[3], v)?,
                "user_exists" => {
                    if std::mem::replace(&mut s[4], true) {
                        return None;
                    }
                    raw.user_exists = match v {
                        Value::Bool(b) => Some(b),
                        Value::Null => None,
                        Value::Str(_) => return None,
                    };
                }
                "ip" => text(&mut raw.ip, &mut s[5], v)?,
                "outcome" => variant(&mut raw.outcome, &mut s[6], v, RawOutcome::from_wire)?,
                "failure_reason" => variant(
                    &mut raw.failure_reason,
                    &mut s[7],
                    v,
                    RawFailureReason::from_wire,
                )?,
                "user_agent" => text(&mut raw.user_agent, &mut s[8], v)?,
                "device_id" => text(&mut raw.device_id, &mut s[9], v)?,
                "password_sha1" => text(&mut raw.password_sha1, &mut s[10], v)?,
                "mfa" => variant(&mut raw.mfa, &mut s[11], v, RawMfa::from_wire)?,
                "tenant" => text(&mut raw.tenant, &mut s[12], v)?,
                "label" => text(&mut raw.label, &mut s[13], v)?,
                // Refused, with its reason, by the serde path.
                k if !matches!(v, Value::Null) && super::parse::is_password_key(k) => return None,
                _ => {} // unknown fields are ignored, as serde does
            }
            c.skip_ws();
            if c.eat(b',').is_some() {
                continue;
            }
            c.eat(b'}')?;
            break;
        }
    }
    c.skip_ws();
    (c.at == json.len()).then_some(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde(json: &str) -> Option<RawEvent<'_>> {
        serde_json::from_str(json).ok()
    }

    const GOOD: &str = r#"{"event_id":"e1","timestamp":"2026-11-26T10:00:00Z","kind":"sign_in","user":"alice","user_exists":true,"ip":"203.0.113.7","outcome":"failure","failure_reason":"bad_password","mfa":null,"extra":"x"}"#;

    #[test]
    fn agrees_with_serde_on_the_common_shape() {
        let fast = decode(GOOD).expect("the common shape");
        assert_eq!(Some(&fast), serde(GOOD).as_ref());
        let spaced = " {\n \"event_id\" : \"e1\" ,\t\"user_exists\": false }\r\n";
        assert_eq!(decode(spaced).as_ref(), serde(spaced).as_ref());
        assert_eq!(decode("{}").as_ref(), serde("{}").as_ref());
    }

    #[test]
    fn leaves_everything_else_to_serde() {
        for odd in [
            r#"{"event_id":"e\u0031"}"#,            // an escape
            r#"{"event_id":"e1","n":1}"#,           // a number
            r#"{"event_id":"e1","o":{"a":"b"}}"#,   // a nested value
            r#"{"event_id":"e1","event_id":"e2"}"#, // a duplicate
            r#"{"kind":"login"}"#,                  // an unknown variant
            r#"{"user_exists":"yes"}"#,             // a wrong type
            r#"{"event_id":"e1",}"#,                // a trailing comma
            r#"{"event_id":"e1"} x"#,               // trailing text
            "{\"event_id\":\"tab\there\"}",         // a control character
            r#"{"event_id":"e1""#,                  // cut short
        ] {
            assert!(decode(odd).is_none(), "{odd}");
        }
    }

    use proptest::prelude::*;

    /// A value for `key`: mostly the right type (so the quick path takes the
    /// object), sometimes not (so it must step aside).
    fn value_for(key: &'static str) -> BoxedStrategy<String> {
        let odd = prop::sample::select(vec![
            "1",
            "{}",
            "[]",
            "\"a\\\"b\"",
            "\"\\u0041\"",
            "\"\t\"",
            "\"login\"",
            "true",
        ])
        .prop_map(String::from);
        let right: BoxedStrategy<String> = match key {
            "kind" => prop::sample::select(vec![
                "\"sign_in\"",
                "\"sign_up\"",
                "\"password_reset\"",
                "null",
            ])
            .prop_map(String::from)
            .boxed(),
            "outcome" => {
                prop::sample::select(vec!["\"attempt\"", "\"success\"", "\"failure\"", "null"])
                    .prop_map(String::from)
                    .boxed()
            }
            "failure_reason" => {
                prop::sample::select(vec!["\"bad_password\"", "\"locked\"", "null"])
                    .prop_map(String::from)
                    .boxed()
            }
            "mfa" => prop::sample::select(vec!["\"none\"", "\"passed\"", "\"failed\"", "null"])
                .prop_map(String::from)
                .boxed(),
            "user_exists" => prop::sample::select(vec!["true", "false", "null"])
                .prop_map(String::from)
                .boxed(),
            _ => prop_oneof![
                "[ -!#-\\[\\]-~]{0,12}".prop_map(|s| format!("\"{s}\"")),
                "\\PC{0,4}".prop_map(|s| serde_json::to_string(&s).unwrap()),
                Just("null".to_string()),
            ]
            .boxed(),
        };
        prop_oneof![8 => right, 1 => odd].boxed()
    }

    use super::super::parse::FIELDS as KEYS;

    fn object() -> impl Strategy<Value = Vec<(String, String)>> {
        let known: Vec<BoxedStrategy<Option<(String, String)>>> = KEYS
            .iter()
            .map(|&k| {
                prop::option::weighted(0.7, value_for(k).prop_map(move |v| (k.to_string(), v)))
                    .boxed()
            })
            .collect();
        let unknown = prop::collection::vec(("x[a-z]{0,5}", value_for("unknown")), 0..3);
        let dup = prop::option::weighted(
            0.1,
            (
                prop::sample::select(KEYS.to_vec()),
                Just("\"d\"".to_string()),
            ),
        );
        (known, unknown, dup, any::<prop::sample::Index>()).prop_map(|(known, unknown, dup, at)| {
            let mut fields: Vec<(String, String)> = known.into_iter().flatten().collect();
            fields.extend(unknown);
            if let Some((k, v)) = dup {
                fields.insert(at.index(fields.len() + 1), (k.to_string(), v));
            }
            fields
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        /// Whatever the quick path accepts, serde_json decodes to the same;
        /// and most well-typed flat objects are accepted.
        #[test]
        fn the_quick_path_never_disagrees_with_serde(
            fields in object(),
            ws in prop::sample::select(vec!["", " ", "\n", "\t ", "\r\n"]),
            tail in prop::sample::select(vec!["", "", "", " ", "x", ",", "}"]),
        ) {
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("{ws}\"{k}\"{ws}:{ws}{v}{ws}")).collect();
            let json = format!("{ws}{{{}}}{tail}", body.join(","));
            match decode(&json) {
                Some(fast) => prop_assert_eq!(Some(fast), serde(&json), "{}", json),
                // Stepping aside is always safe, but not for the common shape.
                None => prop_assert!(
                    serde(&json).is_none() || json.contains('\\') || json.contains("\"x")
                        || json.contains("\"password\""),
                    "the quick path refused a plain event serde takes: {}", json
                ),
            }
        }
    }
}
