/*
 * labels_test.c - unit tests of libpcow's label storage area (pcow/labels.c,
 * docs/pcow-format.md "Label storage area"): create, read, write, sizes and
 * errors, the incompatible feature bit, snapshots leaving the area alone,
 * overlays inheriting a pcow base's labels, a corrupt area found by check
 * and dropped by repair, and crash safety: a label write is crashed at
 * every write and flush, each crash state taken four ways (nothing
 * pending, everything, every other pending write, the last write torn after
 * 512 bytes); every resulting image passes check (leaks allowed) and shows
 * exactly the old or the new labels.
 *
 * The bad-range record (pcow/badranges.c, docs/pcow-format.md "Bad-range
 * record") is the other root area (pcow/area.c) and is tested here too: set,
 * read back, the feature bit on exactly while it holds ranges, every rule on
 * its input, read-only refusal, independence from the labels and from
 * snapshots, overlays inheriting it, a corrupt record found by check and
 * emptied by repair, and the same crash sweep (old or new record, never a
 * mix). Prints TAP; exit 0 or 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcow.h"

static int failed, n;

#define OK(cond, ...) do {						\
	n++;								\
	if (cond) {							\
		printf("ok %d - ", n);					\
	} else {							\
		printf("not ok %d - ", n);				\
		failed = 1;						\
	}								\
	printf(__VA_ARGS__);						\
	printf("\n");							\
} while (0)

#define LS (128u << 10)
#define MAXF (64u << 20)

/* ---- an in-memory file that can crash ---- */

struct pw {
	uint64_t off;
	size_t len;
	uint8_t *data;
};

struct cio {
	uint8_t *dur, *cur;	/* durable bytes, and what reads see */
	size_t dlen, clen;
	struct pw *pend;
	size_t npend;
	int ops, limit;		/* crash at op number limit (0: never) */
	bool crashed;
};

static void grow(uint8_t **b, size_t *len, size_t need)
{
	if (need <= *len)
		return;
	*b = realloc(*b, need);
	memset(*b + *len, 0, need - *len);
	*len = need;
}

static int c_pread(void *ctx, void *buf, size_t len, uint64_t off, size_t *done)
{
	struct cio *c = ctx;
	size_t k = 0;

	if (off < c->clen)
		k = c->clen - off < len ? c->clen - off : len;
	memcpy(buf, c->cur + off, k);
	*done = k;
	return 0;
}

static bool crash_now(struct cio *c)
{
	if (c->crashed)
		return true;
	if (c->limit && ++c->ops == c->limit)
		c->crashed = true;
	return false;
}

static int c_pwrite(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct cio *c = ctx;

	if (c->crashed)
		return -EIO;
	if (off + len > MAXF)
		return -ENOSPC;
	/* the write at the crash point is recorded (it may land, or tear) */
	c->pend = realloc(c->pend, (c->npend + 1) * sizeof(*c->pend));
	c->pend[c->npend].off = off;
	c->pend[c->npend].len = len;
	c->pend[c->npend].data = malloc(len);
	memcpy(c->pend[c->npend].data, buf, len);
	c->npend++;
	grow(&c->cur, &c->clen, off + len);
	memcpy(c->cur + off, buf, len);
	return crash_now(c) ? -EIO : 0;
}

static void drop_pending(struct cio *c)
{
	for (size_t i = 0; i < c->npend; i++)
		free(c->pend[i].data);
	c->npend = 0;
}

static int c_flush(void *ctx)
{
	struct cio *c = ctx;

	if (crash_now(c))
		return -EIO;
	free(c->dur);
	c->dur = malloc(c->clen ? c->clen : 1);
	memcpy(c->dur, c->cur, c->clen);
	c->dlen = c->clen;
	drop_pending(c);
	return 0;
}

static int c_size(void *ctx, uint64_t *size)
{
	*size = ((struct cio *)ctx)->clen;
	return 0;
}

/* size changes and punches count as durable at once (the harsher model) */
static int c_truncate(void *ctx, uint64_t size)
{
	struct cio *c = ctx;

	if (c->crashed)
		return -EIO;
	grow(&c->cur, &c->clen, size);
	c->clen = size;
	grow(&c->dur, &c->dlen, size);
	c->dlen = size;
	return 0;
}

static int c_punch(void *ctx, uint64_t off, uint64_t len)
{
	struct cio *c = ctx;

	if (c->crashed)
		return -EIO;
	if (off < c->clen)
		memset(c->cur + off, 0, len > c->clen - off ? c->clen - off : len);
	if (off < c->dlen)
		memset(c->dur + off, 0, len > c->dlen - off ? c->dlen - off : len);
	return 0;
}

static const struct pcow_io_ops cio_ops = {
	.pread = c_pread, .pwrite = c_pwrite, .flush = c_flush, .size = c_size,
	.truncate = c_truncate, .punch = c_punch,
};

static struct cio *cio_from(const uint8_t *b, size_t len)
{
	struct cio *c = calloc(1, sizeof(*c));

	c->cur = malloc(len);
	c->dur = malloc(len);
	memcpy(c->cur, b, len);
	memcpy(c->dur, b, len);
	c->clen = c->dlen = len;
	return c;
}

static void cio_free(struct cio *c)
{
	drop_pending(c);
	free(c->pend);
	free(c->cur);
	free(c->dur);
	free(c);
}

/* ---- helpers ---- */

static struct pcow *open_cio(struct cio *c, bool rw, struct pcow_error *e)
{
	struct pcow_open_opts o = { .flags = rw ? PCOW_RDWR : 0, .io = &cio_ops, .io_ctx = c };

	return pcow_open("t.pcow", &o, e);
}

static int check_cio(struct cio *c, unsigned repair, struct pcow_check_result *res)
{
	struct pcow_open_opts o = { .io = &cio_ops, .io_ctx = c };
	struct pcow_error e;

	memset(res, 0, sizeof(*res));
	return pcow_check("t.pcow", &o, repair, res, &e);
}

static struct cio *make_image(uint64_t vsize, uint64_t label_size)
{
	struct cio *c = calloc(1, sizeof(*c));
	struct pcow_create_opts co = { .virtual_size = vsize, .cluster_bits = 12,
				       .io = &cio_ops, .io_ctx = c, .label_size = label_size };
	struct pcow_error e;

	if (pcow_create("t.pcow", &co, &e)) {
		printf("# create: %s\n", e.msg);
		cio_free(c);
		return NULL;
	}
	return c;
}

static void fill(uint8_t *b, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + seed * 13 + (i >> 9));
}

/* ---- tests ---- */

static void basics(void)
{
	static uint8_t a[LS], b[LS];
	struct pcow_error e;
	struct pcow_check_result res;
	struct cio *c = make_image(16 << 20, LS);
	struct pcow *img;

	OK(c != NULL, "create with a 128K label area");
	if (!c)
		return;
	OK(c->clen >= 8192 && (c->cur[16] & 1), "the root has incompatible feature bit 0");
	img = open_cio(c, true, &e);
	OK(img && pcow_label_size(img) == LS, "label size 128K after open");
	if (!img)
		return;
	OK(pcow_label_read(img, a, LS, 0) == 0, "read the whole area");
	memset(b, 0, LS);
	OK(!memcmp(a, b, LS), "a new area reads as zeros");
	fill(a, 4064, 1);
	OK(pcow_label_write(img, a, 4064, 100) == 0, "write 4064 bytes at 100");
	OK(pcow_label_read(img, b, 4064, 100) == 0 && !memcmp(a, b, 4064), "read them back");
	OK(pcow_label_read(img, b, 1, LS) == -PCOW_EINVAL, "a read past the end: EINVAL");
	OK(pcow_label_write(img, a, 2, LS - 1) == -PCOW_EINVAL, "a write straddling the end: EINVAL");
	OK(pcow_label_read(img, b, 8, UINT64_MAX - 3) == -PCOW_EINVAL, "an offset that wraps: EINVAL");
	OK(pcow_label_read(img, b, 0, LS) == 0, "an empty read at the end is fine");
	OK(pcow_label_init(img, 256 << 10) == -PCOW_EBUSY, "init with another size: EBUSY");
	OK(pcow_label_init(img, LS) == 0, "init with the same size: no-op");
	OK(pcow_snapshot_create(img, "s1") == 0, "snapshot s1");
	fill(a, 300, 2);
	OK(pcow_label_write(img, a, 300, 5000) == 0, "write labels after the snapshot");
	OK(pcow_snapshot_apply(img, "s1") == 0 && pcow_snapshot_delete(img, "s1") == 0,
	   "apply and delete s1");
	OK(pcow_label_read(img, b, 300, 5000) == 0 && !memcmp(a, b, 300),
	   "labels are per image: apply and delete left them alone");
	{
		size_t before = c->clen;
		int errs = 0;
		for (int k = 0; k < 50; k++)
			errs += pcow_label_write(img, a, 8, (uint64_t)k * 8) != 0;
		OK(!errs && c->clen <= before + 2 * LS,
		   "50 label writes: the file grows by at most two areas (%zu -> %zu bytes)",
		   before, c->clen);
		fill(a, 4064, 1);
		OK(pcow_label_write(img, a, 4064, 100) == 0, "rewrite the first pattern");
	}
	OK(pcow_close(img) == 0, "close");
	img = open_cio(c, false, &e);
	fill(a, 4064, 1);
	OK(img && pcow_label_read(img, b, 100, 100) == 0 && !memcmp(a, b, 100),
	   "reopened read-only: the first write is there");
	OK(img && pcow_label_write(img, a, 4, 0) == -PCOW_ERDONLY, "read-only: write refused");
	pcow_close(img);
	OK(check_cio(c, 0, &res) == 0 && !res.corruptions && !res.leaks,
	   "check: clean, the label clusters are neither leaks nor corruption");
	cio_free(c);

	/* sizes and images without an area */
	c = calloc(1, sizeof(*c));
	{
		struct pcow_create_opts co = { .virtual_size = 1 << 20, .io = &cio_ops,
					       .io_ctx = c, .label_size = 4096 };
		OK(pcow_create("t.pcow", &co, &e) == -PCOW_EINVAL, "create with 4K labels: EINVAL (%s)",
		   e.msg);
		co.label_size = LS + 100;
		OK(pcow_create("t.pcow", &co, &e) == -PCOW_EINVAL, "create with 128K+100: EINVAL");
	}
	cio_free(c);
	c = make_image(1 << 20, 0);
	OK(c && !(c->cur[16] & 1), "without labels the feature bit stays clear");
	img = c ? open_cio(c, true, &e) : NULL;
	OK(img && pcow_label_size(img) == 0 &&
	   pcow_label_read(img, a, 1, 0) == -PCOW_ENOENT, "no area: size 0, reads ENOENT");
	OK(img && pcow_label_init(img, 100) == -PCOW_EINVAL, "init with a bad size: EINVAL");
	OK(img && pcow_label_init(img, 256 << 10) == 0, "init 256K on first use");
	fill(a, 64, 3);
	OK(img && pcow_label_write(img, a, 64, (256 << 10) - 64) == 0, "write its last 64 bytes");
	pcow_close(img);
	img = c ? open_cio(c, false, &e) : NULL;
	OK(img && pcow_label_size(img) == 256 << 10 &&
	   pcow_label_read(img, b, 64, (256 << 10) - 64) == 0 && !memcmp(a, b, 64),
	   "reopened: 256K area with the bytes");
	pcow_close(img);
	if (c)
		cio_free(c);
}

/* A flipped byte in the area: open refuses, check finds it, -r all drops
 * the area (zeros), then check is clean. */
static void corrupt(void)
{
	static uint8_t a[LS], b[LS];
	struct pcow_check_result res;
	struct pcow_error e;
	struct cio *c = make_image(1 << 20, LS);
	struct pcow *img;
	uint64_t off;

	if (!c)
		return;
	img = open_cio(c, true, &e);
	fill(a, LS, 9);
	OK(img && pcow_label_write(img, a, LS, 0) == 0, "fill the whole area");
	pcow_close(img);
	/* the area's offset from the current root (the one with the larger
	 * generation) */
	{
		uint64_t g0, g1;
		memcpy(&g0, c->cur + 32, 8);
		memcpy(&g1, c->cur + 4096 + 32, 8);
		memcpy(&off, c->cur + (g1 > g0 ? 4096 : 0) + 96, 8);
	}
	OK(off && off + LS <= c->clen && !memcmp(c->cur + off, a, LS),
	   "the root's label_offset points at the bytes");
	c->cur[off + 777] ^= 0x40;
	img = open_cio(c, true, &e);
	OK(img && pcow_label_size(img) == LS, "a flipped label byte: the image opens (the "
	   "area is read on first use)");
	OK(img && pcow_label_read(img, b, 4, 0) == -PCOW_ECORRUPT &&
	   strstr(pcow_errmsg(img), "label area checksum mismatch"),
	   "the first label read finds it (%s)", img ? pcow_errmsg(img) : "");
	OK(img && pcow_label_write(img, b, 4, 0) == -PCOW_ECORRUPT,
	   "a label write is refused too (nothing written)");
	pcow_close(img);
	OK(check_cio(c, 0, &res) == 0 && res.corruptions == 1, "check finds 1 corruption");
	OK(check_cio(c, PCOW_REPAIR_ALL, &res) == 0 && res.corruptions_fixed == 1,
	   "check -r all fixes it");
	OK(check_cio(c, 0, &res) == 0 && !res.corruptions && !res.leaks,
	   "clean afterwards (the old clusters were freed)");
	img = open_cio(c, false, &e);
	memset(a, 0, LS);
	OK(img && pcow_label_size(img) == LS && pcow_label_read(img, b, LS, 0) == 0 &&
	   !memcmp(a, b, LS), "the dropped area reads as zeros, same size");
	pcow_close(img);
	/* a root pointing the area outside the file is refused too */
	cio_free(c);
}

/* Overlays over a pcow base take its labels. */
static int chain_open(void *ctx, const char *path, bool rw, bool create,
		      const struct pcow_io_ops **ops, void **ioctx)
{
	(void)path;
	(void)rw;
	if (create)
		return -EEXIST;
	*ops = &cio_ops;
	*ioctx = ctx;
	return 0;
}

static void overlay(void)
{
	static uint8_t a[LS], b[LS];
	struct pcow_error e = { 0 };
	struct cio *base = make_image(1 << 20, LS), *ov = calloc(1, sizeof(*ov));
	struct pcow *img;

	if (!base)
		return;
	img = open_cio(base, true, &e);
	fill(a, 1000, 5);
	OK(img && pcow_label_write(img, a, 1000, 0) == 0, "base: labels written");
	pcow_close(img);
	{
		struct pcow_create_opts co = { .io = &cio_ops, .io_ctx = ov, .base = "base.pcow",
					       .base_format = PCOW_FMT_PCOW, .cluster_bits = 12,
					       .open_io = chain_open, .open_ctx = base };
		OK(pcow_create("ov.pcow", &co, &e) == 0, "overlay created (%s)", e.msg);
	}
	{
		struct pcow_open_opts o = { .io = &cio_ops, .io_ctx = ov, .flags = PCOW_RDWR,
					    .open_io = chain_open, .open_ctx = base };
		img = pcow_open("ov.pcow", &o, &e);
	}
	OK(img && pcow_label_size(img) == LS && pcow_label_read(img, b, 1000, 0) == 0 &&
	   !memcmp(a, b, 1000), "the overlay has a copy of the base's labels");
	fill(b, 10, 6);
	OK(img && pcow_label_write(img, b, 10, 0) == 0, "overlay label write");
	{
		uint8_t d[4096];
		memset(d, 0x5a, sizeof(d));
		OK(img && pcow_write(img, d, sizeof(d), 4096) == 0 && pcow_commit(img) == 0,
		   "data written to the overlay and committed into the base (%s)",
		   img ? pcow_errmsg(img) : "");
	}
	OK(img && pcow_label_read(img, b, 10, 0) == 0 && b[0] == (uint8_t)(6 * 13),
	   "the overlay keeps its own labels after commit");
	pcow_close(img);
	img = open_cio(base, false, &e);
	OK(img && pcow_label_read(img, b, 1000, 0) == 0 && !memcmp(a, b, 1000),
	   "the base's labels are unchanged (commit moves data, not labels)");
	{
		uint8_t d[16];
		OK(img && pcow_read(img, d, 16, 4096) == 0 && d[0] == 0x5a,
		   "the committed data is in the base");
	}
	pcow_close(img);
	cio_free(base);
	cio_free(ov);
}

/* Build the crash state of mode m from c into a new cio. */
static struct cio *crash_state(struct cio *c, int m)
{
	struct cio *s = cio_from(c->dur, c->dlen);

	for (size_t i = 0; i < c->npend; i++) {
		struct pw *w = &c->pend[i];
		size_t len = w->len;
		if (m == 0 || (m == 2 && (i & 1)))
			continue;
		if (m == 3 && i == c->npend - 1 && len > 512)
			len = 512;
		grow(&s->cur, &s->clen, w->off + len);
		memcpy(s->cur + w->off, w->data, len);
	}
	/* the crashed file is the durable one from here on */
	free(s->dur);
	s->dur = malloc(s->clen);
	memcpy(s->dur, s->cur, s->clen);
	s->dlen = s->clen;
	return s;
}

/*
 * A crash sweep: from image c0, before() (unflushed writes, not crashed)
 * then change() is run with a crash at its first, second, ... I/O
 * operation until it completes. Each crash state, taken four ways
 * (crash_state), must check clean (leaks allowed, and clean after -r
 * leaks) and show outcome(): 0 the old contents, 1 the new, -1 neither.
 */
struct sweep {
	int points, states, bad, nold, nnew, ops, rc;
};

static void crash_sweep(struct cio *c0, void (*before)(struct pcow *img),
			int (*change)(struct pcow *img), int (*outcome)(struct pcow *im),
			struct sweep *sw)
{
	struct pcow_error e;

	memset(sw, 0, sizeof(*sw));
	for (int limit = 1; limit < 100; limit++) {
		struct cio *c = cio_from(c0->cur, c0->clen);
		struct pcow *img = open_cio(c, true, &e);

		if (!img) {
			sw->bad++;
			cio_free(c);
			continue;
		}
		if (before)
			before(img);
		c->limit = limit;
		c->ops = 0;
		sw->rc = change(img);
		bool crashed = c->crashed;
		pcow_close(img);
		if (!crashed) {
			sw->ops = limit - 1;
			cio_free(c);
			return;
		}
		sw->points++;
		for (int m = 0; m < 4; m++) {
			struct cio *st = crash_state(c, m);
			struct pcow_check_result res;
			struct pcow *im;
			int o;

			sw->states++;
			if (check_cio(st, 0, &res) || res.corruptions) {
				printf("# limit %d mode %d: check found %llu corruptions\n", limit,
				       m, (unsigned long long)res.corruptions);
				sw->bad++;
			}
			im = open_cio(st, false, &e);
			o = im ? outcome(im) : -1;
			if (o == 0)
				sw->nold++;
			else if (o == 1)
				sw->nnew++;
			else {
				printf("# limit %d mode %d: neither old nor new (%s)\n", limit, m,
				       im ? pcow_errmsg(im) : e.msg);
				sw->bad++;
			}
			pcow_close(im);
			/* repair leaks, then a clean check */
			if (check_cio(st, PCOW_REPAIR_LEAKS, &res) == 0 &&
			    (check_cio(st, 0, &res) || res.corruptions || res.leaks))
				sw->bad++;
			cio_free(st);
		}
		cio_free(c);
	}
	sw->ops = -1;	/* never completed */
}

static uint8_t lb_old[LS], lb_new[LS], lb_data[4096];
static int lb_data_ok;

static void lb_before(struct pcow *img)
{
	/* unflushed guest data as well: the label commit must not make it
	 * durable half-way */
	pcow_write(img, lb_data, 100, 50000);
}

static int lb_change(struct pcow *img)
{
	return pcow_label_write(img, lb_new + 3000, 4064, 3000);
}

static int lb_outcome(struct pcow *im)
{
	static uint8_t got[LS];
	int o = -1;

	if (pcow_label_read(im, got, LS, 0) == 0)
		o = !memcmp(got, lb_old, LS) ? 0 : !memcmp(got, lb_new, LS) ? 1 : -1;
	if (!pcow_read(im, got, 4096, 8192) && !memcmp(got, lb_data, 4096))
		lb_data_ok++;
	return o;
}

static void crash(void)
{
	struct cio *c0 = make_image(4 << 20, LS);
	struct pcow_error e;
	struct pcow *img;
	struct sweep sw;

	if (!c0)
		return;
	img = open_cio(c0, true, &e);
	fill(lb_old, LS, 11);
	fill(lb_data, sizeof(lb_data), 12);
	if (!img || pcow_label_write(img, lb_old, LS, 0) || pcow_write(img, lb_data, 4096, 8192) ||
	    pcow_flush(img)) {
		OK(0, "crash: set up the old state");
		pcow_close(img);
		cio_free(c0);
		return;
	}
	pcow_close(img);
	memcpy(lb_new, lb_old, LS);
	fill(lb_new + 3000, 4064, 13);
	crash_sweep(c0, lb_before, lb_change, lb_outcome, &sw);
	OK(sw.rc == 0 && sw.ops > 3, "crash: the label write completes after %d ops", sw.ops);
	OK(sw.points >= 4 && !sw.bad, "crash: %d crash points x 4 states: every image checks "
	   "clean and shows old (%d) or new (%d) labels, %d bad", sw.points, sw.nold, sw.nnew,
	   sw.bad);
	OK(sw.nold > 0 && sw.nnew > 0, "crash: both outcomes were seen");
	OK(lb_data_ok == sw.states, "crash: flushed data intact in all %d states", sw.states);
	cio_free(c0);
}

/* ---- the bad-range record (the other root area) ---- */

static uint64_t root_incompat(const struct cio *c)
{
	uint64_t g0, g1, f;

	memcpy(&g0, c->cur + 32, 8);
	memcpy(&g1, c->cur + 4096 + 32, 8);
	memcpy(&f, c->cur + (g1 > g0 ? 4096 : 0) + 16, 8);
	return f;
}

static uint64_t root_u64(const struct cio *c, unsigned off)
{
	uint64_t g0, g1, v;

	memcpy(&g0, c->cur + 32, 8);
	memcpy(&g1, c->cur + 4096 + 32, 8);
	memcpy(&v, c->cur + (g1 > g0 ? 4096 : 0) + off, 8);
	return v;
}

static bool same_ranges(const struct pcow_bad_range *a, const struct pcow_bad_range *b,
			size_t cnt)
{
	for (size_t i = 0; i < cnt; i++)
		if (a[i].off != b[i].off || a[i].len != b[i].len)
			return false;
	return true;
}

static void bad_basics(void)
{
	static uint8_t a[LS], b[LS];
	const struct pcow_bad_range r3[3] = { { 512, 512 }, { 8192, 4096 }, { (1 << 20) - 1, 1 } };
	struct pcow_bad_range got[8];
	struct pcow_check_result res;
	struct pcow_error e;
	struct cio *c = make_image(1 << 20, LS);
	struct pcow *img;

	if (!c)
		return;
	img = open_cio(c, true, &e);
	OK(img && pcow_bad_ranges(img, got, 8) == 0, "bad ranges: a new image has none");
	OK(!(root_incompat(c) & 2), "bad ranges: the feature bit is off");
	fill(a, LS, 21);
	OK(img && pcow_label_write(img, a, LS, 0) == 0, "bad ranges: labels written first");
	OK(img && pcow_set_bad_ranges(img, r3, 3) == 0, "bad ranges: three set (%s)",
	   img ? pcow_errmsg(img) : "");
	OK(root_incompat(c) & 2, "bad ranges: the feature bit (1) is on");
	{
		static const struct pcow_bad_range wrong[][2] = {
			{ { 4096, 512 }, { 512, 512 } },	/* unsorted */
			{ { 512, 1024 }, { 1024, 512 } },	/* overlapping */
			{ { 512, 0 }, { 4096, 1 } },		/* empty */
			{ { 512, 1 }, { (1 << 20) - 1, 2 } },	/* beyond the size */
			{ { 512, 1 }, { ~0ULL - 1, 4 } },	/* offset + length wraps */
		};
		for (unsigned i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
			OK(img && pcow_set_bad_ranges(img, wrong[i], 2) == -PCOW_EINVAL,
			   "bad ranges: invalid list %u refused (%s)", i,
			   img ? pcow_errmsg(img) : "");
	}
	OK(img && pcow_bad_ranges(img, got, 8) == 3 && same_ranges(got, r3, 3),
	   "bad ranges: the refused lists changed nothing");
	OK(img && pcow_snapshot_create(img, "s1") == 0, "bad ranges: a snapshot");
	pcow_close(img);

	img = open_cio(c, false, &e);
	OK(img && pcow_bad_ranges(img, got, 2) == 3 && same_ranges(got, r3, 2),
	   "bad ranges: reopened, all three are there (2 copied, count 3)");
	OK(img && pcow_label_read(img, b, LS, 0) == 0 && !memcmp(a, b, LS),
	   "bad ranges: the labels are unchanged");
	OK(img && pcow_set_bad_ranges(img, r3, 1) == -PCOW_ERDONLY,
	   "bad ranges: a read-only open cannot set them");
	pcow_close(img);
	OK(check_cio(c, 0, &res) == 0 && !res.corruptions && !res.leaks,
	   "bad ranges: check is clean");

	img = open_cio(c, true, &e);
	OK(img && pcow_snapshot_apply(img, "s1") == 0 && pcow_bad_ranges(img, got, 8) == 3,
	   "bad ranges: applying a snapshot leaves the record (per image)");
	OK(img && pcow_set_bad_ranges(img, r3 + 1, 1) == 0 && pcow_bad_ranges(img, got, 8) == 1 &&
	   same_ranges(got, r3 + 1, 1), "bad ranges: replaced by one");
	OK(img && pcow_set_bad_ranges(img, NULL, 0) == 0 && pcow_bad_ranges(img, got, 8) == 0,
	   "bad ranges: emptied");
	pcow_close(img);
	OK(!(root_incompat(c) & 2) && root_u64(c, 112) == 0,
	   "bad ranges: empty record: the feature bit is off again, no clusters");
	OK(check_cio(c, 0, &res) == 0 && !res.corruptions && !res.leaks,
	   "bad ranges: check is clean (the record's clusters were freed)");
	img = open_cio(c, false, &e);
	OK(img && pcow_label_read(img, b, LS, 0) == 0 && !memcmp(a, b, LS),
	   "bad ranges: the labels are still unchanged");
	pcow_close(img);
	cio_free(c);
}

static void bad_corrupt_overlay(void)
{
	const struct pcow_bad_range r2[2] = { { 0, 4096 }, { 65536, 100 } };
	struct pcow_bad_range got[4];
	struct pcow_check_result res;
	struct pcow_error e = { 0 };
	struct cio *base = make_image(1 << 20, 0), *ov = calloc(1, sizeof(*ov));
	struct pcow *img;
	uint64_t off;

	if (!base)
		return;
	img = open_cio(base, true, &e);
	OK(img && pcow_set_bad_ranges(img, r2, 2) == 0, "bad ranges: base record set");
	pcow_close(img);
	{
		struct pcow_create_opts co = { .io = &cio_ops, .io_ctx = ov, .base = "base.pcow",
					       .base_format = PCOW_FMT_PCOW, .cluster_bits = 12,
					       .open_io = chain_open, .open_ctx = base };
		OK(pcow_create("ov.pcow", &co, &e) == 0, "bad ranges: overlay created (%s)",
		   e.msg);
	}
	{
		struct pcow_open_opts o = { .io = &cio_ops, .io_ctx = ov, .flags = PCOW_RDWR,
					    .open_io = chain_open, .open_ctx = base };
		img = pcow_open("ov.pcow", &o, &e);
	}
	OK(img && pcow_bad_ranges(img, got, 4) == 2 && same_ranges(got, r2, 2),
	   "bad ranges: the overlay starts with its base's record");
	OK(img && pcow_set_bad_ranges(img, NULL, 0) == 0, "bad ranges: overlay's cleared");
	pcow_close(img);
	img = open_cio(base, false, &e);
	OK(img && pcow_bad_ranges(img, got, 4) == 2, "bad ranges: the base keeps its own");
	pcow_close(img);

	off = root_u64(base, 112);
	OK(off && off + 32 <= base->clen, "bad ranges: the root points at the record");
	base->cur[off + 9] ^= 0x10;
	img = open_cio(base, true, &e);
	OK(img && pcow_bad_ranges(img, got, 4) == -PCOW_ECORRUPT &&
	   strstr(pcow_errmsg(img), "bad-range record checksum mismatch"),
	   "bad ranges: a flipped byte is found on first use (%s)",
	   img ? pcow_errmsg(img) : e.msg);
	pcow_close(img);
	OK(check_cio(base, 0, &res) == 0 && res.corruptions == 1,
	   "bad ranges: check finds 1 corruption");
	OK(check_cio(base, PCOW_REPAIR_ALL, &res) == 0 && res.corruptions_fixed == 1,
	   "bad ranges: check -r all fixes it");
	OK(check_cio(base, 0, &res) == 0 && !res.corruptions && !res.leaks,
	   "bad ranges: clean afterwards");
	img = open_cio(base, false, &e);
	OK(img && pcow_bad_ranges(img, got, 4) == 0, "bad ranges: repaired: empty");
	pcow_close(img);
	cio_free(base);
	cio_free(ov);
}

static const struct pcow_bad_range br_old[2] = { { 4096, 4096 }, { 20000, 8 } };
static struct pcow_bad_range br_new[300];

static int br_change(struct pcow *img)
{
	return pcow_set_bad_ranges(img, br_new, 300);	/* 4800 bytes: two clusters */
}

static int br_outcome(struct pcow *im)
{
	static struct pcow_bad_range got[300];
	int k = pcow_bad_ranges(im, got, 300);

	if (k == 2 && same_ranges(got, br_old, 2))
		return 0;
	if (k == 300 && same_ranges(got, br_new, 300))
		return 1;
	return -1;
}

static void bad_crash(void)
{
	struct cio *c0 = make_image(4 << 20, 0);
	struct pcow_error e;
	struct pcow *img;
	struct sweep sw;

	if (!c0)
		return;
	for (int i = 0; i < 300; i++)
		br_new[i] = (struct pcow_bad_range){ (uint64_t)i * 8192 + 512, 1024 };
	img = open_cio(c0, true, &e);
	if (!img || pcow_set_bad_ranges(img, br_old, 2)) {
		OK(0, "bad ranges crash: set up the old record");
		pcow_close(img);
		cio_free(c0);
		return;
	}
	pcow_close(img);
	crash_sweep(c0, NULL, br_change, br_outcome, &sw);
	OK(sw.rc == 0 && sw.ops > 3, "bad ranges crash: the write completes after %d ops",
	   sw.ops);
	OK(sw.points >= 4 && !sw.bad, "bad ranges crash: %d crash points x 4 states: every "
	   "image checks clean and has the old (%d) or new (%d) record, %d bad", sw.points,
	   sw.nold, sw.nnew, sw.bad);
	OK(sw.nold > 0 && sw.nnew > 0, "bad ranges crash: both outcomes were seen");
	cio_free(c0);
}

int main(void)
{
	basics();
	corrupt();
	overlay();
	crash();
	bad_basics();
	bad_corrupt_overlay();
	bad_crash();
	printf("1..%d\n", n);
	return failed;
}
