#!/usr/bin/env bash
# bench/blk-nvme.sh [BUILD_DIR] - 4 KiB random read and write IOPS through
# pmvm's virtio-blk device, --nvme (userspace NVMe driver over VFIO)
# against --disk (io_uring on the kernel's /dev/nvme0n1; disk = buffered,
# disk-direct = direct=on, O_DIRECT) on the same QEMU
# emulated NVMe controller, measured in one nested-tier L1 boot (scenario
# bench/blk-nvme-scenario, linked as guest-tests/nested/scenarios/blk-bench
# while this runs):
#   src=linux      from a Debian Linux L2 guest booted by vmm (randio:
#                  O_DIRECT pread/pwrite on /dev/vda, queue depths 1 and 4)
#   src=synthetic  from vblk-exercise's synthetic guest (the device model and
#                  backends without KVM, queue depths 1 and 8)
# L1 is QEMU TCG, a software CPU: the figures are functional only, printed
# with their nvme/disk ratios and never asserted on. Fails only if the
# benchmark did not run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
out=$here/out
mkdir -p "$out"
for f in blk-nvme/blk/tests/vblk-exercise blk-nvme/blk/tests/randio vmm/vmm; do
	[ -x "$build/$f" ] || { echo "blk-nvme.sh: no $build/$f (build first)" >&2; exit 1; }
done

. "$here/nested-lib.sh"
nested_bench blk-bench blk-nvme-scenario "$out/blk-nvme" || exit 1
echo "4 KiB random I/O through virtio-blk on one emulated NVMe controller, nested L1 (TCG):"
printf '  %-9s %-11s %3s %14s %15s\n' source backend qd randread_iops randwrite_iops
while read -r l; do
	printf '  %-9s %-11s %3s %14s %15s\n' "$(val "$l" src)" "$(val "$l" backend)" \
		"$(val "$l" qd)" "$(val "$l" randread_iops)" "$(val "$l" randwrite_iops)"
done <"$out/blk-nvme.txt"
for src in linux synthetic; do
	for qd in 1 4 8; do
		for peer in disk disk-direct; do
			n=$(grep "src=$src backend=nvme .*qd=$qd " "$out/blk-nvme.txt")
			d=$(grep "src=$src backend=$peer .*qd=$qd " "$out/blk-nvme.txt")
			[ -n "$n" ] && [ -n "$d" ] || continue
			awk -v s=$src -v q=$qd -v p=$peer \
			    -v a="$(val "$n" randread_iops)" -v b="$(val "$d" randread_iops)" \
			    -v c="$(val "$n" randwrite_iops)" -v d="$(val "$d" randwrite_iops)" \
			    'BEGIN { if (b > 0 && d > 0) printf "  %s qd %d: nvme/%s randread %.2f, randwrite %.2f\n", s, q, p, a / b, c / d }'
		done
	done
done
echo "(functional figures: L1 is a software CPU; no assertion)"
