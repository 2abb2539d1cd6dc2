#!/usr/bin/env bash
# bench/pcow.sh - pcow-img against qemu-img, measured in the same run on
# the same files. Prints ratios (pcow time / qemu time: below 1 is faster).
#   1. convert: a 1 GiB raw file, half sparse and half random data (32 MiB
#      data / 32 MiB hole), raw -> pcow vs raw -> qcow2 (both 64 KiB clusters,
#      both fdatasync at the end).
#   2. check: a 1 TiB virtual image with many data clusters (CLUSTERS, default
#      32768 clusters of 64 KiB spread over the whole range), pcow vs qcow2.
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
tp=$(best "true" "$PIMG check big.pcow")
tq=$(best "true" "$QIMG check big.qcow2")
echo "check 1 TiB virtual, $nclusters data clusters: pcow-img ${tp}s  qemu-img ${tq}s  ratio $(echo "$tp $tq" | awk '{printf "%.2f", $1/$2}')"
"$PIMG" check big.pcow | tail -2
