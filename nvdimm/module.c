/*
 * module.c - glue between the NVDIMM core (nvdimm.h) and the VM (vmm.h).
 *
 * --nvdimm options are collected at parse time. setup() opens and maps each
 * backing store, places its guest range at vm_alloc_gpa(size, 1 GiB) as a
 * memslot kept out of e820 (VM_MEM_NO_E820 | VM_MEM_PMEM), maps the 4 KiB
 * DSM page at LAYOUT_NVDIMM_DSM, and claims the DSM trigger port and the
 * flush hint pages (LAYOUT_NVDIMM_FLUSH + 4 KiB * index, trapped MMIO).
 *
 * Flush hint page of DIMM i (pmvm's own register layout):
 *   write, any offset  -> fdatasync of the backing file (device DAX: a
 *                         store fence; pcow image: fdatasync, then the
 *                         image's metadata commit) before the vCPU
 *                         resumes; counted.
 *   read +0x08 (u64)   -> number of flushes of this DIMM so far
 *   read +0x10 (u64)   -> DSM/label calls handled (all DIMMs)
 *   read +0x18 (u64)   -> of which answered with an error status
 *   read +0x20 (u64)   -> guest accesses to DIMM ranges that exited to
 *                         the vmm (hole pages, read-only stores: errors.c)
 *   other reads        -> 0
 * At exit each DIMM logs one line: "nvdimm N: PATH: F flushes, ...".
 */
#include "nvdimm.h"
#include "acpi.h"
#include "errors.h"
#include "vmm.h"

#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct dimm {
	struct nvdimm_opts opts;
	struct nvdimm_backing b;
	struct nvdimm_desc d;
	bool open;
	_Atomic uint64_t flushes;
};

static struct dimm dimms[NVDIMM_MAX];
static int ndimms;
static struct nvdimm_label_area areas[NVDIMM_MAX];
static struct nvdimm_dsm dsm;
static pthread_mutex_t dsm_lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *dsm_page;
static struct vm *the_vm;
static bool dsm_bad_addr_logged;

static int parse_nvdimm(const char *arg, char *err, size_t errlen)
{
	if (ndimms == NVDIMM_MAX) {
		snprintf(err, errlen, "'%s': at most %d NVDIMMs", arg, NVDIMM_MAX);
		return -1;
	}
	if (nvdimm_parse_opts(arg, &dimms[ndimms].opts, err, errlen))
		return -1;
	ndimms++;
	return 0;
}

static int label_written(void *opaque, int idx, uint64_t off, uint64_t len)
{
	(void)opaque;
	return nvdimm_backing_sync_label(&dimms[idx].b, off, len) ? -1 : 0;
}

static void dsm_io(void *opaque, uint64_t addr, void *data, unsigned len, bool is_write)
{
	uint32_t gpa = 0;
	uint8_t *page;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (addr != 0 || len != 4)
		return;
	memcpy(&gpa, data, 4);
	pthread_mutex_lock(&dsm_lock);
	page = vm_gpa_w(the_vm, gpa, NVDIMM_PAGE);
	if (!page) {
		if (!dsm_bad_addr_logged)
			vmm_log("nvdimm: DSM request at 0x%" PRIx32 " is not in guest memory; "
				"ignored", gpa);
		dsm_bad_addr_logged = true;
		dsm.calls++;
		dsm.errors++;
	} else {
		nvdimm_err_dsm(&dsm, page);
	}
	pthread_mutex_unlock(&dsm_lock);
}

static void flush_io(void *opaque, uint64_t addr, void *data, unsigned len, bool is_write)
{
	uint64_t idx = addr / NVDIMM_PAGE, off = addr % NVDIMM_PAGE, v = 0;
	struct dimm *dm;

	if (idx >= (uint64_t)ndimms) {
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	dm = &dimms[idx];
	if (is_write) {
		int rc = nvdimm_backing_flush(&dm->b);

		atomic_fetch_add(&dm->flushes, 1);
		if (rc)
			vm_request_exit(the_vm, VMM_EXIT_ERROR, "nvdimm %" PRIu64 ": %s: flush "
					"failed (%s); stopping: earlier writes may not be durable",
					idx, dm->opts.path, strerror(-rc));
		return;
	}
	switch (off & ~7ULL) {
	case 0x08: v = atomic_load(&dm->flushes); break;
	case 0x10: pthread_mutex_lock(&dsm_lock); v = dsm.calls; pthread_mutex_unlock(&dsm_lock); break;
	case 0x18: pthread_mutex_lock(&dsm_lock); v = dsm.errors; pthread_mutex_unlock(&dsm_lock); break;
	case 0x20: v = nvdimm_err_mmio_exits(); break;
	}
	v >>= 8 * (off & 7);
	memset(data, 0, len);
	memcpy(data, &v, len > 8 - (off & 7) ? 8 - (off & 7) : len);
}

/* A pcow fault that cannot be resolved (image full, I/O error): the vCPU
 * that took it stays blocked, so stop the VM. */
static void pcow_fatal(void *opaque, const char *msg)
{
	struct dimm *dm = opaque;

	vm_request_exit(the_vm, VMM_EXIT_ERROR, "nvdimm %d: %s: %s; stopping",
			(int)(dm - dimms), dm->opts.path, msg);
}

static int nvdimm_setup(struct vm *vm, char *err, size_t errlen)
{
	the_vm = vm;
	if (!ndimms)
		return 0;
	for (int i = 0; i < ndimms; i++) {
		struct dimm *dm = &dimms[i];
		unsigned flags = VM_MEM_NO_E820 | VM_MEM_PMEM;

		if (nvdimm_backing_open(&dm->b, &dm->opts, err, errlen))
			return -1;
		dm->open = true;
		nvdimm_pcow_set_fatal(&dm->b, pcow_fatal, dm);
		if (dm->b.map_sync)
			vmm_log("nvdimm %d: %s: on a DAX filesystem: MAP_SYNC mapping", i,
				dm->opts.path);
		dm->d.handle = (uint32_t)i + 1;
		dm->d.size = dm->b.size;
		dm->d.gpa = vm_alloc_gpa(vm, dm->b.size, LAYOUT_PMEM_ALIGN);
		if (dm->d.gpa == 0) {
			snprintf(err, errlen, "nvdimm %d: %s: no guest physical address space "
				 "left for %" PRIu64 " bytes", i, dm->opts.path, dm->b.size);
			return -1;
		}
		dm->d.flush_gpa = LAYOUT_NVDIMM_FLUSH + (uint64_t)i * NVDIMM_PAGE;
		dm->d.label_size = dm->b.label_size;
		dm->d.unarmed = dm->opts.unarmed || dm->opts.readonly;
		if (dm->opts.readonly)
			flags |= VM_MEM_READONLY;
		if (vm_add_memory(vm, dm->d.gpa, dm->b.size, dm->b.map, flags) < 0) {
			snprintf(err, errlen, "nvdimm %d: %s: cannot map at guest 0x%" PRIx64
				 ": %s", i, dm->opts.path, dm->d.gpa, strerror(errno));
			return -1;
		}
		/* Bad ranges; a read-only DIMM's stores exit as MMIO and are
		 * dropped there too (errors.c). */
		if (nvdimm_err_attach(vm, i, &dm->b, dm->opts.path, &dm->d, dm->opts.readonly,
				      err, errlen))
			return -1;
		areas[i].base = dm->b.label;
		areas[i].size = dm->b.label_size;
		areas[i].readonly = dm->opts.readonly;
	}
	dsm.areas = areas;
	dsm.n = ndimms;
	dsm.label_written = label_written;
	dsm.ars = nvdimm_err_ars();

	dsm_page = mmap(NULL, NVDIMM_PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dsm_page == MAP_FAILED) {
		dsm_page = NULL;
		snprintf(err, errlen, "nvdimm: cannot allocate the DSM page: %s", strerror(errno));
		return -1;
	}
	if (vm_add_memory(vm, LAYOUT_NVDIMM_DSM, NVDIMM_PAGE, dsm_page, VM_MEM_NO_E820) < 0) {
		snprintf(err, errlen, "nvdimm: cannot map the DSM page: %s", strerror(errno));
		return -1;
	}
	if (vm_register_pio(vm, PORT_NVDIMM_DSM, 4, dsm_io, NULL) < 0 ||
	    vm_register_mmio(vm, LAYOUT_NVDIMM_FLUSH, (uint64_t)ndimms * NVDIMM_PAGE,
			     flush_io, NULL) < 0) {
		snprintf(err, errlen, "nvdimm: cannot claim the DSM port or flush hint pages");
		return -1;
	}
	return 0;
}

static int nvdimm_acpi(struct vm *vm, struct acpi_ctx *ctx, char *err, size_t errlen)
{
	struct nvdimm_desc d[NVDIMM_MAX];
	uint8_t *body;
	size_t len;
	int rc;

	if (!ndimms)
		return 0;
	for (int i = 0; i < ndimms; i++)
		d[i] = dimms[i].d;
	body = malloc(NVDIMM_NFIT_BODY_LEN(ndimms));
	if (!body) {
		snprintf(err, errlen, "nvdimm: out of memory");
		return -1;
	}
	len = nvdimm_nfit_build(d, ndimms, body, NVDIMM_NFIT_BODY_LEN(ndimms));
	rc = len ? acpi_add_table(ctx, "NFIT", 1, body, len) : -1;
	free(body);
	if (rc) {
		snprintf(err, errlen, "nvdimm: cannot add the NFIT");
		return -1;
	}
	nvdimm_aml_build(acpi_dsdt(ctx), d, ndimms, LAYOUT_NVDIMM_DSM, PORT_NVDIMM_DSM);
	return 0;
}

static int nvdimm_fdt(struct vm *vm, void *fdt, char *err, size_t errlen)
{
	int root;

	if (!ndimms)
		return 0;
	root = fdt_path_offset(fdt, "/pmvm");
	if (root < 0)
		root = fdt_add_subnode(fdt, 0, "pmvm");
	if (root < 0)
		goto fail;
	for (int i = 0; i < ndimms; i++) {
		const struct dimm *dm = &dimms[i];
		char name[32];
		int node;
		uint64_t reg[2] = { cpu_to_fdt64(dm->d.gpa), cpu_to_fdt64(dm->d.size) };

		snprintf(name, sizeof(name), "nvdimm@%x", i);
		node = fdt_add_subnode(fdt, root, name);
		if (node < 0 ||
		    fdt_setprop_string(fdt, node, "compatible", "pmvm,nvdimm") ||
		    fdt_setprop(fdt, node, "reg", reg, sizeof(reg)) ||
		    fdt_setprop_u64(fdt, node, "flush-hint", dm->d.flush_gpa) ||
		    fdt_setprop_u64(fdt, node, "label-size", dm->d.label_size) ||
		    fdt_setprop_u32(fdt, node, "handle", dm->d.handle) ||
		    (dm->opts.readonly && fdt_setprop_empty(fdt, node, "read-only")))
			goto fail;
	}
	return 0;
fail:
	snprintf(err, errlen, "nvdimm: FDT too small for the NVDIMM nodes");
	return -1;
}

static void nvdimm_teardown(struct vm *vm)
{
	nvdimm_err_teardown();
	for (int i = 0; i < ndimms; i++) {
		struct dimm *dm = &dimms[i];

		if (dm->open) {
			vmm_log("nvdimm %d: %s: %" PRIu64 " flushes, %" PRIu64 " DSM calls "
				"(%" PRIu64 " errors)", i, dm->opts.path,
				atomic_load(&dm->flushes), dsm.calls, dsm.errors);
			if (dm->b.pcow) {
				struct nvdimm_pcow_stats st;

				nvdimm_pcow_get_stats(&dm->b, &st);
				vmm_log("nvdimm %d: pcow: %" PRIu64 " first-touch, %" PRIu64
					" copy-on-write, %" PRIu64 " read faults (max write fault "
					"%" PRIu64 " us); %" PRIu64 " clusters allocated, %u in "
					"reserve; %" PRIu64 " mappings (%" PRIu64 " at start)%s", i,
					st.first_touch_faults, st.cow_faults, st.read_faults,
					st.max_write_fault_ns / 1000, st.allocated_clusters,
					st.reserved, st.mappings, st.mappings_at_start,
					st.wp || st.readonly ? "" : "; no userfaultfd WP: reads allocate");
			}
			nvdimm_backing_close(&dm->b);
			dm->open = false;
		}
		nvdimm_opts_free(&dm->opts);
	}
	if (dsm_page)
		munmap(dsm_page, NVDIMM_PAGE);
	dsm_page = NULL;
	ndimms = 0;
}

static const struct vmm_option nvdimm_options[] = {
	{ "nvdimm", "PATH[,format=raw|pcow][,size=SIZE][,label-size=SIZE][,readonly=on][,share=on|off][,unarmed=on]",
	  "emulated NVDIMM backed by a raw file, a pcow image or /dev/daxX.Y (repeatable, up to 64)",
	  parse_nvdimm },
	{ NULL, NULL, NULL, NULL },
};

static const struct vmm_module nvdimm_module = {
	.name = "nvdimm",
	.options = nvdimm_options,
	.setup = nvdimm_setup,
	.acpi = nvdimm_acpi,
	.fdt = nvdimm_fdt,
	.teardown = nvdimm_teardown,
	.commands = nvdimm_err_commands,
	.memory_error = nvdimm_err_memory_error,
	.memory_fault = nvdimm_err_memory_fault,
};
VMM_MODULE(nvdimm_module);
