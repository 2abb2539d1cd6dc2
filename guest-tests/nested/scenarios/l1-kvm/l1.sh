# L1 side of l1-kvm: checks the nested tier's own foundation.
[ -c /dev/kvm ] || fail "no /dev/kvm in L1"
[ -d /sys/module/kvm_amd ] || fail "kvm_amd not loaded"
grep -q svm /proc/cpuinfo || fail "L1 CPU has no svm flag"
note "nested paging: $(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)"
need_vmm
"$VMM" --help >"$RUNDIR/help" 2>&1
rc=$?
head -n 3 "$RUNDIR/help"
[ $rc = 0 ] || { cat "$RUNDIR/help"; fail "vmm --help exited $rc (missing library?)"; }

# direct-tier guests (PVH ELF, TAP on the serial console, exit 1 = pass)
guest() { # NAME [vmm args]: run /pmvm/guests/NAME.elf, expect status 1 and TAP all ok
	local g=/pmvm/guests/$1.elf; shift
	[ -f "$g" ] || fail "$g missing (not built in --build?)"
	"$VMM" --kernel "$g" --timeout 30 "$@" </dev/null >"$RUNDIR/g.out" 2>"$RUNDIR/g.err"
	local rc=$?
	sed 's/^/  | /' "$RUNDIR/g.out" "$RUNDIR/g.err"
	[ $rc = 1 ] || fail "guest $(basename "$g") under vmm in L1: exit $rc, expected 1"
	grep -q '^not ok' "$RUNDIR/g.out" && fail "guest $(basename "$g"): a TAP point failed"
	grep -q '^ok' "$RUNDIR/g.out" || fail "guest $(basename "$g"): no TAP output"
	note "guest $(basename "$g") $*: passed"
}
guest hello
guest smp --smp 2 --cmdline smp=2
