/*
 * check.c - libpcow's consistency check and repair (pcow-format.md,
 * "Check rules"). The image is opened leniently and its clusters counted
 * at once (pcow_account(), a streaming walk of every table): structural
 * damage to the root or catalog stops the check (returned as
 * PCOW_ECORRUPT), damaged table entries are counted, reported and dropped
 * (only the tables they were in stay in memory, cleaned).
 * Repair ALL rewrites the damaged layers through the normal metadata
 * commit; repair LEAKS zeroes (punches) unreferenced clusters holding data
 * and trims free clusters from the end of the file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static bool all_zero(const uint8_t *b, size_t n)
{
	const uint64_t *q = (const uint64_t *)b;

	for (size_t i = 0; i < n / 8; i++)
		if (q[i])
			return false;
	for (size_t i = n & ~(size_t)7; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void report(struct pcow_check_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void report(struct pcow_check_result *res, const char *fmt, ...)
{
	char msg[PCOW_ERRMSG_MAX];
	va_list ap;

	if (!res->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	res->report(res->report_ctx, msg);
}

/* Count (and with fix, zero) unreferenced clusters that hold data. */
static int scan_leaks(struct pcow *img, struct pcow_check_result *res, bool fix,
		      uint64_t *count)
{
	uint8_t *buf = malloc(img->csize);
	uint64_t fsize = 0;
	int r = 0;

	*count = 0;
	if (!buf)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	uint64_t data_to = 0;	/* clusters below this: data known to follow */
	for (uint64_t c = img->first_data; c < img->nclusters; c++) {
		if (img->refc[c])
			continue;
		/* skip the file's holes (free clusters there read as zeros) */
		if (img->io->seek_data && c >= data_to) {
			uint64_t d;
			int e = img->io->seek_data(img->ioctx, c << img->cbits, &d);
			if (e == -ENXIO)
				break;
			if (!e && (d >> img->cbits) > c) {
				c = (d >> img->cbits) - 1;	/* the loop's c++ */
				continue;
			}
			data_to = c + 1;
		}
		r = pcow_file_pread(img, buf, img->csize, c << img->cbits);
		if (r)
			break;
		if (all_zero(buf, img->csize))
			continue;
		(*count)++;
		if (!fix) {
			report(res, "leaked cluster %llu (offset %llu)", (unsigned long long)c,
			       (unsigned long long)(c << img->cbits));
			continue;
		}
		int e = img->io->punch ? img->io->punch(img->ioctx, c << img->cbits,
							img->csize) : -1;
		if (e) {
			memset(buf, 0, img->csize);
			r = pcow_file_pwrite(img, buf, img->csize, c << img->cbits);
			if (r)
				break;
		}
	}
	/* The file's tail beyond the last tracked cluster is free (no metadata
	 * references it, no count is kept for it): only its data regions are
	 * read, so a sparse file with a huge apparent size checks fast. */
	img->io->size(img->ioctx, &fsize);
	for (uint64_t c = img->nclusters; !r && c < (fsize >> img->cbits); c++) {
		uint64_t d;
		if (img->io->seek_data) {
			int e = img->io->seek_data(img->ioctx, c << img->cbits, &d);
			if (e == -ENXIO)
				break;
			if (e)
				d = c << img->cbits;	/* unknown: read it */
			if ((d >> img->cbits) > c)
				c = d >> img->cbits;
			if (c >= (fsize >> img->cbits))
				break;
		}
		r = pcow_file_pread(img, buf, img->csize, c << img->cbits);
		if (r || all_zero(buf, img->csize))
			continue;
		(*count)++;
		if (!fix)
			report(res, "leaked cluster %llu (offset %llu) in the unused tail",
			       (unsigned long long)c, (unsigned long long)(c << img->cbits));
		/* with fix: the truncation below drops the whole free tail */
	}
	free(buf);
	if (r)
		return r;
	/* a partial cluster at the end (a crash while extending the file) */
	if (fsize > (img->nclusters << img->cbits) && fsize & (img->csize - 1)) {
		(*count)++;
		if (!fix)
			report(res, "partial cluster at the end of the file (%llu bytes)",
			       (unsigned long long)(fsize & (img->csize - 1)));
	}
	/* with fix: the free tail (and any partial cluster) is cut off */
	if (fix && fsize > (img->nclusters << img->cbits)) {
		int e = img->io->truncate(img->ioctx, img->nclusters << img->cbits);
		if (e)
			return pcow_set_err(img, PCOW_EIO, "%s: truncate failed",
					    img->path);
	}
	return 0;
}

static void tally(struct pcow *img, struct pcow_check_result *res)
{
	uint64_t last = img->first_data, fsize;

	res->allocated_clusters = res->shared_clusters = 0;
	for (uint64_t c = 0; c < img->nclusters; c++) {
		uint8_t v = img->refc[c];
		if (v && v < REFC_META) {
			res->allocated_clusters++;
			if (v > 1)
				res->shared_clusters++;
		}
		if (v)
			last = c + 1;
	}
	res->total_clusters = (img->vsize + img->csize - 1) >> img->cbits;
	res->file_clusters = img->nclusters;
	if (img->io->size(img->ioctx, &fsize) == 0 && (fsize >> img->cbits) > img->nclusters)
		res->file_clusters = fsize >> img->cbits;	/* with the free tail */
	res->image_end_offset = last << img->cbits;
}

static void fwd_report(void *ctx, const char *msg)
{
	struct pcow_check_result *res = ctx;

	if (res->report)
		res->report(res->report_ctx, msg);
}

int pcow_check(const char *path, const struct pcow_open_opts *o, unsigned repair,
	       struct pcow_check_result *res, struct pcow_error *err)
{
	struct pcow_open_opts oo = { 0 };
	struct pcow *img;
	uint64_t leaks;
	int r;

	if (o)
		oo = *o;
	oo.flags = (oo.flags & ~PCOW_RDWR) | PCOW_NO_BASE | (repair ? PCOW_RDWR : 0);
	res->corruptions = res->leaks = res->corruptions_fixed = res->leaks_fixed = 0;
	res->base_ok = true;
	img = pcow_open_internal(path, &oo, 0, true, fwd_report, res, err);
	if (!img)
		return err ? -err->code : -PCOW_EIO;
	res->corruptions = img->load_corrupt;
	if (img->base_fmt && !(o && (o->flags & PCOW_NO_BASE))) {
		r = pcow_open_base(img, 0);
		if (r) {
			res->base_ok = false;
			res->corruptions++;
			report(res, "base: %s", img->err.msg);
		}
	}
	r = scan_leaks(img, res, false, &leaks);
	if (r)
		goto out;
	res->leaks = leaks;
	if ((repair & PCOW_REPAIR_ALL & ~PCOW_REPAIR_LEAKS) && img->load_corrupt) {
		bool rewrite = false;
		for (unsigned i = 0; i < img->nlayers; i++)
			rewrite |= img->layers[i].rewrite;
		/* the new root says: zeros, or no bad ranges */
		rewrite |= img->labels.dropped || img->bad.dropped;
		if (rewrite) {
			img->bumped = false;
			r = pcow_bump_data_gen(img);
			if (!r)
				r = pcow_meta_commit(img);
			if (r)
				goto out;
			res->corruptions_fixed = img->load_corrupt;
		}
	}
	if (repair & PCOW_REPAIR_LEAKS) {
		uint64_t n;
		r = scan_leaks(img, res, true, &n);
		if (r)
			goto out;
		pcow_trim_tail(img);
		r = pcow_file_flush(img);
		if (r)
			goto out;
	}
	if (repair) {
		/* what is left (a corruption fix may free or reuse clusters) */
		void (*rep)(void *, const char *) = res->report;
		uint64_t left;
		res->report = NULL;
		r = scan_leaks(img, res, false, &left);
		res->report = rep;
		if (r)
			goto out;
		if (left > res->leaks)	/* clusters of dropped entries */
			res->leaks = left;
		res->leaks_fixed = res->leaks - left;
	}
	tally(img, res);
out:
	if (r)
		pcow_err_fill(err, img->err.code, "%s", img->err.msg);
	{
		int c = pcow_close(img);
		if (!r && c) {
			r = c;
			pcow_err_fill(err, PCOW_EIO, "%s: close failed", path ? path : "");
		}
	}
	return r;
}
