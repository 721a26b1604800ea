//! What each command runs: the library's functions, with the files,
//! progress bars and exit codes of a command line.

use crate::cli::{load_config, read_config, Cli, Command, PwnedCommand};
use anyhow::Context;
#[cfg(feature = "analytics")]
use palisade::analytics;
use palisade::config::Setting;
use palisade::engine::{Engine, EngineParts};
use palisade::enrich::pwned::{self, BuildOptions};
use palisade::failure::Failure;
use palisade::node::Core;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

/// Runs the command; what it printed aside, its end is `Ok` or a
/// [`Failure`], which `main` maps to the exit code.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Check => {
            // Every problem in one run: the file's values, then what they
            // point at (the same problem found twice is listed once).
            let (config, mut problems) = read_config(&cli.common)?;
            let checked = palisade::check::check(&config);
            let description = checked.description();
            for p in checked.problems {
                if !problems.iter().any(|q| q.message == p.message) {
                    problems.push(p);
                }
            }
            for p in checked.warnings.iter().chain(&problems) {
                println!("{p}");
            }
            if problems.is_empty() {
                println!("ok: {}", description.unwrap_or_default());
                Ok(())
            } else {
                println!(
                    "{} problem{} found",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
                // Listed on stdout already.
                Err(Failure::Refused(Vec::new()))
            }
        }
        Command::Replay {
            input,
            output,
            metrics,
        } => {
            let config = load_config(&cli.common)?;
            let parts = EngineParts::from_config(&config).map_err(|e| Failure::refused([e]))?;
            eprintln!("palisade replay: {}", parts.describe());
            let mut core = Core::new(Engine::new(parts), config.limits.recent_event_ids);
            Ok(replay(
                &mut core,
                input.as_deref(),
                output.as_deref(),
                metrics.as_deref(),
            )?)
        }
        Command::Serve {
            listen,
            metrics_listen,
            api_keys,
            kafka_brokers,
            repair_journal,
        } => {
            let mut config = load_config(&cli.common)?;
            let s = &mut config.server;
            // A bad address is listed by the check below, as the file's are.
            if let Some(l) = listen {
                s.listen = Setting::parse(l);
            }
            if let Some(l) = metrics_listen {
                s.metrics_listen = Setting::parse(l);
            }
            if let Some(keys) = api_keys {
                s.api_keys = keys
                    .split(',')
                    .map(str::trim)
                    .filter(|k| !k.is_empty())
                    .map(String::from)
                    .collect();
            }
            if kafka_brokers.is_some() {
                config.kafka.brokers = kafka_brokers;
            }
            config.journal.repair = repair_journal;
            // The validation `check` runs, so `check` fails whenever this would.
            let checked = palisade::check::check(&config);
            match checked.parts {
                Some(parts) if checked.problems.is_empty() => palisade::service::run(config, parts)
                    .map_err(|e| match e {
                        Failure::Refused(lines) => {
                            Failure::refused(lines.iter().map(|l| format!("palisade serve: {l}")))
                        }
                        e => e,
                    }),
                _ => Err(Failure::refused(
                    checked
                        .problems
                        .iter()
                        .map(|p| format!("palisade serve: {p}")),
                )),
            }
        }
        Command::Simulate {
            users,
            days,
            seed,
            geoip,
            output,
        } => {
            // The engine's settings mean nothing to the generator; ignoring them
            // silently would let `--geoip-city` pass for `--geoip`. A warning,
            // not an error: they may come from the environment.
            if let Some(flag) = cli.common.engine_flag() {
                eprintln!("palisade simulate: ignoring {flag} (or its environment variable), an engine setting; simulate takes --geoip for real networks");
            }
            simulate(users, days, seed, geoip.as_deref(), output.as_deref())?;
            Ok(())
        }
        #[cfg(feature = "analytics")]
        Command::Evaluate(args) => analytics::evaluate::run(&args, &load_config(&cli.common)?),
        #[cfg(feature = "analytics")]
        Command::Analyze(args) => analytics::analyze::run(&args, &load_config(&cli.common)?),
        #[cfg(feature = "analytics")]
        Command::Baseline(args) => analytics::baseline::run(&args, &load_config(&cli.common)?),
        #[cfg(feature = "analytics")]
        Command::Train(args) => analytics::train::run(&args, &load_config(&cli.common)?),
        Command::Pwned {
            command:
                PwnedCommand::Build {
                    input,
                    output,
                    no_range,
                    format,
                    max_malformed,
                },
        } => {
            if let Some(flag) = cli.common.engine_flag() {
                eprintln!("palisade pwned build: ignoring {flag} (or its environment variable), an engine setting");
            }
            let opts = BuildOptions {
                input,
                output,
                range: !no_range,
                max_malformed,
                format,
                progress: true,
            };
            match pwned::build(&opts) {
                Ok(summary) => {
                    println!(
                        "palisade pwned build: {} ({}): {summary}",
                        opts.output.display(),
                        summary.format
                    );
                    Ok(())
                }
                Err(e) if e.is_input_error() => {
                    Err(Failure::refused([format!("palisade pwned build: {e}")]))
                }
                Err(e) => Err(Failure::Failed(anyhow::anyhow!(
                    "palisade pwned build: {e}"
                ))),
            }
        }
    }
}

fn replay(
    core: &mut Core,
    input: Option<&Path>,
    output: Option<&Path>,
    metrics_file: Option<&Path>,
) -> anyhow::Result<()> {
    let stdin = io::stdin();
    // Replay reads in large chunks of its own; no buffering here.
    let (reader, total): (Box<dyn io::Read>, Option<u64>) = match input {
        None => (Box::new(stdin.lock()), None),
        Some(p) => {
            let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
            let len = f.metadata().map(|m| m.len()).ok();
            (Box::new(f), len)
        }
    };
    let writer: Box<dyn Write> = match output {
        None => Box::new(BufWriter::with_capacity(1 << 20, io::stdout().lock())),
        Some(p) => Box::new(BufWriter::with_capacity(
            1 << 20,
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
    };
    let bar = total.filter(|_| io::stderr().is_terminal()).map(|len| {
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("a valid template"),
        );
        bar
    });
    let mut tick = |n: u64| {
        if let Some(b) = &bar {
            b.set_position(n);
        }
    };
    let rejects = io::stderr();
    // Created before the replay, so a bad path fails before an hour's work.
    let metrics_out = match metrics_file {
        None => None,
        Some(p) => Some(File::create(p).with_context(|| format!("cannot create {}", p.display()))?),
    };
    let metrics = palisade::metrics::Metrics::new();
    let mut counters = palisade::metrics::DecisionCounters::default();
    let recording = metrics_out.is_some().then_some((&metrics, &mut counters));
    let summary = palisade::ingest::replay::replay(
        core,
        reader,
        writer,
        rejects.lock(),
        Some(&mut tick),
        recording,
    )
    .context("replay failed")?;
    if let (Some(mut f), Some(p)) = (metrics_out, metrics_file) {
        palisade::metrics::StateObserver::default().observe(&metrics, &core.engine, None);
        f.write_all(&metrics.render())
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    eprintln!("{}", core.engine.state_stats());
    eprintln!("{summary}");
    Ok(())
}

/// Real networks drawn per simulated country: enough that a million users and
/// the attackers among them do not crowd into the same few ranges.
const SIM_NETWORKS_PER_COUNTRY: usize = 1024;

fn simulate(
    users: u32,
    days: u32,
    seed: u64,
    geoip: Option<&Path>,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    use palisade::analytics::simulate::{simulate, SimulateOptions, SIM_COUNTRIES};
    let networks = match geoip {
        None => None,
        Some(db) => Some(
            palisade::enrich::geoip::networks_by_country(
                db,
                SIM_COUNTRIES,
                SIM_NETWORKS_PER_COUNTRY,
            )
            .with_context(|| format!("cannot read networks from {}", db.display()))?,
        ),
    };
    let opts = SimulateOptions {
        users,
        days,
        seed,
        networks,
        ..SimulateOptions::default()
    };
    let mut out: Box<dyn Write> = match output {
        None => Box::new(BufWriter::with_capacity(1 << 20, io::stdout().lock())),
        Some(p) => Box::new(BufWriter::with_capacity(
            1 << 20,
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
    };
    let stats = simulate(&opts, &mut out).context("simulate failed")?;
    out.flush()?;
    let mix: Vec<String> = stats
        .by_label
        .iter()
        .map(|(l, n)| format!("{l} {n}"))
        .collect();
    eprintln!("simulated {} events: {}", stats.events, mix.join(", "));
    Ok(())
}
