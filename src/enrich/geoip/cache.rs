//! A small cache of decoded City records, owned by the caller (the engine
//! evaluates one event at a time, so no locking). Keyed by where the record
//! sits in the database's data section: many networks share one record, and a
//! record never changes while the database is open, so a hit is always right.
//! Decoding a City record (following its pointers through the file) costs more
//! than the search-tree walk; with 16,384 entries (a few hundred KiB) about
//! three lookups in four hit on realistic traffic.

use super::info::{Country, Location};

/// Entries in the cache: a power of two, direct-mapped.
pub const GEO_CACHE_ENTRIES: usize = 16_384;

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct CachedCity {
    /// Record offset + 1; 0 marks an empty entry.
    pub(super) tag: usize,
    pub(super) country: Option<Country>,
    pub(super) location: Option<Location>,
}

/// Decoded City records by data offset. Make one per engine.
pub struct GeoCache {
    pub(super) city: Box<[CachedCity]>,
    hits: u64,
    misses: u64,
}

impl Default for GeoCache {
    fn default() -> GeoCache {
        GeoCache {
            city: vec![CachedCity::default(); GEO_CACHE_ENTRIES].into_boxed_slice(),
            hits: 0,
            misses: 0,
        }
    }
}

impl GeoCache {
    pub(super) fn get(&mut self, offset: usize) -> Option<CachedCity> {
        let e = self.city[offset & (GEO_CACHE_ENTRIES - 1)];
        if e.tag == offset + 1 {
            self.hits += 1;
            Some(e)
        } else {
            self.misses += 1;
            None
        }
    }

    pub(super) fn put(
        &mut self,
        offset: usize,
        country: Option<Country>,
        location: Option<Location>,
    ) {
        self.city[offset & (GEO_CACHE_ENTRIES - 1)] = CachedCity {
            tag: offset + 1,
            country,
            location,
        };
    }

    /// (hits, misses) since the cache was made.
    pub fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }
}
