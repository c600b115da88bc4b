//! Ingest through the public API: layouts, timestamp formats, missing values, ordering,
//! duplicates, gaps, column choice, every error message, round trips and a real NAB file.

use proptest::prelude::*;
use std::fmt::Write as _;
use std::path::PathBuf;
use tsad_core::TimeAxis;
use tsad_io::demo::{DemoParams, generate, write_csv};
use tsad_io::{ColumnRef, IngestOptions, Ingested, format_timestamp, read_bytes, read_path};
use tsad_testing::nab_dir;

/// 2014-07-01T00:00:00Z in Unix ms (`date -u -d 2014-07-01 +%s%3N`).
const JUL1: i64 = 1_404_172_800_000;
const HOUR: i64 = 3_600_000;

fn opts() -> IngestOptions {
    IngestOptions {
        source_name: Some("data.csv".into()),
        ..IngestOptions::default()
    }
}

fn read(csv: &[u8]) -> Ingested {
    read_with(csv, opts())
}

fn read_with(csv: &[u8], o: IngestOptions) -> Ingested {
    match read_bytes(csv, &o) {
        Ok(got) => got,
        Err(e) => panic!("{e}\n--- input ---\n{}", String::from_utf8_lossy(csv)),
    }
}

fn error(csv: &[u8], o: IngestOptions) -> String {
    match read_bytes(csv, &o) {
        Ok(got) => panic!("expected an error, got {:?}", got.diagnostics),
        Err(e) => e.to_string(),
    }
}

#[test]
fn delimiters_headers_and_bom() {
    type Case = (&'static str, &'static [u8], char, bool);
    let cases: &[Case] = &[
        (
            "comma",
            b"timestamp,value\n2014-07-01,1\n2014-07-02,2\n",
            ',',
            true,
        ),
        (
            "semicolon",
            b"timestamp;value\n2014-07-01;1\n2014-07-02;2\n",
            ';',
            true,
        ),
        (
            "tab",
            b"timestamp\tvalue\n2014-07-01\t1\n2014-07-02\t2\n",
            '\t',
            true,
        ),
        (
            "pipe",
            b"timestamp|value\n2014-07-01|1\n2014-07-02|2\n",
            '|',
            true,
        ),
        (
            "comma no header",
            b"2014-07-01,1\n2014-07-02,2\n",
            ',',
            false,
        ),
        (
            "semicolon no header",
            b"2014-07-01;1\n2014-07-02;2\n",
            ';',
            false,
        ),
        (
            "tab no header",
            b"2014-07-01\t1\n2014-07-02\t2\n",
            '\t',
            false,
        ),
        (
            "pipe no header",
            b"2014-07-01|1\n2014-07-02|2\n",
            '|',
            false,
        ),
        (
            "bom",
            b"\xEF\xBB\xBFtimestamp,value\n2014-07-01,1\n2014-07-02,2\n",
            ',',
            true,
        ),
        (
            "bom no header",
            b"\xEF\xBB\xBF2014-07-01,1\n2014-07-02,2\n",
            ',',
            false,
        ),
        (
            "crlf",
            b"timestamp,value\r\n2014-07-01,1\r\n2014-07-02,2\r\n",
            ',',
            true,
        ),
        (
            "no final newline",
            b"timestamp,value\n2014-07-01,1\n2014-07-02,2",
            ',',
            true,
        ),
        (
            "quoted",
            b"\"timestamp\",\"value\"\n\"2014-07-01\",\"1\"\n2014-07-02,2\n",
            ',',
            true,
        ),
        (
            "padded cells",
            b"timestamp , value\n 2014-07-01 , 1 \n2014-07-02,2\n",
            ',',
            true,
        ),
    ];
    for (name, csv, delimiter, header) in cases {
        let got = read(csv);
        let d = &got.diagnostics;
        assert_eq!(d.delimiter, *delimiter, "{name}");
        assert_eq!(d.has_header, *header, "{name}");
        assert_eq!(got.series.timestamps(), [JUL1, JUL1 + 24 * HOUR], "{name}");
        assert_eq!(got.series.values(), [1.0, 2.0], "{name}");
        let want_columns: Vec<String> = if *header {
            vec!["timestamp".into(), "value".into()]
        } else {
            vec!["column_0".into(), "column_1".into()]
        };
        assert_eq!(got.columns, want_columns, "{name}");
        assert_eq!(got.value_column, want_columns[1], "{name}");
    }
}

#[test]
fn explicit_delimiter_wins() {
    let mut o = opts();
    o.delimiter = Some(b';');
    let got = read_with(b"t;v,x\n2014-07-01;1\n", o);
    assert_eq!(got.columns, ["t", "v,x"]);
    assert_eq!(got.series.values(), [1.0]);
}

#[test]
fn timestamp_formats() {
    // Known answers from GNU date: `date -u -d '<time>' +%s%3N`.
    type Case = (&'static str, [&'static str; 2], [i64; 2], &'static str);
    let cases: &[Case] = &[
        (
            "rfc3339 utc",
            ["2014-07-01T00:00:00Z", "2014-07-01T01:00:00Z"],
            [JUL1, JUL1 + HOUR],
            "YYYY-MM-DDTHH:MM:SSZ",
        ),
        (
            "rfc3339 offset fraction",
            [
                "2014-07-01T00:00:00.123+02:00",
                "2014-07-01T01:00:00.123+02:00",
            ],
            [1_404_165_600_123, 1_404_169_200_123],
            "+HH:MM",
        ),
        (
            "iso no zone",
            ["2014-07-01T00:00:00", "2014-07-01T01:00:00"],
            [JUL1, JUL1 + HOUR],
            "no zone: read as UTC",
        ),
        (
            "space seconds",
            ["2014-07-01 00:00:00", "2014-07-01 00:30:00"],
            [JUL1, 1_404_174_600_000],
            "YYYY-MM-DD HH:MM:SS (",
        ),
        (
            "space fraction",
            ["2014-07-01 00:00:00.250", "2014-07-01 00:00:01.5"],
            [1_404_172_800_250, 1_404_172_801_500],
            "HH:MM:SS.fff",
        ),
        (
            "minutes",
            ["2014-07-01 13:45", "2014-07-01 14:45"],
            [1_404_222_300_000, 1_404_225_900_000],
            "YYYY-MM-DD HH:MM (",
        ),
        (
            "dates",
            ["2014-07-01", "2014-07-02"],
            [JUL1, JUL1 + 24 * HOUR],
            "dates",
        ),
        (
            "day-first",
            ["13/07/2014 10:30:05", "14/07/2014 10:30:05"],
            [1_405_247_405_000, 1_405_333_805_000],
            "DD/MM/YYYY HH:MM:SS (day-first: a first field above 12",
        ),
        (
            "month-first",
            ["07/13/2014 10:30", "07/14/2014 10:30"],
            [1_405_247_400_000, 1_405_333_800_000],
            "MM/DD/YYYY HH:MM (month-first: a second field above 12",
        ),
        (
            "ambiguous is day-first",
            ["01/07/2014", "02/07/2014"],
            [JUL1, JUL1 + 24 * HOUR],
            "day-first assumed: no field above 12 anywhere, so the order is ambiguous",
        ),
        (
            "dotted day-first",
            ["01.07.2014", "13.07.2014"],
            [JUL1, 1_405_209_600_000],
            "DD.MM.YYYY",
        ),
        (
            "epoch seconds",
            ["1404172800", "1404176400"],
            [JUL1, JUL1 + HOUR],
            "epoch seconds",
        ),
        (
            "epoch milliseconds",
            ["1404172800000", "1404172800500"],
            [JUL1, JUL1 + 500],
            "epoch milliseconds",
        ),
    ];
    for (name, cells, want, format) in cases {
        let csv = format!("time,value\n{},1.5\n{},2.5\n", cells[0], cells[1]);
        let got = read(csv.as_bytes());
        assert_eq!(got.series.timestamps(), want, "{name}");
        assert_eq!(got.series.axis(), TimeAxis::EpochMillis, "{name}");
        assert!(
            got.diagnostics.time_format.contains(format),
            "{name}: {}",
            got.diagnostics.time_format
        );
    }
}

#[test]
fn day_month_order_is_settled_by_the_whole_file() {
    // 12 days of hourly rows whose dates read either way, then the 13th, which only reads
    // month-first: well past the 200 sampled rows, every earlier row must be re-read.
    let mut csv = String::from("when,load\n");
    for day in 1..=13 {
        for h in 0..24 {
            writeln!(csv, "01/{day:02}/2014 {h:02}:00,{}", day * 100 + h).unwrap();
        }
    }
    let got = read(csv.as_bytes());
    let jan1 = 1_388_534_400_000; // date -u -d 2014-01-01 +%s%3N
    let ts = got.series.timestamps();
    assert_eq!(ts.len(), 13 * 24);
    assert!(
        ts.iter()
            .enumerate()
            .all(|(i, t)| *t == jan1 + i as i64 * HOUR)
    );
    assert!(!got.diagnostics.sorted);
    assert!(
        got.diagnostics
            .time_format
            .starts_with("MM/DD/YYYY HH:MM (month-first")
    );

    // The same rows day-first ("13/01/2014" appears only day-first) are dates in January.
    let csv = csv.replace("01/13/2014", "13/01/2014");
    let csv: String = csv
        .lines()
        .map(|l| match l.split_once(' ') {
            Some((d, rest)) if d.len() == 10 && !d.starts_with("13/") => {
                format!("{}/{}/{} {rest}\n", &d[3..5], &d[0..2], &d[6..])
            }
            _ => format!("{l}\n"),
        })
        .collect();
    let got = read(csv.as_bytes());
    assert_eq!(got.series.timestamps()[24], jan1 + 24 * HOUR);
    assert!(
        got.diagnostics
            .time_format
            .starts_with("DD/MM/YYYY HH:MM (day-first: a first")
    );

    // Never above 12: read day-first, with a warning.
    let got = read(b"date,v\n01/02/2014,1\n02/02/2014,2\n");
    assert_eq!(got.series.timestamps()[0], 1_391_212_800_000); // 2014-02-01
    assert!(
        got.diagnostics.warnings[0].contains("ambiguous"),
        "{:?}",
        got.diagnostics
    );
}

#[test]
fn missing_value_tokens_are_kept_as_nan() {
    let tokens = ["", "NaN", "nan", "null", "NULL", "NA", "N/A", "-", "None"];
    let mut csv = String::from("timestamp,value\n");
    for (i, tok) in tokens.iter().enumerate() {
        writeln!(csv, "{},{tok}", format_timestamp(JUL1 + i as i64 * HOUR)).unwrap();
    }
    writeln!(csv, "{},4.5", format_timestamp(JUL1 + 20 * HOUR)).unwrap();
    let got = read(csv.as_bytes());
    let d = &got.diagnostics;
    assert_eq!(d.missing_values, tokens.len());
    assert_eq!(d.rows_read, tokens.len() + 1);
    assert_eq!(d.points, tokens.len() + 1);
    assert_eq!(d.rejected, 0);
    assert_eq!(
        got.series.values().iter().filter(|v| v.is_nan()).count(),
        tokens.len()
    );
}

#[test]
fn rejected_rows_are_counted_with_lines() {
    let mut csv = String::from("timestamp,value\n");
    for i in 0..40 {
        let t = format_timestamp(JUL1 + i * HOUR);
        match i {
            3 => writeln!(csv, "{t},abc"),
            5 => writeln!(csv, "yesterday,1"),
            9 => writeln!(csv, ",2"),
            20..=31 => writeln!(csv, "{t},x{i}"),
            _ => writeln!(csv, "{t},{i}"),
        }
        .unwrap();
    }
    let got = read(csv.as_bytes());
    let d = &got.diagnostics;
    assert_eq!(d.rows_read, 40);
    assert_eq!(d.rejected, 15);
    assert_eq!(d.points, 25);
    assert_eq!(d.rejected_rows.len(), 10);
    let r = &d.rejected_rows;
    assert_eq!(
        (r[0].line, r[0].column.as_str(), r[0].value.as_str()),
        (5, "value", "abc")
    );
    assert_eq!(r[0].reason, "not a number");
    assert_eq!(
        (r[1].line, r[1].column.as_str(), r[1].value.as_str()),
        (7, "timestamp", "yesterday")
    );
    assert_eq!(
        (r[2].line, r[2].value.as_str(), r[2].reason.as_str()),
        (11, "", "missing timestamp")
    );
    assert_eq!(r[3].line, 22);
    assert!(
        d.warnings
            .iter()
            .any(|w| w.contains("15 of 40 rows were rejected"))
    );
}

/// Line numbers are the ones a text editor shows, whatever ends the lines: csv's positions
/// named the line before after a `\r\n` or a blank line (a CRLF file's `abc` on line 3 was
/// reported on line 2), and line 1 throughout a `\r`-only file.
#[test]
fn lines_are_the_editors_whatever_ends_them() {
    for (ends, end) in [("lf", "\n"), ("crlf", "\r\n"), ("cr", "\r")] {
        let file = |text: &str| text.replace('\n', end).into_bytes();
        let warned = |got: &Ingested, want: &str| {
            let w = &got.diagnostics.warnings;
            assert!(w.iter().any(|w| w.contains(want)), "{ends}: {w:?}");
        };

        let got = read(&file("t,v\n2014-07-01,1\n2014-07-02,abc\n2014-07-03,3\n"));
        warned(&got, "the first: line 3, column \"v\": \"abc\"");
        let got = read(&file(
            "\n\nt,v\n2014-07-01,1\n\n2014-07-02,abc\n2014-07-03,3\n\n",
        ));
        warned(&got, "the first: line 6, column \"v\": \"abc\"");

        let msg = error(&file("t,v\n2014-07-01,1\n\n2014-07-02,inf\n"), opts());
        let want = "data.csv: line 4, column \"v\": \"inf\" is infinite";
        assert!(msg.starts_with(want), "{ends}: {msg}");

        let got = read(&file("t,v\n2014-07-01,1\n\n2014-07-01,2\n2014-07-02,3\n"));
        let d = &got.diagnostics.duplicate_rows[0];
        assert_eq!((d.kept_line, d.dropped_line), (4, 2), "{ends}");

        // A cell over three lines, then a blank line: its first line and its last.
        let got = read(&file(
            "t,v,n\n2014-07-01,1,\"a\n\nb\"\n\n2014-07-02,2,c\n2014-07-03,3,d\n",
        ));
        warned(&got, "the first on lines 2 to 4 in column \"n\"");

        // Found in the sample, before the rows are read.
        let msg = error(
            &file("t,v\n2014-07-01,1\n\n2014-07-02,\"2\n2014-07-03,3\n"),
            opts(),
        );
        let want = "data.csv: line 4, column \"v\": a quote opens a cell here and is never closed";
        assert!(msg.starts_with(want), "{ends}: {msg}");
        let mut text = integer_times((0..30).map(|i| (-86_400 * 400 + i * 3600).to_string()));
        text = text.replacen('\n', "\n\n", 1);
        let got = read(&file(&text));
        warned(&got, "but was not read as time: line 3 holds \"");
    }
}

#[test]
fn rows_out_of_order_are_sorted_and_the_last_duplicate_wins() {
    type Case = (
        &'static str,
        &'static str,
        &'static [f64],
        bool,
        usize,
        (u64, u64),
    );
    let cases: &[Case] = &[
        (
            "unsorted",
            "t,v\n2014-07-01 02:00,3\n2014-07-01 00:00,1\n2014-07-01 01:00,2\n",
            &[1.0, 2.0, 3.0],
            true,
            0,
            (0, 0),
        ),
        (
            "adjacent duplicate",
            "t,v\n2014-07-01 00:00,1\n2014-07-01 00:00,5\n2014-07-01 01:00,2\n",
            &[5.0, 2.0],
            false,
            1,
            (3, 2),
        ),
        (
            "duplicate after sorting",
            "t,v\n2014-07-01 00:00,1\n2014-07-01 01:00,2\n2014-07-01 00:00,9\n",
            &[9.0, 2.0],
            true,
            1,
            (4, 2),
        ),
        (
            "three copies, lines shifted by a rejected row",
            "t,v\n2014-07-01 01:00,7\nbad,0\n2014-07-01 00:00,1\n2014-07-01 01:00,8\n\
             2014-07-01 01:00,9\n",
            &[1.0, 9.0],
            true,
            2,
            (6, 5),
        ),
    ];
    for (name, csv, values, sorted, dups, first_dup) in cases {
        let got = read(csv.as_bytes());
        let d = &got.diagnostics;
        assert_eq!(got.series.values(), *values, "{name}");
        assert!(got.series.timestamps().is_sorted(), "{name}");
        assert_eq!(d.sorted, *sorted, "{name}");
        assert_eq!(d.duplicates, *dups, "{name}");
        if *dups > 0 {
            let r = &d.duplicate_rows[0];
            assert_eq!((r.kept_line, r.dropped_line), *first_dup, "{name}: {r:?}");
        }
        if *dups == 2 {
            // Lines 5 and 6 were adjacent; line 2 met them only after sorting.
            let r = &d.duplicate_rows[1];
            assert_eq!((r.kept_line, r.dropped_line), (6, 2), "{name}: {r:?}");
        }
    }
}

#[test]
fn gaps_and_median_step() {
    let mut csv = String::from("timestamp,value\n");
    for i in (0..10).chain(13..20).chain(30..31) {
        writeln!(csv, "{},{i}", format_timestamp(JUL1 + i * HOUR)).unwrap();
    }
    let got = read(csv.as_bytes());
    let d = &got.diagnostics;
    assert_eq!(d.median_step, Some(HOUR));
    assert_eq!(d.gaps.count, 2);
    assert_eq!(d.gaps.missing_steps, 3 + 10);
    assert_eq!(d.gaps.first[0].start, "2014-07-01T09:00:00Z");
    assert_eq!(d.gaps.first[0].end, "2014-07-01T13:00:00Z");
    assert_eq!(d.gaps.first[0].missing_steps, 3);
    assert_eq!(d.gaps.first[1].missing_steps, 10);
}

#[test]
fn columns_by_name_index_or_detection() {
    let csv = b"id,Timestamp,cpu,mem,label\n\
        1,2014-07-01 00:00,10,50,0\n\
        2,2014-07-01 01:00,11,51,1\n\
        3,2014-07-01 02:00,12,52,0\n";
    type Case = (
        &'static str,
        Option<ColumnRef>,
        Option<ColumnRef>,
        bool,
        Option<&'static str>,
        &'static str,
    );
    let cases: &[Case] = &[
        ("detected", None, None, false, Some("Timestamp"), "id"),
        (
            "value by name",
            None,
            Some("cpu".into()),
            false,
            Some("Timestamp"),
            "cpu",
        ),
        (
            "case-insensitive",
            Some("TIMESTAMP".into()),
            Some("MEM".into()),
            false,
            Some("Timestamp"),
            "mem",
        ),
        (
            "by index",
            Some(1.into()),
            Some(4.into()),
            false,
            Some("Timestamp"),
            "label",
        ),
        (
            "digits as a name",
            None,
            Some(ColumnRef::Name("2".into())),
            false,
            Some("Timestamp"),
            "cpu",
        ),
        ("row index", None, Some("cpu".into()), true, None, "cpu"),
    ];
    for (name, time, value, no_time, want_time, want_value) in cases {
        let o = IngestOptions {
            time_column: time.clone(),
            value_column: value.clone(),
            no_time_column: *no_time,
            ..opts()
        };
        let got = read_with(csv, o);
        assert_eq!(got.time_column.as_deref(), *want_time, "{name}");
        assert_eq!(got.value_column, *want_value, "{name}");
        assert_eq!(got.diagnostics.value_column, *want_value, "{name}");
        let axis = if want_time.is_some() {
            TimeAxis::EpochMillis
        } else {
            TimeAxis::Index
        };
        assert_eq!(got.series.axis(), axis, "{name}");
    }
    // Labels and row counters are passed over when another numeric column exists.
    let mut csv = String::from("index,label,time,value\n");
    for i in 0..20 {
        let t = format_timestamp(JUL1 + i * HOUR);
        writeln!(csv, "{i},{},{t},{}.25", i % 2, 100 + i * i % 7).unwrap();
    }
    let got = read(csv.as_bytes());
    assert_eq!(got.value_column, "value");
    let got = read(
        csv.replace(",value\n", ",note\n")
            .replace(".25\n", "x\n")
            .as_bytes(),
    );
    assert_eq!(
        got.value_column, "index",
        "no better column: the counter is used"
    );

    // No time column at all: the row index.
    let got = read(b"value\n3\n4\n5\n");
    assert_eq!(got.series.axis(), TimeAxis::Index);
    assert_eq!(got.series.timestamps(), [0, 1, 2]);
    assert_eq!(got.diagnostics.time_format, "none (row index)");
    // A lone epoch-looking column is the values, not the time.
    let got = read(b"bytes\n1404172800\n1404176400\n1404180000\n");
    assert_eq!(got.series.axis(), TimeAxis::Index);
    assert_eq!(got.value_column, "bytes");
    // Epoch seconds as time, when another column holds values.
    let got = read(b"ts,v\n1404172800,1\n1404176400,2\n");
    assert_eq!(got.time_column.as_deref(), Some("ts"));
    // A named time column of small integers is read as epoch seconds.
    let o = IngestOptions {
        time_column: Some("t".into()),
        ..opts()
    };
    let got = read_with(b"t,v\n1,5\n2,6\n", o);
    assert_eq!(got.series.timestamps(), [1000, 2000]);
}

#[test]
fn error_messages_say_where_and_how_to_fix() {
    let named = |time: Option<ColumnRef>, value: Option<ColumnRef>| IngestOptions {
        time_column: time,
        value_column: value,
        ..opts()
    };
    // 250 good rows, then 300 bad ones: too many rejections past the sample.
    let mut late_bad_times = String::from("timestamp,value\n");
    let mut late_bad_values = String::from("timestamp,value\n");
    for i in 0..550 {
        let t = format_timestamp(JUL1 + i * HOUR);
        if i < 250 {
            writeln!(late_bad_times, "{t},{i}").unwrap();
            writeln!(late_bad_values, "{t},{i}").unwrap();
        } else {
            writeln!(late_bad_times, "day {i},{i}").unwrap();
            writeln!(late_bad_values, "{t},{i} units").unwrap();
        }
    }
    type Case = (
        &'static str,
        Vec<u8>,
        IngestOptions,
        &'static [&'static str],
    );
    let cases: Vec<Case> = vec![
        (
            "empty",
            b"".to_vec(),
            opts(),
            &["data.csv: the file is empty"],
        ),
        (
            "blank lines",
            b"\n\n\n".to_vec(),
            opts(),
            &["data.csv: the file is empty"],
        ),
        (
            "header only",
            b"timestamp,value\n".to_vec(),
            opts(),
            &[
                "data.csv: the file has a header (\"timestamp\", \"value\") but no data rows; add rows",
            ],
        ),
        (
            "no numeric column",
            b"name,city\nbob,paris\nann,rome\n".to_vec(),
            opts(),
            &[
                "data.csv: no numeric column found among the columns \"name\", \"city\"",
                "numbers such as 12.5, 1,234.5, $1,234.50, 12.5% or (300)",
            ],
        ),
        (
            "unknown value column",
            b"timestamp,value\n2014-07-01,1\n".to_vec(),
            named(None, Some("cpu".into())),
            &[
                "data.csv: there is no column named \"cpu\" for the value column; available columns: \"timestamp\", \"value\"",
            ],
        ),
        (
            "unknown time column",
            b"timestamp,value\n2014-07-01,1\n".to_vec(),
            named(Some("time".into()), None),
            &["no column named \"time\" for the time column"],
        ),
        (
            "index out of range",
            b"timestamp,value\n2014-07-01,1\n".to_vec(),
            named(None, Some(5.into())),
            &[
                "data.csv: value column index 5 is out of range: the file has 2 columns (indices 0 to 1)",
            ],
        ),
        (
            "same column twice",
            b"timestamp,value\n2014-07-01,1\n".to_vec(),
            named(Some("value".into()), Some(1.into())),
            &["data.csv: column \"value\" was given as both the time and the value column"],
        ),
        (
            "every value missing",
            b"t,v\n2014-07-01,\n2014-07-02,NaN\n2014-07-03,null\n".to_vec(),
            opts(),
            &[
                "data.csv: every value in column \"v\" is missing (3 rows",
                "choose another value column",
            ],
        ),
        (
            "non-utf8 value",
            b"t,v\n2014-07-01,1\n2014-07-02,2\xff\n".to_vec(),
            opts(),
            &["data.csv: line 3, column \"v\", is not valid UTF-8 text; re-save the file as UTF-8"],
        ),
        (
            "non-utf8 time",
            b"t,v\n2014-07-01,1\n2014-07-02\xe9,2\n2014-07-03,3\n".to_vec(),
            opts(),
            &["data.csv: line 3, column \"t\", is not valid UTF-8"],
        ),
        (
            "non-utf8 header",
            b"temp\xe9rature,v\n2014-07-01,1\n".to_vec(),
            opts(),
            &["data.csv: line 1 is not valid UTF-8 text; re-save the file as UTF-8"],
        ),
        (
            "infinite",
            b"t,v\n2014-07-01,1\n2014-07-02,inf\n".to_vec(),
            opts(),
            &[
                "data.csv: line 3, column \"v\": \"inf\" is infinite",
                "replace it with an empty cell",
            ],
        ),
        (
            "overflow",
            b"t,v\n2014-07-01,1\n2014-07-02,2\n2014-07-03,-1e999\n".to_vec(),
            opts(),
            &["data.csv: line 4, column \"v\": \"-1e999\" is infinite"],
        ),
        (
            "named time column without timestamps",
            b"t,v\nmonday,1\ntuesday,2\n".to_vec(),
            named(Some("t".into()), None),
            &[
                "data.csv: line 2, column \"t\": \"monday\" is not a timestamp (2 of 2 rows rejected)",
                "accepted formats: RFC 3339",
                "DD/MM/YYYY or MM/DD/YYYY",
                "epoch seconds or epoch milliseconds",
            ],
        ),
        (
            "timestamps go bad past the sample",
            late_bad_times.into_bytes(),
            opts(),
            &[
                "data.csv: line 252, column \"timestamp\": \"day 250\" is not a timestamp (300 of 550 rows rejected)",
            ],
        ),
        (
            "values go bad past the sample",
            late_bad_values.into_bytes(),
            opts(),
            &[
                "data.csv: line 252, column \"value\": \"250 units\" is not a number (300 of 550 rows rejected)",
                "numbers such as 12.5, 1,234.5, $1,234.50, 12.5% or (300)",
            ],
        ),
        (
            "named value column of text",
            b"t,v,note\n2014-07-01,1,a\n2014-07-02,2,b\n".to_vec(),
            named(None, Some("note".into())),
            &["data.csv: line 2, column \"note\": \"a\" is not a number (2 of 2 rows rejected)"],
        ),
        (
            "bad delimiter",
            b"t,v\n2014-07-01,1\n".to_vec(),
            IngestOptions {
                delimiter: Some(b'"'),
                ..opts()
            },
            &["data.csv: '\"' cannot be the delimiter"],
        ),
        (
            "a first row longer than the sample",
            format!("t,v,note\n2014-07-01,1,{}\n", "x".repeat(5 << 20)).into_bytes(),
            opts(),
            &["data.csv: line 2: this line is longer than 4 MiB"],
        ),
        (
            "row length",
            b"t,v\n2014-07-01,1\n2014-07-02,2\n2014-07-03,3,4\n2014-07-04,4\n".to_vec(),
            opts(),
            &[
                "data.csv: line 4 has 3 fields but the first row has 2; every row needs the same number of ','-separated fields",
            ],
        ),
    ];
    for (name, csv, o, wants) in cases {
        let msg = error(&csv, o);
        for want in wants {
            assert!(msg.contains(want), "{name}:\n  got:  {msg}\n  want: {want}");
        }
        assert!(msg.starts_with("data.csv: "), "{name}: {msg}");
    }
}

#[test]
fn missing_file_names_path_and_reason() {
    let path = PathBuf::from("/definitely/not/here.csv");
    let msg = read_path(&path, &IngestOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with(
            "/definitely/not/here.csv: cannot read the file: No such file or directory"
        ),
        "{msg}"
    );
    assert!(msg.contains("check the path"), "{msg}");
}

#[test]
fn a_sample_cut_inside_a_line_streams_on() {
    // The 4 MiB sample ends inside line 52; the streaming pass must read it whole.
    let mut csv = String::from("t,v,note\n");
    for i in 0..100 {
        let note = if i == 50 {
            "y".repeat(5 << 20)
        } else {
            "ok".to_owned()
        };
        writeln!(csv, "{},{i},{note}", format_timestamp(JUL1 + i * HOUR)).unwrap();
    }
    let got = read_with(csv.as_bytes(), opts());
    assert_eq!(got.series.len(), 100);
    assert_eq!(got.series.values()[99], 99.0);
    let got = tsad_io::read_reader(csv.as_bytes(), &opts()).unwrap();
    assert_eq!(got.series.len(), 100);
}

/// Gives `data`, then fails.
struct FailingReader {
    data: Vec<u8>,
    at: usize,
}

impl std::io::Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at >= self.data.len() {
            return Err(std::io::Error::other("disk on fire"));
        }
        let n = buf.len().min(self.data.len() - self.at).min(1000);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[test]
fn read_failures_are_reported() {
    let mut csv = String::from("t,v\n");
    for i in 0..1000 {
        writeln!(csv, "{},{i}", format_timestamp(JUL1 + i * HOUR)).unwrap();
    }
    let reader = FailingReader {
        data: csv.into_bytes(),
        at: 0,
    };
    let msg = tsad_io::read_reader(reader, &opts())
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with("data.csv: read failed near line "), "{msg}");
    assert!(msg.ends_with("disk on fire"), "{msg}");
}

#[test]
fn path_reader_and_bytes_agree() {
    let demo = generate(&DemoParams::default()).unwrap();
    let mut bytes = Vec::new();
    write_csv(&demo, &mut bytes).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &bytes).unwrap();
    let a = read_path(file.path(), &IngestOptions::default()).unwrap();
    let b = tsad_io::read_reader(bytes.as_slice(), &IngestOptions::default()).unwrap();
    let c = read_bytes(&bytes, &IngestOptions::default()).unwrap();
    assert_eq!(a.series, b.series);
    assert_eq!(b.series, c.series);
    assert_eq!(a.diagnostics.source, file.path().display().to_string());
    assert_eq!(c.diagnostics.source, "input");
}

#[test]
fn demo_round_trips_and_labels_are_not_the_values() {
    let demo = generate(&DemoParams::default()).unwrap();
    let mut bytes = Vec::new();
    write_csv(&demo, &mut bytes).unwrap();
    let got = read(&bytes);
    assert_eq!(got.series, demo.series);
    assert_eq!(got.columns, ["timestamp", "value", "is_anomaly"]);
    assert_eq!(got.time_column.as_deref(), Some("timestamp"));
    assert_eq!(got.value_column, "value");
    let d = &got.diagnostics;
    assert_eq!(
        (d.rows_read, d.missing_values, d.rejected, d.duplicates),
        (2000, 0, 0, 0)
    );
    assert_eq!(
        (d.sorted, d.gaps.count, d.median_step),
        (false, 0, Some(HOUR))
    );
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
    // Diagnostics serialise with snake_case fields.
    let json = serde_json::to_value(d).unwrap();
    assert_eq!(json["rows_read"], 2000);
    assert_eq!(json["gaps"]["missing_steps"], 0);
}

#[test]
fn reads_nab_nyc_taxi() {
    let Some(dir) = nab_dir() else { return };
    let path = dir.join("data/realKnownCause/nyc_taxi.csv");
    let got = read_path(&path, &IngestOptions::default()).unwrap();
    let d = &got.diagnostics;
    assert_eq!(got.series.len(), 10_320);
    assert_eq!(got.series.timestamps()[0], JUL1);
    assert_eq!(got.series.values()[0], 10844.0);
    assert_eq!(d.median_step, Some(HOUR / 2));
    assert_eq!(
        (d.rejected, d.missing_values, d.duplicates, d.sorted),
        (0, 0, 0, false)
    );
    assert_eq!(d.gaps.count, 0);
    assert_eq!(
        d.time_format,
        "YYYY-MM-DD HH:MM:SS (ISO 8601, no zone: read as UTC)"
    );
}

/// A CSV of `timestamps` and `values` the way a user's tool would write it.
fn to_csv(timestamps: &[i64], values: &[f64]) -> String {
    let mut csv = String::from("timestamp,value\n");
    for (t, v) in timestamps.iter().zip(values) {
        if v.is_nan() {
            writeln!(csv, "{},", format_timestamp(*t)).unwrap();
        } else {
            writeln!(csv, "{},{v}", format_timestamp(*t)).unwrap();
        }
    }
    csv
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => -1e6..1e6f64,
        1 => proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
        1 => Just(f64::NAN),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the bytes, ingest and preview return, never panic.
    #[test]
    fn arbitrary_input_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        text in "[0-9a-zA-Z,;|\t\n\r:./+ \"-]{0,600}",
    ) {
        for input in [bytes.as_slice(), text.as_bytes()] {
            let _ = read_bytes(input, &IngestOptions::default());
            let _ = tsad_io::preview_bytes(input, 5, None);
            let named = IngestOptions {
                time_column: Some(0.into()),
                value_column: Some("1".parse().unwrap()),
                ..IngestOptions::default()
            };
            let _ = read_bytes(input, &named);
        }
    }

    #[test]
    fn any_series_written_as_csv_reads_back_equal(
        start in -2_000_000_000_000i64..4_000_000_000_000,
        steps in proptest::collection::vec(1i64..100_000_000, 0..300),
        values in proptest::collection::vec(value(), 301),
        first in -1e6..1e6f64,
    ) {
        let mut ts = vec![start];
        for s in &steps {
            ts.push(ts[ts.len() - 1] + s);
        }
        let mut vals = values[..ts.len()].to_vec();
        vals[0] = first; // at least one value is present
        let csv = to_csv(&ts, &vals);
        let got = read_bytes(csv.as_bytes(), &IngestOptions::default())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got.series.timestamps(), ts.as_slice());
        let bits = |v: &[f64]| v.iter().map(|x| if x.is_nan() { u64::MAX } else { x.to_bits() }).collect::<Vec<_>>();
        prop_assert_eq!(bits(got.series.values()), bits(&vals));
        prop_assert_eq!(got.diagnostics.rejected, 0);
    }
}

// Issue 12 (hardening: "ingest that never analyses the wrong thing"), items 9 to 14: each
// case below was a file read silently wrong, or an error that said too little or too much.

/// `timestamp,value` rows whose timestamps are integers ingest does not take as epoch times
/// without being asked.
fn integer_times(times: impl Iterator<Item = String>) -> String {
    let mut csv = String::from("timestamp,value\n");
    for (i, t) in times.enumerate() {
        writeln!(csv, "{t},{}.5", 10 + (i * 7) % 5).unwrap();
    }
    csv
}

/// Issue 12, item 9: a time column that cannot be read as time is never taken as the values,
/// and a warning names it, its first cell and why.
#[test]
fn issue_12_a_time_named_column_is_never_the_values() {
    type Case = (&'static str, String, &'static str);
    let cases: Vec<Case> = vec![
        (
            "negative epoch seconds",
            integer_times((0..30).map(|i| (-86_400 * 400 + i * 3600).to_string())),
            "a negative number",
        ),
        (
            "20-digit integers",
            integer_times((0..30).map(|i| format!("{}", 10_000_000_000_000_000_000u128 + i))),
            "which has 20 digits, too many for epoch seconds or milliseconds",
        ),
        (
            "small millisecond epochs",
            integer_times((0..30).map(|i| (i * 1000).to_string())),
            "an integer outside the epoch times read without being asked",
        ),
    ];
    for (name, csv, why) in cases {
        let got = read(csv.as_bytes());
        assert_eq!(got.value_column, "value", "{name}");
        assert_eq!(got.series.values()[0], 10.5, "{name}");
        assert_eq!(got.series.axis(), TimeAxis::Index, "{name}");
        let w = &got.diagnostics.warnings;
        assert!(
            w.iter().any(|w| w.starts_with(
                "column \"timestamp\" is named like a time column but was not read as time: \
                 line 2 holds \""
            ) && w.contains(why)
                && w.contains("the row number is the time axis")),
            "{name}: {w:?}"
        );
    }
    // Named as the time column, negative epoch seconds read as times before 1970.
    let csv = integer_times((0..30).map(|i| (-3600 + i * 60).to_string()));
    let o = IngestOptions {
        time_column: Some("timestamp".into()),
        ..opts()
    };
    let got = read_with(csv.as_bytes(), o);
    assert_eq!(got.series.timestamps()[0], -3_600_000);
    assert!(got.diagnostics.warnings.is_empty());
    // No warning when the row number was asked for.
    let o = IngestOptions {
        no_time_column: true,
        ..opts()
    };
    assert!(read_with(csv.as_bytes(), o).diagnostics.warnings.is_empty());
    // A column named like a value wins over an earlier numeric one.
    let got = read(b"t,cpu,value\n1,5,7\n2,6,8\n");
    assert_eq!(got.value_column, "value");
    // When the time-like column is the only numeric one, nothing is analysed.
    let msg = error(b"timestamp,note\n-100,a\n-50,b\n0,c\n", opts());
    assert!(
        msg.starts_with(
            "data.csv: the only numeric column, \"timestamp\", is named like a time column, so \
             no column is left for the values"
        ),
        "{msg}"
    );
}

/// Issue 12, item 10: an unterminated quote is an error at the line where it opens, wherever
/// it is (in the sample or past it, in a value or another column).
#[test]
fn issue_12_an_unterminated_quote_is_an_error_at_its_line() {
    let rows = |n: i64, at: i64, cell: &str| {
        let mut csv = String::from("timestamp,value,note\n");
        for i in 0..n {
            let t = format_timestamp(JUL1 + i * HOUR);
            if i == at {
                writeln!(csv, "{t},{cell}").unwrap();
            } else {
                writeln!(csv, "{t},{i},ok").unwrap();
            }
        }
        csv
    };
    type Case = (&'static str, String, &'static str);
    let cases: Vec<Case> = vec![
        (
            "value column, in the sample",
            rows(100, 3, "\"5,ok"),
            "data.csv: line 5, column \"value\": a quote opens a cell here and is never closed",
        ),
        (
            "note column, in the sample",
            rows(100, 10, "10,\"oops"),
            "data.csv: line 12, column \"note\": a quote opens a cell here and is never closed",
        ),
        (
            "first data row",
            rows(20, 0, "\"1,ok"),
            "data.csv: line 2, column \"value\": a quote opens a cell here and is never closed",
        ),
        (
            "past the sample",
            rows(600, 400, "400,\"oops"),
            "data.csv: line 402, column \"note\": a quote opens a cell here and is never closed",
        ),
        (
            "past the sample, first column",
            rows(600, 500, "").replace(
                &format!("{},\n", format_timestamp(JUL1 + 500 * HOUR)),
                &format!("\"{},500,ok\n", format_timestamp(JUL1 + 500 * HOUR)),
            ),
            "data.csv: line 502: a quote opens a cell here and is never closed",
        ),
    ];
    for (name, csv, want) in cases {
        let msg = error(csv.as_bytes(), opts());
        assert!(
            msg.starts_with(want),
            "{name}:\n  got:  {msg}\n  want: {want}"
        );
        assert!(
            msg.contains("close the quote on that line"),
            "{name}: {msg}"
        );
    }
    // Closed, but lines later, in the value column: the rows between would vanish.
    let mut csv = rows(600, 300, "\"300,ok");
    csv = csv.replacen(",310,ok\n", ",310\",ok\n", 1);
    let msg = error(csv.as_bytes(), opts());
    assert!(
        msg.starts_with(
            "data.csv: line 302, column \"value\": a quote opens a cell here that runs on to \
             line 312"
        ),
        "{msg}"
    );
    // A note that spans two lines is legitimate: read, with a warning.
    let csv = rows(30, 5, "5,\"two\nlines\"");
    let got = read(csv.as_bytes());
    assert_eq!(got.series.len(), 30);
    assert!(
        got.diagnostics.warnings.iter().any(|w| w.starts_with(
            "1 quoted cell runs over several lines, the first on lines 7 to 8 in column \"note\""
        )),
        "{:?}",
        got.diagnostics.warnings
    );
}

/// Issue 12, item 11: a time column dropped for mixed formats or a five-digit year says so;
/// a time column whose rows mostly repeat a timestamp is an error that says why.
#[test]
fn issue_12_time_columns_that_do_not_read_say_why() {
    let mut mixed = String::from("time,value\n");
    for i in 0..40 {
        let t = JUL1 + i * HOUR;
        if i % 2 == 0 {
            writeln!(mixed, "{},{i}", format_timestamp(t)).unwrap();
        } else {
            writeln!(mixed, "07/{:02}/2014 {:02}:00,{i}", 1 + i / 24, i % 24).unwrap();
        }
    }
    let got = read(mixed.as_bytes());
    assert_eq!(got.series.axis(), TimeAxis::Index);
    let w = got.diagnostics.warnings.join("\n");
    assert!(
        w.contains(
            "column \"time\" is named like a time column but was not read as time: line 3 holds \
             \"07/01/2014 01:00\", in a different format from the rest of the column (20 cells \
             like YYYY-MM-DD, 20 like DD/MM/YYYY"
        ),
        "{w}"
    );
    // Dates in a column not named like time are noticed by their shape.
    let got = read(b"when2,v\n10000-01-01T00:00:00,1\n10000-01-01T01:00:00,2\n");
    let w = got.diagnostics.warnings.join("\n");
    assert!(
        w.contains(
            "column \"when2\" holds dates but was not read as time: line 2 holds \
             \"10000-01-01T00:00:00\", whose year has 5 digits"
        ),
        "{w}"
    );

    // 199 of 200 rows on one timestamp.
    let mut dup = String::from("timestamp,value\n");
    for i in 0..200 {
        let t = if i == 199 { JUL1 + HOUR } else { JUL1 };
        writeln!(dup, "{},{i}", format_timestamp(t)).unwrap();
    }
    let msg = error(dup.as_bytes(), opts());
    assert!(
        msg.starts_with(
            "data.csv: 198 of 200 rows repeat an earlier timestamp of column \"timestamp\" \
             (2014-07-01T00:00:00Z is on lines 2 and 3), which would leave 2 points; this \
             column does not give each row its own time"
        ),
        "{msg}"
    );
    // A few repeats are still corrections, with a warning.
    let got = read(b"t,v\n2014-07-01,1\n2014-07-01,2\n2014-07-02,3\n");
    assert_eq!(got.diagnostics.duplicates, 1);

    // Rejected rows: the warning names the first.
    let got = read(b"t,v\n2014-07-01,1\n2014-07-02,x\n2014-07-03,3\n");
    assert!(
        got.diagnostics.warnings.iter().any(|w| w
            == "1 of 3 rows were rejected (see rejected_rows); the first: line 3, column \"v\": \
                \"x\" (not a number)"),
        "{:?}",
        got.diagnostics.warnings
    );
}

/// UTF-16 code units of `text`, with a byte-order mark.
fn utf16(text: &str, little: bool) -> Vec<u8> {
    std::iter::once(0xFEFF)
        .chain(text.encode_utf16())
        .flat_map(|u| {
            if little {
                u.to_le_bytes()
            } else {
                u.to_be_bytes()
            }
        })
        .collect()
}

/// Issue 12, item 12: UTF-16 is decoded; binary input is called binary; nothing is echoed
/// back whole.
#[test]
fn issue_12_utf16_binary_and_short_echoes() {
    let text = "timestamp\tvalue\n2014-07-01\t1.5\n2014-07-02\t2.5\n";
    for little in [true, false] {
        let got = read(&utf16(text, little));
        assert_eq!(got.series.values(), [1.5, 2.5], "little-endian {little}");
        assert_eq!(got.columns, ["timestamp", "value"]);
        assert!(got.diagnostics.warnings[0].starts_with("the file is UTF-16"));
        let p = tsad_io::preview_bytes(&utf16(text, little), 5, None).unwrap();
        assert_eq!(p.rows[0], ["2014-07-01", "1.5"]);
    }
    type Case = (&'static str, Vec<u8>, &'static str);
    let cases: Vec<Case> = vec![
        (
            "5,000 NUL bytes",
            vec![0; 5000],
            "data.csv: this looks like a binary file, not CSV text (line 1 holds byte 0x00)",
        ),
        (
            "gzip",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03+I-.\x01\x00".to_vec(),
            "data.csv: this looks like a binary file (a gzip archive: decompress it first)",
        ),
        (
            "control bytes",
            (0..3000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "data.csv: this looks like a binary file, not CSV text",
        ),
        (
            "1 MB single line",
            "a".repeat(1 << 20).into_bytes(),
            "data.csv: the file has a header (\"aaaa",
        ),
        (
            "1 MB number",
            "9".repeat(1 << 20).into_bytes(),
            "data.csv: line 1, column \"column_0\": \"9999",
        ),
        (
            "1 MB cell",
            format!("t,v\n2014-07-01,{}\n", "x".repeat(1 << 20)).into_bytes(),
            "data.csv: no numeric column found among the columns \"t\", \"v\"",
        ),
    ];
    for (name, bytes, want) in cases {
        let msg = error(&bytes, opts());
        assert!(
            msg.starts_with(want),
            "{name}:\n  got:  {msg:.300}\n  want: {want}"
        );
        assert!(msg.len() < 1500, "{name}: {} bytes: {msg:.300}", msg.len());
        let named = IngestOptions {
            value_column: Some("nope".into()),
            ..opts()
        };
        let msg = error(&bytes, named);
        assert!(
            msg.len() < 1500,
            "{name}, named: {} bytes: {msg:.300}",
            msg.len()
        );
        if let Err(e) = tsad_io::preview_bytes(&bytes, 5, Some("data.csv")) {
            assert!(e.to_string().len() < 1500, "{name}, preview");
        }
    }
    // Warnings and rejected rows echo cells shortened too.
    let csv = format!(
        "t,v\n{},1\n2014-07-01,2\n2014-07-02,3\n",
        "x".repeat(1 << 20)
    );
    let got = read(csv.as_bytes());
    let d = &got.diagnostics;
    assert!(
        d.warnings.iter().all(|w| w.len() < 1500),
        "{:.300?}",
        d.warnings
    );
    assert!(
        d.rejected_rows[0]
            .value
            .ends_with("... (1048576 characters)")
    );
}

/// Issue 12, item 13: numbers with a decimal comma (`;` between fields, as European
/// spreadsheets write them) are detected, and can be asked for.
#[test]
fn issue_12_decimal_comma() {
    let csv = b"Date;Global_active_power\n02/12/2013 21:15;73,967\n02/12/2013 21:30;1.074,5\n\
                02/12/2013 21:45;-0,25\n";
    let got = read(csv);
    assert_eq!(got.diagnostics.delimiter, ';');
    assert_eq!(got.diagnostics.decimal, ',');
    assert_eq!(got.series.values(), [73.967, 1074.5, -0.25]);
    assert_eq!(got.time_column.as_deref(), Some("Date"));
    // Without a header too.
    let got = read(b"02/12/2013 21:15;73,967\n02/12/2013 21:30;74,5\n");
    assert_eq!(got.series.values(), [73.967, 74.5]);
    // Asked for, with a tab delimiter and a value the sample cannot show.
    let o = IngestOptions {
        decimal: Some(tsad_io::DecimalMark::Comma),
        ..opts()
    };
    let got = read_with(b"t\tv\n2014-07-01\t12\n2014-07-02\t12,5\n", o.clone());
    assert_eq!(got.series.values(), [12.0, 12.5]);
    // Quoted, even with ',' between fields.
    let got = read_with(b"t,v\n2014-07-01,\"12,5\"\n2014-07-02,\"1,25\"\n", o);
    assert_eq!(got.series.values(), [12.5, 1.25]);
    // Points stay points: a ';' file of '.' decimals is not read with commas.
    let got = read(b"t;v\n2014-07-01;1.5\n2014-07-02;2.5\n");
    assert_eq!(got.diagnostics.decimal, '.');
    assert_eq!(got.series.values(), [1.5, 2.5]);
    // Asked for a point, a comma file says how to fix it.
    let o = IngestOptions {
        decimal: Some(tsad_io::DecimalMark::Point),
        value_column: Some("v".into()),
        ..opts()
    };
    let msg = error(b"t;v\n2014-07-01;1,5\n2014-07-02;2,5\n", o);
    assert!(msg.contains("set the decimal mark to ','"), "{msg}");
}

/// Numbers as spreadsheets and reports export them (currency signs, thousands separators,
/// percent signs, accounting parentheses) are read as numbers, and a warning says how.
#[test]
fn dressed_numbers_are_read_and_said() {
    let csv = b"Date,Revenue\n2024-01-01,\"$10,257.64\"\n2024-01-02,\"($1,200.00)\"\n\
                2024-01-03,$980.5\n2024-01-04,\n";
    let got = read(csv);
    assert_eq!(got.value_column, "Revenue");
    let values = got.series.values();
    assert_eq!(&values[..3], [10257.64, -1200.0, 980.5]);
    assert!(values[3].is_nan(), "an empty cell stays a missing value");
    let warning = got
        .diagnostics
        .warnings
        .iter()
        .find(|w| w.contains("read as plain numbers"))
        .expect("a warning about the dressed values");
    assert!(
        warning.contains("column \"Revenue\"") && warning.contains("\"$10,257.64\" as 10257.64"),
        "{warning}"
    );
    assert!(!warning.contains("decimal mark"), "unambiguous: {warning}");

    // Percentages keep the file's unit; a decimal-comma file takes '.' and spaces as groups.
    let got = read(b"t;cpu\n2024-01-01;12,5 %\n2024-01-02;1.012,5 %\n2024-01-03;7%\n");
    assert_eq!(got.diagnostics.decimal, ',');
    assert_eq!(got.series.values(), [12.5, 1012.5, 7.0]);

    // A lone comma in groups of three reads as a thousands separator (a ',' file has a
    // decimal point), and the warning says how to read it the other way.
    let got = read(b"t,v\n2024-01-01,\"73,967\"\n2024-01-02,\"1,074\"\n");
    assert_eq!(got.series.values(), [73967.0, 1074.0]);
    let warning = got.diagnostics.warnings.join(" ");
    assert!(warning.contains("set the decimal mark to ','"), "{warning}");

    // Plain numbers carry no such warning; text with digits is still not a number.
    let got = read(b"t,v\n2024-01-01,1.5\n2024-01-02,2.5\n");
    assert!(
        got.diagnostics.warnings.is_empty(),
        "{:?}",
        got.diagnostics.warnings
    );
    let o = IngestOptions {
        value_column: Some("v".into()),
        ..opts()
    };
    let msg = error(b"t,v\n2024-01-01,ABC 123\n2024-01-02,ABC 124\n", o);
    assert!(msg.contains("\"ABC 123\" is not a number"), "{msg}");
}

/// A label column as pandas writes a boolean one reads as 1 and 0 when asked for labels, and
/// stays an error as values.
#[test]
fn label_words_read_as_labels_only() {
    let csv = b"t,v,is_anomaly\n1,5,False\n2,6,True\n3,5,\n4,5,false\n";
    let o = IngestOptions {
        value_column: Some("is_anomaly".into()),
        labels: true,
        ..opts()
    };
    let got = read_with(csv, o.clone());
    let v = got.series.values();
    assert_eq!((v[0], v[1], v[3]), (0.0, 1.0, 0.0));
    assert!(v[2].is_nan(), "an empty cell stays missing");
    let msg = error(csv, IngestOptions { labels: false, ..o });
    assert!(msg.contains("\"False\" is not a number"), "{msg}");
}

/// When the value column is detected among several numeric ones, a warning names those not
/// read; naming the value column, or a label or counter column beside it, says nothing.
#[test]
fn other_numeric_columns_are_named() {
    let rows: String = (0..12)
        .map(|i| {
            format!(
                "2024-01-01 {i:02}:00,5,{},{}\n",
                70 + 20 * (i == 3) as i32,
                (i == 3) as i32
            )
        })
        .collect();
    let csv = format!("t,cpu,mem,is_anomaly\n{rows}");
    let csv = csv.as_bytes();
    let got = read(csv);
    assert_eq!(got.value_column, "cpu");
    let w = got.diagnostics.warnings.join(" ");
    assert!(
        w.contains("the values are column \"cpu\"; 1 more numeric column was not read: \"mem\""),
        "{w}"
    );
    assert!(
        !w.contains("is_anomaly"),
        "a label column is no candidate: {w}"
    );
    let named = read_with(
        csv,
        IngestOptions {
            value_column: Some("mem".into()),
            ..opts()
        },
    );
    assert!(
        named.diagnostics.warnings.is_empty(),
        "{:?}",
        named.diagnostics.warnings
    );
}

/// Timestamps as business tools export them: a 12-hour clock, months alone, month names.
#[test]
fn report_timestamps_read_as_time() {
    let got =
        read(b"time,value\n1/13/2024 11:00 AM,1\n1/13/2024 12:00 PM,2\n1/13/2024 1:00 PM,3\n");
    let t = got.series.timestamps();
    assert_eq!(t[1] - t[0], 3_600_000);
    assert_eq!(t[2] - t[1], 3_600_000);
    assert_eq!(format_timestamp(t[2]), "2024-01-13T13:00:00Z");
    assert!(
        got.diagnostics.time_format.contains("AM/PM"),
        "{}",
        got.diagnostics.time_format
    );

    let got = read(b"month,sales\n2024-01,10\n2024-02,11\n2024-03,12\n");
    assert_eq!(got.time_column.as_deref(), Some("month"));
    assert_eq!(
        format_timestamp(got.series.timestamps()[1]),
        "2024-02-01T00:00:00Z"
    );
    assert!(got.diagnostics.time_format.starts_with("YYYY-MM (months"));

    let got = read(b"month,sales\nJan 2024,10\nFeb 2024,11\nMar 2024,12\n");
    assert_eq!(
        format_timestamp(got.series.timestamps()[2]),
        "2024-03-01T00:00:00Z"
    );
    assert!(got.diagnostics.time_format.starts_with("months by name"));

    let got = read(
        b"day,sales\n\"January 30, 2024\",10\n\"January 31, 2024\",11\n\"February 1, 2024\",12\n",
    );
    assert_eq!(
        format_timestamp(got.series.timestamps()[2]),
        "2024-02-01T00:00:00Z"
    );
    assert_eq!(got.series.values(), [10.0, 11.0, 12.0]);

    let got = read(b"quarter,sales\n2023 Q4,10\n2024 Q1,11\n2024 Q2,12\n");
    assert_eq!(
        format_timestamp(got.series.timestamps()[2]),
        "2024-04-01T00:00:00Z"
    );
    assert!(got.diagnostics.time_format.starts_with("quarters"));

    let got = read(b"date,sales\n20240130,10\n20240131,11\n20240201,12\n");
    assert_eq!(got.time_column.as_deref(), Some("date"));
    assert_eq!(
        format_timestamp(got.series.timestamps()[2]),
        "2024-02-01T00:00:00Z"
    );
}

/// Issue 12, item 14: a negative column index, and a time column that takes the only numeric
/// column, say exactly that.
#[test]
fn issue_12_column_choices_name_the_clash() {
    let csv = b"timestamp,value\n2014-07-01,1\n2014-07-02,2\n";
    let o = IngestOptions {
        value_column: Some("-1".parse().unwrap()),
        ..opts()
    };
    let msg = error(csv, o);
    assert_eq!(
        msg,
        "data.csv: value column index -1 is negative; indices start at 0 (the first column) \
         and go up to 1 (the last)"
    );
    let o = IngestOptions {
        time_column: Some("value".into()),
        ..opts()
    };
    let msg = error(csv, o);
    assert_eq!(
        msg,
        "data.csv: column \"value\" was given as the time column, but it is the only numeric \
         column, so no column is left for the values; the timestamps seem to be in \
         \"timestamp\": name that as the time column"
    );
}

fn with_covariates(names: &[&str]) -> IngestOptions {
    IngestOptions {
        covariate_columns: names.iter().map(|n| n.parse().unwrap()).collect(),
        ..opts()
    }
}

#[test]
fn covariate_columns_ride_along_with_the_values() {
    // Rows out of order, a repeated timestamp (the later row wins), a missing covariate cell
    // and a rejected value row: the covariates follow their rows through all of it.
    let csv = b"t,value,flag,temp\n\
        2014-07-01T02:00:00Z,3,1,30\n\
        2014-07-01T00:00:00Z,1,0,10\n\
        2014-07-01T01:00:00Z,2,0,\n\
        2014-07-01T01:00:00Z,2.5,1,25\n\
        2014-07-01T03:00:00Z,oops,1,40\n\
        2014-07-01T04:00:00Z,5,0,50\n";
    let got = read_with(csv, with_covariates(&["flag", "3"]));
    assert_eq!(got.covariate_columns, ["flag", "temp"]);
    let s = &got.series;
    assert_eq!(s.values(), &[1.0, 2.5, 3.0, 5.0]);
    assert_eq!(s.covariate_names(), ["flag", "temp"]);
    assert_eq!(s.covariates()[0].values(), &[0.0, 1.0, 1.0, 0.0]);
    assert_eq!(s.covariates()[1].values(), &[10.0, 25.0, 30.0, 50.0]);

    let missing = read_with(
        b"t,value,flag\n2014-07-01,1,\n2014-07-02,2,1\n",
        with_covariates(&["flag"]),
    );
    assert!(missing.series.covariates()[0].values()[0].is_nan());
    // Without the option nothing changes.
    assert!(read(csv).series.covariates().is_empty());
}

#[test]
fn bad_covariate_columns_say_file_line_and_column() {
    let csv = b"t,value,flag\n2014-07-01,1,0\n2014-07-02,2,on\n2014-07-03,3,1\n";
    type Case = (
        &'static str,
        &'static [u8],
        &'static [&'static str],
        &'static str,
    );
    let cases: &[Case] = &[
        (
            "missing column",
            csv,
            &["flag", "cmd"],
            "data.csv: there is no column named \"cmd\" for the covariate column; available \
             columns: \"t\", \"value\", \"flag\"",
        ),
        (
            "text in a covariate",
            csv,
            &["flag"],
            "data.csv: line 3, covariate column \"flag\": \"on\" is not a number",
        ),
        (
            "infinite covariate",
            b"t,value,flag\n2014-07-01,1,0\n2014-07-02,2,inf\n",
            &["flag"],
            "data.csv: line 3, column \"flag\": \"inf\" is infinite",
        ),
        (
            "index out of range",
            csv,
            &["7"],
            "covariate column index 7 is out of range",
        ),
        (
            "the value column",
            csv,
            &["value"],
            "column \"value\" was given as both the value and the covariate column",
        ),
        (
            "the time column",
            csv,
            &["t"],
            "column \"t\" was given as both the time and the covariate column",
        ),
        ("twice", csv, &["flag", "2"], "\"flag\" is listed twice"),
    ];
    for (name, input, columns, want) in cases {
        let o = IngestOptions {
            value_column: Some("value".into()),
            ..with_covariates(columns)
        };
        let err = error(input, o);
        assert!(err.contains(want), "{name}: {err}");
    }
    let many = IngestOptions {
        series: tsad_io::SeriesLayout::Wide(Vec::new()),
        ..with_covariates(&["flag"])
    };
    let err = tsad_io::read_fleet_bytes(csv, &many)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("covariate columns go with one series per file"),
        "{err}"
    );
}
