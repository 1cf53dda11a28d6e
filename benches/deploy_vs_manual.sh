#!/usr/bin/env bash
# Deploy speed: `vmlab deploy` of a 4-node spine-leaf lab to all-ready (links through its
# relay), against launching QEMU by hand with vmlab's own command lines for direct links (what a
# person would wire without a relay) and waiting for every SSH banner. Prints both times per
# round and the ratio.
#
#   benches/deploy_vs_manual.sh [ROUNDS]     (needs scripts/setup; builds the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
. benches/common.sh

work=$(mktemp -d /tmp/vbench.XXXX)
trap 'VMLAB_HOME=$work/home "$vmlab" destroy --force --lab bench >/dev/null 2>&1 || true; pkill -f "$work/manual" || true; rm -rf "$work"' EXIT
specs=$work/specs
mkdir -p "$specs/profiles"
cat > "$specs/platforms.json" <<JSON
{"platforms": {
  "stride": {"vm_image": "$image", "vm_memory": 256, "vm_cpus": 1, "vm_nic_driver": "virtio-net-pci",
             "vm_interface_map": "stride-4", "vm_credentials": {"user": "admin", "pass": "YourPaSsWoRd"}, "vm_boot_timeout": 300},
  "seq": {"vm_image": "$image", "vm_memory": 256, "vm_cpus": 1, "vm_nic_driver": "virtio-net-pci",
          "vm_interface_map": "sequential", "vm_credentials": {"user": "admin", "pass": "YourPaSsWoRd"}, "vm_boot_timeout": 300}
}}
JSON
cat > "$specs/topology.json" <<JSON
{"name": "bench", "devices": {"spine1": {}, "spine2": {}, "leaf1": {}, "leaf2": {}},
 "links": [{"a": "spine1:Ethernet0", "z": "leaf1:Ethernet0"}, {"a": "spine1:Ethernet8", "z": "leaf2:Ethernet0"},
           {"a": "spine2:Ethernet0", "z": "leaf1:Ethernet1"}, {"a": "spine2:Ethernet4", "z": "leaf2:Ethernet1"}],
 "vmlab": {"link_port_base": 24000, "console_port_base": 29000, "ssh_port_base": 31000}}
JSON
for n in spine1 spine2; do echo '{"platform": "stride"}' > "$specs/profiles/$n.json"; done
for n in leaf1 leaf2; do echo '{"platform": "seq"}' > "$specs/profiles/$n.json"; done
direct=$work/direct
cp -r "$specs" "$direct"
sed -i 's/"ssh_port_base": 31000}/"ssh_port_base": 31000, "links": "direct"}/' "$direct/topology.json"

banner() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && head -c 8 <&3" 2>/dev/null; }

manual_round() {
  local dir=$work/manual
  rm -rf "$dir"; mkdir -p "$dir"
  # vmlab's own plan for direct links (each VM's unix datagram socket names the other's), with
  # the lab directory moved.
  VMLAB_HOME=$work/plan "$vmlab" deploy -S "$direct" --dry-run --accel tcg \
    | grep '^qemu-system' \
    | sed "s#$work/plan/labs/bench#$dir#g" \
    > "$dir/cmds"
  mkdir -p "$dir/disks" "$dir/qemu" "$dir/logs" "$dir/links"
  local t0; t0=$(now)
  for n in spine1 spine2 leaf1 leaf2; do
    qemu-img create -q -f qcow2 -F qcow2 -b "$image" "$dir/disks/$n.qcow2" &
  done
  wait
  # Datagram links have no start order: launch every QEMU at once, as vmlab does.
  while read -r line; do eval "$line" 2>/dev/null & done < "$dir/cmds"
  wait
  for port in 31000 31001 31002 31003; do
    until [ "$(banner $port)" = "SSH-2.0-" ]; do sleep 0.25; done
  done
  local t1; t1=$(now)
  for f in "$dir"/qemu/*.pid; do kill "$(cat "$f")"; done
  sleep 1
  awk "BEGIN { print $t1 - $t0 }"
}

vmlab_round() {
  local t0; t0=$(now)
  VMLAB_HOME=$work/home "$vmlab" deploy -S "$specs" --accel tcg >/dev/null 2>&1
  local t1; t1=$(now)
  VMLAB_HOME=$work/home "$vmlab" destroy --lab bench >/dev/null
  awk "BEGIN { print $t1 - $t0 }"
}

echo "round  manual_s  vmlab_s  ratio"
for r in $(seq 1 "$rounds"); do
  m=$(manual_round); v=$(vmlab_round)
  printf '%5d  %8.2f  %7.2f  %5.3f\n' "$r" "$m" "$v" "$(awk "BEGIN { print $v / $m }")"
done
