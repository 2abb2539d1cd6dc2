/*
 * serial.c - COM1 (16550 at 0x3f8): polled transmit, and receive
 * either polled or interrupt-driven (IER.RDA, MCR.OUT2, IOAPIC pin 4) into
 * a small ring. Output from several CPUs is serialised by a spinlock
 * (taken with interrupts off) so TAP lines stay whole; printing from an
 * interrupt handler is safe.
 */
#include "rt.h"

#define COM1 0x3f8
#define RBR 0 /* receive buffer (read) / transmit holding (write) */
#define IER 1
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define RX_VECTOR 0x24

#define IIR 2
#define IIR_FIFO 0xc0

static volatile int tx_lock;
static unsigned tx_burst = 1, tx_room; /* bytes THR takes per THRE seen */
static volatile unsigned char rx_ring[256];
static volatile unsigned rx_head, rx_tail;
volatile unsigned rt_serial_irqs;

void rt_serial_init(void);
void rt_serial_init(void)
{
	outb(COM1 + IER, 0);
	outb(COM1 + LCR, 0x80); /* DLAB: 115200 baud */
	outb(COM1 + 0, 1);
	outb(COM1 + 1, 0);
	outb(COM1 + LCR, 0x03); /* 8N1 */
	/* FIFOs on, without the clear bits: the runner may have sent input
	 * already. With FIFOs, one THRE means room for 16 bytes, which saves
	 * an exit per byte (every exit and instruction counts on kvm_pvm). */
	if ((inb(COM1 + IIR) & IIR_FIFO) != IIR_FIFO)
		outb(COM1 + FCR, 0x01);
	if ((inb(COM1 + IIR) & IIR_FIFO) == IIR_FIFO)
		tx_burst = 16;
	outb(COM1 + MCR, 0x03); /* DTR, RTS */
}

static void tx_byte(char c)
{
	if (!tx_room) {
		/* Bounded wait: a UART that never sets THRE must not hang us. */
		for (int i = 0; i < 100000 && !(inb(COM1 + LSR) & LSR_THRE); i++)
			rt_pause();
		tx_room = tx_burst;
	}
	tx_room--;
	outb(COM1 + RBR, (uint8_t)c);
}

/* The output lock also keeps interrupts off while held, so an interrupt
 * handler that prints cannot deadlock against its own CPU. */
static uint64_t lock(void)
{
	uint64_t flags;

	__asm__ volatile("pushfq; popq %0; cli" : "=r"(flags) :: "memory");
	while (__atomic_exchange_n(&tx_lock, 1, __ATOMIC_ACQUIRE))
		rt_pause();
	return flags;
}

static void unlock(uint64_t flags)
{
	__atomic_store_n(&tx_lock, 0, __ATOMIC_RELEASE);
	if (flags & 0x200)
		rt_sti();
}

void rt_putc(char c)
{
	uint64_t flags = lock();

	tx_byte(c);
	unlock(flags);
}

void rt_puts(const char *s)
{
	uint64_t flags = lock();

	while (*s)
		tx_byte(*s++);
	unlock(flags);
}

int rt_serial_rx_polled(void)
{
	if (inb(COM1 + LSR) & LSR_DR)
		return inb(COM1 + RBR);
	return -1;
}

static void rx_irq(struct rt_frame *f)
{
	(void)f;
	rt_serial_irqs++;
	while (inb(COM1 + LSR) & LSR_DR) {
		uint8_t c = inb(COM1 + RBR);

		if (rx_head - rx_tail < sizeof(rx_ring))
			rx_ring[rx_head++ % sizeof(rx_ring)] = c;
	}
}

bool rt_serial_rx_irq(void)
{
	rt_irq_set(RX_VECTOR, rx_irq);
	rt_ioapic_route(4, RX_VECTOR, rt_lapic_id());
	outb(COM1 + MCR, 0x0b); /* DTR, RTS, OUT2 (the IRQ line gate) */
	outb(COM1 + IER, 0x01); /* received data available */
	return true;
}

int rt_getc(unsigned timeout_ms)
{
	uint64_t start = rt_rdtsc();

	do {
		if (rx_tail != rx_head)
			return rx_ring[rx_tail++ % sizeof(rx_ring)];
		rt_sti();
		rt_pause();
	} while (rt_within_ms(start, timeout_ms));
	return -1;
}
