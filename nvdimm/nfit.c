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
 */
#include "nvdimm.h"

#include <string.h>

/* 66F0D379-B4F3-4074-AC43-0D3318B78CDB in its in-table byte order. */
static const uint8_t pmem_guid[16] = {
	0x79, 0xd3, 0xf0, 0x66, 0xf3, 0xb4, 0x74, 0x40,
	0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7, 0x8c, 0xdb,
};

#define NFIT_TYPE_SPA    0
#define NFIT_TYPE_MEMDEV 1
#define NFIT_TYPE_DCR    4
#define NFIT_TYPE_FLUSH  6
#define NFIT_TYPE_CAP    7

#define NFIT_MEMDEV_NOT_ARMED 0x0008
#define EFI_MEMORY_WB 0x0008ULL
#define EFI_MEMORY_NV 0x8000ULL

#define PMVM_DCR_VENDOR 0x8086  /* as real NVDIMM-N parts; Linux has no vendor quirks */
#define PMVM_DCR_DEVICE 0x7076  /* "pv" */
#define PMVM_SERIAL_BASE 0x706d0000u

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint8_t *sub(uint8_t *p, uint16_t type, uint16_t len)
{
	memset(p, 0, len);
	put16(p, type);
	put16(p + 2, len);
	return p;
}

size_t nvdimm_nfit_build(const struct nvdimm_desc *d, int n, uint8_t *buf, size_t cap)
{
	size_t need;
	uint8_t *p;

	if (n < 0 || n > NVDIMM_MAX)
		return 0;
	need = NVDIMM_NFIT_BODY_LEN(n);
	if (cap < need)
		return 0;
	memset(buf, 0, 4); /* reserved */
	p = buf + 4;
	for (int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)(i + 1);
		uint8_t *s;

		if (d[i].handle == 0 || d[i].size == 0 || d[i].gpa + d[i].size < d[i].gpa)
			return 0;

		s = sub(p, NFIT_TYPE_SPA, NVDIMM_NFIT_SPA_LEN);
		put16(s + 4, idx);                 /* range index */
		put16(s + 6, 0);                   /* flags */
		put32(s + 12, 0);                  /* proximity domain */
		memcpy(s + 16, pmem_guid, 16);
		put64(s + 32, d[i].gpa);
		put64(s + 40, d[i].size);
		put64(s + 48, EFI_MEMORY_WB | EFI_MEMORY_NV);
		p += NVDIMM_NFIT_SPA_LEN;

		s = sub(p, NFIT_TYPE_MEMDEV, NVDIMM_NFIT_MEMDEV_LEN);
		put32(s + 4, d[i].handle);
		put16(s + 8, (uint16_t)i);         /* physical id */
		put16(s + 10, 0);                  /* region id */
		put16(s + 12, idx);                /* SPA range index */
		put16(s + 14, idx);                /* DCR index */
		put64(s + 16, d[i].size);          /* region size */
		put64(s + 24, 0);                  /* region offset */
		put64(s + 32, 0);                  /* DPA */
		put16(s + 40, 0);                  /* interleave index */
		put16(s + 42, 1);                  /* interleave ways */
		put16(s + 44, d[i].unarmed ? NFIT_MEMDEV_NOT_ARMED : 0);
		p += NVDIMM_NFIT_MEMDEV_LEN;

		s = sub(p, NFIT_TYPE_DCR, NVDIMM_NFIT_DCR_LEN);
		put16(s + 4, idx);
		put16(s + 6, PMVM_DCR_VENDOR);
		put16(s + 8, PMVM_DCR_DEVICE);
		put16(s + 10, 1);                  /* revision */
		put16(s + 12, PMVM_DCR_VENDOR);    /* subsystem vendor */
		put16(s + 14, PMVM_DCR_DEVICE);
		put16(s + 16, 1);
		put32(s + 24, PMVM_SERIAL_BASE | (uint32_t)i);
		put16(s + 28, 0x0301);             /* byte-addressable, energy backed */
		put16(s + 30, 0);                  /* no block windows */
		p += NVDIMM_NFIT_DCR_LEN;

		s = sub(p, NFIT_TYPE_FLUSH, NVDIMM_NFIT_FLUSH_LEN);
		put32(s + 4, d[i].handle);
		put16(s + 8, 1);
		put64(s + 16, d[i].flush_gpa);
		p += NVDIMM_NFIT_FLUSH_LEN;
	}
	{
		/* Neither CPU caches nor the memory controller are in the
		 * persistence domain: Linux keeps the write cache on, sends
		 * REQ_PREFLUSH, and so writes the flush hints. */
		uint8_t *s = sub(p, NFIT_TYPE_CAP, NVDIMM_NFIT_CAP_LEN);
		s[4] = 1;                          /* highest valid capability bit */
		put32(s + 8, 0);
		p += NVDIMM_NFIT_CAP_LEN;
	}
	return (size_t)(p - buf);
}
