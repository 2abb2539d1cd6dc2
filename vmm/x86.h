/*
 * x86.h - the x86 architectural constants vmm sets when it boots a vCPU:
 * control-register and EFER bits, RFLAGS, segment descriptor fields and
 * page-table entry bits (Intel SDM vol. 3, chapters 2-4). Names only; the
 * boot code (boot.c) decides which ones a boot protocol needs.
 */
#ifndef PMVM_X86_H
#define PMVM_X86_H

/* CR0 */
#define X86_CR0_PE  (1u << 0)  /* protected mode */
#define X86_CR0_MP  (1u << 1)  /* monitor coprocessor */
#define X86_CR0_ET  (1u << 4)  /* extension type (always 1) */
#define X86_CR0_NE  (1u << 5)  /* native FPU errors */
#define X86_CR0_WP  (1u << 16) /* write protect in ring 0 */
#define X86_CR0_AM  (1u << 18) /* alignment mask */
#define X86_CR0_PG  (1u << 31) /* paging */

/* CR4 */
#define X86_CR4_PAE (1u << 5)  /* physical address extension */

/* EFER (MSR 0xc0000080) */
#define X86_EFER_LME (1u << 8)  /* long mode enable */
#define X86_EFER_LMA (1u << 10) /* long mode active */

/* RFLAGS: bit 1 is reserved and always reads 1. */
#define X86_RFLAGS_FIXED 0x2u

/* Segment descriptor type field (with S = 1: code/data; S = 0: system). */
#define X86_SEG_TYPE_DATA_RW   0x3 /* data, read/write, accessed */
#define X86_SEG_TYPE_CODE_XR   0xb /* code, execute/read, accessed */
#define X86_SEG_TYPE_LDT       0x2 /* system: LDT */
#define X86_SEG_TYPE_TSS_BUSY  0xb /* system: 32/64-bit TSS, busy */

/* Page-table entry bits. */
#define X86_PTE_P   (1u << 0) /* present */
#define X86_PTE_W   (1u << 1) /* writable */
#define X86_PTE_PS  (1u << 7) /* page size: a 2 MiB page in a PD entry */

#endif
