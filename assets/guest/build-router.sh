#!/usr/bin/env bash
# Builds vmlab's router guest: a bootable qcow2 disk made from Debian's packages only, without
# loop devices, for labs that run real routing software on their links.
#
#   build-router.sh OUT.qcow2
#
# What is in it (Debian bookworm):
#   - Debian's generic kernel (it has the virtio and e1000 NIC drivers, bonding and 8021q; the
#     cloud kernel the tiny guest uses has no e1000), only the modules the guest loads;
#   - FRR (zebra, bgpd, bfdd, staticd on; the "datacenter" timers), lldpd, dropbear (SSH),
#     iproute2, iputils ping, tcpdump, iperf3, ethtool, ifenslave, busybox; no systemd.
# How it is made: mmdebstrap installs the packages into a folder, the folder becomes a
# squashfs image, and grub-mkrescue puts it with the kernel and a small initramfs on a hybrid
# ISO that is converted to qcow2. At boot the root is the squashfs under a RAM overlay: the
# guest writes only to RAM and the disk never changes, so a snapshot holds all the guest did.
#
# The kernel keeps time by the HPET (clocksource=hpet): under TCG the TSC follows the host's
# clock across a snapshot restore, so a TSC guest comes back with every BFD and BGP timer
# expired; QEMU's HPET counts the VM's clock, which the snapshot saves.
#
# The guest at boot (its /init, below):
#   - prints GRUB and kernel output on ttyS0, the serial console vmlab serves and logs;
#   - reads what vmlab puts in the VM through QEMU's fw_cfg (opt/vmlab/<name>):
#       hostname    the node's name (vmlab gives it to every node)
#       interfaces  "MAC NAME;MAC NAME;...": the NIC with that MAC is renamed NAME, so the
#                   guest's ports carry the topology's names (Ethernet0, ...)
#       setup.sh    run before the daemons start (MTU, bonds, VLANs, addresses)
#       frr.conf    FRR's configuration (/etc/frr/frr.conf)
#       lldpd.conf  lldpd commands (/etc/lldpd.d/lab.conf)
#     the last three come from the node's `vm_files` (profile or platform);
#   - gives eth0 (management, QEMU user networking) 10.0.2.15/24, starts FRR and lldpd
#     (LLDP on every port but eth0, port IDs by name, a frame every 2 s), then dropbear on
#     port 22 for user "admin", password "YourPaSsWoRd" (uid 0), and a root shell on ttyS0.
# Needs: mmdebstrap (and Debian's package registry), apt-get, dpkg-deb, busybox-static, cpio,
#        zstd, squashfs-tools, grub-pc-bin, xorriso, mtools, qemu-utils, openssl (installed by
#        scripts/setup).
set -euo pipefail

out=${1:?usage: build-router.sh OUT.qcow2}
user=${VMLAB_GUEST_USER:-admin}
pass=${VMLAB_GUEST_PASS:-YourPaSsWoRd}
suite=${VMLAB_ROUTER_SUITE:-bookworm}
mirror=${VMLAB_ROUTER_MIRROR:-http://deb.debian.org/debian}

for tool in mmdebstrap apt-get dpkg-deb cpio zstd mksquashfs grub-mkrescue xorriso qemu-img openssl depmod dropbearkey; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || [ -x "/sbin/$tool" ] \
    || { echo "build-router: '$tool' is missing: run scripts/setup (or .ci/run) to install it" >&2; exit 1; }
done
PATH=$PATH:/usr/sbin:/sbin

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root

# 1. The packages, into a folder (no man pages, docs or translations).
packages=mount,frr,lldpd,dropbear-bin,iproute2,iputils-ping,tcpdump,iperf3,ethtool,ifenslave,kmod,procps,busybox
echo "build-router: installing $packages from $suite"
mmdebstrap --quiet --variant=essential --include="$packages" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
  "$suite" "$root" "$mirror"

# 2. The kernel: Debian's generic one, unpacked (not installed: that would run initramfs-tools).
kernel_package() {
  apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}
kpkg=$(kernel_package)
if [ -z "$kpkg" ] && [ "$(id -u)" -eq 0 ]; then
  apt-get update -q >/dev/null
  kpkg=$(kernel_package)
fi
[ -n "$kpkg" ] || { echo "build-router: apt knows no linux-image-amd64: run apt-get update" >&2; exit 1; }
(cd "$work" && apt-get download -q "$kpkg" >/dev/null 2>&1 || apt-get download "$kpkg")
dpkg-deb -x "$work"/linux-image-*.deb "$work/k"
kernel=$(ls -1 "$work"/k/boot/vmlinuz-* | head -n 1)
kver=${kernel##*/vmlinuz-}
kmods=$work/k/lib/modules/$kver
depmod -b "$work/k" "$kver"
# The modules the guest loads, with everything they depend on.
want="virtio_pci virtio_net virtio_blk e1000 qemu_fw_cfg bonding 8021q"
mkdir -p "$root/lib/modules/$kver"
cp "$kmods"/modules.builtin* "$kmods"/modules.order "$root/lib/modules/$kver/"
for m in $want; do
  modprobe -d "$work/k" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | sort -u | while read -r f; do
  rel=${f#"$kmods"/}
  mkdir -p "$root/lib/modules/$kver/$(dirname "$rel")"
  cp "$f" "$root/lib/modules/$kver/$rel"
done
depmod -b "$root" "$kver"

# 3. Users, SSH, FRR, lldpd.
hash=$(openssl passwd -6 -salt vmlabrouter "$pass")
sed -i "s|^root:[^:]*:|root:*:|" "$root/etc/shadow"
echo "$user:x:0:0:$user:/root:/bin/bash" >> "$root/etc/passwd"
echo "$user:$hash:19000:0:99999:7:::" >> "$root/etc/shadow"
mkdir -p "$root/etc/dropbear"
# Host keys made here: dropbear -R would make them at the first connection, and an RSA key
# takes a TCG guest long enough for a deploy to give up on its SSH.
for t in rsa ecdsa ed25519; do
  dropbearkey -t "$t" -f "$root/etc/dropbear/dropbear_${t}_host_key" >/dev/null 2>&1
done
printf '127.0.0.1 localhost\n' > "$root/etc/hosts"
cat > "$root/root/.profile" <<'PROFILE'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PS1='\h:\w# '
PROFILE
sed -i -e 's/^bgpd=no/bgpd=yes/' -e 's/^bfdd=no/bfdd=yes/' -e 's/^staticd=no/staticd=yes/' \
  "$root/etc/frr/daemons"
grep -q '^frr_profile=' "$root/etc/frr/daemons" \
  && sed -i 's/^frr_profile=.*/frr_profile="datacenter"/' "$root/etc/frr/daemons" \
  || echo 'frr_profile="datacenter"' >> "$root/etc/frr/daemons"
printf 'service integrated-vtysh-config\n' > "$root/etc/frr/vtysh.conf"
mkdir -p "$root/etc/lldpd.d"
cat > "$root/etc/lldpd.d/vmlab.conf" <<'LLDP'
configure system interface pattern *,!eth0,!lo
configure lldp portidsubtype ifname
configure lldp tx-interval 2
LLDP
# Daemons this guest never runs.
for d in babeld eigrpd fabricd isisd ldpd nhrpd ospf6d ospfd pathd pbrd pimd ripd ripngd vrrpd; do
  rm -f "$root/usr/lib/frr/$d"
done
rm -rf "$root/var/cache/apt" "$root/var/lib/apt/lists" "$root/usr/share/zoneinfo"

cat > "$root/init" <<'INIT'
#!/bin/sh
# vmlab router guest: no systemd; this script brings the router up.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
# The first stage (the initramfs) hands these over mounted.
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/frr /run/lldpd /run/lock /var/log/frr /etc/vmlab
chown frr:frr /run/frr /var/log/frr
modprobe -a virtio_pci virtio_net virtio_blk e1000 qemu_fw_cfg 8021q
modprobe bonding max_bonds=0
fw=/sys/firmware/qemu_fw_cfg/by_name/opt/vmlab
get() { [ -r "$fw/$1/raw" ] && cat "$fw/$1/raw"; }
name=$(get hostname || true)
echo "${name:-router}" > /etc/hostname
hostname -F /etc/hostname
printf '127.0.1.1 %s\n' "$(hostname)" >> /etc/hosts
ip link set lo up
# A router forwards (Linux does not by default, and zebra does not turn it on).
sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# NICs appear as their drivers probe; wait for the management NIC.
i=0; while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
# Data NICs take the topology's names: first out of the way, then to the name.
{ get interfaces; echo; } | tr ';' '\n' > /etc/vmlab/interfaces
n=0
while read -r mac want; do
  [ -n "$want" ] || continue
  for d in /sys/class/net/*; do
    [ "$(cat "$d/address" 2>/dev/null)" = "$mac" ] || continue
    ip link set dev "${d##*/}" name "vmlabtmp$n" && n=$((n+1))
  done
done < /etc/vmlab/interfaces
n=0
while read -r mac want; do
  [ -n "$want" ] || continue
  ip link set dev "vmlabtmp$n" name "$want" 2>/dev/null \
    || echo "vmlab: cannot name a port $want; it stays vmlabtmp$n"
  n=$((n+1))
done < /etc/vmlab/interfaces
for d in /sys/class/net/*; do [ -d "$d" ] && ip link set "${d##*/}" up; done
# virtio NICs report no speed or duplex, and an 802.3ad bond aggregates no port without them:
# data ports say 10G full duplex, as a switch port would (e1000 reports its own).
for d in /sys/class/net/*; do
  [ -e "$d/device" ] && [ "${d##*/}" != eth0 ] || continue
  ethtool -s "${d##*/}" speed 10000 duplex full 2>/dev/null || true
done
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
if get setup.sh > /etc/vmlab/setup.sh; then
  sh -x /etc/vmlab/setup.sh > /var/log/vmlab-setup.log 2>&1 \
    || echo "vmlab: setup.sh failed: see /var/log/vmlab-setup.log"
fi
if get frr.conf > /etc/frr/frr.conf.new; then mv /etc/frr/frr.conf.new /etc/frr/frr.conf; fi
rm -f /etc/frr/frr.conf.new
chown frr:frr /etc/frr/frr.conf
get lldpd.conf > /etc/lldpd.d/lab.conf || rm -f /etc/lldpd.d/lab.conf
/usr/lib/frr/frrinit.sh start > /var/log/frr-start.log 2>&1 || echo "vmlab: FRR did not start: see /var/log/frr-start.log"
# On a slow (TCG) guest watchfrr can restart daemons one by one while they start, and a daemon
# restarted so misses the configuration: once all four answer, it is applied again (FRR takes
# the same configuration twice without change).
i=0
up() { d=$(vtysh -c 'show daemons' 2>/dev/null); for x in zebra bgpd staticd bfdd; do
  case " $d " in *" $x "*) ;; *) return 1 ;; esac; done; }
until up || [ $i -ge 120 ]; do
  sleep 0.5; i=$((i+1))
done
[ $i -lt 120 ] || echo "vmlab: FRR's daemons did not all answer within 60 s"
echo "vmlab: FRR's daemons answer ($(cut -d' ' -f1 /proc/uptime) s after boot); applying its configuration"
vtysh -b >> /var/log/frr-start.log 2>&1 || echo "vmlab: FRR's configuration did not apply: see /var/log/frr-start.log"
lldpd
dropbear -R -p 22
echo "vmlab router guest $(hostname): $(ls -d /sys/class/net/*/ | grep -vc '/lo/$') NICs, FRR and lldpd started, ssh on eth0 ($(cut -d' ' -f1 /proc/uptime) s after boot)"
while true; do setsid busybox cttyhack /bin/bash -l; sleep 1; done
INIT
chmod 755 "$root/init"

# 4. The root file system as a squashfs image on a bootable ISO, as qcow2. GRUB loads only the
#    kernel and a small initramfs through the BIOS (slow under TCG: loading the whole root as an
#    initramfs took most of a boot); the kernel reads the root from the disk as it needs it.
iso=$work/iso
mkdir -p "$iso/boot/grub"
cp "$kernel" "$iso/boot/vmlinuz"
mksquashfs "$root" "$iso/root.sfs" -comp lz4 -noappend -no-progress -e boot >/dev/null
# The small initramfs: static busybox, the modules that mount the root, and an init that puts
# the squashfs under a RAM overlay (the guest writes only to RAM: the disk never changes, so a
# snapshot of the VM's memory holds everything the guest changed) and starts the root's /init.
ini=$work/initramfs
mkdir -p "$ini/bin" "$ini/lib/modules" "$ini/dev" "$ini/proc" "$ini/sys" "$ini/iso" \
  "$ini/lower" "$ini/rw" "$ini/newroot"
[ -x /bin/busybox ] || { echo "build-router: need busybox-static (/bin/busybox)" >&2; exit 1; }
cp /bin/busybox "$ini/bin/busybox"
for m in virtio_pci virtio_blk isofs loop squashfs overlay; do
  modprobe -d "$work/k" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r f; do
  cp "$f" "$ini/lib/modules/"
  basename "$f" >> "$ini/modules"
done
cat > "$ini/init" <<'EARLY'
#!/bin/busybox sh
# vmlab router guest, first stage: mount the root (a squashfs on the boot disk) under a RAM
# overlay, then hand over to its /init.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
while read -r m; do insmod "/lib/modules/$m" 2>/dev/null; done < /modules
found=
i=0
while [ -z "$found" ] && [ $i -lt 100 ]; do
  for d in /dev/vd? /dev/sd? /dev/sr?; do
    [ -b "$d" ] || continue
    mount -t iso9660 -o ro "$d" /iso 2>/dev/null || continue
    if [ -f /iso/root.sfs ]; then found=$d; break; fi
    umount /iso
  done
  [ -n "$found" ] || { sleep 0.1; i=$((i+1)); }
done
fail() { echo "vmlab router guest: $*"; exec sh; }
[ -n "$found" ] || fail "no disk with root.sfs"
mount -t squashfs -o loop,ro /iso/root.sfs /lower || fail "cannot mount root.sfs"
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot \
  || fail "cannot mount the overlay"
for m in dev proc sys; do mount --move "/$m" "/newroot/$m"; done
exec switch_root /newroot /init
EARLY
chmod 755 "$ini/init"
(cd "$ini" && find . -print | cpio -o -H newc --quiet) | zstd -q -T0 -12 > "$iso/boot/initrd.zst"
cat > "$iso/boot/grub/grub.cfg" <<'GRUB'
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
menuentry "vmlab router guest" {
  linux /boot/vmlinuz console=ttyS0,115200 net.ifnames=0 panic=5 loglevel=4 clocksource=hpet
  initrd /boot/initrd.zst
}
GRUB
grub-mkrescue -o "$work/disk.iso" "$iso" >/dev/null 2>&1 \
  || { echo "build-router: grub-mkrescue failed (need grub-pc-bin, xorriso, mtools)" >&2; grub-mkrescue -o "$work/disk.iso" "$iso"; exit 1; }
mkdir -p "$(dirname "$out")"
qemu-img convert -q -O qcow2 "$work/disk.iso" "$out.tmp"
mv "$out.tmp" "$out"
echo "built $out ($(du -h "$out" | cut -f1)) with kernel $kver"
