/*
 * opts.c - the option grammar (see opts.h): sizes, booleans, bounded
 * integers and key=value sub-option lists. Pure string handling.
 */
#include "opts.h"
#include "errbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static unsigned unit_shift(char c)
{
	switch (c) {
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	case 't': case 'T': return 40;
	case 'p': case 'P': return 50;
	case 'e': case 'E': return 60;
	default: return 0;
	}
}

int opt_parse_size(const char *s, uint64_t *out, char *err, size_t errlen)
{
	static const char what[] = "digits with an optional fraction and "
				   "K, M, G, T, P or E, e.g. 512M, 1.5G, 64KiB";
	unsigned __int128 whole = 0, frac = 0, scale = 1, v;
	const char *p = s;
	unsigned shift = 0;

	if (!s || !*s) {
		pmvm_errf(err, errlen, "empty size (%s)", what);
		return -1;
	}
	if (*s == '-') {
		pmvm_errf(err, errlen, "'%s': a size cannot be negative", s);
		return -1;
	}
	if (!is_digit(*p)) {
		pmvm_errf(err, errlen, "'%s' is not a size (%s)", s, what);
		return -1;
	}
	for (; is_digit(*p); p++) {
		whole = whole * 10 + (unsigned)(*p - '0');
		if (whole > UINT64_MAX) {
			pmvm_errf(err, errlen, "'%s' is too large (max %llu bytes)", s,
			    (unsigned long long)UINT64_MAX);
			return -1;
		}
	}
	if (*p == '.') {
		p++;
		if (!is_digit(*p)) {
			pmvm_errf(err, errlen, "'%s' is not a size (%s)", s, what);
			return -1;
		}
		for (; is_digit(*p); p++) {
			if (scale >= (unsigned __int128)1 << 80) {
				pmvm_errf(err, errlen, "'%s': too many decimals", s);
				return -1;
			}
			frac = frac * 10 + (unsigned)(*p - '0');
			scale *= 10;
		}
	}
	if (*p) {
		shift = unit_shift(*p);
		if (!shift) {
			pmvm_errf(err, errlen, "'%s' is not a size (%s)", s, what);
			return -1;
		}
		p++;
		if ((p[0] == 'i' || p[0] == 'I') && (p[1] == 'B' || p[1] == 'b'))
			p += 2;
		else if (p[0] == 'B' || p[0] == 'b')
			p++;
		if (*p) {
			pmvm_errf(err, errlen, "'%s' is not a size (%s)", s, what);
			return -1;
		}
	}
	/* frac / scale of a unit must be a whole number of bytes. */
	if ((frac << shift) % scale) {
		pmvm_errf(err, errlen, "'%s' is not a whole number of bytes", s);
		return -1;
	}
	v = (whole << shift) + (frac << shift) / scale;
	if (v > UINT64_MAX) {
		pmvm_errf(err, errlen, "'%s' is too large (max %llu bytes)", s,
		    (unsigned long long)UINT64_MAX);
		return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

int opt_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };

	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int opt_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
		   char *err, size_t errlen)
{
	uint64_t v = 0;
	const char *p = s;

	if (!s || !is_digit(*s))
		goto bad;
	for (; is_digit(*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (v > (UINT64_MAX - d) / 10)
			goto bad;
		v = v * 10 + d;
	}
	if (*p || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	pmvm_errf(err, errlen, "'%s' is not an integer from %llu to %llu",
	    s ? s : "", (unsigned long long)min, (unsigned long long)max);
	return -1;
}

/* "64M", "1G" when exact, else bytes. */
static void fmt_size(char *buf, size_t n, uint64_t v)
{
	static const char unit[] = "KMGT";

	for (int i = 3; i >= 0; i--) {
		unsigned sh = 10 * (unsigned)(i + 1);

		if (v && !(v & ((1ULL << sh) - 1))) {
			snprintf(buf, n, "%llu%c", (unsigned long long)(v >> sh),
				 unit[i]);
			return;
		}
	}
	snprintf(buf, n, "%llu", (unsigned long long)v);
}

static void key_names(const struct opt_key *keys, size_t nkeys, char *buf,
		      size_t n)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < nkeys && len < n; i++) {
		int w = snprintf(buf + len, n - len, "%s%s", i ? ", " : "",
				 keys[i].key);

		if (w < 0)
			break;
		len += (size_t)w;
	}
}

static int parse_value(const struct opt_key *k, const char *v, char *err,
		       size_t errlen)
{
	char why[200], lo[32], hi[32];
	uint64_t u = 0;

	switch (k->type) {
	case OPT_BOOL:
		if (opt_parse_bool(v, k->dest) < 0) {
			pmvm_errf(err, errlen, "%s=%s: expected on/off, yes/no, "
			    "true/false or 1/0", k->key, v);
			return -1;
		}
		return 0;
	case OPT_UINT:
		if (opt_parse_uint(v, k->min, k->max, &u, NULL, 0) < 0) {
			pmvm_errf(err, errlen, "%s=%s: must be an integer from %llu "
			    "to %llu", k->key, v, (unsigned long long)k->min,
			    (unsigned long long)k->max);
			return -1;
		}
		break;
	case OPT_SIZE:
		if (opt_parse_size(v, &u, why, sizeof(why)) < 0) {
			pmvm_errf(err, errlen, "%s=%s: %s", k->key, v, why);
			return -1;
		}
		if (u < k->min || (k->max && u > k->max)) {
			fmt_size(lo, sizeof(lo), k->min);
			fmt_size(hi, sizeof(hi), k->max);
			pmvm_errf(err, errlen, "%s=%s: must be from %s to %s", k->key, v,
			    lo, k->max ? hi : "16E");
			return -1;
		}
		break;
	case OPT_STRING:
		if (strlen(v) > k->max) {
			pmvm_errf(err, errlen, "%s=%s: longer than %llu bytes", k->key,
			    v, (unsigned long long)k->max);
			return -1;
		}
		memcpy(k->dest, v, strlen(v) + 1);
		return 0;
	}
	if (k->check) {
		const char *bad = k->check(u);

		if (bad) {
			pmvm_errf(err, errlen, "%s=%s: %s", k->key, v, bad);
			return -1;
		}
	}
	if (k->type == OPT_UINT)
		*(uint32_t *)k->dest = (uint32_t)u;
	else
		*(uint64_t *)k->dest = u;
	return 0;
}

int opt_parse_list(const char *list, const struct opt_key *keys, size_t nkeys,
		   char *err, size_t errlen)
{
	uint64_t seen = 0;
	const char *p = list;

	if (nkeys > OPT_MAX_KEYS) {
		pmvm_errf(err, errlen, "too many keys");
		return -1;
	}
	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char *item, *eq;
		size_t i;
		int rc = 0;

		if (len == 0) {
			p = end ? end + 1 : NULL;
			continue;
		}
		item = strndup(p, len);
		if (!item) {
			pmvm_errf(err, errlen, "out of memory");
			return -1;
		}
		eq = strchr(item, '=');
		if (eq)
			*eq = '\0';
		for (i = 0; i < nkeys; i++)
			if (!strcmp(keys[i].key, item))
				break;
		if (i == nkeys) {
			char names[256];

			key_names(keys, nkeys, names, sizeof(names));
			pmvm_errf(err, errlen, "unknown option '%s' (known: %s)", item,
			    names);
			rc = -1;
		} else if (!eq) {
			pmvm_errf(err, errlen, "'%s': expected %s=VALUE", item, item);
			rc = -1;
		} else if (seen & (1ULL << i)) {
			pmvm_errf(err, errlen, "%s=%s: '%s' given twice", item, eq + 1, item);
			rc = -1;
		} else {
			seen |= 1ULL << i;
			rc = parse_value(&keys[i], eq + 1, err, errlen);
		}
		free(item);
		if (rc < 0)
			return -1;
		p = end ? end + 1 : NULL;
	}
	return 0;
}
