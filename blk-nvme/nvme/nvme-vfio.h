/*
 * nvme-vfio.h - a small userspace NVMe driver over VFIO (library).
 *
 * Used by the vmm's --nvme backend (backend-nvme.c) and by the host-side
 * self-test tool (nvme-selftest.c). It never prints or exits: every error
 * comes back as a negative errno with a message in err.
 *
 * What it does: VFIO container/group/device setup (type1 IOMMU), bus
 * mastering, controller reset and enable, identify controller and
 * namespace, one I/O queue pair per requested queue, each with its own
 * MSI-X vector signalled on an eventfd, PRP lists, DMA mapping of caller
 * memory (guest RAM, mapped once) and bounce buffers for whatever is not
 * mapped or not PRP-shaped, FUA, flush, write zeroes, deallocate, and a
 * clean shutdown (CC.SHN, disable, unmap, close).
 *
 * IOVA layout: callers map their memory at IOVAs they choose (the vmm uses
 * IOVA = guest physical address); the driver's own memory (queues, PRP
 * lists, bounce buffers, identify data) lives in the top NVME_INTERNAL_IOVA
 * bytes of the highest usable IOVA range the IOMMU reports.
 *
 * Threading: a controller is used from one thread at a time.
 */
#ifndef PMVM_NVME_VFIO_H
#define PMVM_NVME_VFIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define NVME_PAGE            4096u
#define NVME_MAX_QUEUES      16
#define NVME_MAX_XFER        (128u * 1024)  /* per command, before MDTS */
#define NVME_INTERNAL_IOVA   (1ULL << 30)
#define NVME_ADMIN_DEPTH     32

struct nvme_ctrl;

struct nvme_info {
	uint16_t vid;
	char sn[21], mn[41], fr[9];
	uint32_t nn;            /* namespaces */
	uint8_t mdts;           /* log2 pages, 0 = no limit */
	uint16_t oncs;          /* optional NVM commands */
	bool vwc;               /* volatile write cache present */
	uint16_t mqes;          /* CAP.MQES + 1 */
	unsigned dstrd;         /* CAP.DSTRD */
	uint32_t nsid;
	uint64_t nsze;          /* namespace size in blocks */
	uint32_t lba_size;
	unsigned nqueues;       /* I/O queue pairs created */
	unsigned qdepth;        /* entries per I/O queue */
	uint32_t max_xfer;      /* bytes per read/write command */
	bool write_zeroes;      /* ONCS bit 3 */
	bool dsm;               /* ONCS bit 2: deallocate */
	unsigned vectors;       /* MSI-X vectors in use */
	uint64_t internal_iova; /* base of the driver's own IOVA area */
};

struct nvme_open_opts {
	uint32_t nsid;          /* 0 means 1 */
	unsigned nqueues;       /* wanted I/O queue pairs, 1..NVME_MAX_QUEUES */
	unsigned qdepth;        /* wanted entries per queue, 0: 64 */
};

int nvme_open(struct nvme_ctrl **out, const char *bdf,
	      const struct nvme_open_opts *o, char *err, size_t errlen);
/* Shut the controller down, release mappings, interrupts and fds. */
void nvme_close(struct nvme_ctrl *c);
const struct nvme_info *nvme_get_info(const struct nvme_ctrl *c);

/* Map [host, host+len) at iova for device access. host, iova and len must
 * be page aligned; iova must be usable and below the internal area. */
int nvme_dma_map(struct nvme_ctrl *c, void *host, uint64_t iova, uint64_t len,
		 char *err, size_t errlen);

/* The eventfd signalled by I/O queue q's MSI-X vector. */
int nvme_queue_fd(const struct nvme_ctrl *c, unsigned q);

enum nvme_op {
	NVME_OP_READ,
	NVME_OP_WRITE,
	NVME_OP_FLUSH,
	NVME_OP_WRITE_ZEROES,
	NVME_OP_DEALLOCATE,
};
#define NVME_REQ_FUA  0x1
#define NVME_REQ_DEAC 0x2 /* write zeroes: deallocate allowed */

struct nvme_req {
	enum nvme_op op;
	unsigned flags;
	uint64_t slba;
	uint32_t nlb;             /* blocks; read/write: nlb * lba_size <= max_xfer */
	const struct iovec *iov;  /* read/write; must stay valid until completion */
	unsigned niov;
};

/* Queue a command on I/O queue q (0-based). 0, -EAGAIN when the queue is
 * full, -EINVAL for a request outside the namespace or the limits,
 * -EOPNOTSUPP for a command the controller does not have. */
int nvme_submit(struct nvme_ctrl *c, unsigned q, const struct nvme_req *r,
		void *tag);
/* Reap completions of queue q. done() gets the tag and 0 or the NVMe
 * status (SCT << 8 | SC). Returns the number reaped. */
typedef void (*nvme_done_fn)(void *tag, int status, void *arg);
int nvme_reap(struct nvme_ctrl *c, unsigned q, nvme_done_fn done, void *arg);
/* Commands in flight on queue q. */
unsigned nvme_inflight(const struct nvme_ctrl *c, unsigned q);

/* ---- pure helpers (unit-tested) ---------------------------------------- */

/* Offset of a doorbell in BAR0: 0x1000 + (2 * qid + cq) * (4 << dstrd). */
uint32_t nvme_doorbell_offset(unsigned dstrd, unsigned qid, bool cq);

struct nvme_seg {
	uint64_t iova;
	uint32_t len;
};

/* Build PRP1/PRP2 (and, for more than two pages, the PRP list written to
 * list[], whose IOVA is list_iova) for a transfer over segs. Returns the
 * number of list entries used (0 when none), or -1 when the segments do not
 * have PRP shape (first not dword aligned, an inner boundary not on a page,
 * too many pages for one list page). */
int nvme_build_prp(const struct nvme_seg *seg, unsigned n, uint64_t *prp1,
		   uint64_t *prp2, uint64_t *list, unsigned list_max,
		   uint64_t list_iova);

#endif
