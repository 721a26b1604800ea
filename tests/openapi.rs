//! `docs/openapi.json` and the router agree: every documented operation
//! answers (no 404 "no route", no 405), and every route is documented.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use palisade::serve::{ServerConfig, ROUTES};
use std::collections::BTreeSet;
use support::*;
use tower::ServiceExt;

fn documented() -> BTreeSet<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json"))
        .expect("docs/openapi.json is in the repository");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("the OpenAPI document is JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let routes: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented(), routes);
}

#[tokio::test]
async fn every_documented_operation_answers() {
    let s = server(ServerConfig::default());
    for (method, path) in documented() {
        let uri = path.replace("{user}", "alice");
        let req = Request::builder()
            .method(method.as_str())
            .uri(&uri)
            .header("authorization", format!("Bearer {KEY}"))
            .body(Body::from("{}"))
            .unwrap();
        let r = palisade::serve::router(s.state.clone())
            .oneshot(req)
            .await
            .unwrap();
        let status = r.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            let body = r.into_body().collect().await.unwrap().to_bytes();
            let j: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_ne!(
                j["error"]["code"], "not_found",
                "{method} {path} has no route"
            );
        }
        assert!(status.as_u16() < 500, "{method} {path}: {status}");
    }
}

#[test]
fn the_documented_history_bound_is_the_configs_default() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let description = doc["paths"]["/v1/users/{user}/events"]["get"]["description"]
        .as_str()
        .unwrap();
    let default = palisade::config::Config::default().limits.history_per_user;
    assert!(
        description.contains(&format!("`limits.history_per_user`, {default} by default")),
        "the history's description names another bound than the config's default ({default}): {description}"
    );
}
