//! User agents to browser and OS families (woothee: a table-driven parser with
//! no regex engine, fast enough for the hot path), cached by a hash of the
//! string because a service sees the same few thousand agents over and over.

use rustc_hash::FxHashMap;

/// Where the passing ids of families a probe met but never interned start.
pub const UNSEEN_FAMILIES: u32 = 0xFFFF_0000;

/// Browser and OS family of one user agent, as interned ids (0 = unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Families {
    pub browser: u32,
    pub os: u32,
}

/// The parse cache and the family names. At `max_agents` cached agents the
/// cache starts over; family names are few (woothee knows about a hundred).
pub struct UserAgents {
    parser: woothee::parser::Parser,
    cache: FxHashMap<u64, Families>,
    names: Vec<String>,
    ids: FxHashMap<String, u32>,
    max_agents: usize,
    hasher: ahash::RandomState,
    /// Parses dropped: at the cap the cache starts over.
    evicted: u64,
    /// Family names a probe met that have no id yet.
    unseen: Vec<String>,
}

impl UserAgents {
    /// `seeds` key the cache's hash, so no one can craft an agent that lands on
    /// a popular one's entry.
    pub fn new(max_agents: usize, seeds: [u64; 4]) -> UserAgents {
        UserAgents {
            parser: woothee::parser::Parser::new(),
            cache: FxHashMap::default(),
            names: vec!["unknown".to_string()],
            ids: FxHashMap::default(),
            max_agents: max_agents.max(1),
            hasher: ahash::RandomState::with_seeds(seeds[0], seeds[1], seeds[2], seeds[3]),
            evicted: 0,
            unseen: Vec::new(),
        }
    }

    /// (agents whose parse is cached, parses dropped at the cap so far).
    pub fn cache_stats(&self) -> (usize, u64) {
        (self.cache.len(), self.evicted)
    }

    pub fn families(&mut self, user_agent: &str) -> Families {
        let h = self.hasher.hash_one(user_agent);
        if let Some(f) = self.cache.get(&h) {
            return *f;
        }
        let f = match self.parser.parse(user_agent) {
            Some(r) => Families {
                browser: self.intern(r.name),
                os: self.intern(r.os),
            },
            None => Families::default(),
        };
        if self.cache.len() >= self.max_agents {
            self.evicted += self.cache.len() as u64;
            self.cache.clear();
        }
        self.cache.insert(h, f);
        f
    }

    /// [`UserAgents::families`] without assigning ids (which are state):
    /// a family never seen gets a passing id from [`UNSEEN_FAMILIES`] on,
    /// which no profile or global count holds, just as a new id would not,
    /// and which [`UserAgents::name`] names until [`UserAgents::forget_unseen`];
    /// nothing is cached.
    pub fn families_seen(&mut self, user_agent: &str) -> Families {
        let h = self.hasher.hash_one(user_agent);
        if let Some(f) = self.cache.get(&h) {
            return *f;
        }
        let Some(r) = self.parser.parse(user_agent) else {
            return Families::default();
        };
        let mut known = |name: &str| {
            if name.is_empty() || name == "UNKNOWN" {
                return 0;
            }
            if let Some(&id) = self.ids.get(name) {
                return id;
            }
            self.unseen.push(name.to_string());
            UNSEEN_FAMILIES + self.unseen.len() as u32 - 1
        };
        Families {
            browser: known(r.name),
            os: known(r.os),
        }
    }

    /// Drops the passing ids [`UserAgents::families_seen`] gave.
    pub fn forget_unseen(&mut self) {
        self.unseen.clear();
    }

    fn intern(&mut self, name: &str) -> u32 {
        if name.is_empty() || name == "UNKNOWN" {
            return 0;
        }
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        id
    }

    /// The family names by id: state, not cache, since profiles and global
    /// frequencies hold the ids. A checkpoint writes them.
    pub fn family_names(&self) -> &[String] {
        &self.names
    }

    /// Takes a checkpoint's family names, so ids mean what they meant; the
    /// parse cache starts empty.
    pub fn restore_family_names(&mut self, names: Vec<String>) {
        self.cache.clear();
        self.ids = names
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        self.names = names;
        if self.names.is_empty() {
            self.names.push("unknown".to_string());
        }
    }

    pub fn name(&self, id: u32) -> &str {
        let found = match id.checked_sub(UNSEEN_FAMILIES) {
            Some(i) => self.unseen.get(i as usize),
            None => self.names.get(id as usize),
        };
        found.map_or("unknown", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_caches_families() {
        let mut ua = UserAgents::new(10, [1, 2, 3, 4]);
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
        let f = ua.families(chrome);
        assert_eq!(ua.name(f.browser), "Chrome");
        assert_eq!(ua.name(f.os), "Windows 10");
        assert_eq!(ua.families(chrome), f);
        let curl = ua.families("curl/8.4.0");
        assert_ne!(curl.browser, f.browser);
        assert_eq!(ua.families("\u{0}garbage\u{ffff}"), Families::default());
    }
}
