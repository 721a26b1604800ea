//! A replicated cluster (`cluster.mode = "replicated"`) against a real
//! broker: replicas as separate processes, fed over HTTP and Kafka, killed
//! and restarted, compared with one instance fed the same log.
//!
//! Needs a Kafka-protocol broker at `PALISADE_TEST_KAFKA`; without it these
//! tests say SKIP, except under CI, where they fail.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};
use support::child::{Serve, WAIT};
use support::kafka::{broker, create, producer, publish, Reader};
use support::simulated::outcomes;

struct Names {
    events: String,
    decisions: String,
    dlq: String,
    log: String,
    prefix: String,
}

async fn names(broker: &str, name: &str, partitions: i32) -> Names {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("{name}-{}-{nanos}", std::process::id());
    let n = Names {
        events: format!("{prefix}-events"),
        decisions: format!("{prefix}-decisions"),
        dlq: format!("{prefix}-dlq"),
        log: format!("{prefix}-log"),
        prefix,
    };
    create(
        broker,
        &[
            (&n.events, partitions),
            (&n.decisions, 1),
            (&n.dlq, 1),
            (&n.log, 1),
        ],
    )
    .await;
    n
}

fn config(broker: &str, n: &Names, extra: &str) -> String {
    format!(
        r#"
[kafka]
brokers = "{broker}"
events_topic = "{}"
decisions_topic = "{}"
dlq_topic = "{}"

[cluster]
mode = "replicated"
log_topic = "{}"
{extra}
"#,
        n.events, n.decisions, n.dlq, n.log,
    )
}

fn replica(broker: &str, n: &Names) -> Serve {
    let mut s = Serve::start(&config(broker, n, ""), &[]);
    s.wait_ready();
    s
}

fn replica_in(dir: &Path, broker: &str, n: &Names, extra: &str) -> Serve {
    let mut s = Serve::start_in(dir, &config(broker, n, extra), &[]);
    s.wait_ready();
    s
}

fn status(s: &Serve) -> serde_json::Value {
    let (code, body) = s.get("/v1/cluster").expect("the replica answers");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Waits until every replica has folded the log to at least `records`.
fn wait_position(replicas: &[&Serve], records: u64) {
    let deadline = Instant::now() + WAIT;
    for r in replicas {
        while status(r)["position"].as_u64().unwrap_or(0) < records {
            assert!(
                Instant::now() < deadline,
                "at {} of {records} after {WAIT:?}: {}\n{}",
                status(r)["position"],
                status(r),
                r.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn post(s: &Serve, path: &str, body: &str) -> serde_json::Value {
    let (code, text) = s.call("POST", path, body).expect("the server answers");
    assert!((200..300).contains(&code), "{path} answered {code}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn digest(s: &Serve) -> String {
    post(s, "/v1/checkpoint", "")["digest"]
        .as_str()
        .expect("a digest")
        .to_string()
}

/// Attempts at the simulated traffic's last moment (so no server's clock
/// moves): known users from new and old places.
fn probes(at: &str) -> Vec<String> {
    (0..40)
        .map(|i| {
            format!(
                r#"{{"event_id":"probe{i}","kind":"sign_in","user":"user{}@example.com","user_exists":true,"ip":"{}.{}.7.{}","outcome":"attempt","timestamp":"{at}"}}"#,
                i * 7 % 300,
                20 + i % 50,
                i % 200,
                1 + i % 250
            )
        })
        .collect()
}

fn answers(s: &Serve, probes: &[String]) -> Vec<String> {
    probes
        .iter()
        .map(|p| {
            let (code, body) = s.call("POST", "/v1/decide", p).unwrap();
            assert_eq!(code, 200, "{body}");
            body
        })
        .collect()
}

fn timestamp_of(line: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["timestamp"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_fed_over_http_and_kafka_equal_one_instance_folding_their_log() {
    let Some(broker) = broker() else { return };
    let n = names(&broker, "cluster-equal", 3).await;
    let replicas = [
        replica(&broker, &n),
        replica(&broker, &n),
        replica(&broker, &n),
    ];
    let lines = outcomes(300, 6);
    let last = timestamp_of(lines.last().unwrap());
    let p = producer(&broker);
    // A quarter through Kafka, the rest over HTTP at the three replicas in
    // turn, with attempts asked of /v1/decide between.
    let mut attempts = 0u64;
    let mut kafka = 0u64;
    for (i, chunk) in lines.chunks(40).enumerate() {
        if i % 4 == 3 {
            let msgs: Vec<(String, Vec<u8>)> = chunk
                .iter()
                .map(|l| (format!("k{i}"), l.as_bytes().to_vec()))
                .collect();
            publish(&p, &n.events, &msgs).await;
            kafka += chunk.len() as u64;
        } else {
            let r = &replicas[i % 3];
            post(r, "/v1/events", &format!("[{}]", chunk.join(",")));
            let mut attempt: serde_json::Value = serde_json::from_str(&chunk[0]).unwrap();
            let o = attempt.as_object_mut().unwrap();
            o.insert("outcome".into(), "attempt".into());
            o.remove("failure_reason");
            o.remove("mfa");
            let id = format!("ask-{}", o["event_id"].as_str().unwrap());
            o.insert("event_id".into(), id.into());
            let attempt = attempt.to_string();
            // An attempt too late for the replica's clock (Kafka's
            // events arrive when the forwarder gets to them) is refused
            // before the log.
            let (code, text) = replicas[(i + 1) % 3]
                .call("POST", "/v1/decide", &attempt)
                .unwrap();
            match code {
                200 => attempts += 1,
                422 if text.contains("max_lateness") => {}
                _ => panic!("/v1/decide answered {code}: {text}"),
            }
        }
    }
    let total = lines.len() as u64 + attempts;
    // The log also holds the publisher's lease records, which change no
    // state: wait for every write, then for every replica to fold to there.
    let mut reader = Reader::new(&broker, &n.log);
    let deadline = Instant::now() + WAIT;
    let records = loop {
        let writes: Vec<_> = reader
            .all(&n.log)
            .iter()
            .filter(|r| r.header("palisade-kind") != "lease")
            .cloned()
            .collect();
        if writes.len() as u64 >= total {
            break writes;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {total} writes in the log",
            writes.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(records.len() as u64, total, "every write is one log record");
    let end = records.last().unwrap().offset as u64 + 1;
    let refs: Vec<&Serve> = replicas.iter().collect();
    wait_position(&refs, end);
    assert!(kafka > 0);
    let digests: Vec<String> = replicas.iter().map(digest).collect();
    assert!(
        digests.iter().all(|d| *d == digests[0]),
        "replicas' state digests differ: {digests:?}"
    );

    // One single instance fed the log's writes in the log's order.
    let single = {
        let mut s = Serve::start("", &[]);
        s.wait_ready();
        s
    };
    for r in &records {
        let body = String::from_utf8(r.value.clone()).unwrap();
        let path = if r.header("palisade-origin") == "decide" {
            "/v1/decide"
        } else {
            "/v1/events"
        };
        // One too late for the clock is refused here and skipped by the
        // replicas alike.
        let (code, text) = single.call("POST", path, &body).unwrap();
        assert!(
            (200..300).contains(&code) || text.contains("max_lateness"),
            "{path} answered {code}: {text}"
        );
    }
    assert_eq!(
        digest(&single),
        digests[0],
        "the replicas' state is one instance's fold of their log"
    );
    let probes = probes(&last);
    let want = answers(&single, &probes);
    for r in &replicas {
        assert_eq!(
            answers(r, &probes),
            want,
            "a replica answers as one instance"
        );
    }
}

/// The step (0-based) at which an attacker trying one user after another
/// from one address is first blocked; each step's failure is reported
/// before the next attempt, to the next server in turn.
fn blocked_at(servers: &[&Serve], pause: Duration) -> Option<usize> {
    for i in 0..60 {
        let s = servers[i % servers.len()];
        let ev = |outcome: &str, id: &str| {
            format!(
                r#"{{"event_id":"{id}{i}","kind":"sign_in","user":"victim{i}@example.com","ip":"198.51.100.77","outcome":"{outcome}","failure_reason":"bad_password","timestamp":"2026-11-26T10:00:{:02}Z"}}"#,
                i % 60
            )
        };
        let d = post(
            s,
            "/v1/decide",
            &ev("attempt", "a").replace(r#","failure_reason":"bad_password""#, ""),
        );
        if d["action"] == "block" {
            return Some(i);
        }
        post(s, "/v1/events", &ev("failure", "f"));
        std::thread::sleep(pause);
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attacker_spread_over_three_replicas_is_stopped_at_the_same_attempt_as_against_one() {
    let Some(broker) = broker() else { return };
    let n = names(&broker, "cluster-attack", 1).await;
    let replicas = [
        replica(&broker, &n),
        replica(&broker, &n),
        replica(&broker, &n),
    ];
    let mut single = Serve::start("", &[]);
    single.wait_ready();
    let one = blocked_at(&[&single], Duration::ZERO).expect("one instance blocks the attacker");
    // The stated staleness: a write reaches the other replicas within the
    // replication lag (fetch_wait 5 ms and the broker's round trip); the
    // attacker's next step comes 100 ms later.
    let three = blocked_at(
        &replicas.iter().collect::<Vec<_>>(),
        Duration::from_millis(100),
    );
    assert_eq!(three, Some(one), "stopped at step {one} by one instance");
    let r = status(&replicas[0]);
    assert_eq!(r["caught_up"], true, "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publisher_killed_mid_stream_is_replaced_and_no_enforcement_is_lost() {
    let Some(broker) = broker() else { return };
    let n = names(&broker, "cluster-failover", 2).await;
    let mut replicas = vec![
        replica(&broker, &n),
        replica(&broker, &n),
        replica(&broker, &n),
    ];
    let p = producer(&broker);
    // Credential stuffing from 40 addresses, in waves: enforcements all along.
    let wave = |w: u32| -> Vec<(String, Vec<u8>)> {
        (0..200u32)
            .map(|i| {
                let k = w * 200 + i;
                let json = format!(
                    r#"{{"event_id":"s{k}","kind":"sign_in","user":"u{k}@example.com","ip":"192.0.2.{}","outcome":"failure","failure_reason":"bad_password","timestamp":"2026-11-26T10:{:02}:{:02}Z"}}"#,
                    1 + k % 40,
                    k / 60 % 60,
                    k % 60
                );
                (format!("u{k}"), json.into_bytes())
            })
            .collect()
    };
    let waves = 6;
    for w in 0..waves {
        publish(&p, &n.events, &wave(w)).await;
        if w == 2 {
            let deadline = Instant::now() + WAIT;
            let at = loop {
                // A new cluster's first claim takes a moment.
                if let Some(at) = replicas.iter().position(|r| status(r)["publisher"] == true) {
                    break at;
                }
                assert!(Instant::now() < deadline, "no publisher after {WAIT:?}");
                std::thread::sleep(Duration::from_millis(50));
            };
            replicas[at].kill();
            let killed = Instant::now();
            replicas.remove(at);
            let deadline = killed + WAIT;
            while !replicas.iter().any(|r| status(r)["publisher"] == true) {
                assert!(
                    Instant::now() < deadline,
                    "no publisher after {WAIT:?}:\n{}",
                    replicas
                        .iter()
                        .map(|r| r.log())
                        .collect::<Vec<_>>()
                        .join("\n---\n")
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!(
                "cluster: a new publisher took over {:.1} s after the old one was killed",
                killed.elapsed().as_secs_f64()
            );
            assert!(
                killed.elapsed() < Duration::from_secs(15),
                "the lease timeout is 6 s"
            );
        }
    }
    let total = u64::from(waves) * 200;
    let refs: Vec<&Serve> = replicas.iter().collect();
    wait_position(&refs, total);
    // Every enforcement the log issued (each replica counts every one it
    // folds) is on the decisions topic, each id at least once, repeats
    // marked.
    let issued = replicas[0].metric("palisade_enforcements_total", "");
    assert!(issued > 0.0);
    let mut reader = Reader::new(&broker, &n.decisions);
    let deadline = Instant::now() + WAIT;
    let (mut ids, mut decisions);
    loop {
        let all = reader.all(&n.decisions).to_vec();
        ids = HashMap::<String, Vec<bool>>::new();
        decisions = HashSet::new();
        for r in &all {
            let repeat = r.header("redelivered") == "true";
            match r.header("record") {
                "enforcement" => ids
                    .entry(r.header("enforcement_id").to_string())
                    .or_default()
                    .push(repeat),
                "decision" => {
                    decisions.insert(r.header("event_id").to_string());
                }
                other => panic!("unexpected record {other:?}"),
            }
        }
        if ids.len() as f64 >= issued && decisions.len() as u64 >= total {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {issued} enforcements and {} of {total} decisions published",
            ids.len(),
            decisions.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ids.len() as f64, issued, "each enforcement once by its id");
    for (id, copies) in &ids {
        let unmarked = copies.iter().filter(|r| !**r).count();
        assert!(
            unmarked <= 1,
            "enforcement {id} published {unmarked} times unmarked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_replica_and_a_new_one_catch_up_and_answer_alike() {
    let Some(broker) = broker() else { return };
    let n = names(&broker, "cluster-join", 1).await;
    let dir_a = tempfile::tempdir().unwrap();
    let mut a = replica_in(dir_a.path(), &broker, &n, "");
    let b = replica(&broker, &n);
    let lines = outcomes(200, 6);
    let last = timestamp_of(lines.last().unwrap());
    let thirds: Vec<&[String]> = lines.chunks(lines.len() / 3 + 1).collect();
    for c in thirds[0].chunks(50) {
        post(&a, "/v1/events", &format!("[{}]", c.join(",")));
    }
    post(&a, "/v1/checkpoint", "");
    a.kill();
    for c in thirds[1].chunks(50) {
        post(&b, "/v1/events", &format!("[{}]", c.join(",")));
    }
    let a = replica_in(dir_a.path(), &broker, &n, "");
    assert!(
        a.log().contains("(log offset"),
        "restarted from its checkpoint:\n{}",
        a.log()
    );
    for c in thirds[2].chunks(50) {
        post(&a, "/v1/events", &format!("[{}]", c.join(",")));
    }
    // A fourth replica, new, from B's checkpoint and the log after it.
    post(&b, "/v1/checkpoint", "");
    let dir_c = tempfile::tempdir().unwrap();
    let join = format!("join_from = \"http://127.0.0.1:{}\"", b.port);
    let c = replica_in(dir_c.path(), &broker, &n, &join);
    assert!(c.log().contains("taken from http://"), "{}", c.log());
    let total = lines.len() as u64;
    wait_position(&[&a, &b, &c], total);
    let probes = probes(&last);
    let want = answers(&b, &probes);
    assert_eq!(answers(&a, &probes), want, "the restarted replica");
    assert_eq!(answers(&c, &probes), want, "the joined replica");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_that_would_split_the_state_are_refused() {
    let Some(broker) = broker() else { return };
    // A log of two partitions has no order: no replica starts on it.
    let n = names(&broker, "cluster-refused", 2).await;
    let two = format!("{}-log2", n.prefix);
    create(&broker, &[(&two, 2)]).await;
    let bad = Names {
        log: two,
        events: n.events.clone(),
        decisions: n.decisions.clone(),
        dlq: n.dlq.clone(),
        prefix: n.prefix.clone(),
    };
    let mut s = Serve::start(&config(&broker, &bad, ""), &[]);
    let code = s.child.wait().unwrap().code();
    assert_ne!(code, Some(0));
    assert!(s.log().contains("has 2 partitions"), "{}", s.log());

    // Two single instances in one group on a topic of two partitions: the
    // second is refused, the first keeps (or gets back) every partition.
    let single = format!(
        r#"
[kafka]
brokers = "{broker}"
group_id = "{p}-group"
events_topic = "{}"
decisions_topic = "{}"
dlq_topic = "{}"
[kafka.consumer_properties]
"session.timeout.ms" = "6000"
"#,
        n.events,
        n.decisions,
        n.dlq,
        p = n.prefix
    );
    let mut first = Serve::start(&single, &[]);
    first.wait_ready();
    let second = Serve::start(&single, &[]);
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some((503, body)) = second.get("/readyz") {
            if body.contains("refused") {
                assert!(body.contains("cluster.mode"), "says what to do: {body}");
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the second instance was not refused:\n{}",
            second.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    first.wait_ready();
    let p = producer(&broker);
    let msgs: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| {
            (
                format!("k{i}"),
                format!(
                    r#"{{"event_id":"x{i}","kind":"sign_in","user":"u{i}","ip":"10.0.0.{i}","outcome":"success","timestamp":"2026-11-26T10:00:00Z"}}"#
                )
                .into_bytes(),
            )
        })
        .collect();
    publish(&p, &n.events, &msgs).await;
    first.wait_metric("palisade_kafka_messages_total", "decided", 20.0);
    assert_eq!(
        second.metric("palisade_kafka_messages_total", "decided"),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_killed_whole_elects_a_publisher_again() {
    let Some(broker) = broker() else { return };
    let n = names(&broker, "cluster-whole", 1).await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut replicas: Vec<Serve> = dirs
        .iter()
        .map(|d| replica_in(d.path(), &broker, &n, ""))
        .collect();
    let lines = outcomes(50, 2);
    post(
        &replicas[0],
        "/v1/events",
        &format!("[{}]", lines[..40].join(",")),
    );
    for r in &replicas {
        post(r, "/v1/checkpoint", "");
    }
    // Killed, not stopped: no resignation in the log, and each restarts
    // from a checkpoint without knowing who held the lease.
    for r in &mut replicas {
        r.kill();
    }
    let replicas: Vec<Serve> = dirs
        .iter()
        .map(|d| replica_in(d.path(), &broker, &n, ""))
        .collect();
    let deadline = Instant::now() + WAIT;
    while !replicas.iter().any(|r| status(r)["publisher"] == true) {
        assert!(
            Instant::now() < deadline,
            "no publisher after {WAIT:?}: {} / {}",
            status(&replicas[0]),
            status(&replicas[1])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let holders: Vec<_> = replicas
        .iter()
        .map(|r| status(r)["holder"].clone())
        .collect();
    assert!(
        holders.iter().all(|h| *h == holders[0]),
        "the replicas agree on the holder: {holders:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decisions_topic_that_refuses_records_holds_up_no_write() {
    let Some(broker) = broker() else { return };
    let n = names(&broker, "cluster-refusing", 1).await;
    // The decisions topic does not exist yet: every publish is refused.
    let missing = Names {
        decisions: format!("{}-later", n.decisions),
        events: n.events.clone(),
        dlq: n.dlq.clone(),
        log: n.log.clone(),
        prefix: n.prefix.clone(),
    };
    let mut r = Serve::start(&config(&broker, &missing, ""), &[]);
    r.wait_ready();
    let deadline = Instant::now() + WAIT;
    while status(&r)["publisher"] != true {
        assert!(Instant::now() < deadline, "no publisher: {}", status(&r));
        std::thread::sleep(Duration::from_millis(50));
    }
    // An attack: enforcements to publish, which the broker refuses.
    for i in 0..30 {
        let e = format!(
            r#"{{"event_id":"x{i}","kind":"sign_in","user":"v{i}@example.com","ip":"192.0.2.99","outcome":"failure","failure_reason":"bad_password","timestamp":"2026-11-26T10:00:{i:02}Z"}}"#
        );
        post(&r, "/v1/events", &e);
    }
    let issued = r.metric("palisade_enforcements_total", "");
    assert!(issued > 0.0, "the attack issued enforcements");
    assert_eq!(
        r.metric("palisade_cluster_published_total", "enforcement"),
        0.0,
        "none published yet"
    );
    // Once the topic exists, what was refused goes out, marked.
    create(&broker, &[(&missing.decisions, 1)]).await;
    let mut reader = Reader::new(&broker, &missing.decisions);
    let records = reader
        .until("the enforcements", |rs| {
            rs.iter()
                .filter(|x| x.header("record") == "enforcement")
                .map(|x| x.header("enforcement_id"))
                .collect::<HashSet<_>>()
                .len() as f64
                >= issued
        })
        .to_vec();
    // A round the broker held may still go through once the topic exists;
    // what is sent again is marked, so no id goes out twice unmarked.
    let mut unmarked: HashMap<&str, usize> = HashMap::new();
    for x in records
        .iter()
        .filter(|x| x.header("record") == "enforcement")
    {
        if x.header("redelivered") != "true" {
            *unmarked.entry(x.header("enforcement_id")).or_default() += 1;
        }
    }
    assert!(
        unmarked.values().all(|&n| n <= 1),
        "an enforcement published twice unmarked: {unmarked:?}"
    );
}
