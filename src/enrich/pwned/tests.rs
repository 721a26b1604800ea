//! Round trips through a real file: build, open, look up, serve ranges.

use super::format::bucketed;
use super::*;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

fn options(input: &Path, output: &Path, range: bool) -> BuildOptions {
    BuildOptions {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        range,
        max_malformed: 0,
        format: InputFormat::Auto,
        progress: false,
    }
}

/// Random hashes with random counts (some large, some repeated), as a
/// `HASH:COUNT` file, and the truth: each hash with its summed count.
fn corpus(dir: &Path, n: usize, seed: u64) -> (PathBuf, BTreeMap<[u8; 20], u32>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut truth = BTreeMap::new();
    let mut text = String::new();
    let mut seen: Vec<[u8; 20]> = Vec::new();
    for i in 0..n {
        let h: [u8; 20] = if i % 10 == 9 {
            seen[rng.random_range(0..seen.len())]
        } else {
            rng.random()
        };
        let count = match rng.random_range(0..4) {
            0 => rng.random_range(1..4),
            1 => rng.random_range(1..3000),
            2 => rng.random_range(1..100_000_000),
            _ => rng.random_range(1..=u32::MAX),
        };
        let total: &mut u32 = truth.entry(h).or_default();
        *total = total.saturating_add(count);
        seen.push(h);
        writeln!(text, "{}:{count}", hex::encode_upper(h)).unwrap();
    }
    let path = dir.join("corpus.txt");
    std::fs::write(&path, text).unwrap();
    (path, truth)
}

#[test]
fn random_hashes_round_trip_with_their_bucketed_counts() {
    let dir = tempfile::tempdir().unwrap();
    let (input, truth) = corpus(dir.path(), 30_000, 1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    for (range, runs) in [(true, 7_000), (false, 1 << 20)] {
        let output = dir.path().join(format!("index-{range}"));
        let s = build::build_with_runs(&options(&input, &output, range), runs).unwrap();
        assert_eq!(s.hashes, truth.len() as u64);
        assert_eq!(s.input_hashes, 30_000);
        assert_eq!(s.duplicates, 30_000 - truth.len() as u64);
        assert_eq!(s.spilled_runs, if range { 4 } else { 0 });
        let index = PwnedIndex::open(&output).unwrap();
        assert_eq!(index.len(), truth.len() as u64);
        assert_eq!(index.has_range(), range);
        assert_eq!(index.bytes_per_record(), if range { 19 } else { 9 });
        index.verify().unwrap();
        for (h, &count) in &truth {
            assert_eq!(index.lookup(h), Some(bucketed(count)), "{}", hex::encode(h));
        }
        let absent = (0..30_000)
            .map(|_| rng.random::<[u8; 20]>())
            .filter(|h| !truth.contains_key(h))
            .filter(|h| index.lookup(h).is_some())
            .count();
        assert_eq!(absent, 0);
        // Neighbours of present hashes differ in the last kept bit only.
        let flipped = truth
            .keys()
            .map(|h| {
                let mut h = *h;
                if range {
                    h[19] ^= 1
                } else {
                    h[9] ^= 0x01 // the 80th bit, the last one kept
                }
                h
            })
            .filter(|h| !truth.contains_key(h) && index.lookup(h).is_some())
            .count();
        assert_eq!(flipped, 0);
        // Without range, bits past the 80th are not kept: a hash differing
        // only there is the documented (2^-80-rare) false positive.
        let beyond = truth
            .keys()
            .filter(|h| {
                let mut h = **h;
                h[19] ^= 1;
                !truth.contains_key(&h) && index.lookup(&h).is_some()
            })
            .count();
        assert_eq!(beyond, if range { 0 } else { truth.len() });
    }
}

#[test]
fn a_range_answer_is_the_prefix_lines_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut want = BTreeMap::new();
    let mut text = String::new();
    for i in 0..20_000u32 {
        let mut h: [u8; 20] = rng.random();
        if i % 2 == 0 {
            // Half the hashes in 21BD1.
            h[0] = 0x21;
            h[1] = 0xBD;
            h[2] = 0x10 | (h[2] & 0x0F);
            let count = rng.random_range(1..5000);
            want.insert(hex::encode_upper(h)[5..].to_string(), bucketed(count));
            writeln!(text, "{}:{count}", hex::encode_upper(h)).unwrap();
        } else {
            writeln!(text, "{}", hex::encode(h)).unwrap();
        }
    }
    let input = dir.path().join("unsorted.txt");
    std::fs::write(&input, text).unwrap();
    let output = dir.path().join("index");
    build::build_with_runs(&options(&input, &output, true), 3_000).unwrap();
    let index = PwnedIndex::open(&output).unwrap();
    let mut out = Vec::new();
    assert_eq!(index.write_range(0x21BD1, &mut out).unwrap(), want.len());
    let expected: String = want.iter().map(|(s, c)| format!("{s}:{c}\r\n")).collect();
    assert_eq!(String::from_utf8(out.clone()).unwrap(), expected);
    let mut empty = b"kept".to_vec();
    let unused = (0..=0xFFFFF).find(|&p| index.bucket_len(p) == 0).unwrap();
    assert_eq!(index.write_range(unused, &mut empty).unwrap(), 0);
    assert_eq!(empty, b"kept");
    assert!(matches!(
        index.write_range(0x100000, &mut empty),
        Err(PwnedError::Prefix { .. })
    ));

    let lookups = dir.path().join("lookups");
    build::build(&options(&input, &lookups, false)).unwrap();
    let index = PwnedIndex::open(&lookups).unwrap();
    let e = index.write_range(0x21BD1, &mut out).unwrap_err();
    assert!(e.to_string().contains("--no-range"), "{e}");
}

#[test]
fn an_index_is_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<PwnedIndex>();
}

#[test]
fn a_directory_of_prefix_files_builds_the_same_index_as_one_hash_file() {
    let dir = tempfile::tempdir().unwrap();
    let hibp = dir.path().join("hibp");
    std::fs::create_dir(&hibp).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let mut joined = String::new();
    for (i, prefix) in [0x00000u32, 0x21BD1, 0x5BAA6, 0xFFFFF]
        .into_iter()
        .enumerate()
    {
        let mut lines = Vec::new();
        for _ in 0..500 {
            let h: [u8; 20] = rng.random();
            let suffix = &hex::encode_upper(h)[5..];
            let count = rng.random_range(1..1_000_000);
            lines.push(format!("{suffix}:{count}"));
            writeln!(joined, "{prefix:05X}{suffix}:{count}").unwrap();
        }
        // Both names the downloader uses, both line ends.
        let name = if i % 2 == 0 {
            format!("{prefix:05X}.txt")
        } else {
            format!("{prefix:05x}")
        };
        let end = if i < 2 { "\r\n" } else { "\n" };
        std::fs::write(hibp.join(name), lines.join(end) + end).unwrap();
    }
    std::fs::write(hibp.join("README.md"), "not a prefix file").unwrap();
    let file = dir.path().join("joined.txt");
    std::fs::write(&file, joined).unwrap();

    let a = dir.path().join("a.idx");
    let b = dir.path().join("b.idx");
    let sa = build::build(&options(&hibp, &a, true)).unwrap();
    let sb = build::build(&options(&file, &b, true)).unwrap();
    assert_eq!(
        (sa.format, sb.format),
        (InputFormat::Hibp, InputFormat::HashCount)
    );
    assert_eq!((sa.hashes, sa.malformed), (2000, 0));
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let index = PwnedIndex::open(&a).unwrap();
    assert_eq!(index.bucket_len(0xFFFFF), 500);
    assert_eq!(index.bucket_len(0x12345), 0);
}

/// Random corpora leave buckets nearly empty (1M of them); here a few hold
/// thousands, two uniform and two skewed (their keys crowd the bottom or the
/// top of the key space, so interpolation guesses far off and the gallop, up
/// or down, does the work). 36 random bits stay within the 60 a lookup-only
/// record keeps, so no two keys merge there.
#[test]
fn dense_and_skewed_buckets_answer_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let mut truth = BTreeMap::new();
    let mut text = String::new();
    for (prefix, skew, ones) in [
        (0x00000u32, 0u32, false),
        (0x21BD1, 0, false),
        (0x5BAA6, 24, false),
        (0xFFFFF, 24, true),
    ] {
        for _ in 0..4000 {
            let mut h: [u8; 20] = rng.random();
            h[0] = (prefix >> 12) as u8;
            h[1] = (prefix >> 4) as u8;
            h[2] = ((prefix as u8) << 4) | (h[2] & 0x0F);
            // Skew: clear (or set) the `skew` bits after the prefix.
            for bit in 20..20 + skew as usize {
                if ones {
                    h[bit / 8] |= 0x80 >> (bit % 8);
                } else {
                    h[bit / 8] &= !(0x80 >> (bit % 8));
                }
            }
            let count = rng.random_range(1..10_000);
            *truth.entry(h).or_insert(0u32) += count;
            writeln!(text, "{}:{count}", hex::encode(h)).unwrap();
        }
    }
    let input = dir.path().join("dense.txt");
    std::fs::write(&input, text).unwrap();
    for range in [true, false] {
        let output = dir.path().join(format!("dense-{range}"));
        build::build(&options(&input, &output, range)).unwrap();
        let index = PwnedIndex::open(&output).unwrap();
        assert_eq!(index.bucket_len(0x5BAA6), 4000);
        for (h, &count) in &truth {
            assert_eq!(index.lookup(h), Some(bucketed(count)), "{}", hex::encode(h));
            // Neighbours in the last kept bit, both ways, are absent.
            let mut n = *h;
            let (byte, bit) = if range { (19, 0x01) } else { (9, 0x01) };
            n[byte] ^= bit;
            if !truth.contains_key(&n) {
                assert_eq!(index.lookup(&n), None, "{}", hex::encode(n));
            }
        }
        // Random keys in the dense buckets, below and above every stored one too.
        for prefix in [0x00000u32, 0x5BAA6, 0xFFFFF] {
            for fill in [0x00u8, 0xFF] {
                let mut h = [fill; 20];
                h[0] = (prefix >> 12) as u8;
                h[1] = (prefix >> 4) as u8;
                h[2] = ((prefix as u8) << 4) | (fill & 0x0F);
                assert_eq!(index.lookup(&h), None, "{}", hex::encode(h));
            }
        }
    }
}
