#!/usr/bin/env bash
# bench/pcow-open.sh - the cost of opening big images (issue 10, "Scale"):
# pcow-img against qemu-img on the same shapes, in the same run.
#   A. 64 TiB virtual, 200 snapshots (201 layers)
#   B. 2 PiB virtual, 10 layers (9 snapshots and the active layer)
#   C. 2 PiB virtual, a chain of 10 images (each the base of the next)
# both with 64 KiB clusters, made with pcow-img (pcow) and with qemu-img
# (qcow2) alike: create, then `snapshot -c` LAYERS-1 times (no data: the
# cost measured is the one that grows with virtual size x layers).
# For info, snapshot -l and check it prints the best wall time of REPS
# runs (default 3) and the peak RSS (GNU time's %M), and the ratios
# pcow-img / qemu-img (below 1: pcow-img is cheaper).
#   D. vmm start and exit with a 16 GiB NVDIMM (a guest that exits at once:
#      build/guest-tests/hello.elf) from a pcow image with 64 MiB of data and
#      200 snapshots, from an empty pcow image and from a raw file, against
#      no NVDIMM at all: best wall time of REPS runs each, and the ratio to
#      the raw file. Needs a working /dev/kvm (skipped, saying so, without).
# Not a test: numbers only. Usage: bench/pcow-open.sh BUILD_DIR [TMPDIR]
# (PCOW_IMG=path overrides BUILD_DIR/pcow/pcow-img, e.g. an older build.)
set -euo pipefail
build=$(realpath "${1:?usage: bench/pcow-open.sh BUILD_DIR [TMPDIR]}")
PIMG=${PCOW_IMG:-$build/pcow/pcow-img}
QIMG=$(command -v qemu-img) || { echo "SKIP: qemu-img not installed"; exit 77; }
TIME=/usr/bin/time
[ -x "$TIME" ] || { echo "SKIP: GNU time (/usr/bin/time) not installed"; exit 77; }
[ -x "$PIMG" ] || { echo "no $PIMG (build first)"; exit 1; }
reps=${REPS:-3}
work=$(mktemp -d "${2:-/tmp}/pcow-open.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# best wall seconds (with GNU time's fork, alike for both) and the largest
# peak RSS (KiB) of $reps runs of "$@"
measure() {
	local bt= br=0
	for _ in $(seq "$reps"); do
		local t0 t1 t r
		t0=$(date +%s.%N)
		"$TIME" -f '%M' -o t.out "$@" >/dev/null 2>&1 || true
		t1=$(date +%s.%N)
		t=$(echo "$t0 $t1" | awk '{print $2-$1}')
		r=$(tail -1 t.out)
		bt=$(echo "$t ${bt:-1e9}" | awk '{print ($1<$2)?$1:$2}')
		[ "$r" -gt "$br" ] && br=$r
	done
	echo "$bt $br"
}

# name pcow-file qcow2-file
compare() {
	local name=$1 p=$2 q=$3
	for op in info "snapshot -l" check; do
		# shellcheck disable=SC2086
		read -r tp rp < <(measure "$PIMG" $op "$p")
		# shellcheck disable=SC2086
		read -r tq rq < <(measure "$QIMG" $op "$q")
		printf '%-26s %-12s pcow-img %6.3fs %7.1f MiB  qemu-img %6.3fs %7.1f MiB  ratio time %6.2f RSS %6.2f\n' \
			"$name" "$op" "$tp" "$(echo "$rp" | awk '{print $1/1024}')" \
			"$tq" "$(echo "$rq" | awk '{print $1/1024}')" \
			"$(echo "$tp $tq" | awk '{printf "%.2f", ($2>0)?$1/$2:0}')" \
			"$(echo "$rp $rq" | awk '{printf "%.2f", $1/$2}')"
	done
}

# make NAME SIZE LAYERS: NAME.pcow and NAME.qcow2 with LAYERS-1 snapshots
make() {
	local name=$1 size=$2 layers=$3
	"$PIMG" create -c 64K "$name.pcow" "$size" >/dev/null
	"$QIMG" create -q -f qcow2 -o cluster_size=64k "$name.qcow2" "$size"
	for i in $(seq 1 $((layers - 1))); do
		"$PIMG" snapshot -c "s$i" "$name.pcow"
		"$QIMG" snapshot -c "s$i" "$name.qcow2"
	done
	echo "  $name: pcow $(du -h --apparent-size "$name.pcow" | cut -f1)," \
		"qcow2 $(du -h --apparent-size "$name.qcow2" | cut -f1)"
}

# chain NAME SIZE DEPTH: NAME.pcow / NAME.qcow2 on DEPTH-1 bases
chain() {
	local name=$1 size=$2 depth=$3 prev=
	for i in $(seq 1 "$depth"); do
		if [ -z "$prev" ]; then
			"$PIMG" create -c 64K "$name-$i.pcow" "$size" >/dev/null
			"$QIMG" create -q -f qcow2 -o cluster_size=64k "$name-$i.qcow2" "$size"
		else
			"$PIMG" create -c 64K -b "$prev.pcow" "$name-$i.pcow" >/dev/null
			"$QIMG" create -q -f qcow2 -o cluster_size=64k -b "$prev.qcow2" \
				-F qcow2 "$name-$i.qcow2"
		fi
		prev=$name-$i
	done
	ln -s "$prev.pcow" "$name.pcow"
	ln -s "$prev.qcow2" "$name.qcow2"
}

echo "== building images in $work"
make a64t 64T 201
make b2p 2P 10
chain c2p 2P 10
cat ./*.pcow ./*.qcow2 >/dev/null	# both from the page cache
echo "== best of $reps runs; ratio = pcow-img / qemu-img"
compare "64 TiB, 200 snapshots" a64t.pcow a64t.qcow2
compare "2 PiB, 10 layers" b2p.pcow b2p.qcow2
compare "2 PiB, chain of 10" c2p.pcow c2p.qcow2

# D. vmm start with hundreds of snapshots
VMM=$build/vmm/vmm
GUEST=$build/guest-tests/hello.elf
rc=0
"$VMM" --kernel "$GUEST" --timeout 20 >/dev/null 2>&1 || rc=$?
if [ "$rc" = 12 ]; then
	echo "D: skipped: no usable /dev/kvm here (vmm exit status 12)"
	exit 0
fi
"$PIMG" create -c 64K d200.pcow 16G >/dev/null
head -c 64M /dev/urandom > d.raw
"$PIMG" convert -q -n -S 0 d.raw d200.pcow
for i in $(seq 1 200); do "$PIMG" snapshot -c "s$i" d200.pcow; done
"$PIMG" create -c 64K d0.pcow 16G >/dev/null
truncate -s 16G d.img
vstart() { # best ms of $reps runs of vmm with "$@"
	local b=1000000000 t0 t1
	for _ in $(seq "$reps"); do
		t0=$(date +%s%N)
		"$VMM" --kernel "$GUEST" --timeout 20 "$@" >/dev/null 2>&1 || true
		t1=$(date +%s%N)
		[ $(((t1 - t0) / 1000)) -lt "$b" ] && b=$(((t1 - t0) / 1000))
	done
	echo "$b"
}
tn=$(vstart); tr=$(vstart --nvdimm d.img,label-size=0)
t0=$(vstart --nvdimm d0.pcow); t2=$(vstart --nvdimm d200.pcow)
echo "vmm start+exit, 16 GiB NVDIMM: none ${tn}us  raw ${tr}us  pcow empty ${t0}us" \
	"(ratio to raw $(echo "$t0 $tr" | awk '{printf "%.2f", $1/$2}'))  pcow 200 snapshots ${t2}us" \
	"(ratio to raw $(echo "$t2 $tr" | awk '{printf "%.2f", $1/$2}'))"
