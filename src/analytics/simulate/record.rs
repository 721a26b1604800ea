//! The generator's compact event record, and its rendering as a contract
//! [`Event`] in JSON. A day's traffic is held as records (64 bytes each) and
//! only becomes strings on the way out.

use super::useragents;
use crate::event::{Event, FailureReason, Mfa, Outcome, PasswordSha1, Timestamp};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};

/// Ground truth, the event's `label`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Label {
    Legit,
    CredentialStuffing,
    PasswordSpray,
    BruteForce,
    AccountTakeover,
    ImpossibleTravel,
    UnknownUserBruteForce,
    LowAndSlow,
    RepeatOffender,
    ModerateBruteForce,
    LockoutAbuse,
}

impl Label {
    pub const ALL: [Label; 11] = [
        Label::Legit,
        Label::CredentialStuffing,
        Label::PasswordSpray,
        Label::BruteForce,
        Label::AccountTakeover,
        Label::ImpossibleTravel,
        Label::UnknownUserBruteForce,
        Label::LowAndSlow,
        Label::RepeatOffender,
        Label::ModerateBruteForce,
        Label::LockoutAbuse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Label::Legit => "legit",
            Label::CredentialStuffing => "credential_stuffing",
            Label::PasswordSpray => "password_spray",
            Label::BruteForce => "brute_force",
            Label::AccountTakeover => "account_takeover",
            Label::ImpossibleTravel => "impossible_travel",
            Label::UnknownUserBruteForce => "unknown_user_brute_force",
            Label::LowAndSlow => "low_and_slow",
            Label::RepeatOffender => "repeat_offender",
            Label::ModerateBruteForce => "moderate_brute_force",
            Label::LockoutAbuse => "lockout_abuse",
        }
    }
}

/// Whose account the sign-in names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Who {
    /// The population's user with this index (`user<index>@example.com`).
    Member(u32),
    /// An identifier that matches no account, generated from this seed.
    Stranger(u64),
    /// A name every sign-in form gets tried with and no account here has:
    /// [`DEFAULT_NAMES`]`[i]@example.com`.
    DefaultName(u8),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Rec {
    /// Milliseconds since the epoch.
    pub ts: u64,
    pub who: Who,
    pub ip: u32,
    /// 0: no device id sent.
    pub device: u64,
    pub sha1: [u8; 20],
    /// Index into [`useragents::AGENTS`].
    pub agent: u8,
    pub outcome: Outcome,
    pub failure: Option<FailureReason>,
    pub mfa: Mfa,
    pub label: Label,
}

impl Rec {
    /// A successful sign-in without MFA; callers adjust from there.
    pub fn new(
        ts: u64,
        who: Who,
        ip: u32,
        device: u64,
        sha1: [u8; 20],
        agent: u8,
        label: Label,
    ) -> Rec {
        Rec {
            ts,
            who,
            ip,
            device,
            sha1,
            agent,
            outcome: Outcome::Success,
            failure: None,
            mfa: Mfa::None,
            label,
        }
    }

    pub fn failed(mut self, reason: FailureReason) -> Rec {
        self.outcome = Outcome::Failure;
        self.failure = Some(reason);
        self.mfa = if reason == FailureReason::MfaFailed {
            Mfa::Failed
        } else {
            Mfa::None
        };
        self
    }

    pub fn with_mfa(mut self, mfa: Mfa) -> Rec {
        self.mfa = mfa;
        self
    }

    pub fn at(mut self, ts: u64) -> Rec {
        self.ts = ts;
        self
    }
}

const FIRST: &[&str] = &[
    "james", "maria", "wei", "olga", "ahmed", "sofia", "john", "anna", "raj", "lena", "carlos",
    "emma", "yuki", "ivan", "fatima", "lucas",
];
const LAST: &[&str] = &[
    "smith", "garcia", "wang", "ivanova", "khan", "rossi", "brown", "muller", "patel", "novak",
    "silva", "martin", "sato", "petrov", "ali", "jones",
];
const DOMAINS: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "mail.ru",
    "example.com",
];

/// Names scanners try on any sign-in form (`admin` far the most), and the
/// look-alikes they try next. None is `user` and a number, a member's name.
pub(super) const DEFAULT_NAMES: &[&str] = &[
    "admin",
    "root",
    "administrator",
    "test",
    "guest",
    "oracle",
    "user",
    "support",
    "info",
    "postgres",
    "ubuntu",
    "demo",
    "sa",
    "mysql",
    "webmaster",
    "operator",
    "backup",
    "admin1",
    "adm1n",
    "Admin",
    "admin.admin",
    "r00t",
    "root1",
    "test1",
    "testuser",
    "guest1",
    "sysadmin",
];

/// The identifier a stranger record names: either one that looks like a
/// member's but is past the end of the population (enumeration), or an address
/// from some other site's breach.
fn stranger(seed: u64, users: u32, out: &mut String) {
    let n = (seed >> 8) as usize;
    if seed % 10 < 4 {
        let past = u64::from(users) + (seed >> 16) % (2 * u64::from(users) + 100);
        let _ = write!(out, "user{past}@example.com");
    } else {
        let (f, l) = (FIRST[n % FIRST.len()], LAST[(n >> 4) % LAST.len()]);
        let d = DOMAINS[(n >> 8) % DOMAINS.len()];
        let _ = match (seed >> 40) % 3 {
            0 => write!(out, "{f}.{l}@{d}"),
            1 => write!(out, "{f}{l}{}@{d}", (seed >> 48) % 100),
            _ => write!(out, "{}{l}{}@{d}", &f[..1], 1960 + (seed >> 48) % 50),
        };
    }
}

/// Turns records into JSON lines, reusing one scratch [`Event`].
pub(super) struct Renderer {
    users: u32,
    event: Event,
}

impl Renderer {
    pub fn new(users: u32) -> Renderer {
        // A blank whose strings every write reuses.
        let event = Event::default();
        Renderer { users, event }
    }

    /// Writes `r` as the `n`th event of day `day`, with id `sim-DDD-NNNNNNNN`
    /// (zero-padded so ids sort like the output).
    pub fn write(&mut self, out: &mut impl Write, day: u32, n: usize, r: &Rec) -> io::Result<()> {
        let e = &mut self.event;
        e.event_id.clear();
        let _ = write!(e.event_id, "sim-{day:03}-{n:08}");
        e.timestamp = Some(Timestamp(r.ts));
        e.user.clear();
        match r.who {
            Who::Member(i) => {
                let _ = write!(e.user, "user{i}@example.com");
            }
            Who::Stranger(seed) => stranger(seed, self.users, &mut e.user),
            Who::DefaultName(i) => {
                let _ = write!(e.user, "{}@example.com", DEFAULT_NAMES[usize::from(i)]);
            }
        }
        e.user_exists = Some(matches!(r.who, Who::Member(_)));
        e.ip = IpAddr::V4(Ipv4Addr::from(r.ip));
        e.outcome = r.outcome;
        e.failure_reason = r.failure;
        fill(&mut e.user_agent, useragents::text(r.agent));
        match r.device {
            0 => e.device_id = None,
            d => {
                let s = e.device_id.get_or_insert_with(String::new);
                s.clear();
                let _ = write!(s, "{d:016x}");
            }
        }
        e.password_sha1 = Some(PasswordSha1(r.sha1));
        e.mfa = Some(r.mfa);
        fill(&mut e.label, Some(r.label.as_str()));
        serde_json::to_writer(&mut *out, &*e)?;
        out.write_all(b"\n")
    }
}

fn fill(slot: &mut Option<String>, value: Option<&str>) {
    match value {
        Some(v) => {
            let s = slot.get_or_insert_with(String::new);
            s.clear();
            s.push_str(v);
        }
        None => *slot = None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_render_to_events_that_parse_back() {
        let mut r = Renderer::new(1000);
        let mut buf = Vec::new();
        let ok = Rec::new(
            1_767_571_200_123,
            Who::Member(42),
            0x0102_0304,
            0xabc,
            [7; 20],
            0,
            Label::Legit,
        );
        r.write(&mut buf, 3, 17, &ok).unwrap();
        let bad = Rec { device: 0, ..ok }.failed(FailureReason::UnknownUser);
        let bad = Rec {
            who: Who::Stranger(12345),
            label: Label::CredentialStuffing,
            ..bad
        };
        r.write(&mut buf, 3, 18, &bad).unwrap();
        let lines: Vec<&[u8]> = buf
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let a = Event::from_json(lines[0]).unwrap();
        assert_eq!(a.event_id, "sim-003-00000017");
        assert_eq!(a.user, "user42@example.com");
        assert_eq!(a.ip.to_string(), "1.2.3.4");
        assert_eq!(a.device_id.as_deref(), Some("0000000000000abc"));
        assert_eq!(
            a.timestamp.unwrap().to_rfc3339(),
            "2026-01-05T00:00:00.123Z"
        );
        assert_eq!(
            (a.user_exists, a.mfa, a.label.as_deref()),
            (Some(true), Some(Mfa::None), Some("legit"))
        );
        let b = Event::from_json(lines[1]).unwrap();
        assert_eq!(
            (b.user_exists, b.failure_reason),
            (Some(false), Some(FailureReason::UnknownUser))
        );
        assert_eq!(
            (b.device_id, b.label.as_deref()),
            (None, Some("credential_stuffing"))
        );
        assert!(b.user.contains('@') && !b.user.starts_with("user42@"));
    }

    #[test]
    fn stranger_names_never_collide_with_members() {
        for seed in 0..2000u64 {
            let mut s = String::new();
            stranger(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15), 500, &mut s);
            if let Some(n) = s
                .strip_prefix("user")
                .and_then(|t| t.strip_suffix("@example.com"))
            {
                assert!(n.parse::<u64>().unwrap() >= 500, "{s}");
            }
        }
    }
}
