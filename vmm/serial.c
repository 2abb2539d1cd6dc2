/*
 * serial.c - an 8250/16550A UART on COM1 (ports 0x3f8-0x3ff, IRQ 4).
 *
 * Enough of the real thing for Linux's 8250 driver, interrupts included:
 * Linux writes userspace console output from the transmit-holding-register
 * empty (THRE) interrupt, so that path is exact (THRE pending on write and
 * when IER.THRI is switched on while empty, cleared by reading IIR or
 * writing THR). Receive data comes from stdin into a 16-byte FIFO and raises
 * the RX-data interrupt. Output is instant: LSR always shows THRE|TEMT.
 *
 * Option --serial stdio|file:PATH|none. With stdio and a terminal on
 * stdin, the terminal is put in raw mode (restored at exit); Ctrl-A x
 * stops the VM.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <termios.h>
#include <unistd.h>

#include <pthread.h>

#include "internal.h"
#include "vmm.h"

#define UART_RBR 0 /* in,  DLAB=0 */
#define UART_THR 0 /* out, DLAB=0 */
#define UART_DLL 0 /* DLAB=1 */
#define UART_IER 1 /* DLAB=0 */
#define UART_DLM 1 /* DLAB=1 */
#define UART_IIR 2 /* in */
#define UART_FCR 2 /* out */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI  0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI  0x08

#define IIR_NO_INT 0x01
#define IIR_MSI    0x00
#define IIR_THRI   0x02
#define IIR_RDI    0x04
#define IIR_FIFO   0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80

#define RX_FIFO 16
#define IN_EVENTS (EPOLLIN | EPOLLONESHOT) /* re-armed after each read */

static struct uart {
	pthread_mutex_t lock;
	struct vm *vm;
	uint8_t ier, lcr, mcr, msr, scr, fcr, dll, dlm;
	bool thr_ipending;
	int irq_level;
	uint8_t rx[RX_FIFO];
	int rx_head, rx_count;

	/* host side */
	enum { SER_STDIO, SER_STDERR, SER_FILE, SER_NONE } mode;
	bool mode_chosen; /* --serial given */
	const char *path;
	int out_fd, in_fd;
	bool in_paused, in_watched, escape;
	bool tty_raw;
	struct termios saved_tio;
} uart = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.mode = SER_STDIO,
	.out_fd = -1,
	.in_fd = -1,
	.msr = MSR_DCD | MSR_DSR | MSR_CTS,
	.dll = 0x0c, /* 9600 baud */
};

static uint8_t uart_iir(struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((u->ier & IER_RDI) && u->rx_count > 0)
		return IIR_RDI | fifo;
	if ((u->ier & IER_THRI) && u->thr_ipending)
		return IIR_THRI | fifo;
	if ((u->ier & IER_MSI) && (u->msr & 0x0f))
		return IIR_MSI | fifo;
	return IIR_NO_INT | fifo;
}

static void uart_update_irq(struct uart *u)
{
	int level = !(uart_iir(u) & IIR_NO_INT);

	if (level != u->irq_level) {
		u->irq_level = level;
		vm_set_irq(u->vm, IRQ_COM1, level);
	}
}

static void uart_output(struct uart *u, uint8_t c)
{
	if (u->out_fd < 0)
		return;
	for (;;) {
		ssize_t n = write(u->out_fd, &c, 1);

		if (n == 1 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return;
		/* A reader that stopped reading must not keep vmm from
		 * exiting: SIGUSR1 interrupts the write, then give up. */
		if (vm_exiting(u->vm))
			return;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = u->out_fd, .events = POLLOUT };

			poll(&p, 1, 100);
		}
	}
}

static void rx_push(struct uart *u, uint8_t c)
{
	if (u->rx_count >= RX_FIFO)
		return; /* overrun: drop */
	u->rx[(u->rx_head + u->rx_count) % RX_FIFO] = c;
	u->rx_count++;
}

static void uart_io(void *opaque, uint64_t addr, void *data, unsigned len,
		    bool is_write)
{
	struct uart *u = opaque;
	uint8_t *d = data;
	bool resume_input = false;

	if (len != 1)
		return; /* the 8250 has byte registers only */
	pthread_mutex_lock(&u->lock);
	if (is_write) {
		uint8_t v = d[0];

		switch (addr) {
		case UART_THR:
			if (u->lcr & LCR_DLAB) {
				u->dll = v;
				break;
			}
			if (u->mcr & MCR_LOOP)
				rx_push(u, v);
			else
				uart_output(u, v);
			/* Sent at once: the holding register is empty again. */
			u->thr_ipending = true;
			break;
		case UART_IER:
			if (u->lcr & LCR_DLAB) {
				u->dlm = v;
				break;
			}
			if ((v ^ u->ier) & IER_THRI)
				u->thr_ipending = (v & IER_THRI) != 0;
			u->ier = v & 0x0f;
			break;
		case UART_FCR:
			if (v & FCR_CLEAR_RX) {
				u->rx_count = 0;
				resume_input = true;
			}
			u->fcr = v & 0xc9;
			break;
		case UART_LCR:
			u->lcr = v;
			break;
		case UART_MCR:
			u->mcr = v & 0x1f;
			break;
		case UART_SCR:
			u->scr = v;
			break;
		default: /* LSR, MSR: read-only */
			break;
		}
	} else {
		uint8_t v = 0xff;

		switch (addr) {
		case UART_RBR:
			if (u->lcr & LCR_DLAB) {
				v = u->dll;
				break;
			}
			v = 0;
			if (u->rx_count > 0) {
				v = u->rx[u->rx_head];
				u->rx_head = (u->rx_head + 1) % RX_FIFO;
				u->rx_count--;
				resume_input = true;
			}
			break;
		case UART_IER:
			v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
			break;
		case UART_IIR:
			v = uart_iir(u);
			if ((v & 0x0f) == IIR_THRI)
				u->thr_ipending = false;
			break;
		case UART_LCR:
			v = u->lcr;
			break;
		case UART_MCR:
			v = u->mcr;
			break;
		case UART_LSR:
			v = LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
			break;
		case UART_MSR:
			if (u->mcr & MCR_LOOP) {
				v = 0;
				if (u->mcr & MCR_RTS) v |= MSR_CTS;
				if (u->mcr & MCR_DTR) v |= MSR_DSR;
				if (u->mcr & MCR_OUT1) v |= MSR_RI;
				if (u->mcr & MCR_OUT2) v |= MSR_DCD;
			} else {
				v = u->msr;
				u->msr &= 0xf0; /* reading clears the deltas */
			}
			break;
		case UART_SCR:
			v = u->scr;
			break;
		}
		d[0] = v;
	}
	uart_update_irq(u);
	if (resume_input && u->in_paused && u->rx_count < RX_FIFO) {
		u->in_paused = false;
		vm_mod_fd(u->vm, u->in_fd, IN_EVENTS);
	}
	pthread_mutex_unlock(&u->lock);
}

/* Main thread: stdin became readable. */
static void uart_input(void *opaque, uint32_t events)
{
	struct uart *u = opaque;
	uint8_t buf[RX_FIFO];
	ssize_t n;
	size_t room;

	pthread_mutex_lock(&u->lock);
	room = (size_t)(RX_FIFO - u->rx_count);
	if (room == 0) {
		/* The watch is one-shot and stays disarmed until the guest
		 * drains the FIFO (uart_io re-arms it), so a full FIFO with a
		 * hung-up writer does not spin. */
		u->in_paused = true;
		pthread_mutex_unlock(&u->lock);
		return;
	}
	n = read(u->in_fd, buf, room);
	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			/* EOF or error: no more input. */
			vm_del_fd(u->vm, u->in_fd);
			u->in_watched = false;
		} else {
			vm_mod_fd(u->vm, u->in_fd, IN_EVENTS);
		}
		pthread_mutex_unlock(&u->lock);
		return;
	}
	vm_mod_fd(u->vm, u->in_fd, IN_EVENTS);
	for (ssize_t i = 0; i < n; i++) {
		if (u->tty_raw) {
			if (u->escape) {
				u->escape = false;
				if (buf[i] == 'x') {
					pthread_mutex_unlock(&u->lock);
					vm_request_exit_reason(u->vm,
						VMM_EXIT_ERROR, "interrupted",
						"stopped by Ctrl-A x");
					return;
				}
				if (buf[i] != 0x01)
					rx_push(u, 0x01);
			} else if (buf[i] == 0x01) {
				u->escape = true;
				continue;
			}
		}
		rx_push(u, buf[i]);
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

void serial_default_stderr(void)
{
	if (!uart.mode_chosen)
		uart.mode = SER_STDERR;
}

static void serial_restore_terminal(void)
{
	if (uart.tty_raw) {
		tcsetattr(uart.in_fd, TCSAFLUSH, &uart.saved_tio);
		uart.tty_raw = false;
	}
}

static int serial_parse(const char *arg, char *err, size_t errlen)
{
	uart.mode_chosen = true;
	if (strcmp(arg, "stdio") == 0) {
		uart.mode = SER_STDIO;
	} else if (strcmp(arg, "stderr") == 0) {
		uart.mode = SER_STDERR;
	} else if (strcmp(arg, "none") == 0) {
		uart.mode = SER_NONE;
	} else if (strncmp(arg, "file:", 5) == 0 && arg[5] != '\0') {
		uart.mode = SER_FILE;
		uart.path = arg + 5;
	} else {
		snprintf(err, errlen, "'%s' is not stdio, file:PATH or none", arg);
		return -1;
	}
	return 0;
}

static int serial_setup(struct vm *vm, char *err, size_t errlen)
{
	struct uart *u = &uart;

	u->vm = vm;
	switch (u->mode) {
	case SER_NONE:
		break;
	case SER_STDERR:
		u->out_fd = STDERR_FILENO;
		break;
	case SER_FILE:
		u->out_fd = open(u->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				 0644);
		if (u->out_fd < 0) {
			snprintf(err, errlen, "--serial: cannot open '%s': %s",
				 u->path, strerror(errno));
			return -1;
		}
		break;
	case SER_STDIO:
		u->out_fd = STDOUT_FILENO;
		u->in_fd = STDIN_FILENO;
		if (isatty(u->in_fd) && tcgetattr(u->in_fd, &u->saved_tio) == 0) {
			struct termios raw = u->saved_tio;

			cfmakeraw(&raw);
			raw.c_oflag |= OPOST | ONLCR; /* keep output readable */
			if (tcsetattr(u->in_fd, TCSAFLUSH, &raw) == 0) {
				u->tty_raw = true;
				atexit(serial_restore_terminal);
			}
		}
		/* A regular file or closed stdin cannot be watched: no input. */
		if (vm_add_fd(vm, u->in_fd, IN_EVENTS, uart_input, u) == 0)
			u->in_watched = true;
		break;
	}
	if (vm_register_pio(vm, PORT_COM1, 8, uart_io, u) < 0) {
		snprintf(err, errlen, "serial: cannot claim ports 0x%x: %s",
			 PORT_COM1, strerror(errno));
		return -1;
	}
	return 0;
}

static int serial_fdt(struct vm *vm, void *fdt, char *err, size_t errlen);

static void serial_teardown(struct vm *vm)
{
	serial_restore_terminal();
	if (uart.in_watched) {
		vm_del_fd(vm, uart.in_fd);
		uart.in_watched = false;
	}
	if (uart.mode == SER_FILE && uart.out_fd >= 0) {
		close(uart.out_fd);
		uart.out_fd = -1;
	}
}

static const struct vmm_option serial_options[] = {
	{ "serial", "stdio|stderr|file:PATH|none",
	  "COM1 (8250 UART) connects to stdin/stdout, to stderr (output only), "
	  "a file, or nothing (default stdio; stderr with --exec)", serial_parse },
	{ NULL, NULL, NULL, NULL },
};

static const struct vmm_module serial_module = {
	.name = "serial",
	.options = serial_options,
	.setup = serial_setup,
	.fdt = serial_fdt,
	.teardown = serial_teardown,
};
VMM_MODULE(serial_module);

#include <libfdt.h>

/* /serial@3f8: compatible "ns16550a", reg = <port>, interrupts = <IRQ>. */
static int serial_fdt(struct vm *vm, void *fdt, char *err, size_t errlen)
{
	int node = fdt_add_subnode(fdt, 0, "serial@3f8");

	if (node < 0 ||
	    fdt_setprop_string(fdt, node, "compatible", "ns16550a") < 0 ||
	    fdt_setprop_u32(fdt, node, "pmvm,ioport", PORT_COM1) < 0 ||
	    fdt_setprop_u32(fdt, node, "interrupts", IRQ_COM1) < 0) {
		snprintf(err, errlen, "serial: FDT node does not fit");
		return -1;
	}
	return 0;
}
