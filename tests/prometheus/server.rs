//! A Prometheus of the test's own: a child process on a free port of
//! 127.0.0.1, with a config written for it and its data in a temporary
//! folder, asked over its HTTP API and killed when dropped.
//!
//! The HTTP client is a raw TcpStream, as `support::child` has for Palisade:
//! the API needs only GET and JSON, and no HTTP client crate is among the
//! dependencies. Requests are HTTP/1.0, so Prometheus (Go's net/http) answers
//! with a plain body up to the closed connection, never a chunked one.

use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Prometheus {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes `targets` (host:port of a `/metrics`) every second as the job
    /// `palisade`, and evaluates the rules of `rule_files` every second.
    pub fn start(binary: &Path, targets: &[String], rule_files: &[PathBuf]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let port = super::support::free_port();
        // JSON strings are YAML strings: the paths and addresses need no
        // quoting rules of their own.
        let quoted = |items: Vec<String>| {
            items
                .iter()
                .map(|s| Value::from(s.as_str()).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let rules = quoted(rule_files.iter().map(|p| p.display().to_string()).collect());
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files: [{rules}]\n\
             scrape_configs:\n  - job_name: palisade\n    static_configs:\n      - targets: [{}]\n",
            quoted(targets.to_vec())
        );
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(binary)
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Prometheus { child, port, dir }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// Waits until `/-/ready` answers 200.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok((200, _)) = self.get("/-/ready") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("prometheus exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "prometheus not ready after 30 s; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Status and body of a GET.
    pub fn get(&self, path: &str) -> Result<(u16, String), String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| format!("cannot connect to prometheus: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            .map_err(|e| format!("cannot send to prometheus: {e}"))?;
        let mut text = String::new();
        s.read_to_string(&mut text)
            .map_err(|e| format!("cannot read prometheus's answer: {e}"))?;
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
        let body = text.split_once("\r\n\r\n").map_or("", |b| b.1).to_string();
        Ok((status, body))
    }

    /// The `data` of an API answer whose status is `success`; otherwise
    /// the answer as Prometheus gave it.
    pub fn api(&self, path: &str) -> Result<Value, String> {
        let (status, body) = self.get(path)?;
        let json: Value = serde_json::from_str(&body)
            .map_err(|e| format!("HTTP {status}, not JSON ({e}): {body}"))?;
        if status != 200 || json["status"] != "success" {
            return Err(format!("HTTP {status}: {body}"));
        }
        Ok(json["data"].clone())
    }

    /// An instant query's `data` (`resultType` and `result`).
    pub fn query(&self, expr: &str) -> Result<Value, String> {
        self.api(&format!("/api/v1/query?query={}", encode(expr)))
    }

    /// Values of `label` on the series `selector` matches.
    pub fn label_values(&self, selector: Option<&str>, label: &str) -> Result<Vec<String>, String> {
        let mut path = format!("/api/v1/label/{}/values", encode(label));
        if let Some(s) = selector {
            path += &format!("?match[]={}", encode(s));
        }
        let data = self.api(&path)?;
        Ok(data
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether an instant query's `data` holds something a panel would show: a
/// sample that is a number. An empty vector is "No data" in Grafana, and a
/// vector of NaN alone (such as 0/0 from rates of counters that did not
/// move) shows as NaN, which tells nothing either.
pub fn has_data(data: &Value) -> bool {
    let number = |v: &Value| v[1].as_str().is_some_and(|s| s != "NaN");
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .is_some_and(|r| r.iter().any(|s| number(&s["value"]))),
        Some("matrix") => data["result"].as_array().is_some_and(|r| {
            r.iter()
                .any(|s| s["values"].as_array().is_some_and(|v| v.iter().any(number)))
        }),
        Some("scalar") | Some("string") => number(&data["result"]),
        _ => false,
    }
}
