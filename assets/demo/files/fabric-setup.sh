# Run by the router guest before FRR starts: jumbo frames on every fabric port.
# The fabric is numbered 10.1.0.0/16 and 10.255.0.0/16: 10.0.2.0/24 is every guest's management
# network (QEMU's user network, its gateway 10.0.2.2), so no fabric address may fall in it.
# (The guest has named its ports as the topology does; eth0 is management.)
for p in /sys/class/net/Ethernet*; do
  ip link set dev "${p##*/}" mtu 9000
done
