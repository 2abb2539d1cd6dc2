#!/bin/sh
# sigterm.sh VMM GUEST CASE - SIGTERM asks the guest to shut down through the
# ACPI power button (suite direct: a guest must run).
#   obeyed:  the powerbutton guest powers off: status 0, reason poweroff
#   second:  a guest that ignores the button: a second SIGTERM stops it at
#            once, status 4, reason signal
#   grace:   a guest that ignores the button: stopped when the grace period
#            (--shutdown-grace 1) ends, status 4, reason signal
#   nograce: --shutdown-grace 0: the first SIGTERM stops it, status 4
set -u
VMM=$1 GUEST=$2 CASE=$3
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: no usable /dev/kvm"; exit 77; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
json() { python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/r.json" "$1"; }

# start ARGS...: run the guest in the background until it waits.
start() {
	"$VMM" --kernel "$GUEST" --timeout 60 --results "$T/r.json" "$@" \
		</dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	i=0
	while ! grep -q "waiting for the power button" "$T/out" && [ $i -lt 600 ]; do
		sleep 0.05; i=$((i + 1))
	done
	grep -q "waiting for the power button" "$T/out" || fail "guest did not start: $(cat "$T/out" "$T/err")"
}
finish() { # WANT_STATUS WANT_REASON
	wait $pid
	rc=$?
	cat "$T/out" "$T/err"
	[ "$rc" -eq "$1" ] || fail "$CASE: exit $rc, want $1"
	[ "$(json reason)" = "$2" ] || fail "$CASE: reason $(json reason), want $2"
}

case $CASE in
obeyed)
	start
	kill -TERM $pid
	finish 0 poweroff
	grep -q "^ok 1 - power button pressed" "$T/out" || fail "guest did not see the button"
	;;
second)
	start --cmdline ignore --shutdown-grace 50
	t0=$(date +%s)
	kill -TERM $pid
	sleep 0.5
	kill -0 $pid 2>/dev/null || fail "the first SIGTERM stopped a guest inside the grace period"
	kill -TERM $pid
	finish 4 signal
	[ $(( $(date +%s) - t0 )) -lt 20 ] || fail "second SIGTERM: did not stop at once"
	grep -q "second SIGTERM" "$T/err" || fail "message: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "not one stderr line"
	;;
grace)
	start --cmdline ignore --shutdown-grace 1
	kill -TERM $pid
	finish 4 signal
	grep -q "SIGTERM.*within 1 s" "$T/err" || fail "message: $(cat "$T/err")"
	;;
nograce)
	start --cmdline ignore --shutdown-grace 0
	kill -TERM $pid
	finish 4 signal
	grep -qx "vmm: stopped by SIGTERM" "$T/err" || fail "message: $(cat "$T/err")"
	;;
*)
	echo "unknown case $CASE"; exit 1 ;;
esac
[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all ok"
