# L2 side of nvdimm-linux: PMVM_ARG = write | verify | readonly.
ndctl=/usr/bin/ndctl
mkdir -p /mnt
for i in $(seq 1 50); do [ -b /dev/pmem0 ] && break; sleep 0.2; done
ls /sys/bus/nd/devices 2>&1 | tr '\n' ' ' | sed 's/^/ND_DEVICES: /'; echo
dax_check() { # DAX really in effect: mount option and the block device's dax capability
	grep -q '/mnt .*dax' /proc/mounts && [ "$(cat /sys/block/pmem0/queue/dax 2>/dev/null)" = 1 ] &&
		echo "DAX_MOUNT=ok ($(grep ' /mnt ' /proc/mounts))"
	dmesg | grep -i 'dax' | tail -3 | sed 's/^/DMESG: /'
}
case $PMVM_ARG in
write)
	echo NDCTL-BEGIN; $ndctl list -DRN 2>&1; echo NDCTL-END
	echo "DIMMS=$($ndctl list -D 2>/dev/null | grep -c '"dev":"nmem')"
	echo "REGIONS=$($ndctl list -R 2>/dev/null | grep -c '"dev":"region')"
	# --map=mem: struct pages in RAM, so a later read-only boot never writes the DIMM
	$ndctl create-namespace -f -e namespace0.0 -m fsdax -M mem 2>&1 && echo "FSDAX=ok"
	$ndctl list -N -r region0 2>&1
	/usr/sbin/mke2fs -q -F -t ext4 -b 4096 /dev/pmem0 || echo "MKFS=fail"
	mount -t ext4 -o dax /dev/pmem0 /mnt || echo "MOUNT=fail"
	dax_check
	dd if=/dev/urandom of=/mnt/data bs=65536 count=64 2>/dev/null
	echo "SUM=$(sha256sum /mnt/data | cut -d' ' -f1)"
	sync
	# Labelled namespaces on DIMM 1: initialise its label area, then two
	# namespaces in region1.
	$ndctl disable-region region1 2>&1
	$ndctl init-labels -f nmem1 2>&1
	$ndctl enable-region region1 2>&1
	$ndctl create-namespace -r region1 -m raw -s 16M 2>&1 >/dev/null &&
		$ndctl create-namespace -r region1 -m raw -s 32M 2>&1 >/dev/null
	n=$($ndctl list -N -r region1 2>/dev/null | grep -c '"dev":"namespace')
	echo "REGION1_NS=$n"
	[ "$n" = 2 ] && echo "LABELS=ok"
	$ndctl list -N -r region1 2>&1
	sync
	# power off without unmounting: the data must already be durable
	;;
verify)
	$ndctl list -N 2>&1
	mode=$($ndctl list -N -n namespace0.0 2>/dev/null | sed -n 's/.*"mode":"\([a-z]*\)".*/\1/p')
	echo "NS0_MODE=$mode"
	mount -t ext4 -o dax /dev/pmem0 /mnt || echo "MOUNT=fail"
	dax_check
	echo "SUM=$(sha256sum /mnt/data | cut -d' ' -f1)"
	echo "REGION1_NS=$($ndctl list -N -r region1 2>/dev/null | grep -c '"dev":"namespace')"
	umount /mnt
	;;
readonly)
	echo "REGION_RO=$(cat /sys/bus/nd/devices/region0/read_only 2>/dev/null)"
	echo "DISK_RO=$(cat /sys/block/pmem0/ro 2>/dev/null)"
	mount -t ext4 -o ro,noload /dev/pmem0 /mnt && echo "RO_MOUNT=ok"
	grep ' /mnt ' /proc/mounts
	echo "SUM=$(sha256sum /mnt/data | cut -d' ' -f1)"
	if dd if=/dev/zero of=/dev/pmem0 bs=4096 count=1 seek=100 conv=fsync 2>/dev/null; then
		echo "RO_WRITE=succeeded"
	else
		echo "RO_WRITE=refused"
	fi
	umount /mnt
	;;
esac
