/*
 * errors.h - the NVDIMM module's media-error glue (errors.c) as module.c
 * uses it: bad-range records, their sidecar files, the guest's reads of bad
 * ranges (machine checks), the root _DSM's ARS state and the control
 * commands nvdimm-inject-error and nvdimm-errors. docs/nvdimm.md, "Memory
 * errors".
 */
#ifndef PMVM_NVDIMM_ERRORS_H
#define PMVM_NVDIMM_ERRORS_H

#include "nvdimm.h"
#include "vmm.h"

/* DIMM i is set up: load PATH.badblocks, claim its range as MMIO (hole
 * pages and, for a read-only DIMM, dropped stores), take the recorded
 * ranges out of the guest mapping. -1 with err filled. */
int nvdimm_err_attach(struct vm *vm, int i, struct nvdimm_backing *b, const char *path,
		      const struct nvdimm_desc *d, bool readonly, char *err, size_t errlen);
/* The ARS state for struct nvdimm_dsm.ars. */
struct nvdimm_ars *nvdimm_err_ars(void);
/* nvdimm_dsm_handle() under the record's lock and a SIGBUS guard. */
void nvdimm_err_dsm(struct nvdimm_dsm *dsm, uint8_t *page);
void nvdimm_err_memory_error(struct vm *vm, uint64_t gpa, uint64_t len, int kind);
bool nvdimm_err_memory_fault(struct vm *vm);
void nvdimm_err_teardown(void);
/* Guest accesses to DIMM ranges that exited to the vmm (hole pages, stores
 * to read-only DIMMs) so far: the flush page's register 0x20. */
uint64_t nvdimm_err_mmio_exits(void);
/* Control-socket commands nvdimm-inject-error and nvdimm-errors (listed in
 * module.c's command table with the other nvdimm commands). */
struct json_object;
int nvdimm_err_cmd_inject(struct vm *vm, struct json_object *args,
			  struct json_object *result, char *err, size_t errlen);
int nvdimm_err_cmd_errors(struct vm *vm, struct json_object *args,
			  struct json_object *result, char *err, size_t errlen);

#endif
