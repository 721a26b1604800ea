//! `checkpoint_read`: the newest checkpoint of a folder, loaded.

use super::{mode, parts, scratch, Bytes};
use palisade::engine::Engine;
use palisade::node::checkpoint::NodeCheckpoints;
use palisade::state::checkpoint::{read_history, Checkpoints, Corrupt};
use std::sync::OnceLock;

const CHECKPOINT_MAGIC: &[u8; 8] = b"PALISCKP";
const HISTORY_LIMITS: (usize, usize) = (20, 1000);
const RECENT_CAP: usize = 1000;

/// A checkpoint header as `src/state/checkpoint/header.rs` writes it.
struct CheckpointHeader<'a> {
    version: u32,
    position: u64,
    key_fingerprint: u64,
    hash_probe: u64,
    body_len: u64,
    body_crc: u32,
    rules_version: &'a str,
    model_version: &'a str,
}

impl CheckpointHeader<'_> {
    fn bytes(&self) -> Vec<u8> {
        let mut b = CHECKPOINT_MAGIC.to_vec();
        b.extend_from_slice(&self.version.to_le_bytes());
        b.extend_from_slice(&[0; 8]); // length and CRC, below
        b.extend_from_slice(&self.position.to_le_bytes());
        b.extend_from_slice(&self.key_fingerprint.to_le_bytes());
        b.extend_from_slice(&self.hash_probe.to_le_bytes());
        b.extend_from_slice(&self.body_len.to_le_bytes());
        b.extend_from_slice(&self.body_crc.to_le_bytes());
        for s in [self.rules_version, self.model_version] {
            b.extend_from_slice(&(s.len() as u16).to_le_bytes());
            b.extend_from_slice(s.as_bytes());
        }
        let len = b.len() as u32;
        b[12..16].copy_from_slice(&len.to_le_bytes());
        let crc = crc32fast::hash(&b);
        b[16..20].copy_from_slice(&crc.to_le_bytes());
        b
    }
}

/// What a checkpoint header must say to be restored into [`parts`]'s engine.
struct EngineStamp {
    key_fingerprint: u64,
    hash_probe: u64,
    rules_version: String,
    model_version: String,
}

fn engine_stamp() -> &'static EngineStamp {
    static STAMP: OnceLock<EngineStamp> = OnceLock::new();
    STAMP.get_or_init(|| {
        let e = Engine::new(parts());
        EngineStamp {
            key_fingerprint: e.hash_key_fingerprint(),
            hash_probe: e.hash_probe(),
            rules_version: e.rules_version().to_string(),
            model_version: e.model_version().to_string(),
        }
    })
}

/// Bytes as the newest checkpoint in a folder, loaded
/// (`src/state/checkpoint`, `src/node/checkpoint.rs`). Verbatim: the bytes
/// are the file. Built: a flags byte, a version byte (1, 2, or 3 for a
/// future one), then the body, under a header with right lengths and
/// checksums and the running engine's hash key and probe, so the body's
/// decoders are reached. Flags: 1, restore into an engine (else read the
/// history sections alone, as `read_history`); 2, other rules; 4, another
/// model; 8, a wrong body checksum; 16, a byte past the body's end. Loading
/// may fail or skip the file; it must not panic, hang or run out of memory.
pub fn checkpoint_read(data: &[u8]) {
    let Some((verbatim, rest)) = mode(data) else {
        return;
    };
    let stamp = engine_stamp();
    let dir = scratch();
    let folder = dir.path().join("checkpoints");
    std::fs::create_dir_all(&folder).expect("the checkpoint folder");
    let file = folder.join(format!("checkpoint-{:020}.ckpt", 7));
    let flags = if verbatim {
        std::fs::write(&file, rest).expect("a checkpoint");
        rest.get(20).copied().unwrap_or(1) // the header's position: any byte
    } else {
        let mut b = Bytes(rest);
        let flags = b.u8();
        let version = 1 + u32::from(b.u8() % 3);
        let body = b.rest();
        let header = CheckpointHeader {
            version,
            position: 7,
            key_fingerprint: stamp.key_fingerprint,
            hash_probe: stamp.hash_probe,
            body_len: body.len() as u64,
            body_crc: crc32fast::hash(body) ^ u32::from(flags & 8 != 0),
            rules_version: if flags & 2 != 0 {
                "fuzz-rules"
            } else {
                &stamp.rules_version
            },
            model_version: if flags & 4 != 0 {
                "fuzz-model"
            } else {
                &stamp.model_version
            },
        };
        let mut bytes = header.bytes();
        bytes.extend_from_slice(body);
        if flags & 16 != 0 {
            bytes.push(0);
        }
        std::fs::write(&file, bytes).expect("a checkpoint");
        flags
    };
    let c = Checkpoints::new(folder, 2);
    if flags & 1 != 0 {
        let _ = c.load_newest(&parts, HISTORY_LIMITS, RECENT_CAP);
    } else {
        let _ = c.load_newest_with(&mut |_, _, src, _| {
            Ok(read_history(src, HISTORY_LIMITS, RECENT_CAP, [1, 2, 3, 4])
                .map(|_| ())
                .map_err(Corrupt))
        });
    }
}
