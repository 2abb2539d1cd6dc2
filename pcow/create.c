/*
 * create.c - creating a pcow image: sizes (pcow_parse_size, pcow_measure)
 * and pcow_create, which writes the first catalog, tables and root, in
 * steps: the image in memory, its base, its layer, its file, the writes.
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
#include <uuid/uuid.h>
#include <zlib.h>

#include "internal.h"
#include "opts.h"

/* ---- create ---- */

int pcow_parse_size(const char *s, uint64_t *out)
{
	/* the project's one size grammar (vmm/util/opts.h) */
	return opt_parse_size(s, out, NULL, 0) ? -PCOW_EINVAL : 0;
}

void pcow_measure(uint64_t vsize, unsigned cbits, uint64_t data_clusters,
		  uint64_t *required, uint64_t *full)
{
	uint64_t cs = 1ULL << cbits, per_l2 = cs / 8;
	uint64_t vcl = (vsize + cs - 1) >> cbits;
	uint64_t first = (PCOW_HEADER_END + cs - 1) >> cbits;
	uint64_t l1 = ((uint64_t)pcow_l1_entries_for(vsize, cbits) * 8 + cs - 1) >> cbits;
	uint64_t meta = first + 1 + l1;	/* header, catalog, L1 */

	if (data_clusters > vcl)
		data_clusters = vcl;
	/* worst case: every data cluster in its own L2 table */
	uint64_t l2 = (data_clusters + per_l2 - 1) / per_l2;
	uint64_t l2max = (vcl + per_l2 - 1) / per_l2;
	if (l2 < l2max && data_clusters > l2)
		l2 = data_clusters < l2max ? data_clusters : l2max;
	if (required)
		*required = (meta + l2 + data_clusters) << cbits;
	if (full)
		*full = (meta + l2max + vcl) << cbits;
}

/* an empty image in memory: geometry and buffers, nothing on disk yet */
static struct pcow *create_new(const char *path, unsigned cbits,
			       const struct pcow_create_opts *o, struct pcow_error *err)
{
	struct pcow *img = calloc(1, sizeof(*img));

	if (!img) {
		pcow_err_fill(err, PCOW_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&img->lock, NULL);
	img->path = strdup(path ? path : "(image)");
	img->dir = pcow_dir_of(img->path ? img->path : ".");
	img->cbits = cbits;
	img->csize = 1ULL << cbits;
	img->l2_entries = (uint32_t)(img->csize / 8);
	img->first_data = (PCOW_HEADER_END + img->csize - 1) >> cbits;
	img->zbuf = calloc(1, img->csize);
	img->open_io = o->open_io;
	img->open_ctx = o->open_ctx;
	return img;
}

/* open the base as every later open will (depth 1) and record its identity */
static int create_base(struct pcow *img, const struct pcow_create_opts *o)
{
	struct pcow_error e;
	int fmt = o->base_format, r;
	char *p = pcow_resolve_base(img, o->base);

	if (!p)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	/* the base's real format: -F must match it (a foreign format only
	 * as -F raw, which forces it) */
	const char *other = NULL;
	int real = o->open_io ? (fmt ? fmt : pcow_probe(p) > 0 ? PCOW_FMT_PCOW : PCOW_FMT_RAW) :
		   pcow_image_format(p, &other, &e);	/* a caller's opener: its word */
	free(p);
	p = NULL;
	if (real < 0)	/* the cause first: a long path must not push it out */
		return pcow_set_err(img, PCOW_EBASE, "base image %s", e.msg);
	if (fmt == PCOW_FMT_AUTO && other)
		return pcow_set_err(img, PCOW_EUNSUPPORTED, "base image %s is a %s image, "
				    "not pcow or raw (-F raw would use its bytes as they are)",
				    o->base, other);
	if (fmt == PCOW_FMT_PCOW && real != PCOW_FMT_PCOW)
		return pcow_set_err(img, PCOW_EBASE, "base image %s is not a pcow image "
				    "(-F pcow)", o->base);
	if (fmt == PCOW_FMT_RAW && real == PCOW_FMT_PCOW)
		return pcow_set_err(img, PCOW_EBASE, "base image %s is a pcow image: -F raw "
				    "would show its metadata as data (use -F pcow, or no -F)",
				    o->base);
	fmt = real;
	p = pcow_resolve_base(img, o->base);
	if (!p)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	img->base_fmt = fmt;
	img->base_path = strdup(o->base);
	if (o->lock)
		img->flags |= PCOW_LOCK;	/* for the base's open */
	if (fmt == PCOW_FMT_RAW) {
		r = pcow_open_raw_base(img, p, 0);
	} else {
		struct pcow_open_opts bo = { .flags = o->lock ? PCOW_LOCK : 0,
					     .open_io = o->open_io, .open_ctx = o->open_ctx };
		struct pcow *b = pcow_open_internal(p, &bo, 1, false, NULL, NULL, &e);
		r = b ? 0 : pcow_set_err(img, e.code == PCOW_ELOCKED ? PCOW_ELOCKED : PCOW_EBASE,
					 "base image %s", e.msg);
		img->base = b;
	}
	free(p);
	if (r)
		return r;
	img->base_size = img->base->vsize;
	if (!img->base->raw) {
		memcpy(img->base_uuid, img->base->uuid, 16);
		img->base_data_gen = img->base->data_gen;
	}
	return 0;
}

/* the one active layer, empty, and a fresh uuid */
static int create_layer(struct pcow *img, uint64_t vsize)
{
	int r;

	img->vsize = vsize;
	img->layers = calloc(1, sizeof(*img->layers));
	if (!img->layers)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	img->nlayers = 1;
	img->active = 0;
	img->layers[0].parent = PCOW_NO_PARENT;
	img->layers[0].ctime_ns = 0;
	img->layers[0].name = strdup("");
	r = pcow_layer_alloc_l1(img, &img->layers[0], vsize);
	if (r)
		return r;
	img->layers[0].rewrite = true;
	/* RFC 4122 version 4 (random), with its version and variant bits */
	uuid_generate_random(img->uuid);
	return 0;
}

/* the file: the caller's I/O, the caller's opener, or open(2) */
static int create_file(struct pcow *img, const char *path, const struct pcow_create_opts *o,
		       bool *created)
{
	int en, fd;

	if (o->io) {
		img->io = o->io;
		img->ioctx = o->io_ctx;
		return 0;
	}
	if (o->open_io) {
		en = o->open_io(o->open_ctx, path, true, true, &img->io, &img->ioctx);
		if (en)
			return pcow_set_err(img, en == -EEXIST ? PCOW_EEXIST : PCOW_EIO,
					    "%s: %s", path, strerror(-en));
		return 0;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (o->overwrite ? O_TRUNC : O_EXCL),
		  0644);
	if (fd < 0) {
		en = errno;
		return pcow_set_err(img, en == EEXIST ? PCOW_EEXIST : PCOW_EIO, "%s: %s",
				    path, strerror(en));
	}
	*created = true;
	img->io = &pcow_fd_io_ops;
	img->ioctx = pcow_fd_io_new(fd);
	if (!img->ioctx) {
		close(fd);
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	}
	return 0;
}

/* the header's two empty slots, the label area (label_size bytes, or the
 * base's; labels.c), the base's bad-range record (badranges.c), then the
 * first catalog, tables and root */
static int create_write(struct pcow *img, uint64_t label_size)
{
	uint8_t z[PCOW_HEADER_END] = { 0 };
	int r;

	img->rw = true;
	img->bumped = true;
	img->gen = 0;
	img->data_gen = 1;
	img->slot = 1;	/* the first root goes to slot 0 */
	r = pcow_refc_track(img, img->first_data);
	if (r)
		return r;
	memset(img->refc, REFC_PIN, img->first_data);
	r = pcow_file_pwrite(img, z, sizeof(z), 0);
	if (!r)
		r = pcow_labels_create(img, label_size);
	if (!r)
		r = pcow_bad_create(img);
	if (r)
		return r;
	return pcow_meta_commit(img);
}

int pcow_create(const char *path, const struct pcow_create_opts *o,
		struct pcow_error *err)
{
	unsigned cbits = o->cluster_bits ? o->cluster_bits : PCOW_DEFAULT_CLUSTER_BITS;
	uint64_t vsize = o->virtual_size;
	bool created = false;
	struct pcow *img;
	int r;

	if (!path && !o->io)
		return pcow_err_fill(err, PCOW_EINVAL, "no image path");
	if (cbits < PCOW_MIN_CLUSTER_BITS || cbits > PCOW_MAX_CLUSTER_BITS)
		return pcow_err_fill(err, PCOW_EINVAL, "cluster size %llu out of range "
				     "(4K..2M, a power of two)", 1ULL << (cbits & 63));
	img = create_new(path, cbits, o, err);
	if (!img)
		return -PCOW_ENOMEM;
	if (!img->path || !img->dir || !img->zbuf)
		r = pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	else
		r = o->base ? create_base(img, o) : 0;
	if (!r && !vsize && img->base)
		vsize = img->base_size;
	if (!r && vsize > PCOW_MAX_VIRTUAL_SIZE)
		r = pcow_set_err(img, PCOW_EINVAL, "virtual size %llu too large",
				 (unsigned long long)vsize);
	if (!r)
		r = create_layer(img, vsize);
	if (!r)
		r = create_file(img, path, o, &created);
	if (!r)
		r = create_write(img, o->label_size);
	if (r) {
		pcow_err_fill(err, img->err.code, "%s", img->err.msg);
		if (created)
			unlink(path);
		img->broken = true;
	}
	img->rw = img->rw && !r;
	if (!r)
		r = pcow_close(img);
	else
		pcow_close(img);
	if (r && err && !err->code)
		pcow_err_fill(err, PCOW_EIO, "%s: closing failed", path ? path : "");
	return r;
}
