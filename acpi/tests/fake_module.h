/*
 * fake_module.h - what a device module's acpi() hook might contribute, for
 * the table tests: DSDT AML (an NVDIMM-root-like device with a _DSM, a
 * device with an OperationRegion/Field, _CRS and a method) plus an NFIT
 * with one SPA range and two SSDTs (to exercise duplicate dump names).
 */
#ifndef PMVM_ACPI_TEST_FAKE_MODULE_H
#define PMVM_ACPI_TEST_FAKE_MODULE_H

#include "tables.h"

#define FAKE_NFIT_SPA_BASE 0x140000000ULL
#define FAKE_NFIT_SPA_LEN  0x40000000ULL

int fake_module_acpi(struct acpi_ctx *ctx);

#endif
