/*
 * ops.c - libpcow's image operations built on the metadata commit in
 * meta.c: named snapshots (create, list, apply, delete), grow, commit into
 * the base, and rebase. Each changes the in-memory layer tree, then makes
 * it durable with one pcow_meta_commit() (one root switch), so a crash leaves
 * either the old or the new tree. Commit and safe rebase copy data first,
 * in ways that keep the image's visible contents unchanged at every point.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "internal.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int find_snapshot(struct pcow *img, const char *name)
{
	for (unsigned i = 0; i < img->nlayers; i++)
		if ((img->layers[i].flags & PCOW_LAYER_SNAPSHOT) &&
		    !strcmp(img->layers[i].name, name))
			return (int)i;
	return -1;
}


/* The decoded table at L1 index j of a layer in memory (pcow_layer_load),
 * its host offset in *off; NULL where the layer has none. */
static uint64_t *loaded_table(struct layer *l, uint32_t j, uint64_t *off)
{
	struct l1chunk *c = l->l1c[j >> L1_CHUNK_BITS];

	*off = c->off[j & (L1_CHUNK - 1)];
	return c->tab[j & (L1_CHUNK - 1)];
}

int pcow_layer_drop(struct pcow *img, struct layer *l)
{
	int r = pcow_layer_load(img, (unsigned)(l - img->layers));

	for (uint32_t j = 0; j < l->l1_entries && !r; j++) {
		uint64_t toff, *t = loaded_table(l, j, &toff);
		if (!t)
			continue;
		for (uint32_t k = 0; k < img->l2_entries && !r; k++)
			r = pcow_defer_free(img, t[k]);
		if (!r)
			r = pcow_defer_free(img, toff);
	}
	if (!r)
		r = pcow_meta_free_l1(img, l, l->l1_disk_n);
	return r;
}

/* Remove layer k from the array (already dropped), fixing indices. */
static void layer_remove(struct pcow *img, unsigned k)
{
	uint32_t kp = img->layers[k].parent;	/* < k or PCOW_NO_PARENT */

	pcow_layer_free(&img->layers[k]);
	memmove(&img->layers[k], &img->layers[k + 1],
		(img->nlayers - k - 1) * sizeof(struct layer));
	img->nlayers--;
	for (unsigned i = 0; i < img->nlayers; i++) {
		uint32_t *pp = &img->layers[i].parent;
		if (*pp == k)
			*pp = kp;	/* children of k hang from k's parent */
		else if (*pp != PCOW_NO_PARENT && *pp > k)
			(*pp)--;
	}
	if (img->active > k)
		img->active--;
}

static int layer_append(struct pcow *img, uint32_t parent, uint64_t vsize)
{
	struct layer *nl = realloc(img->layers, (img->nlayers + 1) * sizeof(*nl));
	struct layer *l;
	int r;

	if (!nl)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	img->layers = nl;
	l = &img->layers[img->nlayers];
	memset(l, 0, sizeof(*l));
	l->parent = parent;
	l->ctime_ns = now_ns();
	l->name = strdup("");
	if (!l->name)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	r = pcow_layer_alloc_l1(img, l, vsize);
	if (r) {
		free(l->name);
		return r;
	}
	l->rewrite = true;
	img->nlayers++;
	return 0;
}

static int valid_name(struct pcow *img, const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > PCOW_MAX_NAME)
		return pcow_set_err(img, PCOW_EINVAL, "%s: snapshot name must be 1 to %d "
				    "bytes", img->path, PCOW_MAX_NAME);
	return 0;
}

/* Data clusters layer li maps: its tables are read one at a time and
 * only those already in memory are kept (a listing costs no table memory). */
static int layer_count(struct pcow *img, unsigned li, uint64_t *count)
{
	struct layer *l = &img->layers[li];
	uint8_t *raw = NULL;
	uint64_t *tmp = NULL;
	int r = 0;

	*count = 0;
	for (uint32_t ci = 0; ci < pcow_chunk_count(l->l1_entries) && !r; ci++) {
		struct l1chunk *c;
		r = pcow_chunk_get(img, li, ci, &c);
		for (uint32_t k = 0; !r && c != &pcow_l1_empty && k < L1_CHUNK; k++) {
			uint32_t j = (ci << L1_CHUNK_BITS) + k;
			const uint64_t *t = c->tab[k];
			if (!c->off[k])
				continue;
			if (!t) {
				if (!raw && (!(raw = malloc(img->csize)) ||
					     !(tmp = malloc(img->csize)))) {
					r = pcow_set_err(img, PCOW_ENOMEM, "out of memory");
					break;
				}
				r = pcow_file_pread(img, raw, img->csize, c->off[k]);
				if (!r)
					r = pcow_decode_l2(img, li, j, c->off[k], raw, tmp,
							   img->lenient, NULL);
				t = tmp;
			}
			for (uint32_t e = 0; !r && e < img->l2_entries; e++)
				if (t[e] && t[e] != MEM_ZERO)
					(*count)++;
		}
	}
	free(raw);
	free(tmp);
	return r;
}

static int snapshot_list(struct pcow *img, struct pcow_snapshot *out, unsigned max,
			 bool count)
{
	unsigned n = 0;

	if (img->raw)
		return 0;
	for (unsigned i = 0; i < img->nlayers; i++) {
		struct layer *l = &img->layers[i];
		if (!(l->flags & PCOW_LAYER_SNAPSHOT))
			continue;
		if (n < max) {
			struct pcow_snapshot *s = &out[n];
			memset(s, 0, sizeof(*s));
			snprintf(s->name, sizeof(s->name), "%s", l->name);
			s->ctime_ns = l->ctime_ns;
			s->virtual_size = l->vsize;
			s->layer = i;
			s->parent = l->parent == PCOW_NO_PARENT ? -1 : (int)l->parent;
			s->current = img->layers[img->active].parent == i;
			int r = count ? layer_count(img, i, &s->clusters) : 0;
			if (r)
				return r;
		}
		n++;
	}
	return (int)n;
}

int pcow_snapshot_list(struct pcow *img, struct pcow_snapshot *out, unsigned max)
{
	return snapshot_list(img, out, max, true);
}

int pcow_snapshot_list_quick(struct pcow *img, struct pcow_snapshot *out, unsigned max)
{
	return snapshot_list(img, out, max, false);
}

int pcow_snapshot_create(struct pcow *img, const char *name)
{
	struct layer *a;
	char *nm;
	int r;

	r = valid_name(img, name);
	if (r)
		return r;
	if (find_snapshot(img, name) >= 0)
		return pcow_set_err(img, PCOW_EEXIST, "%s: snapshot '%s' already exists",
				    img->path, name);
	r = pcow_change_begin(img);
	if (r)
		return r;
	r = pcow_data_flush(img);
	if (r)
		return r;
	nm = strdup(name);
	if (!nm)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	r = layer_append(img, img->active, img->vsize);
	if (r) {
		free(nm);
		return r;
	}
	a = &img->layers[img->active];
	free(a->name);
	a->name = nm;
	a->flags |= PCOW_LAYER_SNAPSHOT;
	a->ctime_ns = now_ns();
	img->active = img->nlayers - 1;
	return pcow_meta_commit(img);
}

/* The preamble of apply and delete: the snapshot named name (its layer
 * index in *s) of a writable image whose data is flushed. */
static int snapshot_to_change(struct pcow *img, const char *name, int *s)
{
	int r;

	*s = find_snapshot(img, name);
	if (*s < 0)
		return pcow_set_err(img, PCOW_ENOENT, "%s: no snapshot named '%s'",
				    img->path, name);
	r = pcow_change_begin(img);
	if (r)
		return r;
	return pcow_data_flush(img);
}

int pcow_snapshot_apply(struct pcow *img, const char *name)
{
	int s, r = snapshot_to_change(img, name, &s);
	unsigned old;

	if (r)
		return r;
	old = img->active;
	r = layer_append(img, (uint32_t)s, img->layers[s].vsize);
	if (r)
		return r;
	img->active = img->nlayers - 1;
	r = pcow_layer_drop(img, &img->layers[old]);
	if (r) {
		img->broken = true;
		return r;
	}
	layer_remove(img, old);
	img->vsize = img->layers[img->active].vsize;
	return pcow_meta_commit(img);
}

int pcow_snapshot_delete(struct pcow *img, const char *name)
{
	int s, r = snapshot_to_change(img, name, &s);
	struct layer *sl;

	if (r)
		return r;
	sl = &img->layers[s];
	r = pcow_layer_load(img, (unsigned)s);
	if (r)
		goto broken;
	for (unsigned c = (unsigned)s + 1; c < img->nlayers; c++) {
		struct layer *cl = &img->layers[c];
		if (cl->parent != (uint32_t)s)
			continue;
		/* the child is rewritten: all of it in memory while its L1 is
		 * where the catalog says */
		r = pcow_layer_load(img, c);
		if (r)
			goto broken;
		/* child takes every mapping of S it does not override */
		for (uint32_t j = 0; j < sl->l1_entries; j++) {
			uint64_t toff, ctoff, *t = loaded_table(sl, j, &toff);
			if (!t)
				continue;
			if (j < cl->l1_entries && !loaded_table(cl, j, &ctoff) &&
			    ((uint64_t)(j + 1) * img->l2_entries << img->cbits) <= cl->vsize) {
				/* the child has no table here: it takes S's, shared
				 * in memory until one of them changes it */
				r = pcow_table_adopt(img, c, j, t);
				for (uint32_t k = 0; !r && k < img->l2_entries; k++)
					if (t[k] && t[k] != MEM_ZERO)
						pcow_refc_inc(img, t[k]);
				if (r)
					goto broken;
				continue;
			}
			for (uint32_t k = 0; k < img->l2_entries; k++) {
				uint64_t v = t[k], e;
				uint64_t vc = (uint64_t)j * img->l2_entries + k;
				if (!v || (vc << img->cbits) >= cl->vsize)
					continue;
				r = pcow_entry_get(img, c, vc, &e);
				if (r)
					goto broken;
				if (e)
					continue;
				r = pcow_entry_set(img, c, vc, v);
				if (r)
					goto broken;
				if (v != MEM_ZERO)
					pcow_refc_inc(img, v);
			}
		}
		cl->rewrite = true;
		cl->parent = sl->parent;
	}
	r = pcow_layer_drop(img, sl);
	if (r)
		goto broken;
	layer_remove(img, (unsigned)s);
	return pcow_meta_commit(img);
broken:
	img->broken = true;
	return r;
}

/* A resize's metadata change: the active layer (its L1 now l1_entries
 * long) goes to new places, its old L1 freed after the commit. */
static int resize_commit(struct pcow *img, struct layer *a, uint64_t nsize)
{
	if (!a->rewrite) {
		int r = pcow_meta_free_l1(img, a, a->l1_disk_n);
		if (r)
			return r;
		a->l1_off = 0;
	}
	a->rewrite = true;
	a->vsize = nsize;
	img->vsize = nsize;
	return pcow_meta_commit(img);
}

/*
 * Does the image's current view hold data (a cluster of its own, 1; of its
 * base chain, 2; of a snapshot layer, 3) in [off, end)? Explicit zero
 * clusters and holes do not count. The offset found goes to *at.
 */
static int view_has_data(struct pcow *p, uint64_t off, uint64_t end, uint64_t *at)
{
	struct pcow_map m;
	int r;

	if (end > pcow_size(p))
		end = pcow_size(p);
	while (off < end) {
		r = pcow_translate(p, off, end - off, &m);
		if (r)
			return r;
		if (m.kind == PCOW_MAP_DATA || m.kind == PCOW_MAP_LOWER) {
			*at = off;
			return m.kind == PCOW_MAP_LOWER ? 3 : 1;
		}
		if (m.kind == PCOW_MAP_BASE && pcow_base(p)) {
			r = view_has_data(pcow_base(p), off, off + m.len, at);
			if (r < 0)
				return pcow_set_err(p, -r, "base image: %s",
						    pcow_errmsg(pcow_base(p)));
			if (r)
				return 2;
		}
		if (!m.len)
			break;
		off += m.len;
	}
	return 0;
}

/*
 * Shrink the active layer to nsize, only where nothing is lost: the current
 * view reads as zeros from nothing in every cluster that would lie wholly
 * or partly at or past the new end (no data there of the image's own, of a
 * snapshot below it, or of its base chain), and no bad range is there. Tables past the
 * new L1 end are freed; the layer goes to new places at the commit, as for
 * growing. Snapshots keep their own sizes; a base is not touched.
 */
static int shrink(struct pcow *img, uint64_t nsize, uint32_t n)
{
	struct layer *a = &img->layers[img->active];
	uint64_t first = nsize >> img->cbits, at;	/* first cluster not wholly kept */
	uint32_t nc = pcow_chunk_count(n), oc;
	int k, r;

	if (!img->rw || img->broken)
		return pcow_change_begin(img);	/* its error, nothing written */
	r = view_has_data(img, first << img->cbits, img->vsize, &at);
	if (r < 0)
		return r;
	if (r)
		return pcow_set_err(img, PCOW_EBUSY, "%s: cannot shrink to %llu: the cluster "
				    "at %llu holds data%s (only a tail that reads as zeros from "
				    "nothing can be cut)", img->path, (unsigned long long)nsize,
				    (unsigned long long)at, r == 2 ? " of the base" :
				    r == 3 ? " of a snapshot" : "");
	k = pcow_bad_ranges(img, NULL, 0);
	if (k < 0)
		return k;
	if (k) {
		struct pcow_bad_range *br = calloc((size_t)k, sizeof(*br));
		if (!br)
			return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		pcow_bad_ranges(img, br, (size_t)k);
		uint64_t end = br[k - 1].off + br[k - 1].len;
		free(br);
		if (end > nsize)
			return pcow_set_err(img, PCOW_EBUSY, "%s: cannot shrink to %llu: its "
					    "bad-range record reaches %llu", img->path,
					    (unsigned long long)nsize, (unsigned long long)end);
	}
	/* nothing is written before here: a refused shrink leaves the file as
	 * it was */
	r = pcow_change_begin(img);
	if (!r)
		r = pcow_data_flush(img);
	if (!r)
		r = pcow_layer_load(img, img->active);
	if (r)
		return r;
	/* the tables past the new end hold nothing: free them */
	for (uint32_t j = n; j < a->l1_entries; j++) {
		struct l1chunk *c = a->l1c[j >> L1_CHUNK_BITS];
		uint32_t x = j & (L1_CHUNK - 1);
		if (!c || c == &pcow_l1_empty)
			continue;
		if (c->off[x]) {
			r = pcow_defer_free(img, c->off[x]);
			if (r)
				return r;
		}
		pcow_tab_put(c->tab[x]);
		c->tab[x] = NULL;
		c->off[x] = 0;
		c->state[x] = T_CLEAN;
	}
	oc = pcow_chunk_count(a->l1_entries);
	for (uint32_t i = nc; i < oc; i++) {
		if (a->l1c[i] && a->l1c[i] != &pcow_l1_empty)
			free(a->l1c[i]);
		a->l1c[i] = NULL;
	}
	a->l1_entries = n;
	return resize_commit(img, a, nsize);
}

int pcow_resize(struct pcow *img, uint64_t nsize)
{
	struct layer *a;
	uint32_t n;
	int r;

	if (img->raw && nsize >= img->vsize)
		return pcow_raw_resize(img, nsize);	/* image.c */
	if (img->raw)
		return pcow_set_err(img, PCOW_EINVAL, "%s: a raw image shrinks with "
				    "pcow_raw_resize", img->path);
	if (nsize < img->vsize) {
		if (!nsize)
			return pcow_set_err(img, PCOW_EINVAL, "%s: size 0", img->path);
		return shrink(img, nsize, pcow_l1_entries_for(nsize, img->cbits));
	}
	if (nsize > PCOW_MAX_VIRTUAL_SIZE)
		return pcow_set_err(img, PCOW_EINVAL, "%s: size %llu too large", img->path,
				    (unsigned long long)nsize);
	n = pcow_l1_entries_for(nsize, img->cbits);
	if (n > PCOW_MAX_L1_ENTRIES)
		return pcow_set_err(img, PCOW_EINVAL, "%s: size %llu too large for "
				    "%llu-byte clusters", img->path,
				    (unsigned long long)nsize, (unsigned long long)img->csize);
	if (nsize == img->vsize)
		return 0;
	r = pcow_change_begin(img);
	if (r)
		return r;
	r = pcow_data_flush(img);
	if (r)
		return r;
	a = &img->layers[img->active];
	/* the layer is rewritten: its tables in memory while its L1 is where
	 * the catalog says */
	r = pcow_layer_load(img, img->active);
	if (!r)
		r = pcow_layer_grow_l1(img, a, n);
	if (r)
		return r;
	return resize_commit(img, a, nsize);
}

/* ---- commit ---- */

static int set_base_identity(struct pcow *img)
{
	struct pcow *b = img->base;

	img->base_size = b->vsize;
	if (!b->raw) {
		memcpy(img->base_uuid, b->uuid, 16);
		img->base_data_gen = b->data_gen;
	} else {
		memset(img->base_uuid, 0, 16);
		img->base_data_gen = 0;
	}
	return 0;
}

int pcow_commit(struct pcow *img)
{
	return pcow_commit_flags(img, 0);
}

/*
 * Snapshot layer li, none of whose chain holds cluster vc, shows buf (n
 * bytes: what it reads there now) and must keep showing it while the base
 * under it changes: its own cluster with those bytes, or a ZERO entry when
 * they are zeros. Durable with the next metadata commit (its data flush
 * comes first).
 */
static int preserve(struct pcow *img, unsigned li, uint64_t vc, uint8_t *buf, size_t n)
{
	uint64_t host;
	size_t i;
	int r;

	for (i = 0; i < n && !buf[i]; i++)
		;
	if (i == n)
		return pcow_entry_set(img, li, vc, MEM_ZERO);
	if (n < img->csize)
		memset(buf + n, 0, img->csize - n);
	r = pcow_alloc_cluster(img, &host);
	if (!r)
		r = pcow_file_pwrite(img, buf, img->csize, host);
	if (!r)
		r = pcow_entry_set(img, li, vc, host);
	return r;
}

static bool is_root_snapshot(const struct pcow *img, unsigned li)
{
	return li != img->active && img->layers[li].parent == PCOW_NO_PARENT;
}

/* Does a layer of li's chain (li and its parents) hold cluster vc? */
static int chain_holds(struct pcow *img, unsigned li, uint64_t vc, bool *held)
{
	unsigned hops = 0;
	uint64_t e;
	int r;

	*held = false;
	while (li != PCOW_NO_PARENT && li < img->nlayers && hops++ <= img->nlayers) {
		if ((vc << img->cbits) >= img->layers[li].vsize)
			return 0;
		r = pcow_entry_get(img, li, vc, &e);
		if (r || e) {
			*held = !r;
			return r;
		}
		li = img->layers[li].parent;
	}
	return 0;
}

/*
 * A commit of an image with snapshots: what the active layer shows (its
 * own clusters and its snapshot ancestors') goes into the base, and every
 * snapshot keeps what it shows. For each cluster the active chain holds:
 * each snapshot tree that reads the base there gets a copy of what it reads
 * now, at its root layer (the layers of a tree with no entry of their own
 * read through the root); that is made durable first; then the active view
 * is written into the base. The active layer keeps its clusters (commit
 * -d): emptied, it would read its ancestors' copies. A rerun after a crash
 * finds the copies made and skips them.
 */
static int commit_with_snapshots(struct pcow *img, struct pcow *b, uint8_t *buf, int pass)
{
	uint32_t maxj = 0;
	int r = 0;

	for (unsigned li = 0; li < img->nlayers; li++)
		if (img->layers[li].l1_entries > maxj)
			maxj = img->layers[li].l1_entries;
	for (uint32_t j = 0; j < maxj && !r; j++) {
		/* skip L1 slots no layer of the active chain has a table for */
		bool any = false;
		for (unsigned li = img->active, hops = 0; li != PCOW_NO_PARENT &&
		     li < img->nlayers && hops++ <= img->nlayers && !any && !r;
		     li = img->layers[li].parent) {
			uint64_t *t = NULL;
			if (j < img->layers[li].l1_entries)
				r = pcow_table_get(img, li, j, &t);
			any = t != NULL;
		}
		for (uint32_t k = 0; any && k < img->l2_entries && !r; k++) {
			uint64_t vc = (uint64_t)j * img->l2_entries + k, off = vc << img->cbits, e;
			bool held;
			if (off >= img->vsize)
				break;
			r = chain_holds(img, img->active, vc, &held);
			if (r || !held)
				continue;
			size_t n = img->vsize - off < img->csize ? (size_t)(img->vsize - off) :
				   img->csize;
			if (pass == 2) {	/* the active view into the base */
				r = pcow_read_layer(img, (int)img->active, buf, n, off);
				if (!r && pcow_write(b, buf, n, off))
					r = pcow_set_err(img, b->err.code, "%s", b->err.msg);
				continue;
			}
			for (unsigned li = 0; li < img->nlayers && !r; li++) {
				struct layer *l = &img->layers[li];
				if (!is_root_snapshot(img, li) || off >= l->vsize)
					continue;
				r = pcow_entry_get(img, li, vc, &e);
				if (r || e)
					continue;
				size_t m = l->vsize - off < img->csize ? (size_t)(l->vsize - off) :
					   img->csize;
				r = pcow_read_layer(img, (int)li, buf, m, off);
				if (!r)
					r = preserve(img, li, vc, buf, m);
			}
		}
	}
	return r;
}

int pcow_commit_flags(struct pcow *img, unsigned flags)
{
	struct layer *a;
	uint8_t *buf = NULL;
	int r;

	if (!img->base_fmt)
		return pcow_set_err(img, PCOW_EINVAL, "%s: image has no base to commit to",
				    img->path);
	r = pcow_change_begin(img);
	if (r)
		return r;
	/* the base, writable */
	if (img->base) {
		pcow_close(img->base);
		img->base = NULL;
	}
	/* verified like any open (uuid, size, data generation, with the
	 * allowances of COMMITTING), never forced: this one is writable */
	r = pcow_open_base(img, PCOW_RDWR);
	if (r)
		return r;
	/* 1: mark the commit, so a crash in 2 leaves an image that opens */
	if (!(img->cat_flags & PCOW_CAT_COMMITTING)) {
		img->cat_flags |= PCOW_CAT_COMMITTING;
		r = pcow_meta_commit(img);
		if (r)
			return r;
	}
	/* 2: copy this image's clusters into the base */
	struct pcow *b = img->base;
	if (b->vsize < img->vsize) {
		if (b->raw) {
			int e = b->io->truncate(b->ioctx, img->vsize);
			if (e)
				return pcow_set_err(img, PCOW_EIO, "%s: growing base: %s",
						    b->path, strerror(-e));
			b->vsize = img->vsize;
		} else {
			r = pcow_resize(b, img->vsize);
			if (r)
				return pcow_set_err(img, -r, "%s", b->err.msg);
		}
	}
	buf = malloc(img->csize);
	if (!buf)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	a = &img->layers[img->active];
	if (img->nlayers > 1) {
		/* snapshots keep what they show, durably, before the base
		 * changes (commit_with_snapshots) */
		r = commit_with_snapshots(img, b, buf, 1);
		if (!r)
			r = pcow_meta_commit(img);
		if (!r)
			r = commit_with_snapshots(img, b, buf, 2);
		flags |= PCOW_COMMIT_KEEP;
	} else {
		r = pcow_layer_load(img, img->active);
	}
	for (uint32_t j = 0; img->nlayers == 1 && j < a->l1_entries && !r; j++) {
		uint64_t toff, *t = loaded_table(a, j, &toff);
		if (!t)
			continue;
		for (uint32_t k = 0; k < img->l2_entries && !r; k++) {
			uint64_t v = t[k];
			uint64_t off = ((uint64_t)j * img->l2_entries + k) << img->cbits;
			size_t n = img->csize;
			if (!v || off >= img->vsize)
				continue;
			if (n > img->vsize - off)
				n = (size_t)(img->vsize - off);
			if (v == MEM_ZERO)
				memset(buf, 0, n);
			else
				r = pcow_file_pread(img, buf, n, v);
			if (!r && pcow_write(b, buf, n, off))
				r = pcow_set_err(img, b->err.code, "%s", b->err.msg);
		}
	}
	free(buf);
	if (!r && pcow_flush(b))
		r = pcow_set_err(img, b->err.code, "%s", b->err.msg);
	if (r)
		return r;
	/* 3: empty this image (unless kept) and record the base as it is now */
	set_base_identity(img);
	img->cat_flags &= ~PCOW_CAT_COMMITTING;
	if (flags & PCOW_COMMIT_KEEP)
		return pcow_meta_commit(img);
	r = layer_append(img, PCOW_NO_PARENT, img->vsize);
	if (r)
		return r;
	r = pcow_layer_drop(img, &img->layers[img->active]);
	if (r) {
		img->broken = true;
		return r;
	}
	layer_remove(img, img->active);
	img->active = img->nlayers - 1;
	return pcow_meta_commit(img);
}

/* ---- rebase ---- */

static int open_new_base(struct pcow *img, const char *path, int fmt,
			 struct pcow **out)
{
	struct pcow save = { 0 };
	int r;

	/* borrow pcow_open_base() with the new reference in place */
	save.base = img->base;
	save.base_path = img->base_path;
	save.base_fmt = img->base_fmt;
	img->base = NULL;
	img->base_path = strdup(path);
	if (!img->base_path) {
		img->base_path = save.base_path;
		img->base = save.base;
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	}
	if (fmt == PCOW_FMT_AUTO) {
		char *p = img->base_path[0] == '/' ? strdup(img->base_path) : NULL;
		if (!p && asprintf(&p, "%s/%s", img->dir, img->base_path) < 0)
			p = NULL;
		int pr = p ? pcow_probe(p) : -PCOW_ENOMEM;
		free(p);
		if (pr < 0) {
			r = pcow_set_err(img, PCOW_EBASE, "%s: new base %s: not found",
					 img->path, path);
			goto restore;
		}
		fmt = pr ? PCOW_FMT_PCOW : PCOW_FMT_RAW;
	}
	img->base_fmt = fmt;
	r = pcow_open_base(img, PCOW_FORCE_BASE);
	if (r)
		goto restore;
	*out = img->base;
	free(img->base_path);
	img->base_path = save.base_path;
	img->base_fmt = save.base_fmt;
	img->base = save.base;
	return fmt;
restore:
	free(img->base_path);
	img->base_path = save.base_path;
	img->base_fmt = save.base_fmt;
	img->base = save.base;
	return r;
}

/* a new base whose chain leads back to this image would make a loop */
static int rebase_loop_check(struct pcow *img, const char *new_base)
{
	char *p = pcow_resolve_base(img, new_base);
	struct stat self;
	bool loop;

	if (!p)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	loop = !stat(img->path, &self) && pcow_chain_reaches(p, &self);
	free(p);
	if (loop)
		return pcow_set_err(img, PCOW_EINVAL, "%s: new base %s leads back to this "
				    "image (its chain of bases would be a loop)", img->path,
				    new_base);
	return 0;
}

int pcow_rebase(struct pcow *img, const char *new_base, int fmt, bool unsafe)
{
	struct pcow *nb = NULL;
	uint8_t *b1 = NULL, *b2 = NULL;
	char *np = NULL;
	int r;

	if (img->raw)
		return pcow_set_err(img, PCOW_EINVAL, "rebase of a raw image");
	if (!unsafe && img->base_fmt && !img->base)
		return pcow_set_err(img, PCOW_EBASE, "%s: old base is not open; safe rebase "
				    "needs it", img->path);
	if (img->broken || !img->rw)
		return pcow_change_begin(img);
	if (new_base) {
		r = rebase_loop_check(img, new_base);
		if (r)
			return r;
		np = strdup(new_base);
		if (!np)
			return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		r = open_new_base(img, new_base, fmt, &nb);
		if (r < 0) {
			free(np);
			return r;
		}
		fmt = r;
		r = 0;
	}
	r = pcow_change_begin(img);	/* only now: a bad new base changes nothing */
	if (r)
		goto out;
	if (!unsafe) {
		b1 = malloc(img->csize);
		b2 = malloc(img->csize);
		if (!b1 || !b2) {
			r = pcow_set_err(img, PCOW_ENOMEM, "out of memory");
			goto out;
		}
		/* every layer that reads the base does so through a root layer
		 * of its tree (one with no parent) where no layer of its chain
		 * holds the cluster: each root, the active one or a snapshot,
		 * gets what it showed wherever the new base differs */
		for (unsigned li = 0; li < img->nlayers && !r; li++) {
			struct layer *l = &img->layers[li];
			uint64_t nvc = (l->vsize + img->csize - 1) >> img->cbits;
			if (l->parent != PCOW_NO_PARENT)
				continue;
			for (uint64_t vc = 0; vc < nvc && !r; vc++) {
				uint64_t e;
				uint64_t off = vc << img->cbits;
				size_t n = img->csize;
				r = pcow_entry_get(img, li, vc, &e);
				if (r)
					break;
				if (e)
					continue;
				if (n > l->vsize - off)
					n = (size_t)(l->vsize - off);
				r = pcow_read_layer(img, (int)li, b1, n, off);
				if (r)
					break;
				memset(b2, 0, n);
				if (nb && off < nb->vsize) {
					size_t m = nb->vsize - off < n ? (size_t)(nb->vsize - off) : n;
					if (pcow_read(nb, b2, m, off)) {
						r = pcow_set_err(img, nb->err.code, "%s", nb->err.msg);
						break;
					}
				}
				if (!memcmp(b1, b2, n))
					continue;
				if (li == img->active)
					r = pcow_write(img, b1, n, off);
				else
					r = preserve(img, li, vc, b1, n);
			}
		}
		if (r)
			goto out;
	}
	if (img->base)
		pcow_close(img->base);
	img->base = nb;
	nb = NULL;
	free(img->base_path);
	img->base_path = np;
	np = NULL;
	img->base_fmt = img->base ? fmt : 0;
	img->cat_flags &= ~PCOW_CAT_COMMITTING;
	if (img->base)
		set_base_identity(img);
	else {
		img->base_size = 0;
		img->base_data_gen = 0;
		memset(img->base_uuid, 0, 16);
	}
	r = pcow_meta_commit(img);
out:
	if (nb)
		pcow_close(nb);
	free(np);
	free(b1);
	free(b2);
	return r;
}
