#!/usr/bin/env bash
# Coalesced host VMs against one VM per host, on real guests: a newtron network (networks/<id>/
# with nodes/, a platforms/ registry) of one switch and six hosts, deployed twice in one run:
# with vmlab.coalesce_hosts true (newtron's default: the six hosts in one VM, each in its
# namespace) and false (a VM each). For each: the QEMU processes the lab runs (distinct pids
# from `vmlab status --json`), their summed resident memory (VmRSS) and proportional set size
# (Pss, from smaps_rollup), and the deploy's wall time. Guests: the tiny image, 256 MB each.
#
#   benches/hosts_coalesce_vm.sh     (needs scripts/setup)
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/common.sh
bench_home vcoal coal
net=$work/networks/coal
mkdir -p "$net/nodes" "$work/platforms"
ports() { local out="" k; for k in $(seq 0 $(($2 - 1))); do out="$out{\"name\": \"$1$(( $3 * k ))\", \"nic_index\": $((k + 1))},"; done; echo "[${out%,}]"; }
cat > "$work/platforms/sw.json" <<JSON
{"name": "sw", "device_type": "switch", "ports": $(ports Ethernet 8 4), "vm_image": "$image",
 "vm_memory": 256, "vm_cpus": 1, "vm_nic_driver": "virtio-net-pci",
 "credentials": {"user": "admin", "pass": "YourPaSsWoRd"}, "vm_boot_timeout": 300}
JSON
cat > "$work/platforms/host.json" <<JSON
{"name": "host", "device_type": "host", "ports": $(ports eth 2 1), "vm_image": "$image",
 "vm_memory": 256, "vm_cpus": 1, "vm_nic_driver": "virtio-net-pci",
 "credentials": {"user": "admin", "pass": "YourPaSsWoRd"}, "vm_boot_timeout": 300}
JSON
echo '{"platform": "sw"}' > "$net/nodes/sw1.json"
for h in 1 2 3 4 5 6; do echo '{"platform": "host"}' > "$net/nodes/host$h.json"; done
topology() { cat > "$net/topology.json" <<JSON
{"nodes": {"sw1": {}, "host1": {}, "host2": {}, "host3": {}, "host4": {}, "host5": {}, "host6": {}},
 "links": [$(for h in 1 2 3 4 5 6; do printf '{"a": "sw1:Ethernet%d", "z": "host%d:eth0"}%s' $(( 4 * (h - 1) )) $h "$([ $h -lt 6 ] && echo ,)"; done)],
 "newtlab": {"link_port_base": 24700, "console_port_base": 29700, "ssh_port_base": 31700,
             "coalesce_hosts": $1}}
JSON
}
echo "coalesce_hosts  VMs  deploy_s  rss_MiB  pss_MiB"
for mode in true false; do
  topology "$mode"
  t0=$(now)
  "$vmlab" deploy "$net" --accel tcg --progress plain >/dev/null 2>&1
  t1=$(now)
  pids=$("$vmlab" status --lab coal --json | python3 -c 'import json,sys; print(" ".join(sorted({str(n["pid"]) for n in json.load(sys.stdin)["nodes"] if n["pid"]})))')
  rss=0; pss=0; n=0
  for p in $pids; do
    n=$((n + 1))
    rss=$((rss + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")))
    pss=$((pss + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
  done
  printf '%-14s  %3d  %8.1f  %7.0f  %7.0f\n' "$mode" "$n" "$(echo "$t1 - $t0" | bc)" "$(echo "$rss / 1024" | bc)" "$(echo "$pss / 1024" | bc)"
  "$vmlab" destroy --lab coal >/dev/null
done
