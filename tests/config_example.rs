//! The example config file and the README's config block: every key the
//! config takes is in the example with a comment, and `check` agrees with
//! `serve` on them (it fails whenever `serve` would refuse to start, and
//! lists every problem in one run).

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::cli::{palisade, repo};

const EXAMPLE: &str = "docs/palisade.example.toml";

/// The keys a table of the config takes, as serde names them when it
/// refuses an unknown one: `None` for a table that takes any key (librdkafka
/// properties) or a value that is no table.
fn keys_of(section: &[&str]) -> Option<Vec<String>> {
    let mut doc = String::new();
    if !section.is_empty() {
        doc = format!("[{}]\n", section.join("."));
    }
    doc.push_str("zz_not_a_key = 1\n");
    let err = toml::from_str::<palisade::config::Config>(&doc).err()?;
    // "unknown field `zz_not_a_key`, expected `a`", "... `a` or `b`",
    // "... one of `a`, `b`, `c`".
    let message = err.message().to_string();
    let (_, expected) = message
        .strip_prefix("unknown field `zz_not_a_key`")?
        .split_once("expected ")?;
    Some(
        expected
            .split('`')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect(),
    )
}

/// Every key of the config, by the table it is in.
fn every_key() -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    let mut tables = vec![Vec::<String>::new()];
    while let Some(table) = tables.pop() {
        let path: Vec<&str> = table.iter().map(String::as_str).collect();
        let Some(keys) = keys_of(&path) else { continue };
        for k in keys {
            let mut sub = table.clone();
            sub.push(k.clone());
            let sub_path: Vec<&str> = sub.iter().map(String::as_str).collect();
            // A table is one that names its own keys, or takes any key.
            let is_table = keys_of(&sub_path).is_some()
                || toml::from_str::<palisade::config::Config>(&format!(
                    "[{}]\nzz_not_a_key = \"1\"\n",
                    sub_path.join(".")
                ))
                .is_ok();
            if is_table {
                tables.push(sub);
            } else {
                out.push((table.clone(), k));
            }
        }
    }
    out
}

/// The example's keys (commented-out ones included) by table, with whether
/// each line carries a comment.
fn example_keys(text: &str) -> BTreeSet<(String, String, bool)> {
    let mut table = String::new();
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim_start_matches("# ").trim();
        if let Some(t) = line.strip_prefix('[') {
            table = t.split(']').next().unwrap().to_string();
            continue;
        }
        if let Some((key, rest)) = line.split_once(" = ") {
            if key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                out.insert((table.clone(), key.to_string(), rest.contains(" # ")));
            }
        }
    }
    out
}

#[test]
fn every_key_the_config_takes_is_in_the_example_with_a_comment() {
    let keys = every_key();
    assert!(keys.len() > 60, "the keys were read: {keys:?}");
    assert!(keys.contains(&(vec!["limits".into()], "memory_budget".into())));
    let text = std::fs::read_to_string(repo(EXAMPLE)).unwrap();
    let example = example_keys(&text);
    let mut missing = Vec::new();
    for (table, key) in &keys {
        let table = table.join(".");
        let found = example.iter().find(|(t, k, _)| *t == table && k == key);
        match found {
            None => missing.push(format!("[{table}] {key}: not in the example")),
            // The three actions are named by their table's comment.
            Some((t, _, false)) if t != "pwned.actions" => {
                missing.push(format!("[{table}] {key}: no comment"))
            }
            Some(_) => {}
        }
    }
    assert!(missing.is_empty(), "{EXAMPLE}:\n{}", missing.join("\n"));
    // And nothing in it that the config does not take.
    for (t, k, _) in &example {
        let known = keys
            .iter()
            .any(|(table, key)| table.join(".") == *t && key == k);
        let free_form = t.starts_with("kafka.") && t.ends_with("properties");
        assert!(known || free_form, "[{t}] {k} is no key of the config");
    }
}

/// How `serve` takes a config: `Ok` once it answers `/readyz`, `Err` with
/// its exit code and output when it stops first.
fn serve_starts(dir: &Path, config: &Path) -> Result<(), (Option<i32>, String)> {
    let port = support::free_port();
    let log = dir.join(format!("serve-{port}.log"));
    let mut child = palisade(dir)
        .arg("--config")
        .arg(config)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + support::child::WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Err((status.code(), std::fs::read_to_string(&log).unwrap()));
        }
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = write!(
                s,
                "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            );
            let mut text = String::new();
            let _ = s.read_to_string(&mut text);
            if text.starts_with("HTTP/1.1 200") {
                let _ = Command::new("kill").arg(child.id().to_string()).status();
                let _ = child.wait();
                return Ok(());
            }
        }
        assert!(Instant::now() < deadline, "serve neither ready nor stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `check`'s exit code and report.
fn check(dir: &Path, config: &Path) -> (Option<i32>, String) {
    let out = palisade(dir)
        .arg("--config")
        .arg(config)
        .arg("check")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

/// `check` and `serve` on one config file: both accept it or both refuse
/// it; returns check's report and whether it was accepted.
fn agree(dir: &Path, name: &str, text: &str) -> (String, bool) {
    let config = dir.join(name);
    std::fs::write(&config, text).unwrap();
    let (code, report) = check(dir, &config);
    let served = serve_starts(dir, &config);
    match (&served, code) {
        (Ok(()), Some(0)) => (report, true),
        (Err((Some(64), _)), Some(64)) => (report, false),
        _ => panic!("{name}: check exited {code:?}:\n{report}\nserve: {served:?}\nconfig:\n{text}"),
    }
}

#[test]
fn check_passes_on_the_example_and_serve_starts_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo(EXAMPLE)).unwrap();
    let (report, ok) = agree(dir.path(), "example.toml", &text);
    assert!(ok && report.contains("ok: "), "{report}");
}

/// The example with every commented-out key set to its sample value: the
/// files it names are not there, and `check` says so for each at once.
#[test]
fn check_lists_every_problem_of_the_filled_in_example_at_once_as_serve_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = std::fs::read_to_string(repo(EXAMPLE))
        .unwrap()
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            // Kafka would wait for brokers that are not there.
            Some(key) if key.contains(" = ") && !key.starts_with("brokers") => key,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (report, ok) = agree(dir.path(), "filled.toml", &text);
    assert!(!ok);
    for want in [
        "hash_key",
        "city database GeoLite2-City.mmdb",
        "asn database GeoLite2-ASN.mmdb",
        "anonymous-ip database GeoIP2-Anonymous-IP.mmdb",
        "pwned.idx",
        "API keys file keys.txt",
    ] {
        assert!(report.contains(want), "{want} not in:\n{report}");
    }
}

/// The README's `[server]` example names a keys file: with it missing,
/// `serve` refuses to start, and so must `check`; with it there, both go.
#[test]
fn a_missing_api_keys_file_fails_check_as_it_fails_serve() {
    let dir = tempfile::tempdir().unwrap();
    let config = "[server]\napi_keys_file = \"keys.txt\"\n";
    let (report, ok) = agree(dir.path(), "keys.toml", config);
    assert!(!ok && report.contains("keys.txt"), "{report}");
    std::fs::write(dir.path().join("keys.txt"), "# ops\nshort\n").unwrap();
    let (report, ok) = agree(dir.path(), "keys.toml", config);
    assert!(!ok && report.contains("keys.txt:2"), "{report}");
    std::fs::write(dir.path().join("keys.txt"), "# ops\nkey-0123456789abcdef\n").unwrap();
    let (_, ok) = agree(dir.path(), "keys.toml", config);
    assert!(ok);
}

/// The README's main config block, its placeholders filled in as an
/// operator would (real files for the keys file and the GeoIP databases
/// when the shared data is there): `check` says ok and `serve` starts; as
/// printed, both refuse it alike.
#[test]
fn the_readmes_config_block_is_checked_as_serve_takes_it() {
    let readme = std::fs::read_to_string(repo("README.md")).unwrap();
    let (_, after) = readme.split_once("## Configuration").unwrap();
    let (_, block) = after.split_once("```toml\n").unwrap();
    let (block, _) = block.split_once("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (report, ok) = agree(dir.path(), "readme.toml", block);
    assert!(!ok && report.contains("problems found"), "{report}");

    let geo = repo("../shared/data/geo");
    let mut filled = block
        .replace(
            r#"hash_key = "…""#,
            &format!("hash_key = \"{}\"", "ab".repeat(16)),
        )
        .replace(
            r#"api_keys = ["…"]"#,
            r#"api_keys = ["key-0123456789abcdef"]"#,
        )
        .replace(r#""sasl.password" = "…""#, r#""sasl.password" = "secret""#)
        .replace(r#"brokers = "kafka-1:9092,kafka-2:9092""#, "");
    filled = filled
        .replace(
            r#"rules = "rules""#,
            &format!("rules = {:?}", repo("rules")),
        )
        .replace(
            r#"models = "models""#,
            &format!("models = {:?}", repo("models")),
        );
    std::fs::write(dir.path().join("keys.txt"), "key-fedcba9876543210\n").unwrap();
    if geo.join("GeoLite2-City-2018.mmdb").exists() {
        filled = filled
            .replace(
                "\"GeoLite2-City.mmdb\"",
                &format!("{:?}", geo.join("GeoLite2-City-2018.mmdb")),
            )
            .replace(
                "\"GeoLite2-ASN.mmdb\"",
                &format!("{:?}", geo.join("maxmind-test/GeoLite2-ASN-Test.mmdb")),
            )
            .replace(
                "\"GeoIP2-Anonymous-IP.mmdb\"",
                &format!(
                    "{:?}",
                    geo.join("maxmind-test/GeoIP2-Anonymous-IP-Test.mmdb")
                ),
            );
    } else {
        eprintln!("SKIP: ../shared/data/geo not found: the README's GeoIP paths are left out");
        filled = filled
            .lines()
            .filter(|l| !l.contains(".mmdb"))
            .collect::<Vec<_>>()
            .join("\n");
    }
    let (report, ok) = agree(dir.path(), "filled.toml", &filled);
    assert!(ok, "{report}");
}
