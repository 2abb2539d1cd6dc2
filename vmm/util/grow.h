/*
 * grow.h - the project's one growable-buffer step: make *buf hold at least
 * need bytes, doubling from first (or the current capacity), with the size
 * arithmetic checked. Header-only, like le.h.
 */
#ifndef PMVM_UTIL_GROW_H
#define PMVM_UTIL_GROW_H

#include <stdint.h>
#include <stdlib.h>

/* 0 with *cap >= need (the buffer moved, perhaps), -1 on overflow or when
 * out of memory (the buffer and *cap unchanged). */
static inline int pmvm_grow(void **buf, size_t *cap, size_t need, size_t first)
{
	size_t c = *cap ? *cap : first;
	void *p;

	if (need <= *cap)
		return 0;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			return -1;
		c *= 2;
	}
	p = realloc(*buf, c);
	if (!p)
		return -1;
	*buf = p;
	*cap = c;
	return 0;
}

#endif
