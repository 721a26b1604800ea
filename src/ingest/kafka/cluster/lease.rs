//! The publisher's lease, kept in the cluster log (see the parent's docs):
//! what a lease record says, and how every replica folds them to the same
//! holder.

use super::*;

/// A lease record: the holder's renewal (or resignation, `holder: None`),
/// or a replica's claim of the next term.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct LeaseRecord {
    pub(super) term: u64,
    pub(super) holder: Option<String>,
    pub(super) claim: bool,
    /// A claim's: how long the holder must have been silent before it.
    pub(super) timeout_ms: u64,
    /// A renewal's: the offset the holder has published up to.
    pub(super) published_to: Option<u64>,
    /// A renewal's: the next offset the holder forwards, per partition of
    /// the events topic.
    #[serde(default)]
    pub(super) forwarded: Vec<(i32, i64)>,
}

/// Who publishes, as the log's lease records say.
#[derive(Debug)]
pub(super) struct Lease {
    pub(super) term: u64,
    pub(super) holder: Option<String>,
    /// Append time of the holder's last record in this term.
    pub(super) last_ms: i64,
    /// Known from the log's start, or from a renewal read since: a replica
    /// that started from a checkpoint does not know the lease until the
    /// holder's next renewal, and neither claims nor publishes meanwhile
    /// (see [`Lease::settle`] for when none comes).
    pub(super) sure: bool,
    /// When this replica last read a record of the holder.
    pub(super) heard: Instant,
    /// The offset the holder last said it had published up to.
    pub(super) published_to: Option<u64>,
    /// Where the holder last said it forwards from.
    pub(super) forwarded: Vec<(i32, i64)>,
    /// When this replica started reading: one that never learns the lease
    /// (every replica restarted, none renewing) settles it after a timeout.
    pub(super) started: Instant,
    /// The highest term any lease record read since the start named.
    pub(super) max_term: u64,
}

impl Lease {
    pub(super) fn new(position: u64) -> Lease {
        Lease {
            term: 0,
            holder: None,
            last_ms: i64::MIN / 2,
            sure: position == 0,
            heard: Instant::now(),
            published_to: None,
            forwarded: Vec::new(),
            started: Instant::now(),
            max_term: 0,
        }
    }

    /// A replica that has read no renewal for `timeout` since it started
    /// (the whole cluster restarted from checkpoints after a crash, so no
    /// holder renews) takes the role as free, after the highest term it has
    /// read. Replicas that settle differently agree again at the next
    /// renewal, which every replica adopts.
    pub(super) fn settle(&mut self, timeout: Duration) {
        if !self.sure && self.started.elapsed() >= timeout {
            self.sure = true;
            self.term = self.max_term;
            self.holder = None;
            self.last_ms = i64::MIN / 2;
        }
    }

    /// Folds one lease record appended at `at_ms`.
    pub(super) fn apply(&mut self, r: LeaseRecord, at_ms: i64) {
        self.max_term = self.max_term.max(r.term);
        if r.claim {
            let silent = at_ms.saturating_sub(self.last_ms) >= r.timeout_ms as i64;
            if self.sure && r.term == self.term + 1 && (self.holder.is_none() || silent) {
                self.term = r.term;
                self.holder = r.holder;
                self.last_ms = at_ms;
                self.heard = Instant::now();
            }
        } else if !self.sure || r.term >= self.term {
            // The holder's renewal, or its resignation (which leaves the
            // role free at once).
            self.sure = true;
            self.term = r.term;
            self.last_ms = if r.holder.is_some() {
                at_ms
            } else {
                i64::MIN / 2
            };
            self.holder = r.holder;
            self.heard = Instant::now();
            if r.published_to.is_some() {
                self.published_to = r.published_to;
            }
            if !r.forwarded.is_empty() {
                self.forwarded = r.forwarded;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(term: u64, who: &str, timeout_ms: u64) -> LeaseRecord {
        LeaseRecord {
            term,
            holder: Some(who.into()),
            claim: true,
            timeout_ms,
            published_to: None,
            forwarded: Vec::new(),
        }
    }

    fn renewal(term: u64, who: Option<&str>, published_to: u64) -> LeaseRecord {
        LeaseRecord {
            term,
            holder: who.map(String::from),
            claim: false,
            timeout_ms: 0,
            published_to: Some(published_to),
            forwarded: Vec::new(),
        }
    }

    #[test]
    fn the_first_claim_in_the_log_takes_a_free_role_and_later_ones_wait_for_silence() {
        let mut l = Lease::new(0);
        l.apply(claim(1, "a", 6000), 1_000);
        l.apply(claim(1, "b", 6000), 1_001);
        assert_eq!(
            (l.term, l.holder.as_deref()),
            (1, Some("a")),
            "first in the log"
        );
        l.apply(renewal(1, Some("a"), 10), 3_000);
        l.apply(claim(2, "b", 6000), 8_999);
        assert_eq!(l.holder.as_deref(), Some("a"), "a renewed 5.999 s before");
        l.apply(claim(2, "b", 6000), 9_000);
        assert_eq!(
            (l.term, l.holder.as_deref()),
            (2, Some("b")),
            "a silent 6 s"
        );
        assert_eq!(l.published_to, Some(10), "where b takes publishing up");
        l.apply(renewal(1, Some("a"), 12), 9_500);
        assert_eq!(
            l.holder.as_deref(),
            Some("b"),
            "a deposed holder's renewal is stale"
        );
        l.apply(renewal(2, None, 20), 9_600);
        assert_eq!(l.holder, None, "b resigned");
        l.apply(claim(3, "c", 6000), 9_601);
        assert_eq!(
            (l.term, l.holder.as_deref()),
            (3, Some("c")),
            "free at once"
        );
    }

    #[test]
    fn a_replica_from_a_checkpoint_learns_the_lease_from_the_next_renewal() {
        let mut l = Lease::new(500);
        l.apply(claim(2, "x", 6000), 1_000);
        assert_eq!(l.holder, None, "a claim it cannot weigh is not taken");
        assert!(!l.sure);
        l.apply(renewal(1, Some("a"), 490), 2_000);
        assert!(l.sure);
        assert_eq!((l.term, l.holder.as_deref()), (1, Some("a")));
        // Replicas that read the log from its start agree from here on.
        let mut from_start = Lease::new(0);
        for (r, at) in [
            (claim(1, "a", 6000), 100),
            (renewal(1, Some("a"), 490), 2_000),
        ] {
            from_start.apply(r, at);
        }
        assert_eq!(from_start.holder, l.holder);
    }

    #[test]
    fn a_replica_that_never_hears_a_renewal_settles_the_lease_as_free() {
        let mut l = Lease::new(500);
        l.apply(claim(4, "x", 6000), 1_000);
        l.settle(Duration::from_secs(3600));
        assert!(!l.sure, "not before the timeout");
        l.settle(Duration::ZERO);
        assert!(l.sure);
        assert_eq!(
            (l.term, l.holder.as_deref()),
            (4, None),
            "after the highest term read"
        );
        l.apply(claim(5, "y", 6000), 2_000);
        assert_eq!(
            l.holder.as_deref(),
            Some("y"),
            "a claim of the next term takes it"
        );
    }
}
