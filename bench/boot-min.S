/*
 * boot-min.S - the smallest PVH guest, for bench/boot.sh: its entry writes
 * 0 to the debug-exit port (status 1) as its first instruction, so the
 * boot time measured with it is the monitor's own floor (process start,
 * VM setup, firmware if any, teardown) without guest work.
 */
	.section .note.pvh, "a", @note
	.balign 4
	.long 4, 4, 18          /* name size, descriptor size, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.long pvh_entry

	.text
	.code32
	.globl pvh_entry
pvh_entry:
	xor %eax, %eax
	out %eax, $0xf4
1:	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
