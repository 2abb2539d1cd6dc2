/*
 * open.c - opening a pcow image (raw files: image.c): choose the root
 * slot, decode the catalog, open the base chain (tables are read on first
 * use: data.c; cluster ownership is counted on first need: alloc.c); then
 * probe, close and info. Every value read from the file is
 * checked against docs/pcow-format.md before use.
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

/* ---- open ---- */

char *pcow_dir_of(const char *path)
{
	const char *s = strrchr(path, '/');

	if (!s)
		return strdup(".");
	if (s == path)
		return strdup("/");
	return strndup(path, (size_t)(s - path));
}

char *pcow_resolve_base(struct pcow *img, const char *p)
{
	char *out;

	if (p[0] == '/' || !img->dir)
		return strdup(p);
	if (asprintf(&out, "%s/%s", img->dir, p) < 0)
		return NULL;
	return out;
}

int pcow_open_base(struct pcow *img, unsigned flags)
{
	struct pcow_error e;
	char *p;
	int r = 0;

	if (!img->base_fmt)
		return 0;
	if (img->depth + 1 >= PCOW_MAX_BASE_DEPTH)
		return pcow_set_err(img, PCOW_EBASE, "%s: base chain deeper than %d (a loop?)",
				    img->path, PCOW_MAX_BASE_DEPTH);
	p = pcow_resolve_base(img, img->base_path);
	if (!p)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	/* nothing is opened writable (commit) unless it verifies as the
	 * recorded base: PCOW_FORCE_BASE is for read-only opens only */
	if (flags & PCOW_RDWR)
		flags &= ~PCOW_FORCE_BASE;
	if (img->base_fmt == PCOW_FMT_RAW) {
		/* a raw base has no identity but its size: exactly the recorded
		 * one, or (an interrupted commit grew it) exactly this image's */
		r = pcow_open_raw_base(img, p, flags);
		if (!r && img->base->vsize != img->base_size && !(flags & PCOW_FORCE_BASE) &&
		    !((img->cat_flags & PCOW_CAT_COMMITTING) && img->vsize > img->base_size &&
		      img->base->vsize == img->vsize))
			r = pcow_set_err(img, PCOW_EBASE, "%s: raw base %s changed size "
					 "(%llu, expected %llu)", img->path, p,
					 (unsigned long long)img->base->vsize,
					 (unsigned long long)img->base_size);
	} else {
		struct pcow_open_opts o = { .flags = (flags & (PCOW_RDWR | PCOW_FORCE_BASE)) |
						     (img->flags & (PCOW_LOCK | PCOW_TRY_BASE |
								    PCOW_RAW_HOLES)),
					    .open_io = img->open_io, .open_ctx = img->open_ctx };
		struct pcow *b = pcow_open_internal(p, &o, img->depth + 1, false, NULL,
						    NULL, &e);
		if (!b) {
			/* the cause stays whole: the top image and the one
			 * whose own base failed add their names, the levels
			 * between do not pile up (a deep chain's message
			 * would outgrow PCOW_ERRMSG_MAX) */
			if (img->depth && strstr(e.msg, ": base image"))
				r = pcow_set_err(img, e.code == PCOW_ELOCKED ? PCOW_ELOCKED :
						 PCOW_EBASE, "%s", e.msg);
			else
				r = pcow_set_err(img, e.code == PCOW_ELOCKED ? PCOW_ELOCKED :
						 PCOW_EBASE, "%s: base image: %s", img->path,
						 e.msg);
		} else {
			img->base = b;
			bool committing = img->cat_flags & PCOW_CAT_COMMITTING;
			if (flags & PCOW_FORCE_BASE)
				;
			else if (memcmp(b->uuid, img->base_uuid, 16))
				r = pcow_set_err(img, PCOW_EBASE, "%s: base %s is not the image "
						 "this one was made on (uuid differs)",
						 img->path, p);
			else if (b->vsize != img->base_size &&
				 !(committing && b->vsize > img->base_size))
				r = pcow_set_err(img, PCOW_EBASE, "%s: base %s changed size",
						 img->path, p);
			else if (b->data_gen != img->base_data_gen &&
				 !(committing && b->data_gen > img->base_data_gen))
				r = pcow_set_err(img, PCOW_EBASE, "%s: base %s was modified "
						 "(data generation %llu, expected %llu)",
						 img->path, p, (unsigned long long)b->data_gen,
						 (unsigned long long)img->base_data_gen);
		}
	}
	if (r && img->base) {
		pcow_close(img->base);
		img->base = NULL;
	}
	free(p);
	return r;
}

static void copy_err(struct pcow_error *err, struct pcow *img)
{
	if (err) {
		err->code = img->err.code;
		memcpy(err->msg, img->err.msg, sizeof(err->msg));
	}
}

/* Step 1: the image structure, nothing read yet. */
static struct pcow *img_new(const char *path, const struct pcow_open_opts *o,
			    unsigned depth, bool lenient,
			    void (*report)(void *, const char *), void *rctx)
{
	struct pcow *img = calloc(1, sizeof(*img));

	if (!img)
		return NULL;
	pthread_mutex_init(&img->lock, NULL);
	pthread_mutex_init(&img->acct_lock, NULL);
	img->path = strdup(path);
	img->dir = pcow_dir_of(path);
	img->rw = o->flags & PCOW_RDWR;
	img->flags = o->flags;
	img->depth = depth;
	img->lenient = lenient;
	img->report = report;
	img->report_ctx = rctx;
	img->open_io = o->open_io;
	img->open_ctx = o->open_ctx;
	return img;
}

/* Step 2: the file, through the caller's I/O, its opener or open(2). */
static int open_file(struct pcow *img, const char *path, const struct pcow_open_opts *o)
{
	if (o->io) {
		img->io = o->io;
		img->ioctx = o->io_ctx;
	} else if (o->open_io) {
		int e = o->open_io(o->open_ctx, path, img->rw, false, &img->io, &img->ioctx);
		if (e)
			return pcow_set_err(img, e == -ENOENT ? PCOW_ENOENT : PCOW_EIO, "%s: %s",
					    path, strerror(-e));
	} else {
		int fd = pcow_open_fd(path, img->rw, img->depth > 0, o->flags & PCOW_LOCK);
		if (fd < 0)
			return pcow_set_err(img, pcow_open_errcode(fd), "%s: %s", path,
					    pcow_open_errstr(fd));
		img->io = &pcow_fd_io_ops;
		img->ioctx = pcow_fd_io_new(fd);
		if (!img->ioctx) {
			close(fd);
			return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		}
		if (o->flags & PCOW_NO_FLUSH)
			pcow_fd_io_set_streaming(img->ioctx, false);
	}
	if (!img->path || !img->dir)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	return 0;
}

/* A valid slot whose fields also fit this file (docs: "Root slots"). */
static bool root_fits(const struct root *rt, uint64_t fsize)
{
	return rt->cbits >= PCOW_MIN_CLUSTER_BITS && rt->cbits <= PCOW_MAX_CLUSTER_BITS &&
	       rt->vsize <= PCOW_MAX_VIRTUAL_SIZE &&
	       !(rt->cat_off & ((1ULL << rt->cbits) - 1)) && rt->cat_off >= PCOW_HEADER_END &&
	       rt->cat_len >= PCOW_CAT_HDR && rt->cat_len <= PCOW_CAT_MAX &&
	       rt->cat_off <= fsize && rt->cat_len <= fsize - rt->cat_off &&
	       pcow_labels_root_ok(rt) && pcow_bad_root_ok(rt);
}

/* The current root: the valid slot (one that also fits the file) with the
 * larger generation, slot 0 on a tie; its index in img->slot. */
static int pick_root(struct pcow *img, uint8_t slots[2][PCOW_SLOT_SIZE], uint64_t fsize,
		     struct root *cur)
{
	struct root rt[2];
	int v[2], best = -1;

	for (int i = 0; i < 2; i++) {
		v[i] = pcow_root_parse(slots[i], &rt[i]);
		if (v[i] == 1 && !root_fits(&rt[i], fsize))
			v[i] = 0;
		if (v[i] == 1 && (best < 0 || rt[i].gen > rt[best].gen))
			best = i;
	}
	if (best < 0) {
		if (v[0] < 0 || v[1] < 0)
			return pcow_set_err(img, PCOW_EUNSUPPORTED, "%s: unsupported pcow "
					    "version", img->path);
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: no valid root slot (both "
				    "checksums or fields bad)", img->path);
	}
	if (rt[best].incompat & ~PCOW_INCOMPAT_KNOWN)
		return pcow_set_err(img, PCOW_EUNSUPPORTED, "%s: unknown incompatible "
				    "features 0x%llx", img->path,
				    (unsigned long long)rt[best].incompat);
	img->slot = best;
	*cur = rt[best];
	return 0;
}

/* The image's geometry and identity from its current root. */
static int use_root(struct pcow *img, const struct root *cur, uint64_t fsize)
{
	img->cbits = cur->cbits;
	img->csize = 1ULL << img->cbits;
	img->l2_entries = (uint32_t)(img->csize / 8);
	img->vsize = cur->vsize;
	memcpy(img->uuid, cur->uuid, 16);
	img->gen = cur->gen;
	img->data_gen = cur->data_gen;
	img->incompat = cur->incompat;
	img->compat = cur->compat;
	img->cat_off = cur->cat_off;
	img->cat_len = cur->cat_len;
	img->first_data = (PCOW_HEADER_END + img->csize - 1) >> img->cbits;
	/* Cluster counts, when they are made, cover only what the metadata
	 * references, so a sparse file with a huge apparent size costs no
	 * memory for its unused tail. A trailing partial cluster is not
	 * usable: the file ends before it. */
	img->file_clusters = fsize >> img->cbits;
	img->zbuf = calloc(1, img->csize);
	if (!img->zbuf)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	return pcow_labels_load(img, cur) ?: pcow_bad_load(img, cur);
}

/* Step 3: the two root slots; the current root's catalog CRC goes to
 * *cat_crc. */
static int read_root(struct pcow *img, uint32_t *cat_crc)
{
	uint8_t slots[2][PCOW_SLOT_SIZE];
	struct root cur = { 0 };
	uint64_t fsize;
	size_t got = 0;
	int r;

	r = img->io->size(img->ioctx, &fsize);
	if (r)
		return pcow_set_err(img, PCOW_EIO, "%s: size: %s", img->path, strerror(-r));
	memset(slots, 0, sizeof(slots));
	r = img->io->pread(img->ioctx, slots, sizeof(slots), 0, &got);
	if (r)
		return pcow_set_err(img, PCOW_EIO, "%s: read: %s", img->path, strerror(-r));
	if (memcmp(slots[0], PCOW_MAGIC, 8) && memcmp(slots[1], PCOW_MAGIC, 8))
		return pcow_set_err(img, PCOW_ENOTPCOW, "%s: not a pcow image (wrong magic)",
				    img->path);
	if (got < sizeof(slots))
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: truncated image (%llu bytes)",
				    img->path, (unsigned long long)fsize);
	r = pick_root(img, slots, fsize, &cur);
	if (r)
		return r;
	*cat_crc = cur.cat_crc;
	return use_root(img, &cur, fsize);
}

/* Step 4: the catalog (base reference and layer records, no tables). */
static int read_catalog(struct pcow *img, uint32_t cat_crc)
{
	uint8_t *cat = malloc(img->cat_len);
	int r;

	if (!cat)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	r = pcow_file_pread(img, cat, img->cat_len, img->cat_off);
	if (!r && CHECKSUM_BAD(pcow_crc32(cat, img->cat_len) != cat_crc))
		r = pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog checksum mismatch",
				 img->path);
	if (!r)
		r = pcow_catalog_parse(img, cat, img->cat_len);
	free(cat);
	return r;
}

/* Step 5: each layer's L1 lies in the file (whole clusters after the
 * header). Nothing is read: the L1s and L2 tables are read on first use,
 * and their overlaps are found when the clusters are counted. */
static int check_l1_places(struct pcow *img)
{
	for (unsigned i = 0; i < img->nlayers; i++) {
		struct layer *l = &img->layers[i];
		uint64_t ncl = ((uint64_t)l->l1_entries * 8 + img->csize - 1) >> img->cbits;
		uint64_t c = l->l1_off >> img->cbits;

		l->l1_disk_n = l->l1_entries;
		if (!ncl && l->l1_off)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: table for "
					    "empty layer", img->path, i);
		if (ncl && ((l->l1_off & (img->csize - 1)) || c < img->first_data ||
			    c > img->file_clusters || ncl > img->file_clusters - c))
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: L1 table at %llu "
					    "(%llu clusters) outside the image", img->path,
					    (unsigned long long)l->l1_off,
					    (unsigned long long)ncl);
	}
	return 0;
}

/* Step 6: the base chain, unless the caller does without. */
static int open_base_chain(struct pcow *img, const struct pcow_open_opts *o)
{
	int r;

	if ((o->flags & PCOW_NO_BASE) || !img->base_fmt)
		return 0;
	r = pcow_open_base(img, o->flags & PCOW_FORCE_BASE);
	if (r && (img->lenient || (o->flags & PCOW_TRY_BASE))) {
		img->base_err = img->err;	/* PCOW_TRY_BASE: why base is NULL */
		return 0;
	}
	return r;
}

/*
 * Open an image: the structure, the file, the root, the catalog, a look at
 * where the L1s are, and the bases. A lenient open (check) also counts
 * cluster ownership now, reporting damaged entries instead of failing.
 */
struct pcow *pcow_open_internal(const char *path, const struct pcow_open_opts *o,
				unsigned depth, bool lenient,
				void (*report)(void *, const char *), void *rctx,
				struct pcow_error *err)
{
	struct pcow_open_opts def = { 0 };
	struct pcow *img;
	uint32_t cat_crc = 0;

	img = img_new(path ? path : "(image)", o ? o : &def, depth, lenient, report, rctx);
	if (!img) {
		pcow_err_fill(err, PCOW_ENOMEM, "out of memory");
		return NULL;
	}
	if (open_file(img, path ? path : "(image)", o ? o : &def) ||
	    read_root(img, &cat_crc) || read_catalog(img, cat_crc) ||
	    check_l1_places(img) || (lenient && pcow_account(img)) ||
	    open_base_chain(img, o ? o : &def)) {
		copy_err(err, img);
		img->rw = false;
		pcow_close(img);
		return NULL;
	}
	return img;
}

struct pcow *pcow_open(const char *path, const struct pcow_open_opts *o,
		       struct pcow_error *err)
{
	return pcow_open_internal(path, o, 0, false, NULL, NULL, err);
}

int pcow_probe(const char *path)
{
	char m[8];
	int fd = pcow_open_fd(path, false, false, false);	/* never blocks on a FIFO */
	ssize_t n;

	if (fd < 0)
		return -PCOW_ENOENT;
	n = pread(fd, m, 8, 0);
	if (n == 8 && !memcmp(m, PCOW_MAGIC, 8)) {
		close(fd);
		return 1;
	}
	n = pread(fd, m, 8, PCOW_SLOT_SIZE);
	close(fd);
	return n == 8 && !memcmp(m, PCOW_MAGIC, 8);
}

int pcow_close(struct pcow *img)
{
	int r = 0;

	if (!img)
		return 0;
	/* an image nothing was done to is left exactly as it was */
	if (img->rw && !img->raw && !img->broken && img->layers &&
	    (img->bumped || img->reserve_cap)) {
		r = pcow_data_flush(img);
		pthread_mutex_lock(&img->lock);
		while (img->nreserve)
			img->refc[img->reserve[--img->nreserve]] = 0;
		pcow_trim_tail_locked(img);
		pthread_mutex_unlock(&img->lock);
	} else if (img->raw && img->rw && img->ioctx && !(img->flags & PCOW_NO_FLUSH)) {
		r = img->io->flush(img->ioctx);
	}
	if (img->base)
		pcow_close(img->base);
	for (unsigned i = 0; i < img->nlayers; i++)
		pcow_layer_free(&img->layers[i]);
	free(img->layers);
	if (img->io && img->io->close && img->ioctx)
		img->io->close(img->ioctx);
	pthread_mutex_destroy(&img->lock);
	pthread_mutex_destroy(&img->acct_lock);
	if (img->refc)
		munmap(img->refc, img->refc_cap);
	free(img->reserve);
	free(img->pfree);
	free(img->zbuf);
	pcow_area_free(&img->labels);
	pcow_area_free(&img->bad);
	free(img->base_path);
	free(img->path);
	free(img->dir);
	free(img);
	return r;
}

struct pcow *pcow_base(struct pcow *img)
{
	return img->base;
}

/* Everything but the cluster counts: what open read. */
void pcow_get_info_quick(struct pcow *img, struct pcow_info *in)
{
	uint64_t fs = 0;

	memset(in, 0, sizeof(*in));
	in->virtual_size = img->vsize;
	in->cluster_size = img->csize;
	img->io->size(img->ioctx, &fs);
	in->file_size = fs;
	in->read_only = !img->rw;
	if (img->raw)
		return;
	in->generation = img->gen;
	in->data_gen = img->data_gen;
	memcpy(in->uuid, img->uuid, 16);
	in->nlayers = img->nlayers;
	for (unsigned i = 0; i < img->nlayers; i++)
		if (img->layers[i].flags & PCOW_LAYER_SNAPSHOT)
			in->nsnapshots++;
	in->base = img->base_path;
	in->base_format = img->base_fmt;
	for (struct pcow *b = img->base; b; b = b->base)
		in->base_depth++;
}

void pcow_get_info(struct pcow *img, struct pcow_info *in)
{
	pcow_get_info_quick(img, in);
	if (img->raw)
		return;
	/* the counts need every table: counted now unless known (a writer's,
	 * a check's); an image whose tables turn out damaged counts nothing */
	bool counted = !pcow_account(img);
	pthread_mutex_lock(&img->lock);
	for (uint64_t c = 0; counted && c < img->nclusters; c++) {
		if (img->refc[c] == REFC_META)
			in->metadata_clusters++;
		else if (img->refc[c] && img->refc[c] < REFC_META)
			in->allocated_clusters++;
	}
	pthread_mutex_unlock(&img->lock);
}
