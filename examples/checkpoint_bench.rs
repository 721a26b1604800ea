//! Checkpoint write and load times, and file size, for the state a replay
//! builds: replays a JSONL file of events (e.g. `palisade simulate --users
//! 1000000 --days 1 --seed 1`) as the serve worker does (engine, history,
//! recent event ids), writes a checkpoint, loads it back into a fresh engine
//! and checks the restored state's sizes match.
//!
//! `cargo run --release --example checkpoint_bench -- EVENTS.jsonl DIR`

use palisade::config::Config;
use palisade::engine::{Engine, EngineParts};
use palisade::event::Event;
use palisade::node::checkpoint::NodeCheckpoints;
use palisade::state::checkpoint::Checkpoints;
use palisade::state::history::History;
use palisade::state::recent_ids::RecentIds;
use std::io::BufRead;
use std::path::PathBuf;
use std::time::Instant;

// As the binary: the engine's allocations under the allocator it runs with.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(events), Some(dir)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: checkpoint_bench EVENTS.jsonl DIR");
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = Config {
        rules: Some(root.join("rules")),
        models: Some(root.join("models")),
        ..Config::default()
    };
    let parts = || EngineParts::from_config(&config).expect("the shipped rules and model load");
    let limits = &config.limits;
    let history_limits = (limits.history_per_user, limits.max_history_users);
    let mut engine = Engine::new(parts());
    let mut history = History::new(history_limits.0, history_limits.1);
    let mut recent = RecentIds::new(limits.recent_event_ids);

    let started = Instant::now();
    let mut n = 0u64;
    let mut e = Event::default();
    for line in
        std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&events)?).split(b'\n')
    {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        e.decode_json_into(&line)?;
        recent.insert(&e.event_id, e.outcome);
        let d = engine.evaluate(&e);
        history.record(&e, &d);
        if n % 1024 == 0 {
            engine.take_enforcements();
        }
        n += 1;
    }
    engine.take_enforcements();
    let stats = engine.state_stats();
    println!(
        "replayed {n} events in {:.1} s; {} profiles, {} history entries of {} users, {} recent ids",
        started.elapsed().as_secs_f64(),
        stats.profiles,
        history.len(),
        history.users(),
        recent.len()
    );
    println!("{stats}");

    let c = Checkpoints::new(PathBuf::from(dir), 2);
    for run in 1..=3 {
        let t = Instant::now();
        let (path, size) = c.write(&engine, &history, &recent, run)?;
        println!(
            "write {run}: {:.3} s, {size} bytes ({:.1} MiB) to {}",
            t.elapsed().as_secs_f64(),
            size as f64 / 1048576.0,
            path.display()
        );
    }
    let before_load = peak_rss_mib();
    drop(history);
    drop(recent);
    let expected = stats;
    drop(engine);
    for run in 1..=3 {
        let t = Instant::now();
        let r = c
            .load_newest(&parts, history_limits, limits.recent_event_ids)?
            .expect("a checkpoint");
        let took = t.elapsed().as_secs_f64();
        assert_eq!(r.engine.state_stats().profiles, expected.profiles);
        assert_eq!(
            r.engine
                .state_stats()
                .rule_keys
                .iter()
                .map(|k| k.1)
                .sum::<usize>(),
            expected.rule_keys.iter().map(|k| k.1).sum::<usize>()
        );
        println!(
            "load {run}: {took:.3} s ({} profiles, {} history entries, {} recent ids)",
            r.engine.state_stats().profiles,
            r.history.len(),
            r.recent.len()
        );
    }
    println!(
        "peak RSS: {before_load:.0} MiB after the writes, {:.0} MiB at the end",
        peak_rss_mib()
    );
    Ok(())
}
