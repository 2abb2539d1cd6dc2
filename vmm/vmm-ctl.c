/*
 * vmm-ctl.c - a small client for vmm's control socket (docs/control.md),
 * for operators, scripts and the tests (which cannot count on python3 or
 * socat being installed).
 *
 *   vmm-ctl [options] SOCKET CMD [KEY=VALUE...]   one request, one reply
 *   vmm-ctl [options] SOCKET '{"cmd": ...}'        the same, as JSON
 *   vmm-ctl [options] SOCKET -                     requests from stdin
 *   vmm-ctl [options] --raw SOCKET                 stdin's bytes as they are
 *
 * A VALUE that is valid JSON (42, true, "x", {...}) is sent as that, any
 * other as a string. Replies are printed on stdout, one line each. Exit
 * status: 0 every reply ok, 1 some reply had "ok": false, 2 bad usage, 3
 * no connection, no reply (timeout, the server closed) or a reply that is
 * not a reply. --raw prints whatever arrives until the server closes the
 * connection after stdin's end and exits 0 (3 on a timeout).
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#define EXIT_ERROR_REPLY 1
#define EXIT_USAGE       2
#define EXIT_CONN        3

static double timeout_s = 10, wait_s;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void __attribute__((noreturn)) usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: vmm-ctl [--timeout S] [--wait S] SOCKET CMD [KEY=VALUE...]\n"
		"       vmm-ctl [--timeout S] [--wait S] SOCKET '{\"cmd\": ...}'\n"
		"       vmm-ctl [--timeout S] [--wait S] SOCKET -\n"
		"       vmm-ctl [--timeout S] [--wait S] --raw SOCKET\n\n"
		"Talks to vmm's control socket (vmm --control SOCKET; "
		"docs/control.md).\n"
		"  --timeout S  give up on a reply after S seconds (default 10)\n"
		"  --wait S     retry connecting for up to S seconds (vmm starting)\n"
		"  --raw        send stdin as it is, print everything received\n"
		"  -            one request per stdin line, one reply line each\n"
		"Exit status: 0 ok, 1 a reply with \"ok\": false, 2 usage, "
		"3 no connection or no reply.\n");
	exit(status);
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	double end = now() + wait_s;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "vmm-ctl: socket path too long: %s\n", path);
		exit(EXIT_USAGE);
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			perror("vmm-ctl: socket");
			exit(EXIT_CONN);
		}
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		if ((errno != ENOENT && errno != ECONNREFUSED) || now() >= end) {
			fprintf(stderr, "vmm-ctl: cannot connect to %s: %s\n", path,
				strerror(errno));
			exit(EXIT_CONN);
		}
		close(fd);
		usleep(20000);
	}
}

/* -1 when the server has gone (it may still have said why). */
static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read until fd is readable or the timeout ends; false on timeout. */
static bool wait_readable(int fd, double end)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		double left = end - now();
		int r;

		if (left <= 0)
			return false;
		r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r > 0)
			return true;
		if (r < 0 && errno != EINTR)
			return false;
	}
}

/* Received bytes not yet returned as lines. */
static char *rbuf;
static size_t rlen, rcap;

/* One reply line (malloc'ed, without '\n'), or NULL: closed or timeout. */
static char *read_line(int fd)
{
	double end = now() + timeout_s;

	for (;;) {
		char *nl = rlen ? memchr(rbuf, '\n', rlen) : NULL;
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - rbuf);
			char *line = malloc(l + 1);

			if (!line)
				exit(EXIT_CONN);
			memcpy(line, rbuf, l);
			line[l] = '\0';
			memmove(rbuf, nl + 1, rlen - l - 1);
			rlen -= l + 1;
			return line;
		}
		if (rlen == rcap) {
			rcap = rcap ? rcap * 2 : 65536;
			rbuf = realloc(rbuf, rcap);
			if (!rbuf)
				exit(EXIT_CONN);
		}
		if (!wait_readable(fd, end)) {
			fprintf(stderr, "vmm-ctl: no reply within %g s\n", timeout_s);
			return NULL;
		}
		n = recv(fd, rbuf + rlen, rcap - rlen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "vmm-ctl: the connection closed%s%s\n",
				n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
			return NULL;
		}
		rlen += (size_t)n;
	}
}

/* Print a reply; its exit status (0, 1, or 3 when it is not a reply). */
static int take_reply(const char *line)
{
	json_object *o = json_tokener_parse(line), *ok = NULL;
	int st = EXIT_CONN;

	printf("%s\n", line);
	fflush(stdout);
	if (o && json_object_object_get_ex(o, "ok", &ok) &&
	    json_object_is_type(ok, json_type_boolean))
		st = json_object_get_boolean(ok) ? 0 : EXIT_ERROR_REPLY;
	else
		fprintf(stderr, "vmm-ctl: not a reply: %s\n", line);
	json_object_put(o);
	return st;
}

static int request(int fd, const char *line)
{
	char *r;
	int st;

	/* On a failed send, read anyway: a refusal ("too many clients")
	 * may be waiting. */
	if (send_all(fd, line, strlen(line)) == 0)
		send_all(fd, "\n", 1);
	r = read_line(fd);
	if (!r)
		return EXIT_CONN;
	st = take_reply(r);
	free(r);
	return st;
}

/* CMD KEY=VALUE... as one JSON request line. */
static char *build(int argc, char **argv)
{
	json_object *o = json_object_new_object(), *args = NULL;
	char *s;

	json_object_object_add(o, "cmd", json_object_new_string(argv[0]));
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		json_object *v;

		if (!eq || eq == argv[i]) {
			fprintf(stderr, "vmm-ctl: '%s' is not KEY=VALUE\n", argv[i]);
			exit(EXIT_USAGE);
		}
		*eq = '\0';
		v = json_tokener_parse(eq + 1);
		if (!v && strcmp(eq + 1, "null"))
			v = json_object_new_string(eq + 1);
		if (!args)
			args = json_object_new_object();
		json_object_object_add(args, argv[i], v);
	}
	if (args)
		json_object_object_add(o, "args", args);
	s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						  JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

static int raw(int fd)
{
	char buf[65536];
	double end;
	ssize_t n;

	/* The server may close early (a line too long): stop sending then. */
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
		if (send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0)
			break;
	shutdown(fd, SHUT_WR);
	end = now() + timeout_s;
	for (;;) {
		if (!wait_readable(fd, end)) {
			fprintf(stderr, "vmm-ctl: the server did not close the "
				"connection within %g s\n", timeout_s);
			return EXIT_CONN;
		}
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0; /* closed (a reset after an overflow too) */
		fwrite(buf, 1, (size_t)n, stdout);
		fflush(stdout);
	}
}

static double seconds(const char *opt, const char *v)
{
	char *end;
	double d;

	if (!v)
		usage(EXIT_USAGE);
	d = strtod(v, &end);
	if (end == v || *end || !(d >= 0) || d > 1e6) {
		fprintf(stderr, "vmm-ctl: %s: invalid number of seconds '%s'\n",
			opt, v);
		exit(EXIT_USAGE);
	}
	return d;
}

int main(int argc, char **argv)
{
	bool is_raw = false;
	int i = 1, fd, st = 0;
	char *line = NULL;
	size_t cap = 0;

	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		if (!strcmp(argv[i], "--timeout"))
			timeout_s = seconds("--timeout", argv[++i]);
		else if (!strcmp(argv[i], "--wait"))
			wait_s = seconds("--wait", argv[++i]);
		else if (!strcmp(argv[i], "--raw"))
			is_raw = true;
		else if (!strcmp(argv[i], "--help"))
			usage(0);
		else {
			fprintf(stderr, "vmm-ctl: unknown option '%s'\n", argv[i]);
			usage(EXIT_USAGE);
		}
	}
	if (i >= argc || (is_raw ? argc - i != 1 : argc - i < 2))
		usage(EXIT_USAGE);
	fd = connect_to(argv[i]);
	if (is_raw)
		return raw(fd);
	i++;
	if (!strcmp(argv[i], "-") && argc - i == 1) {
		ssize_t n;

		while ((n = getline(&line, &cap, stdin)) >= 0) {
			int s;

			if (n > 0 && line[n - 1] == '\n')
				line[--n] = '\0';
			if (n == 0)
				continue;
			s = request(fd, line);
			if (s == EXIT_CONN)
				return s;
			if (s > st)
				st = s;
		}
		free(line);
		return st;
	}
	if (argv[i][0] == '{') {
		if (argc - i != 1 || strchr(argv[i], '\n')) {
			fprintf(stderr, "vmm-ctl: a JSON request is one argument "
				"on one line\n");
			return EXIT_USAGE;
		}
		return request(fd, argv[i]);
	}
	line = build(argc - i, argv + i);
	st = request(fd, line);
	free(line);
	return st;
}
