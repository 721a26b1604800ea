//! User names as keys. An attacker who writes one account's name in several
//! Unicode spellings (decomposed accents, fullwidth letters, the Kelvin sign
//! for `k`, a zero-width space) must not get a fresh set of counters for each.
//! Names are put in Unicode NFKC (the Kelvin sign becomes `K`, fullwidth
//! letters ASCII), then mapped as RFC 8265's UsernameCaseMapped profile does
//! (width mapping, lower case, NFC, each space-separated part checked against
//! the PRECIS IdentifierClass), after the default-ignorable code points
//! (zero-width spaces and joiners, soft hyphens, variation selectors, bidi
//! controls) are taken out: invisible, they are an attacker's way to split
//! counters, and refusing them would let their events through undecided
//! where the auth service fails open. A name the profile still disallows (a control
//! character, a symbol outside ASCII) is refused, naming the field.
//!
//! `[users] names = "exact"` keeps names as sent (trimmed and lower-cased),
//! for deployments whose identity provider already normalises them.

use precis_profiles::precis_core::profile::PrecisFastInvocation;
use precis_profiles::UsernameCaseMapped;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use unicode_normalization::UnicodeNormalization;

pub use crate::config::users::{UserNames, UsersConfig};

/// Whether names are kept exact, for the whole process: set once at start
/// from the configuration, before any event is read.
static EXACT: AtomicBool = AtomicBool::new(false);

pub fn set_user_names(names: UserNames) {
    EXACT.store(names == UserNames::Exact, Ordering::Relaxed);
}

/// The name a user's key is made from, in the process's mode; a reason
/// when the profile disallows it.
pub fn key_name(user: &str) -> Result<Cow<'_, str>, String> {
    let names = if EXACT.load(Ordering::Relaxed) {
        UserNames::Exact
    } else {
        UserNames::Precis
    };
    key_name_as(user, names)
}

/// [`key_name`] in a given mode.
pub fn key_name_as(user: &str, names: UserNames) -> Result<Cow<'_, str>, String> {
    let user = user.trim();
    // Printable ASCII without upper case or spaces, the usual name, is
    // already its own key under either mode.
    if is_plain(user.as_bytes()) {
        return Ok(Cow::Borrowed(user));
    }
    if names == UserNames::Exact || user.bytes().all(|b| matches!(b, b' '..=b'~')) {
        if names == UserNames::Precis && user.contains("  ") {
            return Ok(Cow::Owned(join_parts(
                user.split(' ')
                    .map(|p| Ok(Cow::Owned(p.to_ascii_lowercase()))),
            )?));
        }
        return Ok(Cow::Owned(user.to_lowercase()));
    }
    let visible: String = user
        .chars()
        .filter(|&c| !is_default_ignorable(c))
        .nfkc()
        .collect();
    let visible = visible.trim();
    if visible.is_empty() {
        return Err("is empty once its invisible characters are taken out".to_string());
    }
    let parts = visible.split(' ').map(|part| {
        UsernameCaseMapped::enforce(part).map_err(|e| {
            let why = e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            format!("is not a user name RFC 8265 allows ({why}); see [users] names in the README")
        })
    });
    join_parts(parts).map(Cow::Owned)
}

/// Whether every byte is printable ASCII other than upper case and space
/// (`!` to `~` less `A` to `Z`): a name that is its own key. Eight bytes at a
/// time, since every event asks (byte by byte it was 2% of a replay).
fn is_plain(b: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let plain = |c: u8| matches!(c, b'!'..=b'~') && !c.is_ascii_uppercase();
    let mut words = b.chunks_exact(8);
    for w in &mut words {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        if w & HIGH != 0 {
            return false; // not ASCII
        }
        // Every byte is now below 0x80, so the sums below carry into no
        // other byte: a byte's high bit is set when it is below `!` (the
        // first term, as in `scan`), is DEL, or is within `A`..=`Z`.
        let low = w.wrapping_sub(ONES * 0x21) & !w;
        let del = w + ONES;
        let upper = (w + ONES * 0x3f) & !(w + ONES * 0x25);
        if (low | del | upper) & HIGH != 0 {
            return false;
        }
    }
    words.remainder().iter().all(|&c| plain(c))
}

/// The non-empty parts joined by one space each.
fn join_parts<'a>(
    parts: impl Iterator<Item = Result<Cow<'a, str>, String>>,
) -> Result<String, String> {
    let mut out = String::new();
    for p in parts {
        let p = p?;
        if p.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&p);
    }
    Ok(out)
}

/// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt),
/// less the Hangul fillers that are letters in their scripts' names.
fn is_default_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F
        | 0xFE00..=0xFE0F | 0xFEFF | 0xFFF0..=0xFFF8
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// The account a user name means: mapped as RFC 8265's UsernameCaseMapped
/// (see this module), so `Alice`, `alice` and their Unicode
/// spellings are one account. Borrowed when already folded (the usual
/// case: no allocation per event).
pub fn fold_user(user: &str) -> Cow<'_, str> {
    // The decoder refused the names the mapping disallows; one that got
    // here otherwise is folded as before.
    key_name(user).unwrap_or_else(|_| Cow::Owned(user.trim().to_lowercase()))
}

/// Appends an account as text, `TENANT/user` (`/user` without a tenant): the
/// user folded as [`fold_user`], and `%` and `/` in the tenant escaped as `%25`
/// and `%2F` so the first `/` always ends the tenant.
pub fn push_account(out: &mut String, tenant: Option<&str>, user: &str) {
    for c in tenant.unwrap_or("").chars() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            c => out.push(c),
        }
    }
    out.push('/');
    out.push_str(&fold_user(user));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> String {
        key_name_as(s, UserNames::Precis).unwrap().into_owned()
    }

    #[test]
    fn the_word_check_agrees_with_the_byte_check() {
        use proptest::prelude::*;
        let naive = |b: &[u8]| {
            b.iter()
                .all(|&c| matches!(c, b'!'..=b'~') && !c.is_ascii_uppercase())
        };
        // Every edge of the ranges, at every place in and past a word.
        let edges = vec![
            0x00, 0x1f, b' ', b'!', b'@', b'A', b'Z', b'[', b'a', b'z', b'~', 0x7f, 0x80, 0xc3,
            0xff,
        ];
        proptest!(|(bytes in prop::collection::vec(prop::sample::select(edges), 0..40))| {
            prop_assert_eq!(is_plain(&bytes), naive(&bytes), "{:?}", bytes);
        });
        // A run of plain bytes with one edge byte at each place.
        for edge in 0..=255u8 {
            for at in 0..20 {
                let mut b = b"kevin.muller@example".to_vec();
                b[at] = edge;
                assert_eq!(is_plain(&b), naive(&b), "{edge:#x} at {at}");
            }
        }
    }

    #[test]
    fn the_spellings_of_one_name_are_one_key() {
        let one = key("Kevin.Müller@example.com");
        for spelling in [
            "kevin.müller@example.com",
            "kevin.mu\u{308}ller@example.com",  // decomposed ü
            "\u{212A}evin.müller@example.com",  // the Kelvin sign
            "ｋｅｖｉｎ.müller@example.com",    // fullwidth letters
            "kev\u{200B}in.müller@example.com", // a zero-width space
            "kevin.mül\u{AD}ler@example.com",   // a soft hyphen
            "  KEVIN.MÜLLER@EXAMPLE.COM ",
        ] {
            assert_eq!(key(spelling), one, "{spelling:?}");
        }
        assert_eq!(one, "kevin.müller@example.com");
        assert_ne!(
            key("kevin.muller@example.com"),
            one,
            "a different name stays one"
        );
    }

    #[test]
    fn ascii_names_keep_their_old_keys() {
        for (name, want) in [
            ("bob", "bob"),
            ("Bob", "bob"),
            (" bob ", "bob"),
            ("John  Smith", "john smith"),
        ] {
            assert_eq!(key(name), want);
        }
        assert!(matches!(
            key_name_as("alice@example.com", UserNames::Precis),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn names_the_profile_disallows_are_refused_and_exact_mode_keeps_them() {
        for bad in ["bell\u{7}", "\u{200B}", "smile\u{263A}"] {
            let e = key_name_as(bad, UserNames::Precis).unwrap_err();
            assert!(!e.is_empty(), "{bad:?}");
        }
        assert_eq!(
            key_name_as("smile\u{263A}", UserNames::Exact).unwrap(),
            "smile\u{263A}"
        );
        assert_ne!(
            key_name_as("ｋevin", UserNames::Exact).unwrap(),
            key_name_as("kevin", UserNames::Exact).unwrap(),
            "exact keeps spellings apart"
        );
    }
}
