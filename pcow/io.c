/*
 * io.c - the host I/O backends behind struct pcow_io_ops: a file
 * descriptor (what pcow_open() uses) and a bounded in-memory buffer (the
 * fuzz target and unit tests). The crash test adds its own wrapper.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcow.h"

struct fd_io {
	int fd;
	bool no_stream;		/* no writeback hints */
};

static int fd_pread(void *ctx, void *buf, size_t len, uint64_t off, size_t *done)
{
	struct fd_io *f = ctx;
	size_t got = 0;

	while (got < len) {
		ssize_t r = pread(f->fd, (char *)buf + got, len - got, (off_t)(off + got));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*done = got;
			return -errno;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*done = got;
	return 0;
}

static int fd_pwrite(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct fd_io *f = ctx;
	size_t put = 0;

	while (put < len) {
		ssize_t r = pwrite(f->fd, (const char *)buf + put, len - put,
				   (off_t)(off + put));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		put += (size_t)r;
	}
	/* Streaming writes (convert, commit): start writeback of each big
	 * write now, so the next flush finds less to do. A hint only: errors
	 * are left to the flush. */
	if (len >= (1u << 20) && !f->no_stream)
		sync_file_range(f->fd, (off_t)off, (off_t)len, SYNC_FILE_RANGE_WRITE);
	return 0;
}

static int fd_flush(void *ctx)
{
	struct fd_io *f = ctx;

	return fdatasync(f->fd) ? -errno : 0;
}

static int fd_size(void *ctx, uint64_t *size)
{
	struct fd_io *f = ctx;
	struct stat st;

	if (fstat(f->fd, &st))
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int fd_truncate(void *ctx, uint64_t size)
{
	struct fd_io *f = ctx;

	return ftruncate(f->fd, (off_t)size) ? -errno : 0;
}

static int fd_punch(void *ctx, uint64_t off, uint64_t len)
{
	struct fd_io *f = ctx;

	if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len))
		return -errno;
	return 0;
}

static int fd_seek_data(void *ctx, uint64_t off, uint64_t *data_off)
{
	struct fd_io *f = ctx;
	off_t r = lseek(f->fd, (off_t)off, SEEK_DATA);

	if (r < 0)
		return -errno;
	*data_off = (uint64_t)r;
	return 0;
}

static int fd_seek_hole(void *ctx, uint64_t off, uint64_t *hole_off)
{
	struct fd_io *f = ctx;
	off_t r = lseek(f->fd, (off_t)off, SEEK_HOLE);

	if (r < 0)
		return -errno;
	*hole_off = (uint64_t)r;
	return 0;
}

static int fd_fallocate(void *ctx, uint64_t off, uint64_t len)
{
	struct fd_io *f = ctx;

	if (fallocate(f->fd, 0, (off_t)off, (off_t)len)) {
		int e = errno;
		/* filesystems without fallocate: extend with a hole */
		if (e == EOPNOTSUPP) {
			uint64_t size;
			if (fd_size(ctx, &size))
				return -e;
			if (size < off + len && ftruncate(f->fd, (off_t)(off + len)))
				return -errno;
			return 0;
		}
		return -e;
	}
	return 0;
}

static void fd_close(void *ctx)
{
	struct fd_io *f = ctx;

	close(f->fd);
	free(f);
}

const struct pcow_io_ops pcow_fd_io_ops = {
	.pread = fd_pread, .pwrite = fd_pwrite, .flush = fd_flush,
	.size = fd_size, .truncate = fd_truncate, .punch = fd_punch,
	.fallocate = fd_fallocate, .close = fd_close, .seek_data = fd_seek_data,
	.seek_hole = fd_seek_hole,
};

void pcow_fd_io_set_streaming(void *ctx, bool on)
{
	((struct fd_io *)ctx)->no_stream = !on;
}

void *pcow_fd_io_new(int fd)
{
	struct fd_io *f = calloc(1, sizeof(*f));

	if (f)
		f->fd = fd;
	return f;
}

/* In-memory backend */
struct mem_io {
	uint8_t *buf;
	size_t len, cap, max;
};

static int mem_grow(struct mem_io *m, size_t need)
{
	if (need > m->max)
		return -ENOSPC;
	if (need > m->cap) {
		size_t cap = m->cap ? m->cap : 4096;
		while (cap < need)
			cap = cap > m->max / 2 ? m->max : cap * 2;
		uint8_t *nb = realloc(m->buf, cap);
		if (!nb)
			return -ENOMEM;
		m->buf = nb;
		m->cap = cap;
	}
	if (need > m->len) {
		memset(m->buf + m->len, 0, need - m->len);
		m->len = need;
	}
	return 0;
}

static int mem_pread(void *ctx, void *buf, size_t len, uint64_t off, size_t *done)
{
	struct mem_io *m = ctx;
	size_t n = 0;

	if (off < m->len)
		n = m->len - off < len ? m->len - off : len;
	if (n)
		memcpy(buf, m->buf + off, n);
	*done = n;
	return 0;
}

static int mem_pwrite(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct mem_io *m = ctx;
	int r;

	if (off > m->max || len > m->max - off)
		return -ENOSPC;
	r = mem_grow(m, off + len);
	if (r)
		return r;
	memcpy(m->buf + off, buf, len);
	return 0;
}

static int mem_flush(void *ctx)
{
	return 0;
}

static int mem_size(void *ctx, uint64_t *size)
{
	*size = ((struct mem_io *)ctx)->len;
	return 0;
}

static int mem_truncate(void *ctx, uint64_t size)
{
	struct mem_io *m = ctx;

	if (size > m->max)
		return -ENOSPC;
	if (size <= m->len) {
		m->len = size;
		return 0;
	}
	return mem_grow(m, size);
}

static int mem_punch(void *ctx, uint64_t off, uint64_t len)
{
	struct mem_io *m = ctx;

	if (off >= m->len)
		return 0;
	if (len > m->len - off)
		len = m->len - off;
	memset(m->buf + off, 0, len);
	return 0;
}

static int mem_fallocate(void *ctx, uint64_t off, uint64_t len)
{
	struct mem_io *m = ctx;

	if (off > m->max || len > m->max - off)
		return -ENOSPC;
	return mem_grow(m, off + len);
}

const struct pcow_io_ops pcow_mem_io_ops = {
	.pread = mem_pread, .pwrite = mem_pwrite, .flush = mem_flush,
	.size = mem_size, .truncate = mem_truncate, .punch = mem_punch,
	.fallocate = mem_fallocate, .close = NULL,
};

void *pcow_mem_io_new(const void *data, size_t len, size_t max)
{
	struct mem_io *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->max = max < len ? len : max;
	if (len) {
		if (mem_grow(m, len)) {
			free(m);
			return NULL;
		}
		memcpy(m->buf, data, len);
	}
	return m;
}

const uint8_t *pcow_mem_io_data(void *ctx, size_t *len)
{
	struct mem_io *m = ctx;

	*len = m->len;
	return m->buf;
}

void pcow_mem_io_free(void *ctx)
{
	struct mem_io *m = ctx;

	if (m) {
		free(m->buf);
		free(m);
	}
}
