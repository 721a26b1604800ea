//! A value typed once, when the file is read.
//!
//! A config file states durations, sizes, addresses, scopes and keys as
//! text. Each is parsed into its type while the file is read, so nothing
//! downstream parses it again; but a bad one does not stop the read the way a
//! serde error would, because `palisade check` lists every bad value of a file
//! in one run. A [`Setting`] holds the parsed value, or, for a bad one, what is
//! wrong with it and a stand-in value (the type's [`FromSetting::fallback`])
//! that is never acted on: a config with a problem does not start anything.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use std::net::SocketAddr;
use std::time::Duration;

/// A type a setting's text (or list of texts) is parsed into.
pub trait FromSetting: Sized {
    /// What the file holds: a string, or a list of strings.
    type Raw: DeserializeOwned;
    /// The value, or what is wrong with the text (without the key's name,
    /// which the section adds).
    fn from_setting(raw: Self::Raw) -> Result<Self, String>;
    /// Stands in for a bad value while the rest of the file is checked.
    fn fallback() -> Self;
}

/// A setting's value, or what is wrong with it; see the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting<T> {
    value: T,
    problem: Option<String>,
}

impl<T> Setting<T> {
    /// A good value (a default, or one set by a flag).
    pub fn new(value: T) -> Setting<T> {
        Setting {
            value,
            problem: None,
        }
    }

    /// The value; for a bad setting, its stand-in.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// The value when it was read well, for range checks that should not
    /// also complain about a stand-in.
    pub fn ok(&self) -> Option<&T> {
        self.problem.is_none().then_some(&self.value)
    }

    /// What is wrong with the text, if anything.
    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }
}

impl<T: Default> Default for Setting<T> {
    fn default() -> Setting<T> {
        Setting::new(T::default())
    }
}

impl<T: Copy> Setting<T> {
    /// The value (a copy); for a bad setting, its stand-in.
    pub fn value(&self) -> T {
        self.value
    }
}

impl<T: FromSetting> Setting<T> {
    /// A value from its text (a flag's, or the file's).
    pub fn parse(raw: T::Raw) -> Setting<T> {
        match T::from_setting(raw) {
            Ok(value) => Setting::new(value),
            Err(problem) => Setting {
                value: T::fallback(),
                problem: Some(problem),
            },
        }
    }
}

impl<'de, T: FromSetting> Deserialize<'de> for Setting<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Setting<T>, D::Error> {
        // A value of the wrong shape (a number for a duration) is no config
        // at all, as serde says; a string that does not parse is a problem.
        T::Raw::deserialize(d).map(Setting::parse)
    }
}

/// Collects a section's problems as `(key, message)`, the message naming
/// `section.key`.
pub(crate) struct SectionProblems {
    section: &'static str,
    pub out: Vec<(&'static str, String)>,
}

impl SectionProblems {
    pub fn new(section: &'static str) -> SectionProblems {
        SectionProblems {
            section,
            out: Vec::new(),
        }
    }

    /// The setting's parse problem, if any.
    pub fn setting<T>(&mut self, key: &'static str, s: &Setting<T>) -> &mut SectionProblems {
        if let Some(p) = s.problem() {
            self.out.push((key, format!("{}.{key}: {p}", self.section)));
        }
        self
    }

    /// A range problem: `message` follows `section.key: `.
    pub fn push(&mut self, key: &'static str, message: impl std::fmt::Display) {
        self.out
            .push((key, format!("{}.{key}: {message}", self.section)));
    }

    /// A count that must be at least 1.
    pub fn at_least_one(&mut self, key: &'static str, v: usize) {
        if v == 0 {
            self.push(key, "must be at least 1, got 0");
        }
    }

    /// A duration that must be at least `min` (zero: more than zero).
    pub fn duration_at_least(
        &mut self,
        key: &'static str,
        s: &Setting<Duration>,
        min: Duration,
    ) -> &mut SectionProblems {
        match s.ok() {
            Some(d) if min.is_zero() && d.is_zero() => self.push(key, "must be more than 0s"),
            Some(d) if *d < min => self.push(
                key,
                format_args!("must be at least {}", humantime::format_duration(min)),
            ),
            _ => {}
        }
        self
    }
}

const DURATIONS: &str = "a duration such as \"500ms\", \"5m\", \"24h\" or \"90d\"";

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("{text:?} is not {DURATIONS} ({e})"))
}

/// A duration such as `"500ms"`, `"5m"`, `"24h"`, `"90d"`.
impl FromSetting for Duration {
    type Raw = String;
    fn from_setting(text: String) -> Result<Duration, String> {
        duration(&text)
    }
    fn fallback() -> Duration {
        Duration::ZERO
    }
}

/// A duration, or `"off"` (`None`); zero is not a duration here.
impl FromSetting for Option<Duration> {
    type Raw = String;
    fn from_setting(text: String) -> Result<Option<Duration>, String> {
        if text.trim() == "off" {
            return Ok(None);
        }
        match humantime::parse_duration(text.trim()) {
            Ok(d) if d.is_zero() => Err("must be more than 0, or \"off\"".to_string()),
            Ok(d) => Ok(Some(d)),
            Err(e) => Err(format!("{text:?} is neither \"off\" nor {DURATIONS} ({e})")),
        }
    }
    fn fallback() -> Option<Duration> {
        None
    }
}

/// A size such as `"2 GiB"` or `"512 MiB"`, more than zero.
impl FromSetting for Option<bytesize::ByteSize> {
    type Raw = String;
    fn from_setting(text: String) -> Result<Option<bytesize::ByteSize>, String> {
        match text.trim().parse::<bytesize::ByteSize>() {
            Ok(b) if b.as_u64() > 0 => Ok(Some(b)),
            Ok(_) => Err("must be more than 0".to_string()),
            Err(e) => Err(format!(
                "{text:?} is not a size such as \"2 GiB\" or \"512 MiB\" ({e})"
            )),
        }
    }
    fn fallback() -> Option<bytesize::ByteSize> {
        None
    }
}

/// An address and port such as `127.0.0.1:8080`.
impl FromSetting for SocketAddr {
    type Raw = String;
    fn from_setting(text: String) -> Result<SocketAddr, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("`{text}` is not an address and port such as 127.0.0.1:8080"))
    }
    fn fallback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 0))
    }
}

impl FromSetting for Option<SocketAddr> {
    type Raw = String;
    fn from_setting(text: String) -> Result<Option<SocketAddr>, String> {
        SocketAddr::from_setting(text).map(Some)
    }
    fn fallback() -> Option<SocketAddr> {
        None
    }
}

/// Addresses and CIDR ranges, IPv4 or IPv6 (a bare address is its own /32 or
/// /128).
impl FromSetting for Vec<ipnet::IpNet> {
    type Raw = Vec<String>;
    fn from_setting(entries: Vec<String>) -> Result<Vec<ipnet::IpNet>, String> {
        super::parse_address_list(&entries)
    }
    fn fallback() -> Vec<ipnet::IpNet> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Sample {
        wait: Setting<Duration>,
        age: Setting<Option<Duration>>,
        budget: Setting<Option<bytesize::ByteSize>>,
        listen: Setting<SocketAddr>,
        nets: Setting<Vec<ipnet::IpNet>>,
    }

    #[test]
    fn good_values_are_typed_and_bad_ones_kept_as_problems() {
        let s: Sample = toml::from_str(
            "wait = \"1m 30s\"\nage = \"off\"\nbudget = \"2 GiB\"\nlisten = \"[::1]:80\"\nnets = [\"10.0.0.0/8\", \"::1\"]\n",
        )
        .unwrap();
        assert_eq!(s.wait.value(), Duration::from_secs(90));
        assert_eq!(s.age.value(), None);
        assert_eq!(s.budget.value().unwrap().as_u64(), 2 << 30);
        assert_eq!(s.listen.value().port(), 80);
        assert_eq!(s.nets.get().len(), 2);
        for field in [&s.wait.problem(), &s.age.problem(), &s.nets.problem()] {
            assert_eq!(*field, None);
        }

        let s: Sample = toml::from_str(
            "wait = \"soon\"\nage = \"0s\"\nbudget = \"lots\"\nlisten = \"localhost\"\nnets = [\"10.0.0.0/8\", \"10.0.0.0/99\"]\n",
        )
        .unwrap();
        assert!(s.wait.problem().unwrap().contains("\"soon\""));
        assert_eq!(s.wait.ok(), None);
        assert_eq!(s.age.problem(), Some("must be more than 0, or \"off\""));
        assert!(s.budget.problem().unwrap().contains("\"lots\""));
        assert_eq!(s.budget.value(), None, "a bad budget stands in as none");
        assert!(s.listen.problem().unwrap().contains("`localhost`"));
        assert!(s.nets.problem().unwrap().contains("10.0.0.0/99"));
        assert!(s.nets.get().is_empty());
    }

    #[test]
    fn a_value_of_the_wrong_shape_is_no_config() {
        let e = toml::from_str::<Sample>("wait = 5\n").unwrap_err();
        assert!(e.to_string().contains("string"), "{e}");
    }
}
