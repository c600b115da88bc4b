#!/bin/sh
# Bounded load test of the REST API (issue 12): an in-process server on a loopback port, N
# keep-alive clients per endpoint for a fixed time, requests/s and latency percentiles for
# POST /api/v1/detect and GET /api/v1/runs/{id}/points. Never connects beyond 127.0.0.1.
#
#   bench/load.sh [SECONDS] [CLIENTS]     (defaults: 10 s per endpoint, 4 clients)
set -eu
cd "$(dirname "$0")/.."
exec cargo run --quiet --release --locked -p tsad-server --example http_load -- "${1:-10}" "${2:-4}"
