/*
 * multiboot.c - parse a Multiboot (version 1) kernel: the header in the
 * first 8192 bytes (magic 0x1BADB002, flags, checksum), and what goes
 * where: with flag bit 16 the header's own address fields (the "a.out
 * kludge": header_addr, load_addr, load_end_addr, bss_end_addr,
 * entry_addr), otherwise the ELF program headers (pvh.c's elf_parse) and
 * the ELF entry point. kvm-unit-tests' x86/NAME.flat are such ELF files.
 *
 * The file is hostile: every field is checked against the file and the
 * 32-bit address space without overflow; the loader (boot.c) then checks
 * every segment against guest RAM. Pure code (unit-tested, fuzzable).
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "le.h"

#define MB_SEARCH 8192u
#define MB_FLAG_PAGE_ALIGN 0x00000001u
#define MB_FLAG_MEMORY     0x00000002u
#define MB_FLAG_VIDEO      0x00000004u
#define MB_FLAG_AOUT       0x00010000u
/* bits 0-15 are requirements a loader must meet or refuse the kernel */
#define MB_FLAGS_KNOWN_REQ (MB_FLAG_PAGE_ALIGN | MB_FLAG_MEMORY)

/* 1: a header at *off (magic and checksum agree); 0: none; -1: the magic
 * is there but the checksum is not (err says where). */
static int find_header(const uint8_t *img, size_t len, uint32_t *off, char *err,
		       size_t errlen)
{
	size_t end = len < MB_SEARCH ? len : MB_SEARCH;
	int bad = 0;

	for (size_t o = 0; o + 12 <= end; o += 4) {
		uint32_t magic = get_le32(img + o), flags, sum;

		if (magic != MULTIBOOT_HEADER_MAGIC)
			continue;
		flags = get_le32(img + o + 4);
		sum = get_le32(img + o + 8);
		if ((uint32_t)(magic + flags + sum) == 0) {
			*off = (uint32_t)o;
			return 1;
		}
		if (!bad)
			snprintf(err, errlen, "multiboot header at offset %zu has a bad "
				 "checksum (0x%08x)", o, sum);
		bad = 1;
	}
	return bad ? -1 : 0;
}

int multiboot_parse(const uint8_t *img, size_t len, struct multiboot_info_k *mb,
		    char *err, size_t errlen)
{
	uint32_t off, flags;
	int r;

	memset(mb, 0, sizeof(*mb));
	r = find_header(img, len, &off, err, errlen);
	if (r <= 0)
		return r;
	flags = get_le32(img + off + 4);
	if (flags & 0xffffu & ~MB_FLAGS_KNOWN_REQ) {
		snprintf(err, errlen, "multiboot header asks for what vmm does not "
			 "provide (flags 0x%08x: %s)", flags,
			 flags & MB_FLAG_VIDEO ? "a video mode" : "unknown required bits");
		return -1;
	}
	mb->header_off = off;
	mb->flags = flags;
	if (!(flags & MB_FLAG_AOUT)) {
		struct pvh_info pi;
		char why[160];

		if (elf_parse(img, len, &pi, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "multiboot kernel without address fields "
				 "(flag 16) must be ELF: %s", why);
			return -1;
		}
		if (pi.e_entry > UINT32_MAX) {
			snprintf(err, errlen, "multiboot ELF entry 0x%llx is above 4 GiB",
				 (unsigned long long)pi.e_entry);
			return -1;
		}
		mb->nseg = pi.nseg;
		memcpy(mb->seg, pi.seg, sizeof(pi.seg));
		mb->entry = (uint32_t)pi.e_entry;
		return 1;
	}
	/* the a.out kludge: the header's addresses say it all */
	if (len - off < 32) {
		snprintf(err, errlen, "multiboot header at offset %u is truncated "
			 "(address fields)", off);
		return -1;
	}
	uint32_t header_addr = get_le32(img + off + 12), load_addr = get_le32(img + off + 16);
	uint32_t load_end = get_le32(img + off + 20), bss_end = get_le32(img + off + 24);
	uint32_t entry = get_le32(img + off + 28);
	uint64_t foff, fsize, msize;

	if (load_addr > header_addr || header_addr - load_addr > off) {
		snprintf(err, errlen, "multiboot load_addr 0x%x / header_addr 0x%x put the "
			 "image before the start of the file", load_addr, header_addr);
		return -1;
	}
	foff = off - (header_addr - load_addr);
	if (load_end && load_end <= load_addr) {
		snprintf(err, errlen, "multiboot load_end_addr 0x%x is not above load_addr "
			 "0x%x", load_end, load_addr);
		return -1;
	}
	fsize = load_end ? (uint64_t)load_end - load_addr : len - foff;
	if (fsize > len - foff) {
		snprintf(err, errlen, "multiboot load_end_addr 0x%x reaches past the end of "
			 "the file (%zu bytes)", load_end, len);
		return -1;
	}
	msize = fsize;
	if (bss_end) {
		if (bss_end < load_addr + fsize) {
			snprintf(err, errlen, "multiboot bss_end_addr 0x%x is below the "
				 "loaded image's end 0x%llx", bss_end,
				 (unsigned long long)(load_addr + fsize));
			return -1;
		}
		msize = (uint64_t)bss_end - load_addr;
	}
	if ((uint64_t)load_addr + msize > 0x100000000ULL) {
		snprintf(err, errlen, "multiboot image reaches above 4 GiB");
		return -1;
	}
	if (entry < load_addr || entry >= load_addr + fsize) {
		snprintf(err, errlen, "multiboot entry_addr 0x%x is outside the loaded "
			 "image [0x%x, 0x%llx)", entry, load_addr,
			 (unsigned long long)(load_addr + fsize));
		return -1;
	}
	mb->nseg = 1;
	mb->seg[0] = (struct elf_segment){ .offset = foff, .filesz = fsize, .memsz = msize,
					   .paddr = load_addr };
	mb->entry = entry;
	return 1;
}
