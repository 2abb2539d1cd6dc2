/*
 * error.c - libpcow's errors: the code names, the per-image last error
 * (pcow_set_err, pcow_errmsg), pcow_error fills for callers without an
 * image, and the problem reports a damaged but readable image gives.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "internal.h"

/* ---- errors ---- */

const char *pcow_strerror(int code)
{
	static const char *const names[] = {
		"success", "I/O error", "invalid argument", "out of memory",
		"not a pcow image", "image corrupt", "unsupported image",
		"already exists", "not found", "base image problem",
		"image is read-only", "operation not possible now",
		"in use by another process",
	};

	if (code < 0)
		code = -code;
	if ((size_t)code < sizeof(names) / sizeof(names[0]))
		return names[code];
	return "unknown error";
}

static void vfill(struct pcow_error *e, int code, const char *fmt, va_list ap)
{
	e->code = code;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
}

int pcow_set_err(struct pcow *img, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfill(&img->err, code, fmt, ap);
	va_end(ap);
	return -code;
}

int pcow_err_fill(struct pcow_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (e) {
		va_start(ap, fmt);
		vfill(e, code, fmt, ap);
		va_end(ap);
	}
	return -code;
}

void pcow_problem(struct pcow *img, const char *fmt, ...)
{
	char msg[PCOW_ERRMSG_MAX];
	va_list ap;

	img->load_corrupt++;
	if (!img->report)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	img->report(img->report_ctx, msg);
}

const char *pcow_errmsg(const struct pcow *img)
{
	return img->err.msg;
}

int pcow_errcode(const struct pcow *img)
{
	return img->err.code;
}
