/*
 * insn - which instructions this KVM runs. Argument insn=NAME runs one
 * probe; insn=all runs every probe in the "works" set in one guest. On
 * kvm_pvm every instruction of a guest like this goes through KVM's
 * emulator, and one it cannot emulate stops the VM with
 * KVM_INTERNAL_ERROR_EMULATION (vmm exit status 10): run probes one at a
 * time to map that out (guest-tests/README.md has the result).
 */
#include "rt.h"

static uint8_t area[64] __attribute__((aligned(64)));

static void p_cpuid(void)
{
	uint32_t a = 0, b, c = 0, d;

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
}

static void p_rdmsr_efer(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000080));
}

static void p_wrmsr_fsbase(void)
{
	/* Write FS_BASE and put the TLS selector back (it reloads the base). */
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000100));
	__asm__ volatile("wrmsr" ::"a"(lo), "d"(hi), "c"(0xc0000100));
	__asm__ volatile("mov %0, %%fs" ::"r"(0x20) : "memory");
}

static void p_invlpg(void) { __asm__ volatile("invlpg (%0)" ::"r"(area) : "memory"); }
static void p_rdtscp(void) { uint32_t a, c, d; __asm__ volatile("rdtscp" : "=a"(a), "=c"(c), "=d"(d)); }
static void p_lock_cmpxchg(void)
{
	uint64_t old = 0;

	__asm__ volatile("lock cmpxchg %2, %1" : "+a"(old), "+m"(*(uint64_t *)area) : "r"(1ull));
}
static void p_lock_xadd(void) { __atomic_fetch_add((uint64_t *)area, 1, __ATOMIC_SEQ_CST); }
static void p_cmpxchg16b(void)
{
	uint64_t lo = 0, hi = 0;

	__asm__ volatile("lock cmpxchg16b %2" : "+a"(lo), "+d"(hi), "+m"(*(unsigned __int128 *)area)
		     : "b"(1ull), "c"(0ull) : "memory");
}
static void p_clflush(void) { __asm__ volatile("clflush (%0)" ::"r"(area) : "memory"); }
static void p_wbinvd(void) { __asm__ volatile("wbinvd" ::: "memory"); }
static void p_int3(void) { __asm__ volatile("int3"); }
static void p_rdrand(void)
{
	uint32_t a = 1, b, c = 0, d;
	uint64_t v;

	/* Only where CPUID.1:ECX.RDRAND says it exists (QEMU's qemu64 model,
	 * the nested tier's L1 CPU, has none: #UD there, as on real parts). */
	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	if (c & (1u << 30))
		__asm__ volatile("rdrand %0" : "=r"(v));
}
static void p_xgetbv(void)
{
	uint32_t a, d, cr4;
	uint64_t c4;

	__asm__ volatile("mov %%cr4, %0" : "=r"(c4));
	cr4 = (uint32_t)c4;
	if (cr4 & (1u << 18))
		__asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
}
static void p_fxsave(void)
{
	static uint8_t buf[512] __attribute__((aligned(16)));

	__asm__ volatile("fxsave (%0)" ::"r"(buf) : "memory");
}
static void p_mov_cr(void)
{
	uint64_t v;

	__asm__ volatile("mov %%cr0, %0; mov %0, %%cr0" : "=r"(v) :: "memory");
}
static void p_pushf_popf(void) { __asm__ volatile("pushfq; popfq" ::: "memory", "cc"); }
static void p_rep_movsb(void)
{
	void *d = area, *s = area + 32;
	size_t n = 32;

	__asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) :: "memory");
}

static void p_mfence(void) { __asm__ volatile("mfence; lfence; sfence" ::: "memory"); }
static void p_popcnt(void)
{
	uint64_t v = 0xf0f0, r;

	__asm__ volatile("popcnt %1, %0" : "=r"(r) : "r"(v));
}

/* SSE: set CR4.OSFXSR and OSXMMEXCPT, clear CR0.EM, then one movdqa. */
static void p_sse(void)
{
	uint64_t cr0, cr4;

	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %0, %%cr0" ::"r"((cr0 & ~4ull) | 2ull));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	__asm__ volatile("mov %0, %%cr4" ::"r"(cr4 | (3ull << 9)));
	__asm__ volatile("movdqa (%0), %%xmm0; movdqa %%xmm0, 16(%0)" ::"r"(area) : "memory");
}

/* XSAVE: CR4.OSXSAVE, XCR0 = x87|SSE, one xsave. */
static void p_xsave(void)
{
	static uint8_t buf[1024] __attribute__((aligned(64)));
	uint64_t cr4;

	p_sse();
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	__asm__ volatile("mov %0, %%cr4" ::"r"(cr4 | (1ull << 18)));
	__asm__ volatile("xsetbv" ::"a"(3), "d"(0), "c"(0));
	__asm__ volatile("xsave (%0)" ::"r"(buf), "a"(3), "d"(0) : "memory");
}

static const struct probe {
	const char *name;
	void (*fn)(void);
	bool works; /* part of insn=all */
} probes[] = {
	{ "cpuid", p_cpuid, true },
	{ "rdmsr", p_rdmsr_efer, true },
	{ "wrmsr", p_wrmsr_fsbase, true },
	{ "invlpg", p_invlpg, true },
	{ "rdtscp", p_rdtscp, false },
	{ "lock-cmpxchg", p_lock_cmpxchg, true },
	{ "lock-xadd", p_lock_xadd, true },
	{ "cmpxchg16b", p_cmpxchg16b, false },
	{ "clflush", p_clflush, true },
	{ "wbinvd", p_wbinvd, true },
	{ "int3", p_int3, false },
	{ "rdrand", p_rdrand, true },
	{ "xgetbv", p_xgetbv, true },
	{ "fxsave", p_fxsave, true },
	{ "mov-cr", p_mov_cr, true },
	{ "pushf-popf", p_pushf_popf, true },
	{ "rep-movsb", p_rep_movsb, true },
	{ "mfence", p_mfence, true },
	{ "popcnt", p_popcnt, false },
	{ "sse", p_sse, true },
	{ "xsave", p_xsave, false },
};

void rt_main(void)
{
	char which[32];
	int n = 0;
	bool all;

	if (!rt_arg("insn", which, sizeof(which)))
		which[0] = '\0';
	all = !strcmp(which, "all");
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++)
		n += all ? probes[i].works : !strcmp(which, probes[i].name);
	rt_plan(n ? n : 1);
	if (!n)
		rt_ok(false, "insn=%s names a probe", which);
	for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		if (all ? !probes[i].works : strcmp(which, probes[i].name))
			continue;
		probes[i].fn();
		rt_ok(true, "%s", probes[i].name);
	}
}
