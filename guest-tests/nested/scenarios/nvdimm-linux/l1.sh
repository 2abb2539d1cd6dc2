# L1 side of nvdimm-linux (see scenario.conf).
a=$RUNDIR/pmem-a.img b=$RUNDIR/pmem-b.img
L2_TIMEOUT=150

L2_APPEND="pmvm.arg=write"
l2_boot --nvdimm "$a,size=64M" --nvdimm "$b,size=64M"
expect_exit 0
note "ndctl list -DRN (boot 1):"; tr -d '\r' <"$L2_OUT" | sed -n '/^NDCTL-BEGIN/,/^NDCTL-END/p'
[ "$(out_value DIMMS)" = 2 ] || fail "ndctl shows '$(out_value DIMMS)' DIMMs, expected 2"
[ "$(out_value REGIONS)" = 2 ] || fail "ndctl shows '$(out_value REGIONS)' regions, expected 2"
expect_out '^FSDAX=ok' "ndctl create-namespace -m fsdax failed"
expect_out '^DAX_MOUNT=ok' "ext4 with -o dax did not mount with DAX in effect"
expect_out '^LABELS=ok' "init-labels + two namespaces in region1 failed"
sum=$(out_value SUM)
[ -n "$sum" ] || fail "no checksum written"
flushes=$(sed -n 's/.*nvdimm 0: .*: \([0-9]*\) flushes.*/\1/p' "$L2_ERR")
note "vmm: $(grep 'nvdimm' "$L2_ERR" | tr '\n' ' ')"
[ "${flushes:-0}" -gt 0 ] || fail "the guest's sync never reached DIMM 0's flush hint"

L2_APPEND="pmvm.arg=verify"
l2_boot --nvdimm "$a" --nvdimm "$b"
expect_exit 0
expect_out '^NS0_MODE=fsdax' "namespace0.0 is not fsdax on the second boot"
expect_out '^DAX_MOUNT=ok' "second boot: no DAX mount"
[ "$(out_value SUM)" = "$sum" ] || fail "checksum '$(out_value SUM)' after reboot, expected '$sum'"
[ "$(out_value REGION1_NS)" = 2 ] || fail "region1 has '$(out_value REGION1_NS)' namespaces after reboot, expected 2"

L2_APPEND="pmvm.arg=readonly"
l2_boot --nvdimm "$a,readonly=on"
expect_exit 0
[ "$(out_value REGION_RO)" = 1 ] || fail "region0 not read-only in the guest"
[ "$(out_value DISK_RO)" = 1 ] || fail "/dev/pmem0 not read-only in the guest"
expect_out '^RO_MOUNT=ok' "read-only mount failed"
[ "$(out_value SUM)" = "$sum" ] || fail "read-only boot: checksum '$(out_value SUM)', expected '$sum'"
expect_out '^RO_WRITE=refused' "a write to the read-only NVDIMM succeeded"
