/*
 * smoke-bzimage.S - a fake bzImage: a real-mode setup area with just enough
 * of the Linux setup header (boot protocol 2.15, XLF_KERNEL_64), followed by
 * "protected-mode code" that is really a 64-bit entry at load address +
 * 0x200, as the 64-bit boot protocol defines. It checks what vmm must hand a
 * Linux kernel (RSI = zero page with HdrS, an e820 map with RAM at 1 MiB,
 * the command line, the ACPI RSDP, long mode with CS = 0x10), echoes the
 * command line on COM1 and writes 0x22 to the debug-exit port (status 69),
 * or 0x40 + n when check n fails. With command line "i..." it also checks
 * the initrd. Assembled into a flat binary.
 */
#define COM1 0x3f8
#define DEBUG_EXIT 0xf4
#define SETUP_SECTS 4

	.code16
	.text
	.globl _start
_start:
	.org 0x1f1
	.byte SETUP_SECTS               /* setup_sects */
	.word 0                         /* root_flags */
	.long 0                         /* syssize */
	.word 0                         /* ram_size */
	.word 0xffff                    /* vid_mode */
	.word 0                         /* root_dev */
	.word 0xaa55                    /* boot_flag */
	.byte 0xeb, hdr_end - 0x202     /* jump over the header */
	.ascii "HdrS"                   /* 0x202 */
	.word 0x020f                    /* version */
	.long 0                         /* realmode_swtch */
	.word 0                         /* start_sys_seg */
	.word 0                         /* kernel_version */
	.byte 0                         /* type_of_loader, 0x210 */
	.byte 0x01                      /* loadflags: LOADED_HIGH */
	.word 0                         /* setup_move_size */
	.long 0x100000                  /* code32_start */
	.long 0                         /* ramdisk_image */
	.long 0                         /* ramdisk_size */
	.long 0                         /* bootsect_kludge */
	.word 0                         /* heap_end_ptr, 0x224 */
	.byte 0, 0                      /* ext_loader_ver, ext_loader_type */
	.long 0                         /* cmd_line_ptr, 0x228 */
	.long 0x7fffffff                /* initrd_addr_max */
	.long 0x200000                  /* kernel_alignment */
	.byte 1                         /* relocatable_kernel */
	.byte 21                        /* min_alignment */
	.word 0x0003                    /* xloadflags: KERNEL_64, ABOVE_4G */
	.long 2047                      /* cmdline_size, 0x238 */
	.long 0, 0                      /* hardware_subarch(+data) */
	.long 0, 0                      /* payload_offset, payload_length */
	.quad 0                         /* setup_data, 0x250 */
	.quad 0x1000000                 /* pref_address */
	.long 0x100000                  /* init_size, 0x260 */
	.long 0                         /* handover_offset */
hdr_end:
	.org (SETUP_SECTS + 1) * 512

	/* Protected-mode part: loaded at 1 MiB. 0x000: 32-bit entry (unused). */
pm_start:
	hlt
	.org pm_start + 0x200
	.code64
entry64:
	mov $0x41, %al
	cmp $0x7000, %rsi               /* LAYOUT_ZERO_PAGE */
	jne fail
	mov $0x42, %al
	cmpl $0x53726448, 0x202(%rsi)   /* HdrS copied into the zero page */
	jne fail
	mov $0x43, %al
	movzbl 0x1e8(%rsi), %ecx        /* e820_entries */
	cmp $3, %ecx
	jb fail
	mov $0x44, %al
	cmpq $0x100000, 0x2d0 + 40(%rsi) /* third entry: RAM from 1 MiB */
	jne fail
	cmpl $1, 0x2d0 + 56(%rsi)
	jne fail
	mov $0x45, %al
	cmpq $0, 0x70(%rsi)             /* acpi_rsdp_addr */
	je fail
	mov $0x46, %al
	mov %cs, %ecx
	cmp $0x10, %ecx                 /* __BOOT_CS */
	jne fail
	mov $0x47, %al
	cmpb $0xff, 0x210(%rsi)         /* type_of_loader */
	jne fail
	/* Command line "i...": an initrd starting with "INRD" must be in the
	 * zero page, page aligned, below initrd_addr_max. */
	mov 0x228(%rsi), %edi
	cmpb $'i', (%rdi)
	jne 5f
	mov $0x48, %al
	mov 0x218(%rsi), %edi           /* ramdisk_image */
	test $0xfff, %edi
	jnz fail
	test %edi, %edi
	jz fail
	mov 0x21c(%rsi), %ecx           /* ramdisk_size */
	add %edi, %ecx
	dec %ecx
	cmp 0x22c(%rsi), %ecx           /* last byte <= initrd_addr_max */
	ja fail
	mov $0x49, %al
	cmpl $0x44524e49, (%rdi)        /* "INRD" */
	jne fail
5:	/* Command line "t...": triple fault in long mode (IDT limit 0). */
	mov 0x228(%rsi), %esi
	cmpb $'t', (%rsi)
	jne 3f
	lidt null_idt(%rip)
	movabs $0x8000000000000000, %rax
	mov (%rax), %rax		/* #GP, no IDT: triple fault */
3:	/* Echo the command line. */
	mov $COM1, %dx
1:	lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:	mov $'\n', %al
	out %al, %dx
	mov $0x22, %al
fail:
	out %al, $DEBUG_EXIT
	hlt
	jmp fail
	.balign 8
null_idt:
	.word 0
	.quad 0
	.org pm_start + 0x1000
