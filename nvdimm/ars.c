/*
 * ars.c - bad ranges of emulated NVDIMMs and the NFIT root device's
 * Address Range Scrub functions (ACPI 6.x, 9.20.7.2-9.20.7.6): Query ARS
 * Capabilities, Start ARS, Query ARS Status and Clear Uncorrectable Error.
 *
 * The vmm knows every bad range (the host told it with a SIGBUS, a backing
 * file shrank, or an operator injected one), so a scrub has nothing to scan:
 * Start ARS remembers the range and finishes at once, Query ARS Status
 * reports the recorded ranges inside it. Guest input is hostile: lengths are
 * checked against the function's layout, and every SPA address and length
 * goes through nvdimm_ars_find(). Pure code, no KVM: the unit tests and the
 * DSM fuzzer drive it. Also the text of the sidecar record (docs/nvdimm.md).
 */
#include "nvdimm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"

/* ---- The list ------------------------------------------------------------ */

int nvdimm_bad_add(struct nvdimm_badlist *l, uint64_t off, uint64_t len, uint64_t size)
{
	uint64_t end;
	int i, j;

	if (len == 0 || off >= size || len > size - off)
		return -1;
	end = off + len;
	/* First range that ends at or after off (touching ranges merge). */
	for (i = 0; i < l->n && l->r[i].off + l->r[i].len < off; i++)
		;
	/* Ranges i..j-1 overlap or touch [off, end). */
	for (j = i; j < l->n && l->r[j].off <= end; j++) {
		if (l->r[j].off < off)
			off = l->r[j].off;
		if (l->r[j].off + l->r[j].len > end)
			end = l->r[j].off + l->r[j].len;
	}
	if (j == i) {
		if (l->n == NVDIMM_BAD_MAX)
			return -1;
		memmove(&l->r[i + 1], &l->r[i], (size_t)(l->n - i) * sizeof(l->r[0]));
		l->n++;
	} else if (j > i + 1) {
		memmove(&l->r[i + 1], &l->r[j], (size_t)(l->n - j) * sizeof(l->r[0]));
		l->n -= j - i - 1;
	}
	l->r[i].off = off;
	l->r[i].len = end - off;
	return 0;
}

int64_t nvdimm_bad_clear(struct nvdimm_badlist *l, uint64_t off, uint64_t len)
{
	struct nvdimm_badlist out;
	uint64_t end = off + len;
	int64_t removed = 0;

	if (end < off)
		return -1;
	out.n = 0;
	for (int i = 0; i < l->n; i++) {
		uint64_t s = l->r[i].off, e = s + l->r[i].len;

		if (e <= off || s >= end) {
			if (out.n == NVDIMM_BAD_MAX)
				return -1;
			out.r[out.n++] = l->r[i];
			continue;
		}
		removed += (int64_t)((e < end ? e : end) - (s > off ? s : off));
		if (s < off) {
			if (out.n == NVDIMM_BAD_MAX)
				return -1;
			out.r[out.n++] = (struct nvdimm_badrange){ s, off - s };
		}
		if (e > end) {
			if (out.n == NVDIMM_BAD_MAX)
				return -1;
			out.r[out.n++] = (struct nvdimm_badrange){ end, e - end };
		}
	}
	*l = out;
	return removed;
}

bool nvdimm_bad_hit(const struct nvdimm_badlist *l, uint64_t off, uint64_t len)
{
	uint64_t end = off + len;

	if (end < off)
		end = UINT64_MAX;
	for (int i = 0; i < l->n; i++)
		if (l->r[i].off < end && l->r[i].off + l->r[i].len > off)
			return true;
	return false;
}

#define SIDECAR_MAGIC "pmvm-badblocks 1\n"

size_t nvdimm_bad_format(const struct nvdimm_badlist *l, char *buf, size_t cap)
{
	size_t pos = 0;
	int n;

	n = snprintf(buf, cap, "%s", SIDECAR_MAGIC);
	pos += (size_t)n;
	for (int i = 0; i < l->n; i++) {
		n = snprintf(pos < cap ? buf + pos : NULL, pos < cap ? cap - pos : 0,
			     "%" PRIu64 " %" PRIu64 "\n", l->r[i].off, l->r[i].len);
		pos += (size_t)n;
	}
	return pos;
}

static int parse_u64(const char **p, const char *end, uint64_t *v)
{
	uint64_t x = 0;
	const char *s = *p;

	if (s == end || *s < '0' || *s > '9')
		return -1;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (x > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*v = x;
	return 0;
}

int nvdimm_bad_parse(const char *text, size_t len, uint64_t size,
		     struct nvdimm_badlist *l, char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	int line = 1;

	l->n = 0;
	if (len < strlen(SIDECAR_MAGIC) || memcmp(text, SIDECAR_MAGIC, strlen(SIDECAR_MAGIC))) {
		snprintf(err, errlen, "line 1: not a pmvm bad-range record (expected "
			 "'pmvm-badblocks 1')");
		return -1;
	}
	p += strlen(SIDECAR_MAGIC);
	while (p < end) {
		uint64_t off, len2;

		line++;
		if (parse_u64(&p, end, &off) || p == end || *p++ != ' ' ||
		    parse_u64(&p, end, &len2) || p == end || *p++ != '\n') {
			snprintf(err, errlen, "line %d: expected 'OFFSET LENGTH' (decimal bytes)",
				 line);
			return -1;
		}
		if (nvdimm_bad_add(l, off, len2, size)) {
			snprintf(err, errlen, "line %d: range %" PRIu64 "+%" PRIu64 " is empty, "
				 "outside the %" PRIu64 "-byte DIMM, or one too many (at most %d)",
				 line, off, len2, size, NVDIMM_BAD_MAX);
			return -1;
		}
	}
	return 0;
}

/* ---- Root _DSM -------------------------------------------------------------- */

int nvdimm_ars_find(const struct nvdimm_ars *a, uint64_t addr, uint64_t len, uint64_t *off)
{
	if (!a || len == 0 || addr + len < addr)
		return -1;
	for (int i = 0; i < a->n; i++) {
		const struct nvdimm_ars_dimm *d = &a->d[i];

		if (addr >= d->spa && addr - d->spa < d->size &&
		    len <= d->size - (addr - d->spa)) {
			*off = addr - d->spa;
			return i;
		}
	}
	return -1;
}

static uint32_t st_only(uint8_t *out, uint32_t *outlen, uint32_t st)
{
	put_le32(out, st);
	*outlen = 4;
	return st & 0xffff;
}

/* Input {u64 address, u64 length}: the DIMM it lies in, or -1. */
static int in_range(const struct nvdimm_ars *a, const uint8_t *in, uint32_t inlen,
		    uint32_t need, uint64_t *addr, uint64_t *len, uint64_t *off)
{
	if (inlen < need)
		return -1;
	*addr = get_le64(in);
	*len = get_le64(in + 8);
	return nvdimm_ars_find(a, *addr, *len, off);
}

static uint32_t ars_cap(struct nvdimm_ars *a, const uint8_t *in, uint32_t inlen,
			uint8_t *out, uint32_t *outlen)
{
	uint64_t addr, len, off;

	if (in_range(a, in, inlen, 16, &addr, &len, &off) < 0)
		return st_only(out, outlen, NVDIMM_RST_INVALID);
	memset(out, 0, 16);
	put_le32(out, (uint32_t)NVDIMM_ARS_PERSISTENT << 16);
	put_le32(out + 4, NVDIMM_ARS_MAX_OUT);
	put_le32(out + 8, NVDIMM_CLEAR_UNIT);
	*outlen = 16;
	return 0;
}

static uint32_t ars_start(struct nvdimm_ars *a, const uint8_t *in, uint32_t inlen,
			  uint8_t *out, uint32_t *outlen)
{
	uint64_t addr, len, off;
	uint16_t type;

	if (in_range(a, in, inlen, 24, &addr, &len, &off) < 0)
		return st_only(out, outlen, NVDIMM_RST_INVALID);
	type = get_le16(in + 16);
	if (!(type & NVDIMM_ARS_PERSISTENT) || (type & ~(NVDIMM_ARS_PERSISTENT |
							  NVDIMM_ARS_VOLATILE)))
		return st_only(out, outlen, NVDIMM_RST_INVALID);
	a->state = NVDIMM_ARS_DONE;
	a->addr = addr;
	a->len = len;
	a->type = NVDIMM_ARS_PERSISTENT;
	a->starts++;
	put_le32(out, 0);
	put_le32(out + 4, 0);   /* estimated scrub time: none */
	*outlen = 8;
	return 0;
}

static uint32_t ars_status(struct nvdimm_ars *a, uint8_t *out, uint32_t *outlen)
{
	uint64_t end = a->addr + a->len;
	uint32_t nrec = 0;
	bool overflow = false;
	uint64_t restart = 0;

	a->queries++;
	memset(out, 0, NVDIMM_ARS_HDR);
	if (a->state == NVDIMM_ARS_NONE) {
		put_le32(out, NVDIMM_ARS_EXT_NONE);
		put_le32(out + 4, NVDIMM_ARS_HDR - 4);
		*outlen = NVDIMM_ARS_HDR;
		return 0;
	}
	for (int i = 0; i < a->n && !overflow; i++) {
		const struct nvdimm_ars_dimm *d = &a->d[i];

		for (int j = 0; d->bad && j < d->bad->n; j++) {
			uint64_t s = d->spa + d->bad->r[j].off, e = s + d->bad->r[j].len;
			uint8_t *rec;

			if (s < a->addr)
				s = a->addr;
			if (e > end)
				e = end;
			if (s >= e)
				continue;
			if (nrec == NVDIMM_ARS_MAX_RECS) {
				overflow = true;
				restart = s;
				break;
			}
			rec = out + NVDIMM_ARS_HDR + (size_t)nrec * NVDIMM_ARS_REC;
			put_le32(rec, d->handle);
			put_le32(rec + 4, 0);
			put_le64(rec + 8, s);
			put_le64(rec + 16, e - s);
			nrec++;
		}
	}
	put_le32(out, 0);
	put_le32(out + 4, NVDIMM_ARS_HDR - 4 + nrec * NVDIMM_ARS_REC);
	put_le64(out + 8, a->addr);
	put_le64(out + 16, a->len);
	if (overflow) {
		put_le64(out + 24, restart);
		put_le64(out + 32, end - restart);
	}
	put_le16(out + 40, a->type);
	put_le16(out + 42, overflow ? NVDIMM_ARS_FLAG_OVERFLOW : 0);
	put_le32(out + 44, nrec);
	*outlen = NVDIMM_ARS_HDR + nrec * NVDIMM_ARS_REC;
	return 0;
}

static uint32_t clear_error(struct nvdimm_ars *a, const uint8_t *in, uint32_t inlen,
			    uint8_t *out, uint32_t *outlen)
{
	uint64_t addr, len, off;
	int64_t bytes;
	int idx = in_range(a, in, inlen, 16, &addr, &len, &off);

	if (idx < 0 || (addr | len) % NVDIMM_CLEAR_UNIT)
		return st_only(out, outlen, NVDIMM_RST_INVALID);
	bytes = a->d[idx].bad ? nvdimm_bad_clear(a->d[idx].bad, off, len) : 0;
	if (bytes < 0)
		return st_only(out, outlen, NVDIMM_RST_HW_ERROR);
	a->clears++;
	memset(out, 0, 16);
	if (a->cleared && a->cleared(a->opaque, idx, off, len, (uint64_t)bytes))
		return st_only(out, outlen, NVDIMM_RST_HW_ERROR);
	put_le64(out + 8, len);
	*outlen = 16;
	return 0;
}

uint32_t nvdimm_ars_call(struct nvdimm_ars *a, uint32_t rev, uint32_t fn, const uint8_t *in,
			 uint32_t inlen, uint8_t *out, uint32_t *outlen)
{
	if (fn == NVDIMM_FN_QUERY) {
		out[0] = NVDIMM_ROOT_MASK;
		*outlen = 1;
		return 0;
	}
	if (rev != 1)
		return st_only(out, outlen, NVDIMM_RST_UNSUPPORTED);
	switch (fn) {
	case NVDIMM_ROOT_ARS_CAP:
		return ars_cap(a, in, inlen, out, outlen);
	case NVDIMM_ROOT_ARS_START:
		return ars_start(a, in, inlen, out, outlen);
	case NVDIMM_ROOT_ARS_STATUS:
		return ars_status(a, out, outlen);
	case NVDIMM_ROOT_CLEAR_ERROR:
		return clear_error(a, in, inlen, out, outlen);
	default:
		return st_only(out, outlen, NVDIMM_RST_UNSUPPORTED);
	}
}
