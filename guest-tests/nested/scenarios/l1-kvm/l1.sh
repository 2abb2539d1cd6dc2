# L1 side of l1-kvm: checks the nested tier's own foundation.
[ -c /dev/kvm ] || fail "no /dev/kvm in L1"
[ -d /sys/module/kvm_amd ] || fail "kvm_amd not loaded"
grep -q svm /proc/cpuinfo || fail "L1 CPU has no svm flag"
note "nested paging: $(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)"
need_vmm
"$VMM" --help >"$RUNDIR/help" 2>&1
rc=$?
head -n 5 "$RUNDIR/help"
[ $rc = 0 ] || fail "vmm --help exited $rc (missing library?)"
