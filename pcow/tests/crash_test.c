/*
 * crash_test.c - crash consistency of libpcow, by fault injection at every
 * write and flush.
 *
 * All files live in a simulated disk (struct cfs): each write lands in a
 * volatile view and a pending list; a flush makes the file's pending writes
 * durable. A scenario (writes, snapshot create/apply/delete, grow, safe
 * rebase and commit into the base with a snapshot kept through both,
 * reserve + prepare_write) runs once to count
 * its I/O operations, then again for every N with a "crash" at operation N:
 * from then on every write fails. The durable state is then taken in
 * several ways (none / all / only the last / every other pending write, or
 * the last one torn after 512 bytes), and for each:
 *   - pcow_check() finds no corruption (leaks allowed), base chain included;
 *   - check -r leaks leaves a clean image;
 *   - every cluster of the image reads as it was before or after the step
 *     in flight, and every snapshot (applied on a copy) as it was made.
 * Exit 0 if all pass; prints the first failures.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcow.h"

#define CAP (6u << 20)
#define MAXF 4
#define CB 12			/* 4 KiB clusters */
#define CS (1u << CB)
#define VS0 (64u * CS)		/* initial virtual size */
#define VSMAX ((2u << 20) + VS0)	/* past one L2 table's span */

/* ---- simulated disk ---- */

struct pend {
	uint64_t off, len;	/* len == UINT64_MAX: truncate to off */
	uint8_t *data;		/* NULL: zeros */
};

struct cfile {
	char name[32];
	uint8_t *dur, *view;
	uint64_t dur_len, view_len, cap;
	struct pend *p;
	size_t np, pcap;
};

struct cfs {
	struct cfile f[MAXF];
	int nf;
	long ops, crash_at;
	bool crashed;
};

struct cio {
	struct cfs *fs;
	struct cfile *f;
};

static bool tick(struct cfs *fs)
{
	if (fs->crashed)
		return false;
	if (++fs->ops == fs->crash_at) {
		fs->crashed = true;
		return false;
	}
	return true;
}

static int add_pend(struct cfile *f, uint64_t off, uint64_t len, const void *data)
{
	if (f->np == f->pcap) {
		f->pcap = f->pcap ? f->pcap * 2 : 64;
		f->p = realloc(f->p, f->pcap * sizeof(*f->p));
		if (!f->p)
			abort();
	}
	struct pend *p = &f->p[f->np++];
	p->off = off;
	p->len = len;
	p->data = NULL;
	if (data) {
		p->data = malloc(len);
		memcpy(p->data, data, len);
	}
	return 0;
}

static void apply(uint8_t *buf, uint64_t *blen, const struct pend *p, uint64_t maxlen)
{
	if (p->len == UINT64_MAX) {
		if (p->off > *blen)
			memset(buf + *blen, 0, p->off - *blen);
		*blen = p->off;
		return;
	}
	uint64_t len = p->len < maxlen ? p->len : maxlen;
	if (p->off + len > *blen) {
		if (p->off > *blen)
			memset(buf + *blen, 0, p->off - *blen);
		*blen = p->off + len;
	}
	if (p->data)
		memcpy(buf + p->off, p->data, len);
	else
		memset(buf + p->off, 0, len);
}

static void clear_pend(struct cfile *f)
{
	for (size_t i = 0; i < f->np; i++)
		free(f->p[i].data);
	f->np = 0;
}

/* both buffers hold at least need bytes (new space zeroed) */
static void fit(struct cfile *f, uint64_t need)
{
	if (need <= f->cap)
		return;
	uint64_t cap = (need + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
	f->dur = realloc(f->dur, cap);
	f->view = realloc(f->view, cap);
	if (!f->dur || !f->view)
		abort();
	memset(f->dur + f->cap, 0, cap - f->cap);
	memset(f->view + f->cap, 0, cap - f->cap);
	f->cap = cap;
}

static uint64_t pend_end(const struct pend *p)
{
	return p->len == UINT64_MAX ? p->off : p->off + p->len;
}

static int c_pread(void *ctx, void *buf, size_t len, uint64_t off, size_t *done)
{
	struct cfile *f = ((struct cio *)ctx)->f;
	size_t n = 0;

	if (off < f->view_len)
		n = f->view_len - off < len ? f->view_len - off : len;
	memcpy(buf, f->view + off, n);
	*done = n;
	return 0;
}

static int c_pwrite(void *ctx, const void *buf, size_t len, uint64_t off)
{
	struct cio *c = ctx;
	struct cfile *f = c->f;

	if (off + len > CAP)
		return -ENOSPC;
	if (!tick(c->fs))
		return -EIO;
	fit(f, off + len);
	add_pend(f, off, len, buf);
	apply(f->view, &f->view_len, &f->p[f->np - 1], UINT64_MAX);
	return 0;
}

static int c_punch(void *ctx, uint64_t off, uint64_t len)
{
	struct cio *c = ctx;
	struct cfile *f = c->f;

	if (off >= f->view_len)
		return 0;
	if (len > f->view_len - off)
		len = f->view_len - off;
	if (!tick(c->fs))
		return -EIO;
	add_pend(f, off, len, NULL);
	apply(f->view, &f->view_len, &f->p[f->np - 1], UINT64_MAX);
	return 0;
}

static int c_fallocate(void *ctx, uint64_t off, uint64_t len)
{
	struct cio *c = ctx;
	struct cfile *f = c->f;

	if (off + len > CAP)
		return -ENOSPC;
	if (off + len <= f->view_len)
		return 0;
	if (!tick(c->fs))
		return -EIO;
	fit(f, off + len);
	add_pend(f, off + len, UINT64_MAX, NULL);
	apply(f->view, &f->view_len, &f->p[f->np - 1], UINT64_MAX);
	return 0;
}

static int c_truncate(void *ctx, uint64_t size)
{
	struct cio *c = ctx;
	struct cfile *f = c->f;

	if (size > CAP)
		return -ENOSPC;
	if (!tick(c->fs))
		return -EIO;
	fit(f, size);
	add_pend(f, size, UINT64_MAX, NULL);
	apply(f->view, &f->view_len, &f->p[f->np - 1], UINT64_MAX);
	return 0;
}

static int c_flush(void *ctx)
{
	struct cio *c = ctx;
	struct cfile *f = c->f;

	if (!tick(c->fs))
		return -EIO;
	for (size_t i = 0; i < f->np; i++)
		apply(f->dur, &f->dur_len, &f->p[i], UINT64_MAX);
	clear_pend(f);
	return 0;
}

static int c_size(void *ctx, uint64_t *size)
{
	*size = ((struct cio *)ctx)->f->view_len;
	return 0;
}

static void c_close(void *ctx)
{
	free(ctx);
}

static const struct pcow_io_ops crash_ops = {
	.pread = c_pread, .pwrite = c_pwrite, .flush = c_flush, .size = c_size,
	.truncate = c_truncate, .punch = c_punch, .fallocate = c_fallocate,
	.close = c_close,
};

static struct cfile *cfs_find(struct cfs *fs, const char *path, bool create)
{
	const char *b = strrchr(path, '/');

	b = b ? b + 1 : path;
	for (int i = 0; i < fs->nf; i++)
		if (!strcmp(fs->f[i].name, b))
			return &fs->f[i];
	if (!create || fs->nf == MAXF)
		return NULL;
	struct cfile *f = &fs->f[fs->nf++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", b);
	return f;
}

static int opener(void *octx, const char *path, bool rw, bool create,
		  const struct pcow_io_ops **ops, void **ctx)
{
	struct cfs *fs = octx;
	struct cfile *f = cfs_find(fs, path, create);
	struct cio *c;

	if (!f)
		return -ENOENT;
	c = calloc(1, sizeof(*c));
	c->fs = fs;
	c->f = f;
	*ops = &crash_ops;
	*ctx = c;
	return 0;
}

static void cfs_free(struct cfs *fs)
{
	for (int i = 0; i < fs->nf; i++) {
		clear_pend(&fs->f[i]);
		free(fs->f[i].p);
		free(fs->f[i].dur);
		free(fs->f[i].view);
	}
	fs->nf = 0;
}

/* durable state after a crash, by mode */
enum { M_NONE, M_ALL, M_LAST, M_ODD, M_TORN, M_COUNT };
static const char *mode_name[] = { "none", "all", "last", "every-other", "torn" };

static void cfs_crash_copy(struct cfs *dst, struct cfs *src, int mode)
{
	memset(dst, 0, sizeof(*dst));
	dst->crash_at = -1;
	for (int i = 0; i < src->nf; i++) {
		struct cfile *s = &src->f[i], *d = cfs_find(dst, s->name, true);
		uint64_t need = s->dur_len;
		for (size_t k = 0; k < s->np; k++)
			if (pend_end(&s->p[k]) > need)
				need = pend_end(&s->p[k]);
		fit(d, need > s->view_len ? need : s->view_len);
		memcpy(d->dur, s->dur, s->dur_len);
		d->dur_len = s->dur_len;
		for (size_t k = 0; k < s->np; k++) {
			bool take = mode == M_ALL || (mode == M_ODD && !(k & 1)) ||
				    ((mode == M_LAST || mode == M_TORN) && k == s->np - 1);
			if (take)
				apply(d->dur, &d->dur_len, &s->p[k],
				      mode == M_TORN ? 512 : UINT64_MAX);
		}
		memcpy(d->view, d->dur, d->dur_len);
		d->view_len = d->dur_len;
	}
}

static void cfs_clone(struct cfs *dst, struct cfs *src)
{
	cfs_crash_copy(dst, src, M_NONE);
	for (int i = 0; i < src->nf; i++) {
		struct cfile *d = &dst->f[i];
		memcpy(d->dur, src->f[i].view, src->f[i].view_len);
		memcpy(d->view, src->f[i].view, src->f[i].view_len);
		d->dur_len = d->view_len = src->f[i].view_len;
	}
}

/* ---- the model ---- */

#define MAXSNAP 3
struct model {
	uint8_t data[VSMAX];
	uint64_t vsize;
	int nsnap;
	char snap_name[MAXSNAP][16];
	uint8_t snap[MAXSNAP][VSMAX];
	uint64_t snap_vs[MAXSNAP];
};

#define MAXSTEP 24
static struct model models[MAXSTEP + 1];
static long bounds[MAXSTEP + 1];
static int nsteps;

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static int m_snap_find(struct model *m, const char *n)
{
	for (int i = 0; i < m->nsnap; i++)
		if (!strcmp(m->snap_name[i], n))
			return i;
	return -1;
}

/* ---- the scenario ---- */

struct ctx {
	struct cfs *fs;
	struct pcow *img;
	struct model m;
	int step;
	bool recording;
	const char *failed;
	char msg[600];
};

static struct pcow *open_top(struct cfs *fs, unsigned flags, struct pcow_error *e)
{
	struct pcow_open_opts o = { .flags = flags, .open_io = opener, .open_ctx = fs };

	return pcow_open("d/top.pcow", &o, e);
}

static void end_step(struct ctx *c)
{
	c->step++;
	if (c->recording) {
		bounds[c->step] = c->fs->ops;
		models[c->step] = c->m;
		nsteps = c->step;
	}
}

#define DO(call) do { if ((call) != 0) { snprintf(c->msg, sizeof(c->msg), "%s: %s", \
	#call, c->img ? pcow_errmsg(c->img) : ""); return -1; } } while (0)

static int w(struct ctx *c, uint64_t off, size_t len, unsigned seed)
{
	uint8_t *b = malloc(len);

	fill(b, len, seed);
	int r = pcow_write(c->img, b, len, off);
	if (!r)
		memcpy(c->m.data + off, b, len);
	free(b);
	return r;
}

static int snap_c(struct ctx *c, const char *n)
{
	int r = pcow_snapshot_create(c->img, n);

	if (!r) {
		int i = c->m.nsnap++;
		snprintf(c->m.snap_name[i], 16, "%s", n);
		memcpy(c->m.snap[i], c->m.data, VSMAX);
		c->m.snap_vs[i] = c->m.vsize;
	}
	return r;
}

static int snap_a(struct ctx *c, const char *n)
{
	int r = pcow_snapshot_apply(c->img, n), i = m_snap_find(&c->m, n);

	if (!r) {
		memcpy(c->m.data, c->m.snap[i], VSMAX);
		c->m.vsize = c->m.snap_vs[i];
	}
	return r;
}

static int snap_d(struct ctx *c, const char *n)
{
	int r = pcow_snapshot_delete(c->img, n), i = m_snap_find(&c->m, n);

	if (!r) {
		c->m.nsnap--;
		memmove(&c->m.snap_name[i], &c->m.snap_name[i + 1],
			sizeof(c->m.snap_name[0]) * (size_t)(c->m.nsnap - i));
		memmove(&c->m.snap[i], &c->m.snap[i + 1], sizeof(c->m.snap[0]) *
			(size_t)(c->m.nsnap - i));
		memmove(&c->m.snap_vs[i], &c->m.snap_vs[i + 1], sizeof(uint64_t) *
			(size_t)(c->m.nsnap - i));
	}
	return r;
}

/* Setup (never crashed): base.pcow with data, nb.pcow with other data,
 * top.pcow on base.pcow. */
static int setup(struct cfs *fs, struct model *m)
{
	struct pcow_create_opts co = { .virtual_size = VS0, .cluster_bits = CB,
				       .open_io = opener, .open_ctx = fs };
	struct pcow_error e;
	struct pcow *b;
	uint8_t buf[VS0];

	memset(m, 0, sizeof(*m));
	m->vsize = VS0;
	if (pcow_create("d/base.pcow", &co, &e) || pcow_create("d/nb.pcow", &co, &e))
		goto err;
	struct pcow_open_opts o = { .flags = PCOW_RDWR, .open_io = opener, .open_ctx = fs };
	b = pcow_open("d/base.pcow", &o, &e);
	if (!b)
		goto err;
	fill(buf, sizeof(buf), 1);
	for (unsigned i = 0; i < VS0 / CS; i += 3)	/* every third cluster */
		pcow_write(b, buf + i * CS, CS, (uint64_t)i * CS);
	for (unsigned i = 0; i < VS0 / CS; i += 3)
		memcpy(m->data + i * CS, buf + i * CS, CS);
	if (pcow_close(b))
		return -1;
	b = pcow_open("d/nb.pcow", &o, &e);
	if (!b)
		goto err;
	fill(buf, sizeof(buf), 2);
	for (unsigned i = 0; i < VS0 / CS; i += 2)
		pcow_write(b, buf + i * CS, CS, (uint64_t)i * CS);
	if (pcow_close(b))
		return -1;
	co.base = "base.pcow";
	co.base_format = PCOW_FMT_PCOW;
	co.virtual_size = 0;
	if (pcow_create("d/top.pcow", &co, &e))
		goto err;
	return 0;
err:
	fprintf(stderr, "setup: %s\n", e.msg);
	return -1;
}

static int scenario(struct ctx *c)
{
	struct pcow_error e;
	uint64_t host;

	c->img = open_top(c->fs, PCOW_RDWR, &e);
	if (!c->img) {
		snprintf(c->msg, sizeof(c->msg), "open: %s", e.msg);
		return -1;
	}
	end_step(c);	/* 1: open (bumps nothing yet) */
	DO(w(c, 0, 4 * CS, 10));
	DO(w(c, 5 * CS + 100, 1000, 11));	/* partial: copy from base */
	DO(pcow_flush(c->img));
	end_step(c);
	DO(snap_c(c, "s1"));
	end_step(c);
	DO(w(c, 2 * CS, 5 * CS, 12));		/* CoW over s1 */
	DO(pcow_flush(c->img));
	end_step(c);
	DO(snap_c(c, "s2"));
	end_step(c);
	DO(w(c, 1 * CS, CS, 13));
	DO(w(c, 7 * CS + 3000, 2000, 14));	/* straddles two clusters */
	DO(pcow_flush(c->img));
	end_step(c);
	DO(snap_a(c, "s1"));			/* s2 stays */
	end_step(c);
	DO(w(c, 3 * CS, CS, 15));
	DO(pcow_flush(c->img));
	end_step(c);
	DO(snap_d(c, "s1"));			/* two children share its clusters */
	end_step(c);
	DO(w(c, 0, 2 * CS, 16));		/* CoW of shared clusters */
	DO(pcow_flush(c->img));
	end_step(c);
	DO(snap_c(c, "s3"));
	end_step(c);
	DO(snap_d(c, "s2"));
	end_step(c);
	DO(pcow_resize(c->img, VSMAX));
	c->m.vsize = VSMAX;
	end_step(c);
	DO(w(c, VSMAX - CS - 10, CS + 10, 17));
	DO(pcow_flush(c->img));
	end_step(c);
	/* VMM style: reserve, then take clusters on first touch */
	if (pcow_reserve(c->img, 4) < 0) {
		snprintf(c->msg, sizeof(c->msg), "reserve: %s", pcow_errmsg(c->img));
		return -1;
	}
	DO(pcow_prepare_write(c->img, 20 * CS, &host));
	DO(pcow_prepare_write(c->img, 100 * CS, &host));
	DO(pcow_flush(c->img));
	end_step(c);
	DO(snap_d(c, "s3"));
	end_step(c);
	DO(snap_c(c, "s4"));			/* kept through rebase and commit */
	end_step(c);
	DO(pcow_rebase(c->img, "nb.pcow", PCOW_FMT_PCOW, false));
	end_step(c);
	DO(w(c, 30 * CS, 3 * CS, 18));
	DO(pcow_flush(c->img));
	end_step(c);
	DO(pcow_commit(c->img));
	end_step(c);
	DO(w(c, 40 * CS, CS, 19));
	DO(pcow_flush(c->img));
	end_step(c);
	DO(snap_d(c, "s4"));
	end_step(c);
	int r = pcow_close(c->img);
	c->img = NULL;
	if (r) {
		snprintf(c->msg, sizeof(c->msg), "close failed");
		return -1;
	}
	end_step(c);
	return 0;
}

/* ---- verification ---- */

static int fails;
static void problem(void *ctx, const char *msg)
{
	char *buf = ctx;

	if (!buf[0])
		snprintf(buf, 300, "%s", msg);
}

static bool matches(const uint8_t *got, const struct model *a, const struct model *b,
		    uint64_t vsize, uint64_t *bad)
{
	/* per 512-byte sector: an in-place write may tear between sectors */
	for (uint64_t off = 0; off < vsize; off += 512) {
		uint64_t n = vsize - off < 512 ? vsize - off : 512;
		bool ok = (off + n <= a->vsize && !memcmp(got + off, a->data + off, n)) ||
			  (off + n <= b->vsize && !memcmp(got + off, b->data + off, n));
		if (!ok) {
			*bad = off;
			return false;
		}
	}
	return true;
}

static const char *check_file(struct cfs *fs, const char *name, char *why)
{
	struct pcow_open_opts o = { .open_io = opener, .open_ctx = fs };
	struct pcow_check_result res = { .report = problem, .report_ctx = why };
	struct pcow_error e;

	why[0] = 0;
	if (pcow_check(name, &o, 0, &res, &e)) {
		snprintf(why, 300, "%.200s", e.msg);
		return "check could not run";
	}
	if (res.corruptions)
		return "check found corruption";
	why[0] = 0;
	if (pcow_check(name, &o, PCOW_REPAIR_LEAKS, &res, &e)) {
		snprintf(why, 300, "%.200s", e.msg);
		return "check -r leaks failed";
	}
	if (pcow_check(name, &o, 0, &res, &e) || res.corruptions || res.leaks)
		return "image not clean after check -r leaks";
	return NULL;
}

static const char *verify(struct cfs *fs, int step, char *why)
{
	const struct model *a = &models[step - 1], *b = &models[step];
	struct pcow_error e;
	struct pcow *img;
	const char *f;
	static uint8_t got[VSMAX];
	uint64_t bad;

	if ((f = check_file(fs, "d/top.pcow", why)))
		return f;
	if ((f = check_file(fs, "d/base.pcow", why)) || (f = check_file(fs, "d/nb.pcow", why)))
		return f;
	img = open_top(fs, 0, &e);
	if (!img) {
		snprintf(why, 300, "%.200s", e.msg);
		return "open after crash failed";
	}
	struct pcow_info in;
	pcow_get_info(img, &in);
	if (in.virtual_size != a->vsize && in.virtual_size != b->vsize) {
		pcow_close(img);
		return "virtual size is neither old nor new";
	}
	if (pcow_read(img, got, in.virtual_size, 0)) {
		snprintf(why, 300, "%.200s", pcow_errmsg(img));
		pcow_close(img);
		return "read failed";
	}
	if (!matches(got, a, b, in.virtual_size, &bad)) {
		snprintf(why, 300, "cluster at %llu", (unsigned long long)bad);
		pcow_close(img);
		return "data differs from before and after the step";
	}
	struct pcow_snapshot snaps[8];
	int ns = pcow_snapshot_list(img, snaps, 8);
	pcow_close(img);
	/* each snapshot present must be one of the model's, with its data */
	for (int i = 0; i < ns; i++) {
		int ia = m_snap_find((struct model *)a, snaps[i].name);
		int ib = m_snap_find((struct model *)b, snaps[i].name);
		if (ia < 0 && ib < 0) {
			snprintf(why, 300, "%.200s", snaps[i].name);
			return "unknown snapshot";
		}
		const struct model *mm = ia >= 0 ? a : b;
		int k = ia >= 0 ? ia : ib;
		struct cfs copy;
		cfs_clone(&copy, fs);
		img = open_top(&copy, PCOW_RDWR, &e);
		const char *res = NULL;
		if (!img || pcow_snapshot_apply(img, snaps[i].name) ||
		    pcow_read(img, got, mm->snap_vs[k], 0))
			res = "applying a snapshot after the crash failed";
		else if (memcmp(got, mm->snap[k], mm->snap_vs[k])) {
			snprintf(why, 300, "%.200s", snaps[i].name);
			res = "snapshot data lost";
		}
		if (img)
			pcow_close(img);
		cfs_free(&copy);
		if (res)
			return res;
	}
	for (int i = 0; i < a->nsnap; i++) {
		/* a snapshot in both old and new states must survive */
		if (m_snap_find((struct model *)b, a->snap_name[i]) < 0)
			continue;
		bool seen = false;
		for (int j = 0; j < ns; j++)
			seen |= !strcmp(snaps[j].name, a->snap_name[i]);
		if (!seen) {
			snprintf(why, 300, "%.200s", a->snap_name[i]);
			return "snapshot lost";
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct cfs base_fs = { .crash_at = -1 };
	static struct ctx c;
	static struct model m0;
	long total, checked = 0;
	int stride = argc > 1 ? atoi(argv[1]) : 1;

	if (stride < 1)
		stride = 1;
	if (setup(&base_fs, &m0))
		return 1;
	/* clean run: count operations per step */
	{
		struct cfs fs;
		cfs_clone(&fs, &base_fs);
		fs.crash_at = -1;
		fs.ops = 0;
		memset(&c, 0, sizeof(c));
		c.fs = &fs;
		c.m = m0;
		c.recording = true;
		models[0] = m0;
		bounds[0] = 0;
		if (scenario(&c)) {
			fprintf(stderr, "clean run failed: %s\n", c.msg);
			return 1;
		}
		total = fs.ops;
		char why[300];
		const char *f = verify(&fs, nsteps, why);
		if (f) {
			fprintf(stderr, "clean run: %s (%s)\n", f, why);
			return 1;
		}
		cfs_free(&fs);
	}
	printf("scenario: %d steps, %ld write/flush operations\n", nsteps, total);
	long first = argc > 2 ? atol(argv[2]) : 1;
	if (argc > 2)
		total = first;
	for (long n = first; n <= total; n += stride) {
		struct cfs fs;
		cfs_clone(&fs, &base_fs);
		fs.ops = 0;
		fs.crash_at = n;
		memset(&c, 0, sizeof(c));
		c.fs = &fs;
		c.m = m0;
		scenario(&c);	/* fails at the crash */
		if (c.img) {
			/* the process dies: drop the handle without its close-time
			 * writes (they fail: crashed) */
			pcow_close(c.img);
		}
		int step = 1;
		while (step < nsteps && bounds[step] < n)
			step++;
		if (getenv("CRASH_DEBUG"))
			for (int i = 0; i < fs.nf; i++)
				for (size_t k = 0; k < fs.f[i].np; k++)
					printf("pending %s off %llu len %lld\n", fs.f[i].name,
					       (unsigned long long)fs.f[i].p[k].off,
					       (long long)fs.f[i].p[k].len);
		for (int mode = 0; mode < M_COUNT; mode++) {
			struct cfs after;
			char why[300] = "";
			cfs_crash_copy(&after, &fs, mode);
			const char *f = verify(&after, step, why);
			checked++;
			if (f) {
				if (fails++ < 10)
					printf("FAIL: crash at op %ld (step %d), mode %s: %s %s\n", n,
					       step, mode_name[mode], f, why);
			}
			cfs_free(&after);
		}
		cfs_free(&fs);
	}
	cfs_free(&base_fs);
	printf("%ld crash images checked, %d failed\n", checked, fails);
	return fails ? 1 : 0;
}
