//! `journal_read`: segments opened, repaired and replayed.

use super::event::GOOD_EVENT;
use super::{mode, scratch, Bytes};
use palisade::event::Event;
use palisade::state::journal::{Entry, EntryRef, Journal};

/// A journal record as `src/state/journal` writes it: length, CRC-32 of the
/// rest, kind, payload.
fn journal_record(kind: u8, payload: &[u8], good_crc: bool) -> Vec<u8> {
    let mut body = vec![kind];
    body.extend_from_slice(payload);
    let crc = crc32fast::hash(&body) ^ u32::from(!good_crc);
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn segment_name(base: u64) -> String {
    format!("journal-{base:020}.log")
}

/// Bytes as journal segments, opened and replayed
/// (`src/state/journal/{mod,repair}.rs`). Verbatim: the bytes are segment 0.
/// Built: a flags byte (repair; two segments; a floor; a gap before the
/// second segment), a floor (u16), a gap (u8), then records, each a head
/// byte (kind in the low 7 bits, a wrong checksum with the top bit), a
/// length (u16, at most 4 KiB) and that much payload (cut short at the end
/// of the input, as a torn tail). Errors are answers; once open, an event
/// appended and synced must replay back alone from where it was appended.
pub fn journal_read(data: &[u8]) {
    let Some((verbatim, rest)) = mode(data) else {
        return;
    };
    let dir = scratch();
    let journal = dir.path().join("journal");
    std::fs::create_dir_all(&journal).expect("the journal folder");
    let (repair, floor) = if verbatim {
        std::fs::write(journal.join(segment_name(0)), rest).expect("a segment");
        (rest.first().is_some_and(|b| b & 1 == 1), 0)
    } else {
        let mut b = Bytes(rest);
        let flags = b.u8();
        let floor = b.u16();
        let gap = b.u8();
        let mut records = Vec::new();
        while !b.0.is_empty() {
            let head = b.u8();
            let len = usize::from(b.u16() & 0x0fff);
            records.push(journal_record(head & 0x7f, b.take(len), head & 0x80 == 0));
        }
        let split = if flags & 2 != 0 {
            records.len() / 2
        } else {
            records.len()
        };
        let first: Vec<u8> = records[..split].concat();
        let second: Vec<u8> = records[split..].concat();
        std::fs::write(journal.join(segment_name(0)), &first).expect("a segment");
        if flags & 2 != 0 {
            let base = first.len() as u64 + if flags & 8 != 0 { u64::from(gap) } else { 0 };
            std::fs::write(journal.join(segment_name(base)), &second).expect("a segment");
        }
        let floor = if flags & 4 != 0 { u64::from(floor) } else { 0 };
        (flags & 1 == 1, floor)
    };
    let Ok((j, _notes)) = Journal::open_at(&journal, 1 << 16, floor, repair) else {
        return;
    };
    let mut n = 0usize;
    let _ = j.replay(floor, |_, _| {
        n += 1;
        Ok(())
    });
    let end = j.end();
    let event = Event::from_json(GOOD_EVENT.as_bytes()).expect("the sample event decodes");
    let mut scratch = Vec::new();
    let after = j
        .append(EntryRef::Event(&event), &mut scratch)
        .expect("an append to an opened journal");
    j.sync_blocking(after).expect("a sync");
    let mut back = Vec::new();
    let got = j.replay(end, |at, e| {
        back.push((at, e));
        Ok(())
    });
    assert_eq!(got.ok(), Some(after), "replaying what was just appended");
    assert_eq!(back, [(after, Entry::Event(event))], "the appended event");
}
