//! What the HTTP door needs of a replicated cluster (`cluster.mode =
//! "replicated"`), so it writes to the cluster log without knowing Kafka:
//! `ingest::kafka::cluster` implements it, `service` hands it over.

use super::worker::Folded;
use crate::event::{Event, FeedbackVerdict};
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

/// A change to write to the cluster log.
#[derive(Debug, Clone)]
pub enum Append {
    Event(Event),
    Feedback {
        event_id: String,
        verdict: FeedbackVerdict,
    },
}

/// Which door a record entered by (the log's `palisade-origin` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Decide,
    Events,
    Feedback,
    Kafka,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Decide => "decide",
            Origin::Events => "events",
            Origin::Feedback => "feedback",
            Origin::Kafka => "kafka",
        }
    }

    pub fn parse(s: &[u8]) -> Option<Origin> {
        Some(match s {
            b"decide" => Origin::Decide,
            b"events" => Origin::Events,
            b"feedback" => Origin::Feedback,
            b"kafka" => Origin::Kafka,
            _ => return None,
        })
    }
}

/// Why an append was not answered with its effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendError {
    /// The log did not take every record (some may be in it: a retry is
    /// safe, repeats are recognised by event id).
    NotWritten(String),
    /// In the log, but this replica has not folded it yet.
    NotApplied(String),
}

pub type Appended<'a> = Pin<Box<dyn Future<Output = Result<Vec<Folded>, AppendError>> + Send + 'a>>;

pub trait Replication: Send + Sync {
    /// Writes the records to the log and waits (at most `wait`) until this
    /// replica has folded them: their effects, in order. Once it answers,
    /// what was written is durable in the log and applied here (a read
    /// after it, on this replica, sees it).
    fn append(&self, records: Vec<Append>, origin: Origin, wait: Duration) -> Appended<'_>;

    /// Writes an attempt `/v1/decide` answered without waiting for it; a
    /// failure is counted, not reported (an attempt changes little state).
    fn append_attempt(&self, e: &Event);

    /// Ready when caught up with the log; otherwise why not.
    fn ready(&self) -> Result<(), String>;

    /// The replica's status, as `GET /v1/cluster` shows it.
    fn status(&self) -> serde_json::Value;

    /// The folder of this replica's checkpoints (a joining peer's source).
    fn checkpoints(&self) -> PathBuf;
}
