/*
 * fdt.c - the machine-description flattened device tree for test guests.
 *
 * Test guests (guest-tests/) have no ACPI parser; they find RAM, vCPUs and
 * devices here instead. It is written at LAYOUT_FDT and handed to PVH
 * guests as the start-info module named "pmvm-fdt". Schema (docs/machine.md):
 *   /            #address-cells = 2, #size-cells = 2, compatible = "pmvm"
 *   /memory@ADDR device_type = "memory", reg = <addr size> per RAM range
 *   /cpus        #address-cells = 1, #size-cells = 0
 *   /cpus/cpu@N  device_type = "cpu", reg = <APIC ID>
 *   /chosen      bootargs = --cmdline; linux,initrd-start/-end if an initrd
 *   then whatever each module's fdt() hook adds.
 */
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "pmvm-config.h"

#define FDT_TRY(x) do { if ((err_fdt = (x)) < 0) goto fail; } while (0)

int fdt_build(struct vm *vm, char *err, size_t errlen)
{
	void *fdt = vm_gpa_w(vm, LAYOUT_FDT, LAYOUT_FDT_MAX);
	int err_fdt = 0, node, cpus;
	char name[64];

	if (!fdt) {
		snprintf(err, errlen, "no guest RAM for the FDT");
		return -1;
	}
	FDT_TRY(fdt_create_empty_tree(fdt, (int)LAYOUT_FDT_MAX));
	FDT_TRY(fdt_setprop_u32(fdt, 0, "#address-cells", 2));
	FDT_TRY(fdt_setprop_u32(fdt, 0, "#size-cells", 2));
	FDT_TRY(fdt_setprop_string(fdt, 0, "compatible", "pmvm"));
	FDT_TRY(fdt_setprop_string(fdt, 0, "model", "pmvm " PMVM_VERSION));

	/* One node per RAM region, in address order. */
	pthread_rwlock_rdlock(&vm->mem_lock);
	for (int i = vm->mem.n - 1; i >= 0; i--) {
		const struct vm_region *r = &vm->mem.r[i];
		uint64_t reg[2];

		if (r->host < vm->ram || r->host >= vm->ram + vm->ram_size)
			continue;
		snprintf(name, sizeof(name), "memory@%llx",
			 (unsigned long long)r->gpa);
		node = fdt_add_subnode(fdt, 0, name);
		if (node < 0) {
			err_fdt = node;
			pthread_rwlock_unlock(&vm->mem_lock);
			goto fail;
		}
		reg[0] = cpu_to_fdt64(r->gpa);
		reg[1] = cpu_to_fdt64(r->size);
		err_fdt = fdt_setprop_string(fdt, node, "device_type", "memory");
		if (err_fdt >= 0)
			err_fdt = fdt_setprop(fdt, node, "reg", reg, sizeof(reg));
		if (err_fdt < 0) {
			pthread_rwlock_unlock(&vm->mem_lock);
			goto fail;
		}
	}
	pthread_rwlock_unlock(&vm->mem_lock);

	FDT_TRY(cpus = fdt_add_subnode(fdt, 0, "cpus"));
	FDT_TRY(fdt_setprop_u32(fdt, cpus, "#address-cells", 1));
	FDT_TRY(fdt_setprop_u32(fdt, cpus, "#size-cells", 0));
	for (int i = vm->cfg.smp - 1; i >= 0; i--) {
		snprintf(name, sizeof(name), "cpu@%x", i);
		FDT_TRY(node = fdt_add_subnode(fdt, cpus, name));
		FDT_TRY(fdt_setprop_string(fdt, node, "device_type", "cpu"));
		FDT_TRY(fdt_setprop_u32(fdt, node, "reg", (uint32_t)i));
	}

	FDT_TRY(node = fdt_add_subnode(fdt, 0, "chosen"));
	FDT_TRY(fdt_setprop_string(fdt, node, "bootargs",
				   vm->cfg.cmdline ? vm->cfg.cmdline : ""));
	if (vm->initrd_size) {
		FDT_TRY(fdt_setprop_u64(fdt, node, "linux,initrd-start",
					vm->initrd_gpa));
		FDT_TRY(fdt_setprop_u64(fdt, node, "linux,initrd-end",
					vm->initrd_gpa + vm->initrd_size));
	}
	if (vm->rsdp)
		FDT_TRY(fdt_setprop_u64(fdt, node, "pmvm,acpi-rsdp", vm->rsdp));

	vmm_for_each_module(mp) {
		if ((*mp)->fdt && (*mp)->fdt(vm, fdt, err, errlen) < 0)
			return -1;
	}
	FDT_TRY(fdt_pack(fdt));
	vm->fdt_gpa = LAYOUT_FDT;
	vm->fdt_size = fdt_totalsize(fdt);
	return 0;
fail:
	snprintf(err, errlen, "building the FDT: %s", fdt_strerror(err_fdt));
	return -1;
}
