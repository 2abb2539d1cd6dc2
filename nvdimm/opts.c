/*
 * opts.c - parsing of one --nvdimm value:
 *   PATH[,format=raw|pcow][,size=SIZE][,label-size=SIZE][,readonly=on|off]
 *       [,share=on|off][,unarmed=on|off]
 * in the project's one option grammar (vmm/util/opts.h: sizes such as 1GiB
 * or 1.5G, on/off/yes/no/true/false/1/0, each key once). Pure string
 * handling; module.c keeps the parsed list and opens the files.
 */
#include "nvdimm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"

int nvdimm_parse_size(const char *s, uint64_t *out)
{
	return opt_parse_size(s, out, NULL, 0);
}

static const char *check_size(uint64_t v)
{
	return !v || v % NVDIMM_SIZE_ALIGN ? "must be a non-zero multiple of 16M "
		"(the guest's region alignment for fsdax)" : NULL;
}

static const char *check_label_size(uint64_t v)
{
	return v && (v < NVDIMM_LABEL_MIN || v % NVDIMM_PAGE) ?
		"must be 0 or 128K..16M in 4K steps" : NULL;
}

void nvdimm_opts_free(struct nvdimm_opts *o)
{
	free(o->path);
	o->path = NULL;
}

int nvdimm_parse_opts(const char *arg, struct nvdimm_opts *o, char *err, size_t errlen)
{
	const char *comma;
	char format[8] = "\x01";	/* not given */
	const struct opt_key keys[] = {
		{ "size", OPT_SIZE, &o->size, 0, 0, check_size },
		{ "label-size", OPT_SIZE, &o->label_size, 0, NVDIMM_LABEL_MAX,
		  check_label_size },
		{ "readonly", OPT_BOOL, &o->readonly, 0, 0, NULL },
		{ "share", OPT_BOOL, &o->share, 0, 0, NULL },
		{ "unarmed", OPT_BOOL, &o->unarmed, 0, 0, NULL },
		{ "format", OPT_STRING, format, 0, sizeof(format) - 1, NULL },
	};

	memset(o, 0, sizeof(*o));
	o->share = true;
	o->label_size = NVDIMM_LABEL_DEFAULT;
	if (!arg || !*arg || *arg == ',') {
		snprintf(err, errlen, "'%s': expected PATH[,format=raw|pcow][,size=SIZE]"
			 "[,label-size=SIZE][,readonly=on][,share=on|off][,unarmed=on]",
			 arg ? arg : "");
		return -1;
	}
	comma = strchr(arg, ',');
	o->path = comma ? strndup(arg, (size_t)(comma - arg)) : strdup(arg);
	if (!o->path) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	o->label_size = UINT64_MAX;	/* not given */
	if (opt_parse_list(comma ? comma + 1 : NULL, keys,
			   sizeof(keys) / sizeof(keys[0]), err, errlen) < 0)
		goto fail;
	o->label_size_set = o->label_size != UINT64_MAX;
	if (!o->label_size_set)
		o->label_size = NVDIMM_LABEL_DEFAULT;
	if (!strcmp(format, "raw")) {
		o->format = NVDIMM_FMT_RAW;
	} else if (!strcmp(format, "pcow")) {
		o->format = NVDIMM_FMT_PCOW;
	} else if (strcmp(format, "\x01")) {
		snprintf(err, errlen, "format=%s: must be raw or pcow", format);
		goto fail;
	}
	return 0;
fail:
	nvdimm_opts_free(o);
	return -1;
}
