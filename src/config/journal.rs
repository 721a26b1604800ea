//! The `[journal]` section: what `serve` keeps on disk of what it applied.

use super::setting::{SectionProblems, Setting};
use std::time::Duration;

/// The smallest segment: a smaller one would hold a few records each.
pub const MIN_SEGMENT_BYTES: u64 = 64 << 10;

/// The `[journal]` section.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// `serve` keeps the journal under `<data_dir>/journal` and replays it at
    /// start. Off: state lives in memory only and a restart forgets it.
    pub enabled: bool,
    /// A segment is closed and a new one started past this size (at least
    /// 64 KiB).
    pub segment_bytes: u64,
    /// How long a `/v1/decide` attempt may wait in memory before a
    /// background sync writes it down (outcomes and feedback wait for theirs
    /// before they are acknowledged).
    pub flush_interval: Setting<Duration>,
    /// How often `serve` writes a checkpoint of the state (under
    /// `<data_dir>/checkpoints`), so a restart replays only the journal
    /// after it; also written at shutdown and on `POST /v1/checkpoint`.
    pub checkpoint_interval: Setting<Duration>,
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
            flush_interval: Setting::new(Duration::from_millis(100)),
            checkpoint_interval: Setting::new(Duration::from_secs(300)),
            checkpoints_kept: 3,
            repair: false,
        }
    }
}

impl JournalConfig {
    /// Bad values, as `(key, message)`.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut p = SectionProblems::new("journal");
        p.setting("flush_interval", &self.flush_interval)
            .setting("checkpoint_interval", &self.checkpoint_interval)
            .duration_at_least(
                "flush_interval",
                &self.flush_interval,
                Duration::from_millis(1),
            )
            .duration_at_least(
                "checkpoint_interval",
                &self.checkpoint_interval,
                Duration::from_secs(1),
            );
        if self.segment_bytes < MIN_SEGMENT_BYTES {
            p.push(
                "segment_bytes",
                format_args!(
                    "must be at least {MIN_SEGMENT_BYTES} (64 KiB), got {}",
                    self.segment_bytes
                ),
            );
        }
        p.at_least_one("checkpoints_kept", self.checkpoints_kept);
        p.out
    }
}
