/*
 * test_memmap.c - the checked guest-address accessor: vm_gpa()/vm_gpa_w()
 * over the region table, with hostile addresses and lengths (overflow,
 * holes, region ends, read-only regions) and region insertion rules.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

/* Host pointers are never dereferenced: fake, distinct bases. */
#define HOST_LOW  ((void *)0x100000000000ULL)
#define HOST_HIGH ((void *)0x200000000000ULL)
#define HOST_ROM  ((void *)0x300000000000ULL)

static struct vm_memmap map;

static int setup(void **state)
{
	memset(&map, 0, sizeof(map));
	/* Inserted out of order on purpose. */
	assert_int_equal(memmap_add(&map, LAYOUT_HIGH_RAM, 1 * GiB, HOST_HIGH, 0, 1), 0);
	assert_int_equal(memmap_add(&map, 0, LAYOUT_LOW_RAM_MAX, HOST_LOW, 0, 0), 0);
	assert_int_equal(memmap_add(&map, 0xd8000000, 4096, HOST_ROM,
				    VM_MEM_READONLY, 2), 0);
	return 0;
}

static void test_inside(void **state)
{
	assert_ptr_equal(memmap_lookup(&map, 0, 1, false), HOST_LOW);
	assert_ptr_equal(memmap_lookup(&map, 0x1234, 16, true),
			 (uint8_t *)HOST_LOW + 0x1234);
	assert_ptr_equal(memmap_lookup(&map, LAYOUT_HIGH_RAM + 5, 1, true),
			 (uint8_t *)HOST_HIGH + 5);
	/* The last byte of a region, and the whole region. */
	assert_non_null(memmap_lookup(&map, LAYOUT_LOW_RAM_MAX - 1, 1, false));
	assert_non_null(memmap_lookup(&map, 0, LAYOUT_LOW_RAM_MAX, false));
	assert_non_null(memmap_lookup(&map, LAYOUT_HIGH_RAM, GiB, false));
}

static void test_len_zero_is_one(void **state)
{
	assert_non_null(memmap_lookup(&map, LAYOUT_LOW_RAM_MAX - 1, 0, false));
	assert_null(memmap_lookup(&map, LAYOUT_LOW_RAM_MAX, 0, false));
}

static void test_outside(void **state)
{
	/* Holes: between low RAM and the ROM page, in the MMIO hole, after
	 * high RAM. */
	assert_null(memmap_lookup(&map, LAYOUT_LOW_RAM_MAX, 1, false));
	assert_null(memmap_lookup(&map, 0xfee00000, 4, false));
	assert_null(memmap_lookup(&map, LAYOUT_HIGH_RAM + GiB, 1, false));
	assert_null(memmap_lookup(&map, UINT64_MAX, 1, false));
	/* Crossing a region's end. */
	assert_null(memmap_lookup(&map, LAYOUT_LOW_RAM_MAX - 1, 2, false));
	assert_null(memmap_lookup(&map, 0, LAYOUT_LOW_RAM_MAX + 1, false));
	assert_null(memmap_lookup(&map, LAYOUT_HIGH_RAM + GiB - 8, 16, false));
}

static void test_overflow(void **state)
{
	/* gpa + len wraps around 2^64: must not pass as "inside". */
	assert_null(memmap_lookup(&map, 0x1000, UINT64_MAX, false));
	assert_null(memmap_lookup(&map, 0x1000, UINT64_MAX - 0xfff, false));
	assert_null(memmap_lookup(&map, 0x1000, UINT64_MAX - 0xffe, false));
	assert_null(memmap_lookup(&map, 0, UINT64_MAX, false));
	assert_null(memmap_lookup(&map, UINT64_MAX, UINT64_MAX, false));
	assert_null(memmap_lookup(&map, LAYOUT_HIGH_RAM + 1, UINT64_MAX, true));
}

static void test_adjacent_regions_not_joined(void **state)
{
	struct vm_memmap m = { 0 };

	assert_int_equal(memmap_add(&m, 0, 0x1000, HOST_LOW, 0, 0), 0);
	assert_int_equal(memmap_add(&m, 0x1000, 0x1000, HOST_HIGH, 0, 1), 0);
	assert_non_null(memmap_lookup(&m, 0xff0, 0x10, false));
	/* One access may not span two regions: their host memory differs. */
	assert_null(memmap_lookup(&m, 0xff0, 0x20, false));
	assert_ptr_equal(memmap_lookup(&m, 0x1000, 0x10, false), HOST_HIGH);
}

static void test_readonly(void **state)
{
	assert_ptr_equal(memmap_lookup(&map, 0xd8000000, 4096, false), HOST_ROM);
	assert_null(memmap_lookup(&map, 0xd8000000, 1, true));
	assert_null(memmap_lookup(&map, 0xd8000fff, 1, true));
}

static void test_add_rules(void **state)
{
	struct vm_memmap m = { 0 };

	assert_int_equal(memmap_add(&m, 0x10000, 0x10000, HOST_LOW, 0, 0), 0);
	/* Overlaps: inside, across either end, covering. */
	assert_int_equal(memmap_add(&m, 0x18000, 0x1000, HOST_LOW, 0, 1), -1);
	assert_int_equal(memmap_add(&m, 0xf000, 0x2000, HOST_LOW, 0, 1), -1);
	assert_int_equal(memmap_add(&m, 0x1f000, 0x2000, HOST_LOW, 0, 1), -1);
	assert_int_equal(memmap_add(&m, 0, 0x100000, HOST_LOW, 0, 1), -1);
	/* Empty, wrapping, no host memory. */
	assert_int_equal(memmap_add(&m, 0x40000, 0, HOST_LOW, 0, 1), -1);
	assert_int_equal(memmap_add(&m, UINT64_MAX - 0xfff, 0x2000, HOST_LOW, 0, 1), -1);
	assert_int_equal(memmap_add(&m, 0x40000, 0x1000, NULL, 0, 1), -1);
	/* Touching ends is fine. */
	assert_int_equal(memmap_add(&m, 0xf000, 0x1000, HOST_LOW, 0, 1), 0);
	assert_int_equal(memmap_add(&m, 0x20000, 0x1000, HOST_LOW, 0, 2), 0);
	assert_int_equal(m.n, 3);
	for (int i = 1; i < m.n; i++)
		assert_true(m.r[i - 1].gpa < m.r[i].gpa);
	/* The table is bounded. */
	for (int i = m.n; i < VM_MAX_REGIONS; i++)
		assert_int_equal(memmap_add(&m, GiB * (uint64_t)(i + 1), 4096,
					    HOST_LOW, 0, i), 0);
	assert_int_equal(memmap_add(&m, 1000 * GiB, 4096, HOST_LOW, 0, 99), -1);
}

/* The public accessors over a struct vm (no KVM needed for lookups). */
static void test_vm_gpa(void **state)
{
	static struct vm vm;

	pthread_rwlock_init(&vm.mem_lock, NULL);
	vm.mem = map;
	assert_ptr_equal(vm_gpa(&vm, 0x10, 4), (uint8_t *)HOST_LOW + 0x10);
	assert_ptr_equal(vm_gpa_w(&vm, 0x10, 4), (uint8_t *)HOST_LOW + 0x10);
	assert_null(vm_gpa(&vm, 0x1000, UINT64_MAX));
	assert_null(vm_gpa_w(&vm, 0xd8000000, 1));
	assert_non_null(vm_gpa(&vm, 0xd8000000, 1));
	assert_null(vm_gpa(&vm, LAYOUT_LOW_RAM_MAX - 2, 4));
}

/* A dirty-logged region (a pcow NVDIMM's, docs/pcow-runtime.md "Writes
 * without a fault"): vmm's own stores are logged (vm_gpa_w marks what it
 * hands out, vm_mem_mark_dirty the rest), re-arming clears them; a vmm
 * thread's store that meets a change (the page read-only for a moment)
 * waits for its end and lands; a store to a read-only page with no change
 * under way still kills the process. No KVM: the log is vmm's marks. */
static uint8_t *dirty_buf;
static volatile int stored;

static void *store_thread(void *arg)
{
	(void)arg;
	*(volatile uint64_t *)(dirty_buf + 0x3000) = 42;
	stored = 1;
	return NULL;
}

static void test_dirty_region(void **state)
{
	static struct vm vm;
	const uint64_t gpa = 0x100000000ULL, len = 0x10000;
	uint64_t bits = 0;
	pthread_t t;
	pid_t pid;
	int st;
	(void)state;

	pthread_rwlock_init(&vm.mem_lock, NULL);
	pthread_mutex_init(&vm.change_lock, NULL);
	pthread_cond_init(&vm.change_cond, NULL);
	vm.kvm_fd = vm.vm_fd = -1;
	dirty_buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(dirty_buf != MAP_FAILED);
	assert_true(vm_add_memory(&vm, gpa, len, dirty_buf, VM_MEM_LOG_DIRTY) >= 0);

	assert_ptr_equal(vm_gpa_w(&vm, gpa + 0x2100, 8), dirty_buf + 0x2100);
	assert_non_null(vm_gpa(&vm, gpa + 0x7000, 8));	/* a read marks nothing */
	vm_mem_mark_dirty(&vm, gpa + 0x5000, 0x1001);	/* pages 5 and 6 */
	assert_int_equal(vm_mem_dirty_log(&vm, gpa, len, &bits), 0);
	assert_int_equal(bits, 1u << 2 | 1u << 5 | 1u << 6);
	assert_int_equal(vm_mem_dirty_log(&vm, gpa, len - 4096, &bits), -1);	/* not the region */
	assert_int_equal(vm_mem_dirty_rearm(&vm, gpa, len), 0);
	bits = 0;
	assert_int_equal(vm_mem_dirty_log(&vm, gpa, len, &bits), 0);
	assert_int_equal(bits, 0);

	/* a store during a change waits for its end */
	vm_mem_change_begin(&vm);
	assert_int_equal(mprotect(dirty_buf + 0x3000, 4096, PROT_READ), 0);
	assert_int_equal(pthread_create(&t, NULL, store_thread, NULL), 0);
	usleep(100000);
	assert_int_equal(stored, 0);
	assert_int_equal(mprotect(dirty_buf + 0x3000, 4096, PROT_READ | PROT_WRITE), 0);
	vm_mem_change_end(&vm);
	pthread_join(t, NULL);
	assert_int_equal(stored, 1);
	assert_int_equal(*(uint64_t *)(dirty_buf + 0x3000), 42);

	/* with no change under way it is a crash as before (under ASan its
	 * report and exit status instead of the signal) */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* (cmocka's own SIGSEGV handler, the one before ours here,
		 * reports a failed test and goes on: keep its output out) */
		freopen("/dev/null", "w", stdout);
		freopen("/dev/null", "w", stderr);
		mprotect(dirty_buf, 4096, PROT_READ);
		*(volatile uint8_t *)dirty_buf = 1;
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true((WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) ||
		    (WIFEXITED(st) && WEXITSTATUS(st) != 0));
}

/* The memslot pieces around holes (memerr.c): a region with no hole is one
 * piece, the tail after the last hole is a piece (a defect once left it
 * out, so the guest's stores there all exited as MMIO). */
static void test_pieces(void **state)
{
	struct vm_hole out[8];
	const struct vm_hole h1[] = { { 0x2000, 0x1000 } };
	const struct vm_hole h2[] = { { 0x0, 0x1000 }, { 0x3000, 0x2000 }, { 0x9000, 0x1000 } };
	const struct vm_hole before[] = { { 0x0, 0x800 }, { 0x20000, 0x1000 } };
	(void)state;

	assert_int_equal(memmap_pieces(0x1000, 0x8000, NULL, 0, out, 8), 1);
	assert_true(out[0].gpa == 0x1000 && out[0].len == 0x8000);
	assert_int_equal(memmap_pieces(0x1000, 0x8000, h1, 1, out, 8), 2);
	assert_true(out[0].gpa == 0x1000 && out[0].len == 0x1000);
	assert_true(out[1].gpa == 0x3000 && out[1].len == 0x6000);
	/* A hole at the start, one inside, one past the end. */
	assert_int_equal(memmap_pieces(0x0, 0x8000, h2, 3, out, 8), 2);
	assert_true(out[0].gpa == 0x1000 && out[0].len == 0x2000);
	assert_true(out[1].gpa == 0x5000 && out[1].len == 0x3000);
	/* A hole covering the end, and the whole region. */
	assert_int_equal(memmap_pieces(0x2000, 0x2000, h2, 3, out, 8), 1);
	assert_true(out[0].gpa == 0x2000 && out[0].len == 0x1000);
	assert_int_equal(memmap_pieces(0x3000, 0x2000, h2, 3, out, 8), 0);
	/* Holes wholly outside. */
	assert_int_equal(memmap_pieces(0x1000, 0x1000, before, 2, out, 8), 1);
	assert_true(out[0].gpa == 0x1000 && out[0].len == 0x1000);
	assert_int_equal(memmap_pieces(0x0, 0x8000, h2, 3, out, 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_dirty_region),
		cmocka_unit_test_setup(test_inside, setup),
		cmocka_unit_test_setup(test_len_zero_is_one, setup),
		cmocka_unit_test_setup(test_outside, setup),
		cmocka_unit_test_setup(test_overflow, setup),
		cmocka_unit_test(test_adjacent_regions_not_joined),
		cmocka_unit_test_setup(test_readonly, setup),
		cmocka_unit_test(test_add_rules),
		cmocka_unit_test_setup(test_vm_gpa, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
