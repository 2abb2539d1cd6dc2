/*
 * pcow-model - direct-tier guest for pcow NVDIMMs: every read it makes is
 * checked against the model in pcow-model.h (the bytes of each layer of a
 * raw <- pcow <- pcow <- image-with-2-snapshots chain, from seed=).
 * Driven by run-pcow-model and run-pcow-crash. Arguments: seed=N,
 * cpus=N (the --smp count), phase=:
 *   run     every CPU writes into the same 32 clusters at once (a barrier
 *           released by one broadcast IPI before each, so that vCPUs can
 *           meet in the fault that first-touches the same hole or copies
 *           the same snapshot or base cluster): page 0 of each by all of
 *           them (even clusters), or each its own page, CPU 0 first and
 *           the others as soon as it started (odd ones); in half the
 *           clusters half the CPUs read there first (write-protected
 *           copies); after each cluster a CPU reads its words back and
 *           samples the rest of the cluster (the data copied from below
 *           must be there, others' words old or new); then, after a
 *           barrier, phase 2; one flush
 *   verify  phase 2 only (a later vmm run on the image): each CPU reads
 *           every written word and samples of every cluster: all exact
 *   crash   one CPU, rounds=N (<= 64): write 16 words of one page, read
 *           them back, flush (the DIMM's flush hint), print "F r" once
 *           the flush returned ("X r: N bad" first if a read or the flush
 *           count was wrong); the host kills vmm at random points
 */
#include <libfdt.h>

#include "rt.h"
#include "pcow-model.h"


static volatile uint64_t *dev;
static volatile uint64_t *flush_page;
static uint64_t seed;
static int ncpu;

struct result {
	uint64_t reads[2], bad[2];
};
static struct result res[PM_MAX_CPUS];

struct mismatch {
	uint64_t off, got, want, alt;
	int cpu, phase;
};
#define NLOG 6
static struct mismatch mlog[NLOG];
static int nlog;

/* bar[0..2]: phases; bar[3 + c]: all CPUs at cluster c of phase 1 */
static volatile int bar[3 + PM_RUN_CL];
static volatile int bar_timeout;

#define WAKE_VECTOR 0x40
#define TICK_VECTOR 0x41

static void on_irq(struct rt_frame *f)
{
	(void)f;
}

/* The last CPU to arrive wakes the others with one broadcast IPI, so they
 * leave together (halted vCPUs do not compete for the host's CPUs the way
 * spinning ones would); a one-shot timer bounds each halt. */
static void barrier(int id)
{
	uint64_t t0 = rt_rdtsc();

	if (__atomic_add_fetch(&bar[id], 1, __ATOMIC_SEQ_CST) >= ncpu) {
		if (ncpu > 1)	/* fixed, all excluding self */
			rt_lapic_ipi(0, 0xc0000 | WAKE_VECTOR);
		return;
	}
	for (;;) {
		rt_cli();
		if (__atomic_load_n(&bar[id], __ATOMIC_SEQ_CST) >= ncpu || bar_timeout)
			break;
		if (!rt_within_ms(t0, 20000)) {
			bar_timeout = 1;
			break;
		}
		rt_lapic_timer(TICK_VECTOR, 1u << 20, false);
		__asm__ volatile("sti; hlt" ::: "memory");	/* sti's shadow covers hlt */
	}
}

static uint64_t rd(uint64_t off)
{
	return dev[off / 8];
}

static void wr(uint64_t off, uint64_t v)
{
	dev[off / 8] = v;
}

/* Read off and accept want (or alt, if alt != want). */
static void expect(int k, int phase, uint64_t off, uint64_t want, uint64_t alt)
{
	uint64_t got = rd(off);

	res[k].reads[phase]++;
	if (got == want || got == alt)
		return;
	res[k].bad[phase]++;
	int i = __atomic_fetch_add(&nlog, 1, __ATOMIC_SEQ_CST);
	if (i < NLOG)
		mlog[i] = (struct mismatch){ off, got, want, alt, k, phase };
}

/* What CPU k may read at off during phase 1, after (done) or before its
 * own writes to that cluster: exact where nobody else writes it. */
static void expect_phase1(int k, uint64_t off, bool done)
{
	uint64_t old = pm_start(seed, off), nv = pm_val(seed, PM_RUN, off);

	if (done && pm_run_writes(off, k))
		expect(k, 0, off, nv, nv);
	else if (pm_run_written(off, ncpu))
		expect(k, 0, off, old, nv);
	else
		expect(k, 0, off, old, old);
}

/* Odd clusters are led by CPU 0: it marks the start of its first store
 * there, and the others store into their own pages of the cluster as soon
 * as they see the mark, so that they fault on the cluster while CPU 0's
 * fault on it may still be held. */
static volatile int lead_go[PM_RUN_CL];

static void phase1(int k)
{
	for (uint64_t c = 0; c < PM_RUN_CL; c++) {
		uint64_t base = c * PM_CSIZE;
		uint64_t own = base + pm_run_page(c, k) * PM_PAGE + pm_run_word(c, k) * 8;
		uint64_t shared = base + (uint64_t)k * PM_RUN_SHARED * 8;

		/* in clusters with bit 1 set, half the CPUs read first (the
		 * page is then a write-protected copy); in the others every
		 * first store is a missing-page write fault */
		if (((c + (uint64_t)k) & 1) && (c & 2)) {
			expect_phase1(k, own, false);
			expect_phase1(k, shared, false);
		}
		/* all CPUs write the cluster at once: their first stores fault
		 * on the same page of it together */
		barrier(3 + (int)c);
		/* first stores: in even clusters all CPUs on page 0 (one page,
		 * one fault); in odd ones each on its own page, CPU 0 first
		 * and the others as soon as it started (several faults on
		 * one cluster: the later ones find it allocated) */
		if ((c & 1) && k == 0) {
			__atomic_store_n(&lead_go[c], 1, __ATOMIC_SEQ_CST);
			wr(own, pm_val(seed, PM_RUN, own));
		} else if (c & 1) {
			uint64_t t0 = rt_rdtsc();

			while (!__atomic_load_n(&lead_go[c], __ATOMIC_SEQ_CST) &&
			       rt_within_ms(t0, 2000))
				;
			wr(own, pm_val(seed, PM_RUN, own));
		}
		for (int i = 0; i < PM_RUN_SHARED; i++)
			wr(shared + i * 8, pm_val(seed, PM_RUN, shared + i * 8));
		for (int i = 0; i < PM_RUN_OWN; i++)
			wr(own + i * 8, pm_val(seed, PM_RUN, own + i * 8));
		for (int i = 0; i < PM_RUN_SHARED; i++)
			expect_phase1(k, shared + i * 8, true);
		for (int i = 0; i < PM_RUN_OWN; i++)
			expect_phase1(k, own + i * 8, true);
		for (uint64_t j = 0; j < 4; j++) {
			uint64_t w = pm_mix(seed ^ c << 8 ^ (uint64_t)k << 4 ^ j) % (PM_CSIZE / 8);

			expect_phase1(k, base + w * 8, true);
		}
	}
}

/* Everything exact: the run is complete. */
static void phase2(int k)
{
	for (uint64_t c = (uint64_t)k; c < PM_NCL; c += (uint64_t)ncpu) {
		uint64_t base = c * PM_CSIZE;
		int samples = c < PM_IMG_CL ? 8 : 2;

		if (c < PM_RUN_CL)
			for (int k2 = 0; k2 < ncpu; k2++) {
				uint64_t own = base + pm_run_page(c, k2) * PM_PAGE +
					       pm_run_word(c, k2) * 8;
				uint64_t shared = base + (uint64_t)k2 * PM_RUN_SHARED * 8;

				for (int i = 0; i < PM_RUN_SHARED; i++) {
					uint64_t o = shared + i * 8, v = pm_final(seed, ncpu, o);

					expect(k, 1, o, v, v);
				}
				for (int i = 0; i < PM_RUN_OWN; i++) {
					uint64_t o = own + i * 8, v = pm_final(seed, ncpu, o);

					expect(k, 1, o, v, v);
				}
			}
		for (int j = 0; j < samples; j++) {
			uint64_t o = base + pm_mix(seed ^ c << 20 ^ 0x5a5a ^ (uint64_t)j) %
					    (PM_CSIZE / 8) * 8;
			uint64_t v = pm_final(seed, ncpu, o);

			expect(k, 1, o, v, v);
		}
	}
}

static volatile bool verify_only;

static void worker(int k)
{
	if (k >= ncpu)
		return;
	barrier(0);
	if (!verify_only) {
		phase1(k);
		barrier(1);
	}
	phase2(k);
	barrier(2);
}

static void flush(void)
{
	__asm__ volatile("sfence" ::: "memory");
	flush_page[0] = 1;
}

static bool find_dimm(void)
{
	const void *fdt = rt_fdt();
	const fdt64_t *reg, *fh;
	int node, len;
	uint64_t base;

	if (!fdt)
		return false;
	node = fdt_path_offset(fdt, "/pmvm/nvdimm@0");
	if (node < 0)
		return false;
	reg = fdt_getprop(fdt, node, "reg", &len);
	if (!reg || len != 16 || fdt64_to_cpu(reg[1]) != PM_SIZE)
		return false;
	fh = fdt_getprop(fdt, node, "flush-hint", &len);
	if (!fh || len != 8)
		return false;
	base = fdt64_to_cpu(reg[0]);
	if (base % (1ULL << 30) || (base >> 30) >= 512)
		return false;
	if (!rt_map_range(base, 1ULL << 30))	/* the GiB holding the DIMM */
		return false;
	dev = (volatile uint64_t *)(uintptr_t)base;
	flush_page = (volatile uint64_t *)(uintptr_t)fdt64_to_cpu(fh[0]);
	return true;
}

static void report(int phase, const char *what)
{
	uint64_t reads = 0, bad = 0;

	for (int k = 0; k < ncpu; k++) {
		reads += res[k].reads[phase];
		bad += res[k].bad[phase];
		rt_diag("cpu %d: %lu reads, %lu bad", k, (unsigned long)res[k].reads[phase],
			(unsigned long)res[k].bad[phase]);
	}
	rt_ok(bad == 0 && !bar_timeout && reads > 0, "%s: %lu reads, all as the model says "
	      "(%lu bad)", what, (unsigned long)reads, (unsigned long)bad);
}

static void crash(void)
{
	long rounds = rt_arg_int("rounds", 48);
	uint64_t bad = 0;

	if (rounds < 1 || rounds > PM_IMG_CL)
		rounds = PM_IMG_CL;
	for (unsigned r = 0; r < (unsigned)rounds; r++) {
		uint64_t off = pm_crash_off(r), b0 = bad;

		if (r & 1)	/* read first: a write-protected copy */
			bad += rd(off) != pm_start(seed, off);
		for (unsigned i = 0; i < PM_CRASH_WORDS; i++)
			wr(off + i * 8, pm_val(seed, PM_CRASH, off + i * 8));
		for (unsigned i = 0; i < PM_CRASH_WORDS; i++)
			bad += rd(off + i * 8) != pm_val(seed, PM_CRASH, off + i * 8);
		flush();
		bad += flush_page[1] != r + 1;	/* +8: the vmm's flush count */
		if (bad != b0)	/* the host fails a run with such a line */
			rt_printf("X %u: %lu bad\n", r, (unsigned long)(bad - b0));
		rt_printf("F %u\n", r);
	}
	rt_ok(bad == 0, "%ld rounds written, read back and flushed (%lu bad)", rounds,
	      (unsigned long)bad);
}

void rt_main(void)
{
	char phase[16] = "";
	int started;

	seed = (uint64_t)rt_arg_int("seed", 1);
	ncpu = (int)rt_arg_int("cpus", 1);
	rt_arg("phase", phase, sizeof(phase));
	verify_only = !strcmp(phase, "verify");
	rt_plan(!strcmp(phase, "crash") ? 2 : !strcmp(phase, "run") ? 6 : 5);

	rt_ok(find_dimm(), "DIMM 0: 16M in the FDT, mapped, with a flush hint");
	if (!dev)
		rt_done();
	if (!strcmp(phase, "crash")) {
		crash();
		rt_done();
	}
	if (ncpu < 1 || ncpu > PM_MAX_CPUS)
		ncpu = 1;
	rt_irq_set(WAKE_VECTOR, on_irq);
	rt_irq_set(TICK_VECTOR, on_irq);
	started = ncpu > 1 ? rt_smp_start(worker, 1000) : 0;
	rt_ok(started == ncpu - 1, "%d of %d APs started", started, ncpu - 1);
	if (started != ncpu - 1)
		rt_done();
	worker(0);
	if (!verify_only) {
		report(0, "phase 1 (all CPUs writing and reading the same clusters)");
	}
	report(1, "phase 2 (after a barrier: every written word, samples everywhere)");
	for (int i = 0; i < nlog && i < NLOG; i++)
		rt_diag("cpu %d phase %d: offset 0x%lx read 0x%016lx, model 0x%016lx "
			"(or 0x%016lx), top layer %d", mlog[i].cpu, mlog[i].phase + 1,
			(unsigned long)mlog[i].off, (unsigned long)mlog[i].got,
			(unsigned long)mlog[i].want, (unsigned long)mlog[i].alt,
			pm_top(mlog[i].off));
	flush();
	rt_ok(flush_page[1] == 1, "flushed (the vmm counted %lu)", (unsigned long)flush_page[1]);
	rt_ok(!bar_timeout, "every CPU reached every barrier");
}
