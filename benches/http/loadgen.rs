//! An open-loop HTTP/1.1 load generator for `POST /v1/decide`, for the latency
//! half of `scripts/load-bench`.
//!
//! wrk paces requests with timers that count whole milliseconds, so at 13,000
//! requests/s every tick releases a burst of 13 at once and the server works
//! through them in a queue: a Poisson stream it is not, and the queue is most
//! of the latency it reports. This client spins on its own core instead:
//! arrivals are a Poisson stream at `--rate`, timed to the microsecond; each
//! goes out on an idle keep-alive connection at its arrival time, or waits in
//! the client's queue until one is free; and latency runs from the arrival
//! time, not from the send, so time spent queued counts (the correction wrk2
//! makes for coordinated omission). `--rate 0` is closed-loop instead: every
//! connection sends again as soon as its answer is in, like wrk.
//!
//! ```sh
//! cargo build --release --example loadgen
//! PALISADE_KEY=... taskset -c 1 target/release/examples/loadgen \
//!     --addr 127.0.0.1:8080 --rate 13000 --connections 64 --duration 30
//! ```
//!
//! Requests are the ones `benches/http/decide.lua` sends: a sign-in attempt of
//! a random one of `--users` simulated users (`user0@example.com` ...), from a
//! random address and device, with a password hash. `--path /healthz` sends
//! `GET`s instead. Linux or any mio platform; one thread.

use std::collections::VecDeque;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
                     (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
/// The client's queue of arrivals waiting for a free connection; past this the
/// server is not keeping up with the asked rate and the run stops.
const MAX_QUEUED: usize = 1_000_000;
/// How long requests still in flight at the end may take to finish.
const DRAIN: Duration = Duration::from_secs(2);

struct Options {
    addr: SocketAddr,
    path: String,
    rate: f64,
    connections: usize,
    duration: Duration,
    users: u32,
    key: String,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "loadgen: {problem}\nusage: loadgen --addr HOST:PORT [--path /v1/decide] [--rate PER_SECOND (0 = closed loop)] \
         [--connections N] [--duration SECONDS] [--users N]   (API key in PALISADE_KEY)"
    );
    std::process::exit(64)
}

fn options() -> Options {
    let mut o = Options {
        addr: "127.0.0.1:8080".parse().unwrap(),
        path: "/v1/decide".into(),
        rate: 0.0,
        connections: 32,
        duration: Duration::from_secs(30),
        users: 1_000_000,
        key: std::env::var("PALISADE_KEY").unwrap_or_default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some(value) = args.next() else {
            usage(&format!("{flag} needs a value"))
        };
        let bad = |what: &str| -> ! { usage(&format!("{flag} {value:?}: {what}")) };
        match flag.as_str() {
            "--addr" => o.addr = value.parse().unwrap_or_else(|_| bad("not HOST:PORT")),
            "--path" => o.path = value,
            "--rate" => o.rate = value.parse().unwrap_or_else(|_| bad("not a number")),
            "--connections" => o.connections = value.parse().unwrap_or_else(|_| bad("not a count")),
            "--duration" => {
                o.duration =
                    Duration::from_secs_f64(value.parse().unwrap_or_else(|_| bad("not seconds")))
            }
            "--users" => o.users = value.parse().unwrap_or_else(|_| bad("not a count")),
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    if o.connections == 0 || o.users == 0 || o.rate.is_nan() || o.rate < 0.0 {
        usage("--connections and --users must be at least 1, --rate not negative");
    }
    o
}

/// One request's bytes, as `decide.lua` builds them.
fn request(o: &Options, rng: &mut ChaCha8Rng, serial: u64) -> Vec<u8> {
    if o.path != "/v1/decide" {
        return format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", o.path, o.addr).into_bytes();
    }
    let user = rng.random_range(0..o.users);
    let ip: [u8; 4] = [
        rng.random_range(1..=223),
        rng.random(),
        rng.random(),
        rng.random_range(1..=254),
    ];
    let device: u64 = rng.random();
    let hash: [u32; 5] = rng.random();
    let body = format!(
        r#"{{"event_id":"loadgen-{serial}","kind":"sign_in","user":"user{user}@example.com","user_exists":true,"ip":"{}.{}.{}.{}","outcome":"attempt","user_agent":"{AGENT}","device_id":"{device:016x}","password_sha1":"{:08X}{:08X}{:08X}{:08X}{:08X}"}}"#,
        ip[0], ip[1], ip[2], ip[3], hash[0], hash[1], hash[2], hash[3], hash[4]
    );
    format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        o.path,
        o.addr,
        o.key,
        body.len()
    )
    .into_bytes()
}

struct Connection {
    stream: TcpStream,
    /// The arrival time of the request in flight, if any.
    started: Option<Instant>,
    out: Vec<u8>,
    written: usize,
    input: Vec<u8>,
}

/// What a complete response in `input` told: its status, and its length.
fn response(input: &[u8]) -> Result<Option<(u16, usize)>, String> {
    let Some(head_end) = input.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&input[..head_end]).map_err(|_| "response head not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let length = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
    let total = head_end + 4 + length;
    Ok((input.len() >= total).then_some((status, total)))
}

fn main() -> std::io::Result<()> {
    let o = options();
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed);
    let mut poll = Poll::new()?;
    let mut connections = Vec::with_capacity(o.connections);
    for i in 0..o.connections {
        let stream = connect(&o, &poll, i)?;
        connections.push(Connection {
            stream,
            started: None,
            out: Vec::new(),
            written: 0,
            input: Vec::with_capacity(4096),
        });
    }
    let mut idle: Vec<usize> = (0..o.connections).rev().collect();
    let mut queue: VecDeque<Instant> = VecDeque::new();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds");
    let (mut serial, mut bad_status, mut reopened) = (0u64, 0u64, 0u64);
    let mut events = Events::with_capacity(1024);
    let mean_gap = if o.rate > 0.0 { 1.0 / o.rate } else { 0.0 };
    let gap = |rng: &mut ChaCha8Rng| -> Duration {
        Duration::from_secs_f64(-(1.0 - rng.random::<f64>()).ln() * mean_gap)
    };

    let start = Instant::now();
    let end = start + o.duration;
    let mut next_arrival = start + gap(&mut rng);
    let mut asked = 0u64;
    loop {
        let now = Instant::now();
        let sending = now < end;
        if !sending && (connections.iter().all(|c| c.started.is_none()) || now > end + DRAIN) {
            break;
        }
        if sending {
            if o.rate > 0.0 {
                while next_arrival <= now {
                    queue.push_back(next_arrival);
                    asked += 1;
                    next_arrival += gap(&mut rng);
                }
                if queue.len() > MAX_QUEUED {
                    eprintln!("loadgen: {MAX_QUEUED} requests queued; the server is not keeping up with --rate {}", o.rate);
                    std::process::exit(1);
                }
            } else {
                // Closed loop: an arrival for every idle connection, now.
                queue.extend(std::iter::repeat_n(now, idle.len()));
            }
            while let (Some(&i), Some(&arrival)) = (idle.last(), queue.front()) {
                idle.pop();
                queue.pop_front();
                serial += 1;
                let c = &mut connections[i];
                c.out = request(&o, &mut rng, serial);
                c.written = 0;
                c.started = Some(arrival);
                flush(c);
            }
        }
        poll.poll(&mut events, Some(Duration::ZERO))?;
        for event in events.iter() {
            let i = event.token().0;
            let c = &mut connections[i];
            if event.is_writable() && c.started.is_some() {
                flush(c);
            }
            if !event.is_readable() {
                continue;
            }
            let mut buf = [0u8; 16 * 1024];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) if c.started.is_none() => {
                        // An idle connection the server closed (its idle
                        // timeout, `server.header_read_timeout`): opened
                        // again, as a client's pool does.
                        poll.registry().deregister(&mut c.stream)?;
                        c.stream = connect(&o, &poll, i)?;
                        c.input.clear();
                        reopened += 1;
                        break;
                    }
                    Ok(0) => {
                        eprintln!("loadgen: the server closed connection {i} with a request on it");
                        std::process::exit(1);
                    }
                    Ok(n) => c.input.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            match response(&c.input) {
                Ok(None) => {}
                Ok(Some((status, length))) => {
                    let done = Instant::now();
                    if let Some(arrival) = c.started.take() {
                        let micros = done.duration_since(arrival).as_micros() as u64;
                        latency.saturating_record(micros.max(1));
                    }
                    if !(200..300).contains(&status) {
                        bad_status += 1;
                    }
                    c.input.drain(..length);
                    idle.push(i);
                }
                Err(problem) => {
                    eprintln!("loadgen: {problem}");
                    std::process::exit(1);
                }
            }
        }
    }
    let unfinished = connections.iter().filter(|c| c.started.is_some()).count();
    let seconds = o.duration.as_secs_f64();
    let p = |q: f64| latency.value_at_quantile(q);
    let asked_text = if o.rate > 0.0 {
        format!(" (asked {:.0}/s)", asked as f64 / seconds)
    } else {
        " (closed loop)".into()
    };
    println!(
        "requests {} in {seconds:.1} s: {:.0}/s{asked_text}; latency p50 {} us, p90 {} us, p99 {} us, p99.9 {} us, max {} us; \
         errors: status {bad_status}, unfinished {unfinished}, queued at end {}; idle connections reopened {reopened}",
        latency.len(),
        latency.len() as f64 / seconds,
        p(0.5),
        p(0.9),
        p(0.99),
        p(0.999),
        latency.max(),
        queue.len(),
    );
    Ok(())
}

/// A new connection to the server, registered with `poll` as `Token(i)`.
fn connect(o: &Options, poll: &Poll, i: usize) -> std::io::Result<TcpStream> {
    let std_stream = std::net::TcpStream::connect(o.addr)?;
    std_stream.set_nodelay(true)?;
    std_stream.set_nonblocking(true)?;
    let mut stream = TcpStream::from_std(std_stream);
    poll.registry().register(
        &mut stream,
        Token(i),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    Ok(stream)
}

/// Writes what is left of the connection's request; the rest waits for the
/// socket to become writable.
fn flush(c: &mut Connection) {
    while c.written < c.out.len() {
        match c.stream.write(&c.out[c.written..]) {
            Ok(n) => c.written += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("loadgen: write: {e}");
                std::process::exit(1);
            }
        }
    }
}
