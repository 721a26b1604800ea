//! The hot paths, measured per event: decoding an event, evaluating it (with and
//! without a GeoIP City database), and encoding its decision. The input is the
//! simulator's labelled traffic, so the mix of benign and attack events, and of
//! known and new users, is realistic.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use palisade::analytics::simulate::{simulate, SimulateOptions};
use palisade::config::Config;
use palisade::engine::Engine;
use palisade::event::Event;
use std::path::PathBuf;

// The binary's allocator, so the figures are the shipped hot path's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn traffic() -> Vec<Vec<u8>> {
    let opts = SimulateOptions {
        users: 20_000,
        days: 2,
        seed: 1,
        ..SimulateOptions::default()
    };
    let mut out = Vec::new();
    simulate(&opts, &mut out).expect("simulate into memory");
    out.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn engine(geoip: Option<PathBuf>) -> Engine {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut config = Config {
        rules: Some(root.join("rules")),
        models: Some(root.join("models")),
        ..Config::default()
    };
    config.geoip.city = geoip;
    Engine::from_config(&config).expect("the shipped rules and model load")
}

fn bench(c: &mut Criterion) {
    let lines = traffic();
    let events: Vec<Event> = lines
        .iter()
        .map(|l| Event::from_json(l).expect("simulated events are valid"))
        .collect();
    let n = events.len() as u64;

    let mut g = c.benchmark_group("per_event");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("decode", |b| {
        b.iter(|| {
            lines
                .iter()
                .map(|l| Event::from_json(l).is_ok() as usize)
                .sum::<usize>()
        })
    });
    // A fresh engine per iteration, so every run sees the same state.
    g.bench_function("evaluate", |b| {
        b.iter_batched(
            || engine(None),
            |mut e| {
                events
                    .iter()
                    .map(|ev| e.evaluate(ev).risk_score)
                    .sum::<f64>()
            },
            BatchSize::LargeInput,
        )
    });
    let city = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/geo/GeoLite2-City-2018.mmdb");
    if city.exists() {
        g.bench_function("evaluate_geoip_city", |b| {
            b.iter_batched(
                || engine(Some(city.clone())),
                |mut e| {
                    events
                        .iter()
                        .map(|ev| e.evaluate(ev).risk_score)
                        .sum::<f64>()
                },
                BatchSize::LargeInput,
            )
        });
    } else {
        eprintln!("SKIP: evaluate_geoip_city: {} not found", city.display());
    }
    let mut e = engine(None);
    let decisions: Vec<_> = events.iter().map(|ev| e.evaluate(ev)).collect();
    // The replay's writer, and serde's derived Serialize for comparison.
    g.bench_function("encode_decision", |b| {
        let mut buf = Vec::with_capacity(1 << 20);
        b.iter(|| {
            buf.clear();
            for d in &decisions {
                d.write_json(&mut buf);
                buf.push(b'\n');
            }
            buf.len()
        })
    });
    g.bench_function("encode_decision_serde", |b| {
        let mut buf = Vec::with_capacity(1 << 20);
        b.iter(|| {
            buf.clear();
            for d in &decisions {
                serde_json::to_writer(&mut buf, d).expect("decisions encode");
                buf.push(b'\n');
            }
            buf.len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
