#!/usr/bin/env bash
# run-fuzz.sh - the 'fuzz' suite test for libpcow: builds a small seed
# corpus of pcow images with pcow-img (plain, with data, snapshots, an
# overlay, a grown image, leaks, a label area, a truncated and a bit-flipped copy, and
# chain containers: overlay + base, with snapshot/resize/commit/rebase and a
# sparse tail selected, see fuzz_pcow.c), then
#   fuzz MODE:   runs the libFuzzer target for FUZZ_SECONDS (default 60)
#   replay MODE: runs the replay driver (same entry point) over the seeds
# Usage: run-fuzz.sh fuzz|replay BINARY PCOW_IMG
set -euo pipefail
mode=$1 bin=$(realpath "$2") img=$(realpath "$3")
secs=${FUZZ_SECONDS:-60}
work=$(mktemp -d /tmp/pcow-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
seeds=$work/seeds
mkdir -p "$seeds" "$work/corpus" "$work/art"
cd "$work"

"$img" create -c 4K a.pcow 64K
cp a.pcow "$seeds/empty"
head -c 20000 /dev/urandom > r.raw
truncate -s 128K r.raw
"$img" convert -q -c 4K r.raw d.pcow
cp d.pcow "$seeds/data"
"$img" snapshot -c one d.pcow
printf 'x%.0s' $(seq 1 5000) | dd of=r.raw conv=notrunc status=none
"$img" convert -q -c 4K r.raw e.pcow
"$img" snapshot -c s1 e.pcow
"$img" snapshot -c s2 e.pcow
"$img" snapshot -a s1 e.pcow
cp e.pcow "$seeds/snapshots"
"$img" create -c 4K -b d.pcow o.pcow
cp o.pcow "$seeds/overlay"
"$img" create -c 8K g.pcow 100K
"$img" resize g.pcow 300K
cp g.pcow "$seeds/grown"
head -c 9000 d.pcow > "$seeds/truncated"
cp d.pcow flip.pcow
printf '\x55' | dd of=flip.pcow bs=1 seek=8300 conv=notrunc status=none
cp flip.pcow "$seeds/flipped"
cp d.pcow leak.pcow
head -c 4096 /dev/urandom >> leak.pcow
cp leak.pcow "$seeds/leak"
"$img" create -c 4K --label-size 128K lab.pcow 64K
cp lab.pcow "$seeds/labels"
# chain containers (see fuzz_pcow.c): "PCOWfz2\n", le32 overlay length,
# le32 selector, overlay, base. Selector bits: 0-2 snapshot to apply, 3-7
# to delete, 8-15 zero tail (64K units), 16 delete all, 17 resize, 18
# commit, 19 unsafe rebase (20: raw), 21 safe rebase, 24-31 grow (64K).
le32() { printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 & 255)) $(($1 >> 8 & 255)) \
	$(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }
chain() {	# OUT OVERLAY BASE SELECTOR
	{ printf 'PCOWfz2\n'; printf "$(le32 "$(stat -c %s "$2")")"; printf "$(le32 "$4")"
	  cat "$2" "$3"; } > "$1"
}
"$img" create -c 4K -b r.raw -F raw or.pcow
chain "$seeds/chain-commit" o.pcow d.pcow $((0x40000))
chain "$seeds/chain-raw-commit" or.pcow r.raw $((0x40000 | 0x20000 | 0x01000000))
chain "$seeds/chain-rebase" o.pcow d.pcow $((0x200000))
chain "$seeds/chain-rebase-raw" o.pcow r.raw $((0x80000 | 0x100000))
cp e.pcow es.pcow
"$img" snapshot -c s3 es.pcow
chain "$seeds/chain-snapshots" es.pcow d.pcow $((0x09 | 0x20000 | 0x02000000))
chain "$seeds/chain-snapshots-all" es.pcow d.pcow $((0x12 | 0x10000 | 0x40000))
chain "$seeds/chain-tail" d.pcow /dev/null $((0xff00))
echo "seed corpus: $(ls "$seeds" | wc -l) images"

case $mode in
fuzz)
  set +e
  "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -max_len=1048576 \
    -print_final_stats=1 -artifact_prefix="$work/art/" "$work/corpus" "$seeds" > "$work/log" 2>&1
  st=$?
  set -e
  tail -20 "$work/log"
  if [ "$st" -ne 0 ] || [ -n "$(ls "$work/art")" ]; then
    echo "fuzz: failure (exit $st); artifacts:"; ls -la "$work/art"
    mkdir -p /tmp/pcow-fuzz-artifacts && cp "$work/art/"* /tmp/pcow-fuzz-artifacts/ 2>/dev/null || true
    exit 1
  fi
  ;;
replay)
  "$bin" "$seeds"
  ;;
*) echo "usage: run-fuzz.sh fuzz|replay BINARY PCOW_IMG" >&2; exit 2 ;;
esac
