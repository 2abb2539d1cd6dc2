# L1 side of nvdimm-host-pmem (see scenario.conf).
need_vmm
g=/pmvm/guests/pmem.elf
[ -f "$g" ] || fail "$g missing (not built in --build?)"
/usr/bin/ndctl create-namespace -f -e namespace0.0 -m devdax -a 2M >"$RUNDIR/ns" 2>&1 ||
	{ cat "$RUNDIR/ns"; fail "ndctl create-namespace -m devdax failed"; }
for i in 1 2 3 4 5 6 7 8 9 10; do [ -c /dev/dax0.0 ] && break; sleep 0.5; done
[ -c /dev/dax0.0 ] || fail "no /dev/dax0.0"
note "dax0.0: $(/usr/bin/daxctl list -d dax0.0 2>&1 | tr -d '\n ')"

run() { # TAG [vmm args]: run the pmem guest, output in $RUNDIR/TAG.{out,err}, status in RC
	local tag=$1; shift
	timeout -s KILL 150 "$VMM" --kernel "$g" --timeout 60 "$@" </dev/null >"$RUNDIR/$tag.out" 2>"$RUNDIR/$tag.err"
	RC=$?
	sed 's/^/  | /' "$RUNDIR/$tag.out" "$RUNDIR/$tag.err"
}
run w --nvdimm /dev/dax0.0 --cmdline "phase=write dimms=1 sparse flushes=2 seed=31"
[ $RC = 1 ] || fail "write run on /dev/dax0.0: exit $RC, expected 1"
grep -q '^not ok' "$RUNDIR/w.out" && fail "write run: a TAP point failed"
grep -q 'nvdimm 0: /dev/dax0.0: 2 flushes' "$RUNDIR/w.err" || fail "vmm did not count 2 flushes"
run v --nvdimm /dev/dax0.0 --cmdline "phase=verify dimms=1 sparse seed=31"
[ $RC = 1 ] || fail "verify run on /dev/dax0.0: exit $RC, expected 1"
grep -q '^not ok' "$RUNDIR/v.out" && fail "verify run: a TAP point failed"
run s --nvdimm /dev/dax0.0,share=off
[ $RC = 4 ] || fail "share=off on device DAX: exit $RC, expected 4"
grep -q 'share=off is not possible with device DAX' "$RUNDIR/s.err" || fail "share=off: unclear message"
note "device DAX: written, flushed, read back by a second vmm; share=off refused"

