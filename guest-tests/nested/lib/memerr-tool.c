/*
 * memerr-tool - the nested tier's helper for the nvdimm-errors scenario
 * (docs/nvdimm.md, "Memory errors"), used in L2 and in L1:
 *   memerr-tool where FILE OFFSET      PHYS=0x... of that byte of a mapped
 *                                      file (/proc/self/pagemap; root)
 *   memerr-tool read FILE OFFSET       one 8-byte load through a shared
 *                                      mapping: READ=ok 0x... or
 *                                      READ=sigbus code=N (exit 0 both)
 *   memerr-tool spin FILE OFFSET SECS  SPINNING, then loads until a SIGBUS
 *                                      (SPIN=sigbus code=N) or SECS pass
 *                                      (SPIN=timeout)
 *   memerr-tool hwpoison FILE OFFSET   madvise(MADV_HWPOISON) on that page
 *                                      of a shared mapping of FILE: the
 *                                      host page of every mapper is
 *                                      poisoned (HWPOISON=ok / =fail ...)
 * Exit 2 on bad usage or an unusable file.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif

static sigjmp_buf jb;
static volatile int bus_code;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	bus_code = si->si_code;
	siglongjmp(jb, 1);
}

static volatile uint8_t *map_file(const char *path, uint64_t off, bool rw)
{
	long pg = sysconf(_SC_PAGESIZE);
	int fd = open(path, rw ? O_RDWR : O_RDONLY);
	void *p;

	if (fd < 0) {
		fprintf(stderr, "memerr-tool: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	p = mmap(NULL, (size_t)pg, rw ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd,
		 (off_t)(off & ~(uint64_t)(pg - 1)));
	close(fd);
	if (p == MAP_FAILED) {
		fprintf(stderr, "memerr-tool: mmap %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return (volatile uint8_t *)p + (off & (uint64_t)(pg - 1) & ~7ULL);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_sigaction = on_bus, .sa_flags = SA_SIGINFO };
	uint64_t off;

	if (argc < 4) {
		fprintf(stderr, "usage: memerr-tool where|read|spin|hwpoison FILE OFFSET [SECS]\n");
		return 2;
	}
	off = strtoull(argv[3], NULL, 0);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(argv[1], "where")) {
		volatile uint8_t *p = map_file(argv[2], off, false);
		long pg = sysconf(_SC_PAGESIZE);
		uint64_t ent = 0;
		int fd = open("/proc/self/pagemap", O_RDONLY);

		(void)*p;
		if (fd < 0 || pread(fd, &ent, 8, (off_t)((uintptr_t)p / (uintptr_t)pg * 8)) != 8 ||
		    !(ent >> 63) || !(ent & ((1ULL << 55) - 1))) {
			printf("PHYS=unknown (pagemap 0x%" PRIx64 ")\n", ent);
			return 2;
		}
		printf("PHYS=0x%" PRIx64 "\n", (uint64_t)((ent & ((1ULL << 55) - 1)) * (uint64_t)pg +
						       ((uintptr_t)p & (uintptr_t)(pg - 1))));
		return 0;
	}
	if (!strcmp(argv[1], "read")) {
		volatile uint8_t *p = map_file(argv[2], off, false);

		if (sigsetjmp(jb, 1)) {
			printf("READ=sigbus code=%d\n", bus_code);
			return 0;
		}
		printf("READ=ok 0x%" PRIx64 "\n", *(volatile uint64_t *)p);
		return 0;
	}
	if (!strcmp(argv[1], "spin")) {
		volatile uint8_t *p = map_file(argv[2], off, false);
		time_t end = time(NULL) + (argc > 4 ? atol(argv[4]) : 60);
		volatile uint64_t sum = 0;

		if (sigsetjmp(jb, 1)) {
			printf("SPIN=sigbus code=%d\n", bus_code);
			return 0;
		}
		(void)*p;
		printf("SPINNING\n");
		while (time(NULL) < end)
			for (int i = 0; i < 100000; i++)
				sum += *(volatile uint64_t *)p;
		printf("SPIN=timeout (%" PRIu64 ")\n", (uint64_t)sum);
		return 0;
	}
	if (!strcmp(argv[1], "hwpoison")) {
		volatile uint8_t *p = map_file(argv[2], off, true);
		long pg = sysconf(_SC_PAGESIZE);

		if (sigsetjmp(jb, 1)) {
			printf("HWPOISON=ok (then SIGBUS code=%d here)\n", bus_code);
			return 0;
		}
		(void)*p;
		if (madvise((void *)((uintptr_t)p & ~(uintptr_t)(pg - 1)), (size_t)pg, MADV_HWPOISON)) {
			printf("HWPOISON=fail %s\n", strerror(errno));
			return 1;
		}
		printf("HWPOISON=ok\n");
		return 0;
	}
	fprintf(stderr, "memerr-tool: unknown command %s\n", argv[1]);
	return 2;
}
