/*
 * open.c - opening a pcow image (raw files: image.c): choose the root
 * slot, decode the catalog, load and account the tables, open the base
 * chain; then probe, close and info. Every value read from the file is
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

/* Mark clusters [off, off+n*csize) as metadata; they must be free. */
static int mark_meta(struct pcow *img, uint64_t off, uint64_t n, const char *what)
{
	uint64_t c = off >> img->cbits;

	if ((off & (img->csize - 1)) || c < img->first_data || c > img->file_clusters ||
	    n > img->file_clusters - c)
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: %s at %llu (%llu clusters) "
				    "outside the image", img->path, what,
				    (unsigned long long)off, (unsigned long long)n);
	if (pcow_refc_track(img, c + n))
		return -img->err.code;
	for (uint64_t i = 0; i < n; i++)
		if (img->refc[c + i])
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: %s at %llu overlaps "
					    "other metadata", img->path, what,
					    (unsigned long long)off);
	memset(img->refc + c, REFC_META, n);
	return 0;
}

static int load_tables(struct pcow *img)
{
	uint64_t csz = img->csize;
	uint8_t *tb = malloc(csz);
	int r = 0;

	if (!tb)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	/* pass 1: L1 tables, mark L1 and L2 clusters as metadata */
	for (unsigned i = 0; i < img->nlayers && !r; i++) {
		struct layer *l = &img->layers[i];
		uint64_t bytes = (uint64_t)l->l1_entries * 8;
		uint64_t ncl = (bytes + csz - 1) >> img->cbits;
		/* the table must fit in the file before memory is spent on it */
		if (ncl)
			r = mark_meta(img, l->l1_off, ncl, "L1 table");
		else if (l->l1_off)
			r = pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: table for "
					 "empty layer", img->path, i);
		if (r)
			break;
		uint64_t vs = l->vsize;
		l->vsize = 0;
		r = pcow_layer_alloc_l1(img, l, vs);
		if (r)
			break;
		l->l1_disk_n = l->l1_entries;
		if (!ncl)
			continue;
		uint8_t *raw = malloc(bytes);
		if (!raw) {
			r = pcow_set_err(img, PCOW_ENOMEM, "out of memory");
			break;
		}
		r = pcow_file_pread(img, raw, bytes, l->l1_off);
		for (uint32_t j = 0; j < l->l1_entries && !r; j++) {
			uint64_t pos = l->l1_off + j * 8ULL, t;
			unsigned fl;
			if (pcow_entry_decode(get_le64(raw + j * 8), img->cbits, pos, &t, &fl) ||
			    fl) {
				if (!img->lenient) {
					r = pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: bad "
							 "L1 entry %u", img->path, i, j);
					break;
				}
				pcow_problem(img, "layer %u: L1 entry %u is corrupt (dropped)", i, j);
				l->rewrite = true;
				continue;
			}
			if (!t)
				continue;
			if (img->lenient) {
				int rr = mark_meta(img, t, 1, "L2 table");
				if (rr) {
					pcow_problem(img, "layer %u: %s (dropped)", i, img->err.msg);
					l->rewrite = true;
					continue;
				}
			} else {
				r = mark_meta(img, t, 1, "L2 table");
				if (r)
					break;
			}
			l->l1[j] = t;
		}
		free(raw);
	}
	/* pass 2: L2 tables, count data references */
	for (unsigned i = 0; i < img->nlayers && !r; i++) {
		struct layer *l = &img->layers[i];
		for (uint32_t j = 0; j < l->l1_entries && !r; j++) {
			if (!l->l1[j])
				continue;
			r = pcow_file_pread(img, tb, csz, l->l1[j]);
			if (r)
				break;
			l->l2[j] = malloc(csz);
			if (!l->l2[j]) {
				r = pcow_set_err(img, PCOW_ENOMEM, "out of memory");
				break;
			}
			for (uint32_t k = 0; k < img->l2_entries; k++) {
				uint64_t pos = l->l1[j] + k * 8ULL, h;
				unsigned fl;
				uint64_t vc = (uint64_t)j * img->l2_entries + k;
				const char *bad = NULL;
				uint64_t hc = 0;
				l->l2[j][k] = 0;
				if (pcow_entry_decode(get_le64(tb + k * 8), img->cbits, pos, &h, &fl))
					bad = "check bits wrong";
				else if ((fl & PCOW_ENTRY_ZERO) && h)
					bad = "zero entry with a cluster";
				else if (h && ((hc = h >> img->cbits) < img->first_data ||
					       hc >= img->file_clusters))
					bad = "cluster outside the image";
				else if (h && hc < img->nclusters && img->refc[hc] >= REFC_META)
					bad = "data cluster overlaps metadata";
				else if ((h || fl) && (vc << img->cbits) >= l->vsize)
					bad = "entry beyond the layer's size";
				if (bad) {
					if (!img->lenient) {
						r = pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u "
								 "cluster %llu: %s", img->path, i,
								 (unsigned long long)vc, bad);
						break;
					}
					pcow_problem(img, "layer %u cluster %llu: %s (dropped)", i,
						     (unsigned long long)vc, bad);
					l->rewrite = true;
					continue;
				}
				if (fl & PCOW_ENTRY_ZERO)
					l->l2[j][k] = MEM_ZERO;
				else if (h) {
					r = pcow_refc_track(img, hc + 1);	/* on demand */
					if (r)
						break;
					l->l2[j][k] = h;
					pcow_refc_inc(img, h);
				}
			}
		}
	}
	free(tb);
	return r;
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

struct pcow *pcow_open_internal(const char *path, const struct pcow_open_opts *o,
				unsigned depth, bool lenient,
				void (*report)(void *, const char *), void *rctx,
				struct pcow_error *err)
{
	struct pcow_open_opts def = { 0 };
	struct pcow *img;
	uint8_t slots[2][PCOW_SLOT_SIZE];
	struct root rt[2], *cur = NULL;
	uint64_t fsize;
	size_t got = 0;
	int v[2], r;

	if (!o)
		o = &def;
	if (!path)
		path = "(image)";
	img = calloc(1, sizeof(*img));
	if (!img) {
		pcow_err_fill(err, PCOW_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&img->lock, NULL);
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
	if (o->io) {
		img->io = o->io;
		img->ioctx = o->io_ctx;
	} else if (o->open_io) {
		int e = o->open_io(o->open_ctx, path, img->rw, false, &img->io, &img->ioctx);
		if (e) {
			pcow_set_err(img, e == -ENOENT ? PCOW_ENOENT : PCOW_EIO, "%s: %s",
				     path, strerror(-e));
			goto fail;
		}
	} else {
		int fd = pcow_open_fd(path, img->rw, depth > 0, o->flags & PCOW_LOCK);
		if (fd < 0) {
			pcow_set_err(img, pcow_open_errcode(fd), "%s: %s", path,
				     pcow_open_errstr(fd));
			goto fail;
		}
		img->io = &pcow_fd_io_ops;
		img->ioctx = pcow_fd_io_new(fd);
		if (!img->ioctx) {
			close(fd);
			pcow_set_err(img, PCOW_ENOMEM, "out of memory");
			goto fail;
		}
		if (o->flags & PCOW_NO_FLUSH)
			pcow_fd_io_set_streaming(img->ioctx, false);
	}
	if (!img->path || !img->dir) {
		pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		goto fail;
	}
	r = img->io->size(img->ioctx, &fsize);
	if (r) {
		pcow_set_err(img, PCOW_EIO, "%s: size: %s", path, strerror(-r));
		goto fail;
	}
	memset(slots, 0, sizeof(slots));
	r = img->io->pread(img->ioctx, slots, sizeof(slots), 0, &got);
	if (r) {
		pcow_set_err(img, PCOW_EIO, "%s: read: %s", path, strerror(-r));
		goto fail;
	}
	if (memcmp(slots[0], PCOW_MAGIC, 8) && memcmp(slots[1], PCOW_MAGIC, 8)) {
		pcow_set_err(img, PCOW_ENOTPCOW, "%s: not a pcow image (wrong magic)", path);
		goto fail;
	}
	if (got < sizeof(slots)) {
		pcow_set_err(img, PCOW_ECORRUPT, "%s: truncated image (%llu bytes)", path,
			     (unsigned long long)fsize);
		goto fail;
	}
	for (int i = 0; i < 2; i++) {
		v[i] = pcow_root_parse(slots[i], &rt[i]);
		if (v[i] == 1 && (rt[i].cbits < PCOW_MIN_CLUSTER_BITS ||
				  rt[i].cbits > PCOW_MAX_CLUSTER_BITS ||
				  rt[i].vsize > PCOW_MAX_VIRTUAL_SIZE ||
				  (rt[i].cat_off & ((1ULL << rt[i].cbits) - 1)) ||
				  rt[i].cat_off < PCOW_HEADER_END ||
				  rt[i].cat_len < PCOW_CAT_HDR || rt[i].cat_len > PCOW_CAT_MAX ||
				  rt[i].cat_off > fsize || rt[i].cat_len > fsize - rt[i].cat_off))
			v[i] = 0;
		if (v[i] == 1 && (!cur || rt[i].gen > cur->gen)) {
			cur = &rt[i];
			img->slot = i;
		}
	}
	if (!cur) {
		if (v[0] < 0 || v[1] < 0)
			pcow_set_err(img, PCOW_EUNSUPPORTED, "%s: unsupported pcow version",
				     path);
		else
			pcow_set_err(img, PCOW_ECORRUPT, "%s: no valid root slot (both "
				     "checksums or fields bad)", path);
		goto fail;
	}
	if (cur->incompat & ~PCOW_INCOMPAT_KNOWN) {
		pcow_set_err(img, PCOW_EUNSUPPORTED, "%s: unknown incompatible features "
			     "0x%llx", path, (unsigned long long)cur->incompat);
		goto fail;
	}
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
	img->zbuf = calloc(1, img->csize);
	if (!img->zbuf) {
		pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		goto fail;
	}
	/* Per-cluster counts cover only what the metadata references (they
	 * grow on demand in mark_meta() and load_tables()), so a sparse file
	 * with a huge apparent size costs no memory for its unused tail. A
	 * trailing partial cluster is not usable: the file ends before it. */
	img->file_clusters = fsize >> img->cbits;
	if (pcow_refc_track(img, img->first_data))
		goto fail;
	memset(img->refc, REFC_PIN, img->first_data);
	{
		uint8_t *cat = malloc(img->cat_len);
		if (!cat) {
			pcow_set_err(img, PCOW_ENOMEM, "out of memory");
			goto fail;
		}
		r = pcow_file_pread(img, cat, img->cat_len, img->cat_off);
		if (!r && CHECKSUM_BAD(pcow_crc32(cat, img->cat_len) != cur->cat_crc))
			r = pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog checksum mismatch",
					 path);
		if (!r)
			r = pcow_catalog_parse(img, cat, img->cat_len);
		free(cat);
		if (r)
			goto fail;
	}
	if (mark_meta(img, img->cat_off, (img->cat_len + img->csize - 1) >> img->cbits,
		      "catalog"))
		goto fail;
	if (load_tables(img))
		goto fail;
	if (!(o->flags & PCOW_NO_BASE) && img->base_fmt) {
		r = pcow_open_base(img, o->flags & PCOW_FORCE_BASE);
		if (r && !lenient && !(o->flags & PCOW_TRY_BASE))
			goto fail;
		if (r)
			img->base_err = img->err;
	}
	return img;
fail:
	copy_err(err, img);
	img->rw = false;
	pcow_close(img);
	return NULL;
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
	if (img->refc)
		munmap(img->refc, img->refc_cap);
	free(img->reserve);
	free(img->pfree);
	free(img->zbuf);
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

void pcow_get_info(struct pcow *img, struct pcow_info *in)
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
	pthread_mutex_lock(&img->lock);
	for (uint64_t c = 0; c < img->nclusters; c++) {
		if (img->refc[c] == REFC_META)
			in->metadata_clusters++;
		else if (img->refc[c] && img->refc[c] < REFC_META)
			in->allocated_clusters++;
	}
	pthread_mutex_unlock(&img->lock);
	in->base = img->base_path;
	in->base_format = img->base_fmt;
	for (struct pcow *b = img->base; b; b = b->base)
		in->base_depth++;
}
