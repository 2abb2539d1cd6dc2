/*
 * boot.c - put a kernel into the guest and set up the boot vCPU.
 *
 * Three formats, chosen by content: an ELF with a PVH entry note (booted in
 * 32-bit protected mode with EBX = struct hvm_start_info, as Xen's PVH
 * boot ABI defines), a Multiboot (v1) kernel (32-bit protected mode, EAX =
 * 0x2BADB002, EBX = the multiboot information: kvm-unit-tests' tests), or a
 * Linux bzImage (booted through the 64-bit boot
 * protocol: long mode, identity page tables, RSI = the zero page). All get
 * the command line at LAYOUT_CMDLINE, the initrd placed high in low RAM, the
 * ACPI RSDP and the e820 map built from the region table; PVH guests also
 * get the machine-description FDT as a module.
 *
 * The boot vCPU's registers are set here too, from one table of flat
 * segments that also gives the GDT written into the guest (x86.h names the
 * control-register bits): vcpu.c only creates and runs vCPUs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot_params.h"
#include "internal.h"
#include "le.h"
#include "x86.h"

/* Xen's struct hvm_start_info and friends (version 1), by layout. */
#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};

/* Where the pieces go inside the start-info page. */
#define SI_MODLIST  (LAYOUT_PVH_START_INFO + 0x40)
#define SI_FDT_NAME (LAYOUT_PVH_START_INFO + 0x80)
#define SI_MEMMAP   (LAYOUT_PVH_START_INFO + 0x100)
#define SI_MEMMAP_MAX ((0x1000 - 0x100) / sizeof(struct hvm_memmap_table_entry))

int boot_read_file(const char *path, uint8_t **buf, size_t *len,
		   char *err, size_t errlen)
{
	struct stat st;
	uint8_t *b;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size == 0 || (uint64_t)st.st_size > 4 * GiB) {
		snprintf(err, errlen, "'%s' has an unusable size (%lld bytes)",
			 path, (long long)st.st_size);
		close(fd);
		return -1;
	}
	b = malloc((size_t)st.st_size);
	if (!b) {
		snprintf(err, errlen, "'%s': out of memory", path);
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, b + got, (size_t)st.st_size - got);

		if (n <= 0) {
			snprintf(err, errlen, "cannot read '%s': %s", path,
				 n < 0 ? strerror(errno) : "short file");
			free(b);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	*buf = b;
	*len = got;
	return 0;
}

int boot_prepare(struct boot_image *bi, const char *kernel, const char *initrd,
		 const char **bad_opt, char *err, size_t errlen)
{
	char why[200];

	memset(bi, 0, sizeof(*bi));
	*bad_opt = "initrd";
	if (initrd && boot_read_file(initrd, &bi->initrd, &bi->initrd_len,
				     err, errlen) < 0)
		return -1;
	*bad_opt = "kernel";
	if (boot_read_file(kernel, &bi->kernel, &bi->kernel_len, err, errlen) < 0)
		return -1;
	/* an ELF with a PVH note boots PVH (even if it also has a Multiboot
	 * header); then a Multiboot header; then a bzImage */
	if (elf_is_elf(bi->kernel, bi->kernel_len)) {
		if (elf_parse(bi->kernel, bi->kernel_len, &bi->pvh, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "'%s': %s", kernel, why);
			return -1;
		}
		bi->is_pvh = bi->pvh.has_note;
		if (bi->is_pvh)
			return 0;
	}
	switch (multiboot_parse(bi->kernel, bi->kernel_len, &bi->mb, why, sizeof(why))) {
	case 1:
		bi->is_multiboot = true;
		return 0;
	case -1:
		snprintf(err, errlen, "'%s': %s", kernel, why);
		return -1;
	}
	if (elf_is_elf(bi->kernel, bi->kernel_len)) {
		snprintf(err, errlen, "'%s': ELF with neither a PVH entry note "
			 "(XEN_ELFNOTE_PHYS32_ENTRY) nor a Multiboot header", kernel);
		return -1;
	}
	if (bzimage_parse(bi->kernel, bi->kernel_len, &bi->bz, why,
			  sizeof(why)) < 0) {
		snprintf(err, errlen, "'%s': %s (and no Multiboot header)", kernel, why);
		return -1;
	}
	return 0;
}

void boot_free(struct boot_image *bi)
{
	free(bi->kernel);
	free(bi->initrd);
	bi->kernel = bi->initrd = NULL;
}

/* ---- The boot CPU: one segment table for the GDT and the registers ---- */

/* The flat segments both boot protocols use. The GDT written to guest
 * memory and the segment registers loaded into the boot vCPU are both
 * derived from this table, so they cannot disagree. Selector = index * 8. */
enum { SEG_CODE32 = 1, SEG_CODE64, SEG_DATA, SEG_TSS, BOOT_GDT_ENTRIES = 6 };

struct boot_segment {
	uint8_t type;   /* descriptor type field (X86_SEG_TYPE_*) */
	bool s;         /* code/data (true) or system segment */
	bool db, l, g;  /* 32-bit default size, 64-bit code, 4 KiB granular */
	uint32_t limit; /* 20 bits, in 4 KiB units when g */
};

static const struct boot_segment boot_segs[BOOT_GDT_ENTRIES] = {
	[SEG_CODE32] = { X86_SEG_TYPE_CODE_XR, true, true, false, true, 0xfffff },
	/* Linux's __BOOT_CS and __BOOT_DS are 0x10 and 0x18. */
	[SEG_CODE64] = { X86_SEG_TYPE_CODE_XR, true, false, true, true, 0xfffff },
	[SEG_DATA] = { X86_SEG_TYPE_DATA_RW, true, true, false, true, 0xfffff },
	/* A TSS takes 16 bytes (two slots) in long mode; slot 5 stays 0. */
	[SEG_TSS] = { X86_SEG_TYPE_TSS_BUSY, false, false, false, false, 0x67 },
};

static uint16_t seg_selector(int i)
{
	return (uint16_t)(i * 8);
}

/* The 8-byte descriptor (base 0, present, DPL 0). */
static uint64_t gdt_entry(const struct boot_segment *d)
{
	uint64_t flags = (uint64_t)d->g << 15 | (uint64_t)d->db << 14 |
			 (uint64_t)d->l << 13 | 1u << 7 /* P */ |
			 (uint64_t)d->s << 4 | d->type;

	if (!d->type)
		return 0;
	return flags << 40 | (uint64_t)(d->limit & 0xf0000) << 32 |
	       (d->limit & 0xffff);
}

/* The same segment as KVM wants it in a segment register. */
static struct kvm_segment kvm_seg(int i)
{
	const struct boot_segment *d = &boot_segs[i];

	return (struct kvm_segment){
		.base = 0,
		.limit = d->g ? d->limit << 12 | 0xfff : d->limit,
		.selector = seg_selector(i), .type = d->type, .present = 1,
		.dpl = 0, .db = d->db, .s = d->s, .l = d->l, .g = d->g,
	};
}

static int boot_write_gdt(struct vm *vm)
{
	uint8_t *g = vm_gpa_w(vm, LAYOUT_GDT, BOOT_GDT_ENTRIES * 8);

	if (!g)
		return -1;
	for (int i = 0; i < BOOT_GDT_ENTRIES; i++)
		put_le64(g + i * 8, gdt_entry(&boot_segs[i]));
	return 0;
}

static int boot_write_gdt_and_pagetables(struct vm *vm)
{
	uint8_t *pml4 = vm_gpa_w(vm, LAYOUT_PML4, 4096);
	uint8_t *pdpt = vm_gpa_w(vm, LAYOUT_PDPT, 4096);
	uint8_t *pd = vm_gpa_w(vm, LAYOUT_PD, 4 * 4096);

	if (!pml4 || !pdpt || !pd || boot_write_gdt(vm) < 0)
		return -1;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	/* Identity map of the first 4 GiB with 2 MiB pages. */
	put_le64(pml4, LAYOUT_PDPT | X86_PTE_P | X86_PTE_W);
	for (int i = 0; i < 4; i++)
		put_le64(pdpt + i * 8, (LAYOUT_PD + (uint64_t)i * 4096) |
			 X86_PTE_P | X86_PTE_W);
	for (uint64_t i = 0; i < 4 * 512; i++)
		put_le64(pd + i * 8, i << 21 | X86_PTE_P | X86_PTE_W | X86_PTE_PS);
	return 0;
}

/* Segment registers for a flat boot: CS is code32 or code64. */
static void boot_sregs(struct kvm_sregs *s, bool long_mode)
{
	s->cs = kvm_seg(long_mode ? SEG_CODE64 : SEG_CODE32);
	s->ds = s->es = s->fs = s->gs = s->ss = kvm_seg(SEG_DATA);
	s->tr = kvm_seg(SEG_TSS);
	s->ldt = (struct kvm_segment){ .selector = 0, .type = X86_SEG_TYPE_LDT,
				       .present = 1, .limit = 0xffff };
	s->gdt.base = LAYOUT_GDT;
	s->gdt.limit = BOOT_GDT_ENTRIES * 8 - 1;
	s->idt.base = 0;
	s->idt.limit = 0;
}

/* PVH and Multiboot: 32-bit protected mode, paging off, EBX = start info
 * (EAX: Multiboot's magic, 0 for PVH). */
static int boot_regs_pvh(struct vm *vm, uint32_t entry, uint32_t start_info, uint32_t eax)
{
	int fd = vm->vcpus[0].fd;
	struct kvm_sregs s;
	struct kvm_regs r = { .rip = entry, .rbx = start_info, .rax = eax,
			      .rflags = X86_RFLAGS_FIXED };

	if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return -1;
	boot_sregs(&s, false);
	s.cr0 = X86_CR0_PE | X86_CR0_ET;
	s.cr3 = 0;
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(fd, KVM_SET_SREGS, &s) < 0)
		return -1;
	return ioctl(fd, KVM_SET_REGS, &r);
}

/* Linux 64-bit boot protocol: long mode on the identity map, RSI = the
 * zero page. */
static int boot_regs_linux64(struct vm *vm, uint64_t entry, uint64_t boot_params)
{
	int fd = vm->vcpus[0].fd;
	struct kvm_sregs s;
	struct kvm_regs r = { .rip = entry, .rsi = boot_params,
			      .rflags = X86_RFLAGS_FIXED,
			      .rsp = LAYOUT_BOOT_STACK, .rbp = LAYOUT_BOOT_STACK };

	if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return -1;
	boot_sregs(&s, true);
	s.cr0 = X86_CR0_PG | X86_CR0_AM | X86_CR0_WP | X86_CR0_NE |
		X86_CR0_ET | X86_CR0_MP | X86_CR0_PE;
	s.cr3 = LAYOUT_PML4;
	s.cr4 = X86_CR4_PAE;
	s.efer = X86_EFER_LME | X86_EFER_LMA;
	if (ioctl(fd, KVM_SET_SREGS, &s) < 0)
		return -1;
	return ioctl(fd, KVM_SET_REGS, &r);
}

static int write_cmdline(struct vm *vm, const char *cmdline, size_t max,
			 char *err, size_t errlen)
{
	size_t n = cmdline ? strlen(cmdline) : 0;
	char *dst;

	if (n + 1 > LAYOUT_CMDLINE_MAX || n > max) {
		snprintf(err, errlen, "command line too long (%zu bytes, max %zu)",
			 n, max < LAYOUT_CMDLINE_MAX - 1 ? max :
			 (size_t)LAYOUT_CMDLINE_MAX - 1);
		return -1;
	}
	dst = vm_gpa_w(vm, LAYOUT_CMDLINE, n + 1);
	if (!dst) {
		snprintf(err, errlen, "no guest RAM for the command line");
		return -1;
	}
	memcpy(dst, cmdline ? cmdline : "", n + 1);
	return 0;
}

/* Put the initrd page-aligned as high as possible below limit (exclusive)
 * and above floor. */
static int place_initrd(struct vm *vm, const struct boot_image *bi,
			uint64_t floor, uint64_t limit, char *err, size_t errlen)
{
	uint64_t low_end = vm->ram_size < LAYOUT_LOW_RAM_MAX ? vm->ram_size :
			   LAYOUT_LOW_RAM_MAX;
	uint64_t top = limit < low_end ? limit : low_end;
	uint64_t addr;
	void *dst;

	if (!bi->initrd)
		return 0;
	if (bi->initrd_len > top || ((top - bi->initrd_len) & ~0xfffULL) < floor) {
		snprintf(err, errlen, "initrd (%zu bytes) does not fit in guest "
			 "RAM between 0x%llx and 0x%llx", bi->initrd_len,
			 (unsigned long long)floor, (unsigned long long)top);
		return -1;
	}
	addr = (top - bi->initrd_len) & ~0xfffULL;
	dst = vm_gpa_w(vm, addr, bi->initrd_len);
	if (!dst) {
		snprintf(err, errlen, "initrd does not fit in guest RAM");
		return -1;
	}
	memcpy(dst, bi->initrd, bi->initrd_len);
	vm->initrd_gpa = addr;
	vm->initrd_size = bi->initrd_len;
	return 0;
}

/* Below 1 MiB a Multiboot kernel may load segments (real-mode code, as
 * kvm-unit-tests' realmode does) where vmm writes nothing for it: not the
 * GDT's page, the Multiboot information's page, the command line, the FDT's
 * area, nor from the EBDA up. */
static const struct { uint64_t start, end; } mb_low_free[] = {
	{ LAYOUT_AP_TRAMPOLINE, LAYOUT_PVH_START_INFO },
	{ LAYOUT_PVH_START_INFO + 0x1000, LAYOUT_CMDLINE },
	{ LAYOUT_FDT + LAYOUT_FDT_MAX, LAYOUT_EBDA },
};

static bool segment_ok(const struct elf_segment *s, bool low_ok)
{
	if (s->paddr >= LAYOUT_KERNEL)
		return true;
	for (size_t i = 0; low_ok && i < sizeof(mb_low_free) / sizeof(mb_low_free[0]); i++)
		if (s->paddr >= mb_low_free[i].start && s->paddr <= mb_low_free[i].end &&
		    s->memsz <= mb_low_free[i].end - s->paddr)
			return true;
	return false;
}

/* Copy the kernel's segments into guest RAM above 1 MiB (low_ok: or into
 * mb_low_free); *end gets the highest byte loaded. */
static int load_segments(struct vm *vm, const uint8_t *file, const struct elf_segment *seg,
			 int nseg, bool low_ok, uint64_t *end, char *err, size_t errlen)
{
	*end = 0;
	for (int i = 0; i < nseg; i++) {
		const struct elf_segment *s = &seg[i];
		uint8_t *dst = vm_gpa_w(vm, s->paddr, s->memsz);

		if (!dst || !segment_ok(s, low_ok)) {
			snprintf(err, errlen, "segment at 0x%llx (%llu bytes) "
				 "is outside guest RAM above 1 MiB%s",
				 (unsigned long long)s->paddr,
				 (unsigned long long)s->memsz,
				 low_ok ? " and the free low memory (0x1000-0x6000, "
				 "0x7000-0x20000, 0x40000-0x9fc00)" : "");
			return -1;
		}
		memcpy(dst, file + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
		if (s->paddr + s->memsz > *end)
			*end = s->paddr + s->memsz;
	}
	return 0;
}

static int load_pvh(struct vm *vm, const struct boot_image *bi, char *err,
		    size_t errlen)
{
	struct e820_entry e820[E820_MAX];
	struct hvm_start_info *si;
	struct hvm_modlist_entry *mods;
	struct hvm_memmap_table_entry *mm;
	uint64_t kernel_end = 0;
	int n, nmod = 0;

	if (load_segments(vm, bi->kernel, bi->pvh.seg, bi->pvh.nseg, false, &kernel_end, err,
			  errlen) < 0)
		return -1;
	if (write_cmdline(vm, vm->cfg.cmdline, LAYOUT_CMDLINE_MAX - 1, err,
			  errlen) < 0)
		return -1;
	if (place_initrd(vm, bi, (kernel_end + 0xfff) & ~0xfffULL,
			 LAYOUT_LOW_RAM_MAX, err, errlen) < 0)
		return -1;
	if (fdt_build(vm, err, errlen) < 0)
		return -1;

	si = vm_gpa_w(vm, LAYOUT_PVH_START_INFO, 4096);
	if (!si) {
		snprintf(err, errlen, "no guest RAM for the PVH start info");
		return -1;
	}
	memset(si, 0, 4096);
	mods = (void *)((uint8_t *)si + (SI_MODLIST - LAYOUT_PVH_START_INFO));
	mm = (void *)((uint8_t *)si + (SI_MEMMAP - LAYOUT_PVH_START_INFO));
	if (vm->initrd_size) {
		mods[nmod++] = (struct hvm_modlist_entry){
			.paddr = vm->initrd_gpa, .size = vm->initrd_size };
	}
	memcpy((uint8_t *)si + (SI_FDT_NAME - LAYOUT_PVH_START_INFO),
	       "pmvm-fdt", 9);
	mods[nmod++] = (struct hvm_modlist_entry){
		.paddr = vm->fdt_gpa, .size = vm->fdt_size,
		.cmdline_paddr = SI_FDT_NAME };
	pthread_rwlock_rdlock(&vm->mem_lock);
	n = e820_build(&vm->mem, e820, (int)SI_MEMMAP_MAX);
	pthread_rwlock_unlock(&vm->mem_lock);
	if (n < 0) {
		snprintf(err, errlen, "too many memory map entries");
		return -1;
	}
	for (int i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_table_entry){
			.addr = e820[i].addr, .size = e820[i].size,
			.type = e820[i].type };
	si->magic = HVM_START_MAGIC;
	si->version = 1;
	si->nr_modules = (uint32_t)nmod;
	si->modlist_paddr = SI_MODLIST;
	si->cmdline_paddr = LAYOUT_CMDLINE;
	si->rsdp_paddr = vm->rsdp;
	si->memmap_paddr = SI_MEMMAP;
	si->memmap_entries = (uint32_t)n;

	if (boot_write_gdt_and_pagetables(vm) < 0 ||
	    boot_regs_pvh(vm, bi->pvh.entry, LAYOUT_PVH_START_INFO, 0) < 0) {
		snprintf(err, errlen, "cannot set up the boot vCPU: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* The Multiboot information, in the page PVH uses for its start info. */
#define MBI_MODS   (LAYOUT_PVH_START_INFO + 0x80)
#define MBI_NAME   (LAYOUT_PVH_START_INFO + 0xa0)
#define MBI_MODSTR (LAYOUT_PVH_START_INFO + 0xb0)
#define MBI_MMAP   (LAYOUT_PVH_START_INFO + 0x100)
#define MBI_MMAP_MAX ((0x1000 - 0x100) / 24)
#define MBI_MEM 0x001u
#define MBI_CMDLINE 0x004u
#define MBI_MODULES 0x008u
#define MBI_MMAP_F 0x040u
#define MBI_LOADER 0x200u

static int load_multiboot(struct vm *vm, const struct boot_image *bi, char *err,
			  size_t errlen)
{
	struct e820_entry e820[E820_MAX];
	uint64_t kernel_end, lower = 0, upper = 0;
	uint8_t *mi;
	uint32_t flags = MBI_MEM | MBI_CMDLINE | MBI_MMAP_F | MBI_LOADER;
	int n;

	if (load_segments(vm, bi->kernel, bi->mb.seg, bi->mb.nseg, true, &kernel_end, err,
			  errlen) < 0)
		return -1;
	/* As GRUB and QEMU do: the image's path, then the arguments (test
	 * kernels such as kvm-unit-tests take the first word as argv[0]). */
	{
		const char *path = vm->cfg.kernel ? vm->cfg.kernel : "kernel";
		const char *args = vm->cfg.cmdline ? vm->cfg.cmdline : "";
		char *line;
		int r;

		if (asprintf(&line, "%s%s%s", path, *args ? " " : "", args) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		r = write_cmdline(vm, line, LAYOUT_CMDLINE_MAX - 1, err, errlen);
		free(line);
		if (r < 0)
			return -1;
	}
	if (place_initrd(vm, bi, (kernel_end + 0xfff) & ~0xfffULL, LAYOUT_LOW_RAM_MAX,
			 err, errlen) < 0)
		return -1;
	mi = vm_gpa_w(vm, LAYOUT_PVH_START_INFO, 4096);
	if (!mi) {
		snprintf(err, errlen, "no guest RAM for the multiboot information");
		return -1;
	}
	memset(mi, 0, 4096);
	pthread_rwlock_rdlock(&vm->mem_lock);
	n = e820_build(&vm->mem, e820, (int)MBI_MMAP_MAX);
	pthread_rwlock_unlock(&vm->mem_lock);
	if (n < 0) {
		snprintf(err, errlen, "too many memory map entries");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		uint8_t *e = mi + (MBI_MMAP - LAYOUT_PVH_START_INFO) + i * 24;

		put_le32(e, 20);	/* the entry's size, without this field */
		put_le64(e + 4, e820[i].addr);
		put_le64(e + 12, e820[i].size);
		put_le32(e + 20, e820[i].type);
		if (e820[i].type != E820_RAM)
			continue;
		if (e820[i].addr == 0)
			lower = e820[i].size < 640 * KiB ? e820[i].size : 640 * KiB;
		if (e820[i].addr <= LAYOUT_KERNEL && e820[i].addr + e820[i].size > LAYOUT_KERNEL)
			upper = e820[i].addr + e820[i].size - LAYOUT_KERNEL;
	}
	if (upper > 0xffffffffULL * KiB)
		upper = 0xffffffffULL * KiB;
	put_le32(mi + 4, (uint32_t)(lower / KiB));
	put_le32(mi + 8, (uint32_t)(upper / KiB));
	put_le32(mi + 16, (uint32_t)LAYOUT_CMDLINE);
	if (vm->initrd_size) {
		uint8_t *m = mi + (MBI_MODS - LAYOUT_PVH_START_INFO);

		flags |= MBI_MODULES;
		put_le32(m, (uint32_t)vm->initrd_gpa);
		put_le32(m + 4, (uint32_t)(vm->initrd_gpa + vm->initrd_size));
		put_le32(m + 8, (uint32_t)MBI_MODSTR);
		memcpy(mi + (MBI_MODSTR - LAYOUT_PVH_START_INFO), "initrd", 7);
		put_le32(mi + 20, 1);
		put_le32(mi + 24, (uint32_t)MBI_MODS);
	}
	put_le32(mi + 44, (uint32_t)(n * 24));
	put_le32(mi + 48, (uint32_t)MBI_MMAP);
	memcpy(mi + (MBI_NAME - LAYOUT_PVH_START_INFO), "pmvm", 5);
	put_le32(mi + 64, (uint32_t)MBI_NAME);
	put_le32(mi, flags);

	/* paging is off: no page tables, which would be over low segments */
	if (boot_write_gdt(vm) < 0 ||
	    boot_regs_pvh(vm, bi->mb.entry, LAYOUT_PVH_START_INFO, MULTIBOOT_BOOT_MAGIC) < 0) {
		snprintf(err, errlen, "cannot set up the boot vCPU: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int load_bzimage(struct vm *vm, const struct boot_image *bi, char *err,
			size_t errlen)
{
	const struct bzimage_info *b = &bi->bz;
	size_t klen = bi->kernel_len - b->setup_size;
	uint64_t need = b->init_size > klen ? b->init_size : klen;
	struct e820_entry e820[BP_E820_MAX];
	uint8_t *zp, *dst;
	uint64_t initrd_limit;
	int n;

	dst = vm_gpa_w(vm, LAYOUT_KERNEL, need);
	if (!dst) {
		snprintf(err, errlen, "kernel needs %llu bytes from 1 MiB; "
			 "give the guest more memory",
			 (unsigned long long)need);
		return -1;
	}
	memcpy(dst, bi->kernel + b->setup_size, klen);
	if (write_cmdline(vm, vm->cfg.cmdline, b->cmdline_size, err, errlen) < 0)
		return -1;
	/* initrd_addr_max is the highest address the initrd may occupy. */
	initrd_limit = (uint64_t)b->initrd_addr_max + 1;
	if (place_initrd(vm, bi, (LAYOUT_KERNEL + need + 0xfff) & ~0xfffULL,
			 initrd_limit, err, errlen) < 0)
		return -1;
	/* Test guests may look at the FDT even when booted as a bzImage. */
	if (fdt_build(vm, err, errlen) < 0)
		return -1;

	zp = vm_gpa_w(vm, LAYOUT_ZERO_PAGE, BP_SIZE);
	if (!zp) {
		snprintf(err, errlen, "no guest RAM for the zero page");
		return -1;
	}
	memset(zp, 0, BP_SIZE);
	memcpy(zp + BP_SETUP_HDR, bi->kernel + BP_SETUP_HDR,
	       b->hdr_end - BP_SETUP_HDR);
	zp[BP_TYPE_OF_LOADER] = 0xff;
	zp[BP_LOADFLAGS] |= BP_CAN_USE_HEAP;
	put_le16(zp + BP_HEAP_END_PTR, 0xfe00);
	put_le16(zp + BP_VID_MODE, 0xffff);
	put_le32(zp + BP_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	put_le32(zp + BP_EXT_CMD_LINE_PTR, 0);
	put_le32(zp + BP_RAMDISK_IMAGE, (uint32_t)vm->initrd_gpa);
	put_le32(zp + BP_RAMDISK_SIZE, (uint32_t)vm->initrd_size);
	put_le32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(vm->initrd_gpa >> 32));
	put_le32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)(vm->initrd_size >> 32));
	put_le64(zp + BP_ACPI_RSDP_ADDR, vm->rsdp);
	pthread_rwlock_rdlock(&vm->mem_lock);
	n = e820_build(&vm->mem, e820, BP_E820_MAX);
	pthread_rwlock_unlock(&vm->mem_lock);
	if (n < 0) {
		snprintf(err, errlen, "too many e820 entries");
		return -1;
	}
	zp[BP_E820_ENTRIES] = (uint8_t)n;
	memcpy(zp + BP_E820_TABLE, e820, (size_t)n * sizeof(e820[0]));

	if (boot_write_gdt_and_pagetables(vm) < 0 ||
	    boot_regs_linux64(vm, LAYOUT_KERNEL + 0x200, LAYOUT_ZERO_PAGE) < 0) {
		snprintf(err, errlen, "cannot set up the boot vCPU: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * There is no BIOS, but Linux may still jump to the BIOS reset vector: a
 * hardware-reduced ACPI machine makes it pick reboot=efi, which without EFI
 * falls through to reboot=bios (machine_real_restart: real mode, ljmp
 * F000:FFF0). Without code there the guest would run zeros forever. The
 * stub asks the i8042 for a reset, which ends vmm with VMM_EXIT_RESET.
 * Written only if the ACPI tables left those 16 bytes unused.
 */
static void write_reset_vector(struct vm *vm)
{
	static const uint8_t stub[] = {
		0xfa,             /* cli */
		0xb0, 0xfe,       /* mov al, 0xfe */
		0xe6, 0x64,       /* out 0x64, al: i8042 pulse reset */
		0xf4,             /* hlt */
		0xeb, 0xfd,       /* jmp hlt */
	};
	static const uint8_t zero[16];
	uint8_t *p = vm_gpa_w(vm, LAYOUT_RESET_VECTOR, 16);

	if (p && memcmp(p, zero, sizeof(zero)) == 0)
		memcpy(p, stub, sizeof(stub));
}

int boot_load(struct vm *vm, const struct boot_image *bi, char *err,
	      size_t errlen)
{
	write_reset_vector(vm);
	if (bi->is_multiboot)
		return load_multiboot(vm, bi, err, errlen);
	return bi->is_pvh ? load_pvh(vm, bi, err, errlen) :
			    load_bzimage(vm, bi, err, errlen);
}
