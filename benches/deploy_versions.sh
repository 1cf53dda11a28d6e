#!/usr/bin/env bash
# Did a change make deploy slower? `vmlab deploy` of the 4-node demo lab (tiny guests, TCG) to
# every node ready, with this tree's vmlab and with an older revision's, alternating in one run
# (each from its own VMLAB_HOME, the same spec, the same ports; which goes first alternates
# too, so neither always follows the other's teardown). Prints both times per round and the
# ratio this/old.
#
#   benches/deploy_versions.sh OLD_REV [ROUNDS]   (needs scripts/setup; builds both releases)
set -euo pipefail
cd "$(dirname "$0")/.."
old_rev=${1:?name the older revision to compare with}
rounds=${2:-5}
. benches/common.sh

# The older revision, built once into its own target directory.
old_src=$PWD/target/old-src
old_bin=$PWD/target/old-$(git rev-parse --short "$old_rev")/release/vmlab
if [ ! -x "$old_bin" ]; then
  rm -rf "$old_src"
  git worktree prune
  git worktree add -q --detach "$old_src" "$old_rev"
  (cd "$old_src" && CARGO_TARGET_DIR=$(dirname "$(dirname "$old_bin")") cargo build --release -q)
  git worktree remove --force "$old_src"
fi

bench_home vdver demo
demo_specs 29100 31100
round() {
  local bin=$1 home=$2
  local t0; t0=$(now)
  VMLAB_HOME=$home "$bin" deploy -S "$work/specs" --accel tcg >/dev/null 2>&1
  local t1; t1=$(now)
  VMLAB_HOME=$home "$bin" destroy --lab demo >/dev/null
  awk "BEGIN { print $t1 - $t0 }"
}
bench_cleanup() {
  VMLAB_HOME=$work/old "$old_bin" destroy --force --lab demo >/dev/null 2>&1 || true
  VMLAB_HOME=$work/new "$vmlab" destroy --force --lab demo >/dev/null 2>&1 || true
}

echo "round  old_s  this_s  ratio   (old: $(git rev-parse --short "$old_rev"))"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then
    o=$(round "$old_bin" "$work/old"); n=$(round "$vmlab" "$work/new")
  else
    n=$(round "$vmlab" "$work/new"); o=$(round "$old_bin" "$work/old")
  fi
  printf '%5d  %5.2f  %6.2f  %5.3f\n' "$r" "$o" "$n" "$(awk "BEGIN { print $n / $o }")"
done
