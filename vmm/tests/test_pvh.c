/*
 * test_pvh.c - PVH ELF parsing against crafted ELF files (64- and 32-bit):
 * the entry note in its 4- and 8-byte forms, and hostile files whose
 * offsets, counts and sizes point outside the buffer or overflow.
 */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "internal.h"

static uint8_t img[8192];
static size_t img_len;

/* Note: "Xen" type 18 with a 4- or 8-byte descriptor. */
static size_t put_note(uint8_t *p, uint32_t type, const char *name,
		       uint32_t descsz, uint64_t entry)
{
	uint32_t namesz = (uint32_t)strlen(name) + 1;
	size_t off = 0;

	memcpy(p, &namesz, 4);
	memcpy(p + 4, &descsz, 4);
	memcpy(p + 8, &type, 4);
	off = 12;
	memcpy(p + off, name, namesz);
	off += (namesz + 3) & ~3u;
	memcpy(p + off, &entry, descsz <= 8 ? descsz : 8);
	off += (descsz + 3) & ~3u;
	return off;
}

/* ELF64: header, 2 phdrs (LOAD at 0x1000 -> paddr 1 MiB, NOTE at 0x800). */
static void craft64(uint32_t descsz, uint64_t entry)
{
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph[2] = { 0 };
	size_t nlen;

	memset(img, 0, sizeof(img));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = 2;
	nlen = put_note(img + 0x800, 18, "Xen", descsz, entry);
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1000,
			      .p_paddr = 0x100000, .p_vaddr = 0x100000,
			      .p_filesz = 0x1000, .p_memsz = 0x3000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = 0x800,
			      .p_filesz = nlen };
	memcpy(img, &eh, sizeof(eh));
	memcpy(img + sizeof(eh), ph, sizeof(ph));
	img_len = 0x2000;
}

static void craft32(void)
{
	Elf32_Ehdr eh = { 0 };
	Elf32_Phdr ph[2] = { 0 };
	size_t nlen;

	memset(img, 0, sizeof(img));
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS32;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_machine = EM_386;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf32_Phdr);
	eh.e_phnum = 2;
	nlen = put_note(img + 0x800, 18, "Xen", 4, 0x100040);
	ph[0] = (Elf32_Phdr){ .p_type = PT_NOTE, .p_offset = 0x800,
			      .p_filesz = (uint32_t)nlen };
	ph[1] = (Elf32_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1000,
			      .p_paddr = 0x100000, .p_filesz = 0x800,
			      .p_memsz = 0x800 };
	memcpy(img, &eh, sizeof(eh));
	memcpy(img + sizeof(eh), ph, sizeof(ph));
	img_len = 0x2000;
}

static Elf64_Phdr *ph64(int i)
{
	return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i;
}

static Elf64_Ehdr *eh64(void) { return (Elf64_Ehdr *)img; }

static void expect_fail(const char *reason_part)
{
	struct pvh_info pi;
	char why[200] = "";

	assert_int_equal(pvh_parse(img, img_len, &pi, why, sizeof(why)), -1);
	if (reason_part)
		assert_non_null(strstr(why, reason_part));
}

static void test_good64(void **state)
{
	struct pvh_info pi;
	char why[200];

	craft64(4, 0x100123);
	assert_int_equal(pvh_parse(img, img_len, &pi, why, sizeof(why)), 0);
	assert_int_equal(pi.entry, 0x100123);
	assert_int_equal(pi.nseg, 1);
	assert_int_equal(pi.seg[0].paddr, 0x100000);
	assert_int_equal(pi.seg[0].offset, 0x1000);
	assert_int_equal(pi.seg[0].filesz, 0x1000);
	assert_int_equal(pi.seg[0].memsz, 0x3000);
}

static void test_note_8_bytes(void **state)
{
	struct pvh_info pi;
	char why[200];

	/* Linux's own note is a .quad (_ASM_PTR). */
	craft64(8, 0x1000000);
	assert_int_equal(pvh_parse(img, img_len, &pi, why, sizeof(why)), 0);
	assert_int_equal(pi.entry, 0x1000000);
	craft64(8, 0x100000000ULL); /* entry above 4 GiB: not 32-bit */
	expect_fail("note");
	craft64(2, 0x1000);
	expect_fail("note");
}

static void test_good32(void **state)
{
	struct pvh_info pi;
	char why[200];

	craft32();
	assert_int_equal(pvh_parse(img, img_len, &pi, why, sizeof(why)), 0);
	assert_int_equal(pi.entry, 0x100040);
	assert_int_equal(pi.nseg, 1);
	assert_int_equal(pi.seg[0].memsz, 0x800);
}

static void test_no_note(void **state)
{
	craft64(4, 0x100000);
	ph64(1)->p_type = PT_NULL;
	expect_fail("no PVH entry note");
	craft64(4, 0x100000);
	memcpy(img + 0x800 + 12, "Xe\0", 4); /* other name */
	expect_fail("no PVH entry note");
	craft64(4, 0x100000);
	img[0x800 + 8] = 17; /* other type */
	expect_fail("no PVH entry note");
}

static void test_not_elf(void **state)
{
	craft64(4, 0x100000);
	img[1] = 'X';
	expect_fail("not an ELF");
	craft64(4, 0x100000);
	img_len = 20;
	expect_fail(NULL);
	craft64(4, 0x100000);
	img[EI_CLASS] = 7;
	expect_fail("class");
	craft64(4, 0x100000);
	img[EI_DATA] = ELFDATA2MSB;
	expect_fail("endian");
	craft64(4, 0x100000);
	eh64()->e_machine = EM_AARCH64;
	expect_fail("not x86");
}

static void test_phdrs_outside(void **state)
{
	craft64(4, 0x100000);
	eh64()->e_phoff = img_len - 8;
	expect_fail("outside");
	craft64(4, 0x100000);
	eh64()->e_phoff = UINT64_MAX - 8;
	expect_fail("outside");
	craft64(4, 0x100000);
	eh64()->e_phnum = 0xffff;
	expect_fail("outside");
	craft64(4, 0x100000);
	eh64()->e_phentsize = 12;
	expect_fail("program header size");
}

static void test_segment_outside(void **state)
{
	craft64(4, 0x100000);
	ph64(0)->p_offset = img_len;
	expect_fail("outside the file");
	craft64(4, 0x100000);
	ph64(0)->p_offset = 0x10;
	ph64(0)->p_filesz = UINT64_MAX - 8; /* offset + filesz wraps */
	expect_fail("outside the file");
	craft64(4, 0x100000);
	ph64(0)->p_memsz = 0x800; /* filesz 0x1000 beyond memsz */
	expect_fail("sizes");
	craft64(4, 0x100000);
	ph64(0)->p_paddr = UINT64_MAX - 0x1000; /* paddr + memsz wraps */
	expect_fail("sizes");
	craft64(4, 0x100000);
	ph64(1)->p_offset = UINT64_MAX; /* the note segment */
	expect_fail("outside the file");
}

static void test_malformed_notes(void **state)
{
	uint32_t big = 0xfffffffdu;

	craft64(4, 0x100000);
	memcpy(img + 0x800, &big, 4); /* namesz huge: rounding must not wrap */
	expect_fail("malformed ELF note");
	craft64(4, 0x100000);
	memcpy(img + 0x804, &big, 4); /* descsz huge */
	expect_fail("malformed ELF note");
	craft64(4, 0x100000);
	ph64(1)->p_filesz = 14; /* cut inside the name */
	expect_fail("malformed ELF note");
}

static void test_no_loadable(void **state)
{
	craft64(4, 0x100000);
	ph64(0)->p_type = PT_NULL;
	expect_fail("no loadable segment");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good64),
		cmocka_unit_test(test_note_8_bytes),
		cmocka_unit_test(test_good32),
		cmocka_unit_test(test_no_note),
		cmocka_unit_test(test_not_elf),
		cmocka_unit_test(test_phdrs_outside),
		cmocka_unit_test(test_segment_outside),
		cmocka_unit_test(test_malformed_notes),
		cmocka_unit_test(test_no_loadable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
