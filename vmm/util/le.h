/*
 * le.h - little-endian loads and stores at unaligned byte addresses.
 *
 * The one copy of these helpers in the tree: ACPI tables, NFIT sub-tables,
 * DSM buffers, boot-protocol headers and the pcow on-disk format are all
 * little endian and are read from or written to byte buffers that carry no
 * alignment promise. Header-only; shared by vmm, its modules, libpcow and
 * pcow-img (vmm/util/ holds what every binary of the project shares).
 */
#ifndef PMVM_UTIL_LE_H
#define PMVM_UTIL_LE_H

#include <endian.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t get_le16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static inline uint32_t get_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline uint64_t get_le64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline void put_le16(void *p, uint16_t v)
{
	v = htole16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_le32(void *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_le64(void *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

#endif
