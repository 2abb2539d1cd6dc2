# L1 side of pcow-fio-bench (see scenario.conf). Prints
# "PFIO backend=B op=read|write qd=1 ops=N iops=N" lines for bench/pcow-fio.sh.
img=/pmvm/bin/pcow-img
[ -x "$img" ] || fail "no pcow-img in L1"
ops=3000 blk_ops=1000	# virtio-blk under TCG does well under 100 IOPS
L2_TIMEOUT=300
L2_MEM=512M
note "backing files on $(df -T "$RUNDIR" 2>/dev/null | tail -1 | awk '{print $2}')"

# run BACKEND MODE OPS vmm-options...: one L2 boot, its randio lines as PFIO
run() {
	local b=$1 mode=$2
	L2_APPEND="pmvm.arg=$mode:$3"
	shift 3
	l2_boot "$@"
	[ "$VMM_RC" = 0 ] || { cat "$L2_ERR"; fail "$b: vmm exited $VMM_RC"; }
	case $mode in pmem*) expect_out '^DAX=ok' "$b: ext4 -o dax not in effect" ;; esac
	[ "$(tr -d '\r' <"$L2_OUT" | grep -c '^randio ')" = 2 ] || fail "$b: randio did not run"
	tr -d '\r' <"$L2_OUT" | sed -n "s/^randio /PFIO backend=$b /p"
	grep "pcow:" "$L2_ERR" | sed "s/^/PFIO backend=$b /"
}

# Two raw boots (raw-first, then raw): how far two samples of the same
# thing fall apart here is the noise the other ratios must be read against.
run raw-first pmem-new $ops --nvdimm "$RUNDIR/warm.img,size=256M,label-size=0"
rm -f "$RUNDIR/warm.img"
run raw pmem-new $ops --nvdimm "$RUNDIR/raw.img,size=256M,label-size=0"
"$img" create -c 64K "$RUNDIR/img.pcow" 256M >/dev/null || fail "pcow-img create"
run pcow pmem-new $ops --nvdimm "$RUNDIR/img.pcow"
"$img" check "$RUNDIR/img.pcow" || fail "pcow-img check after the first pcow boot"
grep -q 'pcow: 0 first-touch' "$L2_ERR" && fail "pcow: no first-touch faults"
"$img" snapshot -c before "$RUNDIR/img.pcow" || fail "pcow-img snapshot -c"
run pcow-cow pmem-again $ops --nvdimm "$RUNDIR/img.pcow"
"$img" check "$RUNDIR/img.pcow" || fail "pcow-img check after the copy-on-write boot"
grep -q 'pcow: [0-9]* first-touch, 0 copy-on-write' "$L2_ERR" && fail "pcow-cow: no copy-on-write faults"
truncate -s 256M "$RUNDIR/disk.img"
run blk vda $blk_ops --disk "$RUNDIR/disk.img"
