/*
 * virtio-blk.c - the virtio block device: request parsing, splitting into
 * backend pieces, completion and interrupts.
 *
 * Every request is validated before it reaches a backend: its header,
 * sector range, alignment to the logical block size, the direction of each
 * buffer, read-only, and the discard/write-zeroes segments. A bad request
 * completes alone with VIRTIO_BLK_S_IOERR or _UNSUPP; a chain that cannot
 * even carry a status byte is returned with used length 0. Requests are
 * indexed by their head descriptor, which is unique while in flight; a
 * guest that reuses a head still in flight gets that chain back at once.
 *
 * A request runs as a sequence of pieces (read/write: at most max_io bytes;
 * discard/write zeroes: one range or part of one), one in flight at a time,
 * so a request needs no memory beyond its slot whatever its size.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "virtio-blk.h"
#include "virtio.h"
#include "vmm.h"

struct vblk_fd_ctx {
	struct vblk *b;
	unsigned i;
};

struct vblk {
	struct virtio_transport *t; /* NULL until vblk_create() has one */
	struct vm *vm;
	struct blk_backend *be;
	struct vblk_limits lim;
	struct virtio_blk_config cfg;
	char serial[VIRTIO_BLK_ID_BYTES];
	unsigned nq;
	uint32_t gen;
	unsigned inflight;
	struct vblk_req *req[VIRTIO_MAX_QUEUES]; /* VIRTQ_MAX_SIZE each */
	struct virtq_chain chain;
	struct vblk_fd_ctx fdctx[BLK_MAX_FDS];
	bool destroyed;
};

unsigned vblk_iov_slice(const struct iovec *in, unsigned nin, uint64_t off,
			uint64_t len, struct iovec *out, unsigned maxout)
{
	unsigned n = 0;

	for (unsigned i = 0; i < nin && len; i++) {
		uint64_t l = in[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		if (n >= maxout)
			return 0;
		l -= off;
		if (l > len)
			l = len;
		out[n].iov_base = (uint8_t *)in[i].iov_base + off;
		out[n].iov_len = l;
		n++;
		len -= l;
		off = 0;
	}
	return len ? 0 : n;
}

/* Readable bytes from byte `skip` on, or the writable bytes except the
 * last (the status byte), as an iovec list. */
static void chain_part(const struct virtq_chain *c, bool writable, uint64_t skip,
		       uint64_t trim_tail, struct vblk_req *r)
{
	unsigned from = writable ? c->nread : 0, to = writable ? c->nseg : c->nread;
	uint64_t total = (writable ? c->write_len : c->read_len);
	uint64_t want = total > skip + trim_tail ? total - skip - trim_tail : 0;

	r->ndata = 0;
	r->data_len = 0;
	for (unsigned i = from; i < to && want; i++) {
		uint64_t l = c->seg[i].len;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		l -= skip;
		if (l > want)
			l = want;
		r->data[r->ndata].iov_base = (uint8_t *)c->seg[i].host + skip;
		r->data[r->ndata].iov_len = l;
		r->ndata++;
		r->data_len += l;
		want -= l;
		skip = 0;
	}
}

static bool range_ok(const struct vblk_limits *lim, uint64_t sector, uint64_t nsect)
{
	uint64_t cap = lim->capacity >> 9;
	uint64_t bs = lim->block_size >> 9;

	if (sector > cap || nsect > cap - sector)
		return false;
	return bs <= 1 || ((sector % bs) == 0 && (nsect % bs) == 0);
}

int vblk_parse(const struct virtq_chain *c, const struct vblk_limits *lim,
	       struct vblk_req *r)
{
	struct virtio_blk_outhdr hdr;
	const struct virtq_seg *last;

	r->status = NULL;
	r->used_len = 0;
	r->ndata = 0;
	r->data_len = 0;
	r->nranges = 0;
	if (c->write_len == 0 || c->nseg == 0)
		return -1;
	last = &c->seg[c->nseg - 1];
	r->status = (uint8_t *)last->host + last->len - 1;

	if (virtq_chain_read(c, 0, &hdr, sizeof(hdr)) != sizeof(hdr))
		return VIRTIO_BLK_S_IOERR;
	r->type = hdr.type;
	r->sector = hdr.sector;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		chain_part(c, true, 0, 1, r);
		if (r->data_len % 512 || !range_ok(lim, r->sector, r->data_len >> 9))
			return VIRTIO_BLK_S_IOERR;
		r->used_len = r->data_len;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_OUT:
		if (lim->readonly)
			return VIRTIO_BLK_S_IOERR;
		chain_part(c, false, sizeof(hdr), 0, r);
		if (r->data_len % 512 || !range_ok(lim, r->sector, r->data_len >> 9))
			return VIRTIO_BLK_S_IOERR;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_FLUSH:
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		chain_part(c, true, 0, 1, r);
		r->used_len = r->data_len < VIRTIO_BLK_ID_BYTES ? r->data_len
								: VIRTIO_BLK_ID_BYTES;
		return VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool discard = r->type == VIRTIO_BLK_T_DISCARD;
		uint64_t bytes = c->read_len - sizeof(hdr);

		if (discard ? !lim->discard : !lim->write_zeroes)
			return VIRTIO_BLK_S_UNSUPP;
		if (lim->readonly)
			return VIRTIO_BLK_S_IOERR;
		if (bytes == 0 || bytes % 16 || bytes / 16 > VBLK_MAX_RANGES)
			return VIRTIO_BLK_S_UNSUPP;
		r->nranges = bytes / 16;
		for (unsigned i = 0; i < r->nranges; i++) {
			struct virtio_blk_discard_write_zeroes e;
			struct vblk_range *g = &r->range[i];

			virtq_chain_read(c, sizeof(hdr) + 16 * i, &e, sizeof(e));
			g->sector = e.sector;
			g->num = e.num_sectors;
			g->flags = e.flags;
			if (g->flags & ~(discard ? 0u : VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
				return VIRTIO_BLK_S_UNSUPP;
			if (!range_ok(lim, g->sector, g->num))
				return VIRTIO_BLK_S_IOERR;
		}
		return VIRTIO_BLK_S_OK;
	}
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* ---- execution ---------------------------------------------------------- */

static void finish(struct vblk_req *r, uint8_t status)
{
	struct vblk *b = r->b;
	bool current = r->gen == b->gen;

	r->in_use = false;
	b->inflight--;
	if (virtio_trace)
		vmm_log("virtio-blk: q%u head %u type %u sector %llu len %llu -> status %u%s",
			r->q, r->head, r->type, (unsigned long long)r->sector,
			(unsigned long long)r->data_len, status, current ? "" : " (dropped)");
	if (!current || b->destroyed)
		return;
	*r->status = status;
	virtq_push(b->t->ops->queue(b->t, r->q), r->head, r->used_len + 1);
	b->t->ops->notify_used(b->t, r->q);
}

static void piece_done(struct blk_io *io, int err);

/* Submit the next piece of r. Returns false when there is none left. */
static bool next_piece(struct vblk_req *r)
{
	struct vblk *b = r->b;
	struct blk_backend *be = b->be;
	struct blk_io *io = &r->io;
	int ret;

	memset(io, 0, sizeof(*io));
	io->queue = r->q % be->nqueues;
	io->done = piece_done;
	io->opaque = r;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		uint64_t left = r->data_len - r->done_bytes;

		if (left == 0)
			return false;
		io->op = r->type == VIRTIO_BLK_T_IN ? BLK_OP_READ : BLK_OP_WRITE;
		io->len = left < be->max_io ? left : be->max_io;
		io->offset = (r->sector << 9) + r->done_bytes;
		io->niov = vblk_iov_slice(r->data, r->ndata, r->done_bytes, io->len,
					  r->piece, VIRTQ_MAX_SEGS);
		io->iov = r->piece;
		r->done_bytes += io->len;
		break;
	}
	case VIRTIO_BLK_T_FLUSH:
		if (r->done_bytes)
			return false;
		r->done_bytes = 1;
		io->op = BLK_OP_FLUSH;
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool discard = r->type == VIRTIO_BLK_T_DISCARD;
		uint64_t max = discard ? be->max_discard : be->max_zeroes;
		struct vblk_range *g;
		uint64_t left;

		while (r->range_idx < r->nranges &&
		       r->range_done >= (uint64_t)r->range[r->range_idx].num << 9) {
			r->range_idx++;
			r->range_done = 0;
		}
		if (r->range_idx >= r->nranges)
			return false;
		g = &r->range[r->range_idx];
		left = ((uint64_t)g->num << 9) - r->range_done;
		io->op = discard ? BLK_OP_DISCARD : BLK_OP_WRITE_ZEROES;
		io->offset = (g->sector << 9) + r->range_done;
		io->len = left < max ? left : max;
		if (g->flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			io->flags |= BLK_IO_UNMAP;
		r->range_done += io->len;
		break;
	}
	default:
		return false;
	}
	ret = be->ops->submit(be, io);
	if (ret < 0) {
		r->err = ret;
		return false;
	}
	return true;
}

static void piece_done(struct blk_io *io, int err)
{
	struct vblk_req *r = io->opaque;

	if (err)
		r->err = err;
	if (!r->err && r->gen == r->b->gen && next_piece(r))
		return;
	finish(r, r->err ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

static void handle_chain(struct vblk *b, unsigned q, struct virtq_chain *c)
{
	struct virtq *vq = b->t->ops->queue(b->t, q);
	struct vblk_req *r;
	int st;

	if (c->head >= VIRTQ_MAX_SIZE || b->req[q][c->head].in_use) {
		virtq_push(vq, c->head, 0);
		return;
	}
	r = &b->req[q][c->head];
	st = vblk_parse(c, &b->lim, r);
	if (st < 0) {
		virtq_push(vq, c->head, 0);
		return;
	}
	r->b = b;
	r->q = q;
	r->head = c->head;
	r->gen = b->gen;
	r->err = 0;
	r->done_bytes = 0;
	r->range_idx = 0;
	r->range_done = 0;
	r->in_use = true;
	b->inflight++;
	if (st == VIRTIO_BLK_S_OK && r->type == VIRTIO_BLK_T_GET_ID) {
		for (unsigned i = 0, off = 0; i < r->ndata && off < r->used_len; i++) {
			unsigned n = r->data[i].iov_len;

			if (n > r->used_len - off)
				n = r->used_len - off;
			memcpy(r->data[i].iov_base, b->serial + off, n);
			off += n;
		}
		finish(r, VIRTIO_BLK_S_OK);
		return;
	}
	if (st != VIRTIO_BLK_S_OK) {
		r->used_len = 0;
		finish(r, st);
		return;
	}
	if (!next_piece(r))
		finish(r, r->err ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

static void vblk_queue_notify(void *opaque, unsigned q)
{
	struct vblk *b = opaque;
	struct virtq *vq = b->t->ops->queue(b->t, q);

	for (unsigned budget = 0;; budget++) {
		int ret;

		if (budget == 4 * VIRTQ_MAX_SIZE) {
			/* Let other fds run; come back to this queue. */
			b->t->ops->kick_later(b->t, q);
			break;
		}
		ret = virtq_pop(vq, &b->chain);
		if (ret == 0)
			break;
		if (ret == VIRTQ_ERR_BROKEN) {
			b->t->ops->needs_reset(b->t);
			break;
		}
		if (ret == VIRTQ_ERR_BAD_CHAIN) {
			if (virtio_trace)
				vmm_log("virtio-blk: q%u head %u: bad chain", q, b->chain.head);
			virtq_push(vq, b->chain.head, 0);
			b->t->ops->notify_used(b->t, q);
			continue;
		}
		handle_chain(b, q, &b->chain);
	}
	if (b->be->ops->kick)
		b->be->ops->kick(b->be);
}

static void vblk_reset(void *opaque)
{
	struct vblk *b = opaque;

	/* In-flight pieces finish later and are dropped (generation). */
	b->gen++;
}

static void vblk_config_read(void *opaque, unsigned off, void *data, unsigned len)
{
	struct vblk *b = opaque;

	memcpy(data, (uint8_t *)&b->cfg + off, len);
}

static const struct virtio_dev_ops vblk_ops = {
	.queue_notify = vblk_queue_notify,
	.reset = vblk_reset,
	.config_read = vblk_config_read,
};

static void on_backend_fd(void *opaque, uint32_t events)
{
	struct vblk_fd_ctx *x = opaque;
	struct vblk *b = x->b;

	b->t->ops->lock(b->t);
	b->be->ops->reap(b->be, x->i);
	if (b->be->ops->kick)
		b->be->ops->kick(b->be);
	b->t->ops->unlock(b->t);
}

struct vblk *vblk_create(struct vm *vm, struct blk_backend *be,
			 const struct vblk_opts *o, char *err, size_t errlen)
{
	struct vblk *b = calloc(1, sizeof(*b));
	struct virtio_blk_config *cfg;
	struct virtio_dev_info info = { .device_id = VIRTIO_ID_BLOCK };
	uint64_t features;
	const char *serial;

	if (!b) {
		snprintf(err, errlen, "%s: out of memory", be->name);
		be->ops->close(be);
		return NULL;
	}
	b->vm = vm;
	b->be = be;
	b->nq = o->queues ? o->queues : 1;
	if (b->nq > VIRTIO_MAX_QUEUES)
		b->nq = VIRTIO_MAX_QUEUES;
	for (unsigned i = 0; i < b->nq; i++) {
		b->req[i] = calloc(VIRTQ_MAX_SIZE, sizeof(struct vblk_req));
		if (!b->req[i]) {
			snprintf(err, errlen, "%s: out of memory", be->name);
			vblk_destroy(b);
			return NULL;
		}
	}
	b->lim.capacity = be->size;
	b->lim.block_size = be->block_size;
	b->lim.readonly = be->readonly;
	b->lim.discard = be->discard;
	b->lim.write_zeroes = be->write_zeroes;
	serial = o->serial ? o->serial : be->serial;
	memset(b->serial, 0, sizeof(b->serial));
	memcpy(b->serial, serial, strnlen(serial, sizeof(b->serial)));

	cfg = &b->cfg;
	cfg->capacity = be->size >> 9;
	cfg->seg_max = VIRTQ_MAX_SEGS - 2;
	cfg->blk_size = be->block_size;
	cfg->num_queues = b->nq;
	cfg->wce = 1;
	features = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		   (1ULL << VIRTIO_BLK_F_FLUSH) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	if (b->nq > 1)
		features |= 1ULL << VIRTIO_BLK_F_MQ;
	if (be->readonly)
		features |= 1ULL << VIRTIO_BLK_F_RO;
	if (be->discard && !be->readonly) {
		features |= 1ULL << VIRTIO_BLK_F_DISCARD;
		cfg->max_discard_sectors = be->max_discard >> 9;
		cfg->max_discard_seg = VBLK_MAX_RANGES;
		cfg->discard_sector_alignment = be->block_size >> 9;
	}
	if (be->write_zeroes && !be->readonly) {
		features |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
		cfg->max_write_zeroes_sectors = be->max_zeroes >> 9;
		cfg->max_write_zeroes_seg = VBLK_MAX_RANGES;
		cfg->write_zeroes_may_unmap = 1;
	}
	info.features = features;
	info.nq = b->nq;
	info.config_len = sizeof(b->cfg);
	b->t = virtio_transport_create(vm, &info, &vblk_ops, b, err, errlen);
	if (!b->t) {
		vblk_destroy(b);
		return NULL;
	}
	for (unsigned i = 0; i < be->nfds; i++) {
		b->fdctx[i].b = b;
		b->fdctx[i].i = i;
		if (vm_add_fd(vm, be->fds[i], EPOLLIN, on_backend_fd, &b->fdctx[i])) {
			snprintf(err, errlen, "%s: cannot watch completion fd", be->name);
			vblk_destroy(b);
			return NULL;
		}
	}
	return b;
}

void vblk_acpi(struct vblk *b, struct aml *dsdt)
{
	b->t->ops->acpi(b->t, dsdt);
}

void vblk_destroy(struct vblk *b)
{
	if (!b)
		return;
	if (b->t) {
		b->t->ops->lock(b->t);
		b->destroyed = true;
		b->t->ops->unlock(b->t);
		b->t->ops->destroy(b->t);
	}
	for (unsigned i = 0; i < b->be->nfds; i++)
		if (b->fdctx[i].b)
			vm_del_fd(b->vm, b->be->fds[i]);
	b->be->ops->close(b->be);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		free(b->req[i]);
	free(b);
}
