#!/usr/bin/env python3
"""How well a detector's scores rank SMAP's labelled sequences, whatever the threshold
(issue 11: is the threshold or the detector what limits event-level F1?).

For each channel of a telemanom-layout set (labels.csv, train/, test/), runs
`tsad detect test/C.csv --train train/C.csv --format csv` with the detector at its defaults and
reads the per-point `rarity`. A labelled sequence is *separable* when its highest rarity is
above the highest rarity anywhere outside the channel's labelled sequences: a per-channel
threshold could then find it without a false event. The count bounds the recall any threshold
on these scores can reach without false events.

A name `A+B` (for example `novelty+zscore`) scores each point by the sum of the detectors'
rarities (Fisher's way of combining evidence, on the -log10 scale), to ask whether a
combination ranks better than its parts. `--sweep` also prints the best event-level F1 that
one threshold for all channels reaches, the threshold being chosen with the labels (so an upper
bound, not a result): flags at most 10 points apart form one event, an event that overlaps a
labelled sequence finds it, any other is false (a simplification of tsad's own events, which
add standouts and routines).

Usage: python3 bench/smap_ranking.py [--smap-dir DIR] [--tsad PATH] [--sweep] DETECTOR|PRESET|A+B ...
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


def summed(tsad, smap, channel, name):
    """The rarities of `name`, or for `A+B` the pointwise sum of A's and B's (missing as 0)."""
    parts = [rarities(tsad, smap, channel, n) for n in name.split("+")]
    if len(parts) == 1:
        return parts[0]
    return [sum(max(v, 0.0) for v in point) for point in zip(*parts)]


def events(scores, cut, gap=10):
    """Runs of points above `cut`, merged when at most `gap` points apart, as (first, last)."""
    out = []
    for i, v in enumerate(scores):
        if v > cut:
            if out and i - out[-1][1] <= gap + 1:
                out[-1][1] = i
            else:
                out.append([i, i])
    return out


def best_threshold(per_channel):
    """The cut, and its TP, FP, FN and F1, that maximises event-level F1 over all channels."""
    best = None
    for k in range(4, 61):
        cut = k / 2
        tp = fp = fn = 0
        for scores, sequences in per_channel:
            found = events(scores, cut)
            for lo, hi in sequences:
                if any(a <= hi and b >= lo for a, b in found):
                    tp += 1
                else:
                    fn += 1
            fp += sum(not any(a <= hi and b >= lo for lo, hi in sequences) for a, b in found)
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        if best is None or f1 > best[-1]:
            best = (cut, tp, fp, fn, f1)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smap-dir", default=os.environ.get("TSAD_SMAP_DIR", "../shared/datasets/smap"))
    p.add_argument("--tsad", default="target/release/tsad")
    p.add_argument("--sweep", action="store_true", help="also the best single threshold's F1")
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
    sweep = "  best single threshold (chosen with the labels): cut, TP / FP / FN, F1" if a.sweep else ""
    print(f"{'detector':<20} separable sequences (of {total}){sweep}")
    for name in a.detectors:
        separable = 0
        per_channel = []
        for channel, sequences in sorted(labels.items()):
            r = summed(a.tsad, a.smap_dir, channel, name)
            per_channel.append((r, sequences))
            inside = [False] * len(r)
            for lo, hi in sequences:
                for i in range(lo, min(hi, len(r) - 1) + 1):
                    inside[i] = True
            rest = max((v for v, f in zip(r, inside) if not f), default=-math.inf)
            for lo, hi in sequences:
                if max(r[lo:hi + 1], default=-math.inf) > rest:
                    separable += 1
        line = f"{name:<20} {separable}"
        if a.sweep:
            cut, tp, fp, fn, f1 = best_threshold(per_channel)
            line += f"{'':<27}{cut:5.1f}, {tp} / {fp} / {fn}, {f1:.3f}"
        print(line)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
