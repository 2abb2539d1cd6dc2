/*
 * test_lazy.c - cmocka tests of libpcow's lazy table loading, white-box
 * (internal.h): open and the quick info read no table whatever the
 * virtual size and number of snapshots; a lookup reads one L1 chunk and
 * one L2 table; cluster ownership is counted on first need by a walk that
 * keeps no table; a damaged table found on first use is a clean
 * PCOW_ECORRUPT (and check still finds it); the shared empty L1 chunk is
 * copied by the one layer that writes there, and so is an L2 table two
 * children took over from a deleted snapshot; pcow_active_runs reads the
 * active layer's tables only. Images live in memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"

#define CB 16				/* 64 KiB clusters */
#define CS (1u << CB)
#define VSIZE (4ULL << 40)		/* 4 TiB: 8192 L1 entries, 16 chunks */
#define NSNAP 20

static size_t bytes_read;
static struct pcow_io_ops counting_ops;

static int counting_pread(void *ctx, void *buf, size_t len, uint64_t off, size_t *done)
{
	bytes_read += len;
	return pcow_mem_io_ops.pread(ctx, buf, len, off, done);
}

static struct pcow *open_mem(void *io, unsigned flags, struct pcow_error *e)
{
	struct pcow_open_opts o = { .flags = flags, .io = &counting_ops, .io_ctx = io };

	return pcow_open("lazy", &o, e);
}

/* an image of VSIZE with NSNAP snapshots; before snapshot i, cluster
 * i * 1 GiB gets pattern i + 1 (so every layer has one table) */
static void *make_image(void)
{
	void *io = pcow_mem_io_new(NULL, 0, 256u << 20);
	struct pcow_create_opts co = { .virtual_size = VSIZE, .cluster_bits = CB,
				       .io = &counting_ops, .io_ctx = io };
	struct pcow_error e;
	static uint8_t buf[CS];
	char name[16];

	counting_ops = pcow_mem_io_ops;
	counting_ops.pread = counting_pread;
	assert_int_equal(pcow_create("lazy", &co, &e), 0);
	struct pcow *img = open_mem(io, PCOW_RDWR, &e);
	assert_non_null(img);
	for (int i = 0; i <= NSNAP; i++) {
		memset(buf, i + 1, sizeof(buf));
		assert_int_equal(pcow_write(img, buf, CS, (uint64_t)i << 30), 0);
		if (i == NSNAP)
			break;
		snprintf(name, sizeof(name), "s%d", i);
		assert_int_equal(pcow_snapshot_create(img, name), 0);
	}
	assert_int_equal(pcow_close(img), 0);
	return io;
}

static unsigned chunks_loaded(struct pcow *img, unsigned *tables)
{
	unsigned n = 0;

	*tables = 0;
	for (unsigned i = 0; i < img->nlayers; i++) {
		struct layer *l = &img->layers[i];
		for (uint32_t c = 0; l->l1c && c < pcow_chunk_count(l->l1_entries); c++) {
			if (!l->l1c[c])
				continue;
			n++;
			for (uint32_t k = 0; l->l1c[c] != &pcow_l1_empty && k < L1_CHUNK; k++)
				*tables += l->l1c[c]->tab[k] != NULL;
		}
	}
	return n;
}

static void test_open_reads_no_table(void **st)
{
	void *io = make_image();
	struct pcow_error e;
	struct pcow_info in;
	struct pcow_snapshot snaps[NSNAP];
	unsigned tables;
	size_t len;
	uint8_t b[16];

	pcow_mem_io_data(io, &len);
	bytes_read = 0;
	struct pcow *img = open_mem(io, 0, &e);
	assert_non_null(img);
	pcow_get_info_quick(img, &in);
	assert_int_equal(in.nsnapshots, NSNAP);
	assert_int_equal(pcow_snapshot_list_quick(img, snaps, NSNAP), NSNAP);
	/* the two root slots and the catalog: not the 21 L1s (64 KiB each) */
	assert_true(bytes_read <= 8192 + (size_t)img->cat_len);
	assert_int_equal(chunks_loaded(img, &tables), 0);
	assert_false(img->acct_done);
	assert_null(img->refc);

	/* a read of the active layer's cluster: one chunk, one table */
	bytes_read = 0;
	assert_int_equal(pcow_read(img, b, sizeof(b), (uint64_t)NSNAP << 30), 0);
	assert_int_equal(b[0], NSNAP + 1);
	assert_int_equal(chunks_loaded(img, &tables), 1);
	assert_int_equal(tables, 1);
	assert_true(bytes_read <= L1_CHUNK * 8 + CS + sizeof(b));	/* + the data */
	/* a read that falls through to snapshot s0: chunk 0 of every layer
	 * on the way, and s0's table only */
	assert_int_equal(pcow_read(img, b, sizeof(b), 0), 0);
	assert_int_equal(b[0], 1);
	assert_int_equal(chunks_loaded(img, &tables), NSNAP + 1);
	assert_int_equal(tables, 2);
	/* a hole far out: chunk 15 of every layer, the shared empty one */
	assert_int_equal(pcow_read(img, b, sizeof(b), VSIZE - 16), 0);
	assert_int_equal(b[0], 0);
	for (unsigned i = 0; i < img->nlayers; i++)
		assert_ptr_equal(img->layers[i].l1c[15], &pcow_l1_empty);

	/* the counts: a walk of every table, none kept in memory */
	unsigned before = chunks_loaded(img, &tables);
	pcow_get_info(img, &in);
	assert_true(img->acct_done);
	assert_int_equal(in.allocated_clusters, NSNAP + 1);
	assert_int_equal(chunks_loaded(img, &tables), before);
	assert_int_equal(tables, 2);
	/* and the listing with counts keeps no table either */
	assert_int_equal(pcow_snapshot_list(img, snaps, NSNAP), NSNAP);
	for (int i = 0; i < NSNAP; i++)
		assert_int_equal(snaps[i].clusters, 1);
	chunks_loaded(img, &tables);
	assert_int_equal(tables, 2);
	pcow_close(img);
	pcow_mem_io_free(io);
}

struct runs {
	int n;
	uint64_t off, len;
	bool shared;
};

static int collect(void *ctx, uint64_t off, uint64_t len, uint64_t host, bool shared)
{
	struct runs *r = ctx;

	(void)host;
	if (!r->n++) {
		r->off = off;
		r->len = len;
		r->shared = shared;
	}
	return 0;
}

/* pcow_active_runs (what a VMM maps at start) reads the active layer's
 * tables only, not the snapshots' (before, vmm's start-up walk translated
 * every offset through every layer: 200 snapshots made it 2.5x slower). */
static void test_active_runs_reads_active_only(void **st)
{
	void *io = make_image();
	struct pcow_error e;
	struct runs r = { 0 };
	unsigned tables;

	struct pcow *img = open_mem(io, 0, &e);
	assert_non_null(img);
	assert_int_equal(pcow_active_runs(img, collect, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.off, (uint64_t)NSNAP << 30);
	assert_int_equal(r.len, CS);
	assert_false(r.shared);
	for (unsigned i = 0; i < img->nlayers; i++)
		for (uint32_t c = 0; i != img->active && img->layers[i].l1c &&
		     c < pcow_chunk_count(img->layers[i].l1_entries); c++)
			assert_null(img->layers[i].l1c[c]);
	chunks_loaded(img, &tables);
	assert_int_equal(tables, 1);
	pcow_close(img);

	/* a shared cluster: after a snapshot, nothing is the active layer's
	 * own; after a write, that cluster is (a copy) */
	img = open_mem(io, PCOW_RDWR, &e);
	assert_int_equal(pcow_snapshot_create(img, "last"), 0);
	r.n = 0;
	assert_int_equal(pcow_active_runs(img, collect, &r), 0);
	assert_int_equal(r.n, 0);
	uint8_t b[16] = { 7 };
	assert_int_equal(pcow_write(img, b, sizeof(b), 5ULL << 30), 0);
	r.n = 0;
	assert_int_equal(pcow_active_runs(img, collect, &r), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.off, 5ULL << 30);
	pcow_close(img);
	pcow_mem_io_free(io);
}

/* the L2 entry of cluster vc of layer li, in the file's bytes */
static uint64_t entry_pos(void *io, unsigned li, uint64_t vc)
{
	struct pcow_error e;
	struct pcow *img = open_mem(io, 0, &e);
	struct l1chunk *c;
	uint64_t j = vc / (CS / 8), pos;

	assert_non_null(img);
	assert_int_equal(pcow_chunk_get(img, li, (uint32_t)(j / L1_CHUNK), &c), 0);
	pos = c->off[j % L1_CHUNK] + vc % (CS / 8) * 8;
	assert_true(c->off[j % L1_CHUNK] != 0);
	pcow_close(img);
	return pos;
}

/* A damaged entry in a snapshot's table: open and reads elsewhere work,
 * the first read through it fails cleanly, every write fails (the walk),
 * check finds it and repair drops it. */
static void test_corrupt_l2_on_first_read(void **st)
{
	void *io = make_image();
	struct pcow_error e;
	struct pcow_check_result res = { 0 };
	struct pcow_open_opts o = { .io = &counting_ops, .io_ctx = io };
	uint8_t b[16];
	size_t len;

	/* layer 5 is snapshot s5: its cluster at 5 GiB */
	uint64_t vc = (5ULL << 30) >> CB, pos = entry_pos(io, 5, vc);
	uint8_t *d = (uint8_t *)pcow_mem_io_data(io, &len);
	d[pos + 3] ^= 0x10;	/* check bits no longer match */
	uint8_t *copy = malloc(len);
	memcpy(copy, d, len);

	struct pcow *img = open_mem(io, 0, &e);
	assert_non_null(img);
	assert_int_equal(pcow_read(img, b, sizeof(b), 6ULL << 30), 0);
	assert_int_equal(b[0], 7);
	assert_int_equal(pcow_read(img, b, sizeof(b), 5ULL << 30), -PCOW_ECORRUPT);
	assert_non_null(strstr(pcow_errmsg(img), "layer 5"));
	struct pcow_map m;
	assert_int_equal(pcow_translate(img, 5ULL << 30, CS, &m), -PCOW_ECORRUPT);
	assert_int_equal(pcow_read(img, b, sizeof(b), 5ULL << 30), -PCOW_ECORRUPT);
	pcow_close(img);

	img = open_mem(io, PCOW_RDWR, &e);
	assert_non_null(img);
	assert_int_equal(pcow_write(img, b, sizeof(b), 0), -PCOW_ECORRUPT);
	assert_int_equal(pcow_snapshot_create(img, "x"), -PCOW_ECORRUPT);
	uint64_t h;
	assert_int_equal(pcow_prepare_write(img, 0, &h), -PCOW_ECORRUPT);
	assert_int_equal(pcow_reserve(img, 4), -PCOW_ECORRUPT);
	pcow_close(img);
	d = (uint8_t *)pcow_mem_io_data(io, &len);
	assert_memory_equal(d, copy, len);	/* nothing written */
	free(copy);

	assert_int_equal(pcow_check("lazy", &o, 0, &res, &e), 0);
	assert_int_equal(res.corruptions, 1);
	assert_int_equal(pcow_check("lazy", &o, PCOW_REPAIR_ALL, &res, &e), 0);
	assert_int_equal(res.corruptions_fixed, 1);
	assert_int_equal(pcow_check("lazy", &o, 0, &res, &e), 0);
	assert_int_equal(res.corruptions + res.leaks, 0);
	img = open_mem(io, 0, &e);
	assert_non_null(img);
	assert_int_equal(pcow_read(img, b, sizeof(b), 5ULL << 30), 0);
	assert_int_equal(b[0], 0);	/* the dropped cluster: a hole below */
	assert_int_equal(pcow_read(img, b, sizeof(b), 4ULL << 30), 0);
	assert_int_equal(b[0], 5);
	pcow_close(img);
	pcow_mem_io_free(io);
}

/* A damaged L1 entry: found when its chunk is first read. */
static void test_corrupt_l1_on_first_read(void **st)
{
	void *io = make_image();
	struct pcow_error e;
	uint8_t b[16];
	size_t len;
	struct pcow *img = open_mem(io, 0, &e);

	assert_non_null(img);
	uint64_t l1 = img->layers[img->active].l1_off;
	pcow_close(img);
	/* the active layer's entry for its data at 20 GiB: L1 index 40 */
	uint8_t *d = (uint8_t *)pcow_mem_io_data(io, &len);
	d[l1 + 40 * 8 + 7] ^= 0x01;
	img = open_mem(io, 0, &e);
	assert_non_null(img);
	assert_int_equal(pcow_read(img, b, sizeof(b), (uint64_t)NSNAP << 30), -PCOW_ECORRUPT);
	assert_non_null(strstr(pcow_errmsg(img), "L1 entry 40"));
	pcow_close(img);
	pcow_mem_io_free(io);
}

/* The empty L1 chunk is one static chunk shared by every layer; the layer
 * that adds a table there gets its own copy, the others keep sharing. */
static void test_shared_chunk_cow(void **st)
{
	void *io = make_image();
	struct pcow_error e;
	uint8_t w[CS], b[16];
	uint64_t far = VSIZE - CS;	/* chunk 15: empty in every layer */

	struct pcow *img = open_mem(io, PCOW_RDWR, &e);
	assert_non_null(img);
	assert_int_equal(pcow_read(img, b, sizeof(b), far), 0);
	for (unsigned i = 0; i < img->nlayers; i++)
		assert_ptr_equal(img->layers[i].l1c[15], &pcow_l1_empty);
	memset(w, 0xab, sizeof(w));
	assert_int_equal(pcow_write(img, w, sizeof(w), far), 0);
	struct layer *a = &img->layers[img->active];
	assert_ptr_not_equal(a->l1c[15], &pcow_l1_empty);
	for (unsigned i = 0; i < img->nlayers; i++)
		if (i != img->active)
			assert_ptr_equal(img->layers[i].l1c[15], &pcow_l1_empty);
	for (uint32_t k = 0; k < L1_CHUNK; k++) {
		assert_int_equal(pcow_l1_empty.off[k], 0);
		assert_null(pcow_l1_empty.tab[k]);
		assert_int_equal(pcow_l1_empty.state[k], 0);
	}
	assert_int_equal(pcow_close(img), 0);
	/* the write is in the active layer only: s19 still reads zeros */
	img = open_mem(io, PCOW_RDWR, &e);
	assert_non_null(img);
	assert_int_equal(pcow_read(img, b, sizeof(b), far), 0);
	assert_int_equal(b[0], 0xab);
	assert_int_equal(pcow_snapshot_apply(img, "s19"), 0);
	assert_int_equal(pcow_read(img, b, sizeof(b), far), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(pcow_read(img, b, sizeof(b), 19ULL << 30), 0);
	assert_int_equal(b[0], 20);
	assert_int_equal(pcow_close(img), 0);
	struct pcow_check_result res = { 0 };
	struct pcow_open_opts o = { .io = &counting_ops, .io_ctx = io };
	assert_int_equal(pcow_check("lazy", &o, 0, &res, &e), 0);
	assert_int_equal(res.corruptions + res.leaks, 0);
	pcow_mem_io_free(io);
}

/* Deleting a snapshot with two children: each child without a table of
 * its own there takes the snapshot's decoded table, shared in memory (one
 * copy), written to a place of its own; the first child to write in it
 * gets its own copy and the other keeps the old entries. */
static void test_shared_table_cow(void **st)
{
	void *io = pcow_mem_io_new(NULL, 0, 64u << 20);
	struct pcow_create_opts co = { .virtual_size = 64u << 20, .cluster_bits = 12,
				       .io = &counting_ops, .io_ctx = io };
	struct pcow_open_opts o = { .io = &counting_ops, .io_ctx = io };
	struct pcow_check_result res = { 0 };
	struct pcow_error e;
	uint8_t a[8192], x[4096], b[8192];

	counting_ops = pcow_mem_io_ops;
	counting_ops.pread = counting_pread;
	assert_int_equal(pcow_create("sh", &co, &e), 0);
	struct pcow *img = open_mem(io, PCOW_RDWR, &e);
	assert_non_null(img);
	memset(a, 0xa1, sizeof(a));
	assert_int_equal(pcow_write(img, a, sizeof(a), 0), 0);	/* table 0 */
	assert_int_equal(pcow_snapshot_create(img, "a"), 0);
	assert_int_equal(pcow_snapshot_create(img, "b"), 0);	/* child of a */
	assert_int_equal(pcow_snapshot_apply(img, "a"), 0);	/* 2nd child */
	memset(x, 0x77, sizeof(x));
	assert_int_equal(pcow_write(img, x, sizeof(x), 10u << 20), 0);	/* table 5 */
	assert_int_equal(pcow_snapshot_delete(img, "a"), 0);
	assert_int_equal(img->nlayers, 2);
	struct layer *lb = &img->layers[0], *la = &img->layers[img->active];
	assert_string_equal(lb->name, "b");
	uint64_t *tb = lb->l1c[0]->tab[0], *ta = la->l1c[0]->tab[0];
	assert_non_null(tb);
	assert_ptr_equal(tb, ta);		/* one table, two layers */
	assert_true(pcow_tab_shared(tb));
	assert_true(lb->l1c[0]->off[0] != la->l1c[0]->off[0]);	/* two places */
	/* the active layer writes in it: its own copy, b keeps the old one */
	memset(x, 0x5c, sizeof(x));
	assert_int_equal(pcow_write(img, x, sizeof(x), 0), 0);
	assert_ptr_equal(lb->l1c[0]->tab[0], tb);
	assert_ptr_not_equal(la->l1c[0]->tab[0], tb);
	assert_false(pcow_tab_shared(tb));
	assert_int_equal(pcow_read(img, b, sizeof(b), 0), 0);
	assert_memory_equal(b, x, 4096);
	assert_memory_equal(b + 4096, a + 4096, 4096);	/* the old entry, kept */
	assert_int_equal(pcow_close(img), 0);

	assert_int_equal(pcow_check("sh", &o, 0, &res, &e), 0);
	assert_int_equal(res.corruptions + res.leaks, 0);
	assert_int_equal(res.shared_clusters, 1);	/* a's second cluster */
	img = open_mem(io, PCOW_RDWR, &e);
	assert_non_null(img);
	assert_int_equal(pcow_read(img, b, sizeof(b), 0), 0);
	assert_memory_equal(b, x, 4096);
	assert_memory_equal(b + 4096, a + 4096, 4096);
	assert_int_equal(pcow_snapshot_apply(img, "b"), 0);
	assert_int_equal(pcow_read(img, b, sizeof(b), 0), 0);
	assert_memory_equal(b, a, sizeof(a));	/* b sees a's data */
	assert_int_equal(pcow_read(img, b, 16, 10u << 20), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(pcow_close(img), 0);
	assert_int_equal(pcow_check("sh", &o, 0, &res, &e), 0);
	assert_int_equal(res.corruptions + res.leaks, 0);
	pcow_mem_io_free(io);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_reads_no_table),
		cmocka_unit_test(test_active_runs_reads_active_only),
		cmocka_unit_test(test_corrupt_l2_on_first_read),
		cmocka_unit_test(test_corrupt_l1_on_first_read),
		cmocka_unit_test(test_shared_chunk_cow),
		cmocka_unit_test(test_shared_table_cow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
