/*
 * pit.c - the 8254 PIT (ports 0x40-0x43) and speaker port (0x61): KVM's
 * in-kernel PIT, created when the VM is (bzImage boots: Linux) or lazily, on
 * the guest's first access to one of its ports (PVH boots).
 *
 * Why lazily: on this project's hosts an in-kernel PIT costs a VM about
 * 2 ms to create and 5-15 ms more to destroy (see docs/perf.md,
 * "Start-up and exit cost"), while most PVH guests (the test guests,
 * unikernels, a hardware-reduced Linux with kvm-clock) never touch it.
 *
 * How: until the PIT exists, its ports are an ordinary userspace PIO range.
 * The first access creates the in-kernel PIT (KVM_CREATE_PIT2 works on a
 * running VM; from then on KVM handles the ports itself and they never exit
 * again) and replays that one access on the new PIT's state with
 * KVM_GET_PIT2/KVM_SET_PIT2, following KVM's i8254 semantics for a counter
 * that was loaded at this instant (elapsed time zero): a PIT whose power-on
 * is the guest's first look at it. One approximation, invisible to a guest
 * that programs a channel as datasheets say: KVM_SET_PIT2 reloads every
 * channel's count, so a first control-word write that selects a periodic
 * mode on channel 0 arms it with the reset count (65536) until the guest
 * writes its count. Accesses that race the creation from other vCPUs are
 * replayed the same way on the current state.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "pit.h"
#include "vmm.h"

#define PIT_PORT_BASE	PORT_PIT
#define PIT_PORT_CTRL	PORT_PIT_CTRL
#define PIT_PORT_SPKR	PORT_PIT_SPEAKER

/* KVM's channel read/write states. */
enum { RW_LSB = 1, RW_MSB = 2, RW_WORD0 = 3, RW_WORD1 = 4 };

static pthread_mutex_t pit_lock = PTHREAD_MUTEX_INITIALIZER;
static bool pit_created;

static int pit_create(struct vm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	return ioctl(vm_kvm_fd(vm), KVM_CREATE_PIT2, &pit);
}

/* The counter and output of a channel at elapsed time zero. */
static uint32_t count_now(const struct kvm_pit_channel_state *c)
{
	return c->count;
}

static unsigned out_now(const struct kvm_pit_channel_state *c)
{
	switch (c->mode) {
	case 1:
	case 3:
		return 1;
	default:
		return 0;
	}
}

static void latch_count(struct kvm_pit_channel_state *c)
{
	if (!c->count_latched) {
		c->latched_count = (uint16_t)count_now(c);
		c->count_latched = c->rw_mode;
	}
}

static void write_ctrl(struct kvm_pit_state2 *st, uint8_t val)
{
	unsigned ch = val >> 6;

	if (ch == 3) { /* read-back */
		for (unsigned i = 0; i < 3; i++) {
			struct kvm_pit_channel_state *c = &st->channels[i];

			if (!(val & (2u << i)))
				continue;
			if (!(val & 0x20))
				latch_count(c);
			if (!(val & 0x10) && !c->status_latched) {
				c->status = (uint8_t)(out_now(c) << 7 | c->rw_mode << 4 |
						      c->mode << 1 | c->bcd);
				c->status_latched = 1;
			}
		}
		return;
	}
	struct kvm_pit_channel_state *c = &st->channels[ch];
	unsigned access = (val >> 4) & 3;

	if (access == 0) {
		latch_count(c);
		return;
	}
	c->rw_mode = c->read_state = c->write_state = (uint8_t)access;
	c->mode = (val >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4;
	c->bcd = val & 1;
}

static void load(struct kvm_pit_channel_state *c, uint32_t v)
{
	c->count = v ? v : 0x10000; /* KVM_SET_PIT2 then loads it */
}

static void write_data(struct kvm_pit_channel_state *c, uint8_t val)
{
	switch (c->write_state) {
	default:
	case RW_LSB: load(c, val); break;
	case RW_MSB: load(c, (uint32_t)val << 8); break;
	case RW_WORD0: c->write_latch = val; c->write_state = RW_WORD1; break;
	case RW_WORD1:
		load(c, c->write_latch | (uint32_t)val << 8);
		c->write_state = RW_WORD0;
		break;
	}
}

static uint8_t read_data(struct kvm_pit_channel_state *c)
{
	uint32_t n = count_now(c);
	uint8_t r;

	if (c->status_latched) {
		c->status_latched = 0;
		return c->status;
	}
	if (c->count_latched) {
		switch (c->count_latched) {
		default:
		case RW_LSB: r = c->latched_count & 0xff; c->count_latched = 0; break;
		case RW_MSB: r = c->latched_count >> 8; c->count_latched = 0; break;
		case RW_WORD0: r = c->latched_count & 0xff; c->count_latched = RW_MSB; break;
		}
		return r;
	}
	switch (c->read_state) {
	default:
	case RW_LSB: return n & 0xff;
	case RW_MSB: return (n >> 8) & 0xff;
	case RW_WORD0: c->read_state = RW_WORD1; return n & 0xff;
	case RW_WORD1: c->read_state = RW_WORD0; return (n >> 8) & 0xff;
	}
}

/* Replay one byte access on st; returns the byte read (0 for writes). */
static uint8_t pit_replay(struct kvm_pit_state2 *st, uint16_t port, uint8_t val, bool is_write)
{
	struct kvm_pit_channel_state *c2 = &st->channels[2];

	if (port == PIT_PORT_SPKR) {
		if (is_write) {
			c2->gate = val & 1;
			if (val & 2)
				st->flags |= KVM_PIT_FLAGS_SPEAKER_DATA_ON;
			else
				st->flags &= ~(uint32_t)KVM_PIT_FLAGS_SPEAKER_DATA_ON;
			return 0;
		}
		return (uint8_t)(c2->gate | out_now(c2) << 5 |
				 ((st->flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON) ? 2 : 0));
	}
	if (port == PIT_PORT_CTRL) {
		if (is_write)
			write_ctrl(st, val);
		return 0xff; /* the control port reads as nothing */
	}
	if (is_write) {
		write_data(&st->channels[port - PIT_PORT_BASE], val);
		return 0;
	}
	return read_data(&st->channels[port - PIT_PORT_BASE]);
}

static void pit_first_access(struct vm *vm, uint16_t port, uint8_t *data, unsigned len,
			     bool is_write)
{
	struct kvm_pit_state2 st;

	pthread_mutex_lock(&pit_lock);
	if (!pit_created) {
		if (pit_create(vm) < 0) {
			int e = errno;

			pthread_mutex_unlock(&pit_lock);
			vm_request_exit(vm, VMM_EXIT_ERROR, "KVM_CREATE_PIT2 (first PIT access): %s",
					strerror(e));
			return;
		}
		pit_created = true;
	}
	if (ioctl(vm_kvm_fd(vm), KVM_GET_PIT2, &st) < 0) {
		pthread_mutex_unlock(&pit_lock);
		vm_request_exit(vm, VMM_EXIT_ERROR, "KVM_GET_PIT2: %s", strerror(errno));
		return;
	}
	/* Wider accesses are byte accesses to consecutive ports. */
	for (unsigned i = 0; i < len; i++) {
		uint8_t r = pit_replay(&st, (uint16_t)(port + i), data[i], is_write);

		if (!is_write)
			data[i] = r;
	}
	if (ioctl(vm_kvm_fd(vm), KVM_SET_PIT2, &st) < 0)
		vm_request_exit(vm, VMM_EXIT_ERROR, "KVM_SET_PIT2: %s", strerror(errno));
	pthread_mutex_unlock(&pit_lock);
}

static void on_pit_port(void *opaque, uint64_t off, void *data, unsigned len, bool is_write)
{
	/* Bytes of a wide access beyond 0x43 belong to no device. */
	if (!is_write)
		memset(data, 0xff, len);
	if (off + len > 4)
		len = (unsigned)(4 - off);
	pit_first_access(opaque, (uint16_t)(PIT_PORT_BASE + off), data, len, is_write);
}

static void on_spkr_port(void *opaque, uint64_t off, void *data, unsigned len, bool is_write)
{
	/* Only 0x61 itself belongs to the PIT; 0x62.. of a wide access do not. */
	if (is_write)
		pit_first_access(opaque, PIT_PORT_SPKR, data, 1, true);
	else {
		memset(data, 0xff, len);
		pit_first_access(opaque, PIT_PORT_SPKR, data, 1, false);
	}
}

int pit_setup(struct vm *vm, bool lazy, char *err, size_t errlen)
{
	if (!lazy) {
		if (vm_kvm_fd(vm) < 0)
			return 0; /* offline: no KVM, no PIT */
		if (pit_create(vm) < 0) {
			snprintf(err, errlen, "KVM_CREATE_PIT2: %s", strerror(errno));
			return -1;
		}
		pit_created = true;
		return 0;
	}
	if (vm_register_pio(vm, PIT_PORT_BASE, 4, on_pit_port, vm) < 0 ||
	    vm_register_pio(vm, PIT_PORT_SPKR, 1, on_spkr_port, vm) < 0) {
		snprintf(err, errlen, "PIT ports: %s", strerror(errno));
		return -1;
	}
	return 0;
}
