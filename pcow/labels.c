/*
 * labels.c - libpcow's label storage area (docs/pcow-format.md, "Label
 * storage area"): the NVDIMM namespace-label bytes a guest reads and writes
 * through the DSM Get/Set Config Data calls, kept inside the image so
 * namespaces survive across runs.
 *
 * The area belongs to the image, not to a layer. Its place, size and CRC are
 * in the root slot (incompatible feature bit PCOW_INCOMPAT_LABELS); the bytes
 * live in label_size / C (rounded up) contiguous metadata clusters. A write
 * never changes those clusters in place: the whole new area goes to fresh
 * clusters, a flush, a new root pointing at them, a flush, and only then are
 * the old clusters freed. A crash therefore leaves the old or the new area,
 * never a torn one. The area is read (and its CRC checked) on first use and
 * then held in memory; open only checks where it lies. label_offset 0
 * means "all zeros, no clusters" (a fresh area).
 *
 * The area mechanics (lazy load, ownership, the crash-safe rewrite) are
 * area.c's, shared with the bad-range record. Hooks: format.c encodes and
 * decodes the root fields (pcow_labels_root_*), open.c places the area
 * (pcow_labels_load), create.c sets it up (pcow_labels_create).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- root slot fields ---- */

void pcow_labels_root_encode(const struct pcow *img, uint8_t *s)
{
	if (!(img->incompat & PCOW_INCOMPAT_LABELS))
		return;
	put_le64(s + PCOW_ROOT_LABEL_OFF, img->labels.off);
	put_le32(s + PCOW_ROOT_LABEL_OFF + 8, img->labels.size);
	put_le32(s + PCOW_ROOT_LABEL_OFF + 12, img->labels.crc);
}

void pcow_labels_root_parse(const uint8_t *s, struct root *rt)
{
	rt->label_off = get_le64(s + PCOW_ROOT_LABEL_OFF);
	rt->label_size = get_le32(s + PCOW_ROOT_LABEL_OFF + 8);
	rt->label_crc = get_le32(s + PCOW_ROOT_LABEL_OFF + 12);
}

bool pcow_label_size_ok(uint64_t size)
{
	return size >= PCOW_LABEL_MIN && size <= PCOW_LABEL_MAX && !(size % PCOW_LABEL_ALIGN);
}

/* The slot rule: with the feature, a size in range and an aligned offset
 * (0: a zero area, whose CRC field is 0). Without it, the fields are
 * reserved and ignored. */
bool pcow_labels_root_ok(const struct root *rt)
{
	if (!(rt->incompat & PCOW_INCOMPAT_LABELS))
		return true;
	return pcow_label_size_ok(rt->label_size) &&
	       pcow_area_root_ok(rt, rt->label_off, rt->label_crc);
}

/* ---- open ---- */

int pcow_labels_load(struct pcow *img, const struct root *rt)
{
	img->labels.what = "label area";
	if (!(rt->incompat & PCOW_INCOMPAT_LABELS))
		return 0;
	img->labels.size = rt->label_size;
	img->labels.off = rt->label_off;
	img->labels.crc = rt->label_crc;
	return pcow_area_place(img, &img->labels);
}

/* ---- create ---- */

/*
 * Called by pcow_create before its first commit: a new area of label_size
 * bytes (zeros), or, with a pcow base that has labels and no other size
 * asked for, a copy of the base's labels (an overlay shows the same
 * namespaces as its base). The copy is written to fresh clusters now; the
 * first root, written after a flush, references them.
 */
int pcow_labels_create(struct pcow *img, uint64_t label_size)
{
	struct pcow *b = img->base && !img->base->raw ? img->base : NULL;
	bool inherit = b && b->labels.size && (!label_size || label_size == b->labels.size);
	int r;

	if (inherit)
		label_size = b->labels.size;
	if (!label_size)
		return 0;
	if (!pcow_label_size_ok(label_size))
		return pcow_set_err(img, PCOW_EINVAL, "label size %llu out of range "
				    "(128K..16M in 4K steps)", (unsigned long long)label_size);
	img->labels.bytes = calloc(1, label_size);
	if (!img->labels.bytes)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	img->labels.size = (uint32_t)label_size;
	img->labels.off = 0;
	img->labels.crc = 0;
	img->incompat |= PCOW_INCOMPAT_LABELS;
	if (!inherit || !b->labels.off)
		return 0;
	r = pcow_area_load(b, &b->labels);
	if (r)
		return pcow_set_err(img, -r, "base image: %s", pcow_errmsg(b));
	memcpy(img->labels.bytes, b->labels.bytes, label_size);
	return pcow_area_place_new(img, &img->labels);
}

/* ---- the API ---- */

uint64_t pcow_label_size(struct pcow *img)
{
	return img->raw ? 0 : img->labels.size;
}

/* THE checked accessor for label offsets and lengths. */
static int label_span(struct pcow *img, size_t len, uint64_t off)
{
	if (!img->labels.size)
		return pcow_set_err(img, PCOW_ENOENT, "%s: the image has no label area",
				    img->path);
	if (off > img->labels.size || len > img->labels.size - off)
		return pcow_set_err(img, PCOW_EINVAL, "%s: label range %llu+%zu beyond the "
				    "label area (%u bytes)", img->path,
				    (unsigned long long)off, len, img->labels.size);
	return 0;
}

int pcow_label_read(struct pcow *img, void *buf, size_t len, uint64_t off)
{
	int r = label_span(img, len, off);

	if (!r)
		r = pcow_area_load(img, &img->labels);
	if (!r && len)
		memcpy(buf, img->labels.bytes + off, len);
	return r;
}

int pcow_label_write(struct pcow *img, const void *buf, size_t len, uint64_t off)
{
	uint8_t *b;
	int r = pcow_writable(img);

	if (!r)
		r = label_span(img, len, off);
	if (!r)
		r = pcow_area_load(img, &img->labels);
	if (r)
		return r;
	b = malloc(img->labels.size);
	if (!b)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	memcpy(b, img->labels.bytes, img->labels.size);
	memcpy(b + off, buf, len);
	return pcow_area_commit(img, &img->labels, b, img->labels.size);
}

int pcow_label_init(struct pcow *img, uint64_t size)
{
	uint8_t *z;
	int r = pcow_writable(img);

	if (r)
		return r;
	if (img->labels.size)
		return img->labels.size == size ? 0 :
			pcow_set_err(img, PCOW_EBUSY, "%s: the image's label area is %u "
				     "bytes, not %llu (its size is fixed)", img->path,
				     img->labels.size, (unsigned long long)size);
	if (!pcow_label_size_ok(size))
		return pcow_set_err(img, PCOW_EINVAL, "label size %llu out of range "
				    "(128K..16M in 4K steps)", (unsigned long long)size);
	z = calloc(1, size);
	if (!z)
		return pcow_set_err(img, PCOW_ENOMEM, "out of memory");
	img->labels.bytes = z;
	img->labels.size = (uint32_t)size;
	img->labels.off = 0;
	img->labels.crc = 0;
	img->incompat |= PCOW_INCOMPAT_LABELS;
	r = pcow_root_write(img, img->gen + 1);
	if (r) {
		/* the feature may or may not be on disk now */
		img->broken = true;
	}
	return r;
}
