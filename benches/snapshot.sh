#!/usr/bin/env bash
# Restore against a cold deploy, same lab, same run: the 4-node demo lab (TCG) is deployed
# from nothing (timed to every node ready), snapshotted (timed, with each node's memory-state
# size), changed, then restored ROUNDS times — each timed from the command's start until every
# node answers SSH, as wall time around `vmlab restore` (which itself waits for the banners).
#
#   benches/snapshot.sh [ROUNDS]     (default 3; needs scripts/setup)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
. benches/common.sh
bench_home vsnap demo
demo_specs 29200 31200

t0=$(now); "$vmlab" deploy -S "$work/specs" --accel tcg >/dev/null 2>&1; t1=$(now)
cold=$(awk "BEGIN { print $t1 - $t0 }")
t0=$(now); "$vmlab" snapshot --lab demo --name bench >/dev/null 2>&1; t1=$(now)
snap=$(awk "BEGIN { print $t1 - $t0 }")
echo "cold deploy to every node ready: ${cold} s"
echo "snapshot (4 nodes, pause + save + resume): ${snap} s"
"$vmlab" snapshot --lab demo --list --json | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    print("  paused %.3f s" % s["paused_secs"])
    for n in s["nodes"]:
        print("  %-7s memory state %.1f MiB" % (n["name"], n["vm_state_bytes"] / 2**20))'
for r in $(seq 1 "$rounds"); do
  "$vmlab" ssh --lab demo leaf1 -- "echo changed > /tmp/x" >/dev/null
  t0=$(now); "$vmlab" restore --lab demo --name bench >/dev/null 2>&1; t1=$(now)
  back=$("$vmlab" ssh --lab demo leaf1 -- "cat /tmp/x 2>/dev/null || echo restored")
  [ "$back" = restored ] || { echo "round $r: leaf1 still has the change" >&2; exit 1; }
  awk -v r="$r" -v a="$t0" -v b="$t1" -v c="$cold" 'BEGIN { printf "restore %d: %.2f s to every node answering SSH (%.1f%% of the cold deploy, 1/%.0f)\n", r, b - a, (b - a) / c * 100, c / (b - a) }'
done
