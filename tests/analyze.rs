//! `palisade analyze`, driven as an operator would: simulated history in,
//! the summary, the table files and the HTML page out, checked against the
//! simulation's own labels; a crafted history with a takeover and a user
//! name full of markup; out-of-order input; an empty one; bad flags; and
//! country and ASN from MaxMind's test databases when `../shared/data` is
//! there. Each test runs in its own temporary folder with no `PALISADE_*`
//! variables.
#![cfg(feature = "analytics")]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Output;

mod support;

use support::cli::{failed, ok, palisade, repo, simulate};

/// A CSV table as its header and rows of cells (no cell in these tests
/// holds a comma or a quote).
fn csv(path: &Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_else(|| panic!("{} is empty", path.display()))
        .split(',')
        .map(String::from)
        .collect();
    let rows = lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect();
    (header, rows)
}

/// Runs `palisade --rules rules analyze --input input` with `args` in `dir`.
fn analyze(dir: &Path, input: &Path, args: &[&str]) -> Output {
    palisade(dir)
        .args(["--rules"])
        .arg(repo("rules"))
        .args(["analyze", "--input"])
        .arg(input)
        .args(args)
        .output()
        .unwrap()
}

const TABLES: [(&str, &str); 9] = [
    ("timeline", "bucket,attempts,failures,successes,challenges,blocks"),
    ("sources_ip", "ip,attempts,failures,failure_rate,accounts,successes,blocked,blocked_share,first_seen,last_seen,network,asn,country,class"),
    ("sources_network", "network,attempts,failures,failure_rate,accounts,successes,blocked,blocked_share,first_seen,last_seen"),
    ("sources_asn", "asn,attempts,failures,failure_rate,accounts,successes,blocked,blocked_share,first_seen,last_seen"),
    ("sources_country", "country,attempts,failures,failure_rate,accounts,successes,blocked,blocked_share,first_seen,last_seen"),
    ("accounts", "user,attempts,failures,source_ips,failure_ips,successes,unknown_user_failures,blocked,first_seen,last_seen"),
    ("takeovers", "user,success_at,ip,failures_before,failure_ips,failures_from_success_ip,action"),
    ("campaigns", "ip,class,attempts,failures,successes,accounts,accounts_succeeded,attempts_per_account,failures_per_account,unknown_user_failures,unknown_user_share,hashed,hashed_share,passwords,password_share,brute_reasons,brute_reason_share,stuffing_reasons,stuffing_reason_share,spray_reasons,spray_reason_share,first_seen,last_seen,network,asn,country"),
    ("classes", "class,sources,attempts,failures,accounts,accounts_succeeded"),
];

/// Each address's most frequent label in a simulated history, and the
/// number of events.
fn majority_labels(sim: &Path) -> (HashMap<String, String>, u64) {
    let mut by_ip: HashMap<String, BTreeMap<String, u64>> = HashMap::new();
    let mut events = 0;
    for line in std::fs::read_to_string(sim).unwrap().lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        events += 1;
        *by_ip
            .entry(e["ip"].as_str().unwrap().to_string())
            .or_default()
            .entry(e["label"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let majority = by_ip
        .into_iter()
        .map(|(ip, labels)| {
            let top = labels.into_iter().max_by_key(|(_, n)| *n).unwrap().0;
            (ip, top)
        })
        .collect();
    (majority, events)
}

#[test]
fn simulated_attacks_are_classed_as_their_labels_say() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = simulate(tmp.path(), "1000", "3");
    let (stdout, stderr) = ok(analyze(
        tmp.path(),
        &sim,
        &["--tables", "tables", "--html", "report.html", "--top", "5"],
    ));
    let (labels, events) = majority_labels(&sim);
    for heading in [
        "Attack classes",
        "Top source addresses",
        "Possible takeovers",
    ] {
        assert!(stdout.contains(heading), "no {heading:?} in:\n{stdout}");
    }
    assert!(
        stdout.contains("country unknown: no database configured (--geoip-city)"),
        "{stdout}"
    );
    assert!(stderr.contains("9 tables in"), "{stderr}");

    let dir = tmp.path().join("tables");
    for (name, header) in TABLES {
        let (got, _) = csv(&dir.join(format!("{name}.csv")));
        assert_eq!(got.join(","), header, "{name}.csv");
    }
    let (_, timeline) = csv(&dir.join("timeline.csv"));
    let attempts: u64 = timeline
        .iter()
        .map(|r| r["attempts"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(attempts, events, "every simulated event is a sign-in");
    assert!(
        timeline.len() >= 3 * 24 - 1,
        "an hour a bucket over 3 days: {}",
        timeline.len()
    );

    // Every class found, each mostly on addresses whose events carry one of
    // its labels: the simulator's single-address attacks (few accounts, many
    // failures each) are brute force by shape, and names that are no account
    // here are the stuffing class's as well.
    let (_, campaigns) = csv(&dir.join("campaigns.csv"));
    let brute = [
        "brute_force",
        "moderate_brute_force",
        "low_and_slow",
        "repeat_offender",
        "unknown_user_brute_force",
        "lockout_abuse",
    ];
    let stuffing = ["credential_stuffing", "unknown_user_brute_force"];
    for (class, its) in [
        ("brute_force", &brute[..]),
        ("credential_stuffing", &stuffing[..]),
        ("password_spray", &["password_spray"][..]),
    ] {
        let sources: Vec<&String> = campaigns
            .iter()
            .filter(|r| r["class"] == class)
            .map(|r| &r["ip"])
            .collect();
        let right = sources
            .iter()
            .filter(|ip| its.contains(&labels[**ip].as_str()))
            .count();
        assert!(!sources.is_empty(), "no source classed {class}");
        assert!(
            right * 10 >= sources.len() * 8,
            "{class}: {right} of {} sources carry the label",
            sources.len()
        );
    }
    let (_, classes) = csv(&dir.join("classes.csv"));
    let classed: u64 = classes
        .iter()
        .map(|r| r["sources"].parse::<u64>().unwrap())
        .sum();
    assert_eq!(classed as usize, campaigns.len());

    let html = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<svg").count(), 3, "three charts");
    for (name, _) in TABLES {
        if !name.starts_with("sources_asn")
            && !name.starts_with("sources_country")
            && name != "timeline"
        {
            assert!(
                html.contains(&format!("<h2 id=\"{name}\">")),
                "no {name} heading"
            );
        }
    }
    assert!(
        html.contains("The top 5 of"),
        "the page says its tables are cut"
    );
    assert!(html.len() < 200_000, "the page is {} bytes", html.len());
}

/// Ten failures of one account from one address, then a success from it;
/// a name full of markup failing from another address; and a user who
/// mistyped once.
fn crafted() -> Vec<String> {
    let event = |i: u32, user: &str, ip: &str, outcome: &str| {
        let failure = if outcome == "failure" {
            r#","failure_reason":"bad_password""#
        } else {
            ""
        };
        format!(
            r#"{{"event_id":"e{i}","timestamp":"2026-01-05T10:{:02}:{:02}Z","kind":"sign_in","user":"{user}","ip":"{ip}","outcome":"{outcome}"{failure}}}"#,
            i / 60,
            i % 60
        )
    };
    let mut lines = Vec::new();
    for i in 0..10 {
        lines.push(event(i, "victim@example.com", "81.2.69.160", "failure"));
    }
    lines.push(event(10, "victim@example.com", "81.2.69.160", "success"));
    for i in 11..14 {
        lines.push(event(i, "<b>mallory</b>&co", "1.128.0.1", "failure"));
    }
    lines.push(event(14, "alice@example.com", "89.160.20.115", "failure"));
    lines.push(event(15, "alice@example.com", "89.160.20.115", "success"));
    lines
}

fn write_lines(path: &Path, lines: &[String]) -> PathBuf {
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
    path.to_path_buf()
}

#[test]
fn a_success_after_ten_failures_is_a_possible_takeover_even_out_of_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = crafted();
    lines.reverse();
    let input = write_lines(&tmp.path().join("crafted.jsonl"), &lines);
    let (stdout, stderr) = ok(analyze(
        tmp.path(),
        &input,
        &["--tables", "t", "--html", "r.html", "--bucket", "1m"],
    ));
    assert!(stderr.contains("not in time order"), "{stderr}");
    assert!(stdout.contains("16 events (16 sign-ins"), "{stdout}");
    let (_, takeovers) = csv(&tmp.path().join("t/takeovers.csv"));
    assert_eq!(takeovers.len(), 1, "{takeovers:?}");
    let t = &takeovers[0];
    assert_eq!(t["user"], "victim@example.com");
    assert_eq!(t["ip"], "81.2.69.160");
    assert_eq!(t["failures_before"], "10");
    assert_eq!(t["failure_ips"], "1");
    assert!(t["success_at"].starts_with("2026-01-05T10:00:10"), "{t:?}");
    let takeovers_shown = &stdout[stdout
        .find("Possible takeovers")
        .expect("a takeovers section")..];
    let summary_row = takeovers_shown
        .lines()
        .find(|l| l.contains("victim@example.com") && l.contains("2026-01-05 10:00:10"))
        .unwrap_or_else(|| panic!("no takeover row in:\n{stdout}"));
    assert!(summary_row.contains("81.2.69.160"), "{summary_row}");
    // Brute force needs 10 failures from one address; 10 is enough.
    let (_, campaigns) = csv(&tmp.path().join("t/campaigns.csv"));
    assert_eq!(campaigns.len(), 1);
    assert_eq!(campaigns[0]["class"], "brute_force");
    // Text from the history never becomes markup.
    let html = std::fs::read_to_string(tmp.path().join("r.html")).unwrap();
    assert!(
        html.contains("&lt;b&gt;mallory&lt;/b&gt;&amp;co"),
        "escaped name missing"
    );
    assert!(!html.contains("<b>mallory"), "the name became markup");
}

#[test]
fn country_and_asn_come_from_the_geoip_databases() {
    let geo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/geo/maxmind-test");
    let (city, asn) = (
        geo.join("GeoLite2-City-Test.mmdb"),
        geo.join("GeoLite2-ASN-Test.mmdb"),
    );
    if !city.is_file() || !asn.is_file() {
        eprintln!(
            "SKIP: country_and_asn_come_from_the_geoip_databases: {} or {} not found",
            city.display(),
            asn.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let input = write_lines(&tmp.path().join("crafted.jsonl"), &crafted());
    let out = palisade(tmp.path())
        .args(["--rules"])
        .arg(repo("rules"))
        .arg("--geoip-city")
        .arg(&city)
        .arg("--geoip-asn")
        .arg(&asn)
        .args(["analyze", "--input"])
        .arg(&input)
        .args(["--tables", "t", "--table-format", "csv"])
        .output()
        .unwrap();
    let (stdout, _) = ok(out);
    assert!(!stdout.contains("country unknown"), "{stdout}");
    assert!(stdout.contains("Top source countries"), "{stdout}");
    let (_, countries) = csv(&tmp.path().join("t/sources_country.csv"));
    let by: HashMap<&str, &str> = countries
        .iter()
        .map(|r| (r["country"].as_str(), r["attempts"].as_str()))
        .collect();
    // 81.2.69.160 is GB and 89.160.20.115 SE in the City test database; the
    // ASN test database's 1.128.0.0/11 is AS1221.
    assert_eq!(by.get("GB"), Some(&"11"), "{countries:?}");
    assert_eq!(by.get("SE"), Some(&"2"), "{countries:?}");
    let (_, asns) = csv(&tmp.path().join("t/sources_asn.csv"));
    assert!(
        asns.iter()
            .any(|r| r["asn"] == "1221" && r["failures"] == "3"),
        "{asns:?}"
    );
    let (_, networks) = csv(&tmp.path().join("t/sources_network.csv"));
    assert!(
        networks.iter().any(|r| r["network"] == "81.2.69.0/24"),
        "{networks:?}"
    );
}

#[test]
fn parquet_tables_are_parquet() {
    let tmp = tempfile::tempdir().unwrap();
    let input = write_lines(&tmp.path().join("crafted.jsonl"), &crafted());
    ok(analyze(
        tmp.path(),
        &input,
        &["--tables", "t", "--table-format", "parquet"],
    ));
    for (name, _) in TABLES {
        let bytes = std::fs::read(tmp.path().join(format!("t/{name}.parquet"))).unwrap();
        assert!(
            bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
            "{name}"
        );
    }
}

#[test]
fn an_empty_history_says_so_and_bad_flags_say_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = write_lines(&tmp.path().join("empty.jsonl"), &[]);
    let e = failed(analyze(tmp.path(), &empty, &[]));
    assert!(e.contains("no sign-in events to analyze"), "{e}");
    assert!(!e.contains("panicked"), "{e}");

    let input = write_lines(&tmp.path().join("crafted.jsonl"), &crafted());
    let e = failed(analyze(tmp.path(), &input, &["--bucket", "soon"]));
    assert!(e.contains("\"soon\" is not a duration"), "{e}");
    let e = failed(analyze(tmp.path(), &input, &["--top", "0"]));
    assert!(e.contains("--top"), "{e}");
    // A year of history in one-second buckets is too many to show.
    let mut year = crafted();
    year.push(
        year[0]
            .replace("2026-01-05", "2027-01-05")
            .replace("\"e0\"", "\"late\""),
    );
    let year = write_lines(&tmp.path().join("year.jsonl"), &year);
    let e = failed(analyze(tmp.path(), &year, &["--bucket", "1s"]));
    assert!(
        e.contains("--bucket 1s gives") && e.contains("at most 10000"),
        "{e}"
    );
    let e = failed(analyze(tmp.path(), &tmp.path().join("missing.jsonl"), &[]));
    assert!(
        e.contains("cannot open") && e.contains("missing.jsonl"),
        "{e}"
    );
    let e = failed(analyze(
        tmp.path(),
        &input,
        &["--html", "/nonexistent-dir/r.html"],
    ));
    assert!(e.contains("--html: cannot create"), "{e}");
}

/// `analyze ... | head`: the reader closes the pipe before the report is
/// printed; the command still exits cleanly and writes its page and tables.
#[test]
fn a_closed_stdout_still_gets_the_files_written() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = simulate(tmp.path(), "200", "2");
    let mut child = palisade(tmp.path())
        .args([
            "analyze",
            "--html",
            "report.html",
            "--tables",
            "tables",
            "--input",
        ])
        .arg(&sim)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert!(page.contains("<svg"), "{}", page.len());
    assert!(tmp.path().join("tables/timeline.csv").is_file());
}
