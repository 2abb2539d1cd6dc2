/*
 * build.c - acpi_build(): the glue between the core and the vm-free table
 * builders in tables.c.
 *
 * Collects every module's acpi() contribution (DSDT AML for Scope (\_SB),
 * whole tables), describes the machine (vCPU count, layout.h addresses),
 * builds the image and copies it into guest memory at LAYOUT_ACPI through
 * the core's checked accessor. Optionally dumps each table for iasl -d.
 */
#include "acpi.h"
#include "tables.h"

#include <stdio.h>
#include <string.h>

#include "vmm.h"

int acpi_build(struct vm *vm, const char *dump_dir, uint64_t *rsdp_gpa,
	       char *err, size_t errlen)
{
	struct acpi_machine m;
	struct acpi_image img;
	struct acpi_ctx ctx;
	char merr[256];
	void *dst;
	int ret = -1;

	acpi_ctx_init(&ctx);
	vmm_for_each_module(mp) {
		const struct vmm_module *mod = *mp;

		if (!mod->acpi)
			continue;
		merr[0] = '\0';
		if (mod->acpi(vm, &ctx, merr, sizeof(merr)) < 0) {
			snprintf(err, errlen, "%s: %s", mod->name,
				 merr[0] ? merr : "ACPI contribution failed");
			goto out;
		}
		if (ctx.failed || !aml_ok(&ctx.dsdt)) {
			snprintf(err, errlen, "%s: bad ACPI contribution (malformed "
				 "AML, bad table or out of memory)", mod->name);
			goto out;
		}
	}

	acpi_machine_default(&m, vm_vcpu_count(vm));
	if (acpi_tables_build(&m, &ctx, &img, err, errlen) < 0)
		goto out;
	dst = vm_gpa_w(vm, img.base, img.len);
	if (!dst) {
		snprintf(err, errlen, "no writable guest RAM for the tables "
			 "at 0x%llx-0x%llx", (unsigned long long)img.base,
			 (unsigned long long)(img.base + img.len - 1));
		goto out_img;
	}
	memcpy(dst, img.buf, img.len);
	if (dump_dir && acpi_image_dump(&img, dump_dir, err, errlen) < 0)
		goto out_img;
	*rsdp_gpa = img.rsdp;
	ret = 0;
out_img:
	acpi_image_free(&img);
out:
	acpi_ctx_free(&ctx);
	return ret;
}
