/*
 * alloc.c - libpcow's cluster accounting and allocation: the per-cluster
 * counts of the file, allocation (single, contiguous, reserved ahead for
 * callers that must not fail later), deferred frees released after a
 * metadata commit, and trimming the file's free tail.
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

/* ---- cluster accounting and allocation ---- */

/*
 * The counts live in an anonymous mapping grown with mremap(): pages never
 * written stay unbacked, so a hostile table entry naming a cluster far out
 * in a sparse file costs address space, not memory. Invariant: every count
 * at or beyond nclusters is zero (pcow_trim_tail_locked() only drops zero
 * counts), so growing needs no clearing.
 */
int pcow_refc_track(struct pcow *img, uint64_t n)
{
	if (n <= img->nclusters)
		return 0;
	if (n > img->refc_cap) {
		uint64_t cap = img->refc_cap ? img->refc_cap : 65536;
		while (cap < n)
			cap *= 2;
		if (cap > SIZE_MAX / 2)
			return pcow_set_err(img, PCOW_ENOMEM, "%s: image too large",
					    img->path);
		void *nr = img->refc ?
			mremap(img->refc, img->refc_cap, cap, MREMAP_MAYMOVE) :
			mmap(NULL, cap, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (nr == MAP_FAILED)
			return pcow_set_err(img, PCOW_ENOMEM,
					    "%s: no memory for %llu cluster counts",
					    img->path, (unsigned long long)cap);
		/*
		 * No transparent huge pages here. info, check and the
		 * allocator read every count below nclusters; a read fault on
		 * an untouched page normally maps the shared zero page (no
		 * RSS), but with THP "always" (or MADV_HUGEPAGE) and
		 * use_zero_page=0 each read fault allocates and clears a real
		 * 2 MiB page: a far reference made the walk cost the whole
		 * array (1 GiB for 2^30 clusters) in memory. Refused THP, read faults take
		 * the 4 KiB zero page on every THP setting (mTHP sizes
		 * included) and only written counts cost memory. Advised after
		 * every mmap/mremap so the grown range is covered too. Advice
		 * only: it fails (EINVAL) just where the kernel has no THP.
		 */
		(void)madvise(nr, cap, MADV_NOHUGEPAGE);
		img->refc = nr;
		img->refc_cap = cap;
	}
	img->nclusters = n;
	return 0;
}

void pcow_refc_inc(struct pcow *img, uint64_t host_off)
{
	uint64_t c = host_off >> img->cbits;

	pthread_mutex_lock(&img->lock);
	if (c < img->nclusters && img->refc[c] < 250)
		img->refc[c]++;
	pthread_mutex_unlock(&img->lock);
}

/* The count of the cluster at host_off. Locked: pcow_reserve() may move the
 * array from another thread. */
uint8_t pcow_refc_get(struct pcow *img, uint64_t host_off)
{
	uint64_t c = host_off >> img->cbits;
	uint8_t v = 0;

	pthread_mutex_lock(&img->lock);
	if (c < img->nclusters)
		v = img->refc[c];
	pthread_mutex_unlock(&img->lock);
	return v;
}

static int alloc_locked(struct pcow *img, uint8_t kind, uint64_t *host_off)
{
	uint64_t c;
	int r;

	if (img->nreserve) {
		c = img->reserve[--img->nreserve];
		img->refc[c] = kind;
		*host_off = c << img->cbits;
		return 0;
	}
	for (c = img->hint < img->first_data ? img->first_data : img->hint;
	     c < img->nclusters; c++)
		if (!img->refc[c])
			break;
	if (c == img->nclusters) {
		r = pcow_refc_track(img, c + 1);
		if (r)
			return r;
	}
	img->refc[c] = kind;
	img->hint = c + 1;
	*host_off = c << img->cbits;
	return 0;
}

int pcow_alloc_kind(struct pcow *img, uint8_t kind, uint64_t *host_off)
{
	int r;

	pthread_mutex_lock(&img->lock);
	r = alloc_locked(img, kind, host_off);
	pthread_mutex_unlock(&img->lock);
	return r;
}

int pcow_alloc_cluster(struct pcow *img, uint64_t *host_off)
{
	return pcow_alloc_kind(img, 1, host_off);
}



/* n contiguous metadata clusters at the end of the file */
int pcow_alloc_contig(struct pcow *img, uint64_t n, uint64_t *host_off)
{
	int r;

	if (n == 1)
		return pcow_alloc_kind(img, REFC_META, host_off);
	pthread_mutex_lock(&img->lock);
	uint64_t c = img->nclusters;
	r = pcow_refc_track(img, c + n);
	if (!r) {
		memset(img->refc + c, REFC_META, n);
		*host_off = c << img->cbits;
	}
	pthread_mutex_unlock(&img->lock);
	return r;
}

int pcow_defer_free(struct pcow *img, uint64_t host_off)
{
	if (!host_off || host_off == MEM_ZERO)
		return 0;
	if (img->npfree == img->pfree_cap) {
		size_t cap = img->pfree_cap ? img->pfree_cap * 2 : 256;
		uint64_t *np = realloc(img->pfree, cap * sizeof(*np));
		if (!np)
			return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory",
					    img->path);
		img->pfree = np;
		img->pfree_cap = cap;
	}
	img->pfree[img->npfree++] = host_off;
	return 0;
}

void pcow_trim_tail_locked(struct pcow *img)
{
	uint64_t n = img->nclusters, size;

	while (n > img->first_data && !img->refc[n - 1])
		n--;
	/* also drops a free tail that was never tracked (beyond nclusters) */
	if (img->io->size(img->ioctx, &size) == 0 && size > (n << img->cbits))
		img->io->truncate(img->ioctx, n << img->cbits);
	if (n == img->nclusters)
		return;
	img->nclusters = n;
	if (img->hint > n)
		img->hint = n;
}

void pcow_trim_tail(struct pcow *img)
{
	pthread_mutex_lock(&img->lock);
	pcow_trim_tail_locked(img);
	pthread_mutex_unlock(&img->lock);
}

/* Called once the metadata that dropped these references is durable. */
int pcow_release_deferred(struct pcow *img)
{
	pthread_mutex_lock(&img->lock);
	for (size_t i = 0; i < img->npfree; i++) {
		uint64_t c = img->pfree[i] >> img->cbits;
		if (c >= img->nclusters || c < img->first_data)
			continue;
		uint8_t *rc = &img->refc[c];
		if (*rc == REFC_META || *rc == 1)
			*rc = 0;
		else if (*rc > 1 && *rc < 250)
			(*rc)--;
		if (!*rc) {
			if (img->io->punch)
				img->io->punch(img->ioctx, c << img->cbits, img->csize);
			if (c < img->hint)
				img->hint = c;
		}
	}
	img->npfree = 0;
	pcow_trim_tail_locked(img);
	pthread_mutex_unlock(&img->lock);
	return 0;
}

int pcow_reserve(struct pcow *img, unsigned n)
{
	int r = 0;

	if (!img->rw)
		return pcow_set_err(img, PCOW_ERDONLY, "%s: read-only", img->path);
	pthread_mutex_lock(&img->lock);
	if (img->nreserve + (uint64_t)n > img->reserve_cap) {
		unsigned cap = img->nreserve + n;
		uint64_t *nr = realloc(img->reserve, cap * sizeof(*nr));
		if (!nr) {
			r = pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
			goto out;
		}
		img->reserve = nr;
		img->reserve_cap = cap;
	}
	uint64_t c = img->nclusters;
	if (img->io->fallocate) {
		int e = img->io->fallocate(img->ioctx, c << img->cbits,
					   (uint64_t)n << img->cbits);
		if (e) {
			r = pcow_set_err(img, PCOW_EIO, "%s: preallocating %u clusters: %s",
					 img->path, n, strerror(-e));
			goto out;
		}
	}
	r = pcow_refc_track(img, c + n);
	if (r)
		goto out;
	/* hand out lowest first: push in reverse */
	for (unsigned i = n; i-- > 0;) {
		img->refc[c + i] = REFC_PIN;
		img->reserve[img->nreserve++] = c + i;
	}
	r = (int)img->nreserve;
out:
	pthread_mutex_unlock(&img->lock);
	return r;
}

unsigned pcow_reserved(struct pcow *img)
{
	unsigned n;

	pthread_mutex_lock(&img->lock);
	n = img->nreserve;
	pthread_mutex_unlock(&img->lock);
	return n;
}
