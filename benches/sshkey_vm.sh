#!/usr/bin/env bash
# What the lab key costs and buys, same lab, same run: the 4-node demo lab (TCG) deployed with
# `--progress json`, giving the time deploy spends installing the key on every node (from its
# own step event) and the whole deploy; then ROUNDS logins each way, timed as wall time around
# `true` on leaf1: the user's own `ssh -F <lab>/ssh_config` (key) against `vmlab ssh` (password
# through askpass).
#
#   benches/sshkey_vm.sh [ROUNDS]     (default 5; needs scripts/setup)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
. benches/common.sh
bench_home vkey demo
demo_specs 29300 31300

t0=$(now); "$vmlab" deploy -S "$work/specs" --accel tcg --progress json >/dev/null 2>"$work/progress.jsonl"; t1=$(now)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "deploy to every node ready, key installed: %.1f s\n", b - a }'
python3 - "$work/progress.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "step" and "SSH key is on" in e["message"]:
        print("key install step:", e["message"])
PY
cfg=$VMLAB_HOME/labs/demo/ssh_config
for r in $(seq 1 "$rounds"); do
  a=$(now); ssh -F "$cfg" -o BatchMode=yes leaf1 true; b=$(now)
  "$vmlab" ssh --lab demo leaf1 -- true; c=$(now)
  awk -v r="$r" -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "login %d: ssh -F (key) %.3f s   vmlab ssh (password) %.3f s\n", r, b - a, c - b }'
done
