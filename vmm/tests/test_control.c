/*
 * test_control.c - the control socket's protocol layer (control_proto.c):
 * line assembly and its bound, request parsing and every refusal, argument
 * checks, the vmm_arg_* accessors and reply lines. No socket, no VM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "control.h"
#include "vmm.h"

static void feed(struct ctl_lines *l, const char *s)
{
	char *p;
	size_t n = strlen(s), space = ctl_lines_space(l, &p);

	assert_true(n <= space);
	memcpy(p, s, n);
	ctl_lines_commit(l, n);
}

static void test_lines(void **state)
{
	struct ctl_lines l;
	char *line;
	size_t len;

	assert_int_equal(ctl_lines_init(&l, 16), 0);
	feed(&l, "ab\r\ncd\n\nef");
	assert_int_equal(ctl_lines_next(&l, false, &line, &len), 1);
	assert_string_equal(line, "ab");
	assert_int_equal(len, 2);
	assert_int_equal(ctl_lines_next(&l, false, &line, &len), 1);
	assert_string_equal(line, "cd");
	assert_int_equal(ctl_lines_next(&l, false, &line, &len), 1);
	assert_int_equal(len, 0);
	assert_int_equal(ctl_lines_next(&l, false, &line, &len), 0); /* "ef" */
	feed(&l, "gh\n");
	assert_int_equal(ctl_lines_next(&l, false, &line, &len), 1);
	assert_string_equal(line, "efgh");
	/* A final line without '\n' counts at EOF only. */
	feed(&l, "xyz");
	assert_int_equal(ctl_lines_next(&l, false, &line, &len), 0);
	assert_int_equal(ctl_lines_next(&l, true, &line, &len), 1);
	assert_string_equal(line, "xyz");
	assert_int_equal(ctl_lines_next(&l, true, &line, &len), 0);
	ctl_lines_free(&l);
	/* Exactly max bytes fit; one more is an overflow. */
	assert_int_equal(ctl_lines_init(&l, 8), 0);
	feed(&l, "12345678\n");
	assert_int_equal(ctl_lines_next(&l, false, &line, &len), 1);
	assert_string_equal(line, "12345678");
	feed(&l, "123456789");
	assert_int_equal(ctl_lines_next(&l, false, &line, &len), -1);
	assert_int_equal(ctl_lines_space(&l, &line), 0);
	ctl_lines_free(&l);
	/* max bytes at EOF without '\n': still a line, NUL in the spare byte. */
	assert_int_equal(ctl_lines_init(&l, 4), 0);
	feed(&l, "abcd");
	assert_int_equal(ctl_lines_next(&l, true, &line, &len), 1);
	assert_string_equal(line, "abcd");
	ctl_lines_free(&l);
}

static int parse(const char *s, struct ctl_request *r, char *err)
{
	return ctl_parse_request(s, strlen(s), r, err, 256);
}

static void test_parse_ok(void **state)
{
	struct ctl_request r;
	char err[256];

	assert_int_equal(parse("{\"cmd\":\"query-status\"}", &r, err), 0);
	assert_string_equal(r.cmd, "query-status");
	assert_null(r.args);
	assert_null(r.id);
	ctl_request_free(&r);
	assert_int_equal(parse(" {\"id\": \"a\", \"cmd\": \"x-y_2\", "
			       "\"args\": {\"k\": 1}}  ", &r, err), 0);
	assert_string_equal(r.cmd, "x-y_2");
	assert_non_null(r.args);
	assert_string_equal(json_object_get_string(r.id), "a");
	ctl_request_free(&r);
	/* "args": null is the same as none. */
	assert_int_equal(parse("{\"cmd\":\"a\",\"args\":null}", &r, err), 0);
	assert_null(r.args);
	ctl_request_free(&r);
}

static void refused(const char *s, const char *want)
{
	struct ctl_request r;
	char err[256] = "";

	assert_int_equal(ctl_parse_request(s, strlen(s), &r, err, sizeof(err)), -1);
	if (!strstr(err, want))
		fail_msg("'%s': error '%s' lacks '%s'", s, err, want);
	ctl_request_free(&r);
}

static void test_parse_refused(void **state)
{
	char deep[3000];
	struct ctl_request r;
	char err[256];

	refused("", "ends early");
	refused("nope", "invalid JSON");
	refused("{\"cmd\":\"a\"", "ends early");
	refused("{\"cmd\":\"a\"} {}", "invalid JSON");
	refused("{\"cmd\":\"a\"}x", "invalid JSON");
	refused("[1]", "not array");
	refused("null", "not null");
	refused("{\"cmd\":1}", "must be a string");
	refused("{\"cmd\":null}", "must be a string");
	refused("{}", "no \"cmd\"");
	refused("{\"cmd\":\"\"}", "unknown command");
	refused("{\"cmd\":\"Quit\"}", "unknown command");
	refused("{\"cmd\":\"a\\u0000b\"}", "unknown command");
	refused("{\"cmd\":\"a\",\"args\":[]}", "must be an object");
	refused("{\"cmd\":\"a\",\"args\":\"x\"}", "must be an object");
	refused("{\"cmd\":\"a\",\"extra\":1}", "unknown key 'extra'");
	refused("{\"cmd\":\"a\",\"id\":NaN}", "NaN");
	refused("{\"cmd\":\"a\",\"args\":{\"x\":[1,-Infinity]}}", "NaN");
	refused("{'cmd':'a'}", "invalid JSON");
	refused("{\"cmd\":\"a\",}", "invalid JSON");
	refused("{\"cmd\":\"\xff\xfe\"}", "invalid JSON");
	/* A NUL byte in the line itself. */
	assert_int_equal(ctl_parse_request("{\"cmd\":\"a\"}\0", 12, &r, err,
					   sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
	ctl_request_free(&r);
	/* Deep nesting stops at the tokener's depth limit. */
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	refused(deep, "invalid JSON");
	/* The id is kept for the error reply when it could be read. */
	assert_int_equal(parse("{\"cmd\":5,\"id\":9}", &r, err), -1);
	assert_int_equal(json_object_get_int(r.id), 9);
	ctl_request_free(&r);
}

static void test_check_args(void **state)
{
	json_object *a = json_tokener_parse("{\"name\":1,\"size\":2}");
	char err[256];

	assert_int_equal(ctl_check_args(NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(ctl_check_args(a, "name size", err, sizeof(err)), 0);
	assert_int_equal(ctl_check_args(a, " size  name ", err, sizeof(err)), 0);
	assert_int_equal(ctl_check_args(a, "name", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unknown argument 'size'"));
	assert_int_equal(ctl_check_args(a, "names sizes", err, sizeof(err)), -1);
	assert_int_equal(ctl_check_args(a, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "takes none"));
	json_object_put(a);
	a = json_tokener_parse("{\"\":1}");
	assert_int_equal(ctl_check_args(a, "a", err, sizeof(err)), -1);
	json_object_put(a);
}

static void test_args(void **state)
{
	json_object *a = json_tokener_parse(
		"{\"s\":\"x\",\"n\":4096,\"k\":\"4K\",\"neg\":-1,\"big\":"
		"18446744073709551615,\"bad\":\"4Q\",\"f\":1.5,\"b\":true,"
		"\"nul\":\"a\\u0000b\"}");
	const char *s = NULL;
	uint64_t v = 7;
	bool b = false;
	char err[256];

	assert_non_null(a);
	assert_int_equal(vmm_arg_string(a, "s", &s, err, sizeof(err)), 1);
	assert_string_equal(s, "x");
	assert_int_equal(vmm_arg_string(a, "none", &s, err, sizeof(err)), 0);
	assert_int_equal(vmm_arg_string(NULL, "s", &s, err, sizeof(err)), 0);
	assert_int_equal(vmm_arg_string(a, "n", &s, err, sizeof(err)), -1);
	assert_int_equal(vmm_arg_string(a, "nul", &s, err, sizeof(err)), -1);
	assert_int_equal(vmm_arg_u64(a, "n", &v, err, sizeof(err)), 1);
	assert_int_equal(v, 4096);
	assert_int_equal(vmm_arg_u64(a, "k", &v, err, sizeof(err)), 1);
	assert_int_equal(v, 4096);
	assert_int_equal(vmm_arg_u64(a, "big", &v, err, sizeof(err)), 1);
	assert_true(v == UINT64_MAX);
	assert_int_equal(vmm_arg_u64(a, "neg", &v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "args.neg"));
	assert_int_equal(vmm_arg_u64(a, "bad", &v, err, sizeof(err)), -1);
	assert_int_equal(vmm_arg_u64(a, "f", &v, err, sizeof(err)), -1);
	assert_int_equal(vmm_arg_u64(a, "none", &v, err, sizeof(err)), 0);
	assert_int_equal(vmm_arg_bool(a, "b", &b, err, sizeof(err)), 1);
	assert_true(b);
	assert_int_equal(vmm_arg_bool(a, "n", &b, err, sizeof(err)), -1);
	json_object_put(a);
}

static void test_reply(void **state)
{
	json_object *id = json_object_new_string("a\nb\"c"), *res, *back, *v;
	size_t n;
	char *line;

	line = ctl_reply(NULL, NULL, NULL, &n);
	assert_string_equal(line, "{\"id\":null,\"ok\":true,\"result\":{}}\n");
	assert_int_equal(n, strlen(line));
	free(line);
	res = json_object_new_object();
	json_object_object_add(res, "path", json_object_new_string("/a/b"));
	line = ctl_reply(id, res, NULL, &n);
	assert_ptr_equal(strchr(line, '\n'), line + n - 1);
	assert_non_null(strstr(line, "\"/a/b\""));
	back = json_tokener_parse(line);
	assert_true(json_object_object_get_ex(back, "id", &v));
	assert_string_equal(json_object_get_string(v), "a\nb\"c");
	json_object_put(back);
	free(line);
	line = ctl_reply(id, res, "bad\nthing", &n);
	assert_ptr_equal(strchr(line, '\n'), line + n - 1);
	assert_non_null(strstr(line, "\"ok\":false,\"error\":\"bad\\nthing\""));
	assert_null(strstr(line, "result"));
	free(line);
	json_object_put(res);
	json_object_put(id);
}

static void test_quote(void **state)
{
	char q[64];

	assert_string_equal(ctl_quote("abc", q, sizeof(q)), "abc");
	assert_string_equal(ctl_quote("a\x01\xff", q, sizeof(q)), "a??");
	ctl_quote("0123456789012345678901234567890123456789xyz", q, sizeof(q));
	assert_string_equal(q, "0123456789012345678901234567890123456789...");
	assert_string_equal(ctl_quote("abcdef", q, 4), "abc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_check_args),
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_quote),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
