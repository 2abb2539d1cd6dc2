/*
 * dsm.c - the vmm side of the NVDIMM _DSM / label-method channel.
 *
 * The guest's AML (aml_nvdimm.c) writes a request into a 4 KiB shared page
 * and writes the page's address to an I/O port; module.c then calls
 * nvdimm_dsm_handle() on the page. The page belongs to a hostile guest: it
 * is copied once into a private buffer (no re-reads, so no check/use race
 * with other vCPUs), every length and offset is checked, and label bytes
 * are reached only through nvdimm_label_at(). The response overwrites the
 * page. The request layout is in nvdimm.h and docs/nvdimm.md. Requests to
 * the root device (handle 0) go to ars.c when the context has ARS state.
 */
#include "nvdimm.h"

#include <stdio.h>
#include <string.h>

#include "le.h"

void nvdimm_child_name(int i, char buf[5])
{
	static const char hex[] = "0123456789ABCDEF";

	buf[0] = 'N';
	buf[1] = 'V';
	buf[2] = hex[(i >> 4) & 0xf];
	buf[3] = hex[i & 0xf];
	buf[4] = '\0';
}

uint8_t *nvdimm_label_at(const struct nvdimm_label_area *la, uint64_t off, uint64_t len)
{
	if (!la || !la->base || la->size == 0)
		return NULL;
	if (off > la->size || len > la->size - off)
		return NULL;
	return la->base + off;
}

struct reply {
	uint8_t buf[NVDIMM_DSM_OUT_MAX];
	uint32_t len;
};

static uint32_t status_only(struct reply *r, uint32_t status)
{
	put_le32(r->buf, status);
	r->len = 4;
	return status;
}

/* The label bytes a read or write request names: the input is {u32 offset,
 * u32 length} and, for a write (with_data), the length's bytes of data.
 * Returns them, or NULL with *status the answer to give: the _DSM's or the
 * ACPI label method's (acpi) "unsupported"/"invalid". */
static uint8_t *label_span(const struct nvdimm_label_area *la, const uint8_t *in,
			   uint32_t inlen, bool acpi, bool with_data,
			   uint32_t *off, uint32_t *len, uint32_t *status)
{
	uint8_t *span;

	*status = acpi ? NVDIMM_LS_INVALID : NVDIMM_ST_UNSUPPORTED;
	if (!la->size)
		return NULL;
	*status = acpi ? NVDIMM_LS_INVALID : NVDIMM_ST_INVALID;
	if (inlen < 8)
		return NULL;
	*off = get_le32(in);
	*len = get_le32(in + 4);
	if (*len > NVDIMM_MAX_XFER || (with_data && *len > inlen - 8))
		return NULL;
	span = nvdimm_label_at(la, *off, *len);
	if (span)
		*status = 0;
	return span;
}

static uint32_t label_read(struct nvdimm_label_area *la, const uint8_t *in, uint32_t inlen,
			   struct reply *r, bool acpi)
{
	uint32_t off, len, status;
	const uint8_t *src = label_span(la, in, inlen, acpi, false, &off, &len,
					&status);

	if (!src)
		return status_only(r, status);
	put_le32(r->buf, 0);
	memcpy(r->buf + 4, src, len);
	r->len = 4 + len;
	return 0;
}

static uint32_t label_write(struct nvdimm_dsm *ctx, int idx, const uint8_t *in,
			    uint32_t inlen, struct reply *r, bool acpi)
{
	struct nvdimm_label_area *la = &ctx->areas[idx];
	uint32_t off, len, status;
	uint8_t *dst = label_span(la, in, inlen, acpi, true, &off, &len, &status);

	if (!dst)
		return status_only(r, status);
	if (la->readonly)
		return status_only(r, acpi ? NVDIMM_LS_LOCKED : NVDIMM_ST_UNSUPPORTED);
	memcpy(dst, in + 8, len);
	if (ctx->label_written && ctx->label_written(ctx->opaque, idx, off, len))
		return status_only(r, acpi ? NVDIMM_LS_INVALID : NVDIMM_ST_HW_ERROR);
	return status_only(r, 0);
}

/* NVDIMM_FN_FIT: {u32 offset} -> {u32 status, bytes from offset}. */
static uint32_t fit_read(struct nvdimm_dsm *ctx, const uint8_t *in, uint32_t inlen,
			 struct reply *r)
{
	uint32_t off;
	size_t n;

	if (!ctx->fit)
		return status_only(r, NVDIMM_ST_UNSUPPORTED);
	if (inlen < 4)
		return status_only(r, NVDIMM_ST_INVALID);
	off = get_le32(in);
	if (off == 0)
		ctx->fit_pass_gen = ctx->fit_gen;
	else if (ctx->fit_pass_gen != ctx->fit_gen)
		return status_only(r, NVDIMM_ST_FIT_CHANGED);
	if (off > ctx->fit_len)
		return status_only(r, NVDIMM_ST_INVALID);
	n = ctx->fit_len - off;
	if (n > NVDIMM_FIT_CHUNK)
		n = NVDIMM_FIT_CHUNK;
	put_le32(r->buf, 0);
	memcpy(r->buf + 4, ctx->fit + off, n);
	r->len = 4 + (uint32_t)n;
	return 0;
}

static uint32_t dispatch(struct nvdimm_dsm *ctx, const uint8_t *req, struct reply *r)
{
	uint32_t handle = get_le32(req), rev = get_le32(req + 4);
	uint32_t fn = get_le32(req + 8);
	uint32_t inlen = get_le32(req + 12);
	const uint8_t *in = req + 16;
	bool acpi = fn == NVDIMM_FN_LSR || fn == NVDIMM_FN_LSW;
	struct nvdimm_label_area *la;

	if (inlen > NVDIMM_DSM_IN_MAX)
		return status_only(r, acpi ? NVDIMM_LS_INVALID : NVDIMM_ST_INVALID);
	if (handle == 0 && fn == NVDIMM_FN_FIT)
		return fit_read(ctx, in, inlen, r);
	if (handle == 0) {
		/* Root device: ARS and clear (ars.c), or only the query. */
		if (ctx->ars)
			return nvdimm_ars_call(ctx->ars, rev, fn, in, inlen, r->buf, &r->len);
		if (fn == NVDIMM_FN_QUERY) {
			r->buf[0] = 0;
			r->len = 1;
			return 0;
		}
		return status_only(r, NVDIMM_ST_UNSUPPORTED);
	}
	if (handle > (uint32_t)ctx->n) {
		/* an empty hot-add slot: no functions */
		if (fn == NVDIMM_FN_QUERY) {
			r->buf[0] = 0;
			r->len = 1;
			return 0;
		}
		return status_only(r, acpi ? NVDIMM_LS_INVALID : NVDIMM_ST_NO_DEVICE);
	}
	la = &ctx->areas[handle - 1];

	switch (fn) {
	case NVDIMM_FN_QUERY:
		r->buf[0] = la->size ? 0x71 : 0x01; /* functions 0, 4, 5, 6 */
		r->len = 1;
		return 0;
	case NVDIMM_FN_GET_LABEL_SIZE:
		if (rev != 1 || !la->size)
			return status_only(r, NVDIMM_ST_UNSUPPORTED);
		put_le32(r->buf, 0);
		put_le32(r->buf + 4, (uint32_t)la->size);
		put_le32(r->buf + 8, NVDIMM_MAX_XFER);
		r->len = 12;
		return 0;
	case NVDIMM_FN_GET_LABEL_DATA:
		if (rev != 1)
			return status_only(r, NVDIMM_ST_UNSUPPORTED);
		return label_read(la, in, inlen, r, false);
	case NVDIMM_FN_SET_LABEL_DATA:
		if (rev != 1)
			return status_only(r, NVDIMM_ST_UNSUPPORTED);
		return label_write(ctx, (int)handle - 1, in, inlen, r, false);
	case NVDIMM_FN_LSR:
		return label_read(la, in, inlen, r, true);
	case NVDIMM_FN_LSW:
		return label_write(ctx, (int)handle - 1, in, inlen, r, true);
	default:
		return status_only(r, NVDIMM_ST_UNSUPPORTED);
	}
}

uint32_t nvdimm_dsm_handle(struct nvdimm_dsm *ctx, uint8_t *page)
{
	static _Thread_local uint8_t req[NVDIMM_PAGE];
	static _Thread_local struct reply r;
	uint32_t status;

	memcpy(req, page, NVDIMM_PAGE);
	r.len = 0;
	status = dispatch(ctx, req, &r);
	ctx->calls++;
	if (status)
		ctx->errors++;
	put_le32(page, r.len);
	memcpy(page + 4, r.buf, r.len);
	return status;
}
