//! A problem found while loading configuration, rules or models: the file, the
//! line when known, and what is wrong. Loaders collect every problem before
//! giving up, so `palisade check` can report them all at once.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn new(file: &Path, line: Option<usize>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// A problem with `key` in `source`, located at the line that sets the key.
    pub fn at_key(file: &Path, source: &str, key: &str, message: impl Into<String>) -> Problem {
        Problem::new(file, line_of_key(source, key), message)
    }

    /// A problem with `key` inside the TOML table `[section]`, located at the
    /// line that sets it there (else at the table's header).
    pub fn at_section_key(
        file: &Path,
        source: &str,
        section: &str,
        key: &str,
        message: impl Into<String>,
    ) -> Problem {
        let header = format!("[{section}]");
        let lines: Vec<&str> = source.lines().collect();
        let line = lines.iter().position(|l| l.trim() == header).map(|start| {
            let within = lines[start + 1..]
                .iter()
                .take_while(|l| !l.trim_start().starts_with('['));
            let offset = within.clone().position(|l| line_of_key(l, key).is_some());
            start + 1 + offset.map_or(0, |o| o + 1)
        });
        Problem::new(file, line, message)
    }

    /// A TOML syntax or shape error, with the line toml reports.
    pub fn from_toml(file: &Path, source: &str, err: &toml::de::Error) -> Problem {
        let line = err
            .span()
            .map(|s| source[..s.start.min(source.len())].matches('\n').count() + 1);
        // toml's messages may run over several lines; one problem, one line.
        let message = err
            .message()
            .trim()
            .lines()
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(": ");
        Problem::new(file, line, message)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}: {}", self.file.display(), l, self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Problems of a whole load, displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// The first line that assigns `key` (`key = …`, possibly dotted or quoted),
/// 1-based. Semantic errors found after decoding point there.
pub fn line_of_key(source: &str, key: &str) -> Option<usize> {
    source
        .lines()
        .position(|l| {
            let l = l.trim_start();
            let rest = l
                .strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")));
            rest.is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_that_sets_a_key() {
        let src = "id = \"x\"\n[bucket]\n  capacity = 0\ncapacity_note = 1\n";
        assert_eq!(line_of_key(src, "capacity"), Some(3));
        assert_eq!(line_of_key(src, "missing"), None);
    }

    #[test]
    fn finds_a_key_inside_its_table() {
        let src = "[a]\nscore = 1\n[b]\nx = 2\nscore = 3\n[c]\n";
        let p = Problem::at_section_key(Path::new("m.toml"), src, "b", "score", "bad");
        assert_eq!(p.line, Some(5));
        let p = Problem::at_section_key(Path::new("m.toml"), src, "c", "score", "bad");
        assert_eq!(p.line, Some(6), "no key: the table's header");
    }

    #[test]
    fn toml_errors_carry_their_line() {
        let src = "a = 1\nb = \n";
        let err = toml::from_str::<toml::Value>(src).unwrap_err();
        let p = Problem::from_toml(Path::new("x.toml"), src, &err);
        assert_eq!(p.line, Some(2), "{p}");
    }
}
