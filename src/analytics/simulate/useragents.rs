//! User agent strings: the browsers real users sign in with, and the clients
//! scripts and bots use. Events refer to an agent by its index in [`AGENTS`].

use super::random::{chance, pick_weighted, SimRng};
use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Desktop,
    Mobile,
    Script,
}

/// (user agent, class, share among users' devices).
pub(super) const AGENTS: &[(&str, Class, u32)] = &[
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", Class::Desktop, 22),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", Class::Desktop, 8),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", Class::Desktop, 9),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", Class::Desktop, 5),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", Class::Desktop, 8),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", Class::Desktop, 6),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:133.0) Gecko/20100101 Firefox/133.0", Class::Desktop, 2),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", Class::Desktop, 1),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", Class::Desktop, 2),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", Class::Desktop, 2),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", Class::Desktop, 1),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1.1 Mobile/15E148 Safari/604.1", Class::Mobile, 12),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", Class::Mobile, 5),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1", Class::Mobile, 2),
    ("Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", Class::Mobile, 2),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", Class::Mobile, 14),
    ("Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", Class::Mobile, 4),
    ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", Class::Mobile, 1),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36", Class::Mobile, 4),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0", Class::Mobile, 1),
    // Scripts and bots: weight 0, never a user's device.
    ("python-requests/2.32.3", Class::Script, 0),
    ("curl/8.5.0", Class::Script, 0),
    ("okhttp/4.12.0", Class::Script, 0),
    ("Go-http-client/1.1", Class::Script, 0),
    // An outdated Chrome that a bot sends verbatim on every request.
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/108.0.0.0 Safari/537.36", Class::Script, 0),
];

/// A browser for a user's device; `mobile` picks phones and tablets.
pub(super) fn browser(rng: &mut SimRng, mobile: bool) -> u8 {
    let want = if mobile {
        Class::Mobile
    } else {
        Class::Desktop
    };
    pick_weighted(
        rng,
        AGENTS.iter().map(|a| if a.1 == want { a.2 } else { 0 }),
    ) as u8
}

/// Any browser, in proportion to how common it is.
pub(super) fn any_browser(rng: &mut SimRng) -> u8 {
    pick_weighted(rng, AGENTS.iter().map(|a| a.2)) as u8
}

/// A scripted client (python-requests, curl, okhttp, Go, or the frozen Chrome).
pub(super) fn script(rng: &mut SimRng) -> u8 {
    let first = AGENTS
        .iter()
        .position(|a| a.1 == Class::Script)
        .unwrap_or(0);
    rng.random_range(first..AGENTS.len()) as u8
}

/// The frozen Chrome string some bots send to look like a browser.
pub(super) fn frozen_chrome() -> u8 {
    (AGENTS.len() - 1) as u8
}

/// An attacking bot's agent: half the time a scripted client, else the
/// frozen Chrome string.
pub(super) fn bot(rng: &mut SimRng) -> u8 {
    if chance(rng, 0.5) {
        script(rng)
    } else {
        frozen_chrome()
    }
}

/// An attacker's agent: half the time a scripted client, else any browser.
pub(super) fn script_or_browser(rng: &mut SimRng) -> u8 {
    if chance(rng, 0.5) {
        script(rng)
    } else {
        any_browser(rng)
    }
}

pub(super) fn is_mobile(agent: u8) -> bool {
    AGENTS
        .get(agent as usize)
        .is_some_and(|a| a.1 == Class::Mobile)
}

pub(super) fn text(agent: u8) -> Option<&'static str> {
    AGENTS.get(agent as usize).map(|a| a.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn classes_are_drawn_as_asked() {
        let mut rng = SimRng::seed_from_u64(4);
        for _ in 0..200 {
            assert!(is_mobile(browser(&mut rng, true)));
            assert_eq!(AGENTS[browser(&mut rng, false) as usize].1, Class::Desktop);
            assert_eq!(AGENTS[script(&mut rng) as usize].1, Class::Script);
            assert_ne!(AGENTS[any_browser(&mut rng) as usize].1, Class::Script);
        }
        assert_eq!(AGENTS[frozen_chrome() as usize].1, Class::Script);
        assert!(AGENTS.len() < 256 && text(AGENTS.len() as u8).is_none());
    }
}
