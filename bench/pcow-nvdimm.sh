#!/usr/bin/env bash
# bench/pcow-nvdimm.sh [BUILD_DIR] - what a pcow-backed NVDIMM costs a
# guest (issue 10, docs/pcow-runtime.md), against peers in the same run.
# One vmm run of bench/pcow-nvdimm.c (a unikernel guest timing with the
# TSC) with four NVDIMMs of one size, on one file system (next to the
# build, not /tmp, which may be tmpfs):
#   raw    a raw file, pre-written
#   full   a pcow image converted from a pre-written raw file: every
#          cluster allocated, no snapshot
#   holes  an empty pcow image
#   snap   a pcow image like full, then snapshotted: every cluster is held
#          by the snapshot, so a first write copies it
# Prints:
#   - copy bandwidth pcow/raw (full vs raw, rep movsq and a plain load/store
#     loop, REPS copies timed in 4 KiB chunks: the sum of each chunk's best
#     time, robust against a preempted vCPU), target >= 0.95; guest vs host
#     memcpy (best whole copy of 50) of the same
#     size on the raw file (bench/nvdimm-host.c, the physical limit), and
#     guest NVDIMM vs guest RAM;
#   - first-write latency to a hole and to a snapshot cluster (one sample per
#     cluster, p50 and p99) against the VM-exit round trip (a write to an
#     unclaimed I/O port) measured by the same guest in the same run: ratio
#     p50/exit, target <= 3. Also read faults and writes after a read (the
#     write-protect path) for information.
# The direct part runs twice, side by side: vmm's default (writes without
# a fault where KVM has a manual dirty log) and PMVM_PCOW_WRITES=fault (the
# userfaultfd path for every first write), each reported in full, then the
# ratio of their first-write p50s.
# Never asserts on time. Fails (non-zero) only if something did not work:
# the guest's TAP points (data read back, holes zero, copy-on-write keeps
# the snapshot's bytes), vmm's fault counts, pcow-img check of every image.
# Then the same in the nested tier (scenario bench/pcow-nvdimm-scenario,
# linked as guest-tests/nested/scenarios/pcow-nvdimm-bench while this
# runs): L1's mainline KVM (6.1 and 6.12) under QEMU TCG, 4 MiB copies,
# where guest loads and stores go through L1's nested page tables and
# first-write faults take mainline KVM's userfaultfd path (functional
# figures: L1 is a software CPU); PCOW_BENCH_NESTED=0 leaves it out.
# Without a usable /dev/kvm the direct part is skipped (SKIP line).
# Knobs (direct part): PCOW_BENCH_KIB (copy size, default 128: a kvm_pvm
# host runs our guests through KVM's instruction emulator, keep it small),
# PCOW_BENCH_MIB (DIMM size, a multiple of 16, default 32),
# PCOW_BENCH_CLUSTER (KiB, default 64), PCOW_BENCH_REPS (default 11),
# PCOW_BENCH_WRAP (a command prefix for vmm, e.g. "taskset -c 0": every
# vmm thread on one CPU, so a fault's wake-ups stay on that CPU).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
kib=${PCOW_BENCH_KIB:-128} mib=${PCOW_BENCH_MIB:-32}
ckib=${PCOW_BENCH_CLUSTER:-64} reps=${PCOW_BENCH_REPS:-11}
vmm=$build/vmm/vmm guest=$build/bench/pcow-nvdimm.elf img=$build/pcow/pcow-img
for f in "$vmm" "$img"; do
	[ -x "$f" ] || { echo "pcow-nvdimm.sh: no $f (build first)"; exit 1; }
done
[ -f "$guest" ] || { echo "pcow-nvdimm.sh: no $guest (build first)"; exit 1; }
work=$(mktemp -d "$build/pcow-nvdimm-bench.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
die() { echo "pcow-nvdimm.sh: $*"; exit 1; }
cc -O2 -Wall -Wextra -o "$work/host" "$here/pcow-nvdimm-host.c" || exit 1
cc -O2 -o "$work/nvdimm-host" "$here/nvdimm-host.c" || exit 1

# val FILE LINE-PREFIX KEY: the first value of KEY= on lines starting so
val() { grep "^$2" "$1" | tr ' ' '\n' | sed -n "s/^$3=//p" | head -1; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4g", a / b }'; }
us() { awk -v c="$1" -v hz="$hz" 'BEGIN { printf "%.1f us", c * 1e6 / hz }'; }

# verify DIR NCLUSTERS RC: the functional part. DIR/g is the guest's
# console (TAP, BENCH lines), DIR/err vmm's stderr. Prints what failed.
verify() {
	local d=$1 n=$2 rc=$3 plan nok bad=
	plan=$(grep -m1 -E '^1\.\.[0-9]+$' "$d/g" | cut -d. -f3)
	nok=$(grep -cE '^ok [0-9]+' "$d/g")
	[ "$rc" -eq 1 ] || bad="vmm exit status $rc, not 1"
	[ -n "$plan" ] && [ "$plan" = "$nok" ] && ! grep -q '^not ok' "$d/g" ||
		bad="${bad:+$bad; }guest TAP: $nok of ${plan:-?} ok"
	grep -q "^vmm: nvdimm 2: pcow: $n first-touch, 0 copy-on-write" "$d/err" ||
		bad="${bad:+$bad; }vmm did not count $n first-touch faults on holes"
	grep -q "^vmm: nvdimm 3: pcow: 0 first-touch, $n copy-on-write" "$d/err" ||
		bad="${bad:+$bad; }vmm did not count $n copy-on-write faults on snap"
	grep -q "^vmm: nvdimm 1: pcow: 0 first-touch, 0 copy-on-write, 0 read faults" "$d/err" ||
		bad="${bad:+$bad; }full faulted into vmm (it should be all file mappings)"
	echo "$bad"
}

# report DIR WHAT: the figures and ratios of one run (DIR/g, DIR/err, and
# DIR/h: the host peer's "HOST ..." lines).
report() {
	local d=$1 what=$2 hw hr m l rw fw rr fr ram e1 e2 exit50 k p50 p99 n
	hz=$(val "$d/h" HOST tsc_hz)
	hw=$(val "$d/h" HOST write_cycles) hr=$(val "$d/h" HOST read_cycles)
	echo "$what; TSC $(awk -v h="$hz" 'BEGIN { printf "%.2f GHz", h / 1e9 }')"
	echo "copy bandwidth, $(( $(val "$d/g" "BENCH copy" bytes) / 1024 )) KiB, $(val "$d/g" "BENCH copy" reps) copies timed in 4 KiB chunks (cycles: the sum of each chunk's best; in brackets the best whole copy). A ratio pcow/raw is raw cycles / pcow cycles:"
	for m in movsq loop; do
		l="BENCH copy method=$m"
		rw=$(val "$d/g" "$l" raw_write_chunked) fw=$(val "$d/g" "$l" full_write_chunked)
		rr=$(val "$d/g" "$l" raw_read_chunked) fr=$(val "$d/g" "$l" full_read_chunked)
		ram=$(val "$d/g" "$l" ram_chunked)
		printf '  %-5s write: raw %s [%s], pcow %s [%s]; read: raw %s [%s], pcow %s [%s]; guest RAM to RAM %s [%s]\n' \
			"$m" "$rw" "$(val "$d/g" "$l" raw_write_cycles)" "$fw" "$(val "$d/g" "$l" full_write_cycles)" \
			"$rr" "$(val "$d/g" "$l" raw_read_cycles)" "$fr" "$(val "$d/g" "$l" full_read_cycles)" \
			"$ram" "$(val "$d/g" "$l" ram_cycles)"
		echo "ratio $m write bandwidth pcow/raw: $(div "$rw" "$fw") (target >= 0.95; whole copies: $(div "$(val "$d/g" "$l" raw_write_cycles)" "$(val "$d/g" "$l" full_write_cycles)"))"
		echo "ratio $m read  bandwidth pcow/raw: $(div "$rr" "$fr") (target >= 0.95; whole copies: $(div "$(val "$d/g" "$l" raw_read_cycles)" "$(val "$d/g" "$l" full_read_cycles)"))"
		echo "ratio $m write bandwidth pcow/host-memcpy: $(div "$hw" "$fw"), raw/host-memcpy: $(div "$hw" "$rw")"
		echo "ratio $m read  bandwidth pcow/host-memcpy: $(div "$hr" "$fr"), raw/host-memcpy: $(div "$hr" "$rr")"
		echo "ratio $m raw NVDIMM write / guest RAM copy: $(div "$ram" "$rw")"
	done
	e1=$(val "$d/g" "BENCH exit_before" p50) e2=$(val "$d/g" "BENCH exit_after" p50)
	exit50=$(( (e1 + e2) / 2 ))
	echo "VM-exit round trip (out to port 0x80, $(val "$d/g" "BENCH exit_before" n) each, before and after the faults):"
	echo "  p50 $e1 / $e2 cycles ($(us "$exit50")), p99 $(val "$d/g" "BENCH exit_before" p99) / $(val "$d/g" "BENCH exit_after" p99)"
	echo "first-access faults, one per cluster (cycles, and as a multiple of the exit p50):"
	for k in hole_write cow_write hole_read snap_read hole_write_after_read cow_write_after_read; do
		l="BENCH $k "
		p50=$(val "$d/g" "$l" p50) p99=$(val "$d/g" "$l" p99) n=$(val "$d/g" "$l" n)
		printf '  %-21s n=%-4s p50 %9s (%s, %sx)  p99 %9s (%s, %sx)  max %s\n' "$k" \
			"$n" "$p50" "$(us "$p50")" "$(div "$p50" "$exit50")" \
			"$p99" "$(us "$p99")" "$(div "$p99" "$exit50")" "$(val "$d/g" "$l" max)"
	done
	for k in hole_write cow_write; do
		echo "ratio $k p50/exit: $(div "$(val "$d/g" "BENCH $k " p50)" "$exit50") (target <= 3)"
	done
	sed -n 's/^vmm: \(nvdimm [23]: pcow: .*\)/  vmm: \1/p' "$d/err"
}

# direct_run TAG: the images made anew, one vmm run, checked; figures in
# $work/TAG (g, err, h). PMVM_PCOW_WRITES in the environment picks vmm's
# write path (docs/pcow-runtime.md).
direct_run() {
	local d=$work/$1 bytes=$((mib << 20)) rc bad i
	mkdir -p "$d"
	rm -f "$work"/*.pcow "$work/raw.img"
	"$work/host" fill "$work/raw.img" $bytes && "$work/host" fill "$work/src.raw" $bytes ||
		die "cannot write the input files"
	"$img" convert -q -c "${ckib}K" "$work/src.raw" "$work/full.pcow" &&
	"$img" convert -q -c "${ckib}K" "$work/src.raw" "$work/snap.pcow" &&
	"$img" snapshot -c before "$work/snap.pcow" &&
	"$img" create -c "${ckib}K" "$work/holes.pcow" "${mib}M" >/dev/null ||
		die "pcow-img could not make the images"
	rm -f "$work/src.raw"
	sync
	${PCOW_BENCH_WRAP:-} "$vmm" --kernel "$guest" --timeout 600 --memory $((64 + 2 * kib / 1024 + 64))M \
		--nvdimm "$work/raw.img,label-size=0" --nvdimm "$work/full.pcow" \
		--nvdimm "$work/holes.pcow" --nvdimm "$work/snap.pcow" \
		--cmdline "kib=$kib csize=$ckib reps=$reps exits=2000" \
		</dev/null >"$d/guest.out" 2>"$d/err"
	rc=$?
	tr -d '\r' <"$d/guest.out" >"$d/g"
	bad=$(verify "$d" $((bytes / (ckib << 10))) $rc)
	for i in full holes snap; do
		"$img" check "$work/$i.pcow" >"$work/check-$i" 2>&1 ||
			bad="${bad:+$bad; }pcow-img check $i.pcow: $(tail -1 "$work/check-$i")"
	done
	if [ -n "$bad" ]; then
		echo "pcow-nvdimm.sh: the bench guest failed ($1): $bad"
		cat "$d/g" "$d/err"
		exit 1
	fi
	"$work/nvdimm-host" "$work/raw.img" $((kib * 1024)) >"$d/h" || die "nvdimm-host failed"
	"$work/host" tsc >>"$d/h" || die "cannot time the TSC"
}

# p50 of BENCH line KEY in run TAG
p50_of() { val "$work/$1/g" "BENCH $2 " p50; }

status=0
if [ -w /dev/kvm ]; then
	direct_run default
	PMVM_PCOW_WRITES=fault direct_run fault
	echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
	fs=$(df -T "$work" | awk 'NR == 2 { print $2 }')
	if grep -q "writes without a fault" "$work/default/err"; then
		mode="writes without a fault (KVM dirty log)"
	else
		mode="every first write faults (this KVM has no manual dirty log)"
	fi
	report "$work/default" "pcow NVDIMM bench on /dev/kvm: four $mib MiB NVDIMMs in $build ($fs), $ckib KiB clusters; vmm's default: $mode"
	echo
	report "$work/fault" "the same with PMVM_PCOW_WRITES=fault (every first write faults into vmm through userfaultfd), same host, same run"
	echo
	for k in hole_write cow_write; do
		echo "ratio $k p50 default/fault: $(div "$(p50_of default $k)" "$(p50_of fault $k)")"
	done
else
	echo "SKIP (direct part): no /dev/kvm"
fi

[ "${PCOW_BENCH_NESTED:-1}" = 1 ] || exit $status
cc -O2 -static -o "$build/bench/pcow-nvdimm-host-static" "$here/pcow-nvdimm-host.c" &&
cc -O2 -static -o "$build/bench/nvdimm-host-static" "$here/nvdimm-host.c" || exit 1
link=$here/../guest-tests/nested/scenarios/pcow-nvdimm-bench
[ -e "$link" ] && die "$link exists (another run?)"
ln -s ../../../bench/pcow-nvdimm-scenario "$link" || exit 1
trap 'rm -f "$link"; rm -rf "$work"' EXIT
"$here/../guest-tests/nested/run" --build "$build" --only pcow-nvdimm-bench --verbose \
	>"$work/nested.log" 2>&1
rm -f "$link"
cp "$work/nested.log" "$build/bench/pcow-nvdimm-nested.log"
if ! grep -q '^ok .*pcow-nvdimm-bench' "$work/nested.log"; then
	echo "pcow-nvdimm.sh: nested part failed (log: $build/bench/pcow-nvdimm-nested.log):"
	tail -40 "$work/nested.log"
	exit 1
fi
# The log holds each kernel line's TAP line, then that run's PCOWB lines.
awk -v w="$work" '
	/^(not )?ok .*pcow-nvdimm-bench \[/ { l = $0; sub(/.*\[/, "", l); sub(/\].*/, "", l) }
	l != "" && /PCOWB-[GEH] / {
		k = $0; sub(/.*PCOWB-/, "", k); f = substr(k, 1, 1); sub(/^[GEH] /, "", k)
		sub(/\r$/, "", k)
		print k > (w "/nested-" l "." (f == "G" ? "g" : f == "E" ? "err" : "h"))
	}' "$work/nested.log"
for g in "$work"/nested-*.g; do
	[ -e "$g" ] || die "no figures in the nested log ($build/bench/pcow-nvdimm-nested.log)"
	line=${g%.g} line=${line##*/nested-}
	d=$work/n-$line
	mkdir -p "$d"
	mv "$g" "$d/g"; mv "$work/nested-$line.err" "$d/err"; mv "$work/nested-$line.h" "$d/h"
	bad=$(verify "$d" 512 1)
	[ -z "$bad" ] || { echo "pcow-nvdimm.sh: nested [$line]: $bad"; status=1; continue; }
	echo
	report "$d" "nested [$line] (L2 bench guest under L1's mainline KVM $line, L1 on QEMU TCG: functional figures; L1's tmpfs)"
done
exit $status
