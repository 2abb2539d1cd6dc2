/*
 * labels.c - libpcow's label storage area (docs/pcow-format.md, "Label
 * storage area"): the NVDIMM namespace-label bytes a guest reads and writes
 * through the DSM Get/Set Config Data calls, kept inside the image so
 * namespaces survive across runs.
 *
 * The area belongs to the image, not to a layer. Its place, size and CRC are
 * in the root slot (incompatible feature bit PCOW_INCOMPAT_LABELS); the bytes
 * live in label_size / C (rounded up) contiguous metadata clusters. A write
 * never changes those clusters in place: the whole new area goes to fresh
 * clusters, a flush, a new root pointing at them, a flush, and only then are
 * the old clusters freed. A crash therefore leaves the old or the new area,
 * never a torn one. The area is read (and its CRC checked) on first use and
 * then held in memory; open only checks where it lies. label_offset 0
 * means "all zeros, no clusters" (a fresh area).
 *
 * Hooks: format.c encodes/decodes the root fields (pcow_labels_root_*),
 * open.c loads the area (pcow_labels_load) and frees it, create.c sets it up
 * (pcow_labels_create), check.c rewrites a dropped area through its repair.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- root slot fields ---- */

void pcow_labels_root_encode(const struct pcow *img, uint8_t *s)
{
	if (!(img->incompat & PCOW_INCOMPAT_LABELS))
		return;
	put_le64(s + PCOW_ROOT_LABEL_OFF, img->label_off);
	put_le32(s + PCOW_ROOT_LABEL_OFF + 8, img->label_size);
	put_le32(s + PCOW_ROOT_LABEL_OFF + 12, img->label_crc);
}

void pcow_labels_root_parse(const uint8_t *s, struct root *rt)
{
	rt->label_off = get_le64(s + PCOW_ROOT_LABEL_OFF);
	rt->label_size = get_le32(s + PCOW_ROOT_LABEL_OFF + 8);
	rt->label_crc = get_le32(s + PCOW_ROOT_LABEL_OFF + 12);
}

bool pcow_label_size_ok(uint64_t size)
{
	return size >= PCOW_LABEL_MIN && size <= PCOW_LABEL_MAX && !(size % PCOW_LABEL_ALIGN);
}

/* The slot rule: with the feature, a size in range and an aligned offset
 * (0: a zero area, whose CRC field is 0). Without it, the fields are
 * reserved and ignored. */
bool pcow_labels_root_ok(const struct root *rt)
{
	if (!(rt->incompat & PCOW_INCOMPAT_LABELS))
		return true;
	if (!pcow_label_size_ok(rt->label_size))
		return false;
	if (!rt->label_off)
		return rt->label_crc == 0;
	return !(rt->label_off & ((1ULL << rt->cbits) - 1)) &&
	       rt->label_off >= PCOW_HEADER_END;
}

static uint64_t area_clusters(const struct pcow *img, uint64_t size)
{
	return (size + img->csize - 1) >> img->cbits;
}

/* ---- open ---- */

/* Drop the area's contents (check: they are corrupt): zeros from now on,
 * and a repair writes a root saying so. */
static void drop_area(struct pcow *img, bool marked)
{
	if (marked)
		for (uint64_t i = 0; i < area_clusters(img, img->label_size); i++)
			pcow_defer_free(img, img->label_off + (i << img->cbits));
	free(img->labels);
	img->labels = NULL;	/* zeros when next needed */
	img->label_off = 0;
	img->label_crc = 0;
	img->labels_dropped = true;
}

/*
 * The area's bytes in memory, read and checked against label_crc on first
 * need: opening an image (or a base chain of them) costs no label reads or
 * memory; check (lenient) loads at open so it reports a bad area.
 */
static int labels_loaded(struct pcow *img)
{
	int r;

	if (img->labels || !img->label_size)
		return 0;
	img->labels = calloc(1, img->label_size);
	if (!img->labels)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	if (!img->label_off)
		return 0;
	r = pcow_file_pread(img, img->labels, img->label_size, img->label_off);
	if (!r && CHECKSUM_BAD(pcow_crc32(img->labels, img->label_size) != img->label_crc))
		r = pcow_set_err(img, PCOW_ECORRUPT, "%s: label area checksum mismatch",
				 img->path);
	if (r) {
		free(img->labels);
		img->labels = NULL;
	}
	return r;
}

int pcow_labels_load(struct pcow *img, const struct root *rt)
{
	uint64_t n, c;

	if (!(rt->incompat & PCOW_INCOMPAT_LABELS))
		return 0;
	img->label_size = rt->label_size;
	img->label_off = rt->label_off;
	img->label_crc = rt->label_crc;
	if (!img->label_off)
		return 0;
	n = area_clusters(img, img->label_size);
	c = img->label_off >> img->cbits;
	if (c < img->first_data || c > img->file_clusters || n > img->file_clusters - c) {
		if (!img->lenient)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: label area at %llu outside "
					    "the image", img->path,
					    (unsigned long long)img->label_off);
		pcow_problem(img, "label area at %llu outside the image (dropped)",
			     (unsigned long long)img->label_off);
		drop_area(img, false);
		return 0;
	}
	return 0;
}

/*
 * Cluster ownership (alloc.c's counting walk, after the catalog and before
 * the tables): the area's clusters are metadata, never shared with anything
 * else; a lenient open (check) also verifies the area's CRC here.
 */
int pcow_labels_account(struct pcow *img)
{
	uint64_t n, c;

	if (!img->label_off)
		return 0;
	n = area_clusters(img, img->label_size);
	c = img->label_off >> img->cbits;
	if (pcow_refc_track(img, c + n))
		return -img->err.code;
	for (uint64_t i = 0; i < n; i++)
		if (img->refc[c + i]) {
			if (!img->lenient)
				return pcow_set_err(img, PCOW_ECORRUPT, "%s: label area at %llu "
						    "overlaps other metadata", img->path,
						    (unsigned long long)img->label_off);
			pcow_problem(img, "label area at %llu overlaps other metadata "
				     "(dropped)", (unsigned long long)img->label_off);
			drop_area(img, false);
			return 0;
		}
	memset(img->refc + c, REFC_META, n);
	if (img->lenient) {
		int r = labels_loaded(img);
		if (r == -PCOW_ECORRUPT) {
			pcow_problem(img, "label area checksum mismatch (dropped: the labels "
				     "read as zeros after repair)");
			drop_area(img, true);
		} else if (r) {
			return r;
		}
	}
	return 0;
}

void pcow_labels_free(struct pcow *img)
{
	free(img->labels);
	img->labels = NULL;
}

/* ---- create ---- */

/*
 * Called by pcow_create before its first commit: a new area of label_size
 * bytes (zeros), or, with a pcow base that has labels and no other size
 * asked for, a copy of the base's labels (an overlay shows the same
 * namespaces as its base). The copy is written to fresh clusters now; the
 * first root, written after a flush, references them.
 */
int pcow_labels_create(struct pcow *img, uint64_t label_size)
{
	struct pcow *b = img->base && !img->base->raw ? img->base : NULL;
	bool inherit = b && b->label_size && (!label_size || label_size == b->label_size);
	uint64_t off, n;
	int r;

	if (inherit)
		label_size = b->label_size;
	if (!label_size)
		return 0;
	if (!pcow_label_size_ok(label_size))
		return pcow_set_err(img, PCOW_EINVAL, "label size %llu out of range "
				    "(128K..16M in 4K steps)", (unsigned long long)label_size);
	img->labels = calloc(1, label_size);
	if (!img->labels)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	img->label_size = (uint32_t)label_size;
	img->label_off = 0;
	img->label_crc = 0;
	img->incompat |= PCOW_INCOMPAT_LABELS;
	if (!inherit || !b->label_off)
		return 0;
	r = labels_loaded(b);
	if (r)
		return pcow_set_err(img, -r, "base image: %s", pcow_errmsg(b));
	memcpy(img->labels, b->labels, label_size);
	n = area_clusters(img, label_size);
	r = pcow_alloc_contig(img, n, &off);
	if (!r)
		r = pcow_file_pwrite(img, img->labels, label_size, off);
	if (!r && (label_size & (img->csize - 1)))
		r = pcow_file_pwrite(img, img->zbuf, img->csize - (label_size & (img->csize - 1)),
				     off + label_size);
	if (r)
		return r;
	img->label_off = off;
	img->label_crc = pcow_crc32(img->labels, label_size);
	return 0;
}

/* ---- the API ---- */

uint64_t pcow_label_size(struct pcow *img)
{
	return img->raw ? 0 : img->label_size;
}

/* THE checked accessor for label offsets and lengths. */
static int label_span(struct pcow *img, size_t len, uint64_t off)
{
	if (!img->label_size)
		return pcow_set_err(img, PCOW_ENOENT, "%s: the image has no label area",
				    img->path);
	if (off > img->label_size || len > img->label_size - off)
		return pcow_set_err(img, PCOW_EINVAL, "%s: label range %llu+%zu beyond the "
				    "label area (%u bytes)", img->path,
				    (unsigned long long)off, len, img->label_size);
	return 0;
}

int pcow_label_read(struct pcow *img, void *buf, size_t len, uint64_t off)
{
	int r = label_span(img, len, off);

	if (!r)
		r = labels_loaded(img);
	if (!r && len)
		memcpy(buf, img->labels + off, len);
	return r;
}

static int writable(struct pcow *img)
{
	if (img->broken)
		return pcow_set_err(img, PCOW_EIO, "%s: an earlier metadata update failed; "
				    "reopen the image", img->path);
	if (!img->rw || img->raw)
		return pcow_set_err(img, PCOW_ERDONLY, "%s: image is opened read-only",
				    img->path);
	return 0;
}

/*
 * n contiguous free clusters for a new area: the lowest free run (so the
 * area alternates between two places instead of walking up the file), else
 * at the end. Free clusters are referenced by no durable root: safe to
 * overwrite even if they hold leaked bytes.
 */
static int alloc_area(struct pcow *img, uint64_t n, uint64_t *off)
{
	uint64_t run = 0, c;

	pthread_mutex_lock(&img->lock);
	for (c = img->first_data; c < img->nclusters && run < n; c++)
		run = img->refc[c] ? 0 : run + 1;
	if (run == n) {
		memset(img->refc + (c - n), REFC_META, n);
		*off = (c - n) << img->cbits;
		pthread_mutex_unlock(&img->lock);
		return 0;
	}
	pthread_mutex_unlock(&img->lock);
	return pcow_alloc_contig(img, n, off);
}

/* Give clusters back at once (they are not used by any root any more). */
static void free_area(struct pcow *img, uint64_t off, uint64_t n)
{
	pthread_mutex_lock(&img->lock);
	for (uint64_t i = 0; off && i < n; i++) {
		uint64_t c = (off >> img->cbits) + i;
		if (c < img->first_data || c >= img->nclusters || img->refc[c] != REFC_META)
			continue;
		img->refc[c] = 0;
		if (img->io->punch)
			img->io->punch(img->ioctx, c << img->cbits, img->csize);
		if (c < img->hint)
			img->hint = c;
	}
	pcow_trim_tail_locked(img);
	pthread_mutex_unlock(&img->lock);
}

/*
 * Write the in-memory area (new contents) to fresh clusters and switch the
 * root to them. On failure before the root switch the old area stays
 * current (memory is restored from old); after it, the image is broken.
 */
static int commit_area(struct pcow *img, const uint8_t *old)
{
	uint64_t n = area_clusters(img, img->label_size), off, old_off = img->label_off;
	uint32_t old_crc = img->label_crc;
	int r;

	r = pcow_account(img);	/* the free clusters must be known */
	if (!r)
		r = alloc_area(img, n, &off);
	if (r)
		goto undo;
	r = pcow_file_pwrite(img, img->labels, img->label_size, off);
	if (!r && (img->label_size & (img->csize - 1)))
		r = pcow_file_pwrite(img, img->zbuf,
				     img->csize - (img->label_size & (img->csize - 1)),
				     off + img->label_size);
	if (!r)
		r = pcow_file_flush(img);
	if (r) {
		/* not referenced by any root: free (a crash would leak it) */
		pthread_mutex_lock(&img->lock);
		for (uint64_t i = 0; i < n; i++)
			if ((off >> img->cbits) + i < img->nclusters)
				img->refc[(off >> img->cbits) + i] = 0;
		pthread_mutex_unlock(&img->lock);
		goto undo;
	}
	img->label_off = off;
	img->label_crc = pcow_crc32(img->labels, img->label_size);
	r = pcow_root_write(img, img->gen + 1);
	if (r) {
		img->broken = true;	/* which root is current is unknown */
		return r;
	}
	free_area(img, old_off, n);
	return 0;
undo:
	if (old)
		memcpy(img->labels, old, img->label_size);
	img->label_off = old_off;
	img->label_crc = old_crc;
	return r;
}

int pcow_label_write(struct pcow *img, const void *buf, size_t len, uint64_t off)
{
	uint8_t *old;
	int r = writable(img);

	if (!r)
		r = label_span(img, len, off);
	if (!r)
		r = labels_loaded(img);
	if (r)
		return r;
	old = malloc(img->label_size);
	if (!old)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	memcpy(old, img->labels, img->label_size);
	memcpy(img->labels + off, buf, len);
	r = commit_area(img, old);
	free(old);
	return r;
}

int pcow_label_init(struct pcow *img, uint64_t size)
{
	uint8_t *z;
	int r = writable(img);

	if (r)
		return r;
	if (img->label_size)
		return img->label_size == size ? 0 :
			pcow_set_err(img, PCOW_EBUSY, "%s: the image's label area is %u "
				     "bytes, not %llu (its size is fixed)", img->path,
				     img->label_size, (unsigned long long)size);
	if (!pcow_label_size_ok(size))
		return pcow_set_err(img, PCOW_EINVAL, "label size %llu out of range "
				    "(128K..16M in 4K steps)", (unsigned long long)size);
	z = calloc(1, size);
	if (!z)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	img->labels = z;
	img->label_size = (uint32_t)size;
	img->label_off = 0;
	img->label_crc = 0;
	img->incompat |= PCOW_INCOMPAT_LABELS;
	r = pcow_root_write(img, img->gen + 1);
	if (r) {
		/* the feature may or may not be on disk now */
		img->broken = true;
	}
	return r;
}
