#!/usr/bin/env bash
# Relay against direct on real guests, same guests, same run: one lab of two tiny guests joined
# by two links, link 0 through the relay (eth1) and link 1 direct (eth2,
# `"transport": "direct"`). Rounds alternate between the two:
#   - bulk: 20 MiB over TCP (busybox nc) from a to b, timed in the guest;
#   - latency: 50 pings of 56 bytes, median round trip;
# then the relay's own CPU time (from /proc) per 100k frames it carried.
#
#   benches/links_vm.sh [ROUNDS]     (default 5; needs scripts/setup)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
. benches/common.sh
bench_home vlink lbench
mkdir -p "$work/specs/profiles"
cat > "$work/specs/platforms.json" <<JSON
{"platforms": {"tiny": {"vm_image": "$image", "vm_memory": 256, "vm_cpus": 1,
  "vm_nic_driver": "virtio-net-pci", "vm_interface_map": "sequential",
  "vm_credentials": {"user": "admin", "pass": "YourPaSsWoRd"}, "vm_boot_timeout": 300}}}
JSON
cat > "$work/specs/topology.json" <<JSON
{"name": "lbench", "devices": {"a": {}, "b": {}},
 "links": [{"a": "a:Ethernet0", "z": "b:Ethernet0"},
           {"a": "a:Ethernet1", "z": "b:Ethernet1", "transport": "direct"}],
 "vmlab": {"console_port_base": 29500, "ssh_port_base": 31500}}
JSON
for n in a b; do echo '{"platform": "tiny"}' > "$work/specs/profiles/$n.json"; done
"$vmlab" deploy -S "$work/specs" --accel tcg >/dev/null 2>&1
on() { "$vmlab" ssh --lab lbench "$@"; }
on a -- "ip addr add 10.61.0.1/24 dev eth1; ip addr add 10.62.0.1/24 dev eth2; ip link set eth1 up; ip link set eth2 up"
on b -- "ip addr add 10.61.0.2/24 dev eth1; ip addr add 10.62.0.2/24 dev eth2; ip link set eth1 up; ip link set eth2 up"
relay=$(cat "$VMLAB_HOME/labs/lbench/relay.pid")
[ "$(cat /proc/$relay/comm)" = vmlab ] || { echo "relay pid $relay is not vmlab" >&2; exit 1; }
ticks() { awk '{ print $14 + $15 }' "/proc/$relay/stat"; }
frames() { "$vmlab" links --lab lbench --json | python3 -c 'import json,sys; c=json.load(sys.stdin)["links"][0]["counters"]; print(c["a_to_z"]["frames"]+c["z_to_a"]["frames"])'; }

bulk() { # ip -> seconds for 20 MiB
  on b -- "setsid nc -l -p 5001 > /dev/null 2>&1 < /dev/null &"
  sleep 0.5
  # busybox time: "real	0m 1.23s"
  on a -- "time nc $1 5001 -e dd if=/dev/zero bs=64k count=320" 2>&1 | awk '/^real/ { m = $2; s = $3; sub("m", "", m); sub("s", "", s); print m * 60 + s }'
}
rtt() { # ip -> median round trip (ms) of 50 pings
  on a -- "ping -c 50 -i 0.05 $1" | awk -F'time=' '/time=/ { split($2, v, " "); print v[1] }' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

t0=$(ticks); f0=$(frames)
echo "round  relay_MiB/s  direct_MiB/s  relay_rtt_ms  direct_rtt_ms"
tr=0; td=0; lr=""; ld=""
for r in $(seq 1 "$rounds"); do
  br=$(bulk 10.61.0.2); bd=$(bulk 10.62.0.2)
  rr=$(rtt 10.61.0.2); rd=$(rtt 10.62.0.2)
  printf '%5d  %11.1f  %12.1f  %12.3f  %13.3f\n' "$r" "$(awk "BEGIN { print 20 / $br }")" "$(awk "BEGIN { print 20 / $bd }")" "$rr" "$rd"
  tr=$(awk "BEGIN { print $tr + $br }"); td=$(awk "BEGIN { print $td + $bd }")
  lr="$lr $rr"; ld="$ld $rd"
done
t1=$(ticks); f1=$(frames)
med() { echo "$@" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
mr=$(med $lr); md=$(med $ld)
awk -v tr="$tr" -v td="$td" -v n="$rounds" -v mr="$mr" -v md="$md" -v dt="$((t1 - t0))" -v df="$((f1 - f0))" -v hz="$(getconf CLK_TCK)" 'BEGIN {
  printf "total: relay %.1f MiB/s, direct %.1f MiB/s: relay/direct %.3f (throughput lost %.1f%%)\n", 20 * n / tr, 20 * n / td, td / tr, (1 - td / tr) * 100
  printf "median round trip: relay %.3f ms, direct %.3f ms: added one way %.0f us\n", mr, md, (mr - md) / 2 * 1000
  printf "relay CPU: %d ticks for %d frames = %.3f s per 100k frames\n", dt, df, dt / hz / df * 100000
}'
