//! `POST /v1/events`: outcomes in batches of up to `server.max_batch_events`,
//! decoded beside the engine, checked whole, then applied in slices so that
//! decides interleave with a large batch.

use super::api::{append, ask, decode_event, durable, json_response, reject, AppState};
use super::error::ApiError;
use crate::event::{Event, Outcome};
use crate::node::priority::{run_at, Priority};
use crate::node::replication::{Append, Origin};
use crate::node::worker::{Job, Refused, INGEST_SLICE};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::value::RawValue;
use tokio::sync::oneshot;

/// Bodies up to this size are decoded on the request's own thread (a few
/// events: tens of microseconds, less than starting a thread); larger ones
/// on a thread of their own at nice 19 (see [`decode`]).
const DECODE_INLINE_BYTES: usize = 64 << 10;

pub async fn events(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = super::body::read(body, s.config.max_batch_bytes)?;
    let events = decode(body.clone(), s.config.max_batch_events)
        .await
        .inspect_err(|e| reject(&s.metrics, e))?;
    // Like any fault, one event out of time refuses the batch.
    let array = body.trim_ascii_start().starts_with(b"[");
    // The events are decoded: the body's bytes need not wait with them in
    // the engine's queue (what a batch holds there is about its size again).
    drop(body);
    let out_of_time = |i: usize, r: crate::event::bounds::TimeRefusal| {
        let field = if array {
            format!("[{i}].timestamp")
        } else {
            "timestamp".to_string()
        };
        ApiError::invalid_field(&field, r.message)
    };
    for (i, e) in events.iter().enumerate() {
        s.engine.check_time(e).map_err(|r| out_of_time(i, r))?;
    }
    let n = events.len();
    let done = match s.replication.get() {
        None => {
            // Checked whole, then applied in slices, so decides interleave
            // with a large batch rather than wait for all of it; the check
            // too goes in slices (a recent-id lookup an event: about 1 ms
            // for 10,000), none applied before all passed.
            let mut checked = Vec::with_capacity(n);
            let mut unchecked = events.into_iter();
            loop {
                let slice: Vec<Event> = unchecked.by_ref().take(4 * INGEST_SLICE).collect();
                if slice.is_empty() {
                    break;
                }
                let (slice, late) = ask(&s, |tx| Job::CheckLate(slice, tx)).await?;
                if let Some((i, r)) = late {
                    return Err(out_of_time(checked.len() + i, r));
                }
                checked.extend(slice);
            }
            let mut rest = checked.into_iter();
            let mut done = crate::node::worker::Ingested {
                decided: 0,
                duplicates: 0,
            };
            // Admitted once (the check above): the slices are not refused
            // for the requests in flight, so none is left half applied for
            // that; a timeout or a stop between slices answers 503, and
            // sending the batch again is safe (repeats are recognised).
            loop {
                // Each event moved once (splitting the rest off a vector
                // each turn copied it whole: 3 MB a slice of a 10,000 batch).
                let slice: Vec<Event> = rest.by_ref().take(INGEST_SLICE).collect();
                if slice.is_empty() {
                    break;
                }
                let (tx, rx) = oneshot::channel();
                s.engine
                    .run_admitted(Job::Apply(slice, tx), s.config.request_timeout.value())
                    .await
                    .map_err(|r| match r {
                        Refused::Stopped => ApiError::unavailable("the engine has stopped"),
                        _ => ApiError::overloaded(format!(
                            "the engine did not take the rest of the batch within {}; send it again: repeats are recognised",
                            humantime::format_duration(s.config.request_timeout.value())
                        )),
                    })?;
                let d = rx
                    .await
                    .map_err(|_| ApiError::unavailable("the engine has stopped"))?;
                done.decided += d.decided;
                done.duplicates += d.duplicates;
            }
            durable(&s).await?;
            done
        }
        Some(r) => {
            // Refused whole when late for this replica's clock, as a single
            // instance does; one late only for the log's (another replica's
            // write got there first) is applied by no replica.
            let (events, late) = ask(&s, |tx| Job::CheckLate(events, tx)).await?;
            if let Some((i, r)) = late {
                return Err(out_of_time(i, r));
            }
            let records = events.into_iter().map(Append::Event).collect();
            let folded = append(&s, r.as_ref(), records, Origin::Events).await?;
            let duplicates = folded.iter().filter(|f| f.duplicate).count();
            let late = folded.iter().filter(|f| f.late.is_some()).count();
            crate::node::worker::Ingested {
                decided: n - duplicates - late,
                duplicates,
            }
        }
    };
    let body = serde_json::json!({
        "accepted": n,
        "decided": done.decided,
        "duplicates": done.duplicates,
    });
    Ok(json_response(
        StatusCode::ACCEPTED,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}

/// Decodes a body beside the engine, not on the runtime's threads: at nice
/// 19, a decide's handling preempts it (a 10,000-event batch is tens of
/// milliseconds of decoding, which on one core held the decides back).
/// A small body is decoded in place. One thread per large batch in flight,
/// as many as `server.max_body_memory` admits bodies at once.
async fn decode(body: Bytes, max_events: usize) -> Result<Vec<Event>, ApiError> {
    if body.len() <= DECODE_INLINE_BYTES {
        return decode_batch(&body, max_events);
    }
    run_at(Priority::Low, move || decode_batch(&body, max_events))
        .await
        .unwrap_or_else(|| {
            Err(ApiError::unavailable(
                "no thread could be started to decode the batch; send it again",
            ))
        })
}

/// One event or an array of them, all outcomes; any fault refuses the whole
/// batch, so a caller can fix it and resend without working out which events
/// were taken. Decodes a `POST /v1/events` body.
fn decode_batch(json: &[u8], max_events: usize) -> Result<Vec<Event>, ApiError> {
    let array = json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    let items: Vec<&RawValue> = if array {
        serde_json::from_slice(json).map_err(|e| ApiError::malformed_json(e.to_string()))?
    } else {
        vec![serde_json::from_slice(json).map_err(|e| ApiError::malformed_json(e.to_string()))?]
    };
    if items.len() > max_events {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!(
                "{} events in one request; the limit is {max_events}",
                items.len()
            ),
        ));
    }
    let mut events = Vec::with_capacity(items.len());
    for (i, raw) in items.iter().enumerate() {
        let at = if array {
            format!("[{i}].")
        } else {
            String::new()
        };
        let e = decode_event(raw.get().as_bytes(), &at)?;
        if e.outcome == Outcome::Attempt {
            return Err(ApiError::invalid_field(
                &format!("{at}outcome"),
                "POST /v1/events takes outcomes (success or failure); ask POST /v1/decide about an attempt",
            ));
        }
        events.push(e);
    }
    Ok(events)
}
