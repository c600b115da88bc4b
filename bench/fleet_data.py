"""Writes a long-format fleet CSV for bench/fleet.sh: SERIES series of POINTS hourly points
each, interleaved by time (the order metrics exports use), one injected spike per 7th series.

    python3 bench/fleet_data.py SERIES POINTS OUT.csv [PERIOD]

PERIOD is the swing's period in points (default 24, a daily cycle; it need not be whole:
2 pi 12 = 75.4 is the Python Spark test's swing).
"""
import math
import random
import sys
from datetime import datetime, timedelta, timezone


def main():
    series, points, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    period = float(sys.argv[4]) if len(sys.argv) > 4 else 24.0
    rng = random.Random(42)
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    ids = [f"s{k:06d}" for k in range(series)]
    phase = [rng.uniform(0, 2 * math.pi) for _ in range(series)]
    level = [rng.uniform(10, 1000) for _ in range(series)]
    spike_at = points * 2 // 3
    with open(out, "w", buffering=1 << 20) as f:
        f.write("id,time,value\n")
        for i in range(points):
            ts = (t0 + timedelta(hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            day = 2 * math.pi * i / period
            rows = []
            for k in range(series):
                v = level[k] * (1 + 0.2 * math.sin(day + phase[k]) + 0.02 * rng.gauss(0, 1))
                if k % 7 == 0 and i == spike_at:
                    v += level[k] * 0.5
                rows.append(f"{ids[k]},{ts},{v:.3f}\n")
            f.write("".join(rows))


if __name__ == "__main__":
    main()
