#!/usr/bin/env python3
"""The rolling median / MAD peer of issue 15: bottleneck's two `move_median` calls (the rolling
median, then the rolling median of absolute deviations from it, an approximation of the exact
MAD that tsad computes), timed on 1M points at windows 48 and 1000, for a side-by-side with
`cargo bench -p tsad-detectors --bench detectors -- mad_1m`, whose `kernel_*` rows time the same
work in tsad (`tsad_detectors::mad::rolling_median_mad`: rolling median and exact MAD) and whose
`window_*` rows time tsad's whole `mad` detector (those plus scores and band).

The series is the same kind as the Rust bench's (`seasonal_with_anomalies`: trend, a season of
288 points, Gaussian noise), generated with numpy's seeded generator (not bit-identical to the
Rust one; the cost does not depend on the exact values).

Usage: python3 bench/bottleneck_mad.py [WINDOW ...]   (default: 48 1000)
Prints the median of 5 timed runs per window. Exits with status 0 and a note when numpy or
bottleneck is not installed.
"""

import sys
import time

try:
    import bottleneck as bn
    import numpy as np
except ImportError:  # pragma: no cover - depends on the machine
    print("skipped: numpy and bottleneck are not installed (pip install bottleneck)")
    sys.exit(0)

N = 1_000_000


def series(n):
    rng = np.random.default_rng(1)
    t = np.arange(n, dtype=np.float64)
    season = 5.0 * np.sin(2 * np.pi * t / 288) + 2.0 * np.sin(4 * np.pi * t / 288)
    return 0.00001 * t + season + rng.normal(0.0, 0.3, n)


def rolling_median_mad(x, window):
    med = bn.move_median(x, window)
    return med, bn.move_median(np.abs(x - med), window)


def main():
    windows = [int(w) for w in sys.argv[1:]] or [48, 1000]
    x = series(N)
    for window in windows:
        rolling_median_mad(x, window)  # warm-up
        times = []
        for _ in range(5):
            start = time.perf_counter()
            rolling_median_mad(x, window)
            times.append(time.perf_counter() - start)
        times.sort()
        print(f"bottleneck move_median x2, {N} points, window {window}: {times[2] * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
