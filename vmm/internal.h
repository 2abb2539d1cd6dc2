/*
 * internal.h - what the files of the core share and the modules never see.
 *
 * vmm.h is the contract with device modules; this header is the core's own
 * plumbing: the struct vm, the guest memory-region table, the I/O range
 * table, the vCPU threads and the pure parsers (sizes, e820, bzImage header,
 * PVH ELF notes) that unit tests drive without KVM.
 */
#ifndef PMVM_INTERNAL_H
#define PMVM_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "vmm.h"

/* ---- Guest memory regions (memmap.c: pure, unit-tested) ----------------- */

#define VM_MAX_REGIONS 64

struct vm_region {
	uint64_t gpa, size;
	uint8_t *host;
	unsigned flags;
	int slot;
	int pieces;  /* KVM memslots it is split into by holes (memerr.c) */
	uint64_t *dirty_carry; /* VM_MEM_LOG_DIRTY: logs of pieces replaced by
				* a split (vm_mem_dirty_log), or NULL */
	uint64_t *vmm_dirty;   /* VM_MEM_LOG_DIRTY: pages vmm itself wrote
				* (vm_gpa_w, vm_mem_mark_dirty) */
};

/* Regions sorted by gpa, never overlapping. */
struct vm_memmap {
	struct vm_region r[VM_MAX_REGIONS];
	int n;
};

/* Insert a region; -1 (EINVAL/ENOSPC/EEXIST in errno) on a bad, overlapping
 * or excess region. */
int memmap_add(struct vm_memmap *m, uint64_t gpa, uint64_t size, void *host,
	       unsigned flags, int slot);
/* Host pointer for [gpa, gpa+len) inside one region, or NULL. want_write
 * refuses VM_MEM_READONLY regions. len 0 counts as 1. */
void *memmap_lookup(const struct vm_memmap *m, uint64_t gpa, uint64_t len,
		    bool want_write);
/* The guest physical address whose host mapping holds hva: 0, or -1 when no
 * region maps it. */
int memmap_hva_to_gpa(const struct vm_memmap *m, const void *hva, uint64_t *gpa);

/* A range taken out of the memslots (memerr.c, vm_mem_hole). */
struct vm_hole {
	uint64_t gpa, len;
};
/* The pieces of [gpa, gpa+size) outside the sorted, disjoint holes, lowest
 * first, into out (at most max): their number, or -1 if more than max. */
int memmap_pieces(uint64_t gpa, uint64_t size, const struct vm_hole *holes, int nholes,
		  struct vm_hole *out, int max);
/* The KVM memslot of piece k of region r (k 0: the region's own slot). */
int memmap_piece_slot(const struct vm_region *r, int k);

/* ---- e820 (e820.c: pure, unit-tested) ------------------------------------ */

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_MAX      128

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
} __attribute__((packed));

/* Build the guest's e820 from the memory map: RAM regions (flags without
 * VM_MEM_NO_E820, VM_MEM_PMEM or VM_MEM_READONLY) as RAM, with
 * [LAYOUT_EBDA, 1 MiB) reserved. Sorted, adjacent equal types merged.
 * Returns the number of entries (<= max), or -1 if they do not fit. */
int e820_build(const struct vm_memmap *m, struct e820_entry *out, int max);

/* ---- Sizes (size.c) ------------------------------------------------------- */
/* vmm_parse_size is in vmm.h. */

/* ---- Kernel image parsers (bzimage.c, pvh.c: pure, unit-tested) -------- */

struct bzimage_info {
	uint32_t setup_size;     /* bytes of real-mode setup incl. boot sector */
	uint16_t version;        /* boot protocol version */
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;   /* max cmdline length, excl. NUL */
	uint32_t init_size;      /* memory the kernel needs from its load address */
	uint32_t hdr_end;        /* end offset of the setup_header in the file */
	uint64_t pref_address;
	uint32_t kernel_alignment;
	bool relocatable;
};

/* Check a bzImage; on failure return -1 with a reason in err. */
int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *bi,
		  char *err, size_t errlen);
/* The kernel release a bzImage names ("6.1.0-57-amd64", the first word of
 * its version string; the directory under /lib/modules) into out. 0, or -1
 * when the image has none (not a bzImage, no or a bad pointer, no
 * terminator, not printable, longer than outlen - 1). */
int bzimage_kernel_release(const uint8_t *img, size_t len, char *out, size_t outlen);

#define ELF_MAX_SEGMENTS 16

struct elf_segment {
	uint64_t offset, filesz, memsz, paddr;
};

struct pvh_info {
	uint32_t entry; /* XEN_ELFNOTE_PHYS32_ENTRY */
	bool has_note;  /* that note was found */
	uint64_t e_entry; /* the ELF header's entry point */
	int nseg;
	struct elf_segment seg[ELF_MAX_SEGMENTS];
};

/* Is this an ELF file at all (magic)? */
bool elf_is_elf(const uint8_t *img, size_t len);
/* Parse an ELF (32- or 64-bit, x86) with a PVH entry note; every offset and
 * size is checked against len. -1 with a reason in err. */
int pvh_parse(const uint8_t *img, size_t len, struct pvh_info *pi,
	      char *err, size_t errlen);
/* The same without requiring the note (has_note says): the segments and
 * e_entry of any x86 ELF. */
int elf_parse(const uint8_t *img, size_t len, struct pvh_info *pi,
	      char *err, size_t errlen);

/* ---- Multiboot v1 kernels (multiboot.c: pure, unit-tested) -------------- */
#define MULTIBOOT_HEADER_MAGIC 0x1BADB002u
#define MULTIBOOT_BOOT_MAGIC   0x2BADB002u  /* EAX at the kernel's entry */
struct multiboot_info_k {
	uint32_t header_off, flags, entry;
	int nseg;
	struct elf_segment seg[ELF_MAX_SEGMENTS];
};
/* 1: a Multiboot kernel (segments and 32-bit entry filled in); 0: no
 * Multiboot header in the first 8192 bytes; -1: a header that is wrong
 * (bad checksum, fields outside the file, a requirement vmm cannot meet),
 * with the reason in err. */
int multiboot_parse(const uint8_t *img, size_t len, struct multiboot_info_k *mb,
		    char *err, size_t errlen);

/* ---- CPUID (cpuid.c: pure, unit-tested) --------------------------------- */

/* A malloc'ed copy of the supported list src for vCPU idx of n, with the
 * topology leaves rewritten; src must have been allocated with room for 8
 * more entries than src->nent. NULL if out of memory. */
struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *src, int idx, int n);
/* Clear KVM's async page fault features in leaf 0x40000001 (vmm.h,
 * vmm_request_sync_faults). */
void cpuid_hide_async_pf(struct kvm_cpuid2 *c);

/* ---- The VM ------------------------------------------------------------- */

/* One claimed range of I/O ports or MMIO addresses and its handler. */
struct io_range {
	uint64_t base, len;
	vm_io_fn fn;
	void *opaque;
};

struct io_table {
	struct io_range *r;
	int n, cap;
};

struct vcpu {
	struct vm *vm;
	int index, fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	bool mce;  /* KVM_X86_SETUP_MCE done: machine checks can be injected */
};

struct vm_config {
	const char *kernel, *initrd, *cmdline;
	uint64_t mem_size;
	int smp;
	double timeout;
	const char *dump_acpi;
	const char *results;
	bool lazy_pit; /* create the in-kernel PIT on first access (PVH) */
	bool offline;  /* no KVM at all: build the machine, never run it */
	double shutdown_grace; /* SIGTERM: seconds between power button and stop */
	bool shared_ram; /* guest RAM is a memfd another process can map */
};

struct vm_fdwatch {
	int fd;
	void (*cb)(void *opaque, uint32_t events);
	void *opaque;
	struct vm_fdwatch *next;
};

struct vm {
	struct vm_config cfg;
	int kvm_fd, vm_fd, run_size;
	int epoll_fd, wake_fd;
	uint8_t *ram;
	int ram_fd; /* cfg.shared_ram: the memfd behind ram, else -1 */
	uint64_t ram_size, ram_end, alloc_next;
	int next_slot;

	pthread_rwlock_t mem_lock;
	struct vm_memmap mem;
	/* Guest pages out of the memslots (vm_mem_hole), sorted, page-aligned. */
#define VM_MAX_HOLES 256
	struct vm_hole holes[VM_MAX_HOLES];
	int nholes;
	atomic_uint_fast64_t mces; /* machine checks injected */

	pthread_rwlock_t io_lock;
	struct io_table pio, mmio;

	uint32_t irq_used; /* bit per GSI */
	int next_mmio_slot; /* vm_alloc_mmio_slot() */

	struct vcpu *vcpus;
	int nvcpus;
	/* vm_pause_vcpus (vcpu.c): pause_depth is the main thread's; the
	 * vCPU threads read pause_req and count themselves in nparked (and
	 * nended once their loop is over) under pause_lock. */
	int pause_depth;
	atomic_bool pause_req;
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	int nparked, nended;
	struct kvm_cpuid2 *cpuid;
	bool sync_faults; /* vmm_request_sync_faults: no async PF (vm.c) */
	bool manual_dirty; /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled */
	bool dirty_regions; /* a VM_MEM_LOG_DIRTY region exists */
	/* vm_mem_change_begin/end: changes under way, and ended so far */
	pthread_mutex_t change_lock;
	pthread_cond_t change_cond;
	atomic_int changing; /* changed under change_lock; vm.c's SIGSEGV
			      * handler reads it (and changes) lock-free */
	atomic_uint_fast64_t changes;
	atomic_uint_fast64_t change_waits; /* KVM_RUN EFAULTs run again */

	struct vm_fdwatch *watches;

	atomic_bool exiting;
	int exit_status;
	char exit_reason[32];
	uint64_t exit_rip;
	bool have_rip;
	uint64_t debug_value;
	bool have_debug_value;
	char exit_msg[256];

	uint64_t rsdp;
	uint64_t fdt_gpa, fdt_size;
	uint64_t initrd_gpa, initrd_size;
};

/* Record the exit with a machine-readable reason (for --results); the
 * public vm_request_exit() derives the reason from the status. */
void vm_exit_detail(struct vm *vm, int status, const char *reason,
		    const uint64_t *rip, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* vm.c. vm_create returns 0, -1 (err filled) or VM_CREATE_NO_KVM when
 * /dev/kvm is missing or unusable (err says why). */
#define VM_CREATE_NO_KVM (-2)
int vm_create(struct vm *vm, char *err, size_t errlen);
int vm_dispatch_io(struct vm *vm, struct io_table *t, uint64_t addr,
		   void *data, unsigned len, bool is_write);
void vm_destroy(struct vm *vm);


/* vcpu.c */
int vcpus_create(struct vm *vm, char *err, size_t errlen);
int vcpus_start(struct vm *vm, char *err, size_t errlen);
void vcpus_stop(struct vm *vm);

/* memerr.c: SIGBUS, machine checks, holes (see the file header). */
int memerr_start(struct vm *vm);          /* install the SIGBUS handler */
void memerr_vcpu_setup(struct vcpu *v);   /* KVM_X86_SETUP_MCE */
void memerr_cpuid(struct vm *vm, struct kvm_cpuid2 *c); /* AMD: MCA recovery bits */
void memerr_thread_enter(struct vcpu *v);
void memerr_run_begin(void);
void memerr_run_end(void);
bool memerr_vcpu_pending(struct vcpu *v); /* after KVM_RUN: a SIGBUS to handle */
void memerr_mmio_done(struct vcpu *v);    /* after an MMIO exit's handler */
bool memerr_vcpu_efault(struct vcpu *v);  /* KVM_RUN failed with EFAULT */
/* vm.c: KVM memslot flags for VM_MEM_* flags; the dirty log of region r's
 * current pieces kept before a split replaces them (memerr.c); after an
 * EFAULT from KVM_RUN, wait out memory changes: true if one was under way
 * or ended since changes_before (vm_mem_change_begin, vmm.h). */
uint32_t vm_kvm_mem_flags(unsigned flags);
int vm_mem_dirty_carry(struct vm *vm, struct vm_region *r);
bool vm_mem_change_retry(struct vm *vm, uint64_t changes_before);

/* boot.c */
struct boot_image {
	uint8_t *kernel, *initrd;
	size_t kernel_len, initrd_len;
	bool is_pvh, is_multiboot;
	struct pvh_info pvh;
	struct multiboot_info_k mb;
	struct bzimage_info bz;
};

int boot_read_file(const char *path, uint8_t **buf, size_t *len,
		   char *err, size_t errlen);
/* Read and check the kernel (and initrd): errors are about the files. */
int boot_prepare(struct boot_image *bi, const char *kernel, const char *initrd,
		 const char **bad_opt, char *err, size_t errlen);
void boot_free(struct boot_image *bi);
/* Load into guest memory (after ACPI is built) and set up the boot vCPU. */
int boot_load(struct vm *vm, const struct boot_image *bi, char *err,
	      size_t errlen);

/* serial.c: COM1 goes to stderr, output only, unless --serial was given
 * (--exec: stdout is the command's). Before module setup. */
void serial_default_stderr(void);

/* fdt.c */
int fdt_build(struct vm *vm, char *err, size_t errlen);

/* loop.c: the main thread's event loop (see the file header). */
#define LOOP_DEFAULT_GRACE 10.0 /* --shutdown-grace default, seconds */
int loop_init(struct vm *vm, char *err, size_t errlen); /* before modules */
int loop_watch_signals(struct vm *vm, const sigset_t *mask);
int loop_set_timeout(struct vm *vm, double seconds);
void loop_run(struct vm *vm);     /* until vm_request_exit() */
void loop_destroy(struct vm *vm);

#endif
