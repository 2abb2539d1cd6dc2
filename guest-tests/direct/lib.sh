# lib.sh - sourced by the direct tier's shell tests (control.sh, sigterm.sh):
# counting failures, starting a guest in the background and ending it.
# The caller sets VMM, GUEST, CASE and T (a scratch directory) first.
# POSIX sh and grep/sed only: these tests also run inside the nested L1.

fails=0
pid=
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# result NAME: the string value of NAME in the --results file $T/r.json.
result() { sed -n "s/.*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$T/r.json"; }

# vmm_start PATTERN ARGS...: vmm on $GUEST in the background (pid in $pid,
# console in $T/out, stderr in $T/err, results in $T/r.json) until the
# console shows a line matching PATTERN (grep -E), at most 30 s.
vmm_start() {
	pattern=$1
	shift
	: >"$T/out" # not an earlier run's lines
	"$VMM" --kernel "$GUEST" --results "$T/r.json" "$@" \
		</dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	i=0
	while ! grep -Eq "$pattern" "$T/out" && [ $i -lt 600 ]; do
		sleep 0.05; i=$((i + 1))
	done
	grep -Eq "$pattern" "$T/out" || fail "guest did not start: $(cat "$T/out" "$T/err")"
}

# vmm_finish WANT_STATUS WANT_REASON: wait for it, check its exit status and
# the results' reason, and show its stderr.
vmm_finish() {
	wait $pid
	rc=$?
	pid=
	[ "$rc" -eq "$1" ] || fail "$CASE: exit $rc, want $1"
	[ "$(result reason)" = "$2" ] || fail "$CASE: reason '$(result reason)', want $2: $(cat "$T/r.json")"
	cat "$T/err"
}

# vmm_report: the test's own ending.
vmm_report() {
	[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
	echo "all ok"
}
