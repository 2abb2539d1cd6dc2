/*
 * fuzz_control.c - fuzz target for the control socket's protocol layer
 * (control_proto.c): the input is a byte stream cut into reads of varying
 * sizes (from the first byte) and fed to a line buffer with a small bound,
 * as a client's bytes reach vmm; every line is parsed, its args checked and
 * read with the vmm_arg_* accessors, and its reply built. Checked: a reply
 * is one line of valid JSON with "ok", and no overflow goes unreported.
 * libFuzzer with clang; fuzz_replay.c drives it with gcc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "vmm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_reply(json_object *id, json_object *result, const char *error)
{
	size_t n;
	char *line = ctl_reply(id, result, error, &n);
	json_object *back;

	if (!line)
		return;
	if (n == 0 || line[n - 1] != '\n' || memchr(line, '\n', n - 1))
		abort();
	line[n - 1] = '\0';
	back = json_tokener_parse(line);
	if (!back || !json_object_object_get_ex(back, "ok", NULL))
		abort();
	json_object_put(back);
	free(line);
}

static void serve(const char *line, size_t len)
{
	struct ctl_request req;
	char err[512] = "";
	json_object *res = NULL;

	if (ctl_line_blank(line, len))
		return;
	if (ctl_parse_request(line, len, &req, err, sizeof(err)) == 0 &&
	    ctl_check_args(req.args, "name size on", err, sizeof(err)) == 0) {
		const char *s;
		uint64_t v;
		bool b;

		res = json_object_new_object();
		if (vmm_arg_string(req.args, "name", &s, err, sizeof(err)) == 1)
			json_object_object_add(res, "name", json_object_new_string(s));
		if (vmm_arg_u64(req.args, "size", &v, err, sizeof(err)) == 1)
			json_object_object_add(res, "size",
					       json_object_new_uint64(v));
		if (vmm_arg_bool(req.args, "on", &b, err, sizeof(err)) == 1)
			json_object_object_add(res, "on", json_object_new_boolean(b));
		json_object_object_add(res, "cmd", json_object_new_string(req.cmd));
	}
	check_reply(req.id, err[0] ? NULL : res, err[0] ? err : NULL);
	json_object_put(res);
	ctl_request_free(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_lines l;
	size_t chunk, off = 0;
	bool eof = false;

	if (size == 0)
		return 0;
	chunk = (size_t)(data[0] % 64) + 1;
	data++;
	size--;
	if (ctl_lines_init(&l, 256) < 0)
		return 0;
	for (;;) {
		char *p, *line;
		size_t space = ctl_lines_space(&l, &p), n = size - off, len;
		int r;

		if (n > chunk)
			n = chunk;
		if (n > space)
			n = space;
		memcpy(p, data + off, n);
		ctl_lines_commit(&l, n);
		off += n;
		eof = off == size;
		while ((r = ctl_lines_next(&l, eof, &line, &len)) == 1) {
			if (len > 256 || strlen(line) > len)
				abort();
			serve(line, len);
		}
		if (r < 0)
			break; /* the stream is closed: as vmm does */
		if (eof)
			break;
		if (space == 0)
			abort(); /* full without an overflow report */
	}
	ctl_lines_free(&l);
	return 0;
}
