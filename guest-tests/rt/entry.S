/*
 * entry.S - how a test guest gets from the PVH entry to C, and how an
 * application processor gets from its SIPI to C.
 *
 * BSP: the loader enters pvh_start32 in 32-bit protected mode, paging off,
 * EBX = struct hvm_start_info. We load prebuilt identity page tables for
 * the low 4 GiB (2 MiB pages, so the LAPIC and IOAPIC are mapped too), turn
 * on long mode and call rt_start(start_info) on the boot stack (.bss is
 * zero as loaded: see start64).
 * Boot code stays short: kvm_pvm emulates every instruction of a guest
 * like this one (not PVM-aware), at roughly 5 us each.
 *
 * AP: rt_smp_start() copies ap_tramp..ap_tramp_end to the trampoline page
 * (LAYOUT_AP_TRAMPOLINE, 0x1000) and patches in the GDT descriptor. The SIPI
 * starts the AP there in real mode; it loads the GDT, enters protected
 * mode, jumps into the image at ap_start32, which takes the BSP's path to
 * long mode with the same page tables and calls rt_ap_start() on the stack
 * the BSP left in rt_ap_stack.
 *
 * Also here: the 256 interrupt stubs (vector and a uniform error code are
 * pushed, then rt_isr_common saves registers and calls rt_isr(frame)).
 */
#include "pvh.h"
#include "rt.h"

#define CR0_PE  0x00000001
#define CR0_PG  0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100

#ifndef RT_NO_PVH_NOTE
	.section .note.pvh, "a", @note
	.balign 4
	.long 4                 /* name size: "Xen\0" */
	.long 4                 /* descriptor size */
	.long 18                /* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz "Xen"
	.balign 4
	.long pvh_start32
#endif

	/* A Multiboot (v1) header too (guest.ld puts it in the image's first
	 * bytes): the same entry, with EAX = 0x2BADB002 and EBX = the
	 * multiboot information instead of the PVH start info. A loader that
	 * knows PVH uses the note; built with RT_NO_PVH_NOTE the guest is a
	 * pure Multiboot ELF, and with RT_MULTIBOOT_AOUT the header carries
	 * its load addresses (flag 16) for a flat binary (objcopy -O binary). */
	.section .multiboot, "a"
	.balign 4
rt_multiboot_header:
#ifdef RT_MULTIBOOT_AOUT
#define RT_MB_FLAGS 0x00010002
#else
#define RT_MB_FLAGS 0x00000002
#endif
	.long 0x1BADB002
	.long RT_MB_FLAGS
	.long -(0x1BADB002 + RT_MB_FLAGS)
#ifdef RT_MULTIBOOT_AOUT
	.long rt_multiboot_header       /* header_addr */
	.long _image_start              /* load_addr */
	.long _edata                    /* load_end_addr */
	.long _bss_end                  /* bss_end_addr */
	.long pvh_start32               /* entry_addr */
#endif

	.section .text.entry, "ax"
	.code32
	.globl pvh_start32
pvh_start32:
	cli
	cld
	/* Keep boot work minimal: on kvm_pvm every guest instruction is
	 * emulated (~5 us each). Page tables and IDT are prebuilt. */
	mov %eax, rt_boot_magic
	mov %ebx, rt_boot_info
	lgdt rt_gdt_desc
	ljmp $RT_GDT_CODE32, $ap_start32

	/* BSP and APs: our GDT is loaded, CS is our flat 32-bit code. */
	.globl ap_start32
ap_start32:
	mov $RT_GDT_DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	mov %cr4, %eax
	or $CR4_PAE, %eax
	mov %eax, %cr4
	mov $rt_pml4, %eax
	mov %eax, %cr3
	mov $MSR_EFER, %ecx
	rdmsr
	or $EFER_LME, %eax
	wrmsr
	mov %cr0, %eax
	or $(CR0_PG | CR0_PE), %eax
	mov %eax, %cr0
	ljmp $RT_GDT_CODE64, $start64

	.code64
start64:
	mov $RT_GDT_DATA, %ax
	mov %ax, %ds
	mov %ax, %es
	mov %ax, %ss
	xor %eax, %eax
	mov %ax, %gs
	mov %ax, %fs
	/* rt_ap_stack is 0 for the BSP (boot stack), else this AP's stack. */
	mov rt_ap_stack(%rip), %rsp
	test %rsp, %rsp
	jnz 3f
	lea rt_boot_stack_top(%rip), %rsp
	/* .bss is not cleared here: PVH loaders zero an ELF segment's memory
	 * beyond its file size (vmm's RAM is fresh anonymous memory; QEMU
	 * clears it), and on kvm_pvm a rep stosq over it costs ~100 ms. */
	mov rt_boot_info(%rip), %edi
	xor %ebp, %ebp
	call rt_start
	jmp rt_halt_forever
3:	xor %ebp, %ebp
	call rt_ap_start
	.globl rt_halt_forever
rt_halt_forever:
	cli
	hlt
	jmp rt_halt_forever

/* ---- the AP trampoline, copied to LAYOUT_AP_TRAMPOLINE ---- */
	.section .rodata
	.code16
	.globl ap_tramp, ap_tramp_end, ap_tramp_gdt
	.balign 16
ap_tramp:
	cli
	cld
	mov %cs, %ax
	mov %ax, %ds
	lgdtl ap_tramp_gdt - ap_tramp
	mov %cr0, %eax
	or $CR0_PE, %eax
	mov %eax, %cr0
	ljmpl $RT_GDT_CODE32, $ap_start32
	.balign 8
ap_tramp_gdt:                   /* patched: limit (2 bytes), base (4 bytes) */
	.word 0
	.long 0
ap_tramp_end:
	.code64

/* ---- interrupt stubs ----
 * 16 bytes each, at the fixed address RT_ISR_BASE (guest.ld puts them
 * there and checks), so the IDT below is a table of assembly-time
 * constants: nothing to compute at boot, where every instruction is
 * emulated on kvm_pvm. */
	.section .text.isr, "ax"
	.macro isr_stub vec
	.balign 16
	.if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
	pushq $\vec
	.else
	pushq $0
	pushq $\vec
	.endif
	jmp rt_isr_common
	.endm

	.globl rt_isr_stubs
	.balign 16
rt_isr_stubs:
	.altmacro
	.set vec, 0
	.rept 256
	isr_stub %vec
	.set vec, vec + 1
	.endr
	.noaltmacro

/* Stack on entry: vector, error, rip, cs, rflags, rsp, ss. */
rt_isr_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rsi
	push %rdi
	push %rbp
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi
	mov %rsp, %rbx
	and $-16, %rsp
	cld
	call rt_isr
	mov %rbx, %rsp
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rbp
	pop %rdi
	pop %rsi
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp
	iretq

/* ---- data the 32-bit code reaches by absolute address ---- */
	.data
	.balign 16
	.globl rt_gdt, rt_gdt_desc, rt_boot_info, rt_boot_magic, rt_ap_stack
rt_gdt:
	.quad 0
	.quad 0x00af9a000000ffff        /* 0x08 64-bit code */
	.quad 0x00cf92000000ffff        /* 0x10 flat data */
	.quad 0x00cf9a000000ffff        /* 0x18 flat 32-bit code */
	.quad 0                         /* 0x20 TLS data, filled by rt_start */
	.fill 2 * RT_MAX_CPUS, 8, 0     /* 0x28: one 16-byte TSS descriptor per CPU */
rt_gdt_end:
	.balign 8
rt_gdt_desc:
	.word rt_gdt_end - rt_gdt - 1
	.quad rt_gdt
rt_boot_info:
	.quad 0
rt_boot_magic:                  /* EAX at entry: 0x2BADB002 from a Multiboot loader */
	.long 0
	.long 0
rt_ap_stack:
	.quad 0

	/* Identity map of the low 4 GiB with 2 MiB pages (the LAPIC and
	 * IOAPIC included), prebuilt so the 32-bit entry does no loops. */
	.section .data.idt, "aw"
	.balign 16
	.globl rt_idt
rt_idt:
	.set vec, 0
	.rept 256
	.word (RT_ISR_BASE + 16 * vec) & 0xffff         /* offset 15:0 */
	.word RT_GDT_CODE64
	.byte (vec >= 32) & 1    /* IST1 for interrupts (gas: true is -1) */
	.byte 0x8e                                      /* present interrupt gate */
	.word (RT_ISR_BASE + 16 * vec) >> 16            /* offset 31:16 */
	.long 0, 0                                      /* offset 63:32, reserved */
	.set vec, vec + 1
	.endr

	.section .data.pagetables, "aw"
	.balign 4096
	.globl rt_pml4, rt_pdpt, rt_pd
rt_pml4:
	.quad rt_pdpt + 0x3
	.fill 511, 8, 0
rt_pdpt:
	.quad rt_pd + 0x3
	.quad rt_pd + 0x1000 + 0x3
	.quad rt_pd + 0x2000 + 0x3
	.quad rt_pd + 0x3000 + 0x3
	.fill 508, 8, 0
rt_pd:
	.set page, 0
	.rept 2048
	.quad (page << 21) | 0x83       /* present, writable, 2 MiB */
	.set page, page + 1
	.endr

	/* The BSP's boot stack. */
	.bss
	.balign 16
	.skip 16384
rt_boot_stack_top:

	.section .note.GNU-stack, "", @progbits
