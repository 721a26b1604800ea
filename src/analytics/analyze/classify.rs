//! Which kind of attack each source address ran, from the shape of its
//! sign-ins: how many accounts it tried, how many times each, how many
//! different passwords, and how many of the names exist.
//!
//! - brute force: few accounts, many failures on each;
//! - credential stuffing: many accounts, one or two tries each, a different
//!   password almost every time (pairs from another site's breach), or many
//!   names that are no account here;
//! - password spraying: many accounts, one or two tries each, a handful of
//!   passwords over all of them;
//! - a shared address, before any of those: an office's or a carrier's NAT,
//!   where many people sign in and some mistype. Most of its sign-ins
//!   succeed, for many accounts; no attack shape looks like that.
//!
//! Passwords are compared by the caller's `password_sha1` when the history
//! has it. Without it, the engine's reasons decide between spraying and
//! stuffing: the share of the source's sign-ins that a rule of that category
//! (or the contract's signal of that name) spoke for.
//!
//! Classification is per address: a botnet that tries an account once or
//! twice from each of many addresses (slow brute force) stays under
//! [`MIN_FAILURES`] everywhere; it shows in the accounts table instead (many
//! failures from many distinct source addresses).

use polars::prelude::{col, len, lit, when, DataType, Expr, LazyFrame};

/// A source with fewer failed sign-ins is not a campaign: people mistype.
pub const MIN_FAILURES: u32 = 10;
/// Brute force: at most this many accounts from the source…
pub const BRUTE_MAX_ACCOUNTS: u32 = 3;
/// …with at least this many failures per account.
pub const BRUTE_MIN_FAILURES_PER_ACCOUNT: f64 = 10.0;
/// Stuffing and spraying: at least this many accounts…
pub const MASS_MIN_ACCOUNTS: u32 = 10;
/// …with at most this many sign-ins per account on average.
pub const MASS_MAX_ATTEMPTS_PER_ACCOUNT: f64 = 2.0;
/// Passwords are evidence only when at least this share of the source's
/// sign-ins carry `password_sha1`.
pub const HASHED_MIN_SHARE: f64 = 0.5;
/// Spraying: distinct passwords per hashed sign-in at most this (one
/// password over 20 accounts is 0.05).
pub const SPRAY_MAX_PASSWORD_SHARE: f64 = 0.2;
/// Stuffing: distinct passwords per hashed sign-in at least this.
pub const STUFFING_MIN_PASSWORD_SHARE: f64 = 0.5;
/// Stuffing: at least this share of the failures name no account.
pub const STUFFING_MIN_UNKNOWN_SHARE: f64 = 0.2;
/// Without password evidence, a rule family counts when it spoke for at
/// least this share of the source's sign-ins.
pub const RULE_MIN_SHARE: f64 = 0.1;
/// A shared address: at least this many accounts signed in from it…
pub const SHARED_MIN_ACCOUNTS_SIGNED_IN: u32 = 5;
/// …and at most this share of its sign-ins failed.
pub const SHARED_MAX_FAILURE_SHARE: f64 = 0.5;

pub const BRUTE_FORCE: &str = "brute_force";
pub const STUFFING: &str = "credential_stuffing";
pub const SPRAY: &str = "password_spray";
/// Many people signing in, some mistyping: no campaign.
pub const SHARED: &str = "shared_address";
/// Enough failures for a campaign, in none of the shapes above.
pub const OTHER: &str = "other";

/// `a / b` as a float, 0 where `b` is 0.
fn ratio(a: Expr, b: &str) -> Expr {
    when(col(b).gt(lit(0)))
        .then(a.cast(DataType::Float64) / col(b).cast(DataType::Float64))
        .otherwise(lit(0.0))
}

/// Per source address (`ip`, a number) with at least [`MIN_FAILURES`]
/// failures: its counts, the shares the classes are decided on, and `class`.
pub fn campaigns(events: LazyFrame) -> LazyFrame {
    events
        .group_by([col("ip")])
        .agg([
            len().alias("attempts"),
            col("failure").sum().alias("failures"),
            col("success").sum().alias("successes"),
            col("user").n_unique().alias("accounts"),
            col("user")
                .filter(col("success"))
                .n_unique()
                .alias("accounts_succeeded"),
            col("unknown_user").sum().alias("unknown_user_failures"),
            col("password").count().alias("hashed"),
            col("password").drop_nulls().n_unique().alias("passwords"),
            col("brute_reason").sum().alias("brute_reasons"),
            col("stuffing_reason").sum().alias("stuffing_reasons"),
            col("spray_reason").sum().alias("spray_reasons"),
            col("t").min().alias("first_seen"),
            col("t").max().alias("last_seen"),
        ])
        .filter(col("failures").gt_eq(lit(MIN_FAILURES)))
        .with_columns([
            ratio(col("attempts"), "accounts").alias("attempts_per_account"),
            ratio(col("failures"), "accounts").alias("failures_per_account"),
            ratio(col("failures"), "attempts").alias("failure_share"),
            ratio(col("hashed"), "attempts").alias("hashed_share"),
            ratio(col("passwords"), "hashed").alias("password_share"),
            ratio(col("unknown_user_failures"), "failures").alias("unknown_user_share"),
            ratio(col("brute_reasons"), "attempts").alias("brute_reason_share"),
            ratio(col("stuffing_reasons"), "attempts").alias("stuffing_reason_share"),
            ratio(col("spray_reasons"), "attempts").alias("spray_reason_share"),
        ])
        .with_column(class().alias("class"))
}

/// The class of a source from the shares [`campaigns`] computes. The first
/// shape that fits wins (a shared address first); password evidence comes
/// before the rules'.
fn class() -> Expr {
    let shared = col("accounts_succeeded")
        .gt_eq(lit(SHARED_MIN_ACCOUNTS_SIGNED_IN))
        .and(col("failure_share").lt_eq(lit(SHARED_MAX_FAILURE_SHARE)));
    let brute = col("accounts")
        .lt_eq(lit(BRUTE_MAX_ACCOUNTS))
        .and(col("failures_per_account").gt_eq(lit(BRUTE_MIN_FAILURES_PER_ACCOUNT)));
    let mass = col("accounts")
        .gt_eq(lit(MASS_MIN_ACCOUNTS))
        .and(col("attempts_per_account").lt_eq(lit(MASS_MAX_ATTEMPTS_PER_ACCOUNT)));
    let hashed = col("hashed_share").gt_eq(lit(HASHED_MIN_SHARE));
    let few_passwords = hashed
        .clone()
        .and(col("password_share").lt_eq(lit(SPRAY_MAX_PASSWORD_SHARE)));
    let many_passwords = hashed
        .clone()
        .and(col("password_share").gt_eq(lit(STUFFING_MIN_PASSWORD_SHARE)));
    let unknown_names = col("unknown_user_share").gt_eq(lit(STUFFING_MIN_UNKNOWN_SHARE));
    let spray_rules = hashed
        .clone()
        .not()
        .and(col("spray_reason_share").gt_eq(lit(RULE_MIN_SHARE)))
        .and(col("spray_reason_share").gt_eq(col("stuffing_reason_share")));
    let stuffing_rules = hashed
        .not()
        .and(col("stuffing_reason_share").gt_eq(lit(RULE_MIN_SHARE)));
    when(shared)
        .then(lit(SHARED))
        .when(brute)
        .then(lit(BRUTE_FORCE))
        .when(mass.clone().and(few_passwords))
        .then(lit(SPRAY))
        .when(mass.clone().and(many_passwords.or(unknown_names)))
        .then(lit(STUFFING))
        .when(mass.clone().and(spray_rules))
        .then(lit(SPRAY))
        .when(mass.and(stuffing_rules))
        .then(lit(STUFFING))
        .otherwise(lit(OTHER))
}

/// Per class: sources, their sign-ins and failures, the accounts they
/// tried and the accounts that signed in from them. `campaigns` is the
/// output of [`campaigns`] (`ip`, `class`).
pub fn classes(events: LazyFrame, campaigns: LazyFrame) -> LazyFrame {
    events
        .inner_join(
            campaigns.select([col("ip"), col("class")]),
            col("ip"),
            col("ip"),
        )
        .group_by([col("class")])
        .agg([
            col("ip").n_unique().alias("sources"),
            len().alias("attempts"),
            col("failure").sum().alias("failures"),
            col("user").n_unique().alias("accounts"),
            col("user")
                .filter(col("success"))
                .n_unique()
                .alias("accounts_succeeded"),
        ])
}

#[cfg(test)]
mod tests {
    use super::super::tables::tests::{frame, Row};
    use super::*;
    use polars::prelude::SortMultipleOptions;

    /// Each source's class, by address number.
    fn classified(rows: &[Row]) -> Vec<(u32, String)> {
        let df = campaigns(frame(rows))
            .sort(["ip"], SortMultipleOptions::default())
            .collect()
            .unwrap();
        let ips = df.column("ip").unwrap().u32().unwrap().clone();
        let classes = df.column("class").unwrap().str().unwrap().clone();
        ips.iter()
            .zip(classes.iter())
            .map(|(ip, c)| (ip.unwrap(), c.unwrap().to_string()))
            .collect()
    }

    /// Source 1 guesses 30 passwords for one account; source 2 tries 40
    /// breached pairs, a new name and password each; source 3 tries one
    /// password on 40 accounts; source 4 is a user who mistyped twice.
    fn attacks(hashes: bool) -> Vec<Row> {
        let pw = |p: u32| hashes.then_some(p);
        let mut rows = Vec::new();
        for k in 0..30 {
            rows.push(Row::failure(k, 7, 1).password(pw(1000 + k)));
        }
        for k in 0..40 {
            let r = Row::failure(k, 100 + k, 2).password(pw(2000 + k));
            rows.push(if k % 3 == 0 { r.unknown() } else { r });
        }
        for k in 0..40 {
            rows.push(Row::failure(k, 200 + k, 3).password(pw(5)));
        }
        rows.push(Row::failure(0, 9, 4));
        rows.push(Row::failure(1, 9, 4));
        rows.push(Row::success(2, 9, 4));
        rows
    }

    #[test]
    fn brute_force_stuffing_and_spraying_by_their_passwords() {
        assert_eq!(
            classified(&attacks(true)),
            [
                (1, BRUTE_FORCE.to_string()),
                (2, STUFFING.to_string()),
                (3, SPRAY.to_string()),
            ]
        );
    }

    #[test]
    fn without_hashes_unknown_names_and_rule_reasons_decide() {
        let mut rows = attacks(false);
        // Without hashes, sources 2 and 3 differ by their names (a third of
        // 2's are no account) and by what the rules said of them.
        for r in rows.iter_mut().filter(|r| r.ip == 3) {
            r.spray_reason = true;
        }
        assert_eq!(
            classified(&rows),
            [
                (1, BRUTE_FORCE.to_string()),
                (2, STUFFING.to_string()),
                (3, SPRAY.to_string()),
            ]
        );
        // With no evidence at all, many accounts alone is no class.
        for r in rows.iter_mut() {
            r.spray_reason = false;
        }
        assert_eq!(classified(&rows)[2], (3, OTHER.to_string()));
    }

    #[test]
    fn an_office_where_most_sign_ins_succeed_is_a_shared_address() {
        // 40 people behind one address, each signing in twice, a quarter of
        // them after one typo: 10 failures over 40 accounts, as stuffing's
        // numbers would be, but most sign-ins succeed.
        let mut rows = Vec::new();
        for k in 0..40 {
            if k % 4 == 0 {
                rows.push(Row::failure(3 * k, 300 + k, 5));
            }
            rows.push(Row::success(3 * k + 1, 300 + k, 5));
            rows.push(Row::success(3 * k + 2, 300 + k, 5));
        }
        for r in rows.iter_mut().filter(|r| r.failure) {
            *r = r.clone().unknown();
        }
        assert_eq!(classified(&rows), [(5, SHARED.to_string())]);
        // The same failures with few successes are stuffing.
        let rows: Vec<Row> = rows.into_iter().filter(|r| r.failure).collect();
        let mut more = rows.clone();
        more.push(Row::success(999, 300, 5));
        assert_eq!(classified(&more), [(5, STUFFING.to_string())]);
    }

    #[test]
    fn a_source_under_the_minimum_is_no_campaign() {
        let rows: Vec<Row> = (0..MIN_FAILURES - 1)
            .map(|k| Row::failure(k, 7, 1))
            .collect();
        assert!(classified(&rows).is_empty());
        let rows: Vec<Row> = (0..MIN_FAILURES).map(|k| Row::failure(k, 7, 1)).collect();
        assert_eq!(classified(&rows), [(1, BRUTE_FORCE.to_string())]);
    }

    #[test]
    fn class_summary_counts_accounts_that_signed_in() {
        let mut rows = attacks(true);
        rows.push(Row::success(100, 205, 3));
        let events = frame(&rows);
        let df = classes(events.clone(), campaigns(events))
            .sort(["class"], SortMultipleOptions::default())
            .collect()
            .unwrap();
        let get = |c: &str, i: usize| {
            df.column(c)
                .unwrap()
                .cast(&DataType::UInt64)
                .unwrap()
                .u64()
                .unwrap()
                .get(i)
                .unwrap()
        };
        // Sorted: brute_force, credential_stuffing, password_spray.
        assert_eq!((get("sources", 2), get("attempts", 2)), (1, 41));
        assert_eq!((get("accounts", 2), get("accounts_succeeded", 2)), (40, 1));
        assert_eq!((get("accounts", 0), get("accounts_succeeded", 0)), (1, 0));
    }
}
