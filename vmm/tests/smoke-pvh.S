/*
 * smoke-pvh.S - the smallest PVH guest: vmm's own direct-tier smoke test.
 * Entered in 32-bit protected mode with paging off and EBX = hvm_start_info.
 * Checks the start-info magic and that a "pmvm-fdt" module is present,
 * prints a line on COM1, and writes the result to the debug-exit port:
 * 0x21 (exit status 67) when everything holds, 0x30 + n on check n failing.
 * The first command-line character picks another ending, for the exit
 * paths: 'h' print, then hang (cli; hlt), 'r' i8042 reset, 'v' jump to the reset
 * vector at 0xffff0 (its stub is the same bytes in 16- and 32-bit mode),
 * 'u' read unclaimed ports (all-ones expected, then the normal ending),
 * 'w' a 2-byte debug-exit write of 0x1234.
 * 'p' and 'q' check a PVH guest's lazily created PIT (vmm/pit.c): the
 * first PIT access is a read of port 0x61 ('p') or a control word ('q'),
 * replayed by vmm; later ones go to KVM's PIT and must see its effect.
 */
#define COM1 0x3f8
#define DEBUG_EXIT 0xf4

	.section .note.pvh, "a", @note
	.balign 4
	.long 4, 4, 18          /* namesz, descsz, XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.long start32

	.text
	.code32
	.globl start32
start32:
	mov $0x31, %al
	cmpl $0x336ec578, (%ebx)        /* hvm_start_info.magic */
	jne fail
	mov $0x32, %al
	mov 12(%ebx), %ecx              /* nr_modules */
	test %ecx, %ecx
	jz fail
	mov 16(%ebx), %esi              /* modlist_paddr (low 32 bits) */
1:	mov 16(%esi), %edi              /* module cmdline_paddr */
	test %edi, %edi
	jz 2f
	cmpl $0x6d766d70, (%edi)        /* "pmvm" */
	jne 2f
	cmpl $0x7464662d, 4(%edi)       /* "-fdt" */
	jne 2f
	mov (%esi), %edi                /* FDT address: magic d00dfeed (BE) */
	mov $0x33, %al
	cmpl $0xedfe0dd0, (%edi)
	jne fail
	jmp ok
2:	add $32, %esi
	dec %ecx
	jnz 1b
	jmp fail
ok:
	mov 24(%ebx), %edi              /* cmdline_paddr */
	movzbl (%edi), %eax
	mov %eax, %ebp                  /* the mode, kept for after printing */
	cmp $'r', %al
	je kbd_reset
	cmp $'w', %al
	je wide
	cmp $'v', %al
	je reset_vector
	cmp $'p', %al
	je pit_spkr
	cmp $'q', %al
	je pit_ctrl
	cmp $'u', %al
	jne print
	mov $0x34, %al
	mov $0x1234, %dx
	in %dx, %al
	cmp $0xff, %al
	mov $0x34, %al
	jne fail
	mov $0x5678, %dx
	in %dx, %eax
	cmp $0xffffffff, %eax
	mov $0x35, %al
	jne fail
print:
	mov $msg, %esi
	mov $COM1, %dx
3:	lodsb
	test %al, %al
	jz 4f
	out %al, %dx
	jmp 3b
4:	cmp $'h', %ebp                  /* 'h': hang after printing */
	je hang
	mov $0x21, %al
fail:
	out %al, $DEBUG_EXIT
	hlt
	jmp fail

hang:
	cli
	hlt
	jmp hang
kbd_reset:
	mov $0xfe, %al
	out %al, $0x64
	jmp hang
reset_vector:
	mov $0xffff0, %eax
	jmp *%eax
pit_spkr:                               /* first access: read 0x61 */
	in $0x61, %al
	and $0x23, %al                  /* gate 2, speaker data, out 2: all 0 */
	mov %al, %bl
	mov $0x36, %al
	jnz fail
	mov $0x03, %al                  /* gate 2 and speaker data on */
	out %al, $0x61
	in $0x61, %al
	and $0x03, %al
	cmp $0x03, %al
	mov $0x37, %al
	jne fail
	jmp print
pit_ctrl:                               /* first access: a control word */
	mov $0xb0, %al                  /* channel 2, lobyte/hibyte, mode 0 */
	out %al, $0x43
	mov $0x34, %al
	out %al, $0x42
	mov $0x12, %al
	out %al, $0x42
	mov $0xe8, %al                  /* read-back: status of channel 2 */
	out %al, $0x43
	in $0x42, %al
	and $0x3f, %al                  /* access 3, mode 0, binary */
	cmp $0x30, %al
	mov $0x38, %al
	jne fail
	jmp print
wide:
	mov $0x1234, %ax
	out %ax, $DEBUG_EXIT
	jmp hang

	.section .rodata

msg:	.asciz "pmvm smoke: PVH guest ran\n"
