/*
 * meta.c - libpcow's metadata writes and their ordering (the commit
 * protocol of docs/pcow-format.md, "Commit protocol"):
 *
 *   pcow_data_flush():  new L2 tables -> flush -> in-place updates of the
 *                  active layer's existing tables and L1 -> flush
 *   pcow_meta_commit(): pcow_data_flush, then rewritten layers' tables and a new
 *                  catalog at fresh clusters -> flush -> root slot (the
 *                  one not holding the current root), generation + 1 ->
 *                  flush -> only then release clusters dropped by the change
 *
 * Every intermediate state on disk is an image whose current root
 * references only durable, fully written clusters.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"



static int write_table(struct pcow *img, const uint64_t *mem, uint64_t off)
{
	uint8_t *b = img->zbuf;
	int r;

	for (uint32_t k = 0; k < img->l2_entries; k++) {
		uint64_t v = mem[k];
		uint64_t raw = v == MEM_ZERO ?
			pcow_entry_encode(0, img->cbits, off + k * 8ULL, PCOW_ENTRY_ZERO) :
			pcow_entry_encode(v, img->cbits, off + k * 8ULL, 0);
		put_le64(b + k * 8, raw);
	}
	r = pcow_file_pwrite(img, b, img->csize, off);
	memset(b, 0, img->csize);
	return r;
}

/* L1 entries [lo, hi) of layer l, at its l1_off; the chunks holding them
 * are in memory (every entry that can change is) */
static int write_l1_range(struct pcow *img, struct layer *l, uint32_t lo, uint32_t hi)
{
	size_t n = (size_t)(hi - lo) * 8;
	uint8_t *b;
	int r;

	if (!n)
		return 0;
	b = malloc(n);
	if (!b)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	for (uint32_t j = lo; j < hi; j++) {
		uint64_t pos = l->l1_off + j * 8ULL;
		struct l1chunk *c = l->l1c[j >> L1_CHUNK_BITS];
		put_le64(b + (j - lo) * 8,
			 pcow_entry_encode(c->off[j & (L1_CHUNK - 1)], img->cbits, pos, 0));
	}
	r = pcow_file_pwrite(img, b, n, l->l1_off + lo * 8ULL);
	free(b);
	return r;
}

/* The chunks of a layer that may hold new or changed tables: the ones in
 * memory and not the shared empty one. */
static struct l1chunk *own_chunk(struct layer *l, uint32_t ci)
{
	struct l1chunk *c = l->l1c ? l->l1c[ci] : NULL;

	return c == &pcow_l1_empty ? NULL : c;
}

int pcow_data_flush_opt(struct pcow *img, bool release)
{
	bool second = false;
	int r;

	/* 1: tables nothing on disk points to yet */
	for (unsigned i = 0; i < img->nlayers; i++) {
		struct layer *l = &img->layers[i];
		if (l->rewrite || !l->l1c)	/* not read: nothing changed */
			continue;
		for (uint32_t ci = 0; ci < pcow_chunk_count(l->l1_entries); ci++) {
			struct l1chunk *c = own_chunk(l, ci);
			for (uint32_t k = 0; c && k < L1_CHUNK; k++)
				if (c->state[k] == T_NEW) {
					r = write_table(img, c->tab[k], c->off[k]);
					if (r)
						goto broken;
				}
		}
	}
	r = pcow_file_flush(img);
	if (r)
		goto broken;
	/* 2: in-place updates; each entry is either old or new after a crash */
	for (unsigned i = 0; i < img->nlayers; i++) {
		struct layer *l = &img->layers[i];
		if (l->rewrite || !l->l1c)	/* not read: nothing changed */
			continue;
		for (uint32_t ci = 0; ci < pcow_chunk_count(l->l1_entries); ci++) {
			struct l1chunk *c = own_chunk(l, ci);
			uint32_t lo = UINT32_MAX, hi = 0;
			for (uint32_t k = 0; c && k < L1_CHUNK; k++) {
				if (c->state[k] == T_DIRTY) {
					r = write_table(img, c->tab[k], c->off[k]);
					if (r)
						goto broken;
					second = true;
				} else if (c->state[k] == T_NEW) {
					if (k < lo)
						lo = k;
					hi = k + 1;
				}
				c->state[k] = T_CLEAN;
			}
			if (l->l1_dirty && hi) {
				uint32_t base = ci << L1_CHUNK_BITS;
				r = write_l1_range(img, l, base + lo, base + hi);
				if (r)
					goto broken;
				second = true;
			}
		}
		l->l1_dirty = false;
	}
	if (second) {
		r = pcow_file_flush(img);
		if (r)
			goto broken;
	}
	return release ? pcow_release_deferred(img) : 0;
broken:
	img->broken = true;
	return r;
}

int pcow_data_flush(struct pcow *img)
{
	return pcow_data_flush_opt(img, true);
}

static uint32_t cat_crc_of(struct pcow *img, int *err)
{
	uint8_t *c;
	uint32_t len, crc;

	*err = pcow_catalog_encode(img, &c, &len);
	if (*err)
		return 0;
	crc = pcow_crc32(c, len);
	free(c);
	return crc;
}

static int root_write_crc(struct pcow *img, uint64_t gen, uint32_t cat_crc)
{
	uint8_t s[PCOW_SLOT_SIZE];
	int slot = 1 - img->slot, r;

	pcow_root_encode(img, gen, cat_crc, s);
	r = pcow_file_pwrite(img, s, sizeof(s), (uint64_t)slot * PCOW_SLOT_SIZE);
	if (!r)
		r = pcow_file_flush(img);
	if (r)
		return r;
	img->slot = slot;
	img->gen = gen;
	return 0;
}

int pcow_root_write(struct pcow *img, uint64_t gen)
{
	int r;
	uint32_t crc = cat_crc_of(img, &r);

	if (r)
		return r;
	return root_write_crc(img, gen, crc);
}

/* First change of data in this session: tell overlays the base changed. */
int pcow_bump_data_gen(struct pcow *img)
{
	int r;

	if (img->bumped)
		return 0;
	img->data_gen++;
	r = pcow_root_write(img, img->gen + 1);
	if (r) {
		img->data_gen--;
		img->broken = true;
		return r;
	}
	img->bumped = true;
	return 0;
}

static int rewrite_layer(struct pcow *img, unsigned li)
{
	struct layer *l = &img->layers[li];
	uint64_t ncl = ((uint64_t)l->l1_entries * 8 + img->csize - 1) >> img->cbits;
	uint64_t old_l1 = l->l1_off, off;
	int r;

	/* every table goes to a new place: all of them in memory first */
	r = pcow_layer_load(img, li);
	if (r)
		return r;
	for (uint32_t ci = 0; ci < pcow_chunk_count(l->l1_entries); ci++) {
		struct l1chunk *c = own_chunk(l, ci);
		for (uint32_t k = 0; c && k < L1_CHUNK; k++) {
			if (!c->tab[k])
				continue;
			if (c->state[k] != T_NEW) {
				/* a table an old root may still use: write a copy */
				r = pcow_defer_free(img, c->off[k]);
				if (r)
					return r;
				r = pcow_alloc_contig(img, 1, &c->off[k]);
				if (r)
					return r;
			}
			r = write_table(img, c->tab[k], c->off[k]);
			if (r)
				return r;
			c->state[k] = T_CLEAN;
		}
	}
	(void)old_l1;
	l->l1_off = 0;
	if (ncl) {
		r = pcow_alloc_contig(img, ncl, &off);
		if (r)
			return r;
		l->l1_off = off;
		/* zero the tail of the last L1 cluster, then the entries */
		if (((uint64_t)l->l1_entries * 8) & (img->csize - 1)) {
			r = pcow_file_pwrite(img, img->zbuf, img->csize, off + ((ncl - 1) << img->cbits));
			if (r)
				return r;
		}
		r = write_l1_range(img, l, 0, l->l1_entries);
		if (r)
			return r;
	}
	l->l1_disk_n = l->l1_entries;
	l->rewrite = false;
	l->l1_dirty = false;
	return 0;
}

/* Free the L1 clusters a layer's catalog record points at (after commit). */
int pcow_meta_free_l1(struct pcow *img, struct layer *l, uint32_t l1_entries)
{
	uint64_t ncl = ((uint64_t)l1_entries * 8 + img->csize - 1) >> img->cbits;
	int r = 0;

	for (uint64_t i = 0; i < ncl && l->l1_off && !r; i++)
		r = pcow_defer_free(img, l->l1_off + (i << img->cbits));
	return r;
}

int pcow_meta_commit(struct pcow *img)
{
	uint8_t *cat = NULL;
	uint32_t len, crc;
	uint64_t off, old_off = img->cat_off, old_len = img->cat_len;
	int r;

	/* frees deferred by the caller's change wait for the root switch */
	r = pcow_data_flush_opt(img, false);
	if (r)
		return r;
	for (unsigned i = 0; i < img->nlayers; i++) {
		struct layer *l = &img->layers[i];
		if (!l->rewrite)
			continue;
		/* the tables first: the old L1 is still where the catalog says */
		r = pcow_layer_load(img, i);
		if (!r)
			r = pcow_meta_free_l1(img, l, l->l1_disk_n);
		if (r)
			goto broken;
		r = rewrite_layer(img, i);
		if (r)
			goto broken;
	}
	r = pcow_catalog_encode(img, &cat, &len);
	if (r)
		goto broken;
	r = pcow_alloc_contig(img, (len + img->csize - 1) >> img->cbits, &off);
	if (r)
		goto broken;
	crc = pcow_crc32(cat, len);
	r = pcow_file_pwrite(img, cat, len, off);
	if (!r && (len & (img->csize - 1)))	/* whole clusters in the file */
		r = pcow_file_pwrite(img, img->zbuf, img->csize - (len & (img->csize - 1)),
			       off + len);
	free(cat);
	cat = NULL;
	if (r)
		goto broken;
	r = pcow_file_flush(img);
	if (r)
		goto broken;
	img->cat_off = off;
	img->cat_len = len;
	r = root_write_crc(img, img->gen + 1, crc);
	if (r)
		goto broken;
	for (uint64_t i = 0; old_off && i < (old_len + img->csize - 1) >> img->cbits; i++)
		pcow_defer_free(img, old_off + (i << img->cbits));
	return pcow_release_deferred(img);
broken:
	free(cat);
	img->broken = true;
	return r;
}
