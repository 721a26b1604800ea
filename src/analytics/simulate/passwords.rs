//! Synthetic passwords and their SHA-1s: users' own, the very common ones
//! sprays and brute-forcers try, and the stale ones a breach list holds.
//! Only the hashes leave the generator, as the contract's `password_sha1`.

use super::random::SimRng;
use rand::Rng;
use sha1::{Digest, Sha1};

/// The passwords every spray and brute-force wordlist starts with.
pub(super) const COMMON: &[&str] = &[
    "123456",
    "password",
    "123456789",
    "12345678",
    "12345",
    "qwerty",
    "qwerty123",
    "1q2w3e4r",
    "111111",
    "123123",
    "abc123",
    "password1",
    "1234567",
    "iloveyou",
    "000000",
    "dragon",
    "monkey",
    "letmein",
    "football",
    "welcome",
    "admin",
    "sunshine",
    "princess",
    "Password1",
    "P@ssw0rd",
    "Welcome1",
    "Summer2025!",
    "Winter2025!",
    "1qaz2wsx",
    "qwertyuiop",
];

const WORDS: &[&str] = &[
    "river", "Falcon", "maple", "Orbit", "pepper", "Copper", "lantern", "Nimbus", "tiger",
    "Violet", "harbor", "Quartz", "meadow", "Summit", "pixel", "Cobalt", "saffron", "Granite",
    "willow", "Ember", "cactus", "Juniper", "marble", "Tundra", "walnut", "Zephyr",
];
const SYMBOLS: &[&str] = &["", "", "!", "#", "?", "$", ".", "_"];

/// A user's password: one of [`COMMON`] (some users do pick them), or their
/// own, generated from a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Password {
    Common(u8),
    Own(u64),
}

impl Password {
    pub fn draw(rng: &mut SimRng) -> Password {
        if rng.random::<f64>() < 0.02 {
            Password::Common(rng.random_range(0..COMMON.len()) as u8)
        } else {
            Password::Own(rng.random())
        }
    }

    pub fn text(self) -> String {
        match self {
            Password::Common(i) => COMMON[i as usize].to_string(),
            Password::Own(seed) => own(seed),
        }
    }
}

/// Two words, two digits and maybe a symbol: e.g. `riverCobalt42!`.
fn own(seed: u64) -> String {
    let pick = |shift: u32, n: usize| (seed >> shift) as usize % n;
    format!(
        "{}{}{:02}{}",
        WORDS[pick(0, WORDS.len())],
        WORDS[pick(8, WORDS.len())],
        pick(16, 100),
        SYMBOLS[pick(24, SYMBOLS.len())]
    )
}

pub(super) fn sha1(text: &str) -> [u8; 20] {
    Sha1::digest(text.as_bytes()).into()
}

/// What a slip of the finger turns `text` into: a dropped, doubled or swapped
/// character, or caps lock. Always different from `text`.
pub(super) fn typo(rng: &mut SimRng, text: &str) -> String {
    let mut b: Vec<u8> = text.bytes().collect();
    let i = rng.random_range(0..b.len());
    match rng.random_range(0..4) {
        0 if b.len() > 1 => {
            b.remove(i);
        }
        1 => b.insert(i, b[i]),
        2 if i + 1 < b.len() && b[i] != b[i + 1] => b.swap(i, i + 1),
        _ => b.iter_mut().for_each(|c| {
            *c = if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        }),
    }
    let out = String::from_utf8(b).unwrap_or_default();
    if out == text {
        format!("{text}1") // all digits: caps lock changed nothing
    } else {
        out
    }
}

/// A password from some other site's breach: what a stuffing list pairs with a
/// username when it is not the victim's current password.
pub(super) fn breach(rng: &mut SimRng) -> [u8; 20] {
    if rng.random::<f64>() < 0.2 {
        sha1(COMMON[rng.random_range(0..COMMON.len())])
    } else {
        sha1(&format!("{}{}", own(rng.random()), rng.random_range(0..10)))
    }
}

/// The `n`th guess of a brute-force wordlist: the common passwords first, then
/// variations on them.
pub(super) fn guess(n: usize) -> ([u8; 20], Option<u8>) {
    match COMMON.get(n) {
        Some(p) => (sha1(p), Some(n as u8)),
        None => (
            sha1(&format!("{}{}", COMMON[n % COMMON.len()], n / COMMON.len())),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn known_hash_and_distinct_typos() {
        assert_eq!(
            hex::encode_upper(sha1("password")),
            "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
        );
        let mut rng = SimRng::seed_from_u64(8);
        for _ in 0..500 {
            let p = Password::draw(&mut rng).text();
            assert!(!p.is_empty());
            assert_ne!(typo(&mut rng, &p), p);
        }
        assert_ne!(typo(&mut rng, "123456"), "123456");
    }

    #[test]
    fn guesses_start_with_the_common_list() {
        assert_eq!(guess(1), (sha1("password"), Some(1)));
        assert_eq!(guess(COMMON.len()).1, None);
        assert_ne!(guess(COMMON.len()).0, guess(0).0);
    }
}
