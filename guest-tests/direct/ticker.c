/*
 * ticker - a guest that keeps running until the ACPI power button, showing
 * that every vCPU makes progress (for the control-socket tests,
 * direct/control.sh: pause, resume, system-powerdown, quit). Argument
 * smp=N: the BSP starts the APs; each CPU counts its own LAPIC timer ticks
 * (about 20 a second). About twice a second the BSP prints one line
 * "# tick T cpus C0 C1 ..." (the counts per CPU). Every IOAPIC pin a
 * device may get (5-23) goes to the button vector, as in powerbutton.c; on
 * the first press the BSP powers off (ACPI S5, vmm status 0).
 */
#include "rt.h"

#define TICK_VECTOR   0x40
#define BUTTON_VECTOR 0x50
#define TICK_COUNT    3000000 /* x16 bus cycles: ~48 ms on KVM's 1 GHz bus */

static volatile unsigned ticks[RT_MAX_CPUS];
static volatile unsigned presses;

static void on_tick(struct rt_frame *f)
{
	(void)f;
	__atomic_add_fetch(&ticks[rt_cpu_index()], 1, __ATOMIC_SEQ_CST);
}

static void on_button(struct rt_frame *f)
{
	(void)f;
	presses++;
}

static void ap_main(int cpu)
{
	(void)cpu;
	rt_lapic_timer(TICK_VECTOR, TICK_COUNT, true); /* then idles, IF=1 */
}

void rt_main(void)
{
	long smp = rt_arg_int("smp", 1);
	unsigned last = 0;
	int started = 0;

	rt_plan(2);
	rt_lapic_enable();
	rt_irq_set(TICK_VECTOR, on_tick);
	rt_irq_set(BUTTON_VECTOR, on_button);
	if (smp > 1)
		started = rt_smp_start(ap_main, 2000);
	rt_ok(started == smp - 1, "%d of %ld APs started", started, smp - 1);
	for (int pin = 5; pin <= 23; pin++)
		rt_ioapic_route(pin, BUTTON_VECTOR, rt_lapic_id());
	rt_lapic_timer(TICK_VECTOR, TICK_COUNT, true);
	rt_printf("# ticking\n");
	rt_sti();
	while (!presses) {
		__asm__ volatile("hlt");
		if (ticks[0] - last >= 10) {
			last = ticks[0];
			rt_cli();
			rt_printf("# tick %u cpus", last);
			for (long i = 0; i < smp && i < RT_MAX_CPUS; i++)
				rt_printf(" %u", ticks[i]);
			rt_printf("\n");
			rt_sti();
		}
	}
	rt_cli();
	rt_lapic_timer_stop();
	rt_ok(presses > 0, "power button pressed, powering off");
	rt_acpi_poweroff();
	rt_panic("still running after the ACPI power-off write");
}
