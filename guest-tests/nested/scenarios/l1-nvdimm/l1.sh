# L1 side of l1-nvdimm.
[ -b /dev/pmem0 ] || fail "no /dev/pmem0 in L1"
note "pmem0: $(cat /sys/block/pmem0/size) sectors"
/usr/bin/ndctl list -R >"$RUNDIR/ndctl" 2>&1 || { cat "$RUNDIR/ndctl"; fail "ndctl list failed"; }
cat "$RUNDIR/ndctl"
grep -q region0 "$RUNDIR/ndctl" || fail "ndctl shows no region0"
