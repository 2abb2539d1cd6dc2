/*
 * acpi.h - ACPI tables for the guest: what the core and modules call.
 *
 * The core calls acpi_build() once, after every module's setup(). It writes
 * RSDP (at LAYOUT_ACPI, inside the BIOS area Linux scans), XSDT, a
 * hardware-reduced FADT, MADT, DSDT and any tables modules add, into guest
 * memory below 1 MiB. Modules contribute through their acpi() hook:
 * acpi_dsdt() gives the AML builder for the body of Scope(\_SB) in the DSDT;
 * acpi_add_table() adds a whole table (e.g. NFIT). Later, the core may call
 * acpi_power_button() to ask the guest to shut down. docs/machine.md
 * ("## ACPI") describes the tables and the namespace.
 */
#ifndef PMVM_ACPI_H
#define PMVM_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "aml.h"

struct vm;
struct acpi_ctx;

/* AML appended inside Scope (\_SB) of the DSDT. */
struct aml *acpi_dsdt(struct acpi_ctx *ctx);

/* Add a table: sig is the 4-character signature, body is everything after
 * the 36-byte standard header (the builder writes the header, OEM fields
 * and checksum). Returns 0, or -1 if out of memory, out of table slots
 * (32), or sig is not 4 printable characters or is one acpi/ writes
 * itself (RSDT, XSDT, FACP, FACS, DSDT, APIC). A failure also makes
 * acpi_build() fail, naming the module. */
int acpi_add_table(struct acpi_ctx *ctx, const char sig[4], uint8_t revision,
		   const void *body, size_t len);

/* Press the guest's ACPI power button (for the core, e.g. on SIGTERM, to
 * ask the guest to shut down cleanly): an edge on the GSI of the Generic
 * Event Device in the DSDT, whose _EVT notifies \_SB.PWRB (0x80). What
 * happens next is up to the guest (Linux reports KEY_POWER; systemd-logind
 * or acpid power off). Safe from the main thread after setup. Returns 0,
 * or -1 if the machine has no such GSI or KVM_IRQ_LINE failed. */
int acpi_power_button(struct vm *vm);

/* A Generic Event Device event (acpi/pm.c): during module setup, a module
 * asks for an event that notifies the ACPI object path (a string that must
 * live as long as the VM) with value; the event gets its own GSI and GED0
 * in the DSDT dispatches it. Returns the event number, or -1 if no GSI is
 * free (or four events exist). acpi_ged_raise() then sends it (an edge on
 * its GSI; any thread): 0, or -1 for an unknown event or a failed
 * KVM_IRQ_LINE. */
int acpi_ged_add(struct vm *vm, const char *path, uint8_t value);
int acpi_ged_raise(struct vm *vm, int event);

/* Build every table into guest memory. On success stores the RSDP address.
 * If dump_dir is non-NULL, also writes each table to dump_dir/SIG.dat
 * (DSDT.dat, FACP.dat, ...; several of one signature get a numeric suffix). */
int acpi_build(struct vm *vm, const char *dump_dir, uint64_t *rsdp_gpa,
	       char *err, size_t errlen);

#endif
