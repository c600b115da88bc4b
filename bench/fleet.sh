#!/usr/bin/env bash
# Many series through the CLI, end to end (issue 13's benchmark): wall time, CPU time and peak
# memory of `tsad detect` on a long CSV, the speed-up over running tsad once per series, and
# what the fleet run found (bench/fleet_count.py: spikes found, false events).
#
#   bench/fleet.sh [SERIES POINTS] [DETECTORS...]      # default: 10000 1000 mad nab-best
#   PERIOD=75.398 bench/fleet.sh 2000 1000 robust-stats # a swing of 75.4 points, not a day
#
# Data is generated once into target/bench-fleet/ (bench/fleet_data.py: hourly series
# interleaved by time, a spike in every 7th). Needs python3 and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
series=${1:-10000}
points=${2:-1000}
shift $(( $# >= 2 ? 2 : $# ))
detectors=("$@")
((${#detectors[@]})) || detectors=(mad nab-best)
sample=${SAMPLE:-100}
period=${PERIOD:-24}

cargo build --release -q -p tsad-cli
tsad=target/release/tsad
dir=target/bench-fleet
mkdir -p "$dir"
name=long-${series}x${points}
[[ $period == 24 ]] || name=swing${period}-${series}x${points}
csv="$dir/$name.csv"
[[ -s $csv ]] || python3 bench/fleet_data.py "$series" "$points" "$csv" "$period"

measure() { # label, command...
    local label=$1
    shift
    /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$@" >/dev/null 2>"$dir/stderr" || [[ $? == 1 ]]
    read -r wall user sys kb < <(tail -n 1 "$dir/time")
    printf '%-34s wall %7.2f s  cpu %7.2f s  peak %6.0f MB\n' "$label" "$wall" \
        "$(echo "$user + $sys" | bc)" "$(echo "$kb / 1024" | bc)"
}

echo "$series series x $points points ($(du -h "$csv" | cut -f1) CSV), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for d in "${detectors[@]}"; do
    flag=(--detector "$d")
    [[ $d == *-* ]] && flag=(--preset "$d")
    measure "fleet: $d" "$tsad" detect "$csv" --series-column id "${flag[@]}" -q --format json \
        -o "$dir/fleet-$d.jsonl"
    python3 bench/fleet_count.py "$dir/fleet-$d.jsonl" "$points"
    # Once per series: the first $sample series, each from a file of its own, then scaled.
    one="$dir/one-$name"
    if [[ ! -d $one ]]; then
        mkdir -p "$one"
        awk -F, -v n="$sample" -v dir="$one" 'NR > 1 { k = substr($1, 2) + 0; if (k < n) print $2 "," $3 > (dir "/" $1 ".csv") }' "$csv"
    fi
    files=("$one"/*.csv)
    sample=${#files[@]} # the directory may hold another SAMPLE's files from an earlier run
    start=$(date +%s.%N)
    for f in "${files[@]}"; do "$tsad" detect "$f" "${flag[@]}" -q --format json >/dev/null || [[ $? == 1 ]]; done
    end=$(date +%s.%N)
    per=$(echo "($end - $start) / $sample" | bc -l)
    printf '%-34s %.1f ms per series, %.0f s for all %d (scaled from %d)\n' \
        "once per series: $d" "$(echo "$per * 1000" | bc -l)" "$(echo "$per * $series" | bc -l)" "$series" "$sample"
done
