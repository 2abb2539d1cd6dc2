/*
 * multiboot.c - a Multiboot (v1) test guest: what vmm hands a kernel booted
 * through the Multiboot protocol (the path kvm-unit-tests' x86 tests take),
 * and the fw_cfg items those tests read. Built twice (meson.build): as an
 * ELF without the PVH note (vmm loads it by its program headers) and as a
 * flat binary whose header carries its load addresses (the a.out kludge).
 * Arguments: mem=MIB (the --memory given), cpus=N (--smp), module=BYTES
 * (the --initrd file's size; its first bytes are "pmvm-module").
 */
#include "rt.h"

#define MBI_MEM     0x001u
#define MBI_CMDLINE 0x004u
#define MBI_MODULES 0x008u
#define MBI_MMAP    0x040u
#define MBI_LOADER  0x200u

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}

static uint64_t fwcfg(uint16_t key, int bytes)
{
	uint64_t v = 0;

	outw(0x510, key);
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)inb(0x511) << (8 * i);
	return v;
}

static bool str_has(const char *s, const char *w)
{
	for (; *s; s++) {
		size_t i = 0;
		while (w[i] && s[i] == w[i])
			i++;
		if (!w[i])
			return true;
	}
	return false;
}

void rt_main(void)
{
	const uint32_t *mi = rt_mb_info;
	uint64_t mem = (uint64_t)rt_arg_int("mem", 0) << 20, ram = 0, up = 0;
	long cpus = rt_arg_int("cpus", 1), modlen = rt_arg_int("module", -1);
	bool mmap_ok = true, has_low = false;
	char sig[5] = { 0 };

	rt_plan(13);
	rt_ok(rt_boot_magic == RT_MULTIBOOT_MAGIC && mi,
	      "entered with EAX = 0x2BADB002 (got 0x%x), EBX = the information", rt_boot_magic);
	if (!mi)
		return;
	rt_ok((mi[0] & (MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER)) ==
	      (MBI_MEM | MBI_CMDLINE | MBI_MMAP | MBI_LOADER),
	      "flags 0x%x: memory, command line, memory map, loader name", mi[0]);
	/* the memory map: 24-byte entries (size 20), RAM adds up to --memory */
	for (uint32_t o = 0; o < mi[11]; o += 24) {
		const uint8_t *e = (const uint8_t *)(uintptr_t)(mi[12] + o);
		uint32_t size = *(const uint32_t *)e, type = *(const uint32_t *)(e + 20);
		uint64_t a = *(const uint64_t *)(e + 4), l = *(const uint64_t *)(e + 12);

		if (size != 20)
			mmap_ok = false;
		if (type == 1) {
			ram += l;
			has_low |= a == 0;
			if (a <= 0x100000 && a + l > 0x100000)
				up = a + l - 0x100000;
		}
	}
	rt_ok(mmap_ok && mi[11] && mi[11] % 24 == 0, "memory map: %u bytes of 24-byte entries",
	      mi[11]);
	/* all of --memory but the legacy hole below 1 MiB (640 KiB-1 MiB) */
	rt_ok(mem && ram <= mem && mem - ram < 0x100000 && up + 0x100000 == mem,
	      "memory map RAM is --memory less the hole below 1 MiB (%lu KiB of %lu)",
	      (unsigned long)(ram >> 10), (unsigned long)(mem >> 10));
	rt_ok(has_low && mi[1] > 0 && mi[1] <= 640, "mem_lower %u KiB (0 < x <= 640)", mi[1]);
	rt_ok(up && (uint64_t)mi[2] * 1024 == up, "mem_upper %u KiB: the RAM from 1 MiB on",
	      mi[2]);
	rt_ok(str_has(rt_cmdline(), "mbtest"), "command line \"%s\"", rt_cmdline());
	rt_ok(mi[16] && str_has((const char *)(uintptr_t)mi[16], "pmvm"),
	      "boot loader name \"%s\"", mi[16] ? (const char *)(uintptr_t)mi[16] : "");
	if (modlen >= 0) {
		const uint32_t *m = (const uint32_t *)(uintptr_t)mi[6];
		bool ok = (mi[0] & MBI_MODULES) && mi[5] == 1 && m &&
			  m[1] - m[0] == (uint32_t)modlen && !(m[0] & 0xfff) &&
			  str_has((const char *)(uintptr_t)m[0], "pmvm-module") &&
			  str_has((const char *)(uintptr_t)m[2], "initrd");
		rt_ok(ok, "one module: the --initrd file (%ld bytes, page-aligned)", modlen);
	} else {
		rt_ok(!(mi[0] & MBI_MODULES) && mi[5] == 0, "no module without --initrd");
	}
	/* fw_cfg, as kvm-unit-tests reads it */
	{
		uint64_t v = fwcfg(0x00, 4);
		for (int i = 0; i < 4; i++)
			sig[i] = (char)(v >> (8 * i));
	}
	rt_ok(sig[0] == 'Q' && sig[1] == 'E' && sig[2] == 'M' && sig[3] == 'U',
	      "fw_cfg signature \"%s\"", sig);
	rt_ok(fwcfg(0x05, 2) == (uint64_t)cpus && fwcfg(0x0f, 2) == (uint64_t)cpus,
	      "fw_cfg NB_CPUS and MAX_CPUS = --smp %ld", cpus);
	rt_ok(fwcfg(0x03, 8) == mem && fwcfg(0x01, 4) == 1,
	      "fw_cfg RAM_SIZE = --memory, ID 1");
	rt_ok(fwcfg(0x1234, 8) == 0 && fwcfg(0x0d, 8) == 0,
	      "fw_cfg: an unknown key reads zeros, NUMA 0 nodes");
}
