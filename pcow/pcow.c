/*
 * pcow.c - libpcow core: errors, on-disk encodings, open/create/close,
 * the cluster allocator, translation, and the read/write/flush data path.
 *
 * Metadata commits (catalog + root switch) live in meta.c, snapshot and
 * image operations in ops.c, check/repair in check.c. docs/pcow-format.md
 * is the format; every value read from the file is checked against it
 * before use.
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
#include "opts.h"

/* ---- errors ---- */

const char *pcow_strerror(int code)
{
	static const char *const names[] = {
		"success", "I/O error", "invalid argument", "out of memory",
		"not a pcow image", "image corrupt", "unsupported image",
		"already exists", "not found", "base image problem",
		"image is read-only", "operation not possible now",
	};

	if (code < 0)
		code = -code;
	if ((size_t)code < sizeof(names) / sizeof(names[0]))
		return names[code];
	return "unknown error";
}

static void vfill(struct pcow_error *e, int code, const char *fmt, va_list ap)
{
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int pcow_set_err(struct pcow *img, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfill(&img->err, code, fmt, ap);
	va_end(ap);
	return -code;
}

int pcow_err_fill(struct pcow_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		va_start(ap, fmt);
		vfill(e, code, fmt, ap);
		va_end(ap);
	}
	return -code;
}

void pcow_problem(struct pcow *img, const char *fmt, ...)
{
	char msg[PCOW_ERRMSG_MAX];
	va_list ap;

	img->load_corrupt++;
	if (!img->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	img->report(img->report_ctx, msg);
}

const char *pcow_errmsg(const struct pcow *img)
{
	return img->err.msg;
}

int pcow_errcode(const struct pcow *img)
{
	return img->err.code;
}

/* ---- encodings ---- */

uint32_t pcow_crc32(const void *buf, size_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);
	const uint8_t *p = buf;

	while (len) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		c = crc32(c, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)c;
}

/*
 * The fuzz target's copy of the library is built with PCOW_FUZZING: checksum
 * and check-bit mismatches are then ignored, so mutated images reach the
 * bounds checks behind them (which must hold on their own).
 */
#ifdef PCOW_FUZZING
#define CHECKSUM_BAD(cond) ((void)(cond), 0)
#else
#define CHECKSUM_BAD(cond) (cond)
#endif

/* splitmix64's finaliser: the entry check function (pcow-format.md) */
static uint64_t mix64(uint64_t z)
{
	z ^= z >> 30;
	z *= 0xbf58476d1ce4e5b9ULL;
	z ^= z >> 27;
	z *= 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z;
}

uint64_t entry_encode(uint64_t host_off, unsigned cbits, uint64_t pos, unsigned flags)
{
	uint64_t e = ((host_off >> cbits) << 20) | ((uint64_t)(flags & 0xf) << 16);

	if (!e)
		return 0;
	return e | (mix64(e ^ pos) >> 48);
}

int entry_decode(uint64_t raw, unsigned cbits, uint64_t pos, uint64_t *host_off,
		 unsigned *flags)
{
	uint64_t e = raw & ~0xffffULL;

	*host_off = 0;
	*flags = 0;
	if (!raw)
		return 0;
	if (!e || CHECKSUM_BAD((mix64(e ^ pos) >> 48) != (raw & 0xffff)))
		return -1;
	*flags = (unsigned)(e >> 16) & 0xf;
	if (*flags & ~PCOW_ENTRY_ZERO)
		return -1;
	uint64_t c = e >> 20;
	if (c > (UINT64_MAX >> cbits))
		return -1;
	*host_off = c << cbits;
	return 0;
}

uint32_t l1_entries_for(uint64_t vsize, unsigned cbits)
{
	uint64_t span = 1ULL << (cbits + cbits - 3);	/* bytes per L2 table */
	uint64_t n = (vsize + span - 1) / span;

	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* ---- I/O ---- */

int img_pread(struct pcow *img, void *buf, size_t len, uint64_t off)
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

int img_pwrite(struct pcow *img, const void *buf, size_t len, uint64_t off)
{
	int r = img->io->pwrite(img->ioctx, buf, len, off);

	if (r)
		return pcow_set_err(img, PCOW_EIO, "%s: write of %zu bytes at %llu: %s",
				    img->path, len, (unsigned long long)off, strerror(-r));
	return 0;
}

int img_flush(struct pcow *img)
{
	if (img->flags & PCOW_NO_FLUSH)
		return 0;
	int r = img->io->flush(img->ioctx);

	if (r)
		return pcow_set_err(img, PCOW_EIO, "%s: flush: %s", img->path,
				    strerror(-r));
	return 0;
}

/* ---- cluster accounting and allocation ---- */

/*
 * The counts live in an anonymous mapping grown with mremap(): pages never
 * written stay unbacked, so a hostile table entry naming a cluster far out
 * in a sparse file costs address space, not memory. Invariant: every count
 * at or beyond nclusters is zero (trim_tail_locked() only drops zero
 * counts), so growing needs no clearing.
 */
int refc_track(struct pcow *img, uint64_t n)
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

void refc_inc(struct pcow *img, uint64_t host_off)
{
	uint64_t c = host_off >> img->cbits;

	pthread_mutex_lock(&img->lock);
	if (c < img->nclusters && img->refc[c] < 250)
		img->refc[c]++;
	pthread_mutex_unlock(&img->lock);
}

/* The count of the cluster at host_off. Locked: pcow_reserve() may move the
 * array from another thread. */
static uint8_t refc_get(struct pcow *img, uint64_t host_off)
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
		r = refc_track(img, c + 1);
		if (r)
			return r;
	}
	img->refc[c] = kind;
	img->hint = c + 1;
	*host_off = c << img->cbits;
	return 0;
}

static int alloc_kind(struct pcow *img, uint8_t kind, uint64_t *host_off)
{
	int r;

	pthread_mutex_lock(&img->lock);
	r = alloc_locked(img, kind, host_off);
	pthread_mutex_unlock(&img->lock);
	return r;
}

int alloc_cluster(struct pcow *img, uint64_t *host_off)
{
	return alloc_kind(img, 1, host_off);
}



/* n contiguous metadata clusters at the end of the file */
int alloc_contig(struct pcow *img, uint64_t n, uint64_t *host_off)
{
	int r;

	if (n == 1)
		return alloc_kind(img, REFC_META, host_off);
	pthread_mutex_lock(&img->lock);
	uint64_t c = img->nclusters;
	r = refc_track(img, c + n);
	if (!r) {
		memset(img->refc + c, REFC_META, n);
		*host_off = c << img->cbits;
	}
	pthread_mutex_unlock(&img->lock);
	return r;
}

int defer_free(struct pcow *img, uint64_t host_off)
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

static void trim_tail_locked(struct pcow *img)
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

void trim_tail(struct pcow *img)
{
	pthread_mutex_lock(&img->lock);
	trim_tail_locked(img);
	pthread_mutex_unlock(&img->lock);
}

/* Called once the metadata that dropped these references is durable. */
int release_deferred(struct pcow *img)
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
	trim_tail_locked(img);
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
	r = refc_track(img, c + n);
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

/* ---- layers and entries ---- */

uint64_t *entry_slot(struct pcow *img, struct layer *l, uint64_t vc)
{
	uint64_t idx = vc / img->l2_entries;

	if (idx >= l->l1_entries || !l->l2[idx])
		return NULL;
	return &l->l2[idx][vc % img->l2_entries];
}

/* Make sure layer li has the L2 table covering vc (a new one is written at
 * the next flush or commit). */
static int ensure_table(struct pcow *img, unsigned li, uint64_t vc)
{
	struct layer *l = &img->layers[li];
	uint64_t idx = vc / img->l2_entries, t;
	int r;

	if (idx >= l->l1_entries)
		return pcow_set_err(img, PCOW_EINVAL, "%s: cluster %llu beyond layer size",
				    img->path, (unsigned long long)vc);
	if (l->l2[idx])
		return 0;
	l->l2[idx] = calloc(img->l2_entries, sizeof(uint64_t));
	if (!l->l2[idx])
		return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
	r = alloc_kind(img, REFC_META, &t);
	if (r) {
		free(l->l2[idx]);
		l->l2[idx] = NULL;
		return r;
	}
	l->l1[idx] = t;
	l->l2_state[idx] = T_NEW;
	l->l1_dirty = true;
	return 0;
}

int entry_set(struct pcow *img, unsigned li, uint64_t vc, uint64_t val)
{
	struct layer *l = &img->layers[li];
	uint64_t idx = vc / img->l2_entries;
	int r;

	if (idx < l->l1_entries && !l->l2[idx] && !val)
		return 0;
	r = ensure_table(img, li, vc);
	if (r)
		return r;
	if (l->l2_state[idx] == T_CLEAN)
		l->l2_state[idx] = T_DIRTY;
	l->l2[idx][vc % img->l2_entries] = val;
	return 0;
}

void layer_free_tables(struct layer *l)
{
	if (l->l2)
		for (uint32_t i = 0; i < l->l1_entries; i++)
			free(l->l2[i]);
	free(l->l2);
	free(l->l1);
	free(l->l2_state);
	l->l1 = NULL;
	l->l2 = NULL;
	l->l2_state = NULL;
}

void layer_free(struct layer *l)
{
	layer_free_tables(l);
	free(l->name);
	l->name = NULL;
}

int layer_alloc_l1(struct pcow *img, struct layer *l, uint64_t vsize)
{
	uint32_t n = l1_entries_for(vsize, img->cbits);

	if (n > PCOW_MAX_L1_ENTRIES)
		return pcow_set_err(img, PCOW_EINVAL,
				    "%s: virtual size %llu too large for %llu-byte clusters",
				    img->path, (unsigned long long)vsize,
				    (unsigned long long)img->csize);
	l->l1_entries = n;
	l->vsize = vsize;
	l->l1 = calloc(n ? n : 1, sizeof(uint64_t));
	l->l2 = calloc(n ? n : 1, sizeof(uint64_t *));
	l->l2_state = calloc(n ? n : 1, 1);
	if (!l->l1 || !l->l2 || !l->l2_state) {
		layer_free_tables(l);
		return pcow_set_err(img, PCOW_ENOMEM, "%s: out of memory", img->path);
	}
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
int read_layer(struct pcow *img, int li, void *buf, size_t len, uint64_t off)
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
		uint64_t *e = entry_slot(img, l, off >> img->cbits);
		if (e && *e == MEM_ZERO) {
			memset(buf, 0, len);
			return 0;
		}
		if (e && *e)
			return img_pread(img, buf, len, *e + (off & (img->csize - 1)));
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
		int r = read_layer(img, (int)img->active, buf, n, off);
		if (r)
			return r;
		buf = (char *)buf + n;
		off += n;
		len -= n;
	}
	return 0;
}

/* ---- translation ---- */

static void classify(struct pcow *img, uint64_t vc, enum pcow_map_kind *kind,
		     uint64_t *host, unsigned *layer)
{
	unsigned li = img->active;
	uint64_t off = vc << img->cbits;

	unsigned hops = 0;

	*host = 0;
	*layer = 0;
	while (li != PCOW_NO_PARENT) {
		if (li >= img->nlayers || hops++ >= img->nlayers) {
			*kind = PCOW_MAP_HOLE;	/* unreachable: catalog_parse() checks */
			return;
		}
		struct layer *l = &img->layers[li];
		if (off >= l->vsize) {
			*kind = PCOW_MAP_HOLE;
			return;
		}
		uint64_t *e = entry_slot(img, l, vc);
		if (e && *e == MEM_ZERO) {
			*kind = PCOW_MAP_ZERO;
			return;
		}
		if (e && *e) {
			*kind = li == img->active ? PCOW_MAP_DATA : PCOW_MAP_LOWER;
			*host = *e;
			*layer = li;
			return;
		}
		li = l->parent;
	}
	*kind = img->base_fmt && img->base && off < img->base->vsize ?
		PCOW_MAP_BASE : PCOW_MAP_HOLE;
}

/* Clusters from vc to the end of its L2 span if no layer of the active
 * chain has a table there, else 0. */
static uint64_t table_gap(struct pcow *img, uint64_t vc)
{
	uint64_t idx = vc / img->l2_entries;

	unsigned hops = 0;

	for (unsigned li = img->active; li != PCOW_NO_PARENT; li = img->layers[li].parent) {
		if (li >= img->nlayers || hops++ >= img->nlayers)
			return 0;	/* unreachable: catalog_parse() checks */
		struct layer *l = &img->layers[li];
		if (idx < l->l1_entries && l->l2[idx])
			return 0;
	}
	return img->l2_entries - vc % img->l2_entries;
}

int pcow_translate(struct pcow *img, uint64_t off, uint64_t limit, struct pcow_map *m)
{
	enum pcow_map_kind k, k2;
	uint64_t host, host2, vc, end;
	unsigned layer, layer2;

	memset(m, 0, sizeof(*m));
	if (off >= img->vsize)
		return pcow_set_err(img, PCOW_EINVAL, "%s: offset %llu beyond virtual size",
				    img->path, (unsigned long long)off);
	if (limit == 0 || limit > img->vsize - off)
		limit = img->vsize - off;
	if (img->raw) {
		m->kind = PCOW_MAP_DATA;
		m->host_off = off;
		m->len = limit;
		return 0;
	}
	vc = off >> img->cbits;
	classify(img, vc, &k, &host, &layer);
	end = (vc + 1) << img->cbits;
	while (end - off < limit) {
		uint64_t span = table_gap(img, end >> img->cbits);
		if (span && (k == PCOW_MAP_HOLE || k == PCOW_MAP_BASE)) {
			/* no layer has a table here: same kind to the table's end,
			 * unless the base's size or a layer's size ends inside */
			uint64_t te = ((end >> img->cbits) + span) << img->cbits;
			classify(img, end >> img->cbits, &k2, &host2, &layer2);
			uint64_t last = te - img->csize;
			enum pcow_map_kind k3;
			uint64_t h3;
			unsigned l3;
			classify(img, last >> img->cbits, &k3, &h3, &l3);
			if (k2 == k && k3 == k) {
				end = te;
				continue;
			}
		}
		classify(img, end >> img->cbits, &k2, &host2, &layer2);
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
		m->shared = refc_get(img, host) > 1;
	} else if (k == PCOW_MAP_BASE) {
		m->host_off = off;
	}
	return 0;
}

/* ---- writing ---- */

static int check_writable(struct pcow *img)
{
	if (img->broken)
		return pcow_set_err(img, PCOW_EIO,
				    "%s: an earlier metadata update failed; reopen the image",
				    img->path);
	if (!img->rw || img->raw)
		return pcow_set_err(img, PCOW_ERDONLY, "%s: image is opened read-only",
				    img->path);
	return bump_data_gen(img);
}

/* Give the active layer its own copy of cluster vc; *host gets its offset. */
static int cow_cluster(struct pcow *img, uint64_t vc, const void *data,
		       size_t dlen, size_t doff, uint64_t *host)
{
	uint64_t *e = entry_slot(img, &img->layers[img->active], vc);
	uint64_t old = e ? *e : 0, nh;
	int r;

	if (old && old != MEM_ZERO && refc_get(img, old) == 1) {
		*host = old;
		if (dlen)
			return img_pwrite(img, data, dlen, old + doff);
		return 0;
	}
	/* the table first, so consecutive data clusters stay contiguous */
	r = ensure_table(img, img->active, vc);
	if (r)
		return r;
	r = alloc_cluster(img, &nh);
	if (r)
		return r;
	if (dlen == img->csize) {
		r = img_pwrite(img, data, dlen, nh);
	} else {
		r = read_layer(img, (int)img->active, img->zbuf, img->csize,
			       vc << img->cbits);
		if (!r) {
			if (dlen)
				memcpy(img->zbuf + doff, data, dlen);
			r = img_pwrite(img, img->zbuf, img->csize, nh);
		}
		memset(img->zbuf, 0, img->csize);
	}
	if (!r)
		r = entry_set(img, img->active, vc, nh);
	if (r) {
		defer_free(img, nh);
		return r;
	}
	*host = nh;
	return defer_free(img, old);
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
		return img_pwrite(img, buf, len, off);
	}
	r = check_writable(img);
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
		uint64_t *e = entry_slot(img, &img->layers[img->active], vc);
		uint64_t old = e ? *e : 0;
		bool in_place = old && old != MEM_ZERO && refc_get(img, old) == 1;
		if (n == img->csize && !in_place) {
			r = ensure_table(img, img->active, vc);
			if (!r)
				r = alloc_cluster(img, &host);
			if (r)
				break;
			if (blen && (host != bhost + blen || (const char *)buf != bdata + blen)) {
				r = img_pwrite(img, bdata, blen, bhost);
				blen = 0;
				if (r) {
					defer_free(img, host);
					break;
				}
			}
			if (!blen) {
				bhost = host;
				bdata = buf;
			}
			blen += n;
			r = entry_set(img, img->active, vc, host);
			if (!r)
				r = defer_free(img, old);
		} else {
			if (blen) {
				r = img_pwrite(img, bdata, blen, bhost);
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
		int r2 = img_pwrite(img, bdata, blen, bhost);
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
	r = check_writable(img);
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
		return img->rw ? img_flush(img) : 0;
	if (!img->rw)
		return 0;
	if (img->broken)
		return pcow_set_err(img, PCOW_EIO, "%s: image is broken", img->path);
	return data_flush(img);
}

/* ---- open ---- */

static char *dir_of(const char *path)
{
	const char *s = strrchr(path, '/');

	if (!s)
		return strdup(".");
	if (s == path)
		return strdup("/");
	return strndup(path, (size_t)(s - path));
}

struct root {
	uint64_t incompat, compat, gen, vsize, data_gen, cat_off;
	uint32_t cbits, cat_len, cat_crc;
	uint8_t uuid[16];
};

/* 1 valid, 0 invalid, -PCOW_EUNSUPPORTED */
static int root_parse(const uint8_t *s, struct root *rt)
{
	if (memcmp(s, PCOW_MAGIC, 8))
		return 0;
	if (CHECKSUM_BAD(get_le32(s + 4092) != pcow_crc32(s, 4092)))
		return 0;
	if (get_le32(s + 8) != PCOW_VERSION || get_le32(s + 12) != PCOW_SLOT_SIZE)
		return -PCOW_EUNSUPPORTED;
	rt->incompat = get_le64(s + 16);
	rt->compat = get_le64(s + 24);
	rt->gen = get_le64(s + 32);
	rt->cbits = get_le32(s + 40);
	rt->vsize = get_le64(s + 48);
	memcpy(rt->uuid, s + 56, 16);
	rt->data_gen = get_le64(s + 72);
	rt->cat_off = get_le64(s + 80);
	rt->cat_len = get_le32(s + 88);
	rt->cat_crc = get_le32(s + 92);
	return 1;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Decode the catalog into img (layers without tables). */
static int catalog_parse(struct pcow *img, const uint8_t *c, uint32_t len)
{
	uint32_t nl, act, off;
	uint16_t plen;

	if (len < PCOW_CAT_HDR || memcmp(c, PCOW_CAT_MAGIC, 8))
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: bad catalog magic", img->path);
	nl = get_le32(c + 8);
	act = get_le32(c + 12);
	img->cat_flags = get_le32(c + 16);
	img->base_fmt = (int)get_le32(c + 20);
	img->base_size = get_le64(c + 24);
	memcpy(img->base_uuid, c + 32, 16);
	img->base_data_gen = get_le64(c + 48);
	plen = get_le16(c + 56);
	if (nl == 0 || nl > PCOW_MAX_LAYERS || act >= nl)
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog: bad layer count %u "
				    "(active %u)", img->path, nl, act);
	if (img->cat_flags & ~PCOW_CAT_COMMITTING)
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog: unknown flags 0x%x",
				    img->path, img->cat_flags);
	if (img->base_fmt < 0 || img->base_fmt > PCOW_FMT_PCOW ||
	    (img->base_fmt == 0) != (plen == 0))
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog: bad base format %d",
				    img->path, img->base_fmt);
	off = PCOW_CAT_HDR;
	if (plen) {
		if ((uint64_t)off + plen > len || plen > 4095 || memchr(c + off, 0, plen))
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog: bad base path",
					    img->path);
		img->base_path = strndup((const char *)c + off, plen);
		if (!img->base_path)
			return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		off += (plen + 7u) & ~7u;
	}
	img->layers = calloc(nl, sizeof(*img->layers));
	if (!img->layers)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	img->nlayers = nl;
	img->active = act;
	for (uint32_t i = 0; i < nl; i++) {
		struct layer *l = &img->layers[i];
		if ((uint64_t)off + PCOW_LAYER_REC > len)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog truncated at "
					    "layer %u", img->path, i);
		const uint8_t *p = c + off;
		l->l1_off = get_le64(p);
		l->vsize = get_le64(p + 8);
		l->ctime_ns = get_le64(p + 16);
		l->l1_entries = get_le32(p + 24);
		l->parent = get_le32(p + 28);
		l->flags = get_le32(p + 32);
		uint16_t nlen = get_le16(p + 36);
		off += PCOW_LAYER_REC;
		if ((uint64_t)off + nlen > len || nlen > PCOW_MAX_NAME ||
		    memchr(c + off, 0, nlen))
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: bad name",
					    img->path, i);
		l->name = strndup((const char *)c + off, nlen);
		if (!l->name)
			return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		off += (nlen + 7u) & ~7u;
		if (l->parent != PCOW_NO_PARENT && l->parent >= i)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: parent %u "
					    "not below it", img->path, i, l->parent);
		/* the active layer is a leaf: nothing may hang below it */
		if (l->parent == act)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: parent %u "
					    "is the active layer", img->path, i, l->parent);
		if (l->flags & ~PCOW_LAYER_SNAPSHOT)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: bad flags",
					    img->path, i);
		bool snap = l->flags & PCOW_LAYER_SNAPSHOT;
		if (snap == (i == act) || snap != (nlen > 0))
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: active/"
					    "snapshot state inconsistent", img->path, i);
		if (l->vsize > PCOW_MAX_VIRTUAL_SIZE ||
		    l->l1_entries != l1_entries_for(l->vsize, img->cbits) ||
		    l->l1_entries > PCOW_MAX_L1_ENTRIES)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: size %llu "
					    "and table size %u disagree", img->path, i,
					    (unsigned long long)l->vsize, l->l1_entries);
	}
	/* unique snapshot names: sorted, O(n log n) (65536 layers) */
	{
		const char **nm = malloc(nl * sizeof(*nm));
		uint32_t n = 0;
		if (!nm)
			return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		for (uint32_t i = 0; i < nl; i++)
			if (i != act)
				nm[n++] = img->layers[i].name;
		qsort(nm, n, sizeof(*nm), cmp_name);
		for (uint32_t i = 1; i < n; i++)
			if (!strcmp(nm[i - 1], nm[i])) {
				free(nm);
				return pcow_set_err(img, PCOW_ECORRUPT, "%s: duplicate "
						    "snapshot names", img->path);
			}
		free(nm);
	}
	if (img->layers[act].vsize != img->vsize)
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: active layer size %llu != "
				    "virtual size %llu", img->path,
				    (unsigned long long)img->layers[act].vsize,
				    (unsigned long long)img->vsize);
	return 0;
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
	if (refc_track(img, c + n))
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
		r = layer_alloc_l1(img, l, vs);
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
		r = img_pread(img, raw, bytes, l->l1_off);
		for (uint32_t j = 0; j < l->l1_entries && !r; j++) {
			uint64_t pos = l->l1_off + j * 8ULL, t;
			unsigned fl;
			if (entry_decode(get_le64(raw + j * 8), img->cbits, pos, &t, &fl) ||
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
			r = img_pread(img, tb, csz, l->l1[j]);
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
				if (entry_decode(get_le64(tb + k * 8), img->cbits, pos, &h, &fl))
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
					r = refc_track(img, hc + 1);	/* on demand */
					if (r)
						break;
					l->l2[j][k] = h;
					refc_inc(img, h);
				}
			}
		}
	}
	free(tb);
	return r;
}

/*
 * Open an image file. A base image's path comes from another (possibly
 * hostile) image, so its last component must not be a symlink; any image
 * must be a regular file (O_NONBLOCK keeps a FIFO from blocking the open;
 * it is cleared once the type is known). Returns an fd or -errno.
 */
static int open_image_fd(const char *path, bool rw, bool base)
{
	struct stat st;
	int fd, fl;

	fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK |
		  (base ? O_NOFOLLOW : 0));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static const char *open_errstr(int e)
{
	if (e == -ELOOP)
		return "a symbolic link (refused for base images)";
	if (e == -EINVAL)
		return "not a regular file";
	return strerror(-e);
}

int pcow_open_raw_base(struct pcow *img, const char *path, unsigned flags)
{
	struct pcow *b = calloc(1, sizeof(*b));
	int fd;

	if (!b)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	pthread_mutex_init(&b->lock, NULL);
	b->raw = true;
	b->rw = flags & PCOW_RDWR;
	b->path = strdup(path);
	b->open_io = img->open_io;
	b->open_ctx = img->open_ctx;
	if (img->open_io) {
		int e = img->open_io(img->open_ctx, path, b->rw, false, &b->io, &b->ioctx);
		if (e) {
			pcow_close(b);
			return pcow_set_err(img, PCOW_EBASE, "%s: base image %s: %s", img->path,
					    path, strerror(-e));
		}
	} else {
		fd = open_image_fd(path, b->rw, true);
		if (fd < 0) {
			pcow_close(b);
			return pcow_set_err(img, PCOW_EBASE, "%s: base image %s: %s", img->path,
					    path, open_errstr(fd));
		}
		b->io = &pcow_fd_io_ops;
		b->ioctx = pcow_fd_io_new(fd);
		if (!b->ioctx) {
			close(fd);
			pcow_close(b);
			return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		}
	}
	b->io->size(b->ioctx, &b->vsize);
	b->csize = 1ULL << PCOW_DEFAULT_CLUSTER_BITS;
	b->cbits = PCOW_DEFAULT_CLUSTER_BITS;
	img->base = b;
	return 0;
}

static char *resolve_base(struct pcow *img, const char *p)
{
	char *out;

	if (p[0] == '/' || !img->dir)
		return strdup(p);
	if (asprintf(&out, "%s/%s", img->dir, p) < 0)
		return NULL;
	return out;
}

int open_base(struct pcow *img, unsigned flags)
{
	struct pcow_error e;
	char *p;
	int r = 0;

	if (!img->base_fmt)
		return 0;
	if (img->depth + 1 >= PCOW_MAX_BASE_DEPTH)
		return pcow_set_err(img, PCOW_EBASE, "%s: base chain deeper than %d (a loop?)",
				    img->path, PCOW_MAX_BASE_DEPTH);
	p = resolve_base(img, img->base_path);
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
		struct pcow_open_opts o = { .flags = flags & (PCOW_RDWR | PCOW_FORCE_BASE),
					    .open_io = img->open_io, .open_ctx = img->open_ctx };
		struct pcow *b = pcow_open_internal(p, &o, img->depth + 1, false, NULL,
						    NULL, &e);
		if (!b) {
			r = pcow_set_err(img, PCOW_EBASE, "%s: base image: %s", img->path,
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
	img->dir = dir_of(path);
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
		int fd = open_image_fd(path, img->rw, depth > 0);
		if (fd < 0) {
			pcow_set_err(img, fd == -ENOENT ? PCOW_ENOENT : PCOW_EIO, "%s: %s",
				     path, open_errstr(fd));
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
		v[i] = root_parse(slots[i], &rt[i]);
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
	if (refc_track(img, img->first_data))
		goto fail;
	memset(img->refc, REFC_PIN, img->first_data);
	{
		uint8_t *cat = malloc(img->cat_len);
		if (!cat) {
			pcow_set_err(img, PCOW_ENOMEM, "out of memory");
			goto fail;
		}
		r = img_pread(img, cat, img->cat_len, img->cat_off);
		if (!r && CHECKSUM_BAD(pcow_crc32(cat, img->cat_len) != cur->cat_crc))
			r = pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog checksum mismatch",
					 path);
		if (!r)
			r = catalog_parse(img, cat, img->cat_len);
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
		r = open_base(img, o->flags & PCOW_FORCE_BASE);
		if (r && !lenient)
			goto fail;
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
	int fd = open_image_fd(path, false, false);	/* never blocks on a FIFO */
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
		r = data_flush(img);
		pthread_mutex_lock(&img->lock);
		while (img->nreserve)
			img->refc[img->reserve[--img->nreserve]] = 0;
		trim_tail_locked(img);
		pthread_mutex_unlock(&img->lock);
	} else if (img->raw && img->rw && img->ioctx) {
		r = img->io->flush(img->ioctx);
	}
	if (img->base)
		pcow_close(img->base);
	for (unsigned i = 0; i < img->nlayers; i++)
		layer_free(&img->layers[i]);
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
	uint64_t l1 = ((uint64_t)l1_entries_for(vsize, cbits) * 8 + cs - 1) >> cbits;
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

int pcow_create(const char *path, const struct pcow_create_opts *o,
		struct pcow_error *err)
{
	struct pcow *img;
	struct pcow_error e;
	unsigned cbits = o->cluster_bits ? o->cluster_bits : PCOW_DEFAULT_CLUSTER_BITS;
	uint64_t vsize = o->virtual_size;
	int r, fd = -1;

	if (!path && !o->io)
		return pcow_err_fill(err, PCOW_EINVAL, "no image path");
	if (cbits < PCOW_MIN_CLUSTER_BITS || cbits > PCOW_MAX_CLUSTER_BITS)
		return pcow_err_fill(err, PCOW_EINVAL, "cluster size %llu out of range "
				     "(4K..2M, a power of two)", 1ULL << (cbits & 63));
	img = calloc(1, sizeof(*img));
	if (!img)
		return pcow_err_fill(err, PCOW_ENOMEM, "out of memory");
	pthread_mutex_init(&img->lock, NULL);
	img->path = strdup(path ? path : "(image)");
	img->dir = dir_of(img->path ? img->path : ".");
	img->cbits = cbits;
	img->csize = 1ULL << cbits;
	img->l2_entries = (uint32_t)(img->csize / 8);
	img->first_data = (PCOW_HEADER_END + img->csize - 1) >> cbits;
	img->zbuf = calloc(1, img->csize);
	img->open_io = o->open_io;
	img->open_ctx = o->open_ctx;
	if (!img->path || !img->dir || !img->zbuf) {
		r = pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		goto out;
	}
	if (o->base) {
		int fmt = o->base_format;
		char *p = resolve_base(img, o->base);
		if (!p) {
			r = pcow_set_err(img, PCOW_ENOMEM, "out of memory");
			goto out;
		}
		if (fmt == PCOW_FMT_AUTO) {
			int pr = pcow_probe(p);
			if (pr < 0) {
				r = pcow_set_err(img, PCOW_EBASE, "base image %s: %s", o->base,
						 strerror(ENOENT));
				free(p);
				goto out;
			}
			fmt = pr ? PCOW_FMT_PCOW : PCOW_FMT_RAW;
		}
		img->base_fmt = fmt;
		img->base_path = strdup(o->base);
		if (fmt == PCOW_FMT_RAW) {
			r = pcow_open_raw_base(img, p, 0);
		} else {
			struct pcow_open_opts bo = { .open_io = o->open_io,
						     .open_ctx = o->open_ctx };
			/* opened as a base (depth 1), as every later open will */
			struct pcow *b = pcow_open_internal(p, &bo, 1, false, NULL, NULL, &e);
			if (!b)
				r = pcow_set_err(img, PCOW_EBASE, "base image: %s", e.msg);
			else {
				img->base = b;
				r = 0;
			}
		}
		free(p);
		if (r)
			goto out;
		img->base_size = img->base->vsize;
		if (!img->base->raw) {
			memcpy(img->base_uuid, img->base->uuid, 16);
			img->base_data_gen = img->base->data_gen;
		}
		if (!vsize)
			vsize = img->base_size;
	}
	if (vsize > PCOW_MAX_VIRTUAL_SIZE) {
		r = pcow_set_err(img, PCOW_EINVAL, "virtual size %llu too large",
				 (unsigned long long)vsize);
		goto out;
	}
	img->vsize = vsize;
	img->layers = calloc(1, sizeof(*img->layers));
	if (!img->layers) {
		r = pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		goto out;
	}
	img->nlayers = 1;
	img->active = 0;
	img->layers[0].parent = PCOW_NO_PARENT;
	img->layers[0].ctime_ns = 0;
	img->layers[0].name = strdup("");
	r = layer_alloc_l1(img, &img->layers[0], vsize);
	if (r)
		goto out;
	img->layers[0].rewrite = true;
	if (getrandom(img->uuid, 16, 0) != 16) {
		/* fall back to time and pid: uniqueness, not secrecy */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t a = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
		uint64_t b = mix64(a ^ (uint64_t)getpid());
		memcpy(img->uuid, &a, 8);
		memcpy(img->uuid + 8, &b, 8);
	}
	if (o->io) {
		img->io = o->io;
		img->ioctx = o->io_ctx;
	} else if (o->open_io) {
		int en = o->open_io(o->open_ctx, path, true, true, &img->io, &img->ioctx);
		if (en) {
			r = pcow_set_err(img, en == -EEXIST ? PCOW_EEXIST : PCOW_EIO, "%s: %s",
					 path, strerror(-en));
			goto out;
		}
	} else {
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC |
			  (o->overwrite ? O_TRUNC : O_EXCL), 0644);
		if (fd < 0) {
			int en = errno;
			r = pcow_set_err(img, en == EEXIST ? PCOW_EEXIST : PCOW_EIO, "%s: %s",
					 path, strerror(en));
			goto out;
		}
		img->io = &pcow_fd_io_ops;
		img->ioctx = pcow_fd_io_new(fd);
		if (!img->ioctx) {
			close(fd);
			r = pcow_set_err(img, PCOW_ENOMEM, "out of memory");
			goto out;
		}
	}
	img->rw = true;
	img->bumped = true;
	img->gen = 0;
	img->data_gen = 1;
	img->slot = 1;	/* the first root goes to slot 0 */
	r = refc_track(img, img->first_data);
	if (r)
		goto out;
	memset(img->refc, REFC_PIN, img->first_data);
	/* the header: two empty slots */
	{
		uint8_t z[PCOW_HEADER_END] = { 0 };
		r = img_pwrite(img, z, sizeof(z), 0);
		if (r)
			goto out;
	}
	r = meta_commit(img);
out:
	if (r) {
		pcow_err_fill(err, img->err.code, "%s", img->err.msg);
		if (!o->io && fd >= 0 && path)
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
