/*
 * blk.c - the vmm module for block devices: --disk FILE and --nvme BDF.
 *
 * Each option occurrence becomes one virtio-blk device on its own
 * virtio-mmio slot, described in the DSDT. --disk uses the io_uring file
 * backend, --nvme the userspace NVMe driver through VFIO; for the latter
 * all guest RAM is mapped into the controller's IOVA space once, at
 * IOVA = guest physical address, before the guest runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi.h"
#include "backend-nvme.h"
#include "nvme-vfio.h"
#include "opts.h"
#include "virtio-blk.h"
#include "vmm.h"

#define MAX_DISKS 16

struct disk_cfg {
	bool nvme;
	char path[256];   /* file, or BDF */
	bool readonly;
	bool direct;
	uint32_t nsid;
	unsigned queues;
	char serial[21];
	bool has_serial;
	struct vblk *dev;
};

static struct disk_cfg disks[MAX_DISKS];
static unsigned ndisks;

static int parse_disk(const char *arg, bool nvme, char *err, size_t errlen)
{
	struct disk_cfg *d;
	const char *comma;
	size_t plen;

	if (ndisks >= MAX_DISKS) {
		snprintf(err, errlen, "'%s': at most %d disks", arg, MAX_DISKS);
		return -1;
	}
	if (!*arg || *arg == ',') {
		snprintf(err, errlen, "'%s': expected %s[,option=value...]", arg,
			 nvme ? "BDF" : "FILE");
		return -1;
	}
	d = &disks[ndisks];
	memset(d, 0, sizeof(*d));
	d->nvme = nvme;
	d->nsid = 1;
	comma = strchr(arg, ',');
	plen = comma ? (size_t)(comma - arg) : strlen(arg);
	if (plen >= sizeof(d->path)) {
		snprintf(err, errlen, "'%s': path too long", arg);
		return -1;
	}
	memcpy(d->path, arg, plen);
	d->path[plen] = '\0';

	/* The one option grammar (vmm/util/opts.h); each kind its own keys. */
	const struct opt_key file_keys[] = {
		{ "readonly", OPT_BOOL, &d->readonly, 0, 0, NULL },
		{ "direct", OPT_BOOL, &d->direct, 0, 0, NULL },
		{ "queues", OPT_UINT, &d->queues, 1, 16, NULL },
		{ "serial", OPT_STRING, d->serial, 0, sizeof(d->serial) - 1, NULL },
	};
	const struct opt_key nvme_keys[] = {
		{ "ns", OPT_UINT, &d->nsid, 1, 0xfffffffe, NULL },
		{ "readonly", OPT_BOOL, &d->readonly, 0, 0, NULL },
		{ "queues", OPT_UINT, &d->queues, 1, 16, NULL },
		{ "serial", OPT_STRING, d->serial, 0, sizeof(d->serial) - 1, NULL },
	};
	if (opt_parse_list(comma ? comma + 1 : NULL, nvme ? nvme_keys : file_keys,
			   nvme ? sizeof(nvme_keys) / sizeof(nvme_keys[0]) :
				  sizeof(file_keys) / sizeof(file_keys[0]),
			   err, errlen) < 0)
		return -1;
	d->has_serial = comma && (strstr(comma, ",serial=") != NULL);
	ndisks++;
	return 0;
}

static int parse_disk_file(const char *arg, char *err, size_t errlen)
{
	return parse_disk(arg, false, err, errlen);
}

static int parse_disk_nvme(const char *arg, char *err, size_t errlen)
{
	return parse_disk(arg, true, err, errlen);
}

struct ram_map {
	struct vm *vm;
	struct nvme_ctrl *c;
	char *err;
	size_t errlen;
};

/* One guest RAM region at IOVA = GPA: one host-contiguous VFIO mapping. */
static int map_ram_region(void *opaque, uint64_t gpa, uint64_t len)
{
	struct ram_map *m = opaque;
	void *h = vm_gpa(m->vm, gpa, len);

	if (!h) {
		snprintf(m->err, m->errlen, "guest RAM 0x%llx+0x%llx has no host mapping",
			 (unsigned long long)gpa, (unsigned long long)len);
		return -1;
	}
	return nvme_dma_map(m->c, h, gpa, len, m->err, m->errlen) ? -1 : 0;
}

/* Map all guest RAM into the controller's IOVA space at IOVA = GPA. */
static int map_guest_ram(struct vm *vm, struct nvme_ctrl *c, char *err, size_t errlen)
{
	struct ram_map m = { vm, c, err, errlen };

	return vm_for_each_ram_region(vm, map_ram_region, &m);
}

static int blk_setup(struct vm *vm, char *err, size_t errlen)
{
	for (unsigned i = 0; i < ndisks; i++) {
		struct disk_cfg *d = &disks[i];
		unsigned nq = d->queues;
		struct vblk_opts o = { 0 };
		struct blk_backend *be;

		if (!nq) {
			nq = vm_vcpu_count(vm);
			if (nq < 1)
				nq = 1;
			if (nq > 4)
				nq = 4;
		}
		if (d->nvme) {
			be = blk_nvme_open(d->path, d->nsid, nq, d->readonly, err, errlen);
			if (be && map_guest_ram(vm, blk_nvme_ctrl(be), err, errlen)) {
				be->ops->close(be);
				be = NULL;
			}
		} else {
			be = blk_file_open(d->path, (d->readonly ? BLK_FILE_READONLY : 0) |
					   (d->direct ? BLK_FILE_DIRECT : 0), nq, err, errlen);
		}
		if (!be)
			return -1;
		o.queues = nq;
		o.serial = d->has_serial ? d->serial : NULL;
		d->dev = vblk_create(vm, be, &o, err, errlen);
		if (!d->dev)
			return -1;
	}
	return 0;
}

static int blk_acpi(struct vm *vm, struct acpi_ctx *ctx, char *err, size_t errlen)
{
	for (unsigned i = 0; i < ndisks; i++)
		if (disks[i].dev)
			vblk_acpi(disks[i].dev, acpi_dsdt(ctx));
	return 0;
}

static void blk_teardown(struct vm *vm)
{
	for (unsigned i = 0; i < ndisks; i++) {
		vblk_destroy(disks[i].dev);
		disks[i].dev = NULL;
	}
}

static const struct vmm_option blk_options[] = {
	{ "disk", "FILE[,readonly=on][,direct=on][,serial=S][,queues=N]",
	  "virtio block disk on a file or block device (io_uring)", parse_disk_file },
	{ "nvme", "BDF[,ns=N][,readonly=on][,serial=S][,queues=N]",
	  "virtio block disk on a host NVMe namespace via VFIO", parse_disk_nvme },
	{ NULL, NULL, NULL, NULL },
};

static const struct vmm_module blk_module = {
	.name = "blk",
	.options = blk_options,
	.setup = blk_setup,
	.acpi = blk_acpi,
	.teardown = blk_teardown,
};

VMM_MODULE(blk_module);
