/*
 * smp - every vCPU comes up. Argument smp=N. The BSP starts the APs the
 * MADT lists (INIT-SIPI-SIPI, real-mode trampoline, long mode), each AP
 * reports in with its APIC ID, then the BSP sends each AP a fixed IPI and
 * the AP's handler counts it: interrupts work on every CPU. CPUID leaf 1
 * must report each CPU's own APIC ID (the vmm sets per-vCPU CPUID), and
 * each AP's own LAPIC timer must fire on that AP.
 */
#include "rt.h"

#define IPI_VECTOR   0x50
#define TIMER_VECTOR 0x51

static volatile int ran[RT_MAX_CPUS];
static volatile uint32_t apic_of[RT_MAX_CPUS];
static volatile int ipis[RT_MAX_CPUS];
static volatile uint32_t cpuid_apic[RT_MAX_CPUS];
static volatile int ticks[RT_MAX_CPUS];

static void on_tick(struct rt_frame *f)
{
	(void)f;
	__atomic_add_fetch(&ticks[rt_cpu_index()], 1, __ATOMIC_SEQ_CST);
}

static uint32_t cpuid_initial_apic_id(void)
{
	uint32_t a = 1, b, c = 0, d;

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
	return b >> 24;
}

static void on_ipi(struct rt_frame *f)
{
	(void)f;
	__atomic_add_fetch(&ipis[rt_cpu_index()], 1, __ATOMIC_SEQ_CST);
}

static void ap_main(int cpu)
{
	apic_of[cpu] = rt_lapic_id();
	cpuid_apic[cpu] = cpuid_initial_apic_id();
	rt_printf("# cpu %d (APIC ID %u) is up\n", cpu, rt_lapic_id());
	rt_lapic_timer(TIMER_VECTOR, 10000, false); /* one-shot, on this AP */
	ran[cpu] = 1;
}

void rt_main(void)
{
	long smp = rt_arg_int("smp", 1);
	int fdt_cpus = rt_fdt_cpu_count();
	int started, nran = 0, nipi = 0;
	uint64_t t0;

	int cpuid_bad = 0;

	int nticked = 0;

	rt_plan(6);
	if (fdt_cpus >= 0)
		rt_ok(fdt_cpus == smp, "FDT says %d vCPUs, expected %ld", fdt_cpus, smp);
	else
		rt_skip("no FDT: vCPU count from the command line only");
	rt_irq_set(IPI_VECTOR, on_ipi);
	rt_irq_set(TIMER_VECTOR, on_tick);
	started = rt_smp_start(ap_main, 2000);
	t0 = rt_rdtsc();
	while (rt_within_ms(t0, 1000)) {
		nran = 0;
		for (int i = 1; i < smp && i < RT_MAX_CPUS; i++)
			nran += ran[i];
		if (nran == smp - 1)
			break;
	}
	rt_ok(started == smp - 1 && rt_cpus_online == smp,
	      "%d of %ld APs started, %d CPUs online", started, smp - 1, rt_cpus_online);
	rt_ok(nran == smp - 1, "%d APs ran their function in long mode", nran);
	for (int i = 1; i < rt_cpus_online && i < RT_MAX_CPUS; i++)
		rt_lapic_ipi(apic_of[i], IPI_VECTOR);
	t0 = rt_rdtsc();
	while (rt_within_ms(t0, 1000)) {
		nipi = 0;
		for (int i = 1; i < rt_cpus_online && i < RT_MAX_CPUS; i++)
			nipi += ipis[i] > 0;
		if (nipi == rt_cpus_online - 1)
			break;
	}
	rt_ok(nipi == rt_cpus_online - 1, "%d APs took an IPI from the BSP", nipi);
	apic_of[0] = rt_lapic_id();
	cpuid_apic[0] = cpuid_initial_apic_id();
	for (int i = 0; i < rt_cpus_online && i < RT_MAX_CPUS; i++) {
		if (cpuid_apic[i] != apic_of[i] || apic_of[i] != (uint32_t)i) {
			rt_diag("cpu %d: LAPIC ID %u, CPUID.1 APIC ID %u", i,
				apic_of[i], cpuid_apic[i]);
			cpuid_bad++;
		}
	}
	rt_ok(cpuid_bad == 0, "each CPU's LAPIC ID and CPUID.1 APIC ID equal its index");
	t0 = rt_rdtsc();
	while (rt_within_ms(t0, 1000)) {
		nticked = 0;
		for (int i = 1; i < rt_cpus_online && i < RT_MAX_CPUS; i++)
			nticked += ticks[i] == 1;
		if (nticked == rt_cpus_online - 1)
			break;
	}
	rt_ok(nticked == rt_cpus_online - 1, "%d APs took their own one-shot LAPIC timer tick",
	      nticked);
}
