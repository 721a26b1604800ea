//! A replica's forwarder (see `cluster`): it reads the events topic only
//! while this replica holds the publisher's lease, by assignment, from the
//! offsets the lease's holder handed over, and reports where it is for the
//! holder's renewals. A fetch from inside a record batch was seen (tansu
//! 0.6) to answer with the batch after it: a partition whose first record
//! is past the asked offset is read again from further back, skipping what
//! was forwarded.

use super::*;
use std::collections::HashMap;

#[derive(Default)]
pub(super) struct Following {
    /// The control generation assigned (0: not forwarding).
    generation: u64,
    /// The next offset expected, per partition.
    expected: HashMap<i32, i64>,
    /// How far back the last re-read of a partition went.
    back: HashMap<i32, i64>,
}

impl Pipeline {
    /// Follows the replica's control: `true` while this replica forwards.
    pub(super) fn follow(&mut self) -> bool {
        let Some(f) = &self.forward else { return false };
        let c = f.control.clone();
        if !c.active.load(Ordering::Acquire) {
            if self.following.generation != 0 {
                let _ = self.consumer.unassign();
                self.following = Following::default();
                eprintln!("palisade cluster: this replica no longer forwards the events topic");
            }
            if self.health.status().is_err() {
                set_health(
                    &self.health,
                    true,
                    "not forwarding: the publisher forwards the events topic".into(),
                    &self.metrics,
                );
            }
            return false;
        }
        let generation = c.generation.load(Ordering::Acquire);
        if generation == self.following.generation {
            return true;
        }
        let from = c.from.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let topic = self.config.events_topic.clone();
        let partitions = match self
            .consumer
            .fetch_metadata(Some(&topic), Duration::from_secs(5))
        {
            Ok(m) => m
                .topics()
                .iter()
                .find(|t| t.name() == topic)
                .map_or(0, |t| t.partitions().len()),
            Err(e) => {
                eprintln!("palisade cluster: cannot read the events topic's metadata: {e}");
                return false;
            }
        };
        if partitions == 0 {
            set_health(
                &self.health,
                false,
                format!("the events topic `{topic}` does not exist yet"),
                &self.metrics,
            );
            return false;
        }
        let mut tpl = TopicPartitionList::new();
        self.following.expected.clear();
        for p in 0..partitions as i32 {
            let offset = match from.get(&p) {
                Some(&o) => {
                    self.following.expected.insert(p, o);
                    rdkafka::Offset::Offset(o)
                }
                None => rdkafka::Offset::Beginning,
            };
            let _ = tpl.add_partition_offset(&topic, p, offset);
        }
        if let Err(e) = self.consumer.assign(&tpl) {
            eprintln!("palisade cluster: cannot read the events topic: {e}");
            return false;
        }
        *c.done.lock().unwrap_or_else(|p| p.into_inner()) = from.clone();
        self.following.generation = generation;
        set_health(
            &self.health,
            true,
            format!("forwarding {partitions} partitions of `{topic}` into the cluster log"),
            &self.metrics,
        );
        let mut at: Vec<_> = from.into_iter().collect();
        at.sort_unstable();
        eprintln!(
            "palisade cluster: forwarding `{topic}` ({partitions} partitions) into the cluster log from {}",
            if at.is_empty() {
                "their beginning".to_string()
            } else {
                format!("{at:?} (partition, offset; the rest from their beginning)")
            }
        );
        true
    }

    /// The batch's messages that follow what was forwarded, in order; a
    /// partition that skips ahead is read again from further back.
    pub(super) fn in_order(&mut self, batch: &[OwnedMessage]) -> Vec<OwnedMessage> {
        let mut out = Vec::with_capacity(batch.len());
        let mut gaps: Vec<(i32, i64)> = Vec::new();
        for m in batch {
            let p = m.partition();
            if gaps.iter().any(|(g, _)| *g == p) {
                continue;
            }
            let expected = self.following.expected.get(&p).copied();
            match expected {
                Some(e) if m.offset() < e => continue,
                Some(e) if m.offset() > e => {
                    let back = self.following.back.entry(p).or_insert(0);
                    *back = (*back * 4).clamp(16, 1 << 20);
                    gaps.push((p, (e - *back).max(0)));
                    continue;
                }
                _ => {}
            }
            self.following.expected.insert(p, m.offset() + 1);
            self.following.back.remove(&p);
            out.push(m.clone());
        }
        for (p, from) in gaps {
            let _ = self.consumer.seek(
                &self.config.events_topic,
                p,
                rdkafka::Offset::Offset(from),
                Duration::from_secs(5),
            );
        }
        out
    }

    /// Reports the batch forwarded (for the publisher's renewals).
    pub(super) fn forwarded(&self, batch: &[OwnedMessage]) {
        let Some(f) = &self.forward else { return };
        let mut done = f.control.done.lock().unwrap_or_else(|p| p.into_inner());
        for m in batch {
            let e = done.entry(m.partition()).or_insert(m.offset() + 1);
            *e = (*e).max(m.offset() + 1);
        }
    }
}
