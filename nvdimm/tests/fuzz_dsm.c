/*
 * fuzz_dsm.c - libFuzzer target for the DSM decoder and label store
 * (nvdimm_dsm_handle): the input is the guest's 4 KiB page. Three DIMMs:
 * 128 KiB labels, 256 KiB read-only labels, none. Each label area is its
 * own exact-size allocation, so ASan reports any byte read or written
 * outside it. Without libFuzzer (gcc builds), main() below feeds it
 * pseudo-random pages shaped like requests.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvdimm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct nvdimm_label_area areas[3];
static struct nvdimm_dsm ctx;

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
	nvdimm_dsm_handle(&ctx, page);
	memcpy(&out, page, 4);
	if (out > NVDIMM_DSM_OUT_MAX)
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
		LLVMFuzzerTestOneInput(buf, sizeof(buf));
	}
	printf("fuzz_dsm: %ld inputs, %llu calls, %llu errors\n", iters,
	       (unsigned long long)ctx.calls, (unsigned long long)ctx.errors);
	free(areas[0].base);
	free(areas[1].base);
	return 0;
}
#endif
