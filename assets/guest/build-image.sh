#!/usr/bin/env bash
# Builds vmlab's tiny test and demo guest: a bootable qcow2 disk (~27 MB) made from Debian
# packages without root and without loop devices.
#
#   build-image.sh OUT.qcow2
#
# The disk is a hybrid ISO (grub-mkrescue) holding Debian's cloud kernel and an initramfs with
# busybox, dropbear, iproute2's ip (for network namespaces: coalesced hosts) and the virtio
# modules, converted to qcow2. The guest:
#   - prints GRUB and kernel output on ttyS0 (the serial console vmlab serves and logs),
#   - brings every eth* up, gives eth0 (the management NIC, QEMU user networking) 10.0.2.15/24,
#   - runs dropbear on port 22 accepting user "admin" with password "YourPaSsWoRd" (uid 0, so
#     tests can configure interfaces), and a root shell on ttyS0.
# Needs: busybox-static dropbear-bin linux-image-cloud-amd64 grub-pc-bin xorriso mtools cpio
#        qemu-utils openssl iproute2 (installed by .ci/run and scripts/setup).
set -euo pipefail

out=${1:?usage: build-image.sh OUT.qcow2}
user=${VMLAB_GUEST_USER:-admin}
pass=${VMLAB_GUEST_PASS:-YourPaSsWoRd}

kernel=$(ls -1 /boot/vmlinuz-*-cloud-amd64 2>/dev/null | sort -V | tail -n 1)
[ -n "$kernel" ] || { echo "build-image: no /boot/vmlinuz-*-cloud-amd64: install linux-image-cloud-amd64" >&2; exit 1; }
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver
for tool in busybox dropbear dropbearkey grub-mkrescue xorriso cpio qemu-img openssl; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || [ -x "/usr/bin/$tool" ] \
    || { echo "build-image: '$tool' is missing: run scripts/setup (or .ci/run) to install it" >&2; exit 1; }
done
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "build-image: need busybox-static (/bin/busybox)" >&2; exit 1; }
dropbear=$(command -v dropbear || echo /usr/sbin/dropbear)
ip=$(command -v ip || echo /usr/sbin/ip)
[ -x "$ip" ] || { echo "build-image: need iproute2's ip: install iproute2" >&2; exit 1; }
dropbearkey=$(command -v dropbearkey || echo /usr/bin/dropbearkey)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,etc/dropbear,proc,sys,dev,tmp,root,run,var/log,lib/modules,usr/bin,usr/sbin}

cp "$busybox" "$root/bin/busybox"
cp "$dropbear" "$root/sbin/dropbear"
# iproute2's ip, which init puts where busybox links its own (that one has no `ip netns`).
cp -L "$ip" "$root/usr/sbin/ip"
# Both are dynamically linked: copy the loader and every library ldd names.
{ ldd "$dropbear"; ldd "$ip"; } | awk '/=>/ {print $3} $1 ~ /^\// {print $1}' | sort -u | while read -r lib; do
  [ -f "$lib" ] || continue
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done

mods="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net virtio_blk"
for m in $mods; do
  f=$(find "$moddir" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n 1)
  [ -n "$f" ] || { echo "build-image: module $m not found under $moddir" >&2; exit 1; }
  case "$f" in
    *.xz) xz -dc "$f" > "$root/lib/modules/$m.ko" ;;
    *.zst) zstd -dc "$f" > "$root/lib/modules/$m.ko" ;;
    *) cp "$f" "$root/lib/modules/$m.ko" ;;
  esac
done

hash=$(openssl passwd -6 -salt vmlabguest "$pass")
cat > "$root/etc/passwd" <<PASSWD
root:x:0:0:root:/root:/bin/sh
$user:x:0:0:$user:/root:/bin/sh
PASSWD
cat > "$root/etc/shadow" <<SHADOW
root:*:19000:0:99999:7:::
$user:$hash:19000:0:99999:7:::
SHADOW
chmod 600 "$root/etc/shadow"
printf 'root:x:0:\n' > "$root/etc/group"
printf '/bin/sh\n' > "$root/etc/shells"
printf 'vmlab\n' > "$root/etc/hostname"
cat > "$root/etc/profile" <<'PROFILE'
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export PS1='\h:\w# '
PROFILE
"$dropbearkey" -t ed25519 -f "$root/etc/dropbear/dropbear_ed25519_host_key" >/dev/null 2>&1

cat > "$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
ln -sf /usr/sbin/ip /bin/ip
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
# ip netns keeps its namespaces under /run/netns.
mount -t tmpfs tmpfs /run
for m in $mods; do insmod /lib/modules/\$m.ko; done
hostname -F /etc/hostname
ip link set lo up
# NICs appear as their drivers probe; wait for the management NIC.
i=0; while [ ! -e /sys/class/net/eth0 ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done
for n in /sys/class/net/eth*; do ip link set "\${n##*/}" up; done
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
/sbin/dropbear -R -p 22
echo "vmlab tiny guest: \$(ls /sys/class/net | grep -c eth) NICs, ssh on eth0"
while true; do setsid cttyhack sh -l; done
INIT
chmod 755 "$root/init"

iso=$work/iso
mkdir -p "$iso/boot/grub"
cp "$kernel" "$iso/boot/vmlinuz"
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -9 > "$iso/boot/initrd.gz"
cat > "$iso/boot/grub/grub.cfg" <<'GRUB'
serial --unit=0 --speed=115200
terminal_input serial
terminal_output serial
set timeout=0
menuentry "vmlab tiny guest" {
  linux /boot/vmlinuz console=ttyS0,115200 panic=5 loglevel=4
  initrd /boot/initrd.gz
}
GRUB
grub-mkrescue -o "$work/disk.iso" "$iso" >/dev/null 2>&1 \
  || { echo "build-image: grub-mkrescue failed (need grub-pc-bin, xorriso, mtools)" >&2; grub-mkrescue -o "$work/disk.iso" "$iso"; exit 1; }
mkdir -p "$(dirname "$out")"
qemu-img convert -q -O qcow2 "$work/disk.iso" "$out.tmp"
mv "$out.tmp" "$out"
echo "built $out ($(du -h "$out" | cut -f1))"
