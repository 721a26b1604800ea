//! The HTTP API through its real router, in process: every route, every error
//! status, the API key on every `/v1` route.

mod support;

use axum::http::StatusCode;
use palisade::serve::ServerConfig;
use std::time::Duration;
use support::*;

#[tokio::test]
async fn every_v1_route_needs_a_valid_key_and_says_nothing_without_one() {
    let s = server(ServerConfig::default());
    let v1 = palisade::serve::ROUTES
        .iter()
        .copied()
        .filter(|(_, p)| p.starts_with("/v1/"))
        .map(|(m, p)| (m, p.replace("{user}", "alice")));
    let v1: Vec<(&str, String)> = v1
        .chain([("GET", "/v1/nothing-here".to_string())])
        .collect();
    assert_eq!(v1.len(), 9, "every /v1 route and an unknown one");
    for (method, path) in v1.iter().map(|(m, p)| (*m, p.as_str())) {
        for key in [None, Some("wrong-key-0123456789abc"), Some("")] {
            let a = call_with(&s, method, path, "{}", key).await;
            assert_eq!(
                a.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} {key:?}"
            );
            assert_eq!(a.error().0, "unauthorized");
            assert_eq!(a.headers["www-authenticate"], "Bearer");
            assert!(
                !a.body.contains("rules") && !a.body.contains("risk"),
                "{}",
                a.body
            );
        }
        let status = status_only(&s, method, path, "{}").await;
        assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn decide_answers_a_decision_without_a_breach_corpus() {
    let s = server(ServerConfig::default());
    let a = call(
        &s,
        "POST",
        "/v1/decide",
        &event("e1", "alice", "203.0.113.7", "attempt"),
        true,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.headers["content-type"], "application/json");
    let d = a.json();
    assert_eq!(d["event_id"], "e1");
    assert_eq!(d["action"], "allow");
    assert_eq!(d["compromised_password"], false);
    assert!(
        d["risk_score"].is_number() && d["reasons"].is_array(),
        "{d}"
    );
    assert!(d["rules_version"].as_str().unwrap().starts_with("rules-"));
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_names_the_field() {
    let s = server(ServerConfig {
        max_body_bytes: 4096,
        ..ServerConfig::default()
    });
    let good = event("e1", "alice", "203.0.113.7", "attempt");
    let cases: Vec<(String, StatusCode, &str, Option<&str>)> = vec![
        (
            "{\"event_id\":".into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        (
            "not json".into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
            None,
        ),
        (
            good.replace("203.0.113.7", "999.1.1.1"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("ip"),
        ),
        (
            good.replace("\"sign_in\"", "\"login\""),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("kind"),
        ),
        (
            good.replace(",\"outcome\":\"attempt\"", ""),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("outcome"),
        ),
        (
            "[1,2]".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            None,
        ),
        (
            good.replacen('{', r#"{"password":"hunter2hunter2","#, 1),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            Some("password"),
        ),
        (
            format!("{{\"pad\":\"{}\"}}", "x".repeat(5000)),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            None,
        ),
    ];
    for (body, status, code, field) in cases {
        let a = call(&s, "POST", "/v1/decide", &body, true).await;
        assert_eq!(a.status, status, "{body:.80}: {}", a.body);
        assert_eq!(
            a.error(),
            (code.to_string(), field.map(String::from)),
            "{body:.80}"
        );
        assert!(
            !a.body.contains("hunter2"),
            "a password is never echoed: {}",
            a.body
        );
    }
    let a = call(&s, "GET", "/v1/decide", "", true).await;
    assert_eq!(
        (a.status, a.error().0.as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let a = call(&s, "GET", "/nowhere", "", false).await;
    assert_eq!(
        (a.status, a.error().0.as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

#[tokio::test]
async fn events_takes_one_or_many_outcomes_and_refuses_a_bad_batch_whole() {
    let s = server(ServerConfig {
        max_batch_events: 3,
        ..ServerConfig::default()
    });
    let one = event("o1", "bob", "198.51.100.4", "success");
    let a = call(&s, "POST", "/v1/events", &one, true).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    assert_eq!(a.json()["accepted"], 1);
    let two = format!(
        "[{},{}]",
        event("o2", "bob", "198.51.100.4", "failure"),
        event("o3", "bob", "198.51.100.4", "success")
    );
    let a = call(&s, "POST", "/v1/events", &two, true).await;
    assert_eq!(
        (a.status, a.json()["accepted"].as_u64()),
        (StatusCode::ACCEPTED, Some(2))
    );

    let with_attempt = format!(
        "[{},{}]",
        event("o4", "bob", "198.51.100.4", "success"),
        event("o5", "bob", "198.51.100.4", "attempt")
    );
    let a = call(&s, "POST", "/v1/events", &with_attempt, true).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        a.error(),
        ("invalid_field".into(), Some("[1].outcome".into()))
    );
    let bad_ip = format!(
        "[{},{}]",
        event("o6", "bob", "198.51.100.4", "success"),
        event("o7", "bob", "nope", "success")
    );
    assert_eq!(
        call(&s, "POST", "/v1/events", &bad_ip, true)
            .await
            .error()
            .1
            .as_deref(),
        Some("[1].ip")
    );
    let four = format!("[{one},{one},{one},{one}]");
    let a = call(&s, "POST", "/v1/events", &four, true).await;
    assert_eq!(
        (a.status, a.error().0.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_many_events")
    );
    assert_eq!(
        call(&s, "POST", "/v1/events", "[{]", true).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_batch_over_64_kib_is_decoded_aside_with_the_same_answers_and_errors() {
    // Over 64 KiB, the body is decoded on a thread of its own (src/serve/events.rs).
    let s = server(ServerConfig::default());
    let batch: Vec<String> = (0..600)
        .map(|i| {
            event(
                &format!("big-{i}"),
                &format!("user-{i}"),
                "198.51.100.7",
                "failure",
            )
        })
        .collect();
    let body = format!("[{}]", batch.join(","));
    assert!(body.len() > 64 << 10, "{} bytes", body.len());
    let a = call(&s, "POST", "/v1/events", &body, true).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
    assert_eq!(a.json()["accepted"], 600);
    assert_eq!(a.json()["decided"], 600);

    let mut bad = batch.clone();
    bad[599] = event("big-bad", "user-x", "nope", "failure");
    let body = format!("[{}]", bad.join(","));
    let a = call(&s, "POST", "/v1/events", &body, true).await;
    assert_eq!(a.error(), ("invalid_field".into(), Some("[599].ip".into())));
    let a = call(&s, "POST", "/v1/events", &body[..body.len() - 1], true).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
}

#[tokio::test]
async fn metrics_need_the_key_on_the_api_listener_and_count_requests() {
    let s = server(ServerConfig::default());
    call(
        &s,
        "POST",
        "/v1/decide",
        &event("m1", "carol", "192.0.2.9", "attempt"),
        true,
    )
    .await;
    assert_eq!(
        call(&s, "GET", "/metrics", "", false).await.status,
        StatusCode::UNAUTHORIZED
    );
    let a = call(&s, "GET", "/metrics", "", true).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body
            .contains("palisade_http_requests_total{route=\"/v1/decide\",status=\"200\"} 1"),
        "{}",
        a.body
    );
    assert!(
        a.body.contains("palisade_decisions_total{action=\"allow\""),
        "{}",
        a.body
    );
    assert!(!a.body.contains("carol") && !a.body.contains("192.0.2.9"));
    assert_eq!(
        call(&s, "GET", "/healthz", "", false).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(&s, "GET", "/readyz", "", false).await.json()["status"],
        "ready"
    );
}

/// Occupies the engine with a long job on another task; returns once it runs.
async fn keep_busy(s: &palisade::serve::Server) {
    use palisade::node::worker::Job;
    let line = event("busy", "dave", "10.9.9.9", "failure");
    let template = palisade::event::Event::from_json(line.as_bytes()).unwrap();
    // Distinct ids: a repeated id would be answered from the history at once.
    let busy: Vec<_> = (0..100_000)
        .map(|i| palisade::event::Event {
            event_id: format!("busy{i}"),
            ..template.clone()
        })
        .collect();
    let handle = s.state.engine.clone();
    let (tx, _rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        handle
            .run(Job::Ingest(busy, tx), Duration::from_secs(600))
            .await
    });
    let queue = &s.state.metrics.engine_queue;
    for _ in 0..5000 {
        if queue.get() >= 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("the long job never started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_in_flight_is_a_503_with_retry_after_not_a_wait() {
    let s = server(ServerConfig {
        queue_capacity: 1,
        ..ServerConfig::default()
    });
    keep_busy(&s).await;
    let a = call(
        &s,
        "POST",
        "/v1/decide",
        &event("q1", "erin", "192.0.2.1", "attempt"),
        true,
    )
    .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert_eq!(a.error().0, "overloaded");
    assert!(a.body.contains("in flight"), "{}", a.body);
    assert_eq!(a.headers["retry-after"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_busy_past_the_timeout_is_a_503() {
    let s = server(ServerConfig {
        request_timeout: palisade::config::Setting::new(Duration::from_millis(20)),
        ..ServerConfig::default()
    });
    keep_busy(&s).await;
    let started = std::time::Instant::now();
    let a = call(
        &s,
        "POST",
        "/v1/decide",
        &event("t1", "erin", "192.0.2.1", "attempt"),
        true,
    )
    .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.body);
    assert!(
        a.error().0 == "overloaded" && a.body.contains("did not answer"),
        "{}",
        a.body
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "gave up at its timeout"
    );
}

#[tokio::test]
async fn the_metrics_listener_serves_metrics_and_health_without_a_key_and_nothing_else() {
    use axum::body::Body;
    use tower::ServiceExt;
    let s = server(ServerConfig::default());
    let get = |path: &str| {
        let req = axum::http::Request::builder()
            .uri(path)
            .body(Body::empty())
            .unwrap();
        palisade::serve::admin_router(s.state.clone()).oneshot(req)
    };
    for path in ["/metrics", "/healthz", "/readyz"] {
        assert_eq!(get(path).await.unwrap().status(), StatusCode::OK, "{path}");
    }
    assert_eq!(
        get("/v1/decisions/stream").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // On the API's own listener /metrics keeps needing the key.
    assert_eq!(
        call(&s, "GET", "/metrics", "", false).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// Events decided so far, from the metrics (read without the engine).
fn events_applied(s: &palisade::serve::Server) -> u64 {
    let text = String::from_utf8(s.state.metrics.render()).unwrap();
    text.lines()
        .filter(|l| l.starts_with("palisade_events_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decide_is_answered_between_the_slices_of_a_large_batch() {
    let s = std::sync::Arc::new(server(ServerConfig {
        max_batch_events: 30_000,
        max_batch_bytes: 32 << 20,
        max_body_memory: 256 << 20,
        request_timeout: palisade::config::Setting::new(Duration::from_secs(60)),
        ..ServerConfig::default()
    }));
    let n = 30_000u64;
    let batch: Vec<String> = (0..n)
        .map(|i| {
            event(
                &format!("b{i}"),
                &format!("user{}", i % 5000),
                &format!("10.{}.{}.{}", i % 200, i % 100, 1 + i % 250),
                if i % 7 == 0 { "failure" } else { "success" },
            )
            .replace(
                r#""outcome":"failure""#,
                r#""outcome":"failure","failure_reason":"bad_password""#,
            )
        })
        .collect();
    let body = format!("[{}]", batch.join(","));
    let ingesting = {
        let s = s.clone();
        tokio::spawn(async move { call(&s, "POST", "/v1/events", &body, true).await })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while events_applied(&s) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the batch never started"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let d = call(
        &s,
        "POST",
        "/v1/decide",
        &event("mid", "frank", "192.0.2.9", "attempt"),
        true,
    )
    .await;
    let applied = events_applied(&s);
    assert_eq!(d.status, StatusCode::OK, "{}", d.body);
    let done = ingesting.await.unwrap();
    assert_eq!(done.status, StatusCode::ACCEPTED, "{}", done.body);
    assert_eq!(done.json()["decided"], n);
    assert!(
        applied < n + 1,
        "the decide was answered once {applied} of the batch's {n} events were in: between slices, not after the whole batch"
    );
}
