# L1 side of blk-nvme-linux.
nvme_vfio_bind
note "NVMe $NVME_BDF bound to vfio-pci, group $VFIO_GROUP"
L2_TIMEOUT=240
L2_APPEND="pmvm.arg=write"
l2_boot --nvme "$NVME_BDF"
cat "$L2_ERR"
expect_exit 0
expect_out '^WRITE=done' "L2 did not write its files"
[ "$(out_value SERIAL)" = deadbeef ] || fail "serial '$(out_value SERIAL)', expected the controller's deadbeef"
[ "$(out_value SIZE)" = 2097152 ] || fail "size '$(out_value SIZE)' sectors, expected 2097152"
[ "$(out_value QUEUES)" = 2 ] || fail "guest sees '$(out_value QUEUES)' queues, expected 2"
[ "$(out_value DISCARD_MAX)" != 0 ] || fail "no discard in the guest"
sums=$(out_value SUMS_HASH)
note "written: SUMS_HASH=$sums"

L2_APPEND="pmvm.arg=verify"
l2_boot --nvme "$NVME_BDF,ns=1"
cat "$L2_ERR"
expect_exit 0
expect_out '^VERIFY=ok' "files did not verify on the second boot"
[ "$(out_value SUMS_HASH)" = "$sums" ] || fail "checksum list changed between boots"

/pmvm/bin/nvme-selftest "$NVME_BDF" >st.out 2>&1 || { cat st.out; fail "nvme-selftest failed after vmm"; }
grep -q '^selftest: PASS' st.out || fail "nvme-selftest: no PASS"

# SIGTERM while the guest boots: the first presses the ACPI power button
# (docs/ci.md), the second stops vmm at once (status 4, "stopped by a second
# SIGTERM") unless the guest has powered off on the button by then (status
# 0: 6.12 can be that quick); either way vmm's teardown shuts the controller
# down, and the driver can use it again.
L2_APPEND="pmvm.arg=verify"
l2_start --nvme "$NVME_BDF"
sleep 8
kill -TERM "$L2_PID"
sleep 1
kill -TERM "$L2_PID"
l2_wait
cat "$L2_ERR"
expect_exit 0 4
[ "$VMM_RC" = 0 ] || grep -q "SIGTERM" "$L2_ERR" || fail "vmm did not report SIGTERM"
/pmvm/bin/nvme-selftest "$NVME_BDF" >st.out 2>&1 || { cat st.out; fail "nvme-selftest failed after vmm was stopped by SIGTERM"; }
grep -q '^selftest: PASS' st.out || fail "nvme-selftest: no PASS after SIGTERM"

# The guest's file system is on the controller: hand it to Linux's nvme
# driver in L1 and check it there.
echo "$NVME_BDF" >/sys/bus/pci/drivers/vfio-pci/unbind
echo nvme >/sys/bus/pci/devices/$NVME_BDF/driver_override
echo "$NVME_BDF" >/sys/bus/pci/drivers_probe
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/nvme0n1 ] && break; sleep 1; done
[ -b /dev/nvme0n1 ] || fail "no /dev/nvme0n1 after binding $NVME_BDF to nvme"
/usr/sbin/e2fsck -fn /dev/nvme0n1 >fsck.out 2>&1 || { cat fsck.out; fail "e2fsck in L1 of the guest's file system on the NVMe namespace failed"; }
note "e2fsck in L1 on /dev/nvme0n1: $(tail -n1 fsck.out)"
echo "$NVME_BDF" >/sys/bus/pci/drivers/nvme/unbind
echo vfio-pci >/sys/bus/pci/devices/$NVME_BDF/driver_override
echo "$NVME_BDF" >/sys/bus/pci/drivers_probe
