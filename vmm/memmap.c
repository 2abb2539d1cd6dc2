/*
 * memmap.c - the table of guest memory regions and the checked lookup that
 * every guest-supplied address goes through (vm_gpa()/vm_gpa_w() wrap it).
 *
 * Pure code with no KVM: the unit tests drive it directly. Regions are kept
 * sorted by guest physical address and never overlap, so a lookup is a
 * binary search followed by an overflow-safe bounds check.
 */
#include <errno.h>

#include "internal.h"

int memmap_add(struct vm_memmap *m, uint64_t gpa, uint64_t size, void *host,
	       unsigned flags, int slot)
{
	int i;

	if (size == 0 || host == NULL || gpa + size < gpa) {
		errno = EINVAL;
		return -1;
	}
	if (m->n >= VM_MAX_REGIONS) {
		errno = ENOSPC;
		return -1;
	}
	/* First region that starts above gpa. */
	for (i = 0; i < m->n && m->r[i].gpa <= gpa; i++)
		;
	/* The one before must end at or below gpa, the one at i must start at
	 * or after gpa + size. End is exclusive and may be 2^64 only when
	 * gpa + size overflows, which was refused above. */
	if (i > 0 && m->r[i - 1].gpa + m->r[i - 1].size > gpa) {
		errno = EEXIST;
		return -1;
	}
	if (i < m->n && m->r[i].gpa < gpa + size) {
		errno = EEXIST;
		return -1;
	}
	for (int j = m->n; j > i; j--)
		m->r[j] = m->r[j - 1];
	m->r[i] = (struct vm_region){ .gpa = gpa, .size = size,
				      .host = host, .flags = flags,
				      .slot = slot, .pieces = 1 };
	m->n++;
	return 0;
}

void *memmap_lookup(const struct vm_memmap *m, uint64_t gpa, uint64_t len,
		    bool want_write)
{
	int lo = 0, hi = m->n - 1;

	if (len == 0)
		len = 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		const struct vm_region *r = &m->r[mid];

		if (gpa < r->gpa) {
			hi = mid - 1;
		} else if (gpa - r->gpa >= r->size) {
			lo = mid + 1;
		} else {
			uint64_t off = gpa - r->gpa;

			/* off < size here, so size - off cannot wrap. */
			if (len > r->size - off)
				return NULL;
			if (want_write && (r->flags & VM_MEM_READONLY))
				return NULL;
			return r->host + off;
		}
	}
	return NULL;
}

int memmap_hva_to_gpa(const struct vm_memmap *m, const void *hva, uint64_t *gpa)
{
	uintptr_t a = (uintptr_t)hva;

	for (int i = 0; i < m->n; i++) {
		uintptr_t h = (uintptr_t)m->r[i].host;

		if (a >= h && a - h < m->r[i].size) {
			*gpa = m->r[i].gpa + (a - h);
			return 0;
		}
	}
	return -1;
}

int memmap_pieces(uint64_t gpa, uint64_t size, const struct vm_hole *holes, int nholes,
		  struct vm_hole *out, int max)
{
	uint64_t pos = gpa, end = gpa + size;
	int k = 0;

	/* The pieces between the holes; the last "hole" is [end, end). */
	for (int i = 0; i <= nholes && pos < end; i++) {
		uint64_t hs = i < nholes ? holes[i].gpa : end;
		uint64_t he = i < nholes ? hs + holes[i].len : end;

		if (he <= pos)
			continue;
		if (hs > end)
			hs = end;
		if (hs > pos) {
			if (k == max)
				return -1;
			out[k++] = (struct vm_hole){ pos, hs - pos };
		}
		pos = he < end ? he : end;
	}
	return k;
}

/* Slot numbers for the pieces of a region split by holes: the region's own
 * slot for the first piece, then HOLE_SLOT_BASE + slot * HOLE_SLOTS + k. */
#define HOLE_SLOT_BASE 1024
#define HOLE_SLOTS     (VM_MAX_HOLES + 1)

int memmap_piece_slot(const struct vm_region *r, int k)
{
	return k == 0 ? r->slot : HOLE_SLOT_BASE + r->slot * HOLE_SLOTS + k - 1;
}
