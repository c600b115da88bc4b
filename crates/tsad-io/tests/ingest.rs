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
                "'.' decimal point",
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
                "'.' decimal point",
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
