/*
 * fake-vm.c - see fake-vm.h.
 */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake-vm.h"

struct vm *fake_vm_new(void)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	/* Page aligned, so it can be DMA-mapped for the NVMe backend. */
	vm->mem = aligned_alloc(4096, FAKE_RAM + FAKE_ROM);
	memset(vm->mem, 0, FAKE_RAM + FAKE_ROM);
	vm->next_irq = IRQ_DEVICE_FIRST;
	return vm;
}

void fake_vm_free(struct vm *vm)
{
	free(vm->mem);
	free(vm);
}

void *fake_gpa(struct vm *vm, uint64_t gpa)
{
	return vm->mem + gpa;
}

void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		len = 1;
	if (gpa < FAKE_RAM)
		return len <= FAKE_RAM - gpa ? vm->mem + gpa : NULL;
	if (gpa - FAKE_RAM < FAKE_ROM)
		return len <= FAKE_ROM - (gpa - FAKE_RAM) ? vm->mem + gpa : NULL;
	return NULL;
}

void *vm_gpa_w(struct vm *vm, uint64_t gpa, uint64_t len)
{
	return gpa < FAKE_RAM ? vm_gpa(vm, gpa, len) : NULL;
}

int vm_alloc_irq(struct vm *vm)
{
	return vm->next_irq <= IRQ_DEVICE_LAST ? vm->next_irq++ : -1;
}

int vm_alloc_mmio_slot(struct vm *vm)
{
	return vm->next_mmio_slot < LAYOUT_VIRTIO_MAX ? vm->next_mmio_slot++ : -1;
}

int vm_set_irq(struct vm *vm, int gsi, int level)
{
	if (level && !vm->irq_level[gsi])
		vm->irq_raises++;
	vm->irq_level[gsi] = level;
	return 0;
}

int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t len, vm_io_fn fn,
		     void *opaque)
{
	vm->mmio_fn = fn;
	vm->mmio_opaque = opaque;
	vm->mmio_base = base;
	return 0;
}

void fake_mmio_write32(struct vm *vm, uint64_t off, uint32_t v)
{
	vm->mmio_fn(vm->mmio_opaque, off, &v, 4, true);
}

uint32_t fake_mmio_read32(struct vm *vm, uint64_t off)
{
	uint32_t v = 0;

	vm->mmio_fn(vm->mmio_opaque, off, &v, 4, false);
	return v;
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio, int eventfd,
		 int64_t datamatch)
{
	return -1; /* no KVM: the transport signals the eventfd itself */
}

int vm_add_fd(struct vm *vm, int fd, uint32_t events,
	      void (*cb)(void *opaque, uint32_t events), void *opaque)
{
	if (vm->nfds >= 32)
		return -1;
	vm->fds[vm->nfds++] = (struct fake_fd){ fd, cb, opaque };
	return 0;
}

int vm_del_fd(struct vm *vm, int fd)
{
	for (int i = 0; i < vm->nfds; i++)
		if (vm->fds[i].fd == fd) {
			vm->fds[i] = vm->fds[--vm->nfds];
			return 0;
		}
	return -1;
}

int vm_vcpu_count(const struct vm *vm)
{
	return 1;
}

void vmm_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void fake_vm_poll(struct vm *vm, int timeout_ms)
{
	for (int round = 0; round < 1000; round++) {
		struct pollfd p[32];
		int n;

		for (int i = 0; i < vm->nfds; i++)
			p[i] = (struct pollfd){ .fd = vm->fds[i].fd, .events = POLLIN };
		n = poll(p, vm->nfds, round ? 0 : timeout_ms);
		if (n <= 0)
			return;
		for (int i = 0; i < vm->nfds; i++)
			if (p[i].revents & POLLIN)
				vm->fds[i].cb(vm->fds[i].opaque, POLLIN);
	}
}
