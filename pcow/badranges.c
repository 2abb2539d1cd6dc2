/*
 * badranges.c - libpcow's bad-range record (docs/pcow-format.md, "Bad-range
 * record"): the byte ranges of the virtual disk whose contents are lost,
 * so a VMM that found a media error (or was told of one) still reports it
 * to the guest after a restart. Like the label area it belongs to the image,
 * not to a layer, and it is a root area (area.c): 16-byte records (le64
 * offset, le64 length), sorted, non-overlapping, in contiguous metadata
 * clusters that the root points at (incompatible feature BADRANGES, root
 * offsets 112..127: offset, count, CRC), replaced whole on every change.
 * An empty record has no clusters and takes the feature bit off.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- root slot fields ---- */

void pcow_bad_root_encode(const struct pcow *img, uint8_t *s)
{
	if (!(img->incompat & PCOW_INCOMPAT_BADRANGES))
		return;
	put_le64(s + PCOW_ROOT_BAD_OFF, img->bad.off);
	put_le32(s + PCOW_ROOT_BAD_OFF + 8, img->bad.size / PCOW_BAD_REC);
	put_le32(s + PCOW_ROOT_BAD_OFF + 12, img->bad.crc);
}

void pcow_bad_root_parse(const uint8_t *s, struct root *rt)
{
	rt->bad_off = get_le64(s + PCOW_ROOT_BAD_OFF);
	rt->bad_count = get_le32(s + PCOW_ROOT_BAD_OFF + 8);
	rt->bad_crc = get_le32(s + PCOW_ROOT_BAD_OFF + 12);
}

/* The slot rule: with the feature, at most PCOW_BAD_RANGES_MAX records,
 * offset 0 exactly when there are none; without it, reserved. */
bool pcow_bad_root_ok(const struct root *rt)
{
	if (!(rt->incompat & PCOW_INCOMPAT_BADRANGES))
		return true;
	return rt->bad_count <= PCOW_BAD_RANGES_MAX && !rt->bad_off == !rt->bad_count &&
	       pcow_area_root_ok(rt, rt->bad_off, rt->bad_crc);
}

/* ---- the records ---- */

/* THE check of a list of ranges against the format's rules (sorted,
 * non-overlapping, non-empty, inside vsize). */
static bool ranges_ok(const struct pcow_bad_range *r, size_t n, uint64_t vsize)
{
	uint64_t end = 0;

	if (n > PCOW_BAD_RANGES_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!r[i].len || r[i].off > vsize || r[i].len > vsize - r[i].off ||
		    (i && r[i].off < end))
			return false;
		end = r[i].off + r[i].len;
	}
	return true;
}

static void decode(const uint8_t *b, size_t n, struct pcow_bad_range *out)
{
	for (size_t i = 0; i < n; i++) {
		out[i].off = get_le64(b + i * PCOW_BAD_REC);
		out[i].len = get_le64(b + i * PCOW_BAD_REC + 8);
	}
}

/* the area's own rule, after its CRC matched */
static bool area_valid(const struct pcow *img, const uint8_t *b, uint32_t size)
{
	size_t n = size / PCOW_BAD_REC;
	struct pcow_bad_range *r;
	bool ok;

	if (size % PCOW_BAD_REC)
		return false;
	r = malloc(n * sizeof(*r));
	if (!r)
		return false;
	decode(b, n, r);
	ok = ranges_ok(r, n, img->vsize);
	free(r);
	return ok;
}

/* before the commit's root write: the feature is on exactly when there are
 * records */
static void set_feature(struct pcow *img, struct pcow_area *a)
{
	if (a->size)
		img->incompat |= PCOW_INCOMPAT_BADRANGES;
	else
		img->incompat &= ~PCOW_INCOMPAT_BADRANGES;
}

static void setup(struct pcow *img)
{
	img->bad.what = "bad-range record";
	img->bad.zero_means_empty = true;
	img->bad.valid = area_valid;
	img->bad.commit_hook = set_feature;
}

/* ---- open and create ---- */

int pcow_bad_load(struct pcow *img, const struct root *rt)
{
	setup(img);
	if (!(rt->incompat & PCOW_INCOMPAT_BADRANGES))
		return 0;
	img->bad.off = rt->bad_off;
	img->bad.size = rt->bad_count * PCOW_BAD_REC;
	img->bad.crc = rt->bad_crc;
	return pcow_area_place(img, &img->bad);
}

/* An overlay starts with its pcow base's record: the base's bytes there are
 * lost, and the overlay reads them. Written before create's first root. */
int pcow_bad_create(struct pcow *img)
{
	struct pcow *b = img->base && !img->base->raw ? img->base : NULL;
	int r;

	setup(img);
	if (!b || !b->bad.size)
		return 0;
	if (b->vsize > img->vsize)
		return 0;	/* not an overlay of the same size: nothing to inherit */
	r = pcow_area_load(b, &b->bad);
	if (r)
		return pcow_set_err(img, -r, "base image: %s", pcow_errmsg(b));
	img->bad.bytes = malloc(b->bad.size);
	if (!img->bad.bytes)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	memcpy(img->bad.bytes, b->bad.bytes, b->bad.size);
	img->bad.size = b->bad.size;
	r = pcow_area_place_new(img, &img->bad);
	if (!r)
		img->incompat |= PCOW_INCOMPAT_BADRANGES;
	return r;
}

/* ---- the API ---- */

int pcow_bad_ranges(struct pcow *img, struct pcow_bad_range *out, size_t max)
{
	size_t n;
	int r;

	if (img->raw)
		return 0;
	r = pcow_area_load(img, &img->bad);
	if (r)
		return r;
	n = img->bad.size / PCOW_BAD_REC;
	decode(img->bad.bytes, n < max ? n : max, out);
	return (int)n;
}

int pcow_set_bad_ranges(struct pcow *img, const struct pcow_bad_range *r, size_t n)
{
	uint8_t *b = NULL;
	int e = pcow_writable(img);

	if (e)
		return e;
	if (!ranges_ok(r, n, img->vsize))
		return pcow_set_err(img, PCOW_EINVAL, "%s: bad ranges must be sorted, "
				    "non-overlapping, non-empty, inside the virtual size "
				    "(%llu bytes), at most %u", img->path,
				    (unsigned long long)img->vsize, PCOW_BAD_RANGES_MAX);
	if (n) {
		b = malloc(n * PCOW_BAD_REC);
		if (!b)
			return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++) {
			put_le64(b + i * PCOW_BAD_REC, r[i].off);
			put_le64(b + i * PCOW_BAD_REC + 8, r[i].len);
		}
	}
	return pcow_area_commit(img, &img->bad, b, (uint32_t)(n * PCOW_BAD_REC));
}
