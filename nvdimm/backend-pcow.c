/*
 * backend-pcow.c - an NVDIMM backed by a pcow image (docs/pcow-runtime.md).
 *
 * The guest range is a shmem placeholder (memfd, MAP_SHARED) registered
 * with userfaultfd (MISSING, plus WP where the kernel has it for shmem).
 * Clusters of the image's active layer that no snapshot shares are mapped
 * from the image file over the placeholder with mmap(MAP_FIXED|MAP_SHARED),
 * so guest loads and stores reach the file through EPT/NPT with no exit;
 * mapping a file over part of the registered range drops the registration
 * there. Everything else faults into the handler thread:
 *   read of a hole, a snapshot or base cluster -> UFFDIO_COPY of the data
 *       the guest sees there (pcow_read: zeros for a hole), write-protected,
 *       nothing allocated in the image;
 *   write (MISSING with the write flag, or WP on such a copy) ->
 *       pcow_prepare_write (allocates; copies snapshot/base data or zeroes),
 *       mmap the new cluster of the file over the placeholder, UFFDIO_WAKE.
 * The handler is serialised by one mutex (also taken by a flush); a page may
 * fault twice (the second finds the cluster mapped, or the copy there) and
 * is simply woken again. A vCPU blocked on a fault waits inside KVM.
 *
 * Writes without a fault (faultless; where KVM has a manual dirty log):
 * what the active layer does not own is mapped MAP_PRIVATE instead (holes
 * anonymous, snapshot clusters from the file; whole at start for an image
 * of one layer and no base, else per VIEW_SPAN on the span's first fault),
 * so a first store is a kernel copy-on-write inside KVM with no exit. The
 * memslot is dirty-logged; move_dirty() (before a flush, a snapshot, the
 * statistics, and periodically) moves each written cluster into the image:
 * mprotect it read-only, pwrite the guest's view to the cluster's slot, map
 * the file over it. A vCPU storing there meanwhile gets EFAULT from KVM_RUN
 * and runs again after the move (vm_mem_change_begin/end), or exits as MMIO
 * (errors.c stores through the mapping; vmm threads' stores that meet a
 * move wait in vm.c's SIGSEGV handler and are logged by vm_gpa_w or
 * vm_mem_mark_dirty). Base clusters are viewed
 * privately from the base files (base_view), unless a span's base is too
 * fragmented: those keep the userfaultfd path.
 *
 * A pre-allocator thread keeps pcow_reserve() clusters ready so a first
 * write rarely extends the file itself.
 *
 * Host mappings stay bounded: clusters are placed per aligned 4 MiB guest
 * chunk in one file range (pcow_chunk_reserve/pcow_alloc_at), the span
 * between written slots is mapped ahead where the view is zeros (pending
 * slots, given to the image at the next flush), so a chunk is one file
 * mapping whatever the write order; chunks of earlier runs are taken back
 * at start (pcow_chunk_claim).
 *
 * Live snapshots (nvdimm_pcow_snapshot_create, vCPUs paused by the caller):
 * commit pending slots, replace every file mapping by the placeholder and
 * register it again, so later stores fault into copy-on-write, then
 * pcow_snapshot_create.
 *
 * Read-only (readonly=on): the image is opened read-only and the memslot is
 * KVM_MEM_READONLY (module.c), so guest stores exit as MMIO and are dropped;
 * data clusters are mapped PROT_READ from an O_RDONLY descriptor, the rest is
 * filled by UFFDIO_COPY. Nothing can write the image.
 *
 * Locks: flock(2) exclusive on a writable image, shared on a read-only one
 * and on every base image of the chain (raw NVDIMMs take the same locks).
 *
 * Labels: the image's label storage area (pcow_label_*) is served to the
 * DSM code (dsm.c) from a copy in memory, b->label; a guest's label write
 * lands there, then nvdimm_pcow_sync_label() writes it to the image through
 * the format's commit protocol (durable before the DSM call returns; on
 * failure the copy is restored and the guest gets an error status).
 */
#include "nvdimm.h"
#include "pcow.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

#define PAGE 4096ULL
#define RESERVE_LOW 16u		/* refill below this many clusters */
#define RESERVE_TARGET 64u
#define CHUNK_BYTES (4ULL << 20)	/* guest chunk with one file range */
#define CHUNK_MAX_SLOTS 1024u		/* 4 MiB of 4 KiB clusters */
#define CHUNK_BLOCK 1024u		/* chunk records allocated together */
#define VIEW_SPAN (64ULL << 20)		/* faultless writes: view mapped per span */
#define MOVE_PERIOD_MS 1000u	/* faultless writes: background move */
#define VIEW_MAX_MAPS 4096u	/* base mappings a span's view may take */
#define VIEW_BUDGET 16384u	/* ... and all spans of a DIMM together */

/* One aligned guest chunk of CHUNK_BYTES (docs/pcow-runtime.md, "Host
 * mappings"): its clusters live at host + slot * csize. Slots lo..hi are
 * mapped from the file where the guest's view there is zeros (pending: the
 * image references them from the next flush on) or the cluster sits in its
 * slot. */
struct chunk {
	uint64_t host;		/* file offset of slot 0; 0: no range yet */
	uint32_t lo, hi;	/* the mapped span (when host) */
	bool listed;		/* in p->plist */
	uint64_t pending[CHUNK_MAX_SLOTS / 64];
};

struct nvdimm_pcow {
	struct pcow *img;
	int fd;			/* the image file: mmap, fdatasync, flock */
	int memfd;		/* placeholder */
	int uffd;
	int stopfd;		/* eventfd: wakes both threads to stop */
	uint8_t *map;
	uint64_t size, csize;
	bool readonly, wp;
	int lockfds[PCOW_MAX_BASE_DEPTH];
	int nlocks;

	pthread_mutex_t lock;	/* serialises faults, flushes, stats */
	pthread_mutex_t reserve_lock;	/* the pre-allocator's pcow_reserve vs
					 * snapshot create/delete */
	pthread_cond_t cond;	/* pre-allocator: wake up */
	pthread_t fault_thr, alloc_thr;
	bool fault_started, alloc_started, stop;
	uint8_t *buf;		/* one page, for UFFDIO_COPY */
	uint8_t *labels;	/* the label area's copy the DSM code serves */
	uint64_t label_size;

	void (*fatal)(void *opaque, const char *msg);
	void *fatal_opaque;
	bool failed;

	struct nvdimm_pcow_stats st;

	/* host-mapping bound: per-chunk file ranges */
	uint64_t nslots;		/* clusters per chunk */
	uint64_t nchunks;
	struct chunk **chunks;		/* blocks of CHUNK_BLOCK, allocated on use */
	uint64_t *plist;		/* chunks with pending slots */
	size_t nplist, plist_cap;

	/* Writes without a fault (docs/pcow-runtime.md): what is not the
	 * active layer's own is mapped MAP_PRIVATE (holes anonymous, snapshot
	 * clusters from the file) per VIEW_SPAN on its first fault, so a
	 * guest store there is copied by the kernel with no exit; KVM's dirty
	 * log finds the written pages and move_dirty() puts their clusters
	 * into the image. */
	bool faultless;
	struct nvdimm_pcow_host host;
	bool have_host;
	uint64_t *settled;	/* page bits: mapped shared from the file */
	uint64_t *dirty;	/* page bits: scratch for the dirty log */
	uint64_t *viewed;	/* span bits: the span's view is mapped */
	bool base_views;	/* base clusters may be viewed (from lockfds) */
	uint64_t *base_viewed;	/* span bits: its base clusters are viewed */
	unsigned view_maps;	/* base mappings made by views so far */
	uint64_t npages, nspans;
	uint64_t last_move_ns;
	uint64_t move_period_ns;	/* PMVM_PCOW_MOVE_MS, else MOVE_PERIOD_MS */
};

static void lock_release(struct nvdimm_pcow *p)
{
	for (int i = 0; i < p->nlocks; i++)
		close(p->lockfds[i]);
	p->nlocks = 0;
}

/* Take a shared lock on every base of the chain. Base paths are stored
 * relative to the directory of the image that names them. */
static int lock_bases(struct nvdimm_pcow *p, const char *path, char *err, size_t errlen)
{
	struct pcow *img = p->img;
	char *cur = strdup(path);

	while (cur && img) {
		struct pcow_info in;
		char *next, *slash;
		int fd;

		pcow_get_info_quick(img, &in);	/* base only: reads no table */
		if (!in.base)
			break;
		slash = strrchr(cur, '/');
		if (in.base[0] == '/' || !slash) {
			next = strdup(in.base);
		} else if (asprintf(&next, "%.*s/%s", (int)(slash - cur), cur, in.base) < 0) {
			next = NULL;
		}
		free(cur);
		cur = next;
		if (!cur)
			break;
		if (p->nlocks == PCOW_MAX_BASE_DEPTH)
			break;
		fd = open(cur, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "%s: base image %s: %s", path, cur, strerror(errno));
			free(cur);
			return -1;
		}
		if (flock(fd, LOCK_SH | LOCK_NB)) {
			snprintf(err, errlen, "%s: base image %s is in use by another process "
				 "that has it open writable", path, cur);
			close(fd);
			free(cur);
			return -1;
		}
		p->lockfds[p->nlocks++] = fd;
		img = pcow_base(img);
	}
	if (!cur && img) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	free(cur);
	return 0;
}

/* ---- page and span bits (writes without a fault) ---- */

static void bits_set(uint64_t *b, uint64_t first, uint64_t n, bool on)
{
	for (uint64_t i = first; i < first + n;) {
		if (i % 64 == 0 && first + n - i >= 64) {
			b[i / 64] = on ? ~0ULL : 0;
			i += 64;
			continue;
		}
		if (on)
			b[i / 64] |= 1ULL << (i % 64);
		else
			b[i / 64] &= ~(1ULL << (i % 64));
		i++;
	}
}

/* Guest bytes [off, off+len) are (on) or are no longer mapped shared from
 * the image file: their pages are never moved. */
static void settle(struct nvdimm_pcow *p, uint64_t off, uint64_t len, bool on)
{
	if (p->settled)
		bits_set(p->settled, off / PAGE, len / PAGE, on);
}

static bool bit_get(const uint64_t *b, uint64_t i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static size_t bitmap_bytes(uint64_t nbits)
{
	return (size_t)((nbits + 63) / 64 * 8);
}

static bool viewed(const struct nvdimm_pcow *p, uint64_t off)
{
	return p->viewed && bit_get(p->viewed, off / VIEW_SPAN);
}

/* Is the view of cluster off, whose translation is m, mapped privately? */
static bool private_view(const struct nvdimm_pcow *p, uint64_t off, const struct pcow_map *m)
{
	/* not mapped shared from the file (the active layer's own clusters
	 * and pending slots are, except clusters a deleted snapshot left to
	 * the active layer while they were viewed privately) */
	if (!viewed(p, off) || bit_get(p->settled, off / PAGE))
		return false;
	return m->kind != PCOW_MAP_BASE || bit_get(p->base_viewed, off / VIEW_SPAN);
}

static void change(struct nvdimm_pcow *p, bool begin)
{
	if (p->have_host && p->host.change)
		p->host.change(p->host.opaque, begin);
}

/* Point guest offset off (cluster aligned, len bytes) at the image file at
 * host_off. */
static int map_file(struct nvdimm_pcow *p, uint64_t off, uint64_t len, uint64_t host_off)
{
	int prot = p->readonly ? PROT_READ : PROT_READ | PROT_WRITE;

	if (off > p->size || len > p->size - off)
		return -EINVAL;
	if (mmap(p->map + off, len, prot, MAP_SHARED | MAP_FIXED, p->fd,
		 (off_t)host_off) == MAP_FAILED)
		return -errno;
	/* the placeholder's pages there are no longer visible: free them */
	fallocate(p->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len);
	settle(p, off, len, true);
	p->st.mappings++;
	return 0;
}

static int pwrite_all(int fd, const uint8_t *buf, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (uint64_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static bool zero_page(const uint8_t *v)
{
	const uint64_t *w = (const uint64_t *)v;

	for (unsigned i = 0; i < PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

static void wake(struct nvdimm_pcow *p, uint64_t off, uint64_t len)
{
	struct uffdio_range r = { .start = (uintptr_t)(p->map + off), .len = len };

	ioctl(p->uffd, UFFDIO_WAKE, &r);
}

static void fail(struct nvdimm_pcow *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void fail(struct nvdimm_pcow *p, const char *fmt, ...)
{
	char msg[PCOW_ERRMSG_MAX + 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->failed = true;
	if (p->fatal)
		p->fatal(p->fatal_opaque, msg);
}

/* After a fatal error: let a faulting vCPU go on so it reaches the exit
 * the VM was asked for. The page gets zeros (or loses its write protect):
 * such stores stay in the placeholder, never in the image, and a later
 * guest flush fails, so the guest is never told they are durable. */
static void unblock(struct nvdimm_pcow *p, uint64_t addr)
{
	uint64_t off;
	struct uffdio_copy c;

	if (addr < (uintptr_t)p->map || addr - (uintptr_t)p->map >= p->size)
		return;
	off = (addr - (uintptr_t)p->map) & ~(PAGE - 1);
	memset(p->buf, 0, PAGE);
	c = (struct uffdio_copy){ .dst = (uintptr_t)(p->map + off),
				  .src = (uintptr_t)p->buf, .len = PAGE };
	if (ioctl(p->uffd, UFFDIO_COPY, &c) && errno == EEXIST && p->wp) {
		struct uffdio_writeprotect w = {
			.range = { .start = (uintptr_t)(p->map + off), .len = PAGE },
			.mode = 0,	/* clear WP and wake */
		};

		ioctl(p->uffd, UFFDIO_WRITEPROTECT, &w);
	}
	wake(p, off, PAGE);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- latency histogram (nvdimm.h) ---- */

void nvdimm_lat_add(struct nvdimm_lat *h, uint64_t ns)
{
	unsigned b;

	if (ns < 8) {
		b = (unsigned)ns;
	} else {
		unsigned msb = 63 - (unsigned)__builtin_clzll(ns);

		b = (msb - 2) * 8 + (unsigned)((ns >> (msb - 3)) & 7);
		if (b >= NVDIMM_LAT_BUCKETS)
			b = NVDIMM_LAT_BUCKETS - 1;
	}
	h->b[b]++;
	h->count++;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/* the largest value bucket b holds */
static uint64_t lat_upper(unsigned b)
{
	unsigned msb, sub;

	if (b < 8)
		return b;
	if (b >= NVDIMM_LAT_BUCKETS - 1)
		return UINT64_MAX;
	msb = b / 8 + 2;
	sub = b % 8;
	return ((uint64_t)(9 + sub) << (msb - 3)) - 1;
}

uint64_t nvdimm_lat_percentile(const struct nvdimm_lat *h, unsigned pct)
{
	uint64_t want, seen = 0;

	if (!h->count)
		return 0;
	if (pct < 1)
		pct = 1;
	if (pct > 100)
		pct = 100;
	/* the smallest value with at least pct % of the samples at or below */
	want = (h->count * pct + 99) / 100;
	for (unsigned b = 0; b < NVDIMM_LAT_BUCKETS; b++) {
		seen += h->b[b];
		if (seen >= want) {
			uint64_t up = lat_upper(b);

			return up < h->max_ns ? up : h->max_ns;
		}
	}
	return h->max_ns;
}

/* Does the cluster at off (translated into *m) show data from a snapshot
 * or a base (a copy-on-write), or zeros (a first touch)? For statistics. */
static bool shows_data(struct nvdimm_pcow *p, uint64_t off, const struct pcow_map *m)
{
	struct pcow *img = p->img;
	struct pcow_map b = *m;

	for (int depth = 0; b.kind == PCOW_MAP_BASE && depth < PCOW_MAX_BASE_DEPTH; depth++) {
		img = pcow_base(img);
		off = b.host_off;
		if (!img || pcow_translate(img, off, p->csize, &b))
			return true;
	}
	return b.kind != PCOW_MAP_HOLE && b.kind != PCOW_MAP_ZERO;
}

/* ---- chunks: the host-mapping bound ---- */

static struct chunk *chunk_get(struct nvdimm_pcow *p, uint64_t ci)
{
	struct chunk **blk = &p->chunks[ci / CHUNK_BLOCK];

	if (!*blk)
		*blk = calloc(CHUNK_BLOCK, sizeof(**blk));
	return *blk ? &(*blk)[ci % CHUNK_BLOCK] : NULL;
}

static bool pending(const struct chunk *ch, uint64_t j)
{
	return ch->pending[j / 64] >> (j % 64) & 1;
}

/* Room in p->plist for one more chunk: -1 if there is none (then no slot
 * may be mapped ahead: it would never be given to the image). */
static int plist_room(struct nvdimm_pcow *p)
{
	if (p->nplist == p->plist_cap) {
		size_t cap = p->plist_cap ? p->plist_cap * 2 : 64;
		uint64_t *n = realloc(p->plist, cap * sizeof(*n));

		if (!n)
			return -1;
		p->plist = n;
		p->plist_cap = cap;
	}
	return 0;
}

/* Called only after plist_room() succeeded for an unlisted chunk. */
static void set_pending(struct nvdimm_pcow *p, struct chunk *ch, uint64_t ci, uint64_t j)
{
	ch->pending[j / 64] |= 1ULL << (j % 64);
	if (ch->listed)
		return;
	p->plist[p->nplist++] = ci;
	ch->listed = true;
}

/* Does the guest see zeros in cluster off with nothing below to copy (a
 * hole or a zero cluster all the way down)? Only such slots are mapped
 * ahead of a write. */
static bool hole_view(struct nvdimm_pcow *p, uint64_t off)
{
	struct pcow_map m;

	if (pcow_translate(p->img, off, p->csize, &m))
		return false;
	if (m.kind == PCOW_MAP_DATA || m.kind == PCOW_MAP_LOWER)
		return false;
	return !shows_data(p, off, &m);
}

/* Map the hole view [off, off+len) from the file at host (allocated
 * first). Where that view is mapped privately (writes without a fault) the
 * guest may have written it: the range is made read-only (a store then
 * waits, vm_mem_change_begin), what the guest wrote is copied to the file,
 * then the file is mapped over it. 0 or -1. */
static int map_ahead(struct nvdimm_pcow *p, uint64_t off, uint64_t len, uint64_t host)
{
	/* before the guest runs nothing can have been written there */
	bool priv = viewed(p, off) && p->have_host;
	int rc = 0;

	if (priv) {
		change(p, true);
		if (mprotect(p->map + off, len, PROT_READ)) {
			change(p, false);
			return -1;
		}
	}
	if (fallocate(p->fd, 0, (off_t)host, (off_t)len))
		rc = -1;
	for (uint64_t c = 0; priv && !rc && c < len; c += p->csize) {
		struct pcow_map m;

		/* only private views can hold the guest's stores; reading the
		 * placeholder (a base cluster left to it) would fault into the
		 * handler, maybe this very thread */
		if (pcow_translate(p->img, off + c, p->csize, &m) ||
		    !private_view(p, off + c, &m))
			continue;
		for (uint64_t o = c; !rc && o < c + p->csize; o += PAGE) {
			int r;

			if (zero_page(p->map + off + o))
				continue;
			r = pwrite_all(p->fd, p->map + off + o, PAGE, host + o);
			if (r) {
				fail(p, "copying written data at 0x%" PRIx64 " into the image: %s",
				     off + o, strerror(-r));
				rc = -1;
			}
		}
	}
	if (!rc && map_file(p, off, len, host))
		rc = -1;
	if (priv) {
		if (rc)
			mprotect(p->map + off, len, PROT_READ | PROT_WRITE);
		change(p, false);
	}
	return rc;
}

/* Map slots [a, b] of chunk ci where the view is zeros, as pending: the
 * guest's stores there go to the file without a fault, and the next flush
 * gives the slots to the image. File space is allocated first so
 * such a store never meets a full filesystem (SIGBUS). Stops at the first
 * slot it cannot map; the rest stay with the placeholder. */
static void map_span(struct nvdimm_pcow *p, struct chunk *ch, uint64_t ci, uint64_t a,
		     uint64_t b)
{
	uint64_t cbase = ci * p->nslots * p->csize;

	if (!ch->listed && plist_room(p))
		return;
	for (uint64_t j = a; j <= b;) {
		uint64_t k = j;

		if (!hole_view(p, cbase + j * p->csize)) {
			j++;
			continue;
		}
		while (k + 1 <= b && hole_view(p, cbase + (k + 1) * p->csize))
			k++;
		if (map_ahead(p, cbase + j * p->csize, (k - j + 1) * p->csize,
			      ch->host + j * p->csize))
			return;
		for (uint64_t x = j; x <= k; x++)
			set_pending(p, ch, ci, x);
		j = k + 1;
	}
}

/*
 * A write fault on cluster coff that the active layer does not own: put
 * the cluster at its slot of the chunk's file range (reserving the range on
 * the chunk's first write), copying what the guest saw, and widen the
 * chunk's mapped span to it. *host_off gets the slot. Returns 0, 1 if the
 * chunk cannot be used (the caller allocates anywhere), or -1 with the
 * image's error.
 */
static int chunk_write(struct nvdimm_pcow *p, uint64_t coff, uint64_t *host_off, bool copy,
		       const uint8_t *data)
{
	uint64_t ci = coff / (p->nslots * p->csize);
	uint64_t j = (coff / p->csize) % p->nslots, slot;
	struct chunk *ch = chunk_get(p, ci);
	bool fresh = false;

	if (!ch)
		return 1;
	if (!ch->host) {
		if (pcow_chunk_reserve(p->img, p->nslots, &ch->host)) {
			ch->host = 0;
			return 1;
		}
		ch->lo = ch->hi = (uint32_t)j;
		p->st.chunks++;
		fresh = true;
	}
	slot = ch->host + j * p->csize;
	/* data first: the image never points at a slot not yet written */
	if (data) {
		int r = pwrite_all(p->fd, data, p->csize, slot);

		if (r) {
			fail(p, "writing the cluster at 0x%" PRIx64 " into the image: %s", coff,
			     strerror(-r));
			return -1;
		}
	}
	if (pcow_alloc_at(p->img, coff, slot, copy))
		return pcow_errcode(p->img) == PCOW_EINVAL || pcow_errcode(p->img) == PCOW_EBUSY ?
			1 : -1;
	*host_off = slot;
	if (fresh)
		return 0;
	/* the caller maps slot j; widen the span to it */
	if (j < ch->lo) {
		uint64_t lo = ch->lo;

		ch->lo = (uint32_t)j;
		if (lo - j > 1)
			map_span(p, ch, ci, j + 1, lo - 1);
	} else if (j > ch->hi) {
		uint64_t hi = ch->hi;

		ch->hi = (uint32_t)j;
		if (j - hi > 1)
			map_span(p, ch, ci, hi + 1, j - 1);
	}
	return 0;
}

/*
 * Give every pending slot to the image (pcow_alloc_at without copy: what
 * the file holds there, the guest's stores or zeros, is the cluster's), so
 * the mapped span holds only the image's clusters again. Nothing is read
 * or searched: the cost is in proportion to the slots mapped since the
 * last flush, not to the chunks. A slot the guest never wrote becomes an
 * allocated cluster of zeros, in file space the span had allocated anyway
 * (docs/pcow-runtime.md, "Host mappings"). Called with p->lock held, before
 * the fdatasync of a flush. Returns 0 or -1 (the DIMM failed).
 */
static int commit_pending(struct nvdimm_pcow *p)
{
	for (size_t i = 0; i < p->nplist; i++) {
		uint64_t ci = p->plist[i], cbase = ci * p->nslots * p->csize;
		struct chunk *ch = chunk_get(p, ci);

		if (!ch)
			continue;
		for (uint64_t j = ch->lo; j <= ch->hi; j++) {
			uint64_t goff = cbase + j * p->csize;

			if (!pending(ch, j))
				continue;
			if (pcow_alloc_at(p->img, goff, ch->host + j * p->csize, false)) {
				fail(p, "committing the cluster at 0x%" PRIx64 ": %s", goff,
				     pcow_errmsg(p->img));
				/* keep the rest listed: nothing commits them now */
				memmove(p->plist, p->plist + i, (p->nplist - i) * sizeof(*p->plist));
				p->nplist -= i;
				return -1;
			}
			ch->pending[j / 64] &= ~(1ULL << (j % 64));
			p->st.chunk_commits++;
		}
		ch->listed = false;
	}
	p->nplist = 0;
	return 0;
}

/* At start: take back chunk ci of an earlier run, whose slot 0 would be at
 * base, if every cluster its range holds is the chunk's own at its slot;
 * then its span is mapped as one piece again. */
static void adopt_chunk(struct nvdimm_pcow *p, uint64_t ci, uint64_t base, uint8_t *pinned)
{
	uint64_t cbase = ci * p->nslots * p->csize, lo = p->nslots, hi = 0;
	struct chunk *ch = chunk_get(p, ci);

	if (!ch || ch->host || pcow_chunk_claim(p->img, base, p->nslots, pinned))
		return;
	for (uint64_t j = 0; j < p->nslots; j++) {
		struct pcow_map m;

		if (pinned[j])
			continue;
		if (pcow_translate(p->img, cbase + j * p->csize, p->csize, &m) ||
		    m.kind != PCOW_MAP_DATA || m.shared || m.host_off != base + j * p->csize) {
			pcow_chunk_release(p->img, base, p->nslots);
			return;
		}
		lo = j < lo ? j : lo;
		hi = j > hi ? j : hi;
	}
	if (lo > hi) {
		pcow_chunk_release(p->img, base, p->nslots);
		return;
	}
	ch->host = base;
	ch->lo = (uint32_t)lo;
	ch->hi = (uint32_t)hi;
	p->st.chunks++;
	if (hi > lo + 1)
		map_span(p, ch, ci, lo + 1, hi - 1);
}

/* At start, after the active layer's own clusters are mapped: adopt the
 * chunks they lie in (chunks of earlier runs keep their one mapping). */
struct adopt_ctx {
	struct nvdimm_pcow *p;
	uint8_t *pinned;
};

static int adopt_run(void *ctx, uint64_t off, uint64_t len, uint64_t host, bool shared)
{
	struct adopt_ctx *a = ctx;
	struct nvdimm_pcow *p = a->p;
	uint64_t cb = p->nslots * p->csize;

	if (shared || off >= p->size)
		return 0;
	if (len > p->size - off)
		len = p->size - off;
	for (uint64_t g = off; g < off + len; g = (g / cb + 1) * cb) {
		uint64_t h = host + (g - off), j = (g % cb) / p->csize;

		if (h >= j * p->csize + p->csize)
			adopt_chunk(p, g / cb, h - j * p->csize, a->pinned);
	}
	return 0;
}

static int adopt_chunks(struct nvdimm_pcow *p)
{
	struct adopt_ctx a = { p, malloc(p->nslots) };

	if (!a.pinned)
		return -1;
	pcow_active_runs(p->img, adopt_run, &a);
	free(a.pinned);
	return 0;
}

/* Map [off, off+len) MAP_PRIVATE: from the image file at host, or
 * anonymous (zeros) when host is 0. */
static int map_private_fd(struct nvdimm_pcow *p, int fd, uint64_t off, uint64_t len,
			  uint64_t host)
{
	void *a = fd >= 0 ? mmap(p->map + off, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, (off_t)host)
			  : mmap(p->map + off, len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);

	if (a == MAP_FAILED)
		return -errno;
	if (fd < 0)
		madvise(a, len, MADV_NOHUGEPAGE);	/* a move remaps per cluster */
	return 0;
}

static int map_private(struct nvdimm_pcow *p, uint64_t off, uint64_t len, uint64_t host)
{
	return map_private_fd(p, host ? p->fd : -1, off, len, host);
}

/* At start: the active layer's own clusters (not shared with a snapshot)
 * are mapped from the file over the placeholder. */
struct map_ctx {
	struct nvdimm_pcow *p;
	int err;		/* map_file's -errno */
	uint64_t off;
};

static int map_run(void *ctx, uint64_t off, uint64_t len, uint64_t host, bool shared)
{
	struct map_ctx *m = ctx;
	struct nvdimm_pcow *p = m->p;

	if (off >= p->size)
		return 0;
	if (len > p->size - off)
		len = p->size - off;
	m->off = off;
	if (shared)	/* copy-on-write: privately where the view is mapped */
		m->err = viewed(p, off) ? map_private(p, off, len, host) : 0;
	else
		m->err = map_file(p, off, len, host);
	return m->err ? 1 : 0;
}

/* Forget every chunk's range (after the mappings were dropped): unused
 * slots go back to the image as free space. */
static void chunks_reset(struct nvdimm_pcow *p)
{
	for (uint64_t b = 0; b < (p->nchunks + CHUNK_BLOCK - 1) / CHUNK_BLOCK; b++) {
		if (!p->chunks[b])
			continue;
		for (unsigned i = 0; i < CHUNK_BLOCK; i++) {
			struct chunk *ch = &p->chunks[b][i];

			if (ch->host)
				pcow_chunk_release(p->img, ch->host, p->nslots);
		}
		free(p->chunks[b]);
		p->chunks[b] = NULL;
	}
	p->nplist = 0;
}

/* ---- writes without a fault ---- */

/*
 * The view of [c, c+len) in base image b (depth d: its file is
 * p->lockfds[d]): its data privately from that file, holes and zero
 * clusters anonymous, its own base's clusters one level down. With
 * map false only counts the mappings it would make (*n). 0 or -1.
 */
static int base_view(struct nvdimm_pcow *p, struct pcow *b, unsigned d, uint64_t c,
		     uint64_t len, bool map, unsigned *n)
{
	struct pcow_info in;

	if (!b || d >= (unsigned)p->nlocks)
		return -1;
	pcow_get_info_quick(b, &in);
	while (len) {
		struct pcow_map m;
		uint64_t l;
		int fd = -1, r;

		if (c >= in.virtual_size) {
			m.kind = PCOW_MAP_HOLE;
			m.len = len;
		} else if (pcow_translate(b, c, len < in.virtual_size - c ? len :
					  in.virtual_size - c, &m)) {
			return -1;
		}
		/* a run ends unaligned only at a base's unaligned end: the rest
		 * of that page shows zeros (past the file's end, or a hole) */
		l = ((m.len ? m.len : PAGE) + PAGE - 1) & ~(PAGE - 1);
		if (m.kind == PCOW_MAP_DATA || m.kind == PCOW_MAP_LOWER)
			fd = p->lockfds[d];
		l = l < len ? l : len;
		if (m.kind == PCOW_MAP_BASE) {
			if (base_view(p, pcow_base(b), d + 1, c, l, map, n))
				return -1;
		} else if (map) {
			r = map_private_fd(p, fd, c, l, fd >= 0 ? m.host_off : 0);
			if (r) {
				errno = -r;
				return -1;
			}
		} else {
			++*n;
		}
		c += l;
		len -= l;
	}
	return 0;
}

/* The run of the image's view at c (at most up to end), in whole clusters:
 * *m and its length. 0, or -1 (failed). */
static int span_run(struct nvdimm_pcow *p, uint64_t c, uint64_t end, struct pcow_map *m,
		    uint64_t *len)
{
	if (pcow_translate(p->img, c, end - c, m)) {
		fail(p, "translating 0x%" PRIx64 ": %s", c, pcow_errmsg(p->img));
		return -1;
	}
	*len = m->len >= p->csize ? m->len - m->len % p->csize : p->csize;
	if (*len > end - c)
		*len = end - c;
	return 0;
}

/* On the first fault in span off / VIEW_SPAN: map its view privately where
 * the image has it (holes and zero clusters anonymous, snapshot clusters
 * and shared ones from the file, base clusters from the base files), so
 * the guest's later loads and stores there never fault into the VMM. The
 * active layer's own clusters and the pending slots (mapped shared
 * already) are left as they are, and so are base clusters where the base
 * would take too many mappings (the placeholder's faults copy them).
 * Called with p->lock held. 0 or -1 (failed). */
static int view_span(struct nvdimm_pcow *p, uint64_t off)
{
	uint64_t s = off / VIEW_SPAN, start = s * VIEW_SPAN;
	uint64_t end = start + VIEW_SPAN > p->size ? p->size : start + VIEW_SPAN;
	uint64_t c = start;
	bool bases = p->base_views;

	if (viewed(p, off))
		return 0;
	/* a base this fragmented here keeps the placeholder's 4 KiB copies
	 * rather than take thousands of mappings (each is a VMA) */
	for (unsigned n = 0; bases && c <= end;) {
		if (c == end) {
			p->view_maps += n;
			break;
		}
		struct pcow_map m;
		uint64_t len;

		if (span_run(p, c, end, &m, &len))
			return -1;
		if (m.kind == PCOW_MAP_BASE && base_view(p, pcow_base(p->img), 0, c, len, false, &n))
			bases = false;
		if (++n > VIEW_MAX_MAPS || p->view_maps + n > VIEW_BUDGET)
			bases = false;
		c += len;
	}
	c = start;
	while (c < end) {
		uint64_t cb = p->nslots * p->csize, len;
		struct pcow_map m;
		int r = 0;

		if (span_run(p, c, end, &m, &len))
			return -1;
		if (m.kind == PCOW_MAP_DATA && !m.shared) {
			c += len;	/* the active layer's own: mapped shared */
			continue;
		}
		/* up to the first pending slot (mapped shared ahead) */
		for (uint64_t x = c; x < c + len; x += p->csize) {
			struct chunk *blk = p->chunks[x / cb / CHUNK_BLOCK];
			struct chunk *ch = blk ? &blk[x / cb % CHUNK_BLOCK] : NULL;

			if (ch && ch->host && pending(ch, (x % cb) / p->csize)) {
				len = x - c;
				break;
			}
		}
		if (!len) {
			c += p->csize;	/* a pending slot */
			continue;
		}
		switch (m.kind) {
		case PCOW_MAP_DATA:
		case PCOW_MAP_LOWER:
			r = map_private(p, c, len, m.host_off);
			break;
		case PCOW_MAP_BASE:
			if (bases && base_view(p, pcow_base(p->img), 0, c, len, true, NULL))
				r = -errno;
			break;
		default:	/* hole or zero cluster */
			r = map_private(p, c, len, 0);
			break;
		}
		if (r) {
			fail(p, "mapping the view at 0x%" PRIx64 ": %s", c, strerror(-r));
			return -1;
		}
		c += len;
	}
	if (bases)
		bits_set(p->base_viewed, s, 1, true);
	bits_set(p->viewed, s, 1, true);
	p->st.views++;
	return 0;
}

/* A write made cluster's data the active layer's own in dt ns: the
 * first-touch or copy-on-write count and latency (cow: the cluster showed
 * data), and the longest. */
static void count_write(struct nvdimm_pcow *p, bool cow, uint64_t dt)
{
	if (cow) {
		p->st.cow_faults++;
		nvdimm_lat_add(&p->st.cow_lat, dt);
	} else {
		p->st.first_touch_faults++;
		nvdimm_lat_add(&p->st.ft_lat, dt);
	}
	if (dt > p->st.max_write_fault_ns)
		p->st.max_write_fault_ns = dt;
}

/*
 * Cluster coff was written through its private mapping: make it the
 * active layer's own. Its range turns read-only (a guest store there then
 * waits in its vCPU: vm_mem_change_begin, vmm.h), the guest's view is
 * written to the cluster's place in the file (a chunk slot, as for a
 * fault, or the reserve), and the file is mapped over it, shared: later
 * stores reach the image directly. Called with p->lock held; the change
 * (vm_mem_change_begin/end) spans just this cluster. 0 or -1 (failed).
 */
static int move_cluster(struct nvdimm_pcow *p, uint64_t coff)
{
	uint64_t t0 = now_ns(), dt, host_off;
	struct pcow_map m;
	bool cow, own = false;
	int r;

	if (pcow_translate(p->img, coff, p->csize, &m)) {
		fail(p, "translating 0x%" PRIx64 ": %s", coff, pcow_errmsg(p->img));
		return -1;
	}
	if (!private_view(p, coff, &m))
		return 0;	/* mapped shared, or the placeholder: its writes fault */
	change(p, true);
	if (mprotect(p->map + coff, p->csize, PROT_READ)) {
		fail(p, "write-protecting 0x%" PRIx64 ": %s", coff, strerror(errno));
		change(p, false);
		return -1;
	}
	cow = shows_data(p, coff, &m);
	if (m.kind == PCOW_MAP_DATA && !m.shared) {
		/* the active layer's own already (a snapshot deleted meanwhile) */
		own = true;
		host_off = m.host_off;
	} else {
		/* a chunk slot gets the data before the image points at it; the
		 * reserve's cluster gets a copy of what was there first, so a
		 * failed write below leaves the old view */
		r = chunk_write(p, coff, &host_off, false, p->map + coff);
		if (r < 0) {
			if (!p->failed)
				fail(p, "allocating the cluster at 0x%" PRIx64 ": %s", coff,
				     pcow_errmsg(p->img));
			goto undo;
		}
		if (r == 0)
			goto written;
		if (pcow_prepare_write(p->img, coff, &host_off)) {
			fail(p, "allocating the cluster at 0x%" PRIx64 ": %s", coff,
			     pcow_errmsg(p->img));
			goto undo;
		}
	}
	r = pwrite_all(p->fd, p->map + coff, p->csize, host_off);
	if (r) {
		fail(p, "writing the cluster at 0x%" PRIx64 ": %s", coff, strerror(-r));
		goto undo;
	}
written:
	r = map_file(p, coff, p->csize, host_off);
	if (r) {
		fail(p, "mapping the new cluster at 0x%" PRIx64 ": %s", coff, strerror(-r));
		goto undo;
	}
	change(p, false);
	dt = now_ns() - t0;
	p->st.moves++;
	if (!own)	/* else nothing was allocated: counted as neither */
		count_write(p, cow, dt);
	else if (dt > p->st.max_write_fault_ns)
		p->st.max_write_fault_ns = dt;
	return 0;
undo:
	/* the VM stops; let the vCPUs reach the exit */
	mprotect(p->map + coff, p->csize, PROT_READ | PROT_WRITE);
	change(p, false);
	return -1;
}

/*
 * Move every cluster the guest wrote through a private mapping since the
 * last move (the dirty log, minus pages mapped shared from the file) into
 * the image. Before a flush (so the flush covers it), a live snapshot, the
 * statistics, and every move_period_ns (bounding the private copies'
 * memory). Called with p->lock held. 0, or -1 (the DIMM failed).
 */
static int move_dirty(struct nvdimm_pcow *p)
{
	uint64_t words = bitmap_bytes(p->npages) / 8;
	int rc = 0;

	if (!p->faultless || !p->have_host)
		return 0;
	if (p->failed)
		return -1;
	p->last_move_ns = now_ns();
	memset(p->dirty, 0, bitmap_bytes(p->npages));
	if (p->host.dirty_log(p->host.opaque, p->dirty)) {
		fail(p, "reading KVM's dirty log: %s", strerror(errno));
		return -1;
	}
	for (uint64_t w = 0; w < words && !rc; w++) {
		uint64_t d = p->dirty[w] & ~p->settled[w];

		while (d && !rc) {
			uint64_t page = w * 64 + (uint64_t)__builtin_ctzll(d);
			uint64_t coff = page * PAGE & ~(p->csize - 1);

			if (move_cluster(p, coff))
				rc = -1;
			/* the cluster is settled now (or cannot be moved) */
			settle(p, coff, p->csize, true);
			d = p->dirty[w] & ~p->settled[w];
		}
	}
	return rc;
}

/* Handle one fault at host address addr. Called with p->lock held. */
static void handle_fault(struct nvdimm_pcow *p, uint64_t addr, uint64_t flags)
{
	uint64_t off, coff, host_off;
	struct pcow_map m;
	bool write;
	int r;

	if (addr < (uintptr_t)p->map || addr - (uintptr_t)p->map >= p->size) {
		fail(p, "fault outside the NVDIMM range (0x%" PRIx64 ")", addr);
		return;
	}
	off = (addr - (uintptr_t)p->map) & ~(PAGE - 1);
	coff = off & ~(p->csize - 1);
	write = !p->readonly && (flags & (UFFD_PAGEFAULT_FLAG_WRITE | UFFD_PAGEFAULT_FLAG_WP));
	/* Without WP a copy could not catch a later write: allocate at once. */
	if (!p->readonly && !p->wp)
		write = true;

	if (p->faultless && view_span(p, off))
		return;
	r = pcow_translate(p->img, coff, p->csize, &m);
	if (r) {
		fail(p, "translating 0x%" PRIx64 ": %s", coff, pcow_errmsg(p->img));
		return;
	}
	if (p->faultless && private_view(p, coff, &m)) {
		/* the view is mapped now: run on */
		wake(p, off, PAGE);
		return;
	}
	if (m.kind == PCOW_MAP_DATA && !m.shared) {
		/* mapped already (a second fault on the same page) or a race */
		r = map_file(p, coff, p->csize, m.host_off);
		if (r) {
			fail(p, "mapping 0x%" PRIx64 ": %s", coff, strerror(-r));
			return;
		}
		wake(p, coff, p->csize);
		return;
	}
	if (write) {
		uint64_t t0 = now_ns(), dt;
		bool cow = shows_data(p, coff, &m);

		r = chunk_write(p, coff, &host_off, true, NULL);
		if (r > 0)
			r = pcow_prepare_write(p->img, coff, &host_off);
		if (r) {
			fail(p, "allocating the cluster at 0x%" PRIx64 ": %s", coff,
			     pcow_errmsg(p->img));
			return;
		}
		r = map_file(p, coff, p->csize, host_off);
		if (r) {
			fail(p, "mapping the new cluster at 0x%" PRIx64 ": %s", coff,
			     strerror(-r));
			return;
		}
		wake(p, coff, p->csize);
		dt = now_ns() - t0;
		count_write(p, cow, dt);
		pthread_cond_signal(&p->cond);
		return;
	}

	/* A read: show the data without allocating, write-protected. */
	r = pcow_read(p->img, p->buf, PAGE, off);
	if (r) {
		fail(p, "reading 0x%" PRIx64 ": %s", off, pcow_errmsg(p->img));
		return;
	}
	{
		struct uffdio_copy c = {
			.dst = (uintptr_t)(p->map + off),
			.src = (uintptr_t)p->buf,
			.len = PAGE,
			.mode = (!p->readonly && p->wp) ? UFFDIO_COPY_MODE_WP : 0,
		};

		if (ioctl(p->uffd, UFFDIO_COPY, &c) && errno != EEXIST) {
			fail(p, "UFFDIO_COPY at 0x%" PRIx64 ": %s", off, strerror(errno));
			return;
		}
		if (c.copy < 0)	/* EEXIST: resolved before; wake the waiter */
			wake(p, off, PAGE);
	}
	p->st.read_faults++;
}

static void *fault_thread(void *arg)
{
	struct nvdimm_pcow *p = arg;
	struct pollfd pf[2] = { { .fd = p->uffd, .events = POLLIN },
				{ .fd = p->stopfd, .events = POLLIN } };

	for (;;) {
		struct uffd_msg msg;
		ssize_t n;

		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents)
			break;
		n = read(p->uffd, &msg, sizeof(msg));
		if (n != (ssize_t)sizeof(msg))
			continue;	/* EAGAIN: another wake-up raced */
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		pthread_mutex_lock(&p->lock);
		if (!p->failed)
			handle_fault(p, msg.arg.pagefault.address, msg.arg.pagefault.flags);
		if (p->failed)
			unblock(p, msg.arg.pagefault.address);
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

static void *alloc_thread(void *arg)
{
	struct nvdimm_pcow *p = arg;

	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		unsigned have = pcow_reserved(p->img);

		/* only once the guest writes: a session that only reads
		 * leaves the image file as it was */
		if (have < RESERVE_LOW && !p->failed &&
		    p->st.first_touch_faults + p->st.cow_faults) {
			int r;

			/* pcow_reserve locks the image itself; faults go on
			 * meanwhile */
			pthread_mutex_unlock(&p->lock);
			pthread_mutex_lock(&p->reserve_lock);
			r = pcow_reserve(p->img, RESERVE_TARGET - have);
			pthread_mutex_unlock(&p->reserve_lock);
			pthread_mutex_lock(&p->lock);
			if (r < 0) {
				p->st.reserve_errors++;
			} else {
				p->st.reserve_refills++;
				continue;
			}
		}
		if (p->faultless && !p->failed && now_ns() - p->last_move_ns >= p->move_period_ns)
			move_dirty(p);
		{
			struct timespec ts;
			long wait = p->faultless && p->move_period_ns < 100000000ULL ?
				(long)p->move_period_ns : 100 * 1000000L;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += wait;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int open_uffd(void)
{
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev < 0)
			return -1;
		fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
		close(dev);
	}
	return fd;
}

/* UFFDIO_API with WP for shmem if asked and possible. Returns 0 and sets
 * *wp, or -1. A uffd accepts only one UFFDIO_API: try WP on a scratch one. */
static int uffd_api(int *fd, bool want_wp, bool *wp)
{
	struct uffdio_api api = { .api = UFFD_API };

	*wp = false;
	if (want_wp) {
		api.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_WP_HUGETLBFS_SHMEM;
		if (ioctl(*fd, UFFDIO_API, &api) == 0) {
			*wp = true;
			return 0;
		}
		close(*fd);
		*fd = open_uffd();
		if (*fd < 0)
			return -1;
		api.features = 0;
	}
	return ioctl(*fd, UFFDIO_API, &api);
}

/*
 * The label area to serve: label-size= not given takes the image's (none
 * if it has none); label-size=0 serves none; another size must be the
 * image's, or becomes it on first use (a writable image without an area).
 */
static int open_labels(struct nvdimm_pcow *p, const struct nvdimm_opts *o,
		       char *err, size_t errlen)
{
	uint64_t have = pcow_label_size(p->img), want = o->label_size_set ? o->label_size : have;

	if (!want)
		return 0;
	if (have != want) {
		if (have) {
			snprintf(err, errlen, "%s: label-size=%" PRIu64 ": the image's label area "
				 "is %" PRIu64 " bytes (fixed when it was made; leave label-size "
				 "out to use it)", o->path, want, have);
			return -1;
		}
		if (o->readonly) {
			snprintf(err, errlen, "%s: label-size=%" PRIu64 ": the image has no label "
				 "area and readonly=on cannot add one ('pcow-img create "
				 "--label-size' makes images with one)", o->path, want);
			return -1;
		}
		if (pcow_label_init(p->img, want)) {
			snprintf(err, errlen, "%s: adding a %" PRIu64 "-byte label area: %s",
				 o->path, want, pcow_errmsg(p->img));
			return -1;
		}
	}
	p->labels = malloc(want);
	if (!p->labels) {
		snprintf(err, errlen, "%s: out of memory", o->path);
		return -1;
	}
	p->label_size = want;
	if (pcow_label_read(p->img, p->labels, want, 0)) {
		snprintf(err, errlen, "%s: %s", o->path, pcow_errmsg(p->img));
		return -1;
	}
	return 0;
}

int nvdimm_pcow_sync_label(struct nvdimm_backing *b, uint64_t off, uint64_t len)
{
	struct nvdimm_pcow *p = b->pcow;
	int r = 0;

	if (!p || !p->labels || p->readonly || off > p->label_size || len > p->label_size - off)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	if (p->failed)
		r = -EIO;
	else if (pcow_label_write(p->img, p->labels + off, len, off))
		r = -EIO;
	if (r)	/* the guest was told it failed: show what the image holds */
		pcow_label_read(p->img, p->labels + off, len, off);
	pthread_mutex_unlock(&p->lock);
	return r;
}

static void pcow_free(struct nvdimm_pcow *p)
{
	if (p->fault_started || p->alloc_started) {
		uint64_t one = 1;

		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		if (write(p->stopfd, &one, sizeof(one)) < 0) {
			/* the thread also sees p->stop on its next fault */
		}
		if (p->fault_started)
			pthread_join(p->fault_thr, NULL);
		if (p->alloc_started)
			pthread_join(p->alloc_thr, NULL);
	}
	if (p->map)
		munmap(p->map, p->size);
	if (p->uffd >= 0)
		close(p->uffd);
	if (p->stopfd >= 0)
		close(p->stopfd);
	if (p->memfd >= 0)
		close(p->memfd);
	if (p->img)
		pcow_close(p->img);
	if (p->fd >= 0)
		close(p->fd);
	lock_release(p);
	free(p->labels);
	if (p->chunks)
		for (uint64_t i = 0; i < (p->nchunks + CHUNK_BLOCK - 1) / CHUNK_BLOCK; i++)
			free(p->chunks[i]);
	free(p->chunks);
	free(p->plist);
	free(p->buf);
	free(p->settled);
	free(p->dirty);
	free(p->viewed);
	free(p->base_viewed);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->reserve_lock);
	free(p);
}

int nvdimm_pcow_open(struct nvdimm_backing *b, const struct nvdimm_opts *o,
		     char *err, size_t errlen)
{
	struct nvdimm_pcow *p;
	struct pcow_open_opts po = { .flags = o->readonly ? 0 : PCOW_RDWR };
	struct pcow_error pe = { 0 };
	struct pcow_info in;
	struct uffdio_register reg;
	bool oom;

	if (o->size) {
		snprintf(err, errlen, "%s: size=%" PRIu64 " is not supported for pcow images "
			 "yet (the guest sees the image's virtual size; grow it with "
			 "'pcow-img resize')", o->path, o->size);
		return -1;
	}
	if (!o->share && !o->readonly) {
		snprintf(err, errlen, "%s: share=off is not supported for pcow images yet",
			 o->path);
		return -1;
	}

	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "%s: out of memory", o->path);
		return -1;
	}
	p->fd = p->memfd = p->uffd = p->stopfd = -1;
	p->readonly = o->readonly;
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->reserve_lock, NULL);
	pthread_cond_init(&p->cond, NULL);

	p->fd = open(o->path, (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (p->fd < 0) {
		snprintf(err, errlen, "%s: %s", o->path, strerror(errno));
		goto fail;
	}
	if (flock(p->fd, (o->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB)) {
		snprintf(err, errlen, "%s: in use by another process (%s)", o->path,
			 o->readonly ? "it has the image open writable"
				     : "a writable pcow NVDIMM needs the image to itself");
		goto fail;
	}
	p->img = pcow_open(o->path, &po, &pe);
	if (!p->img) {
		snprintf(err, errlen, "%s: %s", o->path, pe.msg[0] ? pe.msg :
			 pcow_strerror(pe.code));
		goto fail;
	}
	if (lock_bases(p, o->path, err, errlen))
		goto fail;
	pcow_get_info_quick(p->img, &in);	/* size, cluster size: no table */
	p->size = in.virtual_size;
	p->csize = in.cluster_size;
	if (p->size == 0 || p->size % NVDIMM_SIZE_ALIGN) {
		snprintf(err, errlen, "%s: virtual size %" PRIu64 " is not a non-zero multiple "
			 "of 16M (the guest's region alignment); resize it with 'pcow-img resize'",
			 o->path, p->size);
		goto fail;
	}
	if (p->csize < PAGE || p->csize > NVDIMM_SIZE_ALIGN) {
		snprintf(err, errlen, "%s: cluster size %" PRIu64 " not usable", o->path, p->csize);
		goto fail;
	}
	/* after the checks above: a refused image gets no label area added */
	if (open_labels(p, o, err, errlen))
		goto fail;
	p->nslots = (CHUNK_BYTES > p->csize ? CHUNK_BYTES : p->csize) / p->csize;
	p->nchunks = p->size / (p->nslots * p->csize);
	p->chunks = calloc((p->nchunks + CHUNK_BLOCK - 1) / CHUNK_BLOCK, sizeof(*p->chunks));
	p->buf = aligned_alloc(PAGE, PAGE);
	oom = !p->buf || !p->chunks;
	p->faultless = o->dirty_log && !o->readonly;
	/* base clusters are viewed from the files lock_bases opened, if those
	 * are the files libpcow reads */
	p->base_views = p->faultless && p->nlocks > 0;
	{
		struct pcow *bi = pcow_base(p->img);

		for (int d = 0; p->base_views && d < p->nlocks; d++, bi = pcow_base(bi)) {
			struct stat sa, sb;

			if (!bi || fstat(p->lockfds[d], &sa) || stat(pcow_path(bi), &sb) ||
			    sa.st_dev != sb.st_dev || sa.st_ino != sb.st_ino)
				p->base_views = false;
		}
		if (bi)
			p->base_views = false;	/* deeper than the locks went */
	}
	if (p->faultless) {
		/* a test knob: moves racing with the guest's stores */
		const char *ms = getenv("PMVM_PCOW_MOVE_MS");
		unsigned long v = ms ? strtoul(ms, NULL, 10) : 0;

		p->move_period_ns = (v ? v : MOVE_PERIOD_MS) * 1000000ULL;
		p->npages = p->size / PAGE;
		p->nspans = (p->size + VIEW_SPAN - 1) / VIEW_SPAN;
		p->settled = calloc(1, bitmap_bytes(p->npages));
		p->dirty = calloc(1, bitmap_bytes(p->npages));
		p->viewed = calloc(1, bitmap_bytes(p->nspans));
		p->base_viewed = calloc(1, bitmap_bytes(p->nspans));
		oom |= !p->settled || !p->dirty || !p->viewed || !p->base_viewed;
	}
	if (oom) {
		snprintf(err, errlen, "%s: out of memory", o->path);
		goto fail;
	}

	/* The placeholder, registered with userfaultfd. */
	p->memfd = memfd_create("pmvm-pcow", MFD_CLOEXEC);
	if (p->memfd < 0 || ftruncate(p->memfd, (off_t)p->size)) {
		snprintf(err, errlen, "%s: placeholder memfd: %s", o->path, strerror(errno));
		goto fail;
	}
	p->map = mmap(NULL, p->size, o->readonly ? PROT_READ : PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_NORESERVE, p->memfd, 0);
	if (p->map == MAP_FAILED) {
		p->map = NULL;
		snprintf(err, errlen, "%s: cannot reserve %" PRIu64 " bytes: %s", o->path,
			 p->size, strerror(errno));
		goto fail;
	}
	p->uffd = open_uffd();
	if (p->uffd < 0 || uffd_api(&p->uffd, !o->readonly, &p->wp)) {
		snprintf(err, errlen, "%s: userfaultfd: %s (pcow NVDIMMs need it: run as root "
			 "or give access to /dev/userfaultfd)", o->path, strerror(errno));
		goto fail;
	}
	reg.range.start = (uintptr_t)p->map;
	reg.range.len = p->size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING | (p->wp ? UFFDIO_REGISTER_MODE_WP : 0);
	if (ioctl(p->uffd, UFFDIO_REGISTER, &reg)) {
		if (!p->wp)
			goto uffd_fail;
		/* WP on shmem refused (before 5.19): missing faults only */
		p->wp = false;
		reg.mode = UFFDIO_REGISTER_MODE_MISSING;
		if (ioctl(p->uffd, UFFDIO_REGISTER, &reg))
			goto uffd_fail;
	}

	/* Writes without a fault on an image of one layer and no base: the
	 * view is the active layer over zeros, so it is mapped whole now
	 * (zeros privately, then the layer's clusters below) and no span
	 * faults in. Otherwise spans map their view on their first fault. */
	if (p->faultless && in.nlayers <= 1 && !in.base) {
		int r = map_private(p, 0, p->size, 0);

		if (r) {
			snprintf(err, errlen, "%s: mapping %" PRIu64 " bytes: %s", o->path,
				 p->size, strerror(-r));
			goto fail;
		}
		bits_set(p->viewed, 0, p->nspans, true);
		p->st.views = p->nspans;
	}
	/* Map the active layer's own clusters from the file (a walk of the
	 * active layer's tables only: start-up costs what that layer holds,
	 * however many snapshots and however large the image). */
	{
		struct map_ctx mc = { p, 0, 0 };

		if (pcow_active_runs(p->img, map_run, &mc)) {
			if (mc.err)
				snprintf(err, errlen, "%s: mapping 0x%" PRIx64 ": %s", o->path,
					 mc.off, strerror(-mc.err));
			else
				snprintf(err, errlen, "%s: reading its tables: %s", o->path,
					 pcow_errmsg(p->img));
			goto fail;
		}
	}
	if (!o->readonly && adopt_chunks(p)) {
		snprintf(err, errlen, "%s: out of memory", o->path);
		goto fail;
	}
	p->st.mappings_at_start = p->st.mappings;

	p->stopfd = eventfd(0, EFD_CLOEXEC);
	if (p->stopfd < 0) {
		snprintf(err, errlen, "%s: eventfd: %s", o->path, strerror(errno));
		goto fail;
	}
	if (pthread_create(&p->fault_thr, NULL, fault_thread, p)) {
		snprintf(err, errlen, "%s: cannot start the fault thread", o->path);
		goto fail;
	}
	p->fault_started = true;
	if (!o->readonly) {
		if (pthread_create(&p->alloc_thr, NULL, alloc_thread, p)) {
			snprintf(err, errlen, "%s: cannot start the pre-allocator", o->path);
			goto fail;
		}
		p->alloc_started = true;
	}

	b->fd = -1;
	b->kind = NVDIMM_FILE;
	b->map = p->map;
	b->map_len = p->size;
	b->size = p->size;
	b->label = p->labels;
	b->label_size = p->label_size;
	b->readonly = o->readonly;
	b->shared = true;
	b->pcow = p;
	return 0;

uffd_fail:
	snprintf(err, errlen, "%s: userfaultfd registration of %" PRIu64 " bytes: %s",
		 o->path, p->size, strerror(errno));
fail:
	pcow_free(p);
	return -1;
}

int nvdimm_pcow_flush(struct nvdimm_backing *b)
{
	struct nvdimm_pcow *p = b->pcow;
	uint64_t t0 = now_ns();
	int r = 0;

	if (!p || p->readonly)
		return 0;
	pthread_mutex_lock(&p->lock);
	/* the guest's stores sit in the file's page cache: data first, then
	 * the metadata that maps it (the format's commit) */
	if (p->failed || move_dirty(p) || commit_pending(p))
		r = -EIO;	/* a store may have missed the image */
	else if (fdatasync(p->fd))
		r = -errno;
	else if (pcow_flush(p->img))
		r = -EIO;
	p->st.flushes++;
	nvdimm_lat_add(&p->st.flush_lat, now_ns() - t0);
	pthread_mutex_unlock(&p->lock);
	return r;
}

void nvdimm_pcow_set_fatal(struct nvdimm_backing *b,
			   void (*fn)(void *opaque, const char *msg), void *opaque)
{
	if (!b->pcow)
		return;
	pthread_mutex_lock(&b->pcow->lock);
	b->pcow->fatal = fn;
	b->pcow->fatal_opaque = opaque;
	pthread_mutex_unlock(&b->pcow->lock);
}

void nvdimm_pcow_get_stats(struct nvdimm_backing *b, struct nvdimm_pcow_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!b->pcow)
		return;
	pthread_mutex_lock(&b->pcow->lock);
	move_dirty(b->pcow);	/* count what the guest wrote so far */
	*st = b->pcow->st;
	st->faultless = b->pcow->faultless;
	st->reserved = pcow_reserved(b->pcow->img);
	st->wp = b->pcow->wp;
	st->readonly = b->pcow->readonly;
	st->failed = b->pcow->failed;
	st->cluster_size = b->pcow->csize;
	{
		struct pcow_info in;

		pcow_get_info(b->pcow->img, &in);
		st->allocated_clusters = in.allocated_clusters;
	}
	pthread_mutex_unlock(&b->pcow->lock);
}

void nvdimm_pcow_close(struct nvdimm_backing *b)
{
	struct nvdimm_pcow *p = b->pcow;

	if (!p)
		return;
	nvdimm_pcow_flush(b);
	pcow_free(p);	/* stops the threads, unmaps, pcow_close flushes again */
	b->pcow = NULL;
	b->map = NULL;
}

bool nvdimm_pcow_wants_dirty_log(const struct nvdimm_backing *b)
{
	return b->pcow && b->pcow->faultless;
}

void nvdimm_pcow_set_host(struct nvdimm_backing *b, const struct nvdimm_pcow_host *h)
{
	if (!b->pcow)
		return;
	pthread_mutex_lock(&b->pcow->lock);
	b->pcow->host = *h;
	b->pcow->have_host = h->dirty_log && h->rearm && h->change;
	b->pcow->last_move_ns = now_ns();
	pthread_mutex_unlock(&b->pcow->lock);
}

/* ---- live snapshots ---- */

/*
 * Turn the whole guest range back into the empty placeholder registered
 * with userfaultfd, so every later access faults into the handler: stores to
 * clusters a new snapshot holds then go through copy-on-write. One mmap of
 * the memfd over the range replaces every file mapping at once (KVM's MMU
 * notifier drops the EPT/NPT entries); the placeholder is emptied too (its
 * write-protected read copies would otherwise come back without their WP
 * marker), and the new mapping is registered again. Called with p->lock
 * held and the vCPUs paused. Returns 0 or -errno; on failure the range may
 * be half mapped, so the caller stops the VM.
 */
static int unmap_all(struct nvdimm_pcow *p)
{
	struct uffdio_register reg;

	if (mmap(p->map, p->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED |
		 MAP_NORESERVE, p->memfd, 0) == MAP_FAILED)
		return -errno;
	if (fallocate(p->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)p->size))
		return -errno;
	reg.range.start = (uintptr_t)p->map;
	reg.range.len = p->size;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING | (p->wp ? UFFDIO_REGISTER_MODE_WP : 0);
	if (ioctl(p->uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	return 0;
}

/* The image's snapshot named name in *out (1), 0 if none, -1 on error. */
static int find_snap(struct nvdimm_pcow *p, const char *name, struct pcow_snapshot *out,
		     char *err, size_t errlen)
{
	struct pcow_snapshot *v;
	int n = pcow_snapshot_list(p->img, NULL, 0), found = 0;

	if (n < 0) {
		snprintf(err, errlen, "listing snapshots: %s", pcow_errmsg(p->img));
		return -1;
	}
	v = calloc((size_t)n + 1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = pcow_snapshot_list(p->img, v, (unsigned)n);
	for (int i = 0; i < n; i++)
		if (!strcmp(v[i].name, name)) {
			*out = v[i];
			found = 1;
		}
	free(v);
	return found;
}

static int check_name(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);

	if (!len || len > PCOW_MAX_NAME) {
		snprintf(err, errlen, "args.name: a snapshot name is 1 to %d bytes",
			 PCOW_MAX_NAME);
		return -1;
	}
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f) {
			snprintf(err, errlen, "args.name: control characters are not "
				 "allowed in a snapshot name");
			return -1;
		}
	return 0;
}

/* Refusals common to create and delete. Called with p->lock held. */
static int writable(struct nvdimm_pcow *p, char *err, size_t errlen)
{
	if (p->readonly) {
		snprintf(err, errlen, "the image is served read-only (readonly=on)");
		return -1;
	}
	if (p->failed) {
		snprintf(err, errlen, "the NVDIMM has failed (the VM is stopping)");
		return -1;
	}
	return 0;
}

/* Start of create and delete: the name is valid, both locks are held
 * (reserve_lock first) and the image can change; -1 (locks released) if
 * not. snap_op_end() releases them. */
static int snap_op_begin(struct nvdimm_pcow *p, const char *name, char *err, size_t errlen)
{
	if (check_name(name, err, errlen))
		return -1;
	pthread_mutex_lock(&p->reserve_lock);
	pthread_mutex_lock(&p->lock);
	if (writable(p, err, errlen)) {
		pthread_mutex_unlock(&p->lock);
		pthread_mutex_unlock(&p->reserve_lock);
		return -1;
	}
	return 0;
}

static void snap_op_end(struct nvdimm_pcow *p)
{
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_unlock(&p->reserve_lock);
}

int nvdimm_pcow_snapshot_check(struct nvdimm_backing *b, const char *name,
			       char *err, size_t errlen)
{
	struct nvdimm_pcow *p = b->pcow;
	struct pcow_snapshot sn;
	int r;

	if (check_name(name, err, errlen))
		return -1;
	pthread_mutex_lock(&p->lock);
	r = writable(p, err, errlen);
	if (!r) {
		r = find_snap(p, name, &sn, err, errlen);
		if (r > 0)
			snprintf(err, errlen, "a snapshot named '%s' already exists", name);
	}
	pthread_mutex_unlock(&p->lock);
	return r ? -1 : 0;
}

int nvdimm_pcow_snapshot_create(struct nvdimm_backing *b, const char *name,
				uint64_t us[3], char *err, size_t errlen)
{
	uint64_t t0 = now_ns(), t1 = t0, t2 = t0;
	struct nvdimm_pcow *p = b->pcow;
	bool changing = false, unmapped = false;
	int r, rc = -1;

	if (snap_op_begin(p, name, err, errlen))
		return -1;
	/* vmm's own threads (virtio devices) may store into the range while
	 * the vCPUs are paused: read-only until the placeholder replaces the
	 * views, such a store waits (vm.c's SIGSEGV handler) and then faults
	 * into the handler like any other */
	if (p->faultless) {
		change(p, true);
		if (mprotect(p->map, p->size, PROT_READ)) {
			change(p, false);
			snprintf(err, errlen, "write-protecting the DIMM: %s", strerror(errno));
			goto out;
		}
		changing = true;
	}
	/* every guest store so far is in the file's page cache or, written
	 * without a fault, moved there now; the slots written without a
	 * fault become the image's, so the snapshot holds them.
	 * pcow_snapshot_create() below first makes all data durable
	 * (fdatasync of the file: the guest's stores too) and then the
	 * metadata, so no flush of our own is needed inside the pause (the
	 * caller flushed just before it). */
	if (move_dirty(p) || commit_pending(p)) {
		snprintf(err, errlen, "committing written clusters: %s (the VM stops)",
			 pcow_errmsg(p->img));
		goto out;
	}
	t1 = now_ns();
	/* Unmap first: if the snapshot then fails, the guest just faults its
	 * clusters back in; the other order would leave stores going to
	 * clusters the snapshot holds. */
	r = unmap_all(p);
	unmapped = r == 0;
	if (r) {
		fail(p, "replacing the file mappings for a snapshot: %s", strerror(-r));
		snprintf(err, errlen, "replacing the file mappings: %s (the VM stops)",
			 strerror(-r));
		goto out;
	}
	chunks_reset(p);
	if (p->faultless) {
		/* every view is the placeholder again: spans map their view
		 * anew on their next fault, and the dirty log starts over */
		memset(p->viewed, 0, bitmap_bytes(p->nspans));
		memset(p->base_viewed, 0, bitmap_bytes(p->nspans));
		p->view_maps = 0;
		memset(p->settled, 0, bitmap_bytes(p->npages));
		if (p->have_host && p->host.rearm(p->host.opaque)) {
			fail(p, "re-arming KVM's dirty log: %s", strerror(errno));
			snprintf(err, errlen, "re-arming KVM's dirty log: %s (the VM stops)",
				 strerror(errno));
			goto out;
		}
	}
	t2 = now_ns();
	if (pcow_snapshot_create(p->img, name)) {
		snprintf(err, errlen, "%s", pcow_errmsg(p->img));
		goto out;
	}
	p->st.snapshots++;
	us[0] = (t1 - t0) / 1000;
	us[1] = (t2 - t1) / 1000;
	us[2] = (now_ns() - t2) / 1000;
	rc = 0;
out:
	if (changing) {
		/* on failure before the placeholder went back: writable again
		 * (the VM stops); after it the mapping is the placeholder's */
		if (!unmapped)
			mprotect(p->map, p->size, PROT_READ | PROT_WRITE);
		change(p, false);
	}
	snap_op_end(p);
	return rc;
}

int nvdimm_pcow_snapshot_delete(struct nvdimm_backing *b, const char *name,
				char *err, size_t errlen)
{
	struct nvdimm_pcow *p = b->pcow;
	struct pcow_snapshot sn;
	int r, rc = -1;

	if (snap_op_begin(p, name, err, errlen))
		return -1;
	r = find_snap(p, name, &sn, err, errlen);
	if (r < 0)
		goto out;
	if (r == 0) {
		snprintf(err, errlen, "no snapshot named '%s'", name);
		goto out;
	}
	/* the active layer reads through the current snapshot: deleting it
	 * would move its clusters under the mapped guest range */
	if (sn.current) {
		snprintf(err, errlen, "'%s' is the current snapshot (the running VM's "
			 "layer is its child): it cannot be deleted while the VM runs",
			 name);
		goto out;
	}
	if (pcow_snapshot_delete(p->img, name)) {
		snprintf(err, errlen, "%s", pcow_errmsg(p->img));
		goto out;
	}
	rc = 0;
out:
	snap_op_end(p);
	return rc;
}

int nvdimm_pcow_snapshot_list(struct nvdimm_backing *b, struct pcow_snapshot **out,
			      char *err, size_t errlen)
{
	struct nvdimm_pcow *p = b->pcow;
	int n;

	*out = NULL;
	pthread_mutex_lock(&p->lock);
	n = pcow_snapshot_list(p->img, NULL, 0);
	if (n >= 0) {
		*out = calloc((size_t)n + 1, sizeof(**out));
		if (!*out) {
			pthread_mutex_unlock(&p->lock);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		n = pcow_snapshot_list(p->img, *out, (unsigned)n);
	}
	if (n < 0) {
		snprintf(err, errlen, "listing snapshots: %s", pcow_errmsg(p->img));
		free(*out);
		*out = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

long nvdimm_count_vmas(const void *start, uint64_t len)
{
	uintptr_t lo = (uintptr_t)start, hi = lo + len;
	char line[512];
	long n = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, z;
		size_t l = strlen(line);

		if (sscanf(line, "%lx-%lx", &a, &z) == 2 && a < hi && z > lo)
			n++;
		/* a line longer than the buffer: skip its rest */
		while (l && line[l - 1] != '\n' && fgets(line, sizeof(line), f))
			l = strlen(line);
	}
	fclose(f);
	return n;
}

/* ---- The image's bad-range record (errors.c keeps a DIMM's list in it) ---- */

int nvdimm_pcow_bad_load(struct nvdimm_backing *b, struct nvdimm_badlist *l,
			 char *err, size_t errlen)
{
	struct nvdimm_pcow *p = b->pcow;
	struct pcow_bad_range r[NVDIMM_BAD_MAX];
	int n;

	pthread_mutex_lock(&p->lock);
	n = pcow_bad_ranges(p->img, r, NVDIMM_BAD_MAX);
	if (n < 0)
		snprintf(err, errlen, "reading its bad-range record: %s", pcow_errmsg(p->img));
	pthread_mutex_unlock(&p->lock);
	if (n < 0)
		return -1;
	if (n > NVDIMM_BAD_MAX) {
		snprintf(err, errlen, "its bad-range record holds %d ranges; vmm keeps at "
			 "most %d per DIMM", n, NVDIMM_BAD_MAX);
		return -1;
	}
	l->n = 0;
	for (int i = 0; i < n; i++)
		if (nvdimm_bad_add(l, r[i].off, r[i].len, p->size)) {
			snprintf(err, errlen, "its bad-range record has %" PRIu64 "+%" PRIu64
				 " outside the DIMM", r[i].off, r[i].len);
			return -1;
		}
	return 0;
}

int nvdimm_pcow_bad_save(struct nvdimm_backing *b, const struct nvdimm_badlist *l,
			 char *err, size_t errlen)
{
	struct nvdimm_pcow *p = b->pcow;
	struct pcow_bad_range r[NVDIMM_BAD_MAX];
	int rc = 0;

	for (int i = 0; i < l->n; i++)
		r[i] = (struct pcow_bad_range){ l->r[i].off, l->r[i].len };
	pthread_mutex_lock(&p->reserve_lock);
	pthread_mutex_lock(&p->lock);
	if (pcow_set_bad_ranges(p->img, r, (size_t)l->n)) {
		snprintf(err, errlen, "writing its bad-range record: %s", pcow_errmsg(p->img));
		rc = -1;
	}
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_unlock(&p->reserve_lock);
	return rc;
}
