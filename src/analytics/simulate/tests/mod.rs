//! The generator's promises, read back from its output: determinism, order,
//! labels, the campaigns' shapes ([`shapes`] for the ones between thresholds
//! and the shared addresses) and the memory budget's sizes.

mod shapes;

use super::*;
use crate::event::{Event, Outcome};
use std::net::IpAddr;

fn run(opts: &SimulateOptions) -> (Vec<u8>, SimulateStats) {
    let mut buf = Vec::new();
    let stats = simulate(opts, &mut buf).unwrap();
    (buf, stats)
}

fn events(buf: &[u8]) -> Vec<Event> {
    buf.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            Event::from_json(l).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(l)))
        })
        .collect()
}

fn opts(users: u32, days: u32, seed: u64) -> SimulateOptions {
    SimulateOptions {
        users,
        days,
        seed,
        ..SimulateOptions::default()
    }
}

#[test]
fn same_options_same_bytes_other_seed_other_bytes() {
    let (a, sa) = run(&opts(300, 2, 42));
    let (b, sb) = run(&opts(300, 2, 42));
    assert!(!a.is_empty());
    assert!(a == b && sa == sb);
    let (c, _) = run(&opts(300, 2, 43));
    assert_ne!(a, c);
}

#[test]
fn every_attack_kind_appears_and_the_output_is_a_valid_ordered_labelled_stream() {
    let o = opts(1000, 2, 7);
    let (buf, stats) = run(&o);
    let evs = events(&buf);
    assert_eq!(evs.len() as u64, stats.events);
    assert_eq!(
        stats
            .by_label
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .len(),
        LABELS.len()
    );
    for label in LABELS {
        assert!(stats.by_label[*label] > 0, "no {label}: {stats:?}");
        assert_eq!(
            evs.iter()
                .filter(|e| e.label.as_deref() == Some(label))
                .count() as u64,
            stats.by_label[*label]
        );
    }
    let legit = stats.by_label["legit"] as f64 / stats.events as f64;
    assert!((0.75..0.95).contains(&legit), "{stats:?}");
    let mut ids = std::collections::BTreeSet::new();
    let end = o.start.millis() + 2 * DAY_MS;
    for w in evs.windows(2) {
        assert!(
            w[0].timestamp <= w[1].timestamp,
            "{} then {}",
            w[0].event_id,
            w[1].event_id
        );
    }
    for e in &evs {
        let ts = e.timestamp.expect("every event has a time").millis();
        assert!(ts >= o.start.millis() && ts < end);
        assert!(ids.insert(e.event_id.clone()), "duplicate {}", e.event_id);
        assert!(e.password_sha1.is_some() && e.user_agent.is_some());
        assert_eq!(
            e.user_exists,
            Some(e.failure_reason != Some(crate::event::FailureReason::UnknownUser))
        );
        if e.label.as_deref() == Some("legit") {
            assert!(e.user_exists == Some(true) && e.device_id.is_some());
        }
    }
}

#[test]
fn attacks_look_like_their_kind() {
    let (buf, _) = run(&opts(1000, 2, 11));
    let evs = events(&buf);
    let of = |l: &str| {
        evs.iter()
            .filter(|e| e.label.as_deref() == Some(l))
            .collect::<Vec<_>>()
    };
    let ok = |v: &[&Event]| v.iter().filter(|e| e.outcome == Outcome::Success).count();
    // Stuffing: many names that do not exist, scripted agents.
    let cs = of("credential_stuffing");
    let unknown = cs.iter().filter(|e| e.user_exists == Some(false)).count();
    assert!(
        unknown * 5 > cs.len() && unknown * 5 < cs.len() * 4,
        "{unknown}/{}",
        cs.len()
    );
    assert!(cs
        .iter()
        .all(|e| !e.user_agent.as_deref().unwrap().contains("Chrome/13")));
    // Spray: one password per campaign, many accounts.
    let spray = of("password_spray");
    let mut hashes: Vec<_> = spray.iter().map(|e| e.password_sha1.unwrap().0).collect();
    hashes.dedup();
    assert!(hashes.len() <= 4, "{}", hashes.len());
    // Takeover and travel: right password, success, a device the user never used.
    for l in ["account_takeover", "impossible_travel"] {
        let v = of(l);
        assert_eq!(ok(&v), v.len(), "{l}");
        for e in v {
            let legit_devices: Vec<_> = evs
                .iter()
                .filter(|x| x.user == e.user && x.label.as_deref() == Some("legit"))
                .map(|x| (x.device_id.clone(), x.password_sha1))
                .collect();
            assert!(legit_devices.iter().all(|d| d.0 != e.device_id));
            assert!(
                legit_devices.iter().any(|d| d.1 == e.password_sha1) || l == "account_takeover"
            );
        }
    }
}

/// The engine learns a user's habits from their earlier successes in the
/// stream: an attack on someone it has never seen sign in is not a fair test.
#[test]
fn takeover_and_travel_victims_signed_in_earlier_in_the_stream() {
    let (buf, stats) = run(&opts(1000, 3, 5));
    let mut seen = std::collections::BTreeMap::<String, u32>::new();
    let mut attacks = Vec::new();
    for e in events(&buf) {
        match e.label.as_deref() {
            Some(l @ ("account_takeover" | "impossible_travel")) => {
                let before = seen.get(&e.user).copied().unwrap_or(0);
                assert!(before > 0, "{l} {} on {}", e.event_id, e.user);
                attacks.push(l.to_string());
            }
            Some("legit") if e.outcome == Outcome::Success => {
                *seen.entry(e.user).or_default() += 1;
            }
            _ => {}
        }
    }
    // Day 0 may have no takeover; every later day has one.
    assert!(stats.by_label["account_takeover"] >= 2, "{stats:?}");
    assert!(stats.by_label["impossible_travel"] >= 3, "{stats:?}");
    assert_eq!(
        attacks.len() as u64,
        stats.by_label["account_takeover"] + stats.by_label["impossible_travel"]
    );
}

#[test]
fn given_networks_are_the_only_source_of_addresses() {
    let mut nets = CountryNetworks::new();
    for (i, c) in SIM_COUNTRIES.iter().enumerate() {
        let v = [
            format!("81.{i}.16.0/20"),
            format!("145.{i}.3.0/24"),
            format!("193.{i}.200.64/27"),
        ];
        nets.insert(
            c.to_string(),
            v.iter().map(|s| s.parse().unwrap()).collect(),
        );
    }
    let all: Vec<ipnet::Ipv4Net> = nets.values().flatten().copied().collect();
    let o = SimulateOptions {
        networks: Some(nets),
        ..opts(1000, 1, 3)
    };
    let (buf, stats) = run(&o);
    assert!(stats.by_label["credential_stuffing"] > 0);
    for e in events(&buf) {
        let IpAddr::V4(ip) = e.ip else {
            panic!("{}", e.ip)
        };
        assert!(all.iter().any(|n| n.contains(&ip)), "{ip} ({:?})", e.label);
    }
}

#[test]
fn local_times_map_into_the_day() {
    let day = Day::new(SimulateOptions::default().start, 0);
    assert!(!day.weekend && Day::new(day_start(), 5).weekend && !Day::new(day_start(), 7).weekend);
    // 09:00 in UTC+1 is 08:00Z; 02:00 in UTC-5 is 07:00Z.
    assert_eq!(day.at_local(60, 9 * HOUR_MS), day.start + 8 * HOUR_MS);
    assert_eq!(day.at_local(-300, 2 * HOUR_MS), day.start + 7 * HOUR_MS);
    // 03:00 in UTC+9 is 18:00Z the day before: wraps into this day's window.
    assert_eq!(day.at_local(540, 3 * HOUR_MS), day.start + 18 * HOUR_MS);
    let odd = Day {
        index: 0,
        start: day.start + 5 * HOUR_MS,
        weekend: false,
    };
    let t = odd.at_local(0, 3 * HOUR_MS);
    assert!(t >= odd.start && t < odd.end() && t % DAY_MS == 3 * HOUR_MS);
}

fn day_start() -> Timestamp {
    SimulateOptions::default().start
}

#[test]
fn labels_match_the_enum() {
    let names: Vec<&str> = Label::ALL.iter().map(|l| l.as_str()).collect();
    assert_eq!(names, LABELS);
}

#[test]
fn empty_runs_write_nothing() {
    let (buf, stats) = run(&opts(0, 3, 1));
    assert!(buf.is_empty() && stats.events == 0);
    let (buf, _) = run(&opts(100, 0, 1));
    assert!(buf.is_empty());
}

/// Writes the benchmark input and reports time and size:
/// `SIM_USERS=1000000 SIM_DAYS=7 SIM_OUT=/tmp/sim-1m.jsonl cargo test --release --lib simulate::tests::write_benchmark_input -- --ignored --nocapture`
#[test]
#[ignore = "writes a large file; run by hand"]
fn write_benchmark_input() {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let o = SimulateOptions {
        users: var("SIM_USERS", "1000000").parse().unwrap(),
        days: var("SIM_DAYS", "7").parse().unwrap(),
        seed: var("SIM_SEED", "1").parse().unwrap(),
        ..SimulateOptions::default()
    };
    let path = var("SIM_OUT", "/tmp/sim-1m.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    let t = std::time::Instant::now();
    let stats = simulate(&o, &mut file).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let bytes = file.metadata().unwrap().len();
    println!(
        "{} users x {} days -> {path}: {} events, {bytes} bytes in {secs:.1} s",
        o.users, o.days, stats.events
    );
    for (label, n) in &stats.by_label {
        println!(
            "  {label:<20} {n:>10} {:>6.2}%",
            100.0 * *n as f64 / stats.events as f64
        );
    }
}

/// The memory budget in the module docs rests on these.
#[test]
fn records_and_users_stay_small() {
    assert!(std::mem::size_of::<record::Rec>() <= 64);
    assert!(std::mem::size_of::<population::User>() <= 128);
}
