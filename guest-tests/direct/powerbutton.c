/*
 * powerbutton - a guest that obeys the ACPI power button. Every IOAPIC pin
 * a device may get (IRQ_DEVICE_FIRST..LAST: 5-23) is routed to one vector,
 * because the GED's GSI is only written in the DSDT's AML, which this guest
 * does not parse. It prints "waiting for the power button", waits with
 * interrupts on, and on the first device interrupt powers off through the
 * FADT (ACPI S5): vmm then exits 0. The runner (direct/sigterm.sh) sends
 * the SIGTERM that presses the button. Argument "ignore": never power off
 * (for the grace-period and second-SIGTERM paths).
 */
#include "rt.h"

#define BUTTON_VECTOR 0x50

static volatile unsigned presses;

static void on_button(struct rt_frame *f)
{
	(void)f;
	presses++;
}

void rt_main(void)
{
	bool ignore = rt_has_arg("ignore");

	rt_plan(1);
	rt_lapic_enable();
	rt_irq_set(BUTTON_VECTOR, on_button);
	for (int pin = 5; pin <= 23; pin++)
		rt_ioapic_route(pin, BUTTON_VECTOR, rt_lapic_id());
	rt_printf("# waiting for the power button\n");
	rt_sti();
	while (!presses || ignore)
		__asm__ volatile("hlt");
	rt_cli();
	rt_ok(presses > 0, "power button pressed, powering off");
	rt_acpi_poweroff();
	rt_panic("still running after the ACPI power-off write");
}
