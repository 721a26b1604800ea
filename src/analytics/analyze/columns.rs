//! The history as compact columns: what the campaign tables need of each
//! sign-in and of the engine's decision on it, with every user, address,
//! network, country, password and label held once in a dictionary and
//! referred to by number.
//!
//! Held per sign-in: about [`BYTES_PER_EVENT`] bytes in the columns, plus
//! each distinct user, address and password once in the dictionaries (about
//! 100 bytes each). Passwords are numbered, never kept: the number only says
//! "the same password as that other attempt".

use crate::engine::EngineParts;
use crate::enrich::geoip::GeoIp;
use crate::enrich::netclass;
use crate::event::{Action, Decision, Event, FailureReason, Kind, Outcome};
use polars::prelude::{Column, DataFrame, IntoLazy, LazyFrame, PolarsResult};
use rustc_hash::FxHashMap;
use std::hash::Hash;
use std::net::IpAddr;

/// Bytes a sign-in takes in the columns (time 8; user, address, action and
/// password numbers 4 each; label 4; flags as bytes); the frame polars
/// builds from them holds about as much again while the tables are computed.
pub const BYTES_PER_EVENT: u64 = 40;

/// The attack families a rule's reason can belong to, by its category (the
/// rules' `category`, or the contract's signal code of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    BruteForce,
    /// Credential stuffing, and user enumeration: its per-address face.
    Stuffing,
    Spray,
}

impl Family {
    fn of_category(category: &str) -> Option<Family> {
        match category {
            "brute_force" => Some(Family::BruteForce),
            "credential_stuffing" | "user_enumeration" => Some(Family::Stuffing),
            "password_spray" => Some(Family::Spray),
            _ => None,
        }
    }
}

/// Reason code to attack family: every rule by its category, and the
/// contract's signal codes that name a family themselves.
pub fn families(parts: &EngineParts) -> FxHashMap<String, Family> {
    let mut map: FxHashMap<String, Family> = [
        "brute_force",
        "credential_stuffing",
        "user_enumeration",
        "password_spray",
    ]
    .into_iter()
    .filter_map(|c| Family::of_category(c).map(|f| (c.to_string(), f)))
    .collect();
    for d in &parts.rules.detectors {
        if let Some(f) = Family::of_category(&d.category) {
            map.insert(d.id.to_string(), f);
        }
    }
    map
}

/// Numbers for values, in order of first sight.
#[derive(Debug)]
pub struct Dictionary<K> {
    ids: FxHashMap<K, u32>,
    pub values: Vec<K>,
}

impl<K> Default for Dictionary<K> {
    fn default() -> Self {
        Dictionary {
            ids: FxHashMap::default(),
            values: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Dictionary<K> {
    /// The value's number, and whether it is new.
    pub fn id(&mut self, value: &K) -> (u32, bool) {
        if let Some(&id) = self.ids.get(value) {
            return (id, false);
        }
        let id = self.values.len() as u32;
        self.ids.insert(value.clone(), id);
        self.values.push(value.clone());
        (id, true)
    }
}

impl Dictionary<String> {
    /// As [`Dictionary::id`], without copying a value already there.
    pub fn id_of_str(&mut self, value: &str) -> u32 {
        match self.ids.get(value) {
            Some(&id) => id,
            None => self.id(&value.to_string()).0,
        }
    }
}

/// What is known of one address, looked up once.
#[derive(Debug, Clone)]
pub struct Place {
    pub network: u32,
    pub asn: Option<u32>,
    pub country: Option<u32>,
}

/// The columns and their dictionaries.
#[derive(Debug, Default)]
pub struct Columns {
    pub t: Vec<i64>,
    pub user: Vec<u32>,
    pub ip: Vec<u32>,
    pub failure: Vec<bool>,
    pub success: Vec<bool>,
    /// A failure for a name that is no account (`unknown_user`, or
    /// `user_exists: false`).
    pub unknown_user: Vec<bool>,
    /// 0 allow, 1 challenge, 2 block: what the engine did, or in audit mode
    /// would have done.
    pub action: Vec<u32>,
    pub password: Vec<Option<u32>>,
    pub brute_reason: Vec<bool>,
    pub stuffing_reason: Vec<bool>,
    pub spray_reason: Vec<bool>,
    pub label: Vec<Option<u32>>,
    pub users: Dictionary<String>,
    pub ips: Dictionary<IpAddr>,
    /// Per address number.
    pub places: Vec<Place>,
    pub networks: Dictionary<String>,
    pub countries: Dictionary<String>,
    pub labels: Dictionary<String>,
    passwords: Dictionary<[u8; 20]>,
    /// Events of other kinds (sign-up, password change or reset): read and
    /// through the engine, not in the columns.
    pub other_kinds: u64,
    /// Events with no time of their own, given the time of the one before.
    pub untimed: u64,
    last_ms: i64,
}

pub fn action_code(a: Action) -> u32 {
    match a {
        Action::Allow => 0,
        Action::Challenge => 1,
        Action::Block => 2,
    }
}

impl Columns {
    /// Takes one event and the engine's decision on it.
    pub fn push(
        &mut self,
        e: &Event,
        d: &Decision,
        families: &FxHashMap<String, Family>,
        geoip: &GeoIp,
    ) {
        if e.kind != Kind::SignIn {
            self.other_kinds += 1;
            return;
        }
        let t = match e.timestamp {
            Some(t) => t.millis() as i64,
            None => {
                self.untimed += 1;
                self.last_ms
            }
        };
        self.last_ms = t;
        self.t.push(t);
        let user = self.users.id_of_str(&e.user);
        self.user.push(user);
        let (ip, new) = self.ips.id(&netclass::canonical(e.ip));
        if new {
            let place = self.place(e.ip, geoip);
            self.places.push(place);
        }
        self.ip.push(ip);
        let failure = e.outcome == Outcome::Failure;
        self.failure.push(failure);
        self.success.push(e.outcome == Outcome::Success);
        self.unknown_user.push(
            failure
                && (e.failure_reason == Some(FailureReason::UnknownUser)
                    || e.user_exists == Some(false)),
        );
        self.action
            .push(action_code(d.audit_action.unwrap_or(d.action)));
        self.password
            .push(e.password_sha1.map(|p| self.passwords.id(&p.0).0));
        let (mut brute, mut stuffing, mut spray) = (false, false, false);
        for r in &d.reasons {
            match families.get(&*r.code) {
                Some(Family::BruteForce) => brute = true,
                Some(Family::Stuffing) => stuffing = true,
                Some(Family::Spray) => spray = true,
                None => {}
            }
        }
        self.brute_reason.push(brute);
        self.stuffing_reason.push(stuffing);
        self.spray_reason.push(spray);
        self.label
            .push(e.label.as_deref().map(|l| self.labels.id_of_str(l)));
    }

    fn place(&mut self, ip: IpAddr, geoip: &GeoIp) -> Place {
        let geo = geoip.lookup(ip);
        Place {
            network: self.networks.id(&netclass::network_cidr(ip)).0,
            asn: geo.asn,
            country: geo.country.map(|c| self.countries.id_of_str(c.as_str())),
        }
    }

    /// Sign-ins in the columns.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// The earliest and latest sign-in time (ms), if any.
    pub fn span(&self) -> Option<(i64, i64)> {
        let min = self.t.iter().copied().min()?;
        let max = self.t.iter().copied().max()?;
        Some((min, max))
    }

    /// Whether any address has an ASN or a country.
    pub fn has_asn(&self) -> bool {
        self.places.iter().any(|p| p.asn.is_some())
    }

    pub fn has_country(&self) -> bool {
        self.places.iter().any(|p| p.country.is_some())
    }

    /// The sign-ins as a frame, the columns moved in (not copied):
    /// `t` (ms), `user`, `ip`, `failure`, `success`, `unknown_user`,
    /// `action`, `password`, `brute_reason`, `stuffing_reason`,
    /// `spray_reason`, `label`.
    pub fn take_frame(&mut self) -> PolarsResult<LazyFrame> {
        let n = self.len();
        let frame = DataFrame::new(
            n,
            vec![
                Column::new("t".into(), std::mem::take(&mut self.t)),
                Column::new("user".into(), std::mem::take(&mut self.user)),
                Column::new("ip".into(), std::mem::take(&mut self.ip)),
                Column::new("failure".into(), std::mem::take(&mut self.failure)),
                Column::new("success".into(), std::mem::take(&mut self.success)),
                Column::new(
                    "unknown_user".into(),
                    std::mem::take(&mut self.unknown_user),
                ),
                Column::new("action".into(), std::mem::take(&mut self.action)),
                Column::new("password".into(), std::mem::take(&mut self.password)),
                Column::new(
                    "brute_reason".into(),
                    std::mem::take(&mut self.brute_reason),
                ),
                Column::new(
                    "stuffing_reason".into(),
                    std::mem::take(&mut self.stuffing_reason),
                ),
                Column::new(
                    "spray_reason".into(),
                    std::mem::take(&mut self.spray_reason),
                ),
                Column::new("label".into(), std::mem::take(&mut self.label)),
            ],
        )?;
        Ok(frame.lazy())
    }

    /// One row per address: `ip`, `network`, `asn`, `country` (numbers).
    pub fn places_frame(&self) -> PolarsResult<LazyFrame> {
        let n = self.places.len();
        let frame = DataFrame::new(
            n,
            vec![
                Column::new("ip".into(), (0..n as u32).collect::<Vec<u32>>()),
                Column::new(
                    "network".into(),
                    self.places.iter().map(|p| p.network).collect::<Vec<u32>>(),
                ),
                Column::new(
                    "asn".into(),
                    self.places.iter().map(|p| p.asn).collect::<Vec<_>>(),
                ),
                Column::new(
                    "country".into(),
                    self.places.iter().map(|p| p.country).collect::<Vec<_>>(),
                ),
            ],
        )?;
        Ok(frame.lazy())
    }
}
