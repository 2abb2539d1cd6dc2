/*
 * aml_nvdimm.c - the ACPI namespace of pmvm's NVDIMMs, emitted into the
 * body of Scope (\_SB) of the DSDT:
 *
 *   Device (NVDR) {                  // NVDIMM root, _HID "ACPI0012"
 *     OperationRegion NPIO (SystemIO, port, 4) / NRAM (SystemMemory, page, 4K)
 *     Method NCAL (handle, rev, func, Arg3 package)  -> Buffer   (_DSM calls)
 *     Method NLSR (handle, offset, length)            -> Package  (_LSR)
 *     Method NLSW (handle, offset, length, data)      -> Integer  (_LSW)
 *     Method _DSM                                     // root: ARS, clear error
 *     Device (NV00) { _ADR = handle; _DSM; _LSI; _LSR; _LSW }   // per DIMM
 *     Device (NVxx) { _ADR = handle; _DSM }    // hot-add slots (--nvdimm-slots)
 *     Method _FIT                              // with slots: the FIT, read
 *   }                                          // from the vmm (NVDIMM_FN_FIT)
 *
 * NCAL/NLSR/NLSW are Serialized and are the only code touching NRAM, so one
 * request is in the page at a time. _DSM function 0 and _LSI are answered in
 * AML (constants; the root's mask is 0x1f: ARS and Clear Uncorrectable
 * Error); everything else goes through the page and the port (the root
 * device as handle 0; the protocol is in nvdimm.h and docs/nvdimm.md). Names of the page fields:
 *   RHDL RREV RFUN RLEN RBUF   request header and input
 *   ROFF RCNT RDAT             the same input seen as {offset, length, data}
 *   OLEN OBUF                  response length and bytes
 *   OSTS ODAT                  the same response seen as {status, data}
 */
#include "nvdimm.h"
#include "aml.h"

#include <stdio.h>

#define UUID_ROOT  "2F10E7A4-9E91-11E4-89D3-123B93F75CBA"
#define UUID_INTEL "4309AC30-0D11-11E4-9191-0800200C9A66"

#define AML_OBJECTTYPE 0x8e
#define OBJTYPE_BUFFER  3
#define OBJTYPE_PACKAGE 4

#define PAGE_BITS(bytes) ((unsigned)(bytes) * 8u)

/* Store (<constant or argument>, <name>) as one complete term. */
static void store_int(struct aml *a, uint64_t v, const char *dst)
{
	aml_op(a, AML_STORE);
	aml_int(a, v);
	aml_name(a, dst);
}

static void store_arg(struct aml *a, int arg, const char *dst)
{
	aml_op(a, AML_STORE);
	aml_arg(a, arg);
	aml_name(a, dst);
}

static void notify_vmm(struct aml *a, uint64_t page)
{
	store_int(a, page, "NTFY");
}

static void root_regions(struct aml *a, uint64_t page, uint16_t port)
{
	aml_opregion(a, "NPIO", AML_SPACE_IO, port, 4);
	aml_field(a, "NPIO", AML_FIELD_DWORD | AML_FIELD_PRESERVE);
	aml_field_entry(a, "NTFY", 32);
	aml_close(a);

	aml_opregion(a, "NRAM", AML_SPACE_MEMORY, page, NVDIMM_PAGE);
	aml_field(a, "NRAM", AML_FIELD_DWORD | AML_FIELD_PRESERVE);
	aml_field_entry(a, "RHDL", 32);
	aml_field_entry(a, "RREV", 32);
	aml_field_entry(a, "RFUN", 32);
	aml_field_entry(a, "RLEN", 32);
	aml_field_entry(a, "RBUF", PAGE_BITS(NVDIMM_PAGE - 16));
	aml_close(a);
	aml_field(a, "NRAM", AML_FIELD_DWORD | AML_FIELD_PRESERVE);
	aml_field_entry(a, NULL, 128);
	aml_field_entry(a, "ROFF", 32);
	aml_field_entry(a, "RCNT", 32);
	aml_field_entry(a, "RDAT", PAGE_BITS(NVDIMM_PAGE - 24));
	aml_close(a);
	aml_field(a, "NRAM", AML_FIELD_DWORD | AML_FIELD_PRESERVE);
	aml_field_entry(a, "OLEN", 32);
	aml_field_entry(a, "OBUF", PAGE_BITS(NVDIMM_PAGE - 4));
	aml_close(a);
	aml_field(a, "NRAM", AML_FIELD_DWORD | AML_FIELD_PRESERVE);
	aml_field_entry(a, NULL, 32);
	aml_field_entry(a, "OSTS", 32);
	aml_field_entry(a, "ODAT", PAGE_BITS(NVDIMM_PAGE - 8));
	aml_close(a);
}

/* If (Local1 <op> bound) { Local1 = bound } */
static void bound_local1(struct aml *a, uint8_t op, uint32_t bound)
{
	aml_if(a);
	aml_op(a, op);
	aml_local(a, 1);
	aml_int(a, bound);
	aml_op(a, AML_STORE);
	aml_int(a, bound);
	aml_local(a, 1);
	aml_close(a);
}

/* Local1 = min(OLEN, max) - sub, never below 0. */
static void clamp_olen(struct aml *a, uint32_t max, uint32_t sub)
{
	aml_op(a, AML_STORE);
	aml_name(a, "OLEN");
	aml_local(a, 1);
	bound_local1(a, AML_LGREATER, max);
	if (sub) {
		bound_local1(a, AML_LLESS, sub);
		aml_op(a, AML_SUBTRACT);
		aml_local(a, 1);
		aml_int(a, sub);
		aml_local(a, 1);
	}
}

/* Mid (field, 0, Local1), the reply's first Local1 bytes, as an operand. */
static void mid_local1(struct aml *a, const char *field)
{
	aml_op(a, AML_MID);
	aml_name(a, field);
	aml_int(a, 0);
	aml_local(a, 1);
	aml_byte(a, 0x00); /* no target */
}

static void method_ncal(struct aml *a, uint64_t page)
{
	aml_method(a, "NCAL", 4, true);
	store_arg(a, 0, "RHDL");
	store_arg(a, 1, "RREV");
	store_arg(a, 2, "RFUN");
	store_int(a, 0, "RLEN");
	/* If (ObjectType (Arg3) == Package && SizeOf (Arg3) > 0) */
	aml_if(a);
	aml_op(a, AML_LEQUAL);
	aml_op(a, AML_OBJECTTYPE);
	aml_arg(a, 3);
	aml_int(a, OBJTYPE_PACKAGE);
	aml_if(a);
	aml_op(a, AML_LGREATER);
	aml_op(a, AML_SIZEOF);
	aml_arg(a, 3);
	aml_int(a, 0);
	/* Local0 = DerefOf (Index (Arg3, 0)) */
	aml_op(a, AML_STORE);
	aml_op(a, AML_DEREFOF);
	aml_op(a, AML_INDEX);
	aml_arg(a, 3);
	aml_int(a, 0);
	aml_byte(a, 0x00); /* no target */
	aml_local(a, 0);
	/* If (ObjectType (Local0) == Buffer) { RLEN = SizeOf (Local0); RBUF = Local0 } */
	aml_if(a);
	aml_op(a, AML_LEQUAL);
	aml_op(a, AML_OBJECTTYPE);
	aml_local(a, 0);
	aml_int(a, OBJTYPE_BUFFER);
	aml_op(a, AML_STORE);
	aml_op(a, AML_SIZEOF);
	aml_local(a, 0);
	aml_name(a, "RLEN");
	aml_op(a, AML_STORE);
	aml_local(a, 0);
	aml_name(a, "RBUF");
	aml_close(a);
	aml_close(a);
	aml_close(a);
	notify_vmm(a, page);
	clamp_olen(a, NVDIMM_DSM_OUT_MAX, 0);
	/* Return (Mid (OBUF, 0, Local1)) */
	aml_op(a, AML_RETURN);
	mid_local1(a, "OBUF");
	aml_close(a);
}

/* Method NAME (nargs, Serialized) for a label-area call: RHDL = Arg0
 * (the handle), RREV = 1, RFUN = fn */
static void label_method(struct aml *a, const char *name, int nargs, unsigned fn)
{
	aml_method(a, name, nargs, true);
	store_arg(a, 0, "RHDL");
	store_int(a, 1, "RREV");
	store_int(a, fn, "RFUN");
}

static void method_nlsr(struct aml *a, uint64_t page)
{
	label_method(a, "NLSR", 3, NVDIMM_FN_LSR);
	store_int(a, 8, "RLEN");
	store_arg(a, 1, "ROFF");
	store_arg(a, 2, "RCNT");
	notify_vmm(a, page);
	clamp_olen(a, NVDIMM_DSM_OUT_MAX, 4);
	/* Local2 = Package (2) { Zero, Zero } */
	aml_op(a, AML_STORE);
	aml_package(a, 2);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_close(a);
	aml_local(a, 2);
	/* Local2[0] = OSTS; Local2[1] = Mid (ODAT, 0, Local1) */
	aml_op(a, AML_STORE);
	aml_name(a, "OSTS");
	aml_op(a, AML_INDEX);
	aml_local(a, 2);
	aml_int(a, 0);
	aml_byte(a, 0x00);
	aml_op(a, AML_STORE);
	mid_local1(a, "ODAT");
	aml_op(a, AML_INDEX);
	aml_local(a, 2);
	aml_int(a, 1);
	aml_byte(a, 0x00);
	aml_op(a, AML_RETURN);
	aml_local(a, 2);
	aml_close(a);
}

static void method_nlsw(struct aml *a, uint64_t page)
{
	label_method(a, "NLSW", 4, NVDIMM_FN_LSW);
	store_arg(a, 1, "ROFF");
	store_arg(a, 2, "RCNT");
	/* RLEN = 8 + SizeOf (Arg3); an oversized buffer is cut by RDAT and
	 * refused by the vmm, which sees RLEN beyond the page. */
	aml_op(a, AML_ADD);
	aml_int(a, 8);
	aml_op(a, AML_SIZEOF);
	aml_arg(a, 3);
	aml_name(a, "RLEN");
	store_arg(a, 3, "RDAT");
	notify_vmm(a, page);
	aml_op(a, AML_RETURN);
	aml_name(a, "OSTS");
	aml_close(a);
}

/* If (LEqual (Arg0, ToUUID (uuid))) { body...  -- caller closes */
static void if_uuid(struct aml *a, const char *uuid)
{
	aml_if(a);
	aml_op(a, AML_LEQUAL);
	aml_arg(a, 0);
	aml_uuid(a, uuid);
}

/* If (LEqual (Arg2, 0)) { Return (Buffer (1) { mask }) } */
static void return_mask_for_query(struct aml *a, uint8_t mask)
{
	aml_if(a);
	aml_op(a, AML_LEQUAL);
	aml_arg(a, 2);
	aml_int(a, 0);
	aml_op(a, AML_RETURN);
	aml_buffer_bytes(a, &mask, 1);
	aml_close(a);
}

static void return_status(struct aml *a, uint32_t status)
{
	uint8_t b[4] = { (uint8_t)status, (uint8_t)(status >> 8),
			 (uint8_t)(status >> 16), (uint8_t)(status >> 24) };
	aml_op(a, AML_RETURN);
	aml_buffer_bytes(a, b, sizeof(b));
}

/* Device (NVxx) { Name (_ADR, handle)  Method (_DSM) {
 *   If (Arg0 == Intel UUID) { [function 0 -> mask (mask >= 0)]
 *                             Return (\_SB.NVDR.NCAL (handle, Arg1, Arg2, Arg3)) }
 *   function 0 -> 0; else status "unsupported" }   -- the caller closes the device */
static void child_with_dsm(struct aml *a, uint32_t handle, int i, int mask)
{
	char name[5];

	nvdimm_child_name(i, name);
	aml_device(a, name);
	aml_name_decl(a, "_ADR");
	aml_int(a, handle);

	aml_method(a, "_DSM", 4, false);
	if_uuid(a, UUID_INTEL);
	if (mask >= 0)
		return_mask_for_query(a, (uint8_t)mask);
	aml_op(a, AML_RETURN);
	aml_name(a, "\\_SB.NVDR.NCAL");
	aml_int(a, handle);
	aml_arg(a, 1);
	aml_arg(a, 2);
	aml_arg(a, 3);
	aml_close(a);
	return_mask_for_query(a, 0x00);
	return_status(a, NVDIMM_ST_UNSUPPORTED);
	aml_close(a);
}

/* Method (name, nargs) { Return (target (handle, Arg0, ... Arg<nargs-1>)) } */
static void forward_method(struct aml *a, const char *name, int nargs, const char *target,
			   uint32_t handle)
{
	aml_method(a, name, nargs, false);
	aml_op(a, AML_RETURN);
	aml_name(a, target);
	aml_int(a, handle);
	for (int i = 0; i < nargs; i++)
		aml_arg(a, i);
	aml_close(a);
}

static void dimm_device(struct aml *a, const struct nvdimm_desc *d, int i)
{
	child_with_dsm(a, d->handle, i, d->label_size ? 0x71 : 0x01);

	if (d->label_size) {
		aml_method(a, "_LSI", 0, false);
		aml_op(a, AML_RETURN);
		aml_package(a, 3);
		aml_int(a, NVDIMM_LS_OK);
		aml_int(a, d->label_size);
		aml_int(a, NVDIMM_MAX_XFER);
		aml_close(a);
		aml_close(a);

		forward_method(a, "_LSR", 2, "\\_SB.NVDR.NLSR", d->handle);
		forward_method(a, "_LSW", 3, "\\_SB.NVDR.NLSW", d->handle);
	}
	aml_close(a);
}

/* A hot-add slot: every _DSM function of the Intel family, 0 included,
 * goes to the vmm, which knows what (if anything) is plugged in. Labels go
 * through the _DSM's functions 4-6: _LSI's answer could not change. */
static void slot_device(struct aml *a, uint32_t handle, int i)
{
	child_with_dsm(a, handle, i, -1);
	aml_close(a);
}

/* Local0 = Buffer (0) {} */
static void empty_local0(struct aml *a)
{
	aml_op(a, AML_STORE);
	aml_buffer(a);
	aml_int(a, 0);
	aml_close(a);
	aml_local(a, 0);
}

/* Method (_FIT) { the FIT, read through the page in chunks:
 *   Local3 = 0; Local0 = Buffer (0) {}
 *   While (One) {
 *     RHDL = 0; RREV = 1; RFUN = NVDIMM_FN_FIT; RLEN = 4; ROFF = Local3; NTFY = page
 *     If (OSTS == FIT_CHANGED) { Local3 = 0; Local0 = Buffer (0) {}; Continue }
 *     If (OSTS != 0) { Break }
 *     Local1 = min (OLEN, max) - 4; If (Local1 == 0) { Break }
 *     Concatenate (Local0, Mid (ODAT, 0, Local1), Local0); Local3 += Local1
 *   }
 *   Return (Local0) } */
static void method_fit(struct aml *a, uint64_t page)
{
	aml_method(a, "_FIT", 0, true);
	aml_op(a, AML_STORE);
	aml_int(a, 0);
	aml_local(a, 3);
	empty_local0(a);
	aml_while(a);
	aml_int(a, 1);
	store_int(a, 0, "RHDL");
	store_int(a, 1, "RREV");
	store_int(a, NVDIMM_FN_FIT, "RFUN");
	store_int(a, 4, "RLEN");
	aml_op(a, AML_STORE);
	aml_local(a, 3);
	aml_name(a, "ROFF");
	notify_vmm(a, page);
	aml_if(a);
	aml_op(a, AML_LEQUAL);
	aml_name(a, "OSTS");
	aml_int(a, NVDIMM_ST_FIT_CHANGED);
	aml_op(a, AML_STORE);
	aml_int(a, 0);
	aml_local(a, 3);
	empty_local0(a);
	aml_byte(a, AML_CONTINUE);
	aml_close(a);
	aml_if(a);
	aml_op(a, AML_LNOT);
	aml_op(a, AML_LEQUAL);
	aml_name(a, "OSTS");
	aml_int(a, 0);
	aml_op(a, AML_BREAK);
	aml_close(a);
	clamp_olen(a, NVDIMM_DSM_OUT_MAX, 4);
	aml_if(a);
	aml_op(a, AML_LEQUAL);
	aml_local(a, 1);
	aml_int(a, 0);
	aml_op(a, AML_BREAK);
	aml_close(a);
	aml_op(a, AML_CONCAT);
	aml_local(a, 0);
	mid_local1(a, "ODAT");
	aml_local(a, 0);
	aml_op(a, AML_ADD);
	aml_local(a, 3);
	aml_local(a, 1);
	aml_local(a, 3);
	aml_close(a);
	aml_op(a, AML_RETURN);
	aml_local(a, 0);
	aml_close(a);
}

void nvdimm_aml_build(struct aml *a, const struct nvdimm_desc *d, int n,
		      uint64_t dsm_page, uint16_t port)
{
	nvdimm_aml_build_slots(a, d, n, n, dsm_page, port);
}

void nvdimm_aml_build_slots(struct aml *a, const struct nvdimm_desc *d, int n, int slots,
			    uint64_t dsm_page, uint16_t port)
{
	aml_device(a, "NVDR");
	aml_name_decl(a, "_HID");
	aml_string(a, "ACPI0012");
	root_regions(a, dsm_page, port);
	method_ncal(a, dsm_page);
	method_nlsr(a, dsm_page);
	method_nlsw(a, dsm_page);

	aml_method(a, "_DSM", 4, false);
	if_uuid(a, UUID_ROOT);
	/* ARS functions 1-3 and Clear Uncorrectable Error (4), in the vmm. */
	return_mask_for_query(a, NVDIMM_ROOT_MASK);
	aml_op(a, AML_RETURN);
	aml_name(a, "NCAL");
	aml_int(a, 0);
	aml_arg(a, 1);
	aml_arg(a, 2);
	aml_arg(a, 3);
	aml_close(a);
	return_mask_for_query(a, 0x00);
	return_status(a, NVDIMM_ST_UNSUPPORTED);
	aml_close(a);

	for (int i = 0; i < n; i++)
		dimm_device(a, &d[i], i);
	for (int i = n; i < slots; i++)
		slot_device(a, (uint32_t)i + 1, i);
	if (slots > n)
		method_fit(a, dsm_page);
	aml_close(a);
}
