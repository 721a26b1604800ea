//! The node's background tasks under `serve`: the journal's flush, the
//! checkpoint schedule, and the breach corpus's reload. Each runs on the
//! caller's tokio runtime; the doors start none of them.

use super::worker::{CheckpointFailure, EngineHandle};
use crate::engine::pwned::SharedIndex;
use crate::enrich::pwned::PwnedIndex;
use crate::state::journal::Journal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Syncs what the journal holds in memory every `every`, so an attempt
/// waits at most that long before it is on disk (call inside the runtime);
/// ends when a sync fails (the journal is then broken and says so).
pub fn spawn_journal_flush(journal: Arc<Journal>, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let end = journal.end();
            if end > journal.synced() && journal.sync(end).await.is_err() {
                break;
            }
        }
    });
}

/// Writes a checkpoint every `every`, through the engine's queue (call
/// inside the runtime).
pub fn spawn_checkpoint_schedule(handle: EngineHandle, every: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            checkpoint(&handle, "scheduled").await;
        }
    });
}

/// Writes a checkpoint through the engine's handle, logging a failure.
pub async fn checkpoint(handle: &EngineHandle, when: &str) {
    match handle.checkpoint().await {
        Ok(_) => {}
        Err(CheckpointFailure::Failed(why)) => {
            eprintln!("palisade serve: checkpoint {when} failed: {why}")
        }
        Err(CheckpointFailure::Unavailable(why)) => {
            eprintln!("palisade serve: checkpoint {when} skipped: {why}")
        }
    }
}

/// Swaps a new build of the breach corpus at `path` into the engine's index
/// while serving (see [`watch_pwned`]; call inside the runtime).
pub fn spawn_pwned_reload(path: PathBuf, every: Duration, index: &SharedIndex) {
    tokio::spawn(watch_pwned(path, every, index.clone()));
}

/// Looks at the index file every `interval` and, when its size or
/// modification time changed (a new build renamed into place), opens it and
/// swaps it in. A file that does not open leaves the running index in place,
/// with a log line saying why. The file's state is taken when this is
/// called (just after the index was opened), not when the future first runs.
pub fn watch_pwned(
    path: PathBuf,
    interval: Duration,
    index: SharedIndex,
) -> impl std::future::Future<Output = ()> + Send {
    let stamp = |p: &std::path::Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    };
    let mut seen = stamp(&path);
    async move {
        loop {
            tokio::time::sleep(interval).await;
            let now = stamp(&path);
            if now.is_none() || now == seen {
                continue;
            }
            seen = now;
            let p = path.clone();
            match tokio::task::spawn_blocking(move || PwnedIndex::open(&p)).await {
                Ok(Ok(new)) => {
                    eprintln!("palisade serve: breach corpus reloaded: {}", new.describe());
                    index.store(Some(Arc::new(new)));
                }
                Ok(Err(e)) => eprintln!(
                    "palisade serve: breach corpus at {} not reloaded, the running one stays: {e}",
                    path.display()
                ),
                Err(e) => eprintln!("palisade serve: breach corpus reload failed: {e}"),
            }
        }
    }
}
