//! Messages in: a message's payload decoded as an event, or the reason it
//! goes to the dead-letter topic.

use super::*;

/// Why a message is not an event: a reason code (a metric label, and the
/// `error_code` header) and what exactly is wrong (the `error` header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub code: &'static str,
    pub message: String,
}

/// A message's value as an event, or why it is not one.
pub fn decode(payload: Option<&[u8]>, max_bytes: usize) -> Result<Event, DeadLetter> {
    let dead = |code, message| Err(DeadLetter { code, message });
    let bytes = match payload {
        None | Some([]) => return dead("empty", "the message has no value".to_string()),
        Some(b) => b,
    };
    if bytes.len() > max_bytes {
        return dead(
            "too_large",
            format!(
                "the value is {} bytes; the limit is {max_bytes} (kafka.max_message_bytes)",
                bytes.len()
            ),
        );
    }
    let event = Event::from_json(bytes).map_err(|e: EventError| {
        match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Err(syntax) => DeadLetter {
                code: "malformed_json",
                message: format!("not JSON: {syntax}"),
            },
            Ok(_) => DeadLetter {
                code: "invalid_field",
                message: e.to_string(),
            },
        }
    })?;
    if event.timestamp.is_none() {
        return dead(
            "invalid_field",
            "field `timestamp`: is required on Kafka (when the sign-in happened)".to_string(),
        );
    }
    Ok(event)
}
