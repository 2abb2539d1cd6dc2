/*
 * virtq.h - split virtqueues (virtio 1.x, 2.6) as seen by a device.
 *
 * Generic: used by virtio-blk and by any later virtio device. A queue is
 * configured by the transport (virtio-mmio.c) with the three guest physical
 * addresses and its size; virtq_enable() resolves them once through
 * vm_gpa()/vm_gpa_w(). virtq_pop() walks one descriptor chain into a list
 * of checked host segments; the guest is hostile, so loops, out-of-range
 * addresses, huge lengths, too many descriptors, wrong ordering of readable
 * and writable parts and malformed indirect tables are all reported as
 * errors for that one chain.
 */
#ifndef PMVM_VIRTQ_H
#define PMVM_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>

struct vm;

#define VIRTQ_MAX_SIZE     256   /* QueueNumMax offered to the driver */
#define VIRTQ_MAX_SEGS     256   /* descriptors per chain, indirect included */
#define VIRTQ_MAX_INDIRECT 256   /* entries in one indirect table */
#define VIRTQ_MAX_CHAIN_LEN (1ULL << 32) /* bytes in one chain, each direction */

struct virtq_seg {
	uint64_t gpa;
	void *host;
	uint32_t len;
	bool write;   /* device-writable */
};

struct virtq_chain {
	uint16_t head;
	unsigned nseg;
	unsigned nread;      /* segs [0, nread) readable, the rest writable */
	uint64_t read_len, write_len;
	struct virtq_seg seg[VIRTQ_MAX_SEGS];
};

struct virtq_desc_raw {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq {
	struct vm *vm;
	uint16_t size;           /* QueueNum, power of two */
	bool ready;
	bool broken;             /* ring indices corrupt: no more processing */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	struct virtq_desc_raw *desc;
	volatile uint16_t *avail; /* flags, idx, ring[size] */
	volatile uint8_t *used;   /* flags, idx, {id, len}[size] */
	uint16_t last_avail;
	uint16_t used_idx;
};

/* Errors from virtq_pop(). */
#define VIRTQ_ERR_BAD_CHAIN (-1) /* this chain is bad; chain->head valid: push it with len 0 */
#define VIRTQ_ERR_BROKEN    (-2) /* the ring itself is corrupt; stop using the queue */

void virtq_init(struct virtq *q, struct vm *vm);
/* Reset to the unconfigured state (device reset or QueueReady=0). */
void virtq_reset(struct virtq *q);
/* Resolve the ring addresses; false if any is outside guest memory,
 * misaligned, or the size is not a power of two up to VIRTQ_MAX_SIZE. */
bool virtq_enable(struct virtq *q);
/* 1: a chain was popped; 0: nothing available; VIRTQ_ERR_*. */
int virtq_pop(struct virtq *q, struct virtq_chain *c);
/* Return a chain to the driver with len bytes written. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);
/* Does the driver want an interrupt now (VRING_AVAIL_F_NO_INTERRUPT)? */
bool virtq_should_notify(struct virtq *q);

/* Copy up to len bytes starting at byte off of the chain's readable part. */
uint64_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *buf,
			  uint64_t len);

#endif
