#!/usr/bin/env bash
# `vmlab validate` with and without a shared SSH connection per node, on real guests, same
# run, same lab: the 4-node demo, 20 checks each on every node (80 commands, `true` each, so
# the time is the logins and the round trips). Rounds alternate off/on, three each; the first
# round with sharing on makes the connections (cold), the later ones find them (warm). Also the
# same for `vmlab exec --all` (one command on 4 nodes).
#
#   benches/validate_reuse.sh     (needs scripts/setup)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
bench_home vreuse demo
demo_specs 29300 31300
sed -i 's/"link_port_base": 20000/"link_port_base": 24300/' "$work/specs/topology.json"
"$vmlab" deploy -S "$work/specs" --accel tcg -q >/dev/null
python3 - "$work/checks.json" <<'PY'
import json, sys
checks = [{"name": f"check {i}", "all": True, "exec": "true"} for i in range(20)]
json.dump({"checks": checks}, open(sys.argv[1], "w"))
PY
run() { # $1: reuse (0/1), $2..: the command
  local reuse=$1; shift
  local t0 t1
  t0=$(now); VMLAB_SSH_REUSE=$reuse "$vmlab" "$@" -q >/dev/null; t1=$(now)
  echo "$t1 - $t0" | bc
}
close() { "$vmlab" exec --lab demo --all -q -- true >/dev/null; for s in "$VMLAB_HOME"/labs/demo/ssh/*; do ssh -o ControlPath="$s" -O exit -- x 2>/dev/null || true; done; }
echo "what                         reuse  round  seconds"
close
for round in 1 2 3; do
  printf 'validate 20 checks x 4 nodes  off    %d      %s\n' "$round" "$(run 0 validate --lab demo --file "$work/checks.json")"
  printf 'validate 20 checks x 4 nodes  on     %d      %s\n' "$round" "$(run 1 validate --lab demo --file "$work/checks.json")"
done
close
for round in 1 2 3; do
  printf 'exec --all true               off    %d      %s\n' "$round" "$(run 0 exec --lab demo --all -- true)"
  printf 'exec --all true               on     %d      %s\n' "$round" "$(run 1 exec --lab demo --all -- true)"
done
