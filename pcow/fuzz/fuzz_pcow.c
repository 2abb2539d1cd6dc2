/*
 * fuzz_pcow.c - libFuzzer entry point over libpcow's hostile-input paths:
 * the input is an image file, held in memory (pcow_mem_io). It is checked,
 * opened, translated and read; a copy is repaired and checked again; a
 * second copy is opened writable and written and snapshotted. Nothing may
 * crash, hang, leak or read out of bounds (ASan+UBSan). Base images are
 * never opened (PCOW_NO_BASE): the input must not reach other files.
 *
 * Built as a libFuzzer target with clang, and linked with replay.c (the
 * same entry point run over files) with other compilers.
 */
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
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pcow_check_result res = { 0 };
	struct pcow_error err;
	void *io;

	if (size > MAX_IMAGE)
		return 0;

	/* check, read-only */
	io = pcow_mem_io_new(data, size, size);
	if (!io)
		return 0;
	struct pcow_open_opts o = { .flags = PCOW_NO_BASE, .io = &pcow_mem_io_ops,
				    .io_ctx = io };
	pcow_check("fuzz.pcow", &o, 0, &res, &err);
	pcow_mem_io_free(io);

	/* open and read */
	io = pcow_mem_io_new(data, size, size);
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
		pcow_flush(img);
		pcow_close(img);
	}
	pcow_mem_io_free(io);
	return 0;
}
