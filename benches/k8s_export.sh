#!/usr/bin/env bash
# `vmlab export k8s`'s time (release build): a generated lab of 1000 nodes (50 pods of 2 spines
# and 18 leaves, the pods' spines in a ring: 1850 links) split over 50 shards, and,
# given a newtron checkout, its largest network. Each is run 5 times; the median is printed.
#
#   bash benches/k8s_export.sh [NEWTRON_CHECKOUT]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
vmlab=$PWD/target/release/vmlab
work=$(mktemp -d /tmp/k8sbench.XXXX)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
timed() {
  for _ in 1 2 3 4 5; do
    s=$(date +%s.%N)
    "$@" > "$work/out.yaml" 2> "$work/said"
    e=$(date +%s.%N)
    echo "$e - $s" | bc
  done | median
}

python3 - "$work/big" <<'PY'
import json, os, sys
d = sys.argv[1]
os.makedirs(f"{d}/profiles")
# 50 pods of 2 spines and 18 leaves (every leaf to both spines), the pods' first spines in a
# ring: 1000 nodes, 1850 links, at most 20 data NICs a node.
nodes, links = [], []
for p in range(50):
    sp = [f"p{p}-spine{i}" for i in range(2)]
    lf = [f"p{p}-leaf{i}" for i in range(18)]
    nodes += sp + lf
    for k, leaf in enumerate(lf):
        for j, s in enumerate(sp):
            links.append({"a": f"{leaf}:Ethernet{4 * j}", "z": f"{s}:Ethernet{4 * k}"})
for p in range(50):
    links.append({"a": f"p{p}-spine0:Ethernet72", "z": f"p{(p + 1) % 50}-spine0:Ethernet76"})
json.dump({"name": "big", "devices": {n: {} for n in nodes}, "links": links,
           "vmlab": {"link_port_base": 10000, "console_port_base": 14000, "ssh_port_base": 20000}},
          open(f"{d}/topology.json", "w"))
json.dump({"platforms": {"sw": {"vm_image": "/images/sw.qcow2", "vm_memory": 2048, "vm_cpus": 2,
                                "vm_interface_map": "stride-4"}}},
          open(f"{d}/platforms.json", "w"))
for n in nodes:
    json.dump({"platform": "sw"}, open(f"{d}/profiles/{n}.json", "w"))
PY
t=$(timed "$vmlab" export k8s -S "$work/big" --shards 50 --images-claim imgs)
echo "1000 nodes, 1850 links, 50 shards: ${t} s (median of 5); $(wc -c < "$work/out.yaml") bytes; $(tail -n 1 "$work/said")"

if [ -n "${1:-}" ]; then
  largest=$(for n in "$1"/networks/*/; do
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d.get("nodes",{})), sys.argv[2])' \
      "$n/topology.json" "$n" 2>/dev/null || true
  done | sort -n | tail -n 1 | cut -d' ' -f2)
  t=$(timed "$vmlab" --platforms "$1/platforms" export k8s -S "$largest" --shards 2 --images-claim imgs)
  echo "newtron's $(basename "$largest"): ${t} s (median of 5); $(tail -n 1 "$work/said")"
fi
