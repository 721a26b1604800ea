//! `palisade serve`: a node with its doors. Opens the node (checkpoint,
//! journal), starts the HTTP door and, when configured, the Kafka door on
//! it, runs the background tasks (journal flush, checkpoint schedule,
//! breach-corpus reload), and on SIGTERM stops them in order. The doors do
//! not know each other: this is the one place that starts them all.

use crate::config::Config;
use crate::engine::EngineParts;
use crate::failure::Failure;
use crate::node::open::open;
use crate::node::tasks::{self, spawn_journal_flush};
use crate::node::worker::Durability;
use crate::node::Core;
use crate::serve::{auth, bind, shutdown_signal, Server};

/// Serves until SIGTERM or SIGINT, on an engine of `parts` (which
/// [`crate::check::check`] built from `config`).
pub fn run(config: Config, parts: EngineParts) -> Result<(), Failure> {
    let data_dir = config.data_dir();
    // The state names users, addresses and devices: the owner's only. A
    // missing folder is made so by whatever first writes into it.
    if data_dir.is_dir() {
        if let Err(e) = crate::state::private_dir(&data_dir) {
            eprintln!(
                "palisade serve: warning: cannot make the data directory {} private (0700): {e}",
                data_dir.display()
            );
        }
    }
    let s = config.server.clone();
    let (keys, key_source) =
        auth::load(&s.api_keys, s.api_keys_file.as_deref(), &data_dir).map_err(refused)?;
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
        .map_err(|e| Failure::Failed(anyhow::anyhow!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async move {
        let api = bind(s.listen.value()).await.map_err(refused)?;
        let admin = match s.metrics_listen.value() {
            None => None,
            Some(a) => Some(bind(a).await.map_err(refused)?),
        };
        let stop = shutdown_signal().map_err(|e| {
            Failure::Failed(anyhow::anyhow!("cannot install the signal handlers: {e}"))
        })?;
        // The bound addresses, not the configured ones: with port 0 the
        // log line is where a test or a supervisor learns the real port.
        let bound = |l: &tokio::net::TcpListener, configured: std::net::SocketAddr| {
            l.local_addr().unwrap_or(configured)
        };
        let listening = bound(&api, s.listen.value());
        let metrics_at = match (&admin, s.metrics_listen.value()) {
            (Some(l), Some(a)) => format!("metrics and health on http://{} (no key)", bound(l, a)),
            _ => "metrics behind the API key".to_string(),
        };
        let replicated = config.cluster.replicated();
        let opened = if replicated {
            let dir = crate::node::open::replica_checkpoints(&config);
            let none = crate::state::checkpoint::Checkpoints::new(dir.clone(), 1)
                .list()
                .map_or(true, |l| l.is_empty());
            if let (true, Some(peer)) = (none, &config.cluster.join_from) {
                let key = config
                    .cluster
                    .join_api_key
                    .clone()
                    .or_else(|| {
                        auth::first_key(&s.api_keys, s.api_keys_file.as_deref(), &data_dir)
                    })
                    .unwrap_or_default();
                let said = crate::ingest::kafka::cluster::join_from(peer, &key, &dir)
                    .await
                    .map_err(refused)?;
                eprintln!("palisade serve: {said}");
            }
            crate::node::open::open_replica(&config, parts).map_err(refused)?
        } else {
            open(&config, parts).map_err(refused)?
        };
        let journal = opened.journal.clone();
        if let Some(j) = &journal {
            spawn_journal_flush(j.clone(), config.journal.flush_interval.value());
        }
        eprintln!(
            "palisade serve: {description}; {key_source}; {}; listening on http://{listening}; {metrics_at}",
            opened.said,
        );
        let Core { engine, recent } = opened.core;
        let fingerprint = crate::ingest::kafka::cluster::fingerprint(&engine);
        let log_position = opened.log_position;
        if let Some(path) = config.pwned.index.clone() {
            // A new build at the same path is swapped in while serving.
            tasks::spawn_pwned_reload(
                path,
                config.pwned.reload_interval.value(),
                engine.pwned_index(),
            );
        }
        let durability = if replicated {
            Some(Durability {
                journal: None,
                checkpoints: opened.checkpoints,
                log_position: Some(log_position),
            })
        } else {
            journal.clone().map(|journal| Durability {
                journal: Some(journal),
                checkpoints: opened.checkpoints,
                log_position: None,
            })
        };
        let server = Server::start(engine, opened.history, recent, durability, s, keys);
        let handle = server.state.engine.clone();
        if journal.is_some() || replicated {
            tasks::spawn_checkpoint_schedule(
                handle.clone(),
                config.journal.checkpoint_interval.value(),
            );
        }
        // A replica folds the cluster log before the forwarder writes to it.
        let forward_control = std::sync::Arc::new(
            crate::ingest::kafka::cluster::ForwardControl::default(),
        );
        let cluster = if replicated {
            use crate::ingest::kafka::cluster::{Cluster, Start};
            let c = Cluster::start(
                Start {
                    kafka: config.kafka.clone(),
                    cluster: config.cluster.clone(),
                    position: log_position,
                    fingerprint: fingerprint.clone(),
                    checkpoints: crate::node::open::replica_checkpoints(&config),
                    retention_needed: crate::config::cluster::ClusterConfig::retention_needed(
                        config.journal.checkpoint_interval.value(),
                    ),
                    forward: forward_control.clone(),
                },
                handle.clone(),
                server.state.metrics.clone(),
                tokio::runtime::Handle::current(),
            )
            .await
            .map_err(refused)?;
            server.replicate(c.shared.clone());
            Some(c)
        } else {
            None
        };
        let kafka = if config.kafka.enabled() {
            // A second door on the same node: its connection shows in /readyz.
            let forward = replicated.then(|| {
                crate::ingest::kafka::cluster::Forward::new(
                    &config.cluster,
                    fingerprint.clone(),
                    forward_control.clone(),
                )
            });
            let k = crate::ingest::kafka::Kafka::start(
                config.kafka.clone(),
                forward,
                handle.clone(),
                server.state.metrics.clone(),
                tokio::runtime::Handle::current(),
            )
            .map_err(refused)?;
            server.report_health(k.health.clone());
            Some(k)
        } else {
            None
        };
        // On SIGTERM the Kafka consumer finishes its turn and commits first,
        // while the engine is still there; a checkpoint follows (so the next
        // start replays little); then the API drains.
        let checkpoint_at_stop = journal.is_some() || replicated;
        let stop = async move {
            stop.await;
            if let Some(k) = kafka {
                k.stop().await;
            }
            if let Some(c) = cluster {
                c.stop().await;
            }
            if checkpoint_at_stop {
                tasks::checkpoint(&handle, "at shutdown").await;
            }
        };
        server
            .serve(api, admin, stop)
            .await
            .map_err(|e| Failure::Failed(anyhow::anyhow!("serve failed: {e}")))?;
        if let Some(j) = &journal {
            if let Err(e) = j.sync(j.end()).await {
                eprintln!("palisade serve: the journal's last records may be lost: {e}");
            }
        }
        eprintln!("palisade serve: stopped");
        Ok(())
    })
}

fn refused(why: String) -> Failure {
    Failure::Refused(vec![why])
}
