# l1-lib.sh - helpers for a scenario's l1.sh (busybox sh, inside L1).
# l1.sh is sourced in its scenario directory with these variables set:
#   SCENARIO  the scenario's name        SDIR    /pmvm/scenarios/NAME (l1.sh, L1_FILES)
#   RUNDIR    a fresh directory in /tmp  PMVM_VERBOSE  1 with run --verbose
# Result: l1.sh returning/exiting 0 = ok, 77 = skip, anything else = not ok.
# The last "FAIL: ..." / "SKIP: ..." line it printed becomes the TAP reason.
# See guest-tests/nested/README.md.

VMM=${VMM:-/pmvm/bin/vmm}
L2_KERNEL=/pmvm/l2/vmlinuz      # Debian's bzImage
L2_VMLINUX=/pmvm/l2/vmlinux     # the same kernel as a PVH ELF (only with L2_PVH=1)
L2_MEM=${L2_MEM:-256M}
L2_SMP=${L2_SMP:-2}
L2_TIMEOUT=${L2_TIMEOUT:-120}
# Kernel command line of L2. pmvm.scenario=NAME selects the l2.sh to run.
L2_CMDLINE_BASE="console=ttyS0 panic=-1"
[ "${PMVM_VERBOSE:-0}" = 1 ] || L2_CMDLINE_BASE="$L2_CMDLINE_BASE quiet"
L2_APPEND=${L2_APPEND:-$(cat /pmvm/l2.append 2>/dev/null)}
L2_OUT=$RUNDIR/l2.out   # the L2 serial console (vmm's stdout)
L2_ERR=$RUNDIR/vmm.err  # vmm's stderr
VMM_RC=

fail() { echo "FAIL: $*"; l2_show; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
note() { echo "$*"; }

need_vmm() { [ -x "$VMM" ] || fail "no vmm binary in L1 (was --build right?)"; }

# l2_initrd [NAME]: the L2 initramfs of scenario NAME (default: this one),
# built in RUNDIR from the common base and the scenario's piece; prints path.
l2_initrd() {
	local n=${1:-$SCENARIO} out=$RUNDIR/l2-${1:-$SCENARIO}.cpio.gz
	[ -f "/pmvm/l2/$n.cpio.gz" ] || { echo "FAIL: no L2 piece for $n" >&2; return 1; }
	[ -f "$out" ] || cat /pmvm/l2/base.cpio.gz "/pmvm/l2/$n.cpio.gz" >"$out"
	echo "$out"
}

# The vmm command line booting this scenario's L2; extra vmm options after.
l2_vmm_cmd() {
	echo "$VMM --kernel $L2_KERNEL --initrd $(l2_initrd) --cmdline \"$L2_CMDLINE_BASE pmvm.scenario=$SCENARIO $L2_APPEND\" --smp $L2_SMP -m $L2_MEM --timeout $L2_TIMEOUT $*"
}

# l2_tcg_fault CONSOLE PID: 0 when the L2 whose vmm had PID died of one of
# two known faults of QEMU's emulation, not of anything vmm did (evidence:
# nested README, "QEMU's faults in L2"); TCG_FAULT_WHY then says which.
#  - Stale INT3: under multi-threaded TCG a vCPU can run a stale
#    translation of kernel text the L2 kernel just patched (text_poke_bp's
#    INT3); L2 dies of an "int3" Oops at that site ("Oops: int3: 0000 [#1]"
#    on 6.12, "int3: 0000 [#1]" on 6.1), panics and resets.
#  - Lost page tables: QEMU's nested paging shows the L2 vCPU not-present
#    translations for its own kernel text; L1's KVM sees a shutdown exit
#    while the CPU was delivering a #PF for an instruction fetch (EXITINTINFO
#    0x80000b0e, error code 0x10: supervisor fetch, not present) at a RIP
#    that had just run. No message reaches the console. l1-init keeps every
#    shutdown exit in L1's trace buffer (filter exit_reason==127); this
#    reads the ones of PID's vCPU threads (vmm's threads get the next tids).
l2_tcg_fault() {
	local t=/sys/kernel/tracing/trace line tid
	TCG_FAULT_WHY=
	if grep -q 'int3: 0000 \[#' "$1" 2>/dev/null; then
		TCG_FAULT_WHY="QEMU's stale INT3 ($(grep -m1 -A8 'int3: 0000 \[#' "$1" | tr -d '\r' | grep -m1 -o 'RIP: [^ ]*'))"
		return 0
	fi
	[ -n "$2" ] && [ -r $t ] || return 1
	line=$(grep 'kvm_exit: .*reason shutdown .*intr_info 0x80000b0e error_code 0x0000001[04]' $t |
		while read -r task rest; do
			tid=${task##*-}
			[ "$tid" -gt "$2" ] 2>/dev/null && [ "$tid" -le $(($2 + 64)) ] && echo "$task $rest"
		done | tail -n 1)
	if [ -z "$line" ]; then
		# Not a known fault: show what L1's KVM saw of this vmm's
		# shutdowns (exit info, error code), for the next diagnosis.
		grep 'kvm_exit: .*reason shutdown' $t | while read -r task rest; do
			tid=${task##*-}
			[ "$tid" -gt "$2" ] 2>/dev/null && [ "$tid" -le $(($2 + 64)) ] &&
				echo "note: not a known QEMU fault; L1 saw: $task $rest"
		done | tail -n 2
		return 1
	fi
	TCG_FAULT_WHY="QEMU's nested paging lost L2's page tables ($(echo "$line" | grep -o 'vcpu [0-9]* reason shutdown rip 0x[0-9a-f]*'), delivering a #PF for an instruction fetch)"
}
# l2_tcg_retry_note TAG: the line l1-init counts into the TAP line
l2_tcg_retry_note() {
	echo "L2-RETRY: $1 died of $TCG_FAULT_WHY: booting it once more"
}

# l2_boot [vmm options...]: boot L2 and wait for vmm to exit. Guest console
# in $L2_OUT, vmm's stderr in $L2_ERR, exit status in $VMM_RC. stdin is
# $L2_STDIN (default /dev/null). A boot that died of a known QEMU fault
# (l2_tcg_fault) runs once more, and the scenario's TAP line says so.
l2_boot() {
	l2_boot_once "$@"
	case $VMM_RC in 6|8) ;; *) return 0 ;; esac
	l2_tcg_fault "$L2_OUT" "$L2_PID" || return 0
	l2_tcg_retry_note L2
	l2_show 60
	cp "$L2_OUT" "$L2_OUT.1"; cp "$L2_ERR" "$L2_ERR.1"
	l2_boot_once "$@"
}
l2_boot_once() {
	need_vmm
	local initrd t0
	initrd=$(l2_initrd) || fail "no L2 initramfs"
	t0=$(cut -d' ' -f1 /proc/uptime)
	echo "+ vmm --kernel $L2_KERNEL --initrd $initrd --cmdline '$L2_CMDLINE_BASE pmvm.scenario=$SCENARIO $L2_APPEND' --smp $L2_SMP -m $L2_MEM --timeout $L2_TIMEOUT $*"
	"$VMM" --kernel "$L2_KERNEL" --initrd "$initrd" \
		--cmdline "$L2_CMDLINE_BASE pmvm.scenario=$SCENARIO $L2_APPEND" \
		--smp "$L2_SMP" -m "$L2_MEM" --timeout "$L2_TIMEOUT" "$@" \
		<"${L2_STDIN:-/dev/null}" >"$L2_OUT" 2>"$L2_ERR" &
	L2_PID=$!
	wait $L2_PID
	VMM_RC=$?
	echo "vmm exited with status $VMM_RC after $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')s"
	[ "${PMVM_VERBOSE:-0}" = 1 ] && l2_show 400
	return 0
}

# Background variant for scenarios that talk to the guest's console:
# l2_start [vmm options...]; l2_wait_for PATTERN [SECS]; l2_send TEXT; l2_wait
l2_start() {
	need_vmm
	local initrd
	initrd=$(l2_initrd) || fail "no L2 initramfs"
	rm -f "$RUNDIR/l2.in"; mkfifo "$RUNDIR/l2.in"
	echo "+ vmm --kernel $L2_KERNEL --initrd $initrd --cmdline '$L2_CMDLINE_BASE pmvm.scenario=$SCENARIO $L2_APPEND' --smp $L2_SMP -m $L2_MEM --timeout $L2_TIMEOUT $* <fifo"
	L2_T0=$(cut -d' ' -f1 /proc/uptime)
	"$VMM" --kernel "$L2_KERNEL" --initrd "$initrd" \
		--cmdline "$L2_CMDLINE_BASE pmvm.scenario=$SCENARIO $L2_APPEND" \
		--smp "$L2_SMP" -m "$L2_MEM" --timeout "$L2_TIMEOUT" "$@" \
		<"$RUNDIR/l2.in" >"$L2_OUT" 2>"$L2_ERR" &
	L2_PID=$!
	exec 7>"$RUNDIR/l2.in"   # keep the writer open: vmm's stdin stays live
}
l2_wait_for() { # PATTERN [SECS=60]: 0 once the guest printed PATTERN
	local i=0 max=$(( ${2:-60} * 5 ))
	while [ $i -lt $max ]; do
		grep -q -- "$1" "$L2_OUT" 2>/dev/null && return 0
		kill -0 "$L2_PID" 2>/dev/null || { grep -q -- "$1" "$L2_OUT" 2>/dev/null; return; }
		sleep 0.2; i=$((i + 1))
	done
	return 1
}
l2_send() { printf '%s' "$*" >&7; }
l2_wait() {
	exec 7>&-
	wait "$L2_PID"; VMM_RC=$?
	echo "vmm exited with status $VMM_RC after $(awk -v a="$L2_T0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }')s"
	[ "${PMVM_VERBOSE:-0}" = 1 ] && l2_show 400
	return 0
}

# ktrace_dump: with PMVM_L1_KTRACE=1 (l1-init), the tail of L1's KVM trace
ktrace_dump() {
	local t=/sys/kernel/tracing
	grep -q pmvm.ktrace=1 /proc/cmdline && [ -e $t/trace ] || return 0
	echo 0 >$t/tracing_on
	echo "-- L1 KVM trace (tail):"
	grep -v '^#' $t/trace | tail -n "${KTRACE_LINES:-400}" | sed 's/^/kt| /'
	echo >$t/trace; echo 1 >$t/tracing_on
}

# l2_show [LINES]: the tail of the guest console and vmm's stderr
l2_show() {
	local n=${1:-40}
	ktrace_dump
	if [ -s "$L2_ERR" ]; then
		echo "-- vmm stderr:"; tail -n "$n" "$L2_ERR" | sed 's/^/vmm| /'
	fi
	if [ -f "$L2_OUT" ]; then
		echo "-- L2 console (last $n lines):"; tail -n "$n" "$L2_OUT" | tr -d '\r' | sed 's/^/L2| /'
	fi
}

# expect_exit N [M...]: vmm's exit status is one of these
expect_exit() {
	local s
	for s in "$@"; do [ "$VMM_RC" = "$s" ] && return 0; done
	fail "vmm exited $VMM_RC, expected $*"
}
# expect_out PATTERN [WHAT]: the guest console has a line matching PATTERN
expect_out() {
	tr -d '\r' <"$L2_OUT" | grep -q -- "$1" || fail "${2:-guest output lacks '$1'}"
}
# out_value KEY: VALUE from a guest line "KEY=VALUE"
out_value() { tr -d '\r' <"$L2_OUT" | sed -n "s/^$1=//p" | tail -n1; }

# nvme_vfio_bind (nvme profile): bind L1's emulated NVMe controller to
# vfio-pci. Sets NVME_BDF (e.g. 0000:00:03.0) and VFIO_GROUP (/dev/vfio/N).
nvme_vfio_bind() {
	local d g
	NVME_BDF=
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/class")" = 0x010802 ] && NVME_BDF=$(basename "$d") && break
	done
	[ -n "$NVME_BDF" ] || fail "no NVMe controller in L1 (profile nvme?)"
	d=/sys/bus/pci/devices/$NVME_BDF
	[ -e "$d/iommu_group" ] || fail "$NVME_BDF has no IOMMU group (intel_iommu=on?)"
	g=$(basename "$(readlink "$d/iommu_group")")
	VFIO_GROUP=/dev/vfio/$g
	if [ "$(basename "$(readlink "$d/driver" 2>/dev/null)")" != vfio-pci ]; then
		[ -e "$d/driver" ] && echo "$NVME_BDF" >"$d/driver/unbind"
		echo vfio-pci >"$d/driver_override"
		echo "$NVME_BDF" >/sys/bus/pci/drivers_probe
	fi
	[ -c "$VFIO_GROUP" ] || fail "no $VFIO_GROUP after binding $NVME_BDF to vfio-pci"
	export NVME_BDF VFIO_GROUP
}

# linux_boot_checks: boot L2 (l2_boot with $L2_KERNEL) running linux-boot's
# l2.sh and check what it reports: userspace reached, 2 CPUs, the ACPI
# tables FACP, APIC and DSDT, power-off -> vmm exit 0. Used by linux-boot
# (bzImage) and linux-boot-pvh (PVH ELF).
linux_boot_checks() {
	local cpus tables t
	l2_boot
	expect_out '^PMVM-L2 up' "L2 never reached userspace"
	note "L2 reached userspace at L2 uptime $(tr -d '\r' <"$L2_OUT" | sed -n 's/^PMVM-L2 up \([0-9.]*\).*/\1/p')s"
	cpus=$(out_value CPUS)
	tables=$(out_value TABLES)
	note "guest: CPUS=$cpus ONLINE=$(out_value ONLINE) MEMTOTAL=$(out_value MEMTOTAL)"
	note "guest ACPI tables: $tables"
	[ "$cpus" = 2 ] || fail "guest sees '$cpus' CPUs, expected 2"
	for t in FACP APIC DSDT; do
		echo " $tables " | grep -q " $t " || fail "guest has no ACPI table $t (has: $tables)"
	done
	expect_out '^PMVM-L2-DONE rc=0' "L2 script did not finish"
	expect_exit 0
}
