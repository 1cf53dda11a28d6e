#!/usr/bin/env bash
# What the release profile's LTO buys: builds the vmlab binary three ways (stripped only;
# stripped + thin LTO; stripped + fat LTO in one codegen unit, the profile in Cargo.toml) in
# separate target directories, and prints each binary's size, the clean build time (dependencies
# included) and the time to rebuild after touching vmlab's own code. Results: BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
now() { date +%s.%N; }
for v in strip thin fat; do
  case $v in
    strip) cfg=(--config 'profile.release.lto=false' --config 'profile.release.codegen-units=16') ;;
    thin) cfg=(--config 'profile.release.lto="thin"' --config 'profile.release.codegen-units=16') ;;
    fat) cfg=() ;;
  esac
  export CARGO_TARGET_DIR=target/release-profile-$v
  rm -rf "$CARGO_TARGET_DIR"
  t0=$(now)
  cargo build -q --release --locked --bin vmlab "${cfg[@]}"
  t1=$(now)
  touch src/lib.rs
  cargo build -q --release --locked --bin vmlab "${cfg[@]}"
  t2=$(now)
  printf '%-5s  size %8d bytes  clean build %5.0f s  rebuild %4.0f s\n' "$v" \
    "$(stat -c %s "$CARGO_TARGET_DIR/release/vmlab")" \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
done
