/*
 * pcow-model.h - the model shared by the pcow-model guest (pcow-model.c)
 * and its host side (pcow-model-host.c): which layer of a pcow chain holds
 * which bytes, what those bytes are, and which words a guest run writes.
 * Both sides compute everything from a seed, so the guest can check every
 * read it makes and the host can compute the whole device's expected bytes.
 *
 * The chain (docs/pcow-runtime.md, "Tests"), a 16 MiB device:
 *   layer 0  base.raw   raw, data in 16K granules
 *   layer 1  b1.pcow    4K clusters, base base.raw
 *   layer 2  b2.pcow    16K clusters, base b1.pcow
 *   layer 3  img.pcow   64K clusters, base b2.pcow: snapshot s1
 *   layer 4             written after s1: snapshot s2 (over s1 where both)
 *   layer 5             written after s2: the active layer's own clusters
 * A byte shows the topmost layer that holds it, else zeros. The image
 * layers (3-5) hold whole 64K clusters among clusters 0..63, in all 8
 * combinations ((c ^ c >> 3) & 7: each combination in even and odd
 * clusters); clusters 8..23 have no base data at all (9 and 18 are holes
 * through the whole chain).
 *
 * Values are 64-bit words, never 0. Layer PM_RUN is what the model run
 * writes, PM_CRASH what the crash run writes.
 *
 * Pure functions only: this is compiled freestanding into the guest.
 */
#ifndef PCOW_MODEL_H
#define PCOW_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#define PM_SIZE		(16ULL << 20)
#define PM_CSIZE	65536ULL	/* img.pcow's cluster size */
#define PM_NCL		(PM_SIZE / PM_CSIZE)
#define PM_PAGE		4096ULL
#define PM_WPP		512		/* words per page */
#define PM_PPC		16		/* pages per image cluster */
#define PM_IMG_CL	64		/* clusters 0..63 may hold image layers */
#define PM_RUN_CL	32		/* the model run writes into 0..31 */
#define PM_LAYERS	6
#define PM_RUN		6
#define PM_CRASH	7
#define PM_MAX_CPUS	16
#define PM_CRASH_WORDS	16		/* words per crash round */

static inline uint64_t pm_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Granule (bytes) in which layer holds data. */
static inline uint64_t pm_granule(int layer)
{
	static const uint64_t g[PM_LAYERS] = { 16384, 4096, 16384, PM_CSIZE, PM_CSIZE, PM_CSIZE };

	return g[layer];
}

/* Does layer hold the byte at off? (the layout does not depend on the seed) */
static inline bool pm_holds(int layer, uint64_t off)
{
	uint64_t c = off / PM_CSIZE, g = off / pm_granule(layer);

	if (layer >= 3)
		return c < PM_IMG_CL && (((c ^ c >> 3) & 7) >> (layer - 3) & 1);
	if (c >= 8 && c < 24)
		return false;
	switch (layer) {
	case 0: return pm_mix(0x100000000ULL | g) % 2 == 0;
	case 1: return pm_mix(0x200000000ULL | g) % 3 == 0;
	default: return pm_mix(0x300000000ULL | g) % 3 == 0;
	}
}

/* The word layer has at off (8-byte aligned); never 0. */
static inline uint64_t pm_val(uint64_t seed, int layer, uint64_t off)
{
	uint64_t v = pm_mix(pm_mix(seed + 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)layer << 56) ^ off);

	return v ? v : 1;
}

/* The topmost layer holding off, or -1 (zeros). */
static inline int pm_top(uint64_t off)
{
	for (int l = PM_LAYERS - 1; l >= 0; l--)
		if (pm_holds(l, off))
			return l;
	return -1;
}

/* The word the device shows at off before any guest run. */
static inline uint64_t pm_start(uint64_t seed, uint64_t off)
{
	int l = pm_top(off);

	return l < 0 ? 0 : pm_val(seed, l, off);
}

/*
 * The model run. In every cluster c < PM_RUN_CL, CPU k writes
 *   4 words of page 0 at word 4k (all CPUs race on one page), and
 *   8 words of page pm_run_page(c, k) from word pm_run_word(c, k)
 * (sub-cluster and sub-page writes; pages of two CPUs may coincide, and
 * their words may overlap: every writer writes pm_val(seed, PM_RUN, off)).
 */
#define PM_RUN_SHARED	4
#define PM_RUN_OWN	8

static inline unsigned pm_run_page(uint64_t c, int k)
{
	return 1 + (unsigned)((c * 3 + (uint64_t)k * 5) % (PM_PPC - 1));
}

static inline unsigned pm_run_word(uint64_t c, int k)
{
	return (unsigned)((c * 7 + (uint64_t)k * 13) % (PM_WPP - PM_RUN_OWN));
}

/* Does CPU k write the word at off? */
static inline bool pm_run_writes(uint64_t off, int k)
{
	uint64_t c = off / PM_CSIZE, pg = off % PM_CSIZE / PM_PAGE, w = off % PM_PAGE / 8;

	if (c >= PM_RUN_CL)
		return false;
	if (pg == 0 && w >= (uint64_t)k * PM_RUN_SHARED && w < (uint64_t)(k + 1) * PM_RUN_SHARED)
		return true;
	return pg == pm_run_page(c, k) && w >= pm_run_word(c, k) &&
	       w < pm_run_word(c, k) + PM_RUN_OWN;
}

/* Does any of ncpu CPUs write it? */
static inline bool pm_run_written(uint64_t off, int ncpu)
{
	for (int k = 0; k < ncpu; k++)
		if (pm_run_writes(off, k))
			return true;
	return false;
}

/* The word at off after a complete model run with ncpu CPUs. */
static inline uint64_t pm_final(uint64_t seed, int ncpu, uint64_t off)
{
	return pm_run_written(off, ncpu) ? pm_val(seed, PM_RUN, off) : pm_start(seed, off);
}

/*
 * The crash run: round r writes PM_CRASH_WORDS words of one page, at
 * pm_crash_off(r) (a different page for each r < 64, over holes, snapshot,
 * base and own clusters), then flushes and reports "F r".
 */
static inline uint64_t pm_crash_off(unsigned r)
{
	uint64_t c = (r * 7u) % PM_IMG_CL, pg = (r * 5u) % PM_PPC;
	uint64_t w = (r * 29u) % (PM_WPP - PM_CRASH_WORDS);

	return c * PM_CSIZE + pg * PM_PAGE + w * 8;
}

#endif
