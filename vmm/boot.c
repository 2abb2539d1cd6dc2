/*
 * boot.c - put a kernel into the guest and set up the boot vCPU.
 *
 * Two formats, chosen by content: an ELF with a PVH entry note (booted in
 * 32-bit protected mode with EBX = struct hvm_start_info, as Xen's PVH
 * boot ABI defines), or a Linux bzImage (booted through the 64-bit boot
 * protocol: long mode, identity page tables, RSI = the zero page). Both get
 * the command line at LAYOUT_CMDLINE, the initrd placed high in low RAM, the
 * ACPI RSDP and the e820 map built from the region table; PVH guests also
 * get the machine-description FDT as a module.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot_params.h"
#include "internal.h"

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
	if (elf_is_elf(bi->kernel, bi->kernel_len)) {
		bi->is_pvh = true;
		if (pvh_parse(bi->kernel, bi->kernel_len, &bi->pvh, why,
			      sizeof(why)) < 0) {
			snprintf(err, errlen, "'%s': %s", kernel, why);
			return -1;
		}
	} else if (bzimage_parse(bi->kernel, bi->kernel_len, &bi->bz, why,
				 sizeof(why)) < 0) {
		snprintf(err, errlen, "'%s': %s", kernel, why);
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

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000) << 32) |
	       ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0xf0000) << 32) |
	       ((uint64_t)(base & 0xffffff) << 16) | (limit & 0xffff);
}

int boot_write_gdt_and_pagetables(struct vm *vm)
{
	uint64_t gdt[6] = {
		0,
		gdt_entry(0xc09b, 0, 0xfffff), /* 0x08: 32-bit code */
		gdt_entry(0xa09b, 0, 0xfffff), /* 0x10: 64-bit code (__BOOT_CS) */
		gdt_entry(0xc093, 0, 0xfffff), /* 0x18: data (__BOOT_DS) */
		gdt_entry(0x008b, 0, 0x67),    /* 0x20: TSS (16 bytes in long mode) */
		0,
	};
	uint64_t *pml4 = vm_gpa_w(vm, LAYOUT_PML4, 4096);
	uint64_t *pdpt = vm_gpa_w(vm, LAYOUT_PDPT, 4096);
	uint64_t *pd = vm_gpa_w(vm, LAYOUT_PD, 4 * 4096);
	void *g = vm_gpa_w(vm, LAYOUT_GDT, sizeof(gdt));

	if (!pml4 || !pdpt || !pd || !g)
		return -1;
	memcpy(g, gdt, sizeof(gdt));
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = LAYOUT_PDPT | 0x3;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + (uint64_t)i * 4096) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83; /* present, writable, 2 MiB */
	return 0;
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

static int load_pvh(struct vm *vm, const struct boot_image *bi, char *err,
		    size_t errlen)
{
	struct e820_entry e820[E820_MAX];
	struct hvm_start_info *si;
	struct hvm_modlist_entry *mods;
	struct hvm_memmap_table_entry *mm;
	uint64_t kernel_end = 0;
	int n, nmod = 0;

	for (int i = 0; i < bi->pvh.nseg; i++) {
		const struct elf_segment *s = &bi->pvh.seg[i];
		uint8_t *dst = vm_gpa_w(vm, s->paddr, s->memsz);

		if (!dst || s->paddr < LAYOUT_KERNEL) {
			snprintf(err, errlen, "ELF segment at 0x%llx (%llu bytes) "
				 "is outside guest RAM above 1 MiB",
				 (unsigned long long)s->paddr,
				 (unsigned long long)s->memsz);
			return -1;
		}
		memcpy(dst, bi->kernel + s->offset, s->filesz);
		memset(dst + s->filesz, 0, s->memsz - s->filesz);
		if (s->paddr + s->memsz > kernel_end)
			kernel_end = s->paddr + s->memsz;
	}
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
	    vcpu_setup_pvh(vm, bi->pvh.entry, LAYOUT_PVH_START_INFO) < 0) {
		snprintf(err, errlen, "cannot set up the boot vCPU: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

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
	put16(zp + BP_HEAP_END_PTR, 0xfe00);
	put16(zp + BP_VID_MODE, 0xffff);
	put32(zp + BP_CMD_LINE_PTR, (uint32_t)LAYOUT_CMDLINE);
	put32(zp + BP_EXT_CMD_LINE_PTR, 0);
	put32(zp + BP_RAMDISK_IMAGE, (uint32_t)vm->initrd_gpa);
	put32(zp + BP_RAMDISK_SIZE, (uint32_t)vm->initrd_size);
	put32(zp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(vm->initrd_gpa >> 32));
	put32(zp + BP_EXT_RAMDISK_SIZE, (uint32_t)(vm->initrd_size >> 32));
	memcpy(zp + BP_ACPI_RSDP_ADDR, &vm->rsdp, 8);
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
	    vcpu_setup_linux64(vm, LAYOUT_KERNEL + 0x200, LAYOUT_ZERO_PAGE) < 0) {
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
	return bi->is_pvh ? load_pvh(vm, bi, err, errlen) :
			    load_bzimage(vm, bi, err, errlen);
}
