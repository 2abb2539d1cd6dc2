/*
 * size.c - vmm_parse_size(), the modules' entry to the project's one size
 * grammar (vmm/util/opts.h: "64M", "2G", "1.5G", "64KiB", "4096").
 */
#include "internal.h"
#include "opts.h"

int vmm_parse_size(const char *s, uint64_t *out)
{
	return opt_parse_size(s, out, NULL, 0);
}
