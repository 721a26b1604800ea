//! The command line: parses arguments, builds the configuration, and calls into
//! the library. No logic of its own.

mod commands;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use palisade::config::{Config, Mode};
use palisade::engine::{Engine, EngineParts};
use palisade::enrich::pwned::{self, BuildOptions, InputFormat};
use palisade::node::checkpoint::NodeCheckpoints;
use palisade::node::Core;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for bad configuration, rules or models (EX_USAGE).
const EXIT_CONFIG: u8 = 64;

#[derive(Parser)]
#[command(
    name = "palisade",
    version,
    about = "Sign-in threat protection: allow, step up or block, with reasons"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

/// Settings every command shares; each wins over the config file.
#[derive(Args)]
struct Common {
    /// Configuration file (TOML; every key optional).
    #[arg(long, env = "PALISADE_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// Rules folder [default: ./rules if present, else the built-in rules].
    #[arg(long, env = "PALISADE_RULES", global = true)]
    rules: Option<PathBuf>,
    /// Models folder [default: ./models if present, else the built-in model].
    #[arg(long, env = "PALISADE_MODELS", global = true)]
    models: Option<PathBuf>,
    /// GeoIP2/GeoLite2 City database.
    #[arg(long, env = "PALISADE_GEOIP_CITY", global = true)]
    geoip_city: Option<PathBuf>,
    /// GeoIP2/GeoLite2 ASN database.
    #[arg(long, env = "PALISADE_GEOIP_ASN", global = true)]
    geoip_asn: Option<PathBuf>,
    /// GeoIP2 Anonymous-IP database.
    #[arg(long, env = "PALISADE_GEOIP_ANONYMOUS", global = true)]
    geoip_anonymous: Option<PathBuf>,
    /// Breach-corpus index from `palisade pwned build` [default: no check].
    #[arg(long, env = "PALISADE_PWNED_INDEX", global = true)]
    pwned_index: Option<PathBuf>,
    /// enforce or audit.
    #[arg(long, env = "PALISADE_MODE", global = true)]
    mode: Option<Mode>,
    /// Where state is kept [default: ./palisade-data]: `serve` keeps its API
    /// key there when none is configured; replay keeps its state in memory.
    #[arg(long, env = "PALISADE_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
}

impl Common {
    /// The first engine setting given, by its flag name.
    fn engine_flag(&self) -> Option<&'static str> {
        [
            (self.config.is_some(), "--config"),
            (self.rules.is_some(), "--rules"),
            (self.models.is_some(), "--models"),
            (self.geoip_city.is_some(), "--geoip-city"),
            (self.geoip_asn.is_some(), "--geoip-asn"),
            (self.geoip_anonymous.is_some(), "--geoip-anonymous"),
            (self.pwned_index.is_some(), "--pwned-index"),
            (self.mode.is_some(), "--mode"),
            (self.data_dir.is_some(), "--data-dir"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

#[derive(Subcommand)]
enum Command {
    /// Events JSONL in, decisions JSONL out (stdin and stdout by default).
    Replay {
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
        /// Count every decision in the metrics `serve` exports, and write them
        /// (Prometheus text format) to this file at the end.
        #[arg(long)]
        metrics: Option<PathBuf>,
    },
    /// Validate configuration, rules and models; list every problem (exit 64 on any).
    Check,
    /// The HTTP risk-decision API, until SIGTERM or SIGINT.
    Serve {
        /// Address and port of the API [default: 127.0.0.1:8080].
        #[arg(long, env = "PALISADE_LISTEN")]
        listen: Option<String>,
        /// A second address for /metrics, /healthz and /readyz without an API key.
        #[arg(long, env = "PALISADE_METRICS_LISTEN")]
        metrics_listen: Option<String>,
        /// API keys, comma-separated [default: one created in the data folder].
        #[arg(long, env = "PALISADE_API_KEYS", hide_env_values = true)]
        api_keys: Option<String>,
        /// Kafka bootstrap servers (host:port,...): consume sign-in events and
        /// produce decisions beside the API [default: no Kafka].
        #[arg(long, env = "PALISADE_KAFKA_BROKERS")]
        kafka_brokers: Option<String>,
        /// Start despite a damaged journal: each damaged segment is moved
        /// aside (kept) and replaced by a copy that keeps every readable record.
        #[arg(long)]
        repair_journal: bool,
    },
    /// Labelled synthetic sign-in traffic, JSONL on stdout.
    Simulate {
        #[arg(long, default_value_t = 1000)]
        users: u32,
        #[arg(long, default_value_t = 7)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A GeoIP City database: addresses come from real networks of the chosen countries.
        #[arg(long)]
        geoip: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Replay labelled history and report per label: detection, friction on
    /// legitimate users, ROC AUC, TPR at fixed FPR, risk score relation.
    Evaluate(commands::evaluate::EvaluateArgs),
    /// An attack-campaign report over sign-in history: timeline, top sources,
    /// accounts targeted, possible takeovers, attack classes; as text, table
    /// files and an HTML page.
    Analyze(commands::analyze::AnalyzeArgs),
    /// Learn user profiles and global frequencies from history and write them
    /// as a checkpoint the engine starts from.
    Baseline(commands::baseline::BaselineArgs),
    /// Fit the risk model's weights, scores, bias and thresholds to labelled
    /// history; write them as the next model version with held-out figures
    /// of the old and new model side by side.
    Train(commands::train::TrainArgs),
    /// The breach-corpus index (compromised passwords).
    Pwned {
        #[command(subcommand)]
        command: PwnedCommand,
    },
}

#[derive(Subcommand)]
enum PwnedCommand {
    /// Build an index from HIBP's Pwned Passwords or a password list (exit 64
    /// on bad input).
    Build {
        /// A corpus file, or a directory of HIBP prefix files.
        #[arg(long)]
        input: PathBuf,
        /// The index file to write.
        #[arg(long)]
        output: PathBuf,
        /// Lookups only: 9 bytes per hash instead of 19, cannot serve /range.
        #[arg(long)]
        no_range: bool,
        #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
        format: InputFormat,
        /// Abort when more lines than this are malformed.
        #[arg(long, default_value_t = 1000)]
        max_malformed: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("palisade: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check => {
            // Every problem in one run: the file's values, then what they
            // point at (the same problem found twice is listed once).
            let (config, mut problems) = match read_config(&cli.common) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
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
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "{} problem{} found",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
                Ok(ExitCode::from(EXIT_CONFIG))
            }
        }
        Command::Replay {
            input,
            output,
            metrics,
        } => {
            let config = match load_config(&cli.common) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let parts = match EngineParts::from_config(&config) {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("{e}");
                    return Ok(ExitCode::from(EXIT_CONFIG));
                }
            };
            eprintln!("palisade replay: {}", parts.describe());
            let mut core = Core::new(Engine::new(parts), config.limits.recent_event_ids);
            replay(
                &mut core,
                input.as_deref(),
                output.as_deref(),
                metrics.as_deref(),
            )
        }
        Command::Serve {
            listen,
            metrics_listen,
            api_keys,
            kafka_brokers,
            repair_journal,
        } => {
            let mut config = match load_config(&cli.common) {
                Ok(c) => c,
                Err(code) => return Ok(code),
            };
            let s = &mut config.server;
            if let Some(l) = listen {
                s.listen = l;
            }
            if metrics_listen.is_some() {
                s.metrics_listen = metrics_listen;
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
                Some(parts) if checked.problems.is_empty() => serve(config, parts),
                _ => {
                    for p in &checked.problems {
                        eprintln!("palisade serve: {p}");
                    }
                    Ok(ExitCode::from(EXIT_CONFIG))
                }
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
            Ok(ExitCode::SUCCESS)
        }
        Command::Evaluate(args) => {
            analytics(&cli.common, |config| commands::evaluate::run(&args, config))
        }
        Command::Analyze(args) => {
            analytics(&cli.common, |config| commands::analyze::run(&args, config))
        }
        Command::Baseline(args) => {
            analytics(&cli.common, |config| commands::baseline::run(&args, config))
        }
        Command::Train(args) => {
            analytics(&cli.common, |config| commands::train::run(&args, config))
        }
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
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("palisade pwned build: {e}");
                    Ok(ExitCode::from(if e.is_input_error() {
                        EXIT_CONFIG
                    } else {
                        1
                    }))
                }
            }
        }
    }
}

/// The config file (if any) with flags and environment variables applied.
/// Problems are printed and become exit code 64.
/// Runs an analytics command on the loaded configuration; a configuration
/// the engine refuses exits 64 with its problems.
fn analytics(
    common: &Common,
    command: impl FnOnce(&Config) -> anyhow::Result<Result<(), String>>,
) -> anyhow::Result<ExitCode> {
    let config = match load_config(common) {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    match command(&config)? {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(problems) => {
            eprintln!("{problems}");
            Ok(ExitCode::from(EXIT_CONFIG))
        }
    }
}

fn load_config(c: &Common) -> Result<Config, ExitCode> {
    let (config, problems) = read_config(c)?;
    if !problems.is_empty() {
        for p in problems {
            eprintln!("{p}");
        }
        return Err(ExitCode::from(EXIT_CONFIG));
    }
    Ok(config)
}

/// The config file (if any) with flags and environment variables applied,
/// and the problems of its values; a file that cannot be read as a config
/// is printed and becomes exit code 64.
fn read_config(c: &Common) -> Result<(Config, Vec<palisade::problem::Problem>), ExitCode> {
    let (mut config, problems) = match &c.config {
        None => (Config::default(), Vec::new()),
        Some(path) => Config::read(path).map_err(|problems| {
            for p in problems {
                eprintln!("{p}");
            }
            ExitCode::from(EXIT_CONFIG)
        })?,
    };
    if c.rules.is_some() {
        config.rules = c.rules.clone();
    }
    if c.models.is_some() {
        config.models = c.models.clone();
    }
    if c.geoip_city.is_some() {
        config.geoip.city = c.geoip_city.clone();
    }
    if c.geoip_asn.is_some() {
        config.geoip.asn = c.geoip_asn.clone();
    }
    if c.geoip_anonymous.is_some() {
        config.geoip.anonymous = c.geoip_anonymous.clone();
    }
    if c.pwned_index.is_some() {
        config.pwned.index = c.pwned_index.clone();
    }
    if let Some(m) = c.mode {
        config.mode = m;
    }
    if c.data_dir.is_some() {
        config.data_dir = c.data_dir.clone();
    }
    // How user names are keyed holds for the whole process, before any
    // event is read.
    palisade::event::username::set_user_names(config.users.names);
    Ok((config, problems))
}

fn replay(
    core: &mut Core,
    input: Option<&Path>,
    output: Option<&Path>,
    metrics_file: Option<&Path>,
) -> anyhow::Result<ExitCode> {
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
    Ok(ExitCode::SUCCESS)
}

fn serve(config: Config, parts: EngineParts) -> anyhow::Result<ExitCode> {
    use palisade::serve::{auth, bind, shutdown_signal, Server};
    let data_dir = config.data_dir();
    // The state names users, addresses and devices: the owner's only. A
    // missing folder is made so by whatever first writes into it.
    if data_dir.is_dir() {
        if let Err(e) = palisade::state::private_dir(&data_dir) {
            eprintln!(
                "palisade serve: warning: cannot make the data directory {} private (0700): {e}",
                data_dir.display()
            );
        }
    }
    let s = config.server.clone();
    let (keys, key_source) = match auth::load(&s.api_keys, s.api_keys_file.as_deref(), &data_dir) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("palisade serve: {e}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let description = parts.describe();
    // On one core (a container's CPU limit, or `taskset`), one thread runs
    // everything: tokio's current-thread scheduler then saves the hand-offs
    // of the multi-thread one.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = builder
        .enable_all()
        .thread_name("palisade-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let api = match bind(&s.listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("palisade serve: {e}");
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
        };
        let admin = match &s.metrics_listen {
            None => None,
            Some(a) => match bind(a).await {
                Ok(l) => Some(l),
                Err(e) => {
                    eprintln!("palisade serve: {e}");
                    return Ok(ExitCode::from(EXIT_CONFIG));
                }
            },
        };
        let stop = shutdown_signal().context("cannot install the signal handlers")?;
        let metrics_at = match &s.metrics_listen {
            Some(a) => format!("metrics and health on http://{a} (no key)"),
            None => "metrics behind the API key".to_string(),
        };
        let mut history = palisade::state::history::History::new(
            config.limits.history_per_user,
            config.limits.max_history_users,
        );
        let mut recent =
            palisade::state::recent_ids::RecentIds::new(config.limits.recent_event_ids);
        let mut engine = Engine::new(parts);
        let checkpoints = palisade::state::checkpoint::Checkpoints::new(
            data_dir.join("checkpoints"),
            config.journal.checkpoints_kept,
        );
        let mut from = 0;
        let mut restored_said = String::from("no checkpoint");
        if config.journal.enabled {
            // The newest valid checkpoint, then the journal after it.
            let parts_for = || {
                EngineParts::from_config(&config).expect("the configuration loaded a moment ago")
            };
            let limits = (
                config.limits.history_per_user,
                config.limits.max_history_users,
            );
            let started = std::time::Instant::now();
            match checkpoints.load_newest(&parts_for, limits, config.limits.recent_event_ids) {
                Ok(None) => {}
                Ok(Some(r)) => {
                    restored_said = format!(
                        "checkpoint {} loaded in {:.1} s",
                        r.path.display(),
                        started.elapsed().as_secs_f64()
                    );
                    (engine, history, recent, from) = (r.engine, r.history, r.recent, r.position);
                }
                Err(e) => {
                    eprintln!("palisade serve: {e}");
                    return Ok(ExitCode::from(EXIT_CONFIG));
                }
            }
        }
        // Configuration, not state: a restored history takes the running one.
        history.set_max_age(config.limits.history_max_age().ok().flatten());
        let mut core = Core::with_recent(engine, recent);
        // The state is a fold over the journal: replay it before serving.
        let (journal, journal_said) = if config.journal.enabled {
            let dir = data_dir.join("journal");
            let opened = palisade::state::journal::Journal::open_at(
                &dir,
                config.journal.segment_bytes,
                from,
                config.journal.repair,
            );
            let j = match opened {
                Ok((j, notes)) => {
                    for n in notes {
                        eprintln!("palisade serve: {n}");
                    }
                    Arc::new(j)
                }
                Err(e) => {
                    eprintln!("palisade serve: {e}");
                    return Ok(ExitCode::from(EXIT_CONFIG));
                }
            };
            let started = std::time::Instant::now();
            let mut n = 0u64;
            let replayed = j.replay(from, |_, entry| {
                palisade::node::worker::apply(&mut core, &mut history, entry);
                n += 1;
                Ok(())
            });
            if let Err(e) = replayed {
                eprintln!("palisade serve: {e}");
                return Ok(ExitCode::from(EXIT_CONFIG));
            }
            let said = format!(
                "{restored_said}; journal {}: {n} entries replayed in {:.1} s",
                dir.display(),
                started.elapsed().as_secs_f64()
            );
            let flusher = j.clone();
            let every = config.journal.flush_interval;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let end = flusher.end();
                    if end > flusher.synced() && flusher.sync(end).await.is_err() {
                        break;
                    }
                }
            });
            (Some(j), said)
        } else {
            (None, "journal off".to_string())
        };
        eprintln!(
            "palisade serve: {description}; {key_source}; {journal_said}; listening on http://{}; {metrics_at}",
            s.listen
        );
        if let Some(path) = config.pwned.index.clone() {
            // A new build at the same path is swapped in while serving.
            tokio::spawn(palisade::engine::breached::watch(
                path,
                config.pwned.reload_interval,
                core.engine.pwned_index().clone(),
            ));
        }
        let durability = journal
            .clone()
            .map(|journal| palisade::node::worker::Durability {
                journal,
                checkpoints,
            });
        let Core { engine, recent } = core;
        let server = Server::start(engine, history, recent, durability, s, keys);
        let handle = server.state.engine.clone();
        if journal.is_some() {
            let handle = handle.clone();
            let every = config.journal.checkpoint_interval;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    checkpoint(&handle, "scheduled").await;
                }
            });
        }
        let kafka = if config.kafka.enabled() {
            // A second door on the same node: its connection shows in /readyz.
            let started = palisade::ingest::kafka::Kafka::start(
                config.kafka.clone(),
                handle.clone(),
                server.state.metrics.clone(),
                tokio::runtime::Handle::current(),
            );
            match started {
                Ok(k) => {
                    server.report_health(k.health.clone());
                    Some(k)
                }
                Err(e) => {
                    eprintln!("palisade serve: {e}");
                    return Ok(ExitCode::from(EXIT_CONFIG));
                }
            }
        } else {
            None
        };
        // On SIGTERM the Kafka consumer finishes its turn and commits first,
        // while the engine is still there; a checkpoint follows (so the next
        // start replays little); then the API drains.
        let checkpoint_at_stop = journal.is_some();
        let stop = async move {
            stop.await;
            if let Some(k) = kafka {
                k.stop().await;
            }
            if checkpoint_at_stop {
                checkpoint(&handle, "at shutdown").await;
            }
        };
        server
            .serve(api, admin, stop)
            .await
            .context("serve failed")?;
        if let Some(j) = &journal {
            if let Err(e) = j.sync(j.end()).await {
                eprintln!("palisade serve: the journal's last records may be lost: {e}");
            }
        }
        eprintln!("palisade serve: stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// Writes a checkpoint through the engine's handle, logging a failure.
async fn checkpoint(handle: &palisade::node::worker::EngineHandle, when: &str) {
    use palisade::node::worker::Job;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let ran = handle
        .run(Job::Checkpoint(tx), std::time::Duration::from_secs(60))
        .await;
    match (ran, rx.await) {
        (Ok(()), Ok(Ok(_))) => {}
        (Ok(()), Ok(Err(why))) => eprintln!("palisade serve: checkpoint {when} failed: {why}"),
        _ => eprintln!("palisade serve: checkpoint {when} skipped: the engine did not answer"),
    }
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
