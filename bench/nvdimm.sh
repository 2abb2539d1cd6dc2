#!/usr/bin/env bash
# bench/nvdimm.sh [BUILD_DIR] - NVDIMM bandwidth and flush cost, guest
# against host, in one run on one backing file:
#   - the direct-tier pmem guest (phase=bench) copies KIB KiB into and out
#     of the NVDIMM with rep movsq (best of 5, TSC cycles), then times 200
#     flush-hint writes, each after dirtying one page;
#   - bench/nvdimm-host.c maps the same file and does the same copies with
#     memcpy and with rep movsq (best of 50), and times 200 fdatasync calls
#     after dirtying one page.
# Prints the ratios: guest bandwidth as % of host bandwidth (target 95%),
# and one guest flush as a multiple of one host fdatasync. No assertions.
# NVDIMM_BENCH_KIB (default 256) sets the copy size: this machine's
# kvm_pvm emulates every instruction of our guests, so keep it small.
# Then the same in the nested tier (scenario nvdimm-bench: L1's mainline KVM
# under QEMU TCG, 4 MiB copies), where guest stores do not go through an
# instruction emulator; NVDIMM_BENCH_NESTED=0 leaves that part out.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
kib=${NVDIMM_BENCH_KIB:-256}
vmm=$build/vmm/vmm guest=$build/guest-tests/nvdimm/pmem.elf
[ -x "$vmm" ] && [ -f "$guest" ] || { echo "nvdimm.sh: build $build first"; exit 1; }
if [ ! -w /dev/kvm ]; then echo "SKIP: no /dev/kvm"; exit 0; fi
tmp=$(mktemp -d /tmp/pmvm-nvdimm-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# The backing file lives where the build is (a real disk), not in /tmp
# (which may be tmpfs, where fdatasync costs nothing).
img=$build/nvdimm-bench.img
rm -f "$img"
trap 'rm -rf "$tmp" "$img"' EXIT

cc -O2 -o "$tmp/nvdimm-host" "$here/nvdimm-host.c" || exit 1
"$vmm" --kernel "$guest" --timeout 300 --memory 256M --nvdimm "$img,size=16M" \
	--cmdline "phase=bench dimms=1 kib=$kib" </dev/null >"$tmp/guest.out" 2>"$tmp/guest.err"
rc=$?
if [ $rc -ne 1 ] || ! grep -q '^BENCH bytes=' "$tmp/guest.out"; then
	echo "nvdimm.sh: guest run failed (status $rc)"; cat "$tmp/guest.out" "$tmp/guest.err"; exit 1
fi
"$tmp/nvdimm-host" "$img" $((kib * 1024)) >"$tmp/host.out" || exit 1

val() { tr ' ' '\n' <"$1" | grep "^$2=" | head -1 | cut -d= -f2; }
tr -d '\r' <"$tmp/guest.out" | grep '^BENCH' | tr '\n' ' ' >"$tmp/g"
cat "$tmp/host.out" >"$tmp/h"
gw=$(val "$tmp/g" write_cycles) gr=$(val "$tmp/g" read_cycles)
gf=$(val "$tmp/g" flush_cycles_total) gfb=$(val "$tmp/g" flush_cycles_best)
hw=$(val "$tmp/h" write_cycles) hr=$(val "$tmp/h" read_cycles)
hmw=$(val "$tmp/h" movsq_write_cycles) hmr=$(val "$tmp/h" movsq_read_cycles)
hf=$(val "$tmp/h" fdatasync_cycles_avg) hfb=$(val "$tmp/h" fdatasync_cycles_best)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f%%", 100 * a / b }'; }

echo "nvdimm bench: $kib KiB copies on a 16M file NVDIMM ($img)"
echo "  guest write (rep movsq)   $gw cycles; host memcpy $hw, host rep movsq $hmw"
echo "  guest read  (rep movsq)   $gr cycles; host memcpy $hr, host rep movsq $hmr"
echo "  guest flush (avg of 200)  $((gf / 200)) cycles (best $gfb); host fdatasync avg $hf (best $hfb)"
echo "ratio write bandwidth guest/host-memcpy: $(pct "$hw" "$gw") (target 95%)"
echo "ratio read  bandwidth guest/host-memcpy: $(pct "$hr" "$gr") (target 95%)"
echo "ratio write bandwidth guest/host-rep-movsq: $(pct "$hmw" "$gw")"
echo "ratio read  bandwidth guest/host-rep-movsq: $(pct "$hmr" "$gr")"
echo "ratio one guest flush / one host fdatasync: $(ratio "$((gf / 200))" "$hf") (best: $(ratio "$gfb" "$hfb"))"

[ "${NVDIMM_BENCH_NESTED:-1}" = 1 ] || exit 0
cc -O2 -static -o "$build/nvdimm-bench-host" "$here/nvdimm-host.c" || exit 1
link=$here/../guest-tests/nested/scenarios/nvdimm-bench
[ -e "$link" ] && { echo "nvdimm.sh: $link exists (another run?)" >&2; exit 1; }
ln -s ../../../bench/nvdimm-scenario "$link" || exit 1
trap 'rm -f "$link"; rm -rf "$tmp" "$img"' EXIT
"$here/../guest-tests/nested/run" --build "$build" --only nvdimm-bench --verbose \
	>"$tmp/nested.log" 2>&1
rm -f "$link"
if ! grep -q '^ok .*nvdimm-bench' "$tmp/nested.log"; then
	echo "nvdimm.sh: nested part failed:"; tail -40 "$tmp/nested.log"; exit 1
fi
grep -o 'NESTED-BENCH.*' "$tmp/nested.log" | sed 's/NESTED-//' | tr '\n' ' ' >"$tmp/g"
grep -o 'NESTED-HOST.*' "$tmp/nested.log" | sed 's/NESTED-//' >"$tmp/h"
gw=$(val "$tmp/g" write_cycles) gr=$(val "$tmp/g" read_cycles) nb=$(val "$tmp/g" bytes)
gf=$(val "$tmp/g" flush_cycles_total) gfb=$(val "$tmp/g" flush_cycles_best)
hw=$(val "$tmp/h" write_cycles) hr=$(val "$tmp/h" read_cycles)
hmw=$(val "$tmp/h" movsq_write_cycles) hmr=$(val "$tmp/h" movsq_read_cycles)
hf=$(val "$tmp/h" fdatasync_cycles_avg) hfb=$(val "$tmp/h" fdatasync_cycles_best)
echo "nested (L2 test guest under L1's KVM, L1 on QEMU TCG): $((nb / 1024)) KiB copies"
echo "  guest write (rep movsq)   $gw cycles; L1 memcpy $hw, L1 rep movsq $hmw"
echo "  guest read  (rep movsq)   $gr cycles; L1 memcpy $hr, L1 rep movsq $hmr"
echo "  guest flush (avg of 200)  $((gf / 200)) cycles (best $gfb); L1 fdatasync avg $hf (best $hfb)"
echo "ratio nested write bandwidth guest/L1-memcpy: $(pct "$hw" "$gw") (target 95%)"
echo "ratio nested read  bandwidth guest/L1-memcpy: $(pct "$hr" "$gr") (target 95%)"
echo "ratio nested write bandwidth guest/L1-rep-movsq: $(pct "$hmw" "$gw")"
echo "ratio nested read  bandwidth guest/L1-rep-movsq: $(pct "$hmr" "$gr")"
echo "ratio nested one guest flush / one L1 fdatasync: $(ratio "$((gf / 200))" "$hf") (best: $(ratio "$gfb" "$hfb"))"
