/*
 * size.c - parse sizes given on the command line ("64M", "2G", "4096").
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

int vmm_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	uint64_t mul = 1;
	char *end;

	if (s == NULL || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': mul = KiB; end++; break;
	case 'm': case 'M': mul = MiB; end++; break;
	case 'g': case 'G': mul = GiB; end++; break;
	case 't': case 'T': mul = 1024 * GiB; end++; break;
	default: return -1;
	}
	/* Allow an optional "B"/"iB" after the unit: "64MiB", "1KB". */
	if (mul != 1 && (end[0] == 'i' || end[0] == 'I') &&
	    (end[1] == 'B' || end[1] == 'b'))
		end += 2;
	else if (mul != 1 && (end[0] == 'B' || end[0] == 'b'))
		end++;
	if (*end != '\0')
		return -1;
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}
