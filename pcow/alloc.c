/*
 * alloc.c - libpcow's cluster accounting and allocation: the per-cluster
 * counts of the file and the walk of every table that makes them, once, on
 * first need (pcow_account(): not at open), allocation (single,
 * contiguous, reserved ahead for callers that must not fail later),
 * deferred frees released after a metadata commit, and trimming the
 * file's free tail.
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

	if (!img->refc)	/* every writer counts first (pcow_account) */
		return pcow_set_err(img, PCOW_EIO, "%s: internal: allocation before "
				    "the clusters were counted", img->path);
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
	if (!img->refc)
		return pcow_set_err(img, PCOW_EIO, "%s: internal: allocation before "
				    "the clusters were counted", img->path);
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

	if (!img->refc)
		return;	/* not counted: nothing is known to be free */
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
	r = pcow_account(img);	/* the free clusters must be known */
	if (r)
		return r;
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

/* ---- counting cluster ownership (first need) ---- */

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

/* L1 chunks read at once by the walk (256 KiB) */
#define WALK_CHUNKS 64u

static bool all_zero64(const uint8_t *b, uint64_t n)
{
	uint64_t acc = 0;

	for (uint64_t i = 0; i < n; i++)
		acc |= get_le64(b + i * 8);
	return !acc;
}

/* the L2 tables found by pass 1, for pass 2 */
struct tref {
	uint64_t off;
	uint32_t li, j;
};
struct trefs {
	struct tref *v;
	size_t n, cap;
};

static int trefs_add(struct pcow *img, struct trefs *t, uint64_t off, uint32_t li,
		     uint32_t j)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct tref *nv = realloc(t->v, cap * sizeof(*nv));
		if (!nv)
			return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
		t->v = nv;
		t->cap = cap;
	}
	t->v[t->n++] = (struct tref){ off, li, j };
	return 0;
}

/*
 * Pass 1 for layer li: its L1 clusters and every L2 table it names are
 * metadata. The L1 is read a chunk at a time. Lenient (check): damaged
 * entries are reported and dropped, and the layer's chunks stay in memory
 * (compact: empty chunks are the shared one) so a repair rewrites the
 * layer without them; otherwise nothing is kept.
 */
static int account_l1(struct pcow *img, unsigned li, struct trefs *tr, uint8_t *blk)
{
	struct layer *l = &img->layers[li];
	uint64_t ncl = ((uint64_t)l->l1_disk_n * 8 + img->csize - 1) >> img->cbits;
	uint64_t off[L1_CHUNK];
	uint32_t nchunks = pcow_chunk_count(l->l1_disk_n);
	int r;

	if (ncl) {
		r = mark_meta(img, l->l1_off, ncl, "L1 table");
		if (r)
			return r;
	}
	for (uint32_t ci = 0; ci < nchunks; ci++) {
		uint32_t first = ci << L1_CHUNK_BITS, n = l->l1_disk_n - first;
		unsigned dropped = 0;
		uint8_t *raw = blk + (size_t)(ci % WALK_CHUNKS) * L1_CHUNK * 8;
		if (n > L1_CHUNK)
			n = L1_CHUNK;
		if (ci % WALK_CHUNKS == 0) {
			/* the next WALK_CHUNKS chunks in one read */
			uint64_t left = (uint64_t)l->l1_disk_n - first;
			uint64_t len = left < (uint64_t)WALK_CHUNKS * L1_CHUNK ?
				left : (uint64_t)WALK_CHUNKS * L1_CHUNK;
			r = pcow_file_pread(img, blk, len * 8, l->l1_off + first * 8ULL);
			if (r)
				return r;
			if (all_zero64(blk, len)) {
				/* no table in these chunks (most of a big L1) */
				uint32_t last = ci + (uint32_t)((len + L1_CHUNK - 1) / L1_CHUNK);
				for (; img->lenient && ci < last; ci++) {
					r = pcow_chunk_install(img, li, ci, off, 0);
					if (r)
						return r;
				}
				ci = last - 1;	/* the loop's ci++ */
				continue;
			}
		}
		r = pcow_decode_l1(img, li, ci, raw, n, off, img->lenient, &dropped);
		if (r)
			return r;
		for (uint32_t k = 0; k < n; k++) {
			if (!off[k])
				continue;
			r = mark_meta(img, off[k], 1, "L2 table");
			if (r && img->lenient) {
				pcow_problem(img, "layer %u: %s (dropped)", li, img->err.msg);
				off[k] = 0;
				dropped++;
				continue;
			}
			if (!r)
				r = trefs_add(img, tr, off[k], li, first + k);
			if (r)
				return r;
		}
		if (img->lenient) {
			r = pcow_chunk_install(img, li, ci, off, n);
			if (r)
				return r;
		}
		if (dropped)
			l->rewrite = true;
	}
	return 0;
}

/* Pass 2 for one L2 table: count its data references. *tabp: a buffer
 * for the decoded table, taken (set to NULL) when a lenient check keeps it. */
static int account_l2(struct pcow *img, const struct tref *t, uint8_t *raw,
		      uint64_t **tabp)
{
	uint64_t *tab = *tabp;
	unsigned dropped = 0;
	int r = pcow_file_pread(img, raw, img->csize, t->off);

	if (!r)
		r = pcow_decode_l2(img, t->li, t->j, t->off, raw, tab, img->lenient, &dropped);
	if (r)
		return r;
	for (uint32_t k = 0; k < img->l2_entries; k++) {
		uint64_t h = tab[k], hc = h >> img->cbits;
		if (!h || h == MEM_ZERO)
			continue;
		if (hc < img->nclusters && img->refc[hc] >= REFC_META) {
			uint64_t vc = (uint64_t)t->j * img->l2_entries + k;
			if (!img->lenient)
				return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u cluster "
						    "%llu: data cluster overlaps metadata",
						    img->path, t->li, (unsigned long long)vc);
			pcow_problem(img, "layer %u cluster %llu: data cluster overlaps "
				     "metadata (dropped)", t->li, (unsigned long long)vc);
			tab[k] = 0;
			dropped++;
			continue;
		}
		r = pcow_refc_track(img, hc + 1);	/* on demand */
		if (r)
			return r;
		pcow_refc_inc(img, h);
	}
	if (dropped) {
		/* keep the cleaned table: a repair writes it without them */
		img->layers[t->li].rewrite = true;
		r = pcow_table_install(img, t->li, t->j, tab);
		if (!r)
			*tabp = NULL;
		return r;
	}
	return 0;
}

static int account_walk(struct pcow *img)
{
	struct trefs tr = { 0 };
	uint8_t *raw = NULL;
	uint64_t *tab = NULL;
	int r;

	r = pcow_refc_track(img, img->first_data);
	if (r)
		return r;
	memset(img->refc, REFC_PIN, img->first_data);
	r = mark_meta(img, img->cat_off, (img->cat_len + img->csize - 1) >> img->cbits,
		      "catalog");
	if (!r)
		r = pcow_area_account(img, &img->labels) ?: pcow_area_account(img, &img->bad);
	raw = malloc((size_t)WALK_CHUNKS * L1_CHUNK * 8 > img->csize ?
		     (size_t)WALK_CHUNKS * L1_CHUNK * 8 : img->csize);
	tab = pcow_tab_new(img);
	if (!r && (!raw || !tab))
		r = pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
	for (unsigned i = 0; i < img->nlayers && !r; i++)
		r = account_l1(img, i, &tr, raw);
	for (size_t i = 0; i < tr.n && !r; i++) {
		if (!tab && !(tab = pcow_tab_new(img)))
			r = -PCOW_ENOMEM;
		if (!r)
			r = account_l2(img, &tr.v[i], raw, &tab);
	}
	free(raw);
	pcow_tab_put(tab);
	free(tr.v);
	return r;
}

/*
 * Count who owns each cluster (refc), once, on first need: the first
 * write, allocation, reservation, translation of a data cluster, count
 * (pcow_get_info) or check. Opening and reading never do: they read the
 * catalog and, on first use, only the L1 chunks and L2 tables they touch.
 * The walk streams: one L1 chunk and one L2 table at a time, nothing kept
 * (but what a lenient check drops). A failure is kept: every later call
 * returns it (the image is corrupt).
 */
int pcow_account(struct pcow *img)
{
	int r = 0;

	if (img->raw || __atomic_load_n(&img->acct_done, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&img->acct_lock);
	if (img->acct_done) {
		;
	} else if (img->acct_err) {
		r = pcow_set_err(img, img->acct_err, "%s", img->acct_msg);
	} else if (img->refc) {
		/* created in this session: counted from the start */
		__atomic_store_n(&img->acct_done, true, __ATOMIC_RELEASE);
	} else {
		r = account_walk(img);
		if (r) {
			img->acct_err = -r;
			snprintf(img->acct_msg, sizeof(img->acct_msg), "%s", img->err.msg);
			if (img->refc)
				munmap(img->refc, img->refc_cap);
			img->refc = NULL;
			img->refc_cap = img->nclusters = 0;
		} else {
			__atomic_store_n(&img->acct_done, true, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&img->acct_lock);
	return r;
}
