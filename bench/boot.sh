#!/usr/bin/env bash
# bench/boot.sh [BUILD_DIR] [RUNS] - boot-to-exit wall time of a trivial PVH
# guest (guest-tests' hello.elf: TAP lines on COM1, then debug-exit) under
# pmvm's vmm and under QEMU (-machine microvm,accel=kvm, isa-debug-exit),
# RUNS times each (default 40), interleaved, in this one invocation. Prints
# medians, the vmm/QEMU ratio (target: <= 0.10) and both peak RSS figures
# (ru_maxrss of the child, via bench/boot-rusage.c). The same for
# bench/boot-min.S, a guest whose first instruction exits: the monitors'
# own floor. (On kvm_pvm every guest instruction is emulated, so guest
# work weighs the same in both columns.) Not a test: nothing here asserts
# on time; it fails only if a boot does not exit as expected.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
runs=${2:-40}
vmm=$build/vmm/vmm
guest=$build/guest-tests/hello.elf
out=$here/out
mkdir -p "$out"

[ -x "$vmm" ] || { echo "boot.sh: no $vmm (build first)" >&2; exit 1; }
[ -f "$guest" ] || { echo "boot.sh: no $guest (build first)" >&2; exit 1; }
[ -w /dev/kvm ] || { echo "boot.sh: no usable /dev/kvm" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || { echo "boot.sh: no qemu-system-x86_64" >&2; exit 1; }
cc -O2 -Wall -o "$out/boot-rusage" "$here/boot-rusage.c"
cat >"$out/boot-min.ld" <<'LD'
ENTRY(pvh_entry)
PHDRS { image PT_LOAD FLAGS(5); note PT_NOTE FLAGS(4); }
SECTIONS {
	. = 0x100000;
	.note.pvh : { KEEP(*(.note.pvh)) } :image :note
	.text : { *(.text) } :image
	/DISCARD/ : { *(*) }
}
LD
cc -nostdlib -static -fno-pic -no-pie -Wl,--build-id=none -T "$out/boot-min.ld" \
	-o "$out/boot-min.elf" "$here/boot-min.S"

median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

# bench GUEST LABEL: RUNS interleaved boots of GUEST under each monitor.
bench() {
	local g=$1 label=$2 f bad vw qw vr qr
	# The same guest RAM for both (QEMU microvm's default).
	local vmm_cmd=("$vmm" --memory 128M --kernel "$g" --timeout 20)
	local qemu_cmd=(qemu-system-x86_64 -machine microvm,accel=kvm -m 128M -nodefaults
			-display none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4
			-kernel "$g")

	: >"$out/boot-$label-vmm.txt"
	: >"$out/boot-$label-qemu.txt"
	# One untimed run each to warm the page cache.
	"$out/boot-rusage" "${vmm_cmd[@]}" >/dev/null
	"$out/boot-rusage" "${qemu_cmd[@]}" >/dev/null
	for ((i = 0; i < runs; i++)); do
		"$out/boot-rusage" "${vmm_cmd[@]}" >>"$out/boot-$label-vmm.txt"
		"$out/boot-rusage" "${qemu_cmd[@]}" >>"$out/boot-$label-qemu.txt"
	done
	# Both guests pass with debug-exit value 0: exit status 1 everywhere.
	for f in vmm qemu; do
		bad=$(awk '$3 != 1' "$out/boot-$label-$f.txt" | wc -l)
		if [ "$bad" -ne 0 ]; then
			echo "boot.sh: $bad $label runs under $f did not exit with status 1" >&2
			return 1
		fi
	done
	vw=$(awk '{print $1}' "$out/boot-$label-vmm.txt" | median)
	qw=$(awk '{print $1}' "$out/boot-$label-qemu.txt" | median)
	vr=$(awk '{print $2}' "$out/boot-$label-vmm.txt" | sort -n | tail -1)
	qr=$(awk '{print $2}' "$out/boot-$label-qemu.txt" | sort -n | tail -1)
	awk -v runs="$runs" -v g="$label" -v vw="$vw" -v qw="$qw" -v vr="$vr" -v qr="$qr" 'BEGIN {
		printf "%s: boot to exit, %d runs each, interleaved\n", g, runs
		printf "  vmm   median %8.2f ms   peak RSS %7.1f MiB\n", vw / 1000, vr / 1024
		printf "  qemu  median %8.2f ms   peak RSS %7.1f MiB\n", qw / 1000, qr / 1024
		printf "  ratio vmm/qemu: wall %.3f (target <= 0.100), peak RSS %.3f\n", vw / qw, vr / qr
	}'
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
bench "$guest" hello.elf
bench "$out/boot-min.elf" boot-min.elf
