/*
 * test_opts.c - the option grammar (vmm/util/opts.c): sizes (units, KiB
 * forms, fractions, exact bytes, refusals), booleans, bounded integers and
 * key=value lists (duplicates, unknown keys, ranges named in the error).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "opts.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)

static uint64_t size_ok(const char *s)
{
	uint64_t v = 0xdead;
	char err[256] = "";

	if (opt_parse_size(s, &v, err, sizeof(err)) != 0)
		fail_msg("'%s' refused: %s", s, err);
	return v;
}

/* Refused, *out untouched, and the message (one line) contains want. */
static void size_bad(const char *s, const char *want)
{
	uint64_t v = 0xdead;
	char err[256] = "";

	if (opt_parse_size(s, &v, err, sizeof(err)) != -1)
		fail_msg("'%s' accepted as %llu", s, (unsigned long long)v);
	assert_int_equal(v, 0xdead);
	assert_null(strchr(err, '\n'));
	if (!strstr(err, want))
		fail_msg("'%s': message '%s' lacks '%s'", s, err, want);
	/* err may be NULL */
	assert_int_equal(opt_parse_size(s, &v, NULL, 0), -1);
}

static void test_size_units(void **state)
{
	assert_int_equal(size_ok("0"), 0);
	assert_int_equal(size_ok("4096"), 4096);
	assert_int_equal(size_ok("1K"), KiB);
	assert_int_equal(size_ok("1k"), KiB);
	assert_int_equal(size_ok("64M"), 64 * MiB);
	assert_int_equal(size_ok("2G"), 2 * GiB);
	assert_int_equal(size_ok("3t"), 3 * TiB);
	assert_int_equal(size_ok("64KiB"), 64 * KiB);
	assert_int_equal(size_ok("64MiB"), 64 * MiB);
	assert_int_equal(size_ok("1GiB"), GiB);
	assert_int_equal(size_ok("1gib"), GiB);
	assert_int_equal(size_ok("1TiB"), TiB);
	assert_int_equal(size_ok("64MB"), 64 * MiB);
	assert_int_equal(size_ok("2PiB"), 2 * 1024 * TiB);
	assert_int_equal(size_ok("1E"), 1024 * 1024 * TiB);
	assert_int_equal(size_ok("18446744073709551615"), UINT64_MAX);
	assert_int_equal(size_ok("17179869183G"), 17179869183ULL * GiB);
}

static void test_size_fractions(void **state)
{
	assert_int_equal(size_ok("1.5G"), GiB + GiB / 2);
	assert_int_equal(size_ok("0.5K"), 512);
	assert_int_equal(size_ok("1.25M"), MiB + MiB / 4);
	assert_int_equal(size_ok("1.0"), 1);
	assert_int_equal(size_ok("2.000K"), 2 * KiB);
	assert_int_equal(size_ok("0.25T"), TiB / 4);
	assert_int_equal(size_ok("1.5KiB"), 1536);
}

static void test_size_bad(void **state)
{
	size_bad("", "empty");
	size_bad(NULL, "empty");
	size_bad("-1", "negative");
	size_bad("-1G", "negative");
	size_bad("+1", "not a size");
	size_bad(" 1M", "not a size");
	size_bad("\t1M", "not a size");
	size_bad("1M ", "not a size");
	size_bad("M", "not a size");
	size_bad("12X", "not a size");
	size_bad("0x10", "not a size");
	size_bad("1e3", "not a size");
	size_bad("1MM", "not a size");
	size_bad("1B", "not a size");
	size_bad("1iB", "not a size");
	size_bad("1Z", "not a size");
	size_bad("16E", "too large");
	size_bad("1.", "not a size");
	size_bad(".5G", "not a size");
	size_bad("1.5.G", "not a size");
	size_bad("1.5", "whole number of bytes");
	size_bad("0.3K", "whole number of bytes");
	size_bad("0.001T", "whole number of bytes");
	size_bad("18446744073709551616", "too large");
	size_bad("17179869184G", "too large");
	size_bad("99999999999999999999999K", "too large");
	size_bad("16777215.99999T", "whole number");
	size_bad("16777216T", "too large");
}

static void test_bool(void **state)
{
	static const char *yes[] = { "on", "yes", "true", "1" };
	static const char *no[] = { "off", "no", "false", "0" };
	static const char *bad[] = { "", "On", "y", "2", "enable", " on", NULL };
	bool b;

	for (int i = 0; i < 4; i++) {
		b = false;
		assert_int_equal(opt_parse_bool(yes[i], &b), 0);
		assert_true(b);
		assert_int_equal(opt_parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (int i = 0; bad[i]; i++) {
		b = true;
		assert_int_equal(opt_parse_bool(bad[i], &b), -1);
		assert_true(b);
	}
	assert_int_equal(opt_parse_bool(NULL, &b), -1);
}

static void test_uint(void **state)
{
	uint64_t v = 7;
	char err[128];

	assert_int_equal(opt_parse_uint("16", 1, 16, &v, err, sizeof(err)), 0);
	assert_int_equal(v, 16);
	assert_int_equal(opt_parse_uint("0", 1, 16, &v, err, sizeof(err)), -1);
	assert_string_equal(err, "'0' is not an integer from 1 to 16");
	assert_int_equal(opt_parse_uint("17", 1, 16, &v, err, sizeof(err)), -1);
	assert_int_equal(opt_parse_uint("-1", 0, 16, &v, err, sizeof(err)), -1);
	assert_int_equal(opt_parse_uint(" 1", 0, 16, &v, err, sizeof(err)), -1);
	assert_int_equal(opt_parse_uint("0x1", 0, 16, &v, err, sizeof(err)), -1);
	assert_int_equal(opt_parse_uint("", 0, 16, &v, err, sizeof(err)), -1);
	assert_int_equal(opt_parse_uint("18446744073709551616", 0, UINT64_MAX,
					&v, err, sizeof(err)), -1);
	assert_int_equal(opt_parse_uint("18446744073709551615", 0, UINT64_MAX,
					&v, err, sizeof(err)), 0);
	assert_true(v == UINT64_MAX);
}

/* ---- lists ---------------------------------------------------------------- */

static bool ro;
static uint32_t queues;
static uint64_t size;
static char serial[9];

static const char *even(uint64_t v)
{
	return v & 1 ? "must be even" : NULL;
}

static const struct opt_key keys[] = {
	{ "readonly", OPT_BOOL, &ro, 0, 0, NULL },
	{ "queues", OPT_UINT, &queues, 1, 16, even },
	{ "size", OPT_SIZE, &size, 4 * KiB, GiB, NULL },
	{ "serial", OPT_STRING, serial, 0, sizeof(serial) - 1, NULL },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static int list(const char *s, char *err, size_t n)
{
	ro = false;
	queues = 0;
	size = 0;
	memset(serial, 0, sizeof(serial));
	err[0] = '\0';
	return opt_parse_list(s, keys, NKEYS, err, n);
}

static void list_bad(const char *s, const char *want)
{
	char err[256];

	if (list(s, err, sizeof(err)) != -1)
		fail_msg("'%s' accepted", s);
	assert_null(strchr(err, '\n'));
	if (!strstr(err, want))
		fail_msg("'%s': message '%s' lacks '%s'", s, err, want);
}

static void test_list_good(void **state)
{
	char err[256];

	assert_int_equal(list(NULL, err, sizeof(err)), 0);
	assert_int_equal(list("", err, sizeof(err)), 0);
	assert_int_equal(list("readonly=yes,queues=4,size=1.5M,serial=abc",
			      err, sizeof(err)), 0);
	assert_true(ro);
	assert_int_equal(queues, 4);
	assert_int_equal(size, MiB + MiB / 2);
	assert_string_equal(serial, "abc");
	assert_int_equal(list("serial=12345678,,readonly=true", err,
			      sizeof(err)), 0);
	assert_string_equal(serial, "12345678");
	assert_true(ro);
	assert_int_equal(list("serial=", err, sizeof(err)), 0);
	assert_string_equal(serial, "");
}

static void test_list_bad(void **state)
{
	char err[256];

	list_bad("readonly=on,readonly=off", "'readonly' given twice");
	list_bad("queues=2,queues=2", "given twice");
	list_bad("colour=red", "unknown option 'colour'");
	list_bad("colour=red", "readonly, queues, size, serial");
	list_bad("readonly", "expected readonly=VALUE");
	list_bad("readonly=maybe", "readonly=maybe: expected on/off, yes/no, "
		 "true/false or 1/0");
	list_bad("queues=0", "queues=0: must be an integer from 1 to 16");
	list_bad("queues=17", "queues=17: must be an integer from 1 to 16");
	list_bad("queues=x", "from 1 to 16");
	list_bad("queues=3", "queues=3: must be even");
	list_bad("size=1K", "size=1K: must be from 4K to 1G");
	list_bad("size=2G", "size=2G: must be from 4K to 1G");
	list_bad("size=-4K", "size=-4K: '-4K': a size cannot be negative");
	list_bad("size=1.5", "whole number of bytes");
	list_bad("serial=123456789", "longer than 8 bytes");
	list_bad("=1", "unknown option ''");
	/* An error in a later item is still an error. */
	assert_int_equal(list("readonly=on,queues=99", err, sizeof(err)), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_units),
		cmocka_unit_test(test_size_fractions),
		cmocka_unit_test(test_size_bad),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_list_good),
		cmocka_unit_test(test_list_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
