//! `palisade serve`: the HTTP risk-decision API (axum), a door on the node:
//! the engine sits behind one async mutex with a bound on requests in
//! flight (see [`crate::node::worker`]); the handlers decode, check, run the
//! job and answer.

pub mod api;
pub mod auth;
mod body;
mod conn;
pub mod error;
mod events;
mod range;

pub use crate::config::server::ServerConfig;

use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::node::worker;
use crate::state::history::History;
use crate::state::recent_ids::RecentIds;
use api::AppState;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::watch;

/// Every route the API answers, as (method, path pattern). The OpenAPI
/// document in `docs/openapi.json` must list exactly these (a test holds them
/// together).
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/decide"),
    ("POST", "/v1/events"),
    ("POST", "/v1/feedback"),
    ("GET", "/v1/users/{user}/events"),
    ("GET", "/v1/decisions/stream"),
    ("GET", "/metrics"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/range/{prefix}"),
    ("POST", "/v1/checkpoint"),
    ("GET", "/v1/cluster"),
    ("GET", "/v1/cluster/checkpoint"),
];

/// The API's router. `/metrics` here needs the API key; [`admin_router`]
/// serves it without one on `metrics_listen`.
pub fn router(state: AppState) -> Router {
    let c = &state.config;
    let body_timeout = tower_http::timeout::RequestBodyTimeoutLayer::new(c.request_timeout.value());
    Router::new()
        .route(
            "/v1/decide",
            post(api::decide).layer(DefaultBodyLimit::max(c.max_body_bytes)),
        )
        .route(
            "/v1/events",
            post(events::events).layer(DefaultBodyLimit::max(c.max_batch_bytes)),
        )
        .route(
            "/v1/feedback",
            post(api::feedback).layer(DefaultBodyLimit::max(c.max_body_bytes)),
        )
        .route("/v1/users/{user}/events", get(api::user_events))
        .route("/v1/decisions/stream", get(api::stream))
        .route("/v1/checkpoint", post(api::checkpoint))
        .route("/v1/cluster", get(api::cluster))
        .route("/v1/cluster/checkpoint", get(api::cluster_checkpoint))
        .route("/range/{prefix}", get(range::range))
        .merge(admin_routes())
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(body_timeout)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::gate,
        ))
        .with_state(state)
}

fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(api::metrics))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
}

/// `/metrics`, `/healthz` and `/readyz` alone, without API keys, for a
/// separate listener.
pub fn admin_router(state: AppState) -> Router {
    admin_routes()
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::admin_gate,
        ))
        .with_state(state)
}

/// A running server's parts, for `run` and for tests.
pub struct Server {
    pub state: AppState,
    shutdown_tx: watch::Sender<bool>,
}

impl Server {
    /// Readies the engine for requests; no listener yet.
    pub fn start(
        engine: Engine,
        history: History,
        recent: RecentIds,
        durability: Option<worker::Durability>,
        config: ServerConfig,
        keys: auth::ApiKeys,
    ) -> Server {
        let metrics = Arc::new(Metrics::new());
        metrics
            .info
            .with_label_values(&[
                env!("CARGO_PKG_VERSION"),
                engine.rules_version(),
                engine.model_version(),
            ])
            .set(1);
        metrics
            .memory_budget
            .set(engine.memory_budget().unwrap_or(0) as i64);
        let pwned = engine.pwned_index().clone();
        let handle = worker::start(
            engine,
            history,
            recent,
            durability,
            config.queue_capacity,
            config.stream_buffer,
            metrics.clone(),
        );
        let (shutdown_tx, shutdown) = watch::channel(false);
        let state = AppState::new(api::Shared {
            engine: handle,
            keys,
            metrics,
            body_budget: Arc::new(tokio::sync::Semaphore::new(config.max_body_memory)),
            config: Arc::new(config),
            shutdown,
            kafka: std::sync::OnceLock::new(),
            replication: std::sync::OnceLock::new(),
            pwned,
        });
        Server { state, shutdown_tx }
    }

    /// Reports another door's connection (Kafka's consumer on the same
    /// node) in `/readyz` from now on.
    pub fn report_health(&self, health: Arc<crate::node::Health>) {
        let _ = self.state.kafka.set(health);
    }

    /// Makes this server a replica's door: changes go through the cluster
    /// log, and `/readyz` waits until the replica has caught up.
    pub fn replicate(&self, r: Arc<dyn crate::node::replication::Replication>) {
        let _ = self.state.replication.set(r);
    }

    /// Serves on the given listeners until `stop` resolves, then lets
    /// in-flight requests finish for up to the grace period, and gives the
    /// engine back.
    pub async fn serve(
        self,
        api: tokio::net::TcpListener,
        admin: Option<tokio::net::TcpListener>,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<Engine> {
        let Server { state, shutdown_tx } = self;
        let grace = state.config.shutdown_grace.value();
        let stopper = tokio::spawn(async move {
            stop.await;
            let _ = shutdown_tx.send(true);
        });
        let mut apps = vec![(api, router(state.clone()))];
        if let Some(l) = admin {
            apps.push((l, admin_router(state.clone())));
        }
        let mut tasks = tokio::task::JoinSet::new();
        let limits = conn::ConnLimits {
            max_connections: state.config.max_connections,
            header_read_timeout: state.config.header_read_timeout.value(),
        };
        for (listener, app) in apps {
            let stop = state.shutdown.clone();
            let m = state.metrics.clone();
            let closed = move |why: &'static str| {
                m.connections_closed.with_label_values(&[why]).inc();
            };
            tasks.spawn(conn::serve(listener, app, limits, stop, closed));
        }
        // Wait for the stop signal, then give in-flight requests the grace period.
        let mut stopping = state.shutdown.clone();
        let _ = stopping.wait_for(|s| *s).await;
        let finished = tokio::time::timeout(grace, async {
            while let Some(r) = tasks.join_next().await {
                if let Ok(Err(e)) = r {
                    eprintln!("palisade serve: listener error: {e}");
                }
            }
        })
        .await;
        if finished.is_err() {
            eprintln!(
                "palisade serve: requests still open after the {} grace period were cut off",
                humantime::format_duration(grace)
            );
            tasks.abort_all();
        }
        stopper.abort();
        let engine = state
            .engine
            .stop()
            .await
            .ok_or_else(|| std::io::Error::other("the engine was already taken back"))?;
        Ok(engine)
    }
}

/// A future that resolves on SIGTERM or SIGINT. The handlers are installed
/// when this is called (inside the runtime), not when it is first polled, so a
/// signal right after start-up is not lost.
#[cfg(unix)]
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}

#[cfg(not(unix))]
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Binds an address, naming it in the error.
pub async fn bind(a: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(a)
        .await
        .map_err(|e| format!("cannot listen on {a}: {e}"))
}
