use super::*;

/// A CSV of `rows` sign-ins with no id column (ids are row numbers), the
/// row at `bad` with no user.
fn csv(dir: &Path, rows: usize, bad: usize) -> PathBuf {
    let mut text = String::from("when,who,addr,ok\n");
    for i in 0..rows {
        let who = if i == bad {
            String::new()
        } else {
            format!("u{i}")
        };
        text += &format!(
            "2026-01-01T00:00:{:02}Z,{who},192.0.2.{},true\n",
            i % 60,
            i % 250
        );
    }
    let path = dir.join("rows.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// The mapping of [`csv`]'s columns.
fn when_who_addr_ok() -> Mapping {
    toml::from_str(
        "timestamp = \"when\"\nuser = \"who\"\nip = \"addr\"\noutcome = \"ok\"\noutcome_values = { true = \"success\" }\n",
    )
    .unwrap()
}

#[test]
fn batches_keep_row_numbers_and_lines_across_their_edges() {
    let dir = tempfile::tempdir().unwrap();
    let path = csv(dir.path(), 45, 27);
    let mapping = when_who_addr_ok();
    let mut out = Vec::new();
    let mut rejects = Rejects::new(&mut out, 10);
    let mut ids = Vec::new();
    let read = stream_table(
        &path,
        Format::Csv,
        &mapping,
        10,
        "test",
        &mut rejects,
        &mut |e| {
            ids.push(e.event_id);
            Flow::Go
        },
    )
    .unwrap();
    assert_eq!(read.events, 44);
    assert_eq!(rejects.count, 1);
    let want: Vec<String> = (0..45)
        .filter(|&i| i != 27)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(ids, want, "row numbers run on across batches");
    // Row 27 from 0 is line 29: the header is line 1.
    let said = String::from_utf8(out).unwrap();
    assert!(said.starts_with("line 29: user is empty"), "{said}");
}

#[test]
fn a_stop_ends_the_read_and_a_missing_column_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = csv(dir.path(), 45, 99);
    let mapping = when_who_addr_ok();
    let mut rejects = Rejects::new(Vec::new(), 10);
    let mut n = 0;
    let read = stream_table(
        &path,
        Format::Csv,
        &mapping,
        10,
        "test",
        &mut rejects,
        &mut |_| {
            n += 1;
            if n == 15 {
                Flow::Stop
            } else {
                Flow::Go
            }
        },
    )
    .unwrap();
    assert!(read.stopped);
    assert_eq!(read.events, 15);

    let wrong: Mapping =
        toml::from_str("timestamp = \"when\"\nuser = \"login\"\nip = \"addr\"\noutcome = \"ok\"\n")
            .unwrap();
    let err = scan(&path, Format::Csv, &wrong).err().unwrap().to_string();
    assert!(
        err.contains("no column \"login\"") && err.contains("\"who\""),
        "{err}"
    );
}

#[test]
fn parquet_is_read_row_group_by_row_group_in_order() {
    use polars::prelude::{Column, DataType, ParquetWriter, TimeUnit};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    let n = 25;
    let ms: Vec<i64> = (0..n).map(|i| 1_767_571_200_000 + i * 1000).collect();
    let users: Vec<String> = (0..n)
        .map(|i| {
            if i == 13 {
                String::new()
            } else {
                format!("u{i}")
            }
        })
        .collect();
    let mut frame = DataFrame::new_infer_height(vec![
        Column::new(
            "event_id".into(),
            (0..n).map(|i| format!("e{i}")).collect::<Vec<_>>(),
        ),
        Column::new("timestamp".into(), ms)
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
            .unwrap(),
        Column::new("user".into(), users),
        Column::new("ip".into(), vec!["192.0.2.1"; n as usize]),
        Column::new("outcome".into(), vec!["success"; n as usize]),
    ])
    .unwrap();
    ParquetWriter::new(File::create(&path).unwrap())
        .with_row_group_size(Some(10))
        .finish(&mut frame)
        .unwrap();
    let groups = row_groups(&path).unwrap();
    assert!(groups.len() > 1, "{groups:?}");
    assert_eq!(groups.iter().sum::<u64>(), 25);
    let mut out = Vec::new();
    let mut rejects = Rejects::new(&mut out, 10);
    let mut ids = Vec::new();
    let read = stream_table(
        &path,
        Format::Parquet,
        &Mapping::contract(),
        4,
        "test",
        &mut rejects,
        &mut |e| {
            ids.push(e.event_id);
            Flow::Go
        },
    )
    .unwrap();
    assert_eq!(read.events, 24);
    let want: Vec<String> = (0..n)
        .filter(|&i| i != 13)
        .map(|i| format!("e{i}"))
        .collect();
    assert_eq!(ids, want);
    let said = String::from_utf8(out).unwrap();
    assert!(said.starts_with("row 14: user is empty"), "{said}");
}

#[test]
fn repeats_count_once_wherever_they_fall_among_the_held_events() {
    // Ids repeat at the start, in the middle, and ten times in the last
    // events (which wait in the look-ahead until the end of the input);
    // one outcome shares its attempt's id and is no repeat.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    let mut ids: Vec<(String, &str)> = Vec::new();
    for i in 0..60 {
        ids.push((format!("e{i}"), "failure"));
        if i == 0 || i == 30 {
            ids.push((format!("e{i}"), "failure"));
        }
    }
    ids.push(("e59".to_string(), "attempt"));
    for _ in 0..9 {
        ids.push(("e59".to_string(), "failure"));
    }
    let text: String = ids
        .iter()
        .enumerate()
        .map(|(n, (id, outcome))| {
            format!(
                "{{\"event_id\":\"{id}\",\"kind\":\"sign_in\",\"timestamp\":\"2026-01-01T00:{:02}:{:02}Z\",\"user\":\"u\",\"ip\":\"192.0.2.1\",\"outcome\":\"{outcome}\"}}\n",
                n / 60,
                n % 60
            )
        })
        .collect();
    std::fs::write(&path, text).unwrap();
    let input = HistoryArgs {
        input: path,
        format: None,
        mapping: None,
    };
    let ordered = super::ordered::in_time_order(
        &input,
        "test",
        "reading",
        1000,
        &mut || Ok(Vec::new()),
        &mut |taken: &mut Vec<String>, e| taken.push(format!("{}/{:?}", e.event_id, e.outcome)),
    )
    .unwrap();
    let mut expected: Vec<String> = (0..60).map(|i| format!("e{i}/Failure")).collect();
    expected.push("e59/Attempt".to_string());
    assert_eq!(ordered.state, expected);
    assert_eq!(ordered.read.events, ids.len() as u64);
    assert!(!ordered.sorted);
}
