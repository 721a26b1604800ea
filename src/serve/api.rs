//! The handlers: decode and check the request, hand the work to the engine
//! thread, answer. Every failure is an [`ApiError`].

use super::error::ApiError;
use super::ServerConfig;
use crate::event::{Event, FeedbackVerdict, Outcome, Timestamp};
use crate::metrics::Metrics;
use crate::node::priority::{run_at, Priority};
use crate::node::replication::{Append, AppendError, Origin, Replication};
use crate::node::worker::{
    CheckpointFailure, EngineHandle, Folded, Job, Refused, UnknownEvent, UserQuery,
};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::value::RawValue;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{broadcast, oneshot, watch};

/// What every handler shares, behind one `Arc`: axum clones the state for
/// every middleware and handler of every request, and cloning each part
/// (the key list among them) showed at 6% of a loaded server's time.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> AppState {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub engine: EngineHandle,
    pub keys: super::auth::ApiKeys,
    pub metrics: Arc<Metrics>,
    pub config: Arc<ServerConfig>,
    /// Bytes of request bodies that may be held at once
    /// (`server.max_body_memory`), taken before a body is read.
    pub body_budget: Arc<tokio::sync::Semaphore>,
    /// Turns true when shutdown begins.
    pub shutdown: watch::Receiver<bool>,
    /// The Kafka consumer's connection, when Kafka is on.
    pub kafka: std::sync::OnceLock<Arc<crate::node::Health>>,
    /// A replica's cluster log (`cluster.mode = "replicated"`).
    pub replication: std::sync::OnceLock<Arc<dyn Replication>>,
    /// The breach-corpus index, for `/range` (the engine reads the same one).
    pub pwned: crate::engine::pwned::SharedIndex,
}

/// Every request to the API's listener passes here once: it is counted and
/// timed by its route pattern (never its path, which may hold a user name),
/// and on every `/v1` route and `/metrics` it needs the API key; a refusal
/// says nothing about the engine. One middleware, not two: each layer costs
/// an allocation per request.
pub async fn gate(State(s): State<AppState>, req: Request, next: Next) -> Response {
    pass(s, req, next, true).await
}

/// The same for the metrics listener, whose routes need no key.
pub async fn admin_gate(State(s): State<AppState>, req: Request, next: Next) -> Response {
    pass(s, req, next, false).await
}

async fn pass(s: AppState, req: Request, next: Next, keyed: bool) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| route_label(m.as_str()));
    let path = req.uri().path();
    let protected = keyed && (path == "/v1" || path.starts_with("/v1/") || path == "/metrics");
    let response = if protected && !has_key(&s, &req) {
        ApiError::unauthorized().into_response()
    } else {
        match super::body::admit(&s, &req) {
            // Held until the answer is made: the body and what is decoded
            // from it live that long.
            Ok(_permit) => next.run(req).await,
            Err(e) => {
                if e.status == StatusCode::SERVICE_UNAVAILABLE {
                    super::body::discard(&s.config, req.into_body());
                }
                e.into_response()
            }
        }
    };
    let m = &s.metrics;
    m.http_requests
        .with_label_values(&[route, response.status().as_str()])
        .inc();
    m.http_duration
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The token of an `Authorization: Bearer <token>` value; the scheme's name
/// is case-insensitive (RFC 7235, RFC 6750).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn has_key(s: &AppState, req: &Request) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .is_some_and(|k| s.keys.accepts(k))
}

/// The route pattern as a `'static` label, from the fixed set of routes.
fn route_label(pattern: &str) -> &'static str {
    super::ROUTES
        .iter()
        .find(|(_, p)| *p == pattern)
        .map_or("unmatched", |(_, p)| p)
}

pub async fn decide(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = super::body::read(body, s.config.max_body_bytes)?;
    let event = decode_event(&body, "").inspect_err(|e| reject(&s.metrics, e))?;
    s.engine
        .check_time(&event)
        .map_err(|r| ApiError::invalid_field("timestamp", r.message))?;
    let decision = match s.replication.get() {
        None => ask(&s, |tx| Job::Decide(Box::new(event), tx)).await?,
        Some(r) if event.outcome == Outcome::Attempt => {
            // Answered at once from this replica's state; applied when it
            // comes back from the log, on every replica.
            let attempt = Box::new(event.clone());
            let d = ask(&s, |tx| Job::Probe(attempt, tx)).await?;
            if d.is_ok() {
                r.append_attempt(&event);
            }
            d
        }
        Some(r) => {
            let folded = append(&s, r.as_ref(), vec![Append::Event(event)], Origin::Decide)
                .await?
                .pop()
                .unwrap_or_default();
            match (folded.decision, folded.late) {
                (_, Some(late)) => Err(late),
                (Some(d), None) => Ok(d),
                (None, None) => {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "duplicate_event",
                        "this event id (with this outcome) was decided before and its decision is no longer in the history",
                    ))
                }
            }
        }
    }
    .map_err(|r| ApiError::invalid_field("timestamp", r.message))?;
    let mut json = Vec::with_capacity(512);
    decision.write_json(&mut json);
    Ok(json_response(StatusCode::OK, json))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackRequest {
    event_id: String,
    verdict: FeedbackVerdict,
}

pub async fn feedback(
    State(s): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = super::body::read(body, s.config.max_body_bytes)?;
    if let Err(e) = serde_json::from_slice::<&RawValue>(&body) {
        return Err(ApiError::malformed_json(e.to_string()));
    }
    let mut de = serde_json::Deserializer::from_slice(&body);
    let req: FeedbackRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." { String::new() } else { field };
        ApiError::invalid_field(&field, e.into_inner().to_string())
    })?;
    if req.event_id.trim().is_empty() {
        return Err(ApiError::invalid_field("event_id", "must not be empty"));
    }
    let answer = match s.replication.get() {
        None => {
            let a = ask(&s, |tx| {
                Job::Feedback(req.event_id.clone(), req.verdict, tx)
            })
            .await?;
            if a.is_ok() {
                durable(&s).await?;
            }
            a
        }
        Some(r) => {
            let record = Append::Feedback {
                event_id: req.event_id.clone(),
                verdict: req.verdict,
            };
            append(&s, r.as_ref(), vec![record], Origin::Feedback)
                .await?
                .pop()
                .and_then(|f| f.feedback)
                .unwrap_or(Err(UnknownEvent))
        }
    };
    match answer {
        Ok(json) => Ok(json_response(StatusCode::OK, json)),
        Err(UnknownEvent) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_event",
            format!(
                "no recent event `{}`: feedback needs an event still in the history",
                clip(&req.event_id)
            ),
        )),
    }
}

/// Most events on one page of a user's events.
pub const MAX_PAGE: usize = 100;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserEventsQuery {
    tenant: Option<String>,
    limit: Option<usize>,
    before: Option<u64>,
}

pub async fn user_events(
    State(s): State<AppState>,
    Path(user): Path<String>,
    query: Result<Query<UserEventsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("{}: the parameters are tenant, limit (1 to {MAX_PAGE}) and before (a page's `next`)", e.body_text()),
        )
    })?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            format!("limit must be 1 to {MAX_PAGE}, got {limit}"),
        )
        .field("limit"));
    }
    let query = UserQuery {
        tenant: q.tenant,
        user,
        limit,
        before: q.before,
    };
    let page = ask(&s, |tx| Job::UserEvents(query, tx)).await?;
    Ok(json_response(StatusCode::OK, page))
}

/// The enforcement feed: what is in force first, then each enforcement as it
/// is issued, one JSON line each, until shutdown, with an empty line after
/// every `stream_heartbeat` of silence (a reader that hears nothing for a
/// few of them knows the connection is dead; the clients wait three). A reader that falls more than
/// `stream_buffer` enforcements behind gets a final `lagged` error line.
pub async fn stream(State(s): State<AppState>) -> Result<Response, ApiError> {
    // Subscribe before asking what is in force, so nothing issued in between
    // is missed; what the snapshot already holds is skipped by its number.
    let live = s.engine.subscribe();
    let heartbeat = s.config.stream_heartbeat.value();
    let (snapshot, seen) = ask(&s, Job::InForce).await?;
    let initial = futures_util::stream::iter(snapshot.into_iter().map(Ok::<Bytes, Infallible>));
    let rest = futures_util::stream::unfold(Some(live), move |rx| async move {
        let mut rx = rx?;
        loop {
            let Ok(next) = tokio::time::timeout(heartbeat, rx.recv()).await else {
                return Some((Ok(Bytes::from_static(b"\n")), Some(rx)));
            };
            match next {
                Ok(p) if p.seq <= seen => continue,
                Ok(p) => return Some((Ok(p.line.clone()), Some(rx))),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    let line = format!(
                        "{{\"error\":{{\"code\":\"lagged\",\"message\":\"this reader fell {n} enforcements behind and was disconnected; reconnect to receive what is in force\"}}}}\n"
                    );
                    return Some((Ok(Bytes::from(line)), None));
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let mut shutdown = s.shutdown.clone();
    let stopped = async move {
        let _ = shutdown.wait_for(|stopping| *stopping).await;
    };
    let body = initial.chain(rest).take_until(stopped);
    let mut r = axum::body::Body::from_stream(body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(r)
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

pub async fn healthz() -> Response {
    json_response(StatusCode::OK, br#"{"status":"ok"}"#.to_vec())
}

/// Ready when the engine is free within a second and no shutdown has begun.
/// Writes a checkpoint now (the engine pauses only to fork: see
/// [`crate::node::snapshot`]).
pub async fn checkpoint(State(s): State<AppState>) -> Result<Response, ApiError> {
    match s.engine.checkpoint().await {
        Ok(done) => {
            // The state's digest, read back off the engine, on the CPU time
            // it leaves (a 170 MB checkpoint is 0.2 s of hashing).
            let path = std::path::PathBuf::from(&done.path);
            let digest = run_at(Priority::Idle, move || {
                crate::state::checkpoint::body_digest(&path).ok()
            })
            .await
            .flatten();
            let mut v = serde_json::to_value(&done).unwrap_or_default();
            if let (Some(o), Some(d)) = (v.as_object_mut(), digest) {
                o.insert("digest".into(), d.into());
            }
            Ok(json_response(
                StatusCode::OK,
                serde_json::to_vec(&v).unwrap_or_default(),
            ))
        }
        Err(CheckpointFailure::Failed(why)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_checkpoint",
            format!("no checkpoint written: {why}"),
        )),
        Err(CheckpointFailure::Unavailable(why)) => Err(ApiError::unavailable(why)),
    }
}

pub async fn readyz(State(s): State<AppState>) -> Result<Response, ApiError> {
    if *s.shutdown.borrow() {
        return Err(ApiError::unavailable("shutting down"));
    }
    if s.engine.journal().is_some_and(|j| j.is_broken()) {
        return Err(ApiError::unavailable(
            "the journal cannot be written (see the log)",
        ));
    }
    if let Some(Err(why)) = s.kafka.get().map(|k| k.status()) {
        return Err(ApiError::unavailable(format!("kafka: {why}")));
    }
    if let Some(Err(why)) = s.replication.get().map(|r| r.ready()) {
        return Err(ApiError::unavailable(why));
    }
    let (tx, _done) = oneshot::channel();
    match s.engine.run(Job::Ping(tx), Duration::from_secs(1)).await {
        Ok(()) => Ok(json_response(
            StatusCode::OK,
            br#"{"status":"ready"}"#.to_vec(),
        )),
        Err(_) => Err(ApiError::unavailable("the engine is not answering")),
    }
}

pub async fn metrics(State(s): State<AppState>) -> Response {
    // Refresh the state-size gauges when the engine can say at once.
    let (tx, _done) = oneshot::channel();
    let _ = s
        .engine
        .run(Job::Ping(tx), Duration::from_millis(200))
        .await;
    let mut r = s.metrics.render().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

pub async fn not_found(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route {method} {}", uri.path()))
}

pub async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not answer {method}", uri.path()),
    )
}

pub fn json_response(status: StatusCode, json: Vec<u8>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

pub(super) fn reject(m: &Metrics, e: &ApiError) {
    m.rejected_events.with_label_values(&[e.code]).inc();
}

/// Runs the job on the engine; a 503 when too many requests are in flight or
/// the engine stays busy past the request timeout.
async fn submit(s: &AppState, job: Job) -> Result<(), ApiError> {
    s.engine
        .run(job, s.config.request_timeout.value())
        .await
        .map_err(|r| match r {
            Refused::Overloaded => {
                s.metrics.overloaded.inc();
                ApiError::overloaded("too many requests in flight; retry shortly")
            }
            Refused::TimedOut => {
                s.metrics.overloaded.inc();
                ApiError::overloaded(format!(
                    "the engine did not answer within {}",
                    humantime::format_duration(s.config.request_timeout.value())
                ))
            }
            Refused::Stopped => ApiError::unavailable("the engine has stopped"),
        })
}

/// Runs a job on the engine and returns its answer.
pub async fn ask<T>(
    s: &AppState,
    job: impl FnOnce(oneshot::Sender<T>) -> Job,
) -> Result<T, ApiError> {
    let (tx, rx) = oneshot::channel();
    submit(s, job(tx)).await?;
    // The job answered before `submit` returned; only a job dropped unrun
    // (the engine taken back at shutdown) leaves no answer.
    rx.await
        .map_err(|_| ApiError::unavailable("the engine has stopped"))
}

/// Writes records to the cluster log and waits until this replica has
/// folded them.
pub(super) async fn append(
    s: &AppState,
    r: &dyn Replication,
    records: Vec<Append>,
    origin: Origin,
) -> Result<Vec<Folded>, ApiError> {
    r.append(records, origin, s.config.request_timeout.value())
        .await
        .map_err(|e| match e {
            AppendError::NotWritten(m) | AppendError::NotApplied(m) => ApiError::unavailable(m),
        })
}

/// `GET /v1/cluster`: this instance's place in the cluster.
pub async fn cluster(State(s): State<AppState>) -> Response {
    let status = match s.replication.get() {
        Some(r) => r.status(),
        None => serde_json::json!({ "mode": "single" }),
    };
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&status).unwrap_or_default(),
    )
}

/// `GET /v1/cluster/checkpoint`: this replica's newest checkpoint file, for
/// a replica joining the cluster (`cluster.join_from`); the log offset it
/// was taken at is in `X-Palisade-Log-Offset`.
pub async fn cluster_checkpoint(State(s): State<AppState>) -> Result<Response, ApiError> {
    let Some(r) = s.replication.get() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_a_replica",
            "this instance is no replica (cluster.mode is single): it has no cluster checkpoint",
        ));
    };
    let dir = r.checkpoints();
    let newest = crate::state::checkpoint::Checkpoints::new(dir.clone(), 1)
        .list()
        .ok()
        .and_then(|l| l.into_iter().next());
    let Some((position, path)) = newest else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_checkpoint",
            format!(
                "no checkpoint in {} yet: POST /v1/checkpoint writes one",
                dir.display()
            ),
        ));
    };
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::unavailable(format!("cannot read {}: {e}", path.display())))?;
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let stream = futures_util::stream::unfold(file, |mut f| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 16];
        match f.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), f))
            }
            Err(e) => Some((Err(e), f)),
        }
    });
    let mut r = axum::body::Body::from_stream(stream).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&position.to_string()) {
        h.insert("x-palisade-log-offset", v);
    }
    if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    Ok(r)
}

/// Waits until what the engine applied so far is in the journal on disk
/// (one sync covers concurrent callers); without a journal, at once.
pub(super) async fn durable(s: &AppState) -> Result<(), ApiError> {
    match s.engine.journal() {
        None => Ok(()),
        Some(j) => j.sync(j.end()).await.map_err(|e| {
            ApiError::unavailable(format!(
                "the journal cannot be written, so nothing is acknowledged: {e}"
            ))
        }),
    }
}

/// One event: malformed JSON is a 400, a well-formed event with a bad field a
/// 422 naming the field (prefixed by `at`, such as `[3].`, in a batch).
pub fn decode_event(json: &[u8], at: &str) -> Result<Event, ApiError> {
    let mut event = Event::from_json(json).map_err(|e| {
        // Only a refused event is parsed a second time, to tell malformed
        // JSON (400) from a bad field (422).
        if let Err(syntax) = serde_json::from_slice::<&RawValue>(json) {
            let where_ = if at.is_empty() {
                String::new()
            } else {
                format!("event {}: ", at.trim_end_matches('.'))
            };
            return ApiError::malformed_json(format!("{where_}{syntax}"));
        }
        let field = if e.field.is_empty() {
            at.trim_end_matches('.').to_string()
        } else {
            format!("{at}{}", e.field)
        };
        ApiError::invalid_field(&field, e.to_string())
    })?;
    if event.timestamp.is_none() {
        event.timestamp = Some(now());
    }
    Ok(event)
}

/// Wall-clock time, for events sent without a timestamp.
fn now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Timestamp(ms)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for v in ["Bearer k1", "bearer k1", "BEARER  k1 ", " Bearer k1"] {
            assert_eq!(bearer_token(v), Some("k1"), "{v:?}");
        }
        for v in ["Basic k1", "Bearerk1", "k1", ""] {
            assert_eq!(bearer_token(v), None, "{v:?}");
        }
    }
}
