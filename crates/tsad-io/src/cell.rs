//! One cell's text: trimming, missing-value tokens, numbers (with a decimal point or comma,
//! and as spreadsheets and reports dress them: `$1,234.50`, `12.5%`, `(300)`, `1.234,50 €`).

use crate::options::DecimalMark;

/// A value cell, read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    /// Empty, `NaN`, `null`, `NA`, `N/A`, `None` or `-` (case-insensitive), or a
    /// spreadsheet's error value (`#N/A`, `#DIV/0!`, ...: [`SPREADSHEET_ERRORS`]).
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

/// The error values spreadsheets write into a cell whose formula has no value (Excel's, and
/// Google Sheets' `#ERROR!`; `#N/A N/A` as some terminals export it): missing values.
const SPREADSHEET_ERRORS: [&[u8]; 9] = [
    b"#N/A",
    b"#N/A N/A",
    b"#VALUE!",
    b"#DIV/0!",
    b"#NUM!",
    b"#REF!",
    b"#NULL!",
    b"#NAME?",
    b"#ERROR!",
];

/// Whether a trimmed cell marks a missing value.
pub(crate) fn is_missing(s: &[u8]) -> bool {
    match s.len() {
        0 => true,
        1 => s[0] == b'-',
        2 => s.eq_ignore_ascii_case(b"na"),
        3 => s.eq_ignore_ascii_case(b"nan") || s.eq_ignore_ascii_case(b"n/a"),
        4 => {
            s.eq_ignore_ascii_case(b"null")
                || s.eq_ignore_ascii_case(b"none")
                || s.eq_ignore_ascii_case(b"#n/a")
        }
        _ => s[0] == b'#' && SPREADSHEET_ERRORS.iter().any(|e| s.eq_ignore_ascii_case(e)),
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
/// and `1.234,5` read as 12.5 and 1234.5; a cell without a comma reads as with a point. A
/// cell that is no plain number may be a dressed one ([`parse_dressed`]): `$1,234.50`,
/// `12.5%`, `(300)`.
pub(crate) fn parse_value_in(s: &[u8], mark: DecimalMark) -> Value {
    match parse_plain(s, mark) {
        Value::Invalid => parse_dressed(s, mark).map_or(Value::Invalid, Value::Number),
        other => other,
    }
}

/// A label written as a word, as pandas writes a boolean column and people write flags:
/// `true`/`false`, `yes`/`no`, `t`/`f`, `y`/`n`, `anomaly`/`normal` (any case) as 1 and 0;
/// [`Value::Invalid`] for any other word.
pub(crate) fn parse_label(s: &[u8]) -> Value {
    const YES: [&[u8]; 5] = [b"true", b"yes", b"t", b"y", b"anomaly"];
    const NO: [&[u8]; 5] = [b"false", b"no", b"f", b"n", b"normal"];
    let is = |words: &[&[u8]]| words.iter().any(|w| s.eq_ignore_ascii_case(w));
    if is(&YES) {
        Value::Number(1.0)
    } else if is(&NO) {
        Value::Number(0.0)
    } else {
        Value::Invalid
    }
}

/// The number a trimmed cell reads as only once undressed ([`parse_dressed`]), `None` for a
/// plain number or no number: the cells ingest names in a warning, since a grouping comma and
/// a decimal comma look alike.
pub(crate) fn dressed(s: &[u8], mark: DecimalMark) -> Option<f64> {
    match parse_plain(s, mark) {
        Value::Invalid => parse_dressed(s, mark),
        _ => None,
    }
}

/// [`parse_value_in`] without the dressed forms.
fn parse_plain(s: &[u8], mark: DecimalMark) -> Value {
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

/// Currency signs a number may carry before or after it, with or without a space. Longer
/// signs first, so `US$` is not read as `$` after `US`.
const CURRENCIES: [&str; 44] = [
    "US$", "NZ$", "HK$", "MX$", "A$", "C$", "S$", "R$", "$", "€", "£", "¥", "₹", "₩", "₽", "₺",
    "₪", "₫", "฿", "₴", "₦", "₱", "¢", "kr", "zł", "Kč", "Ft", "USD", "EUR", "GBP", "JPY", "CHF",
    "CAD", "AUD", "NZD", "CNY", "INR", "BRL", "MXN", "SEK", "NOK", "DKK", "PLN", "ZAR",
];

/// `Some((negative, rest))` when `t` starts with `+`, `-` or a minus sign (U+2212).
fn strip_sign(t: &str) -> Option<(bool, &str)> {
    t.strip_prefix('-')
        .or_else(|| t.strip_prefix('\u{2212}'))
        .map(|r| (true, r))
        .or_else(|| t.strip_prefix('+').map(|r| (false, r)))
}

/// Characters that group thousands besides the other decimal mark: spaces (plain, no-break,
/// narrow no-break, thin) and apostrophes (`1'234.5`, as in Switzerland).
const GROUPING: [char; 6] = [' ', '\u{a0}', '\u{202f}', '\u{2009}', '\'', '\u{2019}'];

/// A number as spreadsheets, reports and accounting exports dress it: a currency sign before
/// or after (`$1,234.50`, `1.234,50 €`, `USD 12`), a percent sign after (`12.5%` reads as
/// 12.5, in the file's own unit), accounting parentheses for a negative (`(1,234.50)` is
/// -1234.5), a minus sign (U+2212), and thousands grouped by the other mark (`,` when `mark`
/// is a point, `.` when it is a comma), a space or an apostrophe, in groups of three digits
/// after a first group of one to three. `None` for anything else, so text that merely holds
/// digits (`ABC 123`, `12:30`, `2024-01-05`) stays text. Cold: plain numbers never get here.
#[cold]
#[inline(never)]
pub(crate) fn parse_dressed(s: &[u8], mark: DecimalMark) -> Option<f64> {
    let s = std::str::from_utf8(s).ok()?.trim();
    if s.len() > 64 {
        return None;
    }
    let (mut sign, mut body) = match s.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
        Some(inner) => (Some(true), inner.trim()),
        None => (None, s),
    };
    // A sign, a currency, a sign (`-$5`, `$-5`, `- 5 €`): one sign in all.
    let mut take_sign = |body: &mut &str| -> Option<()> {
        if let Some((negative, rest)) = strip_sign(body) {
            if sign.is_some() {
                return None;
            }
            sign = Some(negative);
            *body = rest.trim_start();
        }
        Some(())
    };
    take_sign(&mut body)?;
    let currency = CURRENCIES.iter().find(|c| body.starts_with(**c));
    if let Some(c) = currency {
        body = body[c.len()..].trim_start();
    }
    take_sign(&mut body)?;
    if let Some(t) = body.strip_suffix('%') {
        body = t.trim_end();
    } else if currency.is_none()
        && let Some(c) = CURRENCIES.iter().find(|c| body.ends_with(**c))
    {
        body = body[..body.len() - c.len()].trim_end();
    }
    let negative = sign == Some(true);
    let signed = |v: f64| if negative { -v } else { v };
    // What is left may be a plain number (`12.5` of `12.5%`, `1.234,50` of `€1.234,50`).
    if let Value::Number(v) = parse_plain(body.as_bytes(), mark) {
        return v.is_finite().then(|| signed(v));
    }
    let s = body;
    let (point, group) = match mark {
        DecimalMark::Point => ('.', ','),
        DecimalMark::Comma => (',', '.'),
    };
    let (int, frac) = match s.split_once(point) {
        Some((i, f)) => (i, Some(f)),
        None => (s, None),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if let Some(f) = frac
        && !digits(f)
    {
        return None;
    }
    // Without a grouping separator the rest was a plain number or is no number at all.
    let sep = int.chars().find(|&c| c == group || GROUPING.contains(&c))?;
    let mut plain = String::with_capacity(s.len() + 1);
    let mut groups = int.split(sep);
    let first = groups.next()?;
    if !(1..=3).contains(&first.len()) || !digits(first) {
        return None;
    }
    plain.push_str(first);
    for g in groups {
        if g.len() != 3 || !digits(g) {
            return None;
        }
        plain.push_str(g);
    }
    if let Some(f) = frac {
        plain.push('.');
        plain.push_str(f);
    }
    match parse_value(plain.as_bytes()) {
        Value::Number(v) if v.is_finite() => Some(signed(v)),
        _ => None,
    }
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
            ("spreadsheet no value", b"#N/A", Value::Missing),
            ("spreadsheet division by 0", b"#DIV/0!", Value::Missing),
            ("spreadsheet error, any case", b"#value!", Value::Missing),
            ("a hash that is no error", b"#12", Value::Invalid),
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
        // With a decimal point, a comma can only group thousands: read so, and said so
        // (ingest warns about every dressed value column; `dressed` tells it which).
        assert_eq!(
            parse_value_in(b"73,967", DecimalMark::Point),
            Value::Number(73967.0)
        );
        assert_eq!(dressed(b"73,967", DecimalMark::Point), Some(73967.0));
        assert_eq!(dressed(b"73,967", DecimalMark::Comma), None);
        assert_eq!(parse_value_in(b"7,5", DecimalMark::Point), Value::Invalid);
    }

    #[test]
    fn dressed_cells() {
        use DecimalMark::{Comma, Point};
        let cases: &[(&str, &str, DecimalMark, Option<f64>)] = &[
            ("dollars", "$10,257.64", Point, Some(10257.64)),
            ("negative dollars", "-$1,234.50", Point, Some(-1234.5)),
            ("sign after the sign", "$-1,234.50", Point, Some(-1234.5)),
            ("code before", "USD 1,234", Point, Some(1234.0)),
            ("prefixed dollar", "US$ 12", Point, Some(12.0)),
            ("euros after", "1.234,50 €", Comma, Some(1234.5)),
            ("euros before", "€1.234,50", Comma, Some(1234.5)),
            ("krona", "12 345,5 kr", Comma, Some(12345.5)),
            ("percent", "12.5%", Point, Some(12.5)),
            ("percent, spaced", "-3 %", Point, Some(-3.0)),
            ("percent, comma", "12,5%", Comma, Some(12.5)),
            ("a point in a comma file", "12.5%", Comma, Some(12.5)),
            ("a signed exponent", "-1e3 %", Point, Some(-1000.0)),
            ("accounting negative", "(1,234.50)", Point, Some(-1234.5)),
            ("accounting dollars", "($300)", Point, Some(-300.0)),
            ("minus sign", "\u{2212}4.5", Point, Some(-4.5)),
            ("millions", "1,234,567", Point, Some(1234567.0)),
            ("space groups", "1 234 567.5", Point, Some(1234567.5)),
            ("no-break space", "1\u{a0}234", Point, Some(1234.0)),
            ("apostrophes", "1'234.5", Point, Some(1234.5)),
            ("only a fraction", "$.5", Point, Some(0.5)),
            // Text that holds digits stays text.
            ("a group of two", "12,34", Point, None),
            ("a first group of four", "1234,567", Point, None),
            ("mixed separators", "1,234 567", Point, None),
            ("two signs", "-(5)", Point, None),
            ("two signs around a currency", "-$-5", Point, None),
            ("an identifier", "ABC 123", Point, None),
            ("a time", "12:30", Point, None),
            ("a date", "2024-01-05", Point, None),
            ("a currency alone", "$", Point, None),
            ("a percent alone", "%", Point, None),
            ("a letter in the fraction", "$1.5a", Point, None),
            ("a currency on both sides", "$5 €", Point, None),
            (
                "longer than a cell should be",
                &format!("${}", "1".repeat(70)),
                Point,
                None,
            ),
        ];
        for (name, cell, mark, want) in cases {
            assert_eq!(parse_dressed(cell.as_bytes(), *mark), *want, "{name}");
            let value = parse_value_in(cell.as_bytes(), *mark);
            assert_eq!(value, want.map_or(Value::Invalid, Value::Number), "{name}");
        }
        // A plain number is no dressed one.
        assert_eq!(dressed(b"1234.5", DecimalMark::Point), None);
        assert_eq!(dressed(b"$1", DecimalMark::Point), Some(1.0));
    }

    #[test]
    fn label_words() {
        for (cell, want) in [
            ("True", Value::Number(1.0)),
            ("FALSE", Value::Number(0.0)),
            ("yes", Value::Number(1.0)),
            ("n", Value::Number(0.0)),
            ("anomaly", Value::Number(1.0)),
            ("Normal", Value::Number(0.0)),
            ("maybe", Value::Invalid),
            ("truee", Value::Invalid),
        ] {
            assert_eq!(parse_label(cell.as_bytes()), want, "{cell}");
        }
    }

    /// Groups of three from the right, joined by `sep`: `1234567` as `1,234,567`.
    fn grouped(int: u64, sep: char) -> String {
        let digits = int.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(sep);
            }
            out.push(c);
        }
        out
    }

    proptest::proptest! {
        /// Any text, currency signs and separators included, reads without a panic.
        #[test]
        fn dressed_text_never_panics(s in "[-+()$€£ 0-9.,%'kr\u{a0}\u{2212}A-Z]{0,24}") {
            for mark in [DecimalMark::Point, DecimalMark::Comma] {
                let _ = parse_value_in(s.as_bytes(), mark);
            }
        }

        /// A number written the way a report writes it reads back as that number.
        #[test]
        fn dressed_numbers_read_back(
            int in 0u64..10_000_000_000,
            cents in 0u32..100,
            negative: bool,
            style in 0usize..4,
            comma: bool,
        ) {
            let (mark, point, group) = if comma {
                (DecimalMark::Comma, ',', '.')
            } else {
                (DecimalMark::Point, '.', ',')
            };
            let body = format!("{}{point}{cents:02}", grouped(int, group));
            let cell = match (style, negative) {
                (0, false) => format!("${body}"),
                (0, true) => format!("-${body}"),
                (1, false) => format!("{body} €"),
                (1, true) => format!("({body} €)"),
                (2, false) => format!("{body}%"),
                (2, true) => format!("\u{2212}{body}%"),
                (_, false) => format!("USD {body}"),
                (_, true) => format!("(USD {body})"),
            };
            let want = (int as f64 + f64::from(cents) / 100.0) * if negative { -1.0 } else { 1.0 };
            let got = parse_dressed(cell.as_bytes(), mark);
            proptest::prop_assert!(
                got.is_some_and(|v| (v - want).abs() <= 1e-9 * want.abs().max(1.0)),
                "{cell} read as {got:?}, want {want}"
            );
        }
    }
}
