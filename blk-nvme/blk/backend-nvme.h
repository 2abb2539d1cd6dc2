/*
 * backend-nvme.h - the NVMe/VFIO block backend (backend-nvme.c).
 */
#ifndef PMVM_BACKEND_NVME_H
#define PMVM_BACKEND_NVME_H

#include "backend.h"

struct nvme_ctrl;

/* Open controller bdf (bound to vfio-pci), namespace nsid, with up to
 * nqueues I/O queue pairs. NULL with err filled on failure. */
struct blk_backend *blk_nvme_open(const char *bdf, uint32_t nsid, unsigned nqueues,
				  bool readonly, char *err, size_t errlen);
/* The library handle, to map guest memory. */
struct nvme_ctrl *blk_nvme_ctrl(struct blk_backend *be);

#endif
