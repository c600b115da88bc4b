#!/usr/bin/env python3
"""Short seasonal series with a few to many spikes, through `tsad detect` at its defaults.

Each series: hourly, a daily season of amplitude 25 and a weekly one of 8, Gaussian noise of
standard deviation 3, and K spikes or dips of 6 to 9 noise standard deviations at random
places after the first tenth (Python's `random`, seeded). Prints, per series, how many spikes
the default run flags, how many events it reports, how many of them hold no spike, and how the
weakest spike's rarity compares with the highest rarity of a normal point (the ranking a
perfect threshold would need).

Usage: python3 bench/short_spikes.py TSAD_BINARY [POINTS:SPIKES ...]   (default: 1680:5
1680:10 1680:15 1680:25 1000:3 1500:3 3000:3), three seeds each.
"""

import csv
import math
import os
import random
import subprocess
import sys
import tempfile


def series(points, spikes, seed, path):
    rng = random.Random(seed)
    values = [
        100
        + 25 * math.sin(2 * math.pi * (i % 24 - 8) / 24)
        + 8 * math.sin(2 * math.pi * (i % 168) / 168)
        + rng.gauss(0, 3)
        for i in range(points)
    ]
    labels = [0] * points
    for at in sorted(rng.sample(range(points // 10, points - 5), spikes)):
        values[at] += rng.choice([-1, 1]) * 3 * rng.uniform(6, 9)
        labels[at] = 1
    with open(path, "w") as f:
        f.write("timestamp,value\n")
        for i, v in enumerate(values):
            f.write(f"{i * 3600},{v:.3f}\n")
    return labels


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    tsad = sys.argv[1]
    cases = sys.argv[2:] or ["1680:5", "1680:10", "1680:15", "1680:25", "1000:3", "1500:3", "3000:3"]
    with tempfile.TemporaryDirectory() as tmp:
        data, out = os.path.join(tmp, "in.csv"), os.path.join(tmp, "out.csv")
        for case in cases:
            points, spikes = (int(x) for x in case.split(":"))
            for seed in (1, 2, 3):
                labels = series(points, spikes, seed, data)
                subprocess.run(
                    [tsad, "detect", data, "--format", "csv", "--output", out],
                    check=False,
                    capture_output=True,
                )
                rows = list(csv.DictReader(open(out)))
                found = sum(1 for r, l in zip(rows, labels) if l and r["anomaly"] == "1")
                events = {r["event"] for r in rows if r["event"]}
                false = events - {r["event"] for r, l in zip(rows, labels) if l and r["event"]}
                rarity = [float(r["rarity"] or 0) for r in rows]
                weakest = min(x for x, l in zip(rarity, labels) if l)
                normal = max(x for x, l in zip(rarity, labels) if not l)
                print(
                    f"{points} points, {spikes} spikes, seed {seed}: found {found}, "
                    f"events {len(events)} ({len(false)} false); weakest spike's rarity "
                    f"{weakest:.2f}, highest normal point's {normal:.2f}"
                )


if __name__ == "__main__":
    main()
