# L1 side of nvdimm-bench (see scenario.conf).
need_vmm
g=/pmvm/guests/pmem.elf
h=/pmvm/bin/nvdimm-bench-host
[ -f "$g" ] && [ -x "$h" ] || fail "pmem.elf or nvdimm-bench-host missing (run bench/nvdimm.sh)"
kib=${NVDIMM_BENCH_KIB:-4096}
img=$RUNDIR/bench.img
note "backing file on $(df -T "$RUNDIR" 2>/dev/null | tail -1 | awk '{print $2}')"
"$VMM" --kernel "$g" --timeout 240 --memory 256M --nvdimm "$img,size=16M" \
	--cmdline "phase=bench dimms=1 kib=$kib" </dev/null >"$RUNDIR/g.out" 2>"$RUNDIR/g.err"
rc=$?
tr -d '\r' <"$RUNDIR/g.out" | grep '^BENCH' | sed 's/^/NESTED-/'
[ $rc = 1 ] || { cat "$RUNDIR/g.out" "$RUNDIR/g.err"; fail "bench guest exit $rc"; }
"$h" "$img" $((kib * 1024)) | sed 's/^/NESTED-/' || fail "nvdimm-bench-host failed"
