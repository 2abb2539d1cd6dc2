/*
 * test_size.c - vmm_parse_size(): suffixes, and refusal of malformed and
 * overflowing values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "internal.h"

static uint64_t ok(const char *s)
{
	uint64_t v = 0xdead;

	assert_int_equal(vmm_parse_size(s, &v), 0);
	return v;
}

static void bad(const char *s)
{
	uint64_t v = 0xdead;

	assert_int_equal(vmm_parse_size(s, &v), -1);
	assert_int_equal(v, 0xdead); /* untouched on error */
}

static void test_good(void **state)
{
	assert_int_equal(ok("0"), 0);
	assert_int_equal(ok("4096"), 4096);
	assert_int_equal(ok("1K"), 1024);
	assert_int_equal(ok("1k"), 1024);
	assert_int_equal(ok("64M"), 64 * MiB);
	assert_int_equal(ok("64MiB"), 64 * MiB);
	assert_int_equal(ok("64mb"), 64 * MiB);
	assert_int_equal(ok("2G"), 2 * GiB);
	assert_int_equal(ok("3g"), 3 * GiB);
	assert_int_equal(ok("1T"), 1024 * GiB);
	assert_int_equal(ok("18446744073709551615"), UINT64_MAX);
	assert_int_equal(ok("17179869183G"), 17179869183ULL * GiB);
	/* Decimal fractions, as QEMU accepts them (the one option grammar,
	 * issue 9); 1.5G used to be refused. */
	assert_int_equal(ok("1.5G"), GiB + GiB / 2);
}

static void test_bad(void **state)
{
	bad("");
	bad("M");
	bad("-1");
	bad("+1");
	bad(" 1M");
	bad("1M ");
	bad("12X");
	bad("1.5");     /* not a whole number of bytes */
	bad("0x10");
	bad("1MM");
	bad("1B");
	bad("1iB");
	bad("18446744073709551616");   /* 2^64 */
	bad("17179869184G");           /* 2^64 bytes */
	bad("99999999999999999999999K");
	assert_int_equal(vmm_parse_size(NULL, &(uint64_t){0}), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
