/*
 * pcow-img.c - the pcow image tool: create, info, check, snapshot, convert,
 * commit, rebase, map, resize, measure, compare. A thin front end over
 * libpcow (pcow.h); this file decides what users see and the exit status:
 *
 *   0  success (check: image clean; compare: images identical)
 *   1  the operation failed (missing file, not a pcow image, corrupt or
 *      truncated image, base problem, name clash...; compare: images differ;
 *      check: the check itself could not run)
 *   2  bad command line (unknown option, bad size...); check: corruption
 *      found; compare: an error
 *   3  check: leaked clusters found (no corruption)
 *
 * On any failure the image is left as it was: operations validate their
 * arguments before the library changes anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "opts.h"
#include "pmvm-config.h"
#include "pcow.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static const char *prog = "pcow-img";

static void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

static const char *esc(const char *in, char *out, size_t n);

/* Messages may carry names and paths from an image: escaped (see esc()). */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	static char msg[4096], out[4 * sizeof(msg) + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", prog, esc(msg, out, sizeof(out)));
	return EXIT_FAIL;
}

static uint64_t size_arg(const char *opt, const char *v)
{
	char why[160];
	uint64_t s;

	/* the project's one size grammar (vmm/util/opts.h): "64K", "1.5G" */
	if (opt_parse_size(v, &s, why, sizeof(why)))
		die_usage("invalid size '%s' for %s: %s", v, opt, why);
	return s;
}

static unsigned cluster_bits_arg(const char *opt, const char *v)
{
	uint64_t s = size_arg(opt, v);

	for (unsigned b = PCOW_MIN_CLUSTER_BITS; b <= PCOW_MAX_CLUSTER_BITS; b++)
		if (s == 1ULL << b)
			return b;
	die_usage("invalid cluster size '%s' for %s (a power of two from 4K to 2M)", v, opt);
}

static int fmt_arg(const char *opt, const char *v)
{
	if (!strcmp(v, "pcow"))
		return PCOW_FMT_PCOW;
	if (!strcmp(v, "raw"))
		return PCOW_FMT_RAW;
	die_usage("invalid format '%s' for %s (pcow or raw)", v, opt);
}

/*
 * Names and paths read from an image are untrusted bytes. For a terminal,
 * esc() writes every byte outside printable ASCII, and the backslash, as
 * \xNN (a hostile name cannot send control sequences). For JSON, jstr()
 * keeps valid UTF-8 (json-c escapes control characters) and uses the
 * escaped form otherwise, so the output stays valid JSON.
 */
static const char *esc(const char *in, char *out, size_t n)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && o + 5 <= n; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\')
			out[o++] = (char)*p;
		else
			o += (size_t)snprintf(out + o, n - o, "\\x%02x", *p);
	}
	out[o] = 0;
	return out;
}

static bool utf8_ok(const char *in)
{
	const unsigned char *p = (const unsigned char *)in;

	while (*p) {
		int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 && *p >= 0xc2 ? 1 :
			(*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 && *p <= 0xf4 ? 3 : -1;
		if (n < 0)
			return false;
		uint32_t cp = *p & (0x7f >> n);
		p++;
		for (int i = 0; i < n; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (*p & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
	}
	return true;
}

#define ESC_MAX (4 * 4096 + 1)

static json_object *jstr(const char *in)
{
	static char buf[ESC_MAX];

	return json_object_new_string(utf8_ok(in) ? in : esc(in, buf, sizeof(buf)));
}

static void human_size(uint64_t v, char *buf, size_t n)
{
	static const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double d = (double)v;
	int i = 0;

	while (d >= 1024 && i < 6) {
		d /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, n, "%" PRIu64 " B", v);
	else
		snprintf(buf, n, "%.3g %s", d, u[i]);
}

/* ---- images, pcow or raw: libpcow's one interface (pcow_image_open) ---- */

static unsigned open_extra;	/* PCOW_NO_FLUSH for convert -t unsafe */

/*
 * Locks: the ones vmm takes (docs/pcow-runtime.md, "Locks"): a command that
 * writes an image holds an exclusive flock(2) on it, one that only reads a
 * shared one, and every base gets a shared one; a conflict is refused at
 * once. -U (--force-share) on the reading commands takes no lock at all.
 */
static unsigned lock_flags = PCOW_LOCK;
static bool reads_only;		/* this run only reads: -U could help */

/* what to do about a base that does not open */
static const char *base_hint(const char *why)
{
	if (strstr(why, "in use by another process"))
		return "-U (--force-share) reads the chain without locks";
	return "if a base was moved or repaired, point the image above it at it with "
	       "'pcow-img rebase -u -b BASE IMAGE'; that changes IMAGE, so the image "
	       "above IMAGE needs the same";
}

/* a library failure; one that is a lock conflict says what to do */
static int fail_code(int code, const char *msg)
{
	if (code == PCOW_ELOCKED && reads_only)
		return fail("%s; -U (--force-share) reads it without a lock, at the risk "
			    "of seeing it in the middle of a change", msg);
	if (code == PCOW_ELOCKED)
		return fail("%s; writing needs the image to itself (stop that process "
			    "first)", msg);
	if (code == PCOW_EBASE)
		return fail("%s (%s)", msg, base_hint(msg));
	return fail("%s", msg);
}

static int fail_img(struct pcow *p)
{
	return fail_code(pcow_errcode(p), pcow_errmsg(p));
}

static void force_share(void)
{
	lock_flags = 0;
}

/* flags: PCOW_RDWR and open flags; the lock flag is added here */
static struct pcow *img_open(const char *path, int fmt, unsigned flags)
{
	struct pcow_open_opts o = { .flags = flags | lock_flags | PCOW_RAW_HOLES |
					     (flags & PCOW_RDWR ? open_extra : 0) };
	struct pcow_error e;
	struct pcow *p = pcow_image_open(path, fmt, &o, &e);

	if (!p)
		fail_code(e.code, e.msg);
	return p;
}

static uint64_t img_size(struct pcow *p)
{
	return pcow_size(p);	/* counts nothing */
}

static int img_read(struct pcow *p, void *buf, size_t len, uint64_t off)
{
	if (pcow_read(p, buf, len, off))
		return fail_img(p);
	return 0;
}

static int img_close(struct pcow *p, const char *path)
{
	if (p && pcow_close(p))
		return fail("%s: close failed", path);
	return 0;
}

static bool is_zero(const void *b, size_t n)
{
	const uint8_t *p = b;

	if (n == 0)
		return true;
	if (p[0])
		return false;
	return !memcmp(p, p + 1, n - 1);
}

static bool reads_zero(enum pcow_map_kind k)
{
	return k == PCOW_MAP_HOLE || k == PCOW_MAP_ZERO;
}

/*
 * pcow_translate through the chain: a range that falls to the base is
 * followed down into the bases, so m->kind says what the first range
 * really is (HOLE or ZERO: reads as zeros, known without reading; BASE
 * only for a base that is not open) and m->len how far that holds. Holes
 * of a deep chain are then skipped instead of read, zero-filled and
 * compared at every level. Reports its failure.
 */
static int view_translate(struct pcow *p, uint64_t off, uint64_t limit, struct pcow_map *m)
{
	struct pcow *b;

	for (unsigned depth = 0;; depth++) {
		if (pcow_translate(p, off, limit, m))
			return fail_img(p);
		b = pcow_base(p);
		if (m->kind != PCOW_MAP_BASE || !b || depth > PCOW_MAX_BASE_DEPTH)
			return 0;
		if (off >= pcow_size(b)) {
			m->kind = PCOW_MAP_HOLE;	/* beyond the base's end */
			return 0;
		}
		limit = m->len < pcow_size(b) - off ? m->len : pcow_size(b) - off;
		p = b;
	}
}

/* ---- progress ---- */

static bool progress_on;
static void progress(uint64_t done, uint64_t total)
{
	static int last = -1;
	int pct;

	if (!progress_on)
		return;
	pct = total ? (int)(done * 10000 / total) : 10000;
	if (pct == last)
		return;
	last = pct;
	fprintf(stderr, "\r    (%d.%02d/100%%)", pct / 100, pct % 100);
	if (done >= total)
		fputc('\n', stderr);
	fflush(stderr);
}

/* ---- commands ---- */

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
};

static const struct cmd *cur_cmd;
static char **cur_argv;

static void help_exit(void) __attribute__((noreturn));
static void help_exit(void)
{
	printf("usage: %s %s\n", prog, cur_cmd->usage);
	exit(0);
}

/* getopt's own messages would name the command, not the program: opterr
 * is off and this says what was wrong, and where help is */
static void bad_option(int c) __attribute__((noreturn));
static void bad_option(int c)
{
	const char *arg = cur_argv[optind - 1];
	char name[64];

	/* a long option names itself; a short one is optopt */
	if (optopt && !(arg && !strncmp(arg, "--", 2)))
		snprintf(name, sizeof(name), "-%c", optopt);
	else
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(arg ? arg : "?", "="),
			 arg ? arg : "?");
	if (c == ':')
		die_usage("%s: option '%s' needs a value (try '%s %s --help')", cur_cmd->name,
			  name, prog, cur_cmd->name);
	die_usage("%s: unknown option '%s' (try '%s %s --help')", cur_cmd->name, name, prog,
		  cur_cmd->name);
}

#define COMMON_LONG { "help", no_argument, NULL, 'h' }
#define FORCE_SHARE_LONG { "force-share", no_argument, NULL, 'U' }

static void need_args(int argc, int min, int max)
{
	if (argc - optind < min)
		die_usage("%s: missing argument (usage: %s %s)", cur_cmd->name, prog,
			  cur_cmd->usage);
	if (argc - optind > max)
		die_usage("%s: unexpected argument '%s'", cur_cmd->name,
			  cur_argv[optind + max]);
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* label storage area (docs/pcow-format.md): 0 or 128K..16M in 4K steps */
static uint64_t label_size_arg(const char *opt, const char *v)
{
	uint64_t s = size_arg(opt, v);

	if (s && (s < PCOW_LABEL_MIN || s > PCOW_LABEL_MAX || s % PCOW_LABEL_ALIGN))
		die_usage("invalid size '%s' for %s: must be 0 (none) or 128K..16M "
			  "in 4K steps", v, opt);
	return s;
}

static int cmd_create(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "base", required_argument, NULL, 'b' },
		{ "base-format", required_argument, NULL, 'F' },
		{ "cluster-size", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'f' },
		{ "label-size", required_argument, NULL, 'L' },
		COMMON_LONG, { 0 }
	};
	struct pcow_create_opts co = { 0 };
	struct pcow_error e;
	int c;

	while ((c = getopt_long(argc, argv, "+:b:F:c:f:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'b': co.base = optarg; break;
		case 'F': co.base_format = fmt_arg("-F", optarg); break;
		case 'c': co.cluster_bits = cluster_bits_arg("-c", optarg); break;
		case 'f':
			if (strcmp(optarg, "pcow"))
				die_usage("invalid format '%s' for -f (only pcow)", optarg);
			break;
		case 'L': co.label_size = label_size_arg("--label-size", optarg); break;
		case 'o':
			if (!strncmp(optarg, "cluster_size=", 13))
				co.cluster_bits = cluster_bits_arg("-o cluster_size", optarg + 13);
			else if (!strncmp(optarg, "label-size=", 11))
				co.label_size = label_size_arg("-o label-size", optarg + 11);
			else
				die_usage("invalid option '%s' for -o", optarg);
			break;
		case 'h': help_exit();
		default: bad_option(c);
		}
	}
	int n = argc - optind;
	const char *path;
	if (n == 3 && all_digits(argv[optind]) && all_digits(argv[optind + 1])) {
		/* the reference tool's form: create <cluster KB> <size GB> <img> */
		char b[64];
		snprintf(b, sizeof(b), "%sK", argv[optind]);
		co.cluster_bits = cluster_bits_arg("cluster KB", b);
		uint64_t g = size_arg("size GB", argv[optind + 1]);
		if (g == 0 || g > (PCOW_MAX_VIRTUAL_SIZE >> 30))
			die_usage("invalid size '%s' for size GB", argv[optind + 1]);
		co.virtual_size = g << 30;
		path = argv[optind + 2];
	} else {
		need_args(argc, 1, 2);
		path = argv[optind];
		if (n == 2)
			co.virtual_size = size_arg("size", argv[optind + 1]);
		else if (!co.base)
			die_usage("create: a size is needed without -b BASE");
	}
	if (co.virtual_size > PCOW_MAX_VIRTUAL_SIZE)
		die_usage("invalid size %" PRIu64 " (at most %llu)", co.virtual_size,
			  PCOW_MAX_VIRTUAL_SIZE);
	co.lock = true;
	if (pcow_create(path, &co, &e))
		return fail("%s", e.msg);	/* the hints of fail_code() fit users of IMG */
	return 0;
}

static const char *fmt_name(int f)
{
	return f == PCOW_FMT_PCOW ? "pcow" : f == PCOW_FMT_RAW ? "raw" : "none";
}

static void uuid_str(const uint8_t *u, char *s)
{
	static const int dash[] = { 4, 6, 8, 10 };
	int k = 0;

	for (int i = 0; i < 16; i++) {
		for (int d = 0; d < 4; d++)
			if (dash[d] == i)
				s[k++] = '-';
		sprintf(s + k, "%02x", u[i]);
		k += 2;
	}
	s[k] = 0;
}

static bool json_out(const char *v)
{
	if (!strcmp(v, "json"))
		return true;
	if (!strcmp(v, "human"))
		return false;
	die_usage("invalid output format '%s' for --output (human or json)", v);
}

/* a string from an image or the command line, for JSON: valid UTF-8 as is;
 * otherwise the escaped form (esc()) and, so that no name can pass for
 * another, KEY-bytes with the raw bytes in hex (docs/pcow-format.md) */
static void jadd_name(json_object *o, const char *key, const char *s)
{
	static char hex[2 * 4096 + 1];
	char k[64];
	size_t i;

	json_object_object_add(o, key, jstr(s));
	if (utf8_ok(s))
		return;
	for (i = 0; s[i] && 2 * i + 2 < sizeof(hex); i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)s[i]);
	hex[2 * i] = 0;
	snprintf(k, sizeof(k), "%s-bytes", key);
	json_object_object_add(o, k, json_object_new_string(hex));
}

static void print_snapshots(const struct pcow_snapshot *s, int n)
{
	if (n)
		printf("Snapshot list:\n%-20s %-12s %s\n", "TAG", "VM SIZE", "DATE");
	for (int i = 0; i < n; i++) {
		char ds[32], h[32], en[4 * PCOW_MAX_NAME + 1];
		time_t t = (time_t)(s[i].ctime_ns / 1000000000ULL);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(ds, sizeof(ds), "%Y-%m-%d %H:%M:%S", &tm);
		human_size(s[i].virtual_size, h, sizeof(h));
		printf("%-20s %-12s %-20s%s\n", esc(s[i].name, en, sizeof(en)), h,
		       ds, s[i].current ? " (current)" : "");
	}
}

static json_object *json_snapshots(const struct pcow_snapshot *s, int n)
{
	json_object *a = json_object_new_array();

	for (int i = 0; i < n; i++) {
		json_object *o = json_object_new_object();
		jadd_name(o, "name", s[i].name);
		json_object_object_add(o, "date-sec", json_object_new_int64((int64_t)(s[i].ctime_ns / 1000000000ULL)));
		json_object_object_add(o, "date-nsec", json_object_new_int64((int64_t)(s[i].ctime_ns % 1000000000ULL)));
		json_object_object_add(o, "virtual-size", json_object_new_int64((int64_t)s[i].virtual_size));
		json_object_object_add(o, "current", json_object_new_boolean(s[i].current));
		json_object_array_add(a, o);
	}
	return a;
}

/* the snapshots of p (a malloc'd array, *n entries; NULL for raw) */
static struct pcow_snapshot *get_snapshots(struct pcow *p, int *n)
{
	struct pcow_snapshot *s;

	*n = 0;
	if (pcow_format(p) != PCOW_FMT_PCOW)
		return NULL;
	*n = pcow_snapshot_list_quick(p, NULL, 0);
	if (*n < 0)
		*n = 0;
	s = calloc((size_t)*n + 1, sizeof(*s));
	if (!s) {
		*n = 0;
		return NULL;
	}
	*n = pcow_snapshot_list_quick(p, s, (unsigned)*n);
	return s;
}

static void print_json(json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						      JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* The image's bad-range record (docs/pcow-format.md): "bad-ranges" is
 * always there for a pcow image ([] when none), or "bad-ranges-error". */
static struct pcow_bad_range *get_bad_ranges(struct pcow *p, int *n)
{
	struct pcow_bad_range *r;

	*n = pcow_bad_ranges(p, NULL, 0);
	if (*n <= 0)
		return NULL;
	r = calloc((size_t)*n, sizeof(*r));
	if (!r || pcow_bad_ranges(p, r, (size_t)*n) < 0) {
		free(r);
		*n = r ? -1 : -PCOW_ENOMEM;
		return NULL;
	}
	return r;
}

static void json_bad_ranges(struct json_object *o, struct pcow *p)
{
	int n;
	struct pcow_bad_range *r = get_bad_ranges(p, &n);
	struct json_object *a;

	if (n < 0) {
		json_object_object_add(o, "bad-ranges-error", json_object_new_string(
			n == -PCOW_ENOMEM ? "out of memory" : pcow_errmsg(p)));
		return;
	}
	a = json_object_new_array();
	for (int i = 0; i < n; i++) {
		struct json_object *e = json_object_new_object();
		json_object_object_add(e, "offset", json_object_new_int64((int64_t)r[i].off));
		json_object_object_add(e, "length", json_object_new_int64((int64_t)r[i].len));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "bad-ranges", a);
	free(r);
}

static void print_bad_ranges(struct pcow *p)
{
	int n;
	struct pcow_bad_range *r = get_bad_ranges(p, &n);

	if (n < 0) {
		printf("bad ranges: unreadable: %s\n", n == -PCOW_ENOMEM ? "out of memory" :
		       pcow_errmsg(p));
		return;
	}
	if (!n)
		return;
	printf("bad ranges: %d (bytes whose contents are lost)\n", n);
	for (int i = 0; i < n && i < 16; i++)
		printf("    %" PRIu64 " +%" PRIu64 "\n", r[i].off, r[i].len);
	if (n > 16)
		printf("    ... %d more (--output=json lists them all)\n", n - 16);
	free(r);
}

/* one image of info's output; why: why its base is not open (or NULL) */
static json_object *info_json(struct pcow *p, const char *path, const char *why)
{
	json_object *o = json_object_new_object();
	bool pc = pcow_format(p) == PCOW_FMT_PCOW;
	struct pcow_info in;
	struct stat st;
	int ns;

	pcow_get_info_quick(p, &in);	/* reads no table */
	jadd_name(o, "filename", path);
	json_object_object_add(o, "format", json_object_new_string(pc ? "pcow" : "raw"));
	json_object_object_add(o, "virtual-size", json_object_new_int64((int64_t)in.virtual_size));
	json_object_object_add(o, "actual-size", json_object_new_int64(
		stat(path, &st) ? 0 : (int64_t)st.st_blocks * 512));
	if (!pc)
		return o;
	char uu[40];
	uuid_str(in.uuid, uu);
	json_object_object_add(o, "cluster-size", json_object_new_int64((int64_t)in.cluster_size));
	json_object_object_add(o, "file-size", json_object_new_int64((int64_t)in.file_size));
	json_object_object_add(o, "uuid", json_object_new_string(uu));
	json_object_object_add(o, "generation", json_object_new_int64((int64_t)in.generation));
	json_object_object_add(o, "data-generation", json_object_new_int64((int64_t)in.data_gen));
	json_object_object_add(o, "label-size", json_object_new_int64((int64_t)pcow_label_size(p)));
	json_bad_ranges(o, p);
	if (in.base) {
		jadd_name(o, "backing-filename", in.base);
		json_object_object_add(o, "backing-filename-format", json_object_new_string(fmt_name(in.base_format)));
		json_object_object_add(o, "backing-depth", json_object_new_int((int)in.base_depth));
		if (why)
			jadd_name(o, "backing-error", why);
	}
	struct pcow_snapshot *s = get_snapshots(p, &ns);
	json_object_object_add(o, "snapshots", json_snapshots(s, ns));
	free(s);
	return o;
}

static void info_human(struct pcow *p, const char *path, const char *why)
{
	static char eb[ESC_MAX];
	bool pc = pcow_format(p) == PCOW_FMT_PCOW;
	struct pcow_info in;
	struct stat st;
	char h[32], d[32];
	int ns;

	pcow_get_info_quick(p, &in);	/* reads no table */
	human_size(in.virtual_size, h, sizeof(h));
	human_size(stat(path, &st) ? 0 : (uint64_t)st.st_blocks * 512, d, sizeof(d));
	printf("image: %s\nfile format: %s\nvirtual size: %s (%" PRIu64 " bytes)\n"
	       "disk size: %s\n", esc(path, eb, sizeof(eb)), pc ? "pcow" : "raw", h,
	       in.virtual_size, d);
	if (!pc)
		return;
	char uu[40];
	uuid_str(in.uuid, uu);
	printf("cluster_size: %" PRIu64 "\nuuid: %s\ngeneration: %" PRIu64 "\n",
	       in.cluster_size, uu, in.generation);
	if (pcow_label_size(p))
		printf("label size: %" PRIu64 " bytes\n", pcow_label_size(p));
	print_bad_ranges(p);
	if (in.base) {
		printf("backing file: %s\nbacking file format: %s\n",
		       esc(in.base, eb, sizeof(eb)), fmt_name(in.base_format));
		if (why)
			printf("backing file not available: %s\n", esc(why, eb, sizeof(eb)));
	}
	struct pcow_snapshot *s = get_snapshots(p, &ns);
	print_snapshots(s, ns);
	free(s);
}

/* inspection goes on without the base: say why, and what to do */
static void warn_base(const char *why)
{
	static char eb[ESC_MAX];

	fprintf(stderr, "%s: warning: %s (%s)\n", prog, esc(why, eb, sizeof(eb)),
		base_hint(why));
}

static int cmd_info(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'O' }, FORCE_SHARE_LONG,
		{ "backing-chain", no_argument, NULL, 'B' }, COMMON_LONG, { 0 }
	};
	bool json = false, chain = false;
	int c;

	reads_only = true;
	while ((c = getopt_long(argc, argv, "+:Uh", lo, NULL)) != -1) {
		switch (c) {
		case 'O': json = json_out(optarg); break;
		case 'U': force_share(); break;
		case 'B': chain = true; break;
		case 'h': help_exit();
		default: bad_option(c);
		}
	}
	need_args(argc, 1, 1);
	const char *path = argv[optind];
	/* a missing or changed base does not stop inspection: said, not fatal */
	struct pcow *p = img_open(path, PCOW_FMT_AUTO, PCOW_TRY_BASE);
	if (!p)
		return EXIT_FAIL;
	const char *why = pcow_base_error(p);
	if (why)
		warn_base(why);
	json_object *arr = json && chain ? json_object_new_array() : NULL;
	for (struct pcow *q = p; q; q = chain ? pcow_base(q) : NULL) {
		const char *qp = q == p ? path : pcow_path(q);
		const char *qwhy = pcow_base(q) ? NULL : pcow_base_error(q);
		if (arr)
			json_object_array_add(arr, info_json(q, qp, qwhy));
		else if (json)
			print_json(info_json(q, qp, qwhy));
		else {
			if (q != p)
				printf("\n");
			info_human(q, qp, qwhy);
		}
	}
	if (arr)
		print_json(arr);
	return img_close(p, path);
}

/*
 * check's problem lines: repeats of one kind (the same message but for its
 * numbers) are summarised after the first few, and "(dropped)" is said
 * only when the repair really drops the entry (-r all).
 */
#define PROBLEM_SHOWN 5
#define PROBLEM_KINDS 64

struct problems {
	bool quiet;		/* JSON output: nothing on stderr */
	bool dropping;		/* -r all */
	unsigned nkinds;
	struct { char key[160]; uint64_t n; } kind[PROBLEM_KINDS];
};

static void print_problem(void *ctx, const char *msg)
{
	static char out[4 * 1024 + 1], line[PCOW_ERRMSG_MAX + 64];
	struct problems *pr = ctx;
	const char *d = " (dropped)";
	size_t ml = strlen(msg), dl = strlen(d), k = 0;
	unsigned i;

	if (pr->quiet)
		return;
	if (!pr->dropping && ml > dl && !strcmp(msg + ml - dl, d))
		snprintf(line, sizeof(line), "%.*s (check -r all would drop it)",
			 (int)(ml - dl), msg);
	else
		snprintf(line, sizeof(line), "%s", msg);
	/* the kind: the message with every number as '#' */
	char key[160];
	for (const char *p = line; *p && k + 1 < sizeof(key); p++) {
		if (*p >= '0' && *p <= '9') {
			while (p[1] >= '0' && p[1] <= '9')
				p++;
			key[k++] = '#';
		} else {
			key[k++] = *p;
		}
	}
	key[k] = 0;
	for (i = 0; i < pr->nkinds && strcmp(pr->kind[i].key, key); i++)
		;
	if (i == pr->nkinds && i < PROBLEM_KINDS) {
		snprintf(pr->kind[i].key, sizeof(pr->kind[i].key), "%s", key);
		pr->nkinds++;
	}
	if (i < PROBLEM_KINDS && ++pr->kind[i].n > PROBLEM_SHOWN)
		return;
	fprintf(stderr, "%s\n", esc(line, out, sizeof(out)));
}

static void print_problem_summary(struct problems *pr)
{
	static char out[4 * 160 + 1];

	for (unsigned i = 0; i < pr->nkinds; i++)
		if (pr->kind[i].n > PROBLEM_SHOWN)
			fprintf(stderr, "... and %" PRIu64 " more like '%s'\n",
				pr->kind[i].n - PROBLEM_SHOWN,
				esc(pr->kind[i].key, out, sizeof(out)));
}

static int cmd_check(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'O' },
		{ "repair", required_argument, NULL, 'r' }, FORCE_SHARE_LONG, COMMON_LONG, { 0 }
	};
	struct pcow_check_result res = { 0 };
	struct pcow_error e;
	bool json = false;
	unsigned rep = 0;
	int c;

	bool share = false;
	while ((c = getopt_long(argc, argv, "+:r:Uh", lo, NULL)) != -1) {
		switch (c) {
		case 'U': share = true; break;
		case 'O': json = json_out(optarg); break;
		case 'r':
			if (!strcmp(optarg, "leaks"))
				rep = PCOW_REPAIR_LEAKS;
			else if (!strcmp(optarg, "all"))
				rep = PCOW_REPAIR_ALL;
			else
				die_usage("invalid value '%s' for -r (leaks or all)", optarg);
			break;
		case 'h': help_exit();
		default: bad_option(c);
		}
	}
	need_args(argc, 1, 1);
	if (share && rep)
		die_usage("check: -U (read without a lock) cannot go with -r (repair writes)");
	if (share)
		force_share();
	reads_only = !rep;
	const char *path = argv[optind];
	struct problems pr = { .quiet = json, .dropping = rep == PCOW_REPAIR_ALL };
	res.report = print_problem;
	res.report_ctx = &pr;
	struct pcow_open_opts co = { .flags = lock_flags };
	int r = pcow_check(path, &co, rep, &res, &e);
	print_problem_summary(&pr);
	if (r) {
		if (-r == PCOW_ECORRUPT) {
			fprintf(stderr, "%s: %s\n", prog, e.msg);
			if (json) {
				json_object *o = json_object_new_object();
				jadd_name(o, "filename", path);
				json_object_object_add(o, "format", json_object_new_string("pcow"));
				json_object_object_add(o, "check-errors", json_object_new_int(0));
				json_object_object_add(o, "corruptions", json_object_new_int(1));
				json_object_object_add(o, "error", jstr(e.msg));
				printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
						JSON_C_TO_STRING_NOSLASHESCAPE));
				json_object_put(o);
			} else
				printf("1 errors were found on the image.\nThe image cannot be "
				       "opened; metadata is damaged beyond the tables.\n");
			return 2;
		}
		return fail_code(e.code, e.msg);
	}
	uint64_t corrupt = res.corruptions - res.corruptions_fixed;
	uint64_t leaks = res.leaks - res.leaks_fixed;
	if (json) {
		json_object *o = json_object_new_object();
		jadd_name(o, "filename", path);
		json_object_object_add(o, "format", json_object_new_string("pcow"));
		json_object_object_add(o, "check-errors", json_object_new_int(0));
		json_object_object_add(o, "corruptions", json_object_new_int64((int64_t)corrupt));
		json_object_object_add(o, "leaks", json_object_new_int64((int64_t)leaks));
		json_object_object_add(o, "corruptions-fixed", json_object_new_int64((int64_t)res.corruptions_fixed));
		json_object_object_add(o, "leaks-fixed", json_object_new_int64((int64_t)res.leaks_fixed));
		json_object_object_add(o, "allocated-clusters", json_object_new_int64((int64_t)res.allocated_clusters));
		json_object_object_add(o, "total-clusters", json_object_new_int64((int64_t)res.total_clusters));
		json_object_object_add(o, "image-end-offset", json_object_new_int64((int64_t)res.image_end_offset));
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(o);
	} else {
		if (res.leaks_fixed || res.corruptions_fixed)
			printf("The following inconsistencies were found and repaired:\n\n"
			       "    %" PRIu64 " leaked clusters\n    %" PRIu64 " corruptions\n\n",
			       res.leaks_fixed, res.corruptions_fixed);
		if (!corrupt && !leaks)
			printf("No errors were found on the image.\n");
		if (corrupt)
			printf("%" PRIu64 " errors were found on the image.\nData may be "
			       "corrupted, or further writes to the image may corrupt it.\n",
			       corrupt);
		if (leaks)
			printf("%" PRIu64 " leaked clusters were found on the image.\nThis "
			       "means waste of disk space, but no harm to data.\n", leaks);
		if (res.total_clusters)
			printf("%" PRIu64 "/%" PRIu64 " = %.2f%% allocated\n",
			       res.allocated_clusters, res.total_clusters,
			       100.0 * (double)res.allocated_clusters / (double)res.total_clusters);
		printf("Image end offset: %" PRIu64 "\n", res.image_end_offset);
	}
	return corrupt ? 2 : leaks ? 3 : 0;
}

static int cmd_snapshot(int argc, char **argv)
{
	static const struct option lo[] = { FORCE_SHARE_LONG, COMMON_LONG, { 0 } };
	bool share = false;
	char op = 0;
	const char *name = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+:c:a:d:lUh", lo, NULL)) != -1) {
		switch (c) {
		case 'U': share = true; break;
		case 'c': case 'a': case 'd': case 'l':
			if (op)
				die_usage("snapshot: only one of -c, -l, -a, -d");
			op = (char)c;
			name = optarg;
			break;
		case 'h': help_exit();
		default: bad_option(c);
		}
	}
	if (!op)
		die_usage("snapshot: one of -c, -l, -a, -d is needed");
	need_args(argc, 1, 1);
	if (name && (!*name || strlen(name) > PCOW_MAX_NAME))
		die_usage("invalid snapshot name '%s' (1 to %d bytes)", name, PCOW_MAX_NAME);
	const char *path = argv[optind];
	if (share && op != 'l')
		die_usage("snapshot: -U (read without a lock) only goes with -l");
	if (share)
		force_share();
	reads_only = op == 'l';
	/* listing needs no base: a missing one does not stop it */
	struct pcow *p = img_open(path, PCOW_FMT_PCOW, op != 'l' ? PCOW_RDWR : PCOW_NO_BASE);
	if (!p)
		return EXIT_FAIL;
	int r = 0;
	if (op == 'l') {
		int n = pcow_snapshot_list_quick(p, NULL, 0);	/* reads no table */
		struct pcow_snapshot *s = calloc((size_t)n + 1, sizeof(*s));
		if (!s)
			return fail("out of memory");
		n = pcow_snapshot_list_quick(p, s, (unsigned)n);
		print_snapshots(s, n);
		free(s);
	} else {
		int e = op == 'c' ? pcow_snapshot_create(p, name) :
			op == 'a' ? pcow_snapshot_apply(p, name) :
			pcow_snapshot_delete(p, name);
		if (e)
			r = fail_img(p);
	}
	if (img_close(p, path))
		r = EXIT_FAIL;
	return r;
}

#define CONVERT_CHUNK (2u << 20)
#define RING 4

struct chunk {
	uint64_t off;
	size_t n;
	uint8_t *buf;
	bool hole;	/* reads as zeros in the source: buf not filled */
};

/* convert's reader: the source's data extents, in chunks, into a ring */
struct reader {
	struct pcow *in;
	uint64_t size;
	bool holes;	/* pass the source's holes on too (-n, -S 0) */
	struct chunk ring[RING];
	unsigned head, tail;	/* consumer, producer counts */
	bool done, stop, err;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	uint64_t off = 0;

	while (off < rd->size) {
		struct pcow_map m;
		if (view_translate(rd->in, off, CONVERT_CHUNK, &m)) {
			rd->err = true;
			break;
		}
		bool hole = reads_zero(m.kind);
		if (hole && !rd->holes) {
			off += m.len;
			continue;
		}
		size_t n = (size_t)m.len;
		pthread_mutex_lock(&rd->lock);
		while (rd->tail - rd->head == RING && !rd->stop)
			pthread_cond_wait(&rd->cond, &rd->lock);
		bool stop = rd->stop;
		pthread_mutex_unlock(&rd->lock);
		if (stop)
			break;
		struct chunk *ck = &rd->ring[rd->tail % RING];
		if (!hole && img_read(rd->in, ck->buf, n, off)) {
			rd->err = true;
			break;
		}
		ck->off = off;
		ck->n = n;
		ck->hole = hole;
		off += n;
		pthread_mutex_lock(&rd->lock);
		rd->tail++;
		pthread_cond_broadcast(&rd->cond);
		pthread_mutex_unlock(&rd->lock);
	}
	pthread_mutex_lock(&rd->lock);
	rd->done = true;
	pthread_cond_broadcast(&rd->cond);
	pthread_mutex_unlock(&rd->lock);
	return NULL;
}

/* One convert: SRC is copied into a new image built under a temporary name
 * in DST's directory, renamed to DST only once complete and flushed, so DST
 * appears whole or not at all (an interrupted convert leaves at most the
 * temporary file, DST.pcow-img.XXXXXX, which SIGINT/SIGTERM remove). */
struct convert {
	const char *src, *dst;
	int sfmt, dfmt;
	unsigned cbits;
	bool unsafe, quiet, prog_forced;
	bool existing;		/* -n: write into DST as it is */
	const char *snapshot;	/* -s/-l: SRC's snapshot to export, not its current state */
	const char *base;	/* -B: DST is made over this base; only what differs is written */
	int bfmt;		/* -F: the base's format */
	uint8_t *cmp;		/* -B: DST's current bytes, one chunk */
	bool have_sparse;	/* -S given */
	uint64_t sparse;	/* -S: zero runs this long are not written (0: all is) */
	struct pcow *in, *out;
	uint64_t size;
	char *tmp;
};

static volatile sig_atomic_t convert_tmp_set;
static char convert_tmp[PATH_MAX];

static void convert_signal(int sig)
{
	if (convert_tmp_set)
		unlink(convert_tmp);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void convert_args(struct convert *cv, int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cluster-size", required_argument, NULL, 'C' }, FORCE_SHARE_LONG, COMMON_LONG,
		{ 0 }
	};
	bool have_O = false;
	int c;

	cv->sfmt = PCOW_FMT_AUTO;
	cv->dfmt = PCOW_FMT_PCOW;
	while ((c = getopt_long(argc, argv, "+:f:O:c:o:t:S:s:l:B:F:npqUh", lo, NULL)) != -1) {
		switch (c) {
		case 'U': force_share(); break;
		case 's': cv->snapshot = optarg; break;
		case 'B': cv->base = optarg; break;
		case 'F': cv->bfmt = fmt_arg("-F", optarg); break;
		case 'l':
			/* qemu-img's -l snapshot.name=NAME (or a bare NAME); pcow
			 * snapshots have names, no numeric ids */
			if (!strncmp(optarg, "snapshot.name=", 14))
				cv->snapshot = optarg + 14;
			else if (!strncmp(optarg, "snapshot.id=", 12))
				die_usage("invalid value '%s' for -l: pcow snapshots have no ids "
					  "(snapshot.name=NAME)", optarg);
			else
				cv->snapshot = optarg;
			break;
		case 'n': cv->existing = true; break;
		case 'S':
			cv->sparse = size_arg("-S", optarg);
			cv->have_sparse = true;
			break;
		case 'c': {
			/* qemu-img's -c compresses (no value): here it takes the
			 * cluster size, kept for scripts; anything else is
			 * answered with the documented way */
			uint64_t v;
			if (opt_parse_size(optarg, &v, NULL, 0))
				die_usage("convert: -c takes a cluster size here ('%s' is not "
					  "one), it does not compress as qemu-img's -c does; "
					  "the documented way is -o cluster_size=SIZE", optarg);
			cv->cbits = cluster_bits_arg("-c", optarg);
			break;
		}
		case 'C': cv->cbits = cluster_bits_arg("--cluster-size", optarg); break;
		case 'o':
			if (!strncmp(optarg, "cluster_size=", 13))
				cv->cbits = cluster_bits_arg("-o cluster_size", optarg + 13);
			else
				die_usage("invalid option '%s' for -o (cluster_size=SIZE)", optarg);
			break;
		case 't':
			if (!strcmp(optarg, "unsafe"))
				cv->unsafe = true;
			else if (strcmp(optarg, "writeback"))
				die_usage("invalid cache mode '%s' for -t (writeback or unsafe)",
					  optarg);
			break;
		case 'f': cv->sfmt = fmt_arg("-f", optarg); break;
		case 'O': cv->dfmt = fmt_arg("-O", optarg); have_O = true; break;
		case 'p': cv->prog_forced = true; break;
		case 'q': cv->quiet = true; break;
		case 'h': help_exit();
		default: bad_option(c);
		}
	}
	need_args(argc, 2, 2);
	cv->src = argv[optind];
	cv->dst = argv[optind + 1];
	if (cv->existing && cv->cbits)
		die_usage("convert: -n writes into an existing image: no cluster size");
	if (cv->existing && !have_O)
		cv->dfmt = PCOW_FMT_AUTO;	/* DST's own format */
	if (cv->base && (cv->existing || cv->dfmt != PCOW_FMT_PCOW))
		die_usage("convert: -B makes a new pcow image over a base (not with -n or "
			  "-O raw)");
	if (cv->bfmt && !cv->base)
		die_usage("convert: -F is the format of the -B base");
}

/* the temporary file beside DST (mode as a new file would get) */
static int convert_tmpfile(struct convert *cv)
{
	mode_t um = umask(0);
	int fd;

	umask(um);
	if (snprintf(convert_tmp, sizeof(convert_tmp), "%s.pcow-img.XXXXXX", cv->dst) >=
	    (int)sizeof(convert_tmp))
		return fail("%s: name too long", cv->dst);
	fd = mkstemp(convert_tmp);
	if (fd < 0)
		return fail("%s: cannot create a temporary file beside it: %s", cv->dst,
			    strerror(errno));
	convert_tmp_set = 1;
	cv->tmp = convert_tmp;
	if (fchmod(fd, 0666 & ~um) ||
	    (cv->dfmt == PCOW_FMT_RAW && ftruncate(fd, (off_t)cv->size))) {
		int e = errno;
		close(fd);
		return fail("%s: %s", cv->tmp, strerror(e));
	}
	close(fd);
	return 0;
}

/* -n: DST exists and must hold SRC; it is written in place */
static int convert_existing(struct convert *cv)
{
	cv->out = img_open(cv->dst, cv->dfmt, PCOW_RDWR |
			   (cv->unsafe ? PCOW_NO_FLUSH : 0));
	if (!cv->out)
		return EXIT_FAIL;
	if (img_size(cv->out) < cv->size)
		return fail("%s: too small for %s (%" PRIu64 " bytes, needs %" PRIu64 ")",
			    cv->dst, cv->src, img_size(cv->out), cv->size);
	return 0;
}

/* the label area goes along, whole, in one durable write */
static int copy_labels(struct pcow *in, struct pcow *out)
{
	uint64_t n = pcow_label_size(in);
	uint8_t *b;
	int r = 0;

	if (!n)
		return 0;
	b = malloc(n);
	if (!b)
		return fail("out of memory");
	if (pcow_label_read(in, b, n, 0))
		r = fail_img(in);
	else if (!is_zero(b, n) && pcow_label_write(out, b, n, 0))
		r = fail_img(out);
	free(b);
	return r;
}

/* the bad-range record goes along (the bytes there are lost in the source
 * too); a raw target has no record: said, not silently dropped */
static int copy_bad_ranges(struct convert *cv)
{
	struct pcow_bad_range *r;
	int n = pcow_bad_ranges(cv->in, NULL, 0), have;

	if (n < 0)
		return fail_img(cv->in);
	if (cv->dfmt != PCOW_FMT_PCOW) {
		if (n)
			fprintf(stderr, "%s: %s: note: its %d bad range(s) are not converted "
				"(raw files hold no bad-range record; `info` lists them)\n",
				prog, cv->src, n);
		return 0;
	}
	have = pcow_bad_ranges(cv->out, NULL, 0);
	if (have < 0)
		return fail_img(cv->out);
	if (!n && !have)
		return 0;
	r = calloc(n ? (size_t)n : 1, sizeof(*r));
	if (!r)
		return fail("out of memory");
	if (pcow_bad_ranges(cv->in, r, (size_t)n) != n)
		have = fail_img(cv->in);
	else if (pcow_set_bad_ranges(cv->out, r, (size_t)n))
		have = fail_img(cv->out);
	else
		have = 0;
	free(r);
	return have;
}

static int convert_create(struct convert *cv)
{
	uint64_t labels = pcow_label_size(cv->in);
	struct stat st;

	if (cv->existing)
		return convert_existing(cv);
	if (!lstat(cv->dst, &st))
		return fail("%s: %s (convert writes a new image; -n writes into an existing "
			    "one)", cv->dst, strerror(EEXIST));
	signal(SIGINT, convert_signal);
	signal(SIGTERM, convert_signal);
	signal(SIGHUP, convert_signal);
	if (convert_tmpfile(cv))
		return EXIT_FAIL;
	if (cv->dfmt == PCOW_FMT_PCOW) {
		struct pcow_create_opts co = { .virtual_size = cv->size,
					       .cluster_bits = cv->cbits, .overwrite = true,
					       .base = cv->base, .base_format = cv->bfmt,
					       .lock = true, .label_size = labels };
		struct pcow_error e;
		if (pcow_create(cv->tmp, &co, &e))
			return fail_code(e.code, e.msg);
	} else if (labels) {
		fprintf(stderr, "%s: %s: note: the %" PRIu64 "-byte label area is not "
			"converted (raw files hold no labels)\n", prog, cv->src, labels);
	}
	open_extra = cv->unsafe ? PCOW_NO_FLUSH : 0;
	cv->out = img_open(cv->tmp, cv->dfmt, PCOW_RDWR);
	open_extra = 0;
	if (!cv->out)
		return EXIT_FAIL;
	if (cv->dfmt == PCOW_FMT_PCOW && copy_labels(cv->in, cv->out))
		return EXIT_FAIL;
	return copy_bad_ranges(cv);
}

static const uint8_t zeros[CONVERT_CHUNK];

/* does [off, off+len) of p read as zeros, down the chain, known without
 * reading? */
static bool chain_zero(struct pcow *p, uint64_t off, uint64_t len)
{
	while (len) {
		struct pcow_map m;
		if (pcow_translate(p, off, len, &m))
			return false;
		uint64_t n = m.len < len ? m.len : len;
		struct pcow *b = pcow_base(p);
		if (m.kind == PCOW_MAP_BASE) {
			uint64_t bs = b ? pcow_size(b) : 0;
			uint64_t in = off >= bs ? 0 : bs - off < n ? bs - off : n;
			if (!b || (in && !chain_zero(b, off, in)))
				return false;
		} else if (!reads_zero(m.kind)) {
			return false;
		}
		off += n;
		len -= n;
	}
	return true;
}

/* -B: write the clusters of [off, off+n) where SRC (buf; NULL: zeros)
 * differs from what DST shows through its base */
static int convert_diff(struct convert *cv, const uint8_t *buf, uint64_t off, uint64_t n)
{
	uint64_t cs = 1ULL << (cv->cbits ? cv->cbits : PCOW_DEFAULT_CLUSTER_BITS);

	while (n) {
		size_t k = n < CONVERT_CHUNK ? (size_t)n : CONVERT_CHUNK;
		const uint8_t *src = buf ? buf : zeros;
		if (!buf && chain_zero(cv->out, off, k))
			goto next;
		if (pcow_read(cv->out, cv->cmp, k, off))
			return fail_img(cv->out);
		for (size_t i = 0; i < k;) {
			size_t step = cs - ((off + i) & (cs - 1));
			if (step > k - i)
				step = k - i;
			if (memcmp(src + i, cv->cmp + i, step) &&
			    pcow_write(cv->out, src + i, step, off + i))
				return fail_img(cv->out);
			i += step;
		}
next:
		off += k;
		n -= k;
		if (buf)
			buf += k;
	}
	return 0;
}

/* zeros at [off, off+n) of DST: -S 0 writes them all; -n only where DST
 * does not read as zeros already; a new image needs nothing */
static int convert_zeros(struct convert *cv, uint64_t off, uint64_t n)
{
	bool all = cv->have_sparse && !cv->sparse;

	if (cv->base && !all)
		return convert_diff(cv, NULL, off, n);
	if (!cv->existing && !all)
		return 0;
	while (n) {
		struct pcow_map m = { .kind = PCOW_MAP_DATA, .len = n };
		if (!all && pcow_translate(cv->out, off, n, &m))
			return fail_img(cv->out);
		uint64_t k = m.len < n ? m.len : n;
		for (uint64_t d = 0; !reads_zero(m.kind) && d < k;) {
			size_t w = k - d < CONVERT_CHUNK ? (size_t)(k - d) : CONVERT_CHUNK;
			if (pcow_write(cv->out, zeros, w, off + d))
				return fail_img(cv->out);
			d += w;
		}
		off += k;
		n -= k;
	}
	return 0;
}

/* write the non-zero pieces of one chunk in runs, coalesced: a run of
 * zeros of at least cs bytes (a cluster, or -S) is left out */
static int convert_write(struct convert *cv, const uint8_t *buf, uint64_t off, size_t n,
			 uint64_t cs)
{
	size_t i = 0;

	if (cv->base)
		return convert_diff(cv, buf, off, n);
	while (i < n) {
		size_t step = cs - ((off + i) & (cs - 1));
		if (step > n - i)
			step = n - i;
		if (is_zero(buf + i, step)) {
			if (convert_zeros(cv, off + i, step))
				return EXIT_FAIL;
			i += step;
			continue;
		}
		size_t j = i + step;
		while (j < n) {
			size_t s2 = cs < n - j ? cs : n - j;
			if (is_zero(buf + j, s2))
				break;
			j += s2;
		}
		if (pcow_write(cv->out, buf + i, j - i, off + i))
			return fail_img(cv->out);
		i = j;
	}
	return 0;
}

/* a reader thread fills chunks while this one writes them */
static int convert_copy(struct convert *cv)
{
	uint64_t cs = cv->cbits ? 1ULL << cv->cbits : 1ULL << PCOW_DEFAULT_CLUSTER_BITS;
	struct reader rd = { .in = cv->in, .size = cv->size,
			     .holes = cv->existing || cv->base || (cv->have_sparse && !cv->sparse) };
	pthread_t th;
	int r = 0;

	if (cv->have_sparse && cv->sparse) {
		/* -S: the zero-run unit, a power of two (at least 512) */
		for (cs = 512; cs < cv->sparse && cs < CONVERT_CHUNK; cs <<= 1)
			;
	}
	if (cs > CONVERT_CHUNK)
		cs = CONVERT_CHUNK;
	pthread_mutex_init(&rd.lock, NULL);
	pthread_cond_init(&rd.cond, NULL);
	for (int k = 0; k < RING; k++)
		if (!(rd.ring[k].buf = malloc(CONVERT_CHUNK)))
			r = fail("out of memory");
	if (cv->base && !(cv->cmp = malloc(CONVERT_CHUNK)))
		r = fail("out of memory");
	if (!r && pthread_create(&th, NULL, reader_main, &rd))
		r = fail("cannot start the reader thread");
	bool started = !r;
	progress(0, cv->size);
	while (!r) {
		pthread_mutex_lock(&rd.lock);
		while (rd.head == rd.tail && !rd.done)
			pthread_cond_wait(&rd.cond, &rd.lock);
		bool empty = rd.head == rd.tail;
		pthread_mutex_unlock(&rd.lock);
		if (empty) {
			if (rd.err)
				r = EXIT_FAIL;
			break;
		}
		struct chunk *ck = &rd.ring[rd.head % RING];
		r = ck->hole ? convert_zeros(cv, ck->off, ck->n) :
			       convert_write(cv, ck->buf, ck->off, ck->n, cs);
		progress(ck->off + ck->n, cv->size);
		pthread_mutex_lock(&rd.lock);
		rd.head++;
		pthread_cond_broadcast(&rd.cond);
		pthread_mutex_unlock(&rd.lock);
	}
	if (started) {
		pthread_mutex_lock(&rd.lock);
		rd.stop = true;
		pthread_cond_broadcast(&rd.cond);
		pthread_mutex_unlock(&rd.lock);
		pthread_join(th, NULL);
	}
	if (!r)
		progress(cv->size, cv->size);
	for (int k = 0; k < RING; k++)
		free(rd.ring[k].buf);
	free(cv->cmp);
	pthread_mutex_destroy(&rd.lock);
	pthread_cond_destroy(&rd.cond);
	return r;
}

/* flush and close the target, then rename it into place (never over a
 * file that appeared meanwhile), or remove it on failure */
static int convert_finish(struct convert *cv, int r)
{
	if (!r && cv->out && !cv->unsafe && pcow_flush(cv->out))
		r = fail("%s", pcow_errmsg(cv->out));
	if (img_close(cv->out, cv->tmp ? cv->tmp : cv->dst))
		r = EXIT_FAIL;
	img_close(cv->in, cv->src);
	if (!r && cv->tmp && renameat2(AT_FDCWD, cv->tmp, AT_FDCWD, cv->dst, RENAME_NOREPLACE)) {
		if (errno == EINVAL && !link(cv->tmp, cv->dst))
			;	/* a filesystem without RENAME_NOREPLACE */
		else
			r = fail("%s: %s", cv->dst, strerror(errno));
	}
	if (cv->tmp) {
		unlink(cv->tmp);	/* after a link(), or on failure */
		convert_tmp_set = 0;
	}
	if (!r && !cv->unsafe) {
		/* the rename itself durable: sync the directory */
		char *d = strdup(cv->dst), *s = d ? strrchr(d, '/') : NULL;
		int fd;
		if (s)
			*(s == d ? s + 1 : s) = 0;
		fd = open(d && s ? d : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
		free(d);
	}
	return r;
}

static int cmd_convert(int argc, char **argv)
{
	struct convert cv = { 0 };
	int r;

	convert_args(&cv, argc, argv);
	reads_only = true;	/* what can conflict is the source */
	cv.in = img_open(cv.src, cv.snapshot ? PCOW_FMT_PCOW : cv.sfmt, 0);
	if (!cv.in)
		return EXIT_FAIL;
	if (cv.snapshot && pcow_view_snapshot(cv.in, cv.snapshot)) {
		r = fail_img(cv.in);
		img_close(cv.in, cv.src);
		return r;
	}
	cv.size = img_size(cv.in);
	progress_on = !cv.quiet && (cv.prog_forced || isatty(2));
	r = convert_create(&cv);
	if (!r)
		r = convert_copy(&cv);
	return convert_finish(&cv, r);
}

static int cmd_commit(int argc, char **argv)
{
	static const struct option lo[] = { COMMON_LONG, { 0 } };
	bool quiet = false;
	unsigned flags = 0;
	int c;

	while ((c = getopt_long(argc, argv, "+:qdh", lo, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = true; break;
		case 'd': flags |= PCOW_COMMIT_KEEP; break;
		case 'h': help_exit();
		default: bad_option(c);
		}
	}
	need_args(argc, 1, 1);
	const char *path = argv[optind];
	struct pcow *p = img_open(path, PCOW_FMT_PCOW, PCOW_RDWR);
	if (!p)
		return EXIT_FAIL;
	int r = 0, nsnap = pcow_snapshot_list_quick(p, NULL, 0);
	if (pcow_commit_flags(p, flags))
		r = fail_img(p);
	else if (!quiet)
		printf("Image committed.%s\n", nsnap > 0 && !(flags & PCOW_COMMIT_KEEP) ?
		       " (It has snapshots: its data is kept, as with -d, and each snapshot "
		       "still shows what it showed.)" : "");
	if (img_close(p, path))
		r = EXIT_FAIL;
	return r;
}

static int cmd_rebase(int argc, char **argv)
{
	static const struct option lo[] = { COMMON_LONG, { 0 } };
	const char *base = NULL;
	int bfmt = PCOW_FMT_AUTO, c;
	bool unsafe = false, have_b = false;

	while ((c = getopt_long(argc, argv, "+:b:F:uh", lo, NULL)) != -1) {
		switch (c) {
		case 'b': base = optarg; have_b = true; break;
		case 'F': bfmt = fmt_arg("-F", optarg); break;
		case 'u': unsafe = true; break;
		case 'h': help_exit();
		default: bad_option(c);
		}
	}
	if (!have_b)
		die_usage("rebase: -b BASE is needed (-b \"\" for none)");
	need_args(argc, 1, 1);
	const char *path = argv[optind];
	struct pcow *p = img_open(path, PCOW_FMT_PCOW, PCOW_RDWR |
				  (unsigned)(unsafe ? PCOW_NO_BASE : 0));
	if (!p)
		return EXIT_FAIL;
	int r = 0;
	if (pcow_rebase(p, base && *base ? base : NULL, bfmt, unsafe))
		r = fail_img(p);
	if (pcow_close(p))
		r = EXIT_FAIL;
	return r;
}

static const char *kind_name(enum pcow_map_kind k)
{
	switch (k) {
	case PCOW_MAP_DATA: return "data";
	case PCOW_MAP_LOWER: return "snapshot";
	case PCOW_MAP_BASE: return "base";
	case PCOW_MAP_ZERO: return "zero";
	default: return "hole";
	}
}

/* map's output: extents of the chain, merged while nothing changes */
struct map_out {
	bool json;
	json_object *arr;
	bool have;		/* a pending extent */
	uint64_t start, len, host;
	enum pcow_map_kind kind;
	int depth;
	unsigned layer;
	const char *file;
};

static void map_flush(struct map_out *mo)
{
	static char eb[ESC_MAX];
	bool zero = reads_zero(mo->kind), data = !zero && mo->kind != PCOW_MAP_BASE;
	bool mapped = mo->kind == PCOW_MAP_DATA || mo->kind == PCOW_MAP_LOWER;

	if (!mo->have)
		return;
	mo->have = false;
	if (mo->json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "start", json_object_new_int64((int64_t)mo->start));
		json_object_object_add(o, "length", json_object_new_int64((int64_t)mo->len));
		json_object_object_add(o, "depth", json_object_new_int(mo->depth));
		json_object_object_add(o, "present", json_object_new_boolean(mapped || mo->kind == PCOW_MAP_ZERO));
		json_object_object_add(o, "kind", json_object_new_string(kind_name(mo->kind)));
		json_object_object_add(o, "data", json_object_new_boolean(data));
		json_object_object_add(o, "zero", json_object_new_boolean(zero));
		if (mapped) {
			json_object_object_add(o, "offset", json_object_new_int64((int64_t)mo->host));
			json_object_object_add(o, "layer", json_object_new_int((int)mo->layer));
			jadd_name(o, "file", mo->file);
		}
		json_object_array_add(mo->arr, o);
		return;
	}
	if (zero)
		return;
	printf("%#-20" PRIx64 " %#-20" PRIx64 " ", mo->start, mo->len);
	if (mapped)
		printf("%#-20" PRIx64 " %-9s %-5u %s\n", mo->host, kind_name(mo->kind),
		       mo->layer, esc(mo->file, eb, sizeof(eb)));
	else	/* a base that could not be opened */
		printf("%-20s %-9s %-5s -\n", "(base)", kind_name(mo->kind), "-");
}

static void map_emit(struct map_out *mo, uint64_t off, uint64_t len, int depth,
		     const struct pcow_map *m, const char *file)
{
	bool mapped = m->kind == PCOW_MAP_DATA || m->kind == PCOW_MAP_LOWER;

	if (mo->have && mo->start + mo->len == off && mo->kind == m->kind &&
	    mo->depth == depth && (!mapped || (mo->file == file && mo->layer == m->layer &&
					       mo->host + mo->len == m->host_off))) {
		mo->len += len;
		return;
	}
	map_flush(mo);
	*mo = (struct map_out){ .json = mo->json, .arr = mo->arr, .have = true, .start = off,
				.len = len, .host = m->host_off, .kind = m->kind,
				.depth = depth, .layer = m->layer, .file = file };
}

/* [off, off+len) of p (depth in the chain): what is there, down the chain */
static int map_range(struct map_out *mo, struct pcow *p, int depth, uint64_t off, uint64_t len)
{
	while (len) {
		struct pcow_map m;
		if (pcow_translate(p, off, len, &m))
			return fail_img(p);
		uint64_t n = m.len < len ? m.len : len;
		struct pcow *b = pcow_base(p);
		/* a base that did not open: what falls through is unknown */
		if (m.kind == PCOW_MAP_HOLE && !b && pcow_base_error(p))
			m.kind = PCOW_MAP_BASE;
		if (m.kind == PCOW_MAP_BASE && b) {
			uint64_t bs = pcow_size(b);
			uint64_t in = off >= bs ? 0 : bs - off < n ? bs - off : n;
			if (in && map_range(mo, b, depth + 1, off, in))
				return EXIT_FAIL;
			if (n > in) {	/* beyond the base's end: zeros */
				struct pcow_map h = { .kind = PCOW_MAP_HOLE };
				map_emit(mo, off + in, n - in, depth + 1, &h, pcow_path(b));
			}
		} else {
			map_emit(mo, off, n, depth, &m, pcow_path(p));
		}
		off += n;
		len -= n;
	}
	return 0;
}

static int cmd_map(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "output", required_argument, NULL, 'O' }, FORCE_SHARE_LONG, COMMON_LONG, { 0 }
	};
	struct map_out mo = { 0 };
	int c;

	reads_only = true;
	while ((c = getopt_long(argc, argv, "+:Uh", lo, NULL)) != -1) {
		if (c == 'O')
			mo.json = json_out(optarg);
		else if (c == 'U')
			force_share();
		else if (c == 'h')
			help_exit();
		else
			bad_option(c);
	}
	need_args(argc, 1, 1);
	const char *path = argv[optind];
	/* a base that cannot be opened: its extents show as "base" */
	struct pcow *p = img_open(path, PCOW_FMT_PCOW, PCOW_TRY_BASE);
	if (!p)
		return EXIT_FAIL;
	const char *why = pcow_base_error(p);
	if (why)
		warn_base(why);
	if (mo.json)
		mo.arr = json_object_new_array();
	else
		printf("%-20s %-20s %-20s %-9s %-5s %s\n", "Offset", "Length", "Mapped to",
		       "Kind", "Layer", "File");
	int r = map_range(&mo, p, 0, 0, pcow_size(p));
	map_flush(&mo);
	if (mo.json) {
		if (!r)
			print_json(mo.arr);
		else
			json_object_put(mo.arr);
	}
	if (img_close(p, path))
		r = EXIT_FAIL;
	return r;
}

static int cmd_resize(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "shrink", no_argument, NULL, 'S' }, COMMON_LONG, { 0 }
	};
	int c, fmt = PCOW_FMT_PCOW;
	bool shrink = false;

	while ((c = getopt_long(argc, argv, "+:f:h", lo, NULL)) != -1) {
		switch (c) {
		case 'f': fmt = fmt_arg("-f", optarg); break;
		case 'S': shrink = true; break;
		case 'h': help_exit();
		default: bad_option(c);
		}
	}
	need_args(argc, 2, 2);
	const char *path = argv[optind], *sz = argv[optind + 1];
	bool rel = sz[0] == '+', minus = sz[0] == '-';
	if (minus && !shrink)
		die_usage("invalid size '%s': shrinking needs --shrink", sz);
	uint64_t s = size_arg("size", rel || minus ? sz + 1 : sz);
	/* a raw file is resized only when named raw (-f raw): a file that
	 * is not a pcow image is not resized by mistake */
	struct pcow *p = img_open(path, fmt, PCOW_RDWR);
	if (!p)
		return EXIT_FAIL;
	uint64_t cur = img_size(p);
	if (rel)
		s += cur;
	if (minus)
		s = s > cur ? 0 : cur - s;
	int r = 0;
	if (s < cur && !shrink)
		r = fail("%s: shrinking (%" PRIu64 " to %" PRIu64 ") needs --shrink (a raw "
			 "image loses what is cut; a pcow image shrinks only over an "
			 "unallocated tail)", path, cur, s);
	else if (fmt == PCOW_FMT_RAW ? pcow_raw_resize(p, s) : pcow_resize(p, s))
		r = fail_img(p);
	else
		printf("Image resized.\n");
	if (img_close(p, path))
		r = EXIT_FAIL;
	return r;
}

static int cmd_measure(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "size", required_argument, NULL, 's' },
		{ "output", required_argument, NULL, 'o' },
		{ "cluster-size", required_argument, NULL, 'c' }, FORCE_SHARE_LONG, COMMON_LONG,
		{ 0 }
	};
	uint64_t vsize = 0, data = 0;
	bool have_size = false, json = false;
	unsigned cbits = PCOW_DEFAULT_CLUSTER_BITS;
	int c, sfmt = PCOW_FMT_AUTO;

	reads_only = true;
	while ((c = getopt_long(argc, argv, "+:O:f:c:Uh", lo, NULL)) != -1) {
		switch (c) {
		case 'U': force_share(); break;
		case 's': vsize = size_arg("--size", optarg); have_size = true; break;
		case 'o': json = json_out(optarg); break;
		case 'O':
			if (strcmp(optarg, "pcow"))
				die_usage("invalid format '%s' for -O (only pcow)", optarg);
			break;
		case 'f': sfmt = fmt_arg("-f", optarg); break;
		case 'c': cbits = cluster_bits_arg("-c", optarg); break;
		case 'h': help_exit();
		default: bad_option(c);
		}
	}
	if (have_size) {
		need_args(argc, 0, 0);
		if (vsize > PCOW_MAX_VIRTUAL_SIZE)
			die_usage("invalid size %" PRIu64 " for --size", vsize);
	} else {
		need_args(argc, 1, 1);
		const char *path = argv[optind];
		struct pcow *p = img_open(path, sfmt, 0);
		if (!p)
			return EXIT_FAIL;
		vsize = img_size(p);
		/* allocation metadata is enough (as qemu-img): every cluster of
		 * the target size that an allocated range touches counts; one
		 * extent at a time, nothing read: linear */
		uint64_t last = UINT64_MAX;	/* the last cluster counted */
		for (uint64_t off = 0; off < vsize;) {
			struct pcow_map m;
			if (view_translate(p, off, 0, &m)) {
				img_close(p, path);
				return EXIT_FAIL;
			}
			if (!reads_zero(m.kind) && m.len) {
				uint64_t c0 = off >> cbits, c1 = (off + m.len - 1) >> cbits;
				data += c1 - c0 + 1 - (c0 == last);
				last = c1;
			}
			off += m.len;
		}
		img_close(p, path);
	}
	uint64_t req, full;
	pcow_measure(vsize, cbits, data, &req, &full);
	if (json) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "required", json_object_new_int64((int64_t)req));
		json_object_object_add(o, "fully-allocated", json_object_new_int64((int64_t)full));
		print_json(o);
	}
	else
		printf("required size: %" PRIu64 "\nfully allocated size: %" PRIu64 "\n",
		       req, full);
	return 0;
}

/* bytes from off known to read as zeros without reading (0: unknown);
 * probed with a small limit first, so data costs no long classification */
static uint64_t zero_run(struct pcow *p, uint64_t size, uint64_t off, uint64_t small)
{
	struct pcow_map m;

	if (off >= size)
		return UINT64_MAX;
	if (view_translate(p, off, small, &m) || !reads_zero(m.kind))
		return 0;
	if (m.len == small && view_translate(p, off, 0, &m))
		return 0;
	return reads_zero(m.kind) ? m.len : 0;
}

static int cmd_compare(int argc, char **argv)
{
	static const struct option lo[] = { FORCE_SHARE_LONG, COMMON_LONG, { 0 } };
	int fa = PCOW_FMT_AUTO, fb = PCOW_FMT_AUTO, c;
	bool strict = false, quiet = false, prog_forced = false;

	reads_only = true;
	while ((c = getopt_long(argc, argv, "+:f:F:sqpUh", lo, NULL)) != -1) {
		switch (c) {
		case 'U': force_share(); break;
		case 'q': quiet = true; break;
		case 'p': prog_forced = true; break;
		case 'f': fa = fmt_arg("-f", optarg); break;
		case 'F': fb = fmt_arg("-F", optarg); break;
		case 's': strict = true; break;
		case 'h': help_exit();
		default: bad_option(c);
		}
	}
	need_args(argc, 2, 2);
	const char *pa = argv[optind], *pb = argv[optind + 1];
	struct pcow *a = img_open(pa, fa, 0), *b = a ? img_open(pb, fb, 0) : NULL;
	if (!b) {
		img_close(a, pa);
		return 2;
	}
	uint64_t sa = img_size(a), sb = img_size(b);
	int r = 0;
	/* -q: the exit status only (errors still go to stderr) */
	FILE *out = quiet ? fopen("/dev/null", "w") : stdout;
	if (!out)
		out = stdout;
	progress_on = !quiet && (prog_forced || isatty(2));
	if (strict && sa != sb) {
		fprintf(out, "Strict mode: Image size mismatch!\n");
		r = 1;
	} else if (sa != sb) {
		/* as qemu-img: the longer one's tail must read as zeros */
		fprintf(out, "Warning: Image size mismatch!\n");
	}
	const size_t chunk = 1u << 20;
	uint8_t *x = malloc(chunk), *y = malloc(chunk);
	uint64_t max = sa > sb ? sa : sb;
	if (!x || !y)
		r = 2;
	progress(0, max);
	for (uint64_t off = 0; !r && off < max; progress(off, max)) {
		/* both sides holes here: skip without reading */
		uint64_t za = zero_run(a, sa, off, chunk), zb = za ? zero_run(b, sb, off, chunk) : 0;
		uint64_t z = za < zb ? za : zb;
		if (z >= chunk || (z && off + z >= max)) {
			z = z > max - off ? max - off : z;
			off += z & ~(uint64_t)(chunk - 1) ? z & ~(uint64_t)(chunk - 1) : z;
			continue;
		}
		size_t n = max - off < chunk ? (size_t)(max - off) : chunk;
		size_t na = off >= sa ? 0 : sa - off < n ? (size_t)(sa - off) : n;
		size_t nb = off >= sb ? 0 : sb - off < n ? (size_t)(sb - off) : n;
		memset(x, 0, n);
		memset(y, 0, n);
		if ((na && img_read(a, x, na, off)) || (nb && img_read(b, y, nb, off))) {
			r = 2;
			break;
		}
		if (memcmp(x, y, n)) {
			size_t i = 0;
			while (x[i] == y[i])
				i++;
			fprintf(out, "Content mismatch at offset %" PRIu64 "!\n", off + i);
			r = 1;
		}
		off += n;
	}
	if (!r)
		progress(max, max);
	if (!r)
		fprintf(out, "Images are identical.\n");
	if (out != stdout)
		fclose(out);
	free(x);
	free(y);
	img_close(a, pa);
	img_close(b, pb);
	return r;
}

static const struct cmd cmds[] = {
	{ "create", cmd_create, "create [-b BASE [-F raw|pcow]] [-c CLUSTER] [--label-size SIZE] IMG [SIZE]\n"
	  "       pcow-img create <cluster KB> <size GB> IMG    (the reference tool's form)\n"
	  "  SIZE and CLUSTER take K/M/G/T suffixes; CLUSTER is 4K..2M (default 64K);\n"
	  "  without SIZE the base's size is used; a relative BASE is relative to IMG's\n"
	  "  directory (it is stored as given). A base must be a regular file, not a\n"
	  "  symbolic link; a raw base must keep its size (docs/pcow-format.md).\n"
	  "  --label-size SIZE (or -o label-size=SIZE): an NVDIMM label storage area in\n"
	  "  the image, 128K..16M in 4K steps; over a pcow base with one, the overlay\n"
	  "  gets a copy of the base's labels unless another size is given." },
	{ "info", cmd_info, "info [-U] [--backing-chain] [--output=human|json] IMG\n"
	  "  a base that cannot be opened (missing, changed) is reported, not fatal;\n"
	  "  --backing-chain shows every image of the chain" },
	{ "check", cmd_check, "check [-r leaks|all | -U] [--output=human|json] IMG\n"
	  "  exit status: 0 clean, 1 check failed to run, 2 corruption, 3 leaks only" },
	{ "snapshot", cmd_snapshot, "snapshot -c NAME | -l [-U] | -a NAME | -d NAME IMG\n"
	  "  -c create, -l list, -a apply (revert to NAME; later snapshots stay), -d delete" },
	{ "convert", cmd_convert, "convert [-U] [-n] [-s SNAPSHOT] [-B BASE [-F FMT]] [-f raw|pcow]\n"
	  "        [-O pcow|raw] [-o cluster_size=CLUSTER] [-S SIZE] [-t writeback|unsafe]\n"
	  "        [-p] [-q] SRC DST\n"
	  "  DST must not exist: it is built under a temporary name and renamed into\n"
	  "  place when complete; -n writes into the existing DST instead (at least SRC's\n"
	  "  size; what reads as zeros in SRC is zeroed in DST);\n"
	  "  -S SIZE: zero runs of SIZE (rounded up to a power of two, at least 512) are\n"
	  "  not written (default: a cluster); -S 0 writes everything (full allocation);\n"
	  "  -s NAME (or -l [snapshot.name=]NAME) exports SRC's snapshot NAME;\n"
	  "  -B BASE makes DST over BASE (as create -b) holding only what differs;\n"
	  "  -c CLUSTER is the cluster size (not qemu-img's compress), -o cluster_size=\n"
	  "  the documented form;\n"
	  "  progress is shown on a terminal (-p forces it, -q hides it);\n"
	  "  -t unsafe skips flushing DST (a crash may lose or damage it; qemu-img's default)" },
	{ "commit", cmd_commit, "commit [-d] [-q] IMG\n"
	  "  copy what IMG shows into its base image, then empty IMG (-d: keep it); the\n"
	  "  base is opened writable only if it is the recorded one (uuid; a raw base:\n"
	  "  its size). With snapshots, IMG is kept and each snapshot gets copies of\n"
	  "  the base data it showed" },
	{ "rebase", cmd_rebase, "rebase [-u] -b BASE [-F raw|pcow] IMG\n"
	  "  safe mode keeps IMG's contents (copies what differs); -u only rewrites the\n"
	  "  reference; -b \"\" removes the base. BASE is relative to IMG's directory." },
	{ "map", cmd_map, "map [-U] [--output=human|json] IMG\n"
	  "  where each range's data is, down the chain of bases (depth 0: IMG);\n"
	  "  the ranges of a base that cannot be opened show as kind 'base'" },
	{ "resize", cmd_resize, "resize [-f pcow|raw] [--shrink] IMG [+|-]SIZE\n"
	  "  grows the image; --shrink cuts it: a pcow image only where its tail holds\n"
	  "  no data of the current layer (snapshots keep their sizes), a raw one\n"
	  "  (-f raw) losing what is cut" },
	{ "measure", cmd_measure, "measure [-U] [--output=human|json] [-c CLUSTER] (--size SIZE | [-f FMT] SRC)" },
	{ "compare", cmd_compare, "compare [-U] [-f FMT] [-F FMT] [-s] [-q] [-p] IMG1 IMG2\n"
	  "  -s: a size difference is a difference; otherwise the longer image's tail\n"
	  "  must read as zeros; -q: the exit status only; -p: progress\n"
	  "  exit status: 0 identical, 1 different, 2 error" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: %s COMMAND [options]\n       %s --help | --version\n\n"
		"commands:\n", prog, prog);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %s\n", cmds[i].usage);
	fprintf(f, "\n'%s COMMAND --help' shows one command. Exit status: 0 success, 1 "
		"failure,\n2 bad command line (see each command for check and compare).\n"
		"Images are locked as vmm locks them (flock: exclusive to write, shared to\n"
		"read; bases shared); an image in use is refused at once. -U (--force-share)\n"
		"reads without a lock.\n", prog);
}

int main(int argc, char **argv)
{
	opterr = 0;	/* bad_option() says it, with the program's name */
	if (argc < 2)
		die_usage("no command (try --help)");
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("%s %s (pmvm)\n", prog, PMVM_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		cur_cmd = &cmds[i];
		optind = 1;
		cur_argv = argv + 1;
		return cmds[i].fn(argc - 1, argv + 1);
	}
	die_usage("unknown command '%s' (try --help)", argv[1]);
}
