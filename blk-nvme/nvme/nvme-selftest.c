/*
 * nvme-selftest.c - exercise the NVMe/VFIO driver (nvme-vfio.c) on a real
 * controller without a guest.
 *
 *   nvme-selftest [--ns N] [--queues N] [--keep] BDF
 *
 * Identifies the controller and namespace, then works on the last 4 MiB of
 * the namespace: saves it, writes patterns of many sizes from page-aligned
 * DMA-mapped buffers (PRP1 only, PRP1+PRP2, PRP lists), from unaligned and
 * unmapped buffers (bounce path), with FUA, on every queue at once; reads
 * back and verifies; flushes; write zeroes and deallocate when supported;
 * and writes the saved data back unless --keep. Prints one line per step
 * and "selftest: PASS" at the end. Exit 0 pass, 1 fail, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include "nvme-vfio.h"

#define AREA     (4u << 20)
#define BUF_IOVA 0x10000000ULL

static volatile sig_atomic_t stop;
static struct nvme_ctrl *ctrl;
static const struct nvme_info *info;
static int failures;

static void on_signal(int sig)
{
	stop = sig;
}

struct waiter {
	int pending;
	int status;
};

static void done_cb(void *tag, int status, void *arg)
{
	struct waiter *w = tag;

	w->pending--;
	if (status)
		w->status = status;
}

/* Wait up to timeout_ms for queue q's interrupt, then reap what finished. */
static void wait_and_reap(unsigned q, int timeout_ms)
{
	struct pollfd p = { .fd = nvme_queue_fd(ctrl, q), .events = POLLIN };
	eventfd_t v;

	poll(&p, 1, timeout_ms);
	if (p.revents & POLLIN)
		eventfd_read(p.fd, &v);
	nvme_reap(ctrl, q, done_cb, NULL);
}

/* Run r on queue q and wait for it. Returns 0, NVMe status, or -errno. */
static int run(unsigned q, const struct nvme_req *r)
{
	struct waiter w = { 1, 0 };
	int ret = nvme_submit(ctrl, q, r, &w);

	if (ret)
		return ret;
	while (w.pending && !stop)
		wait_and_reap(q, 1000);
	return stop ? -EINTR : w.status;
}

static void check(const char *what, int ret)
{
	if (ret == 0) {
		printf("ok   %s\n", what);
	} else {
		printf("FAIL %s: %s%d\n", what, ret < 0 ? "errno " : "NVMe status 0x",
		       ret < 0 ? -ret : ret);
		failures++;
	}
	fflush(stdout);
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = seed ^ (uint32_t)(i * 2654435761u);

		memcpy(p + i, &v, len - i < 4 ? len - i : 4);
	}
}

static int io1(unsigned q, enum nvme_op op, uint64_t slba, void *buf, uint32_t len,
	       unsigned flags)
{
	struct iovec iov = { buf, len };
	struct nvme_req r = {
		.op = op, .flags = flags, .slba = slba, .nlb = len / info->lba_size,
		.iov = &iov, .niov = 1,
	};

	return run(q, &r);
}

/* Write a pattern with buffer wbuf, read back with rbuf, compare. */
static int pattern(unsigned q, uint64_t slba, uint8_t *wbuf, uint8_t *rbuf,
		   uint32_t len, uint32_t seed, unsigned flags)
{
	int ret;

	fill(wbuf, len, seed);
	memset(rbuf, 0xa5, len);
	ret = io1(q, NVME_OP_WRITE, slba, wbuf, len, flags);
	if (!ret)
		ret = io1(q, NVME_OP_READ, slba, rbuf, len, 0);
	if (!ret && memcmp(wbuf, rbuf, len))
		ret = -EILSEQ;
	return ret;
}

int main(int argc, char **argv)
{
	struct nvme_open_opts o = { .nsid = 1, .nqueues = 2, .qdepth = 32 };
	static const struct option lopts[] = {
		{ "ns", required_argument, NULL, 'n' },
		{ "queues", required_argument, NULL, 'q' },
		{ "keep", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint8_t *mapped, *unmapped, *save;
	uint64_t base, nblk, area;
	bool keep = false;
	char err[512], what[128];
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		char *end;

		switch (c) {
		case 'n':
			o.nsid = strtoul(optarg, &end, 0);
			if (*end || !o.nsid) {
				fprintf(stderr, "nvme-selftest: --ns: bad value '%s'\n", optarg);
				return 2;
			}
			break;
		case 'q':
			o.nqueues = strtoul(optarg, &end, 0);
			if (*end || !o.nqueues || o.nqueues > NVME_MAX_QUEUES) {
				fprintf(stderr, "nvme-selftest: --queues: bad value '%s'\n", optarg);
				return 2;
			}
			break;
		case 'k':
			keep = true;
			break;
		default:
			fprintf(stderr, "usage: nvme-selftest [--ns N] [--queues N] [--keep] BDF\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: nvme-selftest [--ns N] [--queues N] [--keep] BDF\n");
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	ret = nvme_open(&ctrl, argv[optind], &o, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "nvme-selftest: %s\n", err);
		return 1;
	}
	info = nvme_get_info(ctrl);
	printf("controller %04x sn '%s' mn '%s' fr '%s'\n", info->vid, info->sn, info->mn,
	       info->fr);
	printf("  namespaces %u, MDTS %u, VWC %d, ONCS 0x%x, MQES %u, DSTRD %u\n",
	       info->nn, info->mdts, info->vwc, info->oncs, info->mqes, info->dstrd);
	printf("  ns %u: %llu blocks of %u bytes; %u I/O queues x %u, %u MSI-X vectors, "
	       "max transfer %u, internal IOVA 0x%llx\n", info->nsid,
	       (unsigned long long)info->nsze, info->lba_size, info->nqueues, info->qdepth,
	       info->vectors, info->max_xfer, (unsigned long long)info->internal_iova);
	check("identify controller and namespace", 0);

	area = AREA;
	nblk = area / info->lba_size;
	if (info->nsze < 2 * nblk) {
		printf("FAIL namespace too small for the test area (%llu blocks)\n",
		       (unsigned long long)info->nsze);
		nvme_close(ctrl);
		return 1;
	}
	base = info->nsze - nblk;
	mapped = mmap(NULL, 2 * area, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unmapped = mmap(NULL, area + 4096, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	save = malloc(area);
	if (mapped == MAP_FAILED || unmapped == MAP_FAILED || !save) {
		fprintf(stderr, "nvme-selftest: out of memory\n");
		nvme_close(ctrl);
		return 1;
	}
	ret = nvme_dma_map(ctrl, mapped, BUF_IOVA, 2 * area, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "nvme-selftest: %s\n", err);
		nvme_close(ctrl);
		return 1;
	}
	check("map test buffers", 0);

	/* Save the area (bounce path: save is not mapped). */
	for (uint64_t off = 0; off < area && !failures; off += info->max_xfer)
		ret = io1(0, NVME_OP_READ, base + off / info->lba_size, save + off,
			  info->max_xfer, 0);
	check("save test area", ret);

	/* Sizes: one block, one page, two pages, a PRP list, max transfer. */
	uint32_t sizes[] = { info->lba_size, 4096, 8192, 12288, 65536, info->max_xfer };
	for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && !stop; i++) {
		uint32_t len = sizes[i];

		if (len > info->max_xfer || len % info->lba_size)
			continue;
		snprintf(what, sizeof(what), "write/read/verify %u bytes, mapped (PRP)", len);
		check(what, pattern(0, base, mapped, mapped + area, len, 0x1000 + i, 0));
		snprintf(what, sizeof(what), "write/read/verify %u bytes, unaligned (bounce)", len);
		check(what, pattern(0, base + 8 * i, unmapped + 4, unmapped + 4 + len, len,
				    0x2000 + i, 0));
	}
	/* Page-aligned but offset start inside a page: PRP1 with an offset. */
	if (info->lba_size == 512)
		check("write/read/verify 8 KiB from offset 512 (PRP1 offset + list)",
		      pattern(0, base + 64, mapped + 512, mapped + area + 512, 8192, 0x3000, 0));
	/* Multi-segment iovec: three pages in different places. */
	{
		struct iovec wi[3] = { { mapped + 3 * 4096, 4096 }, { mapped + 9 * 4096, 4096 },
				       { mapped + 5 * 4096, 4096 } };
		struct iovec ri[1] = { { mapped + area, 3 * 4096 } };
		struct nvme_req w = { .op = NVME_OP_WRITE, .slba = base + 256,
				      .nlb = 3 * 4096 / info->lba_size, .iov = wi, .niov = 3 };
		struct nvme_req r = w;

		for (int k = 0; k < 3; k++)
			fill(wi[k].iov_base, 4096, 0x4000 + k);
		r.op = NVME_OP_READ;
		r.iov = ri;
		r.niov = 1;
		ret = run(0, &w);
		if (!ret)
			ret = run(0, &r);
		for (int k = 0; k < 3 && !ret; k++)
			if (memcmp(wi[k].iov_base, mapped + area + 4096 * k, 4096))
				ret = -EILSEQ;
		check("scatter write of 3 pages, one read, verify", ret);
	}
	check("FUA write + verify",
	      pattern(0, base + 512, mapped, mapped + area, 16384, 0x5000, NVME_REQ_FUA));
	{
		struct nvme_req f = { .op = NVME_OP_FLUSH };

		check("flush", run(0, &f));
	}
	/* Every queue, many commands in flight at once. */
	{
		unsigned nq = info->nqueues, per = info->qdepth - 1, n = 0;
		struct waiter w = { 0, 0 };
		struct iovec *iov = calloc(nq * per, sizeof(*iov));
		uint32_t len = 4096;

		if (per * nq * len > area)
			per = area / len / nq;
		fill(mapped, area, 0x6000);
		for (unsigned q = 0; q < nq; q++)
			for (unsigned k = 0; k < per; k++, n++) {
				struct nvme_req r = {
					.op = NVME_OP_WRITE, .slba = base + (uint64_t)n * len / info->lba_size,
					.nlb = len / info->lba_size, .iov = &iov[n], .niov = 1,
				};

				iov[n].iov_base = mapped + (uint64_t)n * len;
				iov[n].iov_len = len;
				ret = nvme_submit(ctrl, q, &r, &w);
				if (ret)
					break;
				w.pending++;
			}
		while (w.pending > 0 && !stop)
			for (unsigned q = 0; q < nq; q++)
				wait_and_reap(q, 10);
		if (!ret)
			ret = w.status;
		for (uint64_t off = 0; !ret && off < (uint64_t)n * len; off += info->max_xfer) {
			uint32_t l = (uint64_t)n * len - off < info->max_xfer ? (uint64_t)n * len - off
									   : info->max_xfer;

			ret = io1(0, NVME_OP_READ, base + off / info->lba_size, mapped + area + off, l, 0);
		}
		if (!ret && memcmp(mapped, mapped + area, (uint64_t)n * len))
			ret = -EILSEQ;
		snprintf(what, sizeof(what), "%u writes in flight on %u queues, verify", n, nq);
		check(what, ret);
		free(iov);
	}
	if (info->write_zeroes) {
		struct nvme_req z = { .op = NVME_OP_WRITE_ZEROES, .slba = base,
				      .nlb = 65536 / info->lba_size };

		fill(mapped, 65536, 0x7000);
		ret = io1(0, NVME_OP_WRITE, base, mapped, 65536, 0);
		if (!ret)
			ret = run(0, &z);
		if (!ret)
			ret = io1(0, NVME_OP_READ, base, mapped + area, 65536, 0);
		for (uint32_t i = 0; !ret && i < 65536; i++)
			if (mapped[area + i])
				ret = -EILSEQ;
		check("write zeroes 64 KiB + verify zeros", ret);
	} else {
		printf("skip write zeroes (ONCS bit 3 clear)\n");
	}
	if (info->dsm) {
		struct nvme_req d = { .op = NVME_OP_DEALLOCATE, .slba = base + 1024,
				      .nlb = 65536 / info->lba_size };

		check("deallocate 64 KiB", run(0, &d));
	} else {
		printf("skip deallocate (ONCS bit 2 clear)\n");
	}
	{
		struct nvme_req bad = { .op = NVME_OP_READ, .slba = info->nsze, .nlb = 1,
					.iov = NULL, .niov = 0 };

		check("request beyond the namespace is refused",
		      nvme_submit(ctrl, 0, &bad, NULL) == -EINVAL ? 0 : -EINVAL);
	}
	if (!keep) {
		ret = 0;
		for (uint64_t off = 0; off < area && !ret; off += info->max_xfer)
			ret = io1(0, NVME_OP_WRITE, base + off / info->lba_size, save + off,
				  info->max_xfer, 0);
		check("restore test area", ret);
	}
	nvme_close(ctrl);
	check("shutdown", 0);
	if (stop) {
		printf("selftest: interrupted by signal %d\n", (int)stop);
		return 1;
	}
	printf("selftest: %s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
