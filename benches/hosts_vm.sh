#!/usr/bin/env bash
# A link between hosts against a same-host link, on real guests: two hosts on one machine
# (h1 = 127.0.0.2, h2 = 127.0.0.3, each with its own VMLAB_HOME). Node a (h1) has two links:
# eth1 to b on h2 (between hosts: a's relay, UDP, b's relay) and eth2 to c on h1 (same host,
# through the relay). Rounds alternate between the two, same guests, same run:
#   - bulk: 20 MiB over TCP (busybox nc) from a, timed in the guest;
#   - latency: 50 pings of 56 bytes, median round trip.
# The lab runs twice: with the keyed check (the default), then with
# `vmlab.cross_host_check: "none"`.
#
#   benches/hosts_vm.sh [ROUNDS]     (default 5; needs scripts/setup)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
. benches/common.sh
work=$(mktemp -d /tmp/vhost.XXXX)
h1() { VMLAB_HOME=$work/h1 "$vmlab" "$@"; }
h2() { VMLAB_HOME=$work/h2 "$vmlab" "$@"; }
cleanup() { h1 destroy --force --lab hbench >/dev/null 2>&1 || true; h2 destroy --force --lab hbench >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/specs/profiles" "$work/h1" "$work/h2"
cat > "$work/specs/platforms.json" <<JSON
{"platforms": {"tiny": {"vm_image": "$image", "vm_memory": 256, "vm_cpus": 1,
  "vm_nic_driver": "virtio-net-pci", "vm_interface_map": "sequential",
  "vm_credentials": {"user": "admin", "pass": "YourPaSsWoRd"}, "vm_boot_timeout": 300}}}
JSON
echo '{"platform": "tiny", "vm_host": "h1"}' > "$work/specs/profiles/a.json"
echo '{"platform": "tiny", "vm_host": "h2"}' > "$work/specs/profiles/b.json"
echo '{"platform": "tiny", "vm_host": "h1"}' > "$work/specs/profiles/c.json"
topology() { cat > "$work/specs/topology.json" <<JSON
{"name": "hbench", "devices": {"a": {}, "b": {}, "c": {}},
 "links": [{"a": "a:Ethernet0", "z": "b:Ethernet0"}, {"a": "a:Ethernet1", "z": "c:Ethernet0"}],
 "vmlab": {"link_port_base": 24600, "console_port_base": 29600, "ssh_port_base": 31600,
           "hosts": {"h1": "127.0.0.2", "h2": "127.0.0.3"}, "cross_host_check": "$1"}}
JSON
}
on1() { h1 ssh --lab hbench "$@"; }
on2() { h2 ssh --lab hbench "$@"; }
bulk() { # ip receiver-runner -> seconds for 20 MiB
  $2 -- "setsid nc -l -p 5001 > /dev/null 2>&1 < /dev/null &"
  sleep 0.5
  on1 a -- "time nc $1 5001 -e dd if=/dev/zero bs=64k count=320" 2>&1 | awk '/^real/ { m = $2; s = $3; sub("m", "", m); sub("s", "", s); print m * 60 + s }'
}
rtt() { # ip -> median round trip (ms) of 50 pings
  on1 a -- "ping -c 50 -i 0.05 $1" | awk -F'time=' '/time=/ { split($2, v, " "); print v[1] }' | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}
med() { echo "$@" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for check in keyed none; do
  topology "$check"
  h2 deploy -S "$work/specs" --host h2 --accel tcg >/dev/null 2>&1
  h1 deploy -S "$work/specs" --host h1 --accel tcg >/dev/null 2>&1
  on1 a -- "ip addr add 10.63.0.1/24 dev eth1; ip addr add 10.64.0.1/24 dev eth2; ip link set eth1 up; ip link set eth2 up"
  on2 b -- "ip addr add 10.63.0.2/24 dev eth1; ip link set eth1 up"
  on1 c -- "ip addr add 10.64.0.2/24 dev eth1; ip link set eth1 up"
  echo "cross_host_check: $check"
  echo "round  cross_MiB/s  same_MiB/s  cross_rtt_ms  same_rtt_ms"
  tc=0; ts=0; lc=""; ls=""
  for r in $(seq 1 "$rounds"); do
    bc=$(bulk 10.63.0.2 "on2 b"); bs=$(bulk 10.64.0.2 "on1 c")
    rc=$(rtt 10.63.0.2); rs=$(rtt 10.64.0.2)
    printf '%5d  %11.1f  %10.1f  %12.3f  %11.3f\n' "$r" "$(awk "BEGIN { print 20 / $bc }")" "$(awk "BEGIN { print 20 / $bs }")" "$rc" "$rs"
    tc=$(awk "BEGIN { print $tc + $bc }"); ts=$(awk "BEGIN { print $ts + $bs }")
    lc="$lc $rc"; ls="$ls $rs"
  done
  awk -v tc="$tc" -v ts="$ts" -v n="$rounds" -v mc="$(med $lc)" -v ms="$(med $ls)" -v k="$check" 'BEGIN {
    printf "%s: cross-host %.1f MiB/s, same-host %.1f MiB/s: cross/same %.3f; median rtt cross %.3f ms, same %.3f ms (added one way %.0f us)\n", k, 20 * n / tc, 20 * n / ts, ts / tc, mc, ms, (mc - ms) / 2 * 1000
  }'
  h1 destroy --lab hbench >/dev/null; h2 destroy --lab hbench >/dev/null
done
