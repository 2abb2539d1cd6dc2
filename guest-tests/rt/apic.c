/*
 * apic.c - the local APIC (xAPIC registers at 0xfee00000) and the IOAPIC
 * (0xfec00000, or where the MADT says): enable, EOI, IPIs, the timer and
 * redirection entries. Everything is physical destination mode, fixed
 * delivery, edge triggered.
 */
#include "rt.h"

#define LAPIC_BASE  0xfee00000ULL
#define IOAPIC_BASE 0xfec00000ULL

static uint64_t ioapic_base = IOAPIC_BASE;

uint32_t rt_lapic_read(uint32_t reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}

void rt_lapic_write(uint32_t reg, uint32_t val)
{
	mmio_write32(LAPIC_BASE + reg, val);
}

uint32_t rt_lapic_id(void)
{
	return rt_lapic_read(LAPIC_ID) >> 24;
}

void rt_lapic_enable(void)
{
	rt_lapic_write(LAPIC_SVR, 0x100 | 0xff); /* enabled, spurious 0xff */
}

void rt_lapic_ipi(uint32_t apic_id, uint32_t icr_low)
{
	rt_lapic_write(LAPIC_ICR_HI, apic_id << 24);
	rt_lapic_write(LAPIC_ICR_LO, icr_low);
	/* Wait for "send pending" to clear (bounded). */
	for (int i = 0; i < 100000 && (rt_lapic_read(LAPIC_ICR_LO) & (1u << 12)); i++)
		rt_pause();
}

void rt_lapic_timer(int vector, uint32_t count, bool periodic)
{
	rt_lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
	rt_lapic_write(LAPIC_LVT_TIMER, (uint32_t)vector | (periodic ? 1u << 17 : 0));
	rt_lapic_write(LAPIC_TIMER_INIT, count);
}

void rt_lapic_timer_stop(void)
{
	rt_lapic_write(LAPIC_LVT_TIMER, 1u << 16); /* masked */
	rt_lapic_write(LAPIC_TIMER_INIT, 0);
}

static void ioapic_write(uint32_t reg, uint32_t val)
{
	mmio_write32(ioapic_base, reg);
	mmio_write32(ioapic_base + 0x10, val);
}

uint32_t rt_ioapic_read(uint32_t reg)
{
	mmio_write32(ioapic_base, reg);
	return mmio_read32(ioapic_base + 0x10);
}

static void ioapic_locate(void)
{
	uint64_t a = rt_madt_ioapic();

	if (a)
		ioapic_base = a;
}

void rt_ioapic_route(int pin, int vector, uint32_t apic_id)
{
	ioapic_locate();
	ioapic_write(0x11 + 2 * pin, apic_id << 24);
	ioapic_write(0x10 + 2 * pin, (uint32_t)vector); /* fixed, edge, high, unmasked */
}

void rt_ioapic_mask(int pin)
{
	ioapic_locate();
	ioapic_write(0x10 + 2 * pin, 1u << 16);
}
