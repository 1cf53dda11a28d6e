#!/usr/bin/env bash
# `vmlab serve` against a running 4-node lab (the demo spine-leaf on the tiny guest): deploys
# the lab, starts the server on a free port, and runs benches/serve_load.rs against it (status
# latency and requests per second, event latency, idle CPU with 100 streams open). The pid
# measured is the server's own (checked by name before any figure).
#
#   benches/serve_vm.sh     (needs scripts/setup)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
bench_cleanup() { [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null || true; }
bench_home vserve demo
demo_specs 29200 31200
"$vmlab" deploy -S "$work/specs" --accel tcg >/dev/null 2>&1
# Ready is the first SSH banner; under TCG the guests go on starting services for a while after
# it, and four busy guests on two cores would be measured instead of the server.
sleep "${SERVE_SETTLE:-45}"
"$vmlab" serve --listen 127.0.0.1:0 > "$work/serve.out" 2>&1 &
spid=$!
for _ in $(seq 1 50); do grep -q listening "$work/serve.out" && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/serve.out" | head -n 1)
SERVE_URL=$url SERVE_PID=$spid SERVE_LAB=demo cargo bench -q --bench serve_load
