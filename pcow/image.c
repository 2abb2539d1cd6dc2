/*
 * image.c - one way to open any image, pcow or raw (the role of kvmtool's
 * disk/core.c): the format probe (which also recognises foreign formats
 * such as qcow2 so they are refused, not read as raw), opening a file as
 * an image (regular files only, optional flock(2)), and a raw file as a
 * struct pcow. pcow-img, a raw base of a chain and vmm all come here, so
 * a raw image reads, writes, translates and closes through pcow.h like a
 * pcow one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int pcow_open_fd(const char *path, bool rw, bool nofollow, bool lock)
{
	struct stat st;
	int fd, fl, e;

	/* O_NONBLOCK: a FIFO must not block the open (cleared below) */
	fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK |
		  (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		e = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		e = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto fail;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)) {
		e = -errno;
		goto fail;
	}
	/* the locks vmm takes (docs/pcow-runtime.md, "Locks") */
	if (lock && flock(fd, (rw ? LOCK_EX : LOCK_SH) | LOCK_NB)) {
		e = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return e;
}

const char *pcow_open_errstr(int e)
{
	switch (e) {
	case -ELOOP:
		return "a symbolic link (refused for base images)";
	case -EINVAL:
		return "not a regular file";
	case -EBUSY:
		return "in use by another process (it holds a conflicting lock: a "
		       "running vmm, or another pcow-img)";
	default:
		return strerror(-e);
	}
}

int pcow_open_errcode(int e)
{
	return e == -ENOENT ? PCOW_ENOENT : e == -EBUSY ? PCOW_ELOCKED : PCOW_EIO;
}

/* ---- formats ---- */

/* Foreign formats, recognised by their magic so they are refused rather
 * than read as raw bytes. at < 0: counted back from the end of the file. */
static const struct foreign {
	const char *name;	/* as qemu-img's -f knows it */
	long at;
	const char *magic;
	size_t len;
} foreign[] = {
	{ "qcow2", 0, "QFI\xfb\0\0\0\x02", 8 },
	{ "qcow2", 0, "QFI\xfb\0\0\0\x03", 8 },
	{ "qcow", 0, "QFI\xfb", 4 },
	{ "qed", 0, "QED\0", 4 },
	{ "vmdk", 0, "KDMV", 4 },
	{ "vmdk", 0, "# Disk DescriptorFile", 21 },
	{ "vdi", 0x40, "\x7f\x10\xda\xbe", 4 },
	{ "vhdx", 0, "vhdxfile", 8 },
	{ "vpc", 0, "conectix", 8 },
	{ "vpc", -512, "conectix", 8 },
	{ "luks", 0, "LUKS\xba\xbe", 6 },
	{ "parallels", 0, "WithoutFreeSpace", 16 },
	{ "parallels", 0, "WithouFreSpacExt", 16 },
	{ "bochs", 0, "Bochs Virtual HD Image", 22 },
	{ "dmg", -512, "koly", 4 },
};

int pcow_image_format(const char *path, const char **foreign_name, struct pcow_error *err)
{
	uint8_t head[PCOW_SLOT_SIZE + 8], tail[8];
	struct stat st;
	ssize_t n, nt = 0;
	int fd = pcow_open_fd(path, false, false, false);

	if (foreign_name)
		*foreign_name = NULL;
	if (fd < 0)
		return pcow_err_fill(err, pcow_open_errcode(fd), "%s: %s", path,
				     pcow_open_errstr(fd));
	memset(head, 0, sizeof(head));
	n = pread(fd, head, sizeof(head), 0);
	if (n >= 0 && !fstat(fd, &st) && st.st_size >= 512 + (off_t)sizeof(head))
		nt = pread(fd, tail, sizeof(tail), st.st_size - 512);
	if (n < 0 || nt < 0) {
		int e = errno;
		close(fd);
		return pcow_err_fill(err, PCOW_EIO, "%s: read: %s", path, strerror(e));
	}
	close(fd);
	if ((n >= 8 && !memcmp(head, PCOW_MAGIC, 8)) ||
	    (n >= (ssize_t)PCOW_SLOT_SIZE + 8 && !memcmp(head + PCOW_SLOT_SIZE, PCOW_MAGIC, 8)))
		return PCOW_FMT_PCOW;
	for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		const struct foreign *f = &foreign[i];
		const uint8_t *p = f->at < 0 ? (nt == 8 ? tail : NULL) :
				   n >= f->at + (ssize_t)f->len ? head + f->at : NULL;
		if (p && !memcmp(p, f->magic, f->len)) {
			if (foreign_name)
				*foreign_name = f->name;
			break;
		}
	}
	return PCOW_FMT_RAW;
}

/* ---- raw files as images ---- */

static struct pcow *raw_open(const char *path, unsigned flags, unsigned depth,
			     pcow_io_open_fn open_io, void *open_ctx, struct pcow_error *err)
{
	struct pcow *b = calloc(1, sizeof(*b));
	int e;

	if (!b) {
		pcow_err_fill(err, PCOW_ENOMEM, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&b->lock, NULL);
	pthread_mutex_init(&b->acct_lock, NULL);
	b->raw = true;
	b->rw = flags & PCOW_RDWR;
	b->flags = flags;
	b->depth = depth;
	b->path = strdup(path);
	b->dir = pcow_dir_of(path);
	b->open_io = open_io;
	b->open_ctx = open_ctx;
	if (!b->path || !b->dir) {
		pcow_err_fill(err, PCOW_ENOMEM, "out of memory");
		goto fail;
	}
	if (open_io) {
		e = open_io(open_ctx, path, b->rw, false, &b->io, &b->ioctx);
		if (e) {
			pcow_err_fill(err, pcow_open_errcode(e), "%s: %s", path, strerror(-e));
			goto fail;
		}
	} else {
		int fd = pcow_open_fd(path, b->rw, depth > 0, flags & PCOW_LOCK);
		if (fd < 0) {
			pcow_err_fill(err, pcow_open_errcode(fd), "%s: %s", path,
				      pcow_open_errstr(fd));
			goto fail;
		}
		b->io = &pcow_fd_io_ops;
		b->ioctx = pcow_fd_io_new(fd);
		if (!b->ioctx) {
			close(fd);
			pcow_err_fill(err, PCOW_ENOMEM, "out of memory");
			goto fail;
		}
	}
	e = b->io->size(b->ioctx, &b->vsize);
	if (e) {
		pcow_err_fill(err, PCOW_EIO, "%s: size: %s", path, strerror(-e));
		goto fail;
	}
	b->csize = 1ULL << PCOW_DEFAULT_CLUSTER_BITS;
	b->cbits = PCOW_DEFAULT_CLUSTER_BITS;
	return b;
fail:
	b->rw = false;
	pcow_close(b);
	return NULL;
}

int pcow_open_raw_base(struct pcow *img, const char *path, unsigned flags)
{
	struct pcow_error e;
	struct pcow *b = raw_open(path, flags | (img->flags & (PCOW_LOCK | PCOW_RAW_HOLES)),
				  img->depth + 1,
				  img->open_io, img->open_ctx, &e);

	if (!b)
		return pcow_set_err(img, e.code == PCOW_ENOMEM ? PCOW_ENOMEM :
				    e.code == PCOW_ELOCKED ? PCOW_ELOCKED : PCOW_EBASE,
				    "%s: base image %s", img->path, e.msg);
	img->base = b;
	return 0;
}

struct pcow *pcow_image_open(const char *path, int format, const struct pcow_open_opts *o,
			     struct pcow_error *err)
{
	struct pcow_open_opts def = { 0 };
	const char *other = NULL;

	if (!o)
		o = &def;
	if (format == PCOW_FMT_AUTO && !o->io && !o->open_io) {
		format = pcow_image_format(path, &other, err);
		if (format < 0)
			return NULL;
		if (other) {
			pcow_err_fill(err, PCOW_EUNSUPPORTED, "%s: a %s image, not pcow or raw "
				      "(convert it first: qemu-img convert -f %s -O raw %s "
				      "OUT.raw; or force raw with -f raw)", path, other, other,
				      path);
			return NULL;
		}
	}
	if (format == PCOW_FMT_RAW && !o->io)
		return raw_open(path, o->flags, 0, o->open_io, o->open_ctx, err);
	return pcow_open(path, o, err);
}

int pcow_format(const struct pcow *img)
{
	return img->raw ? PCOW_FMT_RAW : PCOW_FMT_PCOW;
}

uint64_t pcow_size(const struct pcow *img)
{
	return img->vsize;
}

const char *pcow_path(const struct pcow *img)
{
	return img->path;
}

const char *pcow_base_error(const struct pcow *img)
{
	for (unsigned n = 0; img && n <= PCOW_MAX_BASE_DEPTH; img = img->base, n++)
		if (img->base_err.code)
			return img->base_err.msg;
	return NULL;
}

/*
 * Would a chain from path (a new base) lead back to the file st? Follows
 * the stored base references (each image opened alone, unlocked: nothing
 * is read but its catalog) up to the depth limit. A loop guard for rebase.
 */
bool pcow_chain_reaches(const char *path, const struct stat *target)
{
	char *cur = strdup(path);
	bool hit = false;

	for (unsigned n = 0; cur && !hit && n <= PCOW_MAX_BASE_DEPTH; n++) {
		struct pcow_open_opts o = { .flags = PCOW_NO_BASE };
		struct stat st;
		struct pcow *b;
		char *next = NULL;

		if (stat(cur, &st))
			break;
		hit = st.st_dev == target->st_dev && st.st_ino == target->st_ino;
		if (hit || !(b = pcow_open(cur, &o, NULL)))
			break;
		if (b->base_fmt && b->base_path)
			next = pcow_resolve_base(b, b->base_path);
		pcow_close(b);
		free(cur);
		cur = next;
	}
	free(cur);
	return hit;
}

int pcow_raw_resize(struct pcow *img, uint64_t size)
{
	int e;

	if (!img->raw)
		return pcow_set_err(img, PCOW_EINVAL, "%s: not a raw image", img->path);
	if (!img->rw)
		return pcow_set_err(img, PCOW_ERDONLY, "%s: image is opened read-only",
				    img->path);
	if (size > PCOW_MAX_VIRTUAL_SIZE)
		return pcow_set_err(img, PCOW_EINVAL, "%s: size %llu too large", img->path,
				    (unsigned long long)size);
	e = img->io->truncate(img->ioctx, size);
	if (e)
		return pcow_set_err(img, PCOW_EIO, "%s: resize: %s", img->path, strerror(-e));
	img->vsize = size;
	return 0;
}

int pcow_view_snapshot(struct pcow *img, const char *name)
{
	if (img->raw || img->rw)
		return pcow_set_err(img, PCOW_EINVAL, "%s: a snapshot is viewed in a pcow "
				    "image opened read-only", img->path);
	for (unsigned i = 0; i < img->nlayers; i++) {
		struct layer *l = &img->layers[i];
		if ((l->flags & PCOW_LAYER_SNAPSHOT) && l->name && !strcmp(l->name, name)) {
			/* reads and translations start at this layer now */
			img->active = i;
			img->vsize = l->vsize;
			return 0;
		}
	}
	return pcow_set_err(img, PCOW_ENOENT, "%s: no snapshot named '%s'", img->path, name);
}

/* A raw file maps to itself; with PCOW_RAW_HOLES a sparse file's holes
 * are holes. */
int pcow_raw_translate(struct pcow *img, uint64_t off, uint64_t limit, struct pcow_map *m)
{
	uint64_t d;
	int e = img->io->seek_data && (img->flags & PCOW_RAW_HOLES) ?
		img->io->seek_data(img->ioctx, off, &d) : -EINVAL;

	m->kind = PCOW_MAP_DATA;
	m->host_off = off;
	m->len = limit;
	if (e == -ENXIO || (!e && d > off)) {
		/* a hole up to the next data (or the end) */
		m->kind = PCOW_MAP_HOLE;
		m->host_off = 0;
		if (!e && d - off < limit)
			m->len = d - off;
	} else if (!e) {
		/* data up to the next hole */
		uint64_t h;
		if (img->io->seek_hole && !img->io->seek_hole(img->ioctx, off, &h) &&
		    h > off && h - off < limit)
			m->len = h - off;
	}
	return 0;
}
