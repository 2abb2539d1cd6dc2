/*
 * control.c - the control socket: `--control PATH` (or `--control fd=N`, a
 * listening socket handed in by a parent), one JSON request per line, one
 * reply per request (docs/control.md). A module of the core, like the
 * legacy devices: it uses only vmm.h (and acpi.h for the power button).
 *
 * Everything runs in the main thread's event loop (vm_add_fd): accepting,
 * reading, the command handlers, writing. Each client has a bounded input
 * buffer (control_proto.c cuts lines; a line longer than CTL_LINE_MAX gets
 * an error reply and the connection is closed) and an output buffer; while
 * replies wait to be written, no more requests are read from that client,
 * and a client that lets CTL_OUT_MAX bytes of replies pile up is dropped.
 * Writes use MSG_NOSIGNAL: a client that goes away is just closed.
 *
 * The socket file is created with mode 0600, refused when PATH exists and
 * is anything but a stale socket (one nobody listens on), and removed in
 * teardown, which runs on every exit after setup (not after kill -9: the
 * next vmm finds the stale socket and replaces it).
 *
 * Commands: the core's (table below) and each module's
 * vmm_module.commands, looked up by name; start-up fails on a duplicate.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "acpi.h"
#include "control.h"
#include "grow.h"
#include "opts.h"
#include "vmm.h"

#define CTL_MAX_CLIENTS 16
#define CTL_OUT_SOFT    (64 * 1024)   /* stop serving requests above this */
#define CTL_OUT_MAX     (1024 * 1024) /* drop a client that lets this pile up */

struct ctl_client {
	int fd;
	struct ctl_lines in;
	char *out;
	size_t out_len, out_cap;
	bool eof;     /* the client has shut down its side */
	bool closing; /* close once the output is written */
	bool dead;
	struct ctl_client *next;
};

static struct {
	const char *arg;      /* --control's value */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool own_path;        /* we created path: remove it at exit */
	dev_t dev;
	ino_t ino;
	int listen_fd;
	int spare_fd;         /* /dev/null, given up to refuse when out of fds */
	struct ctl_client *clients;
	int nclients;
	double t0;
	bool user_paused;     /* by the "pause" command */
	bool powerdown;       /* system-powerdown was sent */
} ctl = { .listen_fd = -1, .spare_fd = -1 };

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- The socket file ---------------------------------------------------------- */

/* PATH may be used if it does not exist or is a stale socket (connect
 * refused); with remove_stale, a stale socket is removed. */
static int path_check(const char *path, bool remove_stale, char *err,
		      size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r, e;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path '%s' is too long (max %zu bytes)",
			 path, sizeof(sa.sun_path) - 1);
		return -1;
	}
	if (path[0] == '\0') {
		snprintf(err, errlen, "empty socket path ''");
		return -1;
	}
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "'%s': %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "'%s' exists and is not a socket", path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	close(fd);
	if (r == 0) {
		snprintf(err, errlen, "'%s' is in use (something listens on it)",
			 path);
		return -1;
	}
	if (e != ECONNREFUSED) {
		snprintf(err, errlen, "'%s': %s", path, strerror(e));
		return -1;
	}
	if (remove_stale && unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove the stale socket '%s': %s",
			 path, strerror(errno));
		return -1;
	}
	return 0;
}

static bool arg_is_fd(const char *arg, int *fd)
{
	uint64_t v;

	if (strncmp(arg, "fd=", 3))
		return false;
	*fd = -1;
	if (opt_parse_uint(arg + 3, 0, 1 << 20, &v, NULL, 0) == 0)
		*fd = (int)v;
	return true;
}

static int parse_control(const char *arg, char *err, size_t errlen)
{
	int fd;

	if (ctl.arg) {
		snprintf(err, errlen, "'%s': given twice (one control socket)", arg);
		return -1;
	}
	if (arg_is_fd(arg, &fd)) {
		if (fd < 0) {
			snprintf(err, errlen, "'%s': fd=N with N a file descriptor "
				 "number", arg);
			return -1;
		}
	} else if (path_check(arg, false, err, errlen) < 0) {
		return -1;
	}
	ctl.arg = arg;
	return 0;
}

/* A listening AF_UNIX stream socket handed in as fd=N. */
static int adopt_fd(int fd, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	int type = 0, listening = 0;
	socklen_t ol = sizeof(int);

	if (fcntl(fd, F_GETFD) < 0) {
		snprintf(err, errlen, "--control fd=%d: %s", fd, strerror(errno));
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 ||
	    sa.sun_family != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &ol) < 0 ||
	    type != SOCK_STREAM ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ol) < 0 ||
	    !listening) {
		snprintf(err, errlen, "--control fd=%d: not a listening unix "
			 "stream socket", fd);
		return -1;
	}
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	ctl.listen_fd = fd;
	return 0;
}

static int create_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t um;
	int fd, r;

	if (path_check(path, true, err, errlen) < 0)
		return -1;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	um = umask(0177); /* the file is born 0600 */
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(um);
	if (r < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (lstat(path, &st) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 8) < 0) {
		snprintf(err, errlen, "'%s': %s", path, strerror(errno));
		unlink(path);
		close(fd);
		return -1;
	}
	snprintf(ctl.path, sizeof(ctl.path), "%s", path);
	ctl.own_path = true;
	ctl.dev = st.st_dev;
	ctl.ino = st.st_ino;
	ctl.listen_fd = fd;
	return 0;
}

/* ---- Commands ---------------------------------------------------------------------- */

static const struct vmm_command core_commands[];

static const char *status_name(struct vm *vm)
{
	if (vm_exiting(vm))
		return "shutting-down";
	return vm_vcpus_paused(vm) ? "paused" : "running";
}

static int cmd_query_status(struct vm *vm, json_object *args, json_object *res,
			    char *err, size_t errlen)
{
	json_object_object_add(res, "status", json_object_new_string(status_name(vm)));
	json_object_object_add(res, "running",
			       json_object_new_boolean(!vm_vcpus_paused(vm) &&
						       !vm_exiting(vm)));
	json_object_object_add(res, "vcpus", json_object_new_int(vm_vcpu_count(vm)));
	json_object_object_add(res, "uptime_seconds",
			       json_object_new_double(now() - ctl.t0));
	json_object_object_add(res, "powerdown_requested",
			       json_object_new_boolean(ctl.powerdown));
	json_object_object_add(res, "pid", json_object_new_int((int)getpid()));
	return 0;
}

static int cmd_pause(struct vm *vm, json_object *args, json_object *res,
		     char *err, size_t errlen)
{
	if (!ctl.user_paused) {
		if (vm_pause_vcpus(vm) < 0) {
			snprintf(err, errlen, "cannot pause: %s", strerror(errno));
			return -1;
		}
		ctl.user_paused = true;
	}
	json_object_object_add(res, "status", json_object_new_string(status_name(vm)));
	return 0;
}

static int cmd_resume(struct vm *vm, json_object *args, json_object *res,
		      char *err, size_t errlen)
{
	if (ctl.user_paused) {
		ctl.user_paused = false;
		vm_resume_vcpus(vm);
	}
	json_object_object_add(res, "status", json_object_new_string(status_name(vm)));
	return 0;
}

static int cmd_powerdown(struct vm *vm, json_object *args, json_object *res,
			 char *err, size_t errlen)
{
	if (acpi_power_button(vm) < 0) {
		snprintf(err, errlen, "this machine has no ACPI power button");
		return -1;
	}
	ctl.powerdown = true;
	return 0;
}

static int cmd_quit(struct vm *vm, json_object *args, json_object *res,
		    char *err, size_t errlen)
{
	vm_request_exit_reason(vm, VMM_EXIT_ERROR, "quit",
			       "stopped by the control socket's quit command");
	return 0;
}

static void list_one(json_object *list, const struct vmm_command *c,
		     const char *module)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "name", json_object_new_string(c->name));
	json_object_object_add(o, "args", json_object_new_string(c->args ? c->args : ""));
	json_object_object_add(o, "help", json_object_new_string(c->help ? c->help : ""));
	json_object_object_add(o, "module", json_object_new_string(module));
	json_object_array_add(list, o);
}

static int cmd_query_commands(struct vm *vm, json_object *args, json_object *res,
			      char *err, size_t errlen)
{
	json_object *list = json_object_new_array();

	for (const struct vmm_command *c = core_commands; c->name; c++)
		list_one(list, c, "core");
	vmm_for_each_module(mp)
		for (const struct vmm_command *c = (*mp)->commands; c && c->name; c++)
			list_one(list, c, (*mp)->name);
	json_object_object_add(res, "commands", list);
	return 0;
}

static const struct vmm_command core_commands[] = {
	{ "query-status", NULL, "status (running, paused, shutting-down), "
	  "vcpus, uptime_seconds, powerdown_requested, pid", cmd_query_status },
	{ "pause", NULL, "stop every vCPU (no-op when paused)", cmd_pause },
	{ "resume", NULL, "run the vCPUs again after pause", cmd_resume },
	{ "cont", NULL, "the same as resume", cmd_resume },
	{ "system-powerdown", NULL, "press the ACPI power button (as the first "
	  "SIGTERM, without the grace timer)", cmd_powerdown },
	{ "quit", NULL, "stop the VM now: exit status 4, reason \"quit\"",
	  cmd_quit },
	{ "query-commands", NULL, "list every command, the modules' too",
	  cmd_query_commands },
	{ "help", NULL, "the same as query-commands", cmd_query_commands },
	{ NULL, NULL, NULL, NULL },
};

static const struct vmm_command *find_command(const char *name)
{
	for (const struct vmm_command *c = core_commands; c->name; c++)
		if (!strcmp(c->name, name))
			return c;
	vmm_for_each_module(mp)
		for (const struct vmm_command *c = (*mp)->commands; c && c->name; c++)
			if (!strcmp(c->name, name))
				return c;
	return NULL;
}

/* Every name once, across the core and the modules. */
static int check_names(char *err, size_t errlen)
{
	int seen = 0;

	vmm_for_each_module(mp) {
		for (const struct vmm_command *c = (*mp)->commands; c && c->name; c++) {
			seen = 0;
			for (const struct vmm_command *d = core_commands; d->name; d++)
				seen += !strcmp(c->name, d->name);
			vmm_for_each_module(mq)
				for (const struct vmm_command *d = (*mq)->commands;
				     d && d->name; d++)
					seen += !strcmp(c->name, d->name);
			if (seen > 1 || !c->fn) {
				snprintf(err, errlen, "command '%s' of module %s: %s",
					 c->name, (*mp)->name, c->fn ?
					 "defined more than once" : "no handler");
				return -1;
			}
		}
	}
	return 0;
}

/* ---- Clients ---------------------------------------------------------------------- */

static void client_close(struct vm *vm, struct ctl_client *c)
{
	if (c->dead)
		return;
	vm_del_fd(vm, c->fd);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	ctl.nclients--;
}

/* Free closed clients (outside any callback of theirs). */
static void reap(void)
{
	for (struct ctl_client **pp = &ctl.clients; *pp;) {
		struct ctl_client *c = *pp;

		if (c->dead) {
			*pp = c->next;
			ctl_lines_free(&c->in);
			free(c->out);
			free(c);
		} else {
			pp = &c->next;
		}
	}
}

static int queue(struct ctl_client *c, const char *s, size_t n)
{
	if (c->out_len + n > CTL_OUT_MAX)
		return -1;
	if (pmvm_grow((void **)&c->out, &c->out_cap, c->out_len + n, 4096))
		return -1;
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
	return 0;
}

/* Write what is pending. -1: the client is gone. */
static int flush(struct ctl_client *c)
{
	size_t off = 0;

	while (off < c->out_len) {
		ssize_t n = send(c->fd, c->out + off, c->out_len - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	memmove(c->out, c->out + off, c->out_len - off);
	c->out_len -= off;
	return 0;
}

static void reply(struct ctl_client *c, json_object *id, json_object *result,
		  const char *error)
{
	size_t n;
	char *line = ctl_reply(id, result, error, &n);

	if (!line || queue(c, line, n) < 0)
		c->closing = true; /* out of memory, or a client not reading */
	free(line);
}

static void serve_line(struct vm *vm, struct ctl_client *c, const char *line,
		       size_t len)
{
	struct ctl_request req;
	const struct vmm_command *cmd = NULL;
	json_object *result = NULL;
	char err[512] = "", q[64];

	if (ctl_line_blank(line, len))
		return;
	if (ctl_parse_request(line, len, &req, err, sizeof(err)) == 0) {
		cmd = find_command(req.cmd);
		if (!cmd)
			snprintf(err, sizeof(err), "unknown command '%s' (see "
				 "query-commands)", ctl_quote(req.cmd, q, sizeof(q)));
		else if (ctl_check_args(req.args, cmd->args, err, sizeof(err)) < 0)
			cmd = NULL;
	}
	if (cmd) {
		result = json_object_new_object();
		if (!result) {
			snprintf(err, sizeof(err), "out of memory");
		} else if (cmd->fn(vm, req.args, result, err, sizeof(err)) < 0) {
			if (!err[0])
				snprintf(err, sizeof(err), "%s failed", cmd->name);
		} else {
			err[0] = '\0';
		}
	}
	reply(c, req.id, err[0] ? NULL : result, err[0] ? err : NULL);
	json_object_put(result);
	ctl_request_free(&req);
}

static void client_event(void *opaque, uint32_t events);

/* Serve buffered lines, read more, write replies, and choose what to wait
 * for next. */
static void client_run(struct vm *vm, struct ctl_client *c, bool readable)
{
	char *line, *p;
	size_t len;
	int r;

	if (c->out_len && flush(c) < 0) {
		client_close(vm, c);
		return;
	}
	for (;;) {
		/* Serve complete lines while the replies can keep up, and
		 * none after a request (quit) has stopped the VM. */
		while (!c->closing && c->out_len < CTL_OUT_SOFT && !vm_exiting(vm) &&
		       (r = ctl_lines_next(&c->in, c->eof, &line, &len)) != 0) {
			if (r < 0) {
				char msg[96];

				snprintf(msg, sizeof(msg), "request longer than %d "
					 "bytes: closing the connection",
					 CTL_LINE_MAX);
				reply(c, NULL, NULL, msg);
				c->closing = true;
				break;
			}
			serve_line(vm, c, line, len);
			if (c->out_len >= CTL_OUT_SOFT / 2 && flush(c) < 0) {
				client_close(vm, c);
				return;
			}
		}
		if (c->eof && !c->closing && c->out_len < CTL_OUT_SOFT)
			c->closing = true; /* every line served */
		if (!readable || c->eof || c->closing || c->out_len >= CTL_OUT_SOFT)
			break;
		len = ctl_lines_space(&c->in, &p);
		if (len == 0)
			continue; /* full: ctl_lines_next reports the overflow */
		ssize_t n = recv(c->fd, p, len, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			client_close(vm, c);
			return;
		}
		if (n == 0)
			c->eof = true;
		else
			ctl_lines_commit(&c->in, (size_t)n);
	}
	if (c->out_len && flush(c) < 0) {
		client_close(vm, c);
		return;
	}
	if (c->closing && !c->out_len) {
		client_close(vm, c);
		return;
	}
	/* Pending output: wait until writable (reading waits). Else read. */
	vm_mod_fd(vm, c->fd, c->out_len ? EPOLLOUT :
		  (c->closing || c->eof) ? 0 : EPOLLIN);
}

static struct vm *the_vm;

static void client_event(void *opaque, uint32_t events)
{
	struct ctl_client *c = opaque;

	if (c->dead)
		return;
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) {
		client_close(the_vm, c);
	} else {
		client_run(the_vm, c, (events & EPOLLIN) != 0);
	}
	reap();
}

static void on_accept(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;

	for (;;) {
		int fd = accept4(ctl.listen_fd, NULL, NULL,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);
		struct ctl_client *c;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && ctl.spare_fd >= 0) {
				/* Out of fds: the pending connection would
				 * wake the loop forever. Take it with the
				 * spare fd and close it. */
				close(ctl.spare_fd);
				fd = accept(ctl.listen_fd, NULL, NULL);
				if (fd >= 0)
					close(fd);
				ctl.spare_fd = open("/dev/null",
						    O_RDONLY | O_CLOEXEC);
				if (fd >= 0)
					continue;
			}
			return; /* EAGAIN, or nothing to be done now */
		}
		if (ctl.nclients >= CTL_MAX_CLIENTS) {
			static const char busy[] = "{\"id\":null,\"ok\":false,"
				"\"error\":\"too many clients\"}\n";

			if (send(fd, busy, sizeof(busy) - 1,
				 MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
				/* nothing more to tell it */
			}
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c || ctl_lines_init(&c->in, CTL_LINE_MAX) < 0) {
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		if (vm_add_fd(vm, fd, EPOLLIN, client_event, c) < 0) {
			ctl_lines_free(&c->in);
			free(c);
			close(fd);
			continue;
		}
		c->next = ctl.clients;
		ctl.clients = c;
		ctl.nclients++;
	}
}

/* ---- The module ---------------------------------------------------------------- */

static int control_setup(struct vm *vm, char *err, size_t errlen)
{
	int fd;

	ctl.t0 = now();
	if (check_names(err, errlen) < 0)
		return -1;
	if (!ctl.arg || vm_kvm_fd(vm) < 0)
		return 0; /* no --control, or an offline VM that never runs */
	the_vm = vm;
	if (arg_is_fd(ctl.arg, &fd) ? adopt_fd(fd, err, errlen) < 0 :
	    create_socket(ctl.arg, err, errlen) < 0)
		return -1;
	ctl.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (vm_add_fd(vm, ctl.listen_fd, EPOLLIN, on_accept, vm) < 0) {
		snprintf(err, errlen, "event loop: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void control_teardown(struct vm *vm)
{
	struct stat st;

	for (struct ctl_client *c = ctl.clients; c; c = c->next) {
		if (!c->dead && c->out_len)
			flush(c); /* the reply to quit, say */
		client_close(vm, c);
	}
	reap();
	if (ctl.listen_fd >= 0) {
		vm_del_fd(vm, ctl.listen_fd);
		close(ctl.listen_fd);
		ctl.listen_fd = -1;
	}
	if (ctl.spare_fd >= 0)
		close(ctl.spare_fd);
	ctl.spare_fd = -1;
	/* Remove the file only if it is still the one we made. */
	if (ctl.own_path && lstat(ctl.path, &st) == 0 && st.st_dev == ctl.dev &&
	    st.st_ino == ctl.ino)
		unlink(ctl.path);
	ctl.own_path = false;
}

static const struct vmm_option control_options[] = {
	{ "control", "PATH|fd=N", "JSON control socket at PATH (mode 0600), "
	  "or a listening unix socket inherited as fd N (docs/control.md)",
	  parse_control },
	{ NULL, NULL, NULL, NULL },
};

static const struct vmm_module control_module = {
	.name = "control",
	.options = control_options,
	.setup = control_setup,
	.teardown = control_teardown,
};
VMM_MODULE(control_module);
