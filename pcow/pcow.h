/*
 * pcow.h - libpcow, the persistent-memory copy-on-write image format.
 *
 * This header is the whole contract between libpcow and its users (pcow-img,
 * the tests, the fuzz target and, later, the VMM's image monitor). The
 * on-disk format is specified in docs/pcow-format.md.
 *
 * An image is a file of fixed-size clusters. Guest data lives in whole,
 * cluster-aligned clusters so the VMM can map the file once and point guest
 * memory at clusters directly. Each image holds a tree of layers: read-only
 * named snapshots and one writable active layer; a layer's unmapped clusters
 * fall through to its parent layer, then to the base image (pcow or raw, a
 * chain of any depth), then read as zeros.
 *
 * Rules: the library never prints and never exits. Every call that can fail
 * returns 0 or a negative PCOW_E* code and leaves a message with context in
 * the image (pcow_errmsg()) or, for calls without an image, in a
 * struct pcow_error. Nothing read from an image file is trusted.
 *
 * Durability: pcow_write() makes data visible at once; it is durable only
 * after pcow_flush() (or any metadata operation, or pcow_close()). A crash
 * loses at most the writes since the last flush and may leave leaked
 * clusters, which pcow_check(PCOW_REPAIR_LEAKS) reclaims.
 */
#ifndef PMVM_PCOW_H
#define PMVM_PCOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Error codes (returned negated). */
enum pcow_errcode {
	PCOW_OK = 0,
	PCOW_EIO = 1,		/* host I/O failed */
	PCOW_EINVAL = 2,	/* bad argument (size, name, offset...) */
	PCOW_ENOMEM = 3,
	PCOW_ENOTPCOW = 4,	/* not a pcow image (wrong magic, too short) */
	PCOW_ECORRUPT = 5,	/* image metadata is inconsistent */
	PCOW_EUNSUPPORTED = 6,	/* unknown version or incompatible feature */
	PCOW_EEXIST = 7,	/* name clash */
	PCOW_ENOENT = 8,	/* no such file or snapshot */
	PCOW_EBASE = 9,		/* base image missing, wrong or changed */
	PCOW_ERDONLY = 10,	/* image opened read-only */
	PCOW_EBUSY = 11,	/* operation not possible in this state */
	PCOW_ELOCKED = 12,	/* in use: another process holds a conflicting
				 * lock (PCOW_LOCK) */
};

#define PCOW_ERRMSG_MAX 512
struct pcow_error {
	int code;		/* enum pcow_errcode, positive */
	char msg[PCOW_ERRMSG_MAX];
};

/* Name of an error code ("I/O error", ...). */
const char *pcow_strerror(int code);

/*
 * Host I/O used for one image file. All file access goes through this table
 * so tests can inject crashes and the fuzz target can run from memory.
 * Each op returns 0 or a negative errno. pread beyond the end of the file
 * must fail with -EIO or return short (reported through *done).
 */
struct pcow_io_ops {
	int (*pread)(void *ctx, void *buf, size_t len, uint64_t off, size_t *done);
	int (*pwrite)(void *ctx, const void *buf, size_t len, uint64_t off);
	int (*flush)(void *ctx);	/* make earlier writes durable */
	int (*size)(void *ctx, uint64_t *size);
	int (*truncate)(void *ctx, uint64_t size);
	/* optional: give back [off, off+len) as zeros (hole punch) */
	int (*punch)(void *ctx, uint64_t off, uint64_t len);
	/* optional: preallocate [off, off+len) (extends the file, reads zero) */
	int (*fallocate)(void *ctx, uint64_t off, uint64_t len);
	void (*close)(void *ctx);	/* optional */
	/* optional: the first offset >= off that may hold data (a sparse
	 * file's holes are skipped), or -ENXIO if none up to the end */
	int (*seek_data)(void *ctx, uint64_t off, uint64_t *data_off);
	/* optional: the first offset >= off in a hole (the end counts) */
	int (*seek_hole)(void *ctx, uint64_t off, uint64_t *hole_off);
};

/* A file-descriptor backend (what pcow_open() uses). ctx is heap-allocated;
 * the fd is closed by ops->close. */
extern const struct pcow_io_ops pcow_fd_io_ops;
void *pcow_fd_io_new(int fd);
/* fd backend: start writeback of big writes early (default on) */
void pcow_fd_io_set_streaming(void *ctx, bool on);

/* An in-memory backend: the file is a malloc'd buffer of at most max bytes.
 * Used by the fuzz target and unit tests. pcow_mem_io_data() peeks at it. */
extern const struct pcow_io_ops pcow_mem_io_ops;
void *pcow_mem_io_new(const void *data, size_t len, size_t max);
const uint8_t *pcow_mem_io_data(void *ctx, size_t *len);
void pcow_mem_io_free(void *ctx);

#define PCOW_MIN_CLUSTER_BITS 12	/* 4 KiB */
#define PCOW_MAX_CLUSTER_BITS 21	/* 2 MiB */
#define PCOW_DEFAULT_CLUSTER_BITS 16	/* 64 KiB */
#define PCOW_MAX_NAME 255		/* snapshot name bytes */
#define PCOW_MAX_BASE_DEPTH 32
#define PCOW_MAX_VIRTUAL_SIZE (1ULL << 56)

struct pcow;

/*
 * Optional opener used instead of open(2) for an image and every file it
 * leads to (base images): fills *ops and *ctx for path. create is set when
 * the file must be created (empty). Returns 0 or a negative errno.
 */
typedef int (*pcow_io_open_fn)(void *opener_ctx, const char *path, bool rw,
			       bool create, const struct pcow_io_ops **ops, void **ctx);

/* Open flags. */
#define PCOW_RDWR	0x1	/* open for writing */
#define PCOW_NO_BASE	0x2	/* do not open the base image (reads through
				 * to the base fail with PCOW_EBASE) */
#define PCOW_FORCE_BASE	0x4	/* open even if the base changed or is wrong
				 * (for rebase -u and check) */
#define PCOW_NO_FLUSH	0x8	/* never flush: fast, but a crash may leave
				 * anything (qemu-img's cache=unsafe) */
#define PCOW_LOCK	0x10	/* flock(2) the image (exclusive if PCOW_RDWR,
				 * else shared) and every base (shared; a base
				 * opened writable by commit: exclusive), as vmm
				 * does; a conflict fails with PCOW_ELOCKED */
#define PCOW_TRY_BASE	0x20	/* for inspection: if a base of the chain
				 * cannot be opened (missing, changed, in
				 * use), open the image without it: reads that
				 * reach it fail with PCOW_EBASE, and
				 * pcow_base_error() says why */
#define PCOW_RAW_HOLES	0x40	/* a raw file of the chain (the image or a
				 * base) translates its sparse holes as
				 * PCOW_MAP_HOLE (otherwise: all data) */

struct pcow_open_opts {
	unsigned flags;
	const struct pcow_io_ops *io;	/* NULL: open the path */
	void *io_ctx;			/* taken over by the image (closed with it) */
	pcow_io_open_fn open_io;	/* NULL: open(2) */
	void *open_ctx;
};

struct pcow *pcow_open(const char *path, const struct pcow_open_opts *o,
		       struct pcow_error *err);
/* Flushes (if writable) and frees. Returns the flush result. */
int pcow_close(struct pcow *img);

struct pcow_create_opts {
	uint64_t virtual_size;		/* 0 with a base: take the base's size */
	unsigned cluster_bits;		/* 0: default */
	const char *base;		/* base image path (as stored), or NULL */
	int base_format;		/* PCOW_FMT_AUTO, _RAW or _PCOW */
	const struct pcow_io_ops *io;	/* NULL: create the path (O_EXCL unless
					 * overwrite) */
	void *io_ctx;
	pcow_io_open_fn open_io;	/* NULL: open(2) */
	void *open_ctx;
	bool overwrite;
	uint64_t label_size;		/* label storage area bytes (0: none, or
					 * the pcow base's when it has one) */
	bool lock;			/* hold a shared flock(2) on the base while
					 * reading it (PCOW_LOCK) */
};
enum { PCOW_FMT_AUTO = 0, PCOW_FMT_RAW = 1, PCOW_FMT_PCOW = 2 };

int pcow_create(const char *path, const struct pcow_create_opts *o,
		struct pcow_error *err);

/* Is the file at path a pcow image? 1 yes, 0 no, negative on I/O error. */
int pcow_probe(const char *path);

/*
 * Any image, pcow or raw: one interface for every user (pcow-img, a raw
 * base, vmm). A raw file opens as a struct pcow too, so pcow_read,
 * pcow_write, pcow_translate (with PCOW_RAW_HOLES a sparse file's holes are
 * PCOW_MAP_HOLE),
 * pcow_flush, pcow_get_info and pcow_close work on both; the pcow-only
 * calls refuse a raw one.
 *
 * pcow_image_format(): PCOW_FMT_PCOW or PCOW_FMT_RAW, or a negative code
 * with the real cause in *err (missing, a directory, not a regular file,
 * unreadable). A file in a foreign format (qcow2, vmdk, vdi, vhdx, vpc,
 * qed, luks, ...) is PCOW_FMT_RAW with *foreign set to the format's name.
 * pcow_image_open() with PCOW_FMT_AUTO probes and refuses foreign formats
 * (PCOW_EUNSUPPORTED); PCOW_FMT_RAW forces raw.
 */
int pcow_image_format(const char *path, const char **foreign, struct pcow_error *err);
struct pcow *pcow_image_open(const char *path, int format, const struct pcow_open_opts *o,
			     struct pcow_error *err);
int pcow_format(const struct pcow *img);	/* PCOW_FMT_RAW or PCOW_FMT_PCOW */
const char *pcow_path(const struct pcow *img);	/* as opened (bases: resolved) */
uint64_t pcow_size(const struct pcow *img);	/* virtual size (cheap) */
/* With PCOW_TRY_BASE: why the chain below img stops early (the first
 * image in it whose base could not be opened), or NULL if it is whole. */
const char *pcow_base_error(const struct pcow *img);

const char *pcow_errmsg(const struct pcow *img);
int pcow_errcode(const struct pcow *img);

struct pcow_info {
	uint64_t virtual_size;
	uint64_t cluster_size;
	uint64_t file_size;
	uint64_t generation;
	uint64_t data_gen;
	uint64_t allocated_clusters;	/* data clusters referenced */
	uint64_t metadata_clusters;
	uint8_t uuid[16];
	unsigned nsnapshots;
	unsigned nlayers;
	const char *base;		/* NULL if none; valid until close */
	int base_format;
	unsigned base_depth;		/* bases below this image */
	bool read_only;
};
void pcow_get_info(struct pcow *img, struct pcow_info *info);
/*
 * pcow_get_info() without the two cluster counts (allocated_clusters and
 * metadata_clusters are left 0): those need a walk of every table of
 * every layer (docs/pcow-format.md, "Cluster ownership"), this reads
 * nothing but what open read (root and catalog), whatever the virtual
 * size and number of snapshots. What `pcow-img info` shows.
 */
void pcow_get_info_quick(struct pcow *img, struct pcow_info *info);

/* The base image (next in the chain), or NULL. */
struct pcow *pcow_base(struct pcow *img);

/* Data path */
int pcow_read(struct pcow *img, void *buf, size_t len, uint64_t off);
int pcow_write(struct pcow *img, const void *buf, size_t len, uint64_t off);
int pcow_flush(struct pcow *img);

/* Translation of a guest offset. */
enum pcow_map_kind {
	PCOW_MAP_HOLE = 0,	/* reads as zeros, nothing allocated */
	PCOW_MAP_DATA = 1,	/* this image's file, active layer: writable */
	PCOW_MAP_LOWER = 2,	/* this image's file, a snapshot layer: read-only */
	PCOW_MAP_BASE = 3,	/* the base image (translate again in pcow_base()) */
	PCOW_MAP_ZERO = 4,	/* explicit zero cluster */
};
struct pcow_map {
	enum pcow_map_kind kind;
	uint64_t host_off;	/* DATA/LOWER: file offset of off (BASE: off) */
	uint64_t len;		/* bytes from off with the same kind and
				 * contiguous host offsets (within limit) */
	unsigned layer;		/* DATA/LOWER: layer index */
	bool shared;		/* DATA: cluster also used by a snapshot (write
				 * needs copy-on-write via pcow_prepare_write) */
};
int pcow_translate(struct pcow *img, uint64_t off, uint64_t limit,
		   struct pcow_map *m);

/*
 * The active layer's own clusters (what pcow_translate calls
 * PCOW_MAP_DATA), as runs contiguous in the guest and in the file with
 * the same sharing, in offset order: fn(ctx, off, len, host_off, shared)
 * for each; a non-zero return from fn stops the walk and is returned.
 * Visits only the tables the active layer has: a VMM maps an image's
 * clusters at start in time proportional to the active layer's metadata,
 * not to the virtual size times the number of snapshots. A raw image is
 * one run of its whole size.
 */
typedef int (*pcow_run_fn)(void *ctx, uint64_t off, uint64_t len, uint64_t host_off,
			   bool shared);
int pcow_active_runs(struct pcow *img, pcow_run_fn fn, void *ctx);

/*
 * Make the cluster containing off writable in the active layer: allocate it
 * (from the reserve if possible), copying the data it showed before (from a
 * snapshot layer or the base) or zeroing it. *host_off gets the file offset
 * of off. The new mapping is durable after the next pcow_flush().
 */
int pcow_prepare_write(struct pcow *img, uint64_t off, uint64_t *host_off);

/*
 * Cluster reservation for a background pre-allocator: extend the file by n
 * zeroed clusters (fallocate) and keep them for later allocations. Safe to
 * call from another thread than the data path. Reserved clusters are free
 * space after a crash, never leaks. Returns the number held in reserve.
 */
int pcow_reserve(struct pcow *img, unsigned n);
unsigned pcow_reserved(struct pcow *img);

/*
 * Placement at a chosen file offset (chunk.c), for a VMM that keeps each
 * aligned guest chunk in one contiguous file range. pcow_chunk_reserve pins
 * n contiguous clusters at the end of the file (the file grows sparsely to
 * cover them) and gives the first one's offset; pcow_alloc_at makes the
 * cluster containing off the active layer's own at the reserved cluster
 * host_off: with copy, the data the cluster shows now (snapshot, base or
 * zeros) is written there first; without, the data already in the file
 * there is taken as it is (the guest wrote it through a mapping). Refused
 * (PCOW_EBUSY) when the active layer already owns the cluster. The new
 * mapping is durable after the next pcow_flush(). pcow_chunk_release gives
 * the reserved clusters of a range that were never used back. Reserved
 * clusters are free space after a crash or a close: check counts those
 * holding data as leaks, those reading as zeros not at all.
 */
int pcow_chunk_reserve(struct pcow *img, uint64_t n, uint64_t *host_off);
int pcow_chunk_release(struct pcow *img, uint64_t host_off, uint64_t n);
/* Take a range back after a reopen: pin the free clusters of [host_off,
 * +n) (pinned[i] = 1 for each; the file grows to cover the range) and
 * leave those holding data with one reference (pinned[i] = 0: the caller
 * checks they are its own). PCOW_EBUSY, with nothing pinned, if the range
 * holds metadata, reserved or shared clusters. */
int pcow_chunk_claim(struct pcow *img, uint64_t host_off, uint64_t n, uint8_t *pinned);
int pcow_alloc_at(struct pcow *img, uint64_t off, uint64_t host_off, bool copy);

/* Snapshots */
struct pcow_snapshot {
	char name[PCOW_MAX_NAME + 1];
	uint64_t ctime_ns;
	uint64_t virtual_size;
	uint64_t clusters;	/* data clusters held by this layer */
	unsigned layer;
	int parent;		/* layer index or -1 */
	bool current;		/* the active layer is a child of this one */
};
/* Fills up to max entries, returns the number of snapshots (or error). */
int pcow_snapshot_list(struct pcow *img, struct pcow_snapshot *out, unsigned max);
/* The same without the clusters count (left 0): reads no table. */
int pcow_snapshot_list_quick(struct pcow *img, struct pcow_snapshot *out, unsigned max);
int pcow_snapshot_create(struct pcow *img, const char *name);
/* Revert the active layer to the snapshot's contents. Later snapshots stay. */
int pcow_snapshot_apply(struct pcow *img, const char *name);
int pcow_snapshot_delete(struct pcow *img, const char *name);
/* In an image opened read-only: from now on read and translate show the
 * snapshot's contents (and size) instead of the active layer's. */
int pcow_view_snapshot(struct pcow *img, const char *name);

/* Grow the virtual size (shrinking is refused). A raw image grows too. */
int pcow_resize(struct pcow *img, uint64_t new_size);
/* Set a raw image's size, growing or shrinking it (what is cut is lost). */
int pcow_raw_resize(struct pcow *img, uint64_t new_size);

/*
 * Commit: copy this image's own data (its active view, not its base) into
 * its base image, then empty the active layer. Refused with snapshots.
 * The base is reopened writable. Crash-safe: see docs/pcow-format.md.
 */
int pcow_commit(struct pcow *img);
/* PCOW_COMMIT_KEEP: the image keeps its data (qemu-img commit -d); it
 * shows the same contents, now also held by its base. */
#define PCOW_COMMIT_KEEP 0x1
int pcow_commit_flags(struct pcow *img, unsigned flags);

/*
 * Rebase onto new_base (NULL: no base). Safe mode copies every cluster
 * whose visible contents would change into the active layer first; unsafe
 * only rewrites the reference. Refused with snapshots in safe mode.
 */
int pcow_rebase(struct pcow *img, const char *new_base, int base_format,
		bool unsafe);

/* Check */
#define PCOW_REPAIR_LEAKS 0x1
#define PCOW_REPAIR_ALL 0x3
struct pcow_check_result {
	uint64_t corruptions;		/* found (before repair) */
	uint64_t leaks;			/* leaked clusters found */
	uint64_t corruptions_fixed;
	uint64_t leaks_fixed;
	uint64_t allocated_clusters;
	uint64_t total_clusters;	/* virtual size in clusters */
	uint64_t file_clusters;
	uint64_t shared_clusters;
	uint64_t image_end_offset;	/* end of last used cluster */
	bool base_ok;			/* base chain opened and matched */
	/* optional: called once per problem found */
	void (*report)(void *ctx, const char *msg);
	void *report_ctx;
};
/*
 * Check (and optionally repair) the image at path / io. Returns 0 if the
 * check ran (look at the result), negative if it could not (not a pcow
 * image, unreadable root, I/O error).
 */
int pcow_check(const char *path, const struct pcow_open_opts *o, unsigned repair,
	       struct pcow_check_result *res, struct pcow_error *err);

/*
 * Label storage area (NVDIMM namespace labels; docs/pcow-format.md, "Label
 * storage area"): bytes of device configuration kept in the image, one
 * area per image (snapshots neither save nor restore it). Size 128K..16M
 * in 4K steps, fixed once set. The area is read and its CRC checked on the
 * first read or write (PCOW_ECORRUPT on a mismatch), then held in memory. A write is durable
 * when it returns, and a crash at any point leaves the old or the new
 * contents, never a mix (the area is rewritten whole at fresh clusters,
 * then the root is switched). pcow_label_size() is 0 without an area;
 * pcow_label_init() gives an image without one an area of zeros (an
 * image with an area of another size: PCOW_EBUSY).
 */
#define PCOW_LABEL_MIN (128u << 10)
#define PCOW_LABEL_MAX (16u << 20)
#define PCOW_LABEL_ALIGN 4096u
uint64_t pcow_label_size(struct pcow *img);
int pcow_label_read(struct pcow *img, void *buf, size_t len, uint64_t off);
int pcow_label_write(struct pcow *img, const void *buf, size_t len, uint64_t off);
int pcow_label_init(struct pcow *img, uint64_t size);

/*
 * Bad-range record (docs/pcow-format.md, "Bad-range record"): byte ranges of
 * the virtual disk whose contents are lost (media errors a VMM found or was
 * told about), kept in the image so they survive a restart; one record per
 * image, like the label area. pcow_bad_ranges() copies up to max ranges
 * (sorted by offset) into out and returns how many there are, or
 * -PCOW_E...; a raw image has none. pcow_set_bad_ranges() replaces the
 * whole record durably (a crash leaves the old or the new one): n ranges,
 * sorted, non-overlapping, non-empty, inside the virtual size, at most
 * PCOW_BAD_RANGES_MAX (PCOW_EINVAL otherwise). An empty record takes the
 * feature off, so older readers open the image again.
 */
#define PCOW_BAD_RANGES_MAX 65536u
struct pcow_bad_range {
	uint64_t off, len;
};
int pcow_bad_ranges(struct pcow *img, struct pcow_bad_range *out, size_t max);
int pcow_set_bad_ranges(struct pcow *img, const struct pcow_bad_range *r, size_t n);

/* Size calculations for `measure`: file size needed for an image of
 * virtual_size with data_clusters allocated, and fully allocated. */
void pcow_measure(uint64_t virtual_size, unsigned cluster_bits,
		  uint64_t data_clusters, uint64_t *required,
		  uint64_t *fully_allocated);

/* Parse a size in the project's one grammar (vmm/util/opts.h): "512"
 * (bytes), "64K", "1GiB", "1.5G"; no blanks or signs. Returns 0 or
 * -PCOW_EINVAL. */
int pcow_parse_size(const char *s, uint64_t *out);

#endif
