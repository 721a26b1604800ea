use super::*;

/// The first 19 real rows of the RBA dataset, beside the repository; `None`
/// (after a SKIP line) when the shared data is absent.
fn rba_head() -> Option<std::path::PathBuf> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/rba/rba-dataset.head18.csv");
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("SKIP: the RBA mapping test: {} not found", path.display());
        None
    }
}

fn str_at(frame: &DataFrame, column: &str, row: usize) -> Option<String> {
    let c = frame.column(column).unwrap();
    assert_eq!(c.dtype(), &DataType::String, "{column}");
    c.str().unwrap().get(row).map(str::to_string)
}

fn i64_at(frame: &DataFrame, column: &str, row: usize) -> Option<i64> {
    let c = frame.column(column).unwrap();
    assert_eq!(c.dtype(), &DataType::Int64, "{column}");
    c.i64().unwrap().get(row)
}

fn f64_at(frame: &DataFrame, column: &str, row: usize) -> Option<f64> {
    let c = frame.column(column).unwrap();
    assert_eq!(c.dtype(), &DataType::Float64, "{column}");
    c.f64().unwrap().get(row)
}

fn bool_at(frame: &DataFrame, column: &str, row: usize) -> Option<bool> {
    let c = frame.column(column).unwrap();
    assert_eq!(c.dtype(), &DataType::Boolean, "{column}");
    c.bool().unwrap().get(row)
}

/// Every column of one row, in the file's order.
#[allow(clippy::too_many_arguments)]
fn assert_row(
    f: &DataFrame,
    row: usize,
    time: &str,
    user: &str,
    rtt: Option<f64>,
    ip: &str,
    place: [&str; 3],
    asn: i64,
    ua: &str,
    browser: &str,
    os: &str,
    device: &str,
    flags: [bool; 3],
) {
    let s = |c: &str| str_at(f, c, row);
    assert_eq!(i64_at(f, "index", row), Some(row as i64));
    assert_eq!(s("Login Timestamp").as_deref(), Some(time));
    assert_eq!(s("User ID").as_deref(), Some(user));
    assert_eq!(f64_at(f, "Round-Trip Time [ms]", row), rtt);
    assert_eq!(s("IP Address").as_deref(), Some(ip));
    assert_eq!(s("Country").as_deref(), Some(place[0]));
    assert_eq!(s("Region").as_deref(), Some(place[1]));
    assert_eq!(s("City").as_deref(), Some(place[2]));
    assert_eq!(i64_at(f, "ASN", row), Some(asn));
    assert_eq!(s("User Agent String").as_deref(), Some(ua));
    assert_eq!(s("Browser Name and Version").as_deref(), Some(browser));
    assert_eq!(s("OS Name and Version").as_deref(), Some(os));
    assert_eq!(s("Device Type").as_deref(), Some(device));
    assert_eq!(bool_at(f, "Login Successful", row), Some(flags[0]));
    assert_eq!(bool_at(f, "Is Attack IP", row), Some(flags[1]));
    assert_eq!(bool_at(f, "Is Account Takeover", row), Some(flags[2]));
}

#[test]
fn the_rba_mapping_reads_every_column_of_the_real_rows() {
    let Some(path) = rba_head() else { return };
    let mapping = Mapping::load("rba").unwrap();
    let frame = read_frame(&path, Format::Csv, &mapping).unwrap();
    // Indexes 0 to 18: the file's name counts from 0. The last line has
    // no newline and must still be read.
    assert_eq!(frame.height(), 19);
    assert_eq!(frame.width(), 16, "every column is kept");
    assert_row(
        &frame,
        0,
        "2020-02-03 12:43:30.772",
        "-4324475583306591935",
        None,
        "10.0.65.171",
        ["NO", "-", "-"],
        29695,
        "Mozilla/5.0  (iPhone; CPU iPhone OS 13_4 like Mac OS X) Gecko/20150101 Firefox/20.0.0.1618 (Chrome variation/248113",
        "Firefox 20.0.0.1618",
        "iOS 13.4",
        "mobile",
        [false, false, false],
    );
    // Quoted, with commas inside.
    assert_row(
        &frame,
        1,
        "2020-02-03 12:43:43.549",
        "-4324475583306591935",
        None,
        "194.87.207.6",
        ["AU", "-", "-"],
        60117,
        "Mozilla/5.0  (Linux; Android 4.1; Galaxy Nexus Build/JRN84D) AppleWebKit/537.36 (KHTML, like Gecko Chrome/46.0.2490.76 Mobile Safari/537.36 Browser",
        "Chrome Mobile 46.0.2490",
        "Android 4.1",
        "mobile",
        [false, false, false],
    );
    assert_row(
        &frame,
        4,
        "2020-02-03 12:43:59.396",
        "-4618854071942621186",
        None,
        "10.0.0.47",
        ["US", "Virginia", "Ashburn"],
        398986,
        "Mozilla/5.0  (Linux; U; Android 2.2) Build/NMA26.42-169; wv AppleWebKit/537.36 (KHTML, like Gecko Version/4.0 Chrome/85.0.4183.120 Mobile Safari/537.36",
        "Chrome Mobile WebView 85.0.4183",
        "Android 2.2",
        "mobile",
        [false, true, false],
    );
    assert_row(
        &frame,
        15,
        "2020-02-03 12:44:30.475",
        "-8296667206273764769",
        Some(1123.0),
        "82.147.58.93",
        ["NO", "Oslo County", "Oslo"],
        29492,
        "Mozilla/5.0  (iPad; CPU OS 7_1 like Mac OS X) AppleWebKit/533.1 (KHTML, like Gecko Version/4.0 Mobile Safari/533.1 variation/277457",
        "Android 2.3.3.2672",
        "iOS 7.1",
        "mobile",
        [true, false, false],
    );

    let mut out = Vec::new();
    let mut rejects = Rejects::new(&mut out, 10);
    let events =
        events_from_frame(&frame, &mapping, Place::whole(Format::Csv), &mut rejects).unwrap();
    assert_eq!(rejects.count, 0);
    assert_eq!(events.len(), 19);
    assert_eq!(events[18].ip, "46.183.175.255".parse::<IpAddr>().unwrap());
    let e = &events[0];
    assert_eq!(e.event_id, "0");
    assert_eq!(e.timestamp, Some(Timestamp(1_580_733_810_772)));
    assert_eq!(e.kind, Kind::SignIn);
    assert_eq!(e.user, "-4324475583306591935");
    assert_eq!(e.ip, "10.0.65.171".parse::<IpAddr>().unwrap());
    assert_eq!(e.outcome, Outcome::Failure);
    assert_eq!(e.failure_reason, Some(FailureReason::BadPassword));
    assert_eq!(e.label.as_deref(), Some("legit"));
    assert!(e.user_agent.as_deref().unwrap().contains("  (iPhone;"));
    let e = &events[4];
    assert_eq!(e.timestamp, Some(Timestamp(1_580_733_839_396)));
    assert_eq!(e.label.as_deref(), Some("attack_ip"));
    let e = &events[15];
    assert_eq!(e.event_id, "15");
    assert_eq!(e.timestamp, Some(Timestamp(1_580_733_870_475)));
    assert_eq!(e.outcome, Outcome::Success);
    assert_eq!(e.failure_reason, None);
    assert_eq!(e.label.as_deref(), Some("legit"));
    let labels: Vec<_> = events.iter().filter_map(|e| e.label.as_deref()).collect();
    assert_eq!(labels.iter().filter(|l| **l == "attack_ip").count(), 2);
}

#[test]
fn a_takeover_flag_wins_over_an_attack_ip_flag_and_bad_rows_are_counted() {
    let dir = std::env::temp_dir().join(format!("palisade-rba-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rows.csv");
    std::fs::write(
        &path,
        "index,Login Timestamp,User ID,Round-Trip Time [ms],IP Address,Country,Region,City,ASN,User Agent String,Browser Name and Version,OS Name and Version,Device Type,Login Successful,Is Attack IP,Is Account Takeover\n\
         0,2020-02-03 12:43:30.772,7,,10.0.0.1,NO,-,-,1,ua,b,o,mobile,True,True,True\n\
         1,2020-02-03 12:43:31.000,,,10.0.0.1,NO,-,-,1,ua,b,o,mobile,True,False,False\n\
         2,2020-02-03 12:43:32.000,8,,10.0.0.999,NO,-,-,1,ua,b,o,mobile,False,False,False\n\
         3,03/02/2020,9,,10.0.0.2,NO,-,-,1,ua,b,o,mobile,False,False,False\n",
    )
    .unwrap();
    let mapping = Mapping::load("rba").unwrap();
    let frame = read_frame(&path, Format::Csv, &mapping).unwrap();
    let mut out = Vec::new();
    let mut rejects = Rejects::new(&mut out, 10);
    let events =
        events_from_frame(&frame, &mapping, Place::whole(Format::Csv), &mut rejects).unwrap();
    let count = rejects.count;
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].label.as_deref(), Some("account_takeover"));
    assert_eq!(count, 3);
    let said = String::from_utf8(out).unwrap();
    assert!(said.contains("line 3: user is empty"), "{said}");
    assert!(said.contains("line 4: ip \"10.0.0.999\""), "{said}");
    assert!(said.contains("line 5: timestamp \"03/02/2020\""), "{said}");
}

#[test]
fn parquet_with_a_datetime_column_reads_through_the_contract_mapping() {
    use polars::prelude::{Column, DataFrame, ParquetWriter};
    let dir = std::env::temp_dir().join(format!("palisade-pq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("events.parquet");
    let ms = [1_767_571_200_000i64, 1_767_571_260_500];
    let mut frame = DataFrame::new_infer_height(vec![
        Column::new("event_id".into(), ["a", "b"]),
        Column::new("timestamp".into(), ms)
            .cast(&DataType::Datetime(TimeUnit::Milliseconds, None))
            .unwrap(),
        Column::new("user".into(), ["alice", "bob"]),
        Column::new("ip".into(), ["192.0.2.1", "2001:db8::1"]),
        Column::new("outcome".into(), ["success", "failure"]),
        Column::new("label".into(), ["legit", "brute_force"]),
    ])
    .unwrap();
    ParquetWriter::new(File::create(&path).unwrap())
        .finish(&mut frame)
        .unwrap();
    let read = read_frame(&path, Format::Parquet, &Mapping::contract());
    std::fs::remove_dir_all(&dir).unwrap();
    let mut rejects = Rejects::new(Vec::new(), 10);
    let events = events_from_frame(
        &read.unwrap(),
        &Mapping::contract(),
        Place::whole(Format::Parquet),
        &mut rejects,
    )
    .unwrap();
    assert_eq!(rejects.count, 0);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].timestamp, Some(Timestamp(1_767_571_260_500)));
    assert_eq!(events[1].ip, "2001:db8::1".parse::<IpAddr>().unwrap());
    assert_eq!(events[1].outcome, Outcome::Failure);
    assert_eq!(events[1].kind, Kind::SignIn, "no kind column: sign_in");
    assert_eq!(events[1].label.as_deref(), Some("brute_force"));
    assert_eq!(
        events[0].user_agent, None,
        "optional columns may be missing"
    );
}
