//! What a request's body may cost: admission before it is read (its
//! declared length against the route's limit and against
//! `server.max_body_memory`, the bytes all bodies in hand may take), and
//! the answers when reading it fails.

use super::api::AppState;
use super::error::ApiError;
use super::ServerConfig;
use crate::config::server::BODY_COPIES;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use futures_util::StreamExt;
use std::time::Duration;

/// Admission, before a body is read: a declared length over the route's
/// limit is a 413 at once (with `Expect: 100-continue` too, since no
/// `100 Continue` goes out before the body is read), and a body that does
/// not fit in `server.max_body_memory` now ([`BODY_COPIES`] times its length)
/// is a 503 with `Retry-After`.
pub(super) fn admit(
    s: &AppState,
    req: &Request,
) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, ApiError> {
    let c = &s.config;
    let limit = match req.uri().path() {
        "/v1/events" => c.max_batch_bytes,
        "/v1/decide" | "/v1/feedback" | "/v1/checkpoint" => c.max_body_bytes,
        _ => return Ok(None),
    };
    if req.method() != Method::POST {
        return Ok(None);
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is over the limit of {limit} bytes"),
        ));
    }
    let need = declared.map_or(limit, |n| n as usize).max(1) * BODY_COPIES;
    let need = u32::try_from(need).unwrap_or(u32::MAX);
    s.body_budget
        .clone()
        .try_acquire_many_owned(need)
        .map(Some)
        .map_err(|_| {
            s.metrics.overloaded.inc();
            ApiError::overloaded(
                "too many request bodies in memory (server.max_body_memory); retry shortly",
            )
        })
}

/// The most time a refused body is given to arrive in full (see [`discard`]).
const DISCARD_WITHIN: Duration = Duration::from_secs(60);

/// A body refused for memory is read and thrown away, chunk by chunk and in
/// the background, so the client, still sending it, reads the 503 rather
/// than a reset connection (most clients send the whole body before they
/// read an answer). It costs no memory beyond a chunk. Each chunk may take
/// `request_timeout` to come, as an accepted body's may; at most the route's
/// limit in bytes (`max_batch_bytes`) and [`DISCARD_WITHIN`] in all are
/// spent on it, then the connection is dropped.
pub(super) fn discard(c: &ServerConfig, body: Body) {
    let (limit, idle) = (c.max_batch_bytes, c.request_timeout.value());
    tokio::spawn(async move {
        let mut chunks = body.into_data_stream();
        let mut seen = 0usize;
        let _ = tokio::time::timeout(DISCARD_WITHIN, async {
            while let Ok(Some(Ok(chunk))) = tokio::time::timeout(idle, chunks.next()).await {
                seen += chunk.len();
                if seen > limit {
                    break;
                }
            }
        })
        .await;
    });
}

/// The body, or the answer to a failure to read it: over the limit 413, a
/// read timeout a retryable 503, anything else 400.
pub fn read(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the request body is over the limit of {limit} bytes"),
            )
        } else if timed_out(&r) {
            // A body that does not arrive in time is the server's load or
            // the network, not a bad request: the client may send it again.
            ApiError::overloaded(format!(
                "the request body did not arrive within the request timeout: {}",
                r.body_text()
            ))
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "unreadable_body",
                format!("cannot read the request body: {}", r.body_text()),
            )
        }
    })
}

/// Whether a body could not be read because its read timed out.
fn timed_out(r: &BytesRejection) -> bool {
    let mut e: Option<&(dyn std::error::Error + 'static)> = Some(r);
    while let Some(err) = e {
        if err.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        e = err.source();
    }
    false
}
