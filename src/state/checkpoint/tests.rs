use super::*;

#[test]
fn file_names_give_positions_and_nothing_else_does() {
    assert_eq!(
        position_of("checkpoint-00000000000000012345.ckpt"),
        Some(12_345)
    );
    assert_eq!(
        position_of("checkpoint-18446744073709551615.ckpt"),
        Some(u64::MAX)
    );
    assert_eq!(position_of("checkpoint-00000000000000012345.tmp"), None);
    assert_eq!(position_of("checkpoint-12345.ckpt"), None);
    assert_eq!(position_of("checkpoint-99999999999999999999.ckpt"), None);
}

#[test]
fn a_header_reads_back_and_any_flipped_bit_is_caught() {
    let h = Header {
        version: FORMAT_VERSION,
        len: 0,
        position: 77,
        stamp: Stamp {
            key_fingerprint: 1,
            hash_probe: 2,
            rules_version: "rules-abc".into(),
            model_version: "risk-v1".into(),
        },
        body_len: 0,
        body_crc: crc32fast::hash(b""),
    };
    let bytes = header_bytes(&h);
    let path = Path::new("h");
    let back = read_header(&mut &bytes[..], path).unwrap().ok().unwrap();
    assert_eq!(
        (
            back.position,
            back.len,
            back.stamp.rules_version.as_str(),
            back.stamp.model_version.as_str()
        ),
        (77, bytes.len(), "rules-abc", "risk-v1")
    );
    for bit in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        match read_header(&mut &b[..], path) {
            Ok(Err(Corrupt(_))) => {}
            // The version field's high bits make a "future" version only
            // if the CRC still matched, which a single flip cannot.
            other => panic!(
                "bit {bit}: {:?}",
                other.map(|r| r.is_ok()).map_err(|e| e.to_string())
            ),
        }
    }
}
