# L1 side of blk-nvme-selftest.
ST=/pmvm/bin/nvme-selftest
bdf=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/class")" = 0x010802 ] && bdf=$(basename "$d") && break
done
[ -n "$bdf" ] || fail "no NVMe controller in L1"

# Before binding: the driver must say what is wrong.
if [ "$(basename "$(readlink /sys/bus/pci/devices/$bdf/driver 2>/dev/null)")" != vfio-pci ]; then
	$ST "$bdf" >st0.out 2>&1 && fail "selftest passed on a device not bound to vfio-pci"
	cat st0.out
	grep -q "not vfio-pci\|not bound to vfio-pci" st0.out || fail "unclear error when not bound: $(cat st0.out)"
fi
$ST 0000:00:1f.7 >st0.out 2>&1 && fail "selftest passed on a missing device"
grep -q "no such PCI device" st0.out || fail "unclear error for a missing device: $(cat st0.out)"

nvme_vfio_bind
note "NVMe $NVME_BDF bound to vfio-pci, group $VFIO_GROUP"
$ST --ns 7 "$NVME_BDF" >st0.out 2>&1 && fail "selftest passed on a missing namespace"
cat st0.out
grep -q "namespace 7 missing" st0.out || fail "unclear error for a missing namespace: $(cat st0.out)"

for pass in 1 2; do
	$ST --queues 2 "$NVME_BDF" >st.out 2>&1
	rc=$?
	cat st.out
	[ $rc = 0 ] || fail "nvme-selftest pass $pass exited $rc: $(grep FAIL st.out | head -3)"
	grep -q "^selftest: PASS" st.out || fail "no PASS line (pass $pass)"
done
