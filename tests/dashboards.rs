//! Keeps `dashboards/` honest: every metric a Grafana dashboard or a
//! Prometheus alert queries is one Palisade exports (a renamed metric would
//! otherwise leave a panel silently empty and an alert silently dead), every
//! panel reads the dashboard's data-source and instance variables, and
//! promtool accepts the alerts and passes their unit tests.
//!
//! The promtool test needs `promtool` (on PATH, or at `PALISADE_TEST_PROMTOOL`);
//! without it, it says SKIP, except under CI, where it fails.

use palisade::metrics::Metrics;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

const DASHBOARDS: &[&str] = &["palisade-overview.json", "palisade-operations.json"];
const ALERTS: &str = "alerts.yml";
const ALERT_TESTS: &str = "alerts.test.yml";

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

fn read(name: &str) -> String {
    let path = folder().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn dashboard(name: &str) -> Value {
    serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every panel of a dashboard, rows' nested panels (a collapsed row keeps
/// its panels inside it) included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            if let Some(inner) = p.get("panels") {
                walk(inner, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn is_row(panel: &Value) -> bool {
    panel["type"] == "row"
}

fn title(panel: &Value) -> &str {
    panel["title"].as_str().unwrap_or("(untitled)")
}

/// A PromQL expression and where it was found, for messages.
struct Query {
    file: String,
    place: String,
    expr: String,
}

/// Every panel target's `expr` and every query variable's query.
fn dashboard_queries(name: &str) -> Vec<Query> {
    let d = dashboard(name);
    let mut out = Vec::new();
    for p in panels(&d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(expr) = t["expr"].as_str() {
                out.push(Query {
                    file: name.to_string(),
                    place: format!("panel {:?}", title(p)),
                    expr: expr.to_string(),
                });
            }
        }
    }
    for v in d["templating"]["list"].as_array().into_iter().flatten() {
        if v["type"] != "query" {
            continue;
        }
        // Grafana writes a variable's query as a string or, since 10, as
        // an object holding it.
        let q = v["query"]["query"].as_str().or(v["query"].as_str());
        if let Some(q) = q {
            out.push(Query {
                file: name.to_string(),
                place: format!("variable {:?}", v["name"].as_str().unwrap_or("")),
                expr: q.to_string(),
            });
        }
    }
    out
}

fn yaml(name: &str) -> Yaml {
    let mut docs = YamlLoader::load_from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(docs.len(), 1, "{name}: one YAML document");
    docs.remove(0)
}

/// Every rule's `expr` in alerts.yml.
fn alert_queries() -> Vec<Query> {
    let doc = yaml(ALERTS);
    let mut out = Vec::new();
    for group in doc["groups"].as_vec().into_iter().flatten() {
        for rule in group["rules"].as_vec().into_iter().flatten() {
            let name = rule["alert"].as_str().or(rule["record"].as_str());
            out.push(Query {
                file: ALERTS.to_string(),
                place: format!("rule {:?}", name.unwrap_or("(unnamed)")),
                expr: rule["expr"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{ALERTS}: rule {name:?} has no expr"))
                    .to_string(),
            });
        }
    }
    out
}

#[derive(Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Punct(char),
}

/// PromQL cut into identifiers, string literals and punctuation; numbers,
/// durations, comments and Grafana variables (`$x`, `${x}`) are dropped.
fn tokens(expr: &str) -> Vec<Token> {
    let chars: Vec<char> = expr.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '"' || c == '\'' || c == '`' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != c {
                if chars[i] == '\\' && c != '`' {
                    i += 1;
                }
                if let Some(&ch) = chars.get(i) {
                    s.push(ch);
                }
                i += 1;
            }
            i += 1;
            out.push(Token::Str(s));
        } else if c == '$' {
            i += 1;
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && ident(chars[i]) {
                    i += 1;
                }
            }
        } else if c.is_ascii_digit() || c == '.' {
            while i < chars.len() && (ident(chars[i]) || chars[i] == '.') {
                i += 1;
            }
        } else if ident(c) {
            let start = i;
            while i < chars.len() && ident(chars[i]) {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            out.push(Token::Punct(c));
            i += 1;
        }
    }
    out
}

/// Keywords whose parenthesised list holds label names, not metrics.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// A metric selector found in an expression: the metric's name and the
/// matchers in its braces.
#[derive(Debug, PartialEq)]
struct Selector {
    metric: String,
    matchers: Vec<(String, String, String)>,
}

/// The selectors of Palisade's metrics (`palisade_*`) and of its process
/// collector (`process_*`) in an expression. Functions, keywords, label
/// names, string literals and other metrics (`up`) are not selectors of
/// Palisade's; `{__name__="palisade_x"}` is.
fn selectors(expr: &str) -> Vec<Selector> {
    let t = tokens(expr);
    let ours = |name: &str| name.starts_with("palisade_") || name.starts_with("process_");
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        match &t[i] {
            Token::Ident(k)
                if LABEL_LISTS.contains(&k.as_str())
                    && t.get(i + 1) == Some(&Token::Punct('(')) =>
            {
                while i < t.len() && t[i] != Token::Punct(')') {
                    i += 1;
                }
                i += 1;
            }
            Token::Punct('[') => {
                while i < t.len() && t[i] != Token::Punct(']') {
                    i += 1;
                }
                i += 1;
            }
            Token::Ident(_) | Token::Punct('{') => {
                let metric = match &t[i] {
                    Token::Ident(name) => {
                        i += 1;
                        Some(name.clone())
                    }
                    _ => None,
                };
                let mut matchers = Vec::new();
                if t.get(i) == Some(&Token::Punct('{')) {
                    i += 1;
                    while i < t.len() && t[i] != Token::Punct('}') {
                        if let Token::Ident(label) = &t[i] {
                            let mut op = String::new();
                            i += 1;
                            while let Some(Token::Punct(c)) = t.get(i) {
                                if !matches!(c, '=' | '!' | '~') {
                                    break;
                                }
                                op.push(*c);
                                i += 1;
                            }
                            if let Some(Token::Str(value)) = t.get(i) {
                                matchers.push((label.clone(), op, value.clone()));
                            }
                        }
                        i += 1;
                    }
                    i += 1;
                }
                let by_name = matchers
                    .iter()
                    .find(|(l, op, _)| l == "__name__" && op == "=")
                    .map(|m| m.2.clone());
                if let Some(metric) = metric.or(by_name).filter(|m| ours(m)) {
                    out.push(Selector { metric, matchers });
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// The family a series name belongs to: a histogram's `_bucket`, `_sum`
/// and `_count` series belong to the family named without them.
fn family<'a>(name: &'a str, names: &HashSet<&str>) -> Option<&'a str> {
    if names.contains(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .find(|base| names.contains(base))
}

fn all_queries() -> Vec<Query> {
    let mut all: Vec<Query> = DASHBOARDS
        .iter()
        .flat_map(|d| dashboard_queries(d))
        .collect();
    all.extend(alert_queries());
    all
}

#[test]
fn every_queried_metric_is_one_palisade_exports() {
    let metrics = Metrics::new();
    let names: HashSet<&str> = metrics.names().iter().map(String::as_str).collect();
    let queries = all_queries();
    // Guards against a walk that finds nothing and so passes vacuously.
    assert!(queries.len() > 60, "only {} queries found", queries.len());
    let mut unknown = Vec::new();
    let mut used = BTreeSet::new();
    for q in &queries {
        for s in selectors(&q.expr) {
            match family(&s.metric, &names) {
                Some(f) => {
                    used.insert(f.to_string());
                }
                None => unknown.push(format!("  {} in {}, {}", s.metric, q.file, q.place)),
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "dashboards/ queries metrics Palisade does not export (src/metrics/mod.rs declares them):\n{}",
        unknown.join("\n")
    );
    assert!(
        used.len() > 30,
        "only {} metrics queried: {used:?}",
        used.len()
    );
}

#[test]
fn every_panel_reads_the_data_source_variable() {
    let ours = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    let mut uids = HashSet::new();
    for name in DASHBOARDS {
        let d = dashboard(name);
        assert!(
            uids.insert(d["uid"].as_str().unwrap_or("").to_string()),
            "{name}: uid missing or shared"
        );
        let vars = d["templating"]["list"].as_array().expect("templating");
        assert!(
            vars.iter().any(|v| v["name"] == "datasource"
                && v["type"] == "datasource"
                && v["query"] == "prometheus"),
            "{name}: no Prometheus data-source variable named `datasource`"
        );
        let mut ids = HashSet::new();
        let mut problems = Vec::new();
        for p in panels(&d) {
            let t = title(p);
            match p["id"].as_u64() {
                Some(id) if !ids.insert(id) => {
                    problems.push(format!("panel {t:?}: id {id} used twice"))
                }
                Some(_) => {}
                None => problems.push(format!("panel {t:?}: no id")),
            }
            if is_row(p) {
                continue;
            }
            if p["datasource"] != ours {
                problems.push(format!("panel {t:?}: datasource is {}", p["datasource"]));
            }
            let targets = p["targets"].as_array().map_or(&[][..], Vec::as_slice);
            if targets.is_empty() {
                problems.push(format!("panel {t:?}: no targets"));
            }
            for target in targets {
                if target["datasource"] != ours {
                    problems.push(format!(
                        "panel {t:?}: a target's datasource is {}",
                        target["datasource"]
                    ));
                }
                if target["expr"].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("panel {t:?}: a target without an expr"));
                }
            }
        }
        assert!(problems.is_empty(), "{name}:\n  {}", problems.join("\n  "));
    }
}

/// Every selector honours the instance picker, and every range is
/// `$__rate_interval` (at least four scrapes, whatever the zoom).
#[test]
fn every_dashboard_query_follows_the_variables() {
    let mut problems = Vec::new();
    for name in DASHBOARDS {
        for q in dashboard_queries(name) {
            if q.place.starts_with("variable") {
                continue;
            }
            for s in selectors(&q.expr) {
                let picked = s
                    .matchers
                    .iter()
                    .any(|(l, op, v)| l == "instance" && op == "=~" && v == "$instance");
                if !picked {
                    problems.push(format!(
                        "{name}, {}: {} without instance=~\"$instance\"",
                        q.place, s.metric
                    ));
                }
            }
            let mut rest = q.expr.as_str();
            while let Some(start) = rest.find('[') {
                let end = rest[start..].find(']').map_or(rest.len(), |e| start + e);
                let range = &rest[start + 1..end];
                if range != "$__rate_interval" {
                    problems.push(format!(
                        "{name}, {}: range [{range}], not [$__rate_interval]",
                        q.place
                    ));
                }
                rest = &rest[end..];
            }
        }
    }
    assert!(problems.is_empty(), "\n  {}", problems.join("\n  "));
}

#[test]
fn selectors_are_told_from_functions_labels_and_strings() {
    let found = selectors(
        r#"sum by (palisade_not_a_metric) (rate(palisade_a_total{route="/v1/x", code!~"palisade_b"}[$__rate_interval]))
           / ignoring (le) group_left histogram_quantile(0.99, palisade_c_bucket)
           or on() vector(0) + up{job="palisade"} + {__name__="process_d", instance=~"$instance"} # palisade_e"#,
    );
    let names: Vec<&str> = found.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(
        names,
        ["palisade_a_total", "palisade_c_bucket", "process_d"]
    );
    assert_eq!(
        found[0].matchers,
        [
            ("route".into(), "=".into(), "/v1/x".into()),
            ("code".into(), "!~".into(), "palisade_b".into())
        ]
    );
    let names: HashSet<&str> = ["palisade_c"].into_iter().collect();
    assert_eq!(family("palisade_c_bucket", &names), Some("palisade_c"));
    assert_eq!(family("palisade_c_total", &names), None);
}

/// promtool at `PALISADE_TEST_PROMTOOL`, else on PATH; None after a SKIP line.
fn promtool() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PALISADE_TEST_PROMTOOL").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("promtool"))
            .find(|p| p.is_file())
    });
    if on_path.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI checks the alerts: promtool must be on PATH or at PALISADE_TEST_PROMTOOL"
        );
        eprintln!(
            "SKIP: promtool not found (not on PATH, PALISADE_TEST_PROMTOOL not set); dashboards/alerts.yml not checked"
        );
    }
    on_path
}

/// Runs promtool in dashboards/; `context` follows its output when it fails.
fn run(promtool: &Path, args: &[&str], context: &str) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(folder())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", promtool.display()));
    assert!(
        out.status.success(),
        "promtool {} failed:\n{}{}{context}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_alerts_and_their_tests_pass() {
    let Some(promtool) = promtool() else {
        return;
    };
    run(&promtool, &["check", "rules", ALERTS], "");
    run(&promtool, &["test", "rules", ALERT_TESTS], "");
    // The dashboards' queries too, as recording rules with Grafana's
    // variables filled in: promtool parses each one.
    let mut rules = String::from("groups:\n  - name: dashboards\n    rules:\n");
    for (n, q) in DASHBOARDS
        .iter()
        .flat_map(|d| dashboard_queries(d))
        .enumerate()
    {
        if q.place.starts_with("variable") {
            continue; // label_values() is Grafana's, not PromQL
        }
        let expr = q
            .expr
            .replace("$__rate_interval", "5m")
            .replace("$instance", ".*");
        rules.push_str(&format!(
            "      # {} {}\n      - record: dashboard:query_{n}\n        expr: {}\n",
            q.file,
            q.place,
            serde_json::to_string(&expr).expect("a string")
        ));
    }
    let dir = tempfile::tempdir().expect("a temporary folder");
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, &rules).expect("written");
    let numbered: Vec<String> = (1..)
        .zip(rules.lines())
        .map(|(n, l)| format!("{n:4} {l}"))
        .collect();
    run(
        &promtool,
        &["check", "rules", file.to_str().expect("UTF-8")],
        &format!(
            "the dashboards' queries as rules (line numbers as above):\n{}",
            numbered.join("\n")
        ),
    );
}

#[test]
fn provisioning_files_name_a_prometheus_and_a_file_provider() {
    let ds = yaml("provisioning/datasources/palisade.yml");
    assert_eq!(ds["apiVersion"].as_i64(), Some(1));
    assert_eq!(ds["datasources"][0]["type"].as_str(), Some("prometheus"));
    assert_eq!(
        ds["datasources"][0]["url"].as_str(),
        Some("${PROMETHEUS_URL}")
    );
    let dash = yaml("provisioning/dashboards/palisade.yml");
    assert_eq!(dash["apiVersion"].as_i64(), Some(1));
    assert_eq!(dash["providers"][0]["type"].as_str(), Some("file"));
    assert!(dash["providers"][0]["options"]["path"].as_str().is_some());
}
