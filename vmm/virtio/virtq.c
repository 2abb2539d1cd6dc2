/*
 * virtq.c - split virtqueue device side: ring access and chain validation.
 *
 * Ring memory is shared with a hostile guest that may change it at any
 * time. Each descriptor is copied once and only the copy is checked and
 * used; every buffer address goes through vm_gpa()/vm_gpa_w().
 */
#include <errno.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "virtq.h"
#include "vmm.h"

void virtq_init(struct virtq *q, struct vm *vm)
{
	memset(q, 0, sizeof(*q));
	q->vm = vm;
}

void virtq_reset(struct virtq *q)
{
	struct vm *vm = q->vm;

	virtq_init(q, vm);
}

bool virtq_enable(struct virtq *q)
{
	uint64_t n = q->size;

	if (n == 0 || n > VIRTQ_MAX_SIZE || (n & (n - 1)))
		return false;
	if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
		return false;
	q->desc = vm_gpa(q->vm, q->desc_gpa, 16 * n);
	q->avail = vm_gpa(q->vm, q->avail_gpa, 6 + 2 * n);
	q->used = vm_gpa_w(q->vm, q->used_gpa, 6 + 8 * n);
	if (!q->desc || !q->avail || !q->used) {
		q->desc = NULL;
		q->avail = NULL;
		q->used = NULL;
		return false;
	}
	q->last_avail = 0;
	q->used_idx = 0;
	q->broken = false;
	q->ready = true;
	return true;
}

static uint16_t load16(volatile uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void read_desc(const struct virtq_desc_raw *table, unsigned i,
		      struct virtq_desc_raw *d)
{
	const volatile struct virtq_desc_raw *s = &table[i];

	d->addr = s->addr;
	d->len = s->len;
	d->flags = s->flags;
	d->next = s->next;
}

/* Add one checked descriptor to the chain. */
static int add_seg(struct virtq *q, struct virtq_chain *c,
		   const struct virtq_desc_raw *d)
{
	bool w = d->flags & VRING_DESC_F_WRITE;
	void *host;

	if (d->len == 0)
		return 0; /* nothing to access; allowed and ignored */
	if (!w && c->nseg > c->nread)
		return -1; /* readable after writable */
	if (c->nseg >= VIRTQ_MAX_SEGS)
		return -1;
	host = w ? vm_gpa_w(q->vm, d->addr, d->len) : vm_gpa(q->vm, d->addr, d->len);
	if (!host)
		return -1;
	if (w) {
		c->write_len += d->len;
		if (c->write_len > VIRTQ_MAX_CHAIN_LEN)
			return -1;
	} else {
		c->read_len += d->len;
		if (c->read_len > VIRTQ_MAX_CHAIN_LEN)
			return -1;
		c->nread++;
	}
	c->seg[c->nseg++] = (struct virtq_seg){
		.gpa = d->addr, .host = host, .len = d->len, .write = w,
	};
	return 0;
}

static int walk_indirect(struct virtq *q, struct virtq_chain *c,
			 const struct virtq_desc_raw *ind)
{
	const struct virtq_desc_raw *table;
	unsigned n, i, count;

	if ((ind->flags & VRING_DESC_F_NEXT) || ind->len == 0 ||
	    (ind->len % 16) || ind->len / 16 > VIRTQ_MAX_INDIRECT ||
	    (ind->addr & 15))
		return -1;
	n = ind->len / 16;
	table = vm_gpa(q->vm, ind->addr, ind->len);
	if (!table)
		return -1;
	for (i = 0, count = 0;; count++) {
		struct virtq_desc_raw d;

		if (count >= n)
			return -1; /* loop inside the table */
		read_desc(table, i, &d);
		if (d.flags & VRING_DESC_F_INDIRECT)
			return -1; /* nested indirect */
		if (add_seg(q, c, &d))
			return -1;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return -1;
		i = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	uint16_t avail_idx, head, i;
	unsigned count;

	if (!q->ready || q->broken)
		return 0;
	avail_idx = load16(&q->avail[1]);
	if (avail_idx == q->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - q->last_avail) > q->size) {
		q->broken = true;
		return VIRTQ_ERR_BROKEN;
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	head = load16(&q->avail[2 + (q->last_avail & (q->size - 1))]);
	q->last_avail++;

	c->head = head;
	c->nseg = c->nread = 0;
	c->read_len = c->write_len = 0;
	if (head >= q->size)
		return VIRTQ_ERR_BAD_CHAIN;
	for (i = head, count = 0;; count++) {
		struct virtq_desc_raw d;

		if (count >= q->size)
			return VIRTQ_ERR_BAD_CHAIN; /* loop */
		read_desc(q->desc, i, &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (walk_indirect(q, c, &d))
				return VIRTQ_ERR_BAD_CHAIN;
			return 1; /* an indirect descriptor ends the chain */
		}
		if (add_seg(q, c, &d))
			return VIRTQ_ERR_BAD_CHAIN;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 1;
		if (d.next >= q->size)
			return VIRTQ_ERR_BAD_CHAIN;
		i = d.next;
	}
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
	volatile uint32_t *elem;
	uint16_t slot;

	if (!q->ready)
		return;
	slot = q->used_idx & (q->size - 1);
	elem = (volatile uint32_t *)(q->used + 4 + 8 * slot);
	elem[0] = head;
	elem[1] = len;
	q->used_idx++;
	__atomic_store_n((volatile uint16_t *)(q->used + 2), q->used_idx,
			 __ATOMIC_RELEASE);
}

bool virtq_should_notify(struct virtq *q)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->ready)
		return false;
	return !(load16(&q->avail[0]) & VRING_AVAIL_F_NO_INTERRUPT);
}

uint64_t virtq_chain_read(const struct virtq_chain *c, uint64_t off, void *buf,
			  uint64_t len)
{
	uint8_t *out = buf;
	uint64_t done = 0;

	for (unsigned i = 0; i < c->nread && done < len; i++) {
		const struct virtq_seg *s = &c->seg[i];
		uint64_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off;
		if (n > len - done)
			n = len - done;
		memcpy(out + done, (const uint8_t *)s->host + off, n);
		done += n;
		off = 0;
	}
	return done;
}
