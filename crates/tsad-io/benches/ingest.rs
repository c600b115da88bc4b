//! Ingest throughput (rows/s) on demo-shaped CSVs of 1M rows (and 10M with
//! `TSAD_BENCH_10M=1`), generated into a temporary file when the bench starts.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tsad_io::demo::{DemoParams, generate, write_csv};
use tsad_io::{IngestOptions, read_path};

fn demo_file(points: usize) -> tempfile::NamedTempFile {
    let demo = generate(&DemoParams {
        points,
        ..DemoParams::default()
    })
    .expect("valid demo parameters");
    let file = tempfile::NamedTempFile::new().expect("a temporary file");
    write_csv(&demo, file.as_file()).expect("writing the demo CSV");
    file
}

fn ingest(c: &mut Criterion) {
    let mut sizes = vec![1_000_000];
    if std::env::var("TSAD_BENCH_10M").is_ok_and(|v| v == "1") {
        sizes.push(10_000_000);
    }
    let mut group = c.benchmark_group("ingest");
    for rows in sizes {
        let file = demo_file(rows);
        group.throughput(Throughput::Elements(rows as u64));
        group.bench_function(format!("read_path/{rows}"), |b| {
            b.iter(|| {
                let got = read_path(file.path(), &IngestOptions::default()).expect("demo reads");
                black_box(got.series.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
