/*
 * vblk-exercise.c - drive the real virtio-blk device model and a real
 * backend (--disk FILE through io_uring, or --nvme BDF through VFIO) from a
 * synthetic guest: a small virtio driver in this process writing rings and
 * requests into fake guest memory (fake-vm.c) and the device's MMIO
 * registers. No KVM is needed, so it runs in the nested tier's L1 against
 * QEMU's emulated NVMe controller even before a Linux guest boots there.
 *
 *   vblk-exercise (--disk FILE | --nvme BDF) verify
 *   vblk-exercise (--disk FILE | --nvme BDF) bench [--ops N] [--qd N] [--span MiB]
 *   (--direct: open FILE with O_DIRECT)
 *
 * verify: GET_ID, writes and reads of many shapes (multi-descriptor,
 * larger than one backend piece, unaligned, from memory the IOMMU does not
 * map), flush, write zeroes (with and without unmap), discard, hostile
 * requests that must fail alone, 32 requests in flight, all checked.
 * bench: 4 KiB random reads then random writes at queue depth N; prints
 * randread_iops= and randwrite_iops=.
 * Exit 0 pass, 1 fail, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "backend-nvme.h"
#include "fake-vm.h"
#include "nvme-vfio.h"
#include "virtio-blk.h"

#define QS     64
#define DESC   0x1000ULL
#define AVAIL  0x2000ULL
#define USED   0x3000ULL
#define HDRS   0x4000ULL   /* 32 bytes per head: header, then status at +16 */
#define IND    0x8000ULL
#define BUF    0x100000ULL /* data: up to 3 MiB */

static struct vm *vm;
static struct vblk *dev;
static uint16_t aidx, uidx_seen;
static int failures;
static uint64_t capacity;

static void wr(uint64_t off, uint32_t v)
{
	fake_mmio_write32(vm, off, v);
}

static uint32_t rd(uint64_t off)
{
	return fake_mmio_read32(vm, off);
}

static void check(const char *what, bool ok)
{
	printf("%s %s\n", ok ? "ok  " : "FAIL", what);
	fflush(stdout);
	if (!ok)
		failures++;
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc_raw *d = fake_gpa(vm, DESC + 16 * i);

	*d = (struct virtq_desc_raw){ addr, len, flags, next };
}

static void offer(uint16_t head)
{
	uint16_t *a = fake_gpa(vm, AVAIL);

	a[2 + aidx % QS] = head;
	__atomic_store_n(&a[1], ++aidx, __ATOMIC_RELEASE);
}

static void notify(void)
{
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static uint16_t used_idx(void)
{
	return __atomic_load_n((uint16_t *)fake_gpa(vm, USED) + 1, __ATOMIC_ACQUIRE);
}

/* Take the next used element; waits for it. Returns head, len in *len. */
static int next_used(uint32_t *len)
{
	for (int i = 0; i < 30000 && used_idx() == uidx_seen; i++)
		fake_vm_poll(vm, 1);
	if (used_idx() == uidx_seen)
		return -1;
	uint32_t *e = fake_gpa(vm, USED + 4 + 8 * (uidx_seen % QS));

	uidx_seen++;
	if (len)
		*len = e[1];
	if (rd(VIRTIO_MMIO_INTERRUPT_STATUS))
		wr(VIRTIO_MMIO_INTERRUPT_ACK, rd(VIRTIO_MMIO_INTERRUPT_STATUS));
	return e[0];
}

static uint8_t *status_of(unsigned head)
{
	return fake_gpa(vm, HDRS + 32 * head + 16);
}

/* Build request at head (descriptors head, head+1.., head+nseg+1). Data
 * segments: ndata pieces at gpas[] of lens[]. */
static void build(unsigned head, uint32_t type, uint64_t sector, unsigned ndata,
		  const uint64_t *gpas, const uint32_t *lens, bool data_write)
{
	struct virtio_blk_outhdr *h = fake_gpa(vm, HDRS + 32 * head);
	unsigned d = head;

	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	*status_of(head) = 0xee;
	desc(d, HDRS + 32 * head, 16, VRING_DESC_F_NEXT, d + 1);
	d++;
	for (unsigned i = 0; i < ndata; i++, d++)
		desc(d, gpas[i], lens[i],
		     VRING_DESC_F_NEXT | (data_write ? VRING_DESC_F_WRITE : 0), d + 1);
	desc(d, HDRS + 32 * head + 16, 1, VRING_DESC_F_WRITE, 0);
}

/* One request, synchronously. Returns the status byte, or -1. */
static int run1(uint32_t type, uint64_t sector, unsigned ndata, const uint64_t *gpas,
		const uint32_t *lens, bool data_write, uint32_t *used_len)
{
	int head;

	build(0, type, sector, ndata, gpas, lens, data_write);
	offer(0);
	notify();
	head = next_used(used_len);
	if (head != 0)
		return -1;
	return *status_of(0);
}

static int rw(bool write, uint64_t sector, uint64_t gpa, uint32_t len)
{
	return run1(write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, sector, 1, &gpa, &len, !write,
		    NULL);
}

static void fill(uint64_t gpa, uint32_t len, uint32_t seed)
{
	uint8_t *p = fake_gpa(vm, gpa);

	for (uint32_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 31 + seed * 7) ^ (i >> 9) ^ seed);
}

static bool same(uint64_t a, uint64_t b, uint32_t len)
{
	return !memcmp(fake_gpa(vm, a), fake_gpa(vm, b), len);
}

/* n 4 KiB requests in flight at once (heads 0, 3, 6, ...: three
 * descriptors each) on sectors s0, s0 + 8, ... with buffers from gpa on.
 * True if every one came back with status OK. */
static bool in_flight(unsigned n, bool write, uint64_t s0, uint64_t gpa)
{
	bool ok = true;

	for (unsigned k = 0; k < n; k++) {
		uint64_t g = gpa + (uint64_t)k * 4096;
		uint32_t l = 4096;

		build(3 * k, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, s0 + 8 * k, 1,
		      &g, &l, !write);
		offer(3 * k);
	}
	notify();
	for (unsigned k = 0; k < n; k++)
		ok &= next_used(NULL) >= 0;
	for (unsigned k = 0; k < n; k++)
		ok &= *status_of(3 * k) == 0;
	return ok;
}

static int device_up(void)
{
	wr(VIRTIO_MMIO_STATUS, 0);
	if (rd(VIRTIO_MMIO_MAGIC_VALUE) != 0x74726976 || rd(VIRTIO_MMIO_VERSION) != 2 ||
	    rd(VIRTIO_MMIO_DEVICE_ID) != 2)
		return -1;
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint32_t lo = rd(VIRTIO_MMIO_DEVICE_FEATURES);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, lo);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
		return -1;
	capacity = rd(VIRTIO_MMIO_CONFIG) | ((uint64_t)rd(VIRTIO_MMIO_CONFIG + 4) << 32);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	wr(VIRTIO_MMIO_QUEUE_NUM, QS);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, AVAIL);
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, USED);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
	aidx = uidx_seen = 0;
	return rd(VIRTIO_MMIO_QUEUE_READY) == 1 ? 0 : -1;
}

static void verify(void)
{
	uint32_t ulen;
	uint64_t s0 = 2048; /* sector 2048 = 1 MiB in */
	char what[128];

	/* GET_ID */
	{
		uint64_t g = BUF;
		uint32_t l = 20;

		memset(fake_gpa(vm, BUF), 0, 21);
		int st = run1(VIRTIO_BLK_T_GET_ID, 0, 1, &g, &l, true, &ulen);

		printf("# serial '%.20s', capacity %llu sectors\n", (char *)fake_gpa(vm, BUF),
		       (unsigned long long)capacity);
		check("GET_ID", st == VIRTIO_BLK_S_OK && ulen == 21);
	}
	/* Simple write/read of several sizes. */
	uint32_t sizes[] = { 512, 4096, 65536, 131072, 524288 };
	for (unsigned i = 0; i < 5; i++) {
		fill(BUF, sizes[i], i + 1);
		memset(fake_gpa(vm, BUF + 0x100000), 0, sizes[i]);
		int a = rw(true, s0, BUF, sizes[i]);
		int b = rw(false, s0, BUF + 0x100000, sizes[i]);

		snprintf(what, sizeof(what), "write+read %u bytes, one descriptor", sizes[i]);
		check(what, a == 0 && b == 0 && same(BUF, BUF + 0x100000, sizes[i]));
	}
	/* Eight scattered 64 KiB descriptors (512 KiB: several backend pieces). */
	{
		uint64_t g[8], r[8];
		uint32_t l[8];

		for (int i = 0; i < 8; i++) {
			g[i] = BUF + (uint64_t)(7 - i) * 0x10000;
			r[i] = BUF + 0x100000 + (uint64_t)i * 0x10000;
			l[i] = 0x10000;
			fill(g[i], l[i], 100 + i);
		}
		int a = run1(VIRTIO_BLK_T_OUT, s0 + 4096, 8, g, l, false, NULL);
		int b = run1(VIRTIO_BLK_T_IN, s0 + 4096, 8, r, l, true, &ulen);
		bool ok = a == 0 && b == 0 && ulen == 8 * 0x10000 + 1;

		for (int i = 0; i < 8 && ok; i++)
			ok = same(g[i], r[i], 0x10000);
		check("scatter write + gather read, 8 x 64 KiB", ok);
	}
	/* Unaligned buffers: 512-byte offset, odd split across descriptors. */
	{
		uint64_t g[3] = { BUF + 512, BUF + 0x20000 + 1536, BUF + 0x40000 + 3584 };
		uint32_t l[3] = { 1024, 2560, 512 };
		uint64_t r[1] = { BUF + 0x100000 + 512 };
		uint32_t rl[1] = { 4096 };
		bool ok;

		for (int i = 0; i < 3; i++)
			fill(g[i], l[i], 200 + i);
		int a = run1(VIRTIO_BLK_T_OUT, s0 + 8192, 3, g, l, false, NULL);
		int b = run1(VIRTIO_BLK_T_IN, s0 + 8192, 1, r, rl, true, NULL);

		ok = a == 0 && b == 0 && same(g[0], r[0], 1024) && same(g[1], r[0] + 1024, 2560) &&
		     same(g[2], r[0] + 3584, 512);
		check("unaligned, odd-sized descriptors", ok);
	}
	/* From memory outside RAM (read-only region: not DMA-mapped). */
	{
		uint64_t g = FAKE_RAM;
		uint32_t l = 8192;

		fill(FAKE_RAM, 8192, 300);
		int a = run1(VIRTIO_BLK_T_OUT, s0 + 9000, 1, &g, &l, false, NULL);
		int b = rw(false, s0 + 9000, BUF + 0x100000, 8192);

		check("write from read-only memory outside RAM (bounced for NVMe)",
		      a == 0 && b == 0 && same(FAKE_RAM, BUF + 0x100000, 8192));
	}
	check("flush", run1(VIRTIO_BLK_T_FLUSH, 0, 0, NULL, NULL, false, NULL) == 0);
	/* Write zeroes, plain and with unmap; discard. */
	for (int unmap = 0; unmap < 2; unmap++) {
		struct virtio_blk_discard_write_zeroes *z = fake_gpa(vm, BUF + 0x200000);
		uint64_t g = BUF + 0x200000;
		uint32_t l = 16;
		bool ok;

		fill(BUF, 65536, 400 + unmap);
		int a = rw(true, s0, BUF, 65536);
		*z = (struct virtio_blk_discard_write_zeroes){ .sector = s0 + 8, .num_sectors = 64,
							       .flags = unmap };
		int b = run1(VIRTIO_BLK_T_WRITE_ZEROES, 0, 1, &g, &l, false, NULL);
		int c = rw(false, s0, BUF + 0x100000, 65536);
		uint8_t *p = fake_gpa(vm, BUF + 0x100000);

		ok = a == 0 && b == 0 && c == 0 && same(BUF, BUF + 0x100000, 4096) &&
		     same(BUF + 4096 + 32768, BUF + 0x100000 + 4096 + 32768, 65536 - 4096 - 32768);
		for (int i = 4096; i < 4096 + 32768 && ok; i++)
			ok = p[i] == 0;
		check(unmap ? "write zeroes with unmap" : "write zeroes", ok);
	}
	{
		struct virtio_blk_discard_write_zeroes *z = fake_gpa(vm, BUF + 0x200000);
		uint64_t g = BUF + 0x200000;
		uint32_t l = 16;

		*z = (struct virtio_blk_discard_write_zeroes){ .sector = s0, .num_sectors = 2048 };
		check("discard 1 MiB", run1(VIRTIO_BLK_T_DISCARD, 0, 1, &g, &l, false, NULL) == 0);
	}
	/* Hostile requests fail alone. */
	{
		uint64_t g = BUF;
		uint32_t l = 4096;

		check("read beyond the end: IOERR",
		      run1(VIRTIO_BLK_T_IN, capacity - 1, 1, &g, &l, true, NULL) == VIRTIO_BLK_S_IOERR);
		check("huge sector: IOERR",
		      run1(VIRTIO_BLK_T_OUT, UINT64_MAX - 3, 1, &g, &l, false, NULL) ==
			      VIRTIO_BLK_S_IOERR);
		g = 0x7ff00000000ULL;
		check("buffer outside guest memory: returned with length 0",
		      run1(VIRTIO_BLK_T_IN, 0, 1, &g, &l, true, &ulen) == 0xee && ulen == 0);
		desc(0, HDRS, 16, VRING_DESC_F_NEXT, 1);
		desc(1, BUF, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 0);
		offer(0);
		notify();
		check("descriptor loop: returned with length 0", next_used(&ulen) == 0 && ulen == 0);
		check("unknown request type: UNSUPP",
		      run1(99, 0, 0, NULL, NULL, false, NULL) == VIRTIO_BLK_S_UNSUPP);
	}
	/* 21 requests in flight at once (3 descriptors each). */
	{
		unsigned n = QS / 3;
		bool ok = true;

		for (unsigned k = 0; k < n; k++)
			fill(BUF + (uint64_t)k * 4096, 4096, 500 + k);
		ok &= in_flight(n, true, s0, BUF);
		ok &= in_flight(n, false, s0, BUF + 0x100000);
		ok &= same(BUF, BUF + 0x100000, n * 4096);
		snprintf(what, sizeof(what), "%u requests in flight, verify", n);
		check(what, ok);
	}
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ops random 4 KiB requests at queue depth qd over span bytes. */
static double bench(bool write, unsigned ops, unsigned qd, uint64_t span)
{
	uint64_t seed = 0x9e3779b97f4a7c15ULL, blocks = span / 4096;
	unsigned issued = 0, done = 0, inflight = 0;
	double t0;

	if (blocks > capacity / 8)
		blocks = capacity / 8;
	fill(BUF, qd * 4096, 7);
	t0 = now();
	while (done < ops) {
		while (inflight < qd && issued < ops) {
			unsigned slot = issued % qd;
			uint64_t g = BUF + (uint64_t)slot * 4096;
			uint32_t l = 4096;

			build(3 * slot, write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN,
			      (rnd(&seed) % blocks) * 8, 1, &g, &l, write);
			offer(3 * slot);
			issued++;
			inflight++;
		}
		notify();
		int h = next_used(NULL);

		if (h < 0 || *status_of(h)) {
			failures++;
			return 0;
		}
		done++;
		inflight--;
	}
	return ops / (now() - t0);
}

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "disk", required_argument, NULL, 'd' },
		{ "nvme", required_argument, NULL, 'n' },
		{ "ops", required_argument, NULL, 'o' },
		{ "qd", required_argument, NULL, 'q' },
		{ "span", required_argument, NULL, 's' },
		{ "direct", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	const char *disk = NULL, *nvme = NULL, *mode;
	unsigned ops = 2000, qd = 1, span_mib = 256, fflags = 0;
	struct blk_backend *be;
	struct vblk_opts o = { .queues = 1 };
	char err[512];
	int c;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'd': disk = optarg; break;
		case 'n': nvme = optarg; break;
		case 'o': ops = strtoul(optarg, NULL, 0); break;
		case 'q': qd = strtoul(optarg, NULL, 0); break;
		case 's': span_mib = strtoul(optarg, NULL, 0); break;
		case 'D': fflags |= BLK_FILE_DIRECT; break;
		default: return 2;
		}
	}
	if (optind != argc - 1 || !!disk == !!nvme || qd < 1 || qd > QS / 3 || !ops ||
	    !span_mib) {
		fprintf(stderr, "usage: vblk-exercise (--disk FILE [--direct] | --nvme BDF) "
				"(verify | bench [--ops N] [--qd 1..%d] [--span MiB])\n", QS / 3);
		return 2;
	}
	mode = argv[optind];
	vm = fake_vm_new();
	if (disk)
		be = blk_file_open(disk, fflags, 1, err, sizeof(err));
	else
		be = blk_nvme_open(nvme, 1, 1, false, err, sizeof(err));
	if (!be) {
		fprintf(stderr, "vblk-exercise: %s\n", err);
		return 1;
	}
	if (nvme && nvme_dma_map(blk_nvme_ctrl(be), fake_gpa(vm, 0), 0, FAKE_RAM, err,
				 sizeof(err))) {
		fprintf(stderr, "vblk-exercise: %s\n", err);
		be->ops->close(be);
		return 1;
	}
	dev = vblk_create(vm, be, &o, err, sizeof(err));
	if (!dev) {
		fprintf(stderr, "vblk-exercise: %s\n", err);
		return 1;
	}
	if (device_up()) {
		fprintf(stderr, "vblk-exercise: device did not come up\n");
		return 1;
	}
	if (!strcmp(mode, "verify")) {
		verify();
	} else if (!strcmp(mode, "bench")) {
		double r = bench(false, ops, qd, (uint64_t)span_mib << 20);
		double w = bench(true, ops, qd, (uint64_t)span_mib << 20);

		printf("backend=%s ops=%u qd=%u randread_iops=%.0f randwrite_iops=%.0f\n",
		       nvme ? "nvme" : fflags ? "disk-direct" : "disk", ops, qd, r, w);
	} else {
		fprintf(stderr, "vblk-exercise: unknown mode '%s'\n", mode);
		return 2;
	}
	vblk_destroy(dev);
	fake_vm_free(vm);
	printf("vblk-exercise: %s\n", failures ? "FAIL" : "PASS");
	return failures ? 1 : 0;
}
