#!/usr/bin/env bash
# bench/pcow-fio.sh [BUILD_DIR] - the paper's comparison in the nested tier,
# functional only: 4 KiB random O_DIRECT writes and reads at queue depth 1
# (randio, standing in for fio) from a Debian Linux L2 guest on a 64 MiB
# file in ext4 -o dax over a pcow NVDIMM, over a raw NVDIMM, and in ext4 on
# virtio-blk over a raw file; plus the pcow NVDIMM again after a snapshot
# (first writes copy). Scenario bench/pcow-fio-scenario, linked as
# guest-tests/nested/scenarios/pcow-fio-bench while this runs; one L1 boot
# per kernel line (6.1, 6.12), four L2 boots in each. L1 is QEMU TCG, a
# software CPU: prints IOPS and ratios, never asserts on them. Fails only if
# the benchmark did not run (or pcow-img check found the image damaged).
# Ops per run: 3000 on the NVDIMMs, 1000 on virtio-blk (far slower under
# TCG). The raw NVDIMM is booted twice (raw-first, raw): the spread of those
# two is the noise to read the ratios against.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
for f in vmm/vmm pcow/pcow-img blk-nvme/blk/tests/randio; do
	[ -x "$build/$f" ] || { echo "pcow-fio.sh: no $build/$f (build first)" >&2; exit 1; }
done
out=$build/bench
mkdir -p "$out"
link=$here/../guest-tests/nested/scenarios/pcow-fio-bench
[ -e "$link" ] && { echo "pcow-fio.sh: $link exists (another run?)" >&2; exit 1; }
ln -s ../../../bench/pcow-fio-scenario "$link" || exit 1
trap 'rm -f "$link"' EXIT
"$here/../guest-tests/nested/run" --build "$build" --only pcow-fio-bench --verbose \
	>"$out/pcow-fio.log" 2>&1
rc=$?
rm -f "$link"
if ! grep -q '^ok .*pcow-fio-bench' "$out/pcow-fio.log"; then
	echo "pcow-fio.sh: the benchmark did not run (rc $rc); see $out/pcow-fio.log" >&2
	grep -E 'FAIL|not ok' "$out/pcow-fio.log" | tail -5 >&2
	exit 1
fi
# Each kernel line's TAP line comes before its PFIO lines.
awk '/^(not )?ok .*pcow-fio-bench \[/ { l = $0; sub(/.*\[/, "", l); sub(/\].*/, "", l) }
     l != "" && /PFIO / { k = $0; sub(/.*PFIO /, "", k); sub(/\r$/, "", k); print "line=" l, k }' \
	"$out/pcow-fio.log" >"$out/pcow-fio.txt"
val() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
iops() { val "$(grep "^line=$1 backend=$2 op=$3 " "$out/pcow-fio.txt")" iops; }
echo "4 KiB random O_DIRECT I/O, queue depth 1, on a 64 MiB file, Debian Linux L2 in the nested tier (L1 on QEMU TCG):"
printf '  %-6s %-9s %10s %10s\n' line backend read_iops write_iops
status=0
for line in $(sed -n 's/^line=\([^ ]*\) .*/\1/p' "$out/pcow-fio.txt" | uniq); do
	for b in raw-first raw pcow pcow-cow blk; do
		printf '  %-6s %-9s %10s %10s\n' "$line" "$b" "$(iops "$line" $b read)" "$(iops "$line" $b write)"
	done
	for pair in raw-first/raw pcow/raw pcow-cow/raw pcow/blk raw/blk; do
		a=${pair%/*} b=${pair#*/}
		awk -v l="$line" -v p="$pair" -v r1="$(iops "$line" "$a" read)" -v r2="$(iops "$line" "$b" read)" \
		    -v w1="$(iops "$line" "$a" write)" -v w2="$(iops "$line" "$b" write)" \
		    'BEGIN { if (r2 > 0 && w2 > 0) printf "  ratio [%s] %s: read %.3f, write %.3f\n", l, p, r1 / r2, w1 / w2; else exit 1 }' ||
			{ echo "pcow-fio.sh: [$line] missing figures for $pair"; status=1; }
	done
	grep "^line=$line " "$out/pcow-fio.txt" | sed -n 's/^line=[^ ]* \(backend=[^ ]*\) vmm: nvdimm 0: \(pcow: .*\)/  [vmm] \1 \2/p'
done
echo "(functional figures: L1 is a software CPU; no assertion)"
exit $status
