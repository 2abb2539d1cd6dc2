/*
 * control_proto.c - the control socket's protocol without sockets or a VM
 * (control.h): request lines from a byte stream, request parsing and
 * checking, the vmm_arg_* accessors of vmm.h, reply lines. Pure: no
 * printing, no global state; unit-tested and fuzzed.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "opts.h"
#include "vmm.h"

/* ---- Lines ------------------------------------------------------------------ */

int ctl_lines_init(struct ctl_lines *l, size_t max)
{
	*l = (struct ctl_lines){ .max = max, .cap = max + 1 };
	l->buf = malloc(l->cap + 1); /* + 1: room for the NUL of a last line */
	if (!l->buf) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void ctl_lines_free(struct ctl_lines *l)
{
	free(l->buf);
	l->buf = NULL;
	l->start = l->len = 0;
}

size_t ctl_lines_space(struct ctl_lines *l, char **p)
{
	if (l->start > 0) { /* move the pending bytes to the front */
		memmove(l->buf, l->buf + l->start, l->len - l->start);
		l->len -= l->start;
		l->start = 0;
	}
	*p = l->buf + l->len;
	return l->cap - l->len;
}

void ctl_lines_commit(struct ctl_lines *l, size_t n)
{
	if (n > l->cap - l->len)
		n = l->cap - l->len;
	l->len += n;
}

int ctl_lines_next(struct ctl_lines *l, bool at_eof, char **line, size_t *len)
{
	char *p = l->buf + l->start;
	size_t avail = l->len - l->start;
	char *nl = memchr(p, '\n', avail);
	size_t n;

	if (nl) {
		n = (size_t)(nl - p);
		l->start += n + 1;
	} else if (avail > l->max) {
		return -1;
	} else if (at_eof && avail > 0) {
		n = avail;
		l->start = l->len;
	} else {
		return 0;
	}
	if (n > l->max)
		return -1;
	if (n > 0 && p[n - 1] == '\r')
		n--;
	p[n] = '\0'; /* the '\n', or the spare byte after cap */
	*line = p;
	*len = n;
	return 1;
}

/* ---- Requests ----------------------------------------------------------------- */

const char *ctl_quote(const char *s, char *buf, size_t buflen)
{
	size_t i, n = 0;

	if (buflen == 0)
		return buf;
	for (i = 0; s[i] && n + 1 < buflen; i++) {
		if (i == 40 && buflen > n + 4) {
			memcpy(buf + n, "...", 3);
			n += 3;
			break;
		}
		buf[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	}
	buf[n] = '\0';
	return buf;
}

bool ctl_line_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	return true;
}

static bool valid_name(const char *s, size_t len)
{
	if (len == 0 || len > CTL_NAME_MAX || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
		      s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

/* json-c's strict mode still takes NaN and Infinity, which are not JSON
 * and would be echoed back (an id) as such: refuse them anywhere. The
 * tokener's depth limit bounds the recursion. */
static bool all_finite(json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_double:
		return isfinite(json_object_get_double(o));
	case json_type_object: {
		json_object_object_foreach(o, k, v) {
			(void)k;
			if (!all_finite(v))
				return false;
		}
		return true;
	}
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!all_finite(json_object_array_get_idx(o, i)))
				return false;
		return true;
	default:
		return true;
	}
}

int ctl_parse_request(const char *line, size_t len, struct ctl_request *req,
		      char *err, size_t errlen)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	json_object *cmd = NULL;
	size_t end;
	char q[64];

	*req = (struct ctl_request){ 0 };
	if (len > CTL_LINE_MAX || len > INT32_MAX) {
		snprintf(err, errlen, "request longer than %d bytes", CTL_LINE_MAX);
		return -1;
	}
	if (memchr(line, '\0', len)) {
		snprintf(err, errlen, "request contains a NUL byte");
		return -1;
	}
	tok = json_tokener_new_ex(32);
	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	req->root = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		end = len;
		/* A bare number or literal ("null", "12") is complete only
		 * once something follows it. */
		req->root = json_tokener_parse_ex(tok, " ", 1);
		jerr = json_tokener_get_error(tok);
	}
	if (jerr == json_tokener_continue) {
		json_tokener_free(tok);
		json_object_put(req->root);
		req->root = NULL;
		snprintf(err, errlen, "invalid JSON: the request ends early");
		return -1;
	}
	if (jerr != json_tokener_success) {
		snprintf(err, errlen, "invalid JSON at byte %zu: %s",
			 json_tokener_get_parse_end(tok),
			 json_tokener_error_desc(jerr));
		json_tokener_free(tok);
		json_object_put(req->root);
		req->root = NULL;
		return -1;
	}
	/* Only blanks may follow the object. */
	if (end > len || !ctl_line_blank(line + end, len - end)) {
		snprintf(err, errlen, "invalid JSON: data after the request at "
			 "byte %zu (one request per line)", end);
		json_tokener_free(tok);
		return -1;
	}
	json_tokener_free(tok);
	if (!all_finite(req->root)) {
		json_object_put(req->root);
		req->root = NULL;
		snprintf(err, errlen, "invalid JSON: NaN and Infinity are not "
			 "numbers in JSON");
		return -1;
	}
	if (!json_object_is_type(req->root, json_type_object)) {
		snprintf(err, errlen, "a request is a JSON object, not %s",
			 req->root ? json_type_to_name(json_object_get_type(req->root))
				   : "null");
		return -1;
	}
	json_object_object_get_ex(req->root, "id", &req->id);
	json_object_object_foreach(req->root, key, val) {
		(void)val;
		if (strcmp(key, "cmd") && strcmp(key, "args") && strcmp(key, "id")) {
			snprintf(err, errlen, "unknown key '%s' in the request "
				 "(keys: cmd, args, id)", ctl_quote(key, q, sizeof(q)));
			return -1;
		}
	}
	if (!json_object_object_get_ex(req->root, "cmd", &cmd)) {
		snprintf(err, errlen, "the request has no \"cmd\"");
		return -1;
	}
	if (!json_object_is_type(cmd, json_type_string)) {
		snprintf(err, errlen, "\"cmd\" must be a string, not %s",
			 cmd ? json_type_to_name(json_object_get_type(cmd)) : "null");
		return -1;
	}
	req->cmd = json_object_get_string(cmd);
	if (!valid_name(req->cmd, (size_t)json_object_get_string_len(cmd))) {
		snprintf(err, errlen, "unknown command '%s'",
			 ctl_quote(req->cmd, q, sizeof(q)));
		req->cmd = NULL;
		return -1;
	}
	if (json_object_object_get_ex(req->root, "args", &req->args) &&
	    req->args && !json_object_is_type(req->args, json_type_object)) {
		snprintf(err, errlen, "\"args\" must be an object, not %s",
			 json_type_to_name(json_object_get_type(req->args)));
		return -1;
	}
	return 0;
}

void ctl_request_free(struct ctl_request *req)
{
	json_object_put(req->root);
	*req = (struct ctl_request){ 0 };
}

int ctl_check_args(json_object *args, const char *accepted, char *err,
		   size_t errlen)
{
	char q[64];

	if (!args)
		return 0;
	json_object_object_foreach(args, key, val) {
		size_t n = strlen(key);
		const char *p = accepted;
		bool found = false;

		(void)val;
		while (p && *p && !found) {
			size_t w;

			while (*p == ' ')
				p++;
			w = strcspn(p, " ");
			found = w == n && n > 0 && !strncmp(p, key, n);
			p += w;
		}
		if (!found) {
			snprintf(err, errlen, "unknown argument '%s' (%s%s)",
				 ctl_quote(key, q, sizeof(q)),
				 accepted && *accepted ? "arguments: " :
				 "the command takes none",
				 accepted && *accepted ? accepted : "");
			return -1;
		}
	}
	return 0;
}

/* ---- Arguments (vmm.h) -------------------------------------------------------- */

static json_object *arg_get(json_object *args, const char *key)
{
	json_object *v = NULL;

	if (!args || !json_object_is_type(args, json_type_object) ||
	    !json_object_object_get_ex(args, key, &v))
		return NULL;
	return v;
}

int vmm_arg_string(json_object *args, const char *key, const char **out,
		   char *err, size_t errlen)
{
	json_object *v = arg_get(args, key);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string) ||
	    strlen(json_object_get_string(v)) !=
		    (size_t)json_object_get_string_len(v)) {
		snprintf(err, errlen, "args.%s: expected a string without NUL "
			 "bytes", key);
		return -1;
	}
	*out = json_object_get_string(v);
	return 1;
}

int vmm_arg_u64(json_object *args, const char *key, uint64_t *out, char *err,
		size_t errlen)
{
	json_object *v = arg_get(args, key);
	char why[160], q[64];

	if (!v)
		return 0;
	if (json_object_is_type(v, json_type_int)) {
		/* json-c keeps integers above INT64_MAX as uint64. */
		errno = 0;
		if (json_object_get_int64(v) < 0) {
			snprintf(err, errlen, "args.%s: %lld is negative", key,
				 (long long)json_object_get_int64(v));
			return -1;
		}
		*out = json_object_get_uint64(v);
		return 1;
	}
	if (json_object_is_type(v, json_type_string)) {
		const char *s = json_object_get_string(v);

		if (strlen(s) == (size_t)json_object_get_string_len(v) &&
		    opt_parse_size(s, out, why, sizeof(why)) == 0)
			return 1;
		snprintf(err, errlen, "args.%s: invalid size '%s'", key,
			 ctl_quote(s, q, sizeof(q)));
		return -1;
	}
	snprintf(err, errlen, "args.%s: expected an integer or a size string, "
		 "not %s", key, json_type_to_name(json_object_get_type(v)));
	return -1;
}

int vmm_arg_bool(json_object *args, const char *key, bool *out, char *err,
		 size_t errlen)
{
	json_object *v = arg_get(args, key);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		snprintf(err, errlen, "args.%s: expected true or false, not %s",
			 key, json_type_to_name(json_object_get_type(v)));
		return -1;
	}
	*out = json_object_get_boolean(v);
	return 1;
}

/* ---- Replies ------------------------------------------------------------------ */

char *ctl_reply(json_object *id, json_object *result, const char *error,
		size_t *len)
{
	json_object *o = json_object_new_object();
	const char *s;
	char *line = NULL;
	size_t n;

	if (!o)
		return NULL;
	json_object_object_add(o, "id", json_object_get(id));
	json_object_object_add(o, "ok", json_object_new_boolean(!error));
	if (error)
		json_object_object_add(o, "error", json_object_new_string(error));
	else
		json_object_object_add(o, "result", result ? json_object_get(result)
							   : json_object_new_object());
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s) {
		n = strlen(s);
		line = malloc(n + 2);
		if (line) {
			memcpy(line, s, n);
			line[n] = '\n';
			line[n + 1] = '\0';
			*len = n + 1;
		}
	}
	json_object_put(o);
	return line;
}
