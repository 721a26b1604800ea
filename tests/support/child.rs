//! `palisade serve` as a child process, for tests that need the real binary:
//! restarts, kill -9, Kafka, signals.

use super::KEY;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(60);

pub struct Serve {
    pub child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Serve {
    /// `palisade serve` with its own folder, this config file and these
    /// arguments after `serve`.
    pub fn start(config: &str, args: &[&str]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Serve::start_in(dir.path(), config, args);
        s._dir = Some(dir);
        s
    }

    /// The same in `dir`, whose `data` folder outlives the process: a second
    /// start in the same folder is a restart.
    pub fn start_in(dir: &Path, config: &str, args: &[&str]) -> Serve {
        Serve::start_under(dir, config, args, &[])
    }

    /// The same, run by `wrapper` (a command and its arguments, before
    /// palisade's), such as `prlimit --nofile=1024:1024`.
    pub fn start_under(dir: &Path, config: &str, args: &[&str], wrapper: &[&str]) -> Serve {
        let port = super::free_port();
        let config_path = dir.join("palisade.toml");
        // The tests' events carry fixed dates, which must not age out of
        // `event_time.max_age` as the calendar moves on; a test of that
        // bound sets its own.
        let config = if config.contains("[event_time]") {
            config.to_string()
        } else {
            format!("{config}\n[event_time]\nmax_age = \"off\"\n")
        };
        std::fs::write(&config_path, config).unwrap();
        let log = dir.join(format!("serve-{port}.log"));
        let exe = env!("CARGO_BIN_EXE_palisade");
        let mut cmd = match wrapper.split_first() {
            None => Command::new(exe),
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(exe);
                c
            }
        };
        let child = cmd
            .arg("--config")
            .arg(&config_path)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--api-keys", KEY])
            .args(args)
            .current_dir(dir)
            .stderr(std::fs::File::create(&log).unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        Serve {
            child,
            port,
            log,
            _dir: None,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Status and body of a request with the API key; `None` when the
    /// server cannot be reached.
    pub fn call(&self, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let status = text.split(' ').nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map_or("", |b| b.1).to_string();
        Some((status, body))
    }

    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        self.call("GET", path, "")
    }

    /// Waits until `/readyz` says ready.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some((200, _)) = self.get("/readyz") {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("palisade exited ({status}):\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "not ready after {WAIT:?}; last answer {:?}; log:\n{}",
                self.get("/readyz"),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The sum of a metric's samples whose line contains `filter`.
    pub fn metric(&self, name: &str, filter: &str) -> f64 {
        let (_, body) = self.get("/metrics").expect("metrics answer");
        body.lines()
            .filter(|l| l.starts_with(name) && l.contains(filter))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    pub fn wait_metric(&self, name: &str, filter: &str, want: f64) {
        let deadline = Instant::now() + WAIT;
        while self.metric(name, filter) < want {
            assert!(
                Instant::now() < deadline,
                "{name}{{{filter}}} = {} after {WAIT:?}, want {want}; log:\n{}",
                self.metric(name, filter),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGTERM, and the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap().code()
    }

    /// SIGKILL: no shutdown at all, as a crash.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
