/*
 * init.c - /init of the initramfs `vmm --exec` builds (exec-proto.h): PID 1
 * of the Linux guest. It sets the guest up over the host's files, runs the
 * command and streams its output and exit status to vmm.
 *
 * The steps, in order:
 *   1. open the channel to vmm: ioperm(2) on EXEC_PORT; every frame is one
 *      `rep outsb` of header and payload;
 *   2. read the run's settings, /pmvm/exec.conf;
 *   3. mount devtmpfs, proc and sysfs; load /modules/ in name order;
 *   4. mount the host's "/" (virtio-fs, tag EXEC_FS_TAG) on /host and an
 *      overlay on /newroot: the host's files below, a tmpfs above (writes
 *      stay in the guest); bind the rwdir directories through (writes reach
 *      the host); proc, sys, dev, dev/pts, dev/shm of its own;
 *   5. chroot to /newroot, chdir to cwd, fork /bin/sh -c CMD as uid/gid with
 *      the env records only, its stdout and stderr on two pipes; forward
 *      them as frames, reap every process (PID 1 inherits orphans) and send
 *      the command's status;
 *   6. sync and power off.
 * Whatever fails ends the run with one EXEC_FRAME_ERROR line and a power-off:
 * PID 1 must never exit (the kernel panics when it does).
 *
 * Built static (glibc) by vmm/exec/meson.build and linked into vmm. With
 * -DEXEC_INIT_TEST_FRAMES_FD, frames go to fd 3 instead of the port and the
 * end is exit(2), not a power-off: for looking at the frames on a host
 * (inside a scratch mount namespace: the paths stay the guest's).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec-proto.h"

#ifndef MODULE_INIT_COMPRESSED_FILE
#define MODULE_INIT_COMPRESSED_FILE 4 /* <linux/module.h>, Linux 5.17 */
#endif

#define CONF_PATH	"/pmvm/exec.conf"
#define CONF_MAX	(1 << 20)	/* bytes; a larger exec.conf is an error */
#define MAX_RWDIRS	64		/* vmm allows 16 */
#define MAX_ENV		1024
#define MAX_GROUPS	1024		/* vmm sends at most 256 */
#define MODULES_DIR	"/modules"
#define FS_WAIT_MS	5000		/* for the virtio-fs device to appear */
#define FS_RETRY_MS	10
#define POLL_MS		100		/* reaping orphans without a SIGCHLD */
#define DRAIN_MS	200		/* output read after the command ended */

#ifdef EXEC_INIT_TEST_FRAMES_FD
#define TEST_FRAMES_FD	3
#endif

/* The run's settings: pointers into conf_buf. */
struct exec_conf {
	const char *cmd, *cwd;
	uid_t uid;
	gid_t gid;
	gid_t groups[MAX_GROUPS];
	size_t ngroups;
	const char *rwdir[MAX_RWDIRS];
	size_t nrwdir;
	char *env[MAX_ENV + 1];		/* NULL-terminated */
	size_t nenv;
	bool verbose;
};

static char conf_buf[CONF_MAX + 1];
static struct exec_conf conf;
static bool channel_open;
static uint8_t frame_buf[4 + EXEC_FRAME_MAX];

/* ---- the channel and the end ------------------------------------------- */

static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

/* One frame, header and payload, in one string write. */
static void frame_put(uint8_t type, const void *data, size_t len)
{
	const uint8_t *p = frame_buf;
	size_t n = 4 + len;

	frame_buf[0] = type;
	frame_buf[1] = 0;
	frame_buf[2] = (uint8_t)(len & 0xff);
	frame_buf[3] = (uint8_t)(len >> 8);
	if (len)
		memcpy(frame_buf + 4, data, len);
#ifdef EXEC_INIT_TEST_FRAMES_FD
	write_all(TEST_FRAMES_FD, p, n);
#else
	asm volatile("rep outsb"
		     : "+S"(p), "+c"(n)
		     : "d"((uint16_t)EXEC_PORT)
		     : "memory");
#endif
}

/* A frame of any length: split into frames of at most EXEC_FRAME_MAX. */
static void frame_send(uint8_t type, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (!channel_open)
		return;
	do {
		size_t n = len < EXEC_FRAME_MAX ? len : EXEC_FRAME_MAX;

		frame_put(type, p, n);
		p += n;
		len -= n;
	} while (len > 0);
}

static void __attribute__((noreturn)) power_off(int test_status)
{
	sync();
#ifdef EXEC_INIT_TEST_FRAMES_FD
	exit(test_status);
#else
	(void)test_status;
	reboot(RB_POWER_OFF);
	for (;;)
		pause(); /* PID 1 must not return */
#endif
}

/* Write msg to the console: for errors the channel cannot carry. */
static void console_say(const char *msg)
{
	int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);

	if (fd < 0) {
		/* No /dev yet: mount it (an error is of no consequence). */
		mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
		fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	}
	write_all(fd >= 0 ? fd : STDERR_FILENO, msg, strlen(msg));
	if (fd >= 0)
		close(fd);
}

/* The run ends here: one EXEC_FRAME_ERROR line, then power off. */
static void __attribute__((noreturn, format(printf, 1, 2))) fail(const char *fmt, ...)
{
	static char msg[EXEC_FRAME_MAX + 1];
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	len = strlen(msg);
	for (size_t i = 0; i < len; i++) /* one line: names may hold anything */
		if (msg[i] == '\n' || msg[i] == '\r')
			msg[i] = ' ';
	if (channel_open) {
		frame_send(EXEC_FRAME_ERROR, msg, len);
	} else {
		console_say("pmvm-exec-init: ");
		console_say(msg);
		console_say("\n");
	}
	power_off(EXEC_EXIT_SETUP);
}

/* A progress note for --exec-verbose. */
static void __attribute__((format(printf, 1, 2))) note(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	if (!conf.verbose)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	frame_send(EXEC_FRAME_LOG, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
}

static void channel_setup(void)
{
#ifdef EXEC_INIT_TEST_FRAMES_FD
	if (fcntl(TEST_FRAMES_FD, F_SETFD, FD_CLOEXEC) < 0) {
		console_say("pmvm-exec-init: the test build sends frames to fd 3, which is not open\n");
		power_off(EXEC_EXIT_SETUP);
	}
#else
	if (ioperm(EXEC_PORT, 1, 1) < 0) {
		char msg[200];

		snprintf(msg, sizeof(msg), "pmvm-exec-init: ioperm on port 0x%x (the channel to "
			 "vmm): %s; powering off\n", EXEC_PORT, strerror(errno));
		console_say(msg);
		power_off(EXEC_EXIT_SETUP);
	}
#endif
	channel_open = true;
}

/* ---- exec.conf ------------------------------------------------------------ */

/* A decimal uid or gid: digits only, below (uint32_t)-1 (which means "none"). */
static bool parse_id(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v >= UINT32_MAX)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

static void conf_groups(const char *v)
{
	while (*v) {
		const char *comma = strchr(v, ',');
		size_t len = comma ? (size_t)(comma - v) : strlen(v);
		uint32_t g;

		if (conf.ngroups == MAX_GROUPS)
			fail("%s: %s: more than %d groups", CONF_PATH, EXEC_KEY_GROUPS, MAX_GROUPS);
		if (!parse_id(v, len, &g))
			fail("%s: %s: bad group id '%.*s'", CONF_PATH, EXEC_KEY_GROUPS,
			     (int)(len < 40 ? len : 40), v);
		conf.groups[conf.ngroups++] = g;
		if (!comma)
			break;
		v = comma + 1;
		if (!*v)
			fail("%s: %s: trailing comma", CONF_PATH, EXEC_KEY_GROUPS);
	}
}

/* Keys that appear once: set bit by index in `seen`. */
enum { SEEN_CMD, SEEN_CWD, SEEN_UID, SEEN_GID, SEEN_GROUPS, SEEN_VERBOSE };

static void conf_record(char *rec, unsigned *seen)
{
	static const char *const once[] = {
		[SEEN_CMD] = EXEC_KEY_CMD, [SEEN_CWD] = EXEC_KEY_CWD,
		[SEEN_UID] = EXEC_KEY_UID, [SEEN_GID] = EXEC_KEY_GID,
		[SEEN_GROUPS] = EXEC_KEY_GROUPS, [SEEN_VERBOSE] = EXEC_KEY_VERBOSE,
	};
	char *eq = strchr(rec, '=');
	const char *key = rec, *v;
	uint32_t id;

	if (!eq)
		fail("%s: a record without '=': '%.60s'", CONF_PATH, rec);
	*eq = '\0';
	v = eq + 1;
	for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++) {
		if (strcmp(key, once[i]))
			continue;
		if (*seen & (1u << i))
			fail("%s: key '%s' appears twice", CONF_PATH, key);
		*seen |= 1u << i;
	}
	if (!strcmp(key, EXEC_KEY_CMD)) {
		conf.cmd = v;
	} else if (!strcmp(key, EXEC_KEY_CWD)) {
		if (v[0] != '/')
			fail("%s: %s: '%.200s' is not an absolute path", CONF_PATH, key, v);
		conf.cwd = v;
	} else if (!strcmp(key, EXEC_KEY_UID)) {
		if (!parse_id(v, strlen(v), &id))
			fail("%s: %s: bad number '%.40s'", CONF_PATH, key, v);
		conf.uid = id;
	} else if (!strcmp(key, EXEC_KEY_GID)) {
		if (!parse_id(v, strlen(v), &id))
			fail("%s: %s: bad number '%.40s'", CONF_PATH, key, v);
		conf.gid = id;
	} else if (!strcmp(key, EXEC_KEY_GROUPS)) {
		conf_groups(v);
	} else if (!strcmp(key, EXEC_KEY_RWDIR)) {
		if (v[0] != '/')
			fail("%s: %s: '%.200s' is not an absolute path", CONF_PATH, key, v);
		if (conf.nrwdir == MAX_RWDIRS)
			fail("%s: %s: more than %d directories", CONF_PATH, key, MAX_RWDIRS);
		conf.rwdir[conf.nrwdir++] = v;
	} else if (!strcmp(key, EXEC_KEY_ENV)) {
		if (v[0] == '=' || !strchr(v, '='))
			fail("%s: %s: '%.60s' is not NAME=VALUE", CONF_PATH, key, v);
		if (conf.nenv == MAX_ENV)
			fail("%s: %s: more than %d variables", CONF_PATH, key, MAX_ENV);
		conf.env[conf.nenv++] = (char *)v;
	} else if (!strcmp(key, EXEC_KEY_VERBOSE)) {
		if (strcmp(v, "0") && strcmp(v, "1"))
			fail("%s: %s: '%.40s' is neither 0 nor 1", CONF_PATH, key, v);
		conf.verbose = v[0] == '1';
	} else {
		fail("%s: unknown key '%.60s'", CONF_PATH, key);
	}
}

static void conf_read(void)
{
	size_t len = 0;
	unsigned seen = 0;
	int fd = open(CONF_PATH, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fail("%s: %s", CONF_PATH, strerror(errno));
	for (;;) {
		ssize_t r = read(fd, conf_buf + len, sizeof(conf_buf) - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("%s: %s", CONF_PATH, strerror(errno));
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > CONF_MAX)
			fail("%s: larger than %d bytes", CONF_PATH, CONF_MAX);
	}
	close(fd);
	if (len > 0 && conf_buf[len - 1] != '\0')
		fail("%s: the last record has no terminating NUL", CONF_PATH);
	for (size_t off = 0, rlen; off < len; off += rlen + 1) {
		rlen = strlen(conf_buf + off); /* before conf_record cuts at '=' */
		conf_record(conf_buf + off, &seen);
	}
	conf.env[conf.nenv] = NULL;
	if (!(seen & (1u << SEEN_CMD)))
		fail("%s: no '%s' record", CONF_PATH, EXEC_KEY_CMD);
	if (!(seen & (1u << SEEN_CWD)))
		fail("%s: no '%s' record", CONF_PATH, EXEC_KEY_CWD);
	if (!(seen & (1u << SEEN_UID)))
		fail("%s: no '%s' record", CONF_PATH, EXEC_KEY_UID);
	if (!(seen & (1u << SEEN_GID)))
		fail("%s: no '%s' record", CONF_PATH, EXEC_KEY_GID);
}

/* ---- mounts --------------------------------------------------------------- */

/* Does the kernel know filesystem type `name` (/proc/filesystems)? */
static bool fs_known(const char *name)
{
	char buf[8192];
	size_t len = 0, nlen = strlen(name);
	int fd = open("/proc/filesystems", O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0)
		return true; /* cannot tell: no hint rather than a wrong one */
	while (len < sizeof(buf) - 1 &&
	       ((r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			len += (size_t)r;
	close(fd);
	buf[len] = '\0';
	/* Lines are "nodev\tNAME" or "\tNAME". */
	for (char *line = buf; *line;) {
		char *end = strchr(line, '\n');
		char *tab;

		if (end)
			*end = '\0';
		tab = strrchr(line, '\t');
		if (tab && strlen(tab + 1) == nlen && !memcmp(tab + 1, name, nlen))
			return true;
		if (!end)
			break;
		line = end + 1;
	}
	return false;
}

static void mkdir_or_fail(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		fail("mkdir: %s: %s", path, strerror(errno));
}

/* The hint for a mount of `type` that failed with errno `err`. */
static const char *mount_hint(const char *type, int err)
{
	if (err != ENODEV || fs_known(type))
		return "";
	if (!strcmp(type, "overlay"))
		return " (the kernel has no overlay filesystem: it needs CONFIG_OVERLAY_FS)";
	if (!strcmp(type, "devtmpfs"))
		return " (the kernel has no devtmpfs: it needs CONFIG_DEVTMPFS)";
	return " (the kernel does not have this filesystem)";
}

static void mount_or_fail(const char *src, const char *dir, const char *type,
			  unsigned long flags, const char *opts)
{
	int err;

	if (mount(src, dir, type, flags, opts) == 0) {
		note("mounted %s on %s", type, dir);
		return;
	}
	err = errno;
	fail("mount: %s on %s: %s%s", type, dir, strerror(err), mount_hint(type, err));
}

/* fds 0-2 open (on /dev/null if the kernel found no console), so that
 * pipes and files opened later never land on them. */
static void std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		n = open("/dev/null", O_RDWR);
		if (n < 0)
			fail("/dev/null: %s", strerror(errno));
		if (n != fd) {
			if (dup2(n, fd) < 0)
				fail("dup2 /dev/null to fd %d: %s", fd, strerror(errno));
			close(n);
		}
	}
}

static void mount_early(void)
{
	mount_or_fail("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, NULL);
	mount_or_fail("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	mount_or_fail("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	std_fds();
}

/* ---- modules -------------------------------------------------------------- */

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static int not_dot(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

static void load_module(const char *name)
{
	char path[sizeof(MODULES_DIR) + NAME_MAX + 1];
	bool compressed = has_suffix(name, ".xz") || has_suffix(name, ".zst") ||
			  has_suffix(name, ".gz");
	const char *hint = "";
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", MODULES_DIR, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("loading module %s: %s", name, strerror(errno));
	if (syscall(SYS_finit_module, fd, "", compressed ? MODULE_INIT_COMPRESSED_FILE : 0) == 0) {
		close(fd);
		note("module %s loaded", name);
		return;
	}
	err = errno;
	close(fd);
	if (err == EEXIST) {
		note("module %s: already loaded", name);
		return;
	}
	if (compressed && (err == ENOEXEC || err == EINVAL || err == EOPNOTSUPP))
		hint = " (the kernel may lack CONFIG_MODULE_DECOMPRESS, or the decompressor "
		       "for this format)";
	else if (err == ENOEXEC)
		hint = " (built for another kernel?)";
	else if (err == ENOENT)
		hint = " (an unknown symbol: a module it needs is missing, or it is for "
		       "another kernel)";
	else if (err == EKEYREJECTED || err == EKEYREVOKED || err == ENOKEY)
		hint = " (its signature is not accepted by this kernel)";
	fail("loading module %s: %s%s", name, strerror(err), hint);
}

static void load_modules(void)
{
	struct dirent **list;
	int n = scandir(MODULES_DIR, &list, not_dot, alphasort);

	if (n < 0)
		fail("%s: %s", MODULES_DIR, strerror(errno));
	for (int i = 0; i < n; i++)
		load_module(list[i]->d_name);
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* ---- the guest's root: the host's files under an overlay -------------------- */

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static bool dir_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The host's "/" on /host. The device may be probed a little after its
 * driver loaded: "tag not found" (EINVAL) until then. */
static void mount_host(void)
{
	const struct timespec pause_ts = { .tv_nsec = FS_RETRY_MS * 1000000L };
	long long start = now_ms();
	const char *hint = "";
	int err;

	for (;;) {
		if (mount(EXEC_FS_TAG, "/host", "virtiofs", 0, NULL) == 0) {
			note("mounted virtio-fs %s on /host after %lld ms", EXEC_FS_TAG,
			     now_ms() - start);
			return;
		}
		err = errno;
		if (err == ENODEV && !fs_known("virtiofs")) {
			hint = " (the kernel has no virtiofs filesystem: it needs virtiofs, "
			       "CONFIG_VIRTIO_FS, and virtio-mmio, CONFIG_VIRTIO_MMIO)";
			break;
		}
		if (err != ENOENT && err != EINVAL && err != ENODEV)
			break;
		if (now_ms() - start >= FS_WAIT_MS) {
			if (err != EINVAL)
				hint = " (for 5 s)";
			else if (!dir_exists("/sys/bus/platform/drivers/virtio-mmio"))
				hint = " (no device with that tag: the kernel has no virtio-mmio "
				       "driver, CONFIG_VIRTIO_MMIO)";
			else
				hint = " (no virtio-fs device with that tag appeared in 5 s)";
			break;
		}
		nanosleep(&pause_ts, NULL);
	}
	fail("mount: virtio-fs tag %s on /host: %s%s", EXEC_FS_TAG, strerror(err), hint);
}

/* Mounts of the new root's own, relative to /newroot. */
static const struct newroot_mount {
	const char *type, *dir, *opts;
	unsigned long flags;
} newroot_mounts[] = {
	{ "proc", "proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "sysfs", "sys", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
	{ "devtmpfs", "dev", NULL, MS_NOSUID },
	{ "devpts", "dev/pts", "newinstance,ptmxmode=0666,mode=0620,gid=5",
	  MS_NOSUID | MS_NOEXEC },
	{ "tmpfs", "dev/shm", "mode=1777", MS_NOSUID | MS_NODEV },
};

/* What udev would add to /dev: bash's /dev/fd/N, /dev/stdin and friends. */
static const struct { const char *target, *name; } dev_links[] = {
	{ "/proc/self/fd", "/newroot/dev/fd" },
	{ "/proc/self/fd/0", "/newroot/dev/stdin" },
	{ "/proc/self/fd/1", "/newroot/dev/stdout" },
	{ "/proc/self/fd/2", "/newroot/dev/stderr" },
};

static void path_join(char *out, size_t outlen, const char *a, const char *b)
{
	if ((size_t)snprintf(out, outlen, "%s%s", a, b) >= outlen)
		fail("path too long: %s%.100s...", a, b);
}

static void setup_root(void)
{
	char dir[PATH_MAX], src[PATH_MAX];
	int err;

	mount_host();
	mount_or_fail("tmpfs", "/ovl", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	mkdir_or_fail("/ovl/upper", 0755);
	mkdir_or_fail("/ovl/work", 0755);
	mount_or_fail("overlay", "/newroot", "overlay", 0,
		      "lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work");

	for (size_t i = 0; i < sizeof(newroot_mounts) / sizeof(newroot_mounts[0]); i++) {
		const struct newroot_mount *m = &newroot_mounts[i];

		path_join(dir, sizeof(dir), "/newroot/", m->dir);
		mkdir_or_fail(dir, 0755);
		if (mount(m->type, dir, m->type, m->flags, m->opts) == 0) {
			note("mounted %s on %s", m->type, dir);
			continue;
		}
		err = errno;
		/* devpts: newinstance and ptmxmode are refused by old kernels. */
		if (!strcmp(m->type, "devpts") && err == EINVAL &&
		    mount(m->type, dir, m->type, m->flags, NULL) == 0) {
			note("mounted %s on %s (default options)", m->type, dir);
			continue;
		}
		fail("mount: %s on %s: %s%s", m->type, dir, strerror(err), mount_hint(m->type, err));
	}
	for (size_t i = 0; i < sizeof(dev_links) / sizeof(dev_links[0]); i++)
		if (symlink(dev_links[i].target, dev_links[i].name) < 0 && errno != EEXIST)
			fail("symlink: %s: %s", dev_links[i].name, strerror(errno));

	for (size_t i = 0; i < conf.nrwdir; i++) {
		const char *d = conf.rwdir[i];

		path_join(src, sizeof(src), "/host", d);
		path_join(dir, sizeof(dir), "/newroot", d);
		if (mount(src, dir, NULL, MS_BIND | MS_REC, NULL) < 0)
			fail("rwdir: %s: bind mount: %s", d, strerror(errno));
		note("rwdir %s: writable", d);
	}

	if (chroot("/newroot") < 0)
		fail("chroot: /newroot: %s", strerror(errno));
	if (chdir(conf.cwd) < 0)
		fail("the working directory: %s: %s", conf.cwd, strerror(errno));
}

/* ---- the command ---------------------------------------------------------- */

/* In the child, before exec: report on stderr (a pipe to vmm) and exit. */
static void __attribute__((noreturn)) child_fail(int status, const char *what)
{
	dprintf(STDERR_FILENO, "pmvm-exec-init: %s: %s\n", what, strerror(errno));
	_exit(status);
}

static void __attribute__((noreturn)) child_exec(int out_w, int err_w, const sigset_t *mask)
{
	char *argv[] = { "sh", "-c", (char *)conf.cmd, NULL };
	int null;

	if (dup2(err_w, STDERR_FILENO) < 0)
		child_fail(125, "dup2 stderr");
	if (dup2(out_w, STDOUT_FILENO) < 0)
		child_fail(125, "dup2 stdout");
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0)
		child_fail(125, "/dev/null");
	if (dup2(null, STDIN_FILENO) < 0)
		child_fail(125, "dup2 stdin");
	if (sigprocmask(SIG_SETMASK, mask, NULL) < 0)
		child_fail(125, "sigprocmask");
	if (setsid() < 0)
		child_fail(125, "setsid");
#ifndef EXEC_INIT_TEST_FRAMES_FD
	if (ioperm(EXEC_PORT, 1, 0) < 0)
		child_fail(125, "dropping the channel port");
#endif
	if (setgroups(conf.ngroups, conf.groups) < 0)
		child_fail(125, "setgroups");
	if (setgid(conf.gid) < 0)
		child_fail(125, "setgid");
	if (setuid(conf.uid) < 0)
		child_fail(125, "setuid");
	execve("/bin/sh", argv, conf.env);
	child_fail(127, "/bin/sh");
}

/* Forward what one pipe has as one frame; false at EOF or on an error. */
static bool forward(int fd, uint8_t type)
{
	static uint8_t buf[EXEC_FRAME_MAX];
	ssize_t r = read(fd, buf, sizeof(buf));

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (r <= 0)
		return false;
	frame_send(type, buf, (size_t)r);
	return true;
}

static int wait_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

/* Run the command; its exit status (0..255). */
static int run_command(void)
{
	int out[2], err[2], sfd, status = 0;
	sigset_t chld, old;
	bool out_open = true, err_open = true, exited = false;
	long long exit_ms = 0;
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		fail("pipe: %s", strerror(errno));
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &chld, &old) < 0)
		fail("sigprocmask: %s", strerror(errno));
	sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		fail("signalfd: %s", strerror(errno));

	note("running /bin/sh -c in %s as uid %u gid %u (%zu groups)", conf.cwd,
	     (unsigned)conf.uid, (unsigned)conf.gid, conf.ngroups);
	frame_send(EXEC_FRAME_STARTED, NULL, 0);
	pid = fork();
	if (pid < 0)
		fail("fork: %s", strerror(errno));
	if (pid == 0)
		child_exec(out[1], err[1], &old);
	close(out[1]);
	close(err[1]);

	for (;;) {
		struct pollfd pfd[3];
		int n = 0, timeout = POLL_MS, st;
		pid_t w;

		/* PID 1 reaps every process; the command's ends the run. */
		while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
			if (w == pid && !exited) {
				exited = true;
				status = wait_status(st);
				exit_ms = now_ms();
			}
		}
		if (w < 0 && errno != ECHILD && errno != EINTR)
			fail("waitpid: %s", strerror(errno));
		if (exited) {
			long long left = exit_ms + DRAIN_MS - now_ms();

			if ((!out_open && !err_open) || left <= 0)
				break;
			if (left < timeout)
				timeout = (int)left;
		}
		if (out_open)
			pfd[n++] = (struct pollfd){ .fd = out[0], .events = POLLIN };
		if (err_open)
			pfd[n++] = (struct pollfd){ .fd = err[0], .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			fail("poll: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == sfd) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) > 0)
					;
			} else if (pfd[i].fd == out[0]) {
				out_open = forward(out[0], EXEC_FRAME_STDOUT);
				if (!out_open)
					close(out[0]);
			} else {
				err_open = forward(err[0], EXEC_FRAME_STDERR);
				if (!err_open)
					close(err[0]);
			}
		}
	}
	if (out_open)
		close(out[0]);
	if (err_open)
		close(err[0]);
	close(sfd);
	return status;
}

int main(void)
{
	struct utsname u;
	uint8_t le[4];
	int status;

	channel_setup();
	conf_read();
	if (uname(&u) == 0)
		note("init: Linux %s", u.release);
	mount_early();
	load_modules();
	setup_root();
	status = run_command();
	sync();
	le[0] = (uint8_t)status;
	le[1] = le[2] = le[3] = 0;
	frame_send(EXEC_FRAME_STATUS, le, sizeof(le));
	power_off(status);
}
