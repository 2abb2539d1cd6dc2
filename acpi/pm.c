/*
 * pm.c - the ACPI power-management device of the hardware-reduced machine.
 *
 * Three one-byte I/O ports that the FADT points at (layout.h):
 *   PORT_ACPI_SLEEP_CTL  write (SLP_TYP << 2) | SLP_EN: with SLP_TYP equal to
 *                        the \_S5 value in the DSDT, the VM powers off
 *                        (VMM_EXIT_POWEROFF). Other sleep types are ignored.
 *   PORT_ACPI_SLEEP_STS  reads 0; writes (clearing WAK_STS) are ignored.
 *   PORT_ACPI_RESET      write ACPI_RESET_VALUE: VMM_EXIT_RESET.
 * Reads of the control and reset registers return 0. Stateless, so safe on
 * any vCPU thread without a lock.
 */
#include <stdio.h>
#include <string.h>

#include "tables.h"
#include "vmm.h"

static void pm_io(void *opaque, uint64_t addr, void *data, unsigned len,
		  bool is_write)
{
	struct vm *vm = opaque;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* One-byte registers: a wider access only writes its low byte. */
	switch (acpi_pm_decode((unsigned)addr, *(const uint8_t *)data)) {
	case ACPI_PM_POWEROFF:
		vm_request_exit(vm, VMM_EXIT_POWEROFF, NULL);
		break;
	case ACPI_PM_RESET:
		vm_request_exit(vm, VMM_EXIT_RESET, "guest requested reset (ACPI)");
		break;
	case ACPI_PM_NONE:
		break;
	}
}

static int pm_setup(struct vm *vm, char *err, size_t errlen)
{
	_Static_assert(PORT_ACPI_SLEEP_STS == PORT_ACPI_SLEEP_CTL + 1 &&
		       PORT_ACPI_RESET == PORT_ACPI_SLEEP_CTL + 2,
		       "pm.c claims the three ACPI ports as one range");
	if (vm_register_pio(vm, PORT_ACPI_SLEEP_CTL, 3, pm_io, vm) < 0) {
		snprintf(err, errlen, "cannot claim ports 0x%x-0x%x",
			 PORT_ACPI_SLEEP_CTL, PORT_ACPI_RESET);
		return -1;
	}
	return 0;
}

static const struct vmm_module acpi_pm = {
	.name = "acpi-pm",
	.setup = pm_setup,
};
VMM_MODULE(acpi_pm);
