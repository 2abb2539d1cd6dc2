/*
 * test_ars.c - unit tests of ars.c: the bad-range list (merge, cut, the
 * limit), the sidecar text (round trip, every refusal), and the NFIT root
 * _DSM's ARS state machine and payloads (Query ARS Capabilities, Start ARS,
 * Query ARS Status with clipping and overflow, Clear Uncorrectable Error),
 * directly and through the DSM page, with hostile inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "nvdimm.h"

#define SZ (16ULL << 20)
#define BASE0 0x100000000ULL
#define BASE1 0x140000000ULL

/* ---- the list ------------------------------------------------------------ */

static void test_bad_add(void **state)
{
	static struct nvdimm_badlist l;

	(void)state;
	l.n = 0;
	assert_int_equal(nvdimm_bad_add(&l, 4096, 4096, SZ), 0);
	assert_int_equal(nvdimm_bad_add(&l, 0, 512, SZ), 0);
	assert_int_equal(l.n, 2);
	assert_true(l.r[0].off == 0 && l.r[0].len == 512);
	/* Touching ranges merge; overlapping ones too. */
	assert_int_equal(nvdimm_bad_add(&l, 8192, 100, SZ), 0);
	assert_int_equal(l.n, 2);
	assert_true(l.r[1].off == 4096 && l.r[1].len == 4196);
	assert_int_equal(nvdimm_bad_add(&l, 256, 5000, SZ), 0);
	assert_int_equal(l.n, 1);
	assert_true(l.r[0].off == 0 && l.r[0].len == 8292);
	/* Refusals leave the list as it was. */
	assert_int_equal(nvdimm_bad_add(&l, 0, 0, SZ), -1);
	assert_int_equal(nvdimm_bad_add(&l, SZ, 1, SZ), -1);
	assert_int_equal(nvdimm_bad_add(&l, SZ - 1, 2, SZ), -1);
	assert_int_equal(nvdimm_bad_add(&l, 1, UINT64_MAX, SZ), -1);
	assert_int_equal(nvdimm_bad_add(&l, UINT64_MAX, 1, SZ), -1);
	assert_int_equal(l.n, 1);
	assert_int_equal(nvdimm_bad_add(&l, SZ - 1, 1, SZ), 0);
	/* The limit. */
	l.n = 0;
	for (int i = 0; i < NVDIMM_BAD_MAX; i++)
		assert_int_equal(nvdimm_bad_add(&l, (uint64_t)i * 8192, 512, SZ), 0);
	assert_int_equal(l.n, NVDIMM_BAD_MAX);
	assert_int_equal(nvdimm_bad_add(&l, 1024 * 8192ULL, 512, SZ), -1);
	assert_int_equal(l.n, NVDIMM_BAD_MAX);
	/* ...but a merge needs no new slot. */
	assert_int_equal(nvdimm_bad_add(&l, 0, 8192 + 512, SZ), 0);
	assert_int_equal(l.n, NVDIMM_BAD_MAX - 1);
	for (int i = 1; i < l.n; i++)
		assert_true(l.r[i - 1].off + l.r[i - 1].len < l.r[i].off);
}

static void test_bad_clear(void **state)
{
	static struct nvdimm_badlist l;

	(void)state;
	l.n = 0;
	nvdimm_bad_add(&l, 4096, 8192, SZ);
	nvdimm_bad_add(&l, 65536, 4096, SZ);
	/* A cut in the middle splits. */
	assert_int_equal(nvdimm_bad_clear(&l, 6144, 1024), 1024);
	assert_int_equal(l.n, 3);
	assert_true(l.r[0].off == 4096 && l.r[0].len == 2048);
	assert_true(l.r[1].off == 7168 && l.r[1].len == 5120);
	assert_false(nvdimm_bad_hit(&l, 6144, 1024));
	assert_true(nvdimm_bad_hit(&l, 6143, 2));
	/* Across ranges; good bytes count nothing. */
	assert_int_equal(nvdimm_bad_clear(&l, 0, 70000), 2048 + 5120 + 4096);
	assert_int_equal(l.n, 0);
	assert_int_equal(nvdimm_bad_clear(&l, 0, 4096), 0);
	assert_int_equal(nvdimm_bad_clear(&l, 2, UINT64_MAX), -1);
	/* A split that needs a slot the full list does not have. */
	for (int i = 0; i < NVDIMM_BAD_MAX; i++)
		nvdimm_bad_add(&l, (uint64_t)i * 8192, 4096, SZ);
	assert_int_equal(nvdimm_bad_clear(&l, 1024, 512), -1);
	assert_int_equal(l.n, NVDIMM_BAD_MAX);
	assert_true(nvdimm_bad_hit(&l, 1024, 512));
	assert_int_equal(nvdimm_bad_clear(&l, 0, 4096), 4096);
	assert_int_equal(l.n, NVDIMM_BAD_MAX - 1);
	assert_false(nvdimm_bad_hit(&l, UINT64_MAX, 1));
}

static void test_sidecar(void **state)
{
	static struct nvdimm_badlist l, m;
	char buf[64 * 1024], err[200];
	size_t n;
	static const char *const bad[] = {
		"", "pmvm-badblocks 2\n", "pmvm-badblocks 1\n1 2", "pmvm-badblocks 1\n1  2\n",
		"pmvm-badblocks 1\n-1 2\n", "pmvm-badblocks 1\n0 0\n",
		"pmvm-badblocks 1\n16777216 1\n", "pmvm-badblocks 1\n1 18446744073709551616\n",
		"pmvm-badblocks 1\n0x10 2\n", "pmvm-badblocks 1\n1 2 3\n",
		"pmvm-badblocks 1\n\n",
	};

	(void)state;
	l.n = 0;
	n = nvdimm_bad_format(&l, buf, sizeof(buf));
	assert_string_equal(buf, "pmvm-badblocks 1\n");
	assert_int_equal(nvdimm_bad_parse(buf, n, SZ, &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 0);
	for (int i = 0; i < 100; i++)
		nvdimm_bad_add(&l, (uint64_t)i * 65536 + 512, 512 * (uint64_t)(i + 1), SZ);
	n = nvdimm_bad_format(&l, NULL, 0);
	assert_int_equal(nvdimm_bad_format(&l, buf, 10), n);
	assert_int_equal(nvdimm_bad_format(&l, buf, sizeof(buf)), n);
	assert_int_equal(strlen(buf), n);
	assert_non_null(strstr(buf, "\n512 512\n66048 1024\n"));
	assert_int_equal(nvdimm_bad_parse(buf, n, SZ, &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, l.n);
	assert_memory_equal(m.r, l.r, (size_t)l.n * sizeof(l.r[0]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		if (nvdimm_bad_parse(bad[i], strlen(bad[i]), SZ, &m, err, sizeof(err)) != -1)
			fail_msg("accepted: '%s'", bad[i]);
		assert_non_null(strstr(err, "line "));
	}
}

/* ---- ARS ------------------------------------------------------------------ */

struct ars_fix {
	struct nvdimm_badlist bad[2];
	struct nvdimm_ars_dimm d[2];
	struct nvdimm_ars a;
	uint8_t out[NVDIMM_DSM_OUT_MAX + 64];
	uint32_t outlen;
	int clears;
	uint64_t c_off, c_len, c_bytes;
	int c_idx, c_fail;
};

static int on_clear(void *opaque, int idx, uint64_t off, uint64_t len, uint64_t bytes)
{
	struct ars_fix *f = opaque;

	f->clears++;
	f->c_idx = idx;
	f->c_off = off;
	f->c_len = len;
	f->c_bytes = bytes;
	return f->c_fail;
}

static int ars_setup(void **state)
{
	struct ars_fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->d[0] = (struct nvdimm_ars_dimm){ 1, BASE0, SZ, &f->bad[0] };
	f->d[1] = (struct nvdimm_ars_dimm){ 2, BASE1, SZ, &f->bad[1] };
	f->a.d = f->d;
	f->a.n = 2;
	f->a.cleared = on_clear;
	f->a.opaque = f;
	*state = f;
	return 0;
}

static int ars_teardown(void **state)
{
	free(*state);
	return 0;
}

static uint32_t acall(struct ars_fix *f, uint32_t rev, uint32_t fn, const void *in, uint32_t inlen)
{
	memset(f->out, 0xcc, sizeof(f->out));
	f->outlen = 0xdead;
	return nvdimm_ars_call(&f->a, rev, fn, in, inlen, f->out, &f->outlen);
}

static uint32_t range(struct ars_fix *f, uint32_t fn, uint64_t addr, uint64_t len, uint16_t type)
{
	uint8_t in[24] = { 0 };

	put_le64(in, addr);
	put_le64(in + 8, len);
	put_le16(in + 16, type);
	return acall(f, 1, fn, in, fn == NVDIMM_ROOT_ARS_START ? 24 : 16);
}

static void expect_rec(struct ars_fix *f, int i, uint32_t handle, uint64_t addr, uint64_t len)
{
	const uint8_t *r = f->out + NVDIMM_ARS_HDR + i * NVDIMM_ARS_REC;

	assert_int_equal(get_le32(r), handle);
	assert_int_equal(get_le64(r + 8), addr);
	assert_int_equal(get_le64(r + 16), len);
}

static void test_ars_cap_and_start(void **state)
{
	struct ars_fix *f = *state;

	assert_int_equal(acall(f, 1, 0, NULL, 0), 0);
	assert_int_equal(f->outlen, 1);
	assert_int_equal(f->out[0], 0x1f);
	assert_int_equal(acall(f, 2, 0, NULL, 0), 0);   /* function 0: any revision */
	assert_int_equal(range(f, 1, BASE0, SZ, 0), 0);
	assert_int_equal(f->outlen, 16);
	assert_int_equal(get_le32(f->out), NVDIMM_ARS_PERSISTENT << 16);
	assert_int_equal(get_le32(f->out + 4), NVDIMM_ARS_MAX_OUT);
	assert_true(NVDIMM_ARS_MAX_OUT <= NVDIMM_DSM_OUT_MAX);
	assert_int_equal(get_le32(f->out + 8), NVDIMM_CLEAR_UNIT);
	assert_int_equal(get_le16(f->out + 12), 0);
	/* Part of a DIMM is fine, crossing out of it is not. */
	assert_int_equal(range(f, 1, BASE1 + 4096, 4096, 0), 0);
	assert_int_equal(range(f, 1, BASE0, SZ + 1, 0), NVDIMM_RST_INVALID);
	assert_int_equal(f->outlen, 4);
	assert_int_equal(range(f, 1, BASE0 - 1, 2, 0), NVDIMM_RST_INVALID);
	assert_int_equal(range(f, 1, BASE0, 0, 0), NVDIMM_RST_INVALID);
	assert_int_equal(range(f, 1, UINT64_MAX, 2, 0), NVDIMM_RST_INVALID);
	assert_int_equal(acall(f, 1, 1, "0123456789abcde", 15), NVDIMM_RST_INVALID);

	/* The state machine: NONE until a start. */
	assert_int_equal(f->a.state, NVDIMM_ARS_NONE);
	assert_int_equal(acall(f, 1, 3, NULL, 0), 0);
	assert_int_equal(get_le32(f->out), NVDIMM_ARS_EXT_NONE);
	assert_int_equal(get_le32(f->out + 4), NVDIMM_ARS_HDR - 4);
	assert_int_equal(f->outlen, NVDIMM_ARS_HDR);
	/* Bad starts change nothing. */
	assert_int_equal(range(f, 2, BASE0, SZ, NVDIMM_ARS_VOLATILE), NVDIMM_RST_INVALID);
	assert_int_equal(range(f, 2, BASE0, SZ, 0), NVDIMM_RST_INVALID);
	assert_int_equal(range(f, 2, BASE0, SZ, 0x102), NVDIMM_RST_INVALID);
	assert_int_equal(acall(f, 1, 2, "0123456789abcdef0123456", 23), NVDIMM_RST_INVALID);
	assert_int_equal(f->a.state, NVDIMM_ARS_NONE);
	assert_int_equal(range(f, 2, BASE0, SZ, NVDIMM_ARS_PERSISTENT | NVDIMM_ARS_VOLATILE), 0);
	assert_int_equal(f->outlen, 8);
	assert_int_equal(f->a.state, NVDIMM_ARS_DONE);
	assert_int_equal(acall(f, 1, 3, NULL, 0), 0);
	assert_int_equal(get_le32(f->out), 0);
	assert_int_equal(get_le64(f->out + 8), BASE0);
	assert_int_equal(get_le64(f->out + 16), SZ);
	assert_int_equal(get_le16(f->out + 40), NVDIMM_ARS_PERSISTENT);
	assert_int_equal(get_le32(f->out + 44), 0);
	/* Revision 2 and unknown functions. */
	assert_int_equal(acall(f, 2, 3, NULL, 0), NVDIMM_RST_UNSUPPORTED);
	assert_int_equal(acall(f, 1, 5, NULL, 0), NVDIMM_RST_UNSUPPORTED);
	assert_int_equal(acall(f, 1, 0xffffffff, NULL, 0), NVDIMM_RST_UNSUPPORTED);
	assert_int_equal(f->a.starts, 1);
}

static void test_ars_status_records(void **state)
{
	struct ars_fix *f = *state;

	nvdimm_bad_add(&f->bad[0], 0, 512, SZ);
	nvdimm_bad_add(&f->bad[0], 8192, 8192, SZ);
	nvdimm_bad_add(&f->bad[1], SZ - 4096, 4096, SZ);
	/* A scrub of DIMM 0 from 1K to 12K: both ranges there, clipped. */
	assert_int_equal(range(f, 2, BASE0 + 256, 12288 - 256, 2), 0);
	assert_int_equal(acall(f, 1, 3, NULL, 0), 0);
	assert_int_equal(get_le32(f->out + 44), 2);
	assert_int_equal(get_le32(f->out + 4), NVDIMM_ARS_HDR - 4 + 2 * NVDIMM_ARS_REC);
	assert_int_equal(f->outlen, NVDIMM_ARS_HDR + 2 * NVDIMM_ARS_REC);
	expect_rec(f, 0, 1, BASE0 + 256, 256);
	expect_rec(f, 1, 1, BASE0 + 8192, 4096);
	assert_int_equal(get_le16(f->out + 42), 0);
	/* DIMM 1's range only in its own scrub. */
	assert_int_equal(range(f, 2, BASE1, SZ, 2), 0);
	assert_int_equal(acall(f, 1, 3, NULL, 0), 0);
	assert_int_equal(get_le32(f->out + 44), 1);
	expect_rec(f, 0, 2, BASE1 + SZ - 4096, 4096);
	/* The same answer every time until the next start. */
	assert_int_equal(acall(f, 1, 3, "ignored", 7), 0);
	assert_int_equal(get_le32(f->out + 44), 1);
}

static void test_ars_overflow(void **state)
{
	struct ars_fix *f = *state;
	uint64_t restart;
	int total = 0;

	for (int i = 0; i < NVDIMM_BAD_MAX; i++)
		assert_int_equal(nvdimm_bad_add(&f->bad[0], (uint64_t)i * 8192, 512, SZ), 0);
	assert_int_equal(range(f, 2, BASE0, SZ, 2), 0);
	assert_int_equal(acall(f, 1, 3, NULL, 0), 0);
	assert_int_equal(get_le32(f->out + 44), NVDIMM_ARS_MAX_RECS);
	assert_int_equal(f->outlen, NVDIMM_ARS_MAX_OUT);
	assert_int_equal(get_le16(f->out + 42), NVDIMM_ARS_FLAG_OVERFLOW);
	restart = get_le64(f->out + 24);
	assert_int_equal(restart, BASE0 + (uint64_t)NVDIMM_ARS_MAX_RECS * 8192);
	assert_int_equal(get_le64(f->out + 32), BASE0 + SZ - restart);
	total += (int)get_le32(f->out + 44);
	/* Linux restarts the scrub there and gets the rest. */
	assert_int_equal(range(f, 2, restart, BASE0 + SZ - restart, 2), 0);
	assert_int_equal(acall(f, 1, 3, NULL, 0), 0);
	assert_int_equal(get_le16(f->out + 42), 0);
	total += (int)get_le32(f->out + 44);
	assert_int_equal(total, NVDIMM_BAD_MAX);
}

static void test_ars_clear(void **state)
{
	struct ars_fix *f = *state;

	nvdimm_bad_add(&f->bad[1], 4096, 8192, SZ);
	assert_int_equal(range(f, 4, BASE1 + 4096, 4096, 0), 0);
	assert_int_equal(f->outlen, 16);
	assert_int_equal(get_le32(f->out), 0);
	assert_int_equal(get_le64(f->out + 8), 4096);
	assert_int_equal(f->clears, 1);
	assert_true(f->c_idx == 1 && f->c_off == 4096 && f->c_len == 4096 && f->c_bytes == 4096);
	assert_int_equal(f->bad[1].n, 1);
	assert_true(f->bad[1].r[0].off == 8192 && f->bad[1].r[0].len == 4096);
	/* Clearing good bytes is fine (nothing was bad there). */
	assert_int_equal(range(f, 4, BASE0, 512, 0), 0);
	assert_int_equal(f->c_bytes, 0);
	/* Alignment to the unit, inside one DIMM. */
	assert_int_equal(range(f, 4, BASE1 + 8192 + 1, 512, 0), NVDIMM_RST_INVALID);
	assert_int_equal(range(f, 4, BASE1 + 8192, 511, 0), NVDIMM_RST_INVALID);
	assert_int_equal(range(f, 4, BASE1 + SZ - 512, 1024, 0), NVDIMM_RST_INVALID);
	assert_int_equal(range(f, 4, 0, 512, 0), NVDIMM_RST_INVALID);
	assert_int_equal(range(f, 4, UINT64_MAX - 511, 1024, 0), NVDIMM_RST_INVALID);
	assert_int_equal(acall(f, 1, 4, "short", 5), NVDIMM_RST_INVALID);
	assert_int_equal(f->clears, 2);
	/* The host side failing: a hardware error. */
	f->c_fail = -1;
	assert_int_equal(range(f, 4, BASE1 + 8192, 4096, 0), NVDIMM_RST_HW_ERROR);
	assert_int_equal(f->bad[1].n, 0);
}

/* Through the page protocol, and random pages with hostile lengths. */
static void test_ars_via_dsm(void **state)
{
	struct ars_fix *f = *state;
	struct nvdimm_label_area la[2] = { { 0 } };
	struct nvdimm_dsm ctx = { .areas = la, .n = 2, .ars = &f->a };
	static uint8_t page[NVDIMM_PAGE];
	uint64_t x = 0x1234567887654321ULL;

	nvdimm_bad_add(&f->bad[0], 4096, 4096, SZ);
	memset(page, 0, sizeof(page));
	put_le32(page + 4, 1);
	put_le32(page + 8, 2);
	put_le32(page + 12, 24);
	put_le64(page + 16, BASE0);
	put_le64(page + 24, SZ);
	put_le16(page + 32, 2);
	assert_int_equal(nvdimm_dsm_handle(&ctx, page), 0);
	assert_int_equal(get_le32(page), 8);
	memset(page, 0, sizeof(page));
	put_le32(page + 4, 1);
	put_le32(page + 8, 3);
	assert_int_equal(nvdimm_dsm_handle(&ctx, page), 0);
	assert_int_equal(get_le32(page), NVDIMM_ARS_HDR + NVDIMM_ARS_REC);
	assert_int_equal(get_le32(page + 4 + 44), 1);
	/* An input length beyond the page. */
	put_le32(page + 12, NVDIMM_DSM_IN_MAX + 1);
	assert_int_equal(nvdimm_dsm_handle(&ctx, page), NVDIMM_ST_INVALID);
	for (int it = 0; it < 100000; it++) {
		for (size_t i = 0; i < 64; i += 8) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			memcpy(page + i, &x, 8);
		}
		put_le32(page, (x & 1) ? 0 : (uint32_t)(x >> 60));
		if (x & 2)
			put_le32(page + 4, 1);
		put_le32(page + 8, (uint32_t)(x >> 40) % 6);
		if (x & 4)
			put_le32(page + 12, (uint32_t)(x >> 20) % 40);
		if (x & 8)
			put_le64(page + 16, ((x & 16) ? BASE0 : BASE1) + ((x >> 8) % (SZ + 8192)));
		if (x & 32)
			put_le64(page + 24, (x >> 24) % (SZ + 8192));
		nvdimm_dsm_handle(&ctx, page);
		assert_true(get_le32(page) <= NVDIMM_DSM_OUT_MAX);
		for (int d = 0; d < 2; d++)
			for (int i = 1; i < f->bad[d].n; i++)
				assert_true(f->bad[d].r[i - 1].off + f->bad[d].r[i - 1].len <
					    f->bad[d].r[i].off);
		if ((it & 1023) == 0)
			nvdimm_bad_add(&f->bad[it & 1024 ? 1 : 0], (x >> 4) % SZ & ~511ULL, 512, SZ);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_add),
		cmocka_unit_test(test_bad_clear),
		cmocka_unit_test(test_sidecar),
		cmocka_unit_test_setup_teardown(test_ars_cap_and_start, ars_setup, ars_teardown),
		cmocka_unit_test_setup_teardown(test_ars_status_records, ars_setup, ars_teardown),
		cmocka_unit_test_setup_teardown(test_ars_overflow, ars_setup, ars_teardown),
		cmocka_unit_test_setup_teardown(test_ars_clear, ars_setup, ars_teardown),
		cmocka_unit_test_setup_teardown(test_ars_via_dsm, ars_setup, ars_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
