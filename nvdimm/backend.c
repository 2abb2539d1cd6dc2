/*
 * backend.c - the host side of one emulated NVDIMM: a raw file or a device
 * DAX character device, opened, validated, locked and mapped.
 *
 * Layout of the backing store: the guest-visible range first, the label
 * storage area after it (regular file: bytes [size, size + label_size);
 * device DAX: the last label_size bytes of the device). The whole store is
 * one mapping, so a label write and a guest store are made durable the same
 * way. A writable NVDIMM takes an exclusive flock(2) on its file, a
 * read-only one a shared lock: any number of vmm processes may serve a file
 * read-only at once, never while one writes it.
 *
 * Device DAX devices are resolved with libdaxctl (when built with it) to
 * tell the user precisely why one is unusable (system-ram mode, alignment,
 * size); its size and alignment come from sysfs otherwise.
 *
 * libdaxctl and libndctl are loaded with dlopen() only when a --nvdimm path
 * is a device DAX or a block device: linking them pulls in libudev, libkmod,
 * libcrypto, libzstd and liblzma, whose loading cost every vmm run (even
 * --version) a few milliseconds. If a library cannot be loaded, the sysfs
 * fallback and the generic messages are used, as in a build without them.
 */
#include "nvdimm.h"
#include "pcow.h"
#include "pmvm-config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#ifdef HAVE_LIBNDCTL
#include <daxctl/libdaxctl.h>
#include <dlfcn.h>
#include <ndctl/libndctl.h>
#endif
#include <limits.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

#define MiB_ (1ULL << 20)

#ifdef HAVE_LIBNDCTL
/* The few functions used, as pointers typed from the libraries' headers. */
#define DAXCTL_FNS(X) X(daxctl_new) X(daxctl_unref) X(daxctl_region_get_first) \
	X(daxctl_region_get_next) X(daxctl_dev_get_first) X(daxctl_dev_get_next) \
	X(daxctl_dev_get_major) X(daxctl_dev_get_minor) X(daxctl_dev_get_memory) \
	X(daxctl_memory_is_online) X(daxctl_dev_get_devname) \
	X(daxctl_dev_is_enabled) X(daxctl_dev_get_size) X(daxctl_dev_get_align)
#define NDCTL_FNS(X) X(ndctl_new) X(ndctl_unref) X(ndctl_bus_get_first) \
	X(ndctl_bus_get_next) X(ndctl_region_get_first) X(ndctl_region_get_next) \
	X(ndctl_namespace_get_first) X(ndctl_namespace_get_next) \
	X(ndctl_namespace_get_pfn) X(ndctl_namespace_get_btt) \
	X(ndctl_namespace_get_block_device) X(ndctl_pfn_get_block_device) \
	X(ndctl_btt_get_block_device) X(ndctl_namespace_get_devname) \
	X(ndctl_namespace_get_mode) X(ndctl_region_get_devname)
#define FN_PTR(f) __typeof__(&f) f;

static struct { DAXCTL_FNS(FN_PTR) } dax;
static struct { NDCTL_FNS(FN_PTR) } nd;

/* dlopen lib and resolve every name into the pointer table fns (names[i]
 * into slot i). 0 on success; -1 (and the table untouched) otherwise. The
 * handle is kept: the pointers stay valid for the process's life. */
static int load_lib(const char *lib, const char *const *names, void **fns, size_t n)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	void *tmp[32];

	if (!h || n > 32)
		return -1;
	for (size_t i = 0; i < n; i++) {
		tmp[i] = dlsym(h, names[i]);
		if (!tmp[i]) {
			dlclose(h);
			return -1;
		}
	}
	memcpy(fns, tmp, n * sizeof(void *));
	return 0;
}

#define FN_NAME(f) #f,
static bool have_daxctl(void)
{
	static int state; /* 0 not tried, 1 loaded, -1 unavailable */
	static const char *const names[] = { DAXCTL_FNS(FN_NAME) };

	_Static_assert(sizeof(dax) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
		       "one pointer per name");
	if (state == 0)
		state = load_lib("libdaxctl.so.1", names, (void **)&dax,
				 sizeof(names) / sizeof(names[0])) == 0 ? 1 : -1;
	return state > 0;
}

static bool have_ndctl(void)
{
	static int state;
	static const char *const names[] = { NDCTL_FNS(FN_NAME) };

	_Static_assert(sizeof(nd) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
		       "one pointer per name");
	if (state == 0)
		state = load_lib("libndctl.so.6", names, (void **)&nd,
				 sizeof(names) / sizeof(names[0])) == 0 ? 1 : -1;
	return state > 0;
}
#endif

static int read_sysfs_u64(unsigned maj, unsigned min, const char *attr, uint64_t *out)
{
	char path[128], buf[64];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "/sys/dev/char/%u:%u/%s", maj, min, attr);
	f = fopen(path, "re");
	if (!f)
		return -1;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return -1;
	*out = strtoull(buf, NULL, 0);
	return 0;
}

/* Size and alignment of a device DAX, or -1 with err explaining why the
 * character device is not a usable one. */
static int devdax_probe(const char *path, dev_t rdev, uint64_t *size, uint64_t *align,
			char *err, size_t errlen)
{
	unsigned maj = major(rdev), min = minor(rdev);
	char link[128], target[256];
	ssize_t n;

	snprintf(link, sizeof(link), "/sys/dev/char/%u:%u/subsystem", maj, min);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0 || (target[n] = '\0', !strstr(target, "/dax"))) {
		snprintf(err, errlen, "%s: a character device but not a device DAX "
			 "(expected /dev/daxX.Y from 'ndctl create-namespace -m devdax')", path);
		return -1;
	}
#ifdef HAVE_LIBNDCTL
	{
		struct daxctl_ctx *ctx;
		struct daxctl_region *region;
		struct daxctl_dev *dev, *found = NULL;

		if (have_daxctl() && dax.daxctl_new(&ctx) == 0) {
			for (region = dax.daxctl_region_get_first(ctx); region;
			     region = dax.daxctl_region_get_next(region))
				for (dev = dax.daxctl_dev_get_first(region); dev;
				     dev = dax.daxctl_dev_get_next(dev))
					if ((unsigned)dax.daxctl_dev_get_major(dev) == maj &&
					    (unsigned)dax.daxctl_dev_get_minor(dev) == min)
						found = dev;
			if (found) {
				struct daxctl_memory *mem = dax.daxctl_dev_get_memory(found);

				if (mem && dax.daxctl_memory_is_online(mem) > 0) {
					snprintf(err, errlen, "%s: %s is in system-ram mode (onlined "
						 "as host memory); run 'daxctl reconfigure-device "
						 "--mode=devdax %s' first", path,
						 dax.daxctl_dev_get_devname(found),
						 dax.daxctl_dev_get_devname(found));
					dax.daxctl_unref(ctx);
					return -1;
				}
				if (!dax.daxctl_dev_is_enabled(found)) {
					snprintf(err, errlen, "%s: %s is disabled; enable it with "
						 "'daxctl enable-device'", path,
						 dax.daxctl_dev_get_devname(found));
					dax.daxctl_unref(ctx);
					return -1;
				}
				*size = dax.daxctl_dev_get_size(found);
				*align = dax.daxctl_dev_get_align(found);
				dax.daxctl_unref(ctx);
				goto check;
			}
			dax.daxctl_unref(ctx);
		}
	}
#endif
	if (read_sysfs_u64(maj, min, "size", size)) {
		snprintf(err, errlen, "%s: cannot read the device DAX size from sysfs", path);
		return -1;
	}
	if (read_sysfs_u64(maj, min, "align", align))
		*align = 2 * MiB_;
#ifdef HAVE_LIBNDCTL
check:
#endif
	if (*align == 0)
		*align = 4096;
	if (*align > NVDIMM_SIZE_ALIGN || NVDIMM_SIZE_ALIGN % *align) {
		snprintf(err, errlen, "%s: device alignment %" PRIu64 " is not a divisor of "
			 "16M; recreate it with 'ndctl create-namespace -m devdax -a 2M'",
			 path, *align);
		return -1;
	}
	return 0;
}

#ifdef HAVE_LIBNDCTL
static const char *ns_mode_name(enum ndctl_namespace_mode m)
{
	switch (m) {
	case NDCTL_NS_MODE_FSDAX: return "fsdax";
	case NDCTL_NS_MODE_SECTOR: return "sector";
	case NDCTL_NS_MODE_RAW: return "raw";
	case NDCTL_NS_MODE_DEVDAX: return "devdax";
	default: return "unknown";
	}
}
#endif

/* A block device was given: say what it is (libndctl knows whether it is
 * a persistent memory namespace) and what to use instead. */
static void explain_blockdev(const char *path, char *err, size_t errlen)
{
	char real[PATH_MAX];
	const char *base = path;

	if (realpath(path, real) && strrchr(real, '/'))
		base = strrchr(real, '/') + 1;
#ifdef HAVE_LIBNDCTL
	{
		struct ndctl_ctx *ctx;
		struct ndctl_bus *bus;
		struct ndctl_region *region;
		struct ndctl_namespace *ns;

		if (have_ndctl() && nd.ndctl_new(&ctx) == 0) {
			for (bus = nd.ndctl_bus_get_first(ctx); bus;
			     bus = nd.ndctl_bus_get_next(bus))
			for (region = nd.ndctl_region_get_first(bus); region;
			     region = nd.ndctl_region_get_next(region))
			for (ns = nd.ndctl_namespace_get_first(region); ns;
			     ns = nd.ndctl_namespace_get_next(ns)) {
				struct ndctl_pfn *pfn = nd.ndctl_namespace_get_pfn(ns);
				struct ndctl_btt *btt = nd.ndctl_namespace_get_btt(ns);
				const char *bd[3] = {
					nd.ndctl_namespace_get_block_device(ns),
					pfn ? nd.ndctl_pfn_get_block_device(pfn) : NULL,
					btt ? nd.ndctl_btt_get_block_device(btt) : NULL,
				};
				for (int i = 0; i < 3; i++) {
					if (!bd[i] || !*bd[i] || strcmp(bd[i], base))
						continue;
					snprintf(err, errlen, "%s: is the block device of %s (%s mode) "
						 "in %s; use a file on a DAX filesystem on it, or "
						 "'ndctl create-namespace -f -e %s -m devdax' and "
						 "/dev/daxX.Y", path, nd.ndctl_namespace_get_devname(ns),
						 ns_mode_name(nd.ndctl_namespace_get_mode(ns)),
						 nd.ndctl_region_get_devname(region),
						 nd.ndctl_namespace_get_devname(ns));
					nd.ndctl_unref(ctx);
					return;
				}
			}
			nd.ndctl_unref(ctx);
		}
	}
#endif
	snprintf(err, errlen, "%s: is a block device (%s); --nvdimm needs a regular file "
		 "or a device DAX (/dev/daxX.Y)", path, base);
}

int nvdimm_backing_open(struct nvdimm_backing *b, const struct nvdimm_opts *o,
			char *err, size_t errlen)
{
	struct stat st;
	uint64_t label = o->label_size, total;
	int prot, flags;

	memset(b, 0, sizeof(*b));
	b->fd = -1;
	if (o->format == NVDIMM_FMT_PCOW ||
	    (o->format == NVDIMM_FMT_AUTO && pcow_probe(o->path) == 1))
		return nvdimm_pcow_open(b, o, err, errlen);
	b->readonly = o->readonly;
	b->shared = o->share || o->readonly;
	b->label_size = label;

	if (stat(o->path, &st) == 0 && S_ISBLK(st.st_mode)) {
		explain_blockdev(o->path, err, errlen);
		return -1;
	}
	b->fd = open(o->path, (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0 && errno == ENOENT) {
		if (!o->size) {
			snprintf(err, errlen, "%s: does not exist; add size=SIZE to create it",
				 o->path);
			return -1;
		}
		if (o->readonly) {
			snprintf(err, errlen, "%s: does not exist (readonly=on never creates "
				 "a file)", o->path);
			return -1;
		}
		b->fd = open(o->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		b->created = b->fd >= 0;
	}
	if (b->fd < 0) {
		snprintf(err, errlen, "%s: %s", o->path, strerror(errno));
		return -1;
	}
	if (flock(b->fd, (o->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB)) {
		snprintf(err, errlen, "%s: in use by another process (%s)", o->path,
			 o->readonly ? "it has the file open writable"
				     : "a writable NVDIMM needs the file to itself");
		goto fail;
	}
	if (fstat(b->fd, &st)) {
		snprintf(err, errlen, "%s: %s", o->path, strerror(errno));
		goto fail;
	}

	if (S_ISCHR(st.st_mode)) {
		uint64_t devsize, align, avail;

		b->kind = NVDIMM_DEVDAX;
		if (!o->share) {
			snprintf(err, errlen, "%s: share=off is not possible with device DAX",
				 o->path);
			goto fail;
		}
		if (devdax_probe(o->path, st.st_rdev, &devsize, &align, err, errlen))
			goto fail;
		if (devsize <= label) {
			snprintf(err, errlen, "%s: device is %" PRIu64 " bytes, not more than "
				 "label-size", o->path, devsize);
			goto fail;
		}
		avail = (devsize - label) / NVDIMM_SIZE_ALIGN * NVDIMM_SIZE_ALIGN;
		if (o->size) {
			if (o->size > avail) {
				snprintf(err, errlen, "%s: size=%" PRIu64 " does not fit: the device "
					 "holds %" PRIu64 " usable bytes besides the labels",
					 o->path, o->size, avail);
				goto fail;
			}
			avail = o->size;
		}
		if (avail == 0) {
			snprintf(err, errlen, "%s: device too small: need 16M plus label-size",
				 o->path);
			goto fail;
		}
		b->size = avail;
		b->map_len = devsize;
	} else if (S_ISREG(st.st_mode)) {
		uint64_t len = (uint64_t)st.st_size;

		b->kind = NVDIMM_FILE;
		if (o->size) {
			total = o->size + label;
			if (len == 0 && !o->readonly) {
				if (ftruncate(b->fd, (off_t)total)) {
					snprintf(err, errlen, "%s: cannot grow to %" PRIu64 " bytes: %s",
						 o->path, total, strerror(errno));
					goto fail;
				}
			} else if (len != total) {
				snprintf(err, errlen, "%s: file is %" PRIu64 " bytes but size=%" PRIu64
					 " plus label-size=%" PRIu64 " needs %" PRIu64 "; omit size= "
					 "to use the file as it is", o->path, len, o->size, label, total);
				goto fail;
			}
			b->size = o->size;
		} else {
			if (len <= label) {
				snprintf(err, errlen, "%s: file is %" PRIu64 " bytes, too small for "
					 "label-size=%" PRIu64 " plus at least 16M", o->path, len, label);
				goto fail;
			}
			b->size = len - label;
			if (b->size % NVDIMM_SIZE_ALIGN) {
				snprintf(err, errlen, "%s: file is %" PRIu64 " bytes; minus label-size=%"
					 PRIu64 " that leaves %" PRIu64 ", not a multiple of 16M "
					 "(the guest's region alignment)", o->path, len, label, b->size);
				goto fail;
			}
		}
		b->map_len = b->size + label;
	} else {
		snprintf(err, errlen, "%s: not a regular file or a device DAX", o->path);
		goto fail;
	}

	prot = o->readonly ? PROT_READ : PROT_READ | PROT_WRITE;
	flags = b->shared ? MAP_SHARED : MAP_PRIVATE;
	b->map = MAP_FAILED;
	if (b->kind == NVDIMM_FILE && b->shared && !o->readonly) {
		/* On a DAX filesystem MAP_SYNC keeps file metadata durable at
		 * fault time; elsewhere it fails and we use a plain mapping. */
		b->map = mmap(NULL, b->map_len, prot, MAP_SHARED_VALIDATE | MAP_SYNC, b->fd, 0);
		b->map_sync = b->map != MAP_FAILED;
	}
	if (b->map == MAP_FAILED)
		b->map = mmap(NULL, b->map_len, prot, flags, b->fd, 0);
	if (b->map == MAP_FAILED) {
		snprintf(err, errlen, "%s: cannot map %" PRIu64 " bytes: %s", o->path,
			 b->map_len, strerror(errno));
		b->map = NULL;
		goto fail;
	}
	if (label) {
		b->label = b->kind == NVDIMM_DEVDAX ? b->map + (b->map_len - label)
						    : b->map + b->size;
	}
	return 0;
fail:
	if (b->created)
		unlink(o->path);
	close(b->fd);
	b->fd = -1;
	return -1;
}

static void store_fence(void)
{
#if defined(__x86_64__)
	__asm__ __volatile__("sfence" ::: "memory");
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

int nvdimm_backing_flush(struct nvdimm_backing *b)
{
	if (b->pcow)
		return nvdimm_pcow_flush(b);
	if (!b->map || b->readonly || !b->shared)
		return 0;
	if (b->kind == NVDIMM_DEVDAX) {
		store_fence();
		return 0;
	}
	if (fdatasync(b->fd))
		return -errno;
	return 0;
}

int nvdimm_backing_sync_label(struct nvdimm_backing *b, uint64_t off, uint64_t len)
{
	uint8_t *start, *end;

	if (b->pcow)
		return nvdimm_pcow_sync_label(b, off, len);
	if (!b->label || b->readonly || !b->shared || off > b->label_size ||
	    len > b->label_size - off)
		return 0;
	start = b->label + off;
	end = start + len;
	if (b->kind == NVDIMM_DEVDAX) {
#if defined(__x86_64__)
		for (uintptr_t p = (uintptr_t)start & ~63UL; p < (uintptr_t)end; p += 64)
			__asm__ __volatile__("clflush %0" : "+m"(*(volatile char *)p));
#endif
		store_fence();
		return 0;
	}
	{
		uintptr_t s = (uintptr_t)start & ~(uintptr_t)(NVDIMM_PAGE - 1);

		if (msync((void *)s, (size_t)((uintptr_t)end - s), MS_SYNC))
			return -errno;
	}
	return 0;
}

void nvdimm_backing_close(struct nvdimm_backing *b)
{
	if (b->pcow) {
		nvdimm_pcow_close(b);
		return;
	}
	if (b->map) {
		nvdimm_backing_flush(b);
		munmap(b->map, b->map_len);
		b->map = NULL;
	}
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
}
