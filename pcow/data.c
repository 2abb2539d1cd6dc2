/*
 * data.c - libpcow's data path: checked I/O on the image file, the layers'
 * L1/L2 tables and entries, reading through the layer chain and the base,
 * translation (pcow_translate), copy-on-write writes, prepare-write and
 * flush.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

/* ---- I/O ---- */

int pcow_file_pread(struct pcow *img, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	int r = img->io->pread(img->ioctx, buf, len, off, &done);

	if (r)
		return pcow_set_err(img, PCOW_EIO, "%s: read of %zu bytes at %llu: %s",
				    img->path, len, (unsigned long long)off, strerror(-r));
	if (done != len)
		return pcow_set_err(img, PCOW_ECORRUPT,
				    "%s: read of %zu bytes at %llu beyond end of file",
				    img->path, len, (unsigned long long)off);
	return 0;
}

int pcow_file_pwrite(struct pcow *img, const void *buf, size_t len, uint64_t off)
{
	int r = img->io->pwrite(img->ioctx, buf, len, off);

	if (r)
		return pcow_set_err(img, PCOW_EIO, "%s: write of %zu bytes at %llu: %s",
				    img->path, len, (unsigned long long)off, strerror(-r));
	return 0;
}

int pcow_file_flush(struct pcow *img)
{
	if (img->flags & PCOW_NO_FLUSH)
		return 0;
	int r = img->io->flush(img->ioctx);

	if (r)
		return pcow_set_err(img, PCOW_EIO, "%s: flush: %s", img->path,
				    strerror(-r));
	return 0;
}

/* ---- layers and entries ---- */

uint64_t *pcow_entry_slot(struct pcow *img, struct layer *l, uint64_t vc)
{
	uint64_t idx = vc / img->l2_entries;

	if (idx >= l->l1_entries || !l->l2[idx])
		return NULL;
	return &l->l2[idx][vc % img->l2_entries];
}

/* Make sure layer li has the L2 table covering vc (a new one is written at
 * the next flush or commit). */
static int ensure_table(struct pcow *img, unsigned li, uint64_t vc)
{
	struct layer *l = &img->layers[li];
	uint64_t idx = vc / img->l2_entries, t;
	int r;

	if (idx >= l->l1_entries)
		return pcow_set_err(img, PCOW_EINVAL, "%s: cluster %llu beyond layer size",
				    img->path, (unsigned long long)vc);
	if (l->l2[idx])
		return 0;
	l->l2[idx] = calloc(img->l2_entries, sizeof(uint64_t));
	if (!l->l2[idx])
		return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
	r = pcow_alloc_kind(img, REFC_META, &t);
	if (r) {
		free(l->l2[idx]);
		l->l2[idx] = NULL;
		return r;
	}
	l->l1[idx] = t;
	l->l2_state[idx] = T_NEW;
	l->l1_dirty = true;
	return 0;
}

int pcow_entry_set(struct pcow *img, unsigned li, uint64_t vc, uint64_t val)
{
	struct layer *l = &img->layers[li];
	uint64_t idx = vc / img->l2_entries;
	int r;

	if (idx < l->l1_entries && !l->l2[idx] && !val)
		return 0;
	r = ensure_table(img, li, vc);
	if (r)
		return r;
	if (l->l2_state[idx] == T_CLEAN)
		l->l2_state[idx] = T_DIRTY;
	l->l2[idx][vc % img->l2_entries] = val;
	return 0;
}

void pcow_layer_free_tables(struct layer *l)
{
	if (l->l2)
		for (uint32_t i = 0; i < l->l1_entries; i++)
			free(l->l2[i]);
	free(l->l2);
	free(l->l1);
	free(l->l2_state);
	l->l1 = NULL;
	l->l2 = NULL;
	l->l2_state = NULL;
}

void pcow_layer_free(struct layer *l)
{
	pcow_layer_free_tables(l);
	free(l->name);
	l->name = NULL;
}

int pcow_layer_alloc_l1(struct pcow *img, struct layer *l, uint64_t vsize)
{
	uint32_t n = pcow_l1_entries_for(vsize, img->cbits);

	if (n > PCOW_MAX_L1_ENTRIES)
		return pcow_set_err(img, PCOW_EINVAL,
				    "%s: virtual size %llu too large for %llu-byte clusters",
				    img->path, (unsigned long long)vsize,
				    (unsigned long long)img->csize);
	l->l1_entries = n;
	l->vsize = vsize;
	l->l1 = calloc(n ? n : 1, sizeof(uint64_t));
	l->l2 = calloc(n ? n : 1, sizeof(uint64_t *));
	l->l2_state = calloc(n ? n : 1, 1);
	if (!l->l1 || !l->l2 || !l->l2_state) {
		pcow_layer_free_tables(l);
		return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
	}
	return 0;
}

/* ---- reading ---- */

static int read_raw(struct pcow *img, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	int r = img->io->pread(img->ioctx, buf, len, off, &done);

	if (r)
		return pcow_set_err(img, PCOW_EIO, "%s: read at %llu: %s", img->path,
				    (unsigned long long)off, strerror(-r));
	if (done < len)
		memset((char *)buf + done, 0, len - done);
	return 0;
}

static int read_base(struct pcow *img, void *buf, size_t len, uint64_t off)
{
	struct pcow *b = img->base;
	size_t n = 0;
	int r;

	if (!img->base_fmt) {
		memset(buf, 0, len);
		return 0;
	}
	if (!b)
		return pcow_set_err(img, PCOW_EBASE, "%s: base image %s is not open",
				    img->path, img->base_path);
	if (off < b->vsize)
		n = b->vsize - off < len ? (size_t)(b->vsize - off) : len;
	if (n) {
		r = pcow_read(b, buf, n, off);
		if (r)
			return pcow_set_err(img, -r, "%s", b->err.msg);
	}
	memset((char *)buf + n, 0, len - n);
	return 0;
}

/* [off, off+len) inside one cluster; view of layer li (with its parents). */
int pcow_read_layer(struct pcow *img, int li, void *buf, size_t len, uint64_t off)
{
	unsigned hops = 0;

	while (li >= 0 && (unsigned)li != PCOW_NO_PARENT) {
		if ((unsigned)li >= img->nlayers || hops++ >= img->nlayers)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer tree has a loop "
					    "or a bad parent", img->path);
		struct layer *l = &img->layers[li];
		if (off >= l->vsize) {
			memset(buf, 0, len);
			return 0;
		}
		if (off + len > l->vsize) {
			size_t n = (size_t)(l->vsize - off);
			memset((char *)buf + n, 0, len - n);
			len = n;
		}
		uint64_t *e = pcow_entry_slot(img, l, off >> img->cbits);
		if (e && *e == MEM_ZERO) {
			memset(buf, 0, len);
			return 0;
		}
		if (e && *e)
			return pcow_file_pread(img, buf, len, *e + (off & (img->csize - 1)));
		li = (int)l->parent;
		if ((unsigned)li == PCOW_NO_PARENT)
			break;
	}
	return read_base(img, buf, len, off);
}

int pcow_read(struct pcow *img, void *buf, size_t len, uint64_t off)
{
	if (off > img->vsize || len > img->vsize - off)
		return pcow_set_err(img, PCOW_EINVAL,
				    "%s: read of %zu bytes at %llu beyond virtual size %llu",
				    img->path, len, (unsigned long long)off,
				    (unsigned long long)img->vsize);
	if (img->raw)
		return read_raw(img, buf, len, off);
	while (len) {
		size_t n = img->csize - (off & (img->csize - 1));
		if (n > len)
			n = len;
		int r = pcow_read_layer(img, (int)img->active, buf, n, off);
		if (r)
			return r;
		buf = (char *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- translation ---- */

static void classify(struct pcow *img, uint64_t vc, enum pcow_map_kind *kind,
		     uint64_t *host, unsigned *layer)
{
	unsigned li = img->active;
	uint64_t off = vc << img->cbits;

	unsigned hops = 0;

	*host = 0;
	*layer = 0;
	while (li != PCOW_NO_PARENT) {
		if (li >= img->nlayers || hops++ >= img->nlayers) {
			*kind = PCOW_MAP_HOLE;	/* unreachable: pcow_catalog_parse() checks */
			return;
		}
		struct layer *l = &img->layers[li];
		if (off >= l->vsize) {
			*kind = PCOW_MAP_HOLE;
			return;
		}
		uint64_t *e = pcow_entry_slot(img, l, vc);
		if (e && *e == MEM_ZERO) {
			*kind = PCOW_MAP_ZERO;
			return;
		}
		if (e && *e) {
			*kind = li == img->active ? PCOW_MAP_DATA : PCOW_MAP_LOWER;
			*host = *e;
			*layer = li;
			return;
		}
		li = l->parent;
	}
	*kind = img->base_fmt && img->base && off < img->base->vsize ?
		PCOW_MAP_BASE : PCOW_MAP_HOLE;
}

/* Clusters from vc to the end of its L2 span if no layer of the active
 * chain has a table there, else 0. */
static uint64_t table_gap(struct pcow *img, uint64_t vc)
{
	uint64_t idx = vc / img->l2_entries;

	unsigned hops = 0;

	for (unsigned li = img->active; li != PCOW_NO_PARENT; li = img->layers[li].parent) {
		if (li >= img->nlayers || hops++ >= img->nlayers)
			return 0;	/* unreachable: pcow_catalog_parse() checks */
		struct layer *l = &img->layers[li];
		if (idx < l->l1_entries && l->l2[idx])
			return 0;
	}
	return img->l2_entries - vc % img->l2_entries;
}

int pcow_translate(struct pcow *img, uint64_t off, uint64_t limit, struct pcow_map *m)
{
	enum pcow_map_kind k, k2;
	uint64_t host, host2, vc, end;
	unsigned layer, layer2;

	memset(m, 0, sizeof(*m));
	if (off >= img->vsize)
		return pcow_set_err(img, PCOW_EINVAL, "%s: offset %llu beyond virtual size",
				    img->path, (unsigned long long)off);
	if (limit == 0 || limit > img->vsize - off)
		limit = img->vsize - off;
	if (img->raw)
		return pcow_raw_translate(img, off, limit, m);
	vc = off >> img->cbits;
	classify(img, vc, &k, &host, &layer);
	end = (vc + 1) << img->cbits;
	while (end - off < limit) {
		uint64_t span = table_gap(img, end >> img->cbits);
		if (span && (k == PCOW_MAP_HOLE || k == PCOW_MAP_BASE)) {
			/* no layer has a table here: same kind to the table's end,
			 * unless the base's size or a layer's size ends inside */
			uint64_t te = ((end >> img->cbits) + span) << img->cbits;
			classify(img, end >> img->cbits, &k2, &host2, &layer2);
			uint64_t last = te - img->csize;
			enum pcow_map_kind k3;
			uint64_t h3;
			unsigned l3;
			classify(img, last >> img->cbits, &k3, &h3, &l3);
			if (k2 == k && k3 == k) {
				end = te;
				continue;
			}
		}
		classify(img, end >> img->cbits, &k2, &host2, &layer2);
		if (k2 != k || layer2 != layer)
			break;
		if ((k == PCOW_MAP_DATA || k == PCOW_MAP_LOWER) &&
		    host2 != host + (end - (vc << img->cbits)))
			break;
		end += img->csize;
	}
	m->kind = k;
	m->layer = layer;
	m->len = end - off < limit ? end - off : limit;
	if (k == PCOW_MAP_DATA || k == PCOW_MAP_LOWER) {
		m->host_off = host + (off & (img->csize - 1));
		m->shared = pcow_refc_get(img, host) > 1;
	} else if (k == PCOW_MAP_BASE) {
		m->host_off = off;
	}
	return 0;
}

/* ---- writing ---- */

static int check_writable(struct pcow *img)
{
	if (img->broken)
		return pcow_set_err(img, PCOW_EIO,
				    "%s: an earlier metadata update failed; reopen the image",
				    img->path);
	if (!img->rw || img->raw)
		return pcow_set_err(img, PCOW_ERDONLY, "%s: image is opened read-only",
				    img->path);
	return pcow_bump_data_gen(img);
}

/* Give the active layer its own copy of cluster vc; *host gets its offset. */
static int cow_cluster(struct pcow *img, uint64_t vc, const void *data,
		       size_t dlen, size_t doff, uint64_t *host)
{
	uint64_t *e = pcow_entry_slot(img, &img->layers[img->active], vc);
	uint64_t old = e ? *e : 0, nh;
	int r;

	if (old && old != MEM_ZERO && pcow_refc_get(img, old) == 1) {
		*host = old;
		if (dlen)
			return pcow_file_pwrite(img, data, dlen, old + doff);
		return 0;
	}
	/* the table first, so consecutive data clusters stay contiguous */
	r = ensure_table(img, img->active, vc);
	if (r)
		return r;
	r = pcow_alloc_cluster(img, &nh);
	if (r)
		return r;
	if (dlen == img->csize) {
		r = pcow_file_pwrite(img, data, dlen, nh);
	} else {
		r = pcow_read_layer(img, (int)img->active, img->zbuf, img->csize,
			       vc << img->cbits);
		if (!r) {
			if (dlen)
				memcpy(img->zbuf + doff, data, dlen);
			r = pcow_file_pwrite(img, img->zbuf, img->csize, nh);
		}
		memset(img->zbuf, 0, img->csize);
	}
	if (!r)
		r = pcow_entry_set(img, img->active, vc, nh);
	if (r) {
		pcow_defer_free(img, nh);
		return r;
	}
	*host = nh;
	return pcow_defer_free(img, old);
}

int pcow_write(struct pcow *img, const void *buf, size_t len, uint64_t off)
{
	int r;

	if (off > img->vsize || len > img->vsize - off)
		return pcow_set_err(img, PCOW_EINVAL,
				    "%s: write of %zu bytes at %llu beyond virtual size %llu",
				    img->path, len, (unsigned long long)off,
				    (unsigned long long)img->vsize);
	if (img->raw) {
		if (!img->rw)
			return pcow_set_err(img, PCOW_ERDONLY, "%s: read-only", img->path);
		return pcow_file_pwrite(img, buf, len, off);
	}
	r = check_writable(img);
	if (r)
		return r;
	/* whole clusters that get new, adjacent host clusters go out in one
	 * write (convert, first writes); the rest cluster by cluster */
	const char *bdata = NULL;
	uint64_t bhost = 0;
	size_t blen = 0;
	while (len) {
		size_t o = off & (img->csize - 1), n = img->csize - o;
		uint64_t host, vc = off >> img->cbits;
		if (n > len)
			n = len;
		uint64_t *e = pcow_entry_slot(img, &img->layers[img->active], vc);
		uint64_t old = e ? *e : 0;
		bool in_place = old && old != MEM_ZERO && pcow_refc_get(img, old) == 1;
		if (n == img->csize && !in_place) {
			r = ensure_table(img, img->active, vc);
			if (!r)
				r = pcow_alloc_cluster(img, &host);
			if (r)
				break;
			if (blen && (host != bhost + blen || (const char *)buf != bdata + blen)) {
				r = pcow_file_pwrite(img, bdata, blen, bhost);
				blen = 0;
				if (r) {
					pcow_defer_free(img, host);
					break;
				}
			}
			if (!blen) {
				bhost = host;
				bdata = buf;
			}
			blen += n;
			r = pcow_entry_set(img, img->active, vc, host);
			if (!r)
				r = pcow_defer_free(img, old);
		} else {
			if (blen) {
				r = pcow_file_pwrite(img, bdata, blen, bhost);
				blen = 0;
				if (r)
					break;
			}
			r = cow_cluster(img, vc, buf, n, o, &host);
		}
		if (r)
			break;
		buf = (const char *)buf + n;
		off += n;
		len -= n;
	}
	if (blen) {
		int r2 = pcow_file_pwrite(img, bdata, blen, bhost);
		if (!r)
			r = r2;
	}
	return r;
}

int pcow_prepare_write(struct pcow *img, uint64_t off, uint64_t *host_off)
{
	uint64_t host;
	int r;

	if (off >= img->vsize)
		return pcow_set_err(img, PCOW_EINVAL, "%s: offset %llu beyond virtual size",
				    img->path, (unsigned long long)off);
	r = check_writable(img);
	if (r)
		return r;
	r = cow_cluster(img, off >> img->cbits, NULL, 0, 0, &host);
	if (r)
		return r;
	*host_off = host + (off & (img->csize - 1));
	return 0;
}

int pcow_flush(struct pcow *img)
{
	if (img->raw)
		return img->rw ? pcow_file_flush(img) : 0;
	if (!img->rw)
		return 0;
	if (img->broken)
		return pcow_set_err(img, PCOW_EIO, "%s: image is broken", img->path);
	return pcow_data_flush(img);
}
