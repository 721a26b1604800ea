//! Checkpoints of what a node holds: the engine's state, then the history
//! and the recent event ids, in the files `state::checkpoint` writes and
//! reads. Here, above the engine, are what the engine writes into a body and
//! the checks a checkpoint must pass against the running engine (its hash
//! key and hash function, its rules and model versions).

use crate::engine::{Engine, EngineParts};
use crate::state::checkpoint::{
    read_history, warn, write_history, CheckpointError, Checkpoints, Corrupt, Header, Staged, Stamp,
};
use crate::state::history::History;
use crate::state::recent_ids::RecentIds;
use std::path::{Path, PathBuf};

/// What a checkpoint restores.
pub struct Restored {
    pub engine: Engine,
    pub history: History,
    pub recent: RecentIds,
    /// The log position the checkpoint was taken at: replay from here.
    pub position: u64,
    pub path: PathBuf,
    /// Every warning printed while loading (skipped files, rule state left
    /// out), one line each.
    pub warnings: Vec<String>,
}

/// The engine's side of a checkpoint folder.
pub trait NodeCheckpoints {
    /// Writes a checkpoint of the state after applying the log up to
    /// `position`, atomically (see [`Checkpoints::write_with`]). Returns the
    /// path and the size in bytes.
    fn write(
        &self,
        engine: &Engine,
        history: &History,
        recent: &RecentIds,
        position: u64,
    ) -> Result<(PathBuf, u64), CheckpointError>;

    /// The first half of [`NodeCheckpoints::write`]: the checkpoint written
    /// and synced under its `.tmp` name (see [`Checkpoints::stage`]); what a
    /// forked copy of the process does (see [`super::snapshot`]).
    fn stage_state(
        &self,
        engine: &Engine,
        history: &History,
        recent: &RecentIds,
        position: u64,
    ) -> Result<Staged, CheckpointError>;

    /// The newest checkpoint that reads back whole, restored into an engine
    /// built from `parts_for()` (see [`Checkpoints::load_newest_with`]).
    /// Another hash key or hash function is an error; other rules or another
    /// model are warnings (rule state starts empty; profiles age by the new
    /// model).
    fn load_newest(
        &self,
        parts_for: &dyn Fn() -> EngineParts,
        history_limits: (usize, usize),
        recent_cap: usize,
    ) -> Result<Option<Restored>, CheckpointError>;
}

fn stamp(engine: &Engine) -> Stamp {
    Stamp {
        key_fingerprint: engine.hash_key_fingerprint(),
        hash_probe: engine.hash_probe(),
        rules_version: engine.rules_version().to_string(),
        model_version: engine.model_version().to_string(),
    }
}

impl NodeCheckpoints for Checkpoints {
    fn write(
        &self,
        engine: &Engine,
        history: &History,
        recent: &RecentIds,
        position: u64,
    ) -> Result<(PathBuf, u64), CheckpointError> {
        let staged = self.stage_state(engine, history, recent, position)?;
        self.publish(staged)
    }

    fn stage_state(
        &self,
        engine: &Engine,
        history: &History,
        recent: &RecentIds,
        position: u64,
    ) -> Result<Staged, CheckpointError> {
        Checkpoints::stage(self, stamp(engine), position, &mut |out| {
            engine.write_state(out)?;
            write_history(out, history, recent)
        })
    }

    fn load_newest(
        &self,
        parts_for: &dyn Fn() -> EngineParts,
        history_limits: (usize, usize),
        recent_cap: usize,
    ) -> Result<Option<Restored>, CheckpointError> {
        let loaded = self.load_newest_with(&mut |path, h, src, warnings| {
            let mut engine = Engine::new(parts_for());
            let same_rules = matches(path, h, &engine, warnings)?;
            let read = (|| -> Result<_, String> {
                let dropped = engine.read_state(src, same_rules, h.version)?;
                let (history, recent) = read_history(src, history_limits, recent_cap, engine.id_seeds())?;
                Ok((dropped.rules, history, recent))
            })();
            let (dropped, history, recent) = match read {
                Ok(r) => r,
                Err(why) => return Ok(Err(Corrupt(why))),
            };
            for why in dropped {
                warn(
                    warnings,
                    format!(
                        "checkpoint {}: {why}; that rule's state starts empty",
                        path.display()
                    ),
                );
            }
            if h.stamp.model_version != engine.model_version() {
                warn(
                    warnings,
                    format!(
                        "checkpoint {}: model version {:?}, now {:?}: profiles are kept and age by the new model's parameters",
                        path.display(),
                        h.stamp.model_version,
                        engine.model_version()
                    ),
                );
            }
            Ok(Ok((engine, history, recent)))
        })?;
        Ok(loaded.map(|l| {
            let (engine, history, recent) = l.value;
            Restored {
                engine,
                history,
                recent,
                position: l.position,
                path: l.path,
                warnings: l.warnings,
            }
        }))
    }
}

/// Whether a checkpoint can be restored into `engine`: an error for another
/// hash key or hash function; whether its rules are the running ones (a
/// warning when not).
fn matches(
    path: &Path,
    h: &Header,
    engine: &Engine,
    warnings: &mut Vec<String>,
) -> Result<bool, CheckpointError> {
    if h.stamp.key_fingerprint != engine.hash_key_fingerprint() {
        return Err(CheckpointError::HashKey {
            path: path.to_path_buf(),
            found: h.stamp.key_fingerprint,
            expected: engine.hash_key_fingerprint(),
        });
    }
    if h.stamp.hash_probe != engine.hash_probe() {
        return Err(CheckpointError::HashFunction {
            path: path.to_path_buf(),
        });
    }
    let same_rules = h.stamp.rules_version == engine.rules_version();
    if !same_rules {
        warn(
            warnings,
            format!(
                "checkpoint {}: rules version {:?}, now {:?}: rule state (buckets, lockouts, blocks) starts empty; profiles, frequencies, enforcements and fraud marks are restored",
                path.display(),
                h.stamp.rules_version,
                engine.rules_version()
            ),
        );
    }
    Ok(same_rules)
}
