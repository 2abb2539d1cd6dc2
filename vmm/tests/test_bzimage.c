/*
 * test_bzimage.c - bzImage setup-header checks against crafted headers: a
 * good one, then each way a hostile or unsuitable file can be wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "boot_params.h"
#include "internal.h"

#define IMG_LEN (64 * 1024)
static uint8_t img[IMG_LEN];

static void put16(size_t off, uint16_t v) { memcpy(img + off, &v, 2); }
static void put32(size_t off, uint32_t v) { memcpy(img + off, &v, 4); }

static int craft(void **state)
{
	memset(img, 0, sizeof(img));
	img[BP_SETUP_SECTS] = 4;
	put16(BP_BOOT_FLAG, 0xaa55);
	img[BP_JUMP] = 0xeb;
	img[BP_JUMP + 1] = 0x66; /* header ends at 0x268 */
	put32(BP_HEADER, BP_HEADER_MAGIC);
	put16(BP_VERSION, 0x20f);
	img[BP_LOADFLAGS] = BP_LOADED_HIGH;
	put32(BP_INITRD_ADDR_MAX, 0x7fffffff);
	put32(BP_KERNEL_ALIGNMENT, 0x200000);
	img[BP_RELOCATABLE] = 1;
	put16(BP_XLOADFLAGS, BP_XLF_KERNEL_64 | BP_XLF_CAN_BE_LOADED_ABOVE_4G);
	put32(BP_CMDLINE_SIZE, 2047);
	put32(BP_INIT_SIZE, 0x1000000);
	return 0;
}

static int parse(size_t len, char *why, size_t whylen)
{
	struct bzimage_info bi;

	return bzimage_parse(img, len, &bi, why, whylen);
}

static void expect_fail(size_t len, const char *reason_part)
{
	char why[200] = "";

	assert_int_equal(parse(len, why, sizeof(why)), -1);
	assert_non_null(strstr(why, reason_part));
}

static void test_good(void **state)
{
	struct bzimage_info bi;
	char why[200];

	assert_int_equal(bzimage_parse(img, IMG_LEN, &bi, why, sizeof(why)), 0);
	assert_int_equal(bi.setup_size, 5 * 512);
	assert_int_equal(bi.version, 0x20f);
	assert_int_equal(bi.hdr_end, 0x268);
	assert_int_equal(bi.initrd_addr_max, 0x7fffffff);
	assert_int_equal(bi.cmdline_size, 2047);
	assert_int_equal(bi.init_size, 0x1000000);
	assert_true(bi.relocatable);
}

static void test_setup_sects_zero_means_four(void **state)
{
	struct bzimage_info bi;
	char why[200];

	img[BP_SETUP_SECTS] = 0;
	assert_int_equal(bzimage_parse(img, IMG_LEN, &bi, why, sizeof(why)), 0);
	assert_int_equal(bi.setup_size, 5 * 512);
}

static void test_init_size_at_least_payload(void **state)
{
	struct bzimage_info bi;
	char why[200];

	put32(BP_INIT_SIZE, 16);
	assert_int_equal(bzimage_parse(img, IMG_LEN, &bi, why, sizeof(why)), 0);
	assert_int_equal(bi.init_size, IMG_LEN - 5 * 512);
}

static void test_header_end_clamped(void **state)
{
	struct bzimage_info bi;
	char why[200];

	img[BP_JUMP + 1] = 0xff; /* claims a header past boot_params' room */
	assert_int_equal(bzimage_parse(img, IMG_LEN, &bi, why, sizeof(why)), 0);
	assert_int_equal(bi.hdr_end, BP_SETUP_HDR_MAX);
}

static void test_too_small(void **state)
{
	expect_fail(0, "too small");
	expect_fail(0x28f, "too small");
}

static void test_bad_magic(void **state)
{
	put16(BP_BOOT_FLAG, 0x55aa);
	expect_fail(IMG_LEN, "not a bzImage");
	craft(state);
	put32(BP_HEADER, 0x53726449);
	expect_fail(IMG_LEN, "not a bzImage");
}

static void test_old_protocol(void **state)
{
	put16(BP_VERSION, 0x205);
	expect_fail(IMG_LEN, "too old");
	put16(BP_VERSION, 0x20b);
	expect_fail(IMG_LEN, "no 64-bit entry");
}

static void test_not_loaded_high(void **state)
{
	img[BP_LOADFLAGS] = 0;
	expect_fail(IMG_LEN, "loaded high");
}

static void test_no_64bit_entry(void **state)
{
	put16(BP_XLOADFLAGS, BP_XLF_CAN_BE_LOADED_ABOVE_4G);
	expect_fail(IMG_LEN, "XLF_KERNEL_64");
}

static void test_setup_past_end(void **state)
{
	img[BP_SETUP_SECTS] = 255;
	expect_fail(IMG_LEN, "leaves no kernel");
	img[BP_SETUP_SECTS] = 4;
	expect_fail(5 * 512, "leaves no kernel");
}

static void test_short_header(void **state)
{
	img[BP_JUMP + 1] = 0x10;
	expect_fail(IMG_LEN, "header too short");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_good, craft),
		cmocka_unit_test_setup(test_setup_sects_zero_means_four, craft),
		cmocka_unit_test_setup(test_init_size_at_least_payload, craft),
		cmocka_unit_test_setup(test_header_end_clamped, craft),
		cmocka_unit_test_setup(test_too_small, craft),
		cmocka_unit_test_setup(test_bad_magic, craft),
		cmocka_unit_test_setup(test_old_protocol, craft),
		cmocka_unit_test_setup(test_not_loaded_high, craft),
		cmocka_unit_test_setup(test_no_64bit_entry, craft),
		cmocka_unit_test_setup(test_setup_past_end, craft),
		cmocka_unit_test_setup(test_short_header, craft),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
