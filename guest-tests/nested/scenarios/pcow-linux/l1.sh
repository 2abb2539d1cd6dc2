# L1 side of pcow-linux (see scenario.conf). Several L2s may run at once
# here, so this file has its own background helpers (vm_*) beside
# l1-lib.sh's single-VM ones. Each part reports a subtest line on L1's
# console ("PMVM-SUB ok|not ok NAME ..."), which run relays as a TAP line.
PI=/pmvm/bin/pcow-img
CTL=/pmvm/bin/vmm-ctl
L2_KERNEL=$L2_VMLINUX
L2_MEM=${PMVM_PCOW_L2_MEM:-512M}   # the 16 GiB fsdax memmap (-M mem) takes 256 MiB
L2_TIMEOUT=900
D=/mnt/img
IMG=$D/main.pcow
SUBS="pcow-linux-fsdax pcow-linux-lock pcow-linux-snapshot pcow-linux-overlay pcow-linux-thin-reads pcow-linux-kill"
DONE_SUBS= BAD=0

up() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }
T_START=$(up)

# ---- subtest results -------------------------------------------------------
sub_ok() { # NAME [T0 [NOTE]]
	echo "PMVM-SUB ok $1 ($(since "${2:-$T_START}")s)${3:+ ($3)}" >/dev/ttyS0
	note "SUBTEST ok $1"; DONE_SUBS="$DONE_SUBS $1"
}
sub_fail() { # NAME WHY
	echo "PMVM-SUB not ok $1 # $2" >/dev/ttyS0
	note "SUBTEST not ok $1: $2"; DONE_SUBS="$DONE_SUBS $1"; BAD=$((BAD + 1))
}
# a part failing because the scenario stopped earlier still gets its line
# (run would report it missing anyway, this says why)
at_exit() {
	for s in $SUBS; do
		case " $DONE_SUBS " in *" $s "*) ;;
		*) echo "PMVM-SUB not ok $s # not reached: $(grep '^FAIL:' "$RUNDIR/log" 2>/dev/null | tail -n1 | cut -c7-)" >/dev/ttyS0 ;;
		esac
	done
}
trap at_exit EXIT

# ---- L2s in the background, any number at once -----------------------------
# vm_start TAG FD [vmm options]: console in $RUNDIR/TAG.out, vmm's stderr in
# TAG.err, console input through a fifo held open on descriptor FD (7..9).
vm_start() {
	local tag=$1 fd=$2 initrd
	shift 2
	initrd=$(l2_initrd) || fail "no L2 initramfs"
	rm -f "$RUNDIR/$tag.in" "$RUNDIR/$tag.out"; mkfifo "$RUNDIR/$tag.in"
	echo "+ [$tag] vmm --kernel $L2_KERNEL --initrd $initrd --cmdline '$L2_CMDLINE_BASE pmvm.scenario=$SCENARIO $L2_APPEND' --smp $L2_SMP -m $L2_MEM --timeout $L2_TIMEOUT $*"
	eval "T0_$tag=$(up)"
	"$VMM" --kernel "$L2_KERNEL" --initrd "$initrd" \
		--cmdline "$L2_CMDLINE_BASE pmvm.scenario=$SCENARIO $L2_APPEND" \
		--smp "$L2_SMP" -m "$L2_MEM" --timeout "$L2_TIMEOUT" "$@" \
		<"$RUNDIR/$tag.in" >"$RUNDIR/$tag.out" 2>"$RUNDIR/$tag.err" &
	eval "PID_$tag=$!"
	eval "exec $fd>\"\$RUNDIR/\$tag.in\""
}
vm_pid() { eval "echo \$PID_$1"; }
vm_alive() { kill -0 "$(vm_pid "$1")" 2>/dev/null; }
vm_grep() { tr -d '\r' <"$RUNDIR/$1.out" | grep -q -- "$2"; }
vm_wait_for() { # TAG PATTERN SECS: 0 once TAG's guest printed PATTERN
	local i=0 max=$(($3 * 5))
	while [ $i -lt $max ]; do
		vm_grep "$1" "$2" && return 0
		vm_alive "$1" || { vm_grep "$1" "$2"; return; }
		sleep 0.2; i=$((i + 1))
	done
	return 1
}
vm_send() { eval "printf '%s\n' \"\$3\" >&$2"; }
vm_wait() { # TAG FD: close its input, wait for vmm; status in RC_TAG
	local rc
	eval "exec $2>&-"
	wait "$(vm_pid "$1")"; rc=$?
	eval "RC_$1=$rc"
	echo "vmm exited with status $rc after $(since "$(eval "echo \$T0_$1")")s"
	echo "[$1] vmm: $(grep nvdimm "$RUNDIR/$1.err" | tr '\n' ' ')"
	[ "${PMVM_VERBOSE:-0}" = 1 ] && vm_show "$1" 400
	return 0
}
vm_rc() { eval "echo \$RC_$1"; }
vm_val() { tr -d '\r' <"$RUNDIR/$1.out" | sed -n "s/^$2=//p" | tail -n1; }
vm_show() {
	echo "-- [$1] vmm stderr:"; tail -n "${2:-30}" "$RUNDIR/$1.err" | sed "s/^/$1 vmm| /"
	echo "-- [$1] L2 console:"; tail -n "${2:-30}" "$RUNDIR/$1.out" | tr -d '\r' | sed "s/^/$1 L2| /"
}
vm_fail() { vm_show "$1"; fail "[$1] $2"; }
# vm_tcg_retry TAG: TAG's vmm has exited (vm_wait). 0 when its guest died of
# a known QEMU fault (l2_tcg_fault in l1-lib.sh) and was not repeated yet: the
# caller starts it once more. The first console is kept as TAG-1.out.
vm_tcg_retry() {
	case $(vm_rc "$1") in 6|8) ;; *) return 1 ;; esac
	eval "[ -z \"\$RETRIED_$1\" ]" && l2_tcg_fault "$RUNDIR/$1.out" "$(vm_pid "$1")" || return 1
	eval "RETRIED_$1=1"
	vm_show "$1" 60
	l2_tcg_retry_note "[$1]"
	cp "$RUNDIR/$1.out" "$RUNDIR/$1-1.out"; cp "$RUNDIR/$1.err" "$RUNDIR/$1-1.err"
}
# vm_up TAG FD PATTERN SECS: TAG (started) printed PATTERN within SECS;
# or it died of a known QEMU fault and was started again (vmm options after
# SECS; L2_APPEND as for its first start) and printed it then
vm_up() {
	local tag=$1 fd=$2 pat=$3 secs=$4
	shift 4
	vm_wait_for "$tag" "$pat" "$secs" && return 0
	vm_alive "$tag" && return 1
	vm_wait "$tag" "$fd"
	vm_tcg_retry "$tag" || return 1
	vm_start "$tag" "$fd" "$@"
	vm_wait_for "$tag" "$pat" "$secs"
}
# vm_run TAG FD [vmm options]: boot TAG and wait for vmm to exit; once more
# after a known QEMU fault
vm_run() {
	local tag=$1 fd=$2
	shift 2
	vm_start "$tag" "$fd" "$@"
	vm_wait "$tag" "$fd"
	vm_tcg_retry "$tag" || return 0
	vm_start "$tag" "$fd" "$@"
	vm_wait "$tag" "$fd"
}
# set_is TAG SET VALUE: the guest's last SET_x line is VALUE ("HASH ok");
# prints why not
set_is() {
	local v
	v=$(vm_val "$1" "SET_$2")
	[ "$v" = "$3" ] || echo "[$1] set $2: '${v:-absent}', expected '$3'"
}
kib() { du -k "$1" | cut -f1; }
imgsum() { # FILE: its sha256 (the base must stay byte-identical)
	local s
	s=$(sha256sum <"$1" | cut -c1-64)
	[ ${#s} = 64 ] || fail "sha256sum of $1 failed"
	echo "$s"
}
why1() { # VAR MSG: the first reason a part failed is kept
	eval "[ -n \"\$$1\" ] || $1=\$2"
}

need_vmm
for b in "$PI" "$CTL" /usr/bin/ndctl /usr/sbin/mke2fs; do
	[ -x "$b" ] || fail "$b missing in L1"
done

# ---- L1's disk for the images: ext4 (page cache, no DAX) on L1's NVDIMM ------
timeout 120 /usr/bin/ndctl create-namespace -f -e namespace0.0 -m fsdax >"$RUNDIR/ns" 2>&1 ||
	{ cat "$RUNDIR/ns"; fail "L1: ndctl create-namespace for the image filesystem failed"; }
for i in $(seq 1 20); do [ -b /dev/pmem0 ] && break; sleep 0.5; done
timeout 120 /usr/sbin/mke2fs -q -F -t ext4 -b 4096 /dev/pmem0 || fail "L1: mke2fs failed"
mkdir -p "$D" && mount -t ext4 /dev/pmem0 "$D" || fail "L1: mount of the image filesystem failed"
df -k "$D"

# ---- boot A: fsdax + ext4 -o dax, 64 MiB (set a); lock and snapshot parts
# while it waits; then set c and power off ----------------------------------
T_A=$(up)
L2_SMP=2
L2_APPEND="pmvm.arg=mkfs,write:a:16:4096,snapdialog,write:c:2:4096"
# A guest that died of a known QEMU fault (vm_tcg_retry) gets one more boot
# on a new image, said in the fsdax line.
A_RETRY=
for attempt in 1 2; do
	rm -f "$IMG"
	"$PI" create -c 64K "$IMG" 16G || fail "pcow-img create failed"
	K0=$(kib "$IMG")
	note "new 16G image: $K0 KiB"
	vm_start A 7 --nvdimm "$IMG" --control "$RUNDIR/a.sock"
	vm_wait_for A '^PMVM-WAIT=snap' 900 && break
	vm_wait A 7
	[ $attempt = 1 ] && vm_tcg_retry A ||
		vm_fail A "the guest never got past writing set a (vmm status $(vm_rc A))"
	A_RETRY="boot A ran twice: the first died of $TCG_FAULT_WHY"
done
KA=$(kib "$IMG")
GROW=$((KA - K0))
note "image after 64 MiB of files: $KA KiB (+$GROW KiB)"
FSDAX_WHY=
vm_grep A '^FSDAX=ok' || FSDAX_WHY="ndctl create-namespace -m fsdax failed"
[ -z "$FSDAX_WHY" ] && { vm_grep A '^DAX_MOUNT=ok' || FSDAX_WHY="ext4 -o dax did not mount with DAX in effect"; }
[ -z "$FSDAX_WHY" ] && vm_grep A '^WRITE_FAIL' && FSDAX_WHY="a write failed in the guest: $(vm_val A WRITE_FAIL)"
SUM_A=$(vm_val A SET_a)
[ -z "$FSDAX_WHY" ] && [ "${SUM_A#* }" != written ] && FSDAX_WHY="set a was not written ('$SUM_A')"
SUM_A=${SUM_A% *}
# 64 MiB of data must be in the file; beyond it, ext4's metadata clusters
# (64K each) and the pre-allocator's reserve (at most 64 clusters: 4 MiB)
if [ -z "$FSDAX_WHY" ] && { [ $GROW -lt 65536 ] || [ $GROW -gt $((65536 + 24576)) ]; }; then
	FSDAX_WHY="the image grew by $GROW KiB for 65536 KiB of files (expected 65536..$((65536 + 24576)))"
fi

# lock part 1: the image vmm serves
T_L=$(up)
LOCK_WHY= LOCKS=
"$VMM" --kernel "$L2_KERNEL" --nvdimm "$IMG" --timeout 5 </dev/null >"$RUNDIR/vmm2.out" 2>"$RUNDIR/vmm2.err"
r=$?
if [ $r = 0 ] || ! grep -q 'in use' "$RUNDIR/vmm2.err"; then
	LOCK_WHY="a second vmm on the image vmm serves: status $r, '$(head -n1 "$RUNDIR/vmm2.err")'"
fi
if [ -z "$LOCK_WHY" ]; then
	"$PI" info "$IMG" >"$RUNDIR/lk-info" 2>&1
	r=$?
	if [ $r = 0 ]; then
		# no lock: write commands are not tried (they would damage the image)
		LOCK_WHY="pcow-img info opened $IMG while vmm serves it (no -U): pcow-img takes no locks yet"
	elif ! grep -qiE 'in use|lock' "$RUNDIR/lk-info"; then
		LOCK_WHY="pcow-img info refused the image in use without saying so: '$(head -n1 "$RUNDIR/lk-info")'"
	else
		LOCKS=1
		note "pcow-img info while vmm runs: $(head -n1 "$RUNDIR/lk-info")"
		"$PI" snapshot -c x "$IMG" >"$RUNDIR/lk-snap" 2>&1
		r=$?
		[ $r != 0 ] && grep -qiE 'in use|lock' "$RUNDIR/lk-snap" ||
			LOCK_WHY="pcow-img snapshot -c on the image vmm serves: status $r, '$(head -n1 "$RUNDIR/lk-snap")'"
		"$PI" info -U "$IMG" >"$RUNDIR/lk-infoU" 2>&1 ||
			LOCK_WHY="${LOCK_WHY:-pcow-img info -U of the image vmm serves failed: '$(head -n1 "$RUNDIR/lk-infoU")'}"
	fi
fi

# snapshot part: a live snapshot while set b's writer runs
T_S=$(up)
SNAP_WHY= SNAPPED=
"$CTL" --wait 10 "$RUNDIR/a.sock" query-commands >"$RUNDIR/qc" 2>&1
if ! grep -q '"name":"snapshot-create"' "$RUNDIR/qc"; then
	SNAP_WHY="vmm has no control command snapshot-create (query-commands: $(grep -o '"name":"[a-z-]*"' "$RUNDIR/qc" | cut -d'"' -f4 | tr '\n' ' '))"
	vm_send A 7 nosnap
else
	vm_send A 7 snap
	if ! vm_wait_for A '^B_DONE=3 ' 200; then
		SNAP_WHY="the guest's writer did not get going"
		vm_send A 7 stop
	else
		tr -d '\r' <"$RUNDIR/A.out" | sed -n 's/^B_DONE=//p' >"$RUNDIR/b.before"
		"$CTL" --timeout 60 "$RUNDIR/a.sock" snapshot-create name=s1 >"$RUNDIR/snap.reply" 2>&1
		r=$?
		cat "$RUNDIR/snap.reply"
		n=$(wc -l <"$RUNDIR/b.before")
		if [ $r != 0 ]; then
			SNAP_WHY="snapshot-create s1 failed (status $r): $(head -n1 "$RUNDIR/snap.reply")"
		else
			SNAPPED=1
			note "snapshot s1 taken after $n fsynced files of set b"
			# the writer goes on: its stores to the snapshot's clusters copy
			vm_wait_for A "^B_DONE=$((n + 2)) " 200 ||
				SNAP_WHY="the guest's writer stalled after the snapshot"
		fi
		vm_send A 7 stop
	fi
fi
vm_wait A 7
[ "$(vm_rc A)" = 0 ] || vm_fail A "vmm exited $(vm_rc A), expected 0"
SUM_C=$(vm_val A SET_c)
[ "${SUM_C#* }" = written ] || vm_fail A "set c was not written ('$SUM_C')"
SUM_C=${SUM_C% *}
vm_grep A '^UMOUNT=ok' || vm_fail A "umount failed"
"$PI" check "$IMG" >"$RUNDIR/check-a" 2>&1
r=$?
[ $r = 0 ] || { cat "$RUNDIR/check-a"; why1 FSDAX_WHY "pcow-img check after boot A: status $r"; }
note "image after boot A: $(kib "$IMG") KiB"
if [ -z "$FSDAX_WHY" ]; then sub_ok pcow-linux-fsdax "$T_A" "$A_RETRY"; else sub_fail pcow-linux-fsdax "$FSDAX_WHY${A_RETRY:+ ($A_RETRY)}"; fi

# ---- snapshot: apply s1, a new boot sees set a and b's fsynced files, no c --
if [ -n "$SNAPPED" ]; then
	"$PI" snapshot -l "$IMG"
	if ! "$PI" snapshot -a s1 "$IMG" >"$RUNDIR/apply" 2>&1; then
		why1 SNAP_WHY "pcow-img snapshot -a s1 failed: $(head -n1 "$RUNDIR/apply")"
	elif ! "$PI" check "$IMG" >"$RUNDIR/check-s" 2>&1; then
		why1 SNAP_WHY "pcow-img check after snapshot -a: $(tail -n3 "$RUNDIR/check-s" | tr '\n' ' ')"
	else
		L2_SMP=1 L2_APPEND="pmvm.arg=verify"
		vm_run V 7 --nvdimm "$IMG"
		why=$( [ "$(vm_rc V)" = 0 ] || echo "boot on s1: vmm exited $(vm_rc V)"
			set_is V a "$SUM_A ok"
			vm_grep V '^SET_c=' && echo "set c, written after the snapshot, is in it"
			while read -r i s; do
				vm_grep V "^B_FILE=$i $s" || echo "b/$i (fsynced before the snapshot) reads '$(tr -d '\r' <"$RUNDIR/V.out" | sed -n "s/^B_FILE=$i //p")', expected $s"
			done <"$RUNDIR/b.before" )
		[ -z "$why" ] || { vm_show V; why1 SNAP_WHY "$(echo "$why" | head -n1)"; }
	fi
fi
if [ -z "$SNAP_WHY" ]; then sub_ok pcow-linux-snapshot "$T_S"; else sub_fail pcow-linux-snapshot "$SNAP_WHY"; fi
if [ -n "$LOCKS" ] && "$PI" snapshot -l "$IMG" | grep -qw x; then
	why1 LOCK_WHY "the snapshot x refused while vmm ran is in the image"
fi

# ---- overlays: two vmm at once on one base; one killed after its sync -------
T_O=$(up)
CK0=$(imgsum "$IMG")
note "base: $CK0"
"$PI" create -b main.pcow "$D/ov1.pcow" && "$PI" create -b main.pcow "$D/ov2.pcow" ||
	fail "pcow-img create -b main.pcow failed"
L2_SMP=1
ARG_O1="pmvm.arg=verify,wait,write:o1:4:1024,hold"
ARG_O2="pmvm.arg=verify,wait,write:o2:4:1024"
# (No tracepoints here: enabling or disabling one patches L1's kernel text
# while L2 guests run, which QEMU's multi-threaded TCG can execute stale;
# see kvm-pin in the README.)
L2_APPEND=$ARG_O1; vm_start O1 7 --nvdimm "$D/ov1.pcow"
L2_APPEND=$ARG_O2; vm_start O2 8 --nvdimm "$D/ov2.pcow"
L2_APPEND=$ARG_O1; vm_up O1 7 '^PMVM-WAIT=go' 900 --nvdimm "$D/ov1.pcow" ||
	{ vm_show O2; vm_fail O1 "overlay 1: the guest never got to its wait"; }
L2_APPEND=$ARG_O2; vm_up O2 8 '^PMVM-WAIT=go' 900 --nvdimm "$D/ov2.pcow" ||
	{ vm_show O1; vm_fail O2 "overlay 2: the guest never got to its wait"; }
if ! vm_alive O1 || ! vm_alive O2; then
	for t in O1 O2; do
		vm_alive $t && { note "[$t] still running"; continue; }
		vm_wait $t $([ $t = O1 ] && echo 7 || echo 8)
		vm_show $t 60
	done
	fail "the two overlay VMs were not running at once"
fi
# thin reads: both guests read every file of the base (72 MiB) through their
# overlay; that must copy nothing. Allowed: ext4's own writes at mount and
# atime (a few 64K clusters) and the pre-allocator's reserve (<= 4 MiB).
T_R=$(up)
READS_WHY=
for o in 1 2; do
	k=$(kib "$D/ov$o.pcow")
	note "ov$o.pcow after reading the base: $k KiB"
	[ "$k" -lt 16384 ] || why1 READS_WHY "reading the base's files through overlay $o grew it to $k KiB (reads must not copy: < 16384 KiB expected)"
done
note "two vmm on one base, both verified it: O1 pid $(vm_pid O1), O2 pid $(vm_pid O2)"
if [ -n "$LOCKS" ]; then
	# lock part 2: the base two vmm read is refused to a writer, shared with a reader
	"$PI" snapshot -c x "$IMG" >"$RUNDIR/lk-base" 2>&1
	r=$?
	[ $r != 0 ] && grep -qiE 'in use|lock' "$RUNDIR/lk-base" ||
		why1 LOCK_WHY "pcow-img snapshot -c on the base two vmm read: status $r, '$(head -n1 "$RUNDIR/lk-base")'"
	"$PI" info "$IMG" >"$RUNDIR/lk-base-info" 2>&1 ||
		why1 LOCK_WHY "pcow-img info of a base vmm only reads was refused: '$(head -n1 "$RUNDIR/lk-base-info")'"
fi
vm_send O2 8 go
vm_send O1 7 go
vm_wait_for O1 '^SYNCED=1' 300 || { vm_wait O1 7; vm_fail O1 "overlay 1 never synced set o1"; }
kill -KILL "$(vm_pid O1)"
vm_wait O1 7
vm_wait O2 8
[ "$(vm_rc O1)" = 137 ] || vm_fail O1 "vmm after kill -9: status $(vm_rc O1)"
[ "$(vm_rc O2)" = 0 ] || vm_fail O2 "vmm exited $(vm_rc O2), expected 0"
SUM_O1=$(vm_val O1 SET_o1); SUM_O2=$(vm_val O2 SET_o2)
[ "${SUM_O1#* }" = written ] || vm_fail O1 "set o1 was not written ('$SUM_O1')"
[ "${SUM_O2#* }" = written ] || vm_fail O2 "set o2 was not written ('$SUM_O2')"
SUM_O1=${SUM_O1% *} SUM_O2=${SUM_O2% *}
# what each overlay read of the base: set a, and set c unless s1 was applied
why=$(for t in O1 O2; do
	set_is $t a "$SUM_A ok"
	if [ -n "$SNAPPED" ]; then vm_grep $t '^SET_c=' && echo "[$t] set c in the base after snapshot -a"
	else set_is $t c "$SUM_C ok"; fi
done)
OVL_WHY=$(echo "$why" | head -n1)
[ "$(imgsum "$IMG")" = "$CK0" ] || why1 OVL_WHY "the base changed while two overlays ran on it"
"$PI" check "$D/ov2.pcow" >"$RUNDIR/check-o2" 2>&1 ||
	why1 OVL_WHY "pcow-img check ov2.pcow: $(tail -n3 "$RUNDIR/check-o2" | tr '\n' ' ')"
# kill part: leaks at most, clean after -r leaks
KILL_WHY=
"$PI" check "$D/ov1.pcow" >"$RUNDIR/check-k" 2>&1
r=$?
sed 's/^/check ov1.pcow after kill -9: /' "$RUNDIR/check-k"
case $r in
0|3)	"$PI" check -r leaks "$D/ov1.pcow" >"$RUNDIR/check-kr" 2>&1
	"$PI" check "$D/ov1.pcow" >"$RUNDIR/check-k2" 2>&1 ||
		KILL_WHY="pcow-img check after -r leaks: status $?: $(tail -n3 "$RUNDIR/check-k2" | tr '\n' ' ')" ;;
*)	KILL_WHY="pcow-img check after kill -9: status $r (0 or 3 expected): $(tail -n3 "$RUNDIR/check-k" | tr '\n' ' ')" ;;
esac
note "kill -9 after sync: check status $r ($(grep -i leak "$RUNDIR/check-k" | head -n1))"

# a new boot of each overlay, again at once: its own set, not the other's
L2_APPEND="pmvm.arg=verify"
vm_start V1 7 --nvdimm "$D/ov1.pcow"
vm_start V2 8 --nvdimm "$D/ov2.pcow"
vm_wait V1 7
vm_wait V2 8
# one more boot of each that died of a known QEMU fault
vm_tcg_retry V1 && { vm_start V1 7 --nvdimm "$D/ov1.pcow"; vm_wait V1 7; }
vm_tcg_retry V2 && { vm_start V2 8 --nvdimm "$D/ov2.pcow"; vm_wait V2 8; }
why=$( [ "$(vm_rc V1)" = 0 ] || echo "[V1] vmm exited $(vm_rc V1)"
	set_is V1 o1 "$SUM_O1 ok"; set_is V1 a "$SUM_A ok"
	vm_grep V1 '^SET_o2=' && echo "[V1] overlay 1 shows overlay 2's set") 
[ -z "$why" ] || { vm_show V1; why1 KILL_WHY "$(echo "$why" | head -n1)"; }
why=$( [ "$(vm_rc V2)" = 0 ] || echo "[V2] vmm exited $(vm_rc V2)"
	set_is V2 o2 "$SUM_O2 ok"; set_is V2 a "$SUM_A ok"
	vm_grep V2 '^SET_o1=' && echo "[V2] overlay 2 shows overlay 1's set")
[ -z "$why" ] || { vm_show V2; why1 OVL_WHY "$(echo "$why" | head -n1)"; }
[ "$(imgsum "$IMG")" = "$CK0" ] || why1 OVL_WHY "the base changed (cksum) after the overlays' second boots"
if [ -n "$LOCKS" ] && "$PI" snapshot -l "$IMG" | grep -qw x; then
	why1 LOCK_WHY "the snapshot x refused on the base is in it"
fi
if [ -z "$LOCK_WHY" ]; then sub_ok pcow-linux-lock "$T_L"; else sub_fail pcow-linux-lock "$LOCK_WHY"; fi
if [ -z "$OVL_WHY" ]; then sub_ok pcow-linux-overlay "$T_O"; else sub_fail pcow-linux-overlay "$OVL_WHY"; fi
[ -n "$READS_WHY" ] && note "vmm's counters for these reads: $(grep 'pcow:' "$RUNDIR/O2.err")"
if [ -z "$READS_WHY" ]; then sub_ok pcow-linux-thin-reads "$T_R"; else sub_fail pcow-linux-thin-reads "$READS_WHY"; fi
if [ -z "$KILL_WHY" ]; then sub_ok pcow-linux-kill "$T_O"; else sub_fail pcow-linux-kill "$KILL_WHY"; fi
note "images: $(du -k "$D"/*.pcow | tr '\n' ' ')"
umount "$D"
[ $BAD = 0 ] || fail "$BAD of 6 parts failed (their own lines say why)"
