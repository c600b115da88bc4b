#!/usr/bin/env python3
"""Series families nobody tuned for, through `tsad detect` at its defaults.

Each family is a kind of series users bring (a price, counts, a daily metric, a sensor), with a
known anomaly or none, generated with Python's `random` (seeded), written as a CSV with a
timestamp column (hourly; 5-minute steps for the CPU metric) and run through
`tsad detect FILE --format json` with nothing else set. Prints, per family and length, for
each of three seeds: how many of the injected anomalies an event reaches (within 2 points) and
how many events reach none ("f" for false).

The families:
- randomwalk_jump: a random walk (a price) with one jump of 24 step deviations.
- poisson_burst: counts with mean 3, five points of a burst at mean 25.
- daily_levelshift: a daily cycle of ±10, noise 1.5, the level up by 8 for the last quarter.
- trend_spike: a linear trend, noise 1, one spike of 8.
- sawtooth_stuck: a sawtooth of period 50 that sticks at one value for 60 points.
- studentt_clean: Student-t noise with 3 degrees of freedom, no anomaly (heavy tails).
- quantized_flatline: an integer sensor with a daily cycle that reads 20 for a day.
- business_weekdays_drop: office-hours activity on weekdays, zero at weekends, one day at 30%.
- variance_change: white noise whose deviation goes from 1 to 4 for the last quarter.
- gappy_seasonal_spike: a daily cycle with 3% of its values missing and one dip of 9.
- cpu_daily_spikes_clean: a 5-minute CPU metric with a nightly job at 02:30, no anomaly.

Usage: python3 bench/families.py TSAD_BINARY [EXTRA tsad detect ARGS ...]
(for example `python3 bench/families.py target/release/tsad --detector mad`).
"""

import csv
import datetime
import json
import math
import os
import random
import subprocess
import sys
import tempfile

FAMILIES = [
    "randomwalk_jump",
    "poisson_burst",
    "daily_levelshift",
    "trend_spike",
    "sawtooth_stuck",
    "studentt_clean",
    "quantized_flatline",
    "business_weekdays_drop",
    "variance_change",
    "gappy_seasonal_spike",
    "cpu_daily_spikes_clean",
]
SIZES = [1000, 5000, 20000]
SEEDS = [1, 2, 3]


def poisson(rng, mean):
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p < limit:
            return k
        k += 1


def family(name, n, seed):
    """The values (None for missing) and the anomalies as (first, last) indices."""
    rng = random.Random(seed)
    values, anomalies = [], []
    if name == "randomwalk_jump":
        x = 100.0
        for i in range(n):
            x += rng.gauss(0, 0.5)
            if i == n * 2 // 3:
                x += 12
                anomalies.append((i, i))
            values.append(x)
    elif name == "poisson_burst":
        a = n * 3 // 4
        values = [poisson(rng, 25 if a <= i < a + 5 else 3) for i in range(n)]
        anomalies.append((a, a + 4))
    elif name == "daily_levelshift":
        a = n * 3 // 4
        for i in range(n):
            y = 50 + 10 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 1.5)
            values.append(y + (8 if i >= a else 0))
        anomalies.append((a, a))
    elif name == "trend_spike":
        a = n // 2
        values = [10 + 0.05 * i + rng.gauss(0, 1) + (8 if i == a else 0) for i in range(n)]
        anomalies.append((a, a))
    elif name == "sawtooth_stuck":
        a = n * 2 // 3
        for i in range(n):
            y = (i % 50) * 2.0 + rng.gauss(0, 0.5)
            values.append(values[a - 1] if a < i < a + 60 else y)
        anomalies.append((a, a + 59))
    elif name == "studentt_clean":
        for _ in range(n):
            z = rng.gauss(0, 1)
            chi = sum(rng.gauss(0, 1) ** 2 for _ in range(3)) / 3
            values.append(20 + z / math.sqrt(chi))
    elif name == "quantized_flatline":
        a = n * 2 // 3
        for i in range(n):
            y = round(20 + 3 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 0.7))
            values.append(20 if a <= i < a + 48 else y)
        anomalies.append((a, a + 47))
    elif name == "business_weekdays_drop":
        first = None
        for i in range(n):
            day, hour = i // 24, i % 24
            weekday = day % 7 < 5
            y = 100 * math.sin(math.pi * (hour - 8) / 10) if weekday and 8 <= hour < 18 else 0.0
            y = max(0.0, y)
            if y > 0:
                y += rng.gauss(0, 3)
            if day == (n // 24) * 3 // 4 and weekday:
                y *= 0.3
                first = first if first is not None else i
            values.append(y)
        if first is not None:
            anomalies.append((first, first + 23))
    elif name == "variance_change":
        a = n * 3 // 4
        values = [5 + rng.gauss(0, 1 if i < a else 4) for i in range(n)]
        anomalies.append((a, n - 1))
    elif name == "gappy_seasonal_spike":
        a = n // 2
        for i in range(n):
            y = 30 + 5 * math.sin(2 * math.pi * i / 24) + rng.gauss(0, 0.8)
            if i == a:
                y -= 9
            values.append(None if rng.random() < 0.03 else y)
        anomalies.append((a, a))
    elif name == "cpu_daily_spikes_clean":
        for i in range(n):
            y = 40 + 15 * math.sin(2 * math.pi * (i % 288) / 288) + rng.gauss(0, 2)
            values.append(y + (25 if i % 288 == 30 else 0))
    return values, anomalies


def write(path, values, step_seconds):
    start = datetime.datetime(2024, 1, 1)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["timestamp", "value"])
        for i, v in enumerate(values):
            t = start + datetime.timedelta(seconds=step_seconds * i)
            cell = "" if v is None else (round(v, 4) if isinstance(v, float) else v)
            out.writerow([t.strftime("%Y-%m-%d %H:%M:%S"), cell])


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    binary, extra = sys.argv[1], sys.argv[2:]
    if not os.path.isfile(binary):
        print(f"no tsad binary at {binary} (cargo build --release -p tsad-cli)", file=sys.stderr)
        sys.exit(2)
    with tempfile.TemporaryDirectory() as tmp:
        for name in FAMILIES:
            step = 300 if name == "cpu_daily_spikes_clean" else 3600
            for n in SIZES:
                cells = []
                for seed in SEEDS:
                    values, anomalies = family(name, n, seed)
                    path = os.path.join(tmp, f"{name}_{n}_{seed}.csv")
                    write(path, values, step)
                    run = subprocess.run(
                        [binary, "detect", path, "--format", "json", *extra],
                        capture_output=True,
                        text=True,
                    )
                    # Exit status 1 says anomalies were found.
                    if run.returncode not in (0, 1):
                        cells.append("error: " + run.stderr.strip().splitlines()[-1][:60])
                        continue
                    events = json.loads(run.stdout)["events"]

                    def reaches(e, first, last):
                        return e["start"] <= last + 2 and e["end"] >= first - 2

                    found = sum(any(reaches(e, a, b) for e in events) for a, b in anomalies)
                    false = sum(not any(reaches(e, a, b) for a, b in anomalies) for e in events)
                    cells.append(f"{found}/{len(anomalies)} f{false}")
                print(f"{name:24s} {n:6d}  " + "  ".join(f"{c:9s}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
