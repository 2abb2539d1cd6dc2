/*
 * start.c - the C side of boot: stack-protector TLS, IDT, COM1, the
 * machine description (PVH start info, the vmm's FDT, command line), then
 * rt_main(). Also the interrupt dispatcher, TAP output and the exits.
 */
#include <libfdt.h>

#include "pvh.h"
#include "rt.h"

#define PORT_DEBUG_EXIT 0xf4
#define LAYOUT_FDT      0x30000

extern uint64_t rt_gdt[];
extern uint64_t rt_tls[];
void rt_serial_init(void);
void rt_start(uint32_t info);
void rt_isr(struct rt_frame *f);
void rt_cpu_init(int cpu);

const struct hvm_start_info *rt_start_info;
const uint32_t *rt_mb_info;
static const void *fdt;
static const char *cmdline; /* found on first use: boot stays short */

extern const uint64_t rt_idt[512];
static struct {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed)) idt_desc = { 256 * 16 - 1, (uintptr_t)rt_idt };
static rt_irq_fn irq_fn[256];

/* ---- exits ---- */
void rt_exit(uint32_t value)
{
	outl(PORT_DEBUG_EXIT, value);
	/* A vmm without the debug-exit device: stop here, loudly. */
	rt_puts("# debug-exit did not stop the machine\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}

void rt_panic(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	rt_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	rt_printf("Bail out! cpu %d: %s\n", rt_cpu_index(), buf);
	rt_exit(RT_EXIT_PANIC);
}

/* ---- interrupts ---- */
static const char *const exc_name[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO",
	"#TS", "#NP", "#SS", "#GP", "#PF", "15",  "#MF", "#AC", "#MC", "#XM",
	"#VE", "#CP", "22",  "23",  "24",  "25",  "26",  "27",  "28",  "29",
	"#SX", "31",
};

static rt_exc_fn exc_fn[32];

void rt_exc_set(int vector, rt_exc_fn fn)
{
	if (vector >= 0 && vector < 32)
		exc_fn[vector] = fn;
}

void rt_isr(struct rt_frame *f)
{
	if (f->vector < 32 && exc_fn[f->vector] && exc_fn[f->vector](f))
		return;
	if (f->vector < 32) {
		uint64_t cr2;

		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
		rt_panic("exception %s error 0x%lx rip %lx cr2 %lx rsp %lx",
			 exc_name[f->vector], (unsigned long)f->error,
			 (unsigned long)f->rip, (unsigned long)cr2,
			 (unsigned long)f->rsp);
	}
	if (irq_fn[f->vector])
		irq_fn[f->vector](f);
	if (f->vector != 0xff) /* the spurious vector takes no EOI */
		rt_lapic_write(LAPIC_EOI, 0);
}

void rt_irq_set(int vector, rt_irq_fn fn)
{
	if (vector >= 32 && vector < 256)
		irq_fn[vector] = fn;
}

/* Interrupts (not exceptions) run on a per-CPU IST stack: Debian's
 * libfdt.a uses the red zone, which an interrupt frame pushed on the
 * current stack would clobber. Interrupt gates keep IF clear, so IRQ
 * handlers never nest on that stack. */
struct tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __attribute__((packed));

#define IRQ_STACK 8192
static struct tss64 tss[RT_MAX_CPUS] __attribute__((aligned(16)));
static uint8_t irq_stacks[RT_MAX_CPUS][IRQ_STACK] __attribute__((aligned(16)));

/* Per-CPU part of the setup, run by the BSP and every AP. */
void rt_cpu_init(int cpu)
{
	uint64_t base = (uint64_t)(uintptr_t)&tss[cpu];
	uint64_t *d = &rt_gdt[RT_GDT_TSS / 8 + 2 * cpu];

	tss[cpu].ist[0] = (uint64_t)(uintptr_t)(irq_stacks[cpu] + IRQ_STACK);
	tss[cpu].iomap_base = sizeof(struct tss64);
	d[0] = (sizeof(struct tss64) - 1) | ((base & 0xffffff) << 16) |
	       (0x89ULL << 40) | (((base >> 24) & 0xff) << 56);
	d[1] = base >> 32;
	__asm__ volatile("lidt %0" ::"m"(idt_desc));
	__asm__ volatile("mov %0, %%fs" ::"r"(RT_GDT_TLS) : "memory");
	__asm__ volatile("ltr %w0" ::"r"(RT_GDT_TSS + 16 * cpu) : "memory");
}

/* ---- machine description ---- */
static void find_fdt(void)
{
	const struct hvm_start_info *si = rt_start_info;

	if (si && si->nr_modules && si->modlist_paddr) {
		const struct hvm_modlist_entry *m =
			(const void *)(uintptr_t)si->modlist_paddr;

		for (uint32_t i = 0; i < si->nr_modules && i < 64; i++) {
			const char *c = (const char *)(uintptr_t)m[i].cmdline_paddr;

			if (c && !strcmp(c, "pmvm-fdt") &&
			    fdt_check_header((const void *)(uintptr_t)m[i].paddr) == 0) {
				fdt = (const void *)(uintptr_t)m[i].paddr;
				return;
			}
		}
	}
}

const void *rt_fdt(void)
{
	static bool searched;

	if (!searched) {
		searched = true;
		find_fdt();
	}
	return fdt;
}

const char *rt_cmdline(void)
{
	if (!cmdline) {
		int chosen = rt_fdt() ? fdt_path_offset(fdt, "/chosen") : -1;
		const char *args = chosen >= 0 ?
			fdt_getprop(fdt, chosen, "bootargs", NULL) : NULL;

		if (args)
			cmdline = args;
		else if (rt_start_info && rt_start_info->cmdline_paddr)
			cmdline = (const char *)(uintptr_t)rt_start_info->cmdline_paddr;
		else if (rt_mb_info && (rt_mb_info[0] & 0x4) && rt_mb_info[4])
			cmdline = (const char *)(uintptr_t)rt_mb_info[4];
		else
			cmdline = "";
	}
	return cmdline;
}

int rt_fdt_cpu_count(void)
{
	int cpus, node, n = 0;

	if (!rt_fdt())
		return -1;
	cpus = fdt_path_offset(fdt, "/cpus");
	if (cpus < 0)
		return -1;
	fdt_for_each_subnode(node, fdt, cpus) {
		const char *type = fdt_getprop(fdt, node, "device_type", NULL);

		if (type && !strcmp(type, "cpu"))
			n++;
	}
	return n;
}

bool rt_arg(const char *key, char *buf, size_t len)
{
	size_t klen = strlen(key);
	const char *p = rt_cmdline();

	while (*p) {
		const char *w = p, *e;

		while (*p && *p != ' ')
			p++;
		e = p;
		while (*p == ' ')
			p++;
		if ((size_t)(e - w) < klen || strncmp(w, key, klen))
			continue;
		if (w + klen == e) {
			if (len)
				buf[0] = '\0';
			return true;
		}
		if (w[klen] == '=') {
			size_t n = e - (w + klen + 1);

			if (len) {
				if (n >= len)
					n = len - 1;
				memcpy(buf, w + klen + 1, n);
				buf[n] = '\0';
			}
			return true;
		}
	}
	return false;
}

bool rt_has_arg(const char *key)
{
	return rt_arg(key, NULL, 0);
}

long rt_arg_int(const char *key, long dflt)
{
	char buf[32], *end;
	long v;

	if (!rt_arg(key, buf, sizeof(buf)) || !buf[0])
		return dflt;
	v = strtol(buf, &end, 0);
	return *end ? dflt : v;
}

/* ---- memory ---- */
extern uint64_t rt_pdpt[512];

#define RT_MAP_PDS 80
static uint64_t map_pds[RT_MAP_PDS][512] __attribute__((aligned(4096)));
static int map_npds;

bool rt_map_range(uint64_t base, uint64_t size)
{
	uint64_t cr3;

	for (uint64_t gib = base >> 30; size && gib <= (base + size - 1) >> 30; gib++) {
		if (gib >= 512)
			return false;
		if (rt_pdpt[gib] & 1)
			continue;
		if (map_npds == RT_MAP_PDS)
			return false;
		for (int i = 0; i < 512; i++)
			map_pds[map_npds][i] = (gib << 30) + ((uint64_t)i << 21) + 0x83;
		rt_pdpt[gib] = (uint64_t)(uintptr_t)map_pds[map_npds] | 0x3;
		map_npds++;
	}
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	__asm__ volatile("mov %0, %%cr3" ::"r"(cr3) : "memory");
	return true;
}

/* ---- time ---- */
bool rt_within_ms(uint64_t start, unsigned ms)
{
	/* timeout_scale=N on the command line stretches every bounded wait,
	 * for slow hosts (the nested tier's software-emulated L1). */
	static uint64_t scale;

	if (!scale) {
		long v = rt_arg_int("timeout_scale", 1);

		scale = v >= 1 && v <= 1000 ? (uint64_t)v : 1;
	}
	return rt_rdtsc() - start < (uint64_t)ms * 4000000ULL * scale;
}

void rt_delay_us(unsigned us)
{
	/* At least us microseconds for any TSC from 1 GHz up; more is fine. */
	uint64_t start = rt_rdtsc();

	while (rt_rdtsc() - start < (uint64_t)us * 1000ULL)
		rt_pause();
}

/* ---- TAP ---- */
static int tap_planned = -1, tap_run, tap_failed;

/* TAP lines are assembled from pieces instead of going through printf
 * twice: on kvm_pvm each guest instruction costs ~5 us. */
static void put_uint(unsigned v)
{
	char buf[12];
	int i = sizeof(buf);

	buf[--i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	rt_puts(buf + i);
}

void rt_plan(int n)
{
	tap_planned = n;
	rt_puts("1..");
	put_uint((unsigned)n);
	rt_puts("\n");
}

static void tap_line(bool cond, const char *suffix, const char *fmt, va_list ap)
{
	char name[200];
	const char *text = fmt;

	if (strchr(fmt, '%')) {
		rt_vsnprintf(name, sizeof(name), fmt, ap);
		text = name;
	}
	tap_run++;
	if (!cond)
		tap_failed++;
	rt_puts(cond ? "ok " : "not ok ");
	put_uint((unsigned)tap_run);
	rt_puts(" - ");
	rt_puts(text);
	rt_puts(suffix);
	rt_puts("\n");
}

bool rt_ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_line(cond, "", fmt, ap);
	va_end(ap);
	return cond;
}

void rt_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_line(true, " # SKIP", fmt, ap);
	va_end(ap);
}

void rt_diag(const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	rt_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	rt_printf("# %s\n", buf);
}

void rt_done(void)
{
	if (tap_planned != tap_run) {
		rt_diag("planned %d tests but ran %d", tap_planned, tap_run);
		rt_exit(RT_EXIT_FAIL);
	}
	rt_exit(tap_failed ? RT_EXIT_FAIL : RT_EXIT_PASS);
}

/* ---- boot ---- */
void rt_start(uint32_t info)
{
	uint64_t tls = (uint64_t)(uintptr_t)rt_tls;

	/* GDT entry 0x20: flat data segment based at rt_tls, for the
	 * stack-protector canary at %fs:0x28 that libfdt.a reads. */
	rt_gdt[4] = 0x00cf92000000ffffULL | ((tls & 0xffffff) << 16) |
		    ((tls >> 24) << 56);
	rt_tls[5] = 0x5a17c0de0ff1ce00ULL ^ rt_rdtsc();
	rt_cpu_init(0);
	/* Mask both 8259 PICs: KVM's in-kernel irqchip has one, wired to
	 * LINT0 as ExtINT, and uninitialised it would deliver ISA IRQ n on
	 * vector n (an exception vector). Interrupts go through the IOAPIC. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	rt_serial_init();

	if (rt_boot_magic == RT_MULTIBOOT_MAGIC) {
		rt_mb_info = (const uint32_t *)(uintptr_t)info;
		info = 0;
	}
	rt_start_info = (const void *)(uintptr_t)info;
	if (rt_start_info && rt_start_info->magic != HVM_START_MAGIC) {
		rt_diag("bad PVH start info magic 0x%x", rt_start_info->magic);
		rt_start_info = NULL;
	}
	rt_main();
	rt_done();
}
