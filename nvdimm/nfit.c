/*
 * nfit.c - the NVDIMM Firmware Interface Table (ACPI 6.x, 5.2.25) for
 * pmvm's emulated DIMMs.
 *
 * Per DIMM: an SPA range (persistent memory), a region mapping (memdev)
 * tying the range to the DIMM's handle, a control region (DCR) and a flush
 * hint address sub-table; one platform capabilities sub-table at the end.
 * Linux (drivers/acpi/nfit) rejects the whole table on a wrong sub-table
 * length, so the lengths here are exact. Identification fields (vendor,
 * device, serial, region offset) feed the interleave-set cookie that
 * namespace labels record: they depend only on the DIMM's position in the
 * --nvdimm list, never on addresses, so labels survive a changed memory size.
 * The sub-tables are the packed structs of nfit-tables.h, filled by name.
 */
#include "nvdimm.h"
#include "nfit-tables.h"

#include <endian.h>
#include <string.h>

/* 66F0D379-B4F3-4074-AC43-0D3318B78CDB in its in-table byte order. */
static const uint8_t pmem_guid[16] = {
	0x79, 0xd3, 0xf0, 0x66, 0xf3, 0xb4, 0x74, 0x40,
	0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7, 0x8c, 0xdb,
};

#define PMVM_DCR_VENDOR 0x8086  /* as real NVDIMM-N parts; Linux has no vendor quirks */
#define PMVM_DCR_DEVICE 0x7076  /* "pv" */
#define PMVM_SERIAL_BASE 0x706d0000u

/* Start the sub-table of type type and length len at *p (zeroed) and move
 * *p past it. */
static void *sub(uint8_t **p, uint16_t type, uint16_t len)
{
	struct nfit_sub_header *h = (struct nfit_sub_header *)*p;

	memset(h, 0, len);
	h->type = htole16(type);
	h->length = htole16(len);
	*p += len;
	return h;
}

size_t nvdimm_nfit_build(const struct nvdimm_desc *d, int n, uint8_t *buf, size_t cap)
{
	struct nfit_platform_capabilities *cap_st;
	size_t need;
	uint8_t *p;

	if (n < 0 || n > NVDIMM_MAX)
		return 0;
	need = NVDIMM_NFIT_BODY_LEN(n);
	if (cap < need)
		return 0;
	/* The body starts at the NFIT's reserved field. */
	memset(buf, 0, sizeof(uint32_t));
	p = buf + offsetof(struct acpi_nfit, structures) -
	    offsetof(struct acpi_nfit, reserved);
	for (int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)(i + 1);
		struct nfit_spa_range *spa;
		struct nfit_region_mapping *map;
		struct nfit_control_region *dcr;
		struct nfit_flush_hint *fh;

		if (d[i].handle == 0 || d[i].size == 0 || d[i].gpa + d[i].size < d[i].gpa)
			return 0;

		spa = sub(&p, NFIT_TYPE_SPA_RANGE, sizeof(*spa));
		spa->spa_range_structure_index = htole16(idx);
		spa->flags = 0;
		spa->proximity_domain = 0;
		memcpy(spa->address_range_type_guid, pmem_guid, sizeof(pmem_guid));
		spa->system_physical_address_range_base = htole64(d[i].gpa);
		spa->system_physical_address_range_length = htole64(d[i].size);
		spa->address_range_memory_mapping_attribute =
			htole64(EFI_MEMORY_WB | EFI_MEMORY_NV);

		map = sub(&p, NFIT_TYPE_REGION_MAPPING, sizeof(*map));
		map->nfit_device_handle = htole32(d[i].handle);
		map->nvdimm_physical_id = htole16((uint16_t)i);
		map->nvdimm_region_id = 0;
		map->spa_range_structure_index = htole16(idx);
		map->nvdimm_control_region_structure_index = htole16(idx);
		map->nvdimm_region_size = htole64(d[i].size);
		map->region_offset = 0;
		map->nvdimm_physical_address_region_base = 0;
		map->interleave_structure_index = 0;
		map->interleave_ways = htole16(1);
		map->nvdimm_state_flags =
			htole16(d[i].unarmed ? NFIT_STATE_NOT_ARMED : 0);

		dcr = sub(&p, NFIT_TYPE_CONTROL_REGION, sizeof(*dcr));
		dcr->nvdimm_control_region_structure_index = htole16(idx);
		dcr->vendor_id = htole16(PMVM_DCR_VENDOR);
		dcr->device_id = htole16(PMVM_DCR_DEVICE);
		dcr->revision_id = htole16(1);
		dcr->subsystem_vendor_id = htole16(PMVM_DCR_VENDOR);
		dcr->subsystem_device_id = htole16(PMVM_DCR_DEVICE);
		dcr->subsystem_revision_id = htole16(1);
		dcr->serial_number = htole32(PMVM_SERIAL_BASE | (uint32_t)i);
		dcr->region_format_interface_code =
			htole16(NFIT_FIC_BYTE_ENERGY_BACKED);
		dcr->number_of_block_control_windows = 0;

		fh = sub(&p, NFIT_TYPE_FLUSH_HINT, NVDIMM_NFIT_FLUSH_LEN);
		fh->nfit_device_handle = htole32(d[i].handle);
		fh->number_of_flush_hint_addresses = htole16(1);
		fh->flush_hint_address[0] = htole64(d[i].flush_gpa);
	}
	/* Neither CPU caches nor the memory controller are in the
	 * persistence domain: Linux keeps the write cache on, sends
	 * REQ_PREFLUSH, and so writes the flush hints. */
	cap_st = sub(&p, NFIT_TYPE_PLATFORM_CAPABILITIES, sizeof(*cap_st));
	cap_st->highest_valid_capability = 1;
	cap_st->capabilities = 0;
	return (size_t)(p - buf);
}
