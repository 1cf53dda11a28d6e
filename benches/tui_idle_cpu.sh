#!/usr/bin/env bash
# Idle CPU and memory of `vmlab tui` on a running 4-node lab: the TUI runs in tmux and is left
# alone; its own CPU time (user + system, from /proc) is divided by the wall time.
#
#   benches/tui_idle_cpu.sh [SECONDS]     (default 60; needs scripts/setup)
#
# The process measured is the TUI itself: tmux starts it with `exec`, so the pane's pid is the
# vmlab process (tmux's own server carries the same command line and would be picked by a
# `pgrep -f`); /proc/<pid>/comm is checked before any figure is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
. benches/common.sh
bench_cleanup() { tmux -L vidle kill-server 2>/dev/null || true; }
bench_home vidle demo
demo_specs 29100 31100
sed -i 's#"vm_boot_timeout": 180#"vm_boot_timeout": 300#' "$work/specs/platforms.json"
"$vmlab" deploy -S "$work/specs" --accel tcg >/dev/null 2>&1
tmux -L vidle new-session -d -s t -x 160 -y 45 "exec env VMLAB_HOME=$VMLAB_HOME $vmlab tui --lab demo"
sleep 5
pid=$(tmux -L vidle list-panes -t t -F '#{pane_pid}')
comm=$(cat "/proc/$pid/comm")
[ "$comm" = vmlab ] || { echo "pane pid $pid runs '$comm', not vmlab: refusing to measure" >&2; exit 1; }
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks); s0=$(date +%s.%N)
sleep "$secs"
t1=$(ticks); s1=$(date +%s.%N)
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
threads=$(awk '/^Threads/ { print $2 }' "/proc/$pid/status")
awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$hz" -v rss="$rss" -v th="$threads" -v pid="$pid" \
  'BEGIN { printf "idle vmlab tui (pid %d, comm vmlab, %d threads), 4-node lab: %.2f%% of one core over %.1f s (%d ticks); RSS %.1f MiB\n", pid, th, (b - a) / hz / (e - s) * 100, e - s, b - a, rss / 1024 }'
