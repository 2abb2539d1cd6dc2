/*
 * pcow-model-host - the host side of the pcow model and crash tests
 * (run-pcow-model, run-pcow-crash; the model is pcow-model.h):
 *   build DIR SEED      make the chain in DIR with libpcow: base.raw <-
 *                       b1.pcow <- b2.pcow <- img.pcow (snapshots s1, s2,
 *                       then its own clusters)
 *   expect SEED NCPU start|final|s1|s2 OUT
 *                       the device's bytes before the model run, or after
 *                       a complete one with NCPU CPUs, or snapshot s1's or
 *                       s2's view (layers 0-3, 0-4), as a raw file
 *   allocs              clusters the model run must allocate (every
 *                       cluster it writes that is not the active layer's own)
 *   crash-check SEED ROUNDS FLUSHED RAW
 *                       RAW (convert -O raw of the image after kill -9)
 *                       against the crash run: rounds 0..FLUSHED (-1: none)
 *                       exactly there, each word of a later round either
 *                       its old or its new value, everything else as before
 * Exit 0 ok, 1 mismatch or error (said on stderr), 2 usage.
 */
#include "pcow.h"
#include "pcow-model.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t *buf;	/* PM_SIZE bytes */

static int die(const char *what, const char *msg)
{
	fprintf(stderr, "pcow-model-host: %s: %s\n", what, msg);
	return 1;
}

/* Write layer's granules into img (buf is scratch). */
static int write_layer(struct pcow *img, uint64_t seed, int layer)
{
	uint64_t g = pm_granule(layer);

	for (uint64_t off = 0; off < PM_SIZE; off += g) {
		if (!pm_holds(layer, off))
			continue;
		for (uint64_t o = off; o < off + g; o += 8)
			buf[o / 8] = pm_val(seed, layer, o);
		if (pcow_write(img, (uint8_t *)buf + off, g, off))
			return -1;
	}
	return 0;
}

static int make_pcow(const char *path, const char *base, int fmt, unsigned bits,
		     uint64_t seed, int layer)
{
	struct pcow_create_opts co = { .virtual_size = PM_SIZE, .cluster_bits = bits,
				       .base = base, .base_format = fmt };
	struct pcow_open_opts oo = { .flags = PCOW_RDWR };
	struct pcow_error e = { 0 };
	struct pcow *img;

	if (pcow_create(path, &co, &e))
		return die(path, e.msg[0] ? e.msg : pcow_strerror(e.code));
	img = pcow_open(path, &oo, &e);
	if (!img)
		return die(path, e.msg[0] ? e.msg : pcow_strerror(e.code));
	if (write_layer(img, seed, layer))
		return die(path, pcow_errmsg(img));
	if (layer == 3) {
		if (pcow_snapshot_create(img, "s1") || write_layer(img, seed, 4) ||
		    pcow_snapshot_create(img, "s2") || write_layer(img, seed, 5))
			return die(path, pcow_errmsg(img));
	}
	if (pcow_close(img))
		return die(path, "close (flush) failed");
	return 0;
}

static int build(const char *dir, uint64_t seed)
{
	int fd;

	if (chdir(dir))
		return die(dir, strerror(errno));
	memset(buf, 0, PM_SIZE);
	for (uint64_t off = 0; off < PM_SIZE; off += 8)
		if (pm_holds(0, off))
			buf[off / 8] = pm_val(seed, 0, off);
	fd = open("base.raw", O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0 || write(fd, buf, PM_SIZE) != (ssize_t)PM_SIZE || close(fd))
		return die("base.raw", strerror(errno));
	return make_pcow("b1.pcow", "base.raw", PCOW_FMT_RAW, 12, seed, 1) ||
	       make_pcow("b2.pcow", "b1.pcow", PCOW_FMT_PCOW, 14, seed, 2) ||
	       make_pcow("img.pcow", "b2.pcow", PCOW_FMT_PCOW, 16, seed, 3);
}

/* The word off shows with only layers 0..top. */
static uint64_t view(uint64_t seed, int top, uint64_t off)
{
	for (int l = top; l >= 0; l--)
		if (pm_holds(l, off))
			return pm_val(seed, l, off);
	return 0;
}

static int expect(uint64_t seed, int ncpu, const char *what, const char *out)
{
	int fd;

	for (uint64_t off = 0; off < PM_SIZE; off += 8)
		buf[off / 8] = !strcmp(what, "final") ? pm_final(seed, ncpu, off) :
			       !strcmp(what, "s1") ? view(seed, 3, off) :
			       !strcmp(what, "s2") ? view(seed, 4, off) : pm_start(seed, off);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, PM_SIZE) != (ssize_t)PM_SIZE || close(fd))
		return die(out, strerror(errno));
	return 0;
}

static int crash_check(uint64_t seed, unsigned rounds, int flushed, const char *raw)
{
	int fd = open(raw, O_RDONLY), bad = 0;
	uint64_t lost = 0, kept = 0;
	static signed char round_of[PM_SIZE / 8];

	memset(round_of, -1, sizeof(round_of));
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned w = 0; w < PM_CRASH_WORDS; w++)
			round_of[pm_crash_off(r) / 8 + w] = (signed char)r;

	if (fd < 0 || read(fd, buf, PM_SIZE) != (ssize_t)PM_SIZE)
		return die(raw, fd < 0 ? strerror(errno) : "short read");
	close(fd);
	for (uint64_t off = 0; off < PM_SIZE; off += 8) {
		int r = round_of[off / 8];
		uint64_t old = pm_start(seed, off), got = buf[off / 8], nv;
		const char *why = NULL;

		if (r < 0) {
			if (got != old)
				why = "changed, no round writes it";
		} else {
			nv = pm_val(seed, PM_CRASH, off);
			if (r <= flushed && got != nv)
				why = got == old ? "flushed round lost" : "flushed round garbled";
			else if (r > flushed && got != nv && got != old)
				why = "unflushed round neither old nor new";
			if (r > flushed)
				got == nv ? kept++ : lost++;
		}
		if (why && bad++ < 8)
			fprintf(stderr, "pcow-model-host: offset 0x%" PRIx64 " (round %d, flushed "
				"%d): %s: 0x%016" PRIx64 ", old 0x%016" PRIx64 "\n", off, r,
				flushed, why, got, old);
	}
	printf("crash-check: %d bad words; words of the rounds after the last flush: %"
	       PRIu64 " new, %" PRIu64 " old\n", bad, kept, lost);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	buf = malloc(PM_SIZE);
	if (!buf)
		return die("memory", strerror(errno));
	if (argc == 4 && !strcmp(argv[1], "build"))
		return build(argv[2], strtoull(argv[3], NULL, 0));
	if (argc == 6 && !strcmp(argv[1], "expect") &&
	    (!strcmp(argv[4], "start") || !strcmp(argv[4], "final") ||
	     !strcmp(argv[4], "s1") || !strcmp(argv[4], "s2"))) {
		int ncpu = atoi(argv[3]);

		if (ncpu < 1 || ncpu > PM_MAX_CPUS)
			return die("expect", "NCPU out of range");
		return expect(strtoull(argv[2], NULL, 0), ncpu, argv[4], argv[5]);
	}
	if (argc == 2 && !strcmp(argv[1], "allocs")) {
		int n = 0;

		for (uint64_t c = 0; c < PM_RUN_CL; c++)
			n += !pm_holds(5, c * PM_CSIZE);
		printf("%d\n", n);
		return 0;
	}
	if (argc == 6 && !strcmp(argv[1], "crash-check")) {
		unsigned rounds = (unsigned)atoi(argv[3]);

		if (rounds > PM_IMG_CL)
			return die("crash-check", "at most 64 rounds");
		return crash_check(strtoull(argv[2], NULL, 0), rounds, atoi(argv[4]), argv[5]);
	}
	fprintf(stderr, "usage: pcow-model-host build DIR SEED | expect SEED NCPU start|final|s1|s2 OUT"
		" | allocs | crash-check SEED ROUNDS FLUSHED RAW\n");
	return 2;
}
