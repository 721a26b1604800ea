use super::*;

/// One synthetic sign-in: time in minutes, user, address, by number.
#[derive(Debug, Clone)]
pub struct Row {
    pub t_min: i64,
    pub user: u32,
    pub ip: u32,
    pub failure: bool,
    pub unknown: bool,
    pub action: u32,
    pub password: Option<u32>,
    pub spray_reason: bool,
}

impl Row {
    pub fn failure(t_min: u32, user: u32, ip: u32) -> Row {
        Row {
            t_min: i64::from(t_min),
            user,
            ip,
            failure: true,
            unknown: false,
            action: 0,
            password: None,
            spray_reason: false,
        }
    }

    pub fn success(t_min: u32, user: u32, ip: u32) -> Row {
        Row {
            failure: false,
            ..Row::failure(t_min, user, ip)
        }
    }

    pub fn password(self, password: Option<u32>) -> Row {
        Row { password, ..self }
    }

    pub fn unknown(self) -> Row {
        Row {
            unknown: true,
            ..self
        }
    }
}

/// The sign-ins as [`Columns::take_frame`] gives them.
pub fn frame(rows: &[Row]) -> LazyFrame {
    let c = |name: &str, v: Column| v.with_name(name.into());
    let t0 = 1_767_571_200_000i64; // 2026-01-05
    let n = rows.len();
    DataFrame::new(
        n,
        vec![
            c(
                "t",
                Column::new(
                    "".into(),
                    rows.iter()
                        .map(|r| t0 + r.t_min * 60_000)
                        .collect::<Vec<_>>(),
                ),
            ),
            c(
                "user",
                Column::new("".into(), rows.iter().map(|r| r.user).collect::<Vec<_>>()),
            ),
            c(
                "ip",
                Column::new("".into(), rows.iter().map(|r| r.ip).collect::<Vec<_>>()),
            ),
            c(
                "failure",
                Column::new(
                    "".into(),
                    rows.iter().map(|r| r.failure).collect::<Vec<_>>(),
                ),
            ),
            c(
                "success",
                Column::new(
                    "".into(),
                    rows.iter().map(|r| !r.failure).collect::<Vec<_>>(),
                ),
            ),
            c(
                "unknown_user",
                Column::new(
                    "".into(),
                    rows.iter().map(|r| r.unknown).collect::<Vec<_>>(),
                ),
            ),
            c(
                "action",
                Column::new("".into(), rows.iter().map(|r| r.action).collect::<Vec<_>>()),
            ),
            c(
                "password",
                Column::new(
                    "".into(),
                    rows.iter().map(|r| r.password).collect::<Vec<_>>(),
                ),
            ),
            c("brute_reason", Column::new("".into(), vec![false; n])),
            c("stuffing_reason", Column::new("".into(), vec![false; n])),
            c(
                "spray_reason",
                Column::new(
                    "".into(),
                    rows.iter().map(|r| r.spray_reason).collect::<Vec<_>>(),
                ),
            ),
            c("label", Column::new("".into(), vec![None::<u32>; n])),
        ],
    )
    .unwrap()
    .lazy()
}

fn u32s(df: &DataFrame, name: &str) -> Vec<u32> {
    df.column(name)
        .unwrap()
        .cast(&DataType::UInt32)
        .unwrap()
        .u32()
        .unwrap()
        .iter()
        .map(Option::unwrap)
        .collect()
}

#[test]
fn a_success_after_enough_failures_in_the_window_is_a_possible_takeover() {
    let mut rows = Vec::new();
    // User 1: six failures from two addresses, then a success from one of them.
    for k in 0..6 {
        rows.push(Row::failure(k, 1, 10 + k % 2));
    }
    rows.push(Row {
        action: 2,
        ..Row::success(10, 1, 11)
    });
    // User 2: six failures, the success 25 hours later: outside the window.
    for k in 0..6 {
        rows.push(Row::failure(k, 2, 20));
    }
    rows.push(Row::success(6 + 25 * 60, 2, 20));
    // User 3: four failures then a success: under the threshold.
    for k in 0..4 {
        rows.push(Row::failure(k, 3, 30));
    }
    rows.push(Row::success(5, 3, 30));
    // User 4: failures late one day, the success early the next (the
    // previous day's failures count).
    for k in 0..5 {
        rows.push(Row::failure(23 * 60 + 50 + k, 4, 40));
    }
    rows.push(Row::success(24 * 60 + 20, 4, 41));
    // User 5: seven failures, a success, another success: the second
    // has no failures of its own since the first.
    for k in 0..7 {
        rows.push(Row::failure(100 + k, 5, 50));
    }
    rows.push(Row::success(110, 5, 50));
    rows.push(Row::success(120, 5, 50));
    let df = takeovers(frame(&rows), 5).unwrap().collect().unwrap();
    // Most failures first.
    assert_eq!(u32s(&df, "user"), [5, 1, 4], "{df}");
    assert_eq!(u32s(&df, "failures_before"), [7, 6, 5]);
    assert_eq!(u32s(&df, "failure_ips"), [1, 2, 1]);
    assert_eq!(u32s(&df, "failures_from_success_ip"), [7, 3, 0]);
    assert_eq!(u32s(&df, "action"), [0, 2, 0]);
}

#[test]
fn the_timeline_has_every_bucket_and_counts_every_sign_in() {
    let rows = [
        Row::failure(0, 1, 1),
        Row::failure(1, 1, 1),
        Row::success(125, 1, 1),
    ];
    let t0 = 1_767_571_200_000i64;
    let df = timeline(frame(&rows), Some((t0, t0 + 125 * 60_000)), 3_600_000)
        .collect()
        .unwrap();
    assert_eq!(u32s(&df, "attempts"), [2, 0, 1]);
    assert_eq!(u32s(&df, "failures"), [2, 0, 0]);
    assert_eq!(u32s(&df, "successes"), [0, 0, 1]);
}
