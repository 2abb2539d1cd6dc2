# L1 side of nvdimm-hotplug (see scenario.conf).
L2_KERNEL=$L2_VMLINUX
L2_TIMEOUT=300
CTL=/pmvm/bin/vmm-ctl
a=$RUNDIR/hp-a.img b=$RUNDIR/hp-b.img sock=$RUNDIR/hp.sock

L2_APPEND="pmvm.arg=hotplug"
up_for_add() { # boot 1 until it waits for the hot-add: 0, or 1 with vmm gone
	rm -f "$a"
	l2_start --nvdimm "$a,size=64M" --nvdimm-slots 2 --control "$sock"
	l2_wait_for '^PMVM-WAIT=add' 240 && return 0
	l2_wait
	return 1
}
if ! up_for_add; then
	# a known fault of QEMU's in L2 (l2_tcg_fault): once more
	case $VMM_RC in 6|8) l2_tcg_fault "$L2_OUT" "$L2_PID" || { l2_show 60; fail "the guest did not come up with its boot DIMM"; } ;;
	*) l2_show 60; fail "the guest did not come up with its boot DIMM" ;;
	esac
	l2_tcg_retry_note L2
	l2_show 40
	up_for_add || { l2_show 60; fail "the guest did not come up with its boot DIMM (second boot)"; }
fi
$CTL "$sock" nvdimm-remove >ctl-rm.out 2>&1 && fail "nvdimm-remove succeeded: $(cat ctl-rm.out)"
grep -q "cannot be removed" ctl-rm.out || fail "nvdimm-remove: $(cat ctl-rm.out)"
$CTL "$sock" nvdimm-add "path=$b,size=64M" >ctl-add.out 2>&1 ||
	{ l2_send "x"; l2_wait; fail "nvdimm-add failed: $(cat ctl-add.out)"; }
note "nvdimm-add: $(cat ctl-add.out)"
grep -q '"nvdimm":1' ctl-add.out || fail "nvdimm-add: not DIMM 1: $(cat ctl-add.out)"
l2_wait
expect_exit 0
l2_show 30
grep -q "nvdimm 1: .*hp-b.img: hot-added at guest 0x" "$L2_ERR" || fail "vmm did not log the hot-add"
expect_out '^REGION1=up' "the hot-added DIMM's region never appeared in the guest"
expect_out '^FIT_DIMMS=2' "the guest's nfit driver does not list both DIMMs"
expect_out '^FSDAX=ok' "ndctl create-namespace -m fsdax on the new region failed"
expect_out '^DAX_MOUNT=ok' "ext4 on the new DIMM is not mounted with DAX in effect"
expect_out '^WRITTEN=' "the guest did not write its file"
sum=$(out_value WRITTEN)

L2_APPEND="pmvm.arg=verify:$sum"
l2_boot --nvdimm "$a" --nvdimm "$b"
expect_exit 0
l2_show 20
expect_out '^DAX_MOUNT=ok' "boot 2: the DIMM added last time does not mount with DAX"
expect_out "^VERIFY=ok" "boot 2: the file written on the hot-added DIMM is not there"
