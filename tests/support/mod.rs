//! Shared by the HTTP tests: a server on the built-in rules and model, and
//! requests through the real router.
#![allow(dead_code)] // each test file uses its own part

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use palisade::config::Config;
use palisade::engine::{Engine, EngineParts};
use palisade::serve::{auth::ApiKeys, Server, ServerConfig};
use tower::ServiceExt;

pub mod child;
pub mod cli;
pub mod corpus;
pub mod kafka;
pub mod simulated;

pub const KEY: &str = "test-key-0123456789abcdef";

pub fn engine() -> Engine {
    let config = Config {
        rules: Some("rules".into()),
        models: Some("models".into()),
        // Fixed dates in the tests must not age out as the calendar moves.
        event_time: palisade::event::bounds::EventTimeConfig {
            max_age: palisade::config::Setting::new(None),
            ..Default::default()
        },
        ..Config::default()
    };
    Engine::new(EngineParts::from_config(&config).expect("the shipped rules and model load"))
}

/// What an in-process replay of `input` on the shipped rules and model
/// gives: each decision in order, the rejected lines, and the summary.
pub struct Replayed {
    pub decisions: Vec<serde_json::Value>,
    pub rejects: Vec<String>,
    pub summary: palisade::ingest::replay::Summary,
}

/// Replays `input` in process as `palisade replay` does, remembering the
/// last `recent_ids` event ids.
pub fn replay(input: &[u8], recent_ids: usize) -> Replayed {
    let mut core = palisade::node::Core::new(engine(), recent_ids);
    let (mut out, mut rejects) = (Vec::new(), Vec::new());
    let summary =
        palisade::ingest::replay::replay(&mut core, input, &mut out, &mut rejects, None, None)
            .unwrap();
    let lines = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    Replayed {
        decisions: lines(out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        rejects: lines(rejects).lines().map(String::from).collect(),
        summary,
    }
}

pub fn server(config: ServerConfig) -> Server {
    Server::start(
        engine(),
        palisade::state::history::History::new(20, 1000),
        palisade::state::recent_ids::RecentIds::new(10_000),
        None,
        config,
        ApiKeys::new([KEY]),
    )
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// `error.code` and `error.field` of an error answer.
    pub fn error(&self) -> (String, Option<String>) {
        let j = self.json();
        let e = &j["error"];
        assert!(
            e["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            self.body
        );
        (
            e["code"].as_str().unwrap_or_default().to_string(),
            e["field"].as_str().map(String::from),
        )
    }
}

/// One request through the router, with the API key when `key` is true.
pub async fn call(s: &Server, method: &str, path: &str, body: &str, key: bool) -> Answer {
    call_with(s, method, path, body, key.then_some(KEY)).await
}

pub async fn call_with(
    s: &Server,
    method: &str,
    path: &str,
    body: &str,
    key: Option<&str>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let req = req.body(Body::from(body.to_string())).unwrap();
    let r = palisade::serve::router(s.state.clone())
        .oneshot(req)
        .await
        .expect("the router always answers");
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Only the status of a request (with the API key): for routes whose body
/// never ends, such as the enforcement stream.
pub async fn status_only(s: &Server, method: &str, path: &str, body: &str) -> StatusCode {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {KEY}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    palisade::serve::router(s.state.clone())
        .oneshot(req)
        .await
        .expect("the router always answers")
        .status()
}

/// A port nothing listens on now, for a child process to take.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A sign-in event as JSON, with the fields most tests vary.
pub fn event(id: &str, user: &str, ip: &str, outcome: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","kind":"sign_in","user":"{user}","ip":"{ip}","outcome":"{outcome}","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36","device_id":"d-{user}","timestamp":"2026-11-26T10:00:00Z"}}"#
    )
}
