#!/bin/sh
# fuzz.sh FUZZER SEED... - run the libFuzzer target on a copy of the seeds
# for FUZZ_SECONDS (default 20); any crash fails the test.
set -eu
bin=$1
shift
work=$(mktemp -d /tmp/vmm-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
for s in "$@"; do cp "$s" "$work/corpus/"; done
"$bin" -max_total_time="${FUZZ_SECONDS:-20}" -max_len=65536 \
	-artifact_prefix="$work/" "$work/corpus" 2>"$work/log" || {
	tail -40 "$work/log"
	exit 1
}
tail -2 "$work/log"
