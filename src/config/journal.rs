//! The `[journal]` section: what `serve` keeps on disk of what it applied.

use super::duration;

/// The `[journal]` section.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// `serve` keeps the journal under `<data_dir>/journal` and replays it at
    /// start. Off: state lives in memory only and a restart forgets it.
    pub enabled: bool,
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// How long a `/v1/decide` attempt may wait in memory before a
    /// background sync writes it down (outcomes and feedback wait for theirs
    /// before they are acknowledged).
    #[serde(deserialize_with = "duration")]
    pub flush_interval: std::time::Duration,
    /// How often `serve` writes a checkpoint of the state (under
    /// `<data_dir>/checkpoints`), so a restart replays only the journal
    /// after it; also written at shutdown and on `POST /v1/checkpoint`.
    #[serde(deserialize_with = "duration")]
    pub checkpoint_interval: std::time::Duration,
    /// Checkpoints kept; the journal before the oldest is deleted.
    pub checkpoints_kept: usize,
    /// `serve --repair-journal`: repair damage instead of refusing to start.
    #[serde(skip)]
    pub repair: bool,
}

impl Default for JournalConfig {
    fn default() -> JournalConfig {
        JournalConfig {
            enabled: true,
            segment_bytes: 64 << 20,
            flush_interval: std::time::Duration::from_millis(100),
            checkpoint_interval: std::time::Duration::from_secs(300),
            checkpoints_kept: 3,
            repair: false,
        }
    }
}
