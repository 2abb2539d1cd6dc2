#!/bin/sh
# cli.sh VMM CASE - command-line behaviour of vmm (meson suite 'tool').
# Each bad value must give exit status 2 and exactly one stderr line that
# names the option and the value. No KVM needed: all of this fails or exits
# before a VM exists.
set -u
VMM=$1
CASE=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# bad OPTION VALUE [EXTRA ARGS...]: exit 2, one line naming both.
bad() {
	opt=$1 val=$2
	shift 2
	"$VMM" --kernel "$T/k" "$@" "--$opt" "$val" >"$T/out" 2>"$T/err"
	rc=$?
	lines=$(wc -l <"$T/err")
	if [ "$rc" -ne 2 ]; then fail "--$opt '$val': exit $rc, want 2"; fi
	if [ "$lines" -ne 1 ]; then fail "--$opt '$val': $lines stderr lines, want 1"; cat "$T/err"; fi
	grep -q -- "--$opt" "$T/err" || fail "--$opt '$val': message does not name the option: $(cat "$T/err")"
	grep -qF -- "$val" "$T/err" || fail "--$opt '$val': message does not name the value: $(cat "$T/err")"
	[ -s "$T/out" ] && fail "--$opt '$val': wrote to stdout"
	echo "ok: --$opt '$val' -> $(cat "$T/err")"
}

printf 'not a kernel\n' >"$T/k"

case $CASE in
bad-values)
	for v in 0 abc 12X 1.5G -1 1M 3 99999999999T 4097; do bad memory "$v"; done
	"$VMM" --kernel "$T/k" -m 7Q >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q "7Q" "$T/err" || fail "-m 7Q: exit $rc: $(cat "$T/err")"
	for v in 0 -1 256 1000 x 1.5 ""; do bad smp "$v"; done
	for v in 0 -3 abc 1e99 nan inf 5s ""; do bad timeout "$v"; done
	for v in tty file: foo stdio2 ""; do bad serial "$v"; done
	long=$(head -c 70000 /dev/zero | tr '\0' a)
	"$VMM" --kernel "$T/k" --cmdline "$long" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q -- "--cmdline" "$T/err" ||
		fail "--cmdline of 70000 bytes: exit $rc"
	"$VMM" --kernel "$T/k" --results "$T/no/such/dir/r.json" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--results" "$T/err" || fail "--results bad path: exit $rc"
	"$VMM" --kernel "$T/k" --bogus-option >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--bogus-option" "$T/err" || fail "unknown option: exit $rc"
	"$VMM" --kernel "$T/k" --smp >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--smp" "$T/err" || fail "missing value: exit $rc"
	"$VMM" --kernel "$T/k" stray >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "stray" "$T/err" || fail "stray argument: exit $rc"
	;;
help)
	"$VMM" --help >"$T/out" 2>"$T/err"; rc=$?
	[ "$rc" -eq 0 ] || fail "--help: exit $rc"
	for o in --kernel --initrd --cmdline --memory --smp --serial --timeout \
		 --dump-acpi --results --help --version; do
		grep -q -- "$o" "$T/out" || fail "--help does not mention $o"
	done
	grep -q "^Module serial:" "$T/out" || fail "--help has no module section"
	[ -s "$T/err" ] && fail "--help wrote to stderr"
	;;
version)
	"$VMM" --version >"$T/out" 2>&1; rc=$?
	[ "$rc" -eq 0 ] || fail "--version: exit $rc"
	grep -Eq '^vmm \(pmvm\) [0-9]+\.[0-9]+' "$T/out" || fail "--version: $(cat "$T/out")"
	;;
missing-kernel)
	"$VMM" --kernel "$T/does-not-exist" >"$T/out" 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] || fail "missing kernel: exit $rc, want 2"
	grep -q "does-not-exist" "$T/err" && grep -qi "no such file" "$T/err" ||
		fail "missing kernel: unclear message: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "missing kernel: not one line"
	"$VMM" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--kernel" "$T/err" || fail "no --kernel: exit $rc"
	"$VMM" --kernel "$T/k" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q "bzImage" "$T/err" || fail "junk kernel: exit $rc: $(cat "$T/err")"
	"$VMM" --kernel "$T" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q "not a regular file" "$T/err" || fail "directory as kernel: exit $rc"
	"$VMM" --kernel "$VMM" --initrd "$T/nope" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--initrd" "$T/err" || fail "missing initrd: exit $rc: $(cat "$T/err")"
	;;
*)
	echo "unknown case $CASE"; exit 1 ;;
esac
[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all ok"
