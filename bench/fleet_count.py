#!/usr/bin/env python3
"""Counts what a fleet run found in bench/fleet_data.py's series: the spikes (one in every 7th
series, at two thirds of its points) inside an event, and the events that hold no spike (false
alarms; the series hold nothing else anomalous).

    python3 bench/fleet_count.py FLEET.jsonl POINTS

FLEET.jsonl is `tsad detect FILE --series-column id --format json -o FLEET.jsonl`. The default
threshold promises about one false alarm per 100,000 points of normal data, so SERIES x POINTS
/ 100,000 false events is what to compare with. Standard library only.
"""

import json
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, points = sys.argv[1], int(sys.argv[2])
    spike_at = points * 2 // 3
    series = spikes = found = false = standouts = 0
    with open(path) as f:
        for line in f:
            run = json.loads(line)
            if "name" not in run:
                continue
            series += 1
            has_spike = int(run["name"][1:]) % 7 == 0
            spikes += has_spike
            hits = 0
            for event in run.get("events", []):
                if event["start"] - 2 <= spike_at <= event["end"] + 2:
                    hits += 1
                else:
                    false += 1
                    standouts += bool(event.get("standout"))
            found += has_spike and hits > 0
    promised = series * points / 100_000
    print(
        f"{series} series: {found} of {spikes} spikes found, {false} false events "
        f"({standouts} of them standouts; about {promised:.0f} promised at the default threshold)"
    )


if __name__ == "__main__":
    main()
