# L1 side of direct-tier: run each listed meson test in the build directory
# (the same absolute path as on the host), report each as a sub-result on
# the console ("PMVM-SUB ok NAME (T s)" / "PMVM-SUB not ok NAME # why"),
# which guest-tests/nested/run relays as its own TAP line.
need_vmm
ln -sf python3.11 /usr/bin/python3
b=$(cat /pmvm/direct/builddir)
[ -x "$b/vmm/vmm" ] || fail "no $b/vmm/vmm in L1"
tab=$(printf '\t')
bad=0 i=0
while IFS="$tab" read -r name tmo cmd; do
	[ -n "$name" ] || continue
	i=$((i + 1))
	log=$RUNDIR/$i.log
	t0=$(cut -d' ' -f1 /proc/uptime)
	# TIMEOUT x 3: L1 is a software CPU (meson's own multiplier is 1)
	# the guests' own waits stretched too (run-guest: timeout_scale=)
	(cd "$b" && PMVM_GUEST_TIMEOUT_SCALE=10 exec timeout -s KILL $((tmo * 3)) bash -c "$cmd") </dev/null >"$log" 2>&1
	rc=$?
	t=$(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')
	case $rc in
	0) echo "PMVM-SUB ok $name (${t}s)" >/dev/ttyS0 ;;
	*)	bad=$((bad + 1))
		why="exit $rc"; [ $rc = 77 ] && why="skipped in L1: $(grep -m1 SKIP "$log")"
		[ $rc = 137 ] && why="timed out after $((tmo * 3))s"
		echo "PMVM-SUB not ok $name # $why" >/dev/ttyS0
		tail -n 40 "$log" | sed 's/^/# '"$name"'| /' >/dev/ttyS0 ;;
	esac
	echo "$name: rc=$rc ${t}s"
done </pmvm/direct/list
[ $bad = 0 ] || fail "$bad of $i direct-tier tests failed in L1"
