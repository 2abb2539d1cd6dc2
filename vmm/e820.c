/*
 * e820.c - the guest's BIOS memory map (e820), built from the region table.
 *
 * The same entries go into the Linux zero page and, converted, into the PVH
 * start info memmap. RAM regions become E820_RAM; the legacy area from the
 * EBDA to 1 MiB (where the ACPI tables live) is reserved; ranges modules map
 * with VM_MEM_NO_E820 or VM_MEM_PMEM (NVDIMMs, the DSM page) and read-only
 * ranges are left out: the guest learns about those from ACPI.
 */
#include "internal.h"

static int e820_push(struct e820_entry *out, int n, int max, uint64_t addr,
		     uint64_t size, uint32_t type)
{
	if (size == 0)
		return n;
	if (n > 0 && out[n - 1].type == type &&
	    out[n - 1].addr + out[n - 1].size == addr) {
		out[n - 1].size += size;
		return n;
	}
	if (n >= max)
		return -1;
	out[n].addr = addr;
	out[n].size = size;
	out[n].type = type;
	return n + 1;
}

int e820_build(const struct vm_memmap *m, struct e820_entry *out, int max)
{
	const uint64_t rsv_lo = LAYOUT_EBDA, rsv_hi = 1 * MiB;
	bool reserved_done = false;
	int n = 0;

	for (int i = 0; i < m->n && n >= 0; i++) {
		const struct vm_region *r = &m->r[i];
		uint64_t start = r->gpa, end = r->gpa + r->size;

		if (r->flags & (VM_MEM_NO_E820 | VM_MEM_PMEM | VM_MEM_READONLY))
			continue;
		if (!reserved_done && end > rsv_lo && start < rsv_hi) {
			/* Split a RAM region around the legacy hole. */
			if (start < rsv_lo)
				n = e820_push(out, n, max, start, rsv_lo - start,
					      E820_RAM);
			if (n < 0)
				break;
			n = e820_push(out, n, max, rsv_lo, rsv_hi - rsv_lo,
				      E820_RESERVED);
			reserved_done = true;
			if (n < 0 || end <= rsv_hi)
				continue;
			start = rsv_hi;
		}
		if (!reserved_done && start >= rsv_hi) {
			n = e820_push(out, n, max, rsv_lo, rsv_hi - rsv_lo,
				      E820_RESERVED);
			reserved_done = true;
			if (n < 0)
				break;
		}
		n = e820_push(out, n, max, start, end - start, E820_RAM);
	}
	return n;
}
