/*
 * pvh.c - parse an ELF kernel with a PVH entry point: the Xen ELF note
 * XEN_ELFNOTE_PHYS32_ENTRY (name "Xen", type 18) gives the 32-bit physical
 * entry address; PT_LOAD segments say what goes where (by p_paddr).
 * 32- and 64-bit ELF files are accepted. The file is hostile: every offset,
 * count and size is checked against the buffer without overflow.
 */
#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

bool elf_is_elf(const uint8_t *img, size_t len)
{
	return len >= SELFMAG && memcmp(img, ELFMAG, SELFMAG) == 0;
}

/* [off, off+size) inside [0, len)? */
static bool in_file(uint64_t off, uint64_t size, size_t len)
{
	return off <= len && size <= len - off;
}

static int scan_notes(const uint8_t *p, uint64_t size, struct pvh_info *pi,
		      bool *found)
{
	uint64_t off = 0;

	while (size - off >= 12) {
		uint32_t namesz, descsz, type;
		uint64_t name_pad, desc_pad;

		memcpy(&namesz, p + off, 4);
		memcpy(&descsz, p + off + 4, 4);
		memcpy(&type, p + off + 8, 4);
		off += 12;
		name_pad = ((uint64_t)namesz + 3) & ~3ULL;
		desc_pad = ((uint64_t)descsz + 3) & ~3ULL;
		if (name_pad > size - off)
			return -1;
		if (desc_pad > size - off - name_pad)
			return -1;
		if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 &&
		    memcmp(p + off, "Xen", 4) == 0) {
			const uint8_t *d = p + off + name_pad;

			if (descsz == 4) {
				uint32_t e;

				memcpy(&e, d, 4);
				pi->entry = e;
			} else if (descsz == 8) {
				uint64_t e;

				memcpy(&e, d, 8);
				if (e > UINT32_MAX)
					return -1;
				pi->entry = (uint32_t)e;
			} else {
				return -1;
			}
			*found = true;
		}
		off += name_pad + desc_pad;
	}
	return 0;
}

int elf_parse(const uint8_t *img, size_t len, struct pvh_info *pi,
	      char *err, size_t errlen)
{
	bool is64, found = false;
	uint64_t phoff;
	unsigned phnum, phentsize;

	memset(pi, 0, sizeof(*pi));
	if (!elf_is_elf(img, len) || len < sizeof(Elf32_Ehdr)) {
		snprintf(err, errlen, "not an ELF file");
		return -1;
	}
	if (img[EI_DATA] != ELFDATA2LSB) {
		snprintf(err, errlen, "ELF is not little-endian");
		return -1;
	}
	if (img[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;

		if (len < sizeof(eh)) {
			snprintf(err, errlen, "ELF header truncated");
			return -1;
		}
		memcpy(&eh, img, sizeof(eh));
		if (eh.e_machine != EM_X86_64 && eh.e_machine != EM_386) {
			snprintf(err, errlen, "ELF machine %u is not x86", eh.e_machine);
			return -1;
		}
		is64 = true;
		pi->e_entry = eh.e_entry;
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		if (phentsize != sizeof(Elf64_Phdr) && phnum) {
			snprintf(err, errlen, "bad ELF program header size %u", phentsize);
			return -1;
		}
	} else if (img[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;

		memcpy(&eh, img, sizeof(eh));
		if (eh.e_machine != EM_386 && eh.e_machine != EM_X86_64) {
			snprintf(err, errlen, "ELF machine %u is not x86", eh.e_machine);
			return -1;
		}
		is64 = false;
		pi->e_entry = eh.e_entry;
		phoff = eh.e_phoff;
		phnum = eh.e_phnum;
		phentsize = eh.e_phentsize;
		if (phentsize != sizeof(Elf32_Phdr) && phnum) {
			snprintf(err, errlen, "bad ELF program header size %u", phentsize);
			return -1;
		}
	} else {
		snprintf(err, errlen, "unknown ELF class %u", img[EI_CLASS]);
		return -1;
	}
	if (!in_file(phoff, (uint64_t)phnum * phentsize, len)) {
		snprintf(err, errlen, "ELF program headers outside the file");
		return -1;
	}
	for (unsigned i = 0; i < phnum; i++) {
		uint64_t type, off, filesz, memsz, paddr;
		const uint8_t *ph = img + phoff + (uint64_t)i * phentsize;

		if (is64) {
			Elf64_Phdr p;

			memcpy(&p, ph, sizeof(p));
			type = p.p_type; off = p.p_offset; filesz = p.p_filesz;
			memsz = p.p_memsz; paddr = p.p_paddr;
		} else {
			Elf32_Phdr p;

			memcpy(&p, ph, sizeof(p));
			type = p.p_type; off = p.p_offset; filesz = p.p_filesz;
			memsz = p.p_memsz; paddr = p.p_paddr;
		}
		if (type != PT_LOAD && type != PT_NOTE)
			continue;
		if (!in_file(off, filesz, len)) {
			snprintf(err, errlen, "ELF segment %u outside the file", i);
			return -1;
		}
		if (type == PT_NOTE) {
			if (scan_notes(img + off, filesz, pi, &found) < 0) {
				snprintf(err, errlen, "malformed ELF note in segment %u", i);
				return -1;
			}
			continue;
		}
		if (memsz == 0)
			continue;
		if (filesz > memsz || paddr + memsz < paddr) {
			snprintf(err, errlen, "bad ELF segment %u sizes", i);
			return -1;
		}
		if (pi->nseg >= ELF_MAX_SEGMENTS) {
			snprintf(err, errlen, "too many ELF segments");
			return -1;
		}
		pi->seg[pi->nseg++] = (struct elf_segment){
			.offset = off, .filesz = filesz, .memsz = memsz,
			.paddr = paddr };
	}
	pi->has_note = found;
	if (pi->nseg == 0) {
		snprintf(err, errlen, "ELF has no loadable segment");
		return -1;
	}
	return 0;
}

int pvh_parse(const uint8_t *img, size_t len, struct pvh_info *pi,
	      char *err, size_t errlen)
{
	if (elf_parse(img, len, pi, err, errlen) < 0)
		return -1;
	if (!pi->has_note) {
		snprintf(err, errlen, "ELF has no PVH entry note "
			 "(XEN_ELFNOTE_PHYS32_ENTRY)");
		return -1;
	}
	return 0;
}
