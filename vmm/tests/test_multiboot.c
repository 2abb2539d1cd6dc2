/*
 * test_multiboot.c - Multiboot (v1) header parsing (vmm/multiboot.c)
 * against crafted images: the a.out kludge's address fields checked
 * against the file and 4 GiB, bad checksums, requirements vmm cannot meet,
 * a header beyond the first 8 KiB, a non-ELF image without address fields,
 * and random bytes around a valid header (no crash, no out-of-bounds read:
 * run under ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <string.h>

#include "internal.h"

static uint8_t img[16384];

static void put32(size_t off, uint32_t v)
{
	memcpy(img + off, &v, 4);
}

/* header at off: flags, then (flag 16) header/load/load_end/bss_end/entry */
static void header(size_t off, uint32_t flags, uint32_t haddr, uint32_t load,
		   uint32_t load_end, uint32_t bss_end, uint32_t entry)
{
	put32(off, MULTIBOOT_HEADER_MAGIC);
	put32(off + 4, flags);
	put32(off + 8, -(MULTIBOOT_HEADER_MAGIC + flags));
	put32(off + 12, haddr);
	put32(off + 16, load);
	put32(off + 20, load_end);
	put32(off + 24, bss_end);
	put32(off + 28, entry);
}

static int parse(size_t len, struct multiboot_info_k *mb)
{
	char err[200];

	return multiboot_parse(img, len, mb, err, sizeof(err));
}

static void test_aout(void **st)
{
	struct multiboot_info_k mb;

	(void)st;
	memset(img, 0, sizeof(img));
	/* the header at file offset 64, the image loaded from file offset 0
	 * at 1 MiB: header_addr = 1 MiB + 64 */
	header(64, 0x00010002, 0x100040, 0x100000, 0x101000, 0x180000, 0x100100);
	assert_int_equal(parse(8192, &mb), 1);
	assert_int_equal(mb.nseg, 1);
	assert_int_equal(mb.seg[0].offset, 0);
	assert_int_equal(mb.seg[0].paddr, 0x100000);
	assert_int_equal(mb.seg[0].filesz, 0x1000);
	assert_int_equal(mb.seg[0].memsz, 0x80000);
	assert_int_equal(mb.entry, 0x100100);
	/* load_end 0: to the end of the file */
	header(64, 0x00010000, 0x100040, 0x100000, 0, 0, 0x100100);
	assert_int_equal(parse(8192, &mb), 1);
	assert_int_equal(mb.seg[0].filesz, 8192);
	assert_int_equal(mb.seg[0].memsz, 8192);
}

static void test_refused(void **st)
{
	struct multiboot_info_k mb;

	(void)st;
	memset(img, 0, sizeof(img));
	assert_int_equal(parse(8192, &mb), 0);	/* no header */
	header(64, 0x00010000, 0x100040, 0x100000, 0, 0, 0x100100);
	put32(72, 1);
	assert_int_equal(parse(8192, &mb), -1);	/* checksum */
	header(64, 0x00010004, 0x100040, 0x100000, 0, 0, 0x100100);
	assert_int_equal(parse(8192, &mb), -1);	/* video mode */
	header(64, 0x00018000, 0x100040, 0x100000, 0, 0, 0x100100);
	assert_int_equal(parse(8192, &mb), -1);	/* unknown required bit */
	header(64, 0x00010000, 0x100040, 0x100000, 0x110000, 0, 0x100100);
	assert_int_equal(parse(8192, &mb), -1);	/* load_end past the file */
	header(64, 0x00010000, 0x100080, 0x100000, 0, 0, 0x100100);
	assert_int_equal(parse(8192, &mb), -1);	/* image before the file */
	header(64, 0x00010000, 0x100040, 0x100040, 0x100000, 0, 0x100100);
	assert_int_equal(parse(8192, &mb), -1);	/* load_end below load */
	header(64, 0x00010000, 0x100040, 0x100000, 0x101000, 0x100800, 0x100100);
	assert_int_equal(parse(8192, &mb), -1);	/* bss_end inside the image */
	header(64, 0x00010000, 0x100040, 0x100000, 0x101000, 0, 0x200000);
	assert_int_equal(parse(8192, &mb), -1);	/* entry outside */
	header(64, 0x00010000, 0xfffff040, 0xfffff000, 0xfffff200, 0xffffffff, 0xfffff100);
	assert_int_equal(parse(8192, &mb), 1);	/* up to the last byte: fine */
	header(64, 0x00010000, 0xffffff40, 0xffffff00, 0, 0, 0xffffff10);
	assert_int_equal(parse(8192, &mb), -1);	/* 8 KiB from 4 GiB - 256 */
	header(64, 0x00010000, 0x100040, 0x100000, 0, 0, 0x100100);
	assert_int_equal(parse(80, &mb), -1);	/* address fields cut off */
	memset(img, 0, sizeof(img));
	header(64, 0x00000000, 0, 0, 0, 0, 0);
	assert_int_equal(parse(8192, &mb), -1);	/* no flag 16 and not ELF */
	memset(img, 0, sizeof(img));
	header(8192, 0x00010000, 0x100000, 0x100000, 0, 0, 0x100010);
	assert_int_equal(parse(16384, &mb), 0);	/* beyond the first 8 KiB */
}

static void test_random(void **st)
{
	struct multiboot_info_k mb;
	unsigned seed = 1;

	(void)st;
	for (int i = 0; i < 20000; i++) {
		size_t len = 12 + (size_t)(rand_r(&seed) % 200);
		uint8_t *b = malloc(len);

		for (size_t k = 0; k < len; k++)
			b[k] = (uint8_t)rand_r(&seed);
		memcpy(b, &(uint32_t){ MULTIBOOT_HEADER_MAGIC }, 4);
		if (rand_r(&seed) & 1) {
			uint32_t f = 0x00010000 | (rand_r(&seed) & 3), c = -(MULTIBOOT_HEADER_MAGIC + f);
			memcpy(b + 4, &f, 4);
			memcpy(b + 8, &c, 4);
		}
		char err[200];
		int r = multiboot_parse(b, len, &mb, err, sizeof(err));
		assert_true(r >= -1 && r <= 1);
		if (r == 1)
			for (int s = 0; s < mb.nseg; s++)
				assert_true(mb.seg[s].offset + mb.seg[s].filesz <= len);
		free(b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aout),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
