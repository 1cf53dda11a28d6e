# Sourced by the VM benchmark scripts (`. benches/common.sh PREFIX LAB`, from the project root):
# builds vmlab (release) and the tiny guest image, makes a private work directory with its own
# VMLAB_HOME, and on exit destroys lab LAB there and removes the directory. Gives $vmlab,
# $image, $work, now() and demo_specs.
cargo build --release -q
vmlab=$PWD/target/release/vmlab
image=$PWD/target/vmlab-guest/tiny.qcow2
[ -f "$image" ] || bash assets/guest/build-image.sh "$image"
work=$(mktemp -d "/tmp/$1.XXXX")
export VMLAB_HOME=$work/home
bench_lab=$2
trap '"$vmlab" destroy --force --lab "$bench_lab" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
now() { date +%s.%N; }

# demo_specs CONSOLE_BASE SSH_BASE: the 4-node demo lab in $work/specs, on the tiny image, with
# its own console and SSH port bases.
demo_specs() {
  mkdir -p "$work/specs"
  cp -r assets/demo/. "$work/specs/"
  sed -i "s#~/.vmlab/images/vmlab-tiny.qcow2#$image#" "$work/specs/platforms.json"
  sed -i "s/\"console_port_base\": 30000/\"console_port_base\": $1/; s/\"ssh_port_base\": 40000/\"ssh_port_base\": $2/" \
    "$work/specs/topology.json"
}
