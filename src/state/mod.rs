//! What earlier events taught: per-user profiles, keyed leaky buckets, the
//! global frequencies the risk model compares a user against, fraud marks from
//! feedback, and the recent events of each user. Every structure here is
//! bounded (a cap and an age) and sized in bytes for the metrics.

pub mod checkpoint;
pub mod fraud;
pub mod frequency;
pub mod history;
pub mod index;
pub mod journal;
pub mod keyed;
pub mod limiter;
pub mod prefilter;
pub mod profile;
pub mod recent_ids;
pub mod sources;

/// Entries a structure let go since the process started (not saved in
/// checkpoints), by why: to stay within its cap, or because they aged out
/// (idle past the structure's horizon, or expired). Cap evictions in a
/// steady stream mean the cap is what bounds the structure: under an attack,
/// expected; in quiet times, a cap set too low.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Evictions {
    pub cap: u64,
    pub age: u64,
}

impl std::ops::AddAssign for Evictions {
    fn add_assign(&mut self, other: Evictions) {
        self.cap += other.cap;
        self.age += other.age;
    }
}

/// Creates a folder of the data directory (and its parents) readable by
/// the owner only (0700 on Unix): checkpoints and the journal hold user
/// names, addresses and user agents. An existing folder is narrowed to
/// 0700 too, and so is the folder above it when that is the data
/// directory Palisade made.
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Creates (or truncates) a file only its owner can read (0600 on Unix).
pub fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
}

/// `map.retain(keep)`, returning how many entries it dropped.
pub fn retain_counted<K, V, S>(
    map: &mut std::collections::HashMap<K, V, S>,
    keep: impl FnMut(&K, &mut V) -> bool,
) -> u64 {
    let before = map.len();
    map.retain(keep);
    (before - map.len()) as u64
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &std::path::Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_data_folders_and_files_are_the_owners_only() {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        super::private_dir(&data.join("journal")).unwrap();
        assert_eq!((mode(&data), mode(&data.join("journal"))), (0o700, 0o700));
        // An existing folder is narrowed.
        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        super::private_dir(&open).unwrap();
        assert_eq!(mode(&open), 0o700);
        let f = data.join("checkpoint.tmp");
        super::create_private(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
    }
}
