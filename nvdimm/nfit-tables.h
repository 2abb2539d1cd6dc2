/*
 * nfit-tables.h - the NVDIMM Firmware Interface Table's sub-tables pmvm
 * writes (ACPI 6.5, 5.2.25), as packed structs whose fields carry the
 * spec's names: SPA Range (5.2.25.2), NVDIMM Region Mapping (5.2.25.3),
 * NVDIMM Control Region (5.2.25.5), Flush Hint Address (5.2.25.8) and
 * Platform Capabilities (5.2.25.9). The offsets are those of the spec's
 * tables and of /work/shared/design/nvdimm-acpi.md, checked below at
 * compile time; the lengths are the NVDIMM_NFIT_*_LEN of nvdimm.h, which
 * Linux checks exactly.
 *
 * Byte order as in acpi/acpi-tables.h: multi-byte fields hold little-endian
 * values, set with htole16/32/64(), read with le16/32/64toh().
 */
#ifndef PMVM_NVDIMM_NFIT_TABLES_H
#define PMVM_NVDIMM_NFIT_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "acpi-tables.h"
#include "nvdimm.h"

/* 5.2.25: the NFIT is the header, 4 reserved bytes, then sub-tables. The
 * body nvdimm_nfit_build() writes starts at reserved. */
struct acpi_nfit {
	struct acpi_sdt_header header;  /* "NFIT", revision 1 */
	uint32_t reserved;
	uint8_t structures[];
} ACPI_PACKED;
ACPI_AT(struct acpi_nfit, reserved, 36);
ACPI_AT(struct acpi_nfit, structures, 40);

/* NFIT Structure Types (table 5.132). */
#define NFIT_TYPE_SPA_RANGE             0
#define NFIT_TYPE_REGION_MAPPING        1
#define NFIT_TYPE_CONTROL_REGION        4
#define NFIT_TYPE_FLUSH_HINT            6
#define NFIT_TYPE_PLATFORM_CAPABILITIES 7

/* Every sub-table starts with these two fields. */
struct nfit_sub_header {
	uint16_t type;
	uint16_t length;
} ACPI_PACKED;
ACPI_SIZE(struct nfit_sub_header, 4);

/* 5.2.25.2 System Physical Address (SPA) Range Structure. */
struct nfit_spa_range {
	struct nfit_sub_header h;
	uint16_t spa_range_structure_index;     /* non-zero */
	uint16_t flags;
	uint32_t reserved;
	uint32_t proximity_domain;
	uint8_t address_range_type_guid[16];
	uint64_t system_physical_address_range_base;
	uint64_t system_physical_address_range_length;
	uint64_t address_range_memory_mapping_attribute;
} ACPI_PACKED;
ACPI_AT(struct nfit_spa_range, spa_range_structure_index, 4);
ACPI_AT(struct nfit_spa_range, flags, 6);
ACPI_AT(struct nfit_spa_range, proximity_domain, 12);
ACPI_AT(struct nfit_spa_range, address_range_type_guid, 16);
ACPI_AT(struct nfit_spa_range, system_physical_address_range_base, 32);
ACPI_AT(struct nfit_spa_range, system_physical_address_range_length, 40);
ACPI_AT(struct nfit_spa_range, address_range_memory_mapping_attribute, 48);
ACPI_SIZE(struct nfit_spa_range, NVDIMM_NFIT_SPA_LEN);

/* UEFI memory attributes for address_range_memory_mapping_attribute. */
#define EFI_MEMORY_WB 0x0008ULL
#define EFI_MEMORY_NV 0x8000ULL

/* 5.2.25.3 NVDIMM Region Mapping Structure ("memdev" in Linux). */
struct nfit_region_mapping {
	struct nfit_sub_header h;
	uint32_t nfit_device_handle;            /* == the DIMM's _ADR */
	uint16_t nvdimm_physical_id;
	uint16_t nvdimm_region_id;
	uint16_t spa_range_structure_index;
	uint16_t nvdimm_control_region_structure_index;
	uint64_t nvdimm_region_size;
	uint64_t region_offset;
	uint64_t nvdimm_physical_address_region_base;  /* DPA */
	uint16_t interleave_structure_index;
	uint16_t interleave_ways;
	uint16_t nvdimm_state_flags;            /* NFIT_STATE_* */
	uint16_t reserved;
} ACPI_PACKED;
ACPI_AT(struct nfit_region_mapping, nfit_device_handle, 4);
ACPI_AT(struct nfit_region_mapping, nvdimm_physical_id, 8);
ACPI_AT(struct nfit_region_mapping, nvdimm_region_id, 10);
ACPI_AT(struct nfit_region_mapping, spa_range_structure_index, 12);
ACPI_AT(struct nfit_region_mapping, nvdimm_control_region_structure_index, 14);
ACPI_AT(struct nfit_region_mapping, nvdimm_region_size, 16);
ACPI_AT(struct nfit_region_mapping, region_offset, 24);
ACPI_AT(struct nfit_region_mapping, nvdimm_physical_address_region_base, 32);
ACPI_AT(struct nfit_region_mapping, interleave_structure_index, 40);
ACPI_AT(struct nfit_region_mapping, interleave_ways, 42);
ACPI_AT(struct nfit_region_mapping, nvdimm_state_flags, 44);
ACPI_SIZE(struct nfit_region_mapping, NVDIMM_NFIT_MEMDEV_LEN);

/* NVDIMM State Flags: bit 3, the device is not armed (Linux then makes the
 * region read-only). */
#define NFIT_STATE_NOT_ARMED    0x0008

/* 5.2.25.5 NVDIMM Control Region Structure. */
struct nfit_control_region {
	struct nfit_sub_header h;
	uint16_t nvdimm_control_region_structure_index;
	uint16_t vendor_id;
	uint16_t device_id;
	uint16_t revision_id;
	uint16_t subsystem_vendor_id;
	uint16_t subsystem_device_id;
	uint16_t subsystem_revision_id;
	uint8_t valid_fields;
	uint8_t manufacturing_location;
	uint16_t manufacturing_date;
	uint16_t reserved0;
	uint32_t serial_number;
	uint16_t region_format_interface_code;
	uint16_t number_of_block_control_windows;
	uint64_t size_of_block_control_window;
	uint64_t command_register_offset_in_block_control_window;
	uint64_t size_of_command_register_in_block_control_windows;
	uint64_t status_register_offset_in_block_control_window;
	uint64_t size_of_status_register_in_block_control_windows;
	uint16_t nvdimm_control_region_flag;
	uint8_t reserved1[6];
} ACPI_PACKED;
ACPI_AT(struct nfit_control_region, nvdimm_control_region_structure_index, 4);
ACPI_AT(struct nfit_control_region, vendor_id, 6);
ACPI_AT(struct nfit_control_region, device_id, 8);
ACPI_AT(struct nfit_control_region, revision_id, 10);
ACPI_AT(struct nfit_control_region, subsystem_vendor_id, 12);
ACPI_AT(struct nfit_control_region, subsystem_device_id, 14);
ACPI_AT(struct nfit_control_region, subsystem_revision_id, 16);
ACPI_AT(struct nfit_control_region, valid_fields, 18);
ACPI_AT(struct nfit_control_region, manufacturing_location, 19);
ACPI_AT(struct nfit_control_region, manufacturing_date, 20);
ACPI_AT(struct nfit_control_region, serial_number, 24);
ACPI_AT(struct nfit_control_region, region_format_interface_code, 28);
ACPI_AT(struct nfit_control_region, number_of_block_control_windows, 30);
ACPI_AT(struct nfit_control_region, size_of_block_control_window, 32);
ACPI_AT(struct nfit_control_region, nvdimm_control_region_flag, 72);
ACPI_SIZE(struct nfit_control_region, NVDIMM_NFIT_DCR_LEN);

/* Region Format Interface Code 0x0301: byte-addressable, energy backed. */
#define NFIT_FIC_BYTE_ENERGY_BACKED 0x0301

/* 5.2.25.8 Flush Hint Address Structure: 16 bytes, then 8 per hint. */
struct nfit_flush_hint {
	struct nfit_sub_header h;
	uint32_t nfit_device_handle;
	uint16_t number_of_flush_hint_addresses;
	uint8_t reserved[6];
	uint64_t flush_hint_address[];
} ACPI_PACKED;
ACPI_AT(struct nfit_flush_hint, nfit_device_handle, 4);
ACPI_AT(struct nfit_flush_hint, number_of_flush_hint_addresses, 8);
ACPI_AT(struct nfit_flush_hint, flush_hint_address, 16);
/* pmvm gives each DIMM one hint. */
_Static_assert(sizeof(struct nfit_flush_hint) + sizeof(uint64_t) ==
	       NVDIMM_NFIT_FLUSH_LEN, "one flush hint");

/* 5.2.25.9 Platform Capabilities Structure. */
struct nfit_platform_capabilities {
	struct nfit_sub_header h;
	uint8_t highest_valid_capability;
	uint8_t reserved0[3];
	uint32_t capabilities;
	uint32_t reserved1;
} ACPI_PACKED;
ACPI_AT(struct nfit_platform_capabilities, highest_valid_capability, 4);
ACPI_AT(struct nfit_platform_capabilities, capabilities, 8);
ACPI_SIZE(struct nfit_platform_capabilities, NVDIMM_NFIT_CAP_LEN);

_Static_assert(NVDIMM_NFIT_BODY_LEN(0) == sizeof(struct acpi_nfit) -
	       sizeof(struct acpi_sdt_header) +
	       sizeof(struct nfit_platform_capabilities), "NFIT body");

#endif
