/*
 * i8042.c - the PS/2 controller at ports 0x60/0x64, for two things: the
 * reset command (0xfe to port 0x64, or clearing bit 0 of the output port
 * with 0xd1) stops vmm with VMM_EXIT_RESET, and Linux's probe finds a sane
 * controller: self-test, interface tests, the command byte, AUX loopback
 * and a keyboard that answers ACK. The output buffer raises IRQ 1
 * (keyboard) or IRQ 12 (AUX) when the command byte enables them. No keys are
 * ever pressed: input comes through the UART.
 */
#include <stdio.h>
#include <string.h>

#include <pthread.h>

#include "vmm.h"

#define STAT_OBF    0x01
#define STAT_SYS    0x04
#define STAT_CMD    0x08
#define STAT_UNLOCK 0x10
#define STAT_AUXOBF 0x20

#define CTR_KBDINT  0x01
#define CTR_AUXINT  0x02
#define CTR_SYS     0x04
#define CTR_KBDDIS  0x10
#define CTR_AUXDIS  0x20
#define CTR_XLATE   0x40

#define IRQ_KBD IRQ_I8042_KBD
#define IRQ_AUX IRQ_I8042_AUX
#define QLEN 16

static struct i8042 {
	pthread_mutex_t lock;
	struct vm *vm;
	uint8_t ctr, status, pending_cmd;
	uint8_t q[QLEN];
	bool q_aux[QLEN];
	int q_head, q_count;
	int kbd_level, aux_level;
} kbc = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.ctr = CTR_KBDINT | CTR_SYS | CTR_XLATE,
	.status = STAT_UNLOCK,
};

static void push(struct i8042 *k, uint8_t v, bool aux)
{
	int i;

	if (k->q_count >= QLEN)
		return;
	i = (k->q_head + k->q_count) % QLEN;
	k->q[i] = v;
	k->q_aux[i] = aux;
	k->q_count++;
}

static void update_irq(struct i8042 *k)
{
	int kbd = 0, aux = 0;

	if (k->q_count) {
		if (k->q_aux[k->q_head])
			aux = (k->ctr & CTR_AUXINT) != 0;
		else
			kbd = (k->ctr & CTR_KBDINT) != 0;
	}
	if (kbd != k->kbd_level) {
		k->kbd_level = kbd;
		vm_set_irq(k->vm, IRQ_KBD, kbd);
	}
	if (aux != k->aux_level) {
		k->aux_level = aux;
		vm_set_irq(k->vm, IRQ_AUX, aux);
	}
}

static void reset(struct i8042 *k)
{
	vm_request_exit(k->vm, VMM_EXIT_RESET, "guest reset through the i8042");
}

/* A byte for the keyboard itself: answer like an MF2 keyboard. */
static void kbd_write(struct i8042 *k, uint8_t v)
{
	switch (v) {
	case 0xee: /* echo */
		push(k, 0xee, false);
		break;
	case 0xf2: /* identify */
		push(k, 0xfa, false);
		push(k, 0xab, false);
		push(k, 0x83, false);
		break;
	case 0xff: /* reset and self-test */
		push(k, 0xfa, false);
		push(k, 0xaa, false);
		break;
	default:
		push(k, 0xfa, false);
	}
}

static void data_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;

	k->pending_cmd = 0;
	switch (cmd) {
	case 0x60: /* write command byte */
		k->ctr = v;
		break;
	case 0xd1: /* write output port: bit 0 is the CPU reset line */
		if (!(v & 1))
			reset(k);
		break;
	case 0xd2: /* write keyboard output buffer */
		push(k, v, false);
		break;
	case 0xd3: /* write AUX output buffer (loopback) */
		push(k, v, true);
		break;
	case 0xd4: /* to the AUX device: there is no mouse */
		push(k, 0xfe, true);
		break;
	default:
		kbd_write(k, v);
	}
}

static void cmd_write(struct i8042 *k, uint8_t v)
{
	k->status |= STAT_CMD;
	switch (v) {
	case 0x20: /* read command byte */
		push(k, k->ctr, false);
		break;
	case 0x60: case 0xd1: case 0xd2: case 0xd3: case 0xd4:
		k->pending_cmd = v;
		break;
	case 0xa7: k->ctr |= CTR_AUXDIS; break;
	case 0xa8: k->ctr &= (uint8_t)~CTR_AUXDIS; break;
	case 0xa9: push(k, 0x00, false); break; /* AUX interface test: ok */
	case 0xaa: /* controller self-test */
		k->status |= STAT_SYS;
		push(k, 0x55, false);
		break;
	case 0xab: push(k, 0x00, false); break; /* keyboard interface test */
	case 0xad: k->ctr |= CTR_KBDDIS; break;
	case 0xae: k->ctr &= (uint8_t)~CTR_KBDDIS; break;
	case 0xd0: push(k, 0x03, false); break; /* output port: reset high, A20 */
	default:
		/* 0xf0-0xff pulse output port bits; bit 0 low is a reset. */
		if ((v & 0xf0) == 0xf0 && !(v & 1))
			reset(k);
		break;
	}
}

static void i8042_io(struct i8042 *k, uint64_t addr, void *data, unsigned len,
		     bool is_write)
{
	uint8_t *d = data;

	if (len != 1)
		return;
	pthread_mutex_lock(&k->lock);
	if (addr == 0) { /* 0x60 */
		if (is_write) {
			k->status &= (uint8_t)~STAT_CMD;
			data_write(k, d[0]);
		} else if (k->q_count) {
			d[0] = k->q[k->q_head];
			k->q_head = (k->q_head + 1) % QLEN;
			k->q_count--;
		} else {
			d[0] = 0;
		}
	} else if (addr == 4) { /* 0x64 */
		if (is_write) {
			cmd_write(k, d[0]);
		} else {
			uint8_t s = k->status;

			if (k->q_count) {
				s |= STAT_OBF;
				if (k->q_aux[k->q_head])
					s |= STAT_AUXOBF;
			}
			d[0] = s;
		}
	}
	update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_data_io(void *opaque, uint64_t addr, void *data,
			  unsigned len, bool is_write)
{
	i8042_io(opaque, 0, data, len, is_write);
}

static void i8042_cmd_io(void *opaque, uint64_t addr, void *data,
			 unsigned len, bool is_write)
{
	i8042_io(opaque, 4, data, len, is_write);
}

static int i8042_setup(struct vm *vm, char *err, size_t errlen)
{
	kbc.vm = vm;
	/* Two single ports: 0x61 (speaker, PIT gate) belongs to KVM's PIT. */
	if (vm_register_pio(vm, PORT_I8042_DATA, 1, i8042_data_io, &kbc) < 0 ||
	    vm_register_pio(vm, PORT_I8042_CMD, 1, i8042_cmd_io, &kbc) < 0) {
		snprintf(err, errlen, "i8042: cannot claim ports 0x60-0x64");
		return -1;
	}
	return 0;
}

static const struct vmm_module i8042_module = {
	.name = "i8042",
	.setup = i8042_setup,
};
VMM_MODULE(i8042_module);
