/*
 * test_build.c - the vm glue of acpi/ (build.c: acpi_build(); pm.c: the
 * acpi-pm module) against test doubles of the core: a fake guest memory
 * behind vm_gpa_w(), a vCPU count, vm_register_pio(), vm_alloc_irq(),
 * vm_set_irq() and vm_request_exit() that record what they were given, and
 * modules registered with VMM_MODULE() in this executable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "acpi.h"
#include "check.h"
#include "fake_module.h"
#include "tables.h"
#include "vmm.h"

/* ---- Core doubles --------------------------------------------------------- */

struct vm {
	uint8_t low[1 << 20];    /* guest RAM [0, 1 MiB) */
	bool readonly;
	int ncpus;
	uint16_t pio_base, pio_len;
	vm_io_fn pio_fn;
	void *pio_opaque;
	int exit_status, exits;
	int free_irq;             /* what vm_alloc_irq() hands out, -1: none */
	int irq_log[8][2];        /* vm_set_irq() calls: gsi, level */
	int nirq;
};

static struct vm *the_vm;

void *vm_gpa_w(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (vm->readonly || len == 0 || gpa >= sizeof(vm->low) ||
	    len > sizeof(vm->low) - gpa)
		return NULL;
	return vm->low + gpa;
}

int vm_vcpu_count(const struct vm *vm)
{
	return vm->ncpus;
}

int vm_register_pio(struct vm *vm, uint16_t base, uint16_t len, vm_io_fn fn,
		    void *opaque)
{
	vm->pio_base = base;
	vm->pio_len = len;
	vm->pio_fn = fn;
	vm->pio_opaque = opaque;
	return 0;
}

int vm_alloc_irq(struct vm *vm)
{
	int g = vm->free_irq;

	vm->free_irq = -1;
	return g;
}

int vm_set_irq(struct vm *vm, int gsi, int level)
{
	if (vm->nirq < 8) {
		vm->irq_log[vm->nirq][0] = gsi;
		vm->irq_log[vm->nirq][1] = level;
		vm->nirq++;
	}
	return 0;
}

void vmm_log(const char *fmt, ...)
{
}

void vm_request_exit(struct vm *vm, int status, const char *fmt, ...)
{
	vm->exit_status = status;
	vm->exits++;
}

/* ---- Fake modules ---------------------------------------------------------- */

static enum { MOD_OK, MOD_FAIL, MOD_BAD_AML, MOD_BAD_TABLE } mode;

static int good_acpi(struct vm *vm, struct acpi_ctx *ctx, char *err, size_t errlen)
{
	switch (mode) {
	case MOD_OK:
		return fake_module_acpi(ctx);
	case MOD_FAIL:
		snprintf(err, errlen, "backing file vanished");
		return -1;
	case MOD_BAD_AML:
		aml_device(acpi_dsdt(ctx), "OPEN");   /* never closed */
		return 0;
	case MOD_BAD_TABLE:
		acpi_add_table(ctx, "DSDT", 2, "", 0); /* ignores the -1 */
		return 0;
	}
	return -1;
}

static const struct vmm_module fake = {
	.name = "fake",
	.acpi = good_acpi,
};
VMM_MODULE(fake);

static const struct vmm_module no_acpi = {
	.name = "no-acpi",
};
VMM_MODULE(no_acpi);

static const struct vmm_module *find_module(const char *name)
{
	vmm_for_each_module(mp)
		if (!strcmp((*mp)->name, name))
			return *mp;
	return NULL;
}

static int setup(void **state)
{
	the_vm = calloc(1, sizeof(*the_vm));
	if (!the_vm)
		return -1;
	the_vm->ncpus = 2;
	the_vm->free_irq = 9;
	mode = MOD_OK;
	return 0;
}

static int teardown(void **state)
{
	find_module("acpi-pm")->teardown(the_vm);
	free(the_vm);
	return 0;
}

/* ---- acpi_build() --------------------------------------------------------- */

/* The table sig as the guest finds it: walked from the RSDP at rsdp in
 * guest memory. */
static const uint8_t *guest_table(struct vm *vm, uint64_t rsdp, const char *sig,
				  size_t *len)
{
	struct acpi_image g = {
		.buf = vm->low + LAYOUT_ACPI, .len = LAYOUT_ACPI_MAX,
		.base = LAYOUT_ACPI, .rsdp = rsdp,
	};

	return find_table(&g, sig, 0, len);
}

/* acpi_build() into the guest, then the DSDT it wrote. */
static const uint8_t *build_dsdt(struct vm *vm, size_t *len)
{
	char err[256] = "";
	uint64_t rsdp;

	if (acpi_build(vm, NULL, &rsdp, err, sizeof(err)) < 0)
		fail_msg("acpi_build: %s", err);
	return guest_table(vm, rsdp, "DSDT", len);
}

static void test_build_into_guest(void **state)
{
	struct vm *vm = the_vm;
	struct acpi_machine m;
	struct acpi_ctx ctx;
	struct acpi_image img;
	uint64_t rsdp = 0;
	char err[256] = "";

	memset(vm->low, 0xcc, sizeof(vm->low));
	if (acpi_build(vm, NULL, &rsdp, err, sizeof(err)) < 0)
		fail_msg("acpi_build: %s", err);
	assert_int_equal(rsdp, LAYOUT_ACPI);

	/* Exactly what the vm-free builders make for the same machine. */
	acpi_machine_default(&m, 2);
	acpi_ctx_init(&ctx);
	assert_int_equal(fake_module_acpi(&ctx), 0);
	assert_int_equal(acpi_tables_build(&m, &ctx, &img, err, sizeof(err)), 0);
	assert_memory_equal(vm->low + LAYOUT_ACPI, img.buf, img.len);
	/* Nothing written below the window. */
	assert_int_equal(vm->low[LAYOUT_ACPI - 1], 0xcc);
	acpi_image_free(&img);
	acpi_ctx_free(&ctx);

	/* The guest's view: walk from the RSDP in guest memory. */
	size_t len = 0;
	assert_non_null(guest_table(vm, rsdp, "NFIT", &len));
	assert_non_null(guest_table(vm, rsdp, "DSDT", &len));
	assert_int_equal(acpi_checksum(vm->low + LAYOUT_ACPI, 20), 0);
}

static void test_build_vcpus(void **state)
{
	struct vm *vm = the_vm;
	uint64_t rsdp;
	char err[256] = "";
	int counts[] = { 1, 64, 255 };

	for (int i = 0; i < 3; i++) {
		vm->ncpus = counts[i];
		if (acpi_build(vm, NULL, &rsdp, err, sizeof(err)) < 0)
			fail_msg("acpi_build %d: %s", counts[i], err);
		size_t len = 0;
		const uint8_t *madt = guest_table(vm, rsdp, "APIC", &len);
		assert_non_null(madt);
		int n = 0;
		for (size_t off = 44; off < len; off += madt[off + 1])
			n += madt[off] == 0;
		assert_int_equal(n, counts[i]);
	}
}

static void test_build_errors(void **state)
{
	struct vm *vm = the_vm;
	uint64_t rsdp = 1234;
	char err[256];

	mode = MOD_FAIL;
	err[0] = '\0';
	assert_int_equal(acpi_build(vm, NULL, &rsdp, err, sizeof(err)), -1);
	assert_string_equal(err, "fake: backing file vanished");
	assert_int_equal(rsdp, 1234);

	mode = MOD_BAD_AML;
	err[0] = '\0';
	assert_int_equal(acpi_build(vm, NULL, &rsdp, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "fake: bad ACPI contribution"));

	mode = MOD_BAD_TABLE;
	err[0] = '\0';
	assert_int_equal(acpi_build(vm, NULL, &rsdp, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "fake: bad ACPI contribution"));

	mode = MOD_OK;
	vm->readonly = true;
	err[0] = '\0';
	assert_int_equal(acpi_build(vm, NULL, &rsdp, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no writable guest RAM"));
	vm->readonly = false;

	vm->ncpus = 0;
	assert_int_equal(acpi_build(vm, NULL, &rsdp, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "vCPUs"));
	vm->ncpus = 2;

	err[0] = '\0';
	assert_int_equal(acpi_build(vm, "/nonexistent/dir", &rsdp, err,
				    sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/dir/RSDP.dat"));
}

static void test_build_dump(void **state)
{
	char dir[] = "/tmp/pmvm-acpi-build-XXXXXX", path[128], err[256] = "";
	static const char *const names[] = { "RSDP", "XSDT", "FACP", "APIC",
					     "DSDT", "NFIT", "SSDT", "SSDT1" };
	uint64_t rsdp;
	struct stat st;

	assert_non_null(mkdtemp(dir));
	if (acpi_build(the_vm, dir, &rsdp, err, sizeof(err)) < 0)
		fail_msg("acpi_build: %s", err);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s.dat", dir, names[i]);
		if (stat(path, &st) < 0)
			fail_msg("%s not written", path);
		unlink(path);
	}
	assert_int_equal(rmdir(dir), 0); /* nothing else was written */
}

/* ---- The acpi-pm module ------------------------------------------------- */

static void test_pm_module(void **state)
{
	struct vm *vm = the_vm;
	const struct vmm_module *pm = NULL;
	char err[128] = "";
	uint8_t v;
	uint32_t wide;

	pm = find_module("acpi-pm");
	assert_non_null(pm);
	assert_int_equal(pm->setup(vm, err, sizeof(err)), 0);
	assert_int_equal(vm->pio_base, PORT_ACPI_SLEEP_CTL);
	assert_int_equal(vm->pio_len, 3);
	assert_non_null(vm->pio_fn);

	/* Reads are 0; ignored writes do nothing. */
	for (unsigned reg = 0; reg < 3; reg++) {
		v = 0xaa;
		vm->pio_fn(vm->pio_opaque, reg, &v, 1, false);
		assert_int_equal(v, 0);
	}
	static const uint8_t ignored[][2] = {
		{ 0, 0x14 }, { 0, 0x24 }, { 0, 0x20 }, { 1, 0x80 }, { 1, 0x34 },
		{ 2, 0x00 }, { 2, 0x02 }, { 0, 0x01 },
	};
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		v = ignored[i][1];
		vm->pio_fn(vm->pio_opaque, ignored[i][0], &v, 1, true);
	}
	assert_int_equal(vm->exits, 0);

	/* Linux's S5 write: ((5 << 2) & 0x1c) | 0x20. */
	v = 0x34;
	vm->pio_fn(vm->pio_opaque, 0, &v, 1, true);
	assert_int_equal(vm->exits, 1);
	assert_int_equal(vm->exit_status, VMM_EXIT_POWEROFF);

	v = ACPI_RESET_VALUE;
	vm->pio_fn(vm->pio_opaque, 2, &v, 1, true);
	assert_int_equal(vm->exits, 2);
	assert_int_equal(vm->exit_status, VMM_EXIT_RESET);

	/* A 4-byte write counts by its low byte (x86 is little endian). */
	wide = 0xffffff34;
	vm->pio_fn(vm->pio_opaque, 0, &wide, 4, true);
	assert_int_equal(vm->exits, 3);
	assert_int_equal(vm->exit_status, VMM_EXIT_POWEROFF);
	wide = 0xaaaaaaaa;
	vm->pio_fn(vm->pio_opaque, 1, &wide, 4, false);
	assert_int_equal(wide, 0);
}

static const uint8_t *find_bytes(const uint8_t *hay, size_t n,
				 const uint8_t *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return hay + i;
	return NULL;
}

/* The power button: pm takes a GSI, the DSDT gets GED0, a press is an edge. */
static void test_power_button(void **state)
{
	struct vm *vm = the_vm;
	const struct vmm_module *pm = find_module("acpi-pm");
	static const uint8_t ged_irq[] = { 0x89, 0x06, 0x00, 0x03, 0x01,
					   0x09, 0x00, 0x00, 0x00 };
	static const uint8_t notify[] = { 0x86, '\\', 0x2e, '_', 'S', 'B', '_',
					  'P', 'W', 'R', 'B', 0x0a, 0x80 };
	char err[256] = "";
	size_t len = 0;

	/* Before setup there is no button. */
	assert_int_equal(acpi_power_button(vm), -1);

	assert_int_equal(pm->setup(vm, err, sizeof(err)), 0);
	const uint8_t *dsdt = build_dsdt(vm, &len);
	assert_non_null(dsdt);
	const uint8_t *ged = find_bytes(dsdt, len, (const uint8_t *)"GED0", 4);
	assert_non_null(ged);
	assert_non_null(find_bytes(dsdt, len, (const uint8_t *)"ACPI0013", 8));
	assert_non_null(find_bytes(dsdt, len, ged_irq, sizeof(ged_irq)));
	assert_non_null(find_bytes(dsdt, len, notify, sizeof(notify)));
	/* After PWRB, which it notifies. */
	assert_true(ged > find_bytes(dsdt, len, (const uint8_t *)"PWRB", 4));

	assert_int_equal(acpi_power_button(vm), 0);
	assert_int_equal(vm->nirq, 2);
	assert_int_equal(vm->irq_log[0][0], 9);
	assert_int_equal(vm->irq_log[0][1], 1);
	assert_int_equal(vm->irq_log[1][0], 9);
	assert_int_equal(vm->irq_log[1][1], 0);
	assert_int_equal(vm->exits, 0);
}

/* No free GSI: no GED in the DSDT, no button, but the ports still work. */
static void test_power_button_no_irq(void **state)
{
	struct vm *vm = the_vm;
	const struct vmm_module *pm = find_module("acpi-pm");
	char err[256] = "";
	size_t len = 0;

	vm->free_irq = -1;
	assert_int_equal(pm->setup(vm, err, sizeof(err)), 0);
	const uint8_t *dsdt = build_dsdt(vm, &len);
	assert_non_null(dsdt);
	assert_null(find_bytes(dsdt, len, (const uint8_t *)"GED0", 4));
	assert_int_equal(acpi_power_button(vm), -1);
	assert_int_equal(vm->nirq, 0);
	assert_int_equal(vm->pio_base, PORT_ACPI_SLEEP_CTL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_build_into_guest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_vcpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_dump, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pm_module, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_button, setup, teardown),
		cmocka_unit_test_setup_teardown(test_power_button_no_irq, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
