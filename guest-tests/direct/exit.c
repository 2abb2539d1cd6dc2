/*
 * exit - the ways a guest ends. Arguments (one of):
 *   exit=N    write N to the debug-exit port: vmm exits (N << 1) | 1
 *   poweroff  ACPI S5 through the FADT sleep control register: vmm exits 0
 *   reset     the FADT reset register: vmm exits 6 (it does not reboot)
 *   triple-fault  an empty IDT, then ud2: vmm exits 8 (KVM_EXIT_SHUTDOWN)
 *   kbd-reset the i8042 pulse-reset command (0xfe to port 0x64): vmm exits 6
 *   hang      cli; hlt forever: vmm --timeout exits 124
 * The runner checks the status; the TAP point says the guest got there.
 */
#include "rt.h"

void rt_main(void)
{
	long code = rt_arg_int("exit", -1);

	rt_plan(1);
	if (rt_has_arg("poweroff")) {
		rt_ok(rt_acpi_find("FACP") != NULL, "FADT found, powering off");
		rt_acpi_poweroff();
		rt_panic("still running after the ACPI power-off write");
	}
	if (rt_has_arg("reset")) {
		rt_ok(rt_acpi_find("FACP") != NULL, "FADT found, resetting");
		rt_acpi_reset();
		rt_panic("still running after the ACPI reset write");
	}
	if (rt_has_arg("hang")) {
		rt_ok(true, "halting with interrupts off");
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	if (rt_has_arg("kbd-reset")) {
		rt_ok(true, "writing 0xfe to the i8042 command port");
		outb(0x64, 0xfe);
		rt_panic("still running after the i8042 reset");
	}
	if (rt_has_arg("triple-fault")) {
		static const struct {
			uint16_t limit;
			uint64_t base;
		} __attribute__((packed)) empty = { 0, 0 };

		rt_ok(true, "loading an empty IDT and executing ud2");
		__asm__ volatile("lidt %0; ud2" ::"m"(empty));
		rt_panic("still running after a triple fault");
	}
	if (code < 0) {
		rt_ok(false, "an exit=N, poweroff, reset, kbd-reset, triple-fault or hang argument");
		rt_done();
	}
	rt_ok(true, "exiting with debug-exit value %ld", code);
	rt_exit((uint32_t)code);
}
