//! The API over real TCP: a listening server, the binary's start-up line, and
//! graceful shutdown on SIGTERM.

mod support;

use palisade::serve::ServerConfig;
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One HTTP/1.1 request over a fresh connection; the status and body.
async fn http(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:.200}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_over_tcp_and_finishes_in_flight_requests_on_shutdown() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server(ServerConfig {
        max_batch_bytes: 64 << 20,
        max_batch_events: 100_000,
        request_timeout: palisade::config::Setting::new(Duration::from_secs(60)),
        ..ServerConfig::default()
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(s.serve(listener, None, async move {
        let _ = stop_rx.await;
    }));

    let (status, body) = http(
        addr,
        "POST",
        "/v1/decide",
        &event("t1", "frank", "203.0.113.9", "attempt"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"event_id\":\"t1\""), "{body}");

    // An open enforcement stream must not hold shutdown up.
    let mut feed = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /v1/decisions/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n"
    );
    feed.write_all(req.as_bytes()).await.unwrap();
    let mut head = [0u8; 12];
    feed.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let feed_ends = tokio::spawn(async move {
        let mut rest = Vec::new();
        feed.read_to_end(&mut rest).await.map(|_| rest.len())
    });

    // A batch still being decided when the stop comes is answered in full.
    let events: Vec<String> = (0..20_000)
        .map(|i| {
            event(
                &format!("b{i}"),
                &format!("user{i}"),
                "198.51.100.1",
                "failure",
            )
        })
        .collect();
    let batch = format!("[{}]", events.join(","));
    let slow = tokio::spawn(async move { http(addr, "POST", "/v1/events", &batch).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_tx.send(()).unwrap();
    let (status, body) = slow.await.unwrap();
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("\"accepted\":20000"), "{body}");
    let engine = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("stops within the grace period")
        .unwrap()
        .expect("serve ends cleanly");
    tokio::time::timeout(Duration::from_secs(5), feed_ends)
        .await
        .expect("the stream ends at shutdown")
        .unwrap()
        .unwrap();
    assert!(engine
        .state_stats()
        .rule_keys
        .iter()
        .any(|(_, keys, _)| *keys > 0));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}

#[test]
fn the_binary_logs_one_line_then_exits_0_on_sigterm() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("PALISADE_API_KEYS")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.contains(&format!("listening on http://127.0.0.1:{port}")),
        "{first}"
    );
    assert!(
        first.contains("built-in rules") && first.contains("API key created in"),
        "{first}"
    );
    let key = std::fs::read_to_string(dir.path().join("palisade-data/api-key")).unwrap();
    assert!(
        !first.contains(key.trim()),
        "the key itself is never logged"
    );

    // The signal an orchestrator sends, through the `kill` command.
    let ok = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert_eq!(rest, vec!["palisade serve: stopped".to_string()]);
}

/// A quiet enforcement feed still speaks: an empty line after each
/// `stream_heartbeat` of silence, so a reader can tell it from a dead
/// connection; an enforcement issued meanwhile comes as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_enforcement_feed_sends_heartbeats() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server(ServerConfig {
        stream_heartbeat: palisade::config::Setting::new(Duration::from_millis(200)),
        ..ServerConfig::default()
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(s.serve(listener, None, async move {
        let _ = stop_rx.await;
    }));
    let mut feed = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /v1/decisions/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n"
    );
    feed.write_all(req.as_bytes()).await.unwrap();
    // Reads for `wait`; everything that came.
    async fn read_for(feed: &mut tokio::net::TcpStream, wait: Duration) -> String {
        let mut got = Vec::new();
        let end = tokio::time::Instant::now() + wait;
        let mut buf = [0u8; 4096];
        while let Ok(Ok(n)) = tokio::time::timeout_at(end, feed.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }
    let quiet = read_for(&mut feed, Duration::from_millis(1100)).await;
    assert!(quiet.starts_with("HTTP/1.1 200"), "{quiet}");
    // Chunked: each heartbeat is a chunk of one byte, a newline.
    let beats = quiet.matches("1\r\n\n\r\n").count();
    assert!(
        (3..=6).contains(&beats),
        "{beats} heartbeats in 1.1 s at 200 ms: {quiet:?}"
    );

    let failures: Vec<String> = (0..14)
        .map(|i| event(&format!("f{i}"), "hb-victim", "198.51.100.77", "failure"))
        .collect();
    let (status, body) = http(
        addr,
        "POST",
        "/v1/events",
        &format!("[{}]", failures.join(",")),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    let after = read_for(&mut feed, Duration::from_millis(500)).await;
    assert!(
        after.contains("198.51.100.77"),
        "the enforcement still comes: {after:?}"
    );
    stop_tx.send(()).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(30), running).await;
}

/// With port 0 the system picks the port, and the start-up line names the
/// one bound (what a test harness or a supervisor reads), not `:0`.
#[test]
fn port_0_logs_the_port_the_system_picked() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["serve", "--listen", "127.0.0.1:0", "--api-keys", KEY])
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let first = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .next()
        .unwrap()
        .unwrap();
    let addr: std::net::SocketAddr = first
        .split("listening on http://")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first}"));
    assert_ne!(addr.port(), 0, "{first}");
    let mut s = std::net::TcpStream::connect(addr).expect("the logged address answers");
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Writes `head` on a fresh connection and reads what comes back within
/// `wait` (the connection stays open: a body may never follow).
async fn raw(
    addr: std::net::SocketAddr,
    head: &str,
    wait: Duration,
) -> (tokio::net::TcpStream, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(wait, s.read(&mut buf))
        .await
        .map_or(0, |r| r.unwrap_or(0));
    (s, String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Overload costs no memory: a declared length over the limit is a 413 at
/// once (no `100 Continue` first), a body that does not fit in
/// `max_body_memory` now is a 503 with `Retry-After` before it is read, and
/// a body that does not arrive in time is a retryable 503, not a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_answered_before_a_body_is_read() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server(ServerConfig {
        max_batch_bytes: 1 << 20,
        max_body_memory: 2 << 20,
        request_timeout: palisade::config::Setting::new(Duration::from_secs(1)),
        ..ServerConfig::default()
    });
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(s.serve(listener, None, async move {
        let _ = stop_rx.await;
    }));
    let head = |len: usize, extra: &str| {
        format!("POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n{extra}\r\n")
    };
    let second = Duration::from_secs(2);

    let (_, answer) = raw(addr, &head(1 << 30, "Expect: 100-continue\r\n"), second).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!answer.contains("100 Continue"), "{answer}");

    // A slow body takes the whole budget; the next request is turned away
    // at once, its body unread.
    let (mut slow, nothing) = raw(
        addr,
        &format!("{}[{{", head(1 << 20, "")),
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(nothing, "", "the slow body is still being read");
    let (_, answer) = raw(addr, &head(1000, ""), second).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert!(answer.contains("max_body_memory"), "{answer}");

    // The slow body times out: retryable, and the budget is free again.
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("did not arrive"), "{answer}");
    let (status, body) = http(
        addr,
        "POST",
        "/v1/events",
        &event("ok", "gina", "203.0.113.10", "failure"),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    stop_tx.send(()).unwrap();
    running.await.unwrap().unwrap();
}

/// Slow clients cannot hold the server: connections that never finish their
/// headers, past the cap, make way for ones that send a request at once;
/// each is closed after `header_read_timeout` anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_make_way_for_requests() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let s = server(ServerConfig {
        max_connections: 40,
        header_read_timeout: palisade::config::Setting::new(Duration::from_secs(2)),
        ..ServerConfig::default()
    });
    let metrics = s.state.metrics.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(s.serve(listener, None, async move {
        let _ = stop_rx.await;
    }));
    // Three times the cap, each with half a request head.
    let mut slow = Vec::new();
    for _ in 0..120 {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(c);
    }
    for round in 0..3 {
        let started = std::time::Instant::now();
        let (status, body) = http(addr, "GET", "/healthz", "").await;
        assert_eq!(status, 200, "round {round}: {body}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "round {round}: {:?}",
            started.elapsed()
        );
    }
    let made_way = metrics
        .connections_closed
        .with_label_values(&["slow_client"])
        .get();
    assert!(
        made_way >= 80,
        "{made_way} slow connections closed at the cap"
    );
    // The rest are closed when their headers' time is up.
    let mut closed = 0;
    for c in &mut slow {
        let mut buf = [0u8; 256];
        if let Ok(Ok(0)) | Ok(Err(_)) =
            tokio::time::timeout(Duration::from_secs(4), c.read(&mut buf)).await
        {
            closed += 1;
        }
    }
    assert_eq!(closed, slow.len(), "every slow connection is closed");
    stop_tx.send(()).unwrap();
    running.await.unwrap().unwrap();
}

/// The file-descriptor limit of this process, from `/proc/self/limits`.
fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Issue 16's case against the binary: 2,000 connections that never finish
/// their headers, with `serve` under a 1,024-descriptor limit (a common
/// default), and `/healthz` still answers at once.
#[test]
fn two_thousand_slow_clients_under_a_1024_descriptor_limit() {
    use std::io::Write;
    use support::child::Serve;
    let limit = open_files_limit();
    if limit < 2_200 {
        eprintln!("SKIP: this process may open {limit} files; the test needs 2,200 (ulimit -n)");
        return;
    }
    if std::process::Command::new("prlimit")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIP: prlimit (util-linux) not found");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = Serve::start_under(
        dir.path(),
        "[journal]\nenabled = false\n",
        &[],
        &["prlimit", "--nofile=1024:1024"],
    );
    s.wait_ready();
    let mut slow = Vec::new();
    for i in 0..2_000 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port))
            .unwrap_or_else(|e| panic!("connection {i}: {e}; log:\n{}", s.log()));
        let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n");
        slow.push(c);
    }
    for round in 0..5 {
        let started = std::time::Instant::now();
        assert_eq!(
            s.get("/healthz").map(|r| r.0),
            Some(200),
            "round {round}: {}",
            s.log()
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "round {round}: {:?}",
            started.elapsed()
        );
    }
    let made_way = s.metric("palisade_http_connections_closed_total", "slow_client");
    assert!(made_way >= 1_000.0, "{made_way} slow connections made way");
    drop(slow);
    assert_eq!(s.terminate(), Some(0), "{}", s.log());
}

/// A process's memory figure (`VmRSS`, `VmHWM`) in KiB, from `/proc`.
fn memory_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Issue 16's overload case against the binary: 300 clients post a 4 MB
/// batch each, all at once. Every one is answered 202 or 503 (a refused body
/// is read and thrown away, so no client meets a reset connection), and the
/// server's peak memory grows by less than the README's bound: twice
/// `max_body_memory`, one largest body per core and 64 KiB per
/// connection. The budget is 32 MiB here, so the bound is far below the
/// 1.2 GB sent (before issue 16, 300 such clients took 2.1 GiB).
#[test]
fn three_hundred_clients_posting_4_mb_batches_stay_under_the_memory_bound() {
    use std::io::{Read, Write};
    use support::child::Serve;
    const BUDGET: u64 = 32 << 20;
    let dir = tempfile::tempdir().unwrap();
    let mut s = Serve::start_in(
        dir.path(),
        &format!("[server]\nmax_body_memory = {BUDGET}\n"),
        &[],
    );
    s.wait_ready();
    // 10,000 failures without timestamps (the server's receive time), one
    // batch for all: the same ids, so the engine's state grows only once.
    let agent = "Mozilla/5.0 ".repeat(22);
    let events: Vec<String> = (0..10_000)
        .map(|i| {
            format!(
                r#"{{"event_id":"o-{i}","kind":"sign_in","user":"user{}","ip":"198.51.{}.{}","outcome":"failure","failure_reason":"bad_password","user_agent":"{agent}"}}"#,
                i % 500,
                i / 250,
                i % 250
            )
        })
        .collect();
    let body = format!("[{}]", events.join(","));
    assert!(
        body.len() > 3_900_000 && body.len() < 4 << 20,
        "{}",
        body.len()
    );
    let request = std::sync::Arc::new(
        [
            format!(
                "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes(),
            body.into_bytes(),
        ]
        .concat(),
    );
    let port = s.port;
    let post = move |request: &[u8]| -> Result<u16, String> {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("connect: {e}"))?;
        c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        c.write_all(request).map_err(|e| format!("write: {e}"))?;
        let mut answer = Vec::new();
        c.read_to_end(&mut answer)
            .map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&answer);
        text.split(' ')
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| format!("no status line: {text:.200}"))
    };
    // The batch once first, so that the state it makes is in `before` and
    // what the 300 add is bodies and events in hand.
    assert_eq!(post(&request), Ok(202), "{}", s.log());
    let pid = s.child.id();
    // The baseline is the peak so far (the state, and one batch decided),
    // not the resident size now: freed memory that went back to the system
    // would otherwise count as growth when it comes back.
    let before = memory_kib(pid, "VmHWM:") << 10;
    let start = std::sync::Arc::new(std::sync::Barrier::new(300));
    let clients: Vec<_> = (0..300)
        .map(|_| {
            let (request, start) = (request.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                post(&request)
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for c in clients {
        let status = match c.join().unwrap() {
            Ok(code) => code.to_string(),
            Err(e) => e,
        };
        *statuses.entry(status).or_default() += 1;
    }
    let peak = memory_kib(pid, "VmHWM:") << 10;
    let answered: usize = ["202", "503"].iter().filter_map(|c| statuses.get(*c)).sum();
    assert_eq!(answered, 300, "statuses {statuses:?}; log:\n{}", s.log());
    assert!(statuses.contains_key("202"), "{statuses:?}");
    // The README's bound: twice the budget (bodies and events in hand, each
    // reserved at twice its length, and the allocator's slack in freeing
    // them), one largest body per core (the runtime has a worker per core)
    // and 64 KiB of read buffer per connection. Seen here on 2 cores: 50 to
    // 71 MiB of the bound's 91 (before bodies were reserved twice, and
    // against the resident size rather than the peak before: 52 to 93).
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let bound = 2 * BUDGET + cores * (4 << 20) + 300 * (64 << 10);
    let grew = peak.saturating_sub(before);
    assert!(
        grew < bound,
        "peak {} MiB, {} MiB before: grew by more than the bound of {} MiB ({statuses:?})",
        peak >> 20,
        before >> 20,
        bound >> 20
    );
    eprintln!(
        "statuses {statuses:?}; peak {} MiB before, {} MiB after",
        before >> 20,
        peak >> 20
    );
    assert_eq!(s.terminate(), Some(0), "{}", s.log());
}
