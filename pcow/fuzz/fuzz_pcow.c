/*
 * fuzz_pcow.c - libFuzzer entry point over libpcow's hostile-input paths.
 * Everything is held in memory (pcow_mem_io); no host path is ever opened:
 * base images are reached through an in-memory open_io callback.
 *
 * Input: either a plain image file, or a chain container
 *   "PCOWfz2\n", le32 overlay length, le32 selector, overlay bytes, base bytes
 * where every base path the overlay (or the base, recursively) names opens
 * the base bytes, and the selector picks snapshots, the file's apparent
 * size (a zero tail of up to 16 MiB beyond the bytes) and operations.
 *
 * Phases: check (read-only); open, translate and read (without the base),
 * and read the label area and the bad-range record; repair a copy and
 * check it again; open a copy writable, write, create and delete a
 * snapshot, add or write the label area, set the bad-range record; then, with the base chain opened (falling back to no
 * base): read, apply and delete existing (hostile) snapshots, resize,
 * commit into the base, and unsafe and safe rebase. Nothing may crash,
 * hang, leak or read out of bounds (ASan+UBSan).
 *
 * Built as a libFuzzer target with clang, and linked with replay.c (the
 * same entry point run over files) with other compilers.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_IMAGE (1u << 20)

static void exercise_read(struct pcow *img)
{
	struct pcow_info in;
	struct pcow_snapshot snaps[4];
	uint8_t buf[8192];

	pcow_get_info(img, &in);
	pcow_snapshot_list(img, snaps, 4);
	/* translate the first MiB and the end */
	uint64_t off = 0;
	for (int i = 0; i < 64 && off < in.virtual_size; i++) {
		struct pcow_map m;
		if (pcow_translate(img, off, 1u << 20, &m) || !m.len)
			break;
		off += m.len;
	}
	if (in.virtual_size) {
		struct pcow_map m;
		pcow_translate(img, in.virtual_size - 1, 0, &m);
	}
	for (uint64_t o = 0; o < in.virtual_size && o < (256u << 10); o += sizeof(buf)) {
		size_t n = in.virtual_size - o < sizeof(buf) ? in.virtual_size - o : sizeof(buf);
		pcow_read(img, buf, n, o);
	}
	if (in.virtual_size > 100)
		pcow_read(img, buf, 100, in.virtual_size - 100);
	pcow_read(img, buf, 10, UINT64_MAX - 5);	/* must fail cleanly */
	/* the label area (from memory; bounds through one accessor) */
	uint64_t ls = pcow_label_size(img);
	pcow_label_read(img, buf, ls < sizeof(buf) ? (size_t)ls : sizeof(buf), 0);
	if (ls > 100)
		pcow_label_read(img, buf, 100, ls - 100);
	pcow_label_read(img, buf, 8, UINT64_MAX - 3);	/* must fail cleanly */
	/* the bad-range record (entries checked against the format's rules) */
	{
		struct pcow_bad_range br[8];
		pcow_bad_ranges(img, br, 8);
	}
}

/* ---- the base chain, in memory ---- */

struct chain {
	const uint8_t *base;
	size_t base_len;
	void *io;		/* the base's file, shared by every open of it */
	unsigned opens;
};

static int chain_open(void *ctx, const char *path, bool rw, bool create,
		      const struct pcow_io_ops **ops, void **ioctx)
{
	struct chain *c = ctx;

	(void)path;
	(void)rw;
	if (create || !c->base)
		return -ENOENT;
	if (++c->opens > 64)
		return -EMFILE;
	if (!c->io) {
		c->io = pcow_mem_io_new(c->base, c->base_len, c->base_len + (4u << 20));
		if (!c->io)
			return -ENOMEM;
	}
	*ops = &pcow_mem_io_ops;	/* no close op: freed by chain_reset() */
	*ioctx = c->io;
	return 0;
}

static void chain_reset(struct chain *c)
{
	pcow_mem_io_free(c->io);
	c->io = NULL;
	c->opens = 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* the overlay's file: its bytes, then a zero tail up to the apparent size */
static void *overlay_io(const uint8_t *data, size_t size, size_t tail)
{
	void *io = pcow_mem_io_new(data, size, size + tail + (4u << 20));

	if (io && tail)
		pcow_mem_io_ops.truncate(io, size + tail);
	return io;
}

/* Operations on existing (hostile) snapshots, resize, commit, rebase. */
static void exercise_ops(const uint8_t *data, size_t size, size_t tail,
			 struct chain *c, uint32_t sel)
{
	struct pcow_snapshot snaps[8];
	struct pcow_error err;
	struct pcow_info in;
	uint8_t buf[4096];
	void *io = overlay_io(data, size, tail);

	if (!io)
		return;
	struct pcow_open_opts o = { .flags = PCOW_RDWR, .io = &pcow_mem_io_ops,
				    .io_ctx = io, .open_io = chain_open, .open_ctx = c };
	struct pcow *img = pcow_open("fuzz.pcow", &o, &err);
	if (!img) {
		o.flags |= PCOW_NO_BASE;
		img = pcow_open("fuzz.pcow", &o, &err);
	}
	if (!img)
		goto out;
	exercise_read(img);
	int n = pcow_snapshot_list(img, snaps, 8);
	if (n > 8)
		n = 8;
	if (n > 0) {
		pcow_snapshot_apply(img, snaps[sel % (unsigned)n].name);
		pcow_get_info(img, &in);
		if (in.virtual_size >= sizeof(buf)) {
			pcow_read(img, buf, sizeof(buf), 0);
			memset(buf, 0x3c, sizeof(buf));
			pcow_write(img, buf, sizeof(buf), 0);
		}
		pcow_snapshot_delete(img, snaps[(sel >> 3) % (unsigned)n].name);
		if (sel & 0x10000)	/* delete them all: commit needs that */
			for (int i = 0; i < n; i++)
				pcow_snapshot_delete(img, snaps[i].name);
		exercise_read(img);
	}
	pcow_get_info(img, &in);
	if (sel & 0x20000)
		pcow_resize(img, in.virtual_size + ((uint64_t)(sel >> 24) << 16));
	pcow_get_info(img, &in);
	if ((sel & 0x40000) && in.virtual_size <= (8u << 20))
		pcow_commit(img);
	if (sel & 0x80000)
		pcow_rebase(img, "fz-base", (sel & 0x100000) ? PCOW_FMT_RAW : PCOW_FMT_PCOW,
			    true);
	pcow_get_info(img, &in);
	if ((sel & 0x200000) && in.virtual_size <= (8u << 20))
		pcow_rebase(img, NULL, 0, false);	/* safe: copies the base in */
	exercise_read(img);
	pcow_flush(img);
	pcow_close(img);
	/* whatever the operations left must open or fail cleanly */
	{
		size_t len;
		const uint8_t *d = pcow_mem_io_data(io, &len);
		void *io2 = pcow_mem_io_new(d, len, len);
		struct pcow_check_result res = { 0 };
		struct pcow_open_opts o2 = { .flags = PCOW_NO_BASE, .io = &pcow_mem_io_ops,
					     .io_ctx = io2 };
		if (io2) {
			pcow_check("fuzz.pcow", &o2, 0, &res, &err);
			pcow_mem_io_free(io2);
		}
	}
out:
	pcow_mem_io_free(io);
	chain_reset(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pcow_check_result res = { 0 };
	struct chain ch = { 0 };
	struct pcow_error err;
	uint32_t sel = 0x3f0000 | (uint32_t)size;	/* plain input: every op */
	size_t tail = 0;
	void *io;

	if (size > MAX_IMAGE)
		return 0;
	if (size >= 16 && !memcmp(data, "PCOWfz2\n", 8)) {
		uint32_t olen = le32(data + 8);
		sel = le32(data + 12);
		if (olen > size - 16)
			olen = (uint32_t)(size - 16);
		ch.base = data + 16 + olen;
		ch.base_len = size - 16 - olen;
		data += 16;
		size = olen;
		tail = (size_t)((sel >> 8) & 0xff) << 16;	/* up to 16 MiB */
	}

	/* check, read-only */
	io = overlay_io(data, size, tail);
	if (!io)
		return 0;
	struct pcow_open_opts o = { .flags = PCOW_NO_BASE, .io = &pcow_mem_io_ops,
				    .io_ctx = io };
	pcow_check("fuzz.pcow", &o, 0, &res, &err);
	pcow_mem_io_free(io);

	/* open and read */
	io = overlay_io(data, size, tail);
	if (!io)
		return 0;
	o.io_ctx = io;
	struct pcow *img = pcow_open("fuzz.pcow", &o, &err);
	if (img) {
		exercise_read(img);
		pcow_close(img);
	}
	pcow_mem_io_free(io);
	if (!img)
		return 0;
	exercise_ops(data, size, tail, &ch, sel);

	/* repair a copy, then it must check clean or fail cleanly */
	io = pcow_mem_io_new(data, size, size + (4u << 20));
	if (!io)
		return 0;
	o.io_ctx = io;
	o.flags = PCOW_NO_BASE;
	if (pcow_check("fuzz.pcow", &o, PCOW_REPAIR_ALL, &res, &err) == 0) {
		struct pcow_check_result res2 = { 0 };
		if (pcow_check("fuzz.pcow", &o, 0, &res2, &err) == 0 &&
		    (res2.leaks || (res2.corruptions && res.corruptions_fixed == res.corruptions)))
			abort();	/* repair left problems it claimed to fix */
	}
	pcow_mem_io_free(io);

	/* writable: write, snapshot, flush */
	io = pcow_mem_io_new(data, size, size + (4u << 20));
	if (!io)
		return 0;
	o.io_ctx = io;
	o.flags = PCOW_NO_BASE | PCOW_RDWR;
	img = pcow_open("fuzz.pcow", &o, &err);
	if (img) {
		struct pcow_info in;
		uint8_t buf[5000];
		memset(buf, 0xa5, sizeof(buf));
		pcow_get_info(img, &in);
		if (in.virtual_size >= sizeof(buf)) {
			pcow_write(img, buf, sizeof(buf), 0);
			pcow_write(img, buf, 100, in.virtual_size - 100);
		}
		pcow_snapshot_create(img, "fz");
		if (in.virtual_size >= sizeof(buf))
			pcow_write(img, buf, 3000, 1000);
		pcow_snapshot_delete(img, "fz");
		/* label area: add one if missing, write its ends (whole-area
		 * commits at fresh clusters) */
		pcow_label_init(img, 128u << 10);
		if (pcow_label_size(img) >= 200) {
			pcow_label_write(img, buf, 100, 0);
			pcow_label_write(img, buf, 100, pcow_label_size(img) - 100);
		}
		pcow_label_write(img, buf, 2, UINT64_MAX - 1);	/* must fail cleanly */
		/* bad-range record: replace it (whole-area commit), then one
		 * list that breaks the rules (refused, nothing written) */
		{
			struct pcow_bad_range br[2] = { { 0, 1 }, { 4096, 512 } };
			if (in.virtual_size >= 8192)
				pcow_set_bad_ranges(img, br, 2);
			br[1].off = 0;
			pcow_set_bad_ranges(img, br, 2);
		}
		pcow_flush(img);
		pcow_close(img);
	}
	pcow_mem_io_free(io);
	return 0;
}
