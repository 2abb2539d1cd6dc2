/*
 * pm.c - the ACPI power-management device of the hardware-reduced machine.
 *
 * Three one-byte I/O ports that the FADT points at (layout.h):
 *   PORT_ACPI_SLEEP_CTL  write (SLP_TYP << 2) | SLP_EN: with SLP_TYP equal to
 *                        the \_S5 value in the DSDT, the VM powers off
 *                        (VMM_EXIT_POWEROFF). Other sleep types are ignored.
 *   PORT_ACPI_SLEEP_STS  reads 0; writes (clearing WAK_STS) are ignored.
 *   PORT_ACPI_RESET      write ACPI_RESET_VALUE: VMM_EXIT_RESET.
 * Reads of the control and reset registers return 0. The port handler is
 * stateless, so safe on any vCPU thread without a lock.
 *
 * The Generic Event Device: hardware-reduced ACPI has no fixed-feature
 * button and no GPE block, so events reach the guest through GED0
 * (ACPI0013) in the DSDT: each event has its own GSI (vm_alloc_irq) and
 * _EVT notifies its object. acpi_ged_add() (acpi.h) registers one during
 * module setup; acpi_ged_raise() sends it: an edge on that GSI. The power
 * button is one (\_SB.PWRB, 0x80; acpi_power_button()), the NVDIMM
 * module's hot-add another (\_SB.NVDR, 0x80). If no GSI is free the
 * machine simply lacks that event.
 */
#include <stdio.h>
#include <string.h>

#include "acpi.h"
#include "tables.h"
#include "vmm.h"

#define GED_MAX 4

static struct {
	struct vm *vm;
	struct acpi_ged_event ev[GED_MAX];
	int n;
	int button;       /* the power button's event, -1: none */
} pm = { .button = -1 };

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
	pm.button = acpi_ged_add(vm, "\\_SB.PWRB", 0x80);
	if (pm.button < 0)
		vmm_log("acpi-pm: no free GSI: the guest gets no power button events");
	return 0;
}

static int pm_acpi(struct vm *vm, struct acpi_ctx *ctx, char *err,
		   size_t errlen)
{
	if (pm.n > 0 && pm.vm == vm)
		acpi_aml_ged(acpi_dsdt(ctx), pm.ev, pm.n);
	return 0;
}

int acpi_ged_add(struct vm *vm, const char *path, uint8_t value)
{
	int gsi;

	if (pm.vm && pm.vm != vm)
		return -1;
	if (pm.n == GED_MAX || (gsi = vm_alloc_irq(vm)) < 0)
		return -1;
	pm.vm = vm;
	pm.ev[pm.n] = (struct acpi_ged_event){ (uint32_t)gsi, path, value };
	return pm.n++;
}

int acpi_ged_raise(struct vm *vm, int event)
{
	uint32_t gsi;

	if (pm.vm != vm || event < 0 || event >= pm.n)
		return -1;
	gsi = pm.ev[event].gsi;
	if (vm_set_irq(vm, gsi, 1) < 0 || vm_set_irq(vm, gsi, 0) < 0)
		return -1;
	return 0;
}

int acpi_power_button(struct vm *vm)
{
	return acpi_ged_raise(vm, pm.button);
}

static void pm_teardown(struct vm *vm)
{
	pm.vm = NULL;
	pm.n = 0;
	pm.button = -1;
}

static const struct vmm_module acpi_pm = {
	.name = "acpi-pm",
	.setup = pm_setup,
	.acpi = pm_acpi,
	.teardown = pm_teardown,
};
VMM_MODULE(acpi_pm);
