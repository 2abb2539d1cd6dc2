/*
 * timer - timer interrupts arrive: the LAPIC timer periodic (ten ticks)
 * and one-shot (exactly one tick), and, with argument pit, the i8254 PIT
 * channel 0 through the IOAPIC (pin 2 per the ISA override, or pin 0).
 */
#include "rt.h"

#define TIMER_VECTOR 0x40
#define PIT_VECTOR   0x41

static volatile unsigned ticks, pit_ticks;

static void on_tick(struct rt_frame *f)
{
	(void)f;
	ticks++;
}

static void on_pit(struct rt_frame *f)
{
	(void)f;
	pit_ticks++;
}

static bool wait_for(volatile unsigned *c, unsigned n, unsigned ms)
{
	uint64_t t0 = rt_rdtsc();

	rt_sti();
	while (*c < n && rt_within_ms(t0, ms))
		rt_pause();
	return *c >= n;
}

void rt_main(void)
{
	bool pit = rt_has_arg("pit"), ok;

	rt_plan(pit ? 3 : 2);
	rt_lapic_enable();
	rt_irq_set(TIMER_VECTOR, on_tick);
	rt_lapic_timer(TIMER_VECTOR, 100000, true);
	ok = wait_for(&ticks, 10, 5000);
	rt_ok(ok, "LAPIC timer, periodic: %u ticks", ticks);
	rt_lapic_timer_stop();
	/* Let a periodic tick that was already pending arrive before the
	 * count restarts (interrupts were off while the line printed). */
	wait_for(&ticks, ~0u, 20);
	rt_cli();
	ticks = 0;
	rt_lapic_timer(TIMER_VECTOR, 100000, false);
	wait_for(&ticks, 2, 200);
	rt_ok(ticks == 1, "LAPIC timer, one-shot: %u tick", ticks);
	rt_cli();
	if (pit) {
		rt_irq_set(PIT_VECTOR, on_pit);
		rt_ioapic_route(0, PIT_VECTOR, rt_lapic_id());
		rt_ioapic_route(2, PIT_VECTOR, rt_lapic_id());
		outb(0x43, 0x34); /* channel 0, lobyte/hibyte, rate generator */
		outb(0x40, 0x00);
		outb(0x40, 0x10); /* 4096: ~290 Hz */
		ok = wait_for(&pit_ticks, 5, 5000);
		rt_ok(ok, "PIT through the IOAPIC: %u ticks", pit_ticks);
		rt_cli();
	}
}
