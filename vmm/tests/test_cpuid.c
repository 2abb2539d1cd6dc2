/*
 * test_cpuid.c - the per-vCPU CPUID: topology leaves (1, 4, 0xB, 0x1F,
 * 0x80000008), the hypervisor bit, KVM's paravirt leaves passed through,
 * the host's own topology leaves replaced, and field limits at 255 vCPUs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static struct kvm_cpuid2 *src;

static void add(uint32_t fn, uint32_t idx, uint32_t a, uint32_t b, uint32_t c,
		uint32_t d)
{
	src->entries[src->nent++] = (struct kvm_cpuid_entry2){
		.function = fn, .index = idx, .eax = a, .ebx = b, .ecx = c, .edx = d };
}

static int setup(void **state)
{
	src = calloc(1, sizeof(*src) + 32 * sizeof(src->entries[0]));
	add(0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69);
	add(1, 0, 0x000806f8, 0x07080800, 0x7ffafbff, 0x0fabfbff);
	add(4, 0, 0x1c004121, 0, 0, 0);  /* L1d */
	add(4, 1, 0x1c004122, 0, 0, 0);  /* L1i */
	add(4, 2, 0x1c004143, 0, 0, 0);  /* L2 */
	add(4, 3, 0x1c03c163, 0, 0, 0);  /* L3 */
	add(4, 4, 0, 0, 0, 0);           /* end */
	add(0xb, 0, 1, 2, 0x100, 7);     /* the host's: must not survive */
	add(0xb, 1, 4, 16, 0x201, 7);
	add(0x1f, 0, 1, 2, 0x100, 7);
	add(0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	add(0x40000001, 0, 0x01007afb, 0, 0, 0);
	add(0x80000008, 0, 0x3030, 0, 0x7007, 0);
	return 0;
}

static int teardown(void **state)
{
	free(src);
	return 0;
}

static const struct kvm_cpuid_entry2 *find(const struct kvm_cpuid2 *c,
					    uint32_t fn, uint32_t idx, int *count)
{
	const struct kvm_cpuid_entry2 *hit = NULL;

	*count = 0;
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx) {
			hit = &c->entries[i];
			(*count)++;
		}
	return hit;
}

static const struct kvm_cpuid_entry2 *one(const struct kvm_cpuid2 *c,
					   uint32_t fn, uint32_t idx)
{
	int n;
	const struct kvm_cpuid_entry2 *e = find(c, fn, idx, &n);

	assert_int_equal(n, 1);
	return e;
}

static void test_four_cpus(void **state)
{
	struct kvm_cpuid2 *c = cpuid_for_vcpu(src, 3, 4);
	const struct kvm_cpuid_entry2 *e;

	assert_non_null(c);
	e = one(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 3);             /* APIC ID */
	assert_int_equal((e->ebx >> 16) & 0xff, 4);    /* logical IDs */
	assert_int_equal(e->ebx & 0xffff, 0x0800);     /* rest kept */
	assert_true(e->ecx & (1u << 31));              /* hypervisor */
	assert_true(e->edx & (1u << 28));              /* HTT */
	assert_int_equal(e->eax, 0x000806f8);

	e = one(c, 4, 0);
	assert_int_equal(e->eax >> 26, 3);             /* cores - 1 */
	assert_int_equal((e->eax >> 14) & 0xfff, 0);   /* L1 not shared */
	e = one(c, 4, 3);
	assert_int_equal((e->eax >> 14) & 0xfff, 3);   /* L3 shared by 4 */
	assert_int_equal(e->eax & 0x3fff, 0x0163 & 0x3fff);
	e = one(c, 4, 4);
	assert_int_equal(e->eax, 0);                   /* terminator intact */

	for (uint32_t leaf = 0xb; leaf; leaf = leaf == 0xb ? 0x1f : 0) {
		e = one(c, leaf, 0);
		assert_int_equal(e->eax, 0);
		assert_int_equal(e->ebx, 1);
		assert_int_equal(e->ecx, 0x100);
		assert_int_equal(e->edx, 3);
		assert_true(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
		e = one(c, leaf, 1);
		assert_int_equal(e->eax, 2);
		assert_int_equal(e->ebx, 4);
		assert_int_equal(e->ecx, 0x201);
		assert_int_equal(e->edx, 3);
		e = one(c, leaf, 2);
		assert_int_equal(e->ebx, 0);
		assert_int_equal(e->ecx & 0xff00, 0);          /* invalid level */
	}

	e = one(c, 0x40000000, 0);                     /* "KVMKVMKVM" kept */
	assert_int_equal(e->ebx, 0x4b4d564b);
	assert_int_equal(one(c, 0x40000001, 0)->eax, 0x01007afb);

	e = one(c, 0x80000008, 0);
	assert_int_equal(e->ecx & 0xff, 3);
	assert_int_equal((e->ecx >> 12) & 0xf, 2);
	free(c);
}

static void test_one_cpu(void **state)
{
	struct kvm_cpuid2 *c = cpuid_for_vcpu(src, 0, 1);
	const struct kvm_cpuid_entry2 *e;

	assert_non_null(c);
	e = one(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 0);
	assert_int_equal((e->ebx >> 16) & 0xff, 1);
	assert_int_equal(one(c, 4, 0)->eax >> 26, 0);
	e = one(c, 0xb, 1);
	assert_int_equal(e->eax, 0);
	assert_int_equal(e->ebx, 1);
	free(c);
}

static void test_255_cpus(void **state)
{
	struct kvm_cpuid2 *c = cpuid_for_vcpu(src, 200, 255);
	const struct kvm_cpuid_entry2 *e;

	assert_non_null(c);
	e = one(c, 1, 0);
	assert_int_equal(e->ebx >> 24, 200);           /* not clobbered */
	assert_int_equal((e->ebx >> 16) & 0xff, 255);
	assert_int_equal(one(c, 4, 0)->eax >> 26, 63);
	e = one(c, 0xb, 1);
	assert_int_equal(e->eax, 8);
	assert_int_equal(e->ebx, 255);
	assert_int_equal(e->edx, 200);
	assert_int_equal(one(c, 0x80000008, 0)->ecx & 0xff, 254);
	free(c);
}

static void test_no_leaf_b_on_old_cpus(void **state)
{
	struct kvm_cpuid2 *c;
	int n;

	src->entries[0].eax = 0xa; /* max basic leaf below 0xB */
	c = cpuid_for_vcpu(src, 1, 2);
	assert_non_null(c);
	find(c, 0xb, 0, &n);
	assert_int_equal(n, 0);
	find(c, 0x1f, 0, &n);
	assert_int_equal(n, 0);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_four_cpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_255_cpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_leaf_b_on_old_cpus, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
