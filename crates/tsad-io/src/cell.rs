//! One cell's text: trimming, missing-value tokens, numbers.

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
    // Numbers are ASCII; only look for UTF-8 trouble when the fast path fails.
    let Ok(text) = std::str::from_utf8(s) else {
        return Value::NotUtf8;
    };
    match text.parse::<f64>() {
        // `f64::from_str` also takes "NaN" spellings the tokens above miss ("+nan"): those
        // are missing values too.
        Ok(v) if v.is_nan() => Value::Missing,
        Ok(v) => Value::Number(v),
        Err(_) => Value::Invalid,
    }
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
}
