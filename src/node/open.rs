//! Opening a node: the engine built from the configuration, the newest
//! valid checkpoint restored into it, then the journal after the
//! checkpoint's position replayed on top, so the node is back where it
//! stopped before any door opens (DESIGN.md, principle 3).

use super::worker::apply;
use super::Core;
use crate::config::Config;
use crate::engine::{Engine, EngineParts};
use crate::node::checkpoint::NodeCheckpoints;
use crate::state::checkpoint::Checkpoints;
use crate::state::history::History;
use crate::state::journal::Journal;
use std::sync::Arc;
use std::time::Instant;

/// A node's state, restored.
pub struct Opened {
    /// A replica's next offset of the cluster log to fold (0 for a single
    /// instance).
    pub log_position: u64,
    pub core: Core,
    pub history: History,
    /// The journal, when on, positioned after the last entry replayed.
    pub journal: Option<Arc<Journal>>,
    pub checkpoints: Checkpoints,
    /// What was restored, for the start-up line: the checkpoint and how
    /// long it took, the journal entries replayed.
    pub said: String,
}

/// Opens the node under `config.data_dir()` on an engine of `parts`. Notes
/// (a torn journal tail cut) are printed as they come; an `Err` says why the
/// state cannot be restored (a checkpoint of another hash key, a damaged
/// journal without `--repair-journal`): the node must not start.
pub fn open(config: &Config, parts: EngineParts) -> Result<Opened, String> {
    let data_dir = config.data_dir();
    let l = &config.limits;
    let mut engine = Engine::new(parts);
    let mut history = History::keyed(l.history_per_user, l.max_history_users, engine.id_seeds());
    let mut recent = engine.recent_ids(l.recent_event_ids);
    let checkpoints = Checkpoints::new(
        data_dir.join("checkpoints"),
        config.journal.checkpoints_kept,
    );
    let mut from = 0;
    let mut restored_said = String::from("no checkpoint");
    if config.journal.enabled {
        // The newest valid checkpoint, then the journal after it.
        let parts_for =
            || EngineParts::from_config(config).expect("the configuration loaded a moment ago");
        let started = Instant::now();
        let limits = (l.history_per_user, l.max_history_users);
        match checkpoints.load_newest(&parts_for, limits, l.recent_event_ids) {
            Ok(None) => {}
            Ok(Some(r)) => {
                restored_said = format!(
                    "checkpoint {} loaded in {:.1} s",
                    r.path.display(),
                    started.elapsed().as_secs_f64()
                );
                (engine, history, recent, from) = (r.engine, r.history, r.recent, r.position);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    // Configuration, not state: a restored history takes the running one,
    // and the tables are sized ahead after a restore sized them to fit.
    history.set_max_age(l.history_max_age.value());
    history.presize(l.presize_profiles);
    engine.presize(l.presize_profiles, l.presize_keys);
    let mut core = Core::with_recent(engine, recent);
    if !config.journal.enabled {
        return Ok(Opened {
            log_position: 0,
            core,
            history,
            journal: None,
            checkpoints,
            said: "journal off".to_string(),
        });
    }
    // The state is a fold over the journal: replay it before serving.
    let dir = data_dir.join("journal");
    let j = &config.journal;
    let (journal, notes) =
        Journal::open_at(&dir, j.segment_bytes, from, j.repair).map_err(|e| e.to_string())?;
    for n in notes {
        eprintln!("palisade serve: {n}");
    }
    let started = Instant::now();
    let mut n = 0u64;
    journal
        .replay(from, |_, entry| {
            apply(&mut core, &mut history, entry);
            n += 1;
            Ok(())
        })
        .map_err(|e| e.to_string())?;
    let said = format!(
        "{restored_said}; journal {}: {n} entries replayed in {:.1} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(Opened {
        log_position: 0,
        core,
        history,
        journal: Some(Arc::new(journal)),
        checkpoints,
        said,
    })
}

/// Where a replica keeps its checkpoints: apart from a single instance's,
/// whose positions are journal positions, and per log topic, whose offsets
/// they are.
pub fn replica_checkpoints(config: &Config) -> std::path::PathBuf {
    config
        .data_dir()
        .join("cluster")
        .join(&config.cluster.log_topic)
        .join("checkpoints")
}

/// Opens a replica: the newest valid checkpoint of
/// [`replica_checkpoints`], positioned at its log offset (0 with none).
/// The cluster log is the log of record: no journal is opened or written.
pub fn open_replica(config: &Config, parts: EngineParts) -> Result<Opened, String> {
    let l = &config.limits;
    let checkpoints =
        Checkpoints::new(replica_checkpoints(config), config.journal.checkpoints_kept);
    let parts_for =
        || EngineParts::from_config(config).expect("the configuration loaded a moment ago");
    let started = Instant::now();
    let limits = (l.history_per_user, l.max_history_users);
    let (mut core, mut history, position, said) =
        match checkpoints.load_newest(&parts_for, limits, l.recent_event_ids) {
            Ok(None) => {
                let engine = Engine::new(parts);
                let history =
                    History::keyed(l.history_per_user, l.max_history_users, engine.id_seeds());
                (
                    Core::new(engine, l.recent_event_ids),
                    history,
                    0,
                    "no checkpoint: the cluster log is folded from offset 0".to_string(),
                )
            }
            Ok(Some(r)) => (
                Core::with_recent(r.engine, r.recent),
                r.history,
                r.position,
                format!(
                    "checkpoint {} (log offset {}) loaded in {:.1} s",
                    r.path.display(),
                    r.position,
                    started.elapsed().as_secs_f64()
                ),
            ),
            Err(e) => return Err(e.to_string()),
        };
    history.set_max_age(l.history_max_age.value());
    history.presize(l.presize_profiles);
    core.engine.presize(l.presize_profiles, l.presize_keys);
    Ok(Opened {
        log_position: position,
        core,
        history,
        journal: None,
        checkpoints,
        said: format!("{said}; the cluster log is the log of record (no local journal)"),
    })
}
