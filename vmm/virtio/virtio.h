/*
 * virtio.h - what a virtio device sees of its transport.
 *
 * A device (blk-nvme/blk/virtio-blk.c today; pmem, fs or vsock later)
 * describes itself with struct virtio_dev_info and struct virtio_dev_ops and
 * gets a struct virtio_transport from virtio_transport_create(). From then
 * on it reaches the transport only through t->ops (queue lookup, used-buffer
 * and config interrupts, re-kick, lock, ACPI description, destroy) and never
 * names the transport behind it (virtio-mmio.c, the only one today).
 *
 * Locking: register accesses arrive on vCPU threads, queue work on the main
 * thread; both hold the transport's lock, and the device callbacks run with
 * it held. Work a device starts from its own fds takes it with ops->lock.
 */
#ifndef PMVM_VIRTIO_H
#define PMVM_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtq.h"

struct vm;
struct aml;

#define VIRTIO_MAX_QUEUES 16 /* queues per device */

extern bool virtio_trace; /* PMVM_VIRTIO_TRACE set: trace to stderr */

/* What the device offers the transport; opaque is the device's. */
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
	/* Driver set DRIVER_OK: its queues are configured (may be NULL). A
	 * device whose queues another process serves starts them here. */
	void (*driver_ok)(void *opaque);
};

struct virtio_dev_info {
	uint32_t device_id;  /* VIRTIO_ID_* */
	uint64_t features;   /* device features; VIRTIO_F_VERSION_1 is added */
	unsigned nq;         /* 1 .. VIRTIO_MAX_QUEUES */
	unsigned config_len; /* bytes of device config space */
	/* The queues are served outside vmm (a vhost-user backend): the
	 * transport does not watch the queue notifiers (kick_fd() hands them
	 * out) and never calls queue_notify; the device raises interrupts
	 * with interrupt(). */
	bool external_queues;
};

struct virtio_transport;

/* What the transport offers the device. "lock held" marks the calls made
 * only from device callbacks or between ops->lock and ops->unlock. */
struct virtio_transport_ops {
	/* Queue q (< nq) for virtq_pop()/virtq_push(). */
	struct virtq *(*queue)(struct virtio_transport *t, unsigned q);
	/* Raise the used-buffer interrupt if queue q wants one; lock held. */
	void (*notify_used)(struct virtio_transport *t, unsigned q);
	/* Have queue_notify(q) called again from the event loop. */
	void (*kick_later)(struct virtio_transport *t, unsigned q);
	/* Mark the device broken (DEVICE_NEEDS_RESET + config interrupt);
	 * lock held. */
	void (*needs_reset)(struct virtio_transport *t);
	void (*lock)(struct virtio_transport *t);
	void (*unlock)(struct virtio_transport *t);
	/* The eventfd signalled when the driver notifies queue q (an
	 * ioeventfd where KVM allows it), for an external_queues backend. */
	int (*kick_fd)(struct virtio_transport *t, unsigned q);
	/* Raise the used-buffer interrupt (the backend already applied the
	 * driver's suppression rules); takes the lock itself. */
	void (*interrupt)(struct virtio_transport *t);
	/* Describe the device to the guest (a DSDT Device node). */
	void (*acpi)(struct virtio_transport *t, struct aml *dsdt);
	/* Stop the notifiers, close them and free the transport. */
	void (*destroy)(struct virtio_transport *t);
};

struct virtio_transport {
	const struct virtio_transport_ops *ops;
};

/* Put a device on the VM's transport: claims a slot, an interrupt and the
 * queue notifiers. NULL with err filled on failure. */
struct virtio_transport *virtio_transport_create(struct vm *vm,
						 const struct virtio_dev_info *info,
						 const struct virtio_dev_ops *ops,
						 void *opaque, char *err, size_t errlen);

#endif
