#!/usr/bin/env python3
"""Benchmarks of the tsad Python package (issue 14, item 4). Prints one line per figure.

1. Call overhead: `tsad.detect` on a 1,000-point series, calls per second, against the `tsad
   detect` command line on the same series as a CSV (a process per call).
2. Many series: S series x P points (default 10,000 x 1,000) through `tsad.spark.detect` on a
   local Spark with 2 cores, against the same series through `tsad.detect` in one Python process.
3. One long series: 1,000,000 points through `tsad.detect` (`zscore` and `mad`) against the same
   detectors written with pandas rolling functions (the scores only: no calibration, threshold
   or events), with the largest difference between the two as a check that they compute the
   same thing.

Run from the repository root after `pip install ./python` (and pyspark, pyarrow, pandas):

    python bench/python.py                      # everything
    python bench/python.py --only calls,long    # skip Spark
    python bench/python.py --series 1000        # a smaller Spark run

The CLI is target/release/tsad (or $CARGO_TARGET_DIR/release/tsad, or --cli). Seeded data.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

import tsad

REPO = pathlib.Path(__file__).resolve().parents[1]
SEED = 20261202


def load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def noisy(n, seed=SEED):
    rng = np.random.default_rng(seed)
    return 50 + 5 * np.sin(np.arange(n) / 24) + rng.normal(size=n)


def rate(fn, seconds=3.0, at_least=5):
    """Calls per second of fn over about `seconds` (at least `at_least` calls)."""
    fn()  # warm up
    n, start = 0, time.perf_counter()
    while n < at_least or time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def best_of(fn, runs=3):
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def bench_calls(cli, detector):
    values = noisy(1000)
    ts = pd.date_range("2024-01-01", periods=1000, freq="h", tz="UTC")
    py = rate(lambda: tsad.detect(values, timestamps=ts, detector=detector))
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "series.csv"
        pd.DataFrame({"timestamp": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "value": values}).to_csv(
            path, index=False
        )
        cmd = [str(cli), "detect", str(path), "--detector", detector, "--format", "json"]
        run = lambda: subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert run().returncode in (0, 1)
        shell = rate(run)
    print(
        f"calls, 1,000 points, `{detector}`: tsad.detect {py:,.0f} calls/s; "
        f"`tsad detect` CLI {shell:,.0f} calls/s; ratio {py / shell:.1f}x (load {load()})"
    )


def bench_spark(series, points, detector):
    from pyspark.sql import SparkSession

    import tsad.spark

    rng = np.random.default_rng(SEED)
    values = 50 + 5 * np.sin(np.arange(points) / 24) + rng.normal(size=(series, points))
    start_ms = 1_704_067_200_000
    times = start_ms + 60_000 * np.arange(points, dtype=np.int64)

    start = time.perf_counter()
    for row in values:
        tsad.detect(row, timestamps=times, detector=detector)
    one_process = time.perf_counter() - start

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "6g")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    frame = pd.DataFrame(
        {
            "series": np.repeat(np.arange(series, dtype=np.int64), points),
            "ts": np.tile(times, series),
            "value": values.ravel(),
        }
    )
    # createDataFrame cuts a pandas frame into one partition per Arrow batch (1,000 here); data
    # read from files comes in far fewer. Eight partitions, in Spark's memory before the clock
    # starts; the groupBy still shuffles every row.
    df = spark.createDataFrame(frame).coalesce(8).cache()
    df.count()
    start = time.perf_counter()
    tsad.spark.detect(df, "series", "ts", "value", spec=detector).write.format("noop").mode(
        "overwrite"
    ).save()
    on_spark = time.perf_counter() - start

    # The same job with a pass-through in place of tsad.detect (same output columns, no
    # detection): what Spark's shuffle, grouping and Arrow/pandas round trip cost alone.
    def passthrough(pdf):
        nan = np.full(len(pdf), np.nan)
        return pdf.assign(score=nan, rarity=nan, expected=nan, lower=nan, upper=nan,
                          anomaly=np.zeros(len(pdf), dtype=bool))

    schema = ("series long, ts long, value double, score double, rarity double, "
              "expected double, lower double, upper double, anomaly boolean")
    start = time.perf_counter()
    df.groupBy("series").applyInPandas(passthrough, schema=schema).write.format("noop").mode(
        "overwrite"
    ).save()
    floor = time.perf_counter() - start
    spark.stop()
    print(
        f"{series:,} series x {points:,} points, `{detector}`: one Python process "
        f"{one_process:.1f} s; local Spark, 2 cores {on_spark:.1f} s, of which the same job "
        f"with a pass-through instead of tsad {floor:.1f} s; Spark / one process "
        f"{on_spark / one_process:.2f} (load {load()})"
    )


def pandas_zscore(s, window):
    past = s.rolling(window).agg(["mean", "std"]).shift(1)
    return (s - past["mean"]).abs() / past["std"]


def pandas_mad(s, window):
    median = s.rolling(window).median()
    mad = s.rolling(window).apply(lambda w: np.median(np.abs(w - np.median(w))), raw=True)
    return (s - median.shift(1)).abs() / (1.4826 * mad.shift(1))


def bench_long(points):
    values = noisy(points)
    series = pd.Series(values)
    for kind, by_pandas in (("zscore", pandas_zscore), ("mad", pandas_mad)):
        t_tsad, r = best_of(lambda: tsad.detect(values, detector=kind))
        t_online, _ = best_of(lambda: tsad.Online(kind).update_many(np.arange(points), values))
        runs = 3 if kind == "zscore" else 1  # pandas' rolling MAD takes tens of seconds
        t_pandas, expected = best_of(lambda: by_pandas(series, 48), runs)
        both = np.isfinite(r.score) & np.isfinite(expected.to_numpy())
        diff = np.max(np.abs(r.score[both] - expected.to_numpy()[both]) / (1 + np.abs(r.score[both])))
        print(
            f"{points:,} points, `{kind}`: tsad.detect {t_tsad:.3f} s (whole pipeline), "
            f"scores alone (tsad.Online.update_many) {t_online:.3f} s; pandas rolling "
            f"{t_pandas:.3f} s; pandas / tsad.detect {t_pandas / t_tsad:.1f}x; largest "
            f"relative difference of the scores {diff:.1e} (load {load()})"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="calls,spark,long")
    parser.add_argument("--cli", default=None, help="the tsad binary")
    parser.add_argument("--detector", default="mad")
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000)
    parser.add_argument("--long-points", type=int, default=1_000_000)
    args = parser.parse_args()
    only = set(args.only.split(","))
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    cli = pathlib.Path(args.cli) if args.cli else target / "release" / "tsad"
    print(f"tsad {tsad.__version__}, numpy {np.__version__}, pandas {pd.__version__}, "
          f"{os.cpu_count()} cores")
    if "calls" in only:
        bench_calls(cli, args.detector)
    if "long" in only:
        bench_long(args.long_points)
    if "spark" in only:
        bench_spark(args.series, args.points, args.detector)


if __name__ == "__main__":
    main()
