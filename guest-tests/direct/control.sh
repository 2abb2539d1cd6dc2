#!/bin/sh
# control.sh VMM VMM_CTL GUEST CASE - the control socket (docs/control.md)
# against a running guest (the ticker guest, --smp 2), driven with vmm-ctl
# (no python3 or socat needed: this also runs in the nested L1).
#   pause:     query-status, pause (the guest's tick lines stop, both CPUs),
#              resume (both CPUs tick again), system-powerdown: status 0
#   quit:      quit: status 4, reason quit, one stderr line
#   malformed: bad JSON, unknown commands and keys, binary junk, a NUL
#              byte, a line over the limit, clients that go away early, too
#              many clients: each answered or closed, vmm unharmed
#   nvdimm-add (GUEST: powerbutton): hot-add needs --nvdimm-slots; bad
#              paths, formats and a DIMM already in use are refused and
#              named; a full VM says so; nvdimm-stats lists the new DIMMs;
#              the GED interrupt reaches the guest; removal is refused
#   path:      mode 0600; a stale socket is replaced, a regular file or a
#              socket in use is refused (status 2); removed after SIGINT;
#              --control fd=N that is not a listening socket (status 4)
set -u
VMM=$1 CTL=$2 GUEST=$3 CASE=$4
[ -r /dev/kvm ] && [ -w /dev/kvm ] || { echo "SKIP: no usable /dev/kvm"; exit 77; }
T=$(mktemp -d)
S=$T/ctl.sock
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$T"' EXIT
. "$(dirname "$0")/lib.sh"

# start [ARGS...]: the ticker guest in the background until it ticks.
start() {
	vmm_start "^# tick [0-9]" --smp 2 --cmdline smp=2 --timeout 80 \
		--control "$S" "$@"
}
finish() { # WANT_STATUS WANT_REASON
	vmm_finish "$@"
	[ -e "$S" ] && fail "$CASE: the socket file is still there after exit"
}
# ctl WANT_RC ARGS...: vmm-ctl's reply in $T/reply, its status checked.
ctl() {
	want=$1
	shift
	"$CTL" "$S" "$@" >"$T/reply" 2>"$T/ctlerr"
	rc=$?
	[ "$rc" -eq "$want" ] || fail "vmm-ctl $*: status $rc, want $want: $(cat "$T/reply" "$T/ctlerr")"
	echo "> $* -> $(cat "$T/reply")"
}
reply_has() { grep -q -- "$1" "$T/reply" || fail "reply lacks $1: $(cat "$T/reply")"; }
# The per-CPU tick counts of the last tick line: "C0 C1".
counts() { grep "^# tick [0-9]" "$T/out" | tail -1 | sed 's/.*cpus //'; }

case $CASE in
pause)
	start
	ctl 0 query-status
	reply_has '"status":"running"'
	reply_has '"vcpus":2'
	reply_has '"uptime_seconds":'
	ctl 0 '{"cmd":"pause","id":7}'
	reply_has '"id":7,"ok":true'
	reply_has '"status":"paused"'
	sleep 0.3 # a line being printed when paused ends first
	n1=$(wc -l <"$T/out"); c1=$(counts)
	sleep 1.5 # three tick lines' time
	n2=$(wc -l <"$T/out")
	[ "$n1" -eq "$n2" ] || fail "paused guest printed $((n2 - n1)) lines"
	ctl 0 query-status
	reply_has '"status":"paused"'
	reply_has '"running":false'
	ctl 0 pause # again: no-op
	reply_has '"status":"paused"'
	ctl 0 cont
	reply_has '"status":"running"'
	i=0
	while [ "$(wc -l <"$T/out")" -lt $((n2 + 3)) ] && [ $i -lt 200 ]; do
		sleep 0.05; i=$((i + 1))
	done
	c2=$(counts)
	echo "tick counts: paused at '$c1', after resume '$c2'"
	set -- $c1 $c2
	[ $# -eq 4 ] || fail "tick lines: '$c1' '$c2'"
	[ "${3:-0}" -gt "${1:-0}" ] || fail "CPU 0 did not run after resume"
	[ "${4:-0}" -gt "${2:-0}" ] || fail "CPU 1 did not run after resume"
	ctl 0 resume # again: no-op
	# 100 pause/resume pairs back to back on one connection, then the
	# guest must still tick on both CPUs.
	k=0
	while [ $k -lt 100 ]; do
		echo '{"cmd":"pause"}'; echo '{"cmd":"resume"}'; k=$((k + 1))
	done >"$T/pr"
	"$CTL" "$S" - <"$T/pr" >"$T/prout" || fail "pause/resume loop: status $?"
	[ "$(grep -c '"ok":true' "$T/prout")" -eq 200 ] || fail "pause/resume loop: $(sort "$T/prout" | uniq -c)"
	n3=$(wc -l <"$T/out"); c3=$(counts)
	i=0
	while [ "$(wc -l <"$T/out")" -lt $((n3 + 2)) ] && [ $i -lt 200 ]; do
		sleep 0.05; i=$((i + 1))
	done
	c4=$(counts)
	echo "tick counts after the loop: '$c3', then '$c4'"
	set -- $c3 $c4
	[ $# -eq 4 ] && [ "$3" -gt "$1" ] && [ "$4" -gt "$2" ] || fail "not both CPUs ran after the pause/resume loop"
	ctl 0 query-status
	reply_has '"status":"running"'
	ctl 0 system-powerdown
	finish 0 poweroff
	grep -q "^ok 2 - power button pressed" "$T/out" || fail "guest did not see the button"
	;;
quit)
	start
	# Nothing is served after quit, even on the same connection.
	printf '{"cmd":"quit","id":"q1"}\n{"cmd":"pause","id":"p2"}\n' |
		"$CTL" --raw "$S" >"$T/reply"
	cat "$T/reply"
	reply_has '"id":"q1","ok":true'
	[ "$(wc -l <"$T/reply")" -eq 1 ] || fail "requests after quit were served"
	finish 4 quit
	grep -q "quit" "$T/err" || fail "message: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "not one stderr line"
	;;
malformed)
	start
	ctl 1 '{"cmd": "no-such-command", "id": 1}'
	reply_has '"id":1,"ok":false,"error":"unknown command'
	ctl 1 '{"cmd": 42}'
	reply_has '"cmd\\" must be a string'
	ctl 1 '{"cmd": "pause", "args": [1]}'
	reply_has '"args\\" must be an object'
	ctl 1 '{"cmd": "pause", "args": {"x": 1}, "id": [1, {"a": null}]}'
	reply_has '"id":\[1,{"a":null}\],"ok":false,"error":"unknown argument'
	ctl 1 '{"cmd": "quit", "bogus": 1}'
	reply_has 'unknown key'
	ctl 1 '{}'
	reply_has 'no \\"cmd\\"'
	ctl 1 pause x=1
	# Several bad lines on one connection, each answered in order.
	printf '%s\n' 'not json' '[1,2]' '"str"' '{"cmd":"query-status"} {"cmd":"quit"}' \
		'{"cmd":"quit"' '{"cmd":"query-status","id":NaN}' \
		"{\"cmd\":\"$(head -c 200 /dev/zero | tr '\0' a)\"}" '' '   ' \
		'{"cmd":"query-status","id":"last"}' >"$T/in"
	"$CTL" --raw "$S" <"$T/in" >"$T/raw"; rc=$?
	cat "$T/raw"
	[ "$rc" -eq 0 ] || fail "raw: status $rc"
	[ "$(grep -c '"ok":false' "$T/raw")" -eq 7 ] || fail "want 7 error replies"
	grep -q '"id":"last","ok":true' "$T/raw" || fail "the last request was not served"
	[ "$(wc -l <"$T/raw")" -eq 8 ] || fail "want 8 replies (blank lines get none)"
	grep -q 'invalid JSON' "$T/raw" || fail "no invalid JSON message"
	# A NUL byte, binary junk.
	printf '{"cmd":"quit"\000}\n' | "$CTL" --raw "$S" >"$T/raw"
	grep -q 'NUL byte' "$T/raw" || fail "NUL: $(cat "$T/raw")"
	head -c 3000 "$GUEST" | "$CTL" --raw "$S" >"$T/raw" || fail "junk: status $?"
	grep -q '"ok":false' "$T/raw" || fail "junk: no error reply"
	grep -q '"ok":true' "$T/raw" && fail "junk: an ok reply"
	# A line over the limit: one error, then the connection closes.
	head -c 70000 /dev/zero | tr '\0' ' ' >"$T/big"
	printf '{"cmd":"quit"}\n' >>"$T/big"
	"$CTL" --raw "$S" <"$T/big" >"$T/raw" || fail "huge line: status $?"
	cat "$T/raw"
	grep -q 'request longer than 65536 bytes' "$T/raw" || fail "huge line: no error"
	[ "$(wc -l <"$T/raw")" -eq 1 ] || fail "huge line: more than one reply"
	# Clients that go away: mid-line, and before reading their reply.
	printf '{"cmd":"que' | "$CTL" --raw --timeout 1 "$S" >/dev/null
	for k in 1 2 3; do
		( printf '{"cmd":"query-commands"}\n{"cmd":"query-status"}\n'; ) |
			"$CTL" --raw --timeout 0 "$S" >/dev/null 2>&1
	done
	# Too many clients: 16 are served, the 17th is told and closed.
	mkfifo "$T/hold"
	k=0
	while [ $k -lt 16 ]; do
		"$CTL" --raw --timeout 30 "$S" <"$T/hold" >/dev/null 2>&1 &
		k=$((k + 1))
	done
	exec 3>"$T/hold"
	sleep 0.5
	ctl 1 query-status
	grep -q "too many clients" "$T/reply" || fail "17th client: $(cat "$T/reply")"
	exec 3>&-
	wait_clients=0
	while [ "$(jobs -p | wc -l)" -gt 1 ] && [ $wait_clients -lt 100 ]; do
		sleep 0.05; wait_clients=$((wait_clients + 1))
	done
	sleep 0.2
	# Still alive and serving; help lists the commands.
	ctl 0 help
	for c in query-status pause resume cont system-powerdown quit query-commands help; do
		reply_has "\"name\":\"$c\""
	done
	ctl 0 query-status
	reply_has '"status":"running"'
	ctl 0 quit
	finish 4 quit
	;;
path)
	start
	ls -l "$S"
	[ "$(stat -c %a "$S")" = 600 ] || fail "mode $(stat -c %a "$S"), want 600"
	# In use by this vmm: a second one is refused before it runs.
	"$VMM" --kernel "$GUEST" --control "$S" >/dev/null 2>"$T/err2"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--control.*in use" "$T/err2" || fail "in use: $rc $(cat "$T/err2")"
	kill -INT $pid
	finish 4 signal
	# A stale socket (vmm killed with -9) is replaced.
	start
	kill -9 $pid; wait $pid; pid=
	[ -S "$S" ] || fail "no stale socket after kill -9"
	start
	ctl 0 query-status
	ctl 0 quit
	finish 4 quit
	# Removed after --timeout too.
	start --timeout 2
	finish 124 timeout
	# Not a socket: refused, and left alone.
	echo data >"$S"
	"$VMM" --kernel "$GUEST" --control "$S" >/dev/null 2>"$T/err2"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--control.*not a socket" "$T/err2" || fail "regular file: $rc $(cat "$T/err2")"
	[ "$(cat "$S")" = data ] || fail "the regular file was changed"
	rm -f "$S"
	# fd=N must be a listening unix socket.
	"$VMM" --kernel "$GUEST" --control fd=0 </dev/null >/dev/null 2>"$T/err2"; rc=$?
	[ "$rc" -eq 4 ] && grep -q "fd=0.*not a listening" "$T/err2" || fail "fd=0: $rc $(cat "$T/err2")"
	;;
nvdimm-add)
	# GUEST is the powerbutton guest: the first device interrupt (any
	# IOAPIC pin 5-23) powers it off, unless its argument is "ignore".
	for f in a b d; do truncate -s 16512K "$T/$f.raw"; done
	truncate -s 16M "$T/c.raw"   # no label area: label-size=0
	wait_pb() { vmm_start "waiting for the power button" --control "$S" --timeout 80 "$@"; }
	# Without --nvdimm-slots there is no room; removal is always refused.
	wait_pb --nvdimm "$T/a.raw" --cmdline ignore
	ctl 1 nvdimm-add "path=$T/b.raw"
	reply_has "start vmm with --nvdimm-slots"
	ctl 1 nvdimm-remove
	reply_has "cannot be removed"
	ctl 0 quit
	finish 4 quit
	# Three slots, one used at boot: bad requests change nothing, two
	# DIMMs go in, a fourth finds no slot.
	wait_pb --nvdimm "$T/a.raw" --nvdimm-slots 3 --cmdline ignore
	ctl 1 nvdimm-add
	reply_has "args.path"
	ctl 1 nvdimm-add "path=$T/missing.raw"
	reply_has "missing.raw"
	ctl 1 nvdimm-add "path=$T/b.raw,format=qcow2"
	reply_has "qcow2"
	ctl 1 nvdimm-add "path=$T/a.raw"
	reply_has "a.raw"
	ctl 0 nvdimm-add "path=$T/b.raw"
	reply_has '"nvdimm":1'
	reply_has '"handle":2'
	reply_has '"size":16777216'
	ctl 0 nvdimm-add "path=$T/c.raw,readonly=on,label-size=0"
	reply_has '"nvdimm":2'
	reply_has '"label_size":0'
	ctl 1 nvdimm-add "path=$T/d.raw"
	reply_has "all 3 NVDIMM slots are in use"
	ctl 0 nvdimm-stats
	reply_has '"path":"[^"]*c.raw","format":"raw","size":16777216,"readonly":true'
	[ "$(grep -o '"nvdimm":[0-9]' "$T/reply" | tr '\n' ' ')" = '"nvdimm":0 "nvdimm":1 "nvdimm":2 ' ] ||
		fail "nvdimm-stats: not DIMMs 0, 1, 2: $(cat "$T/reply")"
	ctl 0 quit
	finish 4 quit
	[ "$(grep -c "hot-added at guest 0x" "$T/err")" = 2 ] || fail "vmm did not log two hot-adds"
	# The guest is told: the GED interrupt reaches it and it powers off.
	wait_pb --nvdimm-slots 1
	ctl 0 nvdimm-add "path=$T/d.raw"
	reply_has '"nvdimm":0'
	finish 0 poweroff
	# Slot counts: named when wrong, before the guest runs.
	for bad in 0 65 x 2x; do
		"$VMM" --kernel "$GUEST" --nvdimm-slots "$bad" >/dev/null 2>"$T/err2"; rc=$?
		[ "$rc" -eq 2 ] && grep -q "'$bad'" "$T/err2" || fail "--nvdimm-slots $bad: $rc $(cat "$T/err2")"
	done
	"$VMM" --kernel "$GUEST" --nvdimm "$T/a.raw" --nvdimm "$T/b.raw" --nvdimm-slots 1 \
		>/dev/null 2>"$T/err2"; rc=$?
	[ "$rc" -ne 0 ] && grep -q "fewer than the 2 --nvdimm" "$T/err2" ||
		fail "--nvdimm-slots 1 with two DIMMs: $rc $(cat "$T/err2")"
	;;
*)
	echo "unknown case $CASE"; exit 1 ;;
esac
vmm_report
