/*
 * opts.h - the one option grammar of the project's command lines: sizes
 * and "key=value,key=value" sub-option lists.
 *
 * Sizes: decimal digits, an optional decimal fraction, and an optional
 * binary unit K, M, G, T, P or E (any case, optionally followed by "B" or "iB"):
 * "4096", "64M", "64MiB", "1.5G". The result must be a whole number of bytes
 * that fits in 64 bits; blanks, signs, hex, exponents and empty strings are
 * refused.
 *
 * Booleans, everywhere: on/off, yes/no, true/false, 1/0.
 *
 * Sub-option lists: each key at most once, every key known, every value
 * checked (integers and sizes against a stated range). Error messages are
 * one line without a trailing newline that name the key, the value and what
 * is allowed; the caller prefixes the option ("--disk: ").
 *
 * Part of libpmvm-util (vmm/util/): pure string handling, no printing, no
 * exit, usable by vmm, its modules, libpcow and pcow-img.
 */
#ifndef PMVM_UTIL_OPTS_H
#define PMVM_UTIL_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parse a size. 0 with *out set, or -1 with *out untouched and, if err is
 * not NULL, the reason in err ("'1.5' is not a whole number of bytes"). */
int opt_parse_size(const char *s, uint64_t *out, char *err, size_t errlen);

/* Parse a boolean word. 0 or -1 (*out untouched). */
int opt_parse_bool(const char *s, bool *out);

/* Parse a decimal integer in [min, max]. 0, or -1 with the reason in err. */
int opt_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out,
		   char *err, size_t errlen);

enum opt_type {
	OPT_BOOL,   /* dest: bool * */
	OPT_UINT,   /* dest: uint32_t *; value in [min, max] */
	OPT_SIZE,   /* dest: uint64_t *; value in [min, max] (max 0: any) */
	OPT_STRING, /* dest: char[max + 1]; at most max bytes */
};

struct opt_key {
	const char *key;
	enum opt_type type;
	void *dest;
	uint64_t min, max;
	/* OPT_UINT/OPT_SIZE, optional: after the range check, NULL if v is
	 * acceptable, else what is allowed ("must be a multiple of 16M"). */
	const char *(*check)(uint64_t v);
};

#define OPT_MAX_KEYS 64

/* Parse "key=value[,key=value...]" (list may be NULL or empty; empty items
 * are skipped) against keys[0..nkeys). Returns 0, or -1 with err filled;
 * dest values of keys parsed before the error may have been written. */
int opt_parse_list(const char *list, const struct opt_key *keys, size_t nkeys,
		   char *err, size_t errlen);

#endif
