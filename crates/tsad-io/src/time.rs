//! Timestamp parsing: ISO 8601 / RFC 3339 shapes, day-first and month-first dates, epoch
//! integers; all turned into Unix milliseconds (zone-less times are UTC).

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Timelike};

/// Formats Unix milliseconds as RFC 3339 in UTC: `2014-07-01T00:00:00Z`, with a fraction only
/// when the time has one (`2014-07-01T00:00:00.250Z`).
///
/// Timestamps outside chrono's range (about ±262,000 years) are written as the plain number.
pub fn format_timestamp(ms: i64) -> String {
    match DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => ms.to_string(),
    }
}

/// Parses one timestamp as a user types it on a command line or in a form: ISO 8601 /
/// RFC 3339 (`2014-02-07`, `2014-02-07 14:30`, `2014-02-07T14:30:00Z`) or an integer of epoch
/// seconds (up to 11 digits) or milliseconds. Returns Unix milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some((ms, _)) = parse_iso(s.as_bytes()) {
        return Some(ms);
    }
    let n = parse_int(s.as_bytes())?;
    Some(if n.unsigned_abs() < 100_000_000_000 {
        n.checked_mul(1000)?
    } else {
        n
    })
}

/// The family of timestamp layouts a time column uses, decided from a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeFormat {
    /// `YYYY-MM-DD[( |T)HH:MM[:SS[.f]]][zone]` (also with `/` in the date).
    Iso(IsoShape),
    /// `AA/BB/YYYY[ HH:MM[:SS[.f]][ AM|PM]]`: day-first or month-first, settled while
    /// streaming.
    Dmy {
        /// The date separator seen (`/`, `-` or `.`).
        sep: u8,
        /// Whether a time of day follows the date.
        time: TimeShape,
        /// Whether that time is on a 12-hour clock (`3:45 PM`).
        twelve_hour: bool,
    },
    /// A date with an English month name, in any order (`Jan 5, 2024`, `5 January 2024`,
    /// `05-Jan-2024`, `Fri, 5 Jan 2024`), a month alone (`Jan 2024`) or a quarter (`Q1 2024`),
    /// with an optional time of day.
    Named(NamedShape),
    /// `YYYYMMDD`: a date as eight digits (years 1900 to 2199).
    CompactDate,
    /// Integer seconds since the Unix epoch.
    EpochSeconds,
    /// Integer milliseconds since the Unix epoch.
    EpochMillis,
}

/// What a month-name cell looked like (for describing the format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct NamedShape {
    /// Whether a day of the month is given (else the month's first day).
    day: bool,
    /// A quarter (`2024 Q1`) rather than a month.
    quarter: bool,
    time: TimeShape,
    twelve_hour: bool,
}

/// How much of a time of day a cell carries (for describing the format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum TimeShape {
    /// A date alone.
    #[default]
    None,
    /// `HH:MM`.
    Minutes,
    /// `HH:MM:SS`.
    Seconds,
    /// `HH:MM:SS.fff`.
    Fraction,
}

/// What an ISO cell looked like (for describing the format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct IsoShape {
    date_sep: u8,
    /// `T`, `t` or space; 0 for a date alone.
    time_sep: u8,
    time: TimeShape,
    /// A 12-hour clock (`03:45 PM`).
    twelve_hour: bool,
    zone: ZoneShape,
    /// A year and a month alone (`2024-01`), read as the month's first day.
    month_only: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum ZoneShape {
    #[default]
    None,
    Utc,
    Offset,
}

impl TimeFormat {
    /// A short human description, e.g. `YYYY-MM-DD HH:MM:SS (no zone: read as UTC)`.
    pub(crate) fn describe(&self, order: DateOrder) -> String {
        match *self {
            TimeFormat::Iso(shape) => {
                let s = shape.date_sep as char;
                if shape.month_only {
                    return format!("YYYY{s}MM (months: each read as its first day, UTC midnight)");
                }
                let mut out = format!("YYYY{s}MM{s}DD");
                if shape.time_sep != 0 {
                    out.push(shape.time_sep as char);
                    out.push_str(time_pattern(shape.time));
                    if shape.twelve_hour {
                        out.push_str(" AM/PM");
                    }
                }
                match shape.zone {
                    ZoneShape::Utc => out.push_str("Z (ISO 8601 / RFC 3339, UTC)"),
                    ZoneShape::Offset => out.push_str("+HH:MM (ISO 8601 / RFC 3339 with offset)"),
                    ZoneShape::None if shape.time_sep == 0 => {
                        out.push_str(" (dates, UTC midnight)")
                    }
                    ZoneShape::None => out.push_str(" (ISO 8601, no zone: read as UTC)"),
                }
                out
            }
            TimeFormat::Dmy {
                sep,
                time,
                twelve_hour,
            } => {
                let s = sep as char;
                let layout = match order {
                    DateOrder::MonthFirst => format!("MM{s}DD{s}YYYY"),
                    _ => format!("DD{s}MM{s}YYYY"),
                };
                let clock = if twelve_hour { " AM/PM" } else { "" };
                let tail = if time == TimeShape::None {
                    String::new()
                } else {
                    format!(" {}{clock}", time_pattern(time))
                };
                let why = match order {
                    DateOrder::DayFirst => "day-first: a first field above 12 was seen",
                    DateOrder::MonthFirst => "month-first: a second field above 12 was seen",
                    DateOrder::Undecided => {
                        "day-first assumed: no field above 12 anywhere, so the order is ambiguous"
                    }
                };
                format!("{layout}{tail} ({why}; no zone: read as UTC)")
            }
            TimeFormat::Named(shape) if shape.quarter => {
                "quarters, as Q1 2024 or 2024-Q1 (each read as its first day, UTC midnight)"
                    .to_owned()
            }
            TimeFormat::Named(shape) if !shape.day => {
                "months by name, as Jan 2024 (each read as its first day, UTC midnight)".to_owned()
            }
            TimeFormat::Named(shape) => {
                let mut out =
                    "dates with month names (as Jan 5, 2024 or 5 January 2024)".to_owned();
                if shape.time != TimeShape::None {
                    out.push_str(" and ");
                    out.push_str(time_pattern(shape.time));
                    if shape.twelve_hour {
                        out.push_str(" AM/PM");
                    }
                }
                out.push_str(" (no zone: read as UTC)");
                out
            }
            TimeFormat::CompactDate => "YYYYMMDD (dates as eight digits, UTC midnight)".to_owned(),
            TimeFormat::EpochSeconds => "epoch seconds (integers)".to_owned(),
            TimeFormat::EpochMillis => "epoch milliseconds (integers)".to_owned(),
        }
    }
}

fn time_pattern(t: TimeShape) -> &'static str {
    match t {
        TimeShape::None => "",
        TimeShape::Minutes => "HH:MM",
        TimeShape::Seconds => "HH:MM:SS",
        TimeShape::Fraction => "HH:MM:SS.fff",
    }
}

/// Which of the two fields of an `AA/BB/YYYY` date is the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DateOrder {
    /// Nothing seen yet rules either order out; read as day-first.
    Undecided,
    /// `DD/MM/YYYY`.
    DayFirst,
    /// `MM/DD/YYYY`.
    MonthFirst,
}

/// Result of parsing one cell while streaming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// The timestamp in Unix milliseconds.
    Ok(i64),
    /// The timestamp, and every timestamp parsed before it was read day-first while the
    /// order was undecided but the file turned out month-first: swap them with
    /// [`swap_day_month`].
    OkSwapEarlier(i64),
    /// Not a timestamp in the file's format; the reason.
    Err(&'static str),
}

/// Parses a time column's cells in one decided format, settling the day/month order of
/// `AA/BB/YYYY` dates from the data as it streams by.
#[derive(Debug, Clone)]
pub(crate) struct TimeParser {
    format: TimeFormat,
    order: DateOrder,
    days: DayCache,
}

impl TimeParser {
    pub(crate) fn new(format: TimeFormat) -> Self {
        TimeParser {
            format,
            order: DateOrder::Undecided,
            days: DayCache::default(),
        }
    }

    /// The format and the day/month order as settled so far, described for users.
    pub(crate) fn describe(&self) -> String {
        self.format.describe(self.order)
    }

    /// Whether the day/month order was a guess (no field above 12 anywhere).
    pub(crate) fn is_ambiguous(&self) -> bool {
        matches!(self.format, TimeFormat::Dmy { .. }) && self.order == DateOrder::Undecided
    }

    /// Parses one trimmed cell.
    pub(crate) fn parse(&mut self, cell: &[u8]) -> Parsed {
        if cell.is_empty() {
            return Parsed::Err("missing timestamp");
        }
        match self.format {
            TimeFormat::Iso(_) => match parse_iso_fixed(cell, &mut self.days)
                .or_else(|| parse_iso_cached(cell, &mut self.days).map(|(ms, _)| ms))
            {
                Some(ms) => Parsed::Ok(ms),
                None => Parsed::Err("not a timestamp in the file's YYYY-MM-DD format"),
            },
            TimeFormat::Named(_) => match parse_named(cell) {
                Some((ms, _)) => Parsed::Ok(ms),
                None => Parsed::Err("not a date with a month name, as Jan 5, 2024"),
            },
            TimeFormat::CompactDate => match parse_compact(cell) {
                Some(ms) => Parsed::Ok(ms),
                None => Parsed::Err("not a YYYYMMDD date"),
            },
            TimeFormat::EpochSeconds => match parse_int(cell).and_then(|s| s.checked_mul(1000)) {
                Some(ms) => Parsed::Ok(ms),
                None => Parsed::Err("not an integer epoch time in seconds"),
            },
            TimeFormat::EpochMillis => match parse_int(cell) {
                Some(ms) => Parsed::Ok(ms),
                None => Parsed::Err("not an integer epoch time in milliseconds"),
            },
            TimeFormat::Dmy { .. } => {
                let Some(d) = parse_dmy(cell) else {
                    return Parsed::Err("not a DD/MM/YYYY or MM/DD/YYYY date");
                };
                let mut swap = false;
                if self.order == DateOrder::Undecided {
                    if d.a > 12 {
                        self.order = DateOrder::DayFirst;
                    } else if d.b > 12 {
                        self.order = DateOrder::MonthFirst;
                        swap = true;
                    }
                }
                let (day, month) = match self.order {
                    DateOrder::MonthFirst => (d.b, d.a),
                    _ => (d.a, d.b),
                };
                match self.days.midnight(d.year, month, day).map(|m| m + d.tod_ms) {
                    Some(ms) if swap => Parsed::OkSwapEarlier(ms),
                    Some(ms) => Parsed::Ok(ms),
                    None if self.order == DateOrder::DayFirst && d.b > 12 => {
                        Parsed::Err("month above 12 in a day-first (DD/MM/YYYY) file")
                    }
                    None if self.order == DateOrder::MonthFirst && d.a > 12 => {
                        Parsed::Err("month above 12 in a month-first (MM/DD/YYYY) file")
                    }
                    None => Parsed::Err("not a valid calendar date"),
                }
            }
        }
    }
}

/// Re-reads a timestamp parsed day-first as month-first (day and month swapped, time kept).
///
/// Only called on timestamps whose day and month were both at most 12, so the swapped date
/// always exists; the input is returned unchanged otherwise.
pub(crate) fn swap_day_month(ms: i64) -> i64 {
    let Some(t) = DateTime::from_timestamp_millis(ms) else {
        return ms;
    };
    let tod =
        i64::from(t.num_seconds_from_midnight()) * 1000 + i64::from(t.timestamp_subsec_millis());
    date_ms(t.year(), t.day(), t.month(), tod).unwrap_or(ms)
}

/// Remembers the last date's midnight: consecutive rows mostly share their date, and the
/// calendar arithmetic is a good part of parsing a timestamp.
#[derive(Debug, Clone, Default)]
pub(crate) struct DayCache {
    last: Option<((i32, u32, u32), i64)>,
}

impl DayCache {
    /// Unix ms of `year-month-day` at midnight; `None` for an invalid date.
    fn midnight(&mut self, year: i32, month: u32, day: u32) -> Option<i64> {
        match self.last {
            Some((key, ms)) if key == (year, month, day) => Some(ms),
            _ => {
                let ms = date_ms(year, month, day, 0)?;
                self.last = Some(((year, month, day), ms));
                Some(ms)
            }
        }
    }
}

/// Unix ms of `year-month-day` plus `tod_ms` into that day; `None` for an invalid date.
fn date_ms(year: i32, month: u32, day: u32, tod_ms: i64) -> Option<i64> {
    let date = NaiveDate::from_ymd_opt(year, month, day)?;
    let midnight = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
    Some(midnight + tod_ms)
}

/// A tiny cursor over a cell's bytes.
struct Cur<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn new(s: &'a [u8]) -> Self {
        Cur { s, i: 0 }
    }

    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Reads between `min` and `max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<u32> {
        let mut v: u32 = 0;
        let mut n = 0;
        while n < max {
            match self.peek() {
                Some(c @ b'0'..=b'9') => {
                    v = v * 10 + u32::from(c - b'0');
                    self.i += 1;
                    n += 1;
                }
                _ => break,
            }
        }
        (n >= min).then_some(v)
    }

    /// `HH:MM[:SS[.f+]][ AM|PM]` as milliseconds into the day, its shape, and whether it was on
    /// a 12-hour clock (hours 1 to 12 with `AM`, `PM`, `a.m.` or `p.m.`, any case, after an
    /// optional space: 12 AM is midnight, 12 PM noon).
    fn time_of_day(&mut self) -> Option<(i64, TimeShape, bool)> {
        let h = self.digits(1, 2)?;
        if !self.eat(b':') {
            return None;
        }
        let mi = self.digits(2, 2)?;
        let mut sec = 0;
        let mut ms = 0;
        let mut shape = TimeShape::Minutes;
        if self.eat(b':') {
            sec = self.digits(2, 2)?;
            shape = TimeShape::Seconds;
            if self.eat(b'.') || self.eat(b',') {
                // Keep milliseconds; finer digits are dropped (the series holds ms).
                let start = self.i;
                let mut n = 0;
                while let Some(c @ b'0'..=b'9') = self.peek() {
                    if n < 3 {
                        ms = ms * 10 + u32::from(c - b'0');
                    }
                    n += 1;
                    self.i += 1;
                }
                if self.i == start {
                    return None;
                }
                for _ in n..3 {
                    ms *= 10;
                }
                shape = TimeShape::Fraction;
            }
        }
        let meridiem = self.meridiem();
        let h = match meridiem {
            None => h,
            Some(_) if !(1..=12).contains(&h) => return None,
            Some(pm) => h % 12 + if pm { 12 } else { 0 },
        };
        if h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        let tod = (i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec)) * 1000;
        Some((tod + i64::from(ms), shape, meridiem.is_some()))
    }

    /// `[ ](AM|PM|a.m.|p.m.)` in any case, consumed when present: `Some(true)` for PM. Leaves
    /// the cursor where it was otherwise (a space may precede a zone instead).
    fn meridiem(&mut self) -> Option<bool> {
        let start = self.i;
        self.eat(b' ');
        let rest = &self.s[self.i..];
        let pm = match rest.first().map(u8::to_ascii_lowercase) {
            Some(b'a') => false,
            Some(b'p') => true,
            _ => {
                self.i = start;
                return None;
            }
        };
        let len = [b"am".as_slice(), b"a.m.", b"pm", b"p.m."]
            .iter()
            .find(|t| rest.len() >= t.len() && rest[..t.len()].eq_ignore_ascii_case(t))
            .map(|t| t.len());
        match len {
            Some(n) => {
                self.i += n;
                Some(pm)
            }
            None => {
                self.i = start;
                None
            }
        }
    }
}

/// Parses `YYYY-MM-DD[( |T)HH:MM[:SS[.f]][ AM|PM]][ ][Z|±HH[:MM]|UTC]` (also `YYYY/MM/DD`),
/// or a month alone, `YYYY-MM` (its first day), into Unix milliseconds and the shape seen.
pub(crate) fn parse_iso(s: &[u8]) -> Option<(i64, IsoShape)> {
    parse_iso_cached(s, &mut DayCache::default())
}

/// `YYYY-MM-DDTHH:MM:SS[Z]` with every field in its fixed place, as machines write it: what
/// [`parse_iso_cached`] gives, without its cursor. `None` for any other shape (which the
/// general parser then reads).
#[inline]
fn parse_iso_fixed(s: &[u8], days: &mut DayCache) -> Option<i64> {
    if s.len() != 19 && !(s.len() == 20 && matches!(s[19], b'Z' | b'z')) {
        return None;
    }
    let sep = s[4];
    if !matches!(sep, b'-' | b'/')
        || s[7] != sep
        || !matches!(s[10], b'T' | b't' | b' ')
        || s[13] != b':'
        || s[16] != b':'
    {
        return None;
    }
    let s: &[u8; 19] = s[..19].try_into().ok()?;
    let two = |i: usize| {
        let (a, b) = (s[i].wrapping_sub(b'0'), s[i + 1].wrapping_sub(b'0'));
        (a < 10 && b < 10).then_some(u32::from(a) * 10 + u32::from(b))
    };
    let year = two(0)? * 100 + two(2)?;
    let (month, day) = (two(5)?, two(8)?);
    let (h, mi, sec) = (two(11)?, two(14)?, two(17)?);
    if h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let tod = (i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec)) * 1000;
    Some(days.midnight(i32::try_from(year).ok()?, month, day)? + tod)
}

/// [`parse_iso`] with a cache of the last date.
fn parse_iso_cached(s: &[u8], days: &mut DayCache) -> Option<(i64, IsoShape)> {
    let mut c = Cur::new(s);
    let year = c.digits(4, 4)?;
    let sep = c.peek()?;
    if sep != b'-' && sep != b'/' {
        return None;
    }
    c.i += 1;
    let month = c.digits(1, 2)?;
    if c.done() {
        // `YYYY-MM`: monthly data, each month at its first day.
        let shape = IsoShape {
            date_sep: sep,
            month_only: true,
            ..IsoShape::default()
        };
        return Some((days.midnight(i32::try_from(year).ok()?, month, 1)?, shape));
    }
    if !c.eat(sep) {
        return None;
    }
    let day = c.digits(1, 2)?;
    let mut shape = IsoShape {
        date_sep: sep,
        ..IsoShape::default()
    };
    let mut tod = 0;
    let mut offset_min: i64 = 0;
    if !c.done() {
        let t = c.peek()?;
        if t != b'T' && t != b't' && t != b' ' {
            return None;
        }
        c.i += 1;
        let (ms, time, twelve_hour) = c.time_of_day()?;
        tod = ms;
        shape.time_sep = t;
        shape.time = time;
        shape.twelve_hour = twelve_hour;
        c.eat(b' ');
        match c.peek() {
            None => {}
            Some(b'Z' | b'z') => {
                c.i += 1;
                shape.zone = ZoneShape::Utc;
            }
            Some(sign @ (b'+' | b'-')) => {
                c.i += 1;
                let oh = c.digits(2, 2)?;
                c.eat(b':');
                let om = if c.done() { 0 } else { c.digits(2, 2)? };
                if oh > 23 || om > 59 {
                    return None;
                }
                let off = i64::from(oh * 60 + om);
                offset_min = if sign == b'+' { off } else { -off };
                shape.zone = ZoneShape::Offset;
            }
            Some(_) => {
                let rest = &c.s[c.i..];
                if rest.eq_ignore_ascii_case(b"UTC") || rest.eq_ignore_ascii_case(b"GMT") {
                    c.i = c.s.len();
                    shape.zone = ZoneShape::Utc;
                } else {
                    return None;
                }
            }
        }
        if !c.done() {
            return None;
        }
    }
    let ms = days.midnight(i32::try_from(year).ok()?, month, day)? + tod - offset_min * 60_000;
    Some((ms, shape))
}

/// The fields of an `AA/BB/YYYY[ HH:MM[:SS[.f]]]` cell, order not yet known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dmy {
    pub(crate) a: u32,
    pub(crate) b: u32,
    pub(crate) year: i32,
    pub(crate) tod_ms: i64,
    pub(crate) sep: u8,
    pub(crate) time: TimeShape,
    pub(crate) twelve_hour: bool,
}

impl Dmy {
    /// Whether the fields form a date read day-first / month-first.
    pub(crate) fn valid_day_first(&self) -> bool {
        NaiveDate::from_ymd_opt(self.year, self.b, self.a).is_some()
    }

    pub(crate) fn valid_month_first(&self) -> bool {
        NaiveDate::from_ymd_opt(self.year, self.a, self.b).is_some()
    }
}

/// Parses `AA/BB/YYYY` (separator `/`, `-` or `.`) with an optional time of day.
pub(crate) fn parse_dmy(s: &[u8]) -> Option<Dmy> {
    let mut c = Cur::new(s);
    let a = c.digits(1, 2)?;
    let sep = c.peek()?;
    if sep != b'/' && sep != b'-' && sep != b'.' {
        return None;
    }
    c.i += 1;
    let b = c.digits(1, 2)?;
    if !c.eat(sep) {
        return None;
    }
    let year = i32::try_from(c.digits(4, 4)?).ok()?;
    let mut tod_ms = 0;
    let mut time = TimeShape::None;
    let mut twelve_hour = false;
    if !c.done() {
        if !(c.eat(b' ') || c.eat(b'T')) {
            return None;
        }
        (tod_ms, time, twelve_hour) = c.time_of_day()?;
        if !c.done() {
            return None;
        }
    }
    if a == 0 || b == 0 || (a > 12 && b > 12) || a > 31 || b > 31 {
        return None;
    }
    Some(Dmy {
        a,
        b,
        year,
        tod_ms,
        sep,
        time,
        twelve_hour,
    })
}

/// English month names; a month is named by its first three letters or in full (and
/// September also as `Sept`), in any case.
const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// English weekday names, which a date may lead with (`Fri, 5 Jan 2024`) and which are skipped.
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Whether `word` names `name` by its first three letters or in full, in any case.
fn names(word: &str, name: &str) -> bool {
    word.len() >= 3 && (word.eq_ignore_ascii_case(name) || word.eq_ignore_ascii_case(&name[..3]))
}

/// The first month (1, 4, 7 or 10) of the quarter `word` names (`Q1` to `Q4`, any case).
fn quarter_of(word: &str) -> Option<u32> {
    match word.as_bytes() {
        [b'Q' | b'q', q @ b'1'..=b'4'] => Some(3 * u32::from(q - b'1') + 1),
        _ => None,
    }
}

/// The month (1 to 12) `word` names, if any.
fn month_named(word: &str) -> Option<u32> {
    let i = MONTHS
        .iter()
        .position(|m| names(word, m))
        .or_else(|| word.eq_ignore_ascii_case("sept").then_some(8))?;
    u32::try_from(i + 1).ok()
}

/// Parses a date written with an English month name: its words and numbers in any order,
/// separated by spaces, commas, `-`, `/` or `.` (`Jan 5, 2024`, `5 January 2024`,
/// `05-Jan-2024`, `Fri, 5 Jan 2024`, `Jan 2024` for the month's first day), with an optional
/// time of day after it (`HH:MM[:SS[.f]][ AM|PM]`, then optionally `Z`, `UTC` or `GMT`).
/// Exactly one month name and one four-digit year, at most one day of one or two digits, and
/// nothing else but a weekday's name; `None` otherwise. A quarter stands for its first month
/// (`Q1 2024`, `2024-Q3`, `2024Q3`), without a day.
pub(crate) fn parse_named(s: &[u8]) -> Option<(i64, NamedShape)> {
    let s = std::str::from_utf8(s).ok()?;
    // The time of day starts at the word that holds the first ':'.
    let (date, time) = match s.find(':') {
        Some(colon) => {
            let start = s[..colon].rfind([' ', 'T']).map_or(0, |i| i + 1);
            (&s[..start], Some(&s[start..]))
        }
        None => (s, None),
    };
    let (mut month, mut year, mut day) = (None, None, None);
    let mut quarter = false;
    for word in date
        .split([' ', ',', '-', '/', '.'])
        .filter(|w| !w.is_empty())
    {
        // `2024Q3`: the year, then the quarter.
        let word = match word.split_at_checked(4) {
            Some((y, q)) if y.bytes().all(|b| b.is_ascii_digit()) && quarter_of(q).is_some() => {
                if year.replace(y.parse::<i32>().ok()?).is_some() {
                    return None;
                }
                q
            }
            _ => word,
        };
        if let Some(m) = quarter_of(word) {
            if month.replace(m).is_some() {
                return None;
            }
            quarter = true;
        } else if word.bytes().all(|b| b.is_ascii_digit()) {
            match word.len() {
                4 if year.is_none() => year = Some(word.parse::<i32>().ok()?),
                1 | 2 if day.is_none() => day = Some(word.parse::<u32>().ok()?),
                _ => return None,
            }
        } else if let Some(m) = month_named(word) {
            if month.replace(m).is_some() {
                return None;
            }
        } else if !WEEKDAYS.iter().any(|d| names(word, d)) {
            return None;
        }
    }
    if quarter && day.is_some() {
        return None;
    }
    let mut shape = NamedShape {
        day: day.is_some(),
        quarter,
        ..NamedShape::default()
    };
    let tod = match time {
        None => 0,
        Some(t) => {
            let mut c = Cur::new(t.trim().as_bytes());
            let (ms, time, twelve_hour) = c.time_of_day()?;
            c.eat(b' ');
            let rest = &c.s[c.i..];
            let zone_ok = rest.is_empty()
                || rest.eq_ignore_ascii_case(b"Z")
                || rest.eq_ignore_ascii_case(b"UTC")
                || rest.eq_ignore_ascii_case(b"GMT");
            if !zone_ok {
                return None;
            }
            shape.time = time;
            shape.twelve_hour = twelve_hour;
            ms
        }
    };
    Some((date_ms(year?, month?, day.unwrap_or(1), tod)?, shape))
}

/// Parses `YYYYMMDD` (eight digits, a year from 1900 to 2199) as Unix milliseconds at UTC
/// midnight.
pub(crate) fn parse_compact(s: &[u8]) -> Option<i64> {
    if s.len() != 8 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n =
        |r: std::ops::Range<usize>| s[r].iter().fold(0u32, |v, &b| v * 10 + u32::from(b - b'0'));
    let year = i32::try_from(n(0..4)).ok()?;
    if !(1900..2200).contains(&year) {
        return None;
    }
    date_ms(year, n(4..6), n(6..8), 0)
}

/// Parses an optionally signed decimal integer of at most 18 digits.
pub(crate) fn parse_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(if neg { -v } else { v })
}

/// The smallest and largest epoch values taken for seconds / milliseconds when a column is
/// detected rather than named: 1973-03-03 to 5138-11-16. Integers outside both ranges are
/// ordinary numbers.
pub(crate) const EPOCH_SECONDS: std::ops::Range<i64> = 100_000_000..100_000_000_000;
pub(crate) const EPOCH_MILLIS: std::ops::Range<i64> = 100_000_000_000..100_000_000_000_000;

/// Decides the timestamp format of a column from sampled, trimmed, non-missing cells.
///
/// `strict` (auto-detection) wants more than half of the cells in one family and epoch
/// integers in a plausible range that mostly increase; otherwise (a column the user named)
/// the family with the most cells wins and any integers count as epoch times, their unit
/// chosen by magnitude (above 1e11 = milliseconds). Returns the format and how many cells
/// parse in it.
pub(crate) fn detect_format(cells: &[&[u8]], strict: bool) -> Option<(TimeFormat, usize)> {
    let mut iso = 0;
    let mut iso_shape = None;
    let mut dmy = 0;
    let mut dmy_first: Option<Dmy> = None;
    let mut named = 0;
    let mut named_shape = None;
    let mut compact = 0;
    let (mut a_big, mut b_big) = (false, false);
    let mut ints: Vec<i64> = Vec::new();
    for cell in cells {
        if let Some((_, shape)) = parse_iso(cell) {
            iso += 1;
            iso_shape.get_or_insert(shape);
        } else if let Some(d) = parse_dmy(cell) {
            if d.valid_day_first() || d.valid_month_first() {
                dmy += 1;
                dmy_first.get_or_insert(d);
                a_big |= d.a > 12;
                b_big |= d.b > 12;
            }
        } else if let Some((_, shape)) = parse_named(cell) {
            named += 1;
            // A column of days with a first row that is a month alone is still days.
            named_shape = Some(named_shape.map_or(shape, |s: NamedShape| NamedShape {
                day: s.day || shape.day,
                ..s
            }));
        } else if let Some(v) = parse_int(cell) {
            ints.push(v);
            compact += usize::from(parse_compact(cell).is_some());
        }
    }
    let total = cells.len();
    let enough = |n: usize| if strict { n * 2 > total } else { n > 0 };
    let best = iso.max(dmy).max(named).max(ints.len());
    if !enough(best) {
        return None;
    }
    if iso == best {
        return iso_shape.map(|s| (TimeFormat::Iso(s), iso));
    }
    if named == best {
        return named_shape.map(|s| (TimeFormat::Named(s), named));
    }
    if dmy == best {
        if strict && a_big && b_big {
            // Some dates only work day-first and others only month-first: not one format.
            return None;
        }
        return dmy_first.map(|d| {
            (
                TimeFormat::Dmy {
                    sep: d.sep,
                    time: d.time,
                    twelve_hour: d.twelve_hour,
                },
                dmy,
            )
        });
    }
    // Eight-digit integers that are all dates, in time order, are dates: epoch seconds of
    // eight digits would all fall in 1970 to 1973.
    let rising = |ints: &[i64]| {
        let up = ints.windows(2).filter(|w| w[1] >= w[0]).count();
        ints.len() < 2 || up * 10 >= (ints.len() - 1) * 9
    };
    if compact == ints.len() && rising(&ints) {
        return Some((TimeFormat::CompactDate, ints.len()));
    }
    let max = ints.iter().map(|v| v.abs()).max()?;
    let format = if max >= EPOCH_MILLIS.start {
        TimeFormat::EpochMillis
    } else {
        TimeFormat::EpochSeconds
    };
    if strict {
        let range = match format {
            TimeFormat::EpochMillis => EPOCH_MILLIS,
            _ => EPOCH_SECONDS,
        };
        if !ints.iter().all(|v| range.contains(v)) {
            return None;
        }
        // A time column is (almost always) in order; a value column of large integers is not.
        if !rising(&ints) {
            return None;
        }
    }
    Some((format, ints.len()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixed_iso_reads_as_the_general_parser() {
        use super::{DayCache, parse_iso_cached, parse_iso_fixed};
        let cells: &[&[u8]] = &[
            b"2024-01-01T00:00:00Z",
            b"2024-01-01T00:00:00",
            b"2024/02/29 23:59:59z",
            b"2023-02-29T00:00:00Z",
            b"2024-13-01T00:00:00Z",
            b"2024-00-10T00:00:00Z",
            b"2024-01-01T24:00:00Z",
            b"2024-01-01T23:60:00Z",
            b"2024-01-01T23:59:60Z",
            b"2024-01-01t12:30:45Z",
            b"2024-01-01X12:30:45Z",
            b"2024-01/01T12:30:45Z",
            b"2024-01-01T12:30:45+",
            b"2024-01-01T12:30:4Z",
            b"2024-01-01T12:3a:45Z",
            b"0000-01-01T00:00:00Z",
            b"9999-12-31T23:59:59Z",
            b"2024-01-01T12:30:45.5",
        ];
        for cell in cells {
            let general = parse_iso_cached(cell, &mut DayCache::default()).map(|(ms, _)| ms);
            let fixed = parse_iso_fixed(cell, &mut DayCache::default());
            let name = String::from_utf8_lossy(cell);
            assert!(fixed.is_none() || fixed == general, "{name}");
            let got = fixed.or(general);
            assert_eq!(got, general, "{name}");
        }
        assert!(parse_iso_fixed(b"2024-01-01T00:00:00Z", &mut DayCache::default()).is_some());
    }

    #[test]
    fn parse_time_takes_what_users_type() {
        use super::parse_time;
        assert_eq!(parse_time("2014-02-07"), Some(1_391_731_200_000));
        assert_eq!(parse_time(" 2014-02-07 00:00:01 "), Some(1_391_731_201_000));
        assert_eq!(parse_time("2014-02-07T00:00:00Z"), Some(1_391_731_200_000));
        assert_eq!(parse_time("1391731200"), Some(1_391_731_200_000));
        assert_eq!(parse_time("1391731200000"), Some(1_391_731_200_000));
        assert_eq!(parse_time("yesterday"), None);
    }

    use super::*;

    // Known answers from GNU date, e.g. `date -u -d '2014-07-01T00:00:00Z' +%s%3N`.
    #[test]
    fn iso_known_answers() {
        let cases: &[(&str, &str, Option<i64>)] = &[
            (
                "rfc3339 utc",
                "2014-07-01T00:00:00Z",
                Some(1_404_172_800_000),
            ),
            (
                "offset and fraction",
                "2014-07-01T00:00:00.123+02:00",
                Some(1_404_165_600_123),
            ),
            (
                "negative offset",
                "2014-07-01T00:00:00-0530",
                Some(1_404_192_600_000),
            ),
            (
                "hour-only offset",
                "2014-07-01T00:00:00+02",
                Some(1_404_165_600_000),
            ),
            ("no zone", "2014-07-01T00:00:00", Some(1_404_172_800_000)),
            ("space", "2014-07-01 00:30:00", Some(1_404_174_600_000)),
            (
                "space fraction",
                "2014-07-01 00:00:00.5",
                Some(1_404_172_800_500),
            ),
            (
                "micro fraction",
                "2014-07-01 00:00:00.123456",
                Some(1_404_172_800_123),
            ),
            ("minutes", "2014-07-01 13:45", Some(1_404_222_300_000)),
            ("date only", "2014-07-01", Some(1_404_172_800_000)),
            ("slash date", "2014/07/01 00:00:00", Some(1_404_172_800_000)),
            (
                "utc word",
                "2014-07-01 00:00:00 UTC",
                Some(1_404_172_800_000),
            ),
            ("leap day", "2016-02-29", Some(1_456_704_000_000)),
            ("pre-epoch", "1969-12-31T23:59:59Z", Some(-1000)),
            ("not a leap day", "2015-02-29", None),
            ("month 13", "2014-13-01", None),
            ("hour 24", "2014-07-01 24:00", None),
            ("trailing junk", "2014-07-01T00:00:00Zx", None),
            ("T without time", "2014-07-01T", None),
            ("number (a compact date: `parse_compact`)", "20140701", None),
            ("text", "timestamp", None),
            // A 12-hour clock: 12 AM is midnight, 12 PM noon (2014-07-01 is 1404172800).
            ("pm", "2014-07-01 03:45 PM", Some(1_404_229_500_000)),
            (
                "am, no space",
                "2014-07-01 12:30am",
                Some(1_404_174_600_000),
            ),
            ("noon", "2014-07-01 12:00:00 p.m.", Some(1_404_216_000_000)),
            (
                "pm, then a zone",
                "2014-07-01 01:00 PM +02:00",
                Some(1_404_212_400_000),
            ),
            ("hour 13 with pm", "2014-07-01 13:00 PM", None),
            ("hour 0 with am", "2014-07-01 0:30 AM", None),
            ("a word that is no meridiem", "2014-07-01 03:45 PX", None),
            // A month alone: its first day.
            ("month", "2014-07", Some(1_404_172_800_000)),
            ("slash month", "2014/7", Some(1_404_172_800_000)),
            ("month 13 alone", "2014-13", None),
        ];
        for (name, cell, want) in cases {
            assert_eq!(
                parse_iso(cell.as_bytes()).map(|p| p.0),
                *want,
                "{name}: {cell}"
            );
        }
    }

    #[test]
    fn month_name_known_answers() {
        // `date -u -d 2014-07-05 +%s` = 1404518400.
        const JUL5: i64 = 1_404_518_400_000;
        const JUL1: i64 = 1_404_172_800_000;
        let cases: &[(&str, &str, Option<i64>)] = &[
            ("month day, year", "Jul 5, 2014", Some(JUL5)),
            ("full name", "July 5, 2014", Some(JUL5)),
            ("day first", "5 July 2014", Some(JUL5)),
            ("dashes", "05-Jul-2014", Some(JUL5)),
            ("any case", "05-JUL-2014", Some(JUL5)),
            ("weekday", "Sat, 5 Jul 2014", Some(JUL5)),
            ("full weekday", "Saturday, July 5, 2014", Some(JUL5)),
            ("month alone", "Jul 2014", Some(JUL1)),
            ("month alone, dashed", "Jul-2014", Some(JUL1)),
            ("sept", "Sept 1, 2014", Some(1_409_529_600_000)),
            ("time", "Jul 5, 2014 10:30", Some(JUL5 + 37_800_000)),
            (
                "12-hour time",
                "Jul 5, 2014 10:30 PM",
                Some(JUL5 + 81_000_000),
            ),
            (
                "as e-mail and HTTP write it",
                "Sat, 05 Jul 2014 10:30:00 GMT",
                Some(JUL5 + 37_800_000),
            ),
            ("no year", "Jul 5", None),
            ("two-digit year", "5-Jul-14", None),
            ("two months", "Jul Aug 2014", None),
            ("not a month", "Jux 5, 2014", None),
            ("a word too many", "Jul 5, 2014 sale", None),
            ("day 32", "Jul 32, 2014", None),
            ("an offset", "Jul 5, 2014 10:30 +0200", None),
            ("two letters", "Ju 5, 2014", None),
            ("quarter", "Q3 2014", Some(JUL1)),
            ("quarter after the year", "2014-Q3", Some(JUL1)),
            ("quarter glued to the year", "2014q3", Some(JUL1)),
            ("quarter 5", "Q5 2014", None),
            ("a quarter and a month", "Q3 Jul 2014", None),
            ("a quarter and a day", "Q3 5 2014", None),
            ("text", "March madness", None),
        ];
        for (name, cell, want) in cases {
            assert_eq!(
                parse_named(cell.as_bytes()).map(|p| p.0),
                *want,
                "{name}: {cell}"
            );
        }
        let mut p = TimeParser::new(TimeFormat::Named(NamedShape::default()));
        assert_eq!(p.parse(b"5 July 2014"), Parsed::Ok(JUL5));
        assert!(matches!(p.parse(b"2014-07-05"), Parsed::Err(_)));
    }

    #[test]
    fn day_month_order_settles_from_the_data() {
        // `date -u -d 2014-07-01 +%s` = 1404172800, `date -u -d 2014-01-07 +%s` = 1389052800.
        const JUL1: i64 = 1_404_172_800_000;
        const JAN7: i64 = 1_389_052_800_000;
        const JUL13: i64 = 1_405_209_600_000; // date -u -d 2014-07-13 +%s
        type Case = (
            &'static str,
            &'static [&'static str],
            &'static [i64],
            DateOrder,
        );
        let cases: &[Case] = &[
            (
                "day above 12 means day-first",
                &["01/07/2014", "13/07/2014"],
                &[JUL1, JUL13],
                DateOrder::DayFirst,
            ),
            (
                "second field above 12 means month-first",
                &["07/01/2014", "07/13/2014"],
                &[JUL1, JUL13],
                DateOrder::MonthFirst,
            ),
            (
                "never above 12 stays day-first",
                &["01/07/2014", "07/01/2014"],
                &[JUL1, JAN7],
                DateOrder::Undecided,
            ),
        ];
        for (name, cells, want, order) in cases {
            let mut p = TimeParser::new(TimeFormat::Dmy {
                sep: b'/',
                time: TimeShape::None,
                twelve_hour: false,
            });
            let mut got = Vec::new();
            for c in *cells {
                match p.parse(c.as_bytes()) {
                    Parsed::Ok(ms) => got.push(ms),
                    Parsed::OkSwapEarlier(ms) => {
                        got.iter_mut().for_each(|t| *t = swap_day_month(*t));
                        got.push(ms);
                    }
                    Parsed::Err(e) => panic!("{name}: {c}: {e}"),
                }
            }
            assert_eq!(&got, want, "{name}");
            assert_eq!(p.order, *order, "{name}");
        }
    }

    #[test]
    fn dmy_with_time_and_conflicts() {
        let mut p = TimeParser::new(TimeFormat::Dmy {
            sep: b'/',
            time: TimeShape::Seconds,
            twelve_hour: false,
        });
        // date -u -d '2014-07-13 10:30:05' +%s = 1405247405
        assert_eq!(
            p.parse(b"13/07/2014 10:30:05"),
            Parsed::Ok(1_405_247_405_000)
        );
        assert!(matches!(p.parse(b"07/13/2014 10:30:05"), Parsed::Err(_)));
        assert_eq!(parse_dmy(b"13/13/2014"), None);
        assert_eq!(parse_dmy(b"1/2/2014").map(|d| (d.a, d.b)), Some((1, 2)));
        assert_eq!(parse_dmy(b"01.02.2014").map(|d| d.sep), Some(b'.'));
    }

    #[test]
    fn detect_formats() {
        let detect = |cells: &[&str], strict| {
            let v: Vec<&[u8]> = cells.iter().map(|c| c.as_bytes()).collect();
            detect_format(&v, strict).map(|f| f.0)
        };
        assert!(matches!(
            detect(&["2014-07-01", "2014-07-02"], true),
            Some(TimeFormat::Iso(_))
        ));
        assert_eq!(
            detect(&["1404172800", "1404176400"], true),
            Some(TimeFormat::EpochSeconds)
        );
        assert_eq!(
            detect(&["1404172800000", "1404176400000"], true),
            Some(TimeFormat::EpochMillis)
        );
        // Small integers are values, not times, unless the user says so.
        assert_eq!(detect(&["5", "7", "9"], true), None);
        assert_eq!(
            detect(&["5", "7", "9"], false),
            Some(TimeFormat::EpochSeconds)
        );
        // Large integers that jump around are values.
        assert_eq!(
            detect(
                &["1404172800", "1304172800", "1504172800", "1204172800"],
                true
            ),
            None
        );
        // Dates that need both orders are not one format.
        assert_eq!(detect(&["13/01/2014", "01/13/2014"], true), None);
        assert_eq!(detect(&["12.5", "13.5"], true), None);
        // Eight-digit dates in order; not when they jump around or are no dates.
        assert_eq!(
            detect(&["20240101", "20240102", "20240103"], true),
            Some(TimeFormat::CompactDate)
        );
        assert_eq!(detect(&["20240103", "20240101", "20240102"], true), None);
        assert_eq!(detect(&["20241301", "20241302"], true), None);
        // Nine digits are no YYYYMMDD, though their integers are.
        assert_eq!(detect(&["020240101", "020240102"], true), None);
        assert_eq!(parse_compact(b"20160229"), Some(1_456_704_000_000));
        assert_eq!(parse_compact(b"20150229"), None);
        assert_eq!(parse_compact(b"18991231"), None);
        // Month names, with days or as months alone.
        assert!(matches!(
            detect(&["Jan 5, 2024", "Jan 6, 2024"], true),
            Some(TimeFormat::Named(NamedShape { day: true, .. }))
        ));
        assert!(matches!(
            detect(&["Jan 2024", "Feb 2024"], true),
            Some(TimeFormat::Named(NamedShape { day: false, .. }))
        ));
        assert!(matches!(
            detect(&["2024-01", "2024-02"], true),
            Some(TimeFormat::Iso(_))
        ));
        // A 12-hour clock on month-first dates.
        assert!(matches!(
            detect(&["1/13/2024 3:45 PM", "1/13/2024 4:45 PM"], true),
            Some(TimeFormat::Dmy {
                twelve_hour: true,
                ..
            })
        ));
    }

    #[test]
    fn format_timestamp_is_rfc3339_utc() {
        assert_eq!(format_timestamp(1_404_172_800_000), "2014-07-01T00:00:00Z");
        assert_eq!(
            format_timestamp(1_404_172_800_250),
            "2014-07-01T00:00:00.250Z"
        );
        assert_eq!(format_timestamp(i64::MAX), i64::MAX.to_string());
    }
}
