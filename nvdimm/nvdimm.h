/*
 * nvdimm.h - the KVM-free core of pmvm's emulated NVDIMMs.
 *
 * Everything here works on plain memory and byte buffers so the unit tests
 * can drive it without a VM:
 *   - option parsing for --nvdimm (opts.c)
 *   - opening, validating and mapping the backing file or device DAX (backend.c)
 *   - the NFIT bytes (nfit.c)
 *   - the AML of the NVDIMM root device and its children (aml_nvdimm.c)
 *   - the DSM request decoder and the label store (dsm.c)
 *   - bad ranges, ARS and the sidecar record's text (ars.c)
 * module.c is the thin glue that connects these to the VM (vmm.h).
 * docs/nvdimm.md describes the guest-visible model and the DSM page protocol.
 *
 * None of these functions print or exit; errors come back as text in err.
 */
#ifndef PMVM_NVDIMM_H
#define PMVM_NVDIMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml;

#define NVDIMM_MAX          64               /* --nvdimm occurrences */
#define NVDIMM_SIZE_ALIGN   (16ULL << 20)    /* guest range: Linux's region alignment */
#define NVDIMM_LABEL_MIN    (128ULL << 10)   /* smallest non-zero label area */
#define NVDIMM_LABEL_MAX    (16ULL << 20)
#define NVDIMM_LABEL_DEFAULT NVDIMM_LABEL_MIN
#define NVDIMM_PAGE         4096u            /* DSM shared page and flush hint page */

/* ---- --nvdimm PATH[,format=raw|pcow][,size=][,label-size=][,readonly=on][,share=on|off][,unarmed=on] */
enum nvdimm_format { NVDIMM_FMT_AUTO, NVDIMM_FMT_RAW, NVDIMM_FMT_PCOW };

struct nvdimm_opts {
	char *path;          /* malloc'd */
	enum nvdimm_format format; /* AUTO: pcow_probe() decides */
	uint64_t size;       /* guest-visible bytes; 0: take it from the existing file */
	uint64_t label_size; /* bytes of label storage after the guest range */
	bool label_size_set; /* label-size= was given (pcow's default is 0) */
	bool readonly;       /* open read-only; guest writes are discarded */
	bool share;          /* MAP_SHARED (default) vs MAP_PRIVATE */
	bool unarmed;        /* NFIT "not armed": Linux makes the region read-only */
	/* Not an option: set by the VMM before opening. The VM can log guest
	 * writes to the DIMM's memslot (vm_dirty_log_supported), so a writable
	 * pcow image may take writes without a fault (docs/pcow-runtime.md,
	 * "Writes without a fault"). */
	bool dirty_log;
};

/* Parse one --nvdimm value. On error returns -1 with one line in err naming
 * the bad value (the caller adds the option name). */
int nvdimm_parse_opts(const char *arg, struct nvdimm_opts *o, char *err, size_t errlen);
void nvdimm_opts_free(struct nvdimm_opts *o);
/* A size in the project's grammar (opt_parse_size): 0, or -1 if malformed
 * or overflowing. */
int nvdimm_parse_size(const char *s, uint64_t *out);

/* ---- Backing store ------------------------------------------------------ */
enum nvdimm_kind { NVDIMM_FILE, NVDIMM_DEVDAX };

struct nvdimm_backing {
	int fd;
	enum nvdimm_kind kind;
	uint8_t *map;        /* whole mapping: guest range, then the label area */
	uint64_t map_len;
	uint64_t size;       /* guest-visible bytes, at map[0] */
	uint8_t *label;      /* map + label_off, or NULL when label_size is 0 */
	uint64_t label_size;
	bool readonly, shared;
	bool map_sync;       /* MAP_SYNC mapping (file on a DAX filesystem) */
	bool created;        /* we created the file */
	struct nvdimm_pcow *pcow; /* a pcow image (backend-pcow.c), else NULL */
};

/* Open (creating a regular file if missing and size= given), validate and
 * map PATH according to o. A regular file holds size + label_size bytes;
 * a device DAX holds the guest range first and the label area in its last
 * label_size bytes. Returns 0, or -1 with a sentence in err saying why the
 * path is unusable. */
int nvdimm_backing_open(struct nvdimm_backing *b, const struct nvdimm_opts *o,
			char *err, size_t errlen);
/* Make every store to the mapping durable: fdatasync for files, a store
 * fence for device DAX (its stores reach the persistence domain directly).
 * Does nothing for a private or read-only mapping. Returns 0 or -errno. */
int nvdimm_backing_flush(struct nvdimm_backing *b);
/* Make [off, off+len) of the label area durable (msync). */
int nvdimm_backing_sync_label(struct nvdimm_backing *b, uint64_t off, uint64_t len);
void nvdimm_backing_close(struct nvdimm_backing *b);

/* ---- pcow images (backend-pcow.c, docs/pcow-runtime.md) -------------------
 * nvdimm_backing_open() hands a pcow image here; nvdimm_backing_flush() and
 * _close() dispatch on b->pcow. A fault thread resolves first-touch and
 * copy-on-write faults (userfaultfd) and a pre-allocator keeps a reserve. */
/* Fault latencies: a fixed histogram (no allocation where faults are
 * handled). Bucket b < 8 holds b ns; above, 8 buckets per power of two
 * (12.5 % wide); the last bucket takes everything from 2^40 ns up. */
#define NVDIMM_LAT_BUCKETS 312
struct nvdimm_lat {
	uint64_t count, max_ns;
	uint32_t b[NVDIMM_LAT_BUCKETS];
};
void nvdimm_lat_add(struct nvdimm_lat *h, uint64_t ns);
/* The upper bound of the bucket holding the pct-th percentile (1..100),
 * capped at max_ns; 0 when empty. */
uint64_t nvdimm_lat_percentile(const struct nvdimm_lat *h, unsigned pct);

struct nvdimm_pcow_stats {
	uint64_t first_touch_faults; /* writes to holes: clusters allocated */
	uint64_t cow_faults;         /* writes to snapshot/base clusters: copied */
	uint64_t read_faults;        /* reads resolved by a copy (nothing allocated) */
	uint64_t max_write_fault_ns;
	uint64_t mappings;           /* mmap()s of image clusters into the range */
	uint64_t mappings_at_start;
	uint64_t flushes;
	uint64_t reserve_refills, reserve_errors;
	uint64_t allocated_clusters; /* pcow_get_info's count */
	uint64_t cluster_size;
	uint64_t snapshots;          /* live snapshots taken (snapshot-create) */
	uint64_t chunks;             /* guest chunks with a file range (VMA bound) */
	uint64_t chunk_commits;      /* pending chunk slots given to the image */
	uint64_t views;              /* spans whose view was mapped (faultless writes) */
	uint64_t moves;              /* clusters moved into the image after such writes */
	bool faultless;              /* writes without a fault (dirty log) in use */
	struct nvdimm_lat ft_lat, cow_lat; /* first-touch and copy-on-write faults */
	struct nvdimm_lat flush_lat; /* every flush (guest, snapshot, exit) */
	unsigned reserved;           /* clusters held in reserve now */
	bool wp;                     /* userfaultfd write-protect in use */
	bool readonly;
	bool failed;                 /* a fault could not be resolved */
};
int nvdimm_pcow_open(struct nvdimm_backing *b, const struct nvdimm_opts *o,
		     char *err, size_t errlen);
int nvdimm_pcow_flush(struct nvdimm_backing *b);
/* A guest label write landed in b->label[off, off+len): make it durable in
 * the image (0 or -errno; on error b->label shows the image's bytes). */
int nvdimm_pcow_sync_label(struct nvdimm_backing *b, uint64_t off, uint64_t len);
/* The image's bad-range record (docs/pcow-format.md) as a DIMM's list:
 * read at start, replaced whole (durably) on every change. -1 with err. */
struct nvdimm_badlist;
int nvdimm_pcow_bad_load(struct nvdimm_backing *b, struct nvdimm_badlist *l,
			 char *err, size_t errlen);
int nvdimm_pcow_bad_save(struct nvdimm_backing *b, const struct nvdimm_badlist *l,
			 char *err, size_t errlen);
void nvdimm_pcow_close(struct nvdimm_backing *b);
/* fn is called (from the fault thread, once) when a fault cannot be
 * resolved: the VM must stop. Later faults are resolved with zeros outside
 * the image so vCPUs reach the exit; later flushes fail. */
void nvdimm_pcow_set_fatal(struct nvdimm_backing *b,
			   void (*fn)(void *opaque, const char *msg), void *opaque);
void nvdimm_pcow_get_stats(struct nvdimm_backing *b, struct nvdimm_pcow_stats *st);

/* Writes without a fault (docs/pcow-runtime.md): the DIMM wants its memslot
 * dirty-logged (VM_MEM_LOG_DIRTY) and, once the slot exists, these from the
 * VMM: the slot's dirty log ORed into a bitmap of size/4096 bits, re-arming
 * it (after a live snapshot), and begin/end of a remapping under running
 * vCPUs (vm_mem_change_begin/end). */
struct nvdimm_pcow_host {
	int (*dirty_log)(void *opaque, uint64_t *bitmap);
	int (*rearm)(void *opaque);
	void (*change)(void *opaque, bool begin);
	void *opaque;
};
bool nvdimm_pcow_wants_dirty_log(const struct nvdimm_backing *b);
void nvdimm_pcow_set_host(struct nvdimm_backing *b, const struct nvdimm_pcow_host *h);

/* Live snapshots (docs/pcow-runtime.md, "Live snapshots"). check: the
 * refusals of create that need no pause (bad or used name, read-only, a
 * failed DIMM), so they cost the guest nothing. The caller has the vCPUs
 * paused for create. create: holds the fault handler off, makes every
 * guest store so far durable (the flush), turns every file mapping of the
 * active layer back into the placeholder so later stores fault into
 * copy-on-write, and creates the snapshot; us[] gets the microseconds spent flushing, unmapping and
 * creating the snapshot (the image's metadata commit). delete refuses the current snapshot (the active
 * layer's parent). list fills a malloc'd array (*out, free it) and returns
 * the count. Each returns -1 with a sentence in err on failure. */
struct pcow_snapshot;
int nvdimm_pcow_snapshot_check(struct nvdimm_backing *b, const char *name,
			       char *err, size_t errlen);
int nvdimm_pcow_snapshot_create(struct nvdimm_backing *b, const char *name,
				uint64_t us[3], char *err, size_t errlen);
int nvdimm_pcow_snapshot_delete(struct nvdimm_backing *b, const char *name,
				char *err, size_t errlen);
int nvdimm_pcow_snapshot_list(struct nvdimm_backing *b, struct pcow_snapshot **out,
			      char *err, size_t errlen);
/* Host mappings (lines of /proc/self/maps) overlapping [start, start+len),
 * or -1 if the file cannot be read. */
long nvdimm_count_vmas(const void *start, uint64_t len);

/* ---- Guest-visible description ------------------------------------------ */
struct nvdimm_desc {
	uint32_t handle;     /* NFIT device handle == _ADR; index + 1 */
	uint64_t gpa, size;  /* SPA range */
	uint64_t flush_gpa;  /* flush hint address */
	uint64_t label_size; /* 0: no label methods */
	bool unarmed;        /* NFIT memdev flag NOT_ARMED */
};

#define NVDIMM_NFIT_SPA_LEN   56
#define NVDIMM_NFIT_MEMDEV_LEN 48
#define NVDIMM_NFIT_DCR_LEN   80
#define NVDIMM_NFIT_FLUSH_LEN 24  /* one hint */
#define NVDIMM_NFIT_CAP_LEN   16
#define NVDIMM_NFIT_PER_DIMM  (NVDIMM_NFIT_SPA_LEN + NVDIMM_NFIT_MEMDEV_LEN + \
			       NVDIMM_NFIT_DCR_LEN + NVDIMM_NFIT_FLUSH_LEN)
/* Bytes of the NFIT after the 36-byte ACPI header (u32 reserved, sub-tables). */
#define NVDIMM_NFIT_BODY_LEN(n) (4 + (size_t)(n) * NVDIMM_NFIT_PER_DIMM + NVDIMM_NFIT_CAP_LEN)

/* Write the NFIT body for n DIMMs into buf. Returns the length written, or 0
 * if cap is too small or a description is invalid. */
size_t nvdimm_nfit_build(const struct nvdimm_desc *d, int n, uint8_t *buf, size_t cap);

/* Append the NVDIMM root device (\_SB.NVDR, ACPI0012) and one child per DIMM
 * to a, which is inside Scope (\_SB). dsm_page is the guest address of the
 * shared DSM page, port the 32-bit trigger port. */
void nvdimm_aml_build(struct aml *a, const struct nvdimm_desc *d, int n,
		      uint64_t dsm_page, uint16_t port);
/* The same with room for hot-added DIMMs: slots > n adds the children
 * NV<n>..NV<slots-1> (_ADR = index + 1; every _DSM function, 0 too, is
 * answered by the vmm, so they serve whatever DIMM is added later) and the
 * root's _FIT method, which reads the current FIT through the page
 * (NVDIMM_FN_FIT). slots <= n is nvdimm_aml_build(). */
void nvdimm_aml_build_slots(struct aml *a, const struct nvdimm_desc *d, int n, int slots,
			    uint64_t dsm_page, uint16_t port);

/* ---- DSM page protocol (docs/nvdimm.md) ----------------------------------
 * Request, written by the AML:
 *   +0 u32 handle (0: the root device) | +4 u32 revision | +8 u32 function
 *   +12 u32 input length | +16 input bytes (at most NVDIMM_DSM_IN_MAX)
 * Response, written by the vmm into the same page:
 *   +0 u32 output length | +4 output bytes (at most NVDIMM_DSM_OUT_MAX)
 * Intel-family functions keep their layout ({u32 status, ...}); the label
 * methods use the private functions NVDIMM_FN_LSR/NVDIMM_FN_LSW, whose input
 * is the Intel layout and whose status is the ACPI 6.2 label status.      */
#define NVDIMM_DSM_IN_MAX   (NVDIMM_PAGE - 16)
#define NVDIMM_DSM_OUT_MAX  (NVDIMM_PAGE - 4)
#define NVDIMM_MAX_XFER     4064u  /* label bytes per call; fits both directions */

enum {
	NVDIMM_FN_QUERY = 0,
	NVDIMM_FN_GET_LABEL_SIZE = 4,
	NVDIMM_FN_GET_LABEL_DATA = 5,
	NVDIMM_FN_SET_LABEL_DATA = 6,
	NVDIMM_FN_LSR = 0x1005,     /* pmvm private: _LSR through the page */
	NVDIMM_FN_LSW = 0x1006,     /* pmvm private: _LSW through the page */
	NVDIMM_FN_FIT = 0x1010,     /* pmvm private, root only: read the FIT */
};

/* NVDIMM_FN_FIT (the root's _FIT method, hot-add): input {u32 offset};
 * output {u32 status, the FIT's bytes from offset, at most
 * NVDIMM_FIT_CHUNK}; no bytes: the end. The FIT is the NFIT's sub-tables
 * (no header), as _FIT returns them. A read at offset 0 starts a pass; a
 * later read after the FIT changed answers NVDIMM_ST_FIT_CHANGED and the
 * AML starts again. */
#define NVDIMM_FIT_CHUNK    (NVDIMM_DSM_OUT_MAX - 4)

/* Intel DSM status codes. */
enum {
	NVDIMM_ST_OK = 0,
	NVDIMM_ST_UNSUPPORTED = 1,
	NVDIMM_ST_NO_DEVICE = 2,
	NVDIMM_ST_INVALID = 3,
	NVDIMM_ST_HW_ERROR = 4,
	NVDIMM_ST_FIT_CHANGED = 0x100,  /* pmvm: NVDIMM_FN_FIT, start again */
};
/* ACPI 6.2 _LSR/_LSW status codes. */
enum {
	NVDIMM_LS_OK = 0,
	NVDIMM_LS_INVALID = 1,
	NVDIMM_LS_LOCKED = 2,
};

/* ---- Bad ranges and Address Range Scrub (ars.c, docs/nvdimm.md) ---------
 * Each DIMM keeps a list of bad byte ranges of its guest-visible range
 * (offsets from the DIMM's start): media errors the host reported (SIGBUS),
 * ranges lost to a truncated backing file, and injected errors. The list is
 * sorted and merged; the NFIT root _DSM reports it through ARS and clears it
 * through Clear Uncorrectable Error.                                       */
#define NVDIMM_BAD_MAX      256   /* ranges per DIMM */
#define NVDIMM_CLEAR_UNIT   512u  /* Clear Uncorrectable Error granularity */

struct nvdimm_badrange {
	uint64_t off, len;
};

struct nvdimm_badlist {
	struct nvdimm_badrange r[NVDIMM_BAD_MAX];
	int n;
};

/* Record [off, off+len) of a DIMM of size bytes as bad (merged with
 * neighbours). 0; -1 when the range is empty or outside [0, size), or the
 * list is full (it is left unchanged then). */
int nvdimm_bad_add(struct nvdimm_badlist *l, uint64_t off, uint64_t len, uint64_t size);
/* Forget every bad byte in [off, off+len); ranges are cut as needed.
 * Returns the number of bad bytes removed, or -1 when the range overflows
 * or a cut would need more than NVDIMM_BAD_MAX ranges (unchanged then). */
int64_t nvdimm_bad_clear(struct nvdimm_badlist *l, uint64_t off, uint64_t len);
/* Does any bad byte lie in [off, off+len)? */
bool nvdimm_bad_hit(const struct nvdimm_badlist *l, uint64_t off, uint64_t len);
/* The sidecar file's text (docs/nvdimm.md): "pmvm-badblocks 1\n", then one
 * "OFFSET LENGTH\n" line (decimal bytes) per range. _format returns the
 * length (excluding the NUL), or the length it needs when cap is too small. */
size_t nvdimm_bad_format(const struct nvdimm_badlist *l, char *buf, size_t cap);
/* Parse such text for a DIMM of size bytes; -1 with err naming the line. */
int nvdimm_bad_parse(const char *text, size_t len, uint64_t size,
		     struct nvdimm_badlist *l, char *err, size_t errlen);

/* NFIT root device _DSM functions (ACPI 6.x, 9.20.7: ARS and clear). */
enum {
	NVDIMM_ROOT_ARS_CAP = 1,
	NVDIMM_ROOT_ARS_START = 2,
	NVDIMM_ROOT_ARS_STATUS = 3,
	NVDIMM_ROOT_CLEAR_ERROR = 4,
};
#define NVDIMM_ROOT_MASK     0x1f   /* functions 0-4 */
#define NVDIMM_ARS_PERSISTENT 2     /* ARS type bit: persistent memory */
#define NVDIMM_ARS_VOLATILE   1
#define NVDIMM_ARS_HDR        48    /* Query ARS Status output before the records */
#define NVDIMM_ARS_REC        24    /* one record */
#define NVDIMM_ARS_MAX_RECS  ((NVDIMM_DSM_OUT_MAX - NVDIMM_ARS_HDR) / NVDIMM_ARS_REC)
#define NVDIMM_ARS_MAX_OUT   (NVDIMM_ARS_HDR + NVDIMM_ARS_MAX_RECS * NVDIMM_ARS_REC)
/* Root _DSM status (low 16 bits) and extended status (high 16 bits). */
enum {
	NVDIMM_RST_OK = 0,
	NVDIMM_RST_UNSUPPORTED = 1,
	NVDIMM_RST_INVALID = 2,
	NVDIMM_RST_HW_ERROR = 3,
	NVDIMM_RST_FN_ERROR = 6,          /* Start ARS: ext 1 = already running */
	NVDIMM_ARS_EXT_BUSY = 1u << 16,   /* Query ARS Status: in progress */
	NVDIMM_ARS_EXT_NONE = 2u << 16,   /* Query ARS Status: no ARS this boot */
	NVDIMM_ARS_FLAG_OVERFLOW = 1,     /* Query ARS Status flags */
};

/* The ARS state machine (one per VM): NONE (no scrub since boot) --Start-->
 * DONE (the scrubbed range is remembered; each Query ARS Status reports the
 * bad ranges inside it, then the first NVDIMM_ARS_MAX_RECS with the overflow
 * flag and a restart address). A scrub finishes at once: the vmm knows its
 * bad ranges, it has nothing to scan. */
enum nvdimm_ars_state { NVDIMM_ARS_NONE, NVDIMM_ARS_DONE };

struct nvdimm_ars_dimm {
	uint32_t handle;
	uint64_t spa, size;          /* the DIMM's SPA range */
	struct nvdimm_badlist *bad;
};

struct nvdimm_ars {
	struct nvdimm_ars_dimm *d;
	int n;
	enum nvdimm_ars_state state;
	uint64_t addr, len;          /* the last Start ARS range */
	uint16_t type;
	/* Called after Clear Uncorrectable Error removed [off, off+len) of
	 * DIMM idx from its list (bytes is how many were bad); non-zero makes
	 * the answer a hardware error (the list stays cleared). */
	int (*cleared)(void *opaque, int idx, uint64_t off, uint64_t len, uint64_t bytes);
	void *opaque;
	uint64_t starts, queries, clears; /* statistics */
};

/* THE checked accessor for guest-supplied SPA ranges: the DIMM whose SPA
 * range holds all of [addr, addr+len) (len > 0, no overflow), with *off the
 * offset inside it; -1 otherwise. */
int nvdimm_ars_find(const struct nvdimm_ars *a, uint64_t addr, uint64_t len, uint64_t *off);
/* Handle root _DSM function fn (rev 1) with input in[inlen]; writes the
 * output to out (at most NVDIMM_DSM_OUT_MAX bytes) and its length to
 * *outlen. Returns the status (low 16 bits of the first output word). */
uint32_t nvdimm_ars_call(struct nvdimm_ars *a, uint32_t rev, uint32_t fn, const uint8_t *in,
			 uint32_t inlen, uint8_t *out, uint32_t *outlen);

/* One DIMM's label area as the decoder sees it. */
struct nvdimm_label_area {
	uint8_t *base;       /* NULL when size is 0 */
	uint64_t size;
	bool readonly;       /* writes are refused */
};

struct nvdimm_dsm {
	struct nvdimm_label_area *areas; /* indexed by handle - 1 */
	int n;
	/* Optional: called after a label write landed in [off, off+len). */
	int (*label_written)(void *opaque, int idx, uint64_t off, uint64_t len);
	void *opaque;
	/* The root device's ARS functions; NULL: the root has only function 0. */
	struct nvdimm_ars *ars;
	/* The FIT for NVDIMM_FN_FIT (NULL: refused as unsupported), its
	 * generation (changed with it) and the generation the current read
	 * pass started on. */
	const uint8_t *fit;
	size_t fit_len;
	uint64_t fit_gen, fit_pass_gen;
	/* Statistics. */
	uint64_t calls, errors;
};

/* Decode the request in page (NVDIMM_PAGE bytes, guest-controlled; read
 * once into a private copy) and write the response into page. Never touches
 * memory outside page and the label areas' [base, base+size). Returns the
 * status placed in the response (for statistics and tests). */
uint32_t nvdimm_dsm_handle(struct nvdimm_dsm *ctx, uint8_t *page);

/* THE checked accessor for label offsets and lengths: a pointer to
 * [off, off+len) of the area, or NULL if any byte lies outside it (or the
 * arithmetic overflows). len 0 is valid for off <= size. */
uint8_t *nvdimm_label_at(const struct nvdimm_label_area *la, uint64_t off, uint64_t len);

/* AML name of DIMM i ("NV00".."NV3F"). buf gets 5 bytes. */
void nvdimm_child_name(int i, char buf[5]);

#endif
