//! `range_prefix`: `GET /range/{prefix}` through the real router.

use super::parts;
use palisade::engine::Engine;
use std::sync::OnceLock;

/// The API's router on the shipped rules and model, without a breach
/// corpus, and a runtime to call it on.
fn range_server() -> &'static (tokio::runtime::Runtime, palisade::serve::Server) {
    static SERVER: OnceLock<(tokio::runtime::Runtime, palisade::serve::Server)> = OnceLock::new();
    SERVER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let server = {
            let _in = rt.enter();
            palisade::serve::Server::start(
                Engine::new(parts()),
                palisade::state::history::History::new(20, 1000),
                palisade::state::recent_ids::RecentIds::new(1000),
                None,
                palisade::serve::ServerConfig::default(),
                palisade::serve::auth::ApiKeys::new(["fuzz-key-0123456789abcdef"]),
            )
        };
        (rt, server)
    })
}

/// Arbitrary text as the prefix of `GET /range/{prefix}` (`src/serve/range.rs`,
/// `parse_prefix`), sent percent-encoded through the real router, so the
/// route sees exactly the text. Exactly 5 hex digits, either case, must be
/// taken (and, with no corpus loaded, answered 404 `no_corpus`); anything
/// else refused 400 `invalid_prefix`, but the empty prefix, which no route
/// matches (404 `not_found`).
pub fn range_prefix(data: &[u8]) {
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut uri = String::from("/range/");
    for b in text.bytes() {
        uri.push_str(&format!("%{b:02X}"));
    }
    let (rt, server) = range_server();
    let (status, body) = rt.block_on(async {
        let req = Request::builder()
            .uri(&uri)
            .body(axum::body::Body::empty())
            .expect("a request");
        let r = palisade::serve::router(server.state.clone())
            .oneshot(req)
            .await
            .expect("the router answers");
        let status = r.status();
        let body = r.into_body().collect().await.expect("a body").to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    });
    let valid = text.len() == 5 && text.bytes().all(|b| b.is_ascii_hexdigit());
    let (want_status, want_code) = if valid {
        (StatusCode::NOT_FOUND, "no_corpus")
    } else if text.is_empty() {
        (StatusCode::NOT_FOUND, "not_found")
    } else {
        (StatusCode::BAD_REQUEST, "invalid_prefix")
    };
    assert_eq!(status, want_status, "/range/{text:?}: {body}");
    assert!(
        body.contains(&format!("\"{want_code}\"")),
        "/range/{text:?}: {body}"
    );
}
