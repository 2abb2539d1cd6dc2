#!/usr/bin/env bash
# bench/exec.sh [BUILD_DIR] - boot-to-command time of `vmm --exec` against
# QEMU (microvm, KVM) with virtiofsd doing the same boot: the same Debian
# kernel, the initramfs vmm builds (--exec-save-initramfs), the same
# virtiofsd and command, side by side in one nested-tier L1 boot (scenario
# bench/exec-scenario, linked as guest-tests/nested/scenarios/exec-bench
# while this runs). Boot to command: from starting vmm (which starts
# virtiofsd) to the init's "started" frame (exec_boot_seconds), and from
# starting virtiofsd and QEMU to the same frame (QEMU's isa-debug-exit on
# the init's port ends QEMU there). L1 is QEMU TCG, a software
# CPU: the figures are printed with their ratios and never asserted. Fails
# only if the benchmark did not run.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
out=$here/out
mkdir -p "$out"
[ -x "$build/vmm/vmm" ] || { echo "exec.sh: no $build/vmm/vmm (build first)" >&2; exit 1; }
. "$here/nested-lib.sh"
PMVM_NESTED_LINES=${PMVM_NESTED_LINES:-6.1} nested_bench exec-bench exec-scenario "$out/exec" || exit 1
echo "vmm --exec vs QEMU microvm + virtiofsd, Debian kernel, 'ls /pmvm/bin', nested L1 (TCG):"
while read -r l; do
	printf '  %-13s round %s: boot to command %6s ms%s\n' "$(val "$l" peer)" "$(val "$l" round)" \
		"$(val "$l" boot_to_command_ms)" "$( w=$(val "$l" wall_ms); [ -n "$w" ] && echo " (whole run, command and exit included: $w ms)")"
done <"$out/exec.txt"
awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^boot_to_command_ms=/) { split($i, a, "="); x = a[2] } }
     / peer=vmm|^peer=vmm/ { v += x; nv++ } /peer=qemu-microvm/ { q += x; nq++ }
     END { if (nv && nq) printf "  mean boot to command: vmm %.0f ms, QEMU %.0f ms; vmm/QEMU %.2f\n", v / nv, q / nq, (v / nv) / (q / nq) }' "$out/exec.txt"
echo "(functional figures: L1 is a software CPU; no assertion)"
