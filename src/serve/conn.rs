//! Connections, accepted so that slow clients cannot hold the server.
//! `axum::serve` sets no deadline for a request's headers and no cap on open
//! connections, so a few hundred clients that never finish their headers
//! (slowloris) exhaust the process's file descriptors without any key. Here
//! each connection gets `server.header_read_timeout` for each request's
//! headers, and at most `server.max_connections` are open per listener. At
//! the cap, the oldest connection still waiting for its first request's
//! headers is closed to make room: a client that sends a request at once
//! (a probe, a sign-in) is served, one that trickles bytes makes way. Only
//! when every open connection is serving a request is a new one turned
//! away, closed at once.

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;

/// The most a connection buffers of what it reads (headers, or body bytes
/// not yet taken by the handler).
const READ_BUFFER: usize = 64 * 1024;

/// How connections are held.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// The open connections, by accept order: whether each has had its first
/// request (set by the connection without taking this lock), and how to
/// close it.
#[derive(Default)]
struct Open {
    next: u64,
    conns: BTreeMap<u64, (Arc<AtomicBool>, Option<oneshot::Sender<()>>)>,
}

impl Open {
    /// Makes room for one more at the cap: closes the oldest connection
    /// still waiting for its first request. `false` when every one is
    /// serving.
    fn make_room(&mut self, max: usize) -> bool {
        if self.conns.len() < max {
            return true;
        }
        let oldest = self
            .conns
            .iter_mut()
            .find(|(_, (started, close))| !started.load(Ordering::Relaxed) && close.is_some());
        match oldest {
            Some((_, (_, close))) => {
                if let Some(c) = close.take() {
                    let _ = c.send(());
                }
                true
            }
            None => false,
        }
    }
}

/// Serves `app` on `listener` until `stop` turns true, then lets the open
/// connections finish their requests (the caller bounds how long).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    mut stop: watch::Receiver<bool>,
    on_refused: impl Fn(&'static str) + Send + Sync + 'static,
) -> std::io::Result<()> {
    let open = Arc::new(Mutex::new(Open::default()));
    let graceful = GracefulShutdown::new();
    let max = limits.max_connections.max(1);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of descriptors (or another transient failure): the
                // listener goes on once some are free.
                on_refused("accept_error");
                if !is_transient(&e) {
                    eprintln!("palisade serve: accept: {e}");
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let started = Arc::new(AtomicBool::new(false));
        let (id, closed) = {
            let mut o = open.lock().unwrap_or_else(|p| p.into_inner());
            if !o.make_room(max) {
                drop(o);
                on_refused("busy");
                continue; // every connection is serving: this one closes
            }
            if o.conns.len() >= max {
                on_refused("slow_client");
            }
            let (tx, rx) = oneshot::channel();
            let id = o.next;
            o.next += 1;
            o.conns.insert(id, (started.clone(), Some(tx)));
            (id, rx)
        };
        let _ = tcp.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            started.store(true, Ordering::Relaxed);
            app.clone().oneshot(req.map(Body::new))
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        // A connection's read buffer: hyper's default grows to about
        // 400 KiB while a body streams in, 200 MiB over 512 connections;
        // 64 KiB holds any request's headers and reads bodies as fast.
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(READ_BUFFER);
        let conn = http.serve_connection(TokioIo::new(tcp), service);
        let conn = graceful.watch(conn);
        let done = open.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = conn => {}
                _ = closed => {}
            }
            done.lock()
                .unwrap_or_else(|p| p.into_inner())
                .conns
                .remove(&id);
        });
    }
    graceful.shutdown().await;
    Ok(())
}

fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || e.raw_os_error().is_some_and(|c| c == 24 || c == 23) // EMFILE, ENFILE
}
