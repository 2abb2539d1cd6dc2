#!/usr/bin/env bash
# bench/blk-nvme.sh [BUILD_DIR] - 4 KiB random read and write IOPS through
# pmvm's virtio-blk device, --nvme (userspace NVMe driver over VFIO)
# against --disk (io_uring on the kernel's /dev/nvme0n1) on the same QEMU
# emulated NVMe controller, measured in one nested-tier L1 boot (scenario
# guest-tests/nested/scenarios/blk-bench), at queue depths 1 and 8.
#
# The I/O comes from vblk-exercise's synthetic guest (rings in fake guest
# memory, the real device model and backends). L1 is QEMU TCG, a software
# CPU: the figures are functional only, printed with their nvme/disk ratio
# and never asserted on. Fails only if the benchmark did not run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
out=$here/out
mkdir -p "$out"
[ -x "$build/blk-nvme/tests/vblk-exercise" ] || { echo "blk-nvme.sh: build first" >&2; exit 1; }

"$here/../guest-tests/nested/run" --build "$build" --only blk-bench --verbose \
	>"$out/blk-nvme.log" 2>&1
rc=$?
grep -q '^ok .*blk-bench' "$out/blk-nvme.log" || {
	echo "blk-nvme.sh: the benchmark did not run (rc $rc); see $out/blk-nvme.log" >&2
	grep -E 'FAIL|not ok' "$out/blk-nvme.log" | tail -5 >&2
	exit 1
}
sed -n 's/^#   BENCH //p' "$out/blk-nvme.log" >"$out/blk-nvme.txt"
echo "4 KiB random I/O through virtio-blk, same emulated NVMe controller, nested L1 (TCG):"
printf '  %-5s %3s %14s %15s\n' backend qd randread_iops randwrite_iops
while read -r line; do
	eval "$(echo "$line" | tr ' ' '\n' | grep -E '^[a-z_]+=[0-9a-z.]+$')"
	printf '  %-5s %3s %14s %15s\n' "$backend" "$qd" "$randread_iops" "$randwrite_iops"
done <"$out/blk-nvme.txt"
for qd in 1 8; do
	n=$(grep "backend=nvme .*qd=$qd " "$out/blk-nvme.txt")
	d=$(grep "backend=disk .*qd=$qd " "$out/blk-nvme.txt")
	nr=$(echo "$n" | sed -n 's/.*randread_iops=\([0-9]*\).*/\1/p')
	nw=$(echo "$n" | sed -n 's/.*randwrite_iops=\([0-9]*\).*/\1/p')
	dr=$(echo "$d" | sed -n 's/.*randread_iops=\([0-9]*\).*/\1/p')
	dw=$(echo "$d" | sed -n 's/.*randwrite_iops=\([0-9]*\).*/\1/p')
	[ -n "$nr" ] && [ -n "$dr" ] && [ "$dr" -gt 0 ] && [ "$dw" -gt 0 ] &&
		awk -v q=$qd -v a=$nr -v b=$dr -v c=$nw -v d=$dw \
			'BEGIN { printf "  qd %d: nvme/disk randread %.2f, randwrite %.2f\n", q, a / b, c / d }'
done
echo "(functional figures: L1 is a software CPU; no assertion)"
