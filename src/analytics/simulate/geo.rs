//! The simulated world: which countries users live in, travel to and attack
//! from, their continents (for impossible travel) and their UTC offsets.

use super::random::{chance, pick_weighted, SimRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Continent {
    NorthAmerica,
    SouthAmerica,
    Europe,
    Africa,
    Asia,
    Oceania,
}

pub(super) struct Country {
    pub code: &'static str,
    pub continent: Continent,
    /// UTC offsets in minutes (standard time in January) with their weights:
    /// the share of the country's users living at each.
    pub offsets: &'static [(i16, u32)],
    /// Relative share of the legitimate population living there.
    pub home_weight: u32,
    /// Relative share of attack traffic originating there.
    pub attack_weight: u32,
}

use Continent::*;

/// The countries, in the order of [`SIM_COUNTRIES`]; a country is referred to
/// by its index here.
pub(super) const COUNTRIES: &[Country] = &[
    c(
        "US",
        NorthAmerica,
        &[(-300, 5), (-360, 3), (-420, 1), (-480, 3)],
        28,
        14,
    ),
    c("CA", NorthAmerica, &[(-300, 3), (-480, 1)], 5, 2),
    c("BR", SouthAmerica, &[(-180, 1)], 7, 8),
    c("GB", Europe, &[(0, 1)], 9, 3),
    c("DE", Europe, &[(60, 1)], 9, 8),
    c("FR", Europe, &[(60, 1)], 7, 4),
    c("NL", Europe, &[(60, 1)], 3, 9),
    c("ES", Europe, &[(60, 1)], 4, 1),
    c("RU", Europe, &[(180, 1)], 1, 15),
    c("NG", Africa, &[(60, 1)], 1, 8),
    c("ZA", Africa, &[(120, 1)], 2, 1),
    c("IN", Asia, &[(330, 1)], 9, 5),
    c("CN", Asia, &[(480, 1)], 1, 15),
    c("VN", Asia, &[(420, 1)], 1, 10),
    c("JP", Asia, &[(540, 1)], 5, 1),
    c("AU", Oceania, &[(660, 3), (600, 1), (480, 1)], 4, 1),
];

const fn c(
    code: &'static str,
    continent: Continent,
    offsets: &'static [(i16, u32)],
    home_weight: u32,
    attack_weight: u32,
) -> Country {
    Country {
        code,
        continent,
        offsets,
        home_weight,
        attack_weight,
    }
}

/// The countries whose networks the generator draws addresses from: homes of
/// the legitimate population, travel destinations and attacker origins. Pass
/// networks for all of them in [`SimulateOptions::networks`](super::SimulateOptions).
pub const SIM_COUNTRIES: &[&str] = &[
    "US", "CA", "BR", "GB", "DE", "FR", "NL", "ES", "RU", "NG", "ZA", "IN", "CN", "VN", "JP", "AU",
];

pub(super) fn home_country(rng: &mut SimRng) -> u8 {
    pick_weighted(rng, COUNTRIES.iter().map(|c| c.home_weight)) as u8
}

pub(super) fn attack_country(rng: &mut SimRng) -> u8 {
    pick_weighted(rng, COUNTRIES.iter().map(|c| c.attack_weight)) as u8
}

/// An attack origin other than `not`, so the sign-in is from a country new to
/// the victim.
pub(super) fn attack_country_except(rng: &mut SimRng, not: &[u8]) -> u8 {
    let w = |i: usize| {
        if not.contains(&(i as u8)) {
            0
        } else {
            COUNTRIES[i].attack_weight
        }
    };
    pick_weighted(rng, (0..COUNTRIES.len()).map(w)) as u8
}

/// A country on another continent than all of `from`: far enough that no one
/// gets there within the hour.
pub(super) fn far_country(rng: &mut SimRng, from: &[u8]) -> u8 {
    let near = |i: usize| from.iter().any(|&f| continent(f) == COUNTRIES[i].continent);
    let w = |i: usize| {
        if near(i) {
            0
        } else {
            COUNTRIES[i].attack_weight + COUNTRIES[i].home_weight
        }
    };
    pick_weighted(rng, (0..COUNTRIES.len()).map(w)) as u8
}

/// Where a traveller from `home` goes: mostly a neighbour on the same
/// continent, sometimes overseas.
pub(super) fn travel_country(rng: &mut SimRng, home: u8) -> u8 {
    let same = chance(rng, 0.65);
    let w = |i: usize| {
        let ok = i != home as usize && (COUNTRIES[i].continent == continent(home)) == same;
        if ok {
            COUNTRIES[i].home_weight
        } else {
            0
        }
    };
    if (0..COUNTRIES.len()).map(w).sum::<u32>() == 0 {
        // No neighbour on the continent (Oceania): go overseas.
        return far_country(rng, &[home]);
    }
    pick_weighted(rng, (0..COUNTRIES.len()).map(w)) as u8
}

pub(super) fn continent(country: u8) -> Continent {
    COUNTRIES[country as usize].continent
}

pub(super) fn utc_offset(rng: &mut SimRng, country: u8) -> i16 {
    let offsets = COUNTRIES[country as usize].offsets;
    offsets[pick_weighted(rng, offsets.iter().map(|o| o.1))].0
}

/// The offset a visitor lives by: the country's most common one.
pub(super) fn main_offset(country: u8) -> i16 {
    let offsets = COUNTRIES[country as usize].offsets;
    offsets.iter().max_by_key(|o| o.1).map_or(0, |o| o.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn table_matches_the_public_list() {
        let codes: Vec<&str> = COUNTRIES.iter().map(|c| c.code).collect();
        assert_eq!(codes, SIM_COUNTRIES);
    }

    #[test]
    fn far_and_new_countries_are_what_they_say() {
        let mut rng = SimRng::seed_from_u64(5);
        for home in 0..COUNTRIES.len() as u8 {
            for _ in 0..50 {
                assert_ne!(continent(far_country(&mut rng, &[home])), continent(home));
                assert_ne!(attack_country_except(&mut rng, &[home]), home);
                assert_ne!(travel_country(&mut rng, home), home);
            }
        }
    }
}
