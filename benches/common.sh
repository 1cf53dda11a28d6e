# Sourced by the VM benchmark scripts (`. benches/common.sh`, from the project root): builds
# vmlab (release) and the tiny guest image; gives $vmlab, $image, now(), and:
#   bench_home PREFIX LAB    a private work directory ($work) with its own VMLAB_HOME; on exit
#                            it runs bench_cleanup (if the script defines one), destroys lab
#                            LAB there and removes the directory
#   demo_specs CONSOLE SSH   the 4-node demo lab in $work/specs, on the tiny image, with its own
#                            console and SSH port bases
cargo build --release -q
vmlab=$PWD/target/release/vmlab
image=$PWD/target/vmlab-guest/tiny.qcow2
[ -f "$image" ] || bash assets/guest/build-image.sh "$image"
now() { date +%s.%N; }

bench_home() {
  work=$(mktemp -d "/tmp/$1.XXXX")
  export VMLAB_HOME=$work/home
  bench_lab=$2
  trap 'if declare -F bench_cleanup >/dev/null; then bench_cleanup; fi
        "$vmlab" destroy --force --lab "$bench_lab" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
}

demo_specs() {
  mkdir -p "$work/specs"
  cp -r assets/demo/. "$work/specs/"
  sed -i "s#\"vmlab-tiny\"#\"$image\"#" "$work/specs/platforms.json"
  sed -i "s/\"console_port_base\": 30000/\"console_port_base\": $1/; s/\"ssh_port_base\": 40000/\"ssh_port_base\": $2/" \
    "$work/specs/topology.json"
}
