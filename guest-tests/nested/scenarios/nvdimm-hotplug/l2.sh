# L2 side of nvdimm-hotplug: PMVM_ARG = hotplug | verify:SHA256.
ndctl=/usr/bin/ndctl
mkdir -p /mnt
wait_for() { # PATH SECS
	i=0
	while [ $i -lt $(($2 * 5)) ]; do [ -e "$1" ] && return 0; sleep 0.2; i=$((i + 1)); done
	return 1
}
dax_check() {
	grep -q '/mnt .*dax' /proc/mounts && [ "$(cat /sys/block/pmem1/queue/dax 2>/dev/null)" = 1 ] &&
		echo "DAX_MOUNT=ok ($(grep ' /mnt ' /proc/mounts))"
}
case $PMVM_ARG in
hotplug)
	wait_for /sys/bus/nd/devices/region0 30 || echo "NO_REGION0=1"
	echo "PMVM-WAIT=add"
	if wait_for /sys/bus/nd/devices/region1 120; then echo "REGION1=up"; else
		echo "REGION1=missing"; ls /sys/bus/nd/devices | tr '\n' ' '; echo
		dmesg | grep -iE 'nfit|nvdimm|ged|acpi' | tail -20 | sed 's/^/DMESG: /'
		exit 0
	fi
	echo "FIT_DIMMS=$(ls -d /sys/bus/nd/devices/nmem* | wc -l)"
	cat /sys/bus/nd/devices/region1/resource /sys/bus/nd/devices/region1/size 2>&1 | tr '\n' ' '; echo
	ns=$(ls -d /sys/bus/nd/devices/region1/namespace1.* 2>/dev/null | head -n1)
	$ndctl create-namespace -f -e "${ns##*/}" -m fsdax -M mem 2>&1 && echo "FSDAX=ok"
	wait_for /dev/pmem1 30 || echo "NO_PMEM1=1"
	/usr/sbin/mke2fs -q -F -t ext4 -b 4096 /dev/pmem1 || echo "MKFS=fail"
	mount -t ext4 -o dax /dev/pmem1 /mnt || echo "MOUNT=fail"
	dax_check
	dd if=/dev/urandom of=/mnt/data bs=64k count=64 2>/dev/null
	sync
	echo "WRITTEN=$(sha256sum /mnt/data | cut -c1-64)"
	umount /mnt
	dmesg | grep -iE 'nfit|nvdimm|pmem1' | tail -8 | sed 's/^/DMESG: /'
	;;
verify:*)
	want=${PMVM_ARG#verify:}
	wait_for /dev/pmem1 30 || { echo "NO_PMEM1=1"; ls /sys/bus/nd/devices | tr '\n' ' '; echo; }
	mount -t ext4 -o dax /dev/pmem1 /mnt || echo "MOUNT=fail"
	dax_check
	[ "$(sha256sum /mnt/data 2>/dev/null | cut -c1-64)" = "$want" ] && echo "VERIFY=ok"
	umount /mnt
	;;
esac
