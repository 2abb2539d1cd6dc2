/*
 * initramfs.h - building blocks of a generated initramfs (initramfs.c):
 * a cpio "newc" writer and module dependency resolution.
 */
#ifndef PMVM_INITRAMFS_H
#define PMVM_INITRAMFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An archive in memory. Errors (allocation, a bad name, adding after
 * finish) are sticky: cpio_finish() returns -1 once anything failed. */
struct cpio {
	uint8_t *buf;
	size_t len, cap;
	uint32_t ino;
	bool failed, finished;
};

void cpio_init(struct cpio *c);
void cpio_free(struct cpio *c);
/* One entry. name is relative ("init", "lib/modules/x.ko"), mode has the
 * file type (S_IFREG, S_IFDIR, S_IFLNK: data is then the link target,
 * without NUL). Parent directories must be added first. */
int cpio_add(struct cpio *c, const char *name, uint32_t mode, const void *data, size_t len);
/* The trailer; the archive is c->buf, c->len bytes. */
int cpio_finish(struct cpio *c);

/* The modules to load for names (module names: "virtiofs", "virtio_mmio";
 * '-' and '_' alike) with everything they depend on, from
 * moddir/modules.dep: paths relative to moddir, each once, dependencies
 * first (the order to load them). Returns the count and a malloc'd list
 * (modules_free), or -1 with err naming what is missing. */
int modules_resolve(const char *moddir, const char *const *names, int nnames, char ***out,
		    char *err, size_t errlen);
/* The same; with MODULES_SKIP_ABSENT a name modules.dep lacks (built into
 * the kernel, or not built at all) is left out instead of an error. */
#define MODULES_SKIP_ABSENT 0x1
int modules_resolve_flags(const char *moddir, const char *const *names, int nnames,
			  unsigned flags, char ***out, char *err, size_t errlen);
void modules_free(char **list, int n);

#endif
