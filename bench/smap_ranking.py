#!/usr/bin/env python3
"""How well a detector's scores rank SMAP's labelled sequences, whatever the threshold
(issue 11: is the threshold or the detector what limits event-level F1?).

For each channel of a telemanom-layout set (labels.csv, train/, test/), runs
`tsad detect test/C.csv --train train/C.csv --format csv` with the detector at its defaults and
reads the per-point `rarity`. A labelled sequence is *separable* when its highest rarity is
above the highest rarity anywhere outside the channel's labelled sequences: a per-channel
threshold could then find it without a false event. The count bounds the recall any threshold
on these scores can reach without false events.

Usage: python3 bench/smap_ranking.py [--smap-dir DIR] [--tsad PATH] DETECTOR|PRESET ...
(DIR defaults to $TSAD_SMAP_DIR or ../shared/datasets/smap; PATH to target/release/tsad.)
Exits with status 0 and "skipped: ..." when the data set or the binary is missing.
"""

import argparse
import csv
import io
import json
import math
import os
import subprocess
import sys

PRESETS = {"robust-stats", "nab-best", "lstm-residual", "hybrid-benford"}


def rarities(tsad, smap, channel, name):
    which = ["--preset", name] if name in PRESETS else ["--detector", name]
    out = subprocess.run(
        [tsad, "detect", f"{smap}/test/{channel}.csv", "--train", f"{smap}/train/{channel}.csv",
         "--value-column", "value", "--format", "csv", *which],
        capture_output=True, text=True,
    )
    # Exit status 1 means "anomalies found"; anything else without output is a failure.
    if out.returncode not in (0, 1) or not out.stdout:
        raise SystemExit(f"tsad failed on {channel}: {out.stderr.strip()}")
    values = []
    for row in csv.DictReader(io.StringIO(out.stdout)):
        r = row["rarity"]
        values.append(float(r) if r not in ("", "NaN", "nan") else -math.inf)
    return values


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smap-dir", default=os.environ.get("TSAD_SMAP_DIR", "../shared/datasets/smap"))
    p.add_argument("--tsad", default="target/release/tsad")
    p.add_argument("detectors", nargs="+")
    a = p.parse_args()
    if not os.path.exists(f"{a.smap_dir}/labels.csv"):
        print(f"skipped: no SMAP set at {a.smap_dir}")
        return
    if not os.path.exists(a.tsad):
        print(f"skipped: no tsad binary at {a.tsad} (cargo build --release -p tsad-cli)")
        return
    with open(f"{a.smap_dir}/labels.csv") as f:
        labels = {r["channel"]: json.loads(r["anomaly_sequences"]) for r in csv.DictReader(f)}
    total = sum(len(s) for s in labels.values())
    print(f"{'detector':<20} separable sequences (of {total})")
    for name in a.detectors:
        separable = 0
        for channel, sequences in sorted(labels.items()):
            r = rarities(a.tsad, a.smap_dir, channel, name)
            inside = [False] * len(r)
            for lo, hi in sequences:
                for i in range(lo, min(hi, len(r) - 1) + 1):
                    inside[i] = True
            rest = max((v for v, f in zip(r, inside) if not f), default=-math.inf)
            for lo, hi in sequences:
                if max(r[lo:hi + 1], default=-math.inf) > rest:
                    separable += 1
        print(f"{name:<20} {separable}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
