/*
 * test-virtio-blk.c - virtio-blk request parsing (vblk_parse) and the whole
 * device driven through its virtio-mmio registers on fake guest memory with
 * the io_uring file backend: good requests, hostile requests that fail
 * alone, discard / write zeroes / flush / GET_ID, read-only.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "fake-vm.h"
#include "virtio-blk.h"

/* ---- vblk_parse on hand-made chains -------------------------------------- */

static uint8_t hdrbuf[64], databuf[8192], statusbuf[4];
static struct virtq_chain ch;
static struct vblk_req req;
static const struct vblk_limits lim = {
	.capacity = 1 << 20, .block_size = 512, .discard = true, .write_zeroes = true,
};

static void seg(void *p, uint32_t len, bool w)
{
	ch.seg[ch.nseg++] = (struct virtq_seg){ .host = p, .len = len, .write = w };
	if (w)
		ch.write_len += len;
	else {
		ch.read_len += len;
		ch.nread++;
	}
}

static void chain_reset(uint32_t type, uint64_t sector)
{
	struct virtio_blk_outhdr h = { .type = type, .sector = sector };

	memset(&ch, 0, sizeof(ch));
	memcpy(hdrbuf, &h, sizeof(h));
}

static void test_parse_read(void **state)
{
	chain_reset(VIRTIO_BLK_T_IN, 8);
	seg(hdrbuf, 16, false);
	seg(databuf, 4096, true);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_OK);
	assert_int_equal(req.type, VIRTIO_BLK_T_IN);
	assert_int_equal(req.sector, 8);
	assert_int_equal(req.data_len, 4096);
	assert_int_equal(req.ndata, 1);
	assert_ptr_equal(req.status, statusbuf);
	assert_int_equal(req.used_len, 4096);
	/* Data and status in one descriptor. */
	chain_reset(VIRTIO_BLK_T_IN, 8);
	seg(hdrbuf, 16, false);
	seg(databuf, 513, true);
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_OK);
	assert_int_equal(req.data_len, 512);
	assert_ptr_equal(req.status, databuf + 512);
}

static void test_parse_write_split_header(void **state)
{
	chain_reset(VIRTIO_BLK_T_OUT, 100);
	/* Header split 10 + 6, the second piece continuing with data. */
	memcpy(databuf, hdrbuf + 10, 6);
	seg(hdrbuf, 10, false);
	seg(databuf, 6 + 1024, false);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_OK);
	assert_int_equal(req.type, VIRTIO_BLK_T_OUT);
	assert_int_equal(req.sector, 100);
	assert_int_equal(req.data_len, 1024);
	assert_ptr_equal(req.data[0].iov_base, databuf + 6);
	assert_int_equal(req.used_len, 0);
}

static void test_parse_bad(void **state)
{
	struct vblk_limits ro = lim;

	/* No writable byte at all: cannot even report a status. */
	chain_reset(VIRTIO_BLK_T_IN, 0);
	seg(hdrbuf, 16, false);
	assert_int_equal(vblk_parse(&ch, &lim, &req), -1);
	/* Short header. */
	chain_reset(VIRTIO_BLK_T_IN, 0);
	seg(hdrbuf, 8, false);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_IOERR);
	/* Beyond the end. */
	chain_reset(VIRTIO_BLK_T_IN, (1 << 20) / 512 - 1);
	seg(hdrbuf, 16, false);
	seg(databuf, 1024, true);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_IOERR);
	/* Sector overflow. */
	chain_reset(VIRTIO_BLK_T_OUT, UINT64_MAX);
	seg(hdrbuf, 16, false);
	seg(databuf, 512, false);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_IOERR);
	/* Not a multiple of 512. */
	chain_reset(VIRTIO_BLK_T_OUT, 0);
	seg(hdrbuf, 16, false);
	seg(databuf, 100, false);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_IOERR);
	/* Unknown type. */
	chain_reset(77, 0);
	seg(hdrbuf, 16, false);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_UNSUPP);
	/* Write to a read-only disk. */
	ro.readonly = true;
	chain_reset(VIRTIO_BLK_T_OUT, 0);
	seg(hdrbuf, 16, false);
	seg(databuf, 512, false);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &ro, &req), VIRTIO_BLK_S_IOERR);
	/* 4 KiB logical blocks: 512-byte aligned I/O is refused. */
	ro = lim;
	ro.block_size = 4096;
	chain_reset(VIRTIO_BLK_T_IN, 1);
	seg(hdrbuf, 16, false);
	seg(databuf, 4096, true);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &ro, &req), VIRTIO_BLK_S_IOERR);
	chain_reset(VIRTIO_BLK_T_IN, 8);
	seg(hdrbuf, 16, false);
	seg(databuf, 4096, true);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &ro, &req), VIRTIO_BLK_S_OK);
}

static void test_parse_discard(void **state)
{
	struct virtio_blk_discard_write_zeroes r[2] = {
		{ .sector = 8, .num_sectors = 16, .flags = 0 },
		{ .sector = 100, .num_sectors = 1, .flags = 0 },
	};
	struct vblk_limits nod = lim;

	chain_reset(VIRTIO_BLK_T_DISCARD, 0);
	memcpy(hdrbuf + 16, r, sizeof(r));
	seg(hdrbuf, 16 + sizeof(r), false);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_OK);
	assert_int_equal(req.nranges, 2);
	assert_int_equal(req.range[1].sector, 100);
	/* Unmap flag on discard is reserved. */
	r[1].flags = 1;
	memcpy(hdrbuf + 16, r, sizeof(r));
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_UNSUPP);
	/* ... and allowed for write zeroes. */
	chain_reset(VIRTIO_BLK_T_WRITE_ZEROES, 0);
	memcpy(hdrbuf + 16, r, sizeof(r));
	seg(hdrbuf, 16 + sizeof(r), false);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_OK);
	/* Range beyond the end. */
	r[0].sector = (1 << 20) / 512;
	memcpy(hdrbuf + 16, r, sizeof(r));
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_IOERR);
	/* Ragged segment list. */
	chain_reset(VIRTIO_BLK_T_WRITE_ZEROES, 0);
	seg(hdrbuf, 16 + 10, false);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &lim, &req), VIRTIO_BLK_S_UNSUPP);
	/* Not offered. */
	nod.discard = false;
	chain_reset(VIRTIO_BLK_T_DISCARD, 0);
	seg(hdrbuf, 32, false);
	seg(statusbuf, 1, true);
	assert_int_equal(vblk_parse(&ch, &nod, &req), VIRTIO_BLK_S_UNSUPP);
}

static void test_iov_slice(void **state)
{
	struct iovec in[3] = { { databuf, 100 }, { databuf + 1000, 50 }, { databuf + 2000, 200 } };
	struct iovec out[3];

	assert_int_equal(vblk_iov_slice(in, 3, 90, 100, out, 3), 3);
	assert_ptr_equal(out[0].iov_base, databuf + 90);
	assert_int_equal(out[0].iov_len, 10);
	assert_int_equal(out[1].iov_len, 50);
	assert_int_equal(out[2].iov_len, 40);
	assert_int_equal(vblk_iov_slice(in, 3, 300, 100, out, 3), 0); /* too short */
	assert_int_equal(vblk_iov_slice(in, 3, 0, 350, out, 2), 0);   /* too many */
}

/* ---- the whole device on fake memory ------------------------------------- */

#define QS     16
#define DESC   0x1000
#define AVAIL  0x2000
#define USED   0x3000
#define BUFS   0x10000
#define DISK   (1 << 20)

static struct vm *vm;
static struct vblk *dev;
static char path[64];
static uint16_t aidx;

static void wr(uint64_t off, uint32_t v)
{
	fake_mmio_write32(vm, off, v);
}

static uint32_t rd(uint64_t off)
{
	return fake_mmio_read32(vm, off);
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc_raw *d = fake_gpa(vm, DESC + 16 * i);

	*d = (struct virtq_desc_raw){ addr, len, flags, next };
}

static void kick(uint16_t head)
{
	uint16_t *a = fake_gpa(vm, AVAIL);

	a[2 + aidx % QS] = head;
	a[1] = ++aidx;
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static uint16_t used_idx(void)
{
	return ((uint16_t *)fake_gpa(vm, USED))[1];
}

static uint32_t used_len_of(unsigned n)
{
	return ((uint32_t *)fake_gpa(vm, USED + 4 + 8 * (n % QS)))[1];
}

/* Wait until the device has used `n` chains in total. */
static void wait_used(uint16_t n)
{
	for (int i = 0; i < 200 && used_idx() != n; i++)
		fake_vm_poll(vm, 10);
	assert_int_equal(used_idx(), n);
}

/* A request: header at BUFS + 0x100*slot, data at BUFS + 0x10000 + ..., status. */
static uint8_t *request(unsigned head, uint32_t type, uint64_t sector, uint64_t data_gpa,
			uint32_t len, bool data_write)
{
	uint64_t hdr = BUFS + 0x100 * head, st = hdr + 0x80;
	struct virtio_blk_outhdr *h = fake_gpa(vm, hdr);
	uint8_t *status = fake_gpa(vm, st);

	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	*status = 0xee;
	if (len) {
		desc(head, hdr, 16, VRING_DESC_F_NEXT, head + 1);
		desc(head + 1, data_gpa, len, VRING_DESC_F_NEXT | (data_write ? VRING_DESC_F_WRITE : 0),
		     head + 2);
		desc(head + 2, st, 1, VRING_DESC_F_WRITE, 0);
	} else {
		desc(head, hdr, 16, VRING_DESC_F_NEXT, head + 1);
		desc(head + 1, st, 1, VRING_DESC_F_WRITE, 0);
	}
	return status;
}

static void device_up(bool readonly)
{
	char err[256];
	struct blk_backend *be;
	struct vblk_opts o = { .queues = 1 };
	int fd;

	vm = fake_vm_new();
	snprintf(path, sizeof(path), "/tmp/pmvm-vblk-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK), 0);
	close(fd);
	be = blk_file_open(path, readonly, 1, err, sizeof(err));
	assert_non_null(be);
	dev = vblk_create(vm, be, &o, err, sizeof(err));
	assert_non_null(dev);

	assert_int_equal(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(rd(VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(rd(VIRTIO_MMIO_DEVICE_ID), 2);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_true(rd(VIRTIO_MMIO_DEVICE_FEATURES) & 1); /* VERSION_1 */
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint32_t f = rd(VIRTIO_MMIO_DEVICE_FEATURES);
	assert_true(f & (1u << VIRTIO_BLK_F_FLUSH));
	assert_int_equal(!!(f & (1u << VIRTIO_BLK_F_RO)), readonly);
	/* A driver that does not accept VERSION_1 is refused. */
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, f);
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_false(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_FEATURES_OK);
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK);
	/* Config: capacity in sectors. */
	uint32_t cap_lo = rd(VIRTIO_MMIO_CONFIG);
	assert_int_equal(cap_lo, DISK / 512);
	wr(VIRTIO_MMIO_QUEUE_SEL, 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), VIRTQ_MAX_SIZE);
	wr(VIRTIO_MMIO_QUEUE_NUM, QS);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, DESC);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0);
	wr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, AVAIL);
	wr(VIRTIO_MMIO_QUEUE_USED_LOW, USED);
	wr(VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	wr(VIRTIO_MMIO_STATUS, rd(VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
	aidx = 0;
}

static void device_down(void)
{
	vblk_destroy(dev);
	unlink(path);
	fake_vm_free(vm);
}

static void test_device_io(void **state)
{
	uint8_t *data, *st;
	int gsi;

	device_up(false);
	data = fake_gpa(vm, 0x40000);
	gsi = IRQ_DEVICE_FIRST;
	for (int i = 0; i < 8192; i++)
		data[i] = i * 7;
	st = request(0, VIRTIO_BLK_T_OUT, 16, 0x40000, 8192, false);
	kick(0);
	wait_used(1);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_int_equal(vm->irq_level[gsi], 1);
	assert_int_equal(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(vm->irq_level[gsi], 0);

	st = request(3, VIRTIO_BLK_T_IN, 16, 0x50000, 8192, true);
	kick(3);
	wait_used(2);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_int_equal(used_len_of(1), 8193);
	assert_memory_equal(fake_gpa(vm, 0x50000), data, 8192);

	/* The file really has it. */
	int fd = open(path, O_RDONLY);
	uint8_t buf[8192];
	assert_int_equal(pread(fd, buf, 8192, 16 * 512), 8192);
	close(fd);
	assert_memory_equal(buf, data, 8192);

	/* Flush, GET_ID. */
	st = request(6, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false);
	kick(6);
	wait_used(3);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	st = request(6, VIRTIO_BLK_T_GET_ID, 0, 0x60000, 20, true);
	kick(6);
	wait_used(4);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	assert_memory_equal(fake_gpa(vm, 0x60000), "pmvm-", 5);

	/* Write zeroes over part of what was written, read back. */
	struct virtio_blk_discard_write_zeroes *wz = fake_gpa(vm, 0x70000);
	*wz = (struct virtio_blk_discard_write_zeroes){ .sector = 16, .num_sectors = 8 };
	st = request(9, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0x70000, 16, false);
	kick(9);
	wait_used(5);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	st = request(9, VIRTIO_BLK_T_IN, 16, 0x50000, 8192, true);
	kick(9);
	wait_used(6);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(((uint8_t *)fake_gpa(vm, 0x50000))[i], 0);
	assert_memory_equal(fake_gpa(vm, 0x50000 + 4096), data + 4096, 4096);
	/* Discard. */
	*wz = (struct virtio_blk_discard_write_zeroes){ .sector = 0, .num_sectors = 64 };
	st = request(12, VIRTIO_BLK_T_DISCARD, 0, 0x70000, 16, false);
	kick(12);
	wait_used(7);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	device_down();
}

static void test_device_hostile(void **state)
{
	uint8_t *st, *st2;

	device_up(false);
	/* A loop, then a good request: the loop comes back with length 0 and
	 * the good one completes. */
	desc(0, BUFS, 16, VRING_DESC_F_NEXT, 1);
	desc(1, BUFS + 0x80, 1, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 0);
	kick(0);
	wait_used(1);
	assert_int_equal(used_len_of(0), 0);
	st = request(3, VIRTIO_BLK_T_IN, 0, 0x40000, 512, true);
	kick(3);
	wait_used(2);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);

	/* Data buffer outside guest memory. */
	st = request(6, VIRTIO_BLK_T_IN, 0, 0x7fff0000000ULL, 512, true);
	kick(6);
	wait_used(3);
	assert_int_equal(used_len_of(2), 0);
	assert_int_equal(*st, 0xee); /* untouched */
	/* Read into read-only guest memory. */
	st = request(6, VIRTIO_BLK_T_IN, 0, FAKE_RAM, 512, true);
	kick(6);
	wait_used(4);
	assert_int_equal(used_len_of(3), 0);
	/* Beyond the end of the disk, huge sector, unaligned length. */
	st = request(6, VIRTIO_BLK_T_IN, DISK / 512, 0x40000, 512, true);
	kick(6);
	wait_used(5);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
	st = request(9, VIRTIO_BLK_T_OUT, UINT64_MAX / 256, 0x40000, 512, false);
	st2 = request(12, VIRTIO_BLK_T_IN, 0, 0x40000, 100, true);
	{
		uint16_t *a = fake_gpa(vm, AVAIL);

		a[2 + aidx % QS] = 9;
		aidx++;
		a[2 + aidx % QS] = 12;
		a[1] = ++aidx;
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	}
	wait_used(7);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
	assert_int_equal(*st2, VIRTIO_BLK_S_IOERR);
	/* Unknown type. */
	st = request(6, 42, 0, 0, 0, false);
	kick(6);
	wait_used(8);
	assert_int_equal(*st, VIRTIO_BLK_S_UNSUPP);
	/* Still healthy. */
	st = request(6, VIRTIO_BLK_T_OUT, 1, 0x40000, 4096, false);
	kick(6);
	wait_used(9);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	/* A corrupt avail index stops this device's queue, nothing else. */
	((uint16_t *)fake_gpa(vm, AVAIL))[1] = aidx + 1000;
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	fake_vm_poll(vm, 10);
	assert_true(rd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* Reset brings it back. */
	wr(VIRTIO_MMIO_STATUS, 0);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	assert_int_equal(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	/* Register accesses of odd widths and offsets are ignored. */
	uint64_t b = 0xff;
	vm->mmio_fn(vm->mmio_opaque, VIRTIO_MMIO_STATUS, &b, 1, true);
	assert_int_equal(rd(VIRTIO_MMIO_STATUS), 0);
	vm->mmio_fn(vm->mmio_opaque, 0x1ff, &b, 1, false);
	vm->mmio_fn(vm->mmio_opaque, 0x100 + 60, &b, 8, false);
	vm->mmio_fn(vm->mmio_opaque, 0x100 + 0xfc, &b, 8, false); /* past config */
	device_down();
}

static void test_device_readonly(void **state)
{
	uint8_t *st;

	device_up(true);
	st = request(0, VIRTIO_BLK_T_OUT, 0, 0x40000, 512, false);
	kick(0);
	wait_used(1);
	assert_int_equal(*st, VIRTIO_BLK_S_IOERR);
	st = request(3, VIRTIO_BLK_T_IN, 0, 0x40000, 512, true);
	kick(3);
	wait_used(2);
	assert_int_equal(*st, VIRTIO_BLK_S_OK);
	device_down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_read),
		cmocka_unit_test(test_parse_write_split_header),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_discard),
		cmocka_unit_test(test_iov_slice),
		cmocka_unit_test(test_device_io),
		cmocka_unit_test(test_device_hostile),
		cmocka_unit_test(test_device_readonly),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
