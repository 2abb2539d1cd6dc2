/*
 * randio.c - 4 KiB random reads or writes with O_DIRECT on a block device,
 * for the in-guest part of bench/blk-nvme.sh (a small binary instead of
 * fio and its 80 MB of libraries in the L2 initramfs).
 *
 *   randio DEV read|write OPS [THREADS]
 *
 * THREADS workers each issue synchronous pread/pwrite (queue depth =
 * THREADS) at random 4 KiB-aligned offsets in the first 256 MiB of DEV.
 * Prints "randio op=read qd=N ops=N iops=N".
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <time.h>
#include <unistd.h>

static int fd;
static int do_write;
static unsigned per_thread;
static unsigned long long blocks;
static int failed;

static void *worker(void *arg)
{
	unsigned long long s = 0x9e3779b97f4a7c15ULL ^ (unsigned long long)(uintptr_t)arg;
	void *buf;

	if (posix_memalign(&buf, 4096, 4096))
		return NULL;
	memset(buf, 0x5a, 4096);
	for (unsigned i = 0; i < per_thread; i++) {
		off_t off;
		ssize_t n;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		off = (off_t)(s % blocks) * 4096;
		n = do_write ? pwrite(fd, buf, 4096, off) : pread(fd, buf, 4096, off);
		if (n != 4096) {
			failed = 1;
			break;
		}
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long long size = 0;
	unsigned ops, threads = 1;
	pthread_t t[64];
	struct timespec a, b;
	double secs;

	if (argc < 4 || (strcmp(argv[2], "read") && strcmp(argv[2], "write"))) {
		fprintf(stderr, "usage: randio DEV read|write OPS [THREADS]\n");
		return 2;
	}
	do_write = !strcmp(argv[2], "write");
	ops = strtoul(argv[3], NULL, 0);
	if (argc > 4)
		threads = strtoul(argv[4], NULL, 0);
	if (!ops || !threads || threads > 64) {
		fprintf(stderr, "randio: bad OPS or THREADS\n");
		return 2;
	}
	fd = open(argv[1], (do_write ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd >= 0 && ioctl(fd, BLKGETSIZE64, &size) < 0)
		size = lseek(fd, 0, SEEK_END); /* a regular file */
	if (fd < 0 || size < 4096) {
		perror(argv[1]);
		return 1;
	}
	if (size > (256ULL << 20))
		size = 256ULL << 20;
	blocks = size / 4096;
	per_thread = ops / threads;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
	for (unsigned i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	if (do_write)
		fsync(fd);
	secs = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	if (failed) {
		fprintf(stderr, "randio: I/O error\n");
		return 1;
	}
	printf("randio op=%s qd=%u ops=%u iops=%.0f\n", argv[2], threads, per_thread * threads,
	       per_thread * threads / secs);
	return 0;
}
