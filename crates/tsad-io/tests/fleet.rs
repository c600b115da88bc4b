//! Reading many series from one file: wide (one column per series) and long (an id column),
//! and every way one series can fail while the others are still read.

use std::fmt::Write as _;
use tsad_io::{
    ColumnRef, Fleet, IngestError, IngestOptions, Ingested, SeriesLayout, read_bytes,
    read_fleet_bytes,
};

/// 2014-07-01T00:00:00Z in Unix ms.
const JUL1: i64 = 1_404_172_800_000;
const HOUR: i64 = 3_600_000;

fn opts(series: SeriesLayout) -> IngestOptions {
    IngestOptions {
        source_name: Some("fleet.csv".into()),
        series,
        ..IngestOptions::default()
    }
}

fn wide(columns: &[&str]) -> SeriesLayout {
    SeriesLayout::Wide(columns.iter().map(|c| ColumnRef::from(*c)).collect())
}

fn long(id: &str) -> SeriesLayout {
    SeriesLayout::Long(ColumnRef::from(id))
}

fn read(csv: &str, series: SeriesLayout) -> Fleet {
    match read_fleet_bytes(csv.as_bytes(), &opts(series)) {
        Ok(f) => f,
        Err(e) => panic!("{e}\n--- input ---\n{csv}"),
    }
}

fn names(f: &Fleet) -> Vec<&str> {
    f.series.iter().map(|s| s.name.as_str()).collect()
}

fn ok<'a>(f: &'a Fleet, name: &str) -> &'a Ingested {
    let s = f
        .series
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no series {name} in {:?}", names(f)));
    match &s.result {
        Ok(i) => i,
        Err(e) => panic!("series {name} failed: {e}"),
    }
}

fn failed(f: &Fleet, name: &str) -> String {
    let s = f
        .series
        .iter()
        .find(|s| s.name == name)
        .expect("the series");
    match &s.result {
        Ok(i) => panic!("series {name} was read: {:?}", i.diagnostics),
        Err(e) => e.to_string(),
    }
}

fn iso(i: i64) -> String {
    tsad_io::format_timestamp(JUL1 + i * HOUR)
}

#[test]
fn a_wide_file_gives_one_series_per_numeric_column_and_names_what_it_passed_over() {
    let mut csv = String::from("time,cpu,host,mem,is_anomaly,disk\n");
    for i in 0..30 {
        let label = i32::from(i == 7);
        let (cpu, mem, disk) = (i * i % 17, 100 + i % 5, 0.5 * i as f64);
        writeln!(csv, "{},{cpu},web-1,{mem},{label},{disk}", iso(i)).unwrap();
    }
    let f = read(&csv, wide(&[]));
    assert_eq!(names(&f), ["cpu", "mem", "disk"], "{:?}", f.warnings);
    assert_eq!(f.time_column.as_deref(), Some("time"));
    assert_eq!(f.rows_read, 30);
    let mem = ok(&f, "mem");
    assert_eq!(mem.series.len(), 30);
    assert_eq!(mem.series.values()[7], 102.0);
    assert_eq!(mem.series.timestamps()[1], JUL1 + HOUR);
    assert_eq!(mem.value_column, "mem");
    let warning = f.warnings.join("\n");
    assert!(warning.contains("\"host\" (text)"), "{warning}");
    assert!(warning.contains("\"is_anomaly\" (0/1 labels"), "{warning}");
}

#[test]
fn a_named_text_column_fails_alone_with_its_line_and_the_others_are_read() {
    let mut csv = String::from("time,cpu,note\n");
    for i in 0..10 {
        writeln!(csv, "{},{},fine", iso(i), i).unwrap();
    }
    let f = read(&csv, wide(&["cpu", "note"]));
    assert_eq!(ok(&f, "cpu").series.len(), 10);
    let e = failed(&f, "note");
    assert!(e.starts_with("fleet.csv, series \"note\": line 2"), "{e}");
    assert!(e.contains("\"fine\" is not a number"), "{e}");
}

#[test]
fn a_long_file_in_any_order_gives_sorted_series_in_order_of_first_appearance() {
    // Three series of very different lengths, interleaved and out of time order.
    let mut rows = Vec::new();
    for (id, n) in [("b", 5), ("a", 200), ("c", 1)] {
        for i in 0..n {
            rows.push(format!("{id},{},{}", iso(i), i * 10));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r[2..].to_owned()));
    let last = rows.len() - 1;
    rows.swap(0, last);
    let csv = format!("store,date,sales\n{}\n", rows.join("\n"));
    let f = read(&csv, long("store"));
    assert_eq!(f.series_column.as_deref(), Some("store"));
    assert_eq!(f.series.len(), 3);
    let a = ok(&f, "a");
    assert_eq!(a.series.len(), 200);
    assert!(a.series.timestamps().is_sorted());
    assert_eq!(a.series.values()[199], 1990.0);
    assert!(a.diagnostics.sorted);
    assert_eq!(ok(&f, "b").series.len(), 5);
    assert_eq!(ok(&f, "c").series.len(), 1);
    assert_eq!(ok(&f, "c").value_column, "sales");
}

#[test]
fn rows_without_an_id_are_skipped_with_a_warning_or_fail_the_file_when_most_are() {
    let mut csv = String::from("id,t,v\n");
    for i in 0..20 {
        let id = if i == 4 { "" } else { "x" };
        writeln!(csv, "{id},{},{i}", iso(i)).unwrap();
    }
    let f = read(&csv, long("id"));
    assert_eq!(ok(&f, "x").series.len(), 19);
    assert_eq!(f.rejected, 1);
    assert_eq!(f.rejected_rows[0].line, 6);
    let warning = f.warnings.join("\n");
    assert!(
        warning.contains("1 of 20 rows have no series id"),
        "{warning}"
    );

    let mut csv = String::from("id,t,v\n");
    for i in 0..20 {
        let id = if i % 4 == 0 { "x" } else { "" };
        writeln!(csv, "{id},{},{i}", iso(i)).unwrap();
    }
    let e = read_fleet_bytes(csv.as_bytes(), &opts(long("id"))).unwrap_err();
    assert!(matches!(e, IngestError::MissingSeriesId { .. }));
    let e = e.to_string();
    assert!(
        e.starts_with("fleet.csv: line 3, column \"id\": no series id"),
        "{e}"
    );
    assert!(e.contains("15 of 20 rows"), "{e}");
}

#[test]
fn an_id_repeated_at_the_same_times_is_reported_for_that_series_only() {
    let mut csv = String::from("id,t,v\n");
    for i in 0..10 {
        writeln!(csv, "good,{},{i}", iso(i)).unwrap();
        // "twice" has two rows (different values) at every timestamp.
        writeln!(csv, "twice,{},{i}", iso(i)).unwrap();
        writeln!(csv, "twice,{},{}", iso(i), i + 100).unwrap();
        // "one" repeats one timestamp.
        writeln!(csv, "one,{},{i}", iso(i.min(8))).unwrap();
    }
    let f = read(&csv, long("id"));
    assert_eq!(ok(&f, "good").diagnostics.duplicates, 0);
    let one = ok(&f, "one");
    assert_eq!(one.diagnostics.duplicates, 1);
    assert!(
        one.diagnostics
            .warnings
            .join(" ")
            .contains("repeated an earlier timestamp"),
        "{:?}",
        one.diagnostics.warnings
    );
    let twice = ok(&f, "twice");
    assert_eq!(twice.series.values()[0], 100.0, "the later row wins");
    assert_eq!(twice.diagnostics.duplicates, 10);
}

#[test]
fn a_series_that_is_all_missing_or_has_an_infinite_value_fails_alone() {
    let mut csv = String::from("id,t,v\n");
    for i in 0..10 {
        writeln!(csv, "empty,{},", iso(i)).unwrap();
        writeln!(
            csv,
            "inf,{},{}",
            iso(i),
            if i == 3 || i == 7 { "inf" } else { "1" }
        )
        .unwrap();
        writeln!(csv, "fine,{},{i}", iso(i)).unwrap();
    }
    let f = read(&csv, long("id"));
    let e = failed(&f, "empty");
    assert!(
        e.starts_with("fleet.csv, series \"empty\": every value"),
        "{e}"
    );
    let e = failed(&f, "inf");
    assert!(
        e.contains("line 12, column \"v\": \"inf\" is infinite"),
        "{e}"
    );
    assert_eq!(ok(&f, "fine").series.len(), 10);
}

#[test]
fn columns_given_two_roles_and_single_readers_asked_for_many_series_are_errors() {
    let csv = format!("id,t,v\na,{},1\n", iso(0));
    let mut o = opts(long("id"));
    o.value_column = Some(ColumnRef::from("id"));
    let e = read_fleet_bytes(csv.as_bytes(), &o)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"id\" was given as both the series id and the value column"),
        "{e}"
    );

    let e = read_fleet_bytes(csv.as_bytes(), &opts(long("nope")))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no column named \"nope\" for the series id column"),
        "{e}"
    );

    let e = read_fleet_bytes(csv.as_bytes(), &opts(wide(&["t"])))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"t\" was given as both the time and the value column"),
        "{e}"
    );

    let e = read_bytes(csv.as_bytes(), &opts(long("id")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("read them with read_fleet_path"), "{e}");
}

#[test]
fn a_single_series_read_through_the_fleet_reader_matches_the_single_reader() {
    let mut csv = String::from("time,value,label\n");
    for i in 0..50 {
        writeln!(csv, "{},{},0", iso(49 - i), i % 7).unwrap();
    }
    let one = read_bytes(csv.as_bytes(), &opts(SeriesLayout::Single)).unwrap();
    let f = read(&csv, SeriesLayout::Single);
    let again = ok(&f, "value");
    assert_eq!(one.series, again.series);
    assert!(
        one.diagnostics
            .warnings
            .iter()
            .any(|w| w.contains("sorted"))
    );
}

#[test]
fn a_long_file_larger_than_one_batch_keeps_every_point_in_order() {
    // 3 series x 20,000 interleaved rows: the rows reach their series in several batches.
    let mut csv = String::from("id,t,v\n");
    for i in 0..20_000 {
        for id in ["a", "b", "c"] {
            writeln!(
                csv,
                "{id},{},{}",
                i,
                i * 3 + usize::from(id.as_bytes()[0] - b'a')
            )
            .unwrap();
        }
    }
    let mut o = opts(long("id"));
    o.time_column = Some(ColumnRef::from("t"));
    let f = read_fleet_bytes(csv.as_bytes(), &o).unwrap();
    for (k, id) in ["a", "b", "c"].iter().enumerate() {
        let s = &ok(&f, id).series;
        assert_eq!(s.len(), 20_000, "{id}");
        let want: Vec<f64> = (0..20_000).map(|i| (i * 3 + k) as f64).collect();
        assert_eq!(s.values(), want.as_slice(), "{id}");
        assert_eq!(ok(&f, id).diagnostics.rows_read, 20_000);
    }
}
