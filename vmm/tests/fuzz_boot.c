/*
 * fuzz_boot.c - fuzz target for the kernel-image parsers (bzImage setup
 * header, PVH ELF notes and segments): any input must be accepted or
 * refused without reading outside it, and an accepted PVH ELF must only
 * describe segments inside the file. Built as a libFuzzer target with clang;
 * with gcc, fuzz_replay.c drives the same entry point over mutated seeds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bzimage_info bi;
	struct pvh_info pi;
	char err[200];
	/* A private copy, exactly size bytes, so ASan sees any overrun. */
	uint8_t *buf = malloc(size ? size : 1);

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (bzimage_parse(buf, size, &bi, err, sizeof(err)) == 0) {
		if (bi.setup_size >= size || bi.hdr_end > 0x290)
			abort();
	}
	{
		char rel[65];

		if (bzimage_kernel_release(buf, size, rel, sizeof(rel)) == 0 &&
		    (strlen(rel) == 0 || strlen(rel) >= sizeof(rel) || strchr(rel, ' ')))
			abort();
	}
	if (pvh_parse(buf, size, &pi, err, sizeof(err)) == 0) {
		if (pi.nseg < 1 || pi.nseg > ELF_MAX_SEGMENTS)
			abort();
		for (int i = 0; i < pi.nseg; i++) {
			const struct elf_segment *s = &pi.seg[i];

			if (s->offset > size || s->filesz > size - s->offset ||
			    s->filesz > s->memsz || s->paddr + s->memsz < s->paddr)
				abort();
		}
	}
	free(buf);
	return 0;
}
