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
. "$(dirname "$0")/lib.sh"

# start ARGS...: the powerbutton guest until it waits for the button.
start() { vmm_start "waiting for the power button" --timeout 60 "$@"; }
finish() { vmm_finish "$@"; cat "$T/out"; }

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
vmm_report
