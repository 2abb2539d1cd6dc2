/*
 * backend-file.c - block backend on a file or host block device, with
 * asynchronous I/O through io_uring (liburing).
 *
 * One ring serves every queue (all I/O is issued from the main thread).
 * Completions are signalled on an eventfd registered with the ring, which
 * the event loop watches. Flush is fdatasync; discard punches a hole; write
 * zeroes is fallocate(ZERO_RANGE) (or a hole with UNMAP), falling back to
 * writing zeroes where the file system cannot. When the submission ring is
 * full, pieces wait in a backlog and go out as completions make room.
 * With BLK_FILE_DIRECT the file is opened O_DIRECT; guest buffers are then
 * used only if aligned as the host requires, else that request fails alone
 * (EINVAL -> VIRTIO_BLK_S_IOERR).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"

#define RING_ENTRIES 256
#define MAX_PIECE    (1ULL << 20)

struct file_be {
	struct blk_backend be;
	int fd;
	int efd;
	struct io_uring ring;
	bool ring_ok;
	unsigned inflight;
	unsigned unsubmitted;
	struct blk_io *backlog, **backlog_tail;
	char path[256];
};

static struct file_be *fb_of(struct blk_backend *be)
{
	return (struct file_be *)be;
}

static int write_zeroes_sync(int fd, uint64_t off, uint64_t len)
{
	static const char zero[65536];

	while (len) {
		size_t n = len < sizeof(zero) ? len : sizeof(zero);
		ssize_t w = pwrite(fd, zero, n, off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		off += w;
		len -= w;
	}
	return 0;
}

static bool prep(struct file_be *f, struct blk_io *io)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);

	if (!sqe)
		return false;
	switch (io->op) {
	case BLK_OP_READ:
		io_uring_prep_readv(sqe, f->fd, io->iov, io->niov, io->offset);
		break;
	case BLK_OP_WRITE:
		io_uring_prep_writev(sqe, f->fd, io->iov, io->niov, io->offset);
		if (io->flags & BLK_IO_FUA)
			sqe->rw_flags = RWF_DSYNC;
		break;
	case BLK_OP_FLUSH:
		io_uring_prep_fsync(sqe, f->fd, IORING_FSYNC_DATASYNC);
		break;
	case BLK_OP_DISCARD:
		io_uring_prep_fallocate(sqe, f->fd,
					FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					io->offset, io->len);
		break;
	case BLK_OP_WRITE_ZEROES:
		io_uring_prep_fallocate(sqe, f->fd,
					((io->flags & BLK_IO_UNMAP) ? FALLOC_FL_PUNCH_HOLE
								    : FALLOC_FL_ZERO_RANGE) |
					FALLOC_FL_KEEP_SIZE,
					io->offset, io->len);
		break;
	}
	io_uring_sqe_set_data(sqe, io);
	f->inflight++;
	f->unsubmitted++;
	return true;
}

static int file_submit(struct blk_backend *be, struct blk_io *io)
{
	struct file_be *f = fb_of(be);

	if (io->op != BLK_OP_READ && io->op != BLK_OP_FLUSH && be->readonly)
		return -EROFS;
	if ((io->op == BLK_OP_READ || io->op == BLK_OP_WRITE) && io->niov == 0)
		return -EINVAL;
	if (io->offset > be->size || io->len > be->size - io->offset)
		return -EINVAL;
	io->next = NULL;
	if (f->backlog || !prep(f, io)) {
		*f->backlog_tail = io;
		f->backlog_tail = &io->next;
	}
	return 0;
}

static void file_kick(struct blk_backend *be)
{
	struct file_be *f = fb_of(be);

	while (f->backlog) {
		struct blk_io *io = f->backlog;

		if (!prep(f, io))
			break;
		f->backlog = io->next;
		if (!f->backlog)
			f->backlog_tail = &f->backlog;
	}
	if (f->unsubmitted) {
		int ret;

		do
			ret = io_uring_submit(&f->ring);
		while (ret == -EINTR);
		if (ret >= 0)
			f->unsubmitted = 0;
	}
}

static void complete(struct file_be *f, struct blk_io *io, int res)
{
	int err = 0;

	f->inflight--;
	if (res < 0)
		err = res;
	else if ((io->op == BLK_OP_READ || io->op == BLK_OP_WRITE) &&
		 (uint64_t)res != io->len)
		err = -EIO; /* short transfer inside the validated size */
	if (err == -EOPNOTSUPP && io->op == BLK_OP_DISCARD)
		err = 0; /* discard is a hint */
	if (err == -EOPNOTSUPP && io->op == BLK_OP_WRITE_ZEROES)
		err = write_zeroes_sync(f->fd, io->offset, io->len);
	io->done(io, err);
}

static void file_reap(struct blk_backend *be, unsigned i)
{
	struct file_be *f = fb_of(be);
	struct io_uring_cqe *cqe;
	eventfd_t v;

	eventfd_read(f->efd, &v);
	while (io_uring_peek_cqe(&f->ring, &cqe) == 0) {
		struct blk_io *io = io_uring_cqe_get_data(cqe);
		int res = cqe->res;

		io_uring_cqe_seen(&f->ring, cqe);
		complete(f, io, res);
	}
}

static void file_close(struct blk_backend *be)
{
	struct file_be *f = fb_of(be);

	if (f->ring_ok) {
		/* Drain: push the backlog out and wait for every piece. */
		while (f->inflight || f->backlog) {
			struct io_uring_cqe *cqe;

			file_kick(be);
			if (!f->inflight)
				break;
			if (io_uring_wait_cqe(&f->ring, &cqe) < 0)
				break;
			struct blk_io *io = io_uring_cqe_get_data(cqe);
			int res = cqe->res;

			io_uring_cqe_seen(&f->ring, cqe);
			complete(f, io, res);
		}
		io_uring_queue_exit(&f->ring);
	}
	if (f->fd >= 0) {
		if (!be->readonly)
			fdatasync(f->fd);
		close(f->fd);
	}
	if (f->efd >= 0)
		close(f->efd);
	free(f);
}

static const struct blk_backend_ops file_ops = {
	.submit = file_submit,
	.kick = file_kick,
	.reap = file_reap,
	.close = file_close,
};

struct blk_backend *blk_file_open(const char *path, unsigned flags,
				  unsigned nqueues, char *err, size_t errlen)
{
	bool readonly = flags & BLK_FILE_READONLY;
	unsigned bs = 512;
	struct file_be *f = calloc(1, sizeof(*f));
	struct stat st;
	uint64_t size;
	int ret;

	if (!f) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	f->fd = f->efd = -1;
	f->backlog_tail = &f->backlog;
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->be.ops = &file_ops;
	f->be.name = f->path;
	f->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC |
		     ((flags & BLK_FILE_DIRECT) ? O_DIRECT : 0));
	if (f->fd < 0) {
		snprintf(err, errlen, "%s: %s%s", path, strerror(errno),
			 errno == EINVAL && (flags & BLK_FILE_DIRECT)
				 ? " (O_DIRECT not supported by this file system?)" : "");
		goto fail;
	}
	if (fstat(f->fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		int ssz = 0;

		if (ioctl(f->fd, BLKGETSIZE64, &size) < 0) {
			snprintf(err, errlen, "%s: BLKGETSIZE64: %s", path, strerror(errno));
			goto fail;
		}
		/* The guest gets the device's logical block size, so its
		 * requests stay aligned for it (and for O_DIRECT). */
		if (ioctl(f->fd, BLKSSZGET, &ssz) == 0 && ssz >= 512 && ssz <= 4096 &&
		    !(ssz & (ssz - 1)))
			bs = ssz;
	} else if (S_ISREG(st.st_mode)) {
		size = st.st_size;
	} else {
		snprintf(err, errlen, "%s: not a regular file or block device", path);
		goto fail;
	}
	size &= ~(uint64_t)(bs - 1);
	if (size == 0) {
		snprintf(err, errlen, "%s: empty (size below 512 bytes)", path);
		goto fail;
	}
	f->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (f->efd < 0) {
		snprintf(err, errlen, "%s: eventfd: %s", path, strerror(errno));
		goto fail;
	}
	ret = io_uring_queue_init(RING_ENTRIES, &f->ring, 0);
	if (ret < 0) {
		snprintf(err, errlen, "%s: io_uring_queue_init: %s", path, strerror(-ret));
		goto fail;
	}
	f->ring_ok = true;
	ret = io_uring_register_eventfd(&f->ring, f->efd);
	if (ret < 0) {
		snprintf(err, errlen, "%s: io_uring_register_eventfd: %s", path,
			 strerror(-ret));
		goto fail;
	}
	f->be.size = size;
	f->be.block_size = bs;
	f->be.nqueues = nqueues ? nqueues : 1;
	f->be.readonly = readonly;
	f->be.volatile_cache = true;
	f->be.discard = true;
	f->be.write_zeroes = true;
	f->be.max_io = MAX_PIECE;
	f->be.max_discard = 1ULL << 30;
	f->be.max_zeroes = 1ULL << 30;
	f->be.fds[0] = f->efd;
	f->be.nfds = 1;
	/* Serial: the file's device and inode, stable across runs. */
	snprintf(f->be.serial, sizeof(f->be.serial), "pmvm-%llx-%llx",
		 (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	return &f->be;
fail:
	file_close(&f->be);
	return NULL;
}
