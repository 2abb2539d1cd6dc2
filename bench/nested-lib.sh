# bench/nested-lib.sh - sourced by the benchmarks that run in the nested
# tier (blk-nvme.sh, exec.sh). nested_bench NAME SCENARIO_DIR OUTBASE links
# bench/SCENARIO_DIR into guest-tests/nested/scenarios/ as NAME for the
# length of one run (--only NAME, --verbose: its BENCH lines are in the
# log), writes OUTBASE.log and the BENCH lines to OUTBASE.txt, and returns
# 1 (with the reason on stderr) if the benchmark did not run. Needs $here
# (bench/) and $build.
nested_bench() {
	local name=$1 dir=$2 outbase=$3 link rc
	link=$here/../guest-tests/nested/scenarios/$name
	[ -e "$link" ] && { echo "$name: $link exists (another run?)" >&2; return 1; }
	ln -s "../../../bench/$dir" "$link" || return 1
	trap 'rm -f "$link"' EXIT
	"$here/../guest-tests/nested/run" --build "$build" --only "$name" --verbose \
		>"$outbase.log" 2>&1
	rc=$?
	rm -f "$link"
	trap - EXIT
	sed -n 's/^#   BENCH //p' "$outbase.log" >"$outbase.txt"
	if ! grep -q "^ok .*$name" "$outbase.log" || [ ! -s "$outbase.txt" ]; then
		echo "$name: the benchmark did not run (rc $rc); see $outbase.log" >&2
		grep -E 'FAIL|not ok' "$outbase.log" | tail -5 >&2
		return 1
	fi
}
# val "LINE" KEY: the value of KEY=VALUE in a BENCH line.
val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
