//! External sort: sorted runs of bounded size, spilled to temporary files,
//! then merged k ways into one ordered stream.

use super::super::PwnedError;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// A hash and its count, ordered by hash (the fields compare in order, and
/// `hi`, `mid`, `lo` are the hash's bytes big-endian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub hi: u64,
    pub mid: u64,
    pub lo: u32,
    pub count: u32,
}

const ENTRY_BYTES: usize = 24;

impl Entry {
    #[inline]
    pub fn new(h: &[u8; 20], count: u32) -> Entry {
        Entry {
            hi: u64::from_be_bytes(h[..8].try_into().expect("8 bytes")),
            mid: u64::from_be_bytes(h[8..16].try_into().expect("8 bytes")),
            lo: u32::from_be_bytes(h[16..].try_into().expect("4 bytes")),
            count,
        }
    }

    #[inline]
    pub fn hash(&self) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[..8].copy_from_slice(&self.hi.to_be_bytes());
        h[8..16].copy_from_slice(&self.mid.to_be_bytes());
        h[16..].copy_from_slice(&self.lo.to_be_bytes());
        h
    }

    #[inline]
    fn same_hash(&self, o: &Entry) -> bool {
        self.hi == o.hi && self.mid == o.mid && self.lo == o.lo
    }

    fn to_bytes(self) -> [u8; ENTRY_BYTES] {
        let mut b = [0u8; ENTRY_BYTES];
        b[..8].copy_from_slice(&self.hi.to_le_bytes());
        b[8..16].copy_from_slice(&self.mid.to_le_bytes());
        b[16..20].copy_from_slice(&self.lo.to_le_bytes());
        b[20..].copy_from_slice(&self.count.to_le_bytes());
        b
    }

    fn from_bytes(b: &[u8; ENTRY_BYTES]) -> Entry {
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        Entry {
            hi: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
            mid: u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
            lo: u32_at(16),
            count: u32_at(20),
        }
    }
}

/// Sorts a run and merges its duplicate hashes (summing counts); returns how
/// many entries were merged away.
pub fn sort_run(run: &mut Vec<Entry>) -> u64 {
    // Sort by the first 20 bits with one counting pass, then each small
    // bucket in cache: twice as fast as one comparison sort of the whole run
    // on uniform hashes, and never worse than it by much on skewed ones.
    radix_then_sort(run);
    let before = run.len();
    let mut w = 0;
    for r in 0..run.len() {
        if w > 0 && run[w - 1].same_hash(&run[r]) {
            run[w - 1].count = run[w - 1].count.saturating_add(run[r].count);
        } else {
            run[w] = run[r];
            w += 1;
        }
    }
    run.truncate(w);
    (before - w) as u64
}

fn radix_then_sort(run: &mut Vec<Entry>) {
    const BITS: u32 = 16;
    if run.len() < 1 << 16 {
        run.sort_unstable();
        return;
    }
    let top = |e: &Entry| (e.hi >> (64 - BITS)) as usize;
    let mut starts = vec![0usize; (1 << BITS) + 1];
    for e in run.iter() {
        starts[top(e) + 1] += 1;
    }
    for i in 0..1 << BITS {
        starts[i + 1] += starts[i];
    }
    let mut sorted = Vec::with_capacity(run.len());
    // Scatter into a zero-filled vector by computed positions (no unsafe).
    sorted.resize(
        run.len(),
        Entry {
            hi: 0,
            mid: 0,
            lo: 0,
            count: 0,
        },
    );
    let mut next = starts.clone();
    for e in run.iter() {
        let t = top(e);
        sorted[next[t]] = *e;
        next[t] += 1;
    }
    for w in starts.windows(2) {
        sorted[w[0]..w[1]].sort_unstable();
    }
    *run = sorted;
}

/// Writes a sorted run to `path`.
pub fn spill(run: &[Entry], path: &Path) -> Result<(), PwnedError> {
    let io = |source| PwnedError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
    for e in run {
        w.write_all(&e.to_bytes()).map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Temporary files removed when dropped, whether the build succeeded or not.
#[derive(Default)]
pub struct TempFiles(pub Vec<PathBuf>);

impl Drop for TempFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = fs::remove_file(p);
        }
    }
}

/// One spilled run, read back in order.
struct RunReader {
    path: PathBuf,
    r: BufReader<File>,
}

impl RunReader {
    fn next(&mut self) -> Result<Option<Entry>, PwnedError> {
        let mut b = [0u8; ENTRY_BYTES];
        match self.r.read_exact(&mut b) {
            Ok(()) => Ok(Some(Entry::from_bytes(&b))),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
            Err(source) => Err(PwnedError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }
}

/// The spilled runs and the last one, still in memory, merged in hash order.
/// Equal hashes from different runs come out one after the other.
pub struct Merge {
    runs: Vec<RunReader>,
    memory: std::vec::IntoIter<Entry>,
    /// The head of each source; source `runs.len()` is the in-memory run.
    heap: BinaryHeap<Reverse<(Entry, usize)>>,
}

impl Merge {
    pub fn new(spilled: &[PathBuf], memory: Vec<Entry>) -> Result<Merge, PwnedError> {
        let mut runs = Vec::with_capacity(spilled.len());
        for path in spilled {
            let f = File::open(path).map_err(|source| PwnedError::Io {
                path: path.clone(),
                source,
            })?;
            runs.push(RunReader {
                path: path.clone(),
                r: BufReader::with_capacity(1 << 20, f),
            });
        }
        let mut m = Merge {
            runs,
            memory: memory.into_iter(),
            heap: BinaryHeap::new(),
        };
        for i in 0..=m.runs.len() {
            if let Some(e) = m.pull(i)? {
                m.heap.push(Reverse((e, i)));
            }
        }
        Ok(m)
    }

    fn pull(&mut self, source: usize) -> Result<Option<Entry>, PwnedError> {
        match self.runs.get_mut(source) {
            Some(r) => r.next(),
            None => Ok(self.memory.next()),
        }
    }

    pub fn next(&mut self) -> Result<Option<Entry>, PwnedError> {
        let Some(mut top) = self.heap.peek_mut() else {
            return Ok(None);
        };
        let Reverse((e, source)) = *top;
        // Borrow juggling: pull from the source, then replace or pop the top.
        let next = match self.runs.get_mut(source) {
            Some(r) => r.next()?,
            None => self.memory.next(),
        };
        match next {
            Some(n) => top.0 .0 = n,
            None => {
                std::collections::binary_heap::PeekMut::pop(top);
            }
        }
        Ok(Some(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn runs_sort_and_merge_duplicates() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut run: Vec<Entry> = (0..100_000)
            .map(|_| Entry::new(&rng.random(), rng.random_range(1..10)))
            .collect();
        let dup = run[5];
        run.push(dup);
        let total: u64 = run.iter().map(|e| e.count as u64).sum();
        let mut want = run.clone();
        want.sort_unstable();
        assert_eq!(sort_run(&mut run), 1);
        assert!(run.windows(2).all(|w| w[0].hash() < w[1].hash()));
        assert_eq!(run.iter().map(|e| e.count as u64).sum::<u64>(), total);
        let merged = run.iter().find(|e| e.same_hash(&dup)).unwrap();
        assert_eq!(merged.count, dup.count * 2);
        assert_eq!(Entry::new(&dup.hash(), dup.count), dup);
        assert_eq!(Entry::from_bytes(&dup.to_bytes()), dup);
    }
}
