/*
 * exec.c - `vmm --kernel bzImage --exec CMD`: boot a Linux kernel with an
 * initramfs vmm builds, run CMD in it over the host's files, stream its
 * output and end with its exit status (docs/ci.md, "--exec").
 *
 * Host side of exec-proto.h:
 *   - prepare (before the VM exists): the initramfs in memory (the static
 *     init, init.c, linked into vmm; the modules the kernel needs for
 *     virtio-mmio, virtio-fs and overlayfs, from /lib/modules/RELEASE by the
 *     release string in the bzImage; the run's settings), the kernel
 *     arguments, shareable guest RAM, COM1 on stderr;
 *   - setup: start virtiofsd (Debian's) on one end of a socket pair, with
 *     guest RAM shared through a memfd, and put the virtio-fs device on the
 *     transport (vmm/virtio/vhost-fs.c); claim the channel port;
 *   - run: frames from the guest's init (stdout, stderr, started, status,
 *     error); the status frame ends the VM;
 *   - teardown (every ending: status, timeout, signal, panic, error): the
 *     device goes, virtiofsd is stopped and reaped. virtiofsd also dies
 *     with vmm (PR_SET_PDEATHSIG) if vmm itself is killed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <pthread.h>

#include "acpi.h"
#include "channel.h"
#include "exec-proto.h"
#include "exec.h"
#include "initramfs.h"
#include "le.h"
#include "internal.h"
#include "vhost-fs.h"
#include "vmm.h"

#define EXEC_MAX_RWDIRS 16

/* The init program, linked in (exec-init-blob.S). */
extern const unsigned char pmvm_exec_init[], pmvm_exec_init_end[];

/* Modules a distribution kernel builds as modules and --exec needs (their
 * dependencies come from modules.dep): the virtio-mmio transport,
 * virtio-fs (with fuse) and overlayfs. Built-in ones are skipped. */
static const char *const exec_modules[] = { "virtio_mmio", "virtiofs", "overlay" };

/* Places to look for virtiofsd: Debian 13's virtiofsd package, Debian 12's
 * qemu-system-common. */
static const char *const virtiofsd_paths[] = {
	"/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd",
};

/* Environment variables the command gets from vmm's own. */
static const char *const exec_env[] = {
	"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TERM", "TZ",
};

static struct exec_state {
	/* options */
	const char *cmd;
	char *rwdir[EXEC_MAX_RWDIRS];
	int nrwdir;
	const char *virtiofsd, *modules_dir, *save_initramfs;
	bool verbose;

	/* run */
	struct vm *vm;
	pid_t fsd_pid;
	int fsd_log; /* virtiofsd's stderr (a memfd), shown when it fails */
	struct vhost_fs *fs;
	int nmodules;

	/* the channel (vCPU threads, under lock) */
	pthread_mutex_t lock;
	struct exec_channel ch;

	bool have_status, started, setup_failed;
	int status;
	double t_started, t_ended;
	char setup_msg[EXEC_FRAME_MAX + 1];
} ex = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.fsd_pid = -1,
	.fsd_log = -1,
};

bool exec_enabled(void)
{
	return ex.cmd != NULL;
}

/* ---- options ------------------------------------------------------------ */

/* *dst = arg unless arg is empty ("the WHAT is empty"). */
static int set_nonempty(const char **dst, const char *arg, const char *what, char *err,
			size_t errlen)
{
	if (!*arg) {
		snprintf(err, errlen, "the %s is empty", what);
		return -1;
	}
	*dst = arg;
	return 0;
}

static int opt_exec(const char *arg, char *err, size_t errlen)
{
	return set_nonempty(&ex.cmd, arg, "command", err, errlen);
}

static int opt_rwdir(const char *arg, char *err, size_t errlen)
{
	char *real;
	struct stat st;

	if (ex.nrwdir == EXEC_MAX_RWDIRS) {
		snprintf(err, errlen, "'%s': at most %d directories", arg, EXEC_MAX_RWDIRS);
		return -1;
	}
	real = realpath(arg, NULL);
	if (!real || stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a directory%s%s", arg, real ? "" : ": ",
			 real ? "" : strerror(errno));
		free(real);
		return -1;
	}
	if (!strcmp(real, "/")) {
		snprintf(err, errlen, "'%s' is the root directory: the guest's root is the host's, "
			 "read-only by design", arg);
		free(real);
		return -1;
	}
	ex.rwdir[ex.nrwdir++] = real;
	return 0;
}

static int opt_virtiofsd(const char *arg, char *err, size_t errlen)
{
	if (access(arg, X_OK) < 0) {
		snprintf(err, errlen, "'%s' is not an executable: %s", arg, strerror(errno));
		return -1;
	}
	ex.virtiofsd = arg;
	return 0;
}

static int opt_modules_dir(const char *arg, char *err, size_t errlen)
{
	struct stat st;

	if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "'%s' is not a directory", arg);
		return -1;
	}
	ex.modules_dir = arg;
	return 0;
}

static int opt_save_initramfs(const char *arg, char *err, size_t errlen)
{
	return set_nonempty(&ex.save_initramfs, arg, "file name", err, errlen);
}

static int opt_exec_verbose(const char *arg, char *err, size_t errlen)
{
	(void)arg;
	(void)err;
	(void)errlen;
	ex.verbose = true;
	return 0;
}

/* ---- the initramfs ------------------------------------------------------- */

static void conf_put(FILE *f, const char *key, const char *value)
{
	fprintf(f, "%s=%s", key, value);
	fputc('\0', f);
}

/* The run's settings (exec-proto.h: exec.conf). */
static int build_conf(char **buf, size_t *len, char *err, size_t errlen)
{
	char cwd[PATH_MAX], num[32];
	gid_t groups[256];
	int ngroups;
	FILE *f;

	if (!getcwd(cwd, sizeof(cwd))) {
		snprintf(err, errlen, "the current directory: %s", strerror(errno));
		return -1;
	}
	ngroups = getgroups(256, groups);
	if (ngroups < 0)
		ngroups = 0;
	f = open_memstream(buf, len);
	if (!f) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	conf_put(f, EXEC_KEY_CMD, ex.cmd);
	conf_put(f, EXEC_KEY_CWD, cwd);
	snprintf(num, sizeof(num), "%u", (unsigned)getuid());
	conf_put(f, EXEC_KEY_UID, num);
	snprintf(num, sizeof(num), "%u", (unsigned)getgid());
	conf_put(f, EXEC_KEY_GID, num);
	fprintf(f, "%s=", EXEC_KEY_GROUPS);
	for (int i = 0; i < ngroups; i++)
		fprintf(f, "%s%u", i ? "," : "", (unsigned)groups[i]);
	fputc('\0', f);
	for (int i = 0; i < ex.nrwdir; i++)
		conf_put(f, EXEC_KEY_RWDIR, ex.rwdir[i]);
	for (size_t i = 0; i < sizeof(exec_env) / sizeof(exec_env[0]); i++) {
		const char *v = getenv(exec_env[i]);
		char kv[4096];

		if (!v && !strcmp(exec_env[i], "PATH"))
			v = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
		if (!v || snprintf(kv, sizeof(kv), "%s=%s", exec_env[i], v) >= (int)sizeof(kv))
			continue;
		conf_put(f, EXEC_KEY_ENV, kv);
	}
	conf_put(f, EXEC_KEY_VERBOSE, ex.verbose ? "1" : "0");
	if (fclose(f) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/* Add the kernel's modules (modules.dep order) as modules/NN-NAME. */
static int add_modules(struct cpio *c, const struct boot_image *bi, char *err, size_t errlen)
{
	char release[256], moddir[PATH_MAX], dep[PATH_MAX + 16];
	const char *dir = ex.modules_dir;
	char **list = NULL;
	int n;

	if (!dir) {
		if (bzimage_kernel_release(bi->kernel, bi->kernel_len, release, sizeof(release)) < 0)
			return 0; /* no release string: drivers must be built in */
		snprintf(moddir, sizeof(moddir), "/lib/modules/%s", release);
		dir = moddir;
	}
	snprintf(dep, sizeof(dep), "%s/modules.dep", dir);
	if (access(dep, R_OK) < 0) {
		if (ex.modules_dir) {
			snprintf(err, errlen, "%s: %s (run depmod for this kernel)", dep,
				 strerror(errno));
			return -1;
		}
		return 0; /* a kernel of the user's own, not installed: built in */
	}
	n = modules_resolve_flags(dir, exec_modules,
				  (int)(sizeof(exec_modules) / sizeof(exec_modules[0])),
				  MODULES_SKIP_ABSENT, &list, err, errlen);
	if (n < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		char path[PATH_MAX * 2], name[300];
		const char *base = strrchr(list[i], '/');
		uint8_t *data;
		size_t len;

		base = base ? base + 1 : list[i];
		snprintf(path, sizeof(path), "%s/%s", dir, list[i]);
		snprintf(name, sizeof(name), "modules/%02d-%s", i, base);
		if (boot_read_file(path, &data, &len, err, errlen) < 0) {
			modules_free(list, n);
			return -1;
		}
		cpio_add(c, name, 0100644, data, len);
		free(data);
	}
	modules_free(list, n);
	ex.nmodules = n;
	return 0;
}

static int build_initramfs(const struct boot_image *bi, uint8_t **out, size_t *outlen,
			   char *err, size_t errlen)
{
	static const char *const dirs[] = {
		"dev", "proc", "sys", "host", "ovl", "newroot", "modules", "pmvm",
	};
	struct cpio c;
	char *conf = NULL;
	size_t conflen = 0;

	cpio_init(&c);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		cpio_add(&c, dirs[i], 040755, NULL, 0);
	cpio_add(&c, "init", 0100755, pmvm_exec_init,
		 (size_t)(pmvm_exec_init_end - pmvm_exec_init));
	if (add_modules(&c, bi, err, errlen) < 0 || build_conf(&conf, &conflen, err, errlen) < 0)
		goto fail;
	cpio_add(&c, "pmvm/exec.conf", 0100644, conf, conflen);
	free(conf);
	conf = NULL;
	if (cpio_finish(&c) < 0) {
		snprintf(err, errlen, "cannot build the initramfs (out of memory?)");
		goto fail;
	}
	*out = c.buf;
	*outlen = c.len;
	return 0;
fail:
	free(conf);
	cpio_free(&c);
	return -1;
}

int exec_prepare(struct vm_config *cfg, struct boot_image *bi, const char **bad_opt,
		 char *err, size_t errlen)
{
	/* Ours first: the user's --cmdline comes after and wins. */
	static const char args[] = "console=ttyS0 quiet loglevel=3 panic=-1 reboot=a";
	static char *cmdline;
	size_t n;

	if (!exec_enabled()) {
		if (ex.nrwdir || ex.virtiofsd || ex.modules_dir || ex.verbose || ex.save_initramfs) {
			*bad_opt = ex.nrwdir ? "rwdir" : ex.virtiofsd ? "virtiofsd" :
				   ex.modules_dir ? "modules-dir" :
				   ex.save_initramfs ? "exec-save-initramfs" : "exec-verbose";
			snprintf(err, errlen, "only goes with --exec");
			return -1;
		}
		return 0;
	}
	*bad_opt = "exec";
	if (bi->is_multiboot) {
		snprintf(err, errlen, "needs a Linux kernel (bzImage or PVH ELF), not a "
			 "Multiboot image");
		return -1;
	}
	if (cfg->initrd) {
		*bad_opt = "initrd";
		snprintf(err, errlen, "'%s': --exec builds its own initramfs", cfg->initrd);
		return -1;
	}
	free(bi->initrd);
	bi->initrd = NULL;
	if (build_initramfs(bi, &bi->initrd, &bi->initrd_len, err, errlen) < 0)
		return -1;
	if (ex.save_initramfs) {
		FILE *f = fopen(ex.save_initramfs, "wb");

		*bad_opt = "exec-save-initramfs";
		if (!f || fwrite(bi->initrd, 1, bi->initrd_len, f) != bi->initrd_len) {
			snprintf(err, errlen, "'%s': %s", ex.save_initramfs, strerror(errno));
			if (f)
				fclose(f);
			return -1;
		}
		if (fclose(f) != 0) {
			snprintf(err, errlen, "'%s': %s", ex.save_initramfs, strerror(errno));
			return -1;
		}
		return 1;
	}
	n = sizeof(args) + (cfg->cmdline ? strlen(cfg->cmdline) + 1 : 0);
	cmdline = malloc(n);
	if (!cmdline) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(cmdline, n, "%s%s%s", args, cfg->cmdline ? " " : "",
		 cfg->cmdline ? cfg->cmdline : "");
	cfg->cmdline = cmdline;
	cfg->shared_ram = true;
	serial_default_stderr();
	return 0;
}

/* ---- virtiofsd ---------------------------------------------------------- */

static const char *find_virtiofsd(void)
{
	if (ex.virtiofsd)
		return ex.virtiofsd;
	for (size_t i = 0; i < sizeof(virtiofsd_paths) / sizeof(virtiofsd_paths[0]); i++)
		if (access(virtiofsd_paths[i], X_OK) == 0)
			return virtiofsd_paths[i];
	return NULL;
}

/* virtiofsd takes a listening socket (--fd) and accepts one connection:
 * listen on an abstract address the kernel picks (autobind), connect to
 * it before virtiofsd runs (the connection waits in the backlog), and
 * hand virtiofsd the listening end. The sandbox is chroot: with source=/,
 * the namespace sandbox's pivot_root fails (EBUSY on a normal root, EINVAL
 * on an initramfs). */
static int start_virtiofsd(int *sock, char *err, size_t errlen)
{
	const char *path = find_virtiofsd();
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	socklen_t alen = sizeof(sa_family_t);
	int lfd = -1, cfd = -1;
	pid_t pid, parent = getpid();

	if (!path) {
		snprintf(err, errlen, "no virtiofsd (tried %s and %s): install Debian's virtiofsd "
			 "(Debian 13) or qemu-system-common (Debian 12), or name one with --virtiofsd",
			 virtiofsd_paths[0], virtiofsd_paths[1]);
		return -1;
	}
	ex.fsd_log = memfd_create("virtiofsd-log", MFD_CLOEXEC);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&addr, alen) < 0 ||
	    listen(lfd, 1) < 0) {
		snprintf(err, errlen, "the vhost-user socket: %s", strerror(errno));
		goto fail;
	}
	alen = sizeof(addr);
	if (getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0 ||
	    connect(cfd, (struct sockaddr *)&addr, alen) < 0) {
		snprintf(err, errlen, "the vhost-user socket: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		sigset_t all;
		int null = open("/dev/null", O_RDWR);

		/* Die with vmm, however vmm ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
		}
		if (ex.fsd_log >= 0)
			dup2(ex.fsd_log, 2);
		if (lfd == 3)
			fcntl(3, F_SETFD, 0);
		else if (dup2(lfd, 3) < 0)
			_exit(127);
		closefrom(4);
		execl(path, path, "--fd=3", "-o", "source=/", "-o", "sandbox=chroot",
		      "-o", "cache=auto", (char *)NULL);
		dprintf(2, "cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	close(lfd);
	ex.fsd_pid = pid;
	*sock = cfd;
	return 0;
fail:
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	return -1;
}

/* virtiofsd's last log line, for an error message. */
static void virtiofsd_said(char *out, size_t outlen)
{
	char buf[2048];
	ssize_t n;
	char *line;

	out[0] = '\0';
	if (ex.fsd_log < 0)
		return;
	n = pread(ex.fsd_log, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	line = strrchr(buf, '\n');
	snprintf(out, outlen, "%.300s", line ? line + 1 : buf);
}

static void stop_virtiofsd(void)
{
	int st;

	if (ex.fsd_pid <= 0)
		return;
	kill(ex.fsd_pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(ex.fsd_pid, &st, WNOHANG) == ex.fsd_pid) {
			ex.fsd_pid = -1;
			return;
		}
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
	}
	kill(ex.fsd_pid, SIGKILL);
	waitpid(ex.fsd_pid, &st, 0);
	ex.fsd_pid = -1;
}

/* ---- the channel --------------------------------------------------------- */

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a closed stdout must not stop the run */
		p += w;
		n -= (size_t)w;
	}
}

/* A whole frame arrived; lock held. */
static void frame_done(void *opaque, uint8_t type, const uint8_t *p, unsigned len)
{
	struct vm *vm = opaque;

	switch (type) {
	case EXEC_FRAME_STDOUT:
		write_all(STDOUT_FILENO, p, len);
		break;
	case EXEC_FRAME_STDERR:
		write_all(STDERR_FILENO, p, len);
		break;
	case EXEC_FRAME_STARTED:
		if (!ex.started) {
			ex.started = true;
			ex.t_started = vmm_elapsed();
		}
		break;
	case EXEC_FRAME_STATUS: {
		uint32_t v;

		if (len != 4)
			goto bad;
		v = get_le32(p);
		if (v > 255)
			goto bad;
		ex.have_status = true;
		ex.status = (int)v;
		ex.t_ended = vmm_elapsed();
		vm_request_exit_reason(vm, (int)v, "exec", NULL);
		break;
	}
	case EXEC_FRAME_ERROR:
		ex.setup_failed = true;
		memcpy(ex.setup_msg, p, len);
		ex.setup_msg[len] = '\0';
		vm_request_exit_reason(vm, EXEC_EXIT_SETUP, "exec-setup", "guest: %s", ex.setup_msg);
		break;
	case EXEC_FRAME_LOG:
		if (ex.verbose)
			fprintf(stderr, "vmm: guest: %.*s\n", (int)len, (const char *)p);
		break;
	default:
		goto bad;
	}
	return;
bad:
	ex.ch.broken = true;
	vm_request_exit_reason(vm, EXEC_EXIT_PANIC, "exec-protocol",
			       "the guest's init sent a malformed frame (type %u, %u bytes)",
			       type, len);
}

static void channel_io(void *opaque, uint64_t addr, void *data, unsigned len, bool is_write)
{
	struct vm *vm = opaque;

	if (!is_write || addr != 0)
		return;
	pthread_mutex_lock(&ex.lock);
	if (!ex.ch.broken &&
	    exec_channel_feed(&ex.ch, data, len, frame_done, vm) < 0 && !vm_exiting(vm))
		vm_request_exit_reason(vm, EXEC_EXIT_PANIC, "exec-protocol",
				       "the guest's init sent a malformed frame header "
				       "(type %u, flags %u, %u bytes)", ex.ch.hdr[0], ex.ch.hdr[1],
				       ex.ch.len);
	pthread_mutex_unlock(&ex.lock);
}

/* ---- the module ---------------------------------------------------------- */

static int exec_setup(struct vm *vm, char *err, size_t errlen)
{
	char e[512], said[600];
	int sock;

	if (!exec_enabled())
		return 0;
	ex.vm = vm;
	exec_channel_init(&ex.ch);
	if (vm_register_pio(vm, EXEC_PORT, 1, channel_io, vm) < 0) {
		snprintf(err, errlen, "cannot claim port 0x%x", EXEC_PORT);
		return -1;
	}
	if (start_virtiofsd(&sock, err, errlen) < 0)
		return -1;
	ex.fs = vhost_fs_create(vm, EXEC_FS_TAG, sock, e, sizeof(e));
	if (!ex.fs) {
		virtiofsd_said(said, sizeof(said));
		snprintf(err, errlen, "%s%s%s", e, said[0] ? "; virtiofsd said: " : "", said);
		return -1;
	}
	return 0;
}

static int exec_acpi(struct vm *vm, struct acpi_ctx *ctx, char *err, size_t errlen)
{
	(void)vm;
	(void)err;
	(void)errlen;
	if (ex.fs)
		vhost_fs_acpi(ex.fs, acpi_dsdt(ctx));
	return 0;
}

static void exec_teardown(struct vm *vm)
{
	(void)vm;
	vhost_fs_destroy(ex.fs);
	ex.fs = NULL;
	stop_virtiofsd();
	if (ex.fsd_log >= 0)
		close(ex.fsd_log);
	ex.fsd_log = -1;
}

int exec_final_status(int status, const char **reason, char *msg, size_t msglen)
{
	static const char *const keep[] = {
		"timeout", "signal", "interrupted", "quit", "error", "no-kvm",
		"exec-setup", "exec-protocol",
	};

	if (ex.have_status) {
		*reason = "exec";
		msg[0] = '\0';
		return ex.status;
	}
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		if (!strcmp(*reason, keep[i]))
			return status;
	/* The guest ended (power-off, reset, triple fault, KVM error) before
	 * the command did: with panic=-1 reboot=a a kernel panic is a reset. */
	{
		char was[300];

		snprintf(was, sizeof(was), "%s", msg);
		snprintf(msg, msglen, "the guest stopped before the command ended (%s%s%s): "
			 "a kernel panic? Its console is on stderr", *reason, was[0] ? ": " : "",
			 was);
	}
	*reason = "guest-died";
	return EXEC_EXIT_PANIC;
}

void exec_results(struct json_object *o)
{
	if (!exec_enabled())
		return;
	if (ex.have_status)
		json_object_object_add(o, "exec_status", json_object_new_int(ex.status));
	if (ex.started) {
		json_object_object_add(o, "exec_boot_seconds", json_object_new_double(ex.t_started));
		if (ex.have_status)
			json_object_object_add(o, "exec_command_seconds",
					       json_object_new_double(ex.t_ended - ex.t_started));
	}
	json_object_object_add(o, "exec_modules", json_object_new_int(ex.nmodules));
}

static const struct vmm_option exec_options[] = {
	{ "exec", "CMD", "boot the kernel with vmm's own initramfs and run CMD (/bin/sh -c) "
	  "over the host's files; vmm exits with its status (docs/ci.md)", opt_exec },
	{ "rwdir", "DIR", "with --exec: make host directory DIR writable in the guest "
	  "(repeatable; other writes go to a tmpfs overlay)", opt_rwdir },
	{ "virtiofsd", "PATH", "with --exec: the virtiofsd to start (default: "
	  "/usr/libexec/virtiofsd, /usr/lib/qemu/virtiofsd)", opt_virtiofsd },
	{ "modules-dir", "DIR", "with --exec: the kernel's modules (default: "
	  "/lib/modules/RELEASE, the release read from the bzImage)", opt_modules_dir },
	{ "exec-save-initramfs", "FILE", "with --exec: write the initramfs vmm builds to FILE "
	  "(a cpio archive) and exit 0 without running anything", opt_save_initramfs },
	{ "exec-verbose", NULL, "with --exec: print the guest init's progress on stderr",
	  opt_exec_verbose },
	{ NULL, NULL, NULL, NULL },
};

static const struct vmm_module exec_module = {
	.name = "exec",
	.options = exec_options,
	.setup = exec_setup,
	.acpi = exec_acpi,
	.teardown = exec_teardown,
};
VMM_MODULE(exec_module);
