# L2 side of blk-disk-linux and blk-nvme-linux (the same script in both).
# PMVM_ARG=write: check the disk Linux found (virtio_mmio via ACPI LNRO0005,
# serial, queues, discard), make ext4, write files with known checksums,
# fstrim, sync, unmount. PMVM_ARG=verify: mount and check the checksums.
# PMVM_ARG=verify-ro: the same on a read-only disk, and a write must fail.
dev=
for i in $(seq 1 100); do
	[ -b /dev/vda ] && dev=/dev/vda && break
	sleep 0.1
done
[ -n "$dev" ] || { echo "NODISK=1"; ls /sys/bus/virtio/devices /sys/bus/platform/devices 2>&1 | head -20; exit 1; }
echo "DISK=$dev"
echo "SERIAL=$(cat /sys/block/vda/serial 2>/dev/null)"
echo "SIZE=$(cat /sys/block/vda/size)"
echo "QUEUES=$(ls /sys/block/vda/mq 2>/dev/null | wc -l)"
echo "RO=$(cat /sys/block/vda/ro)"
echo "DISCARD_MAX=$(cat /sys/block/vda/queue/discard_max_bytes)"
echo "WZ_MAX=$(cat /sys/block/vda/queue/write_zeroes_max_bytes)"
echo "CACHE=$(cat /sys/block/vda/queue/write_cache)"
mkdir -p /mnt
case $PMVM_ARG in
write)
	/usr/sbin/mke2fs -q -F -t ext4 $dev || { echo "MKFS=fail"; exit 1; }
	mount -t ext4 $dev /mnt || { echo "MOUNT=fail"; exit 1; }
	dd if=/dev/urandom of=/mnt/a bs=4096 count=1 2>/dev/null
	dd if=/dev/urandom of=/mnt/b bs=65536 count=16 2>/dev/null
	dd if=/dev/urandom of=/mnt/c bs=1000 count=777 2>/dev/null
	mkdir /mnt/d && for i in 1 2 3 4 5 6 7 8; do
		dd if=/dev/urandom of=/mnt/d/f$i bs=512 count=$((i * 17)) 2>/dev/null
	done
	(cd /mnt && sha256sum a b c d/* >/mnt/SUMS)
	sha256sum /mnt/SUMS | cut -d' ' -f1 | sed 's/^/SUMS_HASH=/'
	sync
	fstrim -v /mnt 2>&1 | sed 's/^/FSTRIM: /'
	umount /mnt || { echo "UMOUNT=fail"; exit 1; }
	echo "WRITE=done"
	;;
verify|verify-ro)
	mount -t ext4 -o ro,noload $dev /mnt || { echo "MOUNT=fail"; exit 1; }
	sha256sum /mnt/SUMS | cut -d' ' -f1 | sed 's/^/SUMS_HASH=/'
	if (cd /mnt && sha256sum -c SUMS >/tmp/c.out 2>&1); then
		echo "VERIFY=ok files=$(wc -l </mnt/SUMS)"
	else
		cat /tmp/c.out
		echo "VERIFY=bad"
	fi
	umount /mnt
	[ "$PMVM_ARG" = verify-ro ] || exit 0
	if dd if=/dev/zero of=$dev bs=4096 count=1 conv=fsync 2>/dev/null; then
		echo "WRITE_ON_RO=succeeded"
	else
		echo "WRITE_ON_RO=refused"
	fi
	;;
esac
