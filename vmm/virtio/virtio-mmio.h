/*
 * virtio-mmio.h - the virtio-mmio transport (virtio 1.x, 4.2, version 2).
 *
 * Generic: a device (virtio-blk.c, or a later one) fills struct
 * virtio_dev_ops and gets a slot at LAYOUT_VIRTIO_MMIO + n * LAYOUT_VIRTIO_SLOT,
 * a level-triggered GSI, one ioeventfd per queue (QueueNotify) watched by
 * the main event loop, and a DSDT node (_HID "LNRO0005") through which
 * Linux's virtio_mmio driver finds it without any command-line parameter.
 *
 * Locking: register accesses arrive on vCPU threads, queue work on the main
 * thread; both hold dev->lock. Device callbacks run with it held.
 */
#ifndef PMVM_VIRTIO_MMIO_H
#define PMVM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtq.h"

struct vm;
struct aml;

#define VIRTIO_MMIO_MAX_QUEUES 16
#define VIRTIO_MMIO_REG_SIZE   0x200 /* registers + device config */
#define VIRTIO_MMIO_VENDOR     0x4d564d50 /* "PMVM" little-endian */

struct virtio_mmio;

extern bool virtio_trace; /* PMVM_VIRTIO_TRACE set: trace to stderr */

struct virtio_dev_ops {
	/* Queue q has work (guest notify); main thread. */
	void (*queue_notify)(void *opaque, unsigned q);
	/* Device reset (Status written 0): forget everything in flight. */
	void (*reset)(void *opaque);
	/* Read/write device config space; off + len within config_len. */
	void (*config_read)(void *opaque, unsigned off, void *data, unsigned len);
	void (*config_write)(void *opaque, unsigned off, const void *data,
			     unsigned len);
	/* Driver set FEATURES_OK with these features; false refuses them. */
	bool (*features_ok)(void *opaque, uint64_t features);
};

struct virtio_mmio {
	struct vm *vm;
	pthread_mutex_t lock;
	uint64_t base;
	int gsi;
	int slot;
	uint32_t device_id;
	unsigned config_len;
	uint64_t host_features, guest_features;
	uint32_t dev_features_sel, drv_features_sel;
	uint32_t status, isr, queue_sel, config_gen;
	bool irq_level;
	unsigned nq;
	struct virtq vq[VIRTIO_MMIO_MAX_QUEUES];
	int kick_fd[VIRTIO_MMIO_MAX_QUEUES];
	bool kick_is_ioeventfd[VIRTIO_MMIO_MAX_QUEUES];
	const struct virtio_dev_ops *ops;
	void *opaque;
};

/* Take the next free slot, register the MMIO range, an IRQ and the queue
 * notifiers. features must include VIRTIO_F_VERSION_1. */
int virtio_mmio_init(struct virtio_mmio *d, struct vm *vm, uint32_t device_id,
		     uint64_t features, unsigned nq, unsigned config_len,
		     const struct virtio_dev_ops *ops, void *opaque,
		     char *err, size_t errlen);
/* The MMIO handler (exposed for unit tests). */
void virtio_mmio_access(void *opaque, uint64_t addr, void *data, unsigned len,
			bool is_write);
/* Raise the used-buffer interrupt if queue q wants one; lock held. */
void virtio_mmio_notify_used(struct virtio_mmio *d, unsigned q);
/* Have queue_notify(q) called again from the event loop. */
void virtio_mmio_kick_later(struct virtio_mmio *d, unsigned q);
/* Mark the device broken (DEVICE_NEEDS_RESET + config interrupt); lock held. */
void virtio_mmio_needs_reset(struct virtio_mmio *d);
/* Append Device (VRxx) { _HID, _UID, _CRS } to the DSDT body. */
void virtio_mmio_acpi(const struct virtio_mmio *d, struct aml *dsdt);
/* Stop watching the notifiers and close them. */
void virtio_mmio_destroy(struct virtio_mmio *d);

#endif
