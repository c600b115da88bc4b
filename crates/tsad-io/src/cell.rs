//! One cell's text: trimming, missing-value tokens, numbers (with a decimal point or comma).

use crate::options::DecimalMark;

/// A value cell, read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    /// Empty, `NaN`, `null`, `NA`, `N/A`, `None` or `-` (case-insensitive).
    Missing,
    /// A number; may be infinite (`inf`, `1e999`), which the caller must refuse.
    Number(f64),
    /// Valid UTF-8 that is not a number.
    Invalid,
    /// Bytes that are not UTF-8.
    NotUtf8,
}

/// Strips ASCII white space on both sides.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// Whether a trimmed cell marks a missing value.
pub(crate) fn is_missing(s: &[u8]) -> bool {
    match s.len() {
        0 => true,
        1 => s[0] == b'-',
        2 => s.eq_ignore_ascii_case(b"na"),
        3 => s.eq_ignore_ascii_case(b"nan") || s.eq_ignore_ascii_case(b"n/a"),
        4 => s.eq_ignore_ascii_case(b"null") || s.eq_ignore_ascii_case(b"none"),
        _ => false,
    }
}

/// Reads a trimmed value cell.
pub(crate) fn parse_value(s: &[u8]) -> Value {
    if is_missing(s) {
        return Value::Missing;
    }
    if let Some(v) = parse_short_decimal(s) {
        return Value::Number(v);
    }
    // fast-float2 parses the bytes directly, as std's `f64::from_str` would (same accepted
    // syntax), about twice as fast with the UTF-8 check it spares; bytes are checked for
    // UTF-8 only when they are not a number.
    match fast_float2::parse::<f64, _>(s) {
        // The parser also takes NaN spellings the tokens above miss ("+nan"): missing too.
        Ok(v) if v.is_nan() => Value::Missing,
        Ok(v) => Value::Number(v),
        Err(_) if std::str::from_utf8(s).is_err() => Value::NotUtf8,
        Err(_) => Value::Invalid,
    }
}

/// `[+-]digits[.digits]` with at most 15 digits in all, as most data is written: the digits
/// as an integer (exact in an f64) divided by a power of ten (exact up to 10^22) is the
/// correctly rounded value, bit for bit what fast-float2 gives (it takes the same path,
/// Clinger's), without its general syntax. `None` for anything else.
#[inline]
fn parse_short_decimal(s: &[u8]) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut mantissa = 0u64;
    let mut point = None;
    for (i, &b) in digits.iter().enumerate() {
        match b {
            b'0'..=b'9' => mantissa = mantissa * 10 + u64::from(b - b'0'),
            b'.' if point.is_none() => point = Some(i),
            _ => return None,
        }
    }
    let fraction = match point {
        // A digit on both sides of the point.
        Some(p) if p == 0 || p + 1 == digits.len() => return None,
        Some(p) => digits.len() - p - 1,
        None if digits.len() > 15 => return None,
        None => 0,
    };
    // Below 10^16, so the signed conversion (one instruction) is exact.
    let v = mantissa as i64 as f64 / POW10[fraction];
    Some(if negative { -v } else { v })
}

/// Reads a trimmed value cell written with `mark` as its decimal mark. With a comma, `12,5`
/// and `1.234,5` read as 12.5 and 1234.5; a cell without a comma reads as with a point.
pub(crate) fn parse_value_in(s: &[u8], mark: DecimalMark) -> Value {
    if mark == DecimalMark::Comma && s.contains(&b',') {
        let mut buf = [0u8; 64];
        return match comma_to_point(s, &mut buf) {
            Some(t) => parse_value(t),
            None if std::str::from_utf8(s).is_err() => Value::NotUtf8,
            None => Value::Invalid,
        };
    }
    parse_value(s)
}

/// `1.234,5` as `1234.5` in `buf`: one comma, and dots only as thousands separators before it
/// (groups of three digits). `None` for anything else.
fn comma_to_point<'b>(s: &[u8], buf: &'b mut [u8; 64]) -> Option<&'b [u8]> {
    let comma = s.iter().position(|&b| b == b',')?;
    let (int, frac) = (&s[..comma], &s[comma + 1..]);
    if frac.contains(&b',') || frac.contains(&b'.') || s.len() > buf.len() {
        return None;
    }
    let digits = int
        .strip_prefix(b"-")
        .or(int.strip_prefix(b"+"))
        .unwrap_or(int);
    if digits.contains(&b'.') {
        let mut groups = digits.split(|&b| b == b'.');
        let first = groups.next()?;
        let ok = (1..=3).contains(&first.len())
            && first.iter().all(u8::is_ascii_digit)
            && groups.all(|g| g.len() == 3 && g.iter().all(u8::is_ascii_digit));
        if !ok {
            return None;
        }
    }
    let mut n = 0;
    for &b in int.iter().filter(|&&b| b != b'.') {
        buf[n] = b;
        n += 1;
    }
    buf[n] = b'.';
    n += 1;
    buf[n..n + frac.len()].copy_from_slice(frac);
    Some(&buf[..n + frac.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_cells() {
        let cases: &[(&str, &[u8], Value)] = &[
            ("empty", b"", Value::Missing),
            ("NaN", b"NaN", Value::Missing),
            ("nan", b"nan", Value::Missing),
            ("null", b"null", Value::Missing),
            ("NULL", b"NULL", Value::Missing),
            ("NA", b"NA", Value::Missing),
            ("N/A", b"N/A", Value::Missing),
            ("dash", b"-", Value::Missing),
            ("None", b"None", Value::Missing),
            ("int", b"42", Value::Number(42.0)),
            ("negative", b"-1.5", Value::Number(-1.5)),
            ("exponent", b"1e3", Value::Number(1000.0)),
            ("plus sign", b"+1.5", Value::Number(1.5)),
            ("leading dot", b".5", Value::Number(0.5)),
            ("underflow", b"1e-400", Value::Number(0.0)),
            ("plus nan", b"+nan", Value::Missing),
            ("hex", b"0x10", Value::Invalid),
            ("trailing text", b"1d", Value::Invalid),
            ("inf", b"inf", Value::Number(f64::INFINITY)),
            ("overflow", b"1e999", Value::Number(f64::INFINITY)),
            ("text", b"abc", Value::Invalid),
            ("decimal comma", b"1,5", Value::Invalid),
            ("latin-1", b"1\xe9", Value::NotUtf8),
        ];
        for (name, cell, want) in cases {
            assert_eq!(parse_value(cell), *want, "{name}");
        }
        assert_eq!(trim(b"  7 \t"), b"7");
    }

    #[test]
    fn short_decimals_read_as_fast_float_does() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut cells: Vec<String> = [
            "0",
            "-0",
            "-0.0",
            "+1.5",
            "1.",
            ".5",
            "1.2.3",
            "123456789012345",
            "1234567890123456",
            "0.000000000000001",
            "999999999999999.9",
            "99999999999999.99",
            "-",
            "+",
            "1e3",
            "82.67",
            "73.944",
            "0.1",
            "0.3",
            "2.675",
            "1.0000000000000002",
        ]
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
        for _ in 0..20_000 {
            let digits = rng.random_range(1..17);
            let mut c: String = (0..digits)
                .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
                .collect();
            if rng.random_range(0..4) > 0 {
                c.insert(rng.random_range(0..=c.len()), '.');
            }
            if rng.random_range(0..3) == 0 {
                c.insert(0, '-');
            }
            cells.push(c);
        }
        for c in &cells {
            let want = fast_float2::parse::<f64, _>(c.as_bytes()).ok();
            if let Some(got) = parse_short_decimal(c.as_bytes()) {
                assert_eq!(Some(got.to_bits()), want.map(f64::to_bits), "{c}");
            }
        }
        assert_eq!(parse_short_decimal(b"82.67"), Some(82.67));
    }

    #[test]
    fn decimal_comma_cells() {
        let cases: &[(&str, &[u8], Value)] = &[
            ("comma", b"73,967", Value::Number(73.967)),
            ("negative", b"-0,5", Value::Number(-0.5)),
            ("thousands", b"1.234,5", Value::Number(1234.5)),
            ("millions", b"-1.234.567,25", Value::Number(-1_234_567.25)),
            ("no comma", b"12", Value::Number(12.0)),
            ("point only reads as a point", b"1.5", Value::Number(1.5)),
            ("exponent", b"1,5e3", Value::Number(1500.0)),
            ("missing", b"NA", Value::Missing),
            ("two commas", b"1,2,3", Value::Invalid),
            ("bad grouping", b"12.34,5", Value::Invalid),
            ("dot after comma", b"1,5.2", Value::Invalid),
            ("text", b"a,b", Value::Invalid),
            (
                "longer than the buffer",
                b"1,000000000000000000000000000000000000000000000000000000000000000000000",
                Value::Invalid,
            ),
            ("latin-1", b"1,\xe9", Value::NotUtf8),
        ];
        for (name, cell, want) in cases {
            assert_eq!(parse_value_in(cell, DecimalMark::Comma), *want, "{name}");
        }
        assert_eq!(
            parse_value_in(b"73,967", DecimalMark::Point),
            Value::Invalid
        );
    }
}
