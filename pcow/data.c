/*
 * data.c - libpcow's data path: checked I/O on the image file, the layers'
 * L1/L2 tables and entries (L1 chunks and L2 tables read and checked on
 * first use, the empty chunk and taken-over tables shared between layers
 * until written), reading through the layer chain and the base,
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

/* ---- layers, tables and entries ---- */

/* read, all entries empty: shared by every layer, never written */
struct l1chunk pcow_l1_empty;

/*
 * Decoded L2 tables are counted objects: the word before the entries
 * holds the number of chunk slots using the table. A table shared by
 * several layers (a deleted snapshot's table taken over by each of its
 * children) is copied by the first layer that changes an entry in it.
 */
uint64_t *pcow_tab_new(struct pcow *img)
{
	uint64_t *t = calloc(img->l2_entries + 1, sizeof(uint64_t));

	if (!t) {
		pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
		return NULL;
	}
	t[0] = 1;
	return t + 1;
}

void pcow_tab_put(uint64_t *t)
{
	if (t && !--t[-1])
		free(t - 1);
}

static uint64_t *tab_get(uint64_t *t)
{
	t[-1]++;
	return t;
}

/* tables in use by more than one slot */
bool pcow_tab_shared(const uint64_t *t)
{
	return t[-1] > 1;
}

int pcow_decode_l1(struct pcow *img, unsigned li, uint32_t ci, const uint8_t *raw,
		   uint32_t n, uint64_t *out, bool lenient, unsigned *dropped)
{
	struct layer *l = &img->layers[li];

	for (uint32_t k = 0; k < n; k++) {
		uint32_t j = (ci << L1_CHUNK_BITS) + k;
		uint64_t pos = l->l1_off + j * 8ULL, t, c;
		unsigned fl;
		const char *bad = NULL;

		out[k] = 0;
		if (!get_le64(raw + k * 8))
			continue;
		if (pcow_entry_decode(get_le64(raw + k * 8), img->cbits, pos, &t, &fl) || fl)
			bad = "is corrupt";
		else if (t && ((c = t >> img->cbits) < img->first_data ||
			       c >= img->file_clusters))
			bad = "points outside the image";
		if (bad) {
			if (!lenient)
				return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: bad "
						    "L1 entry %u (%s)", img->path, li, j, bad);
			if (dropped) {
				pcow_problem(img, "layer %u: L1 entry %u %s (dropped)", li,
					     j, bad);
				(*dropped)++;
			}
			continue;
		}
		out[k] = t;
	}
	return 0;
}

int pcow_decode_l2(struct pcow *img, unsigned li, uint32_t j, uint64_t toff,
		   const uint8_t *raw, uint64_t *out, bool lenient, unsigned *dropped)
{
	struct layer *l = &img->layers[li];

	for (uint32_t k = 0; k < img->l2_entries; k++) {
		uint64_t pos = toff + k * 8ULL, h, hc = 0;
		uint64_t vc = (uint64_t)j * img->l2_entries + k;
		unsigned fl;
		const char *bad = NULL;

		out[k] = 0;
		if (!get_le64(raw + k * 8))
			continue;
		if (pcow_entry_decode(get_le64(raw + k * 8), img->cbits, pos, &h, &fl))
			bad = "check bits wrong";
		else if ((fl & PCOW_ENTRY_ZERO) && h)
			bad = "zero entry with a cluster";
		else if (h && ((hc = h >> img->cbits) < img->first_data ||
			       hc >= img->file_clusters))
			bad = "cluster outside the image";
		else if ((h || fl) && (vc << img->cbits) >= l->vsize)
			bad = "entry beyond the layer's size";
		if (bad) {
			if (!lenient)
				return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u cluster "
						    "%llu: %s", img->path, li,
						    (unsigned long long)vc, bad);
			if (dropped) {
				pcow_problem(img, "layer %u cluster %llu: %s (dropped)", li,
					     (unsigned long long)vc, bad);
				(*dropped)++;
			}
			continue;
		}
		if (fl & PCOW_ENTRY_ZERO)
			out[k] = MEM_ZERO;
		else if (h)
			out[k] = h;
	}
	return 0;
}

/* the chunk pointer array of a layer, allocated on first use */
static int chunks_alloc(struct pcow *img, struct layer *l)
{
	if (l->l1c)
		return 0;
	l->l1c = calloc(pcow_chunk_count(l->l1_entries) ?: 1, sizeof(*l->l1c));
	if (!l->l1c)
		return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
	return 0;
}

int pcow_chunk_get(struct pcow *img, unsigned li, uint32_t ci, struct l1chunk **out)
{
	struct layer *l = &img->layers[li];
	uint32_t first = ci << L1_CHUNK_BITS, n = 0;
	uint8_t raw[L1_CHUNK * 8];
	uint64_t off[L1_CHUNK];
	int r = chunks_alloc(img, l);

	if (r)
		return r;
	if (l->l1c[ci]) {
		*out = l->l1c[ci];
		return 0;
	}
	if (l->l1_off && first < l->l1_disk_n)
		n = l->l1_disk_n - first < L1_CHUNK ? l->l1_disk_n - first : L1_CHUNK;
	if (n) {
		r = pcow_file_pread(img, raw, n * 8, l->l1_off + first * 8ULL);
		if (!r)
			r = pcow_decode_l1(img, li, ci, raw, n, off, img->lenient, NULL);
		if (r)
			return r;
	}
	r = pcow_chunk_install(img, li, ci, off, n);
	if (!r)
		*out = l->l1c[ci];
	return r;
}

/* a chunk the layer may change: its own copy of the shared empty one */
static int chunk_own(struct pcow *img, unsigned li, uint32_t ci, struct l1chunk **out)
{
	struct layer *l = &img->layers[li];
	int r = pcow_chunk_get(img, li, ci, out);

	if (r || *out != &pcow_l1_empty)
		return r;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
	l->l1c[ci] = *out;
	return 0;
}

int pcow_chunk_install(struct pcow *img, unsigned li, uint32_t ci, const uint64_t *off,
		       uint32_t n)
{
	struct layer *l = &img->layers[li];
	struct l1chunk *c;
	int r = chunks_alloc(img, l);

	if (r)
		return r;
	while (n && !off[n - 1])
		n--;
	if (!n) {
		l->l1c[ci] = &pcow_l1_empty;
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
	memcpy(c->off, off, n * 8);
	l->l1c[ci] = c;
	return 0;
}

/* tab (malloc'd) becomes the decoded table at L1 index j; its chunk is in
 * memory (pcow_chunk_install) */
int pcow_table_install(struct pcow *img, unsigned li, uint32_t j, uint64_t *tab)
{
	struct l1chunk *c = img->layers[li].l1c ?
		img->layers[li].l1c[j >> L1_CHUNK_BITS] : NULL;

	if (!c || c == &pcow_l1_empty)
		return pcow_set_err(img, PCOW_EIO, "%s: internal: table without chunk",
				    img->path);
	pcow_tab_put(c->tab[j & (L1_CHUNK - 1)]);
	c->tab[j & (L1_CHUNK - 1)] = tab;
	return 0;
}

int pcow_table_get(struct pcow *img, unsigned li, uint32_t j, uint64_t **out)
{
	struct l1chunk *c;
	uint32_t k = j & (L1_CHUNK - 1);
	uint8_t *raw;
	uint64_t *t;
	int r;

	*out = NULL;
	if (j >= img->layers[li].l1_entries)
		return 0;
	r = pcow_chunk_get(img, li, j >> L1_CHUNK_BITS, &c);
	if (r || !c->off[k])
		return r;
	if (c->tab[k]) {
		*out = c->tab[k];
		return 0;
	}
	raw = malloc(img->csize);
	t = pcow_tab_new(img);
	if (!raw || !t) {
		free(raw);
		pcow_tab_put(t);
		return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
	}
	r = pcow_file_pread(img, raw, img->csize, c->off[k]);
	if (!r)
		r = pcow_decode_l2(img, li, j, c->off[k], raw, t, img->lenient, NULL);
	free(raw);
	if (r) {
		pcow_tab_put(t);
		return r;
	}
	c->tab[k] = *out = t;
	return 0;
}

int pcow_layer_load(struct pcow *img, unsigned li)
{
	struct layer *l = &img->layers[li];
	uint64_t *t;
	int r = 0;

	for (uint32_t j = 0; j < l->l1_entries && !r; j++)
		r = pcow_table_get(img, li, j, &t);
	return r;
}

int pcow_entry_get(struct pcow *img, unsigned li, uint64_t vc, uint64_t *val)
{
	uint64_t *t;
	int r = pcow_table_get(img, li, (uint32_t)(vc / img->l2_entries), &t);

	*val = !r && t ? t[vc % img->l2_entries] : 0;
	return r;
}

/* Make sure layer li has the L2 table covering vc (a new one is written at
 * the next flush or commit). */
static int ensure_table(struct pcow *img, unsigned li, uint64_t vc)
{
	struct layer *l = &img->layers[li];
	uint64_t idx = vc / img->l2_entries, t, *tab;
	uint32_t k = idx & (L1_CHUNK - 1);
	struct l1chunk *c;
	int r;

	if (idx >= l->l1_entries)
		return pcow_set_err(img, PCOW_EINVAL, "%s: cluster %llu beyond layer size",
				    img->path, (unsigned long long)vc);
	r = pcow_table_get(img, li, (uint32_t)idx, &tab);
	if (r || tab)
		return r;
	r = chunk_own(img, li, (uint32_t)(idx >> L1_CHUNK_BITS), &c);
	if (r)
		return r;
	c->tab[k] = pcow_tab_new(img);
	if (!c->tab[k])
		return -PCOW_ENOMEM;
	r = pcow_alloc_kind(img, REFC_META, &t);
	if (r) {
		pcow_tab_put(c->tab[k]);
		c->tab[k] = NULL;
		return r;
	}
	c->off[k] = t;
	c->state[k] = T_NEW;
	l->l1_dirty = true;
	return 0;
}

/* Layer li, which has no table at L1 index j, takes tab (a table of
 * another layer with the same entries) as its own new table: shared in
 * memory until one of them changes it, written to its own new place. */
int pcow_table_adopt(struct pcow *img, unsigned li, uint32_t j, uint64_t *tab)
{
	uint32_t k = j & (L1_CHUNK - 1);
	struct l1chunk *c;
	uint64_t t;
	int r = chunk_own(img, li, j >> L1_CHUNK_BITS, &c);

	if (r)
		return r;
	if (c->off[k])
		return pcow_set_err(img, PCOW_EIO, "%s: internal: adopting over a table",
				    img->path);
	r = pcow_alloc_kind(img, REFC_META, &t);
	if (r)
		return r;
	c->tab[k] = tab_get(tab);
	c->off[k] = t;
	c->state[k] = T_NEW;
	img->layers[li].l1_dirty = true;
	return 0;
}

int pcow_entry_set(struct pcow *img, unsigned li, uint64_t vc, uint64_t val)
{
	struct layer *l = &img->layers[li];
	uint64_t idx = vc / img->l2_entries, *tab;
	struct l1chunk *c;
	int r;

	if (idx < l->l1_entries && !val) {
		r = pcow_table_get(img, li, (uint32_t)idx, &tab);
		if (r || !tab)
			return r;
	}
	r = ensure_table(img, li, vc);
	if (r)
		return r;
	c = l->l1c[idx >> L1_CHUNK_BITS];
	idx &= L1_CHUNK - 1;
	if (pcow_tab_shared(c->tab[idx])) {
		/* shared with another layer: this one changes its own copy */
		uint64_t *own = pcow_tab_new(img);
		if (!own)
			return -PCOW_ENOMEM;
		memcpy(own, c->tab[idx], img->l2_entries * sizeof(uint64_t));
		pcow_tab_put(c->tab[idx]);
		c->tab[idx] = own;
	}
	if (c->state[idx] == T_CLEAN)
		c->state[idx] = T_DIRTY;
	c->tab[idx][vc % img->l2_entries] = val;
	return 0;
}

void pcow_layer_free_tables(struct layer *l)
{
	for (uint32_t i = 0; l->l1c && i < pcow_chunk_count(l->l1_entries); i++) {
		struct l1chunk *c = l->l1c[i];
		if (!c || c == &pcow_l1_empty)
			continue;
		for (uint32_t k = 0; k < L1_CHUNK; k++)
			pcow_tab_put(c->tab[k]);
		free(c);
	}
	free(l->l1c);
	l->l1c = NULL;
}

void pcow_layer_free(struct layer *l)
{
	pcow_layer_free_tables(l);
	free(l->name);
	l->name = NULL;
}

/* A new layer: nothing on disk yet, every chunk the shared empty one. */
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
	l->l1_disk_n = 0;
	l->l1c = calloc(pcow_chunk_count(n) ?: 1, sizeof(*l->l1c));
	if (!l->l1c)
		return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
	for (uint32_t i = 0; i < pcow_chunk_count(n); i++)
		l->l1c[i] = &pcow_l1_empty;
	return 0;
}

/* Grow layer l's L1 to n entries (resize); the new entries are empty. */
int pcow_layer_grow_l1(struct pcow *img, struct layer *l, uint32_t n)
{
	uint32_t oc = pcow_chunk_count(l->l1_entries), nc = pcow_chunk_count(n);
	struct l1chunk **p;

	if (n <= l->l1_entries)
		return 0;
	if (!l->l1c) {
		l->l1_entries = n;	/* read on first use, beyond l1_disk_n: empty */
		return 0;
	}
	p = realloc(l->l1c, (nc ?: 1) * sizeof(*p));
	if (!p)
		return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
	l->l1c = p;
	for (uint32_t i = oc; i < nc; i++)
		p[i] = NULL;	/* beyond l1_disk_n: read as empty */
	l->l1_entries = n;
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
		uint64_t e;
		int r = pcow_entry_get(img, (unsigned)li, off >> img->cbits, &e);
		if (r)
			return r;
		if (e == MEM_ZERO) {
			memset(buf, 0, len);
			return 0;
		}
		if (e)
			return pcow_file_pread(img, buf, len, e + (off & (img->csize - 1)));
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

static int classify(struct pcow *img, uint64_t vc, enum pcow_map_kind *kind,
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
			return 0;
		}
		struct layer *l = &img->layers[li];
		if (off >= l->vsize) {
			*kind = PCOW_MAP_HOLE;
			return 0;
		}
		uint64_t e;
		int r = pcow_entry_get(img, li, vc, &e);
		if (r)
			return r;
		if (e == MEM_ZERO) {
			*kind = PCOW_MAP_ZERO;
			return 0;
		}
		if (e) {
			*kind = li == img->active ? PCOW_MAP_DATA : PCOW_MAP_LOWER;
			*host = e;
			*layer = li;
			return 0;
		}
		li = l->parent;
	}
	*kind = img->base_fmt && img->base && off < img->base->vsize ?
		PCOW_MAP_BASE : PCOW_MAP_HOLE;
	return 0;
}

/* *span: clusters from vc to the end of its L2 span if no layer of the
 * active chain has a table there, else 0. Reads L1 chunks only. */
static int table_gap(struct pcow *img, uint64_t vc, uint64_t *span)
{
	uint64_t idx = vc / img->l2_entries;
	unsigned hops = 0;

	*span = 0;
	for (unsigned li = img->active; li != PCOW_NO_PARENT; li = img->layers[li].parent) {
		if (li >= img->nlayers || hops++ >= img->nlayers)
			return 0;	/* unreachable: pcow_catalog_parse() checks */
		struct layer *l = &img->layers[li];
		struct l1chunk *c;
		if (idx >= l->l1_entries)
			continue;
		int r = pcow_chunk_get(img, li, (uint32_t)(idx >> L1_CHUNK_BITS), &c);
		if (r)
			return r;
		if (c->off[idx & (L1_CHUNK - 1)])
			return 0;
	}
	*span = img->l2_entries - vc % img->l2_entries;
	return 0;
}

int pcow_translate(struct pcow *img, uint64_t off, uint64_t limit, struct pcow_map *m)
{
	enum pcow_map_kind k, k2;
	uint64_t host, host2, vc, end;
	unsigned layer, layer2;
	int r;

	memset(m, 0, sizeof(*m));
	if (off >= img->vsize)
		return pcow_set_err(img, PCOW_EINVAL, "%s: offset %llu beyond virtual size",
				    img->path, (unsigned long long)off);
	if (limit == 0 || limit > img->vsize - off)
		limit = img->vsize - off;
	if (img->raw)
		return pcow_raw_translate(img, off, limit, m);
	vc = off >> img->cbits;
	r = classify(img, vc, &k, &host, &layer);
	if (r)
		return r;
	end = (vc + 1) << img->cbits;
	while (end - off < limit) {
		uint64_t span;
		r = table_gap(img, end >> img->cbits, &span);
		if (r)
			return r;
		if (span && (k == PCOW_MAP_HOLE || k == PCOW_MAP_BASE)) {
			/* no layer has a table here: same kind to the table's end,
			 * unless the base's size or a layer's size ends inside */
			uint64_t te = ((end >> img->cbits) + span) << img->cbits;
			uint64_t last = te - img->csize;
			enum pcow_map_kind k3;
			uint64_t h3;
			unsigned l3;
			r = classify(img, end >> img->cbits, &k2, &host2, &layer2);
			if (!r)
				r = classify(img, last >> img->cbits, &k3, &h3, &l3);
			if (r)
				return r;
			if (k2 == k && k3 == k) {
				end = te;
				continue;
			}
		}
		r = classify(img, end >> img->cbits, &k2, &host2, &layer2);
		if (r)
			return r;
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
		/* sharing needs the cluster counts: a data cluster of the active
		 * layer only (a writer asks; LOWER is read-only anyway) */
		if (k == PCOW_MAP_DATA) {
			r = pcow_account(img);
			if (r)
				return r;
			m->shared = pcow_refc_get(img, host) > 1;
		}
	} else if (k == PCOW_MAP_BASE) {
		m->host_off = off;
	}
	return 0;
}

int pcow_active_runs(struct pcow *img, pcow_run_fn fn, void *ctx)
{
	struct layer *a;
	uint64_t roff = 0, rlen = 0, rhost = 0;
	bool rshared = false, counted = false;
	int r = 0;

	if (img->raw)
		return img->vsize ? fn(ctx, 0, img->vsize, 0, false) : 0;
	a = &img->layers[img->active];
	for (uint32_t j = 0; j < a->l1_entries && !r; j++) {
		uint64_t *t;

		r = pcow_table_get(img, img->active, j, &t);
		for (uint32_t k = 0; !r && t && k < img->l2_entries; k++) {
			uint64_t e = t[k], off = ((uint64_t)j * img->l2_entries + k) << img->cbits;
			uint64_t len = img->csize;
			bool shared;

			if (off >= a->vsize)
				break;
			if (!e || e == MEM_ZERO)
				continue;
			if (!counted) {	/* sharing needs the cluster counts */
				r = pcow_account(img);
				if (r)
					break;
				counted = true;
			}
			shared = pcow_refc_get(img, e) > 1;
			if (len > a->vsize - off)
				len = a->vsize - off;
			if (rlen && roff + rlen == off && rhost + rlen == e && rshared == shared) {
				rlen += len;
				continue;
			}
			if (rlen)
				r = fn(ctx, roff, rlen, rhost, rshared);
			roff = off;
			rhost = e;
			rlen = len;
			rshared = shared;
		}
	}
	if (!r && rlen)
		r = fn(ctx, roff, rlen, rhost, rshared);
	return r;
}

/* ---- writing ---- */

/* Before a change: writable, ownership counted, data generation bumped. */
int pcow_change_begin(struct pcow *img)
{
	int r = pcow_writable(img);

	if (!r)
		r = pcow_account(img);
	if (r)
		return r;
	return pcow_bump_data_gen(img);
}

/* Give the active layer its own copy of cluster vc; *host gets its offset. */
static int cow_cluster(struct pcow *img, uint64_t vc, const void *data,
		       size_t dlen, size_t doff, uint64_t *host)
{
	uint64_t old, nh;
	int r = pcow_entry_get(img, img->active, vc, &old);

	if (r)
		return r;
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
	r = pcow_change_begin(img);
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
		uint64_t old;
		r = pcow_entry_get(img, img->active, vc, &old);
		if (r)
			break;
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
	r = pcow_change_begin(img);
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
