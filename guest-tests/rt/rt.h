/*
 * rt.h - the freestanding runtime for pmvm's unikernel-style test guests.
 *
 * A guest test is one C file with `void rt_main(void)`. The runtime boots it
 * through PVH (32-bit entry, own identity page tables, long mode), sets up
 * GDT/IDT, COM1, the machine description (PVH start info, the vmm's FDT,
 * ACPI) and calls rt_main on the bootstrap processor. Results are TAP lines
 * on COM1; the guest ends through the debug-exit port (see README.md).
 * Nothing here uses SSE, the red zone or a libc; libfdt is linked in.
 */
#ifndef PMVM_RT_H
#define PMVM_RT_H

#define RT_MAX_CPUS 16

#ifndef __ASSEMBLER__
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Debug-exit values (vmm exit status = (v << 1) | 1). */
#define RT_EXIT_PASS  0 /* every TAP point ok: status 1 */
#define RT_EXIT_FAIL  1 /* some TAP point failed: status 3 */
#define RT_EXIT_PANIC 2 /* exception, assertion, stack smash: status 5 */

/* ---- entry point supplied by the test ---- */
void rt_main(void);

/* ---- end of the guest ---- */
void rt_exit(uint32_t value) __attribute__((noreturn));   /* debug-exit port */
void rt_panic(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
#define RT_ASSERT(c)                                                       \
	do {                                                               \
		if (!(c))                                                  \
			rt_panic("%s:%d: assertion failed: %s", __FILE__,  \
				 __LINE__, #c);                            \
	} while (0)

/* ---- TAP ---- */
void rt_plan(int n);                        /* "1..n" */
bool rt_ok(bool cond, const char *fmt, ...) /* "ok N - name" / "not ok N - name" */
	__attribute__((format(printf, 2, 3)));
void rt_skip(const char *fmt, ...)          /* "ok N - name # SKIP" */
	__attribute__((format(printf, 1, 2)));
void rt_diag(const char *fmt, ...)          /* "# text" */
	__attribute__((format(printf, 1, 2)));
/* Exit PASS if every planned point ran and passed, else FAIL. */
void rt_done(void) __attribute__((noreturn));

/* ---- console (COM1) ---- */
void rt_putc(char c);
void rt_puts(const char *s); /* no newline added */
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int rt_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Receive: rt_serial_rx_irq() switches to interrupt-driven receive (IOAPIC
 * pin 4 to the calling CPU); bytes go to a ring that rt_getc reads.
 * rt_getc returns -1 if nothing arrived within timeout_ms. */
bool rt_serial_rx_irq(void);
int rt_getc(unsigned timeout_ms);
int rt_serial_rx_polled(void);     /* one byte if LSR.DR, else -1 */
extern volatile unsigned rt_serial_irqs; /* receive interrupts seen */

/* ---- machine description ---- */
struct hvm_start_info;
extern const struct hvm_start_info *rt_start_info;
/* Booted by a Multiboot loader (EAX was 0x2BADB002): the multiboot
 * information (EBX), else NULL. */
#define RT_MULTIBOOT_MAGIC 0x2BADB002u
extern uint32_t rt_boot_magic;
extern const uint32_t *rt_mb_info;
const char *rt_cmdline(void);       /* /chosen/bootargs, else PVH or Multiboot cmdline, else "" */
const void *rt_fdt(void);           /* the vmm's FDT, or NULL */
int rt_fdt_cpu_count(void);         /* cpu nodes under /cpus, or -1 */
/* Test arguments are "key=value" words on the command line. rt_arg copies
 * the value of key into buf (a bare "key" gives ""), false if absent. */
bool rt_arg(const char *key, char *buf, size_t len);
bool rt_has_arg(const char *key);
long rt_arg_int(const char *key, long dflt);

/* ---- ACPI (read-only walk of the tables the vmm built) ---- */
struct acpi_sdt {
	char sig[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
} __attribute__((packed));

struct acpi_gas {
	uint8_t space_id; /* 0 memory, 1 I/O port */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));

uint8_t rt_acpi_sum(const void *p, size_t len); /* 0 means valid */
const void *rt_acpi_rsdp(void);                 /* validated RSDP or NULL */
/* The i-th table listed in the XSDT (RSDT if no XSDT), NULL past the end.
 * DSDT is reached through the FADT: rt_acpi_find("DSDT") handles that. */
const struct acpi_sdt *rt_acpi_table(int i);
const struct acpi_sdt *rt_acpi_find(const char sig[4]);
/* MADT: enabled processor LAPIC IDs (up to max), the IOAPIC address. */
int rt_madt_cpus(uint32_t *apic_ids, int max);
uint64_t rt_madt_ioapic(void);
/* Power off through the FADT sleep control register and \_S5 (does not
 * return if the vmm honours it); reset through the FADT reset register. */
void rt_acpi_poweroff(void);
void rt_acpi_reset(void);

/* ---- interrupts ---- */
struct rt_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};
typedef void (*rt_irq_fn)(struct rt_frame *f);
/* Handler for exception vector 0..31: returning true resumes at f->rip
 * (which it may change); false panics as without a handler. */
typedef bool (*rt_exc_fn)(struct rt_frame *f);
void rt_exc_set(int vector, rt_exc_fn fn);
static inline uint64_t rt_rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void rt_wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" :: "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
/* Handler for vector 32..255; the runtime sends the LAPIC EOI after it. */
void rt_irq_set(int vector, rt_irq_fn fn);
static inline void rt_sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void rt_cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void rt_pause(void) { __asm__ volatile("pause" ::: "memory"); }

/* LAPIC (xAPIC MMIO at 0xfee00000). */
void rt_lapic_enable(void);             /* software-enable this CPU's LAPIC */
uint32_t rt_lapic_id(void);
uint32_t rt_lapic_read(uint32_t reg);
void rt_lapic_write(uint32_t reg, uint32_t val);
void rt_lapic_ipi(uint32_t apic_id, uint32_t icr_low);
/* Periodic (periodic=true) or one-shot LAPIC timer on vector. */
void rt_lapic_timer(int vector, uint32_t count, bool periodic);
void rt_lapic_timer_stop(void);
#define LAPIC_ID     0x20
#define LAPIC_VER    0x30
#define LAPIC_EOI    0xb0
#define LAPIC_SVR    0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

/* IOAPIC: route pin to vector on apic_id, edge, active high, unmasked. */
void rt_ioapic_route(int pin, int vector, uint32_t apic_id);
void rt_ioapic_mask(int pin);
uint32_t rt_ioapic_read(uint32_t reg);

/* ---- time (TSC; the rate is calibrated against nothing: only for
 * generous timeouts, never for measurements) ---- */
static inline uint64_t rt_rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
/* Identity-map [base, base+size) with 2 MiB pages (write-back) where the
 * runtime's tables do not map it yet: one page directory per GiB from a
 * static pool of 80 (so up to 80 GiB of guest-physical space beyond the
 * first), hung into the PDPT; the TLB is flushed. false: beyond 512 GiB or
 * the pool is used up. */
bool rt_map_range(uint64_t base, uint64_t size);

/* true while less than ms (assuming a TSC of at most 4 GHz) have passed
 * since start; the argument timeout_scale=N multiplies every such wait. */
bool rt_within_ms(uint64_t start, unsigned ms);
void rt_delay_us(unsigned us);

/* ---- SMP ---- */
/* Start every application processor listed in the MADT (INIT-SIPI-SIPI via
 * the real-mode trampoline at 0x1000). Each AP runs fn(cpu_index) on its own
 * stack in long mode with this runtime's GDT/IDT and its LAPIC enabled, then
 * idles with interrupts enabled. Returns the number of APs that reported in
 * within timeout_ms each. */
int rt_smp_start(void (*fn)(int cpu), unsigned timeout_ms);
int rt_cpu_index(void);              /* 0 on the BSP */
extern volatile int rt_cpus_online;  /* BSP included */

/* ---- port I/O and MMIO ---- */
static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)(uintptr_t)addr;
}
static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)addr = v;
}

/* ---- the bits of libc the runtime and libfdt use ---- */
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void *memchr(const void *s, int c, size_t n);
size_t strlen(const char *s);
size_t strnlen(const char *s, size_t n);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strrchr(const char *s, int c);
unsigned long strtoul(const char *s, char **end, int base);
long strtol(const char *s, char **end, int base);

#endif /* __ASSEMBLER__ */
#endif
