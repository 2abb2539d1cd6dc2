#!/usr/bin/env bash
# bench/pcow.sh - pcow-img against qemu-img, measured in the same run on
# the same files. Prints ratios (pcow time / qemu time: below 1 is faster).
#   1. convert: a 1 GiB raw file, half sparse and half random data (32 MiB
#      data / 32 MiB hole), raw -> pcow vs raw -> qcow2 (both 64 KiB clusters,
#      both fdatasync at the end).
#   2. check: a 1 TiB virtual image with many data clusters (CLUSTERS, default
#      32768 clusters of 64 KiB spread over the whole range), pcow vs qcow2.
#   3. measure of contiguous data (issue 12, scaling defect 1: it was
#      quadratic): a 1 GiB image wholly data, pcow vs qcow2, and measure -f raw
#      of the raw file by both tools.
#   4. a chain of depth 8 (16 GiB virtual, 256 MiB of data in the bottom
#      image, seven empty overlays; scaling defect 2: holes were read and
#      zero-filled through every level): convert of the top to a new image,
#      compare of top and bottom, measure of the top.
#   5. snapshot -c on a 64 TiB image with 64 MiB of data (scaling defect 3:
#      it got slower with every snapshot): the mean time of snapshots 1-25
#      and 176-200, in each tool.
# Each timing is the best of REPS (default 3) runs. Not a test: no
# assertions, numbers only. Usage: bench/pcow.sh BUILD_DIR [TMPDIR]
set -euo pipefail
build=$(realpath "${1:?usage: bench/pcow.sh BUILD_DIR [TMPDIR]}")
PIMG=$build/pcow/pcow-img
QIMG=$(command -v qemu-img) || { echo "SKIP: qemu-img not installed"; exit 77; }
[ -x "$PIMG" ] || { echo "no $PIMG (build first)"; exit 1; }
reps=${REPS:-3}
nclusters=${CLUSTERS:-32768}
work=$(mktemp -d "${2:-/tmp}/pcow-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

now() { date +%s.%N; }
# best TIME of $reps runs of: prep-cmd ; timed-cmd
best() {
	local prep=$1 cmd=$2 b=
	for _ in $(seq "$reps"); do
		eval "$prep"
		local t0 t1
		t0=$(now); eval "$cmd" >/dev/null; t1=$(now)
		b=$(echo "$t0 $t1 ${b:-1e9}" | awk '{d=$2-$1; print (d<$3)?d:$3}')
	done
	echo "$b"
}

# pair LABEL PREP_P CMD_P PREP_Q CMD_Q: best times of both tools, one line
# with their ratio (pcow-img / qemu-img)
pair() {
	local tp tq
	tp=$(best "$2" "$3")
	tq=$(best "$4" "$5")
	echo "$1: pcow-img ${tp}s  qemu-img ${tq}s  ratio $(echo "$tp $tq" | awk '{printf "%.2f", $1/$2}')"
}

echo "== building inputs in $work"
truncate -s 1G src.raw
for i in $(seq 0 15); do
	dd if=/dev/urandom of=src.raw bs=1M count=32 seek=$((i * 64)) conv=notrunc status=none
done
cat src.raw > /dev/null	# both read it from the page cache

# sync before each run: the previous run's writeback must not land on the next.
# qemu-img convert's default cache mode is "unsafe" (no flush: the copy is
# still dirty in the page cache when it exits); pcow-img's default flushes.
# So: durable against durable (-t writeback), unsafe against unsafe.
tp=$(best "rm -f o.pcow; sync" "$PIMG convert -q src.raw o.pcow")
tq=$(best "rm -f o.qcow2; sync" "$QIMG convert -t writeback -O qcow2 src.raw o.qcow2")
"$PIMG" compare o.pcow src.raw >/dev/null || echo "WARNING: pcow copy differs"
echo "convert 1 GiB (512 MiB data), flushed: pcow-img ${tp}s  qemu-img -t writeback ${tq}s  ratio $(echo "$tp $tq" | awk '{printf "%.2f", $1/$2}')"
tpu=$(best "rm -f o.pcow; sync" "$PIMG convert -t unsafe -q src.raw o.pcow")
tqu=$(best "rm -f o.qcow2; sync" "$QIMG convert -O qcow2 src.raw o.qcow2")
echo "convert 1 GiB (512 MiB data), unflushed: pcow-img -t unsafe ${tpu}s  qemu-img ${tqu}s  ratio $(echo "$tpu $tqu" | awk '{printf "%.2f", $1/$2}')"
echo "  sizes: pcow $(stat -c %s o.pcow) qcow2 $(stat -c %s o.qcow2)"
rm -f o.pcow o.qcow2 src.raw

# 1 TiB sparse raw with nclusters data clusters spread evenly
truncate -s 1T big.raw
perl -e '
	my ($f, $n) = @ARGV; open(my $h, "+<", $f) or die; binmode $h;
	my $stride = int((1 << 40) / $n / 65536) * 65536; my $buf = "";
	$buf .= pack("N", int(rand(4294967295))) for 1 .. 16384;
	for my $i (0 .. $n - 1) { seek($h, $i * $stride, 0); print $h pack("N", $i), substr($buf, 4); }
	close $h;' big.raw "$nclusters"
"$PIMG" convert -q big.raw big.pcow
"$QIMG" convert -O qcow2 big.raw big.qcow2
rm -f big.raw
pair "check 1 TiB virtual, $nclusters data clusters" "true" "$PIMG check big.pcow" \
	"true" "$QIMG check big.qcow2"
"$PIMG" check big.pcow | tail -2

rm -f big.pcow big.qcow2

# 3. measure of contiguous data
head -c 1G /dev/urandom > c.raw
"$PIMG" convert -q c.raw c.pcow
"$QIMG" convert -O qcow2 c.raw c.qcow2
pair "measure of a 1 GiB image, all data" "true" "$PIMG measure -O pcow c.pcow" \
	"true" "$QIMG measure -O qcow2 c.qcow2"
pair "measure -f raw of a 1 GiB raw file, all data" "true" "$PIMG measure -f raw -O pcow c.raw" \
	"true" "$QIMG measure -f raw -O qcow2 c.raw"
rm -f c.raw c.pcow c.qcow2

# 4. a chain of depth 8: 256 MiB of data at the bottom, seven empty overlays
truncate -s 16G b.raw
for i in $(seq 0 15); do
	dd if=/dev/urandom of=b.raw bs=1M count=16 seek=$((i * 1024)) conv=notrunc status=none
done
"$PIMG" convert -q b.raw l0.pcow
"$QIMG" convert -O qcow2 b.raw l0.qcow2
rm -f b.raw
for i in $(seq 1 7); do
	"$PIMG" create -b "l$((i - 1)).pcow" "l$i.pcow" >/dev/null
	"$QIMG" create -q -f qcow2 -b "l$((i - 1)).qcow2" -F qcow2 "l$i.qcow2"
done
pair "convert of a depth-8 chain (16 GiB, 256 MiB data)" "rm -f t.pcow; sync" "$PIMG convert -q l7.pcow t.pcow" \
	"rm -f t.qcow2; sync" "$QIMG convert -t writeback -O qcow2 l7.qcow2 t.qcow2"
pair "compare top and bottom of that chain" "true" "$PIMG compare l7.pcow l0.pcow" \
	"true" "$QIMG compare l7.qcow2 l0.qcow2"
pair "measure of the top of that chain" "true" "$PIMG measure -O pcow l7.pcow" \
	"true" "$QIMG measure -O qcow2 l7.qcow2"
rm -f l?.pcow l?.qcow2 t.pcow t.qcow2

# 5. snapshot -c on a 64 TiB image, as the number of snapshots grows
head -c 64M /dev/urandom > s.raw
"$PIMG" create -c 64K s.pcow 64T >/dev/null
"$PIMG" convert -q -n -S 0 s.raw s.pcow
"$QIMG" create -q -f qcow2 s.qcow2 64T
"$QIMG" convert -n -O qcow2 s.raw s.qcow2 2>/dev/null ||
	qemu-io -c "write -P 1 0 64M" s.qcow2 >/dev/null
rm -f s.raw
# mean seconds per snapshot -c of snapshots $2..$3 of tool $1 on $4
snaps() {
	local t0 t1
	for i in $(seq "$2" $(($3 - 25))); do "$1" snapshot -c "s$i" "$4" >/dev/null; done
	t0=$(now)
	for i in $(seq $(($3 - 24)) "$3"); do "$1" snapshot -c "s$i" "$4" >/dev/null; done
	t1=$(now)
	echo "$t0 $t1" | awk '{printf "%.4f", ($2 - $1) / 25}'
}
p1=$(snaps "$PIMG" 1 25 s.pcow); q1=$(snaps "$QIMG" 1 25 s.qcow2)
p2=$(snaps "$PIMG" 26 200 s.pcow); q2=$(snaps "$QIMG" 26 200 s.qcow2)
echo "snapshot -c, 64 TiB, 64 MiB data, snapshots 1-25: pcow-img ${p1}s  qemu-img ${q1}s  ratio $(echo "$p1 $q1" | awk '{printf "%.2f", $1/$2}')"
echo "snapshot -c, 64 TiB, 64 MiB data, snapshots 176-200: pcow-img ${p2}s  qemu-img ${q2}s  ratio $(echo "$p2 $q2" | awk '{printf "%.2f", $1/$2}')"
echo "  growth from the first 25 to the last 25: pcow-img $(echo "$p2 $p1" | awk '{printf "%.2f", $1/$2}')x  qemu-img $(echo "$q2 $q1" | awk '{printf "%.2f", $1/$2}')x"
