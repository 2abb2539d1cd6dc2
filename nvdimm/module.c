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
 *
 * Control-socket commands (docs/control.md): snapshot-create, -list and
 * -delete on a pcow DIMM (the first argument check picks the DIMM),
 * nvdimm-stats, nvdimm-add (hot-add into a slot of --nvdimm-slots: the
 * DIMM is set up as at boot, the FIT _FIT returns is rebuilt, the GED
 * notifies \_SB.NVDR), nvdimm-remove (refused), and errors.c's
 * nvdimm-inject-error and nvdimm-errors.
 */
#include "nvdimm.h"
#include "acpi.h"
#include "errors.h"
#include "vmm.h"

#include "pcow.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <libfdt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

struct dimm {
	struct nvdimm_opts opts;
	struct nvdimm_backing b;
	struct nvdimm_desc d;
	bool open;
	bool lost;       /* hot-add failed after its range was mapped: not in the FIT */
	_Atomic uint64_t flushes;
};

static struct dimm dimms[NVDIMM_MAX];
/* DIMMs set up (boot and hot-added): vCPU threads read it, hot-add on the
 * main thread raises it once a DIMM is complete */
static _Atomic int ndimms;
/* --nvdimm-slots (0: not given): boot plus hot-added DIMMs */
static int nslots;
static int hotplug_event = -1;   /* the GED event notifying \_SB.NVDR */
static uint8_t *fit_buf;         /* NFIT body whose sub-tables _FIT returns */
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
	struct nvdimm_opts *o = &dimms[ndimms].opts;

	if (nvdimm_parse_opts(arg, o, err, errlen))
		return -1;
	/* a writable pcow image tells reads from writes by its userfaultfd:
	 * no KVM async page faults (vmm.h) */
	if (!o->readonly && (o->format == NVDIMM_FMT_PCOW ||
			     (o->format == NVDIMM_FMT_AUTO && pcow_probe(o->path) == 1)))
		vmm_request_sync_faults("nvdimm (pcow)");
	ndimms++;
	return 0;
}

static int parse_slots(const char *arg, char *err, size_t errlen)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > NVDIMM_MAX) {
		snprintf(err, errlen, "'%s': a number of NVDIMM slots from 1 to %d", arg,
			 NVDIMM_MAX);
		return -1;
	}
	nslots = (int)v;
	/* a hot-added DIMM may be a writable pcow image (parse_nvdimm) */
	vmm_request_sync_faults("nvdimm hot-add (--nvdimm-slots)");
	return 0;
}

static bool hotplug(void)
{
	return nslots > ndimms || hotplug_event >= 0;
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

/* Writes without a fault on a pcow DIMM (backend-pcow.c): its memslot's
 * dirty log and the vCPUs' wait while a cluster moves. */
static int host_dirty_log(void *opaque, uint64_t *bitmap)
{
	struct dimm *dm = opaque;

	return vm_mem_dirty_log(the_vm, dm->d.gpa, dm->b.size, bitmap);
}

static int host_rearm(void *opaque)
{
	struct dimm *dm = opaque;

	return vm_mem_dirty_rearm(the_vm, dm->d.gpa, dm->b.size);
}

static void host_change(void *opaque, bool begin)
{
	(void)opaque;
	if (begin)
		vm_mem_change_begin(the_vm);
	else
		vm_mem_change_end(the_vm);
}

/* Open DIMM i's backing and put it into the guest's address space: its
 * range, its bad ranges (errors.c), its label area for the DSM. Boot DIMMs
 * and hot-added ones alike; the caller publishes it (ndimms, dsm.n). */
static int dimm_attach(struct vm *vm, int i, char *err, size_t errlen)
{
	struct dimm *dm = &dimms[i];
	unsigned flags = VM_MEM_NO_E820 | VM_MEM_PMEM;

	/* PMVM_PCOW_WRITES=fault: every first write faults into vmm, as on
	 * a KVM without dirty logging (bench/pcow-nvdimm.sh compares both) */
	{
		const char *w = getenv("PMVM_PCOW_WRITES");

		dm->opts.dirty_log = vm_dirty_log_supported(vm) && !(w && !strcmp(w, "fault"));
	}
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
	if (nvdimm_pcow_wants_dirty_log(&dm->b))
		flags |= VM_MEM_LOG_DIRTY;
	if (vm_add_memory(vm, dm->d.gpa, dm->b.size, dm->b.map, flags) < 0) {
		snprintf(err, errlen, "nvdimm %d: %s: cannot map at guest 0x%" PRIx64
			 ": %s", i, dm->opts.path, dm->d.gpa, strerror(errno));
		return -1;
	}
	if (flags & VM_MEM_LOG_DIRTY) {
		struct nvdimm_pcow_host h = { host_dirty_log, host_rearm, host_change, dm };

		nvdimm_pcow_set_host(&dm->b, &h);
	}
	/* Bad ranges; a read-only DIMM's stores exit as MMIO and are
	 * dropped there too (errors.c). From here on the guest may
	 * reach the mapping: a failure keeps it (lost). */
	if (nvdimm_err_attach(vm, i, &dm->b, dm->opts.path, &dm->d, dm->opts.readonly,
			      err, errlen)) {
		dm->lost = true;
		return -1;
	}
	areas[i].base = dm->b.label;
	areas[i].size = dm->b.label_size;
	areas[i].readonly = dm->opts.readonly;
	return 0;
}

/* The NFIT body (after the table header) for every DIMM so far but lost
 * ones, malloc'd; NULL when out of memory or the build failed. The boot
 * NFIT and the FIT _FIT returns both come from here. */
static uint8_t *nfit_body(size_t *len)
{
	struct nvdimm_desc d[NVDIMM_MAX];
	uint8_t *body;
	int n = 0;

	for (int i = 0; i < ndimms; i++)
		if (!dimms[i].lost)
			d[n++] = dimms[i].d;
	body = malloc(NVDIMM_NFIT_BODY_LEN(n));
	if (!body)
		return NULL;
	*len = nvdimm_nfit_build(d, n, body, NVDIMM_NFIT_BODY_LEN(n));
	if (*len < 4) {
		free(body);
		return NULL;
	}
	return body;
}

/* The FIT _FIT returns (the NFIT's sub-tables for every DIMM so far),
 * swapped in under the DSM lock with a new generation. */
static int fit_rebuild(void)
{
	uint8_t *body, *old;
	size_t len;

	body = nfit_body(&len);
	if (!body)
		return -1;
	pthread_mutex_lock(&dsm_lock);
	old = fit_buf;
	fit_buf = body;
	dsm.fit = body + 4;   /* after the NFIT's reserved field */
	dsm.fit_len = len - 4;
	dsm.fit_gen++;
	pthread_mutex_unlock(&dsm_lock);
	free(old);
	return 0;
}

static int nvdimm_setup(struct vm *vm, char *err, size_t errlen)
{
	int flush_pages;

	the_vm = vm;
	if (nslots && nslots < ndimms) {
		snprintf(err, errlen, "--nvdimm-slots %d: fewer than the %d --nvdimm given",
			 nslots, (int)ndimms);
		return -1;
	}
	if (!ndimms && !nslots)
		return 0;
	for (int i = 0; i < ndimms; i++)
		if (dimm_attach(vm, i, err, errlen))
			return -1;
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
	flush_pages = nslots > ndimms ? nslots : ndimms;
	if (vm_register_pio(vm, PORT_NVDIMM_DSM, 4, dsm_io, NULL) < 0 ||
	    vm_register_mmio(vm, LAYOUT_NVDIMM_FLUSH, (uint64_t)flush_pages * NVDIMM_PAGE,
			     flush_io, NULL) < 0) {
		snprintf(err, errlen, "nvdimm: cannot claim the DSM port or flush hint pages");
		return -1;
	}
	if (nslots > ndimms) {
		hotplug_event = acpi_ged_add(vm, "\\_SB.NVDR", 0x80);
		if (hotplug_event < 0) {
			snprintf(err, errlen, "--nvdimm-slots %d: no free interrupt for the "
				 "hot-add event", nslots);
			return -1;
		}
		if (fit_rebuild()) {
			snprintf(err, errlen, "nvdimm: out of memory");
			return -1;
		}
	}
	return 0;
}

static int nvdimm_acpi(struct vm *vm, struct acpi_ctx *ctx, char *err, size_t errlen)
{
	struct nvdimm_desc d[NVDIMM_MAX];
	uint8_t *body;
	size_t len;
	int rc;

	if (!ndimms && !hotplug())
		return 0;
	for (int i = 0; i < ndimms; i++)
		d[i] = dimms[i].d;
	/* hot-add only: the NFIT comes with the first DIMM (_FIT) */
	if (ndimms) {
		body = nfit_body(&len);
		if (!body) {
			snprintf(err, errlen, "nvdimm: cannot build the NFIT (out of memory?)");
			return -1;
		}
		rc = acpi_add_table(ctx, "NFIT", 1, body, len);
		free(body);
		if (rc) {
			snprintf(err, errlen, "nvdimm: cannot add the NFIT");
			return -1;
		}
	}
	nvdimm_aml_build_slots(acpi_dsdt(ctx), d, ndimms, nslots, LAYOUT_NVDIMM_DSM,
			       PORT_NVDIMM_DSM);
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
				if (st.faultless)
					vmm_log("nvdimm %d: pcow: writes without a fault: %" PRIu64
						" views, %" PRIu64 " clusters moved; stores that "
						"waited for a move: %" PRIu64 " vCPU runs again (all "
						"DIMMs), %" PRIu64 " MMIO exits (all DIMMs)", i, st.views,
						st.moves, vm_mem_change_waits(vm),
						nvdimm_err_mmio_exits());
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
	nslots = 0;
	hotplug_event = -1;
	free(fit_buf);
	fit_buf = NULL;
	memset(&dsm, 0, sizeof(dsm));
}

/* ---- control-socket commands (docs/control.md) ---- */

static double mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* The DIMM a snapshot command works on: args.nvdimm, else the only pcow
 * DIMM. */
static struct dimm *pick_pcow(struct json_object *args, char *err, size_t errlen)
{
	uint64_t idx;
	int r = vmm_arg_u64(args, "nvdimm", &idx, err, errlen), found = -1, npcow = 0;

	if (r < 0)
		return NULL;
	if (r > 0) {
		if (idx >= (uint64_t)ndimms || !dimms[idx].open) {
			snprintf(err, errlen, "args.nvdimm: no NVDIMM %" PRIu64 " (this VM has "
				 "%d)", idx, ndimms);
			return NULL;
		}
		if (!dimms[idx].b.pcow) {
			snprintf(err, errlen, "nvdimm %" PRIu64 " is not a pcow image: "
				 "snapshots need one", idx);
			return NULL;
		}
		return &dimms[idx];
	}
	for (int i = 0; i < ndimms; i++)
		if (dimms[i].open && dimms[i].b.pcow) {
			if (found < 0)
				found = i;
			npcow++;
		}
	if (npcow == 0) {
		snprintf(err, errlen, "this VM has no pcow NVDIMM");
		return NULL;
	}
	if (npcow > 1) {
		snprintf(err, errlen, "this VM has %d pcow NVDIMMs: say which with "
			 "args.nvdimm (an index, 0 to %d)", npcow, ndimms - 1);
		return NULL;
	}
	return &dimms[found];
}

static int arg_name(struct json_object *args, const char **name, char *err, size_t errlen)
{
	int r = vmm_arg_string(args, "name", name, err, errlen);

	if (r == 0)
		snprintf(err, errlen, "args.name: the snapshot's name is required");
	return r > 0 ? 0 : -1;
}

static int cmd_snapshot_create(struct vm *vm, struct json_object *args,
			       struct json_object *result, char *err, size_t errlen)
{
	struct dimm *dm;
	const char *name;
	uint64_t clusters = 0, us[3] = { 0, 0, 0 };
	double t0, t1;
	int r;

	if (arg_name(args, &name, err, errlen))
		return -1;
	dm = pick_pcow(args, err, errlen);
	if (!dm || nvdimm_pcow_snapshot_check(&dm->b, name, err, errlen))
		return -1;
	/* most dirty data goes out before the pause, so the flush inside it
	 * has little left to write */
	if (nvdimm_pcow_flush(&dm->b)) {
		snprintf(err, errlen, "flushing the image before the snapshot failed");
		return -1;
	}
	/* the snapshot is the guest's view at one instant: no vCPU runs from
	 * before the flush until the mappings fault into copy-on-write */
	t0 = mono_us();
	vm_pause_vcpus(vm);
	r = nvdimm_pcow_snapshot_create(&dm->b, name, us, err, errlen);
	vm_resume_vcpus(vm);
	t1 = mono_us();
	if (r)
		return -1;
	/* counting its clusters walks its tables: after the pause */
	{
		struct pcow_snapshot *v;
		int n = nvdimm_pcow_snapshot_list(&dm->b, &v, err, errlen);

		for (int i = 0; i < n; i++)
			if (!strcmp(v[i].name, name))
				clusters = v[i].clusters;
		if (n >= 0)
			free(v);
	}
	json_object_object_add(result, "name", json_object_new_string(name));
	json_object_object_add(result, "nvdimm", json_object_new_int((int)(dm - dimms)));
	json_object_object_add(result, "clusters", json_object_new_uint64(clusters));
	json_object_object_add(result, "pause_us", json_object_new_uint64((uint64_t)(t1 - t0)));
	json_object_object_add(result, "chunk_commit_us", json_object_new_uint64(us[0]));
	json_object_object_add(result, "unmap_us", json_object_new_uint64(us[1]));
	json_object_object_add(result, "snapshot_us", json_object_new_uint64(us[2]));
	return 0;
}

static int cmd_snapshot_delete(struct vm *vm, struct json_object *args,
			       struct json_object *result, char *err, size_t errlen)
{
	struct dimm *dm;
	const char *name;

	(void)vm;
	if (arg_name(args, &name, err, errlen))
		return -1;
	dm = pick_pcow(args, err, errlen);
	if (!dm || nvdimm_pcow_snapshot_delete(&dm->b, name, err, errlen))
		return -1;
	json_object_object_add(result, "name", json_object_new_string(name));
	json_object_object_add(result, "nvdimm", json_object_new_int((int)(dm - dimms)));
	return 0;
}

static int cmd_snapshot_list(struct vm *vm, struct json_object *args,
			     struct json_object *result, char *err, size_t errlen)
{
	struct pcow_snapshot *v;
	struct json_object *arr;
	struct dimm *dm;
	int n;

	(void)vm;
	dm = pick_pcow(args, err, errlen);
	if (!dm)
		return -1;
	n = nvdimm_pcow_snapshot_list(&dm->b, &v, err, errlen);
	if (n < 0)
		return -1;
	arr = json_object_new_array();
	for (int i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "name", json_object_new_string(v[i].name));
		json_object_object_add(o, "clusters", json_object_new_uint64(v[i].clusters));
		json_object_object_add(o, "ctime_ns", json_object_new_uint64(v[i].ctime_ns));
		json_object_object_add(o, "virtual_size",
				       json_object_new_uint64(v[i].virtual_size));
		json_object_object_add(o, "current", json_object_new_boolean(v[i].current));
		json_object_array_add(arr, o);
	}
	free(v);
	json_object_object_add(result, "nvdimm", json_object_new_int((int)(dm - dimms)));
	json_object_object_add(result, "snapshots", arr);
	return 0;
}

static struct json_object *lat_json(const struct nvdimm_lat *h, uint64_t count)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "count", json_object_new_uint64(count));
	json_object_object_add(o, "p50_ns", json_object_new_uint64(nvdimm_lat_percentile(h, 50)));
	json_object_object_add(o, "p99_ns", json_object_new_uint64(nvdimm_lat_percentile(h, 99)));
	json_object_object_add(o, "max_ns", json_object_new_uint64(h->max_ns));
	return o;
}

static int cmd_stats(struct vm *vm, struct json_object *args,
		     struct json_object *result, char *err, size_t errlen)
{
	struct json_object *arr;
	uint64_t one = 0;
	int r = vmm_arg_u64(args, "nvdimm", &one, err, errlen);

	(void)vm;
	if (r < 0)
		return -1;
	if (r > 0 && (one >= (uint64_t)ndimms || !dimms[one].open)) {
		snprintf(err, errlen, "args.nvdimm: no NVDIMM %" PRIu64 " (this VM has %d)",
			 one, ndimms);
		return -1;
	}
	arr = json_object_new_array();
	for (int i = 0; i < ndimms; i++) {
		struct dimm *dm = &dimms[i];
		struct json_object *o;
		long vmas;

		if (!dm->open || (r > 0 && (uint64_t)i != one))
			continue;
		o = json_object_new_object();
		vmas = nvdimm_count_vmas(dm->b.map, dm->b.size);
		json_object_object_add(o, "nvdimm", json_object_new_int(i));
		json_object_object_add(o, "path", json_object_new_string(dm->opts.path));
		json_object_object_add(o, "format", json_object_new_string(dm->b.pcow ? "pcow"
									   : "raw"));
		json_object_object_add(o, "size", json_object_new_uint64(dm->b.size));
		json_object_object_add(o, "readonly", json_object_new_boolean(dm->opts.readonly));
		json_object_object_add(o, "flushes",
				       json_object_new_uint64(atomic_load(&dm->flushes)));
		json_object_object_add(o, "vmas", json_object_new_int64(vmas));
		if (dm->b.pcow) {
			struct nvdimm_pcow_stats *st = malloc(sizeof(*st));

			if (!st) {
				json_object_put(o);
				json_object_put(arr);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			nvdimm_pcow_get_stats(&dm->b, st);
			json_object_object_add(o, "cluster_size",
					       json_object_new_uint64(st->cluster_size));
			json_object_object_add(o, "allocated_clusters",
					       json_object_new_uint64(st->allocated_clusters));
			json_object_object_add(o, "reserved_clusters",
					       json_object_new_uint64(st->reserved));
			json_object_object_add(o, "first_touch",
					       lat_json(&st->ft_lat, st->first_touch_faults));
			json_object_object_add(o, "cow", lat_json(&st->cow_lat, st->cow_faults));
			json_object_object_add(o, "flush_latency",
					       lat_json(&st->flush_lat, st->flushes));
			json_object_object_add(o, "read_faults",
					       json_object_new_uint64(st->read_faults));
			json_object_object_add(o, "mmaps", json_object_new_uint64(st->mappings));
			json_object_object_add(o, "mmaps_at_start",
					       json_object_new_uint64(st->mappings_at_start));
			json_object_object_add(o, "chunks", json_object_new_uint64(st->chunks));
			json_object_object_add(o, "faultless_writes",
					       json_object_new_boolean(st->faultless));
			json_object_object_add(o, "views", json_object_new_uint64(st->views));
			json_object_object_add(o, "moves", json_object_new_uint64(st->moves));
			json_object_object_add(o, "chunk_commits",
					       json_object_new_uint64(st->chunk_commits));
			json_object_object_add(o, "live_snapshots",
					       json_object_new_uint64(st->snapshots));
			json_object_object_add(o, "reserve_refills",
					       json_object_new_uint64(st->reserve_refills));
			json_object_object_add(o, "reserve_errors",
					       json_object_new_uint64(st->reserve_errors));
			json_object_object_add(o, "userfaultfd_wp", json_object_new_boolean(st->wp));
			json_object_object_add(o, "failed", json_object_new_boolean(st->failed));
			free(st);
		}
		json_object_array_add(arr, o);
	}
	json_object_object_add(result, "nvdimms", arr);
	return 0;
}

/* nvdimm-add path=PATH[,options]: the --nvdimm grammar. The DIMM takes the
 * next slot, its range goes after everything mapped so far, the FIT gets
 * it, and the GED tells the guest (Notify (\_SB.NVDR, 0x80)): Linux then
 * evaluates _FIT and brings up the new region. */
static int cmd_add(struct vm *vm, struct json_object *args, struct json_object *result,
		   char *err, size_t errlen)
{
	const char *spec;
	struct dimm *dm;
	int i = ndimms, r = vmm_arg_string(args, "path", &spec, err, errlen);

	if (r <= 0) {
		if (r == 0)
			snprintf(err, errlen, "args.path: PATH[,options] of the NVDIMM is "
				 "required (the --nvdimm grammar)");
		return -1;
	}
	if (!hotplug()) {
		snprintf(err, errlen, "this VM takes no hot-added NVDIMMs: start vmm with "
			 "--nvdimm-slots N (more slots than --nvdimm options)");
		return -1;
	}
	if (i >= nslots) {
		snprintf(err, errlen, "all %d NVDIMM slots are in use (--nvdimm-slots)", nslots);
		return -1;
	}
	dm = &dimms[i];
	memset(dm, 0, sizeof(*dm));
	if (nvdimm_parse_opts(spec, &dm->opts, err, errlen))
		return -1;
	if (dimm_attach(vm, i, err, errlen)) {
		if (dm->lost) {
			/* mapped: keep it for teardown, out of the FIT */
			ndimms = i + 1;
			vmm_log("nvdimm %d: %s: hot-add failed after mapping; slot lost: %s",
				i, dm->opts.path, err);
			return -1;
		}
		if (dm->open)
			nvdimm_backing_close(&dm->b);
		nvdimm_opts_free(&dm->opts);
		memset(dm, 0, sizeof(*dm));
		return -1;
	}
	pthread_mutex_lock(&dsm_lock);
	dsm.n = i + 1;
	pthread_mutex_unlock(&dsm_lock);
	ndimms = i + 1;
	if (fit_rebuild()) {
		snprintf(err, errlen, "nvdimm %d: %s: mapped, but out of memory for the FIT: "
			 "the guest was not told", i, dm->opts.path);
		return -1;
	}
	if (acpi_ged_raise(vm, hotplug_event)) {
		snprintf(err, errlen, "nvdimm %d: %s: mapped, but the GED interrupt failed: "
			 "the guest was not told", i, dm->opts.path);
		return -1;
	}
	vmm_log("nvdimm %d: %s: hot-added at guest 0x%" PRIx64 ", %" PRIu64 " bytes", i,
		dm->opts.path, dm->d.gpa, dm->d.size);
	json_object_object_add(result, "nvdimm", json_object_new_int(i));
	json_object_object_add(result, "handle", json_object_new_int((int)dm->d.handle));
	json_object_object_add(result, "gpa", json_object_new_uint64(dm->d.gpa));
	json_object_object_add(result, "size", json_object_new_uint64(dm->d.size));
	json_object_object_add(result, "label_size", json_object_new_uint64(dm->d.label_size));
	json_object_object_add(result, "format", json_object_new_string(dm->b.pcow ? "pcow"
									   : "raw"));
	return 0;
}

static int cmd_remove(struct vm *vm, struct json_object *args, struct json_object *result,
		      char *err, size_t errlen)
{
	(void)vm;
	(void)args;
	(void)result;
	snprintf(err, errlen, "NVDIMMs cannot be removed from a running guest: Linux "
		 "does not support NVDIMM hot-removal; power the guest off instead");
	return -1;
}

static const struct vmm_command nvdimm_commands[] = {
	{ "nvdimm-add", "path",
	  "hot-add an NVDIMM (path: PATH[,options] as for --nvdimm; needs --nvdimm-slots)",
	  cmd_add },
	{ "nvdimm-remove", NULL, "refused: NVDIMMs cannot be hot-removed", cmd_remove },
	{ "snapshot-create", "name nvdimm",
	  "live snapshot of a pcow NVDIMM (nvdimm: index, default the only pcow one)",
	  cmd_snapshot_create },
	{ "snapshot-list", "nvdimm", "snapshots of a pcow NVDIMM's image", cmd_snapshot_list },
	{ "snapshot-delete", "name nvdimm",
	  "delete a snapshot of a pcow NVDIMM (not the current one)", cmd_snapshot_delete },
	{ "nvdimm-stats", "nvdimm",
	  "counters of every NVDIMM (or of args.nvdimm): flushes, faults and their "
	  "latency, clusters, host mappings", cmd_stats },
	{ "nvdimm-inject-error", "nvdimm offset length",
	  "record a media error in NVDIMM nvdimm (an index, default 0): guest reads of it get a machine "
	  "check, ARS reports it", nvdimm_err_cmd_inject },
	{ "nvdimm-errors", NULL, "the NVDIMMs' recorded bad ranges", nvdimm_err_cmd_errors },
	{ NULL, NULL, NULL, NULL },
};

static const struct vmm_option nvdimm_options[] = {
	{ "nvdimm", "PATH[,format=raw|pcow][,size=SIZE][,label-size=SIZE][,readonly=on][,share=on|off][,unarmed=on]",
	  "emulated NVDIMM backed by a raw file, a pcow image or /dev/daxX.Y (repeatable, up to 64)",
	  parse_nvdimm },
	{ "nvdimm-slots", "N",
	  "NVDIMM slots, boot and hot-added (nvdimm-add on the control socket); default: as many as --nvdimm",
	  parse_slots },
	{ NULL, NULL, NULL, NULL },
};

static const struct vmm_module nvdimm_module = {
	.name = "nvdimm",
	.options = nvdimm_options,
	.setup = nvdimm_setup,
	.acpi = nvdimm_acpi,
	.fdt = nvdimm_fdt,
	.teardown = nvdimm_teardown,
	.commands = nvdimm_commands,
	.memory_error = nvdimm_err_memory_error,
	.memory_fault = nvdimm_err_memory_fault,
};
VMM_MODULE(nvdimm_module);
