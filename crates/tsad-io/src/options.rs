//! What the caller may decide instead of the detector: columns, delimiter, source name.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

/// A column, by header name (case-insensitive exact match) or 0-based index.
///
/// Parses from text with [`FromStr`]: all digits is an index, anything else a name. In JSON it
/// is a string or a number; a string of digits that names no column is taken as an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ColumnRef {
    /// The header's name for the column; files without a header name their columns
    /// `column_0`, `column_1`, ...
    Name(String),
    /// The 0-based position of the column.
    Index(usize),
}

impl FromStr for ColumnRef {
    type Err = Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if !t.is_empty()
            && t.bytes().all(|b| b.is_ascii_digit())
            && let Ok(i) = t.parse()
        {
            return Ok(ColumnRef::Index(i));
        }
        Ok(ColumnRef::Name(s.to_owned()))
    }
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnRef::Name(n) => f.write_str(n),
            ColumnRef::Index(i) => write!(f, "{i}"),
        }
    }
}

impl From<&str> for ColumnRef {
    fn from(s: &str) -> Self {
        ColumnRef::Name(s.to_owned())
    }
}

impl From<usize> for ColumnRef {
    fn from(i: usize) -> Self {
        ColumnRef::Index(i)
    }
}

/// The character between a number's integer and fractional parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
pub enum DecimalMark {
    /// `12.5`.
    #[default]
    #[serde(rename = ".")]
    Point,
    /// `12,5`, as spreadsheets write numbers in most of Europe (with `;` between fields). A
    /// `.` may group thousands: `1.234,5`.
    #[serde(rename = ",")]
    Comma,
}

impl DecimalMark {
    /// The mark as a character.
    pub fn as_char(self) -> char {
        match self {
            DecimalMark::Point => '.',
            DecimalMark::Comma => ',',
        }
    }
}

impl FromStr for DecimalMark {
    type Err = String;

    /// `.` or `point`, `,` or `comma`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "." | "point" => Ok(DecimalMark::Point),
            "," | "comma" => Ok(DecimalMark::Comma),
            other => Err(format!(
                "\"{other}\" is not a decimal mark; use '.' (12.5) or ',' (12,5)"
            )),
        }
    }
}

impl fmt::Display for DecimalMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// How a file holds its series.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SeriesLayout {
    /// One series: the value column (the default).
    #[default]
    Single,
    /// Wide: one series per listed value column, all on the one time column. An empty list
    /// takes every numeric column but the time column, passing over 0/1 label columns and
    /// row counters (a warning names what was passed over).
    Wide(Vec<ColumnRef>),
    /// Long: one series per distinct value of this column (the series id), the rows of each
    /// series in any order and interleaved with the others; the value column is chosen as for
    /// [`SeriesLayout::Single`], never the id column.
    Long(ColumnRef),
}

impl SeriesLayout {
    /// Whether the file holds more than one series (or may).
    pub fn is_many(&self) -> bool {
        !matches!(self, SeriesLayout::Single)
    }
}

/// How to read a CSV. The default detects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOptions {
    /// The time column; `None` detects it (the first column whose cells parse as timestamps).
    pub time_column: Option<ColumnRef>,
    /// The value column; `None` detects it: the first numeric column that is not the time
    /// column, passing over 0/1 label columns and row counters (consecutive integers) when
    /// another numeric column exists; failing that, the first column whose sampled cells are
    /// all empty.
    pub value_column: Option<ColumnRef>,
    /// Ignore any time column and use the row index as the time axis.
    pub no_time_column: bool,
    /// The field delimiter; `None` sniffs it among `,` `;` tab and `|`.
    pub delimiter: Option<u8>,
    /// The decimal mark of the values; `None` detects it: a comma when the delimiter is not
    /// `,` and the sampled numbers are written like `12,5` rather than `12.5`.
    pub decimal: Option<DecimalMark>,
    /// The name shown in diagnostics and errors (a path or an upload's file name). Defaults
    /// to the path for [`crate::read_path`] and `input` otherwise.
    pub source_name: Option<String>,
    /// How the file holds its series: one (the default), one per column (wide) or one per
    /// id (long). [`crate::read_path`] and the other single-series readers need
    /// [`SeriesLayout::Single`]; [`crate::read_fleet_path`] reads any.
    pub series: SeriesLayout,
    /// Columns read as the series' covariates ([`tsad_core::Series::covariates`], named after
    /// their columns, in this order): numbers aligned with the values, an empty cell being a
    /// missing value. Empty (the default) reads none. One series per file only
    /// ([`SeriesLayout::Single`]).
    pub covariate_columns: Vec<ColumnRef>,
    /// The value column holds labels: besides numbers, the words `true`/`false`, `yes`/`no`,
    /// `t`/`f`, `y`/`n` and `anomaly`/`normal` (any case) read as 1 and 0, as pandas writes a
    /// boolean column. For reading a label column beside a series; off by default, so a value
    /// column of words is an error.
    pub labels: bool,
}

impl IngestOptions {
    /// The name errors start with.
    pub(crate) fn source(&self) -> &str {
        self.source_name.as_deref().unwrap_or("input")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_ref_parses_and_serialises() {
        let cases: &[(&str, ColumnRef)] = &[
            ("0", ColumnRef::Index(0)),
            ("12", ColumnRef::Index(12)),
            ("value", ColumnRef::Name("value".into())),
            ("1a", ColumnRef::Name("1a".into())),
            ("", ColumnRef::Name(String::new())),
        ];
        for (text, want) in cases {
            let got: ColumnRef = text.parse().unwrap();
            assert_eq!(&got, want, "{text}");
            assert_eq!(got.to_string(), *text);
        }
        let from_json: Vec<ColumnRef> = serde_json::from_str(r#"["value", 3]"#).unwrap();
        assert_eq!(
            from_json,
            vec![ColumnRef::from("value"), ColumnRef::from(3)]
        );
        assert_eq!(serde_json::to_string(&from_json).unwrap(), r#"["value",3]"#);
    }

    #[test]
    fn decimal_mark_parses_and_serialises() {
        assert_eq!(",".parse::<DecimalMark>(), Ok(DecimalMark::Comma));
        assert_eq!("point".parse::<DecimalMark>(), Ok(DecimalMark::Point));
        let err = ";".parse::<DecimalMark>().unwrap_err();
        assert!(err.contains("use '.' (12.5) or ',' (12,5)"), "{err}");
        let m: DecimalMark = serde_json::from_str(r#"",""#).unwrap();
        assert_eq!(m, DecimalMark::Comma);
        assert_eq!(
            serde_json::to_string(&DecimalMark::Point).unwrap(),
            r#"".""#
        );
    }
}
