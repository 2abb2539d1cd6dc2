/*
 * opts.c - parsing of one --nvdimm value:
 *   PATH[,size=SIZE][,label-size=SIZE][,readonly=on|off][,share=on|off][,unarmed=on|off]
 * Pure string handling; module.c keeps the parsed list and opens the files.
 */
#include "nvdimm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nvdimm_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0': break;
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: return -1;
	}
	if (*end != '\0')
		return -1;
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
		*out = false;
	else
		return -1;
	return 0;
}

void nvdimm_opts_free(struct nvdimm_opts *o)
{
	free(o->path);
	o->path = NULL;
}

int nvdimm_parse_opts(const char *arg, struct nvdimm_opts *o, char *err, size_t errlen)
{
	char *copy, *save = NULL, *tok;

	memset(o, 0, sizeof(*o));
	o->share = true;
	o->label_size = NVDIMM_LABEL_DEFAULT;
	if (!arg || !*arg || *arg == ',') {
		snprintf(err, errlen, "'%s': expected PATH[,size=SIZE][,label-size=SIZE]"
			 "[,readonly=on][,share=on|off][,unarmed=on]", arg ? arg : "");
		return -1;
	}
	copy = strdup(arg);
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	tok = strtok_r(copy, ",", &save);
	o->path = strdup(tok);
	if (!o->path) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	while ((tok = strtok_r(NULL, ",", &save))) {
		char *eq = strchr(tok, '=');
		const char *key = tok, *val;

		if (!eq) {
			snprintf(err, errlen, "'%s': expected key=value in '%s'", tok, arg);
			goto fail;
		}
		*eq = '\0';
		val = eq + 1;
		if (!strcmp(key, "size")) {
			if (nvdimm_parse_size(val, &o->size) || o->size == 0) {
				snprintf(err, errlen, "size=%s: not a size (e.g. 64M, 1G)", val);
				goto fail;
			}
			if (o->size % NVDIMM_SIZE_ALIGN) {
				snprintf(err, errlen, "size=%s: must be a multiple of 16M "
					 "(the guest's region alignment for fsdax)", val);
				goto fail;
			}
		} else if (!strcmp(key, "label-size")) {
			if (nvdimm_parse_size(val, &o->label_size)) {
				snprintf(err, errlen, "label-size=%s: not a size (e.g. 128K)", val);
				goto fail;
			}
			if (o->label_size && (o->label_size < NVDIMM_LABEL_MIN ||
					      o->label_size > NVDIMM_LABEL_MAX ||
					      o->label_size % NVDIMM_PAGE)) {
				snprintf(err, errlen, "label-size=%s: must be 0 or 128K..16M "
					 "in 4K steps", val);
				goto fail;
			}
		} else if (!strcmp(key, "readonly")) {
			if (parse_bool(val, &o->readonly)) {
				snprintf(err, errlen, "readonly=%s: expected on or off", val);
				goto fail;
			}
		} else if (!strcmp(key, "share")) {
			if (parse_bool(val, &o->share)) {
				snprintf(err, errlen, "share=%s: expected on or off", val);
				goto fail;
			}
		} else if (!strcmp(key, "unarmed")) {
			if (parse_bool(val, &o->unarmed)) {
				snprintf(err, errlen, "unarmed=%s: expected on or off", val);
				goto fail;
			}
		} else {
			snprintf(err, errlen, "'%s': unknown key (size, label-size, readonly, "
				 "share, unarmed)", key);
			goto fail;
		}
	}
	free(copy);
	return 0;
fail:
	free(copy);
	nvdimm_opts_free(o);
	return -1;
}
