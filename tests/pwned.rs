//! The breach-corpus index end to end: `palisade pwned build` (the real
//! binary) on the NCSC top-100k password list and the HIBP range example from
//! `../shared/data` (SKIPs loudly without it), read back through the library;
//! and every broken input we know of, each a clear error and never a panic.

mod support;

use palisade::enrich::pwned::{PwnedError, PwnedIndex};
use rand::{Rng, SeedableRng};
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file of `../shared/data/passwords`, or None after a SKIP line.
fn data(test: &str, name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/passwords")
        .join(name);
    if !p.exists() {
        eprintln!("SKIP: {test}: {} not found", p.display());
        return None;
    }
    Some(p)
}

/// `palisade pwned build ARGS`, without the environment's `PALISADE_*`.
fn palisade_build(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_palisade"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PALISADE_") {
            c.env_remove(k);
        }
    }
    c.args(["pwned", "build"]).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn sha1(s: &[u8]) -> [u8; 20] {
    Sha1::digest(s).into()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_ncsc_password_is_found_and_random_strong_ones_are_not() {
    let Some(list) = data("every_ncsc_password_is_found", "ncsc-top-100k.txt") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<Vec<u8>> = std::fs::read(&list)
        .unwrap()
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
        .filter(|l| !l.is_empty())
        .collect();
    let distinct = lines.iter().collect::<std::collections::HashSet<_>>().len();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    const ALPHABET: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&*+-=?@^_~";
    let strong: Vec<[u8; 20]> = (0..100_000)
        .map(|_| {
            let pw: Vec<u8> = (0..20)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                .collect();
            sha1(&pw)
        })
        .collect();

    for range in [true, false] {
        let index_path = dir.path().join(format!("ncsc-{range}.idx"));
        let mut args = vec![
            "--input",
            path_str(&list),
            "--output",
            path_str(&index_path),
        ];
        if !range {
            args.push("--no-range");
        }
        let out = palisade_build(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let summary = text(&out.stdout);
        assert!(summary.contains("(passwords)"), "{summary}");
        assert!(
            summary.contains(&format!("{distinct} hashes written")),
            "{summary}"
        );
        assert!(
            summary.contains(&format!("{} duplicates merged", lines.len() - distinct)),
            "{summary}"
        );

        let index = PwnedIndex::open(&index_path).unwrap();
        assert_eq!(index.len(), distinct as u64);
        assert_eq!(index.has_range(), range);
        for pw in [&b"password"[..], b"123456"] {
            assert!(index.lookup(&sha1(pw)).is_some(), "{pw:?} not found");
        }
        for (i, pw) in lines.iter().enumerate() {
            assert!(
                index.lookup(&sha1(pw)).is_some(),
                "line {} ({:?}) not found",
                i + 1,
                text(pw)
            );
        }
        let false_positives = strong.iter().filter(|h| index.lookup(h).is_some()).count();
        eprintln!(
            "{}: {false_positives} false positives among 100000 random strong passwords",
            if range {
                "range index"
            } else {
                "--no-range index"
            }
        );
        // Exact with range; without, about 1e5 * 1e5 / 2^80 = 8e-15 expected, so 0 too.
        assert_eq!(false_positives, 0);
    }
}

#[test]
fn the_hibp_range_example_round_trips_through_write_range() {
    let Some(example) = data(
        "the_hibp_range_example_round_trips",
        "hibp-range-21BD1.example.txt",
    ) else {
        return;
    };
    let content = std::fs::read_to_string(&example).unwrap();
    let expected: String = content.lines().map(|l| format!("{l}\r\n")).collect();
    let dir = tempfile::tempdir().unwrap();

    // The downloader's directory, a file per prefix; then the same lines
    // concatenated with their prefix restored, as one file.
    let hibp = dir.path().join("hibp");
    std::fs::create_dir(&hibp).unwrap();
    std::fs::write(hibp.join("21BD1"), content.replace('\n', "\r\n")).unwrap();
    let joined = dir.path().join("pwned-passwords-sha1.txt");
    let with_prefix: String = content.lines().map(|l| format!("21BD1{l}\n")).collect();
    std::fs::write(&joined, with_prefix).unwrap();

    for (input, format) in [(&hibp, "(hibp)"), (&joined, "(hash-count)")] {
        let index_path = dir.path().join("range.idx");
        let out = palisade_build(&[
            "--input",
            path_str(input),
            "--output",
            path_str(&index_path),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains(format), "{}", text(&out.stdout));
        let index = PwnedIndex::open(&index_path).unwrap();
        let mut out = Vec::new();
        let n = index.write_range(0x21BD1, &mut out).unwrap();
        assert_eq!(n, content.lines().count());
        // Counts below 2048 are stored exactly, so the lines come back as they were.
        assert_eq!(text(&out), expected);
        let first = content.lines().next().unwrap();
        let (suffix, count) = first.split_once(':').unwrap();
        let h: [u8; 20] = hex::decode(format!("21BD1{suffix}"))
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(index.lookup(&h), Some(count.parse().unwrap()));
    }
}

/// A small valid index, its bytes, and where it lives.
fn small_index(dir: &Path) -> (PathBuf, Vec<u8>) {
    let lines: String = (0..1000)
        .map(|i: u32| format!("{}:{}\n", hex::encode(sha1(&i.to_le_bytes())), i + 1))
        .collect();
    let output = support::corpus::index(dir, "good", &lines);
    let bytes = std::fs::read(&output).unwrap();
    (output, bytes)
}

/// Writes `bytes` as an index and opens it; the error's message.
fn open_error(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    match PwnedIndex::open(&path) {
        Ok(_) => panic!("{name}: a broken index opened"),
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(name),
                "{name}: the message names the file: {msg}"
            );
            assert!(matches!(e, PwnedError::Index { .. }), "{name}: {e:?}");
            msg
        }
    }
}

#[test]
fn broken_index_files_are_refused_with_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (good, bytes) = small_index(dir.path());
    let index = PwnedIndex::open(&good).unwrap();
    assert_eq!(index.len(), 1000);
    index.verify().unwrap();
    assert!(index.describe().contains("1000 hashes, with range"));
    let d = dir.path();

    for (name, cut) in [
        ("cut-body", bytes.len() - 7),
        ("cut-table", 5000),
        ("cut-header", 20),
        ("empty", 0),
    ] {
        let msg = open_error(d, name, &bytes[..cut]);
        assert!(msg.contains("truncated"), "{name}: {msg}");
    }
    let mut longer = bytes.clone();
    longer.extend_from_slice(b"junk");
    assert!(open_error(d, "longer", &longer).contains("4 bytes after the last record"));

    let mut foreign = bytes.clone();
    foreign[..8].copy_from_slice(b"SQLite f");
    assert!(open_error(d, "foreign", &foreign).contains("not a breach-corpus index"));
    let text_file = b"5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:3\n".repeat(3000);
    assert!(open_error(d, "text", &text_file).contains("not a breach-corpus index"));

    let mut future = bytes.clone();
    future[8..12].copy_from_slice(&2u32.to_le_bytes());
    let msg = open_error(d, "future", &future);
    assert!(msg.contains("format version 2"), "{msg}");

    // A flipped byte in the header's count, and in the prefix table.
    for (name, at) in [("flip-count", 16), ("flip-table", 64 + 8 * 0x12345 + 1)] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x40;
        let msg = open_error(d, name, &flipped);
        assert!(msg.contains("checksum mismatch"), "{name}: {msg}");
    }
    // A flipped body byte passes open (not hashed there) but not verify.
    let mut body = bytes.clone();
    let last = body.len() - 3;
    body[last] ^= 1;
    let path = d.join("flip-body");
    std::fs::write(&path, &body).unwrap();
    let e = PwnedIndex::open(&path).unwrap().verify().unwrap_err();
    assert!(e.to_string().contains("body checksum mismatch"), "{e}");
}

#[test]
fn malformed_corpus_lines_are_reported_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("corpus.txt");
    let good = |i: u32| format!("{}:{}", hex::encode_upper(sha1(&i.to_le_bytes())), i + 1);
    let mut lines: Vec<String> = (0..100).map(good).collect();
    lines[9] = "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD:2".into(); // 39 hex
    lines[49] = format!("{}:many", &good(49)[..40]);
    lines[69] = format!("{}Z:1", &good(69)[..39]);
    std::fs::write(&input, lines.join("\n")).unwrap();
    let output = dir.path().join("out.idx");
    let args = ["--input", path_str(&input), "--output", path_str(&output)];

    let out = palisade_build(&args);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    for (line, what) in [
        (
            10,
            "expected 40 hex digits before the colon, found 39 characters",
        ),
        (50, "count is not a decimal number"),
        (70, "not a hexadecimal hash"),
    ] {
        let want = format!("{}:{line}: {what}", input.display());
        assert!(stderr.contains(&want), "{want} not in {stderr}");
    }
    assert!(stdout.contains("97 hashes written"), "{stdout}");
    assert!(stdout.contains("3 malformed lines skipped"), "{stdout}");
    assert_eq!(PwnedIndex::open(&output).unwrap().len(), 97);

    let ceiling = [&args[..], &["--max-malformed", "2"]].concat();
    let out = palisade_build(&ceiling);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(
            "more than 2 malformed lines (the --max-malformed ceiling), stopped at line 70"
        ),
        "{}",
        text(&out.stderr)
    );

    // Past 20, malformed lines are counted, not printed.
    let many: String = (0..50)
        .map(|i| format!("{i:040}:x\n{}\n", good(i)))
        .collect();
    std::fs::write(&input, many).unwrap();
    let out = palisade_build(&args);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stderr.matches("count is not a decimal number").count(),
        20,
        "{stderr}"
    );
    assert!(
        stderr.contains("30 more malformed lines not shown"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("50 malformed lines skipped"));
}

#[test]
fn empty_or_unreadable_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.idx");
    let empty = dir.path().join("empty.txt");
    let blank = dir.path().join("blank.txt");
    let hibp_dir = dir.path().join("hibp");
    std::fs::write(&empty, "").unwrap();
    std::fs::write(&blank, "\n\r\n\n").unwrap();
    std::fs::create_dir(&hibp_dir).unwrap();
    for input in [&empty, &blank, &hibp_dir] {
        let out = palisade_build(&["--input", path_str(input), "--output", path_str(&output)]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{stderr}");
        assert!(
            stderr.contains("no hashes found (an index of nothing is refused)"),
            "{stderr}"
        );
        assert!(stderr.contains(path_str(input)), "{stderr}");
        assert!(!output.exists(), "no index is left behind");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A directory as a password list makes no sense; a missing input is IO.
    let out = palisade_build(&[
        "--input",
        path_str(&hibp_dir),
        "--output",
        path_str(&output),
        "--format",
        "passwords",
    ]);
    assert_eq!(out.status.code(), Some(64));
    assert!(text(&out.stderr).contains("a directory is read as HIBP prefix files"));
    let missing = dir.path().join("missing.txt");
    let out = palisade_build(&["--input", path_str(&missing), "--output", path_str(&output)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing.txt"));
    // Nothing but the (missing) index: no run or temporary files left.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("out.idx"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
