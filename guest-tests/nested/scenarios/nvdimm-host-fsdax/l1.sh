# L1 side of nvdimm-host-fsdax (see scenario.conf).
need_vmm
g=/pmvm/guests/pmem.elf
[ -f "$g" ] || fail "$g missing (not built in --build?)"
run() { # TAG [vmm args]: run the pmem guest, output in $RUNDIR/TAG.{out,err}, status in RC
	local tag=$1; shift
	note "$(cut -d' ' -f1 /proc/uptime): vmm $*"
	timeout -s KILL 150 "$VMM" --kernel "$g" --timeout 120 "$@" </dev/null >"$RUNDIR/$tag.out" 2>"$RUNDIR/$tag.err"
	RC=$?
	sed 's/^/  | /' "$RUNDIR/$tag.out" "$RUNDIR/$tag.err"
}
# A file on a DAX filesystem (ext4 -o dax on an fsdax namespace): MAP_SYNC.
timeout 120 /usr/bin/ndctl create-namespace -f -e namespace0.0 -m fsdax >"$RUNDIR/ns2" 2>&1 ||
	{ cat "$RUNDIR/ns2"; fail "ndctl create-namespace -m fsdax failed"; }
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/pmem0 ] && break; sleep 0.5; done
timeout 120 /usr/sbin/mke2fs -q -F -t ext4 -b 4096 /dev/pmem0 || fail "mke2fs on /dev/pmem0 failed"
mkdir -p /mnt/pm && mount -t ext4 -o dax /dev/pmem0 /mnt/pm || fail "mount -o dax failed"
grep ' /mnt/pm ' /proc/mounts
run fw --nvdimm /mnt/pm/nv.img,size=16M --cmdline "phase=write dimms=1 sparse touch=4 flushes=1 seed=8"
[ $RC = 1 ] || fail "write run on a DAX-filesystem file: exit $RC"
grep -q 'MAP_SYNC mapping' "$RUNDIR/fw.err" || fail "the file on ext4 -o dax was not mapped MAP_SYNC"
run fv --nvdimm /mnt/pm/nv.img --cmdline "phase=verify dimms=1 sparse touch=4 seed=8"
[ $RC = 1 ] || fail "verify run on a DAX-filesystem file: exit $RC"
umount /mnt/pm
note "file on ext4 -o dax: MAP_SYNC mapping, written and read back"
