#!/bin/sh
# smoke.sh VMM PVH_ELF BZIMAGE CASE - vmm's own direct-tier smoke tests with
# the two tiny guests assembled at build time (smoke-pvh.S, smoke-bzimage.S):
# boot paths, serial output routes, exit statuses and the --results JSON.
set -u
VMM=$1 PVH=$2 BZ=$3 CASE=$4
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: no usable /dev/kvm"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# run EXPECTED_STATUS ARGS...: runs vmm, output in $T/out, $T/err, $T/r.json
run() {
	want=$1
	shift
	"$VMM" --results "$T/r.json" "$@" </dev/null >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq "$want" ] || fail "vmm $*: exit $rc, want $want; stderr: $(cat "$T/err")"
}
json() { # json KEY: the value of a top-level key in the results
	python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get(sys.argv[2]); print(v)' \
		"$T/r.json" "$1"
}
expect_json() {
	v=$(json "$1")
	[ "$v" = "$2" ] || fail "results $1 = '$v', want '$2'"
}

case $CASE in
pvh)
	run 67 --kernel "$PVH" --smp 2 -m 64M
	grep -q "pmvm smoke: PVH guest ran" "$T/out" || fail "no guest output on stdout"
	expect_json reason debug-exit
	expect_json debug_exit_value 33
	expect_json status 67
	expect_json vcpus 2
	run 67 --kernel "$PVH" --cmdline u     # unclaimed ports read all-ones
	run 105 --kernel "$PVH" --cmdline w    # 2-byte write of 0x1234
	expect_json debug_exit_value 4660
	run 67 --kernel "$PVH" --cmdline p     # lazy PIT: first access reads 0x61
	run 67 --kernel "$PVH" --cmdline q     # lazy PIT: first access a control word
	;;
bzimage)
	run 69 --kernel "$BZ" --cmdline "smoke-cmdline-42" -m 128M
	grep -q "smoke-cmdline-42" "$T/out" || fail "bzImage guest did not echo the command line"
	run 69 --kernel "$BZ" --cmdline "high" -m 3584M  # RAM above 4 GiB too
	{ printf INRD; head -c 100000 /dev/zero; } >"$T/initrd"
	run 69 --kernel "$BZ" --cmdline "initrd-check" --initrd "$T/initrd" -m 64M
	grep -q "initrd-check" "$T/out" || fail "initrd: no output"
	;;
serial)
	run 67 --kernel "$PVH" --serial "file:$T/console"
	grep -q "pmvm smoke" "$T/console" || fail "--serial file: got nothing in the file"
	[ -s "$T/out" ] && fail "--serial file: still wrote to stdout"
	run 67 --kernel "$PVH" --serial none
	[ -s "$T/out" ] && fail "--serial none: wrote to stdout"
	;;
exits)
	run 124 --kernel "$PVH" --cmdline h --timeout 0.3
	expect_json reason timeout
	grep -q "timeout" "$T/err" || fail "timeout: no message"
	run 6 --kernel "$PVH" --cmdline r
	expect_json reason reset
	run 6 --kernel "$PVH" --cmdline v      # the BIOS reset-vector stub
	run 0 --kernel "$PVH" --cmdline h --dump-acpi "$T"   # dump and exit, never run
	expect_json reason dump-acpi
	[ -s "$T/FACP.dat" ] && [ -s "$T/RSDP.dat" ] || fail "--dump-acpi wrote no tables"
	run 8 --kernel "$BZ" --cmdline t
	expect_json reason triple-fault
	[ "$(json rip)" != None ] || fail "triple fault: no RIP in the results"
	grep -q "triple fault.*RIP 0x" "$T/err" || fail "triple fault: message $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "triple fault: not one line"
	# SIGTERM: clean teardown, status 4, reason "signal".
	"$VMM" --kernel "$PVH" --cmdline h --results "$T/r.json" </dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	i=0  # wait until the guest runs (it prints, then hangs): signals are set up
	while ! grep -q "pmvm smoke" "$T/out" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	kill -TERM $pid
	wait $pid
	rc=$?
	[ "$rc" -eq 4 ] || fail "SIGTERM: exit $rc, want 4"
	expect_json reason signal
	;;
*)
	echo "unknown case $CASE"; exit 1 ;;
esac
[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all ok"
