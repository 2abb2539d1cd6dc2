/*
 * test_initramfs.c - the initramfs building blocks (initramfs.c) and the
 * bzImage's kernel release (bzimage.c): synthetic inputs, hostile ones, and
 * this host's own kernels, modules and cpio(1) where they exist.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "initramfs.h"
#include "internal.h"

static uint8_t *fake_bzimage(size_t len, uint16_t ver_ptr, const char *ver, size_t at)
{
	uint8_t *b = calloc(1, len);

	assert_non_null(b);
	b[0x1fe] = 0x55;
	b[0x1ff] = 0xaa;
	memcpy(b + 0x202, "HdrS", 4);
	b[0x20e] = (uint8_t)ver_ptr;
	b[0x20f] = (uint8_t)(ver_ptr >> 8);
	if (ver)
		memcpy(b + at, ver, strlen(ver));
	return b;
}

static void test_release(void **state)
{
	char out[64];
	const char *v = "6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP";
	uint8_t *b;

	(void)state;
	b = fake_bzimage(0x1000, 0x300, v, 0x500);
	assert_int_equal(bzimage_kernel_release(b, 0x1000, out, sizeof(out)), 0);
	assert_string_equal(out, "6.1.0-57-amd64");
	/* too small a buffer for it */
	assert_int_equal(bzimage_kernel_release(b, 0x1000, out, 8), -1);
	/* the string runs off the end of the image */
	assert_int_equal(bzimage_kernel_release(b, 0x50a, out, sizeof(out)), -1);
	free(b);
	/* the pointer past the image, none at all, an unprintable byte */
	b = fake_bzimage(0x1000, 0xff00, NULL, 0);
	assert_int_equal(bzimage_kernel_release(b, 0x1000, out, sizeof(out)), -1);
	free(b);
	b = fake_bzimage(0x1000, 0, NULL, 0);
	assert_int_equal(bzimage_kernel_release(b, 0x1000, out, sizeof(out)), -1);
	free(b);
	b = fake_bzimage(0x1000, 0x300, "6.1\x01x y", 0x500);
	assert_int_equal(bzimage_kernel_release(b, 0x1000, out, sizeof(out)), -1);
	free(b);
	/* not a bzImage */
	b = calloc(1, 0x1000);
	assert_int_equal(bzimage_kernel_release(b, 0x1000, out, sizeof(out)), -1);
	assert_int_equal(bzimage_kernel_release(b, 16, out, sizeof(out)), -1);
	free(b);
}

/* Each /boot/vmlinuz-RELEASE of this host names RELEASE. */
static void test_release_host(void **state)
{
	DIR *d = opendir("/boot");
	struct dirent *e;
	int n = 0;

	(void)state;
	if (!d)
		skip();
	while ((e = readdir(d))) {
		char path[600], out[128];
		struct stat st;
		uint8_t *b;
		FILE *f;

		if (strncmp(e->d_name, "vmlinuz-", 8))
			continue;
		snprintf(path, sizeof(path), "/boot/%s", e->d_name);
		f = fopen(path, "rb");
		if (!f || fstat(fileno(f), &st)) {
			if (f)
				fclose(f);
			continue;
		}
		b = malloc((size_t)st.st_size);
		assert_non_null(b);
		assert_int_equal(fread(b, 1, (size_t)st.st_size, f), (size_t)st.st_size);
		fclose(f);
		assert_int_equal(bzimage_kernel_release(b, (size_t)st.st_size, out, sizeof(out)), 0);
		assert_string_equal(out, e->d_name + 8);
		free(b);
		n++;
	}
	closedir(d);
	if (!n)
		skip();
}

static char tmpdir[] = "/tmp/pmvm-initramfs-XXXXXX";

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[600];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_modules(void **state)
{
	const char *a[] = { "a" }, *ab[] = { "b", "a" }, *xy[] = { "x-y" }, *zz[] = { "zz" },
		   *cyc[] = { "p" }, *lost[] = { "l" };
	char err[256], **v;
	int n;

	(void)state;
	write_file(tmpdir, "modules.dep",
		   "kernel/a.ko: kernel/b.ko kernel/sub/c.ko.xz\n"
		   "kernel/b.ko: kernel/sub/c.ko.xz\n"
		   "kernel/sub/c.ko.xz:\n"
		   "kernel/x_y.ko:\n"
		   "kernel/p.ko: kernel/q.ko\n"
		   "kernel/q.ko: kernel/p.ko\n"
		   "kernel/l.ko: kernel/gone.ko\n");
	n = modules_resolve(tmpdir, a, 1, &v, err, sizeof(err));
	assert_int_equal(n, 3);
	assert_string_equal(v[0], "kernel/sub/c.ko.xz");
	assert_string_equal(v[1], "kernel/b.ko");
	assert_string_equal(v[2], "kernel/a.ko");
	modules_free(v, n);
	/* each once */
	n = modules_resolve(tmpdir, ab, 2, &v, err, sizeof(err));
	assert_int_equal(n, 3);
	assert_string_equal(v[2], "kernel/a.ko");
	modules_free(v, n);
	/* '-' and '_' alike */
	n = modules_resolve(tmpdir, xy, 1, &v, err, sizeof(err));
	assert_int_equal(n, 1);
	assert_string_equal(v[0], "kernel/x_y.ko");
	modules_free(v, n);
	/* what is wrong is named */
	assert_int_equal(modules_resolve(tmpdir, zz, 1, &v, err, sizeof(err)), -1);
	{
		/* Skipping absent names keeps the present ones in order. */
		const char *za[] = { "zz", "a" };

		n = modules_resolve_flags(tmpdir, za, 2, MODULES_SKIP_ABSENT, &v, err, sizeof(err));
		assert_int_equal(n, 3);
		assert_string_equal(v[2], "kernel/a.ko");
		modules_free(v, n);
		n = modules_resolve_flags(tmpdir, zz, 1, MODULES_SKIP_ABSENT, &v, err, sizeof(err));
		assert_int_equal(n, 0);
		modules_free(v, n);
	}
	assert_non_null(strstr(err, "module zz is not in"));
	assert_int_equal(modules_resolve(tmpdir, cyc, 1, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cycle"));
	assert_int_equal(modules_resolve(tmpdir, lost, 1, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "kernel/gone.ko"));
	assert_int_equal(modules_resolve("/nonexistent", a, 1, &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nonexistent/modules.dep"));
}

/* This host's kernel: virtiofs needs fuse and the virtio core, loaded
 * before it (what --exec will pack for Debian's kernel). */
static void test_modules_host(void **state)
{
	const char *names[] = { "virtio_mmio", "virtiofs", "overlay" };
	char dir[300], err[256], **v;
	int n, fuse = -1, vfs = -1;

	(void)state;
	{
		DIR *d = opendir("/lib/modules");
		struct dirent *e;

		if (!d)
			skip();
		dir[0] = '\0';
		while ((e = readdir(d)))
			if (e->d_name[0] != '.') {
				snprintf(dir, sizeof(dir), "/lib/modules/%s", e->d_name);
				if (access(dir, R_OK) == 0) {
					char dep[400];

					snprintf(dep, sizeof(dep), "%s/modules.dep", dir);
					if (access(dep, R_OK) == 0)
						break;
				}
				dir[0] = '\0';
			}
		closedir(d);
	}
	if (!dir[0])
		skip();
	n = modules_resolve(dir, names, 3, &v, err, sizeof(err));
	if (n < 0 && strstr(err, "is not in"))
		skip();   /* a kernel with them built in */
	assert_true(n >= 4);
	for (int i = 0; i < n; i++) {
		if (strstr(v[i], "/fuse.ko"))
			fuse = i;
		if (strstr(v[i], "/virtiofs.ko"))
			vfs = i;
	}
	assert_true(fuse >= 0 && vfs > fuse);
	modules_free(v, n);
}

static void test_cpio(void **state)
{
	struct cpio c;
	char path[600], cmd[1400], buf[256];
	FILE *f, *p;
	size_t off;

	(void)state;
	cpio_init(&c);
	assert_int_equal(cpio_add(&c, "bin", S_IFDIR | 0755, NULL, 0), 0);
	assert_int_equal(cpio_add(&c, "init", S_IFREG | 0755, "#!/bin/sh\n", 10), 0);
	assert_int_equal(cpio_add(&c, "bin/sh", S_IFLNK | 0777, "busybox", 7), 0);
	assert_int_equal(cpio_finish(&c), 0);
	/* the format: "070701" headers on 4-byte boundaries, the trailer last */
	assert_memory_equal(c.buf, "070701", 6);
	assert_int_equal(c.len % 4, 0);
	off = c.len - 4;
	while (off > 0 && memcmp(c.buf + off, "070701", 6))
		off -= 4;
	assert_memory_equal(c.buf + off + 110, "TRAILER!!!", 11);
	/* adding after the end, absolute or empty names: refused, sticky */
	assert_int_equal(cpio_add(&c, "late", S_IFREG | 0644, "x", 1), -1);
	cpio_free(&c);
	cpio_init(&c);
	assert_int_equal(cpio_add(&c, "/abs", S_IFREG | 0644, "x", 1), -1);
	assert_int_equal(cpio_finish(&c), -1);
	cpio_free(&c);

	/* cpio(1) reads it back: names, modes, contents, the link */
	if (system("command -v cpio >/dev/null 2>&1") != 0)
		skip();
	cpio_init(&c);
	assert_int_equal(cpio_add(&c, "bin", S_IFDIR | 0755, NULL, 0), 0);
	assert_int_equal(cpio_add(&c, "init", S_IFREG | 0755, "#!/bin/sh\n", 10), 0);
	assert_int_equal(cpio_add(&c, "bin/sh", S_IFLNK | 0777, "busybox", 7), 0);
	assert_int_equal(cpio_add(&c, "odd", S_IFREG | 0644, "abcde", 5), 0);
	assert_int_equal(cpio_finish(&c), 0);
	snprintf(path, sizeof(path), "%s/a.cpio", tmpdir);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(c.buf, 1, c.len, f), c.len);
	fclose(f);
	cpio_free(&c);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s/x && cd %s/x && cpio -id --quiet < %s && "
		 "cat init odd && readlink bin/sh && stat -c %%a init", tmpdir, tmpdir, path);
	p = popen(cmd, "r");
	assert_non_null(p);
	off = fread(buf, 1, sizeof(buf) - 1, p);
	buf[off] = '\0';
	assert_int_equal(pclose(p), 0);
	assert_string_equal(buf, "#!/bin/sh\nabcdebusybox\n755\n");
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[300];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_release),
		cmocka_unit_test(test_release_host),
		cmocka_unit_test(test_modules),
		cmocka_unit_test(test_modules_host),
		cmocka_unit_test(test_cpio),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
