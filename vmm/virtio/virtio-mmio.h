/*
 * virtio-mmio.h - the virtio-mmio transport (virtio 1.x, 4.2, version 2).
 *
 * One implementation of struct virtio_transport (virtio.h): a device gets a
 * slot of the core's virtio-mmio window (vm_alloc_mmio_slot), a
 * level-triggered GSI, one ioeventfd per queue (QueueNotify) watched by the
 * main event loop, and a DSDT node (_HID "LNRO0005") through which Linux's
 * virtio_mmio driver finds it without any command-line parameter. Devices do
 * not include this header: they go through virtio_transport_create().
 */
#ifndef PMVM_VIRTIO_MMIO_H
#define PMVM_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio.h"
#include "virtq.h"

#define VIRTIO_MMIO_REG_SIZE   0x200 /* registers + device config */
#define VIRTIO_MMIO_VENDOR     0x4d564d50 /* "PMVM" little-endian */

struct virtio_mmio;

/* What the event loop hands back when queue q's notifier fires. */
struct virtio_mmio_kick {
	struct virtio_mmio *d;
	unsigned q;
};

struct virtio_mmio {
	struct virtio_transport t; /* first: the device's handle */
	struct vm *vm;
	pthread_mutex_t lock;
	uint64_t base;
	int gsi;
	int slot;
	bool registered; /* the MMIO range is in the core's table */
	uint32_t device_id;
	unsigned config_len;
	uint64_t host_features, guest_features;
	uint32_t dev_features_sel, drv_features_sel;
	uint32_t status, isr, queue_sel, config_gen;
	bool irq_level;
	bool external_queues; /* a vhost-user backend reads the notifiers */
	unsigned nq;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	int kick_fd[VIRTIO_MAX_QUEUES];
	bool kick_is_ioeventfd[VIRTIO_MAX_QUEUES];
	struct virtio_mmio_kick kick_ctx[VIRTIO_MAX_QUEUES];
	const struct virtio_dev_ops *ops;
	void *opaque;
};

/* Take the next free slot, register the MMIO range, an IRQ and the queue
 * notifiers. NULL with err filled on failure. */
struct virtio_transport *virtio_mmio_create(struct vm *vm,
					    const struct virtio_dev_info *info,
					    const struct virtio_dev_ops *ops,
					    void *opaque, char *err, size_t errlen);

#endif
