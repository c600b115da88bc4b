//! Reading a sample of the first lines and deciding from it the delimiter, the header, each
//! column's kind and the time and value columns.

use crate::cell::{Value, is_missing, parse_value, parse_value_in, trim};
use crate::error::{IngestError, shorten};
use crate::lines::{Lines, read_record};
use crate::options::{ColumnRef, DecimalMark, IngestOptions, SeriesLayout};
use crate::time::{
    EPOCH_MILLIS, EPOCH_SECONDS, TimeFormat, detect_format, parse_compact, parse_dmy, parse_int,
    parse_iso, parse_named,
};
use csv::ByteRecord;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Read};

/// Lines read before deciding anything (one header plus about 200 rows).
pub(crate) const SAMPLE_LINES: usize = 201;
/// A sample stops early past this many bytes, so one huge line cannot exhaust memory.
const SAMPLE_MAX_BYTES: usize = 4 << 20;
/// The delimiters tried, in order of preference when several fit equally well.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What a column's sampled cells hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    /// Timestamps (in a format ingest accepts).
    Time,
    /// Numbers.
    Numeric,
    /// Anything else.
    Text,
    /// Only empty or missing cells.
    Empty,
}

/// The first lines of the input, as bytes (a UTF-8 BOM removed).
#[derive(Debug)]
pub(crate) struct Sample {
    pub(crate) bytes: Vec<u8>,
    /// The sample is the whole input.
    pub(crate) complete: bool,
}

/// Reads up to `max_lines` lines (or 4 MiB) from `r`.
pub(crate) fn read_sample<R: BufRead>(
    r: &mut R,
    max_lines: usize,
    source: &str,
) -> Result<Sample, IngestError> {
    let mut bytes = Vec::with_capacity(16 << 10);
    let mut complete = false;
    for line in 0..max_lines {
        // `take` bounds a line without newline, so one huge line cannot exhaust memory; a
        // cut line is finished by the streaming pass, which continues from the same byte.
        let room = (SAMPLE_MAX_BYTES + 1).saturating_sub(bytes.len()) as u64;
        match (&mut *r).take(room).read_until(b'\n', &mut bytes) {
            Ok(0) => {
                complete = true;
                break;
            }
            Ok(_) => {}
            Err(error) => {
                return Err(IngestError::Read {
                    source_name: source.to_owned(),
                    line: line as u64 + 1,
                    error,
                });
            }
        }
        if bytes.len() > SAMPLE_MAX_BYTES {
            break;
        }
    }
    if !complete && r.fill_buf().is_ok_and(|b| b.is_empty()) {
        complete = true;
    }
    if bytes.starts_with(BOM) {
        bytes.drain(..BOM.len());
    }
    Ok(Sample { bytes, complete })
}

/// Everything decided from the sample.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) delimiter: u8,
    pub(crate) has_header: bool,
    /// Column names: the header's (trimmed), or `column_<i>`.
    pub(crate) columns: Vec<String>,
    pub(crate) kinds: Vec<ColumnKind>,
    /// The timestamp format each column was detected in, if any.
    pub(crate) formats: Vec<Option<TimeFormat>>,
    /// Numeric columns that are poor value candidates: 0/1 flags (labels) and row counters.
    pub(crate) weak: Vec<bool>,
    /// The sampled data rows (header excluded).
    pub(crate) rows: Vec<ByteRecord>,
    /// The header's line when it is not UTF-8.
    pub(crate) header_not_utf8: Option<u64>,
    /// The values' decimal mark (given, or detected).
    pub(crate) decimal: DecimalMark,
    /// Whether the value column holds labels ([`IngestOptions::labels`]).
    pub(crate) labels: bool,
}

/// The sample's records with delimiter `d`; the last one is dropped when the sample was cut,
/// since it may be incomplete.
fn records(sample: &Sample, d: u8) -> Vec<ByteRecord> {
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(d)
        .has_headers(false)
        .flexible(true)
        .from_reader(Lines::new(sample.bytes.as_slice()));
    // Reading from a slice with `flexible` cannot fail; stop at the first error regardless.
    let mut out: Vec<ByteRecord> = Vec::new();
    let mut rec = ByteRecord::new();
    while let Ok(true) = read_record(&mut rdr, &mut rec) {
        out.push(rec.clone());
    }
    if !sample.complete && out.len() > 1 {
        out.pop();
    }
    out
}

/// Picks the delimiter that splits every sampled line into the same number (> 1) of fields;
/// among those, the one whose cells look most like data (numbers, with a decimal comma when
/// the delimiter is not `,`, timestamps or missing), then the most fields. Failing that, the
/// one whose commonest field count (> 1) covers the most lines (the parse will then report
/// the odd line). `02/12/2013 21:15;73,967` splits in two either way; only `;` gives data.
fn sniff_delimiter(sample: &Sample) -> u8 {
    let mut best = (b',', false, 0.0, 0.0, 0usize);
    for d in DELIMITERS {
        let recs = records(sample, d);
        if recs.is_empty() {
            continue;
        }
        let mut counts: Vec<usize> = recs.iter().map(ByteRecord::len).collect();
        counts.sort_unstable();
        let (mut mode, mut mode_n, mut run) = (counts[0], 0, 0);
        for (i, &c) in counts.iter().enumerate() {
            run = if i > 0 && counts[i - 1] == c {
                run + 1
            } else {
                1
            };
            if run > mode_n {
                (mode, mode_n) = (c, run);
            }
        }
        if mode < 2 {
            continue;
        }
        let share = mode_n as f64 / counts.len() as f64;
        let consistent = mode_n == counts.len();
        let mark = if d == b',' {
            DecimalMark::Point
        } else {
            DecimalMark::Comma
        };
        // The first line may be a header: judge the rest, unless it is all there is.
        let body = if recs.len() > 1 {
            &recs[1..]
        } else {
            &recs[..]
        };
        let (mut data, mut cells) = (0usize, 0usize);
        for c in body.iter().flat_map(|r| r.iter().map(trim)) {
            cells += 1;
            data += usize::from(is_missing(c) || looks_like_data(c, mark));
        }
        let data_share = data as f64 / cells.max(1) as f64;
        let better = (consistent, share, data_share, mode) > (best.1, best.2, best.3, best.4);
        if better {
            best = (d, consistent, share, data_share, mode);
        }
    }
    best.0
}

/// Whether a trimmed, non-missing cell reads in `format`.
fn fits_time(cell: &[u8], format: TimeFormat) -> bool {
    match format {
        TimeFormat::Iso(_) => parse_iso(cell).is_some(),
        TimeFormat::Dmy { .. } => parse_dmy(cell).is_some(),
        TimeFormat::Named(_) => parse_named(cell).is_some(),
        TimeFormat::CompactDate => parse_compact(cell).is_some(),
        TimeFormat::EpochSeconds | TimeFormat::EpochMillis => parse_int(cell).is_some(),
    }
}

fn looks_like_data(cell: &[u8], mark: DecimalMark) -> bool {
    matches!(parse_value_in(cell, mark), Value::Number(_))
        || parse_iso(cell).is_some()
        || parse_dmy(cell).is_some()
        || parse_named(cell).is_some()
}

/// The trimmed, non-missing cells of column `j`.
fn column_cells(rows: &[ByteRecord], j: usize) -> Vec<&[u8]> {
    rows.iter()
        .filter_map(|r| r.get(j).map(trim))
        .filter(|c| !is_missing(c))
        .collect()
}

/// Classifies each of `n` columns over `rows`.
fn classify(
    rows: &[ByteRecord],
    n: usize,
    mark: DecimalMark,
) -> (Vec<ColumnKind>, Vec<Option<TimeFormat>>) {
    let mut kinds = Vec::with_capacity(n);
    let mut formats = Vec::with_capacity(n);
    for j in 0..n {
        // Cells that are not UTF-8 tell nothing about the kind; ingest reports them.
        let mut cells = column_cells(rows, j);
        cells.retain(|c| std::str::from_utf8(c).is_ok());
        let format = detect_format(&cells, true).map(|f| f.0);
        let numbers = cells
            .iter()
            .filter(|c| matches!(parse_value_in(c, mark), Value::Number(_)))
            .count();
        let kind = if cells.is_empty() {
            ColumnKind::Empty
        } else if format.is_some() {
            ColumnKind::Time
        } else if numbers * 2 > cells.len() {
            ColumnKind::Numeric
        } else {
            ColumnKind::Text
        };
        kinds.push(kind);
        formats.push(format);
    }
    // Epoch integers are numbers too: when taking them as times would leave no value column,
    // the last such column holds the values.
    if !kinds.contains(&ColumnKind::Numeric) {
        let epoch = |f: &Option<TimeFormat>| {
            matches!(
                f,
                Some(TimeFormat::EpochSeconds | TimeFormat::EpochMillis | TimeFormat::CompactDate)
            )
        };
        if let Some(j) = (0..n).rev().find(|&j| epoch(&formats[j])) {
            kinds[j] = ColumnKind::Numeric;
        }
    }
    (kinds, formats)
}

/// Whether a column's sampled cells look like labels (only 0 and 1) or a row counter
/// (consecutive integers): auto-detection passes over such columns when another numeric
/// column exists. Ten values at least, so tiny files are read as written.
fn is_weak(rows: &[ByteRecord], j: usize, mark: DecimalMark) -> bool {
    let mut values = Vec::new();
    for c in column_cells(rows, j) {
        match parse_value_in(c, mark) {
            Value::Number(v) if v.fract() == 0.0 => values.push(v),
            _ => return false,
        }
    }
    values.len() >= 10
        && (values.iter().all(|v| *v == 0.0 || *v == 1.0)
            || values.windows(2).all(|w| w[1] - w[0] == 1.0))
}

/// A comma when the delimiter is not `,` and more sampled cells read as numbers with a
/// decimal comma (`12,5`) than hold a decimal point (`12.5`).
fn detect_decimal(rows: &[ByteRecord], delimiter: u8) -> DecimalMark {
    if delimiter == b',' {
        return DecimalMark::Point;
    }
    let (mut comma, mut point) = (0usize, 0usize);
    for c in rows.iter().flat_map(|r| r.iter().map(trim)) {
        if c.contains(&b',') {
            comma += usize::from(matches!(
                parse_value_in(c, DecimalMark::Comma),
                Value::Number(_)
            ));
        } else if c.contains(&b'.') {
            point += usize::from(matches!(parse_value(c), Value::Number(_)));
        }
    }
    if comma > point {
        DecimalMark::Comma
    } else {
        DecimalMark::Point
    }
}

/// Decides delimiter, decimal mark, header and column kinds. `None` when the sample has no
/// record.
pub(crate) fn analyze(
    sample: &Sample,
    delimiter: Option<u8>,
    decimal: Option<DecimalMark>,
) -> Option<Layout> {
    let delimiter = delimiter.unwrap_or_else(|| sniff_delimiter(sample));
    let mut rows = records(sample, delimiter);
    let first = rows.first()?;
    let n = first.len();
    let mark = decimal.unwrap_or_else(|| detect_decimal(&rows, delimiter));

    // A header is a first row with a cell that is text where the rest of its column holds
    // numbers or timestamps; or, lacking other rows to compare with, a row of text only.
    let (rest_kinds, rest_formats) = classify(&rows[1..], n, mark);
    let cell0 = |j: usize| first.get(j).map(trim).unwrap_or_default();
    let contradicts = (0..n).any(|j| {
        let c = cell0(j);
        !is_missing(c)
            && match (rest_kinds[j], rest_formats[j]) {
                (ColumnKind::Time, Some(f)) => !fits_time(c, f),
                (ColumnKind::Numeric, _) => !matches!(parse_value_in(c, mark), Value::Number(_)),
                _ => false,
            }
    });
    let all_text = (0..n).any(|j| !is_missing(cell0(j)))
        && (0..n).all(|j| {
            let c = cell0(j);
            is_missing(c) || !looks_like_data(c, mark)
        });
    let has_header = contradicts || all_text;

    let (columns, header_not_utf8, kinds, formats) = if has_header {
        let header = rows.remove(0);
        let bad = header
            .iter()
            .any(|c| std::str::from_utf8(c).is_err())
            .then(|| header.position().map_or(1, csv::Position::line));
        let names = (0..n)
            .map(|j| {
                let name = String::from_utf8_lossy(header.get(j).map(trim).unwrap_or_default());
                if name.is_empty() {
                    format!("column_{j}")
                } else {
                    name.into_owned()
                }
            })
            .collect();
        (names, bad, rest_kinds, rest_formats)
    } else {
        let names = (0..n).map(|j| format!("column_{j}")).collect();
        let (k, f) = classify(&rows, n, mark);
        (names, None, k, f)
    };
    let weak = (0..n).map(|j| is_weak(&rows, j, mark)).collect();
    Some(Layout {
        delimiter,
        has_header,
        columns,
        kinds,
        formats,
        weak,
        rows,
        header_not_utf8,
        decimal: mark,
        labels: false,
    })
}

/// The columns ingest will read.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub(crate) time: Option<(usize, TimeFormat)>,
    /// The value column (for a wide file, the first of them).
    pub(crate) value: usize,
    /// Which series the rows feed.
    pub(crate) targets: Targets,
    /// What the choice passed over that a user should know (a time-like column not read as
    /// time).
    pub(crate) warnings: Vec<String>,
    /// The covariate columns, in the order asked for.
    pub(crate) covariates: Vec<usize>,
}

/// Which series each row feeds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Targets {
    /// One series, from the value column.
    One,
    /// One series per column (wide).
    Columns(Vec<usize>),
    /// One series per distinct cell of the id column (long), from the value column.
    ById(usize),
}

/// Finds a column by reference.
fn resolve(
    layout: &Layout,
    r: &ColumnRef,
    role: &'static str,
    source: &str,
) -> Result<usize, IngestError> {
    let count = layout.columns.len();
    let index = match r {
        ColumnRef::Index(i) => *i,
        ColumnRef::Name(name) => {
            let want = name.trim().to_lowercase();
            if let Some(j) = layout
                .columns
                .iter()
                .position(|c| c.trim().to_lowercase() == want)
            {
                return Ok(j);
            }
            match want.parse::<usize>() {
                Ok(i) if want.bytes().all(|b| b.is_ascii_digit()) => i,
                _ if want.parse::<i64>().is_ok_and(|i| i < 0) => {
                    return Err(IngestError::InvalidOptions {
                        source_name: source.to_owned(),
                        reason: format!(
                            "{role} column index {want} is negative; indices start at 0 (the \
                             first column) and go up to {} (the last)",
                            count.saturating_sub(1)
                        ),
                    });
                }
                _ => {
                    return Err(IngestError::UnknownColumn {
                        source_name: source.to_owned(),
                        role,
                        name: name.clone(),
                        available: layout.columns.clone(),
                    });
                }
            }
        }
    };
    if index < count {
        Ok(index)
    } else {
        Err(IngestError::ColumnOutOfRange {
            source_name: source.to_owned(),
            role,
            index,
            count,
        })
    }
}

/// Auto-detected time and value columns, without failing (for previews).
pub(crate) fn detect_columns(layout: &Layout) -> (Option<usize>, Option<usize>) {
    let time = layout.kinds.iter().position(|k| *k == ColumnKind::Time);
    (time, auto_value(layout, time, None))
}

/// Letters and digits of a column name, lower-cased: `Time Stamp (UTC)` -> `timestamputc`.
fn squashed(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Whether a column's name says it holds times (`timestamp`, `Date`, `time_utc`, `ts`, ...).
pub(crate) fn is_time_name(name: &str) -> bool {
    matches!(
        squashed(name).as_str(),
        "t" | "ts"
            | "time"
            | "times"
            | "timestamp"
            | "timestamps"
            | "timestampms"
            | "timestamputc"
            | "timems"
            | "timeutc"
            | "date"
            | "dates"
            | "dateutc"
            | "datetime"
            | "datetimeutc"
            | "dateandtime"
            | "epoch"
            | "epochms"
            | "epochtime"
            | "unixtime"
            | "unixtimestamp"
            | "when"
    )
}

/// Whether a column's name says it holds the values (`value`, `val`, `y`, ...).
fn is_value_name(name: &str) -> bool {
    matches!(
        squashed(name).as_str(),
        "value" | "values" | "val" | "v" | "y" | "reading" | "measurement" | "metric"
    )
}

/// The value column to take: among numeric columns other than `time` and not named like a
/// time, one named like a value, else the first that is not a label or row counter, else the
/// first.
fn auto_value(layout: &Layout, time: Option<usize>, id: Option<usize>) -> Option<usize> {
    let numeric = numeric_columns(layout, time, id);
    let strong = || numeric.iter().copied().filter(|&j| !layout.weak[j]);
    strong()
        .find(|&j| is_value_name(&layout.columns[j]))
        .or_else(|| strong().next())
        .or(numeric.first().copied())
}

/// Numeric columns other than `time` and `id`, and not named like a time.
fn numeric_columns(layout: &Layout, time: Option<usize>, id: Option<usize>) -> Vec<usize> {
    (0..layout.kinds.len())
        .filter(|&j| {
            layout.kinds[j] == ColumnKind::Numeric
                && Some(j) != time
                && Some(j) != id
                && !is_time_name(&layout.columns[j])
        })
        .collect()
}

/// The error when no value column is left: the named time column took the only numeric one,
/// or the only numeric column is named like a time, or there is no number at all.
fn no_value_column(layout: &Layout, opts: &IngestOptions, time: Option<usize>) -> IngestError {
    let source_name = opts.source().to_owned();
    let numeric = |j: usize| layout.kinds[j] == ColumnKind::Numeric;
    if let (Some(_), Some(t)) = (&opts.time_column, time)
        && (numeric(t) || layout.formats[t].is_some())
    {
        let hint = match (0..layout.kinds.len()).find(|&j| j != t && layout.formats[j].is_some()) {
            Some(j) => format!(
                "the timestamps seem to be in \"{}\": name that as the time column",
                shorten(&layout.columns[j])
            ),
            None => "choose another time column, or none to use the row number".to_owned(),
        };
        return IngestError::InvalidOptions {
            source_name,
            reason: format!(
                "column \"{}\" was given as the time column, but it is the only numeric column, \
                 so no column is left for the values; {hint}",
                shorten(&layout.columns[t])
            ),
        };
    }
    if let Some(j) = (0..layout.kinds.len())
        .find(|&j| numeric(j) && Some(j) != time && is_time_name(&layout.columns[j]))
    {
        return IngestError::NoValueColumn {
            source_name,
            column: layout.columns[j].clone(),
        };
    }
    IngestError::NoNumericColumn {
        columns: layout.columns.clone(),
        source_name,
    }
}

/// Whether a cell is shaped like a date or time (`10000-01-01`, `2014-07-01`, `13:45`), not
/// like a number.
fn date_shaped(cell: &[u8]) -> bool {
    if parse_iso(cell).is_some() || parse_dmy(cell).is_some() || parse_named(cell).is_some() {
        return true;
    }
    let seps = cell
        .iter()
        .filter(|b| matches!(b, b'-' | b'/' | b'.' | b':'))
        .count();
    cell.first().is_some_and(u8::is_ascii_digit)
        && seps >= 2
        && !matches!(parse_value(cell), Value::Number(_))
}

/// Why a cell of a time-like column is not a timestamp ingest takes without being asked.
fn why_not_time(cell: &[u8], iso: usize, dmy: usize) -> String {
    let digits = cell
        .strip_prefix(b"-")
        .or(cell.strip_prefix(b"+"))
        .unwrap_or(cell);
    if parse_iso(cell).is_some() || parse_dmy(cell).is_some() {
        return format!(
            "in a different format from the rest of the column ({iso} cells like \
             YYYY-MM-DD, {dmy} like DD/MM/YYYY among those sampled); one format per column is \
             needed"
        );
    }
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        return if digits.len() > 18 {
            format!(
                "which has {} digits, too many for epoch seconds or milliseconds",
                digits.len()
            )
        } else if cell.starts_with(b"-") {
            "a negative number: epoch times before 1970 are read only from a column named \
             as the time column"
                .to_owned()
        } else {
            "an integer outside the epoch times read without being asked (1973 to 5138, in \
             seconds or milliseconds)"
                .to_owned()
        };
    }
    let year_digits = cell.iter().take_while(|b| b.is_ascii_digit()).count();
    if year_digits > 4 && matches!(cell.get(year_digits), Some(b'-' | b'/')) {
        return format!("whose year has {year_digits} digits (at most 4 are read)");
    }
    "which is not in an accepted timestamp format".to_owned()
}

/// The first cell of column `j` that keeps it from being read as time, with its line and why.
fn first_unreadable(layout: &Layout, j: usize) -> Option<(u64, String, String)> {
    let cells: Vec<(u64, &[u8])> = layout
        .rows
        .iter()
        .filter_map(|r| {
            let c = trim(r.get(j)?);
            let line = r.position().map_or(0, csv::Position::line);
            (!is_missing(c)).then_some((line, c))
        })
        .collect();
    let (first_line, first) = *cells.first()?;
    let iso = cells.iter().filter(|c| parse_iso(c.1).is_some()).count();
    let dmy = cells.iter().filter(|c| parse_dmy(c.1).is_some()).count();
    let ints = cells.iter().filter(|c| parse_int(c.1).is_some()).count();
    let in_family = |c: &[u8]| {
        if ints > iso.max(dmy) {
            parse_int(c).is_some_and(|v| EPOCH_SECONDS.contains(&v) || EPOCH_MILLIS.contains(&v))
        } else if dmy > iso {
            parse_dmy(c).is_some() && parse_iso(c).is_none()
        } else {
            parse_iso(c).is_some()
        }
    };
    let text = |c: &[u8]| String::from_utf8_lossy(c).into_owned();
    if let Some((line, c)) = cells.iter().find(|c| !in_family(c.1)) {
        return Some((*line, text(c), why_not_time(c, iso, dmy)));
    }
    let why = if ints > iso.max(dmy) {
        "one of integers that are not in time order, so they were not taken as epoch times"
    } else {
        "one of dates of which some read only day-first and others only month-first"
    };
    Some((first_line, text(first), why.to_owned()))
}

/// A warning when no time column was found but a column looks like one (by its name, or
/// because most of its cells are shaped like dates): which column, its first unreadable
/// cell and why.
fn untimed_warning(layout: &Layout, value: usize) -> Option<String> {
    (0..layout.columns.len())
        .filter(|&j| j != value)
        .find_map(|j| {
            let named = is_time_name(&layout.columns[j]);
            let cells = column_cells(&layout.rows, j);
            let shaped = cells.iter().filter(|c| date_shaped(c)).count();
            if cells.is_empty() || !(named || shaped * 2 >= cells.len()) {
                return None;
            }
            let (line, cell, why) = first_unreadable(layout, j)?;
            Some(format!(
                "column \"{}\" {} but was not read as time: line {line} holds \"{}\", {why}; the \
             row number is the time axis (name it as the time column to read it anyway, or \
             choose no time column to use the row number without this warning)",
                shorten(&layout.columns[j]),
                if named {
                    "is named like a time column"
                } else {
                    "holds dates"
                },
                shorten(&cell)
            ))
        })
}

/// Applies the options to the layout: which column is time (and its format), which value.
pub(crate) fn choose(layout: &Layout, opts: &IngestOptions) -> Result<Choice, IngestError> {
    let source = opts.source();
    if opts.no_time_column && opts.time_column.is_some() {
        return Err(IngestError::InvalidOptions {
            source_name: source.to_owned(),
            reason: "both a time column and \"no time column\" were given; drop one of them"
                .to_owned(),
        });
    }
    let id = match &opts.series {
        SeriesLayout::Long(r) => Some(resolve(layout, r, "series id", source)?),
        _ => None,
    };
    let value = opts
        .value_column
        .as_ref()
        .map(|r| resolve(layout, r, "value", source))
        .transpose()?;
    let time = match (&opts.time_column, opts.no_time_column) {
        (_, true) => None,
        (Some(r), false) => {
            let j = resolve(layout, r, "time", source)?;
            if Some(j) == value {
                return Err(same_column(layout, j, "time", "value", source));
            }
            Some((j, explicit_time_format(layout, j, source)?))
        }
        (None, false) => (0..layout.kinds.len())
            .filter(|&j| layout.kinds[j] == ColumnKind::Time && Some(j) != value && Some(j) != id)
            .find_map(|j| layout.formats[j].map(|f| (j, f))),
    };
    let time_index = time.map(|t| t.0);
    if let Some(j) = id {
        if value == Some(j) {
            return Err(same_column(layout, j, "series id", "value", source));
        }
        if time_index == Some(j) {
            return Err(same_column(layout, j, "series id", "time", source));
        }
    }
    let mut warnings = Vec::new();
    let targets = match &opts.series {
        SeriesLayout::Single => Targets::One,
        SeriesLayout::Long(_) => Targets::ById(id.unwrap_or_default()),
        SeriesLayout::Wide(list) if !list.is_empty() => {
            let mut columns = Vec::with_capacity(list.len());
            for r in list {
                let j = resolve(layout, r, "value", source)?;
                if time_index == Some(j) {
                    return Err(same_column(layout, j, "time", "value", source));
                }
                if !columns.contains(&j) {
                    columns.push(j);
                }
            }
            Targets::Columns(columns)
        }
        SeriesLayout::Wide(_) => {
            let numeric = numeric_columns(layout, time_index, None);
            let strong: Vec<usize> = numeric
                .iter()
                .copied()
                .filter(|&j| !layout.weak[j])
                .collect();
            let columns = if strong.is_empty() { numeric } else { strong };
            let passed: Vec<String> = (0..layout.kinds.len())
                .filter(|&j| Some(j) != time_index && !columns.contains(&j))
                .map(|j| {
                    format!(
                        "\"{}\" ({})",
                        shorten(&layout.columns[j]),
                        passed_reason(layout, j)
                    )
                })
                .collect();
            if !passed.is_empty() && !columns.is_empty() {
                warnings.push(format!(
                    "{} column{} not read as series: {}; name the columns to read to include \
                     them",
                    passed.len(),
                    if passed.len() == 1 { " was" } else { "s were" },
                    passed.join(", ")
                ));
            }
            Targets::Columns(columns)
        }
    };
    // Failing a numeric column, an empty one: its values may start after the sample, and if
    // they never do, "every value is missing" says more than "no numeric column".
    let value = match (value, &targets) {
        (_, Targets::Columns(columns)) if !columns.is_empty() => columns[0],
        (Some(v), _) => v,
        (None, _) => auto_value(layout, time_index, id)
            .or_else(|| {
                (0..layout.kinds.len()).find(|&j| {
                    layout.kinds[j] == ColumnKind::Empty
                        && Some(j) != time_index
                        && Some(j) != id
                        && !is_time_name(&layout.columns[j])
                })
            })
            .ok_or_else(|| no_value_column(layout, opts, time_index))?,
    };
    let targets = match targets {
        Targets::Columns(columns) if columns.is_empty() => Targets::Columns(vec![value]),
        t => t,
    };
    if time.is_none()
        && !opts.no_time_column
        && let Some(w) = untimed_warning(layout, value)
    {
        warnings.push(w);
    }
    let covariates = covariate_columns(layout, opts, time_index, value)?;
    if opts.value_column.is_none() && matches!(opts.series, SeriesLayout::Single) {
        let others: Vec<String> = numeric_columns(layout, time_index, None)
            .into_iter()
            .filter(|&j| j != value && !layout.weak[j] && !covariates.contains(&j))
            .map(|j| format!("\"{}\"", shorten(&layout.columns[j])))
            .collect();
        if !others.is_empty() {
            warnings.push(format!(
                "the values are column \"{}\"; {} more numeric column{} not read: {} \
                 (choose the value column, or read each numeric column as a series of its own)",
                shorten(&layout.columns[value]),
                others.len(),
                if others.len() == 1 { " was" } else { "s were" },
                others.join(", ")
            ));
        }
    }
    Ok(Choice {
        time,
        value,
        targets,
        warnings,
        covariates,
    })
}

/// The covariate columns asked for: each must exist, once, and be neither the time nor the
/// value column; a file of many series takes none.
fn covariate_columns(
    layout: &Layout,
    opts: &IngestOptions,
    time: Option<usize>,
    value: usize,
) -> Result<Vec<usize>, IngestError> {
    let source = opts.source();
    if opts.covariate_columns.is_empty() {
        return Ok(Vec::new());
    }
    if opts.series.is_many() {
        return Err(IngestError::InvalidOptions {
            source_name: source.to_owned(),
            reason: "covariate columns go with one series per file; drop them or read the \
                     series one at a time"
                .to_owned(),
        });
    }
    let mut out = Vec::with_capacity(opts.covariate_columns.len());
    for r in &opts.covariate_columns {
        let j = resolve(layout, r, "covariate", source)?;
        if time == Some(j) {
            return Err(same_column(layout, j, "time", "covariate", source));
        }
        if j == value {
            return Err(same_column(layout, j, "value", "covariate", source));
        }
        if out.contains(&j) {
            return Err(IngestError::InvalidOptions {
                source_name: source.to_owned(),
                reason: format!(
                    "column \"{}\" is listed twice as a covariate; list each once",
                    shorten(&layout.columns[j])
                ),
            });
        }
        out.push(j);
    }
    Ok(out)
}

/// Why a wide file's column was not taken as a series.
fn passed_reason(layout: &Layout, j: usize) -> &'static str {
    match layout.kinds[j] {
        ColumnKind::Text => "text",
        ColumnKind::Empty => "empty",
        ColumnKind::Time => "timestamps",
        ColumnKind::Numeric if is_time_name(&layout.columns[j]) => "named like a time",
        ColumnKind::Numeric => "0/1 labels or a row counter",
    }
}

/// The error when one column was given two roles.
fn same_column(layout: &Layout, j: usize, a: &str, b: &str, source: &str) -> IngestError {
    IngestError::InvalidOptions {
        source_name: source.to_owned(),
        reason: format!(
            "column \"{}\" was given as both the {a} and the {b} column; choose two different \
             columns",
            layout.columns[j]
        ),
    }
}

/// The format of a column the user named as the time column, or an error at its first cell
/// when no cell of the sample parses as a timestamp.
fn explicit_time_format(
    layout: &Layout,
    j: usize,
    source: &str,
) -> Result<TimeFormat, IngestError> {
    if let Some(f) = layout.formats[j] {
        return Ok(f);
    }
    let cells = column_cells(&layout.rows, j);
    if let Some((f, _)) = detect_format(&cells, false) {
        return Ok(f);
    }
    let bad = layout
        .rows
        .iter()
        .find(|r| r.get(j).is_some_and(|c| !is_missing(trim(c))))
        .or(layout.rows.first());
    Err(IngestError::UnparsableTimestamp {
        source_name: source.to_owned(),
        line: bad
            .and_then(ByteRecord::position)
            .map_or(0, csv::Position::line),
        column: layout.columns[j].clone(),
        value: bad
            .and_then(|r| r.get(j))
            .map(|c| String::from_utf8_lossy(trim(c)).into_owned())
            .unwrap_or_default(),
        rejected: layout.rows.len(),
        rows: layout.rows.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str) -> Sample {
        Sample {
            bytes: text.as_bytes().to_vec(),
            complete: true,
        }
    }

    #[test]
    fn delimiters() {
        let cases: &[(&str, &str, u8)] = &[
            ("comma", "t,v\n2014-07-01,1\n2014-07-02,2\n", b','),
            ("semicolon", "t;v\n2014-07-01;1,5\n2014-07-02;2,5\n", b';'),
            ("tab", "t\tv\n2014-07-01\t1\n", b'\t'),
            ("pipe", "t|v\n2014-07-01|1\n", b'|'),
            ("single column", "v\n1\n2\n", b','),
            ("quoted comma inside", "t;v\n\"a,b\";1\n\"c,d\";2\n", b';'),
            (
                "decimal comma without header",
                "02/12/2013 21:15;73,967\n02/12/2013 21:30;74,1\n",
                b';',
            ),
            ("two decimal commas", "1,5;2,5\n3,5;4,5\n", b';'),
        ];
        for (name, text, want) in cases {
            assert_eq!(
                sniff_delimiter(&sample(text)) as char,
                *want as char,
                "{name}"
            );
        }
    }

    #[test]
    fn headers_and_kinds() {
        use ColumnKind::*;
        type Case = (&'static str, &'static str, bool, &'static [ColumnKind]);
        let cases: &[Case] = &[
            (
                "header",
                "timestamp,value\n2014-07-01,1\n",
                true,
                &[Time, Numeric],
            ),
            (
                "no header",
                "2014-07-01,1\n2014-07-02,2\n",
                false,
                &[Time, Numeric],
            ),
            ("header only", "timestamp,value\n", true, &[Empty, Empty]),
            ("text file", "a,b\nc,d\n", true, &[Text, Text]),
            ("one row of data", "2014-07-01,5\n", false, &[Time, Numeric]),
            (
                "empty column",
                "t,v,x\n2014-07-01,1,\n",
                true,
                &[Time, Numeric, Empty],
            ),
            (
                "epoch",
                "ts,v\n1404172800,3\n1404176400,4\n",
                true,
                &[Time, Numeric],
            ),
            (
                "only epochs",
                "ts\n1404172800\n1404176400\n",
                true,
                &[Numeric],
            ),
            (
                "two epochs",
                "1404172800,1404172800\n1404176400,1404176401\n",
                false,
                &[Time, Numeric],
            ),
            (
                "label column",
                "t,v,l\n2014-07-01,1.5,0\n2014-07-02,2.5,1\n",
                true,
                &[Time, Numeric, Numeric],
            ),
        ];
        for (name, text, header, kinds) in cases {
            let l = analyze(&sample(text), None, None).unwrap();
            assert_eq!(l.has_header, *header, "{name}");
            assert_eq!(&l.kinds, kinds, "{name}");
        }
        assert!(analyze(&sample(""), None, None).is_none());
        assert!(analyze(&sample("\n\n"), None, None).is_none());
    }
}
