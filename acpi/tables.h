/*
 * tables.h - the vm-free lower layer of pmvm's ACPI: typed table builders
 * that turn a description of the machine (struct acpi_machine) plus what
 * the modules contributed (struct acpi_ctx) into one byte image that the
 * glue in build.c copies into guest memory at LAYOUT_ACPI.
 *
 * Nothing here touches a struct vm, KVM or the module list, so the unit
 * tests link only tables.c and aml.c and compare or disassemble the bytes.
 * Like aml.c, this layer never prints or exits; errors come back in err.
 */
#ifndef PMVM_ACPI_TABLES_H
#define PMVM_ACPI_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aml.h"

/* The value of SLP_TYPa in \_S5 and what acpi/pm.c decodes as power-off.
 * A hardware-reduced guest writes (SLP_TYP << 2) | SLP_EN to the sleep
 * control register: for S5 that is the byte 0x34. */
#define ACPI_S5_SLP_TYP      5
#define ACPI_SLP_TYP_SHIFT   2
#define ACPI_SLP_TYP_MASK    0x1c
#define ACPI_SLP_EN          0x20
#define ACPI_WAK_STS         0x80

#define ACPI_OEM_ID          "PMVM  "   /* 6 bytes */
#define ACPI_OEM_TABLE_ID    "PMVMACPI" /* 8 bytes */
#define ACPI_CREATOR_ID      "PMVM"     /* 4 bytes */
#define ACPI_OEM_REVISION    1
#define ACPI_CREATOR_REV     1

#define ACPI_HEADER_LEN      36
#define ACPI_RSDP_LEN        36
#define ACPI_FADT_LEN        276 /* revision 6 */
#define ACPI_MAX_TABLES      32  /* added by modules */

/* A table added by a module: body without the standard header. */
struct acpi_extra {
	char sig[4];
	uint8_t revision;
	uint8_t *body;
	size_t len;
};

/* What modules contribute during their acpi() hook (acpi.h). */
struct acpi_ctx {
	struct aml dsdt;  /* body of Scope (\_SB) */
	struct acpi_extra extra[ACPI_MAX_TABLES];
	int nextra;
	bool failed;      /* an acpi_add_table() failed */
};

void acpi_ctx_init(struct acpi_ctx *ctx);
void acpi_ctx_free(struct acpi_ctx *ctx);

/* The guest-visible machine, as far as ACPI describes it. The addresses
 * and ports are normally the layout.h values (acpi_machine_default()). */
struct acpi_machine {
	int ncpus;              /* 1 .. ACPI_MAX_CPUS; APIC ID = index */
	uint64_t base;          /* guest address of the image (RSDP first) */
	uint64_t max;           /* bytes available there */
	uint64_t lapic, ioapic;
	uint16_t sleep_ctl, sleep_sts, reset_port;
	uint8_t reset_value;
	uint16_t com1_port;
	uint8_t com1_irq;
	uint16_t kbd_data, kbd_cmd;  /* i8042 */
	uint8_t kbd_irq;
};
#define ACPI_MAX_CPUS 4096

void acpi_machine_default(struct acpi_machine *m, int ncpus);

/* Where one table lies inside the image (for dumping and tests). */
struct acpi_placed {
	char name[12];          /* "RSDP", "DSDT", "NFIT", "SSDT1" ... */
	size_t off, len;
};

/* The result: bytes for [base, base + len) in guest memory. */
struct acpi_image {
	uint8_t *buf;
	size_t len;
	uint64_t base;
	uint64_t rsdp;          /* guest address of the RSDP (== base) */
	struct acpi_placed t[ACPI_MAX_TABLES + 8];
	int nt;
};

/* Build every table. Returns 0, or -1 with err filled (and img empty). */
int acpi_tables_build(const struct acpi_machine *m, const struct acpi_ctx *ctx,
		      struct acpi_image *img, char *err, size_t errlen);
void acpi_image_free(struct acpi_image *img);

/* Write each table of img to dir/NAME.dat (the format iasl -d reads). */
int acpi_image_dump(const struct acpi_image *img, const char *dir,
		    char *err, size_t errlen);

/* ---- Typed builders (exposed for tests) ---------------------------------
 * Each writes a complete table with a valid checksum into a malloc'd buffer
 * (*out, *len); -1 on allocation failure or bad arguments. */
int acpi_build_fadt(const struct acpi_machine *m, uint64_t dsdt,
		    uint8_t **out, size_t *len);
int acpi_build_madt(const struct acpi_machine *m, uint8_t **out, size_t *len);
int acpi_build_dsdt(const struct acpi_machine *m, const struct aml *sb_body,
		    uint8_t **out, size_t *len);
int acpi_build_xsdt(const uint64_t *addrs, int n, uint8_t **out, size_t *len);
int acpi_build_table(const char sig[4], uint8_t revision, const void *body,
		     size_t blen, uint8_t **out, size_t *len);
void acpi_build_rsdp(uint64_t xsdt, uint8_t out[ACPI_RSDP_LEN]);

/* One event of the Generic Event Device: an edge on gsi notifies the
 * object at path (e.g. "\\_SB.PWRB") with value. */
struct acpi_ged_event {
	uint32_t gsi;
	const char *path;
	uint8_t value;
};

/* Append the Generic Event Device for n events (acpi/pm.c adds it to the
 * DSDT body):
 *   Device (GED0) { _HID "ACPI0013", _UID 0,
 *     _CRS { Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {gsi}
 *            ... one descriptor per event }
 *     Method (_EVT, 1) { If (Arg0 == gsi) { Notify (path, value) } ... } } */
void acpi_aml_ged(struct aml *a, const struct acpi_ged_event *ev, int n);

/* What a byte written to one of the power-management ports (offset 0:
 * sleep control, 1: sleep status, 2: reset; see acpi/pm.c) asks for. */
enum acpi_pm_action { ACPI_PM_NONE, ACPI_PM_POWEROFF, ACPI_PM_RESET };
enum acpi_pm_action acpi_pm_decode(unsigned reg, uint8_t value);

/* Sum of bytes modulo 256 (0 for a valid table). */
uint8_t acpi_checksum(const void *p, size_t len);

#endif
