//! The engine's part of a checkpoint: everything evaluating events changed
//! (profiles, global frequencies, rule state, enforcements, fraud marks, the
//! clock, the browser and OS family ids), written as a run of postcard
//! messages and read back into an engine freshly built from the running
//! configuration. Caches (GeoIP, parsed user agents) are left out: they
//! refill. The file around it, with its header and
//! checksum, is [`crate::state::checkpoint`].

use super::enforce::{Enforcement, ReportedBlocks};
use super::evidence::TypoRate;
use super::Engine;
use crate::detect::lockout::Lockout;
use crate::detect::Counter;
use crate::state::checkpoint::{Sink, Source};
use crate::state::fraud::FraudMarks;
use crate::state::frequency::Frequencies;
use crate::state::limiter::{BucketState, KeyedBucket};
use crate::state::profile::ProfileStore;
use crate::state::sources::{Offenders, SourceTable};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

#[derive(Serialize, Deserialize)]
struct Head {
    last_ms: u64,
    next_expiry_day: u32,
    detectors: u32,
}

#[derive(Serialize, Deserialize)]
struct DetectorHead {
    id: String,
    signature: String,
    lockout: bool,
}

/// A bucket family's state, serialized in place.
struct BucketOut<'a>(&'a KeyedBucket);

impl Serialize for BucketOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_state(s)
    }
}

/// What `read_state` could not restore.
#[derive(Debug, Default)]
pub(crate) struct Dropped {
    /// Rule state left out, and why (one line each).
    pub rules: Vec<String>,
}

/// A fingerprint of a hash key: the first 8 bytes of SHA-1 over a fixed
/// label and the key. It identifies the key without revealing it.
pub(crate) fn key_fingerprint(key: [u64; 4]) -> u64 {
    let mut h = Sha1::new();
    h.update(b"palisade checkpoint hash key v1\0");
    for k in key {
        h.update(k.to_le_bytes());
    }
    let d = h.finalize();
    u64::from_le_bytes(d[..8].try_into().expect("SHA-1 has 20 bytes"))
}

impl Engine {
    /// The fingerprint of the hash key profiles and rule state are keyed by.
    pub fn hash_key_fingerprint(&self) -> u64 {
        self.key_fingerprint
    }

    /// The keyed hash of a fixed account: with the same key, it differs only
    /// when this build hashes differently (another ahash version or CPU
    /// features), which would orphan every stored key just the same.
    pub fn hash_probe(&self) -> u64 {
        self.hasher.user(Some("palisade"), "checkpoint probe")
    }

    pub(crate) fn write_state(&self, out: &mut Sink<'_>) -> std::io::Result<()> {
        out.put(&Head {
            last_ms: self.last_ms,
            next_expiry_day: self.next_expiry_day,
            detectors: self.detectors.len() as u32,
        })?;
        // Browser and OS families are ids in interning order: the names
        // must come back with the profiles that hold the ids.
        out.put(self.agents.family_names())?;
        out.put(&self.profiles)?;
        let g = &self.globals;
        for f in [&g.country, &g.asn, &g.browser, &g.os] {
            out.put(f)?;
        }
        for d in &self.detectors {
            let lockout = match &d.counter {
                Counter::Bucket { .. } => false,
                Counter::Lockout(_) => true,
            };
            out.put(&DetectorHead {
                id: d.id.to_string(),
                signature: d.signature(),
                lockout,
            })?;
            match &d.counter {
                Counter::Bucket { bucket, .. } => out.put(&BucketOut(bucket))?,
                Counter::Lockout(l) => out.put(l)?,
            }
            out.put(d.blocks())?;
        }
        // Enforcements keep their contract JSON (their serde form skips empty
        // fields, which a schema-less binary format cannot); they are few.
        let (issued, dropped, in_force) = self.enforcements.parts();
        let json = |e: &Enforcement| serde_json::to_string(e).expect("an enforcement serializes");
        out.put(&issued.iter().map(json).collect::<Vec<_>>())?;
        out.put(&dropped)?;
        out.put(&in_force.map(|(u, e)| (u, json(e))).collect::<Vec<_>>())?;
        out.put(&self.reported)?;
        out.put(&self.fraud)?;
        // Format 2: the failure sources, offenders and the learnt typo rate.
        out.put(&self.sources.as_ref().map(|s| s.parts()))?;
        Ok(())
    }

    /// Reads what [`write_state`](Self::write_state) wrote into this engine,
    /// fresh from its parts. Rule state is restored only when `same_rules`
    /// and only into a detector of the same id and signature. `format` is
    /// the checkpoint's format version: version 1 has no failure sources.
    pub(crate) fn read_state(
        &mut self,
        src: &mut Source<'_>,
        same_rules: bool,
        format: u32,
    ) -> Result<Dropped, String> {
        let mut dropped = Dropped::default();
        let head: Head = src.take("engine head")?;
        self.last_ms = head.last_ms;
        self.next_expiry_day = head.next_expiry_day;
        self.clock.set_millis(head.last_ms);
        let names: Vec<String> = src.take("user agent families")?;
        self.agents.restore_family_names(names);
        let profiles: ProfileStore = src.take("profiles")?;
        self.profiles.restore_from(profiles);
        let g = &mut self.globals;
        for (f, what) in [
            (&mut g.country, "country frequencies"),
            (&mut g.asn, "ASN frequencies"),
            (&mut g.browser, "browser frequencies"),
            (&mut g.os, "OS frequencies"),
        ] {
            f.restore_from(src.take::<Frequencies>(what)?);
        }
        let mut restored = vec![false; self.detectors.len()];
        for _ in 0..head.detectors {
            let h: DetectorHead = src.take("rule head")?;
            let (bucket, lockout) = if h.lockout && format < 2 {
                // Format 1 kept a lockout's counts without its locks: read
                // past them; the rule's signature changed with the format.
                let _: FxHashMap<u64, (u32, u64)> = src.take(&h.id)?;
                let _: FxHashMap<u64, u64> = src.take(&h.id)?;
                dropped.rules.push(format!(
                    "rule {}: lockout counts from a format 1 checkpoint are not carried over",
                    h.id
                ));
                continue;
            } else if h.lockout {
                (None, Some(src.take::<Lockout>(&h.id)?))
            } else {
                (Some(src.take::<BucketState>(&h.id)?), None)
            };
            let blocks: FxHashMap<u64, u64> = src.take(&h.id)?;
            if !same_rules {
                continue;
            }
            let Some(i) = self.detectors.iter().position(|d| *d.id == *h.id) else {
                dropped
                    .rules
                    .push(format!("rule {} is no longer loaded", h.id));
                continue;
            };
            let d = &mut self.detectors[i];
            if d.signature() != h.signature {
                dropped.rules.push(format!(
                    "rule {} changed: was {}, is {}",
                    h.id,
                    h.signature,
                    d.signature()
                ));
                continue;
            }
            match (d.counter_mut(), bucket, lockout) {
                (Counter::Bucket { bucket: b, .. }, Some(saved), None) => b.restore_state(saved),
                (Counter::Lockout(l), None, Some(saved)) => l.restore_from(saved),
                _ => {
                    dropped
                        .rules
                        .push(format!("rule {} counts another way now", h.id));
                    continue;
                }
            }
            d.restore_blocks(blocks);
            restored[i] = true;
        }
        if same_rules {
            for (d, done) in self.detectors.iter().zip(&restored) {
                if !done {
                    dropped
                        .rules
                        .push(format!("rule {} starts empty: not in the checkpoint", d.id));
                }
            }
        }
        let parse = |j: String| {
            serde_json::from_str::<Enforcement>(&j).map_err(|e| format!("enforcement {j}: {e}"))
        };
        let issued: Vec<String> = src.take("enforcements issued")?;
        let issued = issued
            .into_iter()
            .map(parse)
            .collect::<Result<Vec<_>, _>>()?;
        let count: u64 = src.take("enforcements dropped")?;
        let in_force: Vec<(u64, String)> = src.take("enforcements in force")?;
        let in_force = in_force
            .into_iter()
            .map(|(u, j)| parse(j).map(|e| (u, e)))
            .collect::<Result<Vec<_>, _>>()?;
        self.enforcements.restore(issued, count, in_force);
        self.reported
            .restore_from(src.take::<ReportedBlocks>("reported blocks")?);
        self.fraud
            .restore_from(src.take::<FraudMarks>("fraud marks")?);
        if format >= 2 {
            type Saved = Option<([SourceTable; 4], Offenders, TypoRate)>;
            let saved: Saved = src.take("failure sources")?;
            if let (Some(mine), Some((tables, offenders, typos))) = (&mut self.sources, saved) {
                mine.restore(tables, offenders, typos);
            }
        }
        Ok(dropped)
    }
}
