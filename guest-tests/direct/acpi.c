/*
 * acpi - the ACPI tables the vmm builds: RSDP (from the PVH start info)
 * with both checksums, XSDT, every listed table's checksum, a hardware-
 * reduced FADT with a sleep control register, the DSDT, and a MADT that
 * matches the machine: argument smp=N, N enabled LAPICs with APIC IDs
 * 0..N-1, an IOAPIC, and the FDT's /cpus agreeing when there is an FDT.
 */
#include "pvh.h"
#include "rt.h"

void rt_main(void)
{
	long smp = rt_arg_int("smp", 1);
	const struct acpi_sdt *t, *fadt, *madt, *dsdt;
	const uint8_t *rsdp = rt_acpi_rsdp();
	uint32_t ids[RT_MAX_CPUS];
	int n, bad = 0, ntables = 0, fdt_cpus;
	bool ids_ok = true;
	uint32_t flags = 0;

	rt_plan(12);
	rt_ok(rt_start_info && rt_start_info->rsdp_paddr,
	      "PVH start info announces the RSDP");
	rt_ok(rsdp && rsdp[15] >= 2, "RSDP found, checksums valid, revision >= 2");
	for (int i = 0; (t = rt_acpi_table(i)); i++) {
		ntables++;
		rt_diag("%.4s at %p length %u revision %u oem '%.6s'", t->sig,
			(const void *)t, t->length, t->revision, t->oem_id);
	}
	if (rsdp) {
		uint64_t xsdt;

		memcpy(&xsdt, rsdp + 24, 8);
		t = (const void *)(uintptr_t)xsdt;
		rt_ok(xsdt && !memcmp(t->sig, "XSDT", 4) &&
		      !rt_acpi_sum(t, t->length), "XSDT present with a valid checksum");
		if (xsdt) {
			int listed = (t->length - sizeof(*t)) / 8;

			bad = listed - ntables;
		}
	} else {
		rt_ok(false, "XSDT present with a valid checksum");
	}
	rt_ok(ntables >= 2 && bad == 0, "all %d tables in the XSDT have valid checksums",
	      ntables);
	fadt = rt_acpi_find("FACP");
	if (fadt)
		memcpy(&flags, (const uint8_t *)fadt + 112, 4);
	rt_ok(fadt && (flags & (1u << 20)), "FADT present, HW_REDUCED_ACPI set");
	if (fadt && fadt->length >= 256) {
		const struct acpi_gas *g = (const void *)((const uint8_t *)fadt + 244);

		rt_ok(g->address != 0, "FADT sleep control register (space %u at 0x%lx)",
		      g->space_id, (unsigned long)g->address);
	} else {
		rt_ok(false, "FADT sleep control register");
	}
	dsdt = rt_acpi_find("DSDT");
	rt_ok(dsdt != NULL, "DSDT reached through the FADT, checksum valid");
	{
		/* EisaId("PNP0501") as AML: DWordPrefix, 0x0105d041. */
		static const uint8_t com1[] = { 0x0c, 0x41, 0xd0, 0x05, 0x01 };
		bool has_com1 = false, has_s5 = false;
		const uint8_t *p = (const uint8_t *)dsdt;

		for (uint32_t i = 0; dsdt && i + sizeof(com1) <= dsdt->length; i++) {
			has_com1 |= !memcmp(p + i, com1, sizeof(com1));
			has_s5 |= i + 4 <= dsdt->length && !memcmp(p + i, "_S5_", 4);
		}
		rt_ok(has_com1 && has_s5, "DSDT declares COM1 (PNP0501) and \\_S5");
	}
	madt = rt_acpi_find("APIC");
	rt_ok(madt != NULL, "MADT present with a valid checksum");
	n = rt_madt_cpus(ids, RT_MAX_CPUS);
	rt_ok(n == smp, "MADT lists %d enabled processors, expected %ld", n, smp);
	for (int i = 0; i < n && i < RT_MAX_CPUS; i++)
		if (ids[i] != (uint32_t)i)
			ids_ok = false;
	rt_ok(n > 0 && ids_ok && rt_madt_ioapic() == 0xfec00000,
	      "APIC IDs are 0..%d and the IOAPIC is at 0xfec00000", n - 1);
	fdt_cpus = rt_fdt_cpu_count();
	if (fdt_cpus < 0)
		rt_skip("no FDT: cannot compare /cpus");
	else
		rt_ok(fdt_cpus == smp, "FDT /cpus has %d cpus, expected %ld", fdt_cpus, smp);
}
