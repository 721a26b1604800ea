//! The publisher: taking and giving up the lease, renewing and claiming it
//! in the log, and publishing the decisions and enforcements of what the
//! replicas fold (see the parent's docs).

use super::*;

/// A round of publishing in flight: the offset it covers up to, each
/// record's kind (enforcement, repeat) for the metrics, and its sends.
pub(super) struct Round {
    upto: u64,
    kinds: Vec<(bool, bool)>,
    handle: tokio::task::JoinHandle<Vec<Result<i64, KafkaError>>>,
}

impl Reader {
    /// This replica in the lease: its instance name and this process's
    /// nonce (two containers may share a host name and a pid).
    pub(super) fn me(&self) -> &str {
        &self.shared.lease_id
    }

    /// Writes a lease record, not waiting for it (it counts once read back).
    pub(super) fn write_lease(&self, r: LeaseRecord) {
        let o = Outgoing {
            topic: Topic::Log,
            key: b"lease".to_vec(),
            value: serde_json::to_vec(&r).unwrap_or_default(),
            headers: vec![
                (H_KIND.into(), b"lease".to_vec()),
                (H_INSTANCE.into(), self.me().as_bytes().to_vec()),
                (
                    H_CONFIG.into(),
                    self.shared.stamp.fingerprint.as_bytes().to_vec(),
                ),
            ],
        };
        drop(try_send_to(&self.producer, &self.cluster.log_topic, &o));
    }

    /// As the holder, renews the lease; otherwise claims it once the holder
    /// has been silent for the lease timeout (only when caught up: a
    /// replica behind the log does not know what the holder last wrote).
    pub(super) fn lease_tick(&mut self) {
        let timeout = self.cluster.lease_timeout.value();
        self.lease.settle(timeout);
        let every = timeout / 3;
        let mine = self.lease.holder.as_deref() == Some(self.me());
        if mine {
            if self.last_renewal.is_none_or(|t| t.elapsed() >= every) {
                self.last_renewal = Some(Instant::now());
                let forwarded = self.forward_positions();
                self.write_lease(LeaseRecord {
                    term: self.lease.term,
                    holder: Some(self.me().to_string()),
                    claim: false,
                    timeout_ms: 0,
                    published_to: self.published_to,
                    forwarded,
                });
            }
            return;
        }
        let caught_up = self.shared.status().caught_up;
        let silent = self.lease.holder.is_none() || self.lease.heard.elapsed() >= timeout;
        if self.lease.sure
            && caught_up
            && silent
            && self.last_claim.is_none_or(|t| t.elapsed() >= every)
        {
            self.last_claim = Some(Instant::now());
            self.write_lease(LeaseRecord {
                term: self.lease.term + 1,
                holder: Some(self.me().to_string()),
                claim: true,
                timeout_ms: timeout.as_millis() as u64,
                published_to: None,
                forwarded: Vec::new(),
            });
        }
    }

    /// Where forwarding the events topic stands: the furthest of what the
    /// folded records, the last renewal and this replica's own forwarder say.
    pub(super) fn forward_positions(&self) -> Vec<(i32, i64)> {
        let mut at: HashMap<i32, i64> = self.forwarded.clone();
        let done = self
            .shared
            .stamp
            .control
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (p, o) in self.lease.forwarded.iter().copied().chain(done) {
            let e = at.entry(p).or_insert(o);
            *e = (*e).max(o);
        }
        let mut v: Vec<(i32, i64)> = at.into_iter().collect();
        v.sort_unstable();
        v
    }

    /// Takes up or gives up publishing, as the lease now says.
    pub(super) fn role(&mut self) {
        let mine = self.lease.holder.as_deref() == Some(self.me());
        let m = &self.metrics.cluster;
        match (mine, self.published_to) {
            (true, None) => {
                // What the predecessor may not have delivered.
                let from = self.lease.published_to.unwrap_or(self.position);
                m.publisher.set(1);
                m.publisher_changes.inc();
                let oldest = self.window.front().map_or(self.position, |(o, _)| *o);
                let pending: Vec<Outgoing> = self
                    .window
                    .iter()
                    .filter(|(o, _)| *o >= from && *o < self.position)
                    .flat_map(|(_, out)| out.iter().map(Outgoing::repeat))
                    .collect();
                eprintln!(
                    "palisade cluster: this replica publishes now (term {}; its predecessor reported offset {}; this replica is at {}); publishing {} records again, marked redelivered",
                    self.lease.term,
                    self.lease
                        .published_to
                        .map_or("none".to_string(), |c| c.to_string()),
                    self.position,
                    pending.len(),
                );
                if from < oldest {
                    eprintln!(
                        "palisade cluster: warning: records of offsets {from} to {oldest} may not have been published: older than this replica's window of {} records (cluster.publish_window)",
                        self.cluster.publish_window
                    );
                }
                // Published by the next turn, marked as possible repeats.
                drop(pending);
                self.published_to = Some(from.max(oldest).min(self.position));
                self.repeat_below = self.position;
                self.retry_at = None;
                self.last_renewal = None;
                // Forwarding the events topic too, from where the
                // predecessor stopped (repeats are recognised by event id).
                let from = self.forward_positions();
                let c = &self.shared.stamp.control;
                *c.from.lock().unwrap_or_else(|p| p.into_inner()) = from.iter().copied().collect();
                c.generation.fetch_add(1, Ordering::AcqRel);
                c.active.store(true, Ordering::Release);
                let mut s = self.shared.status();
                s.publisher = true;
                s.published_to = self.published_to;
            }
            (false, Some(_)) => {
                self.shared
                    .stamp
                    .control
                    .active
                    .store(false, Ordering::Release);
                self.published_to = None;
                self.in_flight = None;
                m.publisher.set(0);
                m.publisher_changes.inc();
                let mut s = self.shared.status();
                s.publisher = false;
                s.published_to = None;
                drop(s);
                eprintln!(
                    "palisade cluster: this replica no longer publishes (term {} is {})",
                    self.lease.term,
                    self.lease.holder.as_deref().unwrap_or("nobody's")
                );
            }
            _ => {}
        }
    }

    /// As the publisher, sends what the window holds from `published_to`
    /// on, without waiting: the sends run on the runtime, and a later turn
    /// takes their outcome. `published_to` moves past a round once the
    /// broker acknowledged all of it. A refusal (the decisions topic
    /// missing, the broker down) sends the round again with backoff (100 ms,
    /// doubling to 5 s), marked as possible repeats, while the log goes on
    /// being folded: publishing never holds up this replica's writes.
    pub(super) fn publish_pending(&mut self) {
        if let Some(round) = self.in_flight.take() {
            if !round.handle.is_finished() {
                self.in_flight = Some(round);
                return;
            }
            let results = self.runtime.block_on(round.handle).unwrap_or_default();
            let m = &self.metrics.cluster;
            let mut refused = None;
            for (i, r) in results.iter().enumerate() {
                match r {
                    Ok(_) => {
                        let (enforcement, repeat) = round.kinds[i];
                        let record = if enforcement {
                            "enforcement"
                        } else {
                            "decision"
                        };
                        m.published
                            .with_label_values(&[record, if repeat { "true" } else { "false" }])
                            .inc();
                        self.metrics
                            .kafka_produced
                            .with_label_values(&["decisions"])
                            .inc();
                    }
                    Err(e) => {
                        self.metrics.kafka_produce_errors.inc();
                        refused.get_or_insert_with(|| e.to_string());
                    }
                }
            }
            if refused.is_none() && results.len() == round.kinds.len() {
                if self.published_to.is_some() {
                    self.published_to = Some(round.upto);
                }
                self.retry_at = None;
                self.backoff = Duration::from_millis(100);
            } else {
                eprintln!(
                    "palisade cluster: publishing failed ({}); sending again in {} ms, marked redelivered (folding goes on)",
                    refused.unwrap_or_else(|| "cancelled".into()),
                    self.backoff.as_millis()
                );
                self.repeat_below = self.repeat_below.max(round.upto);
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
            }
            self.shared.status().published_to = self.published_to;
        }
        let Some(from) = self.published_to else {
            return;
        };
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        let mut kinds = Vec::new();
        let mut sends = Vec::new();
        for (o, out) in self.window.iter().filter(|(o, _)| *o >= from) {
            let repeat = *o < self.repeat_below;
            for x in out {
                let x = if repeat { x.repeat() } else { x.copy() };
                kinds.push((x.key_is_enforcement(), repeat));
                sends.push(try_send_to(&self.producer, &self.kafka.decisions_topic, &x));
            }
        }
        if sends.is_empty() {
            self.published_to = Some(self.position);
            self.shared.status().published_to = self.published_to;
            return;
        }
        self.in_flight = Some(Round {
            upto: self.position,
            kinds,
            handle: self.runtime.spawn(join_all(sends)),
        });
    }
}

/// The records the publisher produces for one folded record: its decision
/// when it came from the events topic (answered over HTTP otherwise), and
/// every enforcement it issued, each with its log offset and a stable id.
pub(super) fn outputs(r: &Read, f: &Folded, instance: &str) -> Vec<Outgoing> {
    let Some(d) = &f.decision else {
        return Vec::new();
    };
    let offset = r.offset.to_string();
    let base = |record: &'static str| -> Vec<(Cow<'static, str>, Vec<u8>)> {
        let mut h: Vec<(Cow<'static, str>, Vec<u8>)> = [
            ("record", record.as_bytes()),
            ("event_id", r.event_id.as_bytes()),
            ("rules_version", d.rules_version.as_bytes()),
            ("model_version", d.model_version.as_bytes()),
            ("instance", instance.as_bytes()),
            ("log_offset", offset.as_bytes()),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.to_vec()))
        .collect();
        if let Some(t) = &r.tenant {
            h.push(("tenant".into(), t.as_bytes().to_vec()));
        }
        if f.duplicate {
            h.push(("redelivered".into(), b"true".to_vec()));
        }
        h
    };
    let mut out = Vec::new();
    if r.origin == Some(Origin::Kafka) {
        let mut value = Vec::with_capacity(512);
        d.write_json(&mut value);
        out.push(Outgoing {
            topic: Topic::Decisions,
            key: r.user.as_bytes().to_vec(),
            value,
            headers: base("decision"),
        });
    }
    for (i, enf) in f.enforcements.iter().enumerate() {
        let mut headers = base("enforcement");
        headers.push((
            "enforcement_id".into(),
            format!("{offset}.{i}").into_bytes(),
        ));
        out.push(Outgoing {
            topic: Topic::Decisions,
            key: enf.key().into_bytes(),
            value: serde_json::to_vec(enf).unwrap_or_default(),
            headers,
        });
    }
    out
}

impl Outgoing {
    pub(super) fn copy(&self) -> Outgoing {
        Outgoing {
            topic: self.topic,
            key: self.key.clone(),
            value: self.value.clone(),
            headers: self.headers.clone(),
        }
    }

    /// The same record, marked as possibly published before.
    pub(super) fn repeat(&self) -> Outgoing {
        let mut o = self.copy();
        if !o.headers.iter().any(|(k, _)| k == "redelivered") {
            o.headers.push(("redelivered".into(), b"true".to_vec()));
        }
        o
    }

    pub(super) fn key_is_enforcement(&self) -> bool {
        self.headers
            .iter()
            .any(|(k, v)| k == "record" && v.as_slice() == b"enforcement")
    }
}
