/*
 * chunk.c - libpcow's placement of clusters at a caller's chosen file
 * offset, for the VMM's host-mapping bound (docs/pcow-runtime.md, "Host
 * mappings"): the VMM reserves a contiguous file range per aligned guest
 * chunk and puts each cluster of the chunk at its own place in that range,
 * so a chunk is one file mapping whatever order the guest writes in.
 *
 * Reserved clusters are pinned in memory only: after a crash or a close
 * they are free space. A reserved cluster the guest wrote through the
 * mapping but that was never committed (pcow_alloc_at without copy) holds
 * data no metadata references: a leak, which check reports and -r leaks
 * reclaims, like any cluster allocated after the last flush; one that reads
 * as zeros is free space, not a leak (check skips zeros).
 */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

int pcow_chunk_reserve(struct pcow *img, uint64_t n, uint64_t *host_off)
{
	uint64_t c, fsize = 0;
	int r;

	if (!img->rw || img->raw)
		return pcow_set_err(img, PCOW_ERDONLY, "%s: read-only", img->path);
	if (n == 0 || n > (1u << 20))
		return pcow_set_err(img, PCOW_EINVAL, "%s: cannot reserve %llu clusters",
				    img->path, (unsigned long long)n);
	r = pcow_account(img);	/* the free clusters must be known */
	if (r)
		return r;
	pthread_mutex_lock(&img->lock);
	c = img->nclusters;
	r = pcow_refc_track(img, c + n);
	if (r)
		goto out;
	/* the file must cover the range (it is mapped), sparsely: the
	 * caller allocates space cluster by cluster */
	if (img->io->size(img->ioctx, &fsize) == 0 && fsize < ((c + n) << img->cbits)) {
		int e = img->io->truncate(img->ioctx, (c + n) << img->cbits);

		if (e) {
			img->nclusters = c;
			r = pcow_set_err(img, PCOW_EIO, "%s: extending the file by %llu "
					 "clusters: %s", img->path, (unsigned long long)n,
					 strerror(-e));
			goto out;
		}
	}
	memset(img->refc + c, REFC_PIN, n);
	*host_off = c << img->cbits;
out:
	pthread_mutex_unlock(&img->lock);
	return r;
}

int pcow_chunk_claim(struct pcow *img, uint64_t host_off, uint64_t n, uint8_t *pinned)
{
	uint64_t c0 = host_off >> img->cbits, fsize = 0;
	int r = 0;

	if (!img->rw || img->raw)
		return pcow_set_err(img, PCOW_ERDONLY, "%s: read-only", img->path);
	if ((host_off & (img->csize - 1)) || c0 < img->first_data || n == 0 ||
	    n > (1u << 20) || c0 > (UINT64_MAX >> img->cbits) - n)
		return pcow_set_err(img, PCOW_EINVAL, "%s: cannot claim %llu clusters at %llu",
				    img->path, (unsigned long long)n,
				    (unsigned long long)host_off);
	r = pcow_account(img);	/* who owns what must be known */
	if (r)
		return r;
	pthread_mutex_lock(&img->lock);
	for (uint64_t c = c0; c < c0 + n && c < img->nclusters; c++)
		if (img->refc[c] > 1) {
			r = pcow_set_err(img, PCOW_EBUSY, "%s: cluster %llu is metadata, "
					 "reserved or shared", img->path, (unsigned long long)c);
			goto out;
		}
	r = pcow_refc_track(img, c0 + n);
	if (r)
		goto out;
	if (img->io->size(img->ioctx, &fsize) == 0 && fsize < ((c0 + n) << img->cbits)) {
		int e = img->io->truncate(img->ioctx, (c0 + n) << img->cbits);

		if (e) {
			r = pcow_set_err(img, PCOW_EIO, "%s: extending the file: %s", img->path,
					 strerror(-e));
			goto out;
		}
	}
	for (uint64_t i = 0; i < n; i++) {
		pinned[i] = !img->refc[c0 + i];
		if (pinned[i])
			img->refc[c0 + i] = REFC_PIN;
	}
out:
	pthread_mutex_unlock(&img->lock);
	return r;
}

int pcow_chunk_release(struct pcow *img, uint64_t host_off, uint64_t n)
{
	uint64_t c0 = host_off >> img->cbits;

	if (host_off & (img->csize - 1))
		return pcow_set_err(img, PCOW_EINVAL, "%s: unaligned offset %llu",
				    img->path, (unsigned long long)host_off);
	pthread_mutex_lock(&img->lock);
	for (uint64_t c = c0; c < c0 + n && c < img->nclusters; c++) {
		bool reserved = false;

		if (c < img->first_data || img->refc[c] != REFC_PIN)
			continue;
		for (unsigned i = 0; i < img->nreserve; i++)
			reserved |= img->reserve[i] == c;
		if (reserved)
			continue;
		img->refc[c] = 0;
		if (c < img->hint)
			img->hint = c;
	}
	pcow_trim_tail_locked(img);
	pthread_mutex_unlock(&img->lock);
	return 0;
}

int pcow_alloc_at(struct pcow *img, uint64_t off, uint64_t host_off, bool copy)
{
	uint64_t vc = off >> img->cbits, c = host_off >> img->cbits, old;
	uint8_t rc = 0;
	int r;

	if (off >= img->vsize)
		return pcow_set_err(img, PCOW_EINVAL, "%s: offset %llu beyond virtual size",
				    img->path, (unsigned long long)off);
	r = pcow_writable(img);
	if (r)
		return r;
	pthread_mutex_lock(&img->lock);
	if (!(host_off & (img->csize - 1)) && c >= img->first_data && c < img->nclusters)
		rc = img->refc[c];
	pthread_mutex_unlock(&img->lock);
	if (rc != REFC_PIN)
		return pcow_set_err(img, PCOW_EINVAL, "%s: offset %llu is not a reserved "
				    "cluster", img->path, (unsigned long long)host_off);
	r = pcow_entry_get(img, img->active, vc, &old);
	if (r)
		return r;
	if (old && old != MEM_ZERO && pcow_refc_get(img, old) == 1)
		return pcow_set_err(img, PCOW_EBUSY, "%s: cluster %llu is already the "
				    "active layer's own", img->path, (unsigned long long)vc);
	r = pcow_bump_data_gen(img);
	if (r)
		return r;
	if (copy) {
		/* what the guest saw there: the snapshot's, the base's, zeros */
		r = pcow_read_layer(img, (int)img->active, img->zbuf, img->csize,
				    vc << img->cbits);
		if (!r)
			r = pcow_file_pwrite(img, img->zbuf, img->csize, host_off);
		memset(img->zbuf, 0, img->csize);
		if (r)
			return r;
	}
	r = pcow_entry_set(img, img->active, vc, host_off);
	if (r)
		return r;
	pthread_mutex_lock(&img->lock);
	img->refc[c] = 1;
	pthread_mutex_unlock(&img->lock);
	return pcow_defer_free(img, old);
}
