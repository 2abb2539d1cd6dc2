/*
 * pcowlive - direct-tier guest for the running-VM side of pcow NVDIMMs
 * (docs/pcow-runtime.md, "Live snapshots", "Host mappings"), driven by
 * run-pcow-live-test. It finds NVDIMM 0 through the vmm's FDT
 * (/pmvm/nvdimm@0: reg, flush-hint), identity-maps it and then:
 *
 *   gens=N     writes generation g = 1..N over a region: the 64-bit word at
 *              off + i * stride (i = 0 .. kib KiB / stride - 1) gets
 *              (g << 32) | i, in increasing i, one vCPU, so at any instant
 *              the region is a prefix of generation g over generation g-1:
 *              a snapshot taken at one instant must show exactly that.
 *              delay=US waits that long after each word (so a snapshot
 *              lands inside a generation); flush writes the flush hint
 *              after each generation; wait prints "gen G written" after
 *              each one and waits for a byte on COM1 before going on (the
 *              test takes a snapshot meanwhile). At the end the region must
 *              read back generation N. last: before generation 1, store
 *              generation 1's value of the last word (the clusters between
 *              the first and the last are then written without faults into
 *              the vmm's chunk span, and found by the flush).
 *              cpus=N (no wait): N vCPUs at once, CPU c writing part c of
 *              the region (words / N of them, the index counted within the
 *              part), each part its own sequence of generations; with stop,
 *              they stop after the generation in which a byte arrived on
 *              COM1 (or at gens=); "part C ends at generation G" each.
 *   random=N   N 8-byte stores, each at a random 64 KiB cluster of
 *              [roff, roff + rkib) KiB (default the whole DIMM), then wide=M
 *              more anywhere in the DIMM (seed=), flushes twice (with
 *              flush), then reads them back;
 *              prints "random done" and, with wait, waits for a byte (the
 *              test counts host mappings meanwhile).
 *   hold=MS    stay alive that long before ending (after everything).
 * Arguments: kib= (default 1024), off= KiB (default 0), stride= bytes
 * (default 4096, a multiple of 8), seed= (default 1).
 */
#include <libfdt.h>

#include "rt.h"

static uint64_t base, size, flush_hint;

static bool find_dimm(void)
{
	const void *fdt = rt_fdt();
	const fdt64_t *reg, *fh;
	int node, len;

	if (!fdt)
		return false;
	node = fdt_path_offset(fdt, "/pmvm/nvdimm@0");
	if (node < 0)
		return false;
	reg = fdt_getprop(fdt, node, "reg", &len);
	if (!reg || len != 16)
		return false;
	fh = fdt_getprop(fdt, node, "flush-hint", &len);
	if (!fh || len != 8)
		return false;
	base = fdt64_to_cpu(reg[0]);
	size = fdt64_to_cpu(reg[1]);
	flush_hint = fdt64_to_cpu(fh[0]);
	return size && rt_map_range(base, size);
}

static void flush(void)
{
	__asm__ volatile("sfence" ::: "memory");
	*(volatile uint64_t *)(uintptr_t)flush_hint = 1;
}

static void wait_byte(void)
{
	for (unsigned ms = 0; ms < 120000; ms++) {
		if (rt_serial_rx_polled() >= 0)
			return;
		rt_delay_us(1000);
	}
	rt_diag("no byte on COM1 within 120 s");
}

/* gens= without wait, on cpus= vCPUs: CPU c writes part c of the region
 * (words / cpus words from word c * words / cpus), index i counted within
 * the part */
static volatile uint64_t *region;
static uint64_t part_words, g_stride;
static long g_gens, g_delay;
static bool g_stop_on_byte;
static volatile int parts_done, stop;
static long last_gen[RT_MAX_CPUS];

static void write_part(int c)
{
	volatile uint64_t *p = region + (uint64_t)c * part_words * g_stride / 8;
	long g;

	for (g = 1; g <= g_gens && !stop; g++) {
		for (uint64_t i = 0; i < part_words; i++) {
			p[i * g_stride / 8] = ((uint64_t)g << 32) | i;
			if (g_delay)
				rt_delay_us((unsigned)g_delay);
		}
		last_gen[c] = g;
		if (c == 0 && g_stop_on_byte && rt_serial_rx_polled() >= 0)
			stop = 1;
	}
	__atomic_add_fetch(&parts_done, 1, __ATOMIC_SEQ_CST);
}

static uint64_t rng;

static uint64_t next_rand(void)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return rng >> 17;
}

void rt_main(void)
{
	uint64_t kib = (uint64_t)rt_arg_int("kib", 1024);
	uint64_t off = (uint64_t)rt_arg_int("off", 0) << 10;
	uint64_t stride = (uint64_t)rt_arg_int("stride", 4096);
	long gens = rt_arg_int("gens", 0), nrand = rt_arg_int("random", 0);
	long delay = rt_arg_int("delay", 0), hold = rt_arg_int("hold", 0);
	bool wait = rt_has_arg("wait"), do_flush = rt_has_arg("flush");
	uint64_t words, bad = 0;

	rt_plan(3);
	if (!rt_ok(find_dimm(), "NVDIMM 0 found in the FDT and mapped"))
		rt_done();
	rt_diag("nvdimm 0 at 0x%lx, %lu MiB", (unsigned long)base, (unsigned long)(size >> 20));
	if (stride < 8 || stride % 8 || off + (kib << 10) > size) {
		rt_ok(false, "region off=%lu kib=%lu stride=%lu fits the DIMM",
		      (unsigned long)off, (unsigned long)kib, (unsigned long)stride);
		rt_done();
	}
	words = (kib << 10) / stride;
	if (gens > 0 && rt_arg_int("cpus", 1) > 1) {
		int cpus = (int)rt_arg_int("cpus", 1), started;
		uint64_t t0 = rt_rdtsc();

		region = (volatile uint64_t *)(uintptr_t)(base + off);
		part_words = words / (uint64_t)cpus;
		g_stride = stride;
		g_gens = gens;
		g_delay = delay;
		g_stop_on_byte = rt_has_arg("stop");
		if (cpus > RT_MAX_CPUS)
			cpus = RT_MAX_CPUS;
		started = rt_smp_start(write_part, 2000);
		write_part(0);
		while (parts_done < 1 + started && rt_within_ms(t0, 120000))
			__asm__ volatile("pause");
		rt_ok(started == cpus - 1 && parts_done == cpus,
		      "%d vCPUs wrote generations of %lu words each", parts_done,
		      (unsigned long)part_words);
		for (int c = 0; c < cpus; c++) {
			rt_printf("part %d ends at generation %ld\n", c, last_gen[c]);
			for (uint64_t i = 0; i < part_words; i++)
				if (region[((uint64_t)c * part_words + i) * stride / 8] !=
				    (((uint64_t)last_gen[c] << 32) | i))
					bad++;
		}
		rt_ok(bad == 0, "every part reads back its last generation (%lu bad words)",
		      (unsigned long)bad);
	} else if (gens > 0) {
		volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)(base + off);

		/* last: the region's last word first, so the clusters between
		 * are mapped ahead of any write (the vmm's chunk span) */
		if (rt_has_arg("last"))
			p[(words - 1) * stride / 8] = (1ULL << 32) | (words - 1);
		for (long g = 1; g <= gens; g++) {
			for (uint64_t i = 0; i < words; i++) {
				p[i * stride / 8] = ((uint64_t)g << 32) | i;
				if (delay)
					rt_delay_us((unsigned)delay);
			}
			if (do_flush)
				flush();
			if (wait) {
				rt_printf("gen %ld written\n", g);
				wait_byte();
			}
		}
		rt_ok(true, "%ld generations of %lu words written", gens, (unsigned long)words);
		for (uint64_t i = 0; i < words; i++)
			if (p[i * stride / 8] != (((uint64_t)gens << 32) | i))
				bad++;
		rt_ok(bad == 0, "the region reads back generation %ld (%lu bad words)", gens,
		      (unsigned long)bad);
	} else if (nrand > 0) {
		long wide = rt_arg_int("wide", 0);
		uint64_t rfirst = ((uint64_t)rt_arg_int("roff", 0) << 10) >> 16;
		uint64_t rn = ((uint64_t)rt_arg_int("rkib", (long)(size >> 10)) << 10) >> 16;

		if (!rn || (rfirst + rn) << 16 > size) {
			rt_ok(false, "random range roff= rkib= fits the DIMM");
			rt_done();
		}
		for (int pass = 0; pass < 2; pass++) {
			rng = (uint64_t)rt_arg_int("seed", 1);
			for (long k = 0; k < nrand + wide; k++) {
				uint64_t c = k < nrand ? rfirst + next_rand() % rn
						       : next_rand() % (size >> 16);
				volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)
					(base + (c << 16) + 8 * (uint64_t)(k & 7));

				if (pass == 0)
					*w = c ^ 0x5a5a5a5a00000000ULL;
				else if (*w != (c ^ 0x5a5a5a5a00000000ULL))
					bad++;
			}
			if (pass == 0) {
				/* the second flush finds nothing new: its cost is
				 * the scan of the chunks' unwritten slots */
				if (do_flush) {
					flush();
					flush();
				}
				rt_ok(true, "%ld random stores in [%lu, +%lu) of 64K clusters, "
				      "%ld anywhere", nrand, (unsigned long)rfirst,
				      (unsigned long)rn, wide);
			}
		}
		rt_ok(bad == 0, "they read back (%lu bad)", (unsigned long)bad);
		if (wait) {
			rt_printf("random done\n");
			wait_byte();
		}
	} else {
		rt_ok(false, "gens= or random= given");
		rt_ok(false, "nothing to do");
	}
	if (hold > 0) {
		rt_diag("holding %ld ms", hold);
		rt_delay_us((unsigned)hold * 1000);
	}
	rt_done();
}
