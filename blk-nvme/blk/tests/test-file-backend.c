/*
 * test-file-backend.c - the io_uring file backend on its own: read, write,
 * FUA write, flush, discard, write zeroes (with and without unmap), more
 * pieces in flight than the ring holds (backlog), refusals (read-only,
 * out of range), close with I/O in flight, and open errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"

#define SIZE (4u << 20)

static char path[64];
static int completed, last_err;

static void done(struct blk_io *io, int err)
{
	completed++;
	if (err)
		last_err = err;
}

static int setup(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/pmvm-fbe-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, SIZE))
		return -1;
	close(fd);
	completed = last_err = 0;
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static void wait_for(struct blk_backend *be, int n)
{
	for (int i = 0; i < 1000 && completed < n; i++) {
		struct pollfd p = { .fd = be->fds[0], .events = POLLIN };

		poll(&p, 1, 10);
		be->ops->reap(be, 0);
		if (be->ops->kick)
			be->ops->kick(be);
	}
	assert_int_equal(completed, n);
}

static int submit(struct blk_backend *be, struct blk_io *io, enum blk_op op, uint64_t off,
		  uint64_t len, struct iovec *iov, unsigned niov, unsigned flags)
{
	memset(io, 0, sizeof(*io));
	io->op = op;
	io->offset = off;
	io->len = len;
	io->iov = iov;
	io->niov = niov;
	io->flags = flags;
	io->done = done;
	return be->ops->submit(be, io);
}

static void test_rw(void **state)
{
	char err[256];
	struct blk_backend *be = blk_file_open(path, false, 2, err, sizeof(err));
	static uint8_t a[8192], b[8192];
	struct iovec wi[2] = { { a, 4096 }, { a + 4096, 4096 } }, ri = { b, 8192 };
	struct blk_io io;
	int fd;

	assert_non_null(be);
	assert_int_equal(be->size, SIZE);
	assert_int_equal(be->nfds, 1);
	for (unsigned i = 0; i < sizeof(a); i++)
		a[i] = i ^ 0x5a;
	assert_int_equal(submit(be, &io, BLK_OP_WRITE, 65536, 8192, wi, 2, 0), 0);
	be->ops->kick(be);
	wait_for(be, 1);
	assert_int_equal(submit(be, &io, BLK_OP_READ, 65536, 8192, &ri, 1, 0), 0);
	be->ops->kick(be);
	wait_for(be, 2);
	assert_int_equal(last_err, 0);
	assert_memory_equal(a, b, 8192);
	assert_int_equal(submit(be, &io, BLK_OP_WRITE, 0, 8192, wi, 2, BLK_IO_FUA), 0);
	be->ops->kick(be);
	wait_for(be, 3);
	assert_int_equal(submit(be, &io, BLK_OP_FLUSH, 0, 0, NULL, 0, 0), 0);
	be->ops->kick(be);
	wait_for(be, 4);
	/* Write zeroes then read: zeros. */
	assert_int_equal(submit(be, &io, BLK_OP_WRITE_ZEROES, 65536, 4096, NULL, 0, 0), 0);
	be->ops->kick(be);
	wait_for(be, 5);
	assert_int_equal(submit(be, &io, BLK_OP_WRITE_ZEROES, 65536 + 4096, 4096, NULL, 0,
				BLK_IO_UNMAP), 0);
	be->ops->kick(be);
	wait_for(be, 6);
	assert_int_equal(submit(be, &io, BLK_OP_DISCARD, 0, 4096, NULL, 0, 0), 0);
	be->ops->kick(be);
	wait_for(be, 7);
	assert_int_equal(last_err, 0);
	be->ops->close(be);
	fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, b, 8192, 65536), 8192);
	for (int i = 0; i < 8192; i++)
		assert_int_equal(b[i], 0);
	assert_int_equal(pread(fd, b, 4096, 0), 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(b[i], 0); /* discarded: a hole reads as zeros */
	assert_int_equal(pread(fd, b, 4096, 4096), 4096);
	assert_memory_equal(b, a + 4096, 4096);
	close(fd);
}

static void test_backlog_and_close(void **state)
{
	char err[256];
	struct blk_backend *be = blk_file_open(path, false, 1, err, sizeof(err));
	enum { N = 1000 };
	static struct blk_io io[N];
	static uint8_t buf[N][512];
	static struct iovec iov[N];

	assert_non_null(be);
	for (int i = 0; i < N; i++) {
		memset(buf[i], i & 0xff, 512);
		iov[i] = (struct iovec){ buf[i], 512 };
		assert_int_equal(submit(be, &io[i], BLK_OP_WRITE, 512ULL * i, 512, &iov[i], 1, 0), 0);
	}
	be->ops->kick(be);
	/* close() drains everything still in flight or waiting. */
	be->ops->close(be);
	assert_int_equal(completed, N);
	assert_int_equal(last_err, 0);
	int fd = open(path, O_RDONLY);
	uint8_t b[512];
	assert_int_equal(pread(fd, b, 512, 512ULL * 777), 512);
	assert_int_equal(b[0], 777 & 0xff);
	close(fd);
}

static void test_refusals(void **state)
{
	char err[256];
	struct blk_backend *be = blk_file_open(path, true, 1, err, sizeof(err));
	static uint8_t a[512];
	struct iovec iov = { a, 512 };
	struct blk_io io;

	assert_non_null(be);
	assert_true(be->readonly);
	assert_int_equal(submit(be, &io, BLK_OP_WRITE, 0, 512, &iov, 1, 0), -EROFS);
	assert_int_equal(submit(be, &io, BLK_OP_DISCARD, 0, 512, NULL, 0, 0), -EROFS);
	assert_int_equal(submit(be, &io, BLK_OP_READ, SIZE, 512, &iov, 1, 0), -EINVAL);
	assert_int_equal(submit(be, &io, BLK_OP_READ, UINT64_MAX - 100, 512, &iov, 1, 0), -EINVAL);
	be->ops->close(be);
	assert_int_equal(completed, 0);

	assert_null(blk_file_open("/nonexistent/x.img", false, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/x.img"));
	assert_null(blk_file_open("/dev/null", false, 1, err, sizeof(err)));
	assert_non_null(strstr(err, "/dev/null"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backlog_and_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
