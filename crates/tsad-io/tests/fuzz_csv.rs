//! Property test of the CSV reader: whatever the bytes or rows, ingest and preview return
//! (never panic), every error names the source and, when it is about a place in the file,
//! the line, and no message echoes a cell at length. A result is a valid series.
//!
//! CI runs proptest's default 256 cases per property (a few seconds). For a longer hunt:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test -p tsad-io --test fuzz_csv
//! ```
//!
//! A failure prints the shrunk input; proptest also keeps it in
//! `tests/fuzz_csv.proptest-regressions`, so the next run tries it first.

use proptest::prelude::*;
use tsad_io::{ColumnRef, DecimalMark, IngestError, IngestOptions, preview_bytes, read_bytes};

/// Messages stay short however long the cells are (about 80 characters are echoed per cell).
const MAX_MESSAGE: usize = 2000;

/// Checks one outcome of reading `input` with `opts`.
fn check(input: &[u8], opts: &IngestOptions) -> Result<(), TestCaseError> {
    match read_bytes(input, opts) {
        Ok(got) => {
            let ts = got.series.timestamps();
            prop_assert!(ts.windows(2).all(|w| w[0] < w[1]), "timestamps increase");
            prop_assert_eq!(got.diagnostics.points, got.series.len());
            prop_assert!(got.series.len() <= got.diagnostics.rows_read);
            prop_assert!(got.series.values().iter().all(|v| !v.is_infinite()));
            prop_assert!(
                got.diagnostics
                    .warnings
                    .iter()
                    .all(|w| w.len() < MAX_MESSAGE)
            );
        }
        Err(e) => check_error(&e)?,
    }
    Ok(())
}

fn check_error(e: &IngestError) -> Result<(), TestCaseError> {
    let msg = e.to_string();
    prop_assert!(
        msg.starts_with("fuzz.csv: "),
        "names the source: {msg:.300}"
    );
    prop_assert!(msg.len() < MAX_MESSAGE, "{} bytes: {msg:.300}", msg.len());
    let about_a_place = matches!(
        e,
        IngestError::NotUtf8 { .. }
            | IngestError::InfiniteValue { .. }
            | IngestError::UnparsableTimestamp { .. }
            | IngestError::NotANumber { .. }
            | IngestError::RowLength { .. }
            | IngestError::Csv { .. }
            | IngestError::UnclosedQuote { .. }
            | IngestError::Binary { .. }
            | IngestError::MostlyDuplicates { .. }
    );
    if about_a_place {
        let line = e.line();
        prop_assert!(line.is_some_and(|l| l >= 1), "a line: {msg:.300}");
        let l = line.unwrap_or_default();
        let (one, two) = (format!("line {l}"), format!("lines {l}"));
        prop_assert!(
            msg.contains(&one) || msg.contains(&two),
            "line {} in {:.300}",
            l,
            msg
        );
    }
    Ok(())
}

/// Cells that have broken ingest, or could: every timestamp family, numbers in both decimal
/// marks, missing tokens, quotes (closed, doubled, open), control bytes, long cells, text.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        (0i64..4_000_000_000).prop_map(|s| s.to_string()),
        (-4_000_000_000i64..0).prop_map(|s| s.to_string()),
        (0u64..u64::MAX).prop_map(|s| format!("{s}{s}")),
        (1u32..29, 1u32..13, 1900u32..2100, 0u32..24)
            .prop_map(|(d, m, y, h)| format!("{y}-{m:02}-{d:02} {h:02}:00:00")),
        (1u32..29, 1u32..13, 1900u32..2100).prop_map(|(d, m, y)| format!("{d:02}/{m:02}/{y}")),
        Just("10000-01-01T00:00:00Z".to_owned()),
        (-1e6..1e6f64).prop_map(|v| v.to_string()),
        (-1e6..1e6f64).prop_map(|v| format!("{v:.3}").replace('.', ",")),
        Just("1.234,5".to_owned()),
        prop_oneof![Just(""), Just("NaN"), Just("NA"), Just("-"), Just("null")]
            .prop_map(str::to_owned),
        Just("inf".to_owned()),
        Just("\"quoted, with comma\"".to_owned()),
        Just("\"a \"\"doubled\"\" quote\"".to_owned()),
        Just("\"open".to_owned()),
        Just("\"two\nlines\"".to_owned()),
        Just("\0\0".to_owned()),
        Just("\u{feff}bom".to_owned()),
        Just("temp\u{e9}rature".to_owned()),
        "[a-z ]{0,12}",
        (1usize..3000).prop_map(|n| "x".repeat(n)),
    ]
}

/// A file: a header or not, rows of cells (lengths may differ), a delimiter, line endings,
/// maybe UTF-16 or Latin-1 bytes.
fn file() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<bool>(),
        1usize..5,
        proptest::collection::vec(proptest::collection::vec(cell(), 1..5), 0..40),
        prop_oneof![Just(","), Just(";"), Just("\t"), Just("|")],
        prop_oneof![Just("\n"), Just("\r\n")],
        0u8..8,
    )
        .prop_map(|(header, width, rows, delimiter, eol, encoding)| {
            let mut text = String::new();
            if header {
                let names: Vec<&str> = ["timestamp", "value", "note", "label"][..width].to_vec();
                text += &names.join(delimiter);
                text += eol;
            }
            for row in rows {
                text += &row.join(delimiter);
                text += eol;
            }
            match encoding {
                0 => std::iter::once(0xFEFF)
                    .chain(text.encode_utf16())
                    .flat_map(u16::to_le_bytes)
                    .collect(),
                1 => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
                2 => text.chars().map(|c| c as u32 as u8).collect(),
                _ => text.into_bytes(),
            }
        })
}

/// Options as a user might set them: detected, or columns by name or index (negative too),
/// a decimal mark, no time column.
fn options() -> impl Strategy<Value = IngestOptions> {
    let column = prop_oneof![
        Just(None),
        (0usize..6).prop_map(|i| Some(ColumnRef::Index(i))),
        prop_oneof![Just("timestamp"), Just("value"), Just("nope"), Just("-1")]
            .prop_map(|n| Some(ColumnRef::Name(n.to_owned()))),
    ];
    (
        column.clone(),
        column,
        any::<bool>(),
        prop_oneof![
            Just(None),
            Just(Some(DecimalMark::Point)),
            Just(Some(DecimalMark::Comma))
        ],
    )
        .prop_map(|(time, value, no_time, decimal)| IngestOptions {
            time_column: if no_time { None } else { time },
            value_column: value,
            no_time_column: no_time,
            decimal,
            source_name: Some("fuzz.csv".into()),
            ..IngestOptions::default()
        })
}

proptest! {
    // The default config reads PROPTEST_CASES (256 when unset).
    #![proptest_config(ProptestConfig::default())]

    /// Arbitrary bytes.
    #[test]
    fn bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000), opts in options()) {
        check(&bytes, &opts)?;
        if let Err(e) = preview_bytes(&bytes, 5, Some("fuzz.csv")) {
            check_error(&e)?;
        }
    }

    /// Rows that look like CSV, with every cell that has caused trouble.
    #[test]
    fn rows_never_panic(bytes in file(), opts in options()) {
        check(&bytes, &opts)?;
        check(&bytes, &IngestOptions { source_name: Some("fuzz.csv".into()), ..IngestOptions::default() })?;
        if let Err(e) = preview_bytes(&bytes, 5, Some("fuzz.csv")) {
            check_error(&e)?;
        }
    }
}
