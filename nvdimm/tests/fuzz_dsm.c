/*
 * fuzz_dsm.c - libFuzzer target for the DSM decoder and label store
 * (nvdimm_dsm_handle): the input is the guest's 4 KiB page. Three DIMMs:
 * 128 KiB labels, 256 KiB read-only labels, none. Each label area is its
 * own exact-size allocation, so ASan reports any byte read or written
 * outside it. The root device's ARS functions (ars.c) run on three SPA
 * ranges whose bad-range lists start with a few entries and change with
 * the requests (Clear Uncorrectable Error), re-seeded when empty; the lists
 * must stay sorted and disjoint. The root also serves a FIT (hot-add's
 * _FIT reads), which changes every seventh call. Without libFuzzer (gcc
 * builds), main() below feeds it pseudo-random pages shaped like requests.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvdimm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct nvdimm_label_area areas[3];
static struct nvdimm_dsm ctx;
static struct nvdimm_badlist bad[3];
static struct nvdimm_ars_dimm ad[3];
static struct nvdimm_ars ars;

#define SPA0 0x100000000ULL
#define SPA_SZ (16ULL << 20)

static void seed_bad(void)
{
	for (int i = 0; i < 3; i++)
		if (bad[i].n == 0)
			for (int j = 0; j < 4; j++)
				nvdimm_bad_add(&bad[i], (uint64_t)j * 1048576 + 512 * (uint64_t)i,
					       512 * (uint64_t)(j + 1), SPA_SZ);
}

static void init(void)
{
	if (ctx.areas)
		return;
	areas[0].size = 128 << 10;
	areas[0].base = calloc(1, areas[0].size);
	areas[1].size = 256 << 10;
	areas[1].base = calloc(1, areas[1].size);
	areas[1].readonly = true;
	if (!areas[0].base || !areas[1].base)
		abort();
	ctx.areas = areas;
	ctx.n = 3;
	for (int i = 0; i < 3; i++)
		ad[i] = (struct nvdimm_ars_dimm){ (uint32_t)i + 1, SPA0 + (uint64_t)i * (1ULL << 30),
						  SPA_SZ, &bad[i] };
	ars.d = ad;
	ars.n = 3;
	ctx.ars = &ars;
	/* the FIT read (hot-add's _FIT): its own exact-size allocation, more
	 * than one chunk */
	ctx.fit_len = NVDIMM_FIT_CHUNK + 777;
	ctx.fit = calloc(1, ctx.fit_len);
	if (!ctx.fit)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *page = malloc(NVDIMM_PAGE);
	uint32_t out;

	if (!page)
		abort();
	init();
	memset(page, 0, NVDIMM_PAGE);
	memcpy(page, data, size < NVDIMM_PAGE ? size : NVDIMM_PAGE);
	seed_bad();
	if (ctx.calls % 7 == 3)
		ctx.fit_gen++;   /* a hot-add between two reads */
	nvdimm_dsm_handle(&ctx, page);
	memcpy(&out, page, 4);
	if (out > NVDIMM_DSM_OUT_MAX)
		abort();
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < bad[i].n; j++)
			if (bad[i].r[j].len == 0 || bad[i].r[j].off + bad[i].r[j].len > SPA_SZ ||
			    (j && bad[i].r[j - 1].off + bad[i].r[j - 1].len >= bad[i].r[j].off))
				abort();
	free(page);
	return 0;
}

#ifndef PMVM_LIBFUZZER
int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 300000;
	uint64_t x = 0x2545f4914f6cdd1dULL;
	uint8_t buf[64];

	for (long i = 0; i < iters; i++) {
		for (size_t j = 0; j < sizeof(buf); j += 8) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			memcpy(buf + j, &x, 8);
		}
		/* Bias towards plausible requests: small handles, known
		 * functions, lengths near the limits. */
		if (x & 1) buf[0] = (uint8_t)(x >> 8) % 5, buf[1] = buf[2] = buf[3] = 0;
		if (x & 2) { uint32_t f = (x & 4) ? 4 + (uint32_t)((x >> 16) % 3) : 0x1005 + (uint32_t)((x >> 16) & 1); memcpy(buf + 8, &f, 4); }
		if (x & 8) { uint32_t l = (uint32_t)(x >> 20) % 4200; memcpy(buf + 12, &l, 4); }
		if (x & 16) { uint32_t o = (uint32_t)(x >> 24) % (300 << 10); memcpy(buf + 16, &o, 4); }
		if (x & 32) { uint32_t l = (uint32_t)(x >> 32) % 4200; memcpy(buf + 20, &l, 4); }
		/* The root device's ARS functions: SPA addresses and lengths
		 * near the ranges' edges, aligned or not. */
		if ((x & 0x1c0) == 0x40) {
			uint32_t h = 0, rev = 1, fn = 1 + (uint32_t)((x >> 9) % 4), inlen = (x & 0x200) ? 24 : (uint32_t)(x >> 40) % 30;
			uint64_t a = SPA0 + ((x >> 12) % 3) * (1ULL << 30) + ((x >> 14) % (SPA_SZ + 8192)) - 4096;
			uint64_t l = (x & 0x400) ? ((x >> 20) % 64) * 512 : (x >> 20) % (SPA_SZ + 4096);
			uint16_t t = (x & 0x800) ? 2 : (uint16_t)(x >> 48);

			if (x & 0x1000) a &= ~511ULL;
			memcpy(buf, &h, 4); memcpy(buf + 4, &rev, 4); memcpy(buf + 8, &fn, 4);
			memcpy(buf + 12, &inlen, 4); memcpy(buf + 16, &a, 8); memcpy(buf + 24, &l, 8);
			memcpy(buf + 32, &t, 2);
		}
		/* FIT reads: offsets around the chunk and the end. */
		if ((x & 0x1c0) == 0x80) {
			uint32_t h = 0, rev = 1, fn = NVDIMM_FN_FIT, inlen = (x & 0x200) ? 4 : (uint32_t)(x >> 40) % 8;
			uint32_t off = (uint32_t)((x >> 12) % (ctx.fit_len + 16));

			if (x & 0x400)
				off = (x & 0x800) ? NVDIMM_FIT_CHUNK : 0;
			memcpy(buf, &h, 4); memcpy(buf + 4, &rev, 4); memcpy(buf + 8, &fn, 4);
			memcpy(buf + 12, &inlen, 4); memcpy(buf + 16, &off, 4);
		}
		LLVMFuzzerTestOneInput(buf, sizeof(buf));
	}
	printf("fuzz_dsm: %ld inputs, %llu calls, %llu errors; ARS: %llu starts, %llu "
	       "queries, %llu clears\n", iters, (unsigned long long)ctx.calls,
	       (unsigned long long)ctx.errors, (unsigned long long)ars.starts,
	       (unsigned long long)ars.queries, (unsigned long long)ars.clears);
	free(areas[0].base);
	free(areas[1].base);
	free((void *)ctx.fit);
	return 0;
}
#endif
