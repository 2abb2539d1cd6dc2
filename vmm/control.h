/*
 * control.h - the control socket's wire protocol, without sockets or a VM
 * (control_proto.c): assembling request lines from a byte stream, parsing
 * and checking one request, the typed argument accessors (vmm_arg_* of
 * vmm.h) and formatting replies. All of it handles hostile input; the unit
 * tests and the fuzz target drive it directly. control.c is the server
 * built on it; docs/control.md is the protocol.
 */
#ifndef PMVM_CONTROL_H
#define PMVM_CONTROL_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

/* Longest request line accepted, in bytes, without its '\n'. */
#define CTL_LINE_MAX 65536
/* Longest command name. */
#define CTL_NAME_MAX 64

/* ---- Lines ----------------------------------------------------------------
 * A fixed buffer of max + 1 bytes. Read into ctl_lines_space(), record the
 * bytes with ctl_lines_commit(), then take lines with ctl_lines_next(). */
struct ctl_lines {
	char *buf;
	size_t start, len, cap, max; /* bytes [start, len) are pending */
};

int ctl_lines_init(struct ctl_lines *l, size_t max); /* 0, or -1: ENOMEM */
void ctl_lines_free(struct ctl_lines *l);
/* Where the next read may go and how much fits (0 when full). */
size_t ctl_lines_space(struct ctl_lines *l, char **p);
void ctl_lines_commit(struct ctl_lines *l, size_t n);
/* 1: *line is the next complete line, NUL-terminated, without '\n' or a
 * trailing '\r', valid until the next call; 0: no complete line yet; -1:
 * the pending line is longer than max (the stream cannot go on). With
 * at_eof, a final line without '\n' counts as complete. */
int ctl_lines_next(struct ctl_lines *l, bool at_eof, char **line, size_t *len);

/* ---- Requests -------------------------------------------------------------- */
struct ctl_request {
	json_object *root; /* owns cmd, args and id */
	const char *cmd;
	json_object *args; /* an object, or NULL when the request has none */
	json_object *id;   /* NULL when absent */
};

/* Is this line only blanks (it is then ignored, no reply)? */
bool ctl_line_blank(const char *line, size_t len);
/* Parse one request line. 0, or -1 with a one-line reason in err; either
 * way call ctl_request_free(). On -1 req->id is the request's id when it
 * could be found, so that the error reply carries it. */
int ctl_parse_request(const char *line, size_t len, struct ctl_request *req,
		      char *err, size_t errlen);
void ctl_request_free(struct ctl_request *req);

/* Check args against a command's space-separated list of accepted keys
 * (NULL: takes none). 0, or -1 with err naming the first unknown key. */
int ctl_check_args(json_object *args, const char *accepted, char *err,
		   size_t errlen);

/* Copy s into buf for quoting in a message: printable ASCII only (others
 * become '?'), cut at 40 characters with "...". Returns buf. */
const char *ctl_quote(const char *s, char *buf, size_t buflen);

/* ---- Replies ---------------------------------------------------------------- */
/* One reply line ending in '\n', malloc'ed, its length in *len: with error
 * NULL {"id":id,"ok":true,"result":result} (result NULL: {}), else
 * {"id":id,"ok":false,"error":error}. id NULL gives "id":null. The line
 * holds no other newline. NULL when out of memory. */
char *ctl_reply(json_object *id, json_object *result, const char *error,
		size_t *len);

#endif
