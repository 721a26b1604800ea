//! The machine's own floor under a latency figure (jHiccup's idea): one
//! thread per core given spins reading the monotonic clock, and every gap
//! between two readings longer than 100 µs is time that thread was not
//! running, for reasons that have nothing to do with the program measured
//! (the hypervisor running another guest's vCPU, interrupts, the kernel's
//! own work). No request measured on that core can be quicker than the
//! gaps that fall on it, so a p99.9 below the gaps' share is not measurable
//! on that machine.
//!
//! ```text
//! cargo run --release --example hiccup -- --seconds 30 --cores 0,1
//! ```
//!
//! Prints one line per core: the gaps by length, the longest, and the time
//! lost in all, and what share of a steady request stream the gaps of 1 ms
//! and longer would delay past 1 ms and 2 ms (a request arriving during a
//! gap of length g waits up to g; the share arriving in a gap's first
//! g - t waits longer than t).

use std::time::{Duration, Instant};

const EDGES_US: [u64; 7] = [500, 1_000, 2_000, 5_000, 10_000, 20_000, u64::MAX];
const NAMES: [&str; 7] = ["0.1-0.5", "0.5-1", "1-2", "2-5", "5-10", "10-20", ">=20"];

struct Gaps {
    counts: [u64; 7],
    longest: Duration,
    lost: Duration,
    /// Time within gaps during which an arriving request would wait more
    /// than 1 ms and 2 ms.
    over_1ms: Duration,
    over_2ms: Duration,
}

fn spin(seconds: f64) -> Gaps {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut g = Gaps {
        counts: [0; 7],
        longest: Duration::ZERO,
        lost: Duration::ZERO,
        over_1ms: Duration::ZERO,
        over_2ms: Duration::ZERO,
    };
    let mut last = Instant::now();
    loop {
        let now = Instant::now();
        let gap = now - last;
        last = now;
        if now > end {
            return g;
        }
        if gap < Duration::from_micros(100) {
            continue;
        }
        let us = gap.as_micros() as u64;
        let bucket = EDGES_US.iter().position(|&e| us < e).unwrap_or(6);
        g.counts[bucket] += 1;
        g.longest = g.longest.max(gap);
        g.lost += gap;
        g.over_1ms += gap.saturating_sub(Duration::from_millis(1));
        g.over_2ms += gap.saturating_sub(Duration::from_millis(2));
    }
}

fn pin(core: usize) -> Result<(), String> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(format!(
                "cannot pin to core {core}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

fn main() {
    let mut seconds = 30.0;
    let mut cores: Vec<usize> =
        (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next();
        let parsed = match (a.as_str(), value.as_deref()) {
            ("--seconds", Some(v)) => v.parse().map(|s| seconds = s).map_err(|e| format!("{e}")),
            ("--cores", Some(v)) => v
                .split(',')
                .map(|c| c.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .map(|c| cores = c)
                .map_err(|e| format!("{e}")),
            _ => Err("usage: hiccup [--seconds S] [--cores 0,1]".to_string()),
        };
        if let Err(why) = parsed {
            eprintln!("hiccup: {a}: {why}");
            std::process::exit(64);
        }
    }
    let threads: Vec<_> = cores
        .iter()
        .map(|&core| {
            std::thread::spawn(move || {
                pin(core)?;
                Ok::<_, String>((core, spin(seconds)))
            })
        })
        .collect();
    for t in threads {
        match t.join().expect("a probe thread panicked") {
            Ok((core, g)) => {
                let counts: Vec<String> = NAMES
                    .iter()
                    .zip(g.counts)
                    .map(|(n, c)| format!("{n} {c}"))
                    .collect();
                println!(
                    "core {core}: gaps by ms: {}; longest {:.2} ms; not running {:.1} ms of {seconds} s; \
                     a steady stream would wait past 1 ms {:.3}% and past 2 ms {:.3}% of the time",
                    counts.join(", "),
                    g.longest.as_secs_f64() * 1e3,
                    g.lost.as_secs_f64() * 1e3,
                    100.0 * g.over_1ms.as_secs_f64() / seconds,
                    100.0 * g.over_2ms.as_secs_f64() / seconds,
                );
            }
            Err(why) => {
                eprintln!("hiccup: {why}");
                std::process::exit(71);
            }
        }
    }
}
