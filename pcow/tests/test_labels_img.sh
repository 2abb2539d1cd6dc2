#!/usr/bin/env bash
# test_labels_img.sh - pcow-img and the label storage area
# (docs/pcow-format.md "Label storage area"): create --label-size and
# -o label-size=, bad sizes (exit 2, image not created), info (text and
# JSON), check, convert to pcow (kept) and to raw (dropped, with a note),
# resize (kept), snapshots (kept), an overlay over a labelled base (copied),
# and the feature bit in the root slot (an older reader refuses the image).
# The label bytes themselves are written by a guest in the direct-tier
# test nvdimm-pcow-labels; the library's unit test covers crash safety.
# Usage: test_labels_img.sh PATH/TO/pcow-img
set -uo pipefail
IMG=$(realpath "$1")
T=$(mktemp -d /tmp/pcow-labels-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
fails=0 n=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
run() { out=$("$@" 2>&1); st=$?; }
label_of() { "$IMG" info "$1" | sed -n 's/^label size: \([0-9]*\) bytes$/\1/p'; }

run "$IMG" create --label-size 128K a.pcow 16M
check "create --label-size 128K" [ $st = 0 ]
check "info shows 'label size: 131072 bytes'" [ "$(label_of a.pcow)" = 131072 ]
run "$IMG" info --output=json a.pcow
check "info JSON has \"label-size\":131072" grep -q '"label-size":131072' <<<"$out"
check "the root's incompatible features have bit 0 (an old reader refuses)" \
	[ "$(od -An -tu1 -j16 -N1 a.pcow | tr -d ' ')" = 1 ]
run "$IMG" create -o label-size=1M b.pcow 16M
check "create -o label-size=1M" eval '[ $st = 0 ] && [ "$(label_of b.pcow)" = 1048576 ]'
run "$IMG" create n.pcow 16M
check "without the option: no label area, bit 0 clear, JSON label-size 0" eval \
	'[ -z "$(label_of n.pcow)" ] && [ "$(od -An -tu1 -j16 -N1 n.pcow | tr -d " ")" = 0 ] &&
	 "$IMG" info --output=json n.pcow | grep -q "\"label-size\":0"'
for s in 100K 64K 32M 130K x; do
	run "$IMG" create --label-size $s bad.pcow 16M
	check "create --label-size $s: exit 2, says why, no file" eval \
		'[ $st = 2 ] && grep -q "128K..16M in 4K steps\|invalid size" <<<"$out" && [ ! -e bad.pcow ]'
done
run "$IMG" create --label-size 0 z.pcow 16M
check "create --label-size 0: no area" eval '[ $st = 0 ] && [ -z "$(label_of z.pcow)" ]'
run "$IMG" check a.pcow
check "check: clean with a label area" [ $st = 0 ]
"$IMG" snapshot -c s1 a.pcow && "$IMG" snapshot -a s1 a.pcow && "$IMG" snapshot -d s1 a.pcow
check "snapshots leave the label area" eval '[ "$(label_of a.pcow)" = 131072 ] && "$IMG" check a.pcow >/dev/null'
run "$IMG" resize a.pcow 32M
check "resize keeps it" eval '[ $st = 0 ] && [ "$(label_of a.pcow)" = 131072 ]'
run "$IMG" convert -q a.pcow c.pcow
check "convert to pcow keeps it" eval '[ $st = 0 ] && [ "$(label_of c.pcow)" = 131072 ]'
run "$IMG" convert -q -O raw a.pcow c.raw
check "convert to raw: exit 0 with a note that the labels are dropped" eval \
	'[ $st = 0 ] && grep -q "label area is not converted" <<<"$out" && [ "$(stat -c %s c.raw)" = 33554432 ]'
run "$IMG" create -b a.pcow o.pcow
check "an overlay over a labelled base gets its label area" eval \
	'[ $st = 0 ] && [ "$(label_of o.pcow)" = 131072 ] && "$IMG" check o.pcow >/dev/null'
run "$IMG" create -b a.pcow --label-size 256K o2.pcow
check "an overlay with another size gets its own" eval '[ "$(label_of o2.pcow)" = 262144 ]'
run "$IMG" create -b c.raw -F raw o3.pcow
check "an overlay over a raw base has none" eval '[ $st = 0 ] && [ -z "$(label_of o3.pcow)" ]'
run "$IMG" create --help
check "create --help names --label-size" grep -q -- "--label-size" <<<"$out"
echo "1..$n"
exit $((fails > 0))
