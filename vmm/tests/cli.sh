#!/bin/sh
# cli.sh VMM CASE [GUEST] - command-line behaviour of vmm (meson suite 'tool').
# Each bad value must give exit status 2 and exactly one stderr line that
# names the option and the value. No KVM needed: all of this fails or exits
# before a VM exists.
set -u
VMM=$1
CASE=$2
GUEST=${3:-}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# bad OPTION VALUE [EXTRA ARGS...]: exit 2, one line naming both.
bad() {
	opt=$1 val=$2
	shift 2
	"$VMM" --kernel "$T/k" "$@" "--$opt" "$val" >"$T/out" 2>"$T/err"
	rc=$?
	lines=$(wc -l <"$T/err")
	if [ "$rc" -ne 2 ]; then fail "--$opt '$val': exit $rc, want 2"; fi
	if [ "$lines" -ne 1 ]; then fail "--$opt '$val': $lines stderr lines, want 1"; cat "$T/err"; fi
	grep -q -- "--$opt" "$T/err" || fail "--$opt '$val': message does not name the option: $(cat "$T/err")"
	grep -qF -- "$val" "$T/err" || fail "--$opt '$val': message does not name the value: $(cat "$T/err")"
	[ -s "$T/out" ] && fail "--$opt '$val': wrote to stdout"
	echo "ok: --$opt '$val' -> $(cat "$T/err")"
}

printf 'not a kernel\n' >"$T/k"

case $CASE in
bad-values)
	for v in 0 abc 12X 1.5 -1 1M 3 99999999999T 4097 " 1G" 1.3M; do bad memory "$v"; done
	"$VMM" --kernel "$T/k" -m 7Q >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q "7Q" "$T/err" || fail "-m 7Q: exit $rc: $(cat "$T/err")"
	for v in 0 -1 256 1000 x 1.5 ""; do bad smp "$v"; done
	for v in 0 -3 abc 1e99 nan inf 5s ""; do bad timeout "$v"; done
	for v in -1 abc 1e99 nan inf 5s ""; do bad shutdown-grace "$v"; done
	for v in tty file: foo stdio2 ""; do bad serial "$v"; done
	# --control: a regular file, a directory, a path too long for a unix
	# socket, an empty path, fd= without a number (docs/control.md).
	for v in "$T/k" "$T" "$T/$(head -c 120 /dev/zero | tr '\0' s)" "" fd= fd=x fd=-1; do
		bad control "$v"
	done
	"$VMM" --kernel "$T/k" --control "$T/a.sock" --control "$T/b.sock" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--control.*twice" "$T/err" || fail "--control twice: exit $rc: $(cat "$T/err")"
	[ -e "$T/a.sock" ] && fail "--control: a socket was created before the command line was checked"
	long=$(head -c 70000 /dev/zero | tr '\0' a)
	"$VMM" --kernel "$T/k" --cmdline "$long" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q -- "--cmdline" "$T/err" ||
		fail "--cmdline of 70000 bytes: exit $rc"
	"$VMM" --kernel "$T/k" --results "$T/no/such/dir/r.json" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--results" "$T/err" || fail "--results bad path: exit $rc"
	"$VMM" --kernel "$T/k" --bogus-option >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--bogus-option" "$T/err" || fail "unknown option: exit $rc"
	"$VMM" --kernel "$T/k" --smp >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--smp" "$T/err" || fail "missing value: exit $rc"
	"$VMM" --kernel "$T/k" stray >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "stray" "$T/err" || fail "stray argument: exit $rc"
	;;
help)
	"$VMM" --help >"$T/out" 2>"$T/err"; rc=$?
	[ "$rc" -eq 0 ] || fail "--help: exit $rc"
	for o in --kernel --initrd --cmdline --memory --smp --serial --timeout \
		 --shutdown-grace --dump-acpi --results --help --version --control; do
		grep -q -- "$o" "$T/out" || fail "--help does not mention $o"
	done
	grep -q "^Module serial:" "$T/out" || fail "--help has no module section"
	[ -s "$T/err" ] && fail "--help wrote to stderr"
	grep -q "12 no usable /dev/kvm" "$T/out" || fail "--help does not name exit status 12"
	# -h is --help (issue 12, defect 12)
	"$VMM" -h >"$T/out2" 2>"$T/err"; rc=$?
	[ "$rc" -eq 0 ] || fail "-h: exit $rc: $(cat "$T/err")"
	cmp -s "$T/out" "$T/out2" || fail "-h does not print what --help prints"
	;;
version)
	"$VMM" --version >"$T/out" 2>&1; rc=$?
	[ "$rc" -eq 0 ] || fail "--version: exit $rc"
	grep -Eq '^vmm \(pmvm\) [0-9]+\.[0-9]+' "$T/out" || fail "--version: $(cat "$T/out")"
	;;
missing-kernel)
	"$VMM" --kernel "$T/does-not-exist" >"$T/out" 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] || fail "missing kernel: exit $rc, want 2"
	grep -q "does-not-exist" "$T/err" && grep -qi "no such file" "$T/err" ||
		fail "missing kernel: unclear message: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "missing kernel: not one line"
	"$VMM" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--kernel" "$T/err" || fail "no --kernel: exit $rc"
	"$VMM" --kernel "$T/k" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q "bzImage" "$T/err" || fail "junk kernel: exit $rc: $(cat "$T/err")"
	"$VMM" --kernel "$T" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q "not a regular file" "$T/err" || fail "directory as kernel: exit $rc"
	"$VMM" --kernel "$VMM" --initrd "$T/nope" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--initrd" "$T/err" || fail "missing initrd: exit $rc: $(cat "$T/err")"
	;;
no-kvm)
	# No /dev/kvm (simulated: /dev/null bind-mounted over it in a private
	# mount namespace): offline work succeeds, running a guest gives its
	# own status (12) and reason, never the generic host error (4).
	if ! unshare -m true 2>/dev/null; then
		echo "FAIL: unshare -m is impossible here (not root?): cannot simulate a host without KVM"
		exit 1
	fi
	printf '#!/bin/sh\nset -u\n' >"$T/inner.sh"
	cat >>"$T/inner.sh" <<'INNER'
VMM=$1 T=$2 K=$3
if [ -e /dev/kvm ]; then mount --bind /dev/null /dev/kvm || exit 90; fi
mkdir -p "$T/dump"
"$VMM" --dump-acpi "$T/dump" >"$T/dump.out" 2>"$T/dump.err"; echo "dump $?"
"$VMM" --dump-acpi "$T/dump2" 2>/dev/null; echo "dump-nodir $?"
mkdir -p "$T/dump3"
"$VMM" --kernel "$K" --dump-acpi "$T/dump3" --smp 2 --nvdimm "$T/nv.img,size=16M" \
	>/dev/null 2>"$T/dump3.err"; echo "dump-kernel $?"
"$VMM" --help >/dev/null 2>&1; echo "help $?"
"$VMM" --version >/dev/null 2>&1; echo "version $?"
"$VMM" --kernel "$K" --smp 0 >/dev/null 2>&1; echo "badvalue $?"
"$VMM" --kernel "$K" --results "$T/r.json" >/dev/null 2>"$T/run.err"; echo "run $?"
INNER
	[ -f "$GUEST" ] || { echo "FAIL: no guest kernel given"; exit 1; }
	unshare -m sh "$T/inner.sh" "$VMM" "$T" "$GUEST" >"$T/res" 2>&1
	cat "$T/res"
	grep -qx "dump 0" "$T/res" || fail "--dump-acpi without KVM: $(cat "$T/dump.err")"
	for t in APIC DSDT FACP RSDP XSDT; do
		[ -s "$T/dump/$t.dat" ] || fail "--dump-acpi without KVM: no $t.dat"
	done
	grep -qx "dump-kernel 0" "$T/res" && [ -s "$T/dump3/NFIT.dat" ] ||
		fail "--dump-acpi --kernel --nvdimm without KVM: $(cat "$T/dump3.err")"
	grep -qx "help 0" "$T/res" || fail "--help without KVM"
	grep -qx "version 0" "$T/res" || fail "--version without KVM"
	grep -qx "badvalue 2" "$T/res" || fail "option validation without KVM"
	grep -qx "run 12" "$T/res" || fail "a run without KVM: want status 12"
	[ "$(wc -l <"$T/run.err")" -eq 1 ] && grep -q "^vmm: no usable KVM.*/dev/kvm" "$T/run.err" ||
		fail "no-KVM message: $(cat "$T/run.err")"
	grep -q '"reason":"no-kvm"' "$T/r.json" && grep -q '"status":12' "$T/r.json" ||
		fail "no-KVM results: $(cat "$T/r.json")"
	;;
results-intact)
	# A usage error leaves an earlier results file as it was; a run writes
	# it whole (atomically: no temporary file is left behind).
	printf '{"earlier":true}\n' >"$T/r.json"
	cp "$T/r.json" "$T/r.orig"
	for args in "--kernel $T/nonexistent" "--kernel $T/k" "--kernel $T/k --smp 0" \
		    "--bogus" "-kernel $T/k"; do
		# shellcheck disable=SC2086
		"$VMM" $args --results "$T/r.json" >/dev/null 2>&1; rc=$?
		[ "$rc" -eq 2 ] || fail "$args: exit $rc, want 2"
		cmp -s "$T/r.json" "$T/r.orig" || fail "$args: the earlier results file changed"
	done
	mkdir "$T/d"
	"$VMM" --dump-acpi "$T/d" --results "$T/r.json" >/dev/null 2>&1; rc=$?
	[ "$rc" -eq 0 ] && grep -q '"reason":"dump-acpi"' "$T/r.json" ||
		fail "--dump-acpi --results: exit $rc: $(cat "$T/r.json")"
	[ "$(ls "$T" | grep -c '^r\.json')" -eq 1 ] || fail "temporary results file left: $(ls "$T")"
	"$VMM" --dump-acpi "$T/d" --results "$T/d" >/dev/null 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--results" "$T/err" || fail "--results DIR: exit $rc"
	;;
grammar)
	# One option grammar (issue 9) for the core and the modules' options,
	# checked offline (--dump-acpi needs no KVM).
	mkdir "$T/d"
	ok() {
		"$VMM" --dump-acpi "$T/d" "$@" >/dev/null 2>"$T/err"; rc=$?
		[ "$rc" -eq 0 ] || fail "$*: exit $rc: $(cat "$T/err")"
		echo "ok: $* accepted"
	}
	no() {
		want=$1
		shift
		"$VMM" --dump-acpi "$T/d" "$@" >/dev/null 2>"$T/err"; rc=$?
		[ "$rc" -eq 2 ] || fail "$*: exit $rc, want 2"
		[ "$(wc -l <"$T/err")" -eq 1 ] || fail "$*: not one line: $(cat "$T/err")"
		grep -qF -- "$want" "$T/err" || fail "$*: message lacks '$want': $(cat "$T/err")"
		echo "ok: $* -> $(cat "$T/err")"
	}
	truncate -s 16M "$T/disk.img"
	ok -m 1.5G
	ok -m 64MiB
	ok --memory 1GiB
	ok --nvdimm "$T/nv1.img,size=1GiB"
	ok --nvdimm "$T/nv2.img,size=0.5G,readonly=no,share=yes,unarmed=false"
	ok --disk "$T/disk.img,readonly=yes"
	ok --disk "$T/disk.img,readonly=true,direct=0"
	ok --smp 255
	no "--nvdimm: size=32M: 'size' given twice" --nvdimm "$T/nv3.img,size=16M,size=32M"
	no "--disk: readonly=off: 'readonly' given twice" --disk "$T/disk.img,readonly=on,readonly=off"
	no "--disk: queues=0: must be an integer from 1 to 16" --disk "$T/disk.img,queues=0"
	no "--nvme: ns=0: must be an integer from 1 to 4294967294" --nvme "0000:00:01.0,ns=0"
	no "--nvdimm: unknown option 'colour'" --nvdimm "$T/nv4.img,colour=red"
	no "--nvdimm: size=15M: must be a non-zero multiple of 16M" --nvdimm "$T/nv5.img,size=15M"
	no "--nvdimm: size=-16M" --nvdimm "$T/nv6.img,size=-16M"
	no "--disk: readonly=maybe: expected on/off, yes/no, true/false or 1/0" --disk "$T/disk.img,readonly=maybe"
	no "--memory: invalid size: '1.5' is not a whole number of bytes" -m 1.5
	no "--memory: invalid size: '-1G': a size cannot be negative" -m -1G
	;;
option-names)
	# An option error names the argument the user typed (issue 12), starts
	# "vmm: " and points to --help.
	chk() {
		want=$1
		shift
		"$VMM" "$@" >/dev/null 2>"$T/err"; rc=$?
		[ "$rc" -eq 2 ] || fail "$*: exit $rc, want 2"
		[ "$(wc -l <"$T/err")" -eq 1 ] || fail "$*: not one line: $(cat "$T/err")"
		grep -q '^vmm: ' "$T/err" || fail "$*: no 'vmm: ' prefix: $(cat "$T/err")"
		grep -q -- '--help' "$T/err" || fail "$*: does not point to --help: $(cat "$T/err")"
		grep -qF -- "$want" "$T/err" || fail "$*: does not name '$want': $(cat "$T/err")"
		grep -qF -- "$VMM" "$T/err" && fail "$*: names the program path: $(cat "$T/err")"
		echo "ok: $* -> $(cat "$T/err")"
	}
	chk "-kernel" -kernel "$T/k"
	chk "-smp" --kernel "$T/k" -smp 2
	"$VMM" --kernel "$T/k" -smp 2 2>&1 | grep -q "'$T/k'" && fail "-smp: names the kernel file"
	chk "--nosuch" --kernel "$T/k" --nosuch
	chk "-x" --kernel "$T/k" -x
	chk "--smp" --kernel "$T/k" --smp
	chk "-m" --kernel "$T/k" -m
	chk "--help=1" --help=1
	chk "--kernel" --results "$T/r.json"
	chk "stray" --kernel "$T/k" stray
	chk "--memory" --kernel "$T/k" -m 7Q
	;;
exec)
	# --exec's options (docs/ci.md "--exec"): bad values name themselves;
	# the initramfs vmm builds, looked at with --exec-save-initramfs (no
	# KVM, no virtiofsd: vmm stops before the VM exists).
	echo data >"$T/file"
	case $VMM in /*) ;; *) VMM=$(pwd)/$VMM ;; esac
	case $GUEST in /*|"") ;; *) GUEST=$(pwd)/$GUEST ;; esac
	bad rwdir "$T/nonexistent" --exec true
	bad rwdir "$T/file" --exec true
	bad rwdir / --exec true
	bad virtiofsd "$T/file" --exec true
	bad modules-dir "$T/nonexistent" --exec true
	bad exec ""
	[ -n "$GUEST" ] || { echo "no guest given"; exit 1; }
	"$VMM" --kernel "$GUEST" --rwdir "$T" >"$T/out" 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--rwdir: only goes with --exec" "$T/err" ||
		fail "--rwdir without --exec: exit $rc: $(cat "$T/err")"
	"$VMM" --kernel "$GUEST" --initrd "$T/file" --exec true >"$T/out" 2>"$T/err"; rc=$?
	[ "$rc" -eq 2 ] && grep -q -- "--initrd: '$T/file': --exec builds its own" "$T/err" ||
		fail "--exec with --initrd: exit $rc: $(cat "$T/err")"
	# A modules directory of the kernel's: modules.dep order, deps first,
	# names not in it (built in) skipped.
	mkdir -p "$T/mods/kernel/fs" "$T/x" && cd "$T/x" || exit 1
	echo a >"$T/mods/kernel/fs/fuse.ko"; echo b >"$T/mods/kernel/fs/virtiofs.ko.xz"
	printf 'kernel/fs/virtiofs.ko.xz: kernel/fs/fuse.ko\nkernel/fs/fuse.ko:\n' >"$T/mods/modules.dep"
	"$VMM" --kernel "$GUEST" --modules-dir "$T/mods" --rwdir "$T" \
		--exec 'echo "a b" > out; exit 3' --exec-save-initramfs "$T/i.cpio" >"$T/out" 2>"$T/err"
	rc=$?
	[ "$rc" -eq 0 ] || fail "--exec-save-initramfs: exit $rc: $(cat "$T/err")"
	cpio -it <"$T/i.cpio" >"$T/list" 2>/dev/null || fail "the initramfs is not a cpio archive cpio(1) reads"
	for f in init pmvm/exec.conf modules/00-fuse.ko modules/01-virtiofs.ko.xz dev proc sys; do
		grep -qx "$f" "$T/list" || fail "the initramfs lacks $f: $(tr '\n' ' ' <"$T/list")"
	done
	mkdir "$T/un" && (cd "$T/un" && cpio -id <"$T/i.cpio" 2>/dev/null)
	[ "$(head -c 4 "$T/un/init" | od -An -c | tr -d ' ')" = '177ELF' ] || fail "/init is not an ELF file"
	tr '\0' '\n' <"$T/un/pmvm/exec.conf" >"$T/conf"
	for l in 'cmd=echo "a b" > out; exit 3' "cwd=$T/x" "uid=$(id -u)" "gid=$(id -g)" "rwdir=$T" 'verbose=0'; do
		grep -qxF "$l" "$T/conf" || fail "exec.conf lacks '$l': $(cat "$T/conf")"
	done
	grep -q '^env=PATH=' "$T/conf" || fail "exec.conf passes no PATH"
	[ "$(cat "$T/un/modules/01-virtiofs.ko.xz")" = b ] || fail "a module was not packed as it is"
	# A kernel with no release string (a PVH test guest, a kernel of the
	# user's own): no modules, the drivers must be built in.
	"$VMM" --kernel "$GUEST" --exec true --exec-save-initramfs "$T/j.cpio" 2>"$T/err" ||
		fail "--exec-save-initramfs without modules: $(cat "$T/err")"
	cpio -it <"$T/j.cpio" 2>/dev/null | grep -q '^modules/.' && fail "modules packed for a kernel without a release"
	cd / || exit 1
	;;
*)
	echo "unknown case $CASE"; exit 1 ;;
esac
[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all ok"
