/*
 * check.h - structural checks of a built ACPI image, shared by the table
 * tests: every table's checksum, the RSDP's two checksums, the XSDT
 * pointers, and lookup of a table by signature.
 */
#ifndef PMVM_ACPI_TEST_CHECK_H
#define PMVM_ACPI_TEST_CHECK_H

#include <stdint.h>
#include <string.h>

#include "tables.h"

static inline uint64_t rd(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Host pointer to the table at guest address gpa inside img, or NULL. */
static inline const uint8_t *img_at(const struct acpi_image *img, uint64_t gpa,
				    size_t len)
{
	if (gpa < img->base || gpa - img->base > img->len ||
	    len > img->len - (gpa - img->base))
		return NULL;
	return img->buf + (gpa - img->base);
}

/* The n-th table with signature sig reached through RSDP -> XSDT (the DSDT
 * through the FADT's X_DSDT), or NULL if absent or not wholly inside img.
 * *len gets its length. */
static inline const uint8_t *find_table(const struct acpi_image *img,
					const char *sig, int nth, size_t *len)
{
	const uint8_t *rsdp = img_at(img, img->rsdp, ACPI_RSDP_LEN);
	if (!rsdp)
		return NULL;
	const uint8_t *x = img_at(img, rd(rsdp + 24, 8), ACPI_HEADER_LEN);
	if (!x)
		return NULL;
	uint32_t xlen = (uint32_t)rd(x + 4, 4);
	for (uint32_t off = ACPI_HEADER_LEN; off + 8 <= xlen; off += 8) {
		uint64_t gpa = rd(x + off, 8);
		const uint8_t *t = img_at(img, gpa, ACPI_HEADER_LEN);
		if (!t)
			return NULL;
		if (!strcmp(sig, "DSDT")) {
			if (memcmp(t, "FACP", 4))
				continue;
			gpa = rd(t + 140, 8);
			t = img_at(img, gpa, ACPI_HEADER_LEN);
			if (!t)
				return NULL;
		}
		if (!memcmp(t, sig, 4) && nth-- == 0) {
			*len = (uint32_t)rd(t + 4, 4);
			return img_at(img, gpa, *len);
		}
	}
	return NULL;
}

#endif
