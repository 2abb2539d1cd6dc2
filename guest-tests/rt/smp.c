/*
 * smp.c - starting the application processors: the real-mode trampoline
 * from entry.S is copied to 0x1000 (LAYOUT_AP_TRAMPOLINE, SIPI vector 1),
 * then each AP listed in the MADT gets INIT, SIPI, SIPI (the second only
 * if the first did not start it), one at a time, each on its own stack.
 */
#include "rt.h"

#define TRAMPOLINE 0x1000
#define AP_STACK   16384

extern const char ap_tramp[], ap_tramp_end[], ap_tramp_gdt[];
extern uint64_t rt_gdt[];
extern volatile uint64_t rt_ap_stack;
void rt_cpu_init(int cpu);
void rt_ap_start(void);

volatile int rt_cpus_online = 1;
static uint32_t cpu_apic[RT_MAX_CPUS];
static int ncpu_apic = 1;
static volatile int ap_index;
static volatile int ap_ready;
static void (*ap_fn)(int cpu);
static uint8_t ap_stacks[RT_MAX_CPUS][AP_STACK] __attribute__((aligned(16)));

int rt_cpu_index(void)
{
	uint32_t id = rt_lapic_id();

	for (int i = 0; i < ncpu_apic; i++)
		if (cpu_apic[i] == id)
			return i;
	return 0;
}

void rt_ap_start(void)
{
	int me = ap_index;

	rt_cpu_init(me);
	rt_lapic_enable();
	__atomic_add_fetch(&rt_cpus_online, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&ap_ready, 1, __ATOMIC_RELEASE);
	if (ap_fn)
		ap_fn(me);
	for (;;)
		__asm__ volatile("sti; hlt" ::: "memory");
}

static bool wait_ready(unsigned ms)
{
	uint64_t start = rt_rdtsc();

	while (!__atomic_load_n(&ap_ready, __ATOMIC_ACQUIRE))
		if (!rt_within_ms(start, ms))
			return false;
	return true;
}

int rt_smp_start(void (*fn)(int cpu), unsigned timeout_ms)
{
	uint32_t ids[RT_MAX_CPUS];
	int n = rt_madt_cpus(ids, RT_MAX_CPUS), started = 0;
	uint32_t bsp = rt_lapic_id();
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) gdtr = { (5 + 2 * RT_MAX_CPUS) * 8 - 1,
					    (uint32_t)(uintptr_t)rt_gdt };

	if (n > RT_MAX_CPUS)
		n = RT_MAX_CPUS;
	memcpy((void *)TRAMPOLINE, ap_tramp, ap_tramp_end - ap_tramp);
	memcpy((char *)TRAMPOLINE + (ap_tramp_gdt - ap_tramp), &gdtr, sizeof(gdtr));
	rt_lapic_enable();
	cpu_apic[0] = bsp;
	ap_fn = fn;
	for (int i = 0; i < n; i++) {
		if (ids[i] == bsp)
			continue;
		ap_index = ncpu_apic;
		cpu_apic[ncpu_apic++] = ids[i];
		ap_ready = 0;
		rt_ap_stack = (uint64_t)(uintptr_t)(ap_stacks[ap_index] + AP_STACK);
		rt_lapic_ipi(ids[i], 0x4500);                /* INIT, assert */
		rt_delay_us(1000);
		rt_lapic_ipi(ids[i], 0x4600 | (TRAMPOLINE >> 12)); /* SIPI */
		if (!wait_ready(10)) {
			rt_lapic_ipi(ids[i], 0x4600 | (TRAMPOLINE >> 12));
			if (!wait_ready(timeout_ms)) {
				rt_diag("AP with APIC ID %u did not start", ids[i]);
				ncpu_apic--;
				continue;
			}
		}
		started++;
	}
	rt_ap_stack = 0;
	return started;
}
