/*
 * errors.c - the vmm side of NVDIMM media errors: each DIMM's bad-range
 * record (ars.c's list), how the guest meets it, and how it is kept.
 *
 *   - Found: the core's memory_error hook (a SIGBUS on the backing, memerr.c),
 *     the memory_fault hook (KVM_RUN failed with EFAULT: a raw file shrank
 *     under the guest; the lost tail is recorded), a guarded vmm access that
 *     hit SIGBUS, or the control command nvdimm-inject-error.
 *   - Met: every recorded range is a hole in KVM's memslots (vm_mem_hole,
 *     page granular), and the DIMM's whole range is registered as MMIO here:
 *     a guest read that touches a recorded byte gets a machine check
 *     (vm_io_machine_check); other bytes of a hole page are read and written
 *     through the mapping. Writes to recorded bytes are dropped: poisoned
 *     lines do not take partial writes; the guest clears them first.
 *   - Reported and cleared: the NFIT root _DSM (ars.c) through the DSM
 *     page; Clear Uncorrectable Error zeroes the range in a raw file
 *     (whole pages punched with FALLOC_FL_PUNCH_HOLE and mapped again, so a
 *     host-poisoned page is replaced; partial pages written with zeros; a
 *     shrunk file is grown back first), zeroes it in the private mapping of
 *     a share=off DIMM, and only forgets the record for pcow images, device
 *     DAX and readonly=on DIMMs.
 *   - Kept: for a pcow image, in the image's bad-range record (libpcow,
 *     docs/pcow-format.md, replaced whole and durably on every change); for
 *     other backings in PATH.badblocks, a text sidecar (docs/nvdimm.md),
 *     rewritten atomically (temporary file, fsync, rename, fsync of the
 *     directory) on every change and removed when the record is empty.
 *     Read at start.
 *
 * Locking: err_lock guards the lists; vCPU threads (DSM calls, MMIO, the
 * hooks) and the main thread (commands) take it. Holes and the sidecar are
 * updated on the main thread (sync(), woken through an eventfd), because
 * changing memslots pauses the vCPUs.
 */
#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif
#ifndef FALLOC_FL_KEEP_SIZE
#define FALLOC_FL_KEEP_SIZE 0x01
#endif
#ifndef FALLOC_FL_PUNCH_HOLE
#define FALLOC_FL_PUNCH_HOLE 0x02
#endif

#define PG 4096ULL

struct edimm {
	struct nvdimm_backing *b;
	const char *path;
	char *sidecar;           /* PATH.badblocks */
	uint64_t gpa, size;
	bool readonly;
	struct nvdimm_badlist bad;
	struct nvdimm_badlist holes; /* page-rounded ranges now out of the memslots */
};

static struct edimm ed[NVDIMM_MAX];
static int ned;
static struct nvdimm_ars_dimm ad[NVDIMM_MAX];
static struct nvdimm_ars ars;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static struct vm *evm;
static int sync_fd = -1;
static atomic_bool sync_pending;
static atomic_uint_fast64_t mmio_exits; /* guest accesses that reached err_mmio */
static uint64_t nerrors_found;

static void request_sync(void)
{
	uint64_t one = 1;
	ssize_t r;

	atomic_store(&sync_pending, true);
	r = write(sync_fd, &one, sizeof(one));
	(void)r;
}

/* ---- The sidecar -------------------------------------------------------- */

static int save(struct edimm *e, char *err, size_t errlen)
{
	char tmp[4200], *text, *dirc;
	size_t need;
	int fd, dfd;
	struct nvdimm_badlist copy;

	if (e->readonly)
		return 0;
	pthread_mutex_lock(&err_lock);
	copy = e->bad;
	pthread_mutex_unlock(&err_lock);
	if (e->b->pcow)	/* in the image itself */
		return nvdimm_pcow_bad_save(e->b, &copy, err, errlen);
	if (copy.n == 0) {
		if (unlink(e->sidecar) && errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", e->sidecar, strerror(errno));
			return -1;
		}
		return 0;
	}
	need = nvdimm_bad_format(&copy, NULL, 0) + 1;
	text = malloc(need);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	nvdimm_bad_format(&copy, text, need);
	snprintf(tmp, sizeof(tmp), "%s.tmp", e->sidecar);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, need - 1) != (ssize_t)(need - 1) || fsync(fd) ||
	    close(fd) || rename(tmp, e->sidecar)) {
		snprintf(err, errlen, "%.200s: %s", tmp, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
		free(text);
		return -1;
	}
	free(text);
	dirc = strdup(e->sidecar);
	if (dirc) {
		dfd = open(dirname(dirc), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(dirc);
	}
	return 0;
}

static int load(struct edimm *e, char *err, size_t errlen)
{
	char msg[200], *text;
	struct stat st;
	int fd;
	ssize_t n;

	if (e->b->pcow)
		return nvdimm_pcow_bad_load(e->b, &e->bad, err, errlen);
	fd = open(e->sidecar, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", e->sidecar, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || st.st_size > (1 << 20)) {
		snprintf(err, errlen, "%s: unreadable or larger than 1 MiB", e->sidecar);
		close(fd);
		return -1;
	}
	text = malloc((size_t)st.st_size + 1);
	n = text ? read(fd, text, (size_t)st.st_size) : -1;
	close(fd);
	if (n != st.st_size) {
		snprintf(err, errlen, "%s: cannot read it", e->sidecar);
		free(text);
		return -1;
	}
	if (nvdimm_bad_parse(text, (size_t)n, e->size, &e->bad, msg, sizeof(msg))) {
		snprintf(err, errlen, "%s: %s (fix or remove the file: it lists the "
			 "DIMM's known bad ranges)", e->sidecar, msg);
		free(text);
		return -1;
	}
	free(text);
	return 0;
}

/* ---- Holes (main thread) ------------------------------------------------ */

/* Bring e's memslot holes in line with its list (page granular). */
static void sync_holes(struct edimm *e)
{
	struct nvdimm_badlist want = { .n = 0 };

	pthread_mutex_lock(&err_lock);
	for (int i = 0; i < e->bad.n; i++) {
		uint64_t s = e->bad.r[i].off & ~(PG - 1);
		uint64_t t = (e->bad.r[i].off + e->bad.r[i].len + PG - 1) & ~(PG - 1);

		nvdimm_bad_add(&want, s, t - s, e->size);
	}
	pthread_mutex_unlock(&err_lock);
	if (want.n == e->holes.n && !memcmp(want.r, e->holes.r, (size_t)want.n * sizeof(want.r[0])))
		return;
	if (e->holes.n)
		vm_mem_hole(evm, e->gpa, e->size, false);
	for (int i = 0; i < want.n; i++)
		if (vm_mem_hole(evm, e->gpa + want.r[i].off, want.r[i].len, true))
			vmm_log("nvdimm: %s: cannot take bad range +0x%" PRIx64 " out of the "
				"guest mapping", e->path, want.r[i].off);
	e->holes = want;
}

static void sync_all(void)
{
	char err[300];

	atomic_store(&sync_pending, false);
	/* One pause around all the changes: no window in which a bad page
	 * is back in the guest mapping. */
	vm_pause_vcpus(evm);
	for (int i = 0; i < ned; i++)
		sync_holes(&ed[i]);
	vm_resume_vcpus(evm);
	for (int i = 0; i < ned; i++)
		if (save(&ed[i], err, sizeof(err)))
			vmm_log("nvdimm %d: cannot write the bad-range record: %s", i, err);
}

static void on_sync(void *opaque, uint32_t events)
{
	uint64_t n;

	(void)opaque;
	(void)events;
	if (read(sync_fd, &n, sizeof(n)) == sizeof(n))
		sync_all();
}

/* ---- Recording ------------------------------------------------------------ */

static int record(int i, uint64_t off, uint64_t len)
{
	int rc;

	pthread_mutex_lock(&err_lock);
	rc = nvdimm_bad_add(&ed[i].bad, off, len, ed[i].size);
	pthread_mutex_unlock(&err_lock);
	if (rc == 0)
		nerrors_found++;
	return rc;
}

static bool check_shrunk(void);

static int dimm_of(uint64_t gpa, uint64_t *off)
{
	for (int i = 0; i < ned; i++)
		if (gpa >= ed[i].gpa && gpa - ed[i].gpa < ed[i].size) {
			*off = gpa - ed[i].gpa;
			return i;
		}
	return -1;
}

void nvdimm_err_memory_error(struct vm *vm, uint64_t gpa, uint64_t len, int kind)
{
	uint64_t off;
	int i = dimm_of(gpa, &off);

	(void)vm;
	(void)kind;
	if (i < 0)
		return;
	if (len > ed[i].size - off)
		len = ed[i].size - off;
	if (record(i, off, len))
		vmm_log("nvdimm %d: %s: bad range +0x%" PRIx64 " not recorded (list full)",
			i, ed[i].path, off);
	/* A page beyond the end of a shrunk file is one case: the whole
	 * lost tail is bad, not only the page that was touched. */
	check_shrunk();
	request_sync();
}

/* A raw file that shrank under the guest: record the lost tails. */
static bool check_shrunk(void)
{
	bool found = false;

	for (int i = 0; i < ned; i++) {
		struct edimm *e = &ed[i];
		struct stat st;
		uint64_t from;

		if (e->b->pcow || e->b->kind != NVDIMM_FILE || fstat(e->b->fd, &st) ||
		    (uint64_t)st.st_size >= e->size)
			continue;
		from = (uint64_t)st.st_size & ~(PG - 1);
		pthread_mutex_lock(&err_lock);
		/* Not yet recorded as one range (the list is merged)? */
		if (e->bad.n == 0 || e->bad.r[e->bad.n - 1].off > from ||
		    e->bad.r[e->bad.n - 1].off + e->bad.r[e->bad.n - 1].len < e->size) {
			if (nvdimm_bad_add(&e->bad, from, e->size - from, e->size) == 0)
				found = true;
		}
		pthread_mutex_unlock(&err_lock);
		if (found) {
			vmm_log("nvdimm %d: %s: the file shrank to %" PRIu64 " bytes under the "
				"guest; bytes from %" PRIu64 " are recorded bad", i, e->path,
				(uint64_t)st.st_size, from);
			request_sync();
		}
	}
	return found;
}

/* KVM could not map some guest memory and said no more. */
bool nvdimm_err_memory_fault(struct vm *vm)
{
	(void)vm;
	return check_shrunk() || atomic_load(&sync_pending);
}

/* ---- The guest's accesses to hole pages (MMIO) --------------------------- */

struct copy {
	void *dst;
	const void *src;
	size_t len;
};

static void do_copy(void *opaque)
{
	struct copy *c = opaque;

	memcpy(c->dst, c->src, c->len);
}

static void err_mmio(void *opaque, uint64_t addr, void *data, unsigned len, bool is_write)
{
	struct edimm *e = opaque;
	int i = (int)(e - ed);
	struct copy c;
	void *bad;
	bool hit;

	atomic_fetch_add(&mmio_exits, 1);
	if (addr >= e->size || len > e->size - addr)
		return;
	pthread_mutex_lock(&err_lock);
	hit = nvdimm_bad_hit(&e->bad, addr, len);
	pthread_mutex_unlock(&err_lock);
	if (is_write) {
		if (e->readonly || hit)
			return;   /* dropped (see the file header) */
		c = (struct copy){ e->b->map + addr, data, len };
		/* a pcow DIMM's dirty log does not see vmm's own stores; one
		 * that meets a cluster move waits for it (vm.c) */
		vm_mem_mark_dirty(evm, e->gpa + addr, len);
	} else {
		if (hit) {
			memset(data, 0xff, len);
			vm_io_machine_check(evm, e->gpa + addr);
			return;
		}
		c = (struct copy){ data, e->b->map + addr, len };
	}
	if (vm_guarded(do_copy, &c, e->b->map, e->size, &bad) < 0) {
		uint64_t off = ((uint64_t)((uint8_t *)bad - e->b->map)) & ~(PG - 1);

		record(i, off, PG);
		check_shrunk();
		request_sync();
		if (!is_write) {
			memset(data, 0xff, len);
			vm_io_machine_check(evm, e->gpa + addr);
		}
	}
}

/* ---- Clear Uncorrectable Error ------------------------------------------- */

static void do_zero(void *opaque)
{
	struct copy *c = opaque;

	memset(c->dst, 0, c->len);
}

/* Called by ars.c under err_lock (nvdimm_err_dsm), on a vCPU thread. */
static int cleared(void *opaque, int i, uint64_t off, uint64_t len, uint64_t bytes)
{
	struct edimm *e = &ed[i];
	struct nvdimm_backing *b = e->b;
	uint64_t ps = (off + PG - 1) & ~(PG - 1), pe = (off + len) & ~(PG - 1);
	int rc = 0;

	(void)opaque;
	(void)bytes;
	request_sync();
	if (e->readonly || b->pcow || b->kind != NVDIMM_FILE)
		return 0;
	if (!b->shared) {
		struct copy c = { b->map + off, NULL, len };

		return vm_guarded(do_zero, &c, b->map, e->size, NULL) < 0 ? -1 : 0;
	}
	{
		struct stat st;

		if (fstat(b->fd, &st) == 0 && (uint64_t)st.st_size < b->map_len &&
		    ftruncate(b->fd, (off_t)b->map_len))
			return -1;
	}
	if (ps < pe && fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 (off_t)ps, (off_t)(pe - ps)) == 0) {
		int flags = b->map_sync ? MAP_SHARED_VALIDATE | MAP_SYNC : MAP_SHARED;

		/* Fresh page table entries: a host-poisoned page stays
		 * poisoned in this mapping until it is mapped again. */
		if (mmap(b->map + ps, pe - ps, PROT_READ | PROT_WRITE, MAP_FIXED | flags,
			 b->fd, (off_t)ps) == MAP_FAILED)
			rc = -1;
	} else {
		ps = pe = off;
	}
	/* The rest (partial pages, or all when punching is not possible). */
	for (uint64_t pos = off; pos < off + len;) {
		static const uint8_t zero[4096];
		uint64_t n;

		if (pos >= ps && pos < pe) {
			pos = pe;
			continue;
		}
		n = (pos < ps ? ps : off + len) - pos;
		if (n > sizeof(zero))
			n = sizeof(zero);
		if (pwrite(b->fd, zero, n, (off_t)pos) != (ssize_t)n)
			return -1;
		pos += n;
	}
	return rc;
}

struct dsm_args {
	struct nvdimm_dsm *dsm;
	uint8_t *page;
};

static void do_dsm(void *opaque)
{
	struct dsm_args *a = opaque;

	nvdimm_dsm_handle(a->dsm, a->page);
}

/* The DSM page handler for module.c: the lists stay still during the call,
 * and a SIGBUS in a label copy (a truncated file, a poisoned label page)
 * gives the guest a hardware-error status instead of killing the vmm. */
void nvdimm_err_dsm(struct nvdimm_dsm *dsm, uint8_t *page)
{
	struct dsm_args a = { dsm, page };
	void *bad = NULL;

	pthread_mutex_lock(&err_lock);
	if (vm_guarded(do_dsm, &a, NULL, SIZE_MAX, &bad) < 0) {
		uint8_t resp[8] = { 4, 0, 0, 0, NVDIMM_ST_HW_ERROR, 0, 0, 0 };

		dsm->calls++;
		dsm->errors++;
		memcpy(page, resp, sizeof(resp));
		vmm_log("nvdimm: SIGBUS at %p during a DSM call (a label area's backing "
			"shrank or is poisoned?): answered with an error", bad);
	}
	pthread_mutex_unlock(&err_lock);
}

/* ---- Control commands ------------------------------------------------------ */

int nvdimm_err_cmd_inject(struct vm *vm, struct json_object *args,
			  struct json_object *result, char *err, size_t errlen)
{
	uint64_t dimm = 0, off = 0, len = 0;
	int r1, r2, r3;

	(void)vm;
	if ((r1 = vmm_arg_u64(args, "nvdimm", &dimm, err, errlen)) < 0 ||
	    (r2 = vmm_arg_u64(args, "offset", &off, err, errlen)) < 0 ||
	    (r3 = vmm_arg_u64(args, "length", &len, err, errlen)) < 0)
		return -1;
	if (!r2 || !r3) {
		snprintf(err, errlen, "args.offset and args.length are required");
		return -1;
	}
	if (dimm >= (uint64_t)ned) {
		snprintf(err, errlen, "args.nvdimm: no NVDIMM %" PRIu64 " (there are %d)", dimm, ned);
		return -1;
	}
	if (len == 0 || off >= ed[dimm].size || len > ed[dimm].size - off) {
		snprintf(err, errlen, "args.offset/length: %" PRIu64 "+%" PRIu64 " is empty or "
			 "outside the DIMM's %" PRIu64 " bytes", off, len, ed[dimm].size);
		return -1;
	}
	if (record((int)dimm, off, len)) {
		snprintf(err, errlen, "NVDIMM %" PRIu64 " already has %d bad ranges (the most)",
			 dimm, NVDIMM_BAD_MAX);
		return -1;
	}
	(void)r1;
	sync_all();
	json_object_object_add(result, "nvdimm", json_object_new_uint64(dimm));
	json_object_object_add(result, "gpa", json_object_new_uint64(ed[dimm].gpa + off));
	json_object_object_add(result, "ranges", json_object_new_int(ed[dimm].bad.n));
	return 0;
}

int nvdimm_err_cmd_errors(struct vm *vm, struct json_object *args,
			  struct json_object *result, char *err, size_t errlen)
{
	struct json_object *list = json_object_new_array();

	(void)vm;
	(void)args;
	(void)err;
	(void)errlen;
	pthread_mutex_lock(&err_lock);
	for (int i = 0; i < ned; i++)
		for (int j = 0; j < ed[i].bad.n; j++) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "nvdimm", json_object_new_int(i));
			json_object_object_add(o, "offset", json_object_new_uint64(ed[i].bad.r[j].off));
			json_object_object_add(o, "length", json_object_new_uint64(ed[i].bad.r[j].len));
			json_object_object_add(o, "gpa",
					       json_object_new_uint64(ed[i].gpa + ed[i].bad.r[j].off));
			json_object_array_add(list, o);
		}
	json_object_object_add(result, "errors", list);
	json_object_object_add(result, "ars_starts", json_object_new_uint64(ars.starts));
	json_object_object_add(result, "ars_queries", json_object_new_uint64(ars.queries));
	json_object_object_add(result, "clears", json_object_new_uint64(ars.clears));
	pthread_mutex_unlock(&err_lock);
	return 0;
}

/* ---- Set-up --------------------------------------------------------------- */

int nvdimm_err_attach(struct vm *vm, int i, struct nvdimm_backing *b, const char *path,
		      const struct nvdimm_desc *d, bool readonly, char *err, size_t errlen)
{
	struct edimm *e = &ed[i];

	evm = vm;
	if (sync_fd < 0) {
		sync_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (sync_fd < 0 || vm_add_fd(vm, sync_fd, EPOLLIN, on_sync, NULL) < 0) {
			snprintf(err, errlen, "nvdimm: eventfd: %s", strerror(errno));
			return -1;
		}
	}
	memset(e, 0, sizeof(*e));
	e->b = b;
	e->path = path;
	e->gpa = d->gpa;
	e->size = d->size;
	e->readonly = readonly;
	if (asprintf(&e->sidecar, "%s.badblocks", path) < 0) {
		e->sidecar = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (load(e, err, errlen))
		return -1;
	if (vm_register_mmio(vm, d->gpa, d->size, err_mmio, e) < 0) {
		snprintf(err, errlen, "nvdimm %d: cannot claim its range for error handling", i);
		return -1;
	}
	/* a hot-added DIMM joins while vCPUs make DSM calls */
	pthread_mutex_lock(&err_lock);
	ad[i] = (struct nvdimm_ars_dimm){ d->handle, d->gpa, d->size, &e->bad };
	ned = i + 1;
	ars.d = ad;
	ars.n = ned;
	ars.cleared = cleared;
	pthread_mutex_unlock(&err_lock);
	if (e->bad.n)
		vmm_log("nvdimm %d: %s: %d bad range(s) from %s", i, path, e->bad.n,
			b->pcow ? "the image's record" : e->sidecar);
	sync_holes(e);
	return 0;
}

uint64_t nvdimm_err_mmio_exits(void)
{
	return atomic_load(&mmio_exits);
}

struct nvdimm_ars *nvdimm_err_ars(void)
{
	return &ars;
}

void nvdimm_err_teardown(void)
{
	for (int i = 0; i < ned; i++) {
		free(ed[i].sidecar);
		ed[i].sidecar = NULL;
	}
	ned = 0;
	ars.n = 0;
	if (sync_fd >= 0) {
		vm_del_fd(evm, sync_fd);
		close(sync_fd);
	}
	sync_fd = -1;
}
