/*
 * pcow-nvdimm-host.c - host-side helper of bench/pcow-nvdimm.sh.
 *
 *   pcow-nvdimm-host fill FILE BYTES   write the words the bench guest
 *                                      expects (pattern() in pcow-nvdimm.c)
 *                                      into FILE, BYTES long, and fsync it
 *   pcow-nvdimm-host tsc               print "HOST tsc_hz=N": the TSC rate,
 *                                      timed against CLOCK_MONOTONIC
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

static int fill(const char *path, uint64_t bytes)
{
	static uint64_t buf[1 << 16];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || bytes % sizeof(buf)) {
		perror(path);
		return 1;
	}
	for (uint64_t off = 0; off < bytes; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf) / 8; i++)
			buf[i] = 0xa5a5000000000000ULL | (off + i * 8);
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			perror(path);
			return 1;
		}
	}
	if (fsync(fd) || close(fd)) {
		perror(path);
		return 1;
	}
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "fill"))
		return fill(argv[2], strtoull(argv[3], NULL, 0));
	if (argc == 2 && !strcmp(argv[1], "tsc")) {
		double t0 = now(), t1;
		uint64_t c0 = __rdtsc(), c1;

		usleep(200000);
		t1 = now();
		c1 = __rdtsc();
		printf("HOST tsc_hz=%.0f\n", (c1 - c0) / (t1 - t0));
		return 0;
	}
	fprintf(stderr, "usage: pcow-nvdimm-host fill FILE BYTES | tsc\n");
	return 2;
}
