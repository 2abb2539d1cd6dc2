/*
 * fake-vm.h - a stand-in for the vmm core in the tests of vmm/virtio and of
 * the virtio devices (blk-nvme/blk): guest memory is two regions, RAM
 * [0, FAKE_RAM) and read-only [FAKE_RAM, FAKE_RAM + FAKE_ROM), reached only
 * through vm_gpa()/vm_gpa_w() like the real core; IRQ lines, MMIO
 * registrations, virtio-mmio slots and watched fds are recorded.
 */
#ifndef FAKE_VM_H
#define FAKE_VM_H

#include <stdint.h>

#include "vmm.h"

#define FAKE_RAM (4u << 20)
#define FAKE_ROM (64u << 10)

struct fake_fd {
	int fd;
	void (*cb)(void *opaque, uint32_t events);
	void *opaque;
};

struct vm {
	uint8_t *mem; /* FAKE_RAM + FAKE_ROM bytes */
	int irq_level[32];
	int irq_raises;
	vm_io_fn mmio_fn;
	void *mmio_opaque;
	uint64_t mmio_base;
	struct fake_fd fds[32];
	int nfds;
	int next_irq;
	int next_mmio_slot;
};

struct vm *fake_vm_new(void);
void fake_vm_free(struct vm *vm);
/* Run the callbacks of every watched fd that is readable, until none is. */
void fake_vm_poll(struct vm *vm, int timeout_ms);
void *fake_gpa(struct vm *vm, uint64_t gpa); /* unchecked, for tests */
/* A 32-bit register access to the last registered MMIO range, as a guest. */
void fake_mmio_write32(struct vm *vm, uint64_t off, uint32_t v);
uint32_t fake_mmio_read32(struct vm *vm, uint64_t off);

#endif
