/*
 * nvdimm-host.c - the host-side peer of bench/nvdimm.sh: memcpy into and
 * out of the same file mapping a guest NVDIMM uses, and the cost of
 * fdatasync after dirtying one page, all in TSC cycles (the guest measures
 * with the same TSC).
 *
 *   nvdimm-host FILE BYTES
 * prints: HOST bytes=N write_cycles=W read_cycles=R movsq_write_cycles=..
 *         movsq_read_cycles=.. fdatasync_cycles_avg=A fdatasync_cycles_best=B
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <x86intrin.h>

static void movsq(void *d, const void *s, size_t n)
{
	__asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

int main(int argc, char **argv)
{
	uint64_t best_w = UINT64_MAX, best_r = UINT64_MAX, best_mw = UINT64_MAX;
	uint64_t best_mr = UINT64_MAX, t, total = 0, best_f = UINT64_MAX;
	size_t n;
	uint8_t *map, *buf;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: nvdimm-host FILE BYTES\n");
		return 2;
	}
	n = strtoull(argv[2], NULL, 0);
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || n == 0 || n % 4096) {
		perror(argv[1]);
		return 1;
	}
	map = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	buf = aligned_alloc(4096, n);
	if (map == MAP_FAILED || !buf) {
		perror("mmap");
		return 1;
	}
	memset(buf, 0x5a, n);
	memcpy(map, buf, n); /* warm: fault everything in, as the guest does */
	memcpy(buf, map, n);
	for (int r = 0; r < 50; r++) {
		t = __rdtsc(); memcpy(map, buf, n); t = __rdtsc() - t;
		if (t < best_w) best_w = t;
		t = __rdtsc(); memcpy(buf, map, n); t = __rdtsc() - t;
		if (t < best_r) best_r = t;
		t = __rdtsc(); movsq(map, buf, n / 8); t = __rdtsc() - t;
		if (t < best_mw) best_mw = t;
		t = __rdtsc(); movsq(buf, map, n / 8); t = __rdtsc() - t;
		if (t < best_mr) best_mr = t;
	}
	fdatasync(fd);
	for (int r = 0; r < 200; r++) {
		((volatile uint64_t *)map)[(r * 512) % (n / 8)] = (uint64_t)r;
		t = __rdtsc();
		if (fdatasync(fd)) {
			perror("fdatasync");
			return 1;
		}
		t = __rdtsc() - t;
		total += t;
		if (t < best_f) best_f = t;
	}
	printf("HOST bytes=%zu write_cycles=%llu read_cycles=%llu movsq_write_cycles=%llu "
	       "movsq_read_cycles=%llu fdatasync_cycles_avg=%llu fdatasync_cycles_best=%llu\n",
	       n, (unsigned long long)best_w, (unsigned long long)best_r,
	       (unsigned long long)best_mw, (unsigned long long)best_mr,
	       (unsigned long long)(total / 200), (unsigned long long)best_f);
	return 0;
}
