//! The `[server]` section: where `serve` listens, who may call it, and the
//! limits that keep it predictable under load.

use super::setting::{SectionProblems, Setting};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address of the API. Default `127.0.0.1:8080`.
    pub listen: Setting<SocketAddr>,
    /// A second address serving `/metrics`, `/healthz` and `/readyz` without
    /// an API key (for Prometheus and probes). Unset: those routes are on the
    /// API's address, `/metrics` behind the API key.
    pub metrics_listen: Setting<Option<SocketAddr>>,
    /// Accepted API keys (several, for rotation). With none here, in
    /// `api_keys_file` or in `PALISADE_API_KEYS`, `serve` creates one in the
    /// data folder on first start.
    pub api_keys: Vec<String>,
    /// A file of API keys, one per line (`#` starts a comment).
    pub api_keys_file: Option<PathBuf>,
    /// Largest request body for one event or a feedback call.
    pub max_body_bytes: usize,
    /// Largest body of `POST /v1/events`.
    pub max_batch_bytes: usize,
    /// Most events in one `POST /v1/events`.
    pub max_batch_events: usize,
    /// How long a request may wait for the engine before a 503.
    pub request_timeout: Setting<Duration>,
    /// Requests in flight (deciding or waiting for the engine); beyond it,
    /// 503 with `Retry-After`.
    pub queue_capacity: usize,
    /// Bytes of request bodies held at once (being read, decoded or
    /// decided): a request reserves [`BODY_COPIES`] times its declared
    /// length (or, without one, its route's limit), and one that does not
    /// fit is answered 503 with `Retry-After` before its body is read, so
    /// overload costs no memory. At least twice `max_batch_bytes`.
    pub max_body_memory: usize,
    /// Open connections per listener; at the cap the oldest one still
    /// sending its first request's headers is closed to make room (keep it
    /// below the process's file-descriptor limit).
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (and how long
    /// a kept-alive connection may idle) before it is closed.
    pub header_read_timeout: Setting<Duration>,
    /// After SIGTERM or SIGINT, how long in-flight requests may take.
    pub shutdown_grace: Setting<Duration>,
    /// Enforcements a slow `/v1/decisions/stream` reader may fall behind by
    /// before it is told so and disconnected.
    pub stream_buffer: usize,
    /// How long `/v1/decisions/stream` stays silent before it sends an empty
    /// line, so a reader can tell a quiet feed from a dead connection.
    pub stream_heartbeat: Setting<Duration>,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            listen: Setting::new(SocketAddr::from(([127, 0, 0, 1], 8080))),
            metrics_listen: Setting::new(None),
            api_keys: Vec::new(),
            api_keys_file: None,
            max_body_bytes: 64 * 1024,
            max_batch_bytes: 4 * 1024 * 1024,
            max_batch_events: 10_000,
            request_timeout: Setting::new(Duration::from_secs(2)),
            queue_capacity: 1024,
            max_body_memory: 256 << 20,
            max_connections: 512,
            header_read_timeout: Setting::new(Duration::from_secs(10)),
            shutdown_grace: Setting::new(Duration::from_secs(10)),
            stream_buffer: 4096,
            stream_heartbeat: Setting::new(Duration::from_secs(15)),
        }
    }
}

impl ServerConfig {
    /// Bad values, as `(key, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = SectionProblems::new("server");
        p.setting("listen", &self.listen)
            .setting("metrics_listen", &self.metrics_listen)
            .setting("request_timeout", &self.request_timeout)
            .setting("header_read_timeout", &self.header_read_timeout)
            .setting("shutdown_grace", &self.shutdown_grace)
            .setting("stream_heartbeat", &self.stream_heartbeat);
        for (key, v) in [
            ("max_body_bytes", self.max_body_bytes),
            ("max_batch_bytes", self.max_batch_bytes),
            ("max_batch_events", self.max_batch_events),
            ("queue_capacity", self.queue_capacity),
            ("max_connections", self.max_connections),
            ("stream_buffer", self.stream_buffer),
        ] {
            p.at_least_one(key, v);
        }
        let largest = self.max_batch_bytes.max(self.max_body_bytes);
        if self.max_body_memory < largest.saturating_mul(BODY_COPIES) {
            p.push(
                "max_body_memory",
                format_args!(
                    "{} must hold one largest body {BODY_COPIES} times (max_batch_bytes {largest}: its body and its events)",
                    self.max_body_memory
                ),
            );
        }
        p.duration_at_least(
            "header_read_timeout",
            &self.header_read_timeout,
            Duration::ZERO,
        );
        p.duration_at_least("request_timeout", &self.request_timeout, Duration::ZERO);
        p.duration_at_least("stream_heartbeat", &self.stream_heartbeat, Duration::ZERO);
        for (i, k) in self.api_keys.iter().enumerate() {
            if let Err(e) = check_key(k) {
                p.out
                    .push(("api_keys", format!("server.api_keys[{i}]: {e}")));
            }
        }
        p.out
    }
}

/// What a request body costs at its peak, in copies of its length: while it
/// is collected, its chunks and the one buffer they are copied into; once it
/// is decoded, the body and its events (about its size again) until the body
/// is dropped. A request reserves this many times its declared length of
/// `max_body_memory`.
pub const BODY_COPIES: usize = 2;

/// Shortest key accepted: shorter ones can be guessed.
pub const MIN_KEY_CHARS: usize = 16;

/// A key must be long enough and printable, so it survives a header intact.
pub fn check_key(k: &str) -> Result<(), String> {
    if k.chars().count() < MIN_KEY_CHARS {
        return Err(format!(
            "an API key needs at least {MIN_KEY_CHARS} characters, this one has {}",
            k.chars().count()
        ));
    }
    if !k.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "an API key may hold only printable ASCII characters, without spaces".to_string(),
        );
    }
    Ok(())
}
