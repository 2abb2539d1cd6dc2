# L1 side of nvdimm-errors (see scenario.conf).
a=$RUNDIR/err-a.img
tool=/pmvm/bin/memerr-tool
L2_TIMEOUT=300  # three boots of ~60-150 s on a loaded machine

L2_APPEND="pmvm.arg=setup"
l2_boot --nvdimm "$a,size=64M"
expect_exit 0
expect_out '^FSDAX=ok' "ndctl create-namespace -m fsdax failed"
off=$(out_value OFF)
case $off in ''|*[!0-9]*) fail "no DIMM offset for the file's block: '$off'" ;; esac
note "file block at DIMM offset $off"
printf 'pmvm-badblocks 1\n%s 4096\n' "$off" >"$a.badblocks"

L2_APPEND="pmvm.arg=media"
l2_boot --nvdimm "$a"
expect_exit 0
note "$(tr -d '\r' <"$L2_OUT" | grep -E '^(MEDIA|READ|REWRITE|DMESG)' | tr '\n' ' ')"
grep -q "1 bad range(s) from .*err-a.img.badblocks" "$L2_ERR" || fail "vmm did not read the sidecar"
expect_out '^MEDIA_ERRORS=1' "ndctl list --media-errors does not show the recorded range"
expect_out '^READ=sigbus' "an mmap read of the bad block did not get SIGBUS"
expect_out '^ALIVE' "the guest kernel did not survive the bad read"
expect_out '^REWRITE=ok' "rewriting the bad block failed"
expect_out '^READ_AFTER=ok' "the block is still unreadable after the rewrite"
expect_out '^MEDIA_ERRORS_AFTER=0' "media errors left after the rewrite"
[ ! -e "$a.badblocks" ] || fail "the sidecar is still there after the clear: $(cat "$a.badblocks")"

L2_APPEND="pmvm.arg=spin"
l2_start --nvdimm "$a"
l2_wait_for '^SPINNING' 120 || { l2_wait; fail "the guest's reader never started"; }
off2=$(out_value OFF)
note "reader's block at DIMM offset $off2"
$tool hwpoison "$a" "$off2" >hw.out 2>&1
note "$(cat hw.out)"
grep -q '^HWPOISON=ok' hw.out || { l2_wait; skip "MADV_HWPOISON does not work in L1: $(cat hw.out)"; }
l2_wait
expect_exit 0
note "vmm: $(grep -E 'memory error|nvdimm 0' "$L2_ERR" | tr '\n' ' ')"
grep -q "memory error at guest .*SIGBUS BUS_MCEERR_AR.*machine check" "$L2_ERR" ||
	fail "vmm did not turn the SIGBUS into a machine check"
expect_out '^SPIN=sigbus' "the guest's reader was not killed with SIGBUS"
expect_out '^ALIVE' "the guest kernel did not survive the machine check"
# The kernel's own log: the machine check, bank 9, at the reader's page,
# then memory_failure()'s verdict ("Memory failure: ..."; "Memory error
# not recovered" still kills the reader).
phys=$(out_value PHYS | cut -d' ' -f1)
addr=$(printf '%x' $(( phys & ~0xfff )))
# Status: VAL UC EN MISCV ADDRV S AR, code 0x134; bit 43 (poison) on AMD,
# the nested tier's CPU.
expect_out "^DMESG:.*Machine Check Exception.*Bank 9: bd8008000000013[4]" \
	"the guest kernel logged no uncorrected, action-required machine check in bank 9"
expect_out "^DMESG:.*ADDR $addr " "the guest's machine check does not name the page (0x$addr)"
tr -d '\r' <"$L2_OUT" | grep -qE '^DMESG:.*(Memory failure|Memory error not recovered)' ||
	fail "the guest kernel did not handle it as a memory failure"
