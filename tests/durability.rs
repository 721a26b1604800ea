//! Restarts forget nothing: `palisade serve` killed with SIGKILL while
//! events stream in over HTTP, restarted on the same data folder, ends in the
//! same state, and decides later events exactly as a server that never
//! stopped. (`scripts/crash-test` runs the long version: 1,000,000 events.)

mod support;

use rand::{Rng, SeedableRng};
use support::child::Serve;
use support::simulated::{fingerprint, outcomes};

const BATCH: usize = 200;

fn post_batch(s: &Serve, batch: &[String]) -> u16 {
    let body = format!("[{}]", batch.join(","));
    s.call("POST", "/v1/events", &body).map_or(0, |r| r.0)
}

#[test]
fn a_server_killed_mid_stream_restarts_into_the_same_state() {
    let events = outcomes(400, 4);
    let batches: Vec<&[String]> = events.chunks(BATCH).collect();
    assert!(batches.len() > 10, "{} events", events.len());

    // The reference: a server that never stops.
    let mut whole = Serve::start("", &[]);
    whole.wait_ready();
    for b in &batches {
        assert_eq!(post_batch(&whole, b), 202);
    }
    let want = fingerprint(&whole);

    // The same events to a server killed at a random point: one batch is
    // sent and not waited for, then SIGKILL. The client resends from the
    // first batch it has no 202 for, as any client would.
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(std::process::id().into());
    let cut = rng.random_range(2..batches.len() - 2);
    let mut first = Serve::start_in(dir.path(), "", &[]);
    first.wait_ready();
    for b in &batches[..cut] {
        assert_eq!(post_batch(&first, b), 202);
    }
    let in_flight = {
        let body = format!("[{}]", batches[cut].join(","));
        let port = first.port;
        std::thread::spawn(move || {
            // The kill may come first: then the batch was never sent.
            let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                return;
            };
            use std::io::Write;
            let _ = write!(
                s,
                "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Length: {}\r\n\r\n{body}",
                support::KEY,
                body.len()
            );
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(rng.random_range(0..20)));
    first.kill();
    in_flight.join().unwrap();

    let mut second = Serve::start_in(dir.path(), "", &[]);
    second.wait_ready();
    assert!(
        second.log().contains("entries replayed"),
        "{}",
        second.log()
    );
    for b in &batches[cut..] {
        assert_eq!(post_batch(&second, b), 202);
    }
    let got = fingerprint(&second);
    assert_eq!(got.1, want.1, "the same state (killed after batch {cut})");
    for (i, (g, w)) in got.0.iter().zip(&want.0).enumerate() {
        assert_eq!(
            g, w,
            "probe {i} decided differently (killed after batch {cut})"
        );
    }
}

#[test]
fn checkpoints_on_demand_and_at_stop_are_loaded_and_a_damaged_one_falls_back() {
    let events = outcomes(300, 3);
    let half = events.len() / 2;
    let mut whole = Serve::start("", &[]);
    whole.wait_ready();
    for b in events.chunks(BATCH) {
        assert_eq!(post_batch(&whole, b), 202);
    }
    let want = fingerprint(&whole);

    let dir = tempfile::tempdir().unwrap();
    let mut first = Serve::start_in(dir.path(), "", &[]);
    first.wait_ready();
    for b in events[..half].chunks(BATCH) {
        assert_eq!(post_batch(&first, b), 202);
    }
    let (status, body) = first.call("POST", "/v1/checkpoint", "").unwrap();
    assert_eq!(status, 200, "{body}");
    let done: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(done["position"].as_u64().unwrap() > 0, "{done}");
    assert!(first.metric("palisade_checkpoint_bytes", "") > 0.0);
    for b in events[half..].chunks(BATCH) {
        assert_eq!(post_batch(&first, b), 202);
    }
    assert_eq!(first.terminate(), Some(0), "{}", first.log());

    // The checkpoint written at the stop holds everything: nothing to replay.
    let mut second = Serve::start_in(dir.path(), "", &[]);
    second.wait_ready();
    let log = second.log();
    assert!(
        log.contains("loaded in") && log.contains(": 0 entries replayed"),
        "{log}"
    );
    let got = fingerprint(&second);
    assert_eq!(got, want);
    second.kill();

    // The newest checkpoint damaged: the one before and the journal after it.
    let mut ckpts: Vec<_> = std::fs::read_dir(dir.path().join("data/checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ckpt"))
        .collect();
    ckpts.sort();
    assert!(ckpts.len() >= 2, "{ckpts:?}");
    let newest = ckpts.last().unwrap();
    let mut bytes = std::fs::read(newest).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(newest, bytes).unwrap();
    let mut third = Serve::start_in(dir.path(), "", &[]);
    third.wait_ready();
    let log = third.log();
    let name = newest.file_name().unwrap().to_str().unwrap();
    assert!(
        log.contains(name),
        "the warning names the damaged file: {log}"
    );
    assert!(
        !log.contains(": 0 entries replayed"),
        "the journal after the older one: {log}"
    );
    // The probes the second server answered are in the journal too: compare
    // the state gauges only, which the probes do not move past the first run's.
    let (_, metrics) = third.get("/metrics").unwrap();
    let profiles = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("palisade_state_entries{structure=\"profiles\"}"))
            .map(String::from)
    };
    assert_eq!(profiles(&metrics), profiles(&want.1.join("\n")));
}

/// A checkpoint does not stop the engine: while one is being written (its
/// writer held open by the test), batches and decides are answered; and the
/// checkpoint holds the state when it began, not what came after. A restart
/// from it (and the journal after it) is the server that never stopped.
#[test]
fn the_engine_decides_while_a_checkpoint_is_written_and_it_holds_the_state_it_began_with() {
    let events = outcomes(300, 3);
    let half = events.len() / 2;
    let dir = tempfile::tempdir().unwrap();
    let hold = dir.path().join("hold");
    let held_marker = hold.with_extension("held");
    let env = format!("PALISADE_TEST_CHECKPOINT_HOLD={}", hold.display());
    let mut s = Serve::start_under(dir.path(), "", &[], &["env", &env]);
    s.wait_ready();
    for b in events[..half].chunks(BATCH) {
        assert_eq!(post_batch(&s, b), 202);
    }
    let checkpoint = |s: &Serve| -> serde_json::Value {
        let (status, body) = s.call("POST", "/v1/checkpoint", "").unwrap();
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let before = checkpoint(&s);
    assert!(!held_marker.exists(), "nothing held a checkpoint yet");

    std::fs::write(&hold, "").unwrap();
    let during = std::thread::scope(|scope| {
        let writing = scope.spawn(|| checkpoint(&s));
        let forked = std::time::Instant::now();
        while !held_marker.exists() {
            assert!(
                forked.elapsed() < std::time::Duration::from_secs(30),
                "the checkpoint writer never started: {}",
                s.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for b in events[half..].chunks(BATCH) {
            assert_eq!(post_batch(&s, b), 202);
        }
        let (status, body) = s
            .call("POST", "/v1/decide", &support::simulated::probes(1)[0])
            .unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(
            !writing.is_finished(),
            "the checkpoint was still being written while all that was answered"
        );
        std::fs::remove_file(&hold).unwrap();
        writing.join().unwrap()
    });
    // The state at the fork: the same position and body as just before.
    assert_eq!(during["position"], before["position"], "{during}");
    assert_eq!(during["digest"], before["digest"], "{during}");
    assert!(
        during["digest"].as_str().is_some_and(|d| d.len() == 40),
        "{during}"
    );
    assert!(
        during["paused_seconds"].as_f64().unwrap() < during["seconds"].as_f64().unwrap(),
        "{during}"
    );
    assert!(s.metric("palisade_checkpoint_pause_seconds", "") > 0.0);
    // What came during it is in the next one.
    let after = checkpoint(&s);
    assert!(
        after["position"].as_u64() > before["position"].as_u64(),
        "{after}"
    );
    assert_ne!(after["digest"], before["digest"]);
    let want = fingerprint(&s);
    s.kill();

    // Restarted from the held checkpoint and the journal after it.
    for e in std::fs::read_dir(dir.path().join("data/checkpoints")).unwrap() {
        let p = e.unwrap().path();
        if p.to_str() != during["path"].as_str() {
            std::fs::remove_file(p).unwrap();
        }
    }
    let mut again = Serve::start_in(dir.path(), "", &[]);
    again.wait_ready();
    assert!(
        !again.log().contains(": 0 entries replayed"),
        "{}",
        again.log()
    );
    assert_eq!(fingerprint(&again).1, want.1);
    again.kill();
}
