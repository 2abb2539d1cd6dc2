# L1 side of nvdimm-host-blockdev (see scenario.conf).
need_vmm
g=/pmvm/guests/pmem.elf
say() { echo "$*"; echo "nvdimm-host-blockdev: $*" >/dev/console; }
say "$(cut -d' ' -f1 /proc/uptime): start"
# A pmem block device is not usable as such: libndctl names the namespace.
timeout -s KILL 60 "$VMM" --kernel "$g" --nvdimm /dev/pmem0 </dev/null >"$RUNDIR/b.out" 2>"$RUNDIR/b.err"
rc=$?
say "$(cut -d' ' -f1 /proc/uptime): vmm exited $rc"
cat "$RUNDIR/b.err"
[ $rc = 4 ] || fail "--nvdimm /dev/pmem0: exit $rc, expected 4"
grep -qE 'block device of namespace0.0 \((raw|fsdax) mode\) in region0' "$RUNDIR/b.err" ||
	fail "--nvdimm /dev/pmem0: the message does not name the namespace and its mode"

