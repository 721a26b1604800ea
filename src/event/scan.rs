//! Finding the bytes JSON strings treat specially, many at a time: both the
//! quick event decoder and the decision encoder ask this of every string.

/// Where the first byte that ends or interrupts a plain string is: a quote, a
/// backslash or a control character. memchr's setup outweighed its search on
/// strings this short, and a second pass looked for control characters, so
/// this looks for all three at once, sixteen bytes at a time with SSE2 (part
/// of every x86-64) or eight at a time in a `u64` elsewhere.
pub(crate) fn special(b: &[u8]) -> Option<usize> {
    let mut at = 0;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of every x86-64 target, and each load reads exactly
    // the 16 bytes of its chunk.
    unsafe {
        use std::arch::x86_64::*;
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let below_space = _mm_set1_epi8(0x1f);
        for chunk in b.chunks_exact(16) {
            let v = _mm_loadu_si128(chunk.as_ptr().cast());
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, below_space), v);
            let hit = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                control,
            );
            let found = _mm_movemask_epi8(hit) as u32;
            if found != 0 {
                return Some(at + found.trailing_zeros() as usize);
            }
            at += 16;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    return special_words(b);
    let is_special = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
    let i = b[at..].iter().position(|&c| is_special(c))?;
    Some(at + i)
}

/// `special` eight bytes at a time in a `u64`, for targets without SSE2.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn special_words(b: &[u8]) -> Option<usize> {
    let mut at = 0;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Bytes below `n` (for n <= 128) get their high bit set; the lowest one
    // so marked is always a real match (a borrow only marks bytes above one).
    let below = |w: u64, n: u64| w.wrapping_sub(ONES * n) & !w & HIGH;
    for chunk in b.chunks_exact(8) {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        let found = below(w ^ (ONES * b'"' as u64), 1)
            | below(w ^ (ONES * b'\\' as u64), 1)
            | below(w, 0x20);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    b[at..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|i| at + i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn special_finds_the_first_quote_backslash_or_control() {
        let naive = |b: &[u8]| b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        proptest!(|(bytes in prop::collection::vec(
            prop::sample::select(vec![b'a', b'"', b'\\', 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xe9, 0xff, 0x00, b'!', b'#', b'[', b']']),
            0..40,
        ))| {
            prop_assert_eq!(special(&bytes), naive(&bytes));
            prop_assert_eq!(special_words(&bytes), naive(&bytes));
        });
    }
}
