# L2 side of pcow-fio-bench: PMVM_ARG = MODE:OPS, MODE one of
#   pmem-new    fsdax namespace, ext4 -o dax on /dev/pmem0, a 64 MiB file
#   pmem-again  mount the existing file system (-o dax), the same file
#   vda         ext4 on /dev/vda, a 64 MiB file
# then randio (4 KiB O_DIRECT, queue depth 1) writes, then reads, OPS each.
mode=${PMVM_ARG%%:*} ops=${PMVM_ARG#*:}
ndctl=/usr/bin/ndctl
mkdir -p /mnt
wait_dev() { for i in $(seq 1 100); do [ -b "$1" ] && return 0; sleep 0.1; done; echo "NODEV=$1"; exit 1; }
case $mode in
pmem-new)
	wait_dev /dev/pmem0
	$ndctl create-namespace -f -e namespace0.0 -m fsdax -M mem >/dev/null 2>&1 || echo "FSDAX=fail"
	wait_dev /dev/pmem0
	/usr/sbin/mke2fs -q -F -t ext4 -b 4096 /dev/pmem0 || echo "MKFS=fail"
	mount -t ext4 -o dax /dev/pmem0 /mnt || echo "MOUNT=fail"
	dd if=/dev/zero of=/mnt/f bs=1M count=64 conv=fsync 2>/dev/null || echo "LAYOUT=fail"
	;;
pmem-again)
	wait_dev /dev/pmem0
	mount -t ext4 -o dax /dev/pmem0 /mnt || echo "MOUNT=fail"
	;;
vda)
	wait_dev /dev/vda
	/usr/sbin/mke2fs -q -F -t ext4 -b 4096 /dev/vda || echo "MKFS=fail"
	mount -t ext4 /dev/vda /mnt || echo "MOUNT=fail"
	dd if=/dev/zero of=/mnt/f bs=1M count=64 conv=fsync 2>/dev/null || echo "LAYOUT=fail"
	;;
esac
case $mode in pmem*)
	grep -q ' /mnt .*dax' /proc/mounts && [ "$(cat /sys/block/pmem0/queue/dax 2>/dev/null)" = 1 ] &&
		echo "DAX=ok"
esac
randio /mnt/f write "$ops" 1
randio /mnt/f read "$ops" 1
umount /mnt
