/*
 * test_e820.c - the guest e820 map built from the region table: RAM split
 * around the legacy area, high RAM, pmem and other non-RAM ranges left out,
 * merging, and the entry limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

#define H ((void *)0x100000000000ULL)

static void expect(const struct e820_entry *e, uint64_t addr, uint64_t size,
		   uint32_t type)
{
	assert_int_equal(e->addr, addr);
	assert_int_equal(e->size, size);
	assert_int_equal(e->type, type);
}

static void test_small(void **state)
{
	struct vm_memmap m = { 0 };
	struct e820_entry e[E820_MAX];

	assert_int_equal(memmap_add(&m, 0, 256 * MiB, H, 0, 0), 0);
	assert_int_equal(e820_build(&m, e, E820_MAX), 3);
	expect(&e[0], 0, LAYOUT_EBDA, E820_RAM);
	expect(&e[1], LAYOUT_EBDA, MiB - LAYOUT_EBDA, E820_RESERVED);
	expect(&e[2], MiB, 255 * MiB, E820_RAM);
}

static void test_high_and_pmem(void **state)
{
	struct vm_memmap m = { 0 };
	struct e820_entry e[E820_MAX];

	assert_int_equal(memmap_add(&m, 0, LAYOUT_LOW_RAM_MAX, H, 0, 0), 0);
	assert_int_equal(memmap_add(&m, LAYOUT_HIGH_RAM, 2 * GiB, H, 0, 1), 0);
	assert_int_equal(memmap_add(&m, 6 * GiB, GiB, H,
				    VM_MEM_PMEM | VM_MEM_NO_E820, 2), 0);
	assert_int_equal(memmap_add(&m, 8 * GiB, GiB, H, VM_MEM_PMEM, 3), 0);
	assert_int_equal(memmap_add(&m, LAYOUT_NVDIMM_DSM, 4096, H,
				    VM_MEM_NO_E820, 4), 0);
	assert_int_equal(memmap_add(&m, 0xd9000000, 4096, H, VM_MEM_READONLY, 5), 0);
	assert_int_equal(e820_build(&m, e, E820_MAX), 4);
	expect(&e[0], 0, LAYOUT_EBDA, E820_RAM);
	expect(&e[1], LAYOUT_EBDA, MiB - LAYOUT_EBDA, E820_RESERVED);
	expect(&e[2], MiB, LAYOUT_LOW_RAM_MAX - MiB, E820_RAM);
	expect(&e[3], LAYOUT_HIGH_RAM, 2 * GiB, E820_RAM);
}

static void test_merge_and_split_regions(void **state)
{
	struct vm_memmap m = { 0 };
	struct e820_entry e[E820_MAX];

	/* Low RAM in pieces: below the EBDA, across 1 MiB, contiguous after. */
	assert_int_equal(memmap_add(&m, 0, 0x80000, H, 0, 0), 0);
	assert_int_equal(memmap_add(&m, 0x80000, 0x100000, H, 0, 1), 0);
	assert_int_equal(memmap_add(&m, 0x180000, 0x80000, H, 0, 2), 0);
	assert_int_equal(e820_build(&m, e, E820_MAX), 3);
	expect(&e[0], 0, LAYOUT_EBDA, E820_RAM);
	expect(&e[1], LAYOUT_EBDA, MiB - LAYOUT_EBDA, E820_RESERVED);
	expect(&e[2], MiB, 0x100000, E820_RAM);
}

static void test_ram_starting_above_1m(void **state)
{
	struct vm_memmap m = { 0 };
	struct e820_entry e[E820_MAX];

	assert_int_equal(memmap_add(&m, 2 * MiB, 2 * MiB, H, 0, 0), 0);
	assert_int_equal(e820_build(&m, e, E820_MAX), 2);
	expect(&e[0], LAYOUT_EBDA, MiB - LAYOUT_EBDA, E820_RESERVED);
	expect(&e[1], 2 * MiB, 2 * MiB, E820_RAM);
}

static void test_limit(void **state)
{
	struct vm_memmap m = { 0 };
	struct e820_entry e[4];

	assert_int_equal(memmap_add(&m, 0, 256 * MiB, H, 0, 0), 0);
	assert_int_equal(e820_build(&m, e, 2), -1);
	assert_int_equal(e820_build(&m, e, 3), 3);
	for (int i = 1; i < 6; i++)
		assert_int_equal(memmap_add(&m, GiB * (uint64_t)i * 2, GiB, H, 0, i), 0);
	assert_int_equal(e820_build(&m, e, 4), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small),
		cmocka_unit_test(test_high_and_pmem),
		cmocka_unit_test(test_merge_and_split_regions),
		cmocka_unit_test(test_ram_starting_above_1m),
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
