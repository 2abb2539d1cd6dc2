#!/bin/sh
# golden.sh - the ACPI tables vmm --dump-acpi writes for a few fixed
# machines must equal, byte for byte, the files in acpi/tests/golden/.
#
# A refactoring of acpi/ or nvdimm/ (typed tables, helpers) must not change
# a single guest-visible byte; this test says which table of which machine
# moved. Usage: golden.sh VMM GOLDEN_DIR [--write]; --write regenerates the
# golden files after a deliberate change (review the diff with iasl -d).
# The DIMM backing files are sparse and live in a temporary directory.
set -u
vmm=$1
golden=$2
write=${3:-}
[ -x "$vmm" ] || { echo "golden: $vmm not built"; exit 77; }
vmm=$(cd "$(dirname "$vmm")" && pwd)/$(basename "$vmm")
tmp=$(mktemp -d /tmp/pmvm-acpi-golden-XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
M=1048576
truncate -s $((64 * M + 131072)) "$tmp/a0" "$tmp/a1" "$tmp/a2" || exit 1
truncate -s $((64 * M + 262144)) "$tmp/b0" || exit 1
truncate -s $((16 * M)) "$tmp/c0" || exit 1
truncate -s $((32 * M + 131072)) "$tmp/c1" || exit 1

fail=0
run() {
	name=$1
	shift
	out="$tmp/out-$name"
	mkdir "$out" || exit 1
	if ! (cd "$tmp" && "$vmm" --dump-acpi "$out" "$@" >"$out.log" 2>&1); then
		echo "golden: $name: vmm --dump-acpi failed:"
		cat "$out.log"
		fail=1
		return
	fi
	if [ "$write" = --write ]; then
		rm -rf "${golden:?}/$name"
		mkdir -p "$golden/$name" && cp "$out"/*.dat "$golden/$name/"
		return
	fi
	want=$(cd "$golden/$name" 2>/dev/null && ls)
	got=$(cd "$out" && ls)
	if [ "$want" != "$got" ]; then
		echo "golden: $name: tables [$got], expected [$want]"
		fail=1
	fi
	for f in $want; do
		if ! cmp "$golden/$name/$f" "$out/$f"; then
			echo "golden: $name: $f differs"
			fail=1
		fi
	done
}

run smp1 --smp 1
run smp4 --smp 4
run smp16 --smp 16
run smp255 --smp 255
run nv1 --nvdimm a0,size=64M
run nv1-label256k --nvdimm b0,size=64M,label-size=256K
run nv1-unarmed --nvdimm a0,size=64M,unarmed=on,label-size=128K
run nv1-nolabel --nvdimm c0,label-size=0
run nv1-readonly --nvdimm c1,readonly=on
run nv3 --smp 4 --nvdimm a0,size=64M --nvdimm a1,size=64M,label-size=128K \
	--nvdimm a2,size=64M,unarmed=on
run nv3-3g --memory 3G --smp 2 --nvdimm a0 \
	--nvdimm a1,label-size=128K,unarmed=on --nvdimm c0,label-size=0
[ $fail = 0 ] && echo "golden: all tables identical"
exit $fail
