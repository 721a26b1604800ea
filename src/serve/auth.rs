//! API keys: bearer tokens compared in constant time, several at once so keys
//! can be rotated without downtime.

use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

pub use crate::config::server::{check_key, MIN_KEY_CHARS};

/// The accepted keys, kept only as digests: comparing digests of equal length
/// leaks neither a key's bytes nor its length through timing.
#[derive(Clone)]
pub struct ApiKeys {
    digests: Vec<[u8; 20]>,
}

impl ApiKeys {
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> ApiKeys {
        ApiKeys {
            digests: keys.into_iter().map(digest).collect(),
        }
    }

    /// Whether `presented` is one of the keys. Every key is compared, so the
    /// time taken does not say which one matched.
    pub fn accepts(&self, presented: &str) -> bool {
        let d = digest(presented);
        self.digests
            .iter()
            .fold(subtle::Choice::from(0), |found, k| found | k.ct_eq(&d))
            .into()
    }

    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }
}

fn digest(key: &str) -> [u8; 20] {
    Sha1::digest(key.as_bytes()).into()
}

/// Where the keys came from, for the start-up line (never the keys).
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    Configured { count: usize },
    Created(PathBuf),
    Existing(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Configured { count } => write!(
                f,
                "{count} API key{} configured",
                if *count == 1 { "" } else { "s" }
            ),
            KeySource::Created(p) => write!(f, "API key created in {}", p.display()),
            KeySource::Existing(p) => write!(f, "API key from {}", p.display()),
        }
    }
}

/// Name of the key file `serve` keeps in the data folder when none is configured.
pub const KEY_FILE: &str = "api-key";

/// The keys from the config, a keys file and the environment; with none at
/// all, the key in the data folder (created on first start).
pub fn load(
    configured: &[String],
    file: Option<&Path>,
    data_dir: &Path,
) -> Result<(ApiKeys, KeySource), String> {
    match find(configured, file, data_dir).map_err(|mut e| e.swap_remove(0))? {
        Found::Keys(keys, source) => Ok((ApiKeys::new(keys.iter().map(String::as_str)), source)),
        Found::ToCreate(path) => {
            let k = new_key()?;
            write_private(&path, &k)
                .map_err(|e| format!("cannot create the API key file {}: {e}", path.display()))?;
            Ok((ApiKeys::new([k.as_str()]), KeySource::Created(path)))
        }
    }
}

/// The first of the keys [`load`] finds (for a replica calling its peer),
/// if there are keys yet.
pub fn first_key(configured: &[String], file: Option<&Path>, data_dir: &Path) -> Option<String> {
    match find(configured, file, data_dir).ok()? {
        Found::Keys(keys, _) => keys.into_iter().next(),
        Found::ToCreate(_) => None,
    }
}

/// Every problem [`load`] would stop at, creating nothing: what `palisade
/// check` reports, so that it fails whenever `serve` would.
pub fn problems(configured: &[String], file: Option<&Path>, data_dir: &Path) -> Vec<String> {
    match find(configured, file, data_dir) {
        Ok(Found::Keys(..)) => Vec::new(),
        Ok(Found::ToCreate(path)) => match path.parent().map(creatable) {
            Some(Err(e)) => vec![format!(
                "cannot create the API key file {}: {e}",
                path.display()
            )],
            _ => Vec::new(),
        },
        Err(problems) => problems,
    }
}

/// Whether a folder exists as one, or could be made: its nearest existing
/// ancestor is a folder.
fn creatable(dir: &Path) -> Result<(), String> {
    let mut at = Some(dir);
    while let Some(d) = at {
        match std::fs::metadata(d) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) => return Err(format!("{} is not a folder", d.display())),
            Err(_) => at = d.parent().filter(|p| !p.as_os_str().is_empty()),
        }
    }
    Ok(())
}

enum Found {
    Keys(Vec<String>, KeySource),
    /// No key anywhere: one is made at this path.
    ToCreate(PathBuf),
}

/// The keys from the config and the keys file, else the one in the data
/// folder; every problem on the way.
fn find(configured: &[String], file: Option<&Path>, data_dir: &Path) -> Result<Found, Vec<String>> {
    let mut keys: Vec<String> = configured.to_vec();
    let mut problems = Vec::new();
    if let Some(f) = file {
        match std::fs::read_to_string(f) {
            Err(e) => problems.push(format!(
                "cannot read the API keys file {}: {e}",
                f.display()
            )),
            Ok(text) => {
                for (i, line) in text.lines().enumerate() {
                    let k = line.split('#').next().unwrap_or("").trim();
                    if k.is_empty() {
                        continue;
                    }
                    match check_key(k) {
                        Ok(()) => keys.push(k.to_string()),
                        Err(e) => problems.push(format!("{}:{}: {e}", f.display(), i + 1)),
                    }
                }
                if keys.is_empty() && problems.is_empty() {
                    problems.push(format!(
                        "the API keys file {} holds no key (one per line, # comments)",
                        f.display()
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    if !keys.is_empty() {
        let source = KeySource::Configured { count: keys.len() };
        return Ok(Found::Keys(keys, source));
    }
    let path = data_dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let k = text.trim();
            check_key(k).map_err(|e| vec![format!("{}: {e}", path.display())])?;
            Ok(Found::Keys(vec![k.to_string()], KeySource::Existing(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Found::ToCreate(path)),
        Err(e) => Err(vec![format!("cannot read {}: {e}", path.display())]),
    }
}

/// 32 random bytes from the operating system, as hex with a recognisable prefix.
fn new_key() -> Result<String, String> {
    use rand_core::{OsRng, TryRngCore};
    let mut bytes = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| format!("no randomness for a new API key: {e}"))?;
    Ok(format!("pal_{}", hex::encode(bytes)))
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        crate::state::private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_configured_key_and_nothing_else() {
        let keys = ApiKeys::new(["old-key-0123456789", "new-key-0123456789"]);
        assert!(keys.accepts("old-key-0123456789"));
        assert!(keys.accepts("new-key-0123456789"));
        assert!(!keys.accepts("new-key-012345678"));
        assert!(!keys.accepts(""));
        assert!(!ApiKeys::new([]).accepts("anything-at-all-123"));
    }

    #[test]
    fn short_or_unprintable_keys_are_refused() {
        assert!(check_key("short").unwrap_err().contains("16"));
        assert!(check_key("has a space in it, long").is_err());
        assert!(check_key("pal_0123456789abcdef").is_ok());
    }

    #[test]
    fn a_key_is_created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, source) = load(&[], None, dir.path()).unwrap();
        let path = dir.path().join(KEY_FILE);
        assert_eq!(source, KeySource::Created(path.clone()));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(keys.accepts(text.trim()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, source) = load(&[], None, dir.path()).unwrap();
        assert_eq!(source, KeySource::Existing(path));
        assert!(again.accepts(text.trim()));
    }

    #[test]
    fn configured_keys_and_a_keys_file_win_over_the_data_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("keys");
        std::fs::write(&file, "# rotation\nfile-key-0123456789\n\n").unwrap();
        let (keys, source) =
            load(&["conf-key-0123456789".into()], Some(&file), dir.path()).unwrap();
        assert_eq!(source, KeySource::Configured { count: 2 });
        assert!(keys.accepts("file-key-0123456789") && keys.accepts("conf-key-0123456789"));
        assert!(!dir.path().join(KEY_FILE).exists());
        std::fs::write(&file, "tiny\n").unwrap();
        let e = load(&[], Some(&file), dir.path()).err().unwrap();
        assert!(e.contains(":1:"), "{e}");
    }
}
