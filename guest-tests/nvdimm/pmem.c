/*
 * pmem - direct-tier NVDIMM guest. It finds the NVDIMMs the way an OS
 * does, by parsing the NFIT (SPA ranges, region mappings, flush hints),
 * checks them against the vmm's FDT (/pmvm/nvdimm@N), maps the ranges
 * (above 4 GiB, so it extends the runtime's identity page tables) and then,
 * depending on phase=:
 *   write     fill every DIMM with a pattern derived from seed=, then write
 *             each DIMM's flush hint flushes= times; the flush counter the
 *             vmm exposes (flush page +8) must match
 *   verify    the pattern is there (a second vmm run on the same files),
 *             then one flush per DIMM
 *   readonly  the pattern is there, guest stores to the DIMM are dropped
 *   hostile   malformed DSM requests through the shared page and the port:
 *             every one gets an error status, the label area bounds hold,
 *             and the vmm keeps answering
 *   bench     streaming write/read bandwidth (TSC cycles) and flush cost
 *   labels    DIMM 0's label area through the DSM: its size is lkib= KiB
 *             (default 128); with lwrite, fill it with a pattern derived
 *             from lseed= (Set Config Data, 4064 bytes a call); then read
 *             it all back (Get Config Data) and its first bytes through the
 *             _LSR channel, and check the pattern (a later vmm run on the
 *             same image reads it back without lwrite); lbytes=N limits
 *             the pattern of lseed= to the first N bytes, the rest holds
 *             lrest='s (written earlier); lcheck=N reads back only the first
 *             N bytes (each guest access to the DSM page is slow on some
 *             hosts)
 * Other arguments: dimms=N (expected count), sparse (touch only the first
 * and last touch=KiB (default 64) of each DIMM), kib=N (bench size, default 1024),
 * hold=MS (stay alive that long before exiting, to overlap two vmms),
 * prefault (write phase: read every touched word before writing it, so a
 * pcow image sees read faults, then write-protect faults), zeros=KiB (one
 * more check: that many KiB of DIMM 0 read 0, from the first 64 KiB
 * boundary after the first touched window).
 * The flush page layout and DSM protocol are in docs/nvdimm.md.
 */
#include <libfdt.h>

#include "rt.h"

#define MAX_DIMMS 64
#define DSM_PAGE  0xd8000000ULL
#define DSM_PORT  0x0a18

static const uint8_t pm_guid[16] = {
	0x79, 0xd3, 0xf0, 0x66, 0xf3, 0xb4, 0x74, 0x40,
	0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7, 0x8c, 0xdb,
};

struct dimm {
	uint32_t handle;
	uint16_t spa_index;
	uint64_t base, size, flush;
	uint16_t flags;
};

static struct dimm dimms[MAX_DIMMS];
static int ndimms;

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* Returns false if the NFIT is malformed. */
static bool parse_nfit(const struct acpi_sdt *t)
{
	const uint8_t *p = (const uint8_t *)t + 40, *end = (const uint8_t *)t + t->length;
	struct { uint16_t idx; uint64_t base, size; } spa[MAX_DIMMS];
	int nspa = 0;
	struct { uint32_t handle; uint64_t addr; } fl[MAX_DIMMS];
	int nfl = 0;

	while (p + 4 <= end) {
		uint16_t type = rd16(p), len = rd16(p + 2);

		if (len < 4 || p + len > end)
			return false;
		if (type == 0 && len == 56 && !memcmp(p + 16, pm_guid, 16) && nspa < MAX_DIMMS) {
			spa[nspa].idx = rd16(p + 4);
			spa[nspa].base = rd64(p + 32);
			spa[nspa].size = rd64(p + 40);
			nspa++;
		} else if (type == 1 && len == 48 && ndimms < MAX_DIMMS) {
			dimms[ndimms].handle = rd32(p + 4);
			dimms[ndimms].spa_index = rd16(p + 12);
			dimms[ndimms].flags = rd16(p + 44);
			ndimms++;
		} else if (type == 6 && len >= 24 && rd16(p + 8) >= 1 && nfl < MAX_DIMMS) {
			fl[nfl].handle = rd32(p + 4);
			fl[nfl].addr = rd64(p + 16);
			nfl++;
		}
		p += len;
	}
	for (int i = 0; i < ndimms; i++) {
		for (int j = 0; j < nspa; j++)
			if (spa[j].idx == dimms[i].spa_index) {
				dimms[i].base = spa[j].base;
				dimms[i].size = spa[j].size;
			}
		for (int j = 0; j < nfl; j++)
			if (fl[j].handle == dimms[i].handle)
				dimms[i].flush = fl[j].addr;
		if (!dimms[i].size || !dimms[i].flush)
			return false;
	}
	return nspa == ndimms && nfl == ndimms;
}

static bool fdt_agrees(void)
{
	const void *fdt = rt_fdt();

	for (int i = 0; i < ndimms; i++) {
		char path[32];
		const fdt64_t *reg, *fh;
		int node, len;

		rt_snprintf(path, sizeof(path), "/pmvm/nvdimm@%x", i);
		node = fdt_path_offset(fdt, path);
		if (node < 0)
			return false;
		reg = fdt_getprop(fdt, node, "reg", &len);
		if (!reg || len != 16 || fdt64_to_cpu(reg[0]) != dimms[i].base ||
		    fdt64_to_cpu(reg[1]) != dimms[i].size)
			return false;
		fh = fdt_getprop(fdt, node, "flush-hint", &len);
		if (!fh || len != 8 || fdt64_to_cpu(fh[0]) != dimms[i].flush)
			return false;
	}
	return true;
}

static inline uint64_t pattern(uint64_t seed, int dimm, uint64_t off)
{
	uint64_t x = seed ^ ((uint64_t)dimm << 56) ^ off;

	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

/* Offsets this run touches: everything, or (sparse) touch= KiB (default
 * 64) at each end. */
static uint64_t window = 65536;

static bool touched(const struct dimm *d, bool sparse, uint64_t off)
{
	return !sparse || off < window || off >= d->size - window;
}

static uint64_t next_off(const struct dimm *d, bool sparse, uint64_t off)
{
	off += 8;
	if (sparse && off == window && d->size > 2 * window)
		off = d->size - window;
	return off;
}

static void fill(int i, uint64_t seed, bool sparse)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)dimms[i].base;

	for (uint64_t off = 0; off < dimms[i].size; off = next_off(&dimms[i], sparse, off))
		p[off / 8] = pattern(seed, i, off);
}

static uint64_t check(int i, uint64_t seed, bool sparse)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)dimms[i].base;
	uint64_t bad = 0;

	for (uint64_t off = 0; off < dimms[i].size; off = next_off(&dimms[i], sparse, off))
		if (touched(&dimms[i], sparse, off) && p[off / 8] != pattern(seed, i, off))
			bad++;
	return bad;
}

static void flush(int i)
{
	__asm__ volatile("sfence" ::: "memory");
	*(volatile uint64_t *)(uintptr_t)dimms[i].flush = 1;
}

static uint64_t flush_reg(int i, unsigned off)
{
	return *(volatile uint64_t *)(uintptr_t)(dimms[i].flush + off);
}

/* ---- DSM page ------------------------------------------------------------- */

static volatile uint8_t *const page = (volatile uint8_t *)(uintptr_t)DSM_PAGE;

static void wr32(unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(page + off) = v;
}

static uint32_t pg32(unsigned off)
{
	return *(volatile uint32_t *)(page + off);
}

/* One request: returns the status word (or 0xdeadbeef if no reply). */
static uint32_t dsm(uint32_t handle, uint32_t rev, uint32_t fn, uint32_t inlen,
		    uint32_t off, uint32_t len)
{
	wr32(0, handle);
	wr32(4, rev);
	wr32(8, fn);
	wr32(12, inlen);
	wr32(16, off);
	wr32(20, len);
	outl(DSM_PORT, (uint32_t)DSM_PAGE);
	if (pg32(0) < 4 || pg32(0) > 4092)
		return 0xdeadbeef;
	return pg32(4);
}

static void hostile(void)
{
	uint64_t errors0 = flush_reg(0, 0x18), calls0 = flush_reg(0, 0x10);
	uint32_t st;
	int nerr = 0, ncalls = 0;

	/* A valid label size query first. */
	st = dsm(1, 1, 4, 0, 0, 0); ncalls++;
	rt_ok(st == 0 && pg32(0) == 12 && pg32(8) == 128 * 1024 && pg32(12) > 0,
	      "DSM get label size: status %u, size %u, max transfer %u", st, pg32(8), pg32(12));
	/* Label write then read through the page (function 6 then 5). */
	wr32(24, 0x4c424c50); /* "PLBL" */
	st = dsm(1, 1, 6, 12, 128 * 1024 - 4, 4); ncalls++;
	rt_ok(st == 0, "DSM set label data at the last 4 bytes: status %u", st);
	st = dsm(1, 1, 5, 8, 128 * 1024 - 4, 4); ncalls++;
	rt_ok(st == 0 && pg32(0) == 8 && pg32(8) == 0x4c424c50,
	      "DSM get label data reads it back");

	static const struct { uint32_t h, rev, fn, inlen, off, len, want; const char *what; } bad[] = {
		{ 9, 1, 5, 8, 0, 4, 2, "no such DIMM handle" },
		{ 0xffffffff, 1, 6, 12, 0, 4, 2, "handle 0xffffffff" },
		{ 1, 1, 5, 8, 128 * 1024, 1, 3, "read one byte past the label area" },
		{ 1, 1, 5, 8, 0xffffffff, 2, 3, "read at offset 0xffffffff (wraps)" },
		{ 1, 1, 5, 8, 0, 0xffffffff, 3, "read length 0xffffffff" },
		{ 1, 1, 5, 8, 0, 4093, 3, "read longer than a page" },
		{ 1, 1, 6, 12, 128 * 1024 - 2, 4, 3, "write straddling the end" },
		{ 1, 1, 6, 12, 0xfffffffc, 8, 3, "write at 0xfffffffc" },
		{ 1, 1, 6, 12, 0, 64, 3, "write longer than the data sent" },
		{ 1, 1, 6, 0xffffffff, 0, 4, 3, "input length 0xffffffff" },
		{ 1, 1, 5, 4, 0, 4, 3, "input shorter than offset+length" },
		{ 1, 2, 5, 8, 0, 4, 1, "unsupported revision" },
		{ 1, 1, 3, 0, 0, 0, 1, "unsupported function 3" },
		{ 1, 1, 0x80000000u, 0, 0, 0, 1, "function 0x80000000" },
		{ 0, 1, 2, 0, 0, 0, 2, "root function 2 (Start ARS) without its input" },
		{ 0, 1, 5, 0, 0, 0, 1, "root function 5 (not implemented)" },
		{ 0, 2, 3, 0, 0, 0, 1, "root function 3, revision 2" },
		{ 1, 1, 0x1005, 8, 200000, 4, 1, "_LSR beyond the area (ACPI status 1)" },
		{ 1, 1, 0x1006, 12, 0, 8, 1, "_LSW with too little data (ACPI status 1)" },
	};
	int bad_ok = 0;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		st = dsm(bad[i].h, bad[i].rev, bad[i].fn, bad[i].inlen, bad[i].off, bad[i].len);
		ncalls++;
		nerr++;
		if (st == bad[i].want)
			bad_ok++;
		else
			rt_diag("%s: status %u, expected %u", bad[i].what, st, bad[i].want);
	}
	rt_ok(bad_ok == (int)(sizeof(bad) / sizeof(bad[0])),
	      "%d malformed DSM requests all got their error status", bad_ok);

	/* Trigger writes the vmm must ignore: page outside guest memory,
	 * crossing the end of the DSM page's slot, wrong widths. */
	wr32(0, 0x11111111);
	outl(DSM_PORT, 0xfffff000u); ncalls++; nerr++;
	outl(DSM_PORT, (uint32_t)DSM_PAGE + 0x800); ncalls++; nerr++;
	outb(DSM_PORT, 0x12);
	__asm__ volatile("outw %0, %1" ::"a"((uint16_t)0x3456), "Nd"((uint16_t)DSM_PORT));
	rt_ok(pg32(0) == 0x11111111, "bad page addresses and odd widths leave the page alone");

	/* Label bounds held: the last 4 bytes are still ours. */
	st = dsm(1, 1, 5, 8, 128 * 1024 - 4, 4); ncalls++;
	rt_ok(st == 0 && pg32(8) == 0x4c424c50, "label data intact, vmm still answers");
	rt_ok(flush_reg(0, 0x10) - calls0 == (uint64_t)ncalls &&
	      flush_reg(0, 0x18) - errors0 == (uint64_t)nerr,
	      "vmm counted %lu calls, %lu errors (expected %d, %d)",
	      (unsigned long)(flush_reg(0, 0x10) - calls0),
	      (unsigned long)(flush_reg(0, 0x18) - errors0), ncalls, nerr);
}

/* ---- labels --------------------------------------------------------------- */

static uint32_t lbytes;		/* lbytes=: bytes of lseed=, then lrest= */
static uint64_t lrest;

static uint8_t label_byte(uint64_t seed, uint32_t i)
{
	if (i >= lbytes)
		seed = lrest;
	return (uint8_t)(i * 131u + (uint32_t)seed * 7u + (i >> 8) + (i >> 16) * 3u);
}

static void copy_rep(void *d, const void *s, uint64_t n);

/* The DSM page sits in the 32-bit hole, where each guest access is slow
 * (~150 us on a kvm_pvm host): data moves between it and lbuf 8 bytes at
 * a time (rep movsq), and is made and checked in lbuf. */
static void labels(void)
{
	static uint8_t lbuf[4096] __attribute__((aligned(8)));
	uint64_t seed = (uint64_t)rt_arg_int("lseed", 1);
	uint32_t size = (uint32_t)rt_arg_int("lkib", 128) << 10, st, chunk = 0, bad = 0;
	int calls = 0, errs = 0;

	uint32_t lcheck = (uint32_t)rt_arg_int("lcheck", (long)size);

	lbytes = (uint32_t)rt_arg_int("lbytes", (long)size);
	lrest = (uint64_t)rt_arg_int("lrest", 0);
	st = dsm(1, 1, 4, 0, 0, 0);
	if (st == 0)
		chunk = pg32(12);
	rt_ok(st == 0 && pg32(8) == size && chunk >= 256 && chunk <= 4064,
	      "DSM label size %u (expected %u), max transfer %u", pg32(8), size, chunk);
	if (!chunk)
		chunk = 4064;
	if (rt_has_arg("lwrite")) {
		for (uint32_t off = 0; off < size && off < lbytes; off += chunk) {
			uint32_t len = size - off < chunk ? size - off : chunk;
			if (len > lbytes - off)
				len = lbytes - off;
			for (uint32_t k = 0; k < len; k++)
				lbuf[k] = label_byte(seed, off + k);
			copy_rep((void *)(page + 24), lbuf, (len + 7) / 8);
			st = dsm(1, 1, 6, 8 + len, off, len);
			calls++;
			if (st)
				errs++;
		}
		rt_ok(errs == 0, "wrote the %u-byte label area in %d calls (%d errors)", size,
		      calls, errs);
	} else {
		rt_ok(true, "no label write in this run");
	}
	for (uint32_t off = 0; off < size && off < lcheck; off += chunk) {
		uint32_t len = size - off < chunk ? size - off : chunk;
		st = dsm(1, 1, 5, 8, off, len);
		if (st || pg32(0) != 4 + len) {
			bad += len;
			continue;
		}
		copy_rep(lbuf, (const void *)(page + 8), (len + 7) / 8);
		for (uint32_t k = 0; k < len; k++)
			if (lbuf[k] != label_byte(seed, off + k))
				bad++;
	}
	rt_ok(bad == 0, "Get Config Data reads the pattern of lseed=%lu in the first %u "
	      "bytes (%u bad)", (unsigned long)seed, lcheck < size ? lcheck : size, bad);
	st = dsm(1, 1, 0x1005, 8, 0, 256);
	bad = st || pg32(0) != 4 + 256;
	copy_rep(lbuf, (const void *)(page + 8), 256 / 8);
	for (uint32_t k = 0; !bad && k < 256; k++)
		if (lbuf[k] != label_byte(seed, k))
			bad++;
	rt_ok(bad == 0, "_LSR reads the same first 256 bytes (status %u)", st);
}

/* ---- bench ------------------------------------------------------------------ */

static void copy_rep(void *d, const void *s, uint64_t n)
{
	__asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

/* Guest RAM from 64 MiB up is free (the image and its .bss sit near
 * 1 MiB); the vmm must give --memory >= 64M + kib=. */
#define BENCH_BUF ((uint8_t *)(uintptr_t)(64ULL << 20))

static void bench(long kib)
{
	uint64_t n = (uint64_t)kib << 10, best_w = ~0ULL, best_r = ~0ULL, t;
	void *pm = (void *)(uintptr_t)dimms[0].base;

	uint8_t *bench_buf = BENCH_BUF;

	if (n == 0 || (64ULL << 20) + n > 3ULL << 30 || n > dimms[0].size) {
		rt_ok(false, "bench size %ld KiB fits in RAM and the DIMM", kib);
		return;
	}
	memset(bench_buf, 0x5a, n);
	copy_rep(pm, bench_buf, n / 8);  /* warm: fault everything in */
	copy_rep(bench_buf, pm, n / 8);
	for (int r = 0; r < 5; r++) {
		t = rt_rdtsc();
		copy_rep(pm, bench_buf, n / 8);
		t = rt_rdtsc() - t;
		if (t < best_w)
			best_w = t;
		t = rt_rdtsc();
		copy_rep(bench_buf, pm, n / 8);
		t = rt_rdtsc() - t;
		if (t < best_r)
			best_r = t;
	}
	rt_printf("BENCH bytes=%lu write_cycles=%lu read_cycles=%lu\n", (unsigned long)n,
		  (unsigned long)best_w, (unsigned long)best_r);
	/* Flush cost: dirty one page, flush; best and total over 200. */
	uint64_t total = 0, best = ~0ULL;
	for (int r = 0; r < 200; r++) {
		((volatile uint64_t *)pm)[(r * 512) % (n / 8)] = (uint64_t)r;
		t = rt_rdtsc();
		flush(0);
		t = rt_rdtsc() - t;
		total += t;
		if (t < best)
			best = t;
	}
	rt_printf("BENCH flushes=200 flush_cycles_total=%lu flush_cycles_best=%lu\n",
		  (unsigned long)total, (unsigned long)best);
	rt_ok(true, "bench ran");
}

/* ---- phase=ras: ARS, Clear Uncorrectable Error, machine checks ----------- */

#define MSR_MCG_CAP    0x179
#define MSR_MCG_STATUS 0x17a
#define MSR_MCG_CTL    0x17b
#define MC_BANK        9
#define MSR_MC_CTL     (0x400 + 4 * MC_BANK)
#define MSR_MC_STATUS  (MSR_MC_CTL + 1)
#define MSR_MC_ADDR    (MSR_MC_CTL + 2)

static volatile int mc_hits;
static uint64_t mc_status, mc_addr, mcg_status;
extern char mc_load[], mc_fixup[];

/* One 8-byte load at a known address, so the #MC handler can tell it is
 * the faulting instruction (RIP not advanced: EIPV) and skip it. */
__attribute__((noinline)) static uint64_t probe(uint64_t addr)
{
	uint64_t v;

	__asm__ volatile(".globl mc_load, mc_fixup\nmc_load: movq (%1), %0\nmc_fixup:"
			 : "=a"(v) : "r"(addr) : "memory");
	return v;
}

static bool on_mc(struct rt_frame *f)
{
	if (f->rip != (uint64_t)(uintptr_t)mc_load)
		return false;
	mc_hits++;
	mcg_status = rt_rdmsr(MSR_MCG_STATUS);
	mc_status = rt_rdmsr(MSR_MC_STATUS);
	mc_addr = rt_rdmsr(MSR_MC_ADDR);
	rt_wrmsr(MSR_MC_STATUS, 0);
	rt_wrmsr(MSR_MCG_STATUS, 0);
	f->rax = 0xbadbadbadULL;
	f->rip = (uint64_t)(uintptr_t)mc_fixup;
	return true;
}

/* A read that must (want_mc) or must not raise a machine check. */
static bool probe_mc(uint64_t addr, bool want_mc, uint64_t *val)
{
	int before = mc_hits;
	uint64_t v = probe(addr);

	if (val)
		*val = v;
	if (!want_mc)
		return mc_hits == before;
	return mc_hits == before + 1 && (mc_status >> 63) && (mc_status & (1ULL << 61)) &&
	       (mc_status & (1ULL << 55)) && (mc_status & (1ULL << 58)) &&
	       mc_addr == (addr & ~0xfffULL) && (mcg_status & 2);
}

/* A root _DSM call through the page: input bytes in, output at page + 4. */
static uint32_t root(uint32_t rev, uint32_t fn, const void *in, uint32_t inlen)
{
	wr32(0, 0);
	wr32(4, rev);
	wr32(8, fn);
	wr32(12, inlen);
	for (uint32_t i = 0; i < inlen; i++)
		page[16 + i] = ((const uint8_t *)in)[i];
	outl(DSM_PORT, (uint32_t)DSM_PAGE);
	return pg32(0) >= 4 ? pg32(4) : 0xdeadbeef;
}

static uint64_t pg64(unsigned off) { return pg32(off) | (uint64_t)pg32(off + 4) << 32; }

static uint32_t range_call(uint32_t fn, uint64_t addr, uint64_t len, uint16_t type)
{
	uint8_t in[24] = { 0 };

	memcpy(in, &addr, 8);
	memcpy(in + 8, &len, 8);
	memcpy(in + 16, &type, 2);
	return root(1, fn, in, fn == 2 ? 24 : 16);
}

/* Start ARS over DIMM 0 and query: the number of records (or -1). */
static int scrub_dimm(int d)
{
	if (range_call(2, dimms[d].base, dimms[d].size, 2) != 0)
		return -1;
	if (root(1, 3, NULL, 0) != 0)
		return -1;
	return (int)pg32(4 + 44);
}

static int scrub(void)
{
	if (range_call(2, dimms[0].base, dimms[0].size, 2) != 0)
		return -1;
	if (root(1, 3, NULL, 0) != 0)
		return -1;
	return (int)pg32(4 + 44);
}

static bool record_is(int i, uint64_t addr, uint64_t len)
{
	unsigned r = 4 + 48 + 24 * (unsigned)i;

	return pg32(r) == dimms[0].handle && pg64(r + 8) == addr && pg64(r + 16) == len;
}

/* Machine checks as Linux enables them at boot: CR4.MCE, every bank of
 * MCG_CTL (when present) and our bank's MCi_CTL; #MC goes to on_mc. */
static void mc_enable(void)
{
	uint64_t cr4;

	rt_exc_set(18, on_mc);
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= 1u << 6;
	__asm__ volatile("mov %0, %%cr4" :: "r"(cr4));
	if (rt_rdmsr(MSR_MCG_CAP) & (1u << 8))
		rt_wrmsr(MSR_MCG_CTL, ~0ULL);
	rt_wrmsr(MSR_MC_CTL, ~0ULL);
}

static void ras(void)
{
	uint64_t base = dimms[0].base, cap, v = 0;
	uint32_t st;
	long bad1 = rt_arg_int("bad1", 0x100000), bad2 = rt_arg_int("bad2", 0x200800);
	bool ok, hit;

	root(1, 0, NULL, 0);
	rt_ok(pg32(0) == 1 && page[4] == 0x1f,
	      "root _DSM function 0 (through the page): functions 0-4");
	st = range_call(1, base, dimms[0].size, 0);
	rt_ok(st == 2u << 16 && pg32(0) == 16 && pg32(8) == 4080 && pg32(12) == 512,
	      "Query ARS Capabilities: persistent scrub, max output 4080, clear unit 512 "
	      "(status 0x%x)", st);
	st = root(1, 3, NULL, 0);
	rt_ok(st == 2u << 16 && pg32(8) == 44, "Query ARS Status before a scrub: none "
	      "performed (status 0x%x)", st);
	rt_ok(scrub() == 2 && record_is(0, base + (uint64_t)bad1, 4096) &&
	      record_is(1, base + (uint64_t)bad2, 2048),
	      "Start ARS + Query ARS Status: the two recorded ranges (%u records)", pg32(48));

	/* Machine checks: CR4.MCE, the bank enabled, as Linux does at boot. */
	cap = rt_rdmsr(MSR_MCG_CAP);
	rt_ok((cap & 0xff) > MC_BANK, "MCG_CAP 0x%lx: %lu banks", (unsigned long)cap,
	      (unsigned long)(cap & 0xff));
	mc_enable();

	hit = probe_mc(base + (uint64_t)bad1 + 64, true, NULL);
	rt_ok(hit, "a read of a bad range: #MC, MCi_STATUS 0x%lx (VAL UC AR ADDRV), "
	      "MCi_ADDR 0x%lx, EIPV", (unsigned long)mc_status, (unsigned long)mc_addr);
	rt_ok(probe_mc(base + (uint64_t)bad2 - 8, false, &v) &&
	      v == (uint64_t)rt_arg_int("mark", 0),
	      "the good half of a partly bad page reads through (0x%lx)", (unsigned long)v);
	rt_ok(probe_mc(base + (uint64_t)bad2, true, NULL), "its bad half: #MC");
	{
		uint64_t exits = flush_reg(0, 0x20);

		rt_ok(probe_mc(base + 0x300000, false, NULL) && flush_reg(0, 0x20) == exits,
		      "a good page after the last bad one: no #MC, no exit to the vmm (it "
		      "is in a memslot)");
	}

	st = range_call(4, base + (uint64_t)bad1, 4096, 0);
	rt_ok(st == 0 && pg32(0) == 16 && pg64(12) == 4096,
	      "Clear Uncorrectable Error of the first range: cleared %lu",
	      (unsigned long)pg64(12));
	rt_ok(scrub() == 1 && record_is(0, base + (uint64_t)bad2, 2048),
	      "ARS now reports only the second range");
	ok = probe_mc(base + (uint64_t)bad1 + 64, false, &v) && v == 0;
	*(volatile uint64_t *)(uintptr_t)(base + (uint64_t)bad1) = 0x5241535241535241ULL;
	rt_ok(ok && probe_mc(base + (uint64_t)bad1, false, &v) && v == 0x5241535241535241ULL,
	      "the cleared range reads zeros, then what is written");
	{
		/* The vmm puts the cleared page back into the memslots on its
		 * main thread, soon after the clear. */
		uint64_t exits = 0, t = rt_rdtsc();
		bool direct = false;

		while (!direct && rt_rdtsc() - t < 20000000000ULL) {
			exits = flush_reg(0, 0x20);
			probe(base + (uint64_t)bad1);
			direct = flush_reg(0, 0x20) == exits;
		}
		rt_ok(direct, "the cleared page is mapped again: reads no longer exit");
	}

	/* Hostile inputs: errors, never a crash. */
	{
		static const struct { uint32_t fn; uint64_t a, l; uint32_t want; const char *what; } h[] = {
			{ 1, 0, 4096, 2, "cap outside the DIMMs" },
			{ 2, 0, 0, 2, "start of length 0" },
			{ 2, ~0ULL - 4095, 8192, 2, "start wrapping around" },
			{ 4, 512, 512, 2, "clear outside" },
			{ 4, 1, 512, 2, "clear unaligned" },
			{ 4, ~0ULL - 511, 1024, 2, "clear wrapping around" },
			{ 7, 0, 0, 1, "function 7" },
		};
		int nbad = 0;

		for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
			uint64_t a = h[i].a;

			if (h[i].fn == 4 && h[i].a == 1)
				a = base + 1;
			st = range_call(h[i].fn, a, h[i].l, 2);
			if ((st & 0xffff) != h[i].want) {
				rt_diag("%s: status 0x%x, want %u", h[i].what, st, h[i].want);
				nbad++;
			}
		}
		st = root(1, 1, "short", 5);
		nbad += (st & 0xffff) != 2;
		st = root(2, 3, NULL, 0);
		nbad += (st & 0xffff) != 1;
		st = range_call(2, base, dimms[0].size, 1); /* volatile only */
		nbad += (st & 0xffff) != 2;
		rt_ok(nbad == 0, "malformed ARS requests get status 2 (invalid) or 1");
	}
}

static void ras_wait(void)
{
	uint64_t base = dimms[0].base;
	long off = rt_arg_int("bad1", 0x100000);
	int n = -1;

	mc_enable();
	if (rt_has_arg("already"))  /* a restart: the record came from the sidecar */
		rt_ok(probe_mc(base + (uint64_t)off, true, NULL), "recorded before the start: #MC");
	else
		rt_ok(probe_mc(base + (uint64_t)off, false, NULL), "before the injection: no #MC");
	rt_printf("# holding: inject now\n");
	for (int i = 0; i < 2000 && n <= 0; i++) {
		n = scrub();
		for (volatile int k = 0; k < 100000 && n <= 0; k++)
			;
	}
	rt_ok(n == 1 && record_is(0, base + (uint64_t)off, 4096),
	      "the injected range appears in ARS");
	bool hit = probe_mc(base + (uint64_t)off + 8, true, NULL);

	rt_ok(hit, "a read of it: #MC at 0x%lx", (unsigned long)mc_addr);
}

/* phase=ras-trunc: the host shrinks the backing file to bad1 bytes while
 * the guest runs, then injects an error at 8 MiB through the control
 * socket as its "done" signal (the guest polls ARS for it; in the second
 * DIMM when there are two, so DIMM 0's memslot stays whole); a read past the
 * new end is a machine check, and ARS lists the whole lost tail. */
static void ras_trunc(void)
{
	uint64_t base = dimms[0].base;
	long off = rt_arg_int("bad1", 0x100000);
	int n = 0, sig = ndimms > 1 ? 1 : 0;

	mc_enable();
	rt_ok(probe_mc(base + (uint64_t)off, false, NULL), "before the truncation: no #MC");
	rt_printf("# holding: truncate now\n");
	for (int i = 0; i < 2000 && n <= 0; i++) {
		n = scrub_dimm(sig);
		for (volatile int k = 0; k < 100000 && n <= 0; k++)
			;
	}
	rt_ok(n == 1 && pg64(4 + 48 + 8) == dimms[sig].base + (8 << 20), "the host's signal "
	      "(an injected error at 8M of DIMM %d) after the truncation", sig);
	rt_ok(probe_mc(base + (uint64_t)off + 8, true, NULL),
	      "a read past the new end of the file: #MC at 0x%lx", (unsigned long)mc_addr);
	rt_ok(scrub() == 1 && record_is(0, base + (uint64_t)off, dimms[0].size - (uint64_t)off),
	      "ARS lists the lost tail");
	/* The label area went with the tail: the vmm's own read of it hits
	 * SIGBUS, which must become an error status, not a vmm crash. */
	rt_ok(dsm(1, 1, 5, 8, 0, 16) == 4, "a label read from the lost area: status 4 "
	      "(hardware error)");
}

void rt_main(void)
{
	char phase[16] = "";
	long want = rt_arg_int("dimms", 1), flushes = rt_arg_int("flushes", 1);
	uint64_t seed = (uint64_t)rt_arg_int("seed", 1);
	bool sparse = rt_has_arg("sparse");
	long zeros_kib = rt_arg_int("zeros", 0);
	const struct acpi_sdt *nfit = rt_acpi_find("NFIT");
	bool ok;

	rt_arg("phase", phase, sizeof(phase));
	if (rt_arg_int("touch", 64) > 0 && rt_arg_int("touch", 64) <= 8192)
		window = (uint64_t)rt_arg_int("touch", 64) << 10;
	if (!strcmp(phase, "hostile"))
		rt_plan(11);
	else if (!strcmp(phase, "ras"))
		rt_plan(4 + 14);
	else if (!strcmp(phase, "ras-wait"))
		rt_plan(4 + 3);
	else if (!strcmp(phase, "ras-trunc"))
		rt_plan(4 + 5);
	else if (!strcmp(phase, "bench"))
		rt_plan(5);
	else if (!strcmp(phase, "labels"))
		rt_plan(8);
	else
		rt_plan(zeros_kib > 0 ? 9 : 8);

	rt_ok(nfit != NULL, "NFIT present with a valid checksum");
	ok = nfit && parse_nfit(nfit);
	rt_ok(ok && ndimms == want, "NFIT describes %d DIMMs (SPA, memdev, flush hint each), "
	      "expected %ld", ndimms, want);
	if (!ok || ndimms != want)
		rt_done();
	for (int i = 0; i < ndimms && i < 4; i++)
		rt_diag("DIMM handle %u: [0x%lx, +0x%lx) flush hint 0x%lx flags 0x%x",
			dimms[i].handle, (unsigned long)dimms[i].base,
			(unsigned long)dimms[i].size, (unsigned long)dimms[i].flush,
			dimms[i].flags);
	rt_ok(rt_fdt() && fdt_agrees(), "FDT /pmvm/nvdimm@N nodes agree with the NFIT");
	ok = true;
	for (int i = 0; i < ndimms; i++)
		ok = ok && (dimms[i].base % (1ULL << 30)) == 0 && dimms[i].size % (16 << 20) == 0 &&
		     rt_map_range(dimms[i].base, dimms[i].size);
	rt_ok(ok, "every range is 1 GiB aligned, 16 MiB sized, and mapped");
	if (!ok)
		rt_done();

	if (!strcmp(phase, "write")) {
		if (rt_has_arg("prefault")) {
			volatile uint64_t sum = 0;

			for (int i = 0; i < ndimms; i++)
				for (uint64_t off = 0; off < dimms[i].size;
				     off = next_off(&dimms[i], sparse, off))
					sum += ((volatile uint64_t *)(uintptr_t)dimms[i].base)[off / 8];
			(void)sum;
		}
		for (int i = 0; i < ndimms; i++)
			fill(i, seed, sparse);
		uint64_t bad = 0;
		for (int i = 0; i < ndimms; i++)
			bad += check(i, seed, sparse);
		rt_ok(bad == 0, "pattern written to every DIMM reads back (%lu bad words)",
		      (unsigned long)bad);
		bool zero = true;
		for (int i = 0; i < ndimms; i++)
			zero = zero && flush_reg(i, 8) == 0;
		rt_ok(zero, "flush counters start at 0");
		for (int i = 0; i < ndimms; i++)
			for (long k = 0; k < flushes; k++)
				flush(i);
		bool counted = true;
		for (int i = 0; i < ndimms; i++)
			counted = counted && flush_reg(i, 8) == (uint64_t)flushes;
		rt_ok(counted, "each DIMM's host flush counter is %ld", flushes);
		rt_ok(flush_reg(0, 0) == 0, "flush hint reads 0 at offset 0");
	} else if (!strcmp(phase, "verify") || !strcmp(phase, "readonly")) {
		uint64_t bad = 0;
		for (int i = 0; i < ndimms; i++)
			bad += check(i, seed, sparse);
		rt_ok(bad == 0, "the pattern of the earlier run is there (%lu bad words)",
		      (unsigned long)bad);
		bool zero = true;
		for (int i = 0; i < ndimms; i++)
			zero = zero && flush_reg(i, 8) == 0;
		rt_ok(zero, "flush counters start at 0 in this run");
		if (!strcmp(phase, "readonly")) {
			volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)dimms[0].base;
			uint64_t old = p[0];
			p[0] = ~old;
			p[1] = 0;
			rt_ok(p[0] == old && p[1] == pattern(seed, 0, 8),
			      "stores to a read-only DIMM are dropped");
			rt_ok((dimms[0].flags & 0x8) != 0, "NFIT marks it not armed (read-only)");
		} else {
			for (int i = 0; i < ndimms; i++)
				flush(i);
			bool counted = true;
			for (int i = 0; i < ndimms; i++)
				counted = counted && flush_reg(i, 8) == 1;
			rt_ok(counted, "one flush per DIMM counted");
			rt_ok((dimms[0].flags & 0x8) == 0, "NFIT marks it armed");
		}
	} else if (!strcmp(phase, "hostile")) {
		hostile();
	} else if (!strcmp(phase, "bench")) {
		bench(rt_arg_int("kib", 1024));
	} else if (!strcmp(phase, "ras")) {
		ras();
	} else if (!strcmp(phase, "ras-wait")) {
		ras_wait();
	} else if (!strcmp(phase, "ras-trunc")) {
		ras_trunc();
	} else if (!strcmp(phase, "labels")) {
		labels();
	} else {
		rt_ok(false, "phase=write|verify|readonly|hostile|bench|labels|ras|ras-wait|ras-trunc given");
	}
	if (zeros_kib > 0) {
		volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)dimms[0].base;
		uint64_t start = sparse ? (window + 0xffff) & ~0xffffULL : 0;
		uint64_t end = start + ((uint64_t)zeros_kib << 10);
		uint64_t nonzero = 0;

		if (end > dimms[0].size)
			end = dimms[0].size;
		for (uint64_t off = start; off < end; off += 8)
			if (p[off / 8])
				nonzero++;
		rt_ok(nonzero == 0, "%ld KiB past the touched window read as zeros "
		      "(%lu nonzero words)", zeros_kib, (unsigned long)nonzero);
	}
	if (rt_arg_int("hold", 0) > 0) {        /* keep the files open a while */
		rt_diag("holding %ld ms", rt_arg_int("hold", 0));
		rt_delay_us((unsigned)rt_arg_int("hold", 0) * 1000);
	}
	rt_done();
}
