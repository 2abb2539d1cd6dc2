/*
 * memory - the guest's view of RAM agrees everywhere. Argument mem=MiB
 * (what --memory gave). RAM is [0, min(mem, 3 GiB)) plus, above 3 GiB of
 * RAM, [4 GiB, 4 GiB + rest) (vmm/layout.h). Checks the PVH memory map
 * (RAM ends where it should, 1 MiB.. is one RAM range, the legacy area with
 * the RSDP is reserved), the FDT /memory nodes (same total and end), and
 * that the last low RAM page holds what is written to it.
 */
#include <libfdt.h>

#include "pvh.h"
#include "rt.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define LOW_RAM_MAX (3 * GiB)

static uint64_t be64(const void *p)
{
	const uint8_t *b = p;
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

void rt_main(void)
{
	uint64_t mem = (uint64_t)rt_arg_int("mem", 256) * MiB;
	uint64_t low_end = mem < LOW_RAM_MAX ? mem : LOW_RAM_MAX;
	uint64_t want_end = mem <= LOW_RAM_MAX ? mem : 4 * GiB + (mem - LOW_RAM_MAX);
	const struct hvm_start_info *si = rt_start_info;
	const struct hvm_memmap_table_entry *mm = NULL;
	uint64_t ram_end = 0, fdt_total = 0, fdt_end = 0;
	uint64_t rsdp = si ? si->rsdp_paddr : 0;
	bool low_ok = false, rsdp_reserved = false;
	const void *fdt = rt_fdt();
	int node, nmem = 0;

	rt_plan(5);
	if (si && si->version >= 1 && si->memmap_paddr)
		mm = (const void *)(uintptr_t)si->memmap_paddr;
	for (uint32_t i = 0; mm && i < si->memmap_entries; i++) {
		uint64_t a = mm[i].addr, e = mm[i].addr + mm[i].size;

		rt_diag("memmap %u: 0x%lx-0x%lx type %u", i, (unsigned long)a,
			(unsigned long)e, mm[i].type);
		if (mm[i].type == 1 && e > ram_end)
			ram_end = e;
		if (mm[i].type == 1 && a <= 1 * MiB && e >= low_end)
			low_ok = true;
		if (mm[i].type == 2 && rsdp >= a && rsdp < e)
			rsdp_reserved = true;
	}
	rt_ok(mm && ram_end == want_end, "PVH memmap: RAM ends at 0x%lx (expected 0x%lx)",
	      (unsigned long)ram_end, (unsigned long)want_end);
	rt_ok(low_ok && rsdp_reserved,
	      "PVH memmap: 1 MiB..0x%lx is RAM, the RSDP at 0x%lx is reserved",
	      (unsigned long)low_end, (unsigned long)rsdp);
	if (fdt) {
		fdt_for_each_subnode(node, fdt, 0) {
			const char *type = fdt_getprop(fdt, node, "device_type", NULL);
			int len;
			const uint8_t *reg = fdt_getprop(fdt, node, "reg", &len);

			if (!type || strcmp(type, "memory") || !reg)
				continue;
			for (int off = 0; off + 16 <= len; off += 16) {
				uint64_t a = be64(reg + off), sz = be64(reg + off + 8);

				nmem++;
				fdt_total += sz;
				if (a + sz > fdt_end)
					fdt_end = a + sz;
			}
		}
	}
	rt_ok(fdt && nmem > 0 && fdt_total == mem,
	      "FDT /memory: %d ranges, %lu MiB in all", nmem,
	      (unsigned long)(fdt_total / MiB));
	rt_ok(fdt_end == want_end, "FDT /memory ends at 0x%lx", (unsigned long)fdt_end);

	volatile uint64_t *top = (volatile uint64_t *)(uintptr_t)(low_end - 4096);
	bool rw = true;

	for (int i = 0; i < 8; i++)
		top[i * 64] = 0x5a5a0000ull + i;
	for (int i = 0; i < 8; i++)
		rw &= top[i * 64] == 0x5a5a0000ull + i;
	rt_ok(rw, "the last low RAM page (0x%lx) keeps what is written",
	      (unsigned long)(low_end - 4096));
}
