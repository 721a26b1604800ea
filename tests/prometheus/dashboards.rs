//! The Grafana dashboards in `dashboards/*.json` as Prometheus sees them:
//! every panel's queries, and the template variables they use replaced as
//! Grafana replaces them before sending a query.

use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// The window `$__rate_interval` stands for. Grafana makes it at least four
/// scrape intervals; the test scrapes every second and keeps the traffic
/// going over the last 20 s, so every rate has many points.
pub const RATE_INTERVAL: &str = "20s";

pub struct Dashboard {
    /// The file name, such as `palisade-overview.json`.
    pub file: String,
    pub json: Value,
}

/// One query of one panel.
pub struct Target {
    /// The titles from the row down to the panel, joined by " / ".
    pub panel: String,
    pub expr: String,
}

/// A template variable of a dashboard (`templating.list`).
pub struct Variable {
    pub name: String,
    pub kind: String,
    /// The query (a string, or the `query` of a query object) or, for a
    /// custom variable, its comma-separated values.
    pub query: String,
    pub multi: bool,
    pub include_all: bool,
    pub all_value: Option<String>,
    pub current: Option<String>,
}

/// Every `*.json` in `dir`, in file name order.
pub fn load(dir: &Path) -> Vec<Dashboard> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", p.display()));
            Dashboard {
                file: p.file_name().unwrap().to_string_lossy().into_owned(),
                json,
            }
        })
        .collect()
}

impl Dashboard {
    /// The queries of every panel, those inside rows (collapsed rows keep
    /// their panels in `panels`, the old schema in `rows`) too.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        let top = self.json["panels"].as_array().into_iter().flatten();
        let old = self.json["rows"].as_array().into_iter().flatten();
        for p in top.chain(old) {
            walk(p, "", &mut out);
        }
        out
    }

    pub fn variables(&self) -> Vec<Variable> {
        let list = self.json["templating"]["list"].as_array();
        list.into_iter()
            .flatten()
            .map(|v| {
                let text = |v: &Value| v.as_str().map(String::from);
                let query = match &v["query"] {
                    Value::Object(o) => o.get("query").and_then(text),
                    q => text(q),
                };
                let current = match &v["current"]["value"] {
                    Value::Array(a) => a.first().and_then(text),
                    c => text(c),
                };
                Variable {
                    name: text(&v["name"]).unwrap_or_default(),
                    kind: text(&v["type"]).unwrap_or_default(),
                    query: query.unwrap_or_default(),
                    multi: v["multi"].as_bool().unwrap_or(false),
                    include_all: v["includeAll"].as_bool().unwrap_or(false),
                    all_value: text(&v["allValue"]).filter(|a| !a.is_empty()),
                    current: current.filter(|c| !c.is_empty() && c != "$__all"),
                }
            })
            .collect()
    }
}

fn walk(panel: &Value, outer: &str, out: &mut Vec<Target>) {
    let title = panel["title"].as_str().unwrap_or("(untitled)");
    let path = if outer.is_empty() {
        title.to_string()
    } else {
        format!("{outer} / {title}")
    };
    for t in panel["targets"].as_array().into_iter().flatten() {
        if let Some(expr) = t["expr"].as_str().filter(|e| !e.trim().is_empty()) {
            out.push(Target {
                panel: path.clone(),
                expr: expr.to_string(),
            });
        }
    }
    for p in panel["panels"].as_array().into_iter().flatten() {
        walk(p, &path, out);
    }
}

/// What `label_values(...)` asks for: a selector (if any) and a label.
pub fn label_values_query(query: &str) -> Option<(Option<String>, String)> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    match inner.rsplit_once(',') {
        Some((selector, label)) => Some((Some(selector.trim().into()), label.trim().into())),
        None => Some((None, inner.trim().into())),
    }
}

/// The text Grafana puts in a query for a variable with these `values`
/// (all of them selected where it can take several).
pub fn value_of(v: &Variable, values: &[String]) -> String {
    if v.include_all {
        if let Some(all) = &v.all_value {
            return all.clone();
        }
    }
    if v.include_all || v.multi {
        let escaped: Vec<String> = values.iter().map(|s| regex_escape(s)).collect();
        return match escaped.as_slice() {
            [one] => one.clone(),
            many => format!("({})", many.join("|")),
        };
    }
    v.current
        .clone()
        .filter(|c| values.is_empty() || values.contains(c))
        .or_else(|| values.first().cloned())
        .unwrap_or_default()
}

/// A value as a regular expression inside a PromQL string: each regex
/// metacharacter behind a backslash, itself escaped for the string.
fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// Grafana's own variables, as it would fill them in for a panel showing the
/// last few minutes at one point per few seconds.
pub fn builtins() -> HashMap<String, String> {
    [
        ("__rate_interval", RATE_INTERVAL),
        ("__interval", "5s"),
        ("__interval_ms", "5000"),
        ("__range", "5m"),
        ("__range_s", "300"),
        ("__range_ms", "300000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `expr` with `$name`, `${name}`, `${name:format}` and `[[name]]` replaced
/// from `values`; the names it uses that `values` lacks are returned too.
pub fn substitute(expr: &str, values: &HashMap<String, String>) -> (String, Vec<String>) {
    let mut out = String::with_capacity(expr.len());
    let mut unknown = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find(['$', '[']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (name, len) = if let Some(braced) = tail.strip_prefix("${") {
            match braced.find('}') {
                Some(end) => {
                    let name = braced[..end].split(':').next().unwrap_or_default();
                    (name, end + 3)
                }
                None => ("", 0),
            }
        } else if let Some(old) = tail.strip_prefix("[[") {
            match old.find("]]") {
                Some(end) if is_name(&old[..end]) => (&old[..end], end + 4),
                _ => ("", 0),
            }
        } else if let Some(plain) = tail.strip_prefix('$') {
            let end = plain
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(plain.len());
            (&plain[..end], end + 1)
        } else {
            ("", 0)
        };
        // `$1` in label_replace, or a `[` of a range: not a variable.
        if len == 0 || name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
            continue;
        }
        match values.get(name) {
            Some(v) => out.push_str(v),
            None => {
                unknown.push(name.to_string());
                out.push_str(&tail[..len]);
            }
        }
        rest = &tail[len..];
    }
    out.push_str(rest);
    (out, unknown)
}

/// The query before a trailing `or on() vector(0)` (or `or vector(0)`): a
/// fallback that shows 0 where the query finds no series, and so returns
/// data whatever the query does; `None` without one.
pub fn without_fallback(expr: &str) -> Option<String> {
    let mut depth = 0i32;
    let mut quote = None;
    let mut escaped = false;
    let mut last_or = None;
    let bytes = expr.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(q) = quote {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                _ if b == q => quote = None,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' | b'\'' | b'`' => quote = Some(b),
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b'o' if depth == 0 && expr[i..].starts_with("or") => {
                let word =
                    |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
                if !word(i.checked_sub(1).and_then(|j| bytes.get(j))) && !word(bytes.get(i + 2)) {
                    last_or = Some(i);
                }
            }
            _ => {}
        }
    }
    let at = last_or?;
    let fallback: String = expr[at + 2..].split_whitespace().collect();
    ["on()vector(0)", "vector(0)"]
        .contains(&fallback.as_str())
        .then(|| expr[..at].trim().to_string())
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[test]
fn variables_are_replaced_as_grafana_does() {
    let mut values = builtins();
    values.insert("instance".into(), "(a\\\\.b|c)".into());
    let (expr, unknown) = substitute(
        r#"sum by (x) (rate(m{instance=~"$instance"}[$__rate_interval])) / ${__interval_ms} + [[instance]] + label_replace(m, "a", "$1", "b", "(.*)") + $nope + ${gone:regex} + m[5m]"#,
        &values,
    );
    assert_eq!(
        expr,
        r#"sum by (x) (rate(m{instance=~"(a\\.b|c)"}[20s])) / 5000 + (a\\.b|c) + label_replace(m, "a", "$1", "b", "(.*)") + $nope + ${gone:regex} + m[5m]"#
    );
    assert_eq!(unknown, ["nope", "gone"]);
}

#[test]
fn a_variable_takes_all_its_values_or_its_current_one() {
    let v = |multi, include_all, all_value: Option<&str>| Variable {
        name: "instance".into(),
        kind: "query".into(),
        query: "label_values(up{job=\"palisade\"}, instance)".into(),
        multi,
        include_all,
        all_value: all_value.map(String::from),
        current: Some("b:2".into()),
    };
    let values = ["a.1:1".to_string(), "b:2".to_string()];
    assert_eq!(value_of(&v(true, true, None), &values), r"(a\\.1:1|b:2)");
    assert_eq!(value_of(&v(false, true, Some(".*")), &values), ".*");
    assert_eq!(value_of(&v(false, false, None), &values), "b:2");
    assert_eq!(value_of(&v(false, false, None), &values[..1]), "a.1:1");
    assert_eq!(
        label_values_query("label_values(up{job=\"palisade\"}, instance)"),
        Some((Some("up{job=\"palisade\"}".into()), "instance".into()))
    );
    assert_eq!(
        label_values_query(" label_values(instance) "),
        Some((None, "instance".into()))
    );
}

#[test]
fn a_trailing_zero_fallback_is_taken_off() {
    assert_eq!(
        without_fallback(r#"(sum(rate(a{x="or"}[1m])) / sum(rate(b[1m]))) or on() vector(0)"#),
        Some(r#"(sum(rate(a{x="or"}[1m])) / sum(rate(b[1m])))"#.into())
    );
    assert_eq!(
        without_fallback("sum by (k) (rate(errors[1m]))  or  vector(0)"),
        Some("sum by (k) (rate(errors[1m]))".into())
    );
    assert_eq!(without_fallback("a or b"), None);
    assert_eq!(without_fallback("sum(a or on() vector(0))"), None);
    assert_eq!(without_fallback("sum(rate(errors[1m]))"), None);
    assert_eq!(without_fallback("a or on() vector(1)"), None);
}
