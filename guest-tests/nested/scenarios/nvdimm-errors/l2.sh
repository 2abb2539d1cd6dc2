# L2 side of nvdimm-errors: PMVM_ARG = setup | media | spin.
ndctl=/usr/bin/ndctl
tool=/pmvm/bin/memerr-tool
mkdir -p /mnt
for i in $(seq 1 50); do [ -b /dev/pmem0 ] && break; sleep 0.2; done
start=$(cat /sys/bus/nd/devices/region0/resource 2>/dev/null)
where() { # OFF=<offset in the DIMM> of /mnt/data's byte $1
	p=$($tool where /mnt/data "$1" | sed -n 's/^PHYS=//p')
	echo "PHYS=$p REGION=$start"
	[ -n "$p" ] && [ -n "$start" ] && echo "OFF=$((p - start))"
}
media_errors() { $ndctl list --media-errors -N 2>/dev/null | grep -c '"offset"'; }
case $PMVM_ARG in
setup)
	$ndctl create-namespace -f -e namespace0.0 -m fsdax -M mem 2>&1 && echo "FSDAX=ok"
	/usr/sbin/mke2fs -q -F -t ext4 -b 4096 /dev/pmem0 || echo "MKFS=fail"
	mount -t ext4 -o dax /dev/pmem0 /mnt || echo "MOUNT=fail"
	dd if=/dev/urandom of=/mnt/data bs=4096 count=16 2>/dev/null
	sync
	where 8192
	umount /mnt
	;;
media)
	$ndctl list --media-errors -N 2>&1
	echo "MEDIA_ERRORS=$(media_errors)"
	mount -t ext4 -o dax /dev/pmem0 /mnt || echo "MOUNT=fail"
	$tool read /mnt/data 8192
	echo ALIVE
	# A page-sized, aligned write over the bad block: the DAX recovery
	# write clears the poison through the root _DSM, then writes.
	dd if=/dev/zero of=/mnt/data bs=4096 seek=2 count=1 conv=notrunc,fsync 2>&1 &&
		echo "REWRITE=ok"
	$tool read /mnt/data 8192 | sed 's/^READ=/READ_AFTER=/'
	echo "MEDIA_ERRORS_AFTER=$(media_errors)"
	$ndctl list --media-errors -N 2>&1
	dmesg | grep -iE 'nfit|pmem|badblock|poison' | tail -8 | sed 's/^/DMESG: /'
	umount /mnt
	;;
spin)
	mount -t ext4 -o dax /dev/pmem0 /mnt || echo "MOUNT=fail"
	where 40960
	$tool spin /mnt/data 40960 100
	echo ALIVE
	dmesg | grep -iE 'mce|machine check|memory failure|memory error|hardware error|poison|recover' |
		tail -20 | sed 's/^/DMESG: /'
	umount /mnt 2>/dev/null
	;;
esac
