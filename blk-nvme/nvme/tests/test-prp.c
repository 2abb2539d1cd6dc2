/*
 * test-prp.c - NVMe PRP building (aligned, unaligned, multi-page, lists,
 * shapes that need a bounce buffer) and doorbell offsets for DSTRD != 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "nvme-vfio.h"

#define LIST_IOVA 0x7fc0000000ULL

static uint64_t prp1, prp2, list[512];

static void test_doorbells(void **state)
{
	assert_int_equal(nvme_doorbell_offset(0, 0, false), 0x1000);
	assert_int_equal(nvme_doorbell_offset(0, 0, true), 0x1004);
	assert_int_equal(nvme_doorbell_offset(0, 1, false), 0x1008);
	assert_int_equal(nvme_doorbell_offset(0, 1, true), 0x100c);
	/* DSTRD 1: 8-byte stride. */
	assert_int_equal(nvme_doorbell_offset(1, 0, true), 0x1008);
	assert_int_equal(nvme_doorbell_offset(1, 1, false), 0x1010);
	assert_int_equal(nvme_doorbell_offset(1, 1, true), 0x1018);
	/* DSTRD 2: 16 bytes; queue 3's CQ is at 0x1000 + 7 * 16. */
	assert_int_equal(nvme_doorbell_offset(2, 3, true), 0x1070);
	assert_int_equal(nvme_doorbell_offset(4, 2, false), 0x1000 + 4 * 64);
}

static void test_one_page(void **state)
{
	struct nvme_seg s = { 0x10000, 4096 };

	assert_int_equal(nvme_build_prp(&s, 1, &prp1, &prp2, list, 512, LIST_IOVA), 0);
	assert_int_equal(prp1, 0x10000);
	assert_int_equal(prp2, 0);
	/* 512 bytes with an offset inside one page. */
	s = (struct nvme_seg){ 0x10200, 512 };
	assert_int_equal(nvme_build_prp(&s, 1, &prp1, &prp2, list, 512, LIST_IOVA), 0);
	assert_int_equal(prp1, 0x10200);
	assert_int_equal(prp2, 0);
}

static void test_two_pages(void **state)
{
	struct nvme_seg s = { 0x10000, 8192 };

	assert_int_equal(nvme_build_prp(&s, 1, &prp1, &prp2, list, 512, LIST_IOVA), 0);
	assert_int_equal(prp1, 0x10000);
	assert_int_equal(prp2, 0x11000);
	/* Offset start crossing one page boundary: still two entries. */
	s = (struct nvme_seg){ 0x10e00, 1024 };
	assert_int_equal(nvme_build_prp(&s, 1, &prp1, &prp2, list, 512, LIST_IOVA), 0);
	assert_int_equal(prp1, 0x10e00);
	assert_int_equal(prp2, 0x11000);
}

static void test_list(void **state)
{
	struct nvme_seg s = { 0x20000, 5 * 4096 };

	assert_int_equal(nvme_build_prp(&s, 1, &prp1, &prp2, list, 512, LIST_IOVA), 4);
	assert_int_equal(prp1, 0x20000);
	assert_int_equal(prp2, LIST_IOVA);
	for (int i = 0; i < 4; i++)
		assert_int_equal(list[i], 0x21000 + 4096 * i);
	/* Unaligned start: 8 KiB from offset 0x200 touches three pages. */
	s = (struct nvme_seg){ 0x20200, 8192 };
	assert_int_equal(nvme_build_prp(&s, 1, &prp1, &prp2, list, 512, LIST_IOVA), 2);
	assert_int_equal(prp1, 0x20200);
	assert_int_equal(list[0], 0x21000);
	assert_int_equal(list[1], 0x22000);
	/* 128 KiB = 32 pages: 31 list entries. */
	s = (struct nvme_seg){ 0x100000, 128 * 1024 };
	assert_int_equal(nvme_build_prp(&s, 1, &prp1, &prp2, list, 512, LIST_IOVA), 31);
	assert_int_equal(list[30], 0x100000 + 31 * 4096);
	/* Too many pages for the list given. */
	assert_int_equal(nvme_build_prp(&s, 1, &prp1, &prp2, list, 8, LIST_IOVA), -1);
}

static void test_multi_segment(void **state)
{
	/* First segment ends on a page boundary, the rest are whole pages
	 * (the last may be partial): PRP shape. */
	struct nvme_seg s[3] = { { 0x30800, 0x800 }, { 0x50000, 4096 }, { 0x70000, 512 } };

	assert_int_equal(nvme_build_prp(s, 3, &prp1, &prp2, list, 512, LIST_IOVA), 2);
	assert_int_equal(prp1, 0x30800);
	assert_int_equal(prp2, LIST_IOVA);
	assert_int_equal(list[0], 0x50000);
	assert_int_equal(list[1], 0x70000);
	/* Two segments: PRP2 is the second page directly. */
	assert_int_equal(nvme_build_prp(s, 2, &prp1, &prp2, list, 512, LIST_IOVA), 0);
	assert_int_equal(prp2, 0x50000);
}

static void test_needs_bounce(void **state)
{
	/* Not dword aligned. */
	struct nvme_seg a = { 0x10001, 512 };
	assert_int_equal(nvme_build_prp(&a, 1, &prp1, &prp2, list, 512, LIST_IOVA), -1);
	/* Inner boundary not on a page: first segment ends mid-page. */
	struct nvme_seg b[2] = { { 0x10000, 512 }, { 0x20000, 512 } };
	assert_int_equal(nvme_build_prp(b, 2, &prp1, &prp2, list, 512, LIST_IOVA), -1);
	/* Second segment starts mid-page. */
	struct nvme_seg c[2] = { { 0x10000, 4096 }, { 0x20200, 512 } };
	assert_int_equal(nvme_build_prp(c, 2, &prp1, &prp2, list, 512, LIST_IOVA), -1);
	/* Empty. */
	assert_int_equal(nvme_build_prp(c, 0, &prp1, &prp2, list, 512, LIST_IOVA), -1);
	struct nvme_seg z = { 0x10000, 0 };
	assert_int_equal(nvme_build_prp(&z, 1, &prp1, &prp2, list, 512, LIST_IOVA), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doorbells),
		cmocka_unit_test(test_one_page),
		cmocka_unit_test(test_two_pages),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_multi_segment),
		cmocka_unit_test(test_needs_bounce),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
