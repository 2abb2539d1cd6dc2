/*
 * serial - serial input reaches the guest. The runner writes a line on the
 * vmm's standard input; argument expect=WORD is what it wrote. Receive is
 * interrupt-driven: the 8250's RX interrupt through IOAPIC pin 4.
 */
#include "rt.h"

void rt_main(void)
{
	char want[64], got[64];
	size_t n = 0;
	int c;

	rt_plan(2);
	if (!rt_arg("expect", want, sizeof(want)))
		want[0] = '\0';
	rt_lapic_enable();
	rt_serial_rx_irq();
	rt_puts("# ready for input\n");
	while (n + 1 < sizeof(got) && (c = rt_getc(10000)) >= 0 && c != '\n')
		if (c != '\r')
			got[n++] = (char)c;
	got[n] = '\0';
	rt_cli();
	rt_ok(rt_serial_irqs > 0, "receive interrupts arrived (%u)", rt_serial_irqs);
	rt_ok(want[0] && !strcmp(got, want), "read the line '%s' (expected '%s')", got, want);
}
