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
