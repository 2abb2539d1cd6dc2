/*
 * pvh.h - the PVH boot ABI as the guest sees it: the start info block the
 * loader passes in EBX (layout from Xen's public arch-x86/hvm/start_info.h,
 * the ABI QEMU, Linux and pmvm's vmm all speak).
 */
#ifndef PMVM_RT_PVH_H
#define PMVM_RT_PVH_H

#define HVM_START_MAGIC 0x336ec578

#ifndef __ASSEMBLER__
#include <stdint.h>

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;        /* 1 adds the memory map */
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;  /* struct hvm_modlist_entry[nr_modules] */
	uint64_t cmdline_paddr;  /* NUL-terminated, 0 if none */
	uint64_t rsdp_paddr;     /* 0: scan the BIOS area */
	uint64_t memmap_paddr;   /* version >= 1 */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

#endif /* __ASSEMBLER__ */

/* Shared between entry.S and C. */
#define RT_GDT_CODE64 0x08
#define RT_GDT_DATA   0x10
#define RT_GDT_CODE32 0x18
#define RT_GDT_TLS    0x20
#define RT_GDT_TSS    0x28 /* + 16 * cpu index */
#define RT_ISR_BASE   0x101000 /* the 256 interrupt stubs (guest.ld) */

#endif
