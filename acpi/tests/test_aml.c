/*
 * test_aml.c - exact byte encodings produced by the AML builder (aml.c).
 *
 * Expected bytes come from the ACPI 6.5 AML grammar (chapter 20) and
 * resource descriptor formats (6.4), checked by hand; the iasl round trip
 * in test_iasl.c checks the same builder against ACPICA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "aml.h"

#define EXPECT(a, ...)                                                    \
	do {                                                              \
		static const uint8_t exp_[] = { __VA_ARGS__ };            \
		assert_true(aml_ok(a));                                   \
		assert_int_equal((a)->len, sizeof(exp_));                 \
		assert_memory_equal((a)->buf, exp_, sizeof(exp_));        \
	} while (0)

static void test_int(void **state)
{
	static const struct { uint64_t v; uint8_t enc[9]; size_t n; } cases[] = {
		{ 0, { 0x00 }, 1 },
		{ 1, { 0x01 }, 1 },
		{ 2, { 0x0a, 0x02 }, 2 },
		{ 0xff, { 0x0a, 0xff }, 2 },
		{ 0x100, { 0x0b, 0x00, 0x01 }, 3 },
		{ 0xffff, { 0x0b, 0xff, 0xff }, 3 },
		{ 0x10000, { 0x0c, 0x00, 0x00, 0x01, 0x00 }, 5 },
		{ 0xffffffff, { 0x0c, 0xff, 0xff, 0xff, 0xff }, 5 },
		{ 0x100000000ULL, { 0x0e, 0, 0, 0, 0, 1, 0, 0, 0 }, 9 },
		{ 0x0123456789abcdefULL,
		  { 0x0e, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01 }, 9 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml a;
		aml_init(&a);
		aml_int(&a, cases[i].v);
		assert_true(aml_ok(&a));
		assert_int_equal(a.len, cases[i].n);
		assert_memory_equal(a.buf, cases[i].enc, cases[i].n);
		aml_free(&a);
	}
}

static void test_string(void **state)
{
	struct aml a;

	aml_init(&a);
	aml_string(&a, "AB");
	EXPECT(&a, 0x0d, 'A', 'B', 0x00);
	aml_free(&a);

	aml_init(&a);
	aml_string(&a, "\xc3\xa9");
	assert_false(aml_ok(&a));
	aml_free(&a);
}

static void test_names(void **state)
{
	struct aml a;

	aml_init(&a);
	aml_name(&a, "_SB");
	EXPECT(&a, '_', 'S', 'B', '_');
	aml_free(&a);

	aml_init(&a);
	aml_name(&a, "\\_SB.COM1");
	EXPECT(&a, '\\', 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1');
	aml_free(&a);

	aml_init(&a);
	aml_name(&a, "\\_SB.PCI0.ISA");
	EXPECT(&a, '\\', 0x2f, 3, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',
	       'I', 'S', 'A', '_');
	aml_free(&a);

	aml_init(&a);
	aml_name(&a, "^^FOO");
	EXPECT(&a, '^', '^', 'F', 'O', 'O', '_');
	aml_free(&a);

	aml_init(&a);
	aml_name(&a, "^A.B");
	EXPECT(&a, '^', 0x2e, 'A', '_', '_', '_', 'B', '_', '_', '_');
	aml_free(&a);

	aml_init(&a);
	aml_name(&a, "\\");
	EXPECT(&a, '\\', 0x00);
	aml_free(&a);

	aml_init(&a);
	aml_name(&a, "\\_S5");
	EXPECT(&a, '\\', '_', 'S', '5', '_');
	aml_free(&a);

	static const char *const bad[] = {
		"abcd", "TOOLONG", "1ABC", "A..B", "A.", ".A", "\\^A", "A-B",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_name(&a, bad[i]);
		if (aml_ok(&a))
			fail_msg("name \"%s\" accepted", bad[i]);
		aml_free(&a);
	}
}

static void test_args_locals(void **state)
{
	struct aml a;

	aml_init(&a);
	aml_arg(&a, 0);
	aml_arg(&a, 6);
	aml_local(&a, 0);
	aml_local(&a, 7);
	EXPECT(&a, 0x68, 0x6e, 0x60, 0x67);
	aml_free(&a);

	aml_init(&a);
	aml_arg(&a, 7);
	assert_false(aml_ok(&a));
	aml_free(&a);

	aml_init(&a);
	aml_local(&a, 8);
	assert_false(aml_ok(&a));
	aml_free(&a);
}

static void test_eisaid(void **state)
{
	struct aml a;

	/* EISAID ("PNP0501") is the DWord 0x0105D041. */
	aml_init(&a);
	aml_eisaid(&a, "PNP0501");
	EXPECT(&a, 0x0c, 0x41, 0xd0, 0x05, 0x01);
	aml_free(&a);

	aml_init(&a);
	aml_eisaid(&a, "PNP0C0C");
	EXPECT(&a, 0x0c, 0x41, 0xd0, 0x0c, 0x0c);
	aml_free(&a);

	static const char *const bad[] = { "pnp0501", "PNP050", "PNP05011", "PNP05G1" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_eisaid(&a, bad[i]);
		if (aml_ok(&a))
			fail_msg("EISAID \"%s\" accepted", bad[i]);
		aml_free(&a);
	}
}

static void test_uuid(void **state)
{
	struct aml a;

	/* The NFIT persistent-memory range GUID: text order vs byte order. */
	aml_init(&a);
	aml_uuid(&a, "66F0D379-B4F3-4074-AC43-0D3318B78CDB");
	EXPECT(&a, 0x11, 0x13, 0x0a, 0x10,
	       0x79, 0xd3, 0xf0, 0x66, 0xf3, 0xb4, 0x74, 0x40,
	       0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7, 0x8c, 0xdb);
	aml_free(&a);

	aml_init(&a);
	aml_uuid(&a, "2f10e7a4-9e91-11e4-89d3-123b93f75cba");
	EXPECT(&a, 0x11, 0x13, 0x0a, 0x10,
	       0xa4, 0xe7, 0x10, 0x2f, 0x91, 0x9e, 0xe4, 0x11,
	       0x89, 0xd3, 0x12, 0x3b, 0x93, 0xf7, 0x5c, 0xba);
	aml_free(&a);

	static const char *const bad[] = {
		"66F0D379-B4F3-4074-AC43-0D3318B78CD",
		"66F0D379-B4F3-4074-AC43-0D3318B78CDB00",
		"66F0D379-B4F3-4074-AC43-0D3318B78CDX",
		"66F0D37-9B4F3-4074-AC43-0D3318B78CDB",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_uuid(&a, bad[i]);
		if (aml_ok(&a))
			fail_msg("UUID \"%s\" accepted", bad[i]);
		aml_free(&a);
	}
}

/* Buffer { n bytes } and check the PkgLength encoding in front. */
static void check_pkglen(size_t n, const uint8_t *enc, size_t enclen)
{
	struct aml a;
	uint8_t *body = calloc(1, n ? n : 1);

	assert_non_null(body);
	memset(body, 0xa5, n);
	aml_init(&a);
	aml_buffer(&a);
	aml_bytes(&a, body, n);
	aml_close(&a);
	assert_true(aml_ok(&a));
	assert_int_equal(a.len, 1 + enclen + n);
	assert_int_equal(a.buf[0], 0x11);
	assert_memory_equal(a.buf + 1, enc, enclen);
	assert_memory_equal(a.buf + 1 + enclen, body, n);
	aml_free(&a);
	free(body);
}

static void test_pkglength(void **state)
{
	/* One byte: up to 63 including itself. */
	check_pkglen(0, (const uint8_t[]){ 0x01 }, 1);
	check_pkglen(0x3e, (const uint8_t[]){ 0x3f }, 1);
	/* Two bytes: low nibble in byte 0, then 8 more bits. */
	check_pkglen(0x3f, (const uint8_t[]){ 0x41, 0x04 }, 2);
	check_pkglen(0xffd, (const uint8_t[]){ 0x4f, 0xff }, 2);
	/* Three bytes. */
	check_pkglen(0xffe, (const uint8_t[]){ 0x81, 0x00, 0x01 }, 3);
	check_pkglen(0x1000, (const uint8_t[]){ 0x83, 0x00, 0x01 }, 3);
	check_pkglen(0xffffc, (const uint8_t[]){ 0x8f, 0xff, 0xff }, 3);
	/* Four bytes. */
	check_pkglen(0xffffd, (const uint8_t[]){ 0xc1, 0x00, 0x00, 0x01 }, 4);
}

static void test_scope_device_method(void **state)
{
	struct aml a;

	aml_init(&a);
	aml_scope(&a, "\\_SB");
	aml_device(&a, "COM1");
	aml_name_decl(&a, "_UID");
	aml_int(&a, 1);
	aml_close(&a);
	aml_close(&a);
	EXPECT(&a, 0x10, 0x13, '\\', '_', 'S', 'B', '_',
	       0x5b, 0x82, 0x0b, 'C', 'O', 'M', '1',
	       0x08, '_', 'U', 'I', 'D', 0x01);
	aml_free(&a);

	/* Method (TST1, 1, Serialized) { Return (Arg0) } */
	aml_init(&a);
	aml_method(&a, "TST1", 1, true);
	aml_op(&a, AML_RETURN);
	aml_arg(&a, 0);
	aml_close(&a);
	EXPECT(&a, 0x14, 0x08, 'T', 'S', 'T', '1', 0x09, 0xa4, 0x68);
	aml_free(&a);

	/* If (LEqual (Arg0, One)) { Return (Zero) } Else { Return (One) } */
	aml_init(&a);
	aml_if(&a);
	aml_op(&a, AML_LEQUAL);
	aml_arg(&a, 0);
	aml_int(&a, 1);
	aml_op(&a, AML_RETURN);
	aml_int(&a, 0);
	aml_close(&a);
	aml_else(&a);
	aml_op(&a, AML_RETURN);
	aml_int(&a, 1);
	aml_close(&a);
	EXPECT(&a, 0xa0, 0x06, 0x93, 0x68, 0x01, 0xa4, 0x00,
	       0xa1, 0x03, 0xa4, 0x01);
	aml_free(&a);

	/* While (One) { Break } */
	aml_init(&a);
	aml_while(&a);
	aml_int(&a, 1);
	aml_op(&a, AML_BREAK);
	aml_close(&a);
	EXPECT(&a, 0xa2, 0x03, 0x01, 0xa5);
	aml_free(&a);
}

static void test_package_name(void **state)
{
	struct aml a;

	/* Name (\_S5, Package (4) { 5, 0, 0, 0 }) */
	aml_init(&a);
	aml_name_decl(&a, "\\_S5");
	aml_package(&a, 4);
	aml_int(&a, 5);
	aml_int(&a, 0);
	aml_int(&a, 0);
	aml_int(&a, 0);
	aml_close(&a);
	EXPECT(&a, 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x07, 0x04,
	       0x0a, 0x05, 0x00, 0x00, 0x00);
	aml_free(&a);
}

static void test_opregion_field_mutex(void **state)
{
	struct aml a;

	aml_init(&a);
	aml_opregion(&a, "REG0", AML_SPACE_IO, 0x600, 2);
	aml_field(&a, "REG0", AML_FIELD_BYTE);
	aml_field_entry(&a, "CTL", 8);
	aml_field_entry(&a, NULL, 8);
	aml_field_entry(&a, "WIDE", 64);
	aml_close(&a);
	aml_mutex(&a, "MUTX", 0);
	EXPECT(&a, 0x5b, 0x80, 'R', 'E', 'G', '0', 0x01, 0x0b, 0x00, 0x06,
	       0x0a, 0x02,
	       0x5b, 0x81, 0x13, 'R', 'E', 'G', '0', 0x01,
	       'C', 'T', 'L', '_', 0x08, 0x00, 0x08, 'W', 'I', 'D', 'E',
	       0x40, 0x04,
	       0x5b, 0x01, 'M', 'U', 'T', 'X', 0x00);
	aml_free(&a);

	aml_init(&a);
	aml_field(&a, "REG0", AML_FIELD_BYTE);
	aml_field_entry(&a, "lower", 8);
	aml_close(&a);
	assert_false(aml_ok(&a));
	aml_free(&a);
}

static void test_resources(void **state)
{
	struct aml r, a;

	/* ResourceTemplate () { IO (Decode16, 0x3F8, 0x3F8, 1, 8) IRQNoFlags () {4} } */
	aml_init(&r);
	aml_init(&a);
	aml_res_io(&r, 0x3f8, 8);
	aml_res_irq(&r, 4);
	aml_restemplate(&a, &r);
	EXPECT(&a, 0x11, 0x10, 0x0a, 0x0d,
	       0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08,
	       0x22, 0x10, 0x00,
	       0x79, 0x00);
	aml_free(&r);
	aml_free(&a);

	/* Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { 5 },
	 * Interrupt (ResourceConsumer, Edge, ActiveLow, Exclusive) { 0x123 } */
	aml_init(&r);
	aml_res_interrupt(&r, 5, true, false);
	aml_res_interrupt(&r, 0x123, false, true);
	EXPECT(&r, 0x89, 0x06, 0x00, 0x01, 0x01, 0x05, 0x00, 0x00, 0x00,
	       0x89, 0x06, 0x00, 0x07, 0x01, 0x23, 0x01, 0x00, 0x00);
	aml_free(&r);

	/* Memory32Fixed (ReadWrite, 0xD8000000, 0x1000) */
	aml_init(&r);
	aml_res_mem32(&r, 0xd8000000, 0x1000, true);
	EXPECT(&r, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd8,
	       0x00, 0x10, 0x00, 0x00);
	aml_free(&r);

	/* QWordMemory (..., Cacheable, ReadWrite, 0, base, base+len-1, 0, len) */
	aml_init(&r);
	aml_res_qword_mem(&r, 0x140000000ULL, 0x40000000ULL, true);
	assert_true(aml_ok(&r));
	assert_int_equal(r.len, 46);
	static const uint8_t head[] = { 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x03 };
	assert_memory_equal(r.buf, head, sizeof(head));
	static const uint8_t min[] = { 0, 0, 0, 0x40, 1, 0, 0, 0 };
	static const uint8_t max[] = { 0xff, 0xff, 0xff, 0x7f, 1, 0, 0, 0 };
	static const uint8_t len[] = { 0, 0, 0, 0x40, 0, 0, 0, 0 };
	assert_memory_equal(r.buf + 14, min, 8);
	assert_memory_equal(r.buf + 22, max, 8);
	assert_memory_equal(r.buf + 38, len, 8);
	aml_free(&r);

	aml_init(&r);
	aml_res_irq(&r, 16);
	assert_false(aml_ok(&r));
	aml_init(&a);
	aml_restemplate(&a, &r);
	assert_false(aml_ok(&a));
	aml_free(&r);
	aml_free(&a);
}

static void test_sticky_errors(void **state)
{
	struct aml a, b;

	aml_init(&a);
	aml_close(&a);                 /* nothing open */
	assert_false(aml_ok(&a));
	aml_free(&a);

	aml_init(&a);
	aml_scope(&a, "\\_SB");        /* never closed */
	assert_false(aml_ok(&a));
	aml_free(&a);

	aml_init(&a);
	for (int i = 0; i < AML_MAX_DEPTH + 1; i++)
		aml_if(&a);
	for (int i = 0; i < AML_MAX_DEPTH + 1; i++)
		aml_close(&a);
	assert_false(aml_ok(&a));
	aml_free(&a);

	/* Appending an unfinished builder poisons the target. */
	aml_init(&a);
	aml_init(&b);
	aml_device(&b, "DEV0");
	aml_append(&a, &b);
	assert_false(aml_ok(&a));
	aml_free(&a);
	aml_free(&b);

	/* Appending a builder to itself. */
	aml_init(&a);
	aml_int(&a, 5);
	aml_append(&a, &a);
	assert_false(aml_ok(&a));
	aml_free(&a);

	/* Appending a finished builder copies its bytes. */
	aml_init(&a);
	aml_init(&b);
	aml_int(&a, 1);
	aml_name(&b, "_SB");
	aml_append(&a, &b);
	EXPECT(&a, 0x01, '_', 'S', 'B', '_');
	aml_free(&a);
	aml_free(&b);

	aml_init(&a);
	aml_method(&a, "M", 8, false);
	aml_close(&a);
	assert_false(aml_ok(&a));
	aml_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_int),
		cmocka_unit_test(test_string),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_args_locals),
		cmocka_unit_test(test_eisaid),
		cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_pkglength),
		cmocka_unit_test(test_scope_device_method),
		cmocka_unit_test(test_package_name),
		cmocka_unit_test(test_opregion_field_mutex),
		cmocka_unit_test(test_resources),
		cmocka_unit_test(test_sticky_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
