/*
 * internal.h - libpcow's private structures and helpers, shared by the
 * library's files (error.c, format.c on-disk encoding, open.c, create.c,
 * alloc.c cluster accounting, data.c data path, meta.c metadata commit,
 * ops.c snapshot / commit / rebase / resize, check.c, io.c, image.c raw
 * or pcow). Not
 * installed; not for users.
 */
#ifndef PMVM_PCOW_INTERNAL_H
#define PMVM_PCOW_INTERNAL_H

#include <endian.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include "le.h"	/* vmm/util: get_le16/32/64, put_le16/32/64 */
#include "pcow.h"

/* On-disk constants: see docs/pcow-format.md */
#define PCOW_MAGIC "PCOWimg\n"
#define PCOW_VERSION 1
#define PCOW_SLOT_SIZE 4096u
#define PCOW_HEADER_END (2 * PCOW_SLOT_SIZE)
#define PCOW_CAT_MAGIC "PCOWcat\n"
#define PCOW_CAT_HDR 64u
#define PCOW_LAYER_REC 48u
#define PCOW_CAT_MAX (64u << 20)
#define PCOW_CAT_COMMITTING 0x1u
#define PCOW_LAYER_SNAPSHOT 0x1u
#define PCOW_NO_PARENT 0xffffffffu
#define PCOW_MAX_LAYERS 65536u
#define PCOW_MAX_L1_ENTRIES (1u << 22)
#define PCOW_INCOMPAT_LABELS 0x1ULL	/* label storage area (labels.c) */
#define PCOW_INCOMPAT_BADRANGES 0x2ULL	/* bad-range record (badranges.c) */
#define PCOW_INCOMPAT_KNOWN (PCOW_INCOMPAT_LABELS | PCOW_INCOMPAT_BADRANGES)
#define PCOW_ENTRY_ZERO 0x1u	/* entry flag: reads as zeros */

/* in-memory L2 value: host byte offset of the cluster, or 1 for ZERO */
#define MEM_ZERO 1ULL

/*
 * A layer's L1 in memory: chunks of L1_CHUNK entries (4 KiB of the L1 on
 * disk), each read on first use. A chunk pointer is NULL (not read yet),
 * pcow_l1_empty (read, or new, and all entries empty: one static chunk
 * shared by every layer and never written; the first table added there
 * gives the layer its own copy), or the layer's own chunk. Decoded L2
 * tables hang from a chunk and are read on their first lookup. So a layer
 * costs memory for the tables it has in use, not for its virtual size, and
 * a layer never looked at costs its catalog record only.
 */
#define L1_CHUNK_BITS 9
#define L1_CHUNK (1u << L1_CHUNK_BITS)
struct l1chunk {
	uint64_t off[L1_CHUNK];		/* host offsets of L2 tables, 0: none */
	uint64_t *tab[L1_CHUNK];	/* decoded tables (pcow_tab_new: counted,
					 * maybe shared), NULL: not read yet */
	uint8_t state[L1_CHUNK];	/* T_CLEAN, T_DIRTY, T_NEW */
};
extern struct l1chunk pcow_l1_empty;

struct layer {
	uint64_t l1_off;	/* on disk (0: not written yet) */
	uint64_t vsize;
	uint64_t ctime_ns;
	uint32_t l1_entries;
	uint32_t l1_disk_n;	/* entries of the L1 at l1_off */
	uint32_t parent;	/* PCOW_NO_PARENT or index */
	uint32_t flags;
	char *name;
	struct l1chunk **l1c;	/* chunk_count(l1_entries) pointers, or NULL */
	bool rewrite;		/* whole layer goes to new places at commit */
	bool l1_dirty;
};
enum { T_CLEAN = 0, T_DIRTY = 1, T_NEW = 2 };

static inline uint32_t pcow_chunk_count(uint32_t l1_entries)
{
	return (l1_entries + L1_CHUNK - 1) >> L1_CHUNK_BITS;
}

/*
 * A root area (area.c; docs/pcow-format.md, "Root areas"): bytes of the
 * image kept in contiguous metadata clusters that the root points at,
 * replaced whole (fresh clusters, flush, root switch, flush) on a change.
 */
struct pcow;
struct root;
struct pcow_area {
	const char *what;	/* for messages: "label area" */
	uint8_t *bytes;		/* size bytes in memory once needed, else NULL */
	uint64_t off;		/* on disk; 0: no clusters (reads as zeros) */
	uint32_t size, crc;
	bool zero_means_empty;	/* dropping it empties it (size 0) */
	bool dropped;		/* check: corrupt area dropped, repair rewrites */
	/* the area's own rules on its bytes (after the CRC), or NULL */
	bool (*valid)(const struct pcow *img, const uint8_t *b, uint32_t size);
	/* before the root write of a commit: feature bits from the new size */
	void (*commit_hook)(struct pcow *img, struct pcow_area *a);
};

struct pcow {
	char *path;		/* as opened */
	char *dir;		/* directory for relative base paths */
	const struct pcow_io_ops *io;
	void *ioctx;
	bool rw, raw, broken, bumped, lenient;
	unsigned flags;
	struct pcow_error err;
	pcow_io_open_fn open_io;
	void *open_ctx;

	unsigned cbits;
	uint64_t csize;
	uint32_t l2_entries;
	uint64_t vsize;
	uint8_t uuid[16];
	uint64_t gen, data_gen, incompat, compat;
	int slot;		/* slot holding the current root */
	uint64_t cat_off;
	uint32_t cat_len;
	uint32_t cat_flags;

	char *base_path;
	int base_fmt;		/* 0 none, PCOW_FMT_RAW, PCOW_FMT_PCOW */
	uint64_t base_size, base_data_gen;
	uint8_t base_uuid[16];
	struct pcow *base;
	unsigned depth;
	struct pcow_error base_err;	/* PCOW_TRY_BASE: why base is NULL */

	unsigned nlayers, active;
	struct layer *layers;

	/* allocation */
	pthread_mutex_t lock;
	/* Cluster ownership (refc) is counted on first need: the first
	 * allocation, reservation, write, count or check (pcow_account()).
	 * acct_lock serialises that walk; acct_done is set (release) once
	 * refc is valid; acct_err keeps a walk's failure (corruption). */
	pthread_mutex_t acct_lock;
	bool acct_done;
	int acct_err;
	char acct_msg[PCOW_ERRMSG_MAX];
	uint8_t *refc;		/* per file cluster; 255 = reserved/pinned */
	uint64_t nclusters;	/* clusters tracked: grows to the highest one the
				 * metadata references (or allocation reaches),
				 * not to the file's apparent size */
	uint64_t file_clusters;	/* whole clusters in the file at open */
	uint64_t refc_cap;
	uint64_t hint;
	uint64_t first_data;	/* first cluster after the header */
	uint64_t *reserve;
	unsigned nreserve, reserve_cap;
	uint64_t *pfree;	/* clusters to release after next commit */
	size_t npfree, pfree_cap;
	uint8_t *zbuf;		/* one zeroed cluster */

	/* check support: problems found while loading leniently */
	uint64_t load_corrupt;
	void (*report)(void *ctx, const char *msg);
	void *report_ctx;

	/* root areas (area.c): per image, held in memory once used */
	struct pcow_area labels;	/* label storage area (labels.c); size 0:
					 * none (no LABELS feature) */
	struct pcow_area bad;		/* bad-range record (badranges.c); size
					 * 0: empty (no BADRANGES feature) */
};

#define REFC_PIN 255
#define REFC_META 254

int pcow_set_err(struct pcow *img, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int pcow_err_fill(struct pcow_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pcow_problem(struct pcow *img, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * The fuzz target's copy of the library is built with PCOW_FUZZING: checksum
 * and check-bit mismatches are then ignored, so mutated images reach the
 * bounds checks behind them (which must hold on their own).
 */
#ifdef PCOW_FUZZING
#define CHECKSUM_BAD(cond) ((void)(cond), 0)
#else
#define CHECKSUM_BAD(cond) (cond)
#endif

/* the entry check bits' mixer (format.c; also seeds create's uuid check) */
uint64_t pcow_mix64(uint64_t z);
uint32_t pcow_crc32(const void *buf, size_t len);

uint64_t pcow_entry_encode(uint64_t host_off, unsigned cbits, uint64_t pos, unsigned flags);
/* returns 0, or -1 if the check bits or reserved bits are wrong */
int pcow_entry_decode(uint64_t raw, unsigned cbits, uint64_t pos, uint64_t *host_off,
		 unsigned *flags);
uint32_t pcow_l1_entries_for(uint64_t vsize, unsigned cbits);

/* I/O with context in errors */
int pcow_file_pread(struct pcow *img, void *buf, size_t len, uint64_t off);
int pcow_file_pwrite(struct pcow *img, const void *buf, size_t len, uint64_t off);
int pcow_file_flush(struct pcow *img);

/* cluster accounting and allocation (alloc.c) */
int pcow_refc_track(struct pcow *img, uint64_t nclusters);
void pcow_refc_inc(struct pcow *img, uint64_t host_off);
uint8_t pcow_refc_get(struct pcow *img, uint64_t host_off);
int pcow_alloc_kind(struct pcow *img, uint8_t kind, uint64_t *host_off);
int pcow_alloc_cluster(struct pcow *img, uint64_t *host_off);
int pcow_alloc_contig(struct pcow *img, uint64_t n, uint64_t *host_off);
int pcow_defer_free(struct pcow *img, uint64_t host_off);
int pcow_release_deferred(struct pcow *img);
void pcow_trim_tail(struct pcow *img);	/* drop free clusters at the end */
void pcow_trim_tail_locked(struct pcow *img);

/* on-disk encoding (format.c): each structure's encoder beside its decoder */
struct root {
	uint64_t incompat, compat, gen, vsize, data_gen, cat_off;
	uint32_t cbits, cat_len, cat_crc;
	uint8_t uuid[16];
	uint64_t label_off;	/* with PCOW_INCOMPAT_LABELS (labels.c) */
	uint32_t label_size, label_crc;
	uint64_t bad_off;	/* with PCOW_INCOMPAT_BADRANGES (badranges.c) */
	uint32_t bad_count, bad_crc;
};
/* 1 valid, 0 invalid, -PCOW_EUNSUPPORTED */
int pcow_root_parse(const uint8_t *s, struct root *rt);
void pcow_root_encode(struct pcow *img, uint64_t gen, uint32_t cat_crc,
		 uint8_t s[PCOW_SLOT_SIZE]);
/* decode the catalog into img (layers without tables) */
int pcow_catalog_parse(struct pcow *img, const uint8_t *c, uint32_t len);
int pcow_catalog_encode(struct pcow *img, uint8_t **out, uint32_t *len);

/* metadata writes and their ordering (meta.c) */
int pcow_meta_commit(struct pcow *img);	/* flush + rewrite + root switch */
int pcow_root_write(struct pcow *img, uint64_t gen);
int pcow_data_flush(struct pcow *img);	/* pcow_flush body */
int pcow_data_flush_opt(struct pcow *img, bool release);
int pcow_bump_data_gen(struct pcow *img);
int pcow_meta_free_l1(struct pcow *img, struct layer *l, uint32_t l1_entries);
/* defer-free every cluster a layer references (tables, L1, data) */
int pcow_layer_drop(struct pcow *img, struct layer *l);

/* Cluster ownership: walk every table once (streaming) and fill refc;
 * in a lenient (check) open, damaged entries are reported and dropped. */
int pcow_account(struct pcow *img);

/* layers, entries and the read path (data.c). Tables are read on first
 * use and checked then: a damaged entry found later is PCOW_ECORRUPT. */
void pcow_layer_free_tables(struct layer *l);
void pcow_layer_free(struct layer *l);
int pcow_layer_alloc_l1(struct pcow *img, struct layer *l, uint64_t vsize);
int pcow_layer_grow_l1(struct pcow *img, struct layer *l, uint32_t n);
/* chunk ci of layer li's L1, read on first use (never NULL on success) */
int pcow_chunk_get(struct pcow *img, unsigned li, uint32_t ci, struct l1chunk **out);
/* the decoded L2 table at L1 index j of layer li (NULL: none), read on
 * first use */
int pcow_table_get(struct pcow *img, unsigned li, uint32_t j, uint64_t **out);
/* decoded L2 tables, counted (shared between layers in memory): new
 * (zeroed, one user), drop a user, in use by more than one */
uint64_t *pcow_tab_new(struct pcow *img);
void pcow_tab_put(uint64_t *tab);
bool pcow_tab_shared(const uint64_t *tab);
/* layer li, without a table at L1 index j, takes tab as its new table */
int pcow_table_adopt(struct pcow *img, unsigned li, uint32_t j, uint64_t *tab);
/* for a lenient check's walk: install a decoded chunk (n entries) / keep
 * a cleaned table in memory */
int pcow_chunk_install(struct pcow *img, unsigned li, uint32_t ci, const uint64_t *off,
		       uint32_t n);
int pcow_table_install(struct pcow *img, unsigned li, uint32_t j, uint64_t *tab);
/* read every chunk and table of layer li into memory (whole-layer changes) */
int pcow_layer_load(struct pcow *img, unsigned li);
/* entry of layer li for cluster vc: 0 empty, MEM_ZERO, or host offset */
int pcow_entry_get(struct pcow *img, unsigned li, uint64_t vcluster, uint64_t *val);
int pcow_entry_set(struct pcow *img, unsigned li, uint64_t vcluster, uint64_t val);
/* decode an L1 chunk / L2 table read from disk into out (check rules of
 * docs/pcow-format.md; overlap with metadata is pcow_account()'s). Bad
 * entries: PCOW_ECORRUPT, or with lenient dropped (counted in *dropped). */
int pcow_decode_l1(struct pcow *img, unsigned li, uint32_t ci, const uint8_t *raw,
		   uint32_t n, uint64_t *out, bool lenient, unsigned *dropped);
int pcow_decode_l2(struct pcow *img, unsigned li, uint32_t j, uint64_t toff,
		   const uint8_t *raw, uint64_t *out, bool lenient, unsigned *dropped);
int pcow_read_layer(struct pcow *img, int li, void *buf, size_t len, uint64_t off);

/* open (open.c) */
struct pcow *pcow_open_internal(const char *path, const struct pcow_open_opts *o,
				unsigned depth, bool lenient,
				void (*report)(void *, const char *), void *rctx,
				struct pcow_error *err);
int pcow_open_base(struct pcow *img, unsigned flags);
char *pcow_dir_of(const char *path);	/* malloc'd directory part of path */
char *pcow_resolve_base(struct pcow *img, const char *p);	/* relative to img's dir */

/* 0, or the error a change of img gets: broken, or opened read-only/raw */
int pcow_writable(struct pcow *img);
/* pcow_writable, then ownership counted and the data generation bumped:
 * before a change of data or layers (data.c) */
int pcow_change_begin(struct pcow *img);

/* root areas (area.c; docs/pcow-format.md "Root areas") */
uint64_t pcow_area_clusters(const struct pcow *img, uint64_t size);
bool pcow_area_root_ok(const struct root *rt, uint64_t off, uint32_t crc);
int pcow_area_place(struct pcow *img, struct pcow_area *a);	/* open */
int pcow_area_load(struct pcow *img, struct pcow_area *a);	/* bytes, checked */
int pcow_area_account(struct pcow *img, struct pcow_area *a);	/* ownership walk */
int pcow_area_place_new(struct pcow *img, struct pcow_area *a);	/* create */
int pcow_area_commit(struct pcow *img, struct pcow_area *a, uint8_t *bytes, uint32_t size);
void pcow_area_free(struct pcow_area *a);

/* bad-range record (badranges.c; docs/pcow-format.md "Bad-range record") */
#define PCOW_ROOT_BAD_OFF 112u	/* root slot: u64 offset, u32 count, u32 crc */
#define PCOW_BAD_REC 16u	/* u64 offset, u64 length */
void pcow_bad_root_encode(const struct pcow *img, uint8_t *slot);
void pcow_bad_root_parse(const uint8_t *slot, struct root *rt);
bool pcow_bad_root_ok(const struct root *rt);
int pcow_bad_load(struct pcow *img, const struct root *rt);	/* open */
int pcow_bad_create(struct pcow *img);	/* create: an overlay's copy of its base's */

/* label storage area (labels.c; docs/pcow-format.md "Label storage area") */
#define PCOW_ROOT_LABEL_OFF 96u	/* root slot: u64 offset, u32 size, u32 crc */
void pcow_labels_root_encode(const struct pcow *img, uint8_t *slot);
void pcow_labels_root_parse(const uint8_t *slot, struct root *rt);
bool pcow_labels_root_ok(const struct root *rt);	/* the slot's field rules */
bool pcow_label_size_ok(uint64_t size);
int pcow_labels_load(struct pcow *img, const struct root *rt);	/* open */
int pcow_labels_create(struct pcow *img, uint64_t label_size);	/* create */
/* any image, raw or pcow (image.c) */
/* open an image file (regular files only; nofollow: not a symlink; lock:
 * flock(2), exclusive if rw): an fd or -errno (-EBUSY: locked elsewhere) */
int pcow_open_fd(const char *path, bool rw, bool nofollow, bool lock);
const char *pcow_open_errstr(int neg_errno);	/* pcow_open_fd()'s errors */
int pcow_open_errcode(int neg_errno);		/* ... as a PCOW_E* code */
int pcow_open_raw_base(struct pcow *img, const char *path, unsigned flags);
int pcow_raw_translate(struct pcow *img, uint64_t off, uint64_t limit, struct pcow_map *m);
struct stat;
bool pcow_chain_reaches(const char *path, const struct stat *target);

#endif
