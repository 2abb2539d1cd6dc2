/*
 * test_fdt.c - the machine-description FDT (fdt.c) against its documented
 * schema (docs/machine.md): /memory nodes for RAM slots only, one
 * /cpus/cpu@N per vCPU with reg = APIC ID, /chosen/bootargs and the initrd
 * and RSDP properties, and module fdt() hooks run after the core nodes.
 * No KVM: a struct vm with a fake region table over a host buffer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A module whose hook adds a node, so the hook call is tested too. */
static int hook_calls;

static int test_module_fdt(struct vm *vm, void *fdt, char *err, size_t errlen)
{
	hook_calls++;
	return fdt_add_subnode(fdt, 0, "test-module") < 0 ? -1 : 0;
}

static const struct vmm_module test_module = {
	.name = "test-module",
	.fdt = test_module_fdt,
};
VMM_MODULE(test_module);

/* Only what fdt.c needs from vm.c. */
void *vm_gpa_w(struct vm *vm, uint64_t gpa, uint64_t len)
{
	return memmap_lookup(&vm->mem, gpa, len, true);
}

/* Property values are only 4-byte aligned: read 64-bit cells bytewise. */
static uint64_t cell64(const void *p, int i)
{
	fdt64_t v;

	memcpy(&v, (const uint8_t *)p + 8 * i, 8);
	return fdt64_to_cpu(v);
}

static struct vm vm;
static uint8_t *low;

static int setup(void **state)
{
	memset(&vm, 0, sizeof(vm));
	pthread_rwlock_init(&vm.mem_lock, NULL);
	low = calloc(1, 1 * MiB);
	vm.ram = low;
	vm.ram_size = 1 * MiB;
	assert_int_equal(memmap_add(&vm.mem, 0, 1 * MiB, low, 0, 0), 0);
	/* A pmem range outside vm.ram: must not become a memory node. */
	assert_int_equal(memmap_add(&vm.mem, 8 * GiB, GiB, (void *)0x7000000000ULL,
				    VM_MEM_PMEM | VM_MEM_NO_E820, 1), 0);
	vm.cfg.smp = 3;
	vm.cfg.cmdline = "key=value other";
	hook_calls = 0;
	return 0;
}

static int teardown(void **state)
{
	free(low);
	return 0;
}

static void test_schema(void **state)
{
	char err[200] = "";
	const void *fdt;
	const void *reg;
	const fdt32_t *r32;
	const char *s;
	int node, len, ncpu = 0;

	vm.initrd_gpa = 0x80000;
	vm.initrd_size = 0x1000;
	vm.rsdp = 0xe0000;
	assert_int_equal(fdt_build(&vm, err, sizeof(err)), 0);
	assert_int_equal(vm.fdt_gpa, LAYOUT_FDT);
	fdt = low + LAYOUT_FDT;
	assert_int_equal(fdt_check_header(fdt), 0);
	assert_int_equal(fdt_totalsize(fdt), vm.fdt_size);
	assert_int_equal(hook_calls, 1);
	assert_true(fdt_path_offset(fdt, "/test-module") >= 0);

	assert_int_equal(fdt_address_cells(fdt, 0), 2);
	assert_int_equal(fdt_size_cells(fdt, 0), 2);
	s = fdt_getprop(fdt, 0, "compatible", NULL);
	assert_string_equal(s, "pmvm");

	node = fdt_path_offset(fdt, "/memory@0");
	assert_true(node >= 0);
	assert_string_equal(fdt_getprop(fdt, node, "device_type", NULL), "memory");
	reg = fdt_getprop(fdt, node, "reg", &len);
	assert_int_equal(len, 16);
	assert_int_equal(cell64(reg, 0), 0);
	assert_int_equal(cell64(reg, 1), 1 * MiB);
	assert_true(fdt_path_offset(fdt, "/memory@200000000") < 0);

	node = fdt_path_offset(fdt, "/cpus");
	assert_true(node >= 0);
	for (int c = fdt_first_subnode(fdt, node); c >= 0;
	     c = fdt_next_subnode(fdt, c)) {
		char name[16];

		snprintf(name, sizeof(name), "cpu@%x", ncpu);
		assert_string_equal(fdt_get_name(fdt, c, NULL), name);
		assert_string_equal(fdt_getprop(fdt, c, "device_type", NULL), "cpu");
		r32 = fdt_getprop(fdt, c, "reg", &len);
		assert_int_equal(len, 4);
		assert_int_equal(fdt32_to_cpu(*r32), ncpu);
		ncpu++;
	}
	assert_int_equal(ncpu, 3);

	node = fdt_path_offset(fdt, "/chosen");
	assert_true(node >= 0);
	assert_string_equal(fdt_getprop(fdt, node, "bootargs", NULL),
			    "key=value other");
	reg = fdt_getprop(fdt, node, "linux,initrd-start", &len);
	assert_int_equal(len, 8);
	assert_int_equal(cell64(reg, 0), 0x80000);
	reg = fdt_getprop(fdt, node, "linux,initrd-end", &len);
	assert_int_equal(cell64(reg, 0), 0x81000);
	reg = fdt_getprop(fdt, node, "pmvm,acpi-rsdp", &len);
	assert_int_equal(cell64(reg, 0), 0xe0000);
}

static void test_no_initrd_no_cmdline(void **state)
{
	char err[200] = "";
	const void *fdt = low + LAYOUT_FDT;
	int node;

	vm.cfg.cmdline = NULL;
	vm.cfg.smp = 1;
	assert_int_equal(fdt_build(&vm, err, sizeof(err)), 0);
	node = fdt_path_offset(fdt, "/chosen");
	assert_string_equal(fdt_getprop(fdt, node, "bootargs", NULL), "");
	assert_null(fdt_getprop(fdt, node, "linux,initrd-start", NULL));
	assert_true(fdt_path_offset(fdt, "/cpus/cpu@0") >= 0);
	assert_true(fdt_path_offset(fdt, "/cpus/cpu@1") < 0);
}

static void test_no_ram_for_fdt(void **state)
{
	char err[200] = "";

	/* RAM too small to hold the FDT window: refused, not overrun. */
	memset(&vm.mem, 0, sizeof(vm.mem));
	assert_int_equal(memmap_add(&vm.mem, 0, 64 * KiB, low, 0, 0), 0);
	assert_int_equal(fdt_build(&vm, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "FDT"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_initrd_no_cmdline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_ram_for_fdt, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
