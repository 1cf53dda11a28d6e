#!/usr/bin/env bash
# `vmlab serve` against a running 4-node lab (the demo spine-leaf on the tiny guest): deploys
# the lab, starts the server on a free port, and runs benches/serve_load.rs against it (status
# latency and requests per second, the same while the server deploys a second 2-node lab and
# runs 10 execs, event latency, idle CPU with 100 streams open). The pid measured is the
# server's own (checked by name before any figure). SERVE_VMLAB=<binary> measures another
# build of the server (an older one, for a before and after in one run of this script).
#
#   benches/serve_vm.sh     (needs scripts/setup)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
bench_home vserve demo
demo_specs 29200 31200
"$vmlab" deploy -S "$work/specs" --accel tcg >/dev/null 2>&1
# Ready is the first SSH banner; under TCG the guests go on starting services for a while after
# it, and four busy guests on two cores would be measured instead of the server.
sleep "${SERVE_SETTLE:-45}"
# The second lab, deployed through the API during the run: two nodes of the demo's platform.
mkdir -p "$work/networks/pair/profiles"
cp "$work/specs/platforms.json" "$work/networks/pair/"
printf '{"name": "pair", "devices": {"p1": {}, "p2": {}}, "links": [{"a": "p1:Ethernet0", "z": "p2:Ethernet0"}], "vmlab": {"link_port_base": 29300, "console_port_base": 31300, "ssh_port_base": 31400}}\n' \
  > "$work/networks/pair/topology.json"
platform=$(grep -o '"platform": *"[^"]*"' "$work/specs/profiles/spine1.json" | head -n 1)
for n in p1 p2; do printf '{%s}\n' "$platform" > "$work/networks/pair/profiles/$n.json"; done
bench_cleanup() {
  [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null || true
  "$vmlab" destroy --force --lab pair >/dev/null 2>&1 || true
}
server=${SERVE_VMLAB:-$vmlab}
# An older server makes no token; a token file given to it is what it then asks for.
printf '%s\n' "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" > "$work/token"
chmod 600 "$work/token"
"$server" serve --listen 127.0.0.1:0 --networks-base "$work/networks" --token-file "$work/token" \
  > "$work/serve.out" 2>&1 &
spid=$!
for _ in $(seq 1 50); do grep -q listening "$work/serve.out" && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$work/serve.out" | head -n 1)
SERVE_URL=$url SERVE_TOKEN=$(cat "$work/token") SERVE_PID=$spid SERVE_LAB=demo SERVE_OTHER_LAB=pair \
  cargo bench -q --bench serve_load
