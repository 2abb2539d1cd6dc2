/*
 * tables.c - ACPI table builders, without a VM (see tables.h).
 *
 * acpi_tables_build() lays the tables out as one image, in this order:
 * RSDP (at the image base, which Linux finds by scanning 0xE0000-0xFFFFF),
 * XSDT, FADT, MADT, DSDT, then every table a module added. Each table is
 * 16-byte aligned. The tables are filled field by field through the
 * packed structs of acpi-tables.h (ACPI 6.5 names, offsets checked at
 * compile time); the DSDT (5.2.11.1) is AML from aml.c.
 * Also home of acpi_dsdt() and acpi_add_table(), which only collect, and of
 * the vm-free halves of acpi/pm.c: acpi_pm_decode() (what a port write
 * means) and acpi_aml_ged() (the Generic Event Device: power button, NVDIMM hot-add).
 */
#include "tables.h"
#include "errbuf.h"
#include "acpi.h"
#include "acpi-tables.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"

ACPI_SIZE(struct acpi_sdt_header, ACPI_HEADER_LEN);
ACPI_SIZE(struct acpi_rsdp, ACPI_RSDP_LEN);
ACPI_SIZE(struct acpi_fadt, ACPI_FADT_LEN);

uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + b[i]);
	return sum;
}

enum acpi_pm_action acpi_pm_decode(unsigned reg, uint8_t value)
{
	if (reg == 0 && (value & ACPI_SLP_EN) &&
	    (value & ACPI_SLP_TYP_MASK) >> ACPI_SLP_TYP_SHIFT == ACPI_S5_SLP_TYP)
		return ACPI_PM_POWEROFF;
	if (reg == 2 && value == ACPI_RESET_VALUE)
		return ACPI_PM_RESET;
	return ACPI_PM_NONE;
}

/* ---- Collecting module contributions ------------------------------------ */

void acpi_ctx_init(struct acpi_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	aml_init(&ctx->dsdt);
}

void acpi_ctx_free(struct acpi_ctx *ctx)
{
	aml_free(&ctx->dsdt);
	for (int i = 0; i < ctx->nextra; i++)
		free(ctx->extra[i].body);
	memset(ctx, 0, sizeof(*ctx));
}

struct aml *acpi_dsdt(struct acpi_ctx *ctx)
{
	return &ctx->dsdt;
}

int acpi_add_table(struct acpi_ctx *ctx, const char sig[4], uint8_t revision,
		   const void *body, size_t len)
{
	struct acpi_extra *e;

	if (ctx->nextra == ACPI_MAX_TABLES || len > LAYOUT_ACPI_MAX ||
	    (len && !body)) {
		ctx->failed = true;
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		if (sig[i] < 0x20 || sig[i] > 0x7e) {
			ctx->failed = true;
			return -1;
		}
	}
	/* acpi/ writes these itself; a second one would confuse the guest. */
	static const char reserved[][4] = { "RSD ", "RSDT", "XSDT", "FACP",
					    "FACS", "DSDT", "APIC" };
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (!memcmp(sig, reserved[i], 4)) {
			ctx->failed = true;
			return -1;
		}
	}
	e = &ctx->extra[ctx->nextra];
	e->body = malloc(len ? len : 1);
	if (!e->body) {
		ctx->failed = true;
		return -1;
	}
	if (len)
		memcpy(e->body, body, len);
	memcpy(e->sig, sig, 4);
	e->revision = revision;
	e->len = len;
	ctx->nextra++;
	return 0;
}

/* ---- Typed builders ------------------------------------------------------ */

void acpi_machine_default(struct acpi_machine *m, int ncpus)
{
	memset(m, 0, sizeof(*m));
	m->ncpus = ncpus;
	m->base = LAYOUT_ACPI;
	m->max = LAYOUT_ACPI_MAX;
	m->lapic = LAYOUT_LAPIC;
	m->ioapic = LAYOUT_IOAPIC;
	m->sleep_ctl = PORT_ACPI_SLEEP_CTL;
	m->sleep_sts = PORT_ACPI_SLEEP_STS;
	m->reset_port = PORT_ACPI_RESET;
	m->reset_value = ACPI_RESET_VALUE;
	m->com1_port = PORT_COM1;
	m->com1_irq = IRQ_COM1;
	m->kbd_data = PORT_I8042_DATA;
	m->kbd_cmd = PORT_I8042_CMD;
	m->kbd_irq = 1; /* ISA keyboard IRQ */
}

/* The standard 36-byte header; the checksum is set by finish(). */
static void header(void *t, const char sig[4], uint32_t len, uint8_t rev)
{
	struct acpi_sdt_header *h = t;

	memcpy(h->signature, sig, sizeof(h->signature));
	h->length = htole32(len);
	h->revision = rev;
	h->checksum = 0;
	memcpy(h->oemid, ACPI_OEM_ID, sizeof(h->oemid));
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, sizeof(h->oem_table_id));
	h->oem_revision = htole32(ACPI_OEM_REVISION);
	memcpy(h->creator_id, ACPI_CREATOR_ID, sizeof(h->creator_id));
	h->creator_revision = htole32(ACPI_CREATOR_REV);
}

static void finish(void *t, size_t len)
{
	struct acpi_sdt_header *h = t;

	h->checksum = 0;
	h->checksum = (uint8_t)(0x100 - acpi_checksum(t, len));
}

int acpi_build_table(const char sig[4], uint8_t revision, const void *body,
		     size_t blen, uint8_t **out, size_t *len)
{
	size_t n = ACPI_HEADER_LEN + blen;
	uint8_t *t;

	if (blen > UINT32_MAX - ACPI_HEADER_LEN)
		return -1;
	t = calloc(1, n);
	if (!t)
		return -1;
	header(t, sig, (uint32_t)n, revision);
	if (blen)
		memcpy(t + ACPI_HEADER_LEN, body, blen);
	finish(t, n);
	*out = t;
	*len = n;
	return 0;
}

void acpi_build_rsdp(uint64_t xsdt, uint8_t out[ACPI_RSDP_LEN])
{
	struct acpi_rsdp *r = (struct acpi_rsdp *)out;

	memset(r, 0, sizeof(*r));
	memcpy(r->signature, "RSD PTR ", sizeof(r->signature));
	memcpy(r->oemid, ACPI_OEM_ID, sizeof(r->oemid));
	r->revision = 2;                /* ACPI 2.0+ */
	r->rsdt_address = 0;            /* no RSDT, XSDT only */
	r->length = htole32(sizeof(*r));
	r->xsdt_address = htole64(xsdt);
	r->checksum = (uint8_t)(0x100 - acpi_checksum(r, ACPI_RSDP_V1_LEN));
	r->extended_checksum = (uint8_t)(0x100 - acpi_checksum(r, sizeof(*r)));
}

int acpi_build_xsdt(const uint64_t *addrs, int n, uint8_t **out, size_t *len)
{
	size_t total = sizeof(struct acpi_xsdt) + (size_t)n * sizeof(uint64_t);
	struct acpi_xsdt *x;

	if (n < 0 || total > UINT32_MAX)
		return -1;
	x = calloc(1, total);
	if (!x)
		return -1;
	header(x, "XSDT", (uint32_t)total, 1);
	for (int i = 0; i < n; i++)
		x->entry[i] = htole64(addrs[i]);
	finish(x, total);
	*out = (uint8_t *)x;
	*len = total;
	return 0;
}

/* A Generic Address Structure for one byte of system I/O space. */
static struct acpi_gas gas_io8(uint16_t port)
{
	return (struct acpi_gas){
		.address_space_id = ACPI_GAS_SYSTEM_IO,
		.register_bit_width = 8,
		.register_bit_offset = 0,
		.access_size = ACPI_GAS_ACCESS_BYTE,
		.address = htole64(port),
	};
}

int acpi_build_fadt(const struct acpi_machine *m, uint64_t dsdt,
		    uint8_t **out, size_t *len)
{
	struct acpi_fadt *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	header(f, "FACP", sizeof(*f), 6);
	/* FIRMWARE_CTRL and DSDT stay 0: the 64-bit fields below are used.
	 * Hardware-reduced: no SCI, SMI, PM1/PM2/GPE blocks or PM timer. */
	f->preferred_pm_profile = 0;    /* unspecified */
	f->iapc_boot_arch = htole16(ACPI_IAPC_BOOT_ARCH_8042 |
				    ACPI_IAPC_BOOT_ARCH_VGA_NOT_PRESENT |
				    ACPI_IAPC_BOOT_ARCH_CMOS_RTC_NOT_PRESENT);
	f->flags = htole32(ACPI_FADT_WBINVD | ACPI_FADT_PWR_BUTTON |
			   ACPI_FADT_SLP_BUTTON | ACPI_FADT_RESET_REG_SUP |
			   ACPI_FADT_HW_REDUCED_ACPI);
	f->reset_reg = gas_io8(m->reset_port);
	f->reset_value = m->reset_value;
	f->fadt_minor_version = 5;      /* 6.5 */
	f->x_dsdt = htole64(dsdt);
	f->sleep_control_reg = gas_io8(m->sleep_ctl);
	f->sleep_status_reg = gas_io8(m->sleep_sts);
	memcpy(f->hypervisor_vendor_identity, "PMVM\0\0\0\0",
	       sizeof(f->hypervisor_vendor_identity));
	finish(f, sizeof(*f));
	*out = (uint8_t *)f;
	*len = sizeof(*f);
	return 0;
}

/* The MADT's interrupt controller entries: one Local APIC (or, from vCPU
 * 255 on, Local x2APIC) per vCPU, the I/O APIC, IRQ0 -> GSI 2, LINT1 as NMI
 * on every processor (and its x2APIC twin when there are x2APICs). */
static size_t madt_len(int ncpus)
{
	size_t n = sizeof(struct acpi_madt);

	/* xAPIC entries hold 8-bit APIC IDs and UIDs; 255 is the broadcast
	 * ID, so vCPUs from 255 on are described as x2APICs. */
	for (int i = 0; i < ncpus; i++)
		n += i < 255 ? sizeof(struct acpi_madt_local_apic) :
			       sizeof(struct acpi_madt_local_x2apic);
	n += sizeof(struct acpi_madt_io_apic) +
	     sizeof(struct acpi_madt_interrupt_override) +
	     sizeof(struct acpi_madt_local_apic_nmi);
	if (ncpus > 255)
		n += sizeof(struct acpi_madt_local_x2apic_nmi);
	return n;
}

/* Claim the next entry (type, length len) of the MADT being filled at *p. */
static void *madt_entry(uint8_t **p, uint8_t type, uint8_t len)
{
	uint8_t *e = *p;

	e[0] = type;    /* every entry starts: Type, Length */
	e[1] = len;
	*p += len;
	return e;
}
#define MADT_ENTRY(p, ty, kind) \
	((struct kind *)madt_entry(&(p), (ty), sizeof(struct kind)))

int acpi_build_madt(const struct acpi_machine *m, uint8_t **out, size_t *len)
{
	struct acpi_madt_local_apic *lapic;
	struct acpi_madt_local_x2apic *x2apic;
	struct acpi_madt_io_apic *ioapic;
	struct acpi_madt_interrupt_override *iso;
	struct acpi_madt_local_apic_nmi *nmi;
	struct acpi_madt_local_x2apic_nmi *x2nmi;
	struct acpi_madt *t;
	uint8_t *p;
	size_t n;

	if (m->ncpus < 1 || m->ncpus > ACPI_MAX_CPUS)
		return -1;
	n = madt_len(m->ncpus);
	t = calloc(1, n);
	if (!t)
		return -1;
	header(t, "APIC", (uint32_t)n, 5);
	t->local_interrupt_controller_address = htole32((uint32_t)m->lapic);
	/* KVM's in-kernel irqchip has the dual 8259 too: say so. */
	t->flags = htole32(ACPI_MADT_PCAT_COMPAT);
	p = t->entries;
	for (int i = 0; i < m->ncpus; i++) {
		if (i < 255) {
			lapic = MADT_ENTRY(p, ACPI_MADT_TYPE_LOCAL_APIC,
					   acpi_madt_local_apic);
			lapic->acpi_processor_uid = (uint8_t)i;
			lapic->apic_id = (uint8_t)i;
			lapic->flags = htole32(ACPI_MADT_ENABLED);
		} else {
			x2apic = MADT_ENTRY(p, ACPI_MADT_TYPE_LOCAL_X2APIC,
					    acpi_madt_local_x2apic);
			x2apic->x2apic_id = htole32((uint32_t)i);
			x2apic->flags = htole32(ACPI_MADT_ENABLED);
			x2apic->acpi_processor_uid = htole32((uint32_t)i);
		}
	}
	ioapic = MADT_ENTRY(p, ACPI_MADT_TYPE_IO_APIC, acpi_madt_io_apic);
	ioapic->io_apic_id = 0;
	ioapic->io_apic_address = htole32((uint32_t)m->ioapic);
	ioapic->global_system_interrupt_base = 0;
	iso = MADT_ENTRY(p, ACPI_MADT_TYPE_INTERRUPT_OVERRIDE,
			 acpi_madt_interrupt_override);
	iso->bus = 0;                           /* ISA */
	iso->source = 0;                        /* IRQ0 (PIT) */
	iso->global_system_interrupt = htole32(2);
	iso->flags = htole16(ACPI_MPS_INTI_CONFORMS);
	nmi = MADT_ENTRY(p, ACPI_MADT_TYPE_LOCAL_APIC_NMI,
			 acpi_madt_local_apic_nmi);
	nmi->acpi_processor_uid = 0xff;         /* all processors */
	nmi->flags = htole16(ACPI_MPS_INTI_CONFORMS);
	nmi->local_apic_lint = 1;
	if (m->ncpus > 255) {
		x2nmi = MADT_ENTRY(p, ACPI_MADT_TYPE_LOCAL_X2APIC_NMI,
				   acpi_madt_local_x2apic_nmi);
		x2nmi->flags = htole16(ACPI_MPS_INTI_CONFORMS);
		x2nmi->acpi_processor_uid = htole32(0xffffffffu);
		x2nmi->local_x2apic_lint = 1;
	}
	finish(t, n);
	*out = (uint8_t *)t;
	*len = n;
	return 0;
}

/* DSDT (DefinitionBlock revision 2: 64-bit integers):
 *   Name (\_S5, Package (4) { ACPI_S5_SLP_TYP, 0, 0, 0 })
 *   Scope (\_SB) {
 *     Device (COM1) { _HID EISAID ("PNP0501"), _UID 1, _CRS IO + IRQ }
 *     Device (PS2K) { _HID EISAID ("PNP0303"), _CRS IO 0x60, IO 0x64, IRQ 1 }
 *     Device (PWRB) { _HID "PNP0C0C", _UID 0 }
 *     <modules' AML>
 *   }                                                                    */
int acpi_build_dsdt(const struct acpi_machine *m, const struct aml *sb_body,
		    uint8_t **out, size_t *len)
{
	struct aml a, r;
	int ret = -1;

	aml_init(&a);
	aml_init(&r);

	aml_name_decl(&a, "\\_S5");
	aml_package(&a, 4);
	aml_int(&a, ACPI_S5_SLP_TYP);   /* SLP_TYPa */
	aml_int(&a, 0);                 /* SLP_TYPb */
	aml_int(&a, 0);                 /* reserved */
	aml_int(&a, 0);
	aml_close(&a);

	aml_scope(&a, "\\_SB");

	aml_device(&a, "COM1");
	aml_name_decl(&a, "_HID");
	aml_eisaid(&a, "PNP0501");
	aml_name_decl(&a, "_UID");
	aml_int(&a, 1);
	aml_res_io(&r, m->com1_port, 8);
	aml_res_irq(&r, m->com1_irq);
	aml_name_decl(&a, "_CRS");
	aml_restemplate(&a, &r);
	aml_close(&a);

	/* The i8042 (vmm/i8042.c) as a PS/2 keyboard controller: the FADT
	 * says an 8042 exists, and a hardware-reduced Linux has no ISA IRQ
	 * mapping, so its i8042 driver needs the IRQ from here (without it,
	 * request_irq(1) fails with -EINVAL). No PNP0F13: no mouse port. */
	aml_free(&r);
	aml_device(&a, "PS2K");
	aml_name_decl(&a, "_HID");
	aml_eisaid(&a, "PNP0303");
	aml_name_decl(&a, "_UID");
	aml_int(&a, 0);
	aml_res_io(&r, m->kbd_data, 1);
	aml_res_io(&r, m->kbd_cmd, 1);
	aml_res_irq(&r, m->kbd_irq);
	aml_name_decl(&a, "_CRS");
	aml_restemplate(&a, &r);
	aml_close(&a);

	aml_device(&a, "PWRB");
	aml_name_decl(&a, "_HID");
	aml_string(&a, "PNP0C0C");
	aml_name_decl(&a, "_UID");
	aml_int(&a, 0);
	aml_close(&a);

	if (sb_body)
		aml_append(&a, sb_body);
	aml_close(&a);

	if (aml_ok(&a))
		ret = acpi_build_table("DSDT", 2, a.buf, a.len, out, len);
	aml_free(&a);
	aml_free(&r);
	return ret;
}

void acpi_aml_ged(struct aml *a, const struct acpi_ged_event *ev, int n)
{
	struct aml r;

	aml_init(&r);
	aml_device(a, "GED0");
	aml_name_decl(a, "_HID");
	aml_string(a, "ACPI0013");
	aml_name_decl(a, "_UID");
	aml_int(a, 0);
	for (int i = 0; i < n; i++)
		aml_res_interrupt(&r, ev[i].gsi, false, false);
	aml_name_decl(a, "_CRS");
	aml_restemplate(a, &r);
	aml_free(&r);
	aml_method(a, "_EVT", 1, false);
	for (int i = 0; i < n; i++) {
		aml_if(a);
		aml_op(a, AML_LEQUAL);
		aml_arg(a, 0);
		aml_int(a, ev[i].gsi);
		aml_op(a, AML_NOTIFY);
		aml_name(a, ev[i].path);
		aml_int(a, ev[i].value);
		aml_close(a);
	}
	aml_close(a);
	aml_close(a);
}

/* ---- The whole image ------------------------------------------------------ */

void acpi_image_free(struct acpi_image *img)
{
	free(img->buf);
	memset(img, 0, sizeof(*img));
}

#define ALIGN16(x) (((x) + 15) & ~(size_t)15)

int acpi_tables_build(const struct acpi_machine *m, const struct acpi_ctx *ctx,
		      struct acpi_image *img, char *err, size_t errlen)
{
	/* Tables other than the RSDP, in image order: FADT, MADT, DSDT, extra;
	 * the XSDT goes first but is built last (it needs the addresses). */
	enum { FADT, MADT, DSDT, FIXED };
	uint8_t *tab[FIXED + ACPI_MAX_TABLES] = { 0 };
	size_t tlen[FIXED + ACPI_MAX_TABLES] = { 0 };
	char tname[FIXED + ACPI_MAX_TABLES][12];
	uint64_t taddr[FIXED + ACPI_MAX_TABLES];
	uint8_t *xsdt = NULL;
	size_t xlen, off, total;
	int ntab = 0, ret = -1;

	memset(img, 0, sizeof(*img));
	if (m->ncpus < 1 || m->ncpus > ACPI_MAX_CPUS) {
		pmvm_errf(err, errlen, "%d vCPUs: must be 1 to %d", m->ncpus,
		       ACPI_MAX_CPUS);
		return -1;
	}
	if (m->base % 16 || m->max > UINT64_MAX - m->base || m->max > SIZE_MAX) {
		pmvm_errf(err, errlen, "bad ACPI window 0x%llx+0x%llx (the RSDP must "
		       "be 16-byte aligned)", (unsigned long long)m->base,
		       (unsigned long long)m->max);
		return -1;
	}
	if (ctx && ctx->failed) {
		pmvm_errf(err, errlen, "a module's acpi_add_table() failed "
		       "(bad signature, too many tables or out of memory)");
		return -1;
	}
	if (ctx && !aml_ok(&ctx->dsdt)) {
		pmvm_errf(err, errlen, "the DSDT AML added by modules is "
		       "malformed (bad name, unbalanced close or out of memory)");
		return -1;
	}

	/* Lengths are known before addresses except for the XSDT's own,
	 * which only depends on the table count. */
	xlen = ACPI_HEADER_LEN + 8 * (size_t)(2 + (ctx ? ctx->nextra : 0));
	off = ALIGN16(ACPI_RSDP_LEN);
	size_t xsdt_off = off;
	off = ALIGN16(off + xlen);

	if (acpi_build_madt(m, &tab[MADT], &tlen[MADT]) < 0 ||
	    acpi_build_dsdt(m, ctx ? &ctx->dsdt : NULL, &tab[DSDT],
			    &tlen[DSDT]) < 0) {
		pmvm_errf(err, errlen, "out of memory building MADT/DSDT");
		goto out;
	}
	ntab = FIXED;
	snprintf(tname[FADT], sizeof(tname[0]), "FACP");
	snprintf(tname[MADT], sizeof(tname[0]), "APIC");
	snprintf(tname[DSDT], sizeof(tname[0]), "DSDT");
	for (int i = 0; ctx && i < ctx->nextra; i++) {
		const struct acpi_extra *e = &ctx->extra[i];
		int same = 0;

		if (acpi_build_table(e->sig, e->revision, e->body, e->len,
				     &tab[ntab], &tlen[ntab]) < 0) {
			pmvm_errf(err, errlen, "out of memory building %.4s",
			       e->sig);
			goto out;
		}
		for (int j = 0; j < ntab; j++)
			if (tab[j] && !memcmp(tab[j], e->sig, 4))
				same++;
		if (same)
			snprintf(tname[ntab], sizeof(tname[0]), "%.4s%u", e->sig,
				 (unsigned)(uint8_t)same);
		else
			snprintf(tname[ntab], sizeof(tname[0]), "%.4s", e->sig);
		ntab++;
	}

	/* Place FADT (its length is fixed), MADT, DSDT, extras. */
	tlen[FADT] = ACPI_FADT_LEN;
	for (int i = 0; i < ntab; i++) {
		taddr[i] = m->base + off;
		if (tlen[i] > m->max || off > m->max - tlen[i])
			off = m->max + 1;  /* does not fit: reported below */
		else
			off = ALIGN16(off + tlen[i]);
	}
	total = off;
	if (total > m->max) {
		size_t need = ALIGN16(ACPI_RSDP_LEN) + ALIGN16(xlen);
		for (int i = 0; i < ntab; i++)
			need += ALIGN16(tlen[i]);
		pmvm_errf(err, errlen, "tables need %zu bytes, only %llu "
		       "available at 0x%llx", need, (unsigned long long)m->max,
		       (unsigned long long)m->base);
		goto out;
	}
	if (acpi_build_fadt(m, taddr[DSDT], &tab[FADT], &tlen[FADT]) < 0) {
		pmvm_errf(err, errlen, "out of memory building FADT");
		goto out;
	}
	{
		uint64_t xaddr[2 + ACPI_MAX_TABLES];
		int nx = 0;

		for (int i = 0; i < ntab; i++)
			if (i != DSDT)  /* the DSDT is reached through the FADT */
				xaddr[nx++] = taddr[i];
		size_t got;
		if (acpi_build_xsdt(xaddr, nx, &xsdt, &got) < 0 || got != xlen) {
			pmvm_errf(err, errlen, "out of memory building XSDT");
			goto out;
		}
	}

	img->buf = calloc(1, total);
	if (!img->buf) {
		pmvm_errf(err, errlen, "out of memory (%zu bytes)", total);
		goto out;
	}
	img->len = total;
	img->base = m->base;
	img->rsdp = m->base;
	acpi_build_rsdp(m->base + xsdt_off, img->buf);
	img->t[img->nt++] = (struct acpi_placed){ "RSDP", 0, ACPI_RSDP_LEN };
	memcpy(img->buf + xsdt_off, xsdt, xlen);
	img->t[img->nt++] = (struct acpi_placed){ "XSDT", xsdt_off, xlen };
	for (int i = 0; i < ntab; i++) {
		size_t o = (size_t)(taddr[i] - m->base);
		memcpy(img->buf + o, tab[i], tlen[i]);
		img->t[img->nt] = (struct acpi_placed){ "", o, tlen[i] };
		memcpy(img->t[img->nt].name, tname[i], sizeof(tname[i]));
		img->nt++;
	}
	ret = 0;
out:
	for (int i = 0; i < FIXED + ACPI_MAX_TABLES; i++)
		free(tab[i]);
	free(xsdt);
	if (ret < 0)
		acpi_image_free(img);
	return ret;
}

int acpi_image_dump(const struct acpi_image *img, const char *dir,
		    char *err, size_t errlen)
{
	for (int i = 0; i < img->nt; i++) {
		char path[4096];
		const uint8_t *p = img->buf + img->t[i].off;
		size_t left = img->t[i].len;
		int fd;

		if (snprintf(path, sizeof(path), "%s/%s.dat", dir,
			     img->t[i].name) >= (int)sizeof(path)) {
			pmvm_errf(err, errlen, "%s: path too long", dir);
			return -1;
		}
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			pmvm_errf(err, errlen, "%s: %s", path, strerror(errno));
			return -1;
		}
		while (left) {
			ssize_t w = write(fd, p, left);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				pmvm_errf(err, errlen, "%s: write: %s", path,
				       w < 0 ? strerror(errno) : "short write");
				close(fd);
				return -1;
			}
			p += w;
			left -= (size_t)w;
		}
		if (close(fd) < 0) {
			pmvm_errf(err, errlen, "%s: close: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}
