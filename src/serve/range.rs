//! `GET /range/{prefix}`: Have I Been Pwned's k-anonymity range API, answered
//! from the local breach-corpus index. A client sends the first 5 hex digits
//! of a password's SHA-1 and gets every suffix in the corpus under them, so
//! neither the password nor its full hash leaves the client. Like HIBP's, this
//! route needs no API key: what it answers is public corpus data.
//!
//! The answer is `SUFFIX:COUNT` lines (35 uppercase hex digits, a colon, the
//! count), separated by CRLF, sorted by suffix. With the request header
//! `Add-Padding: true` it is padded to a random 800 to 1,000 lines with
//! random suffixes of count 0, so the size of the answer does not tell the
//! prefix; a client ignores the count-0 lines.

use super::api::AppState;
use super::error::ApiError;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::{Rng, SeedableRng};

/// Padded answers hold between these many lines.
const PADDED_LINES: std::ops::RangeInclusive<usize> = 800..=1000;

/// A 5-hex-digit prefix, either case, as a 20-bit number.
pub fn parse_prefix(text: &str) -> Option<u32> {
    if text.len() != 5 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(text, 16).ok()
}

pub async fn range(
    State(s): State<AppState>,
    Path(prefix): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = parse_prefix(&prefix).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_prefix",
            "the prefix must be the first 5 hexadecimal characters of a SHA-1 hash",
        )
    })?;
    let index = s.pwned.load_full().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_corpus",
            "no breach corpus is loaded (pwned.index, --pwned-index)",
        )
    })?;
    if !index.has_range() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_range",
            "the loaded breach corpus was built with --no-range: it answers lookups, not ranges",
        ));
    }
    let mut body = Vec::with_capacity(32 * 1024);
    let lines = index
        .write_range(p, &mut body)
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let padding = headers
        .get("add-padding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if padding {
        body = pad(&body, lines);
    } else if body.ends_with(b"\r\n") {
        body.truncate(body.len() - 2);
    }
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // The corpus changes only with a new build.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    Ok(r)
}

/// The real lines and random count-0 ones, sorted together, CRLF between.
/// The real lines come sorted; the random suffixes are sorted on their own
/// (fixed-size keys, no allocation each) and merged in, a random one equal
/// to a real one dropped.
fn pad(real: &[u8], lines: usize) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut rng = rand_chacha::ChaCha8Rng::from_os_rng();
    let target = rng.random_range(PADDED_LINES).max(lines);
    let mut random: Vec<[u8; 35]> = (0..target - lines)
        .map(|_| {
            let (a, b, c): (u64, u64, u64) = (rng.random(), rng.random(), rng.random());
            let mut suffix = [0u8; 35];
            for (i, d) in suffix.iter_mut().enumerate() {
                let word = [a, b, c][i / 16];
                *d = HEX[(word >> ((i % 16) * 4) & 0xF) as usize];
            }
            suffix
        })
        .collect();
    random.sort_unstable();
    let mut real_lines = real
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| l.len() > 35)
        .peekable();
    let mut out = Vec::with_capacity(target * 40);
    let mut push = |line: &[u8], zero: bool| {
        if !out.is_empty() {
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(line);
        if zero {
            out.extend_from_slice(b":0");
        }
    };
    for r in &random {
        while let Some(l) = real_lines.next_if(|l| l[..35] <= r[..]) {
            push(l, false);
        }
        if real_lines.peek().is_some_and(|l| l[..35] == r[..]) {
            continue;
        }
        push(r, true);
    }
    for l in real_lines {
        push(l, false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_five_hex_digits_in_either_case() {
        assert_eq!(parse_prefix("21BD1"), Some(0x21BD1));
        assert_eq!(parse_prefix("21bd1"), Some(0x21BD1));
        for bad in ["21BD", "21BD12", "21BG1", "", "+1BD1", "２1BD1"] {
            assert_eq!(parse_prefix(bad), None, "{bad}");
        }
    }

    #[test]
    fn padding_keeps_every_real_line_and_adds_only_count_zero_ones() {
        let real =
            b"0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2\r\n";
        let padded = pad(real, 2);
        let text = String::from_utf8(padded).unwrap();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert!(PADDED_LINES.contains(&lines.len()), "{}", lines.len());
        let kept: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| !l.ends_with(":0"))
            .collect();
        assert_eq!(
            kept,
            [
                "0018A45C4D1DEF81644B54AB7F969B88D65:1",
                "00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2"
            ]
        );
        assert!(lines.windows(2).all(|w| w[0] < w[1]), "sorted");
        assert!(lines
            .iter()
            .all(|l| l.len() >= 37 && l.as_bytes()[35] == b':'));
    }
}
