/*
 * nvme-vfio.c - userspace NVMe driver over VFIO (see nvme-vfio.h).
 *
 * Register and command layouts follow the NVMe base specification 1.4:
 * controller registers (3.1), admin commands Identify (5.15), Set Features
 * Number of Queues (5.21.1.7), Create I/O CQ/SQ (5.3, 5.4), NVM commands
 * Read/Write/Flush/Write Zeroes/Dataset Management (6.x), PRPs (4.3).
 * The VFIO sequence follows Linux's Documentation/driver-api/vfio.rst.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "le.h"
#include "errbuf.h"
#include "nvme-vfio.h"

/* Controller registers */
#define REG_CAP   0x00
#define REG_VS    0x08
#define REG_INTMS 0x0c
#define REG_CC    0x14
#define REG_CSTS  0x1c
#define REG_AQA   0x24
#define REG_ASQ   0x28
#define REG_ACQ   0x30

#define CC_EN        (1u << 0)
#define CC_SHN_NORMAL (1u << 14)
#define CC_IOSQES    (6u << 16)
#define CC_IOCQES    (4u << 20)
#define CSTS_RDY     (1u << 0)
#define CSTS_CFS     (1u << 1)
#define CSTS_SHST_MASK (3u << 2)
#define CSTS_SHST_DONE (2u << 2)

/* Opcodes */
#define ADM_DELETE_SQ 0x00
#define ADM_CREATE_SQ 0x01
#define ADM_DELETE_CQ 0x04
#define ADM_CREATE_CQ 0x05
#define ADM_IDENTIFY  0x06
#define ADM_SET_FEAT  0x09
#define NVM_FLUSH     0x00
#define NVM_WRITE     0x01
#define NVM_READ      0x02
#define NVM_WZEROES   0x08
#define NVM_DSM       0x09

#define FEAT_NUM_QUEUES 0x07
#define MAX_MAPPINGS    256

struct nvme_sqe {
	uint8_t opc, flags;
	uint16_t cid;
	uint32_t nsid;
	uint64_t rsvd;
	uint64_t mptr;
	uint64_t prp1, prp2;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};

struct nvme_cqe {
	uint32_t dw0, dw1;
	uint16_t sq_head, sq_id;
	uint16_t cid, status; /* status bit 0 is the phase tag */
};

struct dma_buf {
	void *host;
	uint64_t iova, len;
	bool internal; /* allocated (and freed) by the driver */
};

struct slot {
	void *tag;
	bool busy;
	bool bounce_read;  /* copy bounce -> iov on completion */
	const struct iovec *iov;
	unsigned niov;
	uint32_t len;
};

struct queue {
	unsigned qid, depth;
	volatile struct nvme_sqe *sq;
	volatile struct nvme_cqe *cq;
	uint64_t sq_iova, cq_iova;
	uint16_t sq_tail, cq_head;
	uint8_t phase;
	uint32_t sq_db, cq_db;
	int efd;
	struct slot *slots;
	uint16_t *free;
	unsigned nfree, nslots;
	uint8_t *prp;        /* one page per slot: PRP list or DSM range */
	uint64_t prp_iova;
	uint8_t *bounce;     /* max_xfer bytes per slot */
	uint64_t bounce_iova;
};

struct nvme_ctrl {
	int container, group, device;
	char bdf[32];
	uint64_t cfg_off, bar_off, bar_size;
	volatile uint8_t *bar;       /* mmap of BAR0, or NULL: pread/pwrite */
	uint64_t cap;
	unsigned to_ms;
	struct nvme_info info;
	struct queue admin;
	struct queue io[NVME_MAX_QUEUES];
	int efd[NVME_MAX_QUEUES + 1];
	unsigned nvec;
	bool irqs_set, enabled;
	uint64_t iova_lo, iova_hi;   /* the highest usable range */
	uint64_t internal_next, internal_end;
	struct {
		uint64_t start, end;
	} ranges[16];
	unsigned nranges;
	struct dma_buf map[MAX_MAPPINGS];
	unsigned nmap;
	uint8_t *idbuf;
	uint64_t idbuf_iova;
	uint16_t admin_cid;
	bool closing; /* short admin timeouts: never hang an exiting process */
};

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pmvm_verrf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* ---- pure helpers ------------------------------------------------------- */

uint32_t nvme_doorbell_offset(unsigned dstrd, unsigned qid, bool cq)
{
	return 0x1000 + (2 * qid + (cq ? 1 : 0)) * (4u << dstrd);
}

int nvme_build_prp(const struct nvme_seg *seg, unsigned n, uint64_t *prp1,
		   uint64_t *prp2, uint64_t *list, unsigned list_max,
		   uint64_t list_iova)
{
	const uint64_t pg = NVME_PAGE;
	uint64_t second = 0;
	unsigned pages = 0, nlist = 0;

	if (n == 0 || seg[0].len == 0 || (seg[0].iova & 3))
		return -1;
	for (unsigned i = 0; i < n; i++) {
		uint64_t a = seg[i].iova, end = a + seg[i].len;

		if (seg[i].len == 0 || end < a)
			return -1;
		if (i > 0 && (a & (pg - 1)))
			return -1;
		if (i < n - 1 && (end & (pg - 1)))
			return -1;
		/* Each page this segment touches is one PRP entry. */
		for (uint64_t p = a; p < end; p = (p & ~(pg - 1)) + pg) {
			uint64_t e = i == 0 && p == a ? a : (p & ~(pg - 1));

			if (pages == 0) {
				*prp1 = e;
			} else if (pages == 1) {
				second = e;
			} else {
				if (pages == 2) {
					if (list_max < 1)
						return -1;
					list[nlist++] = second;
				}
				if (nlist >= list_max)
					return -1;
				list[nlist++] = e;
			}
			pages++;
		}
	}
	if (pages == 1)
		*prp2 = 0;
	else if (pages == 2)
		*prp2 = second;
	else
		*prp2 = list_iova;
	return nlist;
}

/* ---- register access ---------------------------------------------------- */

static uint32_t rd32(struct nvme_ctrl *c, uint32_t off)
{
	uint32_t v = ~0u;

	if (c->bar)
		return *(volatile uint32_t *)(c->bar + off);
	if (pread(c->device, &v, 4, c->bar_off + off) != 4)
		return ~0u;
	return v;
}

static void wr32(struct nvme_ctrl *c, uint32_t off, uint32_t v)
{
	if (c->bar) {
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		*(volatile uint32_t *)(c->bar + off) = v;
		return;
	}
	if (pwrite(c->device, &v, 4, c->bar_off + off) != 4)
		return;
}

static uint64_t rd64(struct nvme_ctrl *c, uint32_t off)
{
	uint64_t lo = rd32(c, off), hi = rd32(c, off + 4);

	return lo | (hi << 32);
}

static void wr64(struct nvme_ctrl *c, uint32_t off, uint64_t v)
{
	wr32(c, off, (uint32_t)v);
	wr32(c, off + 4, (uint32_t)(v >> 32));
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_csts(struct nvme_ctrl *c, uint32_t mask, uint32_t want,
		     unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	for (;;) {
		uint32_t s = rd32(c, REG_CSTS);

		if (s == ~0u)
			return -ENODEV;
		if ((s & mask) == want)
			return 0;
		if ((s & CSTS_CFS) && !(mask & CSTS_CFS))
			return -EIO;
		if (now_ms() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

/* ---- DMA memory --------------------------------------------------------- */

static bool iova_usable(struct nvme_ctrl *c, uint64_t iova, uint64_t len)
{
	for (unsigned i = 0; i < c->nranges; i++)
		if (iova >= c->ranges[i].start && len - 1 <= c->ranges[i].end - iova &&
		    iova <= c->ranges[i].end)
			return true;
	return false;
}

static int map_one(struct nvme_ctrl *c, void *host, uint64_t iova, uint64_t len,
		   bool internal)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)host,
		.iova = iova,
		.size = len,
	};

	if (c->nmap >= MAX_MAPPINGS)
		return -ENOSPC;
	if (ioctl(c->container, VFIO_IOMMU_MAP_DMA, &m) < 0)
		return -errno;
	c->map[c->nmap++] = (struct dma_buf){ host, iova, len, internal };
	return 0;
}

/* Allocate zeroed, page-aligned memory in the internal IOVA area. */
static void *dma_alloc(struct nvme_ctrl *c, uint64_t len, uint64_t *iova, int *ret)
{
	void *p;

	len = (len + NVME_PAGE - 1) & ~(uint64_t)(NVME_PAGE - 1);
	if (len > c->internal_end - c->internal_next) {
		*ret = -ENOSPC;
		return NULL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		*ret = -errno;
		return NULL;
	}
	*ret = map_one(c, p, c->internal_next, len, true);
	if (*ret) {
		munmap(p, len);
		return NULL;
	}
	*iova = c->internal_next;
	c->internal_next += len;
	return p;
}

int nvme_dma_map(struct nvme_ctrl *c, void *host, uint64_t iova, uint64_t len,
		 char *err, size_t errlen)
{
	int ret;

	if (((uintptr_t)host | iova | len) & (NVME_PAGE - 1) || len == 0)
		return fail(err, errlen, -EINVAL, "%s: DMA map of 0x%llx+0x%llx: not page aligned",
			    c->bdf, (unsigned long long)iova, (unsigned long long)len);
	if (!iova_usable(c, iova, len) || iova + len > c->info.internal_iova)
		return fail(err, errlen, -ERANGE,
			    "%s: IOVA 0x%llx+0x%llx is outside what the IOMMU can map "
			    "(below 0x%llx)", c->bdf, (unsigned long long)iova,
			    (unsigned long long)len,
			    (unsigned long long)c->info.internal_iova);
	ret = map_one(c, host, iova, len, false);
	if (ret == -ENOSPC)
		return fail(err, errlen, ret, "%s: DMA mapping limit reached "
			    "(vfio_iommu_type1 dma_entry_limit or %d here)",
			    c->bdf, MAX_MAPPINGS);
	if (ret)
		return fail(err, errlen, ret, "%s: VFIO_IOMMU_MAP_DMA 0x%llx+0x%llx: %s",
			    c->bdf, (unsigned long long)iova,
			    (unsigned long long)len, strerror(-ret));
	return 0;
}

/* IOVA of [host, host+len) if it lies inside one caller mapping. */
static bool host_to_iova(struct nvme_ctrl *c, const void *host, uint64_t len,
			 uint64_t *iova)
{
	uintptr_t h = (uintptr_t)host;

	for (unsigned i = 0; i < c->nmap; i++) {
		const struct dma_buf *m = &c->map[i];
		uintptr_t b = (uintptr_t)m->host;

		if (m->internal || h < b || h - b >= m->len || len > m->len - (h - b))
			continue;
		*iova = m->iova + (h - b);
		return true;
	}
	return false;
}

/* ---- queues and commands ------------------------------------------------ */

static void sq_push(struct nvme_ctrl *c, struct queue *q, const struct nvme_sqe *e)
{
	memcpy((void *)&q->sq[q->sq_tail], e, sizeof(*e));
	q->sq_tail = (q->sq_tail + 1) % q->depth;
	wr32(c, q->sq_db, q->sq_tail);
}

/* Pop one completion, or return false. */
static bool cq_pop(struct nvme_ctrl *c, struct queue *q, struct nvme_cqe *out)
{
	volatile struct nvme_cqe *e = &q->cq[q->cq_head];
	uint16_t st = e->status;

	if ((st & 1) != q->phase)
		return false;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	out->dw0 = e->dw0;
	out->sq_head = e->sq_head;
	out->sq_id = e->sq_id;
	out->cid = e->cid;
	out->status = st >> 1;
	if (++q->cq_head == q->depth) {
		q->cq_head = 0;
		q->phase ^= 1;
	}
	return true;
}

static int admin_cmd(struct nvme_ctrl *c, struct nvme_sqe *cmd, uint32_t *dw0)
{
	struct queue *q = &c->admin;
	uint64_t end = now_ms() + (c->closing ? 2000 : c->to_ms > 30000 ? c->to_ms : 30000);
	struct nvme_cqe cqe;
	uint16_t cid = c->admin_cid++;

	cmd->cid = cid;
	sq_push(c, q, cmd);
	for (;;) {
		while (cq_pop(c, q, &cqe)) {
			wr32(c, q->cq_db, q->cq_head);
			if (cqe.cid != cid)
				continue;
			if (dw0)
				*dw0 = cqe.dw0;
			return cqe.status & 0x7ff ? -EIO : 0;
		}
		if (now_ms() > end)
			return -ETIMEDOUT;
		usleep(100);
	}
}

static int queue_alloc(struct nvme_ctrl *c, struct queue *q, unsigned qid,
		       unsigned depth, bool io)
{
	int ret;

	q->qid = qid;
	q->depth = depth;
	q->phase = 1;
	q->sq_db = nvme_doorbell_offset(c->info.dstrd, qid, false);
	q->cq_db = nvme_doorbell_offset(c->info.dstrd, qid, true);
	q->sq = dma_alloc(c, depth * sizeof(struct nvme_sqe), &q->sq_iova, &ret);
	if (!q->sq)
		return ret;
	q->cq = dma_alloc(c, depth * sizeof(struct nvme_cqe), &q->cq_iova, &ret);
	if (!q->cq)
		return ret;
	if (!io)
		return 0;
	q->nslots = depth - 1;
	q->slots = calloc(q->nslots, sizeof(*q->slots));
	q->free = calloc(q->nslots, sizeof(*q->free));
	if (!q->slots || !q->free)
		return -ENOMEM;
	for (unsigned i = 0; i < q->nslots; i++)
		q->free[i] = q->nslots - 1 - i;
	q->nfree = q->nslots;
	q->prp = dma_alloc(c, (uint64_t)q->nslots * NVME_PAGE, &q->prp_iova, &ret);
	if (!q->prp)
		return ret;
	q->bounce = dma_alloc(c, (uint64_t)q->nslots * c->info.max_xfer,
			      &q->bounce_iova, &ret);
	if (!q->bounce)
		return ret;
	return 0;
}

/* ---- setup -------------------------------------------------------------- */

static int setup_iommu_info(struct nvme_ctrl *c, char *err, size_t errlen)
{
	size_t sz = sizeof(struct vfio_iommu_type1_info);
	struct vfio_iommu_type1_info *info;

	for (int tries = 0; tries < 2; tries++) {
		info = calloc(1, sz);
		if (!info)
			return fail(err, errlen, -ENOMEM, "out of memory");
		info->argsz = sz;
		if (ioctl(c->container, VFIO_IOMMU_GET_INFO, info) < 0) {
			int e = errno;

			free(info);
			return fail(err, errlen, -e, "%s: VFIO_IOMMU_GET_INFO: %s",
				    c->bdf, strerror(e));
		}
		if (info->argsz <= sz)
			break;
		sz = info->argsz;
		free(info);
		info = NULL;
	}
	if (!info)
		return fail(err, errlen, -EIO, "%s: VFIO_IOMMU_GET_INFO size", c->bdf);
	c->nranges = 0;
	if ((info->flags & VFIO_IOMMU_INFO_CAPS) && info->cap_offset) {
		uint32_t off = info->cap_offset;

		for (int guard = 0; off && off + sizeof(struct vfio_info_cap_header) <= sz &&
				    guard < 64; guard++) {
			struct vfio_info_cap_header *h = (void *)((uint8_t *)info + off);

			if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
				struct vfio_iommu_type1_info_cap_iova_range *r = (void *)h;

				for (uint32_t i = 0; i < r->nr_iovas && c->nranges < 16; i++) {
					if ((uint8_t *)&r->iova_ranges[i + 1] >
					    (uint8_t *)info + sz)
						break;
					c->ranges[c->nranges].start = r->iova_ranges[i].start;
					c->ranges[c->nranges].end = r->iova_ranges[i].end;
					c->nranges++;
				}
			}
			off = h->next;
		}
	}
	free(info);
	if (c->nranges == 0) {
		/* Old kernel: assume a 39-bit space without the x86 MSI window. */
		c->ranges[0].start = 0;
		c->ranges[0].end = 0xfedfffffULL;
		c->ranges[1].start = 0xfef00000ULL;
		c->ranges[1].end = (1ULL << 39) - 1;
		c->nranges = 2;
	}
	/* The driver's own area: the top of the highest range. */
	unsigned hi = 0;

	for (unsigned i = 1; i < c->nranges; i++)
		if (c->ranges[i].end > c->ranges[hi].end)
			hi = i;
	uint64_t end = c->ranges[hi].end;

	if (end < NVME_INTERNAL_IOVA ||
	    ((end + 1 - NVME_INTERNAL_IOVA) & ~(uint64_t)0x1fffff) < c->ranges[hi].start)
		return fail(err, errlen, -ERANGE, "%s: IOMMU range too small", c->bdf);
	c->info.internal_iova = (end + 1 - NVME_INTERNAL_IOVA) & ~(uint64_t)0x1fffff;
	c->internal_next = c->info.internal_iova;
	c->internal_end = c->info.internal_iova + NVME_INTERNAL_IOVA;
	return 0;
}

static int setup_vfio(struct nvme_ctrl *c, char *err, size_t errlen)
{
	char path[320], link[256], buf[64];
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	ssize_t n;
	const char *group;
	uint16_t cmd;
	int ret;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s", c->bdf);
	if (access(path, F_OK))
		return fail(err, errlen, -ENODEV, "%s: no such PCI device", c->bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", c->bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return fail(err, errlen, -ENODEV,
			    "%s: not bound to vfio-pci (no driver); bind it: echo vfio-pci > "
			    "/sys/bus/pci/devices/%s/driver_override; echo %s > "
			    "/sys/bus/pci/drivers_probe", c->bdf, c->bdf, c->bdf);
	link[n] = 0;
	if (strcmp(strrchr(link, '/') ? strrchr(link, '/') + 1 : link, "vfio-pci"))
		return fail(err, errlen, -EBUSY,
			    "%s: bound to driver %s, not vfio-pci; unbind it and: echo "
			    "vfio-pci > /sys/bus/pci/devices/%s/driver_override; echo %s > "
			    "/sys/bus/pci/drivers_probe", c->bdf,
			    strrchr(link, '/') ? strrchr(link, '/') + 1 : link, c->bdf, c->bdf);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", c->bdf);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return fail(err, errlen, -ENODEV,
			    "%s: no IOMMU group (is the IOMMU enabled? intel_iommu=on)", c->bdf);
	link[n] = 0;
	group = strrchr(link, '/') ? strrchr(link, '/') + 1 : link;

	c->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (c->container < 0)
		return fail(err, errlen, -errno, "/dev/vfio/vfio: %s (is the vfio module loaded?)",
			    strerror(errno));
	if (ioctl(c->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION)
		return fail(err, errlen, -EINVAL, "/dev/vfio/vfio: unknown VFIO API version");
	if (ioctl(c->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0)
		return fail(err, errlen, -EINVAL,
			    "/dev/vfio/vfio: no type1 IOMMU (load vfio_iommu_type1)");
	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	c->group = open(path, O_RDWR | O_CLOEXEC);
	if (c->group < 0)
		return fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (ioctl(c->group, VFIO_GROUP_GET_STATUS, &gs) < 0)
		return fail(err, errlen, -errno, "%s: VFIO_GROUP_GET_STATUS: %s", path,
			    strerror(errno));
	if (!(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		return fail(err, errlen, -EBUSY,
			    "IOMMU group %s is not viable: bind every device in "
			    "/sys/kernel/iommu_groups/%s/devices to vfio-pci (or unbind it)",
			    group, group);
	if (ioctl(c->group, VFIO_GROUP_SET_CONTAINER, &c->container) < 0)
		return fail(err, errlen, -errno, "%s: VFIO_GROUP_SET_CONTAINER: %s", path,
			    strerror(errno));
	if (ioctl(c->container, VFIO_SET_IOMMU,
		  ioctl(c->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0
			  ? VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU) < 0)
		return fail(err, errlen, -errno, "VFIO_SET_IOMMU: %s", strerror(errno));
	ret = setup_iommu_info(c, err, errlen);
	if (ret)
		return ret;
	c->device = ioctl(c->group, VFIO_GROUP_GET_DEVICE_FD, c->bdf);
	if (c->device < 0)
		return fail(err, errlen, -errno, "%s: VFIO_GROUP_GET_DEVICE_FD: %s "
			    "(device in use?)", c->bdf, strerror(errno));

	ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(c->device, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0)
		return fail(err, errlen, -errno, "%s: config region: %s", c->bdf,
			    strerror(errno));
	c->cfg_off = ri.offset;
	if (pread(c->device, buf, 4, c->cfg_off + PCI_CLASS_REVISION) == 4) {
		uint32_t cls = get_le32(buf);

		if ((cls >> 8) != 0x010802)
			return fail(err, errlen, -ENODEV, "%s: not an NVMe controller "
				    "(class 0x%06x)", c->bdf, cls >> 8);
	}
	if (pread(c->device, &cmd, 2, c->cfg_off + PCI_COMMAND) != 2)
		return fail(err, errlen, -EIO, "%s: cannot read the command register", c->bdf);
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	cmd &= ~PCI_COMMAND_INTX_DISABLE;
	if (pwrite(c->device, &cmd, 2, c->cfg_off + PCI_COMMAND) != 2)
		return fail(err, errlen, -EIO, "%s: cannot enable bus mastering", c->bdf);

	memset(&ri, 0, sizeof(ri));
	ri.argsz = sizeof(ri);
	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(c->device, VFIO_DEVICE_GET_REGION_INFO, &ri) < 0)
		return fail(err, errlen, -errno, "%s: BAR0: %s", c->bdf, strerror(errno));
	if (ri.size < 0x2000)
		return fail(err, errlen, -ENODEV, "%s: BAR0 too small (%llu bytes)", c->bdf,
			    (unsigned long long)ri.size);
	c->bar_off = ri.offset;
	c->bar_size = ri.size;
	if (ri.flags & VFIO_REGION_INFO_FLAG_MMAP) {
		void *p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED,
			       c->device, ri.offset);

		if (p == MAP_FAILED) {
			/* The MSI-X table may be excluded: map the registers
			 * and the first doorbells only. */
			c->bar_size = 0x2000;
			p = mmap(NULL, c->bar_size, PROT_READ | PROT_WRITE, MAP_SHARED,
				 c->device, ri.offset);
		}
		if (p != MAP_FAILED)
			c->bar = p;
		else
			c->bar_size = ri.size;
	}
	return 0;
}

static int setup_irqs(struct nvme_ctrl *c, unsigned want, char *err, size_t errlen)
{
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_MSIX_IRQ_INDEX };
	struct vfio_irq_set *set;
	size_t sz;

	if (ioctl(c->device, VFIO_DEVICE_GET_IRQ_INFO, &ii) < 0 || ii.count == 0)
		return fail(err, errlen, -ENODEV, "%s: no MSI-X", c->bdf);
	c->nvec = want < ii.count ? want : ii.count;
	for (unsigned i = 0; i < c->nvec; i++) {
		c->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (c->efd[i] < 0)
			return fail(err, errlen, -errno, "eventfd: %s", strerror(errno));
	}
	sz = sizeof(*set) + c->nvec * sizeof(int32_t);
	set = calloc(1, sz);
	if (!set)
		return fail(err, errlen, -ENOMEM, "out of memory");
	set->argsz = sz;
	set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = 0;
	set->count = c->nvec;
	memcpy(set->data, c->efd, c->nvec * sizeof(int32_t));
	if (ioctl(c->device, VFIO_DEVICE_SET_IRQS, set) < 0) {
		int e = errno;

		free(set);
		return fail(err, errlen, -e, "%s: VFIO_DEVICE_SET_IRQS (MSI-X x%u): %s",
			    c->bdf, c->nvec, strerror(e));
	}
	free(set);
	c->irqs_set = true;
	c->info.vectors = c->nvec;
	return 0;
}

static void copy_str(char *dst, const uint8_t *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = 0;
	for (size_t i = n; i > 0 && (dst[i - 1] == ' ' || dst[i - 1] == 0); i--)
		dst[i - 1] = 0;
}

static int enable_ctrl(struct nvme_ctrl *c, char *err, size_t errlen)
{
	int ret;
	uint32_t cc;

	c->cap = rd64(c, REG_CAP);
	if (c->cap == ~0ULL)
		return fail(err, errlen, -ENODEV, "%s: BAR0 reads all-ones", c->bdf);
	c->info.mqes = (c->cap & 0xffff) + 1;
	c->info.dstrd = (c->cap >> 32) & 0xf;
	c->to_ms = ((c->cap >> 24) & 0xff) * 500;
	if (c->to_ms == 0)
		c->to_ms = 500;
	if (!((c->cap >> 37) & 1))
		return fail(err, errlen, -ENODEV, "%s: NVM command set not supported", c->bdf);
	if (((c->cap >> 48) & 0xf) != 0)
		return fail(err, errlen, -ENODEV, "%s: 4 KiB pages not supported (MPSMIN)",
			    c->bdf);
	cc = rd32(c, REG_CC);
	if (cc & CC_EN) {
		wr32(c, REG_CC, cc & ~CC_EN);
	}
	ret = wait_csts(c, CSTS_RDY, 0, c->to_ms + 1000);
	if (ret)
		return fail(err, errlen, ret, "%s: controller did not become idle "
			    "(CSTS.RDY stuck at 1): %s", c->bdf, strerror(-ret));

	ret = queue_alloc(c, &c->admin, 0, NVME_ADMIN_DEPTH, false);
	if (ret)
		return fail(err, errlen, ret, "%s: admin queue memory: %s", c->bdf,
			    strerror(-ret));
	wr32(c, REG_INTMS, ~0u); /* no pin interrupts; MSI-X is per vector */
	wr32(c, REG_AQA, ((NVME_ADMIN_DEPTH - 1) << 16) | (NVME_ADMIN_DEPTH - 1));
	wr64(c, REG_ASQ, c->admin.sq_iova);
	wr64(c, REG_ACQ, c->admin.cq_iova);
	wr32(c, REG_CC, CC_IOCQES | CC_IOSQES | CC_EN);
	ret = wait_csts(c, CSTS_RDY, CSTS_RDY, c->to_ms + 1000);
	if (ret)
		return fail(err, errlen, ret, "%s: controller did not become ready: %s",
			    c->bdf, ret == -EIO ? "fatal status (CSTS.CFS)" : strerror(-ret));
	c->enabled = true;
	return 0;
}

static int identify(struct nvme_ctrl *c, uint32_t nsid, char *err, size_t errlen)
{
	struct nvme_sqe cmd;
	const uint8_t *id;
	uint8_t flbas, lbads;
	uint32_t lbaf;
	int ret;

	c->idbuf = dma_alloc(c, NVME_PAGE, &c->idbuf_iova, &ret);
	if (!c->idbuf)
		return fail(err, errlen, ret, "%s: identify buffer: %s", c->bdf, strerror(-ret));
	id = c->idbuf;
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = ADM_IDENTIFY;
	cmd.prp1 = c->idbuf_iova;
	cmd.cdw10 = 1; /* CNS 1: controller */
	ret = admin_cmd(c, &cmd, NULL);
	if (ret)
		return fail(err, errlen, ret, "%s: identify controller: %s", c->bdf,
			    strerror(-ret));
	c->info.vid = get_le16(id);
	copy_str(c->info.sn, id + 4, 20);
	copy_str(c->info.mn, id + 24, 40);
	copy_str(c->info.fr, id + 64, 8);
	c->info.mdts = id[77];
	c->info.nn = get_le32(id + 516);
	c->info.oncs = get_le16(id + 520);
	c->info.vwc = id[525] & 1;
	c->info.dsm = c->info.oncs & (1 << 2);
	c->info.write_zeroes = c->info.oncs & (1 << 3);
	c->info.max_xfer = NVME_MAX_XFER;
	if (c->info.mdts && c->info.mdts < 20 &&
	    (NVME_PAGE << c->info.mdts) < c->info.max_xfer)
		c->info.max_xfer = NVME_PAGE << c->info.mdts;

	if (nsid == 0 || nsid > c->info.nn)
		return fail(err, errlen, -ENOENT, "%s: namespace %u missing (controller has "
			    "%u)", c->bdf, nsid, c->info.nn);
	memset(c->idbuf, 0, NVME_PAGE);
	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = ADM_IDENTIFY;
	cmd.nsid = nsid;
	cmd.prp1 = c->idbuf_iova;
	cmd.cdw10 = 0; /* CNS 0: namespace */
	ret = admin_cmd(c, &cmd, NULL);
	if (ret)
		return fail(err, errlen, -ENOENT, "%s: namespace %u missing (identify failed)",
			    c->bdf, nsid);
	c->info.nsze = get_le64(id);
	if (c->info.nsze == 0)
		return fail(err, errlen, -ENOENT, "%s: namespace %u missing (inactive)",
			    c->bdf, nsid);
	flbas = id[26] & 0xf;
	if (flbas > id[25])
		return fail(err, errlen, -EINVAL, "%s: namespace %u: bad FLBAS", c->bdf, nsid);
	lbaf = get_le32(id + 128 + 4 * flbas);
	lbads = (lbaf >> 16) & 0xff;
	if ((lbaf & 0xffff) != 0)
		return fail(err, errlen, -EINVAL, "%s: namespace %u: formatted with metadata "
			    "(%u bytes per block); not supported", c->bdf, nsid, lbaf & 0xffff);
	if (lbads < 9 || lbads > 12)
		return fail(err, errlen, -EINVAL, "%s: namespace %u: block size 2^%u not "
			    "supported (512..4096)", c->bdf, nsid, lbads);
	c->info.lba_size = 1u << lbads;
	c->info.nsid = nsid;
	return 0;
}

static int create_io_queues(struct nvme_ctrl *c, unsigned nq, unsigned depth,
			    char *err, size_t errlen)
{
	struct nvme_sqe cmd;
	uint32_t dw0 = 0;
	int ret;

	memset(&cmd, 0, sizeof(cmd));
	cmd.opc = ADM_SET_FEAT;
	cmd.cdw10 = FEAT_NUM_QUEUES;
	cmd.cdw11 = ((nq - 1) << 16) | (nq - 1);
	ret = admin_cmd(c, &cmd, &dw0);
	if (ret)
		return fail(err, errlen, ret, "%s: set number of queues: %s", c->bdf,
			    strerror(-ret));
	if ((dw0 & 0xffff) + 1 < nq)
		nq = (dw0 & 0xffff) + 1;
	if ((dw0 >> 16) + 1 < nq)
		nq = (dw0 >> 16) + 1;
	/* One vector per I/O queue (vector 0 is the admin queue's) when the
	 * device has enough; otherwise fewer queues. */
	if (c->nvec > 1 && nq > c->nvec - 1)
		nq = c->nvec - 1;
	for (unsigned i = 0; i < nq; i++) {
		struct queue *q = &c->io[i];
		unsigned qid = i + 1;
		unsigned vec = c->nvec > 1 ? qid : 0;

		if (nvme_doorbell_offset(c->info.dstrd, qid, true) + 4 > c->bar_size)
			return fail(err, errlen, -ENOSPC, "%s: doorbell of queue %u outside "
				    "the mapped BAR", c->bdf, qid);
		ret = queue_alloc(c, q, qid, depth, true);
		if (ret)
			return fail(err, errlen, ret, "%s: queue %u memory: %s", c->bdf, qid,
				    strerror(-ret));
		q->efd = c->efd[vec];
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = ADM_CREATE_CQ;
		cmd.prp1 = q->cq_iova;
		cmd.cdw10 = ((depth - 1) << 16) | qid;
		cmd.cdw11 = (vec << 16) | 0x2 | 0x1; /* IEN, PC */
		ret = admin_cmd(c, &cmd, NULL);
		if (ret)
			return fail(err, errlen, ret, "%s: create I/O CQ %u: %s", c->bdf, qid,
				    strerror(-ret));
		memset(&cmd, 0, sizeof(cmd));
		cmd.opc = ADM_CREATE_SQ;
		cmd.prp1 = q->sq_iova;
		cmd.cdw10 = ((depth - 1) << 16) | qid;
		cmd.cdw11 = (qid << 16) | 0x1; /* CQID, PC */
		ret = admin_cmd(c, &cmd, NULL);
		if (ret)
			return fail(err, errlen, ret, "%s: create I/O SQ %u: %s", c->bdf, qid,
				    strerror(-ret));
		c->info.nqueues = i + 1;
	}
	c->info.qdepth = depth;
	return 0;
}

int nvme_open(struct nvme_ctrl **out, const char *bdf, const struct nvme_open_opts *o,
	      char *err, size_t errlen)
{
	struct nvme_ctrl *c = calloc(1, sizeof(*c));
	unsigned nq = o->nqueues ? o->nqueues : 1, depth = o->qdepth ? o->qdepth : 64;
	int ret;

	*out = NULL;
	if (!c)
		return fail(err, errlen, -ENOMEM, "out of memory");
	c->container = c->group = c->device = -1;
	for (unsigned i = 0; i <= NVME_MAX_QUEUES; i++)
		c->efd[i] = -1;
	/* Accept "bb:dd.f" as domain 0000. */
	if (strlen(bdf) == 7 && bdf[2] == ':')
		snprintf(c->bdf, sizeof(c->bdf), "0000:%s", bdf);
	else
		snprintf(c->bdf, sizeof(c->bdf), "%s", bdf);
	if (nq > NVME_MAX_QUEUES)
		nq = NVME_MAX_QUEUES;
	if (depth < 4)
		depth = 4;
	if (depth > 1024)
		depth = 1024;

	ret = setup_vfio(c, err, errlen);
	if (!ret)
		ret = enable_ctrl(c, err, errlen);
	if (!ret && depth > c->info.mqes)
		depth = c->info.mqes;
	if (!ret)
		ret = setup_irqs(c, nq + 1, err, errlen);
	if (!ret)
		ret = identify(c, o->nsid ? o->nsid : 1, err, errlen);
	if (!ret)
		ret = create_io_queues(c, nq, depth, err, errlen);
	if (ret) {
		nvme_close(c);
		return ret;
	}
	*out = c;
	return 0;
}

const struct nvme_info *nvme_get_info(const struct nvme_ctrl *c)
{
	return &c->info;
}

int nvme_queue_fd(const struct nvme_ctrl *c, unsigned q)
{
	return q < c->info.nqueues ? c->io[q].efd : -1;
}

unsigned nvme_inflight(const struct nvme_ctrl *c, unsigned q)
{
	return q < c->info.nqueues ? c->io[q].nslots - c->io[q].nfree : 0;
}

/* ---- I/O ---------------------------------------------------------------- */

static uint64_t iov_total(const struct iovec *iov, unsigned n)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < n; i++)
		t += iov[i].iov_len;
	return t;
}

int nvme_submit(struct nvme_ctrl *c, unsigned qi, const struct nvme_req *r, void *tag)
{
	struct queue *q;
	struct nvme_sqe cmd;
	struct slot *s;
	uint16_t cid;

	if (qi >= c->info.nqueues)
		return -EINVAL;
	q = &c->io[qi];
	if (r->op != NVME_OP_FLUSH &&
	    (r->nlb == 0 || r->slba >= c->info.nsze || r->nlb > c->info.nsze - r->slba))
		return -EINVAL;
	if (r->op == NVME_OP_WRITE_ZEROES && (!c->info.write_zeroes || r->nlb > 65536))
		return c->info.write_zeroes ? -EINVAL : -EOPNOTSUPP;
	if (r->op == NVME_OP_DEALLOCATE && !c->info.dsm)
		return -EOPNOTSUPP;
	if (q->nfree == 0)
		return -EAGAIN;

	memset(&cmd, 0, sizeof(cmd));
	cmd.nsid = c->info.nsid;
	cmd.cdw10 = (uint32_t)r->slba;
	cmd.cdw11 = (uint32_t)(r->slba >> 32);
	cid = q->free[q->nfree - 1];
	s = &q->slots[cid];
	memset(s, 0, sizeof(*s));

	switch (r->op) {
	case NVME_OP_READ:
	case NVME_OP_WRITE: {
		uint64_t len = (uint64_t)r->nlb * c->info.lba_size;
		struct nvme_seg seg[64];
		uint64_t *list = (uint64_t *)(q->prp + (uint64_t)cid * NVME_PAGE);
		uint64_t list_iova = q->prp_iova + (uint64_t)cid * NVME_PAGE;
		bool direct = r->niov <= 64;
		int n;

		if (len > c->info.max_xfer || r->nlb > 65536 ||
		    iov_total(r->iov, r->niov) != len)
			return -EINVAL;
		for (unsigned i = 0; direct && i < r->niov; i++) {
			direct = host_to_iova(c, r->iov[i].iov_base, r->iov[i].iov_len,
					      &seg[i].iova);
			seg[i].len = r->iov[i].iov_len;
		}
		n = direct ? nvme_build_prp(seg, r->niov, &cmd.prp1, &cmd.prp2, list,
					    NVME_PAGE / 8, list_iova)
			   : -1;
		if (n < 0) {
			/* Bounce through this slot's buffer. */
			uint8_t *b = q->bounce + (uint64_t)cid * c->info.max_xfer;
			struct nvme_seg one = {
				q->bounce_iova + (uint64_t)cid * c->info.max_xfer, (uint32_t)len,
			};

			if (r->op == NVME_OP_WRITE) {
				uint64_t off = 0;

				for (unsigned i = 0; i < r->niov; i++) {
					memcpy(b + off, r->iov[i].iov_base, r->iov[i].iov_len);
					off += r->iov[i].iov_len;
				}
			} else {
				s->bounce_read = true;
				s->iov = r->iov;
				s->niov = r->niov;
			}
			if (nvme_build_prp(&one, 1, &cmd.prp1, &cmd.prp2, list,
					   NVME_PAGE / 8, list_iova) < 0)
				return -EINVAL;
		}
		cmd.opc = r->op == NVME_OP_READ ? NVM_READ : NVM_WRITE;
		cmd.cdw12 = (r->nlb - 1) | ((r->flags & NVME_REQ_FUA) ? 1u << 30 : 0);
		s->len = len;
		break;
	}
	case NVME_OP_FLUSH:
		cmd.opc = NVM_FLUSH;
		cmd.cdw10 = cmd.cdw11 = 0;
		break;
	case NVME_OP_WRITE_ZEROES:
		cmd.opc = NVM_WZEROES;
		cmd.cdw12 = (r->nlb - 1) | ((r->flags & NVME_REQ_DEAC) ? 1u << 25 : 0) |
			    ((r->flags & NVME_REQ_FUA) ? 1u << 30 : 0);
		break;
	case NVME_OP_DEALLOCATE: {
		uint8_t *range = q->prp + (uint64_t)cid * NVME_PAGE;
		put_le32(range, 0);             /* context attributes */
		put_le32(range + 4, r->nlb);    /* length in blocks */
		put_le64(range + 8, r->slba);
		cmd.opc = NVM_DSM;
		cmd.prp1 = q->prp_iova + (uint64_t)cid * NVME_PAGE;
		cmd.cdw10 = 0;      /* one range */
		cmd.cdw11 = 1 << 2; /* AD: deallocate */
		break;
	}
	default:
		return -EINVAL;
	}
	q->nfree--;
	s->busy = true;
	s->tag = tag;
	cmd.cid = cid;
	sq_push(c, q, &cmd);
	return 0;
}

int nvme_reap(struct nvme_ctrl *c, unsigned qi, nvme_done_fn done, void *arg)
{
	struct queue *q;
	struct nvme_cqe cqe;
	int n = 0;

	if (qi >= c->info.nqueues)
		return 0;
	q = &c->io[qi];
	while (cq_pop(c, q, &cqe)) {
		struct slot *s;
		int status = cqe.status & 0x7ff; /* SCT and SC */

		n++;
		if (cqe.cid >= q->nslots || !q->slots[cqe.cid].busy)
			continue; /* not ours: ignore */
		s = &q->slots[cqe.cid];
		if (s->bounce_read && status == 0) {
			const uint8_t *b = q->bounce + (uint64_t)cqe.cid * c->info.max_xfer;
			uint64_t off = 0;

			for (unsigned i = 0; i < s->niov; i++) {
				memcpy(s->iov[i].iov_base, b + off, s->iov[i].iov_len);
				off += s->iov[i].iov_len;
			}
		}
		s->busy = false;
		q->free[q->nfree++] = cqe.cid;
		done(s->tag, status, arg);
	}
	if (n)
		wr32(c, q->cq_db, q->cq_head);
	return n;
}

/* ---- shutdown ----------------------------------------------------------- */

void nvme_close(struct nvme_ctrl *c)
{
	if (!c)
		return;
	c->closing = true;
	if (c->enabled) {
		struct nvme_sqe cmd;
		uint32_t csts = rd32(c, REG_CSTS);
		bool healthy = csts != ~0u && !(csts & CSTS_CFS);

		/* Delete I/O queues, then a normal shutdown, then disable. A
		 * controller in fatal state is only disabled. */
		for (unsigned i = healthy ? c->info.nqueues : 0; i > 0; i--) {
			memset(&cmd, 0, sizeof(cmd));
			cmd.opc = ADM_DELETE_SQ;
			cmd.cdw10 = i;
			admin_cmd(c, &cmd, NULL);
			memset(&cmd, 0, sizeof(cmd));
			cmd.opc = ADM_DELETE_CQ;
			cmd.cdw10 = i;
			admin_cmd(c, &cmd, NULL);
		}
		if (healthy) {
			wr32(c, REG_CC, (rd32(c, REG_CC) & ~(3u << 14)) | CC_SHN_NORMAL);
			wait_csts(c, CSTS_SHST_MASK, CSTS_SHST_DONE, c->to_ms + 1000);
		}
		wr32(c, REG_CC, rd32(c, REG_CC) & ~CC_EN);
		wait_csts(c, CSTS_RDY, 0, c->to_ms + 1000);
	}
	if (c->irqs_set) {
		struct vfio_irq_set set = {
			.argsz = sizeof(set),
			.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_PCI_MSIX_IRQ_INDEX,
			.start = 0,
			.count = 0,
		};

		ioctl(c->device, VFIO_DEVICE_SET_IRQS, &set);
	}
	if (c->device >= 0 && c->cfg_off) {
		uint16_t cmd;

		if (pread(c->device, &cmd, 2, c->cfg_off + PCI_COMMAND) == 2) {
			cmd &= ~PCI_COMMAND_MASTER;
			if (pwrite(c->device, &cmd, 2, c->cfg_off + PCI_COMMAND) != 2)
				cmd = 0;
		}
	}
	for (unsigned i = c->nmap; i > 0; i--) {
		struct dma_buf *m = &c->map[i - 1];
		struct vfio_iommu_type1_dma_unmap u = {
			.argsz = sizeof(u), .iova = m->iova, .size = m->len,
		};

		ioctl(c->container, VFIO_IOMMU_UNMAP_DMA, &u);
		if (m->internal)
			munmap(m->host, m->len);
	}
	for (unsigned i = 0; i < NVME_MAX_QUEUES; i++) {
		free(c->io[i].slots);
		free(c->io[i].free);
	}
	if (c->bar)
		munmap((void *)c->bar, c->bar_size);
	for (unsigned i = 0; i <= NVME_MAX_QUEUES; i++)
		if (c->efd[i] >= 0)
			close(c->efd[i]);
	if (c->device >= 0)
		close(c->device);
	if (c->group >= 0)
		close(c->group);
	if (c->container >= 0)
		close(c->container);
	free(c);
}
