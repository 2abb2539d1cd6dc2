/*
 * pcow-nvdimm.c - the guest of bench/pcow-nvdimm.sh: what a pcow NVDIMM
 * costs a guest, measured with the TSC against peers in the same run.
 *
 * The driver gives four NVDIMMs, in this order (all the same size, on one
 * file system, the first two and the last pre-written with pattern()):
 *   0 raw   a raw file
 *   1 full  a pcow image with every cluster allocated (converted from a raw
 *           file), no snapshot: served entirely through file mappings
 *   2 holes an empty pcow image: every cluster is a hole
 *   3 snap  a pcow image with every cluster allocated, then snapshotted:
 *           every cluster is held by the snapshot
 * and measures:
 *   - copy bandwidth into and out of raw and full, plus RAM to RAM as the
 *     guest's own ceiling: kib= KiB copied reps= times, with rep movsq and
 *     with a plain load/store loop, interleaved, timed in 4 KiB chunks
 *     (guest RAM from 64 MiB holds two such buffers: vmm --memory must be
 *     at least 64M + 2 * kib);
 *   - the VM-exit round trip: one write to an I/O port vmm leaves unclaimed
 *     (0x80: no device, no work), exits= times, before and after the faults;
 *   - per-fault latency, one sample per cluster (csize= KiB, the images'
 *     cluster size): TSC around the first store to each cluster of holes
 *     (first-touch) and of snap (copy-on-write). Every fourth cluster is
 *     read first (a read fault, timed too) and then written, which is the
 *     write-protect path instead of the missing-page one.
 * It prints "BENCH key=value ..." lines with sorted percentiles in cycles,
 * and TAP points that make it a functional smoke: the DIMMs are there, the
 * pre-written data reads back through raw, full and snap, a hole reads as
 * zeros, a first write to a hole leaves the rest of the cluster zero, a
 * copy-on-write keeps the rest of the cluster's snapshot data, and every
 * written word reads back. Debug-exit 0 (vmm status 1) if all passed.
 */
#include <libfdt.h>

#include "rt.h"

#define NDIMMS     4
#define EXIT_PORT  0x80
#define RAM_SRC    (64ULL << 20)	/* two copy buffers in guest RAM */
#define MAX_SAMPLES 8192


struct dimm {
	uint64_t base, size;
	volatile uint64_t *p;
};

static struct dimm dimm[NDIMMS];
static const char *const role[NDIMMS] = { "raw", "full", "holes", "snap" };

/* The driver writes the same words into the pre-written files. */
static inline uint64_t pattern(uint64_t off)
{
	return 0xa5a5000000000000ULL | off;
}

static inline uint64_t tsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc; lfence" : "=a"(lo), "=d"(hi) :: "memory");
	return ((uint64_t)hi << 32) | lo;
}

static int find_dimms(void)
{
	const void *fdt = rt_fdt();
	int n = 0;

	if (!fdt)
		return 0;
	for (; n < NDIMMS; n++) {
		char path[32];
		const fdt64_t *reg;
		int node, len;

		rt_snprintf(path, sizeof(path), "/pmvm/nvdimm@%x", n);
		node = fdt_path_offset(fdt, path);
		if (node < 0)
			break;
		reg = fdt_getprop(fdt, node, "reg", &len);
		if (!reg || len != 16)
			break;
		dimm[n].base = fdt64_to_cpu(reg[0]);
		dimm[n].size = fdt64_to_cpu(reg[1]);
		dimm[n].p = (volatile uint64_t *)(uintptr_t)dimm[n].base;
	}
	return n;
}

/* Identity map [base, base + size) with 2 MiB pages, one page directory
 * per GiB that the runtime's tables (the low 4 GiB) do not cover. */
static bool identity_map(uint64_t base, uint64_t size)
{
	if (!size || base + size < base || (base | size) & ((2ULL << 20) - 1))
		return false;
	return rt_map_range(base, size);
}

static void movsq(void *d, const void *s, uint64_t qwords)
{
	__asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(qwords) :: "memory");
}

/* The same copy without a string instruction: 8 loads, then 8 stores. */
static void movloop(void *d, const void *s, uint64_t qwords)
{
	volatile uint64_t *to = d;
	const volatile uint64_t *from = s;

	for (uint64_t i = 0; i + 8 <= qwords; i += 8) {
		uint64_t a = from[i], b = from[i + 1], c = from[i + 2], e = from[i + 3];
		uint64_t f = from[i + 4], g = from[i + 5], h = from[i + 6], k = from[i + 7];

		to[i] = a; to[i + 1] = b; to[i + 2] = c; to[i + 3] = e;
		to[i + 4] = f; to[i + 5] = g; to[i + 6] = h; to[i + 7] = k;
	}
}

/* ---- percentiles ------------------------------------------------------- */

static uint64_t samples[MAX_SAMPLES];

static void sort(uint64_t *a, int n)	/* Shell sort: n is small */
{
	for (int gap = n / 2; gap > 0; gap /= 2)
		for (int i = gap; i < n; i++) {
			uint64_t v = a[i];
			int j = i;

			for (; j >= gap && a[j - gap] > v; j -= gap)
				a[j] = a[j - gap];
			a[j] = v;
		}
}

/* Sort a[0..n) and print "BENCH what n=.. min= p50= p90= p99= max=". */
static void report(const char *what, uint64_t *a, int n)
{
	if (n <= 0) {
		rt_printf("BENCH %s n=0\n", what);
		return;
	}
	sort(a, n);
	rt_printf("BENCH %s n=%d min=%lu p50=%lu p90=%lu p99=%lu max=%lu\n", what, n,
		  (unsigned long)a[0], (unsigned long)a[n / 2],
		  (unsigned long)a[(n * 90) / 100], (unsigned long)a[(n * 99) / 100],
		  (unsigned long)a[n - 1]);
}

/* ---- the measurements -------------------------------------------------- */

static void exit_round_trips(const char *what, int n)
{
	if (n > MAX_SAMPLES)
		n = MAX_SAMPLES;
	for (int i = 0; i < 16; i++)	/* warm: vmm's first exit of a kind */
		outb(EXIT_PORT, 0);
	for (int i = 0; i < n; i++) {
		uint64_t t = tsc();

		outb(EXIT_PORT, 0);
		samples[i] = tsc() - t;
	}
	report(what, samples, n);
}

typedef void copy_fn(void *d, const void *s, uint64_t qwords);

/*
 * reps copies of bytes, RAM to RAM and into and out of raw and full,
 * interleaved so that a change of load hits all of them alike, each timed
 * in 4 KiB chunks. Two figures per copy: the best whole copy (the sum of
 * one copy's chunks), and the sum over chunks of each chunk's best time,
 * which a preempted vCPU (a loaded host) disturbs far less.
 */
#define CHUNK 4096
#define MAX_CHUNKS 4096

static void bandwidth(const char *method, copy_fn *copy, uint64_t bytes, int reps)
{
	static uint64_t chunk_best[5][MAX_CHUNKS];
	uint8_t *src = (uint8_t *)(uintptr_t)RAM_SRC;
	uint8_t *dst = src + bytes;
	uint8_t *raw = (uint8_t *)(uintptr_t)dimm[0].base, *full = (uint8_t *)(uintptr_t)dimm[1].base;
	uint8_t *to[5] = { dst, raw, full, dst, dst };
	uint8_t *from[5] = { src, src, src, raw, full };
	uint64_t n = bytes / CHUNK, best[5], sum[5], t;
	static const char *const name[5] = { "ram", "raw_write", "full_write",
					     "raw_read", "full_read" };

	memset(src, 0x5a, bytes);
	for (int k = 0; k < 5; k++) {
		best[k] = ~0ULL;
		for (uint64_t i = 0; i < n; i++)
			chunk_best[k][i] = ~0ULL;
		copy(to[k], from[k], bytes / 8);	/* warm: every page faulted in */
	}
	for (int r = 0; r < reps; r++)
		for (int k = 0; k < 5; k++) {
			uint64_t whole = 0;

			for (uint64_t i = 0; i < n; i++) {
				t = tsc();
				copy(to[k] + i * CHUNK, from[k] + i * CHUNK, CHUNK / 8);
				t = tsc() - t;
				whole += t;
				if (t < chunk_best[k][i])
					chunk_best[k][i] = t;
			}
			if (whole < best[k])
				best[k] = whole;
		}
	for (int k = 0; k < 5; k++) {
		sum[k] = 0;
		for (uint64_t i = 0; i < n; i++)
			sum[k] += chunk_best[k][i];
	}
	rt_printf("BENCH copy method=%s bytes=%lu reps=%d", method, (unsigned long)bytes, reps);
	for (int k = 0; k < 5; k++)
		rt_printf(" %s_cycles=%lu %s_chunked=%lu", name[k], (unsigned long)best[k],
			  name[k], (unsigned long)sum[k]);
	rt_printf("\n");
}

/*
 * One sample per cluster of DIMM d: the first store to the cluster's word
 * 0 (after a timed first read of word 0 for every fourth cluster). The
 * store writes tag ^ offset; the rest of the cluster must then read as
 * zeros (a hole) or as pattern() (the snapshot's data, cow). Returns the
 * number of bad words.
 */
static uint64_t faults(int d, uint64_t csize, bool cow, uint64_t tag)
{
	static uint64_t wr[MAX_SAMPLES], wp[MAX_SAMPLES], rd[MAX_SAMPLES];
	int nwr = 0, nwp = 0, nrd = 0;
	uint64_t n = dimm[d].size / csize, bad = 0, t;
	char what[48];

	if (n > MAX_SAMPLES)
		n = MAX_SAMPLES;
	for (uint64_t c = 0; c < n; c++) {
		uint64_t off = c * csize, want0 = cow ? pattern(off) : 0;
		volatile uint64_t *w = dimm[d].p + off / 8;

		if (c % 4 == 3) {
			uint64_t v;

			t = tsc();
			v = *w;
			rd[nrd++] = tsc() - t;
			if (v != want0)
				bad++;
			t = tsc();
			*w = tag ^ off;
			__asm__ volatile("mfence" ::: "memory");
			wp[nwp++] = tsc() - t;
		} else {
			t = tsc();
			*w = tag ^ off;
			__asm__ volatile("mfence" ::: "memory");
			wr[nwr++] = tsc() - t;
		}
	}
	/* Every written word is there, and the cluster's other words are
	 * zeros (a hole) or the snapshot's data (copy-on-write). */
	for (uint64_t c = 0; c < n; c++) {
		uint64_t off = c * csize;

		if (dimm[d].p[off / 8] != (tag ^ off))
			bad++;
		for (uint64_t o = off + 8; o < off + csize; o += csize / 2 - 8)
			if (dimm[d].p[o / 8] != (cow ? pattern(o) : 0))
				bad++;
	}
	rt_snprintf(what, sizeof(what), "%s_write", cow ? "cow" : "hole");
	report(what, wr, nwr);
	rt_snprintf(what, sizeof(what), "%s_read", cow ? "snap" : "hole");
	report(what, rd, nrd);
	rt_snprintf(what, sizeof(what), "%s_write_after_read", cow ? "cow" : "hole");
	report(what, wp, nwp);
	return bad;
}

/* The first 4 KiB from start and the last 4 KiB of DIMM d hold pattern()? */
static bool prewritten(int d, uint64_t start)
{
	for (uint64_t off = 8; off <= 4096; off += 8)
		if (dimm[d].p[(start + off - 8) / 8] != pattern(start + off - 8) ||
		    dimm[d].p[(dimm[d].size - off) / 8] != pattern(dimm[d].size - off))
			return false;
	return true;
}

void rt_main(void)
{
	uint64_t bytes = (uint64_t)rt_arg_int("kib", 128) << 10;
	uint64_t csize = (uint64_t)rt_arg_int("csize", 64) << 10;
	int reps = (int)rt_arg_int("reps", 11), exits = (int)rt_arg_int("exits", 2000);
	uint64_t tag = 0x5eed000000000000ULL, bad;
	bool ok = true;
	int n;

	rt_plan(8);
	n = find_dimms();
	for (int i = 0; i < n; i++)
		ok = ok && dimm[i].size == dimm[0].size && identity_map(dimm[i].base, dimm[i].size);
	rt_ok(n == NDIMMS && ok, "%d NVDIMMs of one size in the FDT, mapped (want %d)", n, NDIMMS);
	if (n != NDIMMS || !ok)
		rt_done();
	rt_diag("NVDIMMs of %lu MiB: raw, full, holes, snap; copies of %lu KiB, %lu KiB clusters",
		(unsigned long)(dimm[0].size >> 20), (unsigned long)(bytes >> 10),
		(unsigned long)(csize >> 10));
	if (!bytes || bytes % CHUNK || bytes / CHUNK > MAX_CHUNKS || bytes > dimm[0].size - 8192 ||
	    !csize || csize & (csize - 1) || csize < 4096 || dimm[0].size % csize) {
		rt_ok(false, "kib= (4 KiB multiple, at most 16 MiB) and csize= fit the DIMMs");
		rt_done();
	}

	rt_ok(prewritten(0, 0) && prewritten(1, 0) && prewritten(3, 0),
	      "the pre-written words read back through raw, full and snap");
	rt_ok(dimm[2].p[1] == 0 && dimm[2].p[(dimm[2].size - 8) / 8] == 0,
	      "a hole reads as zeros");

	exit_round_trips("exit_before", exits);
	bandwidth("movsq", movsq, bytes, reps);
	bandwidth("loop", movloop, bytes, reps);
	rt_ok(dimm[1].p[bytes / 8] == pattern(bytes) && dimm[1].p[0] == 0x5a5a5a5a5a5a5a5aULL,
	      "full holds the copied bytes and its data past them");

	bad = faults(2, csize, false, tag);
	rt_ok(bad == 0, "first writes to holes: written words there, rest zeros (%lu bad)",
	      (unsigned long)bad);
	bad = faults(3, csize, true, tag);
	rt_ok(bad == 0, "copy-on-write: written words there, rest the snapshot's (%lu bad)",
	      (unsigned long)bad);
	exit_round_trips("exit_after", exits);
	rt_ok(prewritten(0, bytes), "raw untouched past the copies");
	for (int i = 0; i < NDIMMS; i++)
		rt_diag("%s at 0x%lx", role[i], (unsigned long)dimm[i].base);
	rt_ok(true, "bench ran");
	rt_done();
}
