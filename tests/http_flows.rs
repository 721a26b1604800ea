//! What the API's state-changing routes do, through the real router: feedback
//! changing the next decision, a user's event list, redelivered events, and
//! the enforcement stream receiving a brute-force block.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use palisade::serve::ServerConfig;
use std::time::Duration;
use support::*;
use tower::ServiceExt;

/// An event `secs` seconds into 2026-11-26T10:00Z with extra JSON fields.
fn at(id: &str, secs: u32, user: &str, ip: &str, outcome: &str, extra: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","timestamp":"2026-11-26T10:{:02}:{:02}Z","kind":"sign_in","user":"{user}","ip":"{ip}","outcome":"{outcome}"{extra}}}"#,
        secs / 60,
        secs % 60
    )
}

fn codes(decision: &serde_json::Value) -> Vec<String> {
    decision["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_string())
        .collect()
}

/// A POST with the API key.
async fn post(s: &palisade::serve::Server, path: &str, body: &str) -> Answer {
    call(s, "POST", path, body, true).await
}

const SHA1: &str = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8";

#[tokio::test]
async fn feedback_changes_the_next_decision() {
    let s = server(ServerConfig::default());
    let home = r#","device_id":"dev-home""#;
    let a = post(
        &s,
        "/v1/events",
        &at("s0", 0, "alice", "198.51.100.7", "success", home),
    )
    .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);

    let new = r#","device_id":"dev-new""#;
    let d = post(
        &s,
        "/v1/decide",
        &at("a1", 60, "alice", "198.51.100.7", "attempt", new),
    )
    .await
    .json();
    assert!(codes(&d).contains(&"new_device".to_string()), "{d}");

    let f = post(
        &s,
        "/v1/feedback",
        r#"{"event_id":"a1","verdict":"legitimate"}"#,
    )
    .await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    assert_eq!(f.json()["verdict"], "legitimate");
    let d = post(
        &s,
        "/v1/decide",
        &at("a2", 120, "alice", "198.51.100.7", "attempt", new),
    )
    .await
    .json();
    assert!(
        !codes(&d).contains(&"new_device".to_string()),
        "taught by feedback: {d}"
    );

    // Fraudulent: the same user from the same address is blocked afterwards.
    let evil = r#","device_id":"dev-evil""#;
    post(
        &s,
        "/v1/events",
        &at("x1", 180, "alice", "192.0.2.66", "success", evil),
    )
    .await;
    let f = post(
        &s,
        "/v1/feedback",
        r#"{"event_id":"x1","verdict":"fraudulent"}"#,
    )
    .await;
    assert_eq!(f.status, StatusCode::OK, "{}", f.body);
    assert_eq!(f.json()["password_reset_required"], true, "{}", f.body);
    let d = post(
        &s,
        "/v1/decide",
        &at("x2", 240, "alice", "192.0.2.66", "attempt", evil),
    )
    .await
    .json();
    assert_eq!(d["action"], "block", "{d}");
    assert!(
        codes(&d).contains(&"reported_fraud_block".to_string()),
        "{d}"
    );

    let again = post(
        &s,
        "/v1/feedback",
        r#"{"event_id":"x1","verdict":"fraudulent"}"#,
    )
    .await;
    assert_eq!(
        again.json()["repeated"],
        true,
        "said twice changes nothing: {}",
        again.body
    );
    let cases = [
        (
            r#"{"event_id":"nope","verdict":"legitimate"}"#,
            StatusCode::NOT_FOUND,
            "unknown_event",
            None,
        ),
        (
            r#"{"event_id":"a1","verdict":"maybe"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("verdict"),
        ),
        (
            r#"{"event_id":"a1"}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            None,
        ),
        (
            r#"{"event_id":"a1","verdict":"legitimate","extra":1}"#,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            None,
        ),
        (
            r#"{"event_id":"#,
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
    ];
    for (body, status, code, field) in cases {
        let a = post(&s, "/v1/feedback", body).await;
        assert_eq!(a.status, status, "{body}: {}", a.body);
        let (c, f) = a.error();
        assert_eq!(c, code, "{body}");
        if field.is_some() {
            assert_eq!(f.as_deref(), field, "{body}");
        }
    }
}

#[tokio::test]
async fn a_users_events_come_newest_first_in_pages_without_password_hashes() {
    let s = server(ServerConfig::default());
    let with_hash = format!(r#","password_sha1":"{SHA1}""#);
    for i in 0..5 {
        let e = at(
            &format!("h{i}"),
            i * 30,
            "Bob",
            "198.51.100.9",
            "failure",
            &with_hash,
        );
        assert_eq!(
            post(&s, "/v1/events", &e).await.status,
            StatusCode::ACCEPTED
        );
    }
    let p = call(&s, "GET", "/v1/users/bob/events?limit=2", "", true).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(
        !p.body.contains(SHA1) && !p.body.contains("password_sha1"),
        "{}",
        p.body
    );
    let j = p.json();
    let ids: Vec<&str> = j["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["h4", "h3"]);
    assert_eq!(j["events"][0]["has_password"], true);
    assert_eq!(j["events"][0]["decision"]["event_id"], "h4");
    let next = j["next"].as_u64().expect("more pages");
    let p2 = call(
        &s,
        "GET",
        &format!("/v1/users/bob/events?limit=10&before={next}"),
        "",
        true,
    )
    .await
    .json();
    let ids: Vec<&str> = p2["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["h2", "h1", "h0"]);
    assert!(p2["next"].is_null());
    assert_eq!(
        call(&s, "GET", "/v1/users/nobody/events", "", true)
            .await
            .json()["events"],
        serde_json::json!([])
    );
    for bad in ["limit=0", "limit=101", "limit=ten", "colour=red"] {
        let a = call(&s, "GET", &format!("/v1/users/bob/events?{bad}"), "", true).await;
        assert_eq!(
            (a.status, a.error().0.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_parameter"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn a_redelivered_event_is_decided_once() {
    let s = server(ServerConfig::default());
    let e = at(
        "dup-1",
        0,
        "carol",
        "198.51.100.3",
        "failure",
        r#","failure_reason":"bad_password""#,
    );
    let first = post(&s, "/v1/events", &e).await.json();
    assert_eq!(
        (first["decided"].as_u64(), first["duplicates"].as_u64()),
        (Some(1), Some(0))
    );
    let twice = format!("[{e},{e}]");
    let again = post(&s, "/v1/events", &twice).await.json();
    assert_eq!(
        (again["decided"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(2))
    );
    let page = call(&s, "GET", "/v1/users/carol/events", "", true)
        .await
        .json();
    assert_eq!(page["events"].as_array().unwrap().len(), 1, "{page}");
}

/// Reads the stream's lines until one satisfies `want` or time runs out.
async fn read_until(
    body: &mut Body,
    want: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let mut seen = Vec::new();
    let mut pending = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no matching line in time; saw {seen:?}"))
            .expect("the stream stays open")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            pending.push_str(std::str::from_utf8(&data).unwrap());
            while let Some((line, rest)) = pending.split_once('\n') {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                pending = rest.to_string();
                let done = want(&v);
                seen.push(v);
                if done {
                    return seen;
                }
            }
        }
    }
}

fn stream_request() -> Request<Body> {
    Request::builder()
        .uri("/v1/decisions/stream")
        .header("authorization", format!("Bearer {KEY}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn the_stream_carries_a_brute_force_block_and_replays_it_to_late_readers() {
    let s = server(ServerConfig::default());
    let r = palisade::serve::router(s.state.clone())
        .oneshot(stream_request())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let mut live = r.into_body();

    let bad = r#","failure_reason":"bad_password""#;
    let failures: Vec<String> = (0..12)
        .map(|i| {
            at(
                &format!("bf{i}"),
                i * 10,
                "dave",
                "203.0.113.99",
                "failure",
                bad,
            )
        })
        .collect();
    let a = post(&s, "/v1/events", &format!("[{}]", failures.join(","))).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);

    let is_block = |v: &serde_json::Value| v["rule"] == "brute_force" && v["action"] == "block";
    let got = read_until(&mut live, is_block).await;
    let block = got.last().unwrap();
    assert_eq!(block["scope"], "user_ip", "{block}");
    assert_eq!(
        (block["user"].as_str(), block["ip"].as_str()),
        (Some("dave"), Some("203.0.113.99"))
    );
    assert!(
        block["until"]
            .as_str()
            .unwrap()
            .starts_with("2026-11-26T11:"),
        "an hour's block: {block}"
    );

    // A reader connecting now gets what is still in force first.
    let late = palisade::serve::router(s.state.clone())
        .oneshot(stream_request())
        .await
        .unwrap();
    let mut late = late.into_body();
    let first = read_until(&mut late, is_block).await;
    assert_eq!(first.last().unwrap(), block);
}

/// The README allows an outcome to reuse its attempt's `event_id`: they
/// are two events, both listed, and the outcome sent again is a duplicate.
#[tokio::test]
async fn an_outcome_that_shares_its_attempts_id_is_listed_beside_it() {
    let s = server(ServerConfig::default());
    let d = post(
        &s,
        "/v1/decide",
        &at("shared-1", 0, "olive", "198.51.100.8", "attempt", ""),
    )
    .await;
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    let outcome = at("shared-1", 2, "olive", "198.51.100.8", "success", "");
    let first = post(&s, "/v1/events", &outcome).await.json();
    assert_eq!(
        (&first["decided"], &first["duplicates"]),
        (&1.into(), &0.into()),
        "{first}"
    );
    let again = post(&s, "/v1/events", &outcome).await.json();
    assert_eq!(
        (&again["decided"], &again["duplicates"]),
        (&0.into(), &1.into()),
        "{again}"
    );
    let page = call(&s, "GET", "/v1/users/olive/events", "", true)
        .await
        .json();
    let listed: Vec<(&str, &str)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"]["event_id"].as_str().unwrap(),
                e["event"]["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("shared-1", "success"), ("shared-1", "attempt")],
        "{page}"
    );
}
