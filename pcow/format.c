/*
 * format.c - libpcow's on-disk encoding, each structure's encoder beside
 * its decoder (docs/pcow-format.md): the CRC, table entries (host offset,
 * flags and check bits), the root slot and the catalog. Decoders check
 * every field against the format before anything uses it.
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

/* ---- encodings ---- */

uint32_t pcow_crc32(const void *buf, size_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);
	const uint8_t *p = buf;

	while (len) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		c = crc32(c, p, n);
		p += n;
		len -= n;
	}
	return (uint32_t)c;
}


/* splitmix64's finaliser: the entry check function (pcow-format.md) */
uint64_t pcow_mix64(uint64_t z)
{
	z ^= z >> 30;
	z *= 0xbf58476d1ce4e5b9ULL;
	z ^= z >> 27;
	z *= 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return z;
}

uint64_t pcow_entry_encode(uint64_t host_off, unsigned cbits, uint64_t pos, unsigned flags)
{
	uint64_t e = ((host_off >> cbits) << 20) | ((uint64_t)(flags & 0xf) << 16);

	if (!e)
		return 0;
	return e | (pcow_mix64(e ^ pos) >> 48);
}

int pcow_entry_decode(uint64_t raw, unsigned cbits, uint64_t pos, uint64_t *host_off,
		 unsigned *flags)
{
	uint64_t e = raw & ~0xffffULL;

	*host_off = 0;
	*flags = 0;
	if (!raw)
		return 0;
	if (!e || CHECKSUM_BAD((pcow_mix64(e ^ pos) >> 48) != (raw & 0xffff)))
		return -1;
	*flags = (unsigned)(e >> 16) & 0xf;
	if (*flags & ~PCOW_ENTRY_ZERO)
		return -1;
	uint64_t c = e >> 20;
	if (c > (UINT64_MAX >> cbits))
		return -1;
	*host_off = c << cbits;
	return 0;
}

uint32_t pcow_l1_entries_for(uint64_t vsize, unsigned cbits)
{
	uint64_t span = 1ULL << (cbits + cbits - 3);	/* bytes per L2 table */
	uint64_t n = (vsize + span - 1) / span;

	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* The root slot for img at generation gen (its catalog's CRC cat_crc). */
void pcow_root_encode(struct pcow *img, uint64_t gen, uint32_t cat_crc,
		 uint8_t s[PCOW_SLOT_SIZE])
{
	memset(s, 0, PCOW_SLOT_SIZE);
	memcpy(s, PCOW_MAGIC, 8);
	put_le32(s + 8, PCOW_VERSION);
	put_le32(s + 12, PCOW_SLOT_SIZE);
	put_le64(s + 16, img->incompat);
	put_le64(s + 24, img->compat);
	put_le64(s + 32, gen);
	put_le32(s + 40, img->cbits);
	put_le64(s + 48, img->vsize);
	memcpy(s + 56, img->uuid, 16);
	put_le64(s + 72, img->data_gen);
	put_le64(s + 80, img->cat_off);
	put_le32(s + 88, img->cat_len);
	put_le32(s + 92, cat_crc);
	pcow_labels_root_encode(img, s);
	pcow_bad_root_encode(img, s);
	put_le32(s + 4092, pcow_crc32(s, 4092));
}

/* 1 valid, 0 invalid, -PCOW_EUNSUPPORTED */
int pcow_root_parse(const uint8_t *s, struct root *rt)
{
	if (memcmp(s, PCOW_MAGIC, 8))
		return 0;
	if (CHECKSUM_BAD(get_le32(s + 4092) != pcow_crc32(s, 4092)))
		return 0;
	if (get_le32(s + 8) != PCOW_VERSION || get_le32(s + 12) != PCOW_SLOT_SIZE)
		return -PCOW_EUNSUPPORTED;
	rt->incompat = get_le64(s + 16);
	rt->compat = get_le64(s + 24);
	rt->gen = get_le64(s + 32);
	rt->cbits = get_le32(s + 40);
	rt->vsize = get_le64(s + 48);
	memcpy(rt->uuid, s + 56, 16);
	rt->data_gen = get_le64(s + 72);
	rt->cat_off = get_le64(s + 80);
	rt->cat_len = get_le32(s + 88);
	rt->cat_crc = get_le32(s + 92);
	pcow_labels_root_parse(s, rt);
	pcow_bad_root_parse(s, rt);
	return 1;
}

/* The catalog of img, encoded: *out (malloc) of *lenp bytes. */
int pcow_catalog_encode(struct pcow *img, uint8_t **out, uint32_t *lenp)
{
	size_t plen = img->base_path ? strlen(img->base_path) : 0;
	size_t len = PCOW_CAT_HDR + ((plen + 7) & ~(size_t)7);
	uint8_t *c, *p;

	for (unsigned i = 0; i < img->nlayers; i++)
		len += PCOW_LAYER_REC + ((strlen(img->layers[i].name) + 7) & ~(size_t)7);
	if (len > PCOW_CAT_MAX || plen > 4095)
		return pcow_set_err(img, PCOW_EINVAL, "%s: catalog too large", img->path);
	c = calloc(1, len);
	if (!c)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	memcpy(c, PCOW_CAT_MAGIC, 8);
	put_le32(c + 8, img->nlayers);
	put_le32(c + 12, img->active);
	put_le32(c + 16, img->cat_flags);
	put_le32(c + 20, (uint32_t)img->base_fmt);
	put_le64(c + 24, img->base_size);
	memcpy(c + 32, img->base_uuid, 16);
	put_le64(c + 48, img->base_data_gen);
	put_le16(c + 56, (uint16_t)plen);
	p = c + PCOW_CAT_HDR;
	if (plen) {
		memcpy(p, img->base_path, plen);
		p += (plen + 7) & ~(size_t)7;
	}
	for (unsigned i = 0; i < img->nlayers; i++) {
		struct layer *l = &img->layers[i];
		size_t nlen = strlen(l->name);
		put_le64(p, l->l1_off);
		put_le64(p + 8, l->vsize);
		put_le64(p + 16, l->ctime_ns);
		put_le32(p + 24, l->l1_entries);
		put_le32(p + 28, l->parent);
		put_le32(p + 32, l->flags);
		put_le16(p + 36, (uint16_t)nlen);
		memcpy(p + PCOW_LAYER_REC, l->name, nlen);
		p += PCOW_LAYER_REC + ((nlen + 7) & ~(size_t)7);
	}
	*out = c;
	*lenp = (uint32_t)len;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Decode the catalog into img (layers without tables). */
int pcow_catalog_parse(struct pcow *img, const uint8_t *c, uint32_t len)
{
	uint32_t nl, act, off;
	uint16_t plen;

	if (len < PCOW_CAT_HDR || memcmp(c, PCOW_CAT_MAGIC, 8))
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: bad catalog magic", img->path);
	nl = get_le32(c + 8);
	act = get_le32(c + 12);
	img->cat_flags = get_le32(c + 16);
	img->base_fmt = (int)get_le32(c + 20);
	img->base_size = get_le64(c + 24);
	memcpy(img->base_uuid, c + 32, 16);
	img->base_data_gen = get_le64(c + 48);
	plen = get_le16(c + 56);
	if (nl == 0 || nl > PCOW_MAX_LAYERS || act >= nl)
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog: bad layer count %u "
				    "(active %u)", img->path, nl, act);
	if (img->cat_flags & ~PCOW_CAT_COMMITTING)
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog: unknown flags 0x%x",
				    img->path, img->cat_flags);
	if (img->base_fmt < 0 || img->base_fmt > PCOW_FMT_PCOW ||
	    (img->base_fmt == 0) != (plen == 0))
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog: bad base format %d",
				    img->path, img->base_fmt);
	off = PCOW_CAT_HDR;
	if (plen) {
		if ((uint64_t)off + plen > len || plen > 4095 || memchr(c + off, 0, plen))
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog: bad base path",
					    img->path);
		img->base_path = strndup((const char *)c + off, plen);
		if (!img->base_path)
			return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		off += (plen + 7u) & ~7u;
	}
	img->layers = calloc(nl, sizeof(*img->layers));
	if (!img->layers)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	img->nlayers = nl;
	img->active = act;
	for (uint32_t i = 0; i < nl; i++) {
		struct layer *l = &img->layers[i];
		if ((uint64_t)off + PCOW_LAYER_REC > len)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: catalog truncated at "
					    "layer %u", img->path, i);
		const uint8_t *p = c + off;
		l->l1_off = get_le64(p);
		l->vsize = get_le64(p + 8);
		l->ctime_ns = get_le64(p + 16);
		l->l1_entries = get_le32(p + 24);
		l->parent = get_le32(p + 28);
		l->flags = get_le32(p + 32);
		uint16_t nlen = get_le16(p + 36);
		off += PCOW_LAYER_REC;
		if ((uint64_t)off + nlen > len || nlen > PCOW_MAX_NAME ||
		    memchr(c + off, 0, nlen))
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: bad name",
					    img->path, i);
		l->name = strndup((const char *)c + off, nlen);
		if (!l->name)
			return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		off += (nlen + 7u) & ~7u;
		if (l->parent != PCOW_NO_PARENT && l->parent >= i)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: parent %u "
					    "not below it", img->path, i, l->parent);
		/* the active layer is a leaf: nothing may hang below it */
		if (l->parent == act)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: parent %u "
					    "is the active layer", img->path, i, l->parent);
		if (l->flags & ~PCOW_LAYER_SNAPSHOT)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: bad flags",
					    img->path, i);
		bool snap = l->flags & PCOW_LAYER_SNAPSHOT;
		if (snap == (i == act) || snap != (nlen > 0))
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: active/"
					    "snapshot state inconsistent", img->path, i);
		if (l->vsize > PCOW_MAX_VIRTUAL_SIZE ||
		    l->l1_entries != pcow_l1_entries_for(l->vsize, img->cbits) ||
		    l->l1_entries > PCOW_MAX_L1_ENTRIES)
			return pcow_set_err(img, PCOW_ECORRUPT, "%s: layer %u: size %llu "
					    "and table size %u disagree", img->path, i,
					    (unsigned long long)l->vsize, l->l1_entries);
	}
	/* unique snapshot names: sorted, O(n log n) (65536 layers) */
	{
		const char **nm = malloc(nl * sizeof(*nm));
		uint32_t n = 0;
		if (!nm)
			return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
		for (uint32_t i = 0; i < nl; i++)
			if (i != act)
				nm[n++] = img->layers[i].name;
		qsort(nm, n, sizeof(*nm), cmp_name);
		for (uint32_t i = 1; i < n; i++)
			if (!strcmp(nm[i - 1], nm[i])) {
				free(nm);
				return pcow_set_err(img, PCOW_ECORRUPT, "%s: duplicate "
						    "snapshot names", img->path);
			}
		free(nm);
	}
	if (img->layers[act].vsize != img->vsize)
		return pcow_set_err(img, PCOW_ECORRUPT, "%s: active layer size %llu != "
				    "virtual size %llu", img->path,
				    (unsigned long long)img->layers[act].vsize,
				    (unsigned long long)img->vsize);
	return 0;
}
