//! The corpus as it comes: which files, which format, and each line's hash.

// Hex digit values: the event parser's table.
use super::super::PwnedError;
use crate::event::{HEX, NOT_HEX as BAD};
use sha1::{Digest, Sha1};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How the input's lines are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// Detect: a directory is HIBP's; a file whose sampled lines are mostly
    /// hashes is `hash-count` (or `hibp` when named by a prefix and holding
    /// suffixes); anything else is a password list.
    Auto,
    /// The HIBP downloader's output: a directory of files named by 5-hex
    /// prefix (`21BD1` or `21BD1.txt`) of `SUFFIX:COUNT` lines, or one file of
    /// `HASH:COUNT` lines.
    Hibp,
    /// `HASH:COUNT` (or bare `HASH`, count 1) lines, 40 hex, sorted or not.
    HashCount,
    /// One password per line, hashed with SHA-1; count 1 per line.
    Passwords,
}

impl std::fmt::Display for InputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InputFormat::Auto => "auto",
            InputFormat::Hibp => "hibp",
            InputFormat::HashCount => "hash-count",
            InputFormat::Passwords => "passwords",
        })
    }
}

/// One file to read, with the prefix its name gives (HIBP range files).
pub struct Source {
    pub path: PathBuf,
    pub prefix: Option<u32>,
    pub len: u64,
}

/// The files of an input (a file, or a directory of prefix files, in prefix
/// order) and their format, detected when `Auto`. Warnings (skipped files)
/// go to `warn`.
pub fn sources(
    input: &Path,
    format: InputFormat,
    warn: &mut dyn FnMut(String),
) -> Result<(Vec<Source>, InputFormat), PwnedError> {
    let io = |source| PwnedError::Io {
        path: input.to_path_buf(),
        source,
    };
    let meta = fs::metadata(input).map_err(io)?;
    if !meta.is_dir() {
        let source = Source {
            path: input.to_path_buf(),
            prefix: name_prefix(input),
            len: meta.len(),
        };
        let format = match format {
            InputFormat::Auto => detect(&source)?,
            f => f,
        };
        return Ok((vec![source], format));
    }
    if !matches!(format, InputFormat::Auto | InputFormat::Hibp) {
        return Err(PwnedError::Input {
            path: input.to_path_buf(),
            what: format!("a directory is read as HIBP prefix files, not as {format}"),
        });
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(input).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        match name_prefix(&path) {
            Some(p) if entry.file_type().map_err(io)?.is_file() => {
                let len = entry.metadata().map_err(io)?.len();
                files.push(Source {
                    path,
                    prefix: Some(p),
                    len,
                });
            }
            _ => warn(format!(
                "{}: skipped, not a file named by a 5-hex prefix",
                path.display()
            )),
        }
    }
    files.sort_by_key(|s| s.prefix);
    if let Some(w) = files.windows(2).find(|w| w[0].prefix == w[1].prefix) {
        return Err(PwnedError::Input {
            path: input.to_path_buf(),
            what: format!(
                "{} and {} hold the same prefix",
                w[0].path.display(),
                w[1].path.display()
            ),
        });
    }
    Ok((files, InputFormat::Hibp))
}

/// The prefix of a file named `21BD1` or `21BD1.txt`.
fn name_prefix(path: &Path) -> Option<u32> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_suffix(".txt").unwrap_or(name);
    let b = stem.as_bytes();
    if b.len() != 5 {
        return None;
    }
    b.iter()
        .try_fold(0u32, |acc, &c| Some((acc << 4) | nibble(c)? as u32))
}

/// Sniffs the first lines (up to 64 KiB, 100 lines): a majority of lines
/// shaped like hash lines makes a hash file. A majority, not all, so a few
/// stray lines at the top of a 40 GB corpus do not turn it into a password
/// list; a password list of mostly 40-hex lines is a hash list anyway (force
/// `--format passwords` for one).
fn detect(source: &Source) -> Result<InputFormat, PwnedError> {
    let mut head = Vec::with_capacity(1 << 16);
    fs::File::open(&source.path)
        .and_then(|f| f.take(1 << 16).read_to_end(&mut head))
        .map_err(|e| PwnedError::Io {
            path: source.path.clone(),
            source: e,
        })?;
    let (mut lines, mut full, mut suffixes) = (0, 0, 0);
    // The last piece may be a cut-off line: only whole lines count.
    let whole = head.len() < 1 << 16;
    let mut pieces: Vec<&[u8]> = head.split(|&b| b == b'\n').collect();
    if !whole {
        pieces.pop();
    }
    for line in pieces.into_iter().filter(|l| !trim(l).is_empty()).take(100) {
        lines += 1;
        if hash_shaped(line, 40) {
            full += 1;
        } else if source.prefix.is_some() && hash_shaped(line, 35) {
            suffixes += 1;
        }
    }
    Ok(if full * 2 > lines {
        InputFormat::HashCount
    } else if suffixes * 2 > lines {
        InputFormat::Hibp
    } else {
        InputFormat::Passwords
    })
}

/// `digits` hex digits, then the end or a colon: a hash line, if perhaps one
/// with a bad count. Detection goes by shape, so the lines that break a hash
/// file are reported as malformed rather than hashed as passwords.
fn hash_shaped(line: &[u8], digits: usize) -> bool {
    let line = trim(line);
    line.len() >= digits
        && line[..digits].iter().all(|&c| HEX[c as usize] != BAD)
        && (line.len() == digits || line[digits] == b':')
}

/// A line without its terminator and trailing blanks.
pub fn trim(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && matches!(line[end - 1], b'\n' | b'\r' | b' ' | b'\t') {
        end -= 1;
    }
    &line[..end]
}

#[inline]
fn nibble(c: u8) -> Option<u8> {
    let v = HEX[c as usize];
    (v != BAD).then_some(v)
}

/// `HASH[:COUNT]` (40 hex), or with a file prefix `SUFFIX[:COUNT]` (35 hex).
/// The error says what is wrong, for the malformed-line report.
#[inline]
pub fn parse_hash_line(line: &[u8], prefix: Option<u32>) -> Result<([u8; 20], u32), String> {
    let line = trim(line);
    let colon = memchr::memchr(b':', line);
    let hex = &line[..colon.unwrap_or(line.len())];
    let mut h = [0u8; 20];
    let mut bad = 0u8;
    match (hex.len(), prefix) {
        (40, _) => {
            for (i, b) in h.iter_mut().enumerate() {
                let (a, c) = (HEX[hex[2 * i] as usize], HEX[hex[2 * i + 1] as usize]);
                bad |= a | c;
                *b = (a << 4) | (c & 15);
            }
        }
        (35, Some(p)) => {
            // Nibble j of the hash: the prefix's five, then the suffix's.
            let nib = |j: usize| -> u8 {
                if j < 5 {
                    ((p >> (4 * (4 - j))) & 15) as u8
                } else {
                    HEX[hex[j - 5] as usize]
                }
            };
            for (i, b) in h.iter_mut().enumerate() {
                let (a, c) = (nib(2 * i), nib(2 * i + 1));
                bad |= a | c;
                *b = (a << 4) | (c & 15);
            }
        }
        (n, _) => {
            let want = if prefix.is_some() {
                "35 hex digits (or 40)"
            } else {
                "40 hex digits"
            };
            return Err(format!(
                "expected {want} before the colon, found {n} characters"
            ));
        }
    }
    if bad & 0xF0 != 0 {
        return Err("not a hexadecimal hash".into());
    }
    let count = match colon {
        None => 1,
        Some(c) => parse_count(&line[c + 1..])?,
    };
    Ok((h, count))
}

/// A decimal count of at least 1; saturates at u32::MAX.
fn parse_count(digits: &[u8]) -> Result<u32, String> {
    if digits.is_empty() || digits.len() > 20 {
        return Err("count is missing or too long".into());
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err("count is not a decimal number".into());
        }
        n = n.saturating_mul(10).saturating_add((d - b'0') as u64);
    }
    if n == 0 {
        return Err("count is 0".into());
    }
    Ok(n.min(u32::MAX as u64) as u32)
}

/// A password line's SHA-1: the bytes before the line terminator (`\n` or
/// `\r\n`), trailing spaces kept, as HIBP hashes them.
#[inline]
pub fn hash_password(line: &[u8]) -> Option<[u8; 20]> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return None;
    }
    Some(Sha1::digest(line).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_lines_parse_in_both_shapes_and_bad_ones_say_why() {
        let full = "21BD10018A45C4D1DEF81644B54AB7F969B88D65";
        let (h, c) = parse_hash_line(format!("{full}:7\r\n").as_bytes(), None).unwrap();
        assert_eq!(hex::encode_upper(h), full);
        assert_eq!(c, 7);
        let (h2, c2) = parse_hash_line(&full.as_bytes()[5..], Some(0x21BD1)).unwrap();
        assert_eq!((h2, c2), (h, 1));
        let lower = full.to_ascii_lowercase();
        assert_eq!(parse_hash_line(lower.as_bytes(), None).unwrap().0, h);
        for (bad, why) in [
            (format!("{full}:"), "missing"),
            (format!("{full}:x1"), "not a decimal"),
            (format!("{full}:0"), "is 0"),
            (format!("{}G:1", &full[..39]), "not a hexadecimal"),
            (full[5..].to_string(), "40 hex digits"),
            ("password".into(), "found 8"),
        ] {
            let e = parse_hash_line(bad.as_bytes(), None).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert_eq!(
            parse_hash_line(format!("{full}:99999999999").as_bytes(), None)
                .unwrap()
                .1,
            u32::MAX
        );
    }

    #[test]
    fn passwords_hash_without_their_line_end() {
        let want = Sha1::digest(b"password");
        assert_eq!(hash_password(b"password\r\n").unwrap()[..], want[..]);
        assert_eq!(hash_password(b"password").unwrap()[..], want[..]);
        assert_ne!(hash_password(b"password \n").unwrap()[..], want[..]);
        assert_eq!(hash_password(b"\n"), None);
    }

    #[test]
    fn prefix_names() {
        assert_eq!(name_prefix(Path::new("/x/21BD1")), Some(0x21BD1));
        assert_eq!(name_prefix(Path::new("21bd1.txt")), Some(0x21BD1));
        assert_eq!(name_prefix(Path::new("21BD1.csv")), None);
        assert_eq!(name_prefix(Path::new("README")), None);
    }
}
