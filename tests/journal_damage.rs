//! A damaged journal (issue 16): a torn tail is cut, damage inside what was
//! acknowledged stops the start and names the file and the position, and a
//! repair keeps every readable record; whatever is written after a repair,
//! and after a checkpoint the journal no longer reaches, survives the next
//! start.

mod support;

use palisade::event::Event;
use palisade::state::journal::{Entry, EntryRef, Journal, JournalError};
use std::path::{Path, PathBuf};

const SEGMENT: u64 = 1 << 16; // the smallest segment Palisade makes

fn event(i: usize) -> Event {
    let json = format!(
        r#"{{"event_id":"e{i}","kind":"sign_in","user":"u{}","ip":"10.0.{}.{}","outcome":"failure","timestamp":"2026-11-26T10:00:00Z"}}"#,
        i % 97,
        i / 250,
        i % 250
    );
    Event::from_json(json.as_bytes()).unwrap()
}

/// Appends events `from..to`, syncs (so they are acknowledged), returns the
/// position after each.
async fn append(j: &Journal, from: usize, to: usize) -> Vec<u64> {
    let mut scratch = Vec::new();
    let ends = (from..to)
        .map(|i| j.append(EntryRef::Event(&event(i)), &mut scratch).unwrap())
        .collect();
    j.sync(j.end()).await.unwrap();
    ends
}

/// The ids read back from `from` on.
fn ids(j: &Journal, from: u64) -> Vec<String> {
    let mut out = Vec::new();
    j.replay(from, |_, e| {
        if let Entry::Event(e) = e {
            out.push(e.event_id);
        }
        Ok(())
    })
    .unwrap();
    out
}

fn want(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("e{i}")).collect()
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    v.sort();
    v
}

fn refused(dir: &Path, floor: u64) -> String {
    match Journal::open_at(dir, SEGMENT, floor, false) {
        Err(e @ JournalError::Damaged { .. }) => e.to_string(),
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("damage taken without a repair"),
    }
}

fn repaired(dir: &Path, floor: u64) -> (Journal, Vec<String>) {
    Journal::open_at(dir, SEGMENT, floor, true).expect("a repair opens it")
}

#[tokio::test]
async fn a_flipped_byte_a_quarter_in_stops_the_start_and_a_repair_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (j, _) = Journal::open_at(dir.path(), 1 << 30, 0, false).unwrap();
    append(&j, 0, 4000).await;
    drop(j);
    let seg = &segment_files(dir.path())[0];
    let mut bytes = std::fs::read(seg).unwrap();
    let quarter = bytes.len() / 4;
    bytes[quarter] ^= 0x04;
    std::fs::write(seg, &bytes).unwrap();

    let message = refused(dir.path(), 0);
    assert!(
        message.contains(&seg.display().to_string())
            && message.contains("--repair-journal")
            && message.contains("damaged at position"),
        "{message}"
    );
    assert_eq!(
        std::fs::read(seg).unwrap(),
        bytes,
        "a refusal changes nothing"
    );

    let (j, notes) = repaired(dir.path(), 0);
    assert!(notes.iter().any(|n| n.contains("kept as")), "{notes:?}");
    let back = ids(&j, 0);
    assert_eq!(back.len(), 3999, "only the damaged record is lost");
    let all = want(0..4000);
    assert!(back.iter().all(|id| all.contains(id)));
    let aside: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".damaged-"))
        .collect();
    assert_eq!(aside.len(), 1, "the damaged segment is kept aside");

    // What is acknowledged after the repair survives the next start.
    append(&j, 4000, 4500).await;
    drop(j);
    let (j, notes) = Journal::open_at(dir.path(), 1 << 30, 0, false).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let back = ids(&j, 0);
    assert_eq!(back.len(), 4499);
    assert_eq!(back[3999..], want(4000..4500));
}

#[tokio::test]
async fn a_torn_tail_alone_is_cut_without_asking() {
    let dir = tempfile::tempdir().unwrap();
    let (j, _) = Journal::open_at(dir.path(), 1 << 30, 0, false).unwrap();
    append(&j, 0, 100).await;
    drop(j);
    let seg = &segment_files(dir.path())[0];
    let len = std::fs::metadata(seg).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(seg).unwrap();
    f.set_len(len - 7).unwrap();
    let (j, notes) = Journal::open_at(dir.path(), 1 << 30, 0, false).unwrap();
    assert!(notes[0].contains("never acknowledged"), "{notes:?}");
    assert_eq!(ids(&j, 0), want(0..99));
}

/// Several segments; a checkpoint at `floor` (the end of the second).
async fn segments_with_a_checkpoint(dir: &Path) -> (u64, Vec<u64>) {
    let (j, _) = Journal::open_at(dir, SEGMENT, 0, false).unwrap();
    let ends = append(&j, 0, 3000).await;
    drop(j);
    let files = segment_files(dir);
    assert!(files.len() >= 5, "{files:?}");
    let name = files[2].file_name().unwrap().to_string_lossy().into_owned();
    let floor: u64 = name["journal-".len()..name.len() - 4].parse().unwrap();
    (floor, ends)
}

fn first_after(ends: &[u64], floor: u64) -> usize {
    ends.iter().position(|&e| e > floor).unwrap()
}

#[tokio::test]
async fn a_segment_truncated_to_nothing_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (floor, ends) = segments_with_a_checkpoint(dir.path()).await;
    let files = segment_files(dir.path());
    std::fs::write(&files[3], b"").unwrap();
    let message = refused(dir.path(), floor);
    assert!(
        message.contains("truncated or deleted segment"),
        "{message}"
    );
    let (j, _) = repaired(dir.path(), floor);
    let back = ids(&j, floor);
    // The emptied segment's records are gone; every other one reads.
    let lost_from = first_after(&ends, floor);
    assert!(back.len() < 3000 - lost_from && back.last() == Some(&"e2999".to_string()));
    append(&j, 3000, 3500).await;
    drop(j);
    let (j, _) = Journal::open_at(dir.path(), SEGMENT, floor, false).unwrap();
    assert_eq!(ids(&j, floor)[back.len()..], want(3000..3500));
}

#[tokio::test]
async fn a_deleted_segment_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (floor, _) = segments_with_a_checkpoint(dir.path()).await;
    let files = segment_files(dir.path());
    std::fs::remove_file(&files[3]).unwrap();
    let message = refused(dir.path(), floor);
    assert!(message.contains("are missing"), "{message}");
    let (j, notes) = repaired(dir.path(), floor);
    assert!(notes.iter().any(|n| n.contains("kept as")), "{notes:?}");
    let back = ids(&j, floor);
    assert_eq!(back.last().map(String::as_str), Some("e2999"));
    append(&j, 3000, 3500).await;
    drop(j);
    let (j, _) = Journal::open_at(dir.path(), SEGMENT, floor, false).unwrap();
    assert_eq!(ids(&j, floor)[back.len()..], want(3000..3500));
}

#[tokio::test]
async fn a_deleted_folder_or_last_segment_never_writes_below_the_checkpoint() {
    for what in ["folder", "last segment"] {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal");
        let (_, ends) = segments_with_a_checkpoint(&journal).await;
        // The checkpoint is at the end: everything was acknowledged.
        let floor = *ends.last().unwrap();
        match what {
            "folder" => std::fs::remove_dir_all(&journal).unwrap(),
            _ => std::fs::write(segment_files(&journal).last().unwrap(), b"").unwrap(),
        }
        let message = refused(&journal, floor);
        assert!(
            message.contains("before the newest checkpoint"),
            "{what}: {message}"
        );
        let (j, _) = repaired(&journal, floor);
        assert_eq!(j.end(), floor, "{what}: goes on from the checkpoint");
        append(&j, 3000, 3500).await;
        drop(j);
        // The next start, from the same checkpoint, reads all 500.
        let (j, notes) = Journal::open_at(&journal, SEGMENT, floor, false).unwrap();
        assert!(notes.is_empty(), "{what}: {notes:?}");
        assert_eq!(ids(&j, floor), want(3000..3500), "{what}");
    }
}

/// The same through `palisade serve`: acknowledged events, a kill, a byte
/// flipped a quarter into the journal. The next start refuses (exit 64,
/// naming the file and the repair); `--repair-journal` starts with every
/// readable event; what it then acknowledges survives the next kill.
#[test]
fn serve_refuses_a_damaged_journal_until_asked_to_repair_it() {
    use support::child::Serve;
    let events = support::simulated::outcomes(60, 2);
    let post = |s: &Serve, batch: &[String]| {
        let body = format!("[{}]", batch.join(","));
        assert_eq!(s.call("POST", "/v1/events", &body).map(|r| r.0), Some(202));
    };
    let replayed = |s: &Serve| -> u64 {
        let log = s.log();
        let at = log.find(" entries replayed").expect("a replay line");
        let digits: String = log[..at]
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.chars().rev().collect::<String>().parse().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let (first, rest) = events.split_at(events.len() - 200);
    let mut s = Serve::start_in(dir.path(), "", &[]);
    s.wait_ready();
    for b in first.chunks(250) {
        post(&s, b);
    }
    s.kill();
    let journal = dir.path().join("data/journal");
    let seg = &segment_files(&journal)[0];
    let mut bytes = std::fs::read(seg).unwrap();
    let quarter = bytes.len() / 4;
    bytes[quarter] ^= 0x04;
    std::fs::write(seg, &bytes).unwrap();

    let mut refused = Serve::start_in(dir.path(), "", &[]);
    let status = refused.child.wait().unwrap();
    let log = refused.log();
    assert_eq!(status.code(), Some(64), "{log}");
    assert!(
        log.contains("damaged at position") && log.contains(&seg.display().to_string()),
        "{log}"
    );

    let mut s = Serve::start_in(dir.path(), "", &["--repair-journal"]);
    s.wait_ready();
    assert!(s.log().contains("kept as"), "{}", s.log());
    assert_eq!(
        replayed(&s),
        first.len() as u64 - 1,
        "only the damaged record lost"
    );
    for b in rest.chunks(100) {
        post(&s, b);
    }
    s.kill();
    let mut s = Serve::start_in(dir.path(), "", &[]);
    s.wait_ready();
    assert_eq!(replayed(&s), events.len() as u64 - 1, "{}", s.log());
}
