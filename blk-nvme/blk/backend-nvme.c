/*
 * backend-nvme.c - block backend on an NVMe namespace through VFIO.
 *
 * Thin glue between struct blk_backend and the nvme-vfio.c library: each
 * backend queue is one NVMe I/O queue pair, its completions arrive on that
 * pair's MSI-X eventfd. Guest RAM is mapped once at IOVA = guest physical
 * address (blk_nvme_map_guest, called by the module); guest buffers outside
 * it, or not PRP-shaped, are bounced by the library. When a queue is full,
 * pieces wait in a per-queue backlog until completions make room.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include "backend-nvme.h"
#include "nvme-vfio.h"

struct nvme_be {
	struct blk_backend be;
	struct nvme_ctrl *c;
	struct blk_io *backlog[NVME_MAX_QUEUES], **tail[NVME_MAX_QUEUES];
	char bdf[32];
};

static struct nvme_be *nb_of(struct blk_backend *be)
{
	return (struct nvme_be *)be;
}

static int to_req(struct nvme_be *n, struct blk_io *io, struct nvme_req *r)
{
	const struct nvme_info *info = nvme_get_info(n->c);
	uint32_t lbs = info->lba_size;

	memset(r, 0, sizeof(*r));
	if ((io->offset | io->len) & (lbs - 1))
		return -EINVAL;
	r->slba = io->offset / lbs;
	r->nlb = io->len / lbs;
	r->iov = io->iov;
	r->niov = io->niov;
	if (io->flags & BLK_IO_FUA)
		r->flags |= NVME_REQ_FUA;
	switch (io->op) {
	case BLK_OP_READ:
		r->op = NVME_OP_READ;
		break;
	case BLK_OP_WRITE:
		r->op = NVME_OP_WRITE;
		break;
	case BLK_OP_FLUSH:
		r->op = NVME_OP_FLUSH;
		break;
	case BLK_OP_DISCARD:
		r->op = NVME_OP_DEALLOCATE;
		break;
	case BLK_OP_WRITE_ZEROES:
		r->op = NVME_OP_WRITE_ZEROES;
		if (io->flags & BLK_IO_UNMAP)
			r->flags |= NVME_REQ_DEAC;
		break;
	}
	return 0;
}

static int nvme_be_submit(struct blk_backend *be, struct blk_io *io)
{
	struct nvme_be *n = nb_of(be);
	unsigned q = io->queue % be->nqueues;
	struct nvme_req r;
	int ret;

	if (be->readonly && io->op != BLK_OP_READ && io->op != BLK_OP_FLUSH)
		return -EROFS;
	ret = to_req(n, io, &r);
	if (ret)
		return ret;
	io->next = NULL;
	if (!n->backlog[q]) {
		ret = nvme_submit(n->c, q, &r, io);
		if (ret != -EAGAIN)
			return ret;
	}
	*n->tail[q] = io;
	n->tail[q] = &io->next;
	return 0;
}

static void on_done(void *tag, int status, void *arg)
{
	struct blk_io *io = tag;

	io->done(io, status ? -EIO : 0);
}

static void drain_backlog(struct nvme_be *n, unsigned q)
{
	while (n->backlog[q]) {
		struct blk_io *io = n->backlog[q];
		struct nvme_req r;
		int ret;

		to_req(n, io, &r);
		ret = nvme_submit(n->c, q, &r, io);
		if (ret == -EAGAIN)
			return;
		n->backlog[q] = io->next;
		if (!n->backlog[q])
			n->tail[q] = &n->backlog[q];
		if (ret)
			io->done(io, ret);
	}
}

static void nvme_be_reap(struct blk_backend *be, unsigned i)
{
	struct nvme_be *n = nb_of(be);
	eventfd_t v;

	if (i < be->nfds)
		eventfd_read(be->fds[i], &v);
	/* Queues may share a vector: look at all of them. */
	for (unsigned q = 0; q < be->nqueues; q++) {
		nvme_reap(n->c, q, on_done, n);
		drain_backlog(n, q);
	}
}

static void nvme_be_close(struct blk_backend *be)
{
	struct nvme_be *n = nb_of(be);

	if (n->c) {
		/* Let in-flight commands finish (bounded) before shutdown. */
		for (int spin = 0; spin < 100000; spin++) {
			unsigned busy = 0;

			for (unsigned q = 0; q < be->nqueues; q++) {
				nvme_reap(n->c, q, on_done, n);
				drain_backlog(n, q);
				busy += nvme_inflight(n->c, q) + (n->backlog[q] != NULL);
			}
			if (!busy)
				break;
			struct timespec ts = { 0, 100000 };

			nanosleep(&ts, NULL);
		}
		nvme_close(n->c);
	}
	free(n);
}

static const struct blk_backend_ops nvme_be_ops = {
	.submit = nvme_be_submit,
	.reap = nvme_be_reap,
	.close = nvme_be_close,
};

struct blk_backend *blk_nvme_open(const char *bdf, uint32_t nsid, unsigned nqueues,
				  bool readonly, char *err, size_t errlen)
{
	struct nvme_be *n = calloc(1, sizeof(*n));
	struct nvme_open_opts o = { .nsid = nsid, .nqueues = nqueues, .qdepth = 128 };
	const struct nvme_info *info;

	if (!n) {
		snprintf(err, errlen, "%s: out of memory", bdf);
		return NULL;
	}
	snprintf(n->bdf, sizeof(n->bdf), "%s", bdf);
	for (unsigned q = 0; q < NVME_MAX_QUEUES; q++)
		n->tail[q] = &n->backlog[q];
	if (nvme_open(&n->c, bdf, &o, err, errlen) < 0) {
		free(n);
		return NULL;
	}
	info = nvme_get_info(n->c);
	n->be.ops = &nvme_be_ops;
	n->be.name = n->bdf;
	n->be.size = info->nsze * info->lba_size;
	n->be.block_size = info->lba_size;
	n->be.nqueues = info->nqueues;
	n->be.readonly = readonly;
	n->be.volatile_cache = info->vwc;
	n->be.discard = info->dsm;
	n->be.write_zeroes = info->write_zeroes;
	n->be.max_io = info->max_xfer;
	n->be.max_discard = (uint64_t)info->lba_size << 20;
	if (n->be.max_discard > (1ULL << 30))
		n->be.max_discard = 1ULL << 30;
	n->be.max_zeroes = (uint64_t)info->lba_size * 65536;
	for (unsigned q = 0; q < info->nqueues; q++) {
		int fd = nvme_queue_fd(n->c, q);
		bool seen = false;

		for (unsigned i = 0; i < n->be.nfds; i++)
			seen |= n->be.fds[i] == fd;
		if (!seen && n->be.nfds < BLK_MAX_FDS)
			n->be.fds[n->be.nfds++] = fd;
	}
	snprintf(n->be.serial, sizeof(n->be.serial), "%s", info->sn);
	return &n->be;
}

struct nvme_ctrl *blk_nvme_ctrl(struct blk_backend *be)
{
	return nb_of(be)->c;
}
