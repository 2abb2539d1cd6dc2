/*
 * virtio-blk.h - a virtio block device (virtio 1.x, 5.2).
 *
 * Several queues (VIRTIO_BLK_F_MQ), flush, discard, write zeroes, read-only,
 * GET_ID serial. Requests are parsed and validated here (vblk_parse, pure,
 * unit-tested), split into pieces within the backend's limits and handed to
 * a struct blk_backend (backend.h) one piece at a time per request. The
 * device reaches its transport only through vmm/virtio's ops (virtio.h).
 */
#ifndef PMVM_VIRTIO_BLK_H
#define PMVM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backend.h"
#include "virtq.h"

struct vm;
struct vblk;
struct aml;

#define VBLK_MAX_RANGES 16 /* discard / write-zeroes segments per request */

struct vblk_range {
	uint64_t sector;
	uint32_t num;
	uint32_t flags;
};

/* A parsed request (vblk_parse's output) plus its progress. */
struct vblk_req {
	uint32_t type;
	uint64_t sector;
	uint8_t *status;        /* host address of the status byte */
	uint32_t used_len;      /* bytes the device will have written, status excluded */
	struct iovec data[VIRTQ_MAX_SEGS];
	unsigned ndata;
	uint64_t data_len;
	struct vblk_range range[VBLK_MAX_RANGES];
	unsigned nranges;
	/* progress, used by virtio-blk.c */
	struct vblk *b;
	unsigned q;
	uint16_t head;
	bool in_use;
	uint32_t gen;
	uint64_t done_bytes;
	unsigned range_idx;
	uint64_t range_done;
	int err;
	struct blk_io io;
	struct iovec piece[VIRTQ_MAX_SEGS];
};

struct vblk_limits {
	uint64_t capacity;   /* bytes */
	uint32_t block_size;
	bool readonly;
	bool discard, write_zeroes;
};

/* Parse and validate one chain. Returns VIRTIO_BLK_S_OK when the request
 * is to be executed, VIRTIO_BLK_S_IOERR / _UNSUPP when it is to be
 * completed at once with that status (r->status valid), or -1 when the
 * chain has no writable status byte (complete it with used length 0). */
int vblk_parse(const struct virtq_chain *c, const struct vblk_limits *lim,
	       struct vblk_req *r);

/* Fill `len` bytes of the iovec list `out` with the part of `in` that starts
 * at byte `off`. Returns the number of entries, or 0 if in is too short. */
unsigned vblk_iov_slice(const struct iovec *in, unsigned nin, uint64_t off,
			uint64_t len, struct iovec *out, unsigned maxout);

struct vblk_opts {
	unsigned queues;
	const char *serial; /* NULL: the backend's */
};

/* Create the device on the VM's virtio transport; be is owned afterwards. */
struct vblk *vblk_create(struct vm *vm, struct blk_backend *be,
			 const struct vblk_opts *o, char *err, size_t errlen);
void vblk_acpi(struct vblk *b, struct aml *dsdt);
/* Close the backend (in-flight I/O drained, data made durable) and free. */
void vblk_destroy(struct vblk *b);

#endif
