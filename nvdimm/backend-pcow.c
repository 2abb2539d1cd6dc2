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
 * A pre-allocator thread keeps pcow_reserve() clusters ready so a first
 * write rarely extends the file itself.
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
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

#define PAGE 4096ULL
#define RESERVE_LOW 16u		/* refill below this many clusters */
#define RESERVE_TARGET 64u

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

		pcow_get_info(img, &in);
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
	p->st.mappings++;
	return 0;
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

	r = pcow_translate(p->img, coff, p->csize, &m);
	if (r) {
		fail(p, "translating 0x%" PRIx64 ": %s", coff, pcow_errmsg(p->img));
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
		if (cow)
			p->st.cow_faults++;
		else
			p->st.first_touch_faults++;
		if (dt > p->st.max_write_fault_ns)
			p->st.max_write_fault_ns = dt;
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
			r = pcow_reserve(p->img, RESERVE_TARGET - have);
			pthread_mutex_lock(&p->lock);
			if (r < 0) {
				p->st.reserve_errors++;
			} else {
				p->st.reserve_refills++;
				continue;
			}
		}
		{
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 100 * 1000000L;
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
	free(p->buf);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
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
	uint64_t off;

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
	pcow_get_info(p->img, &in);
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
	p->buf = aligned_alloc(PAGE, PAGE);
	if (!p->buf) {
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

	/* Map the active layer's own clusters from the file. */
	for (off = 0; off < p->size;) {
		struct pcow_map m;
		int r = pcow_translate(p->img, off, p->size - off, &m);

		if (r || m.len == 0 || m.len > p->size - off) {
			snprintf(err, errlen, "%s: translating 0x%" PRIx64 ": %s", o->path, off,
				 r ? pcow_errmsg(p->img) : "bad length");
			goto fail;
		}
		if (m.kind == PCOW_MAP_DATA && !m.shared) {
			r = map_file(p, off, m.len, m.host_off);
			if (r) {
				snprintf(err, errlen, "%s: mapping 0x%" PRIx64 " (+%" PRIu64 "): %s",
					 o->path, off, m.len, strerror(-r));
				goto fail;
			}
		}
		off += m.len;
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
	int r = 0;

	if (!p || p->readonly)
		return 0;
	pthread_mutex_lock(&p->lock);
	/* the guest's stores sit in the file's page cache: data first, then
	 * the metadata that maps it (the format's commit) */
	if (p->failed)
		r = -EIO;	/* a store may have missed the image */
	else if (fdatasync(p->fd))
		r = -errno;
	else if (pcow_flush(p->img))
		r = -EIO;
	p->st.flushes++;
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
	*st = b->pcow->st;
	st->reserved = pcow_reserved(b->pcow->img);
	st->wp = b->pcow->wp;
	st->readonly = b->pcow->readonly;
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
