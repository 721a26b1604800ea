//! The dashboards and alert rules against a real Prometheus: three
//! `palisade serve` processes (one enforcing, with a breach corpus and, when
//! there is a broker, Kafka; one in audit mode; one overloaded by bursts)
//! take simulated traffic with attacks while a Prometheus of the test's own
//! scrapes them every second; then every query of every panel in
//! `dashboards/*.json` must return data through Prometheus's HTTP API (a
//! query with a fallback of 0 also without it), and every rule in
//! `dashboards/alerts.yml` must evaluate without error.
//!
//! Needs Prometheus at `PALISADE_TEST_PROMETHEUS` (and, to check the rule
//! file's syntax first, promtool at `PALISADE_TEST_PROMTOOL`);
//! `scripts/test` installs both (`scripts/prometheus`) and sets them. Without
//! it the test says SKIP, except under CI, where it fails. Kafka panels need
//! the broker at `PALISADE_TEST_KAFKA`, as tests/kafka.rs does; given it, a
//! fourth server, a replica (a cluster of one), takes the same traffic, for
//! the cluster panels (`palisade_cluster_*`, exported by replicas only).

#[path = "../support/mod.rs"]
mod support;

mod dashboards;
mod server;
mod setup;
mod traffic;

use dashboards::{Dashboard, Target};
use serde_json::Value;
use server::Prometheus;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long queries that return nothing are asked again before they count
/// as failed: series appear as the traffic reaches them, and Kafka's lag
/// only with librdkafka's statistics.
const SETTLE: Duration = Duration::from_secs(20);

/// Why panel queries go unchecked, as the SKIP lines say it.
const NO_KAFKA: &str = "PALISADE_TEST_KAFKA is not set: these Kafka panel queries were not checked";
const NO_CLUSTER: &str = "PALISADE_TEST_KAFKA is not set, so no replica runs: these cluster panel queries were not checked";

fn required(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the Prometheus test: scripts/test {what} and sets {var}"
            );
            None
        }
    }
}

#[test]
fn every_dashboard_panel_returns_data_and_every_alert_rule_evaluates() {
    let Some(prometheus) = required(
        "PALISADE_TEST_PROMETHEUS",
        "installs Prometheus (scripts/prometheus)",
    ) else {
        eprintln!("SKIP: PALISADE_TEST_PROMETHEUS is not set (scripts/test installs Prometheus and sets it); the dashboard test skipped");
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let boards = dashboards::load(&repo.join("dashboards"));
    let alerts = repo.join("dashboards/alerts.yml");
    let alerts = alerts.exists().then_some(alerts);
    if boards.is_empty() && alerts.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "no dashboards/*.json and no dashboards/alerts.yml: the dashboard test has nothing to check"
        );
        eprintln!(
            "SKIP: no dashboards/*.json and no dashboards/alerts.yml; the dashboard test skipped"
        );
        return;
    }
    if let Some(rules) = &alerts {
        check_rule_syntax(Path::new(&prometheus), rules);
    }
    let kafka = required(
        "PALISADE_TEST_KAFKA",
        "starts a Kafka broker (scripts/kafka-broker)",
    );

    let dir = tempfile::tempdir().unwrap();
    let setup::Servers {
        mut enforce,
        mut audit,
        mut overload,
        replica,
        feed,
        targets,
    } = setup::Servers::start(dir.path(), kafka.as_deref());

    let mut prom = Prometheus::start(Path::new(&prometheus), &targets, alerts.as_slice());
    prom.wait_ready();

    let events = support::simulated::outcomes(1000, 7);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (failures, skipped, checked, report) = std::thread::scope(|scope| {
        let mut servers = vec![&enforce, &audit];
        servers.extend(replica.as_ref());
        let (overload, events, stop) = (&overload, &events, &stop);
        let traffic = scope.spawn(move || traffic::run(&servers, overload, events, feed, stop));
        // Any panic below must stop the traffic, or the scope never ends.
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wait_for_scrapes(&prom, targets.len(), &traffic);
            // Rates over RATE_INTERVAL need two scrapes of each series.
            std::thread::sleep(Duration::from_secs(8).saturating_sub(started.elapsed()));
            check(&prom, &boards, alerts.is_some(), kafka.is_some())
        }));
        stop.store(true, Ordering::Relaxed);
        let report = traffic.join().expect("the traffic thread");
        match checked {
            Ok((failures, skipped, checked)) => (failures, skipped, checked, report),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });

    eprintln!(
        "prometheus test: {} rounds of traffic ({} simulated events to each server, {} requests of bursts refused as overload) in {:.1} s",
        report.rounds,
        report.events,
        report.refused,
        started.elapsed().as_secs_f64()
    );
    for why in [NO_KAFKA, NO_CLUSTER] {
        let these: Vec<&str> = skipped
            .iter()
            .filter(|(w, _)| *w == why)
            .map(|(_, q)| q.as_str())
            .collect();
        if !these.is_empty() {
            eprintln!("SKIP: {why}:\n  {}", these.join("\n  "));
        }
    }
    let mut problems = failures;
    problems.extend(report.problems.iter().map(|p| format!("traffic: {p}")));
    assert!(
        problems.is_empty(),
        "{} of the dashboard and alert checks failed ({checked} checked):\n\n{}\n\nprometheus's warnings and errors:\n{}\nenforce server log (last lines):\n{}\nreplica log (last lines):\n{}",
        problems.len(),
        problems.join("\n\n"),
        warnings(&prom.log()),
        tail(&enforce.log()),
        replica.as_ref().map_or(String::new(), |r| tail(&r.log())),
    );
    eprintln!("prometheus test: {checked} checks passed");
    drop(prom);
    assert_eq!(enforce.terminate(), Some(0), "{}", enforce.log());
    assert_eq!(audit.terminate(), Some(0), "{}", audit.log());
    assert_eq!(overload.terminate(), Some(0), "{}", overload.log());
}

/// `promtool check rules`, whose messages say more than Prometheus's
/// refusal to start, when promtool is there.
fn check_rule_syntax(prometheus: &Path, rules: &Path) {
    let promtool = std::env::var_os("PALISADE_TEST_PROMTOOL")
        .map(PathBuf::from)
        .or_else(|| Some(prometheus.with_file_name("promtool")).filter(|p| p.exists()));
    let Some(promtool) = promtool else {
        eprintln!("note: no promtool (PALISADE_TEST_PROMTOOL); the rule file is checked by Prometheus alone");
        return;
    };
    let out = std::process::Command::new(&promtool)
        .args(["check", "rules"])
        .arg(rules)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", promtool.display()));
    assert!(
        out.status.success(),
        "promtool check rules {}:\n{}{}",
        rules.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until Prometheus scrapes all `servers` successfully.
fn wait_for_scrapes<T>(
    prom: &Prometheus,
    servers: usize,
    traffic: &std::thread::ScopedJoinHandle<T>,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = prom.query(r#"count(up{job="palisade"} == 1)"#);
        if up
            .as_ref()
            .is_ok_and(|d| d["result"][0]["value"][1] == servers.to_string().as_str())
        {
            return;
        }
        assert!(!traffic.is_finished(), "the traffic thread ended early");
        assert!(
            Instant::now() < deadline,
            "prometheus does not scrape the {servers} servers after 30 s: {up:?}; targets: {:?}",
            prom.api("/api/v1/targets")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every panel query and alert rule: the failures (each with where it comes
/// from, the query sent and Prometheus's answer), the queries skipped (the
/// Kafka and cluster ones without a broker) with why, and how
/// many checks passed or failed.
fn check(
    prom: &Prometheus,
    boards: &[Dashboard],
    alerts: bool,
    kafka: bool,
) -> (Vec<String>, Vec<(&'static str, String)>, usize) {
    let mut failures = Vec::new();
    let mut skipped = Vec::new();
    // (where, expr as written, expr as sent, what no data means)
    let mut pending: Vec<(String, String, String, &str)> = Vec::new();
    // Every expr as written, for the note on metrics no panel uses.
    let mut written = Vec::new();
    for board in boards {
        let values = variable_values(prom, board, &mut failures);
        for Target { panel, expr } in board.targets() {
            written.push(expr.clone());
            let at = format!("{} / {panel}", board.file);
            let (sent, unknown) = dashboards::substitute(&expr, &values);
            if !unknown.is_empty() {
                failures.push(format!(
                    "{at}: uses ${}, not a variable of the dashboard\n  expr: {expr}",
                    unknown.join(", $")
                ));
            } else if !kafka && expr.contains("palisade_kafka_") {
                skipped.push((NO_KAFKA, format!("{at}: {expr}")));
            } else if !kafka && expr.contains("palisade_cluster_") {
                skipped.push((NO_CLUSTER, format!("{at}: {expr}")));
            } else {
                // What Grafana shows, and what the query finds without a
                // fallback of 0, which would show data for any query.
                if let Some(primary) = dashboards::without_fallback(&sent) {
                    let why = "data only through its `or ... vector(0)` fallback: the query before it finds nothing";
                    pending.push((at.clone(), expr.clone(), primary, why));
                }
                pending.push((at, expr, sent, "no data"));
            }
        }
    }
    let deadline = Instant::now() + SETTLE;
    let mut answers: HashMap<usize, String> = HashMap::new();
    let mut left: Vec<usize> = (0..pending.len()).collect();
    loop {
        left.retain(|&i| match prom.query(&pending[i].2) {
            Ok(data) if server::has_data(&data) => false,
            Ok(data) => {
                answers.insert(i, format!("{}: {data}", pending[i].3));
                true
            }
            // An error (a query Prometheus cannot parse or evaluate) will
            // not go away by waiting.
            Err(e) => {
                let (at, expr, sent, _) = &pending[i];
                failures.push(format!(
                    "{at}\n  expr: {expr}\n  sent: {sent}\n  prometheus: {e}"
                ));
                false
            }
        });
        if left.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    for i in left {
        let (at, expr, sent, _) = &pending[i];
        failures.push(format!(
            "{at}\n  expr: {expr}\n  sent: {sent}\n  prometheus: {}",
            answers[&i]
        ));
    }
    eprintln!(
        "prometheus test: {} panel queries in {} dashboards; {} queries sent to Prometheus (those with a fallback of 0 also without it)",
        written.len(),
        boards.len(),
        pending.len()
    );
    let mut checked = written.len() - skipped.len();
    if alerts {
        checked += check_rules(prom, &mut failures);
    }
    note_unused_metrics(prom, &written);
    (failures, skipped, checked)
}

/// Each template variable's value, as Grafana would fill it in with all
/// values selected (where the variable allows that).
fn variable_values(
    prom: &Prometheus,
    board: &Dashboard,
    failures: &mut Vec<String>,
) -> HashMap<String, String> {
    let mut values = dashboards::builtins();
    for v in board.variables() {
        let options: Vec<String> = match v.kind.as_str() {
            "query" => {
                let (query, _) = dashboards::substitute(&v.query, &values);
                match dashboards::label_values_query(&query) {
                    Some((selector, label)) => {
                        match prom.label_values(selector.as_deref(), &label) {
                            Ok(found) if !found.is_empty() => found,
                            answer => {
                                failures.push(format!(
                                    "{}: variable ${}: {query} finds nothing: {answer:?}",
                                    board.file, v.name
                                ));
                                Vec::new()
                            }
                        }
                    }
                    None => {
                        failures.push(format!(
                            "{}: variable ${}: the test knows only label_values(...) queries, not {query}",
                            board.file, v.name
                        ));
                        Vec::new()
                    }
                }
            }
            "custom" | "interval" => v.query.split(',').map(|s| s.trim().to_string()).collect(),
            "constant" | "textbox" => vec![v.current.clone().unwrap_or(v.query.clone())],
            // A data source variable stands for Prometheus itself; its
            // value is never part of a query.
            _ => vec![v.current.clone().unwrap_or_default()],
        };
        values.insert(v.name.clone(), dashboards::value_of(&v, &options));
    }
    values
}

/// Every rule in every group Prometheus loaded, once evaluated: its health
/// must be `ok`. Returns how many rules there are.
fn check_rules(prom: &Prometheus, failures: &mut Vec<String>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(15);
    let rules = loop {
        let data = match prom.api("/api/v1/rules") {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("alerts.yml: /api/v1/rules: {e}"));
                return 1;
            }
        };
        let rules: Vec<(String, Value)> = data["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| {
                let group = g["name"].as_str().unwrap_or_default().to_string();
                g["rules"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |r| (group.clone(), r.clone()))
            })
            .collect();
        let evaluated = rules.iter().all(|(_, r)| {
            r["health"] != "unknown"
                && !r["lastEvaluation"]
                    .as_str()
                    .unwrap_or("0001")
                    .starts_with("0001")
        });
        if evaluated || Instant::now() > deadline {
            break rules;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if rules.is_empty() {
        failures.push("alerts.yml: Prometheus loaded no rules from it".to_string());
        return 1;
    }
    for (group, r) in &rules {
        if r["health"] != "ok" {
            failures.push(format!(
                "alerts.yml / {group} / {}: health {}, last error {}\n  expr: {}",
                r["name"], r["health"], r["lastError"], r["query"]
            ));
        }
    }
    eprintln!(
        "prometheus test: {} alert and recording rules evaluated",
        rules.len()
    );
    rules.len()
}

/// Says which of Palisade's metrics no panel uses: not a failure, a hint
/// for whoever keeps the dashboards.
fn note_unused_metrics(prom: &Prometheus, exprs: &[String]) {
    let Ok(names) = prom.label_values(Some(r#"{job="palisade"}"#), "__name__") else {
        return;
    };
    let families: BTreeSet<&str> = names
        .iter()
        .filter(|n| n.starts_with("palisade_"))
        .map(|n| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .unwrap_or(n)
        })
        .collect();
    let unused: Vec<&str> = families
        .into_iter()
        .filter(|f| !exprs.iter().any(|e| e.contains(f)))
        .collect();
    if !unused.is_empty() {
        eprintln!(
            "note: on no dashboard panel (or not scraped in this run): {}",
            unused.join(", ")
        );
    }
}

fn warnings(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("level=info") && !l.contains("level=debug"))
        .collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
