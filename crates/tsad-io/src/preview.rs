//! A first look at a CSV before choosing columns: delimiter, header, column kinds, rows.

use crate::encoding::{Utf16Reader, detect_utf16, reject_binary};
use crate::error::IngestError;
use crate::sniff::{ColumnKind, SAMPLE_LINES, analyze, detect_columns, read_sample};
use serde::{Deserialize, Serialize};

/// The start of a CSV as ingest sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    /// The sniffed delimiter.
    pub delimiter: char,
    /// Whether the first line is a header.
    pub has_header: bool,
    /// Every column with its detected kind.
    pub columns: Vec<ColumnInfo>,
    /// The first data rows, cells as text (invalid UTF-8 replaced by U+FFFD).
    pub rows: Vec<Vec<String>>,
    /// The column ingest would take as time, if any.
    pub time_column: Option<usize>,
    /// The column ingest would take as values, if any.
    pub value_column: Option<usize>,
}

/// One column of a [`Preview`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// 0-based position.
    pub index: usize,
    /// Header name, or `column_<index>`.
    pub name: String,
    /// What the sampled cells hold.
    pub kind: ColumnKind,
}

/// Previews the first `max_rows` data rows of a CSV held in memory. Kinds are decided from
/// the first 200 rows (or `max_rows`, if more).
///
/// # Errors
///
/// [`IngestError::Empty`] when there is nothing to show, [`IngestError::Binary`] for a file
/// that is not text; a header without rows, or a file
/// without numeric column, is a preview with no rows or no value column, not an error.
pub fn preview_bytes(
    bytes: &[u8],
    max_rows: usize,
    source_name: Option<&str>,
) -> Result<Preview, IngestError> {
    let source = source_name.unwrap_or("input");
    let lines = SAMPLE_LINES.max(max_rows.saturating_add(1));
    let sample = match detect_utf16(bytes) {
        Some(order) => read_sample(
            &mut std::io::BufReader::new(Utf16Reader::new(bytes, order)),
            lines,
            source,
        )?,
        None => read_sample(&mut &*bytes, lines, source)?,
    };
    reject_binary(&sample.bytes, source)?;
    let layout = analyze(&sample, None, None).ok_or_else(|| IngestError::Empty {
        source_name: source.to_owned(),
    })?;
    let (time_column, value_column) = detect_columns(&layout);
    let columns = layout
        .columns
        .iter()
        .zip(&layout.kinds)
        .enumerate()
        .map(|(index, (name, kind))| ColumnInfo {
            index,
            name: name.clone(),
            kind: *kind,
        })
        .collect();
    let rows = layout
        .rows
        .iter()
        .take(max_rows)
        .map(|r| {
            r.iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect()
        })
        .collect();
    Ok(Preview {
        delimiter: layout.delimiter as char,
        has_header: layout.has_header,
        columns,
        rows,
        time_column,
        value_column,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_shows_kinds_and_rows() {
        let mut csv = String::from("id;when;value;note\n");
        for i in 0..12 {
            let v = if i == 1 {
                String::new()
            } else {
                format!("{i}.5")
            };
            csv += &format!("{i};2014-07-01 {i:02}:00;{v};ok\n");
        }
        let p = preview_bytes(csv.as_bytes(), 1, Some("x.csv")).unwrap();
        assert_eq!(p.delimiter, ';');
        assert!(p.has_header);
        let kinds: Vec<ColumnKind> = p.columns.iter().map(|c| c.kind).collect();
        use ColumnKind::*;
        assert_eq!(kinds, [Numeric, Time, Numeric, Text]);
        assert_eq!(p.rows, [["0", "2014-07-01 00:00", "0.5", "ok"]]);
        assert_eq!(p.time_column, Some(1));
        // "id" counts rows, so the values are the next numeric column.
        assert_eq!(p.value_column, Some(2));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["columns"][1]["kind"], "time");

        let err = preview_bytes(b"", 5, Some("x.csv"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("x.csv: the file is empty"), "{err}");
        let p = preview_bytes(b"a,b\n", 5, None).unwrap();
        assert!(p.rows.is_empty() && p.value_column.is_none());
    }
}
