/*
 * initramfs.c - pieces of the initramfs that `vmm --exec` (issue 11) will
 * build for a distribution kernel: an in-memory cpio "newc" archive (the
 * format the kernel unpacks, Documentation/driver-api/early-userspace/
 * buffer-format.rst) and the list of modules to pack, resolved with their
 * dependencies from /lib/modules/RELEASE/modules.dep. Pure and unit-tested
 * (vmm/tests/test_initramfs.c); nothing calls them yet.
 */
#include "initramfs.h"
#include "grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- cpio newc ------------------------------------------------------- */

void cpio_init(struct cpio *c)
{
	memset(c, 0, sizeof(*c));
}

void cpio_free(struct cpio *c)
{
	free(c->buf);
	memset(c, 0, sizeof(*c));
}

static void put(struct cpio *c, const void *p, size_t n)
{
	if (c->failed || n == 0)
		return;
	if (c->len + n < c->len) {
		c->failed = true;
		return;
	}
	if (pmvm_grow((void **)&c->buf, &c->cap, c->len + n, 4096)) {
		c->failed = true;
		return;
	}
	memcpy(c->buf + c->len, p, n);
	c->len += n;
}

static void pad4(struct cpio *c)
{
	static const uint8_t zero[4];

	put(c, zero, (4 - c->len % 4) % 4);
}

/* One entry: the 110-byte header (13 fields of 8 hex digits after the
 * magic "070701"), the name with its NUL, padding to 4, the data, padding. */
static int entry(struct cpio *c, const char *name, uint32_t mode, const void *data,
		 size_t len)
{
	char hdr[111];
	size_t nlen = strlen(name) + 1;

	if (len > 0xffffffffu || nlen > 0xffffffffu) {
		c->failed = true;
		return -1;
	}
	snprintf(hdr, sizeof(hdr),
		 "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		 ++c->ino, mode, 0u, 0u, 1u, 0u, (unsigned)len, 0u, 0u, 0u, 0u,
		 (unsigned)nlen, 0u);
	put(c, hdr, 110);
	put(c, name, nlen);
	pad4(c);
	put(c, data, len);
	pad4(c);
	return c->failed ? -1 : 0;
}

int cpio_add(struct cpio *c, const char *name, uint32_t mode, const void *data, size_t len)
{
	if (!name || !*name || name[0] == '/' || c->finished) {
		c->failed = true;
		return -1;
	}
	return entry(c, name, mode, data, len);
}

int cpio_finish(struct cpio *c)
{
	if (c->finished)
		return c->failed ? -1 : 0;
	c->finished = true;
	c->ino = 0;
	entry(c, "TRAILER!!!", 0, NULL, 0);
	return c->failed ? -1 : 0;
}

/* ---- modules.dep ------------------------------------------------------- */

struct dep_entry {
	char *path;      /* "kernel/fs/fuse/virtiofs.ko" */
	char **deps;     /* its dependencies' paths */
	int ndeps;
	int state;       /* 0 new, 1 resolving, 2 listed */
};

struct dep_table {
	struct dep_entry *e;
	int n;
};

static void table_free(struct dep_table *t)
{
	for (int i = 0; i < t->n; i++) {
		free(t->e[i].path);
		for (int j = 0; j < t->e[i].ndeps; j++)
			free(t->e[i].deps[j]);
		free(t->e[i].deps);
	}
	free(t->e);
}

/* "path: dep dep ..." per line; other lines are refused. */
static int table_load(const char *moddir, struct dep_table *t, char *err, size_t errlen)
{
	char path[4096], *line = NULL;
	size_t cap = 0;
	int cape = 0;
	FILE *f;

	memset(t, 0, sizeof(*t));
	snprintf(path, sizeof(path), "%s/modules.dep", moddir);
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: cannot read it (run depmod for this kernel)", path);
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		char *colon = strchr(line, ':'), *save = NULL, *w;
		struct dep_entry *e;

		line[strcspn(line, "\n")] = '\0';
		if (!*line)
			continue;
		if (!colon) {
			snprintf(err, errlen, "%s: a line without ':'", path);
			goto fail;
		}
		*colon = '\0';
		if (t->n == cape) {
			struct dep_entry *ne;

			cape = cape ? cape * 2 : 256;
			ne = realloc(t->e, (size_t)cape * sizeof(*ne));
			if (!ne)
				goto oom;
			t->e = ne;
		}
		e = &t->e[t->n];
		memset(e, 0, sizeof(*e));
		e->path = strdup(line);
		if (!e->path)
			goto oom;
		t->n++;
		for (w = strtok_r(colon + 1, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
			char **nd = realloc(e->deps, (size_t)(e->ndeps + 1) * sizeof(*nd));

			if (!nd)
				goto oom;
			e->deps = nd;
			e->deps[e->ndeps] = strdup(w);
			if (!e->deps[e->ndeps])
				goto oom;
			e->ndeps++;
		}
	}
	free(line);
	fclose(f);
	return 0;
oom:
	snprintf(err, errlen, "out of memory reading %s", path);
fail:
	free(line);
	fclose(f);
	table_free(t);
	return -1;
}

/* "kernel/fs/fuse/virtio-fs.ko.xz" names module "virtio_fs": the file name
 * up to ".ko", '-' read as '_'. */
static bool names_module(const char *path, const char *name)
{
	const char *b = strrchr(path, '/'), *ko;
	size_t n;

	b = b ? b + 1 : path;
	ko = strstr(b, ".ko");
	n = ko ? (size_t)(ko - b) : strlen(b);
	if (strlen(name) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char x = b[i] == '-' ? '_' : b[i], y = name[i] == '-' ? '_' : name[i];

		if (x != y)
			return false;
	}
	return true;
}

static int find_path(const struct dep_table *t, const char *path)
{
	for (int i = 0; i < t->n; i++)
		if (!strcmp(t->e[i].path, path))
			return i;
	return -1;
}

struct out_list {
	char **v;
	int n;
};

/* Depth first: dependencies before the module, each once. */
static int visit(struct dep_table *t, int i, struct out_list *o, int depth, char *err,
		 size_t errlen)
{
	struct dep_entry *e = &t->e[i];

	if (e->state == 2)
		return 0;
	if (e->state == 1 || depth > 64) {
		snprintf(err, errlen, "modules.dep: a dependency cycle through %s", e->path);
		return -1;
	}
	e->state = 1;
	for (int j = 0; j < e->ndeps; j++) {
		int d = find_path(t, e->deps[j]);

		if (d < 0) {
			snprintf(err, errlen, "modules.dep: %s needs %s, which has no line",
				 e->path, e->deps[j]);
			return -1;
		}
		if (visit(t, d, o, depth + 1, err, errlen))
			return -1;
	}
	{
		char **nv = realloc(o->v, (size_t)(o->n + 1) * sizeof(*nv));

		if (!nv || !(nv[o->n] = strdup(e->path))) {
			if (nv)
				o->v = nv;
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		o->v = nv;
		o->n++;
	}
	e->state = 2;
	return 0;
}

void modules_free(char **list, int n)
{
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

int modules_resolve(const char *moddir, const char *const *names, int nnames, char ***out,
		    char *err, size_t errlen)
{
	return modules_resolve_flags(moddir, names, nnames, 0, out, err, errlen);
}

int modules_resolve_flags(const char *moddir, const char *const *names, int nnames,
			  unsigned flags, char ***out, char *err, size_t errlen)
{
	struct dep_table t;
	struct out_list o = { NULL, 0 };

	*out = NULL;
	if (table_load(moddir, &t, err, errlen))
		return -1;
	for (int k = 0; k < nnames; k++) {
		int i;

		for (i = 0; i < t.n; i++)
			if (names_module(t.e[i].path, names[k]))
				break;
		if (i == t.n && (flags & MODULES_SKIP_ABSENT))
			continue;
		if (i == t.n) {
			snprintf(err, errlen, "module %s is not in %s/modules.dep (built in, "
				 "or missing from this kernel?)", names[k], moddir);
			goto fail;
		}
		if (visit(&t, i, &o, 0, err, errlen))
			goto fail;
	}
	table_free(&t);
	*out = o.v;
	return o.n;
fail:
	table_free(&t);
	modules_free(o.v, o.n);
	return -1;
}
