/*
 * model_test.c - randomized model test of libpcow: long random sequences of
 * writes (any size and alignment), prepare_write, snapshot create / apply /
 * delete, grow, flush, close + reopen, on an in-memory image, against a
 * plain byte-array model of the image and of every snapshot. After every
 * operation the image must read exactly as the model; after every reopen,
 * pcow_check() must find neither corruption nor leaks, and a random
 * snapshot (applied on a copy) must read as it was taken.
 * Usage: pcow-model-test [SEEDS [OPS]]  (deterministic per seed)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pcow.h"

#define VMAX (5u << 20)	/* beyond one L2 table's span with 4K clusters */
#define MAXS 6

static uint64_t rng;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}
static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

struct snap {
	char name[16];
	uint64_t vs;
	uint8_t *data;
};

static uint8_t view[VMAX], got[VMAX];
static struct snap snaps[MAXS];
static int nsnap;
static uint64_t vs;
static int failures;

#define FAIL(...) do { printf("FAIL seed %llu op %d: ", (unsigned long long)seed, op); \
	printf(__VA_ARGS__); printf("\n"); failures++; return -1; } while (0)

static struct pcow *reopen(void *io, unsigned flags)
{
	struct pcow_open_opts o = { .flags = flags, .io = &pcow_mem_io_ops, .io_ctx = io };
	struct pcow_error e;
	struct pcow *img = pcow_open("model", &o, &e);

	if (!img)
		printf("reopen: %s\n", e.msg);
	return img;
}

static int run(uint64_t seed, int ops)
{
	unsigned cbits = 12 + (unsigned)(seed % 3) * 2;	/* 4K, 16K, 64K */
	void *io = pcow_mem_io_new(NULL, 0, 64u << 20);
	struct pcow_create_opts co = { .virtual_size = 256u << 10, .cluster_bits = cbits,
				       .io = &pcow_mem_io_ops, .io_ctx = io };
	struct pcow_error e;
	struct pcow *img;
	int op = 0;

	rng = seed * 0x9e3779b97f4a7c15ULL + 1;
	nsnap = 0;
	vs = co.virtual_size;
	memset(view, 0, sizeof(view));
	if (pcow_create("model", &co, &e)) {
		printf("create: %s\n", e.msg);
		return -1;
	}
	img = reopen(io, PCOW_RDWR);
	if (!img)
		return -1;
	for (op = 0; op < ops; op++) {
		int k = (int)below(100);
		uint64_t woff = 0, wlen = 0;
		if (k < 45) {
			uint64_t off = below(vs), len = 1 + below(k < 10 ? vs - off : (uint64_t)3 << cbits);
			if (len > vs - off)
				len = vs - off;
			uint8_t *b = malloc(len);
			uint8_t v = (uint8_t)rnd();
			for (uint64_t i = 0; i < len; i++)
				b[i] = (uint8_t)(v + i);
			if (pcow_write(img, b, len, off))
				FAIL("write: %s", pcow_errmsg(img));
			memcpy(view + off, b, len);
			free(b);
			woff = off;
			wlen = len;
		} else if (k < 50) {
			uint64_t host;
			if (pcow_prepare_write(img, below(vs), &host))
				FAIL("prepare_write: %s", pcow_errmsg(img));
		} else if (k < 58 && nsnap < MAXS) {
			struct snap *s = &snaps[nsnap];
			snprintf(s->name, sizeof(s->name), "s%d", op);
			if (pcow_snapshot_create(img, s->name))
				FAIL("snapshot create: %s", pcow_errmsg(img));
			s->vs = vs;
			s->data = malloc(vs);
			memcpy(s->data, view, vs);
			nsnap++;
		} else if (k < 64 && nsnap) {
			struct snap *s = &snaps[below((uint64_t)nsnap)];
			if (pcow_snapshot_apply(img, s->name))
				FAIL("apply %s: %s", s->name, pcow_errmsg(img));
			memset(view, 0, sizeof(view));
			memcpy(view, s->data, s->vs);
			vs = s->vs;
		} else if (k < 71 && nsnap) {
			int i = (int)below((uint64_t)nsnap);
			if (pcow_snapshot_delete(img, snaps[i].name))
				FAIL("delete %s: %s", snaps[i].name, pcow_errmsg(img));
			free(snaps[i].data);
			snaps[i] = snaps[--nsnap];
		} else if (k < 74) {
			uint64_t nv = vs + below(VMAX - vs + 1);
			if (pcow_resize(img, nv))
				FAIL("resize: %s", pcow_errmsg(img));
			vs = nv;
		} else if (k < 80) {
			if (pcow_flush(img))
				FAIL("flush: %s", pcow_errmsg(img));
		} else if (k < 86) {
			if (pcow_close(img))
				FAIL("close");
			struct pcow_open_opts o = { .io = &pcow_mem_io_ops, .io_ctx = io };
			struct pcow_check_result res = { 0 };
			if (pcow_check("model", &o, 0, &res, &e))
				FAIL("check: %s", e.msg);
			if (res.corruptions || res.leaks)
				FAIL("check: %llu corruptions, %llu leaks",
				     (unsigned long long)res.corruptions,
				     (unsigned long long)res.leaks);
			if (nsnap) {
				/* a snapshot's contents, applied on a copy */
				size_t len;
				const uint8_t *d = pcow_mem_io_data(io, &len);
				void *cp = pcow_mem_io_new(d, len, 64u << 20);
				struct snap *s = &snaps[below((uint64_t)nsnap)];
				struct pcow *c = reopen(cp, PCOW_RDWR);
				int bad = !c || pcow_snapshot_apply(c, s->name) ||
					  pcow_read(c, got, s->vs, 0) || memcmp(got, s->data, s->vs);
				if (c)
					pcow_close(c);
				pcow_mem_io_free(cp);
				if (bad)
					FAIL("snapshot %s differs", s->name);
			}
			img = reopen(io, PCOW_RDWR);
			if (!img)
				FAIL("reopen");
		} else {
			continue;
		}
		struct pcow_info in;
		pcow_get_info(img, &in);
		if (in.virtual_size != vs)
			FAIL("size %llu, model %llu", (unsigned long long)in.virtual_size,
			     (unsigned long long)vs);
		/* whole image now and then and after structural changes; else
		 * the written range and a random window */
		uint64_t ro = 0, rl = vs;
		if (wlen && op % 8) {
			ro = woff;
			rl = wlen;
		}
		for (int pass = 0; pass < 2; pass++) {
			if (pcow_read(img, got + ro, rl, ro))
				FAIL("read: %s", pcow_errmsg(img));
			if (memcmp(got + ro, view + ro, rl)) {
				uint64_t i = ro;
				while (got[i] == view[i])
					i++;
				FAIL("data differs at %llu (op kind %d)", (unsigned long long)i, k);
			}
			if (rl == vs)
				break;
			ro = below(vs);
			rl = vs - ro < (256u << 10) ? vs - ro : (256u << 10);
		}
	}
	pcow_close(img);
	pcow_mem_io_free(io);
	for (int i = 0; i < nsnap; i++)
		free(snaps[i].data);
	return 0;
}

int main(int argc, char **argv)
{
	int seeds = argc > 1 ? atoi(argv[1]) : 12;
	int ops = argc > 2 ? atoi(argv[2]) : 300;

	for (int s = 1; s <= seeds; s++)
		if (run((uint64_t)s, ops) && failures > 5)
			break;
	printf("%d seeds x %d ops: %d failures\n", seeds, ops, failures);
	return failures ? 1 : 0;
}
