/*
 * area.c - libpcow's root areas (docs/pcow-format.md, "Root areas"): bytes
 * that belong to the image, not to a layer, kept in contiguous metadata
 * clusters that the root slot points at (offset, size, CRC). Two use them:
 * the NVDIMM label storage area (labels.c) and the bad-range record
 * (badranges.c).
 *
 * An area is never changed in place. A change writes the whole new area to
 * free clusters, flushes, writes a new root pointing at them, flushes, and
 * only then frees the old clusters; so a crash leaves the old or the new
 * area, never a mix. Opening an image only checks where its areas lie;
 * their bytes are read (and the CRC checked) on first use and then held in
 * memory. Offset 0 means "no clusters": the area reads as zeros.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

uint64_t pcow_area_clusters(const struct pcow *img, uint64_t size)
{
	return (size + img->csize - 1) >> img->cbits;
}

/* The slot rule shared by every area: offset 0 (then CRC 0), or a
 * cluster-aligned offset after the header. */
bool pcow_area_root_ok(const struct root *rt, uint64_t off, uint32_t crc)
{
	if (!off)
		return crc == 0;
	return !(off & ((1ULL << rt->cbits) - 1)) && off >= PCOW_HEADER_END;
}

/* check: the area's contents are corrupt. Zeros from now on, and a repair
 * writes a root saying so (its clusters, if marked, become free). */
static void drop(struct pcow *img, struct pcow_area *a, bool marked)
{
	if (marked)
		for (uint64_t i = 0; i < pcow_area_clusters(img, a->size); i++)
			pcow_defer_free(img, a->off + (i << img->cbits));
	free(a->bytes);
	a->bytes = NULL;
	a->off = 0;
	a->crc = 0;
	if (a->zero_means_empty)
		a->size = 0;
	a->dropped = true;
}

/*
 * Open: where the area lies must be inside the file (its clusters are
 * counted later, by pcow_area_account). A strict open fails; check's
 * lenient one reports and drops the area.
 */
int pcow_area_place(struct pcow *img, struct pcow_area *a)
{
	uint64_t n, c;

	if (!a->off)
		return 0;
	n = pcow_area_clusters(img, a->size);
	c = a->off >> img->cbits;
	if (c >= img->first_data && c <= img->file_clusters && n <= img->file_clusters - c)
		return 0;
	if (!img->lenient)
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: %s at %llu outside the image",
				    img->path, a->what, (unsigned long long)a->off);
	pcow_problem(img, "%s at %llu outside the image (dropped)", a->what,
		     (unsigned long long)a->off);
	drop(img, a, false);
	return 0;
}

/*
 * The area's bytes in memory, read and checked (CRC, then the area's own
 * rules) on first need.
 */
int pcow_area_load(struct pcow *img, struct pcow_area *a)
{
	int r;

	if (a->bytes || !a->size)
		return 0;
	a->bytes = calloc(1, a->size);
	if (!a->bytes)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	if (!a->off)
		return 0;
	r = pcow_file_pread(img, a->bytes, a->size, a->off);
	if (!r && CHECKSUM_BAD(pcow_crc32(a->bytes, a->size) != a->crc))
		r = pcow_set_err(img, PCOW_ECORRUPT, "%s: %s checksum mismatch", img->path,
				 a->what);
	if (!r && a->valid && !a->valid(img, a->bytes, a->size))
		r = pcow_set_err(img, PCOW_ECORRUPT, "%s: %s breaks the format's rules "
				 "(docs/pcow-format.md)", img->path, a->what);
	if (r) {
		free(a->bytes);
		a->bytes = NULL;
	}
	return r;
}

/*
 * Cluster ownership (alloc.c's counting walk, after the catalog and before
 * the tables): an area's clusters are metadata, shared with nothing. A
 * lenient open (check) also reads and verifies the area here.
 */
int pcow_area_account(struct pcow *img, struct pcow_area *a)
{
	uint64_t n, c;
	int r;

	if (!a->off)
		return 0;
	n = pcow_area_clusters(img, a->size);
	c = a->off >> img->cbits;
	if (pcow_refc_track(img, c + n))
		return -img->err.code;
	for (uint64_t i = 0; i < n; i++)
		if (img->refc[c + i]) {
			if (!img->lenient)
				return pcow_set_err(img, PCOW_ECORRUPT, "%s: %s at %llu "
						    "overlaps other metadata", img->path,
						    a->what, (unsigned long long)a->off);
			pcow_problem(img, "%s at %llu overlaps other metadata (dropped)",
				     a->what, (unsigned long long)a->off);
			drop(img, a, false);
			return 0;
		}
	memset(img->refc + c, REFC_META, n);
	if (!img->lenient)
		return 0;
	r = pcow_area_load(img, a);
	if (r == -PCOW_ECORRUPT) {
		pcow_problem(img, "%s: %s (dropped: %s after repair)", a->what,
			     pcow_errmsg(img), a->zero_means_empty ? "empty" : "zeros");
		drop(img, a, true);
		return 0;
	}
	return r;
}

void pcow_area_free(struct pcow_area *a)
{
	free(a->bytes);
	a->bytes = NULL;
}

/*
 * n contiguous free clusters for a new area: the lowest free run (so an
 * area alternates between two places instead of walking up the file), else
 * at the end. Free clusters are referenced by no durable root: safe to
 * overwrite even if they hold leaked bytes.
 */
static int alloc_run(struct pcow *img, uint64_t n, uint64_t *off)
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

/* Give clusters no root uses any more back at once. */
static void free_run(struct pcow *img, uint64_t off, uint64_t n, bool punch)
{
	pthread_mutex_lock(&img->lock);
	for (uint64_t i = 0; off && i < n; i++) {
		uint64_t c = (off >> img->cbits) + i;
		if (c < img->first_data || c >= img->nclusters || img->refc[c] != REFC_META)
			continue;
		img->refc[c] = 0;
		if (punch && img->io->punch)
			img->io->punch(img->ioctx, c << img->cbits, img->csize);
		if (c < img->hint)
			img->hint = c;
	}
	pcow_trim_tail_locked(img);
	pthread_mutex_unlock(&img->lock);
}

/*
 * At create, before the image's first root: put a's bytes (a->size, in
 * memory) into fresh clusters and point a at them. The first root, written
 * after a flush, references them.
 */
int pcow_area_place_new(struct pcow *img, struct pcow_area *a)
{
	uint64_t off;
	int r = pcow_alloc_contig(img, pcow_area_clusters(img, a->size), &off);

	if (!r)
		r = pcow_file_pwrite(img, a->bytes, a->size, off);
	if (!r && (a->size & (img->csize - 1)))
		r = pcow_file_pwrite(img, img->zbuf, img->csize - (a->size & (img->csize - 1)),
				     off + a->size);
	if (r)
		return r;
	a->off = off;
	a->crc = pcow_crc32(a->bytes, a->size);
	return 0;
}

/* THE check before any change of an image (data, metadata, areas) */
int pcow_writable(struct pcow *img)
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
 * Replace the area's contents with bytes (size bytes, malloc'ed; owned by
 * the area on success, freed on failure): fresh clusters, flush, a new
 * root (its feature bits and fields from img and a, as pcow_root_write
 * encodes them), flush, then the old clusters are free. size 0 with
 * zero_means_empty: no clusters at all. On failure before the root switch
 * the old area stays current and a is unchanged; after it, the image is
 * marked broken (which root is current is unknown).
 */
int pcow_area_commit(struct pcow *img, struct pcow_area *a, uint8_t *bytes, uint32_t size)
{
	struct pcow_area old = *a;
	uint64_t n = pcow_area_clusters(img, size), off = 0;
	int r;

	r = pcow_account(img);	/* the free clusters must be known */
	if (!r && n)
		r = alloc_run(img, n, &off);
	if (r)
		goto fail;
	r = n ? pcow_file_pwrite(img, bytes, size, off) : 0;
	if (!r && (size & (img->csize - 1)))
		r = pcow_file_pwrite(img, img->zbuf, img->csize - (size & (img->csize - 1)),
				     off + size);
	if (!r && n)
		r = pcow_file_flush(img);
	if (r) {
		/* not referenced by any root: free (a crash would leak them) */
		free_run(img, off, n, false);
		goto fail;
	}
	a->off = off;
	a->size = size;
	a->crc = n ? pcow_crc32(bytes, size) : 0;
	a->bytes = bytes;
	a->dropped = false;
	if (a->commit_hook)
		a->commit_hook(img, a);
	r = pcow_root_write(img, img->gen + 1);
	if (r) {
		img->broken = true;
		free(old.bytes);
		return r;
	}
	free(old.bytes);
	free_run(img, old.off, pcow_area_clusters(img, old.size), true);
	return 0;
fail:
	free(bytes);
	return r;
}
