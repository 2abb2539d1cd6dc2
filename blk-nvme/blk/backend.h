/*
 * backend.h - what the virtio-blk device asks of a block backend.
 *
 * virtio-blk (virtio-blk.c) validates a guest request, splits it into pieces
 * no larger than the backend's limits and hands each piece to the backend as
 * a struct blk_io. A backend is either a file or block device driven with
 * io_uring (backend-file.c) or an NVMe namespace driven through VFIO
 * (backend-nvme.c, on top of the nvme-vfio.c library).
 *
 * Threading: everything here runs on the VMM's main thread (the event loop).
 * submit() never calls done() itself; completions arrive when the event loop
 * sees one of the backend's file descriptors readable and calls reap().
 */
#ifndef PMVM_BLK_BACKEND_H
#define PMVM_BLK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum blk_op {
	BLK_OP_READ,
	BLK_OP_WRITE,
	BLK_OP_FLUSH,
	BLK_OP_DISCARD,
	BLK_OP_WRITE_ZEROES,
};

#define BLK_IO_FUA   0x1 /* write: durable before completion */
#define BLK_IO_UNMAP 0x2 /* write zeroes: the backend may deallocate */

struct blk_io {
	enum blk_op op;
	unsigned queue;       /* 0 .. nqueues-1: the backend queue to use */
	unsigned flags;       /* BLK_IO_* */
	uint64_t offset;      /* bytes; multiple of block_size */
	uint64_t len;         /* bytes; multiple of block_size; 0 for flush */
	struct iovec *iov;    /* read/write data, host addresses */
	unsigned niov;
	/* Called from reap() with 0 or a negative errno. */
	void (*done)(struct blk_io *io, int err);
	void *opaque;
	struct blk_io *next;  /* backend private: its backlog link */
};

#define BLK_MAX_FDS 16

struct blk_backend;

struct blk_backend_ops {
	/* Queue io. 0: accepted, done() will follow from reap(). Negative
	 * errno: refused now, done() will not be called. */
	int (*submit)(struct blk_backend *be, struct blk_io *io);
	/* Push submissions prepared by submit() to the device (may be NULL). */
	void (*kick)(struct blk_backend *be);
	/* fds[i] became readable: complete what finished. */
	void (*reap)(struct blk_backend *be, unsigned i);
	/* Wait for everything in flight, make data durable, release all. */
	void (*close)(struct blk_backend *be);
};

struct blk_backend {
	const struct blk_backend_ops *ops;
	const char *name;       /* for messages: the path or the BDF */
	uint64_t size;          /* bytes, multiple of block_size */
	uint32_t block_size;    /* logical block: 512 or 4096 */
	unsigned nqueues;
	bool readonly;
	bool volatile_cache;    /* flush means something */
	bool discard, write_zeroes;
	uint64_t max_io;        /* largest read/write piece, bytes */
	uint64_t max_discard;   /* largest discard piece, bytes */
	uint64_t max_zeroes;    /* largest write-zeroes piece, bytes */
	int fds[BLK_MAX_FDS];   /* watched by the event loop, reap(i) on input */
	unsigned nfds;
	char serial[21];        /* VIRTIO_BLK_ID_BYTES + NUL */
};

/* backend-file.c: open path. NULL with err filled on failure. */
#define BLK_FILE_READONLY 0x1
#define BLK_FILE_DIRECT   0x2 /* O_DIRECT: bypass the host page cache */
struct blk_backend *blk_file_open(const char *path, unsigned flags,
				  unsigned nqueues, char *err, size_t errlen);

#endif
