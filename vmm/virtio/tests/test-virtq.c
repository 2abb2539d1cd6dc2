/*
 * test-virtq.c - split virtqueue chain walking against hostile rings:
 * loops, out-of-range and read-only addresses, huge lengths, too many
 * descriptors, bad ordering, malformed indirect tables, corrupt indices.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/virtio_ring.h>

#include "fake-vm.h"
#include "virtq.h"

#define QSIZE 16
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000
#define IND   0x8000
#define DATA  0x10000

static struct vm *vm;
static struct virtq q;
static struct virtq_chain ch;
static uint16_t avail_idx;

static void set_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc_raw *d = fake_gpa(vm, table + 16 * i);

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void offer(uint16_t head)
{
	uint16_t *avail = fake_gpa(vm, AVAIL);

	avail[2 + (avail_idx % QSIZE)] = head;
	avail[1] = ++avail_idx;
}

static int setup(void **state)
{
	vm = fake_vm_new();
	virtq_init(&q, vm);
	q.size = QSIZE;
	q.desc_gpa = DESC;
	q.avail_gpa = AVAIL;
	q.used_gpa = USED;
	avail_idx = 0;
	assert_true(virtq_enable(&q));
	return 0;
}

static int teardown(void **state)
{
	fake_vm_free(vm);
	return 0;
}

static void test_enable_checks(void **state)
{
	struct virtq t;

	virtq_init(&t, vm);
	t.size = 3; /* not a power of two */
	t.desc_gpa = DESC;
	t.avail_gpa = AVAIL;
	t.used_gpa = USED;
	assert_false(virtq_enable(&t));
	t.size = 512; /* above the maximum */
	assert_false(virtq_enable(&t));
	t.size = 16;
	t.desc_gpa = DESC + 8; /* misaligned */
	assert_false(virtq_enable(&t));
	t.desc_gpa = FAKE_RAM - 16; /* runs off the end of RAM */
	assert_false(virtq_enable(&t));
	t.desc_gpa = DESC;
	t.used_gpa = FAKE_RAM; /* used ring in read-only memory */
	assert_false(virtq_enable(&t));
	t.used_gpa = 0xffffffffffff0000ULL;
	assert_false(virtq_enable(&t));
	t.used_gpa = USED;
	assert_true(virtq_enable(&t));
}

static void test_simple_chain(void **state)
{
	set_desc(DESC, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(DESC, 1, DATA + 0x100, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(DESC, 2, DATA + 0x400, 1, VRING_DESC_F_WRITE, 0);
	assert_int_equal(virtq_pop(&q, &ch), 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), 1);
	assert_int_equal(ch.head, 0);
	assert_int_equal(ch.nseg, 3);
	assert_int_equal(ch.nread, 1);
	assert_int_equal(ch.read_len, 16);
	assert_int_equal(ch.write_len, 513);
	assert_ptr_equal(ch.seg[1].host, fake_gpa(vm, DATA + 0x100));
	assert_true(ch.seg[2].write);
	assert_int_equal(virtq_pop(&q, &ch), 0);

	virtq_push(&q, 0, 513);
	uint16_t *used = fake_gpa(vm, USED);
	uint32_t *elem = fake_gpa(vm, USED + 4);

	assert_int_equal(used[1], 1);
	assert_int_equal(elem[0], 0);
	assert_int_equal(elem[1], 513);
	assert_true(virtq_should_notify(&q));
	((uint16_t *)fake_gpa(vm, AVAIL))[0] = VRING_AVAIL_F_NO_INTERRUPT;
	assert_false(virtq_should_notify(&q));
}

static void test_loop(void **state)
{
	set_desc(DESC, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(DESC, 1, DATA, 16, VRING_DESC_F_NEXT, 0); /* back to 0 */
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	assert_int_equal(ch.head, 0);
	/* A self-loop of zero-length descriptors is caught too. */
	set_desc(DESC, 3, DATA, 0, VRING_DESC_F_NEXT, 3);
	offer(3);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* The queue keeps working after bad chains. */
	set_desc(DESC, 5, DATA, 16, 0, 0);
	offer(5);
	assert_int_equal(virtq_pop(&q, &ch), 1);
	assert_int_equal(ch.head, 5);
}

static void test_bad_addresses(void **state)
{
	/* Beyond guest memory. */
	set_desc(DESC, 0, 0x100000000ULL, 16, 0, 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* Address + length wraps around. */
	set_desc(DESC, 0, 0xfffffffffffffff0ULL, 0x20, 0, 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* Huge length from a valid address. */
	set_desc(DESC, 0, DATA, 0xffffffff, 0, 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* Crossing from RAM into the next region. */
	set_desc(DESC, 0, FAKE_RAM - 8, 16, 0, 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* Device-writable buffer in read-only memory. */
	set_desc(DESC, 0, FAKE_RAM + 0x100, 16, VRING_DESC_F_WRITE, 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* ... while reading from it is fine. */
	set_desc(DESC, 0, FAKE_RAM + 0x100, 16, 0, 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), 1);
	/* next out of range. */
	set_desc(DESC, 0, DATA, 16, VRING_DESC_F_NEXT, QSIZE);
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* head out of range. */
	offer(QSIZE + 3);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	assert_int_equal(ch.head, QSIZE + 3);
}

static void test_order(void **state)
{
	/* Readable after writable is refused. */
	set_desc(DESC, 0, DATA, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(DESC, 1, DATA + 16, 16, 0, 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
}

static void test_indirect(void **state)
{
	set_desc(IND, 0, DATA, 16, VRING_DESC_F_NEXT, 1);
	set_desc(IND, 1, DATA + 0x200, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(IND, 2, DATA + 0x2000, 1, VRING_DESC_F_WRITE, 0);
	set_desc(DESC, 4, IND, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	assert_int_equal(virtq_pop(&q, &ch), 1);
	assert_int_equal(ch.head, 4);
	assert_int_equal(ch.nseg, 3);
	assert_int_equal(ch.write_len, 4097);

	/* INDIRECT together with NEXT. */
	set_desc(DESC, 4, IND, 3 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 5);
	offer(4);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* Length not a multiple of 16; zero. */
	set_desc(DESC, 4, IND, 40, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	set_desc(DESC, 4, IND, 0, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* Nested indirect. */
	set_desc(IND, 2, IND, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(DESC, 4, IND, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* Loop inside the table. */
	set_desc(IND, 2, DATA, 16, VRING_DESC_F_NEXT, 0);
	offer(4);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* next beyond the table. */
	set_desc(IND, 2, DATA, 16, VRING_DESC_F_NEXT, 3);
	offer(4);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* Table itself outside memory. */
	set_desc(DESC, 4, 0x7ffffff0000ULL, 3 * 16, VRING_DESC_F_INDIRECT, 0);
	offer(4);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* Huge table. */
	set_desc(DESC, 4, IND, 16 * (VIRTQ_MAX_INDIRECT + 1), VRING_DESC_F_INDIRECT, 0);
	offer(4);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
}

static void test_too_many(void **state)
{
	/* A full queue's worth of direct descriptors leading into an indirect
	 * table of the maximum size: more segments than VIRTQ_MAX_SEGS. */
	for (unsigned i = 0; i < QSIZE - 1; i++)
		set_desc(DESC, i, DATA + 16 * i, 16, VRING_DESC_F_NEXT, i + 1);
	for (unsigned i = 0; i < VIRTQ_MAX_INDIRECT; i++)
		set_desc(IND, i, DATA, 16, i + 1 < VIRTQ_MAX_INDIRECT ? VRING_DESC_F_NEXT : 0,
			 i + 1);
	set_desc(DESC, QSIZE - 1, IND, 16 * VIRTQ_MAX_INDIRECT, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BAD_CHAIN);
	/* Total length above 4 GiB through many large descriptors. */
	for (unsigned i = 0; i < VIRTQ_MAX_INDIRECT; i++)
		set_desc(IND, i, 0, FAKE_RAM, i + 1 < VIRTQ_MAX_INDIRECT ? VRING_DESC_F_NEXT : 0,
			 i + 1);
	set_desc(DESC, 0, IND, 16 * VIRTQ_MAX_INDIRECT, VRING_DESC_F_INDIRECT, 0);
	offer(0);
	/* 256 x 1 MiB = 256 MiB: fine in length, at the segment limit. */
	assert_int_equal(virtq_pop(&q, &ch), 1);
	assert_int_equal(ch.nseg, VIRTQ_MAX_SEGS);
}

static void test_corrupt_index(void **state)
{
	uint16_t *avail = fake_gpa(vm, AVAIL);

	avail[1] = avail_idx + QSIZE + 1; /* more entries than the ring holds */
	assert_int_equal(virtq_pop(&q, &ch), VIRTQ_ERR_BROKEN);
	assert_int_equal(virtq_pop(&q, &ch), 0); /* stays stopped */
}

static void test_chain_read(void **state)
{
	uint8_t *a = fake_gpa(vm, DATA), *b = fake_gpa(vm, DATA + 0x1000), out[8];

	memcpy(a, "abc", 3);
	memcpy(b, "defgh", 5);
	set_desc(DESC, 0, DATA, 3, VRING_DESC_F_NEXT, 1);
	set_desc(DESC, 1, DATA + 0x1000, 5, VRING_DESC_F_NEXT, 2);
	set_desc(DESC, 2, DATA + 0x2000, 1, VRING_DESC_F_WRITE, 0);
	offer(0);
	assert_int_equal(virtq_pop(&q, &ch), 1);
	assert_int_equal(virtq_chain_read(&ch, 1, out, 6), 6);
	assert_memory_equal(out, "bcdefg", 6);
	assert_int_equal(virtq_chain_read(&ch, 6, out, 8), 2); /* short: only readable part */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_enable_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_simple_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_index, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_read, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
