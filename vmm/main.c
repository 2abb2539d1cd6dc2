/*
 * main.c - the vmm binary: command line, start-up order, the main thread's
 * event loop, and the exit (status, message, --results JSON).
 *
 * Order: options (core + every module's) -> read and check the kernel ->
 * VM (KVM, RAM, irqchip) -> vCPUs -> module setup() -> ACPI (module acpi())
 * -> kernel, initrd, FDT (module fdt()) and boot registers -> vCPU threads
 * -> event loop until vm_request_exit() -> stop vCPUs -> module teardown()
 * -> results. The main thread runs the event loop (loop.c: module fds,
 * signals, the --timeout and SIGTERM grace timers).
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acpi.h"
#include "exec.h"
#include "internal.h"
#include "opts.h"
#include "pmvm-config.h"

#define DEFAULT_MEM (256 * MiB)
#define MIN_MEM     (2 * MiB)
#define MAX_MEM     (1024 * GiB)
#define MAX_SMP     255 /* xAPIC IDs in the MADT and CPUID leaf 1 */

static struct vm the_vm;

enum {
	OPT_KERNEL = 1000, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_SMP,
	OPT_TIMEOUT, OPT_SHUTDOWN_GRACE, OPT_DUMP_ACPI, OPT_RESULTS, OPT_HELP, OPT_VERSION,
	OPT_MODULE = 2000,
};

static const struct {
	const char *name, *metavar, *help;
	int id;
} core_opts[] = {
	{ "kernel", "FILE", "bzImage (64-bit boot protocol) or ELF with a PVH "
	  "entry note", OPT_KERNEL },
	{ "initrd", "FILE", "initial ramdisk (a PVH module for ELF kernels)",
	  OPT_INITRD },
	{ "cmdline", "STR", "kernel command line (also /chosen/bootargs in "
	  "the FDT)", OPT_CMDLINE },
	{ "memory", "SIZE", "guest RAM, K/M/G/T suffix, e.g. 512M, 1.5G "
	  "(default 256M); also -m",
	  OPT_MEMORY },
	{ "smp", "N", "number of vCPUs, 1-255 (default 1)", OPT_SMP },
	{ "timeout", "SECONDS", "stop the guest after this long: exit status 124",
	  OPT_TIMEOUT },
	{ "shutdown-grace", "SECONDS", "SIGTERM presses the ACPI power button; "
	  "stop after this long or at a second SIGTERM (default 10, 0: at once)",
	  OPT_SHUTDOWN_GRACE },
	{ "dump-acpi", "DIR", "write every ACPI table to DIR/SIG.dat and exit",
	  OPT_DUMP_ACPI },
	{ "results", "FILE", "write a JSON summary of the run at exit (see "
	  "docs/ci.md)", OPT_RESULTS },
	{ "help", NULL, "show this help and exit (also -h)", OPT_HELP },
	{ "version", NULL, "show the version and exit", OPT_VERSION },
};
#define N_CORE_OPTS (sizeof(core_opts) / sizeof(core_opts[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: vmm --kernel FILE [options]\n\n"
		   "pmvm %s: a small KVM virtual machine monitor.\n\n"
		   "Options:\n", PMVM_VERSION);
	for (size_t i = 0; i < N_CORE_OPTS; i++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", core_opts[i].name,
			 core_opts[i].metavar ? " " : "",
			 core_opts[i].metavar ? core_opts[i].metavar : "");
		fprintf(f, "  %-28s %s\n", left, core_opts[i].help);
	}
	vmm_for_each_module(mp) {
		const struct vmm_option *o = (*mp)->options;

		if (!o || !o->name)
			continue;
		fprintf(f, "\nModule %s:\n", (*mp)->name);
		for (; o->name; o++) {
			char left[96];

			snprintf(left, sizeof(left), "--%s%s%s", o->name,
				 o->metavar ? " " : "", o->metavar ? o->metavar : "");
			if (strlen(left) > 28)
				fprintf(f, "  %s\n  %-28s %s\n", left, "", o->help);
			else
				fprintf(f, "  %-28s %s\n", left, o->help);
		}
	}
	fprintf(f, "\nExit status: 0 guest powered off, 2 bad command line, "
		   "4 host error or signal,\n6 guest reset, 8 triple fault, "
		   "10 KVM error, 12 no usable /dev/kvm, 124 timeout,\n"
		   "(v << 1) | 1 when the guest writes v to the debug-exit "
		   "port 0x%x.\n"
		   "--dump-acpi, --help, --version and option checks need no "
		   "/dev/kvm.\n", PORT_DEBUG_EXIT);
}

/* A command-line error: one stderr line "vmm: ... (see --help)", status 2.
 * Nothing has been written yet (an earlier --results file stays intact). */
static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "vmm: %s (see --help)\n", buf);
	exit(VMM_EXIT_USAGE);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
bad_value(const char *opt, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	usage_error("--%s: %s", opt, buf);
}

/* getopt reports an unknown or incomplete short option by its letter only
 * (optopt), and optind does not say which argument held it while it is
 * inside a cluster ("-kernel"). Find the argument that did, among those
 * getopt has looked at. */
static const char *short_opt_arg(int argc, char **argv, int c)
{
	for (int i = 1; i < argc && i <= optind; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--"))
			break;
		if (a[0] == '-' && a[1] && a[1] != '-' && strchr(a + 1, c))
			return a;
	}
	return NULL;
}

static void __attribute__((noreturn))
bad_option(int argc, char **argv, bool missing_value)
{
	/* getopt sets optopt to the letter for a short option, to 0 or to our
	 * option id (>= OPT_KERNEL) for a long one, which it has moved past. */
	bool is_short = optopt > 0 && optopt < 256;
	const char *a;

	if (missing_value) {
		if (is_short)
			usage_error("-%c: missing value", optopt);
		usage_error("%s: missing value", argv[optind - 1]);
	}
	if (!is_short && optopt)
		usage_error("%s: takes no value", argv[optind - 1]);
	if (!is_short)
		usage_error("unknown option '%s'", argv[optind - 1]);
	a = short_opt_arg(argc, argv, optopt);
	if (a && a[2])
		usage_error("unknown option '-%c' in '%s' (long options take "
			    "two dashes: '-%s')", optopt, a, a);
	usage_error("unknown option '-%c'", optopt);
}

/* The module option for getopt index i (i >= OPT_MODULE). */
static const struct vmm_option *module_option(int id)
{
	int n = OPT_MODULE;

	vmm_for_each_module(mp) {
		for (const struct vmm_option *o = (*mp)->options; o && o->name; o++)
			if (n++ == id)
				return o;
	}
	return NULL;
}

static void parse_args(int argc, char **argv, struct vm_config *cfg)
{
	struct option *lo;
	size_t n = N_CORE_OPTS, k = 0;
	int id = OPT_MODULE;

	vmm_for_each_module(mp)
		for (const struct vmm_option *o = (*mp)->options; o && o->name; o++)
			n++;
	lo = calloc(n + 1, sizeof(*lo));
	if (!lo) {
		fprintf(stderr, "vmm: out of memory\n");
		exit(VMM_EXIT_ERROR);
	}
	for (size_t i = 0; i < N_CORE_OPTS; i++)
		lo[k++] = (struct option){ core_opts[i].name,
			core_opts[i].metavar ? required_argument : no_argument,
			NULL, core_opts[i].id };
	vmm_for_each_module(mp)
		for (const struct vmm_option *o = (*mp)->options; o && o->name; o++)
			lo[k++] = (struct option){ o->name,
				o->metavar ? required_argument : no_argument,
				NULL, id++ };

	opterr = 0;
	for (;;) {
		int c = getopt_long(argc, argv, ":m:h", lo, NULL);
		const char *name = NULL;
		uint64_t v;

		if (c == -1)
			break;
		for (size_t i = 0; i < N_CORE_OPTS; i++)
			if (core_opts[i].id == c)
				name = core_opts[i].name;
		switch (c) {
		case OPT_KERNEL: cfg->kernel = optarg; break;
		case OPT_INITRD: cfg->initrd = optarg; break;
		case OPT_CMDLINE:
			if (strlen(optarg) >= LAYOUT_CMDLINE_MAX)
				bad_value(name, "command line of %zu bytes is "
					  "too long (max %llu)", strlen(optarg),
					  LAYOUT_CMDLINE_MAX - 1);
			cfg->cmdline = optarg;
			break;
		case 'm':
		case OPT_MEMORY: {
			char why[200];

			if (opt_parse_size(optarg, &cfg->mem_size, why,
					   sizeof(why)) < 0)
				bad_value("memory", "invalid size: %s", why);
			if (cfg->mem_size < MIN_MEM || cfg->mem_size > MAX_MEM ||
			    (cfg->mem_size & 0xfff))
				bad_value("memory", "'%s' must be a multiple of 4K "
					  "between 2M and 1T", optarg);
			break;
		}
		case OPT_SMP:
			if (opt_parse_uint(optarg, 1, MAX_SMP, &v, NULL, 0) < 0)
				bad_value(name, "invalid vCPU count '%s' (1-%d)",
					  optarg, MAX_SMP);
			cfg->smp = (int)v;
			break;
		case OPT_TIMEOUT:
		case OPT_SHUTDOWN_GRACE: {
			char *end;
			double t;

			errno = 0;
			t = strtod(optarg, &end);
			if (errno || end == optarg || *end != '\0' ||
			    !isfinite(t) || t > 1e9 ||
			    (c == OPT_TIMEOUT ? t <= 0 : t < 0))
				bad_value(name, "invalid number of seconds '%s'",
					  optarg);
			if (c == OPT_TIMEOUT)
				cfg->timeout = t;
			else
				cfg->shutdown_grace = t;
			break;
		}
		case OPT_DUMP_ACPI: cfg->dump_acpi = optarg; break;
		case OPT_RESULTS: cfg->results = optarg; break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("vmm (pmvm) %s\n", PMVM_VERSION);
			exit(0);
		case ':':
			bad_option(argc, argv, true);
		case '?':
			bad_option(argc, argv, false);
		default: {
			const struct vmm_option *o = module_option(c);
			char err[256] = "";

			if (!o)
				bad_option(argc, argv, false);
			if (o->parse && o->parse(optarg, err, sizeof(err)) < 0)
				bad_value(o->name, "%s", err[0] ? err :
					  "invalid value");
		}
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	free(lo);
}

/* ---- Exit ---------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double t_start;

double vmm_elapsed(void)
{
	return now() - t_start;
}
static bool modules_set_up;

/* --results: checked at start-up without touching the file, written at
 * exit under a temporary name in the same directory and renamed into place,
 * so an earlier results file survives a usage error or a crash. A path that
 * is not a regular file (/dev/stdout, a FIFO) is written directly. */
static bool results_direct;

static int results_check(const char *path, char *err, size_t errlen)
{
	struct stat st;
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			snprintf(err, errlen, "'%s' is a directory", path);
			return -1;
		}
		if (access(path, W_OK) < 0) {
			snprintf(err, errlen, "cannot write '%s': %s", path,
				 strerror(errno));
			return -1;
		}
		if (!S_ISREG(st.st_mode)) {
			results_direct = true;
			return 0;
		}
	} else if (errno != ENOENT) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		return -1;
	}
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (access(dir, W_OK | X_OK) < 0) {
		snprintf(err, errlen, "cannot write '%s': directory: %s",
			 path, strerror(errno));
		return -1;
	}
	return 0;
}

static int results_store(const char *path, const char *text)
{
	char tmp[PATH_MAX];
	mode_t um;
	FILE *f;
	int fd, e;

	if (results_direct) {
		f = fopen(path, "w");
		if (!f)
			return -1;
		fprintf(f, "%s\n", text);
		return fclose(f);
	}
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0)
		return -1;
	um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um); /* as fopen(path, "w") would create it */
	f = fdopen(fd, "w");
	if (!f) {
		e = errno;
		close(fd);
		goto fail;
	}
	fprintf(f, "%s\n", text);
	if (fclose(f) != 0) {
		e = errno;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		e = errno;
		goto fail;
	}
	return 0;
fail:
	unlink(tmp);
	errno = e;
	return -1;
}

static void write_results(struct vm *vm, int status, const char *reason)
{
	json_object *o;
	const char *s;

	if (!vm->cfg.results)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_int(status));
	json_object_object_add(o, "reason", json_object_new_string(reason));
	if (vm->have_debug_value)
		json_object_object_add(o, "debug_exit_value",
				       json_object_new_int64((int64_t)vm->debug_value));
	if (vm->have_rip) {
		char rip[32];

		snprintf(rip, sizeof(rip), "0x%llx",
			 (unsigned long long)vm->exit_rip);
		json_object_object_add(o, "rip", json_object_new_string(rip));
	}
	if (vm->exit_msg[0])
		json_object_object_add(o, "message",
				       json_object_new_string(vm->exit_msg));
	json_object_object_add(o, "wall_seconds",
			       json_object_new_double(now() - t_start));
	json_object_object_add(o, "vcpus", json_object_new_int(vm->cfg.smp));
	json_object_object_add(o, "memory_bytes",
			       json_object_new_int64((int64_t)vm->cfg.mem_size));
	json_object_object_add(o, "kernel", vm->cfg.kernel ?
			       json_object_new_string(vm->cfg.kernel) : NULL);
	json_object_object_add(o, "version", json_object_new_string(PMVM_VERSION));
	exec_results(o);
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
					   JSON_C_TO_STRING_NOSLASHESCAPE);
	if (results_store(vm->cfg.results, s) < 0)
		fprintf(stderr, "vmm: --results: cannot write '%s': %s\n",
			vm->cfg.results, strerror(errno));
	json_object_put(o);
}

/* Tear everything down and exit with status; reason is for --results. */
static void __attribute__((noreturn))
finish(struct vm *vm, int status, const char *reason, const char *msg)
{
	char exec_msg[sizeof(vm->exit_msg)];

	vcpus_stop(vm);
	if (exec_enabled()) {
		snprintf(exec_msg, sizeof(exec_msg), "%.*s", (int)sizeof(exec_msg) - 1,
			 msg ? msg : "");
		status = exec_final_status(status, &reason, exec_msg, sizeof(exec_msg));
		msg = exec_msg;
		snprintf(vm->exit_msg, sizeof(vm->exit_msg), "%s", exec_msg);
	}
	if (msg && msg[0])
		fprintf(stderr, "vmm: %s\n", msg);
	if (modules_set_up) {
		vmm_for_each_module(mp)
			if ((*mp)->teardown)
				(*mp)->teardown(vm);
	}
	if (!vm->exit_msg[0] && msg)
		snprintf(vm->exit_msg, sizeof(vm->exit_msg), "%s", msg);
	write_results(vm, status, reason);
	loop_destroy(vm);
	vm_destroy(vm);
	exit(status);
}

static void __attribute__((noreturn))
fail_setup(struct vm *vm, const char *what, const char *err)
{
	char msg[600];

	snprintf(msg, sizeof(msg), "%s%s%s", what, what[0] ? ": " : "", err);
	finish(vm, VMM_EXIT_ERROR, "error", msg);
}

int main(int argc, char **argv)
{
	struct vm *vm = &the_vm;
	static struct boot_image bi; /* static: reachable at exit() for LSan */
	char err[512] = "";
	const char *bad_opt = "kernel";
	sigset_t mask;

	t_start = now();
	vm->cfg = (struct vm_config){ .mem_size = DEFAULT_MEM, .smp = 1,
				      .shutdown_grace = LOOP_DEFAULT_GRACE };
	parse_args(argc, argv, &vm->cfg);
	if (!vm->cfg.kernel && !vm->cfg.dump_acpi)
		usage_error("--kernel FILE is required");
	/* --dump-acpi builds the machine and never runs it: no KVM needed. */
	vm->cfg.offline = vm->cfg.dump_acpi != NULL;
	if (vm->cfg.results &&
	    results_check(vm->cfg.results, err, sizeof(err)) < 0)
		usage_error("--results: %s", err);
	if (vm->cfg.kernel &&
	    boot_prepare(&bi, vm->cfg.kernel, vm->cfg.initrd, &bad_opt, err,
			 sizeof(err)) < 0) {
		boot_free(&bi);
		usage_error("--%s: %s", bad_opt, err);
	}
	if (vm->cfg.kernel) {
		int r = exec_prepare(&vm->cfg, &bi, &bad_opt, err, sizeof(err));

		if (r != 0)
			boot_free(&bi);
		if (r < 0)
			usage_error("--%s: %s", bad_opt, err);
		if (r > 0)
			exit(0);
	}

	/* A PVH guest gets its PIT on first use (pit.c); Linux as a bzImage
	 * gets it from the start, as it always has. */
	vm->cfg.lazy_pit = vm->cfg.kernel && bi.is_pvh;

	/* Signals: SIGINT/SIGTERM through signalfd in the main loop; SIGUSR1
	 * kicks vCPU threads out of KVM_RUN (they unblock it). */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	sigdelset(&mask, SIGUSR1);

	switch (vm_create(vm, err, sizeof(err))) {
	case 0:
		break;
	case VM_CREATE_NO_KVM: {
		char msg[600];

		snprintf(msg, sizeof(msg), "no usable KVM on this host: %s "
			 "(exit status %d; --dump-acpi needs none)", err,
			 VMM_EXIT_NO_KVM);
		finish(vm, VMM_EXIT_NO_KVM, "no-kvm", msg);
	}
	default:
		fail_setup(vm, "", err);
	}
	if (loop_init(vm, err, sizeof(err)) < 0)
		fail_setup(vm, "", err);
	if (loop_watch_signals(vm, &mask) < 0)
		fail_setup(vm, "signalfd", strerror(errno));
	if (vcpus_create(vm, err, sizeof(err)) < 0)
		fail_setup(vm, "", err);

	modules_set_up = true;
	vmm_for_each_module(mp) {
		err[0] = '\0';
		if ((*mp)->setup && (*mp)->setup(vm, err, sizeof(err)) < 0)
			fail_setup(vm, (*mp)->name, err[0] ? err : "setup failed");
	}
	if (acpi_build(vm, vm->cfg.dump_acpi, &vm->rsdp, err, sizeof(err)) < 0)
		fail_setup(vm, "acpi", err);
	if (vm->cfg.dump_acpi)
		finish(vm, 0, "dump-acpi", NULL);
	if (boot_load(vm, &bi, err, sizeof(err)) < 0)
		fail_setup(vm, vm->cfg.kernel, err);
	boot_free(&bi);

	if (vm->cfg.timeout > 0 && loop_set_timeout(vm, vm->cfg.timeout) < 0)
		fail_setup(vm, "timerfd", strerror(errno));
	if (vcpus_start(vm, err, sizeof(err)) < 0)
		fail_setup(vm, "", err);
	loop_run(vm);
	finish(vm, vm->exit_status, vm->exit_reason[0] ? vm->exit_reason : "error",
	       vm->exit_msg);
}
