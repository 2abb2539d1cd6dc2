/*
 * test_chunk.c - unit tests of libpcow's placement at a chosen file offset
 * (chunk.c), the calls behind the VMM's host-mapping bound: a reserved
 * range, a cluster put at its place with and without copying what the
 * guest saw (a hole, a snapshot), refusals, leak accounting of reserved
 * clusters after a close (data: a leak; zeros: free space), claiming a
 * range back after a reopen, release, and durability across a reopen. Files go to a fresh directory under /tmp.
 * Plain asserts: exit 0 on success, a message and exit 1 on failure.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pcow.h"

static char dir[64];
static int failures;

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%s:%d: %s\n", __FILE__, \
	__LINE__, #c); failures++; } } while (0)

#define CS 65536ULL

static const char *path(const char *n)
{
	static char b[2][128];
	static int k;

	k ^= 1;
	snprintf(b[k], sizeof(b[k]), "%s/%s", dir, n);
	return b[k];
}

static struct pcow *open_rw(const char *n)
{
	struct pcow_open_opts o = { .flags = PCOW_RDWR };
	struct pcow_error e;
	struct pcow *img = pcow_open(path(n), &o, &e);

	if (!img) {
		fprintf(stderr, "open %s: %s\n", n, e.msg);
		exit(1);
	}
	return img;
}

static void check_img(const char *n, uint64_t want_leaks)
{
	struct pcow_check_result r = { 0 };
	struct pcow_error e;

	CHECK(pcow_check(path(n), NULL, 0, &r, &e) == 0);
	CHECK(r.corruptions == 0);
	if (r.leaks != want_leaks)
		fprintf(stderr, "%s: %llu leaks, want %llu\n", n,
			(unsigned long long)r.leaks, (unsigned long long)want_leaks);
	CHECK(r.leaks == want_leaks);
}

int main(void)
{
	struct pcow_create_opts co = { .virtual_size = 16 << 20, .cluster_bits = 16 };
	struct pcow_error e;
	struct pcow_map m;
	struct pcow *img;
	uint64_t h, h2;
	uint8_t *buf = malloc(CS), *want = malloc(CS);
	int fd;

	snprintf(dir, sizeof(dir), "/tmp/pcow-chunk.XXXXXX");
	if (!mkdtemp(dir) || !buf || !want)
		return 1;
	if (pcow_create(path("a.pcow"), &co, &e)) {
		fprintf(stderr, "create: %s\n", e.msg);
		return 1;
	}
	img = open_rw("a.pcow");

	/* a hole put at slot 5 of a 64-cluster range: zeros, DATA there */
	CHECK(pcow_chunk_reserve(img, 64, &h) == 0);
	CHECK(h % CS == 0);
	CHECK(pcow_alloc_at(img, 5 * CS + 100, h + 5 * CS, true) == 0);
	CHECK(pcow_translate(img, 5 * CS, CS, &m) == 0);
	CHECK(m.kind == PCOW_MAP_DATA && m.host_off == h + 5 * CS && !m.shared);
	CHECK(pcow_read(img, buf, CS, 5 * CS) == 0);
	memset(want, 0, CS);
	CHECK(memcmp(buf, want, CS) == 0);

	/* refusals: owned already, not a reserved cluster, unaligned */
	CHECK(pcow_alloc_at(img, 5 * CS, h + 6 * CS, true) == -PCOW_EBUSY);
	CHECK(pcow_alloc_at(img, 6 * CS, h + 5 * CS, true) == -PCOW_EINVAL);
	CHECK(pcow_alloc_at(img, 6 * CS, h + 6 * CS + 4096, true) == -PCOW_EINVAL);
	CHECK(pcow_alloc_at(img, 16 << 20, h + 6 * CS, true) == -PCOW_EINVAL);

	/* without copy: the data already at the slot (a guest store through
	 * the mapping) becomes the cluster's */
	for (uint64_t i = 0; i < CS; i++)
		want[i] = (uint8_t)(i * 7 + 1);
	fd = open(path("a.pcow"), O_RDWR);
	CHECK(fd >= 0 && pwrite(fd, want, CS, (off_t)(h + 7 * CS)) == (ssize_t)CS);
	CHECK(pcow_alloc_at(img, 7 * CS, h + 7 * CS, false) == 0);
	CHECK(pcow_read(img, buf, CS, 7 * CS) == 0 && memcmp(buf, want, CS) == 0);

	/* copy from a snapshot: the active layer's copy shows the snapshot's
	 * data, the snapshot keeps its own */
	CHECK(pcow_snapshot_create(img, "s") == 0);
	CHECK(pcow_translate(img, 7 * CS, CS, &m) == 0 && m.kind == PCOW_MAP_LOWER);
	CHECK(pcow_chunk_reserve(img, 64, &h2) == 0);
	CHECK(h2 >= h + 64 * CS);
	CHECK(pcow_alloc_at(img, 7 * CS, h2 + 7 * CS, true) == 0);
	CHECK(pcow_read(img, buf, CS, 7 * CS) == 0 && memcmp(buf, want, CS) == 0);
	CHECK(pcow_translate(img, 7 * CS, CS, &m) == 0);
	CHECK(m.kind == PCOW_MAP_DATA && m.host_off == h2 + 7 * CS);

	/* reserved, never committed: slot 9 of h2 gets data (a leak after the
	 * close), slot 10 zeros (free space, no leak) */
	CHECK(pwrite(fd, want, CS, (off_t)(h2 + 9 * CS)) == (ssize_t)CS);
	memset(buf, 0, CS);
	CHECK(pwrite(fd, buf, CS, (off_t)(h2 + 10 * CS)) == (ssize_t)CS);
	CHECK(pcow_flush(img) == 0);
	CHECK(pcow_close(img) == 0);
	check_img("a.pcow", 1);

	/* durable across a reopen */
	img = open_rw("a.pcow");
	CHECK(pcow_read(img, buf, CS, 7 * CS) == 0 && memcmp(buf, want, CS) == 0);
	CHECK(pcow_translate(img, 7 * CS, CS, &m) == 0 && m.host_off == h2 + 7 * CS);
	CHECK(pcow_translate(img, 5 * CS, CS, &m) == 0 && m.kind == PCOW_MAP_LOWER &&
	      m.host_off == h + 5 * CS);
	/* claim after a reopen: slot 7 holds the cluster (kept), the rest is
	 * free (pinned); a range with a reserved cluster is refused */
	{
		uint8_t pin[64];
		int r;

		CHECK(pcow_chunk_claim(img, h2, 64, pin) == 0);
		CHECK(pin[7] == 0 && pin[0] == 1 && pin[9] == 1 && pin[63] == 1);
		CHECK(pcow_alloc_at(img, 9 * CS, h2 + 9 * CS, false) == 0);
		CHECK(pcow_chunk_release(img, h2, 64) == 0);
		r = pcow_reserve(img, 1);
		CHECK(r >= 1);
		/* the reserve goes right after slot 9, the last one in use */
		CHECK(pcow_chunk_claim(img, h2, 64, pin) == -PCOW_EBUSY);
		CHECK(pcow_chunk_claim(img, 4096, 1, pin) == -PCOW_EINVAL);
	}
	/* a released range is free again; the tail goes */
	CHECK(pcow_chunk_reserve(img, 64, &h) == 0);
	CHECK(pcow_chunk_release(img, h, 64) == 0);
	CHECK(pcow_alloc_at(img, 20 * CS, h, true) == -PCOW_EINVAL);
	CHECK(pcow_close(img) == 0);
	{
		off_t end = lseek(fd, 0, SEEK_END);

		CHECK(end >= 0 && (uint64_t)end <= h);
	}
	close(fd);

	/* read-only images refuse */
	{
		struct pcow_open_opts o = { 0 };

		img = pcow_open(path("a.pcow"), &o, &e);
		CHECK(img && pcow_chunk_reserve(img, 4, &h) == -PCOW_ERDONLY);
		CHECK(img && pcow_alloc_at(img, 0, h2, true) == -PCOW_ERDONLY);
		if (img)
			pcow_close(img);
	}
	unlink(path("a.pcow"));
	rmdir(dir);
	free(buf);
	free(want);
	if (failures)
		fprintf(stderr, "%d failures\n", failures);
	else
		printf("ok: pcow chunk placement\n");
	return failures ? 1 : 0;
}
