/*
 * fake_module.c - a stand-in for a module's acpi() hook (see fake_module.h).
 * It calls acpi_dsdt() and acpi_add_table() exactly as nvdimm/ would.
 */
#include "fake_module.h"

#include <string.h>

#include "acpi.h"
#include "le.h"

static int add_ssdt(struct acpi_ctx *ctx, const char *dev, const char *hid)
{
	struct aml a;
	int r = -1;

	aml_init(&a);
	aml_scope(&a, "\\_SB");
	aml_device(&a, dev);
	aml_name_decl(&a, "_HID");
	aml_string(&a, hid);
	aml_name_decl(&a, "_UID");
	aml_int(&a, 0);
	aml_close(&a);
	aml_close(&a);
	if (aml_ok(&a))
		r = acpi_add_table(ctx, "SSDT", 2, a.buf, a.len);
	aml_free(&a);
	return r;
}

int fake_module_acpi(struct acpi_ctx *ctx)
{
	struct aml *a = acpi_dsdt(ctx);
	struct aml r;

	/* Device (NVDR) { _HID "ACPI0012"; Method (_DSM, 4, Serialized) {
	 *   If (LEqual (Arg0, ToUUID (root))) { Return (Buffer (One) { 1 }) }
	 *   Return (Buffer (One) { 0 }) }  Device (NV00) { _ADR 1 } } */
	aml_device(a, "NVDR");
	aml_name_decl(a, "_HID");
	aml_string(a, "ACPI0012");
	aml_method(a, "_DSM", 4, true);
	aml_if(a);
	aml_op(a, AML_LEQUAL);
	aml_arg(a, 0);
	aml_uuid(a, "2F10E7A4-9E91-11E4-89D3-123B93F75CBA");
	aml_op(a, AML_RETURN);
	aml_buffer_bytes(a, (const uint8_t[]){ 0x01 }, 1);
	aml_close(a);
	aml_op(a, AML_RETURN);
	aml_buffer_bytes(a, (const uint8_t[]){ 0x00 }, 1);
	aml_close(a);
	aml_device(a, "NV00");
	aml_name_decl(a, "_ADR");
	aml_int(a, 1);
	aml_close(a);
	aml_close(a);

	/* Device (TST0) { _HID "PMVM0001", _UID 0, a DWord field over a
	 * memory region, _CRS, Method (ADD2, 1) { Return (Add (Arg0, 2)) } } */
	aml_device(a, "TST0");
	aml_name_decl(a, "_HID");
	aml_string(a, "PMVM0001");
	aml_name_decl(a, "_UID");
	aml_int(a, 0);
	aml_opregion(a, "REG0", AML_SPACE_MEMORY, 0xd8000000, 0x1000);
	aml_field(a, "REG0", AML_FIELD_DWORD);
	aml_field_entry(a, "HNDL", 32);
	aml_field_entry(a, "FUNC", 32);
	aml_close(a);
	aml_init(&r);
	aml_res_mem32(&r, 0xd8000000, 0x1000, true);
	aml_res_interrupt(&r, 5, false, false);
	aml_name_decl(a, "_CRS");
	aml_restemplate(a, &r);
	aml_free(&r);
	aml_method(a, "ADD2", 1, false);
	aml_op(a, AML_RETURN);
	aml_op(a, AML_ADD);
	aml_arg(a, 0);
	aml_int(a, 2);
	aml_byte(a, 0x00); /* no target */
	aml_close(a);
	aml_close(a);

	/* NFIT: u32 reserved, one SPA range (type 0, length 56). */
	uint8_t nfit[4 + 56] = { 0 };
	static const uint8_t pm_guid[16] = {
		0x79, 0xd3, 0xf0, 0x66, 0xf3, 0xb4, 0x74, 0x40,
		0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7, 0x8c, 0xdb,
	};
	uint8_t *spa = nfit + 4;
	put_le16(spa + 0, 0);        /* type: SPA range */
	put_le16(spa + 2, 56);       /* length */
	put_le16(spa + 4, 1);        /* range index */
	memcpy(spa + 16, pm_guid, 16);
	put_le64(spa + 32, FAKE_NFIT_SPA_BASE);
	put_le64(spa + 40, FAKE_NFIT_SPA_LEN);
	put_le64(spa + 48, 0x8008);  /* EFI_MEMORY_WB | EFI_MEMORY_NV */
	if (acpi_add_table(ctx, "NFIT", 1, nfit, sizeof(nfit)) < 0)
		return -1;
	if (add_ssdt(ctx, "TST1", "PMVM0002") < 0 ||
	    add_ssdt(ctx, "TST2", "PMVM0003") < 0)
		return -1;
	return 0;
}
