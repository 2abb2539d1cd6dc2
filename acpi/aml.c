/*
 * aml.c - AML byte-code builder (see aml.h for the model).
 *
 * Encodings follow ACPI 6.x chapter 20 (AML grammar) and chapter 6.4
 * (resource descriptors). PkgLength is emitted in its minimal form by
 * reserving nothing up front and inserting the length bytes on close.
 */
#include "aml.h"
#include "grow.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

bool aml_ok(const struct aml *a)
{
	return !a->failed && a->depth == 0;
}

static bool reserve(struct aml *a, size_t n)
{
	if (a->failed)
		return false;
	if (n > SIZE_MAX - a->len) {
		a->failed = true;
		return false;
	}
	if (pmvm_grow((void **)&a->buf, &a->cap, a->len + n, 256)) {
		a->failed = true;
		return false;
	}
	return true;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
	if (!reserve(a, n))
		return;
	if (n)
		memcpy(a->buf + a->len, p, n);
	a->len += n;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

void aml_op(struct aml *a, uint8_t op)
{
	aml_byte(a, op);
}

void aml_extop(struct aml *a, uint8_t op)
{
	aml_byte(a, 0x5b);
	aml_byte(a, op);
}

void aml_append(struct aml *a, const struct aml *b)
{
	if (a == b || b->failed || b->depth) /* a == b: realloc would pull the rug */
		a->failed = true;
	else
		aml_bytes(a, b->buf, b->len);
}

static void le(struct aml *a, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0) {
		aml_byte(a, AML_ZERO);
	} else if (v == 1) {
		aml_byte(a, AML_ONE);
	} else if (v <= 0xff) {
		aml_byte(a, 0x0a);
		le(a, v, 1);
	} else if (v <= 0xffff) {
		aml_byte(a, 0x0b);
		le(a, v, 2);
	} else if (v <= 0xffffffffu) {
		aml_byte(a, 0x0c);
		le(a, v, 4);
	} else {
		aml_byte(a, 0x0e);
		le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c > 0x7f) /* AML strings are ASCII */
			a->failed = true;
	aml_byte(a, 0x0d);
	aml_bytes(a, s, strlen(s) + 1);
}

static bool name_char(char c, bool first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

void aml_name(struct aml *a, const char *path)
{
	char segs[255][4];
	int nseg = 0;
	const char *p = path;

	if (*p == '\\') {
		aml_byte(a, '\\');
		p++;
	} else {
		while (*p == '^') {
			aml_byte(a, '^');
			p++;
		}
	}
	while (*p) {
		int n = 0;
		if (nseg == 255) {
			a->failed = true;
			return;
		}
		memset(segs[nseg], '_', 4);
		while (*p && *p != '.') {
			if (n == 4 || !name_char(*p, n == 0)) {
				a->failed = true;
				return;
			}
			segs[nseg][n++] = *p++;
		}
		if (n == 0) {
			a->failed = true;
			return;
		}
		nseg++;
		if (*p == '.' && !*++p) { /* "A." : trailing dot */
			a->failed = true;
			return;
		}
	}
	if (nseg == 0) {
		aml_byte(a, 0x00); /* NullName */
	} else if (nseg == 1) {
		aml_bytes(a, segs[0], 4);
	} else if (nseg == 2) {
		aml_byte(a, 0x2e); /* DualNamePrefix */
		aml_bytes(a, segs, 8);
	} else {
		aml_byte(a, 0x2f); /* MultiNamePrefix */
		aml_byte(a, (uint8_t)nseg);
		aml_bytes(a, segs, (size_t)nseg * 4);
	}
}

void aml_arg(struct aml *a, int n)
{
	if (n < 0 || n > 6)
		a->failed = true;
	else
		aml_byte(a, (uint8_t)(0x68 + n));
}

void aml_local(struct aml *a, int n)
{
	if (n < 0 || n > 7)
		a->failed = true;
	else
		aml_byte(a, (uint8_t)(0x60 + n));
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;

	if (strlen(id) != 7) {
		a->failed = true;
		return;
	}
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			a->failed = true;
			return;
		}
		v |= (uint32_t)(id[i] - 0x40) << (26 - 5 * i);
	}
	for (int i = 3; i < 7; i++) {
		if (!isxdigit((unsigned char)id[i])) {
			a->failed = true;
			return;
		}
		char c = (char)toupper((unsigned char)id[i]);
		uint32_t d = (uint32_t)(c <= '9' ? c - '0' : c - 'A' + 10);
		v |= d << (4 * (6 - i));
	}
	/* The compressed ID is stored big-endian inside a little-endian DWord. */
	v = __builtin_bswap32(v);
	aml_byte(a, 0x0c);
	le(a, v, 4);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)toupper((unsigned char)c);
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_uuid(struct aml *a, const char *uuid)
{
	/* Text order aabbccdd-eeff-gghh-iijj-kkllmmnnoopp; bytes: dd cc bb aa
	 * ff ee hh gg ii jj kk ll mm nn oo pp (ACPI ToUUID). */
	static const int order[16] = { 3, 2, 1, 0, 5, 4, 7, 6,
				       8, 9, 10, 11, 12, 13, 14, 15 };
	uint8_t text[16], out[16];
	int n = 0;

	for (const char *p = uuid; *p; p++) {
		if (*p == '-')
			continue;
		int hi = hexval(p[0]), lo = p[1] ? hexval(p[1]) : -1;
		if (hi < 0 || lo < 0 || n == 16) {
			a->failed = true;
			return;
		}
		text[n++] = (uint8_t)(hi << 4 | lo);
		p++;
	}
	if (n != 16) {
		a->failed = true;
		return;
	}
	for (int i = 0; i < 16; i++)
		out[i] = text[order[i]];
	aml_buffer_bytes(a, out, 16);
}

/* ---- PkgLength constructs ------------------------------------------------ */

static void open_pkg(struct aml *a)
{
	if (a->depth == AML_MAX_DEPTH) {
		a->failed = true;
		return;
	}
	a->open[a->depth++] = a->len;
}

void aml_close(struct aml *a)
{
	if (a->depth == 0) {
		a->failed = true;
		return;
	}
	size_t at = a->open[--a->depth];
	if (a->failed)
		return;
	size_t body = a->len - at;
	uint8_t enc[4];
	int n;

	if (body + 1 < 0x40) {
		enc[0] = (uint8_t)(body + 1);
		n = 1;
	} else {
		size_t total;
		for (n = 2; n <= 4; n++) {
			total = body + (size_t)n;
			if (total < (1UL << (4 + 8 * (n - 1))))
				break;
		}
		if (n > 4) {
			a->failed = true;
			return;
		}
		enc[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0f));
		for (int i = 1; i < n; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	if (!reserve(a, (size_t)n))
		return;
	memmove(a->buf + at + n, a->buf + at, body);
	memcpy(a->buf + at, enc, (size_t)n);
	a->len += (size_t)n;
}

void aml_scope(struct aml *a, const char *name)
{
	aml_byte(a, 0x10);
	open_pkg(a);
	aml_name(a, name);
}

void aml_device(struct aml *a, const char *name)
{
	aml_extop(a, 0x82);
	open_pkg(a);
	aml_name(a, name);
}

void aml_method(struct aml *a, const char *name, int nargs, bool serialized)
{
	if (nargs < 0 || nargs > 7)
		a->failed = true;
	aml_byte(a, 0x14);
	open_pkg(a);
	aml_name(a, name);
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
}

void aml_if(struct aml *a)
{
	aml_byte(a, 0xa0);
	open_pkg(a);
}

void aml_else(struct aml *a)
{
	aml_byte(a, 0xa1);
	open_pkg(a);
}

void aml_while(struct aml *a)
{
	aml_byte(a, 0xa2);
	open_pkg(a);
}

void aml_package(struct aml *a, uint8_t nelems)
{
	aml_byte(a, 0x12);
	open_pkg(a);
	aml_byte(a, nelems);
}

void aml_buffer(struct aml *a)
{
	aml_byte(a, 0x11);
	open_pkg(a);
}

void aml_buffer_bytes(struct aml *a, const void *p, size_t n)
{
	aml_buffer(a);
	aml_int(a, n);
	aml_bytes(a, p, n);
	aml_close(a);
}

void aml_field(struct aml *a, const char *region, uint8_t flags)
{
	aml_extop(a, 0x81);
	open_pkg(a);
	aml_name(a, region);
	aml_byte(a, flags);
}

/* Field element widths use the PkgLength layout without counting themselves. */
static void field_len(struct aml *a, unsigned bits)
{
	if (bits < 0x40) {
		aml_byte(a, (uint8_t)bits);
	} else if (bits < (1u << 12)) {
		aml_byte(a, (uint8_t)(0x40 | (bits & 0x0f)));
		aml_byte(a, (uint8_t)(bits >> 4));
	} else if (bits < (1u << 20)) {
		aml_byte(a, (uint8_t)(0x80 | (bits & 0x0f)));
		aml_byte(a, (uint8_t)(bits >> 4));
		aml_byte(a, (uint8_t)(bits >> 12));
	} else if (bits < (1u << 28)) {
		aml_byte(a, (uint8_t)(0xc0 | (bits & 0x0f)));
		aml_byte(a, (uint8_t)(bits >> 4));
		aml_byte(a, (uint8_t)(bits >> 12));
		aml_byte(a, (uint8_t)(bits >> 20));
	} else {
		a->failed = true;
	}
}

void aml_field_entry(struct aml *a, const char *name4, unsigned bits)
{
	if (name4) {
		size_t n = strlen(name4);
		if (n == 0 || n > 4) {
			a->failed = true;
			return;
		}
		char seg[4] = { '_', '_', '_', '_' };
		for (size_t i = 0; i < n; i++) {
			if (!name_char(name4[i], i == 0)) {
				a->failed = true;
				return;
			}
			seg[i] = name4[i];
		}
		aml_bytes(a, seg, 4);
	} else {
		aml_byte(a, 0x00); /* ReservedField */
	}
	field_len(a, bits);
}

void aml_name_decl(struct aml *a, const char *name)
{
	aml_byte(a, 0x08);
	aml_name(a, name);
}

void aml_opregion(struct aml *a, const char *name, uint8_t space,
		  uint64_t offset, uint64_t len)
{
	aml_extop(a, 0x80);
	aml_name(a, name);
	aml_byte(a, space);
	aml_int(a, offset);
	aml_int(a, len);
}

void aml_mutex(struct aml *a, const char *name, uint8_t sync_level)
{
	aml_extop(a, AML_EXT_MUTEX);
	aml_name(a, name);
	aml_byte(a, sync_level & 0x0f);
}

/* ---- Resource descriptors ----------------------------------------------- */

void aml_res_io(struct aml *r, uint16_t base, uint8_t len)
{
	uint8_t d[8] = { 0x47, 0x01, (uint8_t)base, (uint8_t)(base >> 8),
			 (uint8_t)base, (uint8_t)(base >> 8), 0x01, len };
	aml_bytes(r, d, sizeof(d));
}

void aml_res_irq(struct aml *r, unsigned irq)
{
	if (irq > 15) {
		r->failed = true;
		return;
	}
	uint16_t mask = (uint16_t)(1u << irq);
	uint8_t d[3] = { 0x22, (uint8_t)mask, (uint8_t)(mask >> 8) };
	aml_bytes(r, d, sizeof(d));
}

void aml_res_interrupt(struct aml *r, uint32_t gsi, bool level, bool active_low)
{
	uint8_t flags = 0x01; /* consumer */
	if (!level)
		flags |= 0x02;
	if (active_low)
		flags |= 0x04;
	uint8_t d[9] = { 0x89, 0x06, 0x00, flags, 0x01,
			 (uint8_t)gsi, (uint8_t)(gsi >> 8), (uint8_t)(gsi >> 16),
			 (uint8_t)(gsi >> 24) };
	aml_bytes(r, d, sizeof(d));
}

void aml_res_mem32(struct aml *r, uint32_t base, uint32_t len, bool writable)
{
	uint8_t d[12] = { 0x86, 0x09, 0x00, writable ? 0x01 : 0x00 };
	for (int i = 0; i < 4; i++) {
		d[4 + i] = (uint8_t)(base >> (8 * i));
		d[8 + i] = (uint8_t)(len >> (8 * i));
	}
	aml_bytes(r, d, sizeof(d));
}

void aml_res_qword_mem(struct aml *r, uint64_t base, uint64_t len, bool writable)
{
	uint8_t d[46] = { 0x8a, 43, 0x00,
			  0x00,                 /* memory range */
			  0x0c,                 /* min and max fixed */
			  (uint8_t)(0x02 | (writable ? 1 : 0)) /* cacheable */ };
	uint64_t f[5] = { 0, base, base + len - 1, 0, len };
	for (int k = 0; k < 5; k++)
		for (int i = 0; i < 8; i++)
			d[6 + 8 * k + i] = (uint8_t)(f[k] >> (8 * i));
	aml_bytes(r, d, sizeof(d));
}

void aml_restemplate(struct aml *a, const struct aml *r)
{
	if (r->failed || r->depth) {
		a->failed = true;
		return;
	}
	aml_buffer(a);
	aml_int(a, r->len + 2);
	aml_bytes(a, r->buf, r->len);
	aml_byte(a, 0x79); /* EndTag */
	aml_byte(a, 0x00); /* checksum 0: "treat as valid" */
	aml_close(a);
}
