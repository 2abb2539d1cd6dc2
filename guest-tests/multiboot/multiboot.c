/*
 * multiboot.c - a Multiboot (v1) test guest: what vmm hands a kernel booted
 * through the Multiboot protocol (the path kvm-unit-tests' x86 tests take),
 * and the fw_cfg items those tests read. Built twice (meson.build): as an
 * ELF without the PVH note (vmm loads it by its program headers) and as a
 * flat binary whose header carries its load addresses (the a.out kludge).
 * Arguments: mem=MIB (the --memory given), cpus=N (--smp), module=BYTES
 * (the --initrd file's size; its first bytes are "pmvm-module"). With
 * "testdev" it checks pc-testdev instead (vmm/pc_testdev.c): the scratch
 * register through both port windows at every width, the MMIO scratch
 * memory, a page flush keeping RAM contents, and IRQ lines reaching the
 * IOAPIC (an edge per raise, none while the line stays up).
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

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

#define TD_REG   0xe0
#define TD_FLUSH 0xe4
#define TD_BYTE  0xe8
#define TD_IRQ   0x2000
#define TD_MEM   0xff000000ULL
#define TD_PIN   14		/* the line kvm-unit-tests' ioapic test uses */
#define TD_VEC   0x41

static volatile int td_irqs;
static void on_td_irq(struct rt_frame *f)
{
	(void)f;
	td_irqs++;
}

static bool irqs_become(int n)
{
	uint64_t t0 = rt_rdtsc();

	while (td_irqs != n && rt_within_ms(t0, 2000))
		rt_pause();
	rt_delay_us(2000);	/* and no more arrive */
	return td_irqs == n;
}

static void testdev(void)
{
	static uint8_t page[4096] __attribute__((aligned(4096)));
	volatile uint64_t *mem = (volatile uint64_t *)(uintptr_t)TD_MEM;
	bool same = true;

	rt_plan(9);
	outl(TD_REG, 0x12345678);
	rt_ok(inl(TD_REG) == 0x12345678 && inb(TD_REG + 1) == 0x56 && inw(TD_REG + 2) == 0x1234,
	      "register: 4-byte write, read back as 4, 1 (0xe1) and 2 bytes (0xe2)");
	outw(TD_REG + 2, 0xabcd);
	outb(TD_REG, 0x00);
	rt_ok(inl(TD_REG) == 0xabcd5600, "register: 2- and 1-byte writes land in their bytes (0x%x)",
	      inl(TD_REG));
	outb(TD_BYTE + 1, 0x11);
	rt_ok(inb(TD_BYTE + 3) == 0xab && inl(TD_REG) == 0xabcd1100,
	      "byte window 0xe8: the same register (0x%x)", inl(TD_REG));
	outl(TD_BYTE, 0xcafef00d);
	rt_ok(inl(TD_REG) == 0xcafef00d && inl(TD_BYTE) == 0xcafef00d,
	      "byte window: a 4-byte access covers the register");
	mem[0] = 0x0123456789abcdefULL;
	mem[0x10000 / 8 - 1] = 0xfedcba9876543210ULL;
	rt_ok(mem[0] == 0x0123456789abcdefULL && mem[0x10000 / 8 - 1] == 0xfedcba9876543210ULL &&
	      mmio_read32(TD_MEM + 4) == 0x01234567,
	      "MMIO scratch at 0xff000000: first and last words read back");
	for (unsigned i = 0; i < sizeof(page); i++)
		page[i] = (uint8_t)(i * 7 + 3);
	outl(TD_FLUSH, (uint32_t)(uintptr_t)page);
	outl(TD_FLUSH, 0xff000000u);	/* not RAM: ignored */
	outl(TD_FLUSH, 0xfffff000u);
	for (unsigned i = 0; i < sizeof(page); i++)
		same &= page[i] == (uint8_t)(i * 7 + 3);
	rt_ok(same, "flush of a RAM page keeps its contents; flushes of non-RAM are ignored");

	rt_lapic_enable();
	rt_irq_set(TD_VEC, on_td_irq);
	rt_ioapic_route(TD_PIN, TD_VEC, rt_lapic_id());
	rt_sti();
	outb(TD_IRQ + TD_PIN, 1);
	rt_ok(irqs_become(1), "IRQ line %d raised: one interrupt on vector 0x%x (%d)", TD_PIN,
	      TD_VEC, td_irqs);
	outb(TD_IRQ + TD_PIN, 1);
	rt_ok(irqs_become(1), "raised again while up: no new edge (%d)", td_irqs);
	outb(TD_IRQ + TD_PIN, 0);
	outb(TD_IRQ + TD_PIN, 1);
	outb(TD_IRQ + TD_PIN, 0);
	rt_ok(irqs_become(2), "lowered and raised: a second interrupt (%d)", td_irqs);
	rt_cli();
}

void rt_main(void)
{
	const uint32_t *mi = rt_mb_info;
	uint64_t mem = (uint64_t)rt_arg_int("mem", 0) << 20, ram = 0, up = 0;
	long cpus = rt_arg_int("cpus", 1), modlen = rt_arg_int("module", -1);
	bool mmap_ok = true, has_low = false;
	char sig[5] = { 0 };

	if (rt_has_arg("testdev")) {
		testdev();
		return;
	}
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
	{
		/* GRUB's and QEMU's form: the image's path, then the arguments */
		const char *c = rt_cmdline(), *sp = c;

		while (*sp && *sp != ' ')
			sp++;
		rt_ok(sp > c && *sp == ' ' && sp[1] == 'm' && str_has(sp, " mbtest") &&
		      !(c[0] == 'm' && c[1] == 'b' && c[2] == 't'),
		      "command line \"%s\": the image's path, then the arguments", c);
	}
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
