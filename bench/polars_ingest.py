#!/usr/bin/env python3
"""polars' CSV read of the ingest bench's file, for a side-by-side with tsad's `read_path`
(issue 15, CSV ingest row of the README's "Speed (measured)" table).

The file is the demo CSV the Rust bench reads (`crates/tsad-io/benches/ingest.rs`):
  timestamp,value,is_anomaly
  2024-01-01T00:00:00Z,82.67,0
  ... hourly, RFC 3339 with Z, shortest round-trip floats, 0/1 labels.
Give paths to read those very files (write them with
`cargo run --release -p tsad-io --example ingest_file -- write ROWS PATH`); without paths the
script writes files of the same shape itself (seeded, 1M and 10M rows) into a temp dir.

Timed: `pl.read_csv` with the timestamp column parsed as a datetime (tsad parses every
timestamp, so polars must too; the fastest way found: read as text, then
`str.to_datetime` with the file's fixed format), single-threaded (POLARS_MAX_THREADS=1, set before polars is
imported, in a child process) and with every thread. Prints the median and min wall time of
REPEATS and the median CPU time (all threads; on a busy machine the fairer measure of work).

Usage: python3 bench/polars_ingest.py [--repeats N] [--threads 1,all] [CSV ...]
Exits with status 0 and "skipped: polars not installed" when polars is missing.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

DEFAULT_ROWS = (1_000_000, 10_000_000)
START_S = 1_704_067_200  # 2024-01-01T00:00:00Z, the demo's default start
STEP_S = 3600
FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # the demo's timestamps, UTC


def write_demo_like(path, rows, seed=42):
    """A CSV of the demo's shape: hourly RFC 3339 timestamps, a daily and weekly season
    plus noise, a few 0/1 labels."""
    import datetime as dt
    import math

    rng = random.Random(seed)
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("timestamp,value,is_anomaly\n")
        chunk = []
        for i in range(rows):
            ts = (t0 + dt.timedelta(seconds=i * STEP_S)).strftime("%Y-%m-%dT%H:%M:%SZ")
            v = round(
                50 + 10 * math.sin(2 * math.pi * i / 24) + 5 * math.sin(2 * math.pi * i / 168)
                + rng.gauss(0, 2),
                3,
            )
            chunk.append(f"{ts},{v!r},{int(rng.random() < 0.002)}\n")
            if len(chunk) == 65536:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))


def child(path, repeats):
    """Runs in a child process whose POLARS_MAX_THREADS was set before the import."""
    import polars as pl

    def read():
        # The fastest datetime read polars has for this file: the column as text, then one
        # fixed-format parse (a schema override or try_parse_dates takes 4-6x longer here).
        df = pl.read_csv(path, schema_overrides={"value": pl.Float64}).with_columns(
            pl.col("timestamp").str.to_datetime(FORMAT, time_unit="ms", time_zone="UTC")
        )
        assert df.schema["timestamp"] == pl.Datetime("ms", "UTC"), df.schema
        return df.height

    read()  # warm-up: page cache, polars' lazy init
    secs, cpu = [], []
    rows = 0
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        rows = read()
        secs.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    median_cpu = statistics.median(cpu)
    print(f"{rows} {statistics.median(secs)} {min(secs)} {pl.thread_pool_size()} {median_cpu}")


def measure(path, repeats, threads):
    env = dict(os.environ)
    if threads == "1":
        env["POLARS_MAX_THREADS"] = "1"
    else:
        env.pop("POLARS_MAX_THREADS", None)
    out = subprocess.run(
        [sys.executable, __file__, "--child", path, "--repeats", str(repeats)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    rows, median, low, pool = int(out[0]), float(out[1]), float(out[2]), int(out[3])
    cpu = float(out[4])
    label = "1 thread" if threads == "1" else f"{pool} threads"
    print(
        f"polars read_csv ({label:>9})  rows={rows}  median {median:.3f} s  min {low:.3f} s"
        f"  ({rows / median / 1e6:.2f} M rows/s)  cpu {cpu:.3f} s  {os.path.basename(path)}"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("csv", nargs="*", help="CSV files to read (default: write 1M and 10M rows)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default="1,all", help="comma list of 1 and all")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    try:
        import polars  # noqa: F401  (checked here; each measurement imports it afresh)
    except ImportError:
        print("skipped: polars not installed")
        return 0
    if args.child:
        child(args.child, args.repeats)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        paths = args.csv
        if not paths:
            paths = []
            for rows in DEFAULT_ROWS:
                path = os.path.join(tmp, f"demo_{rows}.csv")
                write_demo_like(path, rows)
                paths.append(path)
        for path in paths:
            for threads in args.threads.split(","):
                measure(path, args.repeats, threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
