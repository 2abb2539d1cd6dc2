# L1 side of pcow-nvdimm-bench (see scenario.conf). Prints the guest's
# lines as "PCOWB-G ...", vmm's as "PCOWB-E ...", the host peer's as
# "PCOWB-H ..."; bench/pcow-nvdimm.sh reads them from the nested log.
need_vmm
g=/pmvm/guests/pcow-nvdimm.elf h=/pmvm/bin/pcow-nvdimm-host
nh=/pmvm/bin/nvdimm-host img=/pmvm/bin/pcow-img
[ -f "$g" ] && [ -x "$h" ] && [ -x "$nh" ] && [ -x "$img" ] ||
	fail "pcow-nvdimm.elf, the host helpers or pcow-img missing (run bench/pcow-nvdimm.sh)"
kib=4096 mib=32 ckib=64 bytes=$((32 << 20))
w=$RUNDIR
note "backing files on $(df -T "$w" 2>/dev/null | tail -1 | awk '{print $2}')"
"$h" fill "$w/raw.img" $bytes && "$h" fill "$w/src.raw" $bytes || fail "cannot write the inputs"
"$img" convert -q -c ${ckib}K "$w/src.raw" "$w/full.pcow" &&
"$img" convert -q -c ${ckib}K "$w/src.raw" "$w/snap.pcow" &&
"$img" snapshot -c before "$w/snap.pcow" &&
"$img" create -c ${ckib}K "$w/holes.pcow" ${mib}M >/dev/null || fail "pcow-img could not make the images"
rm -f "$w/src.raw"
"$VMM" --kernel "$g" --timeout 360 --memory $((64 + 2 * kib / 1024 + 64))M \
	--nvdimm "$w/raw.img,label-size=0" --nvdimm "$w/full.pcow" \
	--nvdimm "$w/holes.pcow" --nvdimm "$w/snap.pcow" \
	--cmdline "kib=$kib csize=$ckib reps=5 exits=2000" </dev/null >"$w/g.out" 2>"$w/g.err"
rc=$?
tr -d '\r' <"$w/g.out" | sed 's/^/PCOWB-G /'
sed 's/^/PCOWB-E /' "$w/g.err"
[ $rc = 1 ] || fail "bench guest exit $rc"
for i in full holes snap; do
	"$img" check "$w/$i.pcow" >/dev/null 2>&1 || fail "pcow-img check $i.pcow: status $?"
done
"$nh" "$w/raw.img" $((kib * 1024)) | sed 's/^/PCOWB-H /' || fail "nvdimm-host failed"
"$h" tsc | sed 's/^/PCOWB-H /'
