/*
 * test_nvdimm.c - unit tests of the KVM-free NVDIMM core: option parsing,
 * the backing store (files, locks, sizes), the NFIT bytes, the AML (checked
 * by disassembling with `iasl -d` and evaluating with `acpiexec`), and the
 * DSM decoder with hostile requests. $IASL and $ACPIEXEC name the tools
 * (set by meson); without them those two checks skip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aml.h"
#include "le.h"
#include "nvdimm.h"

static char tmpdir[256];

/* ---- options ------------------------------------------------------------ */

static void test_parse_defaults(void **state)
{
	struct nvdimm_opts o;
	char err[256];

	assert_int_equal(nvdimm_parse_opts("/tmp/x.img", &o, err, sizeof(err)), 0);
	assert_string_equal(o.path, "/tmp/x.img");
	assert_int_equal(o.size, 0);
	assert_int_equal(o.label_size, NVDIMM_LABEL_DEFAULT);
	assert_false(o.readonly);
	assert_true(o.share);
	assert_false(o.unarmed);
	assert_int_equal(o.format, NVDIMM_FMT_AUTO);
	assert_false(o.label_size_set);
	nvdimm_opts_free(&o);

	assert_int_equal(nvdimm_parse_opts("f,format=pcow", &o, err, sizeof(err)), 0);
	assert_int_equal(o.format, NVDIMM_FMT_PCOW);
	nvdimm_opts_free(&o);
	assert_int_equal(nvdimm_parse_opts("f,format=raw,label-size=128K", &o, err,
					   sizeof(err)), 0);
	assert_int_equal(o.format, NVDIMM_FMT_RAW);
	assert_true(o.label_size_set);
	assert_int_equal(o.label_size, NVDIMM_LABEL_DEFAULT);
	nvdimm_opts_free(&o);

	assert_int_equal(nvdimm_parse_opts("f,size=1G,label-size=256K,readonly=on,"
					   "share=off,unarmed=on", &o, err, sizeof(err)), 0);
	assert_int_equal(o.size, 1ULL << 30);
	assert_int_equal(o.label_size, 256 << 10);
	assert_true(o.readonly);
	assert_false(o.share);
	assert_true(o.unarmed);
	nvdimm_opts_free(&o);

	assert_int_equal(nvdimm_parse_opts("f,label-size=0", &o, err, sizeof(err)), 0);
	assert_int_equal(o.label_size, 0);
	assert_true(o.label_size_set);
	nvdimm_opts_free(&o);
}

static void test_parse_bad(void **state)
{
	static const char *bad[] = {
		"", ",size=16M", "f,size=", "f,size=abc", "f,size=15M", "f,size=0",
		"f,size=1Z", "f,size=99999999999999999999", "f,size=16M0",
		"f,label-size=64K", "f,label-size=129K", "f,label-size=32M",
		"f,readonly=maybe", "f,share=", "f,unarmed=2", "f,colour=red", "f,size",
		"f,size=18446744073709551615G", "f,format=qcow2", "f,format=", "f,format=RAW",
		"f,format=raw,format=raw", "f,format=pcowpcowpcow", "f,format=-",
	};
	struct nvdimm_opts o;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (nvdimm_parse_opts(bad[i], &o, err, sizeof(err)) != -1)
			fail_msg("accepted '%s'", bad[i]);
		assert_true(strlen(err) > 0);
		assert_null(strchr(err, '\n'));
	}
	assert_int_equal(nvdimm_parse_opts(NULL, &o, err, sizeof(err)), -1);
}

static void test_parse_size(void **state)
{
	uint64_t v;

	assert_int_equal(nvdimm_parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(nvdimm_parse_size("1K", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(nvdimm_parse_size("64m", &v), 0);
	assert_int_equal(v, 64 << 20);
	assert_int_equal(nvdimm_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(nvdimm_parse_size("1T", &v), 0);
	assert_int_equal(v, 1ULL << 40);
	assert_int_equal(nvdimm_parse_size("-1", &v), -1);
	assert_int_equal(nvdimm_parse_size("16777216T", &v), -1);
	/* One grammar with vmm's -m (issue 9): "1KB" and "1KiB" are 1024. */
	assert_int_equal(nvdimm_parse_size("1KB", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(nvdimm_parse_size("1KiB", &v), 0);
	assert_int_equal(v, 1024);
	assert_int_equal(nvdimm_parse_size("1.5K", &v), 0);
	assert_int_equal(v, 1536);
	assert_int_equal(nvdimm_parse_size(" 1K", &v), -1);
	assert_int_equal(nvdimm_parse_size("1B", &v), -1);
	assert_int_equal(nvdimm_parse_size("", &v), -1);
}

/* ---- backing store ------------------------------------------------------ */

static void path_in_tmp(char *buf, size_t n, const char *name)
{
	snprintf(buf, n, "%s/%s", tmpdir, name);
}

static int open_with(struct nvdimm_backing *b, const char *arg, char *err, size_t errlen)
{
	struct nvdimm_opts o;
	int rc;

	if (nvdimm_parse_opts(arg, &o, err, errlen))
		return -2;
	rc = nvdimm_backing_open(b, &o, err, errlen);
	nvdimm_opts_free(&o);
	return rc;
}

static void test_backing_create_reopen(void **state)
{
	char path[300], arg[400], err[512];
	struct nvdimm_backing b, b2;
	struct stat st;

	path_in_tmp(path, sizeof(path), "create.img");
	unlink(path);
	snprintf(arg, sizeof(arg), "%s,size=16M,label-size=128K", path);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), 0);
	assert_true(b.created);
	assert_int_equal(b.size, 16 << 20);
	assert_ptr_equal(b.label, b.map + b.size);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (16 << 20) + (128 << 10));
	memset(b.map, 0xa5, 4096);
	memcpy(b.label, "LABEL", 5);
	assert_int_equal(nvdimm_backing_sync_label(&b, 0, 5), 0);
	assert_int_equal(nvdimm_backing_flush(&b), 0);

	/* A second writer is refused while the first holds the file. */
	snprintf(arg, sizeof(arg), "%s", path);
	assert_int_equal(open_with(&b2, arg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "in use"));
	/* ... and so is a reader. */
	snprintf(arg, sizeof(arg), "%s,readonly=on", path);
	assert_int_equal(open_with(&b2, arg, err, sizeof(err)), -1);
	nvdimm_backing_close(&b);

	/* Reopen without size=: the size comes from the file. */
	snprintf(arg, sizeof(arg), "%s", path);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), 0);
	assert_false(b.created);
	assert_int_equal(b.size, 16 << 20);
	assert_int_equal(b.map[100], 0xa5);
	assert_memory_equal(b.label, "LABEL", 5);
	nvdimm_backing_close(&b);

	/* Two read-only users at once. */
	snprintf(arg, sizeof(arg), "%s,readonly=on", path);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), 0);
	assert_int_equal(open_with(&b2, arg, err, sizeof(err)), 0);
	assert_true(b.readonly);
	assert_int_equal(b2.map[100], 0xa5);
	assert_int_equal(nvdimm_backing_flush(&b), 0);
	nvdimm_backing_close(&b);
	nvdimm_backing_close(&b2);

	/* share=off: stores stay private. */
	snprintf(arg, sizeof(arg), "%s,share=off", path);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), 0);
	b.map[100] = 0x11;
	assert_int_equal(nvdimm_backing_flush(&b), 0);
	nvdimm_backing_close(&b);
	snprintf(arg, sizeof(arg), "%s,readonly=on", path);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), 0);
	assert_int_equal(b.map[100], 0xa5);
	nvdimm_backing_close(&b);
	unlink(path);
}

static void test_backing_errors(void **state)
{
	char path[300], arg[400], err[512];
	struct nvdimm_backing b;
	int fd;

	path_in_tmp(path, sizeof(path), "missing.img");
	unlink(path);
	snprintf(arg, sizeof(arg), "%s", path);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "size="));
	snprintf(arg, sizeof(arg), "%s,size=16M,readonly=on", path);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), -1);
	assert_int_equal(access(path, F_OK), -1);

	/* A file whose size minus the labels is not 16M aligned. */
	path_in_tmp(path, sizeof(path), "odd.img");
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 20 << 20), 0);
	close(fd);
	snprintf(arg, sizeof(arg), "%s", path);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "multiple of 16M"));
	/* size= that disagrees with the file. */
	snprintf(arg, sizeof(arg), "%s,size=16M", path);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "needs"));
	/* Too small for the labels. */
	assert_int_equal(truncate(path, 64 << 10), 0);
	snprintf(arg, sizeof(arg), "%s", path);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too small"));
	/* label-size=0: the whole file is guest-visible. */
	assert_int_equal(truncate(path, 16 << 20), 0);
	snprintf(arg, sizeof(arg), "%s,label-size=0", path);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), 0);
	assert_null(b.label);
	assert_int_equal(b.size, 16 << 20);
	nvdimm_backing_close(&b);
	unlink(path);

	/* A character device that is not device DAX; a directory. */
	assert_int_equal(open_with(&b, "/dev/null", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a device DAX"));
	snprintf(arg, sizeof(arg), "%s", tmpdir);
	assert_int_equal(open_with(&b, arg, err, sizeof(err)), -1);
}

/* ---- NFIT ----------------------------------------------------------------- */

static void make_descs(struct nvdimm_desc *d, int n)
{
	for (int i = 0; i < n; i++) {
		d[i] = (struct nvdimm_desc){
			.handle = (uint32_t)i + 1,
			.gpa = (8ULL << 30) + (uint64_t)i * (1ULL << 30),
			.size = 64ULL << 20,
			.flush_gpa = 0xd8100000ULL + (uint64_t)i * 4096,
			.label_size = i % 3 == 2 ? 0 : 128 << 10,
			.unarmed = i % 4 == 3,
		};
	}
}

static void test_nfit_layout(void **state)
{
	struct nvdimm_desc d[2];
	uint8_t buf[NVDIMM_NFIT_BODY_LEN(2)];
	const uint8_t *p;
	static const uint8_t guid[16] = { 0x79, 0xd3, 0xf0, 0x66, 0xf3, 0xb4, 0x74, 0x40,
					  0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7, 0x8c, 0xdb };

	make_descs(d, 2);
	d[1].unarmed = true;
	assert_int_equal(nvdimm_nfit_build(d, 2, buf, sizeof(buf) - 1), 0);
	assert_int_equal(nvdimm_nfit_build(d, 2, buf, sizeof(buf)), sizeof(buf));
	assert_int_equal(get_le32(buf), 0);
	p = buf + 4;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(get_le16(p), 0);               /* SPA */
		assert_int_equal(get_le16(p + 2), 56);
		assert_int_equal(get_le16(p + 4), i + 1);
		assert_memory_equal(p + 16, guid, 16);
		assert_int_equal(get_le64(p + 32), d[i].gpa);
		assert_int_equal(get_le64(p + 40), d[i].size);
		assert_int_equal(get_le64(p + 48), 0x8008);
		p += 56;
		assert_int_equal(get_le16(p), 1);               /* memdev */
		assert_int_equal(get_le16(p + 2), 48);
		assert_int_equal(get_le32(p + 4), d[i].handle);
		assert_int_equal(get_le16(p + 12), i + 1);
		assert_int_equal(get_le16(p + 14), i + 1);
		assert_int_equal(get_le64(p + 16), d[i].size);
		assert_int_equal(get_le16(p + 42), 1);
		assert_int_equal(get_le16(p + 44), i == 1 ? 0x8 : 0);
		p += 48;
		assert_int_equal(get_le16(p), 4);               /* DCR */
		assert_int_equal(get_le16(p + 2), 80);
		assert_int_equal(get_le16(p + 4), i + 1);
		assert_int_equal(get_le16(p + 28), 0x0301);
		assert_int_equal(get_le32(p + 24), 0x706d0000u | (uint32_t)i);
		p += 80;
		assert_int_equal(get_le16(p), 6);               /* flush hint */
		assert_int_equal(get_le16(p + 2), 24);
		assert_int_equal(get_le32(p + 4), d[i].handle);
		assert_int_equal(get_le16(p + 8), 1);
		assert_int_equal(get_le64(p + 16), d[i].flush_gpa);
		p += 24;
	}
	assert_int_equal(get_le16(p), 7);
	assert_int_equal(get_le16(p + 2), 16);
	assert_int_equal(p[4], 1);
	assert_int_equal(get_le32(p + 8), 0);
	assert_ptr_equal(p + 16, buf + sizeof(buf));

	d[0].handle = 0;
	assert_int_equal(nvdimm_nfit_build(d, 2, buf, sizeof(buf)), 0);
	assert_int_equal(nvdimm_nfit_build(d, NVDIMM_MAX + 1, buf, sizeof(buf)), 0);
}

/* A whole ACPI table (header + body) written to dir/name. */
static void write_table(const char *path, const char sig[4], uint8_t rev,
			const void *body, size_t len)
{
	uint8_t *t = calloc(1, 36 + len);
	uint8_t sum = 0;
	FILE *f;

	assert_non_null(t);
	memcpy(t, sig, 4);
	put_le32(t + 4, (uint32_t)(36 + len));
	t[8] = rev;
	memcpy(t + 10, "PMVM  ", 6);
	memcpy(t + 16, "PMVMTEST", 8);
	put_le32(t + 24, 1);
	memcpy(t + 28, "PMVM", 4);
	put_le32(t + 32, 1);
	memcpy(t + 36, body, len);
	for (size_t i = 0; i < 36 + len; i++)
		sum = (uint8_t)(sum + t[i]);
	t[9] = (uint8_t)(0x100 - sum);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(t, 1, 36 + len, f), 36 + len);
	fclose(f);
	free(t);
}

/* Run a shell command, return its combined output (malloc'd). */
static char *run(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);

	assert_non_null(p);
	assert_non_null(out);
	for (;;) {
		size_t n = fread(out + len, 1, cap - len - 1, p);
		if (n == 0)
			break;
		len += n;
		if (cap - len < 4096) {
			cap *= 2;
			out = realloc(out, cap);
			assert_non_null(out);
		}
	}
	out[len] = '\0';
	*status = pclose(p);
	return out;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;
	char *s;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

static const char *tool(const char *env)
{
	const char *t = getenv(env);
	return t && *t ? t : NULL;
}

/* iasl -d: no errors, no warnings, and the disassembly is written. */
static char *iasl_disassemble(const char *dat, const char *dsl)
{
	char cmd[1024], *out, *text;
	int status;

	snprintf(cmd, sizeof(cmd), "cd %s && %s -d %s 2>&1", tmpdir, tool("IASL"), dat);
	out = run(cmd, &status);
	if (status != 0 || strstr(out, "Error") || strstr(out, "Warning") ||
	    strstr(out, "warning"))
		fail_msg("iasl -d %s:\n%s", dat, out);
	free(out);
	text = slurp(dsl);
	assert_non_null(text);
	if (strstr(text, "****") || strstr(text, "Invalid") ||
	    strstr(text, "External ("))
		fail_msg("iasl flagged %s (see %s)", dsl, strstr(text, "****") ? strstr(text, "****") : "Unknown/Invalid");
	return text;
}

static void test_nfit_iasl(void **state)
{
	struct nvdimm_desc d[NVDIMM_MAX];
	static uint8_t buf[NVDIMM_NFIT_BODY_LEN(NVDIMM_MAX)];
	char dat[300], dsl[300];
	size_t len;
	char *text;

	if (!tool("IASL"))
		skip();
	make_descs(d, NVDIMM_MAX);
	for (int n = 1; n <= NVDIMM_MAX; n *= 4) {
		len = nvdimm_nfit_build(d, n, buf, sizeof(buf));
		assert_int_equal(len, NVDIMM_NFIT_BODY_LEN(n));
		snprintf(dat, sizeof(dat), "%s/nfit%d.dat", tmpdir, n);
		snprintf(dsl, sizeof(dsl), "%s/nfit%d.dsl", tmpdir, n);
		write_table(dat, "NFIT", 1, buf, len);
		text = iasl_disassemble(dat, dsl);
		assert_non_null(strstr(text, "66F0D379-B4F3-4074-AC43-0D3318B78CDB"));
		assert_non_null(strstr(text, "Flush Hint Address"));
		assert_non_null(strstr(text, "Platform Capabilities"));
		free(text);
	}
}

/* ---- AML ------------------------------------------------------------------ */

/* A DSDT holding Scope (\_SB) { <nvdimm AML> }, with slots hot-add slots
 * in all (slots <= n: none). */
static void write_dsdt_slots(const char *path, int n, int slots)
{
	struct nvdimm_desc d[NVDIMM_MAX];
	struct aml a;

	make_descs(d, n);
	aml_init(&a);
	aml_scope(&a, "\\_SB");
	nvdimm_aml_build_slots(&a, d, n, slots, 0xd8000000ULL, 0x0a18);
	aml_close(&a);
	assert_true(aml_ok(&a));
	write_table(path, "DSDT", 2, a.buf, a.len);
	aml_free(&a);
}

static void write_dsdt(const char *path, int n)
{
	write_dsdt_slots(path, n, n);
}

static void test_aml_iasl(void **state)
{
	char dat[300], dsl[300];
	char *text;

	if (!tool("IASL"))
		skip();
	for (int n = 1; n <= NVDIMM_MAX; n *= 8) {
		snprintf(dat, sizeof(dat), "%s/dsdt%d.dat", tmpdir, n);
		snprintf(dsl, sizeof(dsl), "%s/dsdt%d.dsl", tmpdir, n);
		write_dsdt(dat, n);
		text = iasl_disassemble(dat, dsl);
		assert_non_null(strstr(text, "ACPI0012"));
		assert_non_null(strstr(text, "Method (_LSI"));
		assert_non_null(strstr(text, "Method (_LSR"));
		assert_non_null(strstr(text, "Method (_LSW"));
		assert_non_null(strstr(text, "Method (_DSM"));
		assert_non_null(strstr(text, "4309ac30-0d11-11e4-9191-0800200c9a66"));
		free(text);
	}
}

/* Hot-add slots: a child per slot whose _DSM goes to the vmm, and _FIT;
 * iasl disassembles them without errors or warnings. */
static void test_aml_slots_iasl(void **state)
{
	char dat[300], dsl[300];
	char *text;

	if (!tool("IASL"))
		skip();
	for (int n = 0; n <= 2; n += 2) {
		snprintf(dat, sizeof(dat), "%s/dsdt-slots%d.dat", tmpdir, n);
		snprintf(dsl, sizeof(dsl), "%s/dsdt-slots%d.dsl", tmpdir, n);
		write_dsdt_slots(dat, n, 4);
		text = iasl_disassemble(dat, dsl);
		assert_non_null(strstr(text, "Method (_FIT, 0, Serialized)"));
		assert_non_null(strstr(text, "Device (NV03)"));
		assert_null(strstr(text, "Device (NV04)"));
		assert_non_null(strstr(text, "Concatenate ("));
		assert_non_null(strstr(text, "While (One)"));
		free(text);
	}
	/* no slots beyond the DIMMs: no _FIT */
	snprintf(dat, sizeof(dat), "%s/dsdt-noslots.dat", tmpdir);
	snprintf(dsl, sizeof(dsl), "%s/dsdt-noslots.dsl", tmpdir);
	write_dsdt_slots(dat, 2, 2);
	text = iasl_disassemble(dat, dsl);
	assert_null(strstr(text, "_FIT"));
	free(text);
}

#define INTEL_UUID_BYTES "(30 AC 09 43 11 0D E4 11 91 91 08 00 20 0C 9A 66)"
#define ROOT_UUID_BYTES  "(A4 E7 10 2F 91 9E E4 11 89 D3 12 3B 93 F7 5C BA)"
#define OTHER_UUID_BYTES "(00 11 22 33 44 55 66 77 88 99 AA BB CC DD EE FF)"

static void test_aml_acpiexec(void **state)
{
	/* Each evaluation and what its output section must contain. The label
	 * read/write paths run against acpiexec's simulated page and port (no
	 * vmm answers): they must execute cleanly and return the right types. */
	static const struct { const char *cmd, *expect[3]; } ev[] = {
		{ "\\_SB.NVDR._HID", { "\"ACPI0012\"" } },
		{ "\\_SB.NVDR.NV00._ADR", { "[Integer] = 0000000000000001" } },
		{ "\\_SB.NVDR.NV02._ADR", { "[Integer] = 0000000000000003" } },
		{ "\\_SB.NVDR.NV00._LSI", { "Contains 3 Elements", "= 0000000000020000",
					    "= 0000000000000FE0" } },
		{ "\\_SB.NVDR.NV02._LSI", { "AE_NOT_FOUND" } },
		{ "\\_SB.NVDR.NV00._DSM " INTEL_UUID_BYTES " 1 0 [ ]", { "Length 01 =     0000: 71" } },
		{ "\\_SB.NVDR.NV00._DSM " INTEL_UUID_BYTES " 2 0 [ ]", { "Length 01 =     0000: 71" } },
		{ "\\_SB.NVDR.NV02._DSM " INTEL_UUID_BYTES " 1 0 [ ]", { "Length 01 =     0000: 01" } },
		{ "\\_SB.NVDR.NV00._DSM " ROOT_UUID_BYTES " 1 0 [ ]", { "Length 01 =     0000: 00" } },
		{ "\\_SB.NVDR.NV00._DSM " OTHER_UUID_BYTES " 1 5 [ ]", { "Length 04 =     0000: 01 00 00 00" } },
		{ "\\_SB.NVDR._DSM " ROOT_UUID_BYTES " 1 0 [ ]", { "Length 01 =     0000: 1F" } },
		/* ARS: through NCAL, a (here empty) Buffer; no longer status 1. */
		{ "\\_SB.NVDR._DSM " ROOT_UUID_BYTES " 1 3 [ ]", { "[Buffer] Length 00" } },
		{ "\\_SB.NVDR._DSM " OTHER_UUID_BYTES " 1 0 [ ]", { "Length 01 =     0000: 00" } },
		{ "\\_SB.NVDR.NV00._DSM " INTEL_UUID_BYTES " 1 5 [(00 00 00 00 10 00 00 00)]",
		  { "[Buffer]" } },
		{ "\\_SB.NVDR.NV00._LSR 0 16", { "Contains 2 Elements", "[Integer]", "[Buffer]" } },
		{ "\\_SB.NVDR.NV00._LSW 0 4 (01 02 03 04)", { "[Integer]" } },
	};
	char dat[300], cmd[8192], *out, *sec[32];
	size_t pos;
	int status, nsec = 0;

	if (!tool("ACPIEXEC"))
		skip();
	snprintf(dat, sizeof(dat), "%s/dsdt-exec.dat", tmpdir);
	write_dsdt(dat, 3);
	pos = (size_t)snprintf(cmd, sizeof(cmd), "%s -b '", tool("ACPIEXEC"));
	for (size_t i = 0; i < sizeof(ev) / sizeof(ev[0]); i++)
		pos += (size_t)snprintf(cmd + pos, sizeof(cmd) - pos, "evaluate %s;", ev[i].cmd);
	snprintf(cmd + pos, sizeof(cmd) - pos, "' %s 2>&1", dat);
	out = run(cmd, &status);
	if (status != 0 || strstr(out, "ACPI Error") || strstr(out, "ACPI Warning") ||
	    strstr(out, "ACPI Exception"))
	{
		printf("%s\n", out);
		fail_msg("acpiexec reported a problem (output above)");
	}
	/* Split the output at each "Evaluating " line. */
	for (char *p = strstr(out, "\nEvaluating "); p && nsec < 32;
	     p = strstr(p + 1, "\nEvaluating ")) {
		sec[nsec++] = p + 1;
	}
	for (int i = 1; i < nsec; i++)
		sec[i][-1] = '\0';
	assert_int_equal(nsec, sizeof(ev) / sizeof(ev[0]));
	for (int i = 0; i < nsec; i++)
		for (int j = 0; j < 3 && ev[i].expect[j]; j++)
			if (!strstr(sec[i], ev[i].expect[j]))
				fail_msg("acpiexec: '%s' lacks '%s':\n%s", ev[i].cmd,
					 ev[i].expect[j], sec[i]);
	free(out);
}

/* _FIT and a slot's _DSM run cleanly in acpiexec (no vmm: the simulated page
 * reads as zeros, so _FIT ends at once with an empty buffer, and the slot's
 * function 0 returns what NCAL read back). */
static void test_aml_slots_acpiexec(void **state)
{
	char dat[300], cmd[2048], *out;
	int status;

	if (!tool("ACPIEXEC"))
		skip();
	snprintf(dat, sizeof(dat), "%s/dsdt-slots-exec.dat", tmpdir);
	write_dsdt_slots(dat, 1, 3);
	snprintf(cmd, sizeof(cmd), "%s -b 'evaluate \\_SB.NVDR._FIT; "
		 "evaluate \\_SB.NVDR.NV02._ADR; evaluate \\_SB.NVDR.NV02._DSM "
		 INTEL_UUID_BYTES " 1 0 [ ]' %s 2>&1", tool("ACPIEXEC"), dat);
	out = run(cmd, &status);
	if (status != 0 || strstr(out, "ACPI Error") || strstr(out, "ACPI Warning") ||
	    strstr(out, "ACPI Exception") || !strstr(out, "[Buffer] Length 00") ||
	    !strstr(out, "[Integer] = 0000000000000003")) {
		printf("%s\n", out);
		fail_msg("acpiexec: _FIT or a slot device misbehaved (output above)");
	}
	free(out);
}

/* ---- DSM decoder ---------------------------------------------------------- */

#define GUARD 4096
struct fixture {
	uint8_t *mem[3];         /* guard | label | guard */
	struct nvdimm_label_area areas[3];
	struct nvdimm_dsm ctx;
	uint8_t page[NVDIMM_PAGE];
	int writes;
	uint64_t last_off, last_len;
};

static int on_write(void *opaque, int idx, uint64_t off, uint64_t len)
{
	struct fixture *f = opaque;
	f->writes++;
	f->last_off = off;
	f->last_len = len;
	return 0;
}

static int dsm_setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	uint64_t sizes[3] = { 128 << 10, 256 << 10, 0 };

	assert_non_null(f);
	for (int i = 0; i < 3; i++) {
		f->mem[i] = malloc(GUARD + sizes[i] + GUARD);
		assert_non_null(f->mem[i]);
		memset(f->mem[i], 0xee, GUARD + sizes[i] + GUARD);
		memset(f->mem[i] + GUARD, 0, sizes[i]);
		f->areas[i].base = sizes[i] ? f->mem[i] + GUARD : NULL;
		f->areas[i].size = sizes[i];
	}
	f->areas[1].readonly = true;
	f->ctx.areas = f->areas;
	f->ctx.n = 3;
	f->ctx.label_written = on_write;
	f->ctx.opaque = f;
	*state = f;
	return 0;
}

static void check_guards(struct fixture *f)
{
	uint64_t sizes[3] = { 128 << 10, 256 << 10, 0 };

	for (int i = 0; i < 3; i++)
		for (uint64_t j = 0; j < GUARD; j++) {
			assert_int_equal(f->mem[i][j], 0xee);
			assert_int_equal(f->mem[i][GUARD + sizes[i] + j], 0xee);
		}
}

static int dsm_teardown(void **state)
{
	struct fixture *f = *state;

	check_guards(f);
	for (int i = 0; i < 3; i++)
		free(f->mem[i]);
	free(f);
	return 0;
}

/* Build a request in f->page and run it; returns the status and leaves the
 * response in f->page. */
static uint32_t call(struct fixture *f, uint32_t handle, uint32_t rev, uint32_t fn,
		     const void *in, uint32_t inlen)
{
	memset(f->page, 0xcc, sizeof(f->page));
	put_le32(f->page, handle);
	put_le32(f->page + 4, rev);
	put_le32(f->page + 8, fn);
	put_le32(f->page + 12, inlen);
	if (in)
		memcpy(f->page + 16, in, inlen < NVDIMM_DSM_IN_MAX ? inlen : NVDIMM_DSM_IN_MAX);
	return nvdimm_dsm_handle(&f->ctx, f->page);
}

static uint32_t rw(struct fixture *f, uint32_t handle, uint32_t fn, uint32_t off,
		   uint32_t len, const void *data, uint32_t datalen)
{
	uint8_t in[NVDIMM_DSM_IN_MAX];

	put_le32(in, off);
	put_le32(in + 4, len);
	if (data)
		memcpy(in + 8, data, datalen);
	return call(f, handle, 1, fn, in, 8 + datalen);
}

static void expect_status(struct fixture *f, uint32_t status)
{
	assert_int_equal(get_le32(f->page), 4);
	assert_int_equal(get_le32(f->page + 4), status);
}

static void test_dsm_query_and_size(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(call(f, 1, 1, NVDIMM_FN_QUERY, NULL, 0), 0);
	assert_int_equal(get_le32(f->page), 1);
	assert_int_equal(f->page[4], 0x71);
	assert_int_equal(call(f, 3, 1, NVDIMM_FN_QUERY, NULL, 0), 0);
	assert_int_equal(f->page[4], 0x01);
	assert_int_equal(call(f, 0, 1, NVDIMM_FN_QUERY, NULL, 0), 0);
	assert_int_equal(f->page[4], 0x00);
	assert_int_equal(call(f, 0, 1, 1, NULL, 0), NVDIMM_ST_UNSUPPORTED);

	assert_int_equal(call(f, 2, 1, NVDIMM_FN_GET_LABEL_SIZE, NULL, 0), 0);
	assert_int_equal(get_le32(f->page), 12);
	assert_int_equal(get_le32(f->page + 4), 0);
	assert_int_equal(get_le32(f->page + 8), 256 << 10);
	assert_int_equal(get_le32(f->page + 12), NVDIMM_MAX_XFER);
	assert_int_equal(call(f, 3, 1, NVDIMM_FN_GET_LABEL_SIZE, NULL, 0), NVDIMM_ST_UNSUPPORTED);
	assert_int_equal(call(f, 1, 2, NVDIMM_FN_GET_LABEL_SIZE, NULL, 0), NVDIMM_ST_UNSUPPORTED);
	assert_int_equal(call(f, 1, 1, 7, NULL, 0), NVDIMM_ST_UNSUPPORTED);
	expect_status(f, NVDIMM_ST_UNSUPPORTED);
	assert_int_equal(call(f, 1, 1, 0xffffffff, NULL, 0), NVDIMM_ST_UNSUPPORTED);
}

/* NVDIMM_FN_FIT: chunks from an offset, the end, a change mid-pass, bad
 * input; an empty slot's function 0. */
static void test_dsm_fit(void **state)
{
	struct fixture *f = *state;
	static uint8_t fit[NVDIMM_FIT_CHUNK * 2 + 100];
	uint8_t in[4];

	for (size_t i = 0; i < sizeof(fit); i++)
		fit[i] = (uint8_t)(i * 7 + 1);
	put_le32(in, 0);
	assert_int_equal(call(f, 0, 1, NVDIMM_FN_FIT, in, 4), NVDIMM_ST_UNSUPPORTED);
	f->ctx.fit = fit;
	f->ctx.fit_len = sizeof(fit);
	f->ctx.fit_gen = 1;
	for (uint32_t off = 0; off <= sizeof(fit); off += NVDIMM_FIT_CHUNK) {
		uint32_t want = sizeof(fit) - off < NVDIMM_FIT_CHUNK ? sizeof(fit) - off
								     : NVDIMM_FIT_CHUNK;

		put_le32(in, off);
		assert_int_equal(call(f, 0, 1, NVDIMM_FN_FIT, in, 4), 0);
		assert_int_equal(get_le32(f->page), 4 + want);
		assert_int_equal(get_le32(f->page + 4), 0);
		assert_memory_equal(f->page + 8, fit + off, want);
	}
	put_le32(in, sizeof(fit));
	assert_int_equal(call(f, 0, 1, NVDIMM_FN_FIT, in, 4), 0);
	assert_int_equal(get_le32(f->page), 4);    /* the end: no bytes */
	put_le32(in, sizeof(fit) + 1);
	assert_int_equal(call(f, 0, 1, NVDIMM_FN_FIT, in, 4), NVDIMM_ST_INVALID);
	put_le32(in, 0xffffffff);
	assert_int_equal(call(f, 0, 1, NVDIMM_FN_FIT, in, 4), NVDIMM_ST_INVALID);
	assert_int_equal(call(f, 0, 1, NVDIMM_FN_FIT, in, 3), NVDIMM_ST_INVALID);
	/* the FIT changes during a pass: the next read says so, offset 0
	 * starts over */
	put_le32(in, 0);
	assert_int_equal(call(f, 0, 1, NVDIMM_FN_FIT, in, 4), 0);
	f->ctx.fit_gen++;
	put_le32(in, NVDIMM_FIT_CHUNK);
	assert_int_equal(call(f, 0, 1, NVDIMM_FN_FIT, in, 4), NVDIMM_ST_FIT_CHANGED);
	expect_status(f, NVDIMM_ST_FIT_CHANGED);
	put_le32(in, 0);
	assert_int_equal(call(f, 0, 1, NVDIMM_FN_FIT, in, 4), 0);
	put_le32(in, NVDIMM_FIT_CHUNK);
	assert_int_equal(call(f, 0, 1, NVDIMM_FN_FIT, in, 4), 0);
	/* only the root reads the FIT */
	assert_int_equal(call(f, 1, 1, NVDIMM_FN_FIT, in, 4), NVDIMM_ST_UNSUPPORTED);
	/* an empty hot-add slot (handle 4 of 3 DIMMs) has no functions */
	assert_int_equal(call(f, 4, 1, NVDIMM_FN_QUERY, NULL, 0), 0);
	assert_int_equal(get_le32(f->page), 1);
	assert_int_equal(f->page[4], 0x00);
}

static void test_dsm_label_roundtrip(void **state)
{
	struct fixture *f = *state;
	uint8_t data[NVDIMM_MAX_XFER];
	uint32_t last = (128 << 10) - NVDIMM_MAX_XFER;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	/* Intel function 6 then 5, at the very end of the area. */
	assert_int_equal(rw(f, 1, NVDIMM_FN_SET_LABEL_DATA, last, sizeof(data), data,
			    sizeof(data)), 0);
	expect_status(f, 0);
	assert_int_equal(f->writes, 1);
	assert_int_equal(f->last_off, last);
	assert_int_equal(f->last_len, sizeof(data));
	assert_memory_equal(f->areas[0].base + last, data, sizeof(data));
	assert_int_equal(rw(f, 1, NVDIMM_FN_GET_LABEL_DATA, last, sizeof(data), NULL, 0), 0);
	assert_int_equal(get_le32(f->page), 4 + sizeof(data));
	assert_int_equal(get_le32(f->page + 4), 0);
	assert_memory_equal(f->page + 8, data, sizeof(data));

	/* The ACPI label methods' functions. */
	assert_int_equal(rw(f, 1, NVDIMM_FN_LSW, 0, 16, "0123456789abcdef", 16), 0);
	assert_int_equal(rw(f, 1, NVDIMM_FN_LSR, 0, 16, NULL, 0), 0);
	assert_int_equal(get_le32(f->page), 20);
	assert_memory_equal(f->page + 8, "0123456789abcdef", 16);
	/* Zero-length transfers are valid, even at the end. */
	assert_int_equal(rw(f, 1, NVDIMM_FN_LSR, 128 << 10, 0, NULL, 0), 0);
	assert_int_equal(get_le32(f->page), 4);
}

static void test_dsm_hostile(void **state)
{
	struct fixture *f = *state;
	uint8_t data[NVDIMM_DSM_IN_MAX];
	uint64_t errors = f->ctx.errors;
	int writes = f->writes;

	memset(data, 0x5a, sizeof(data));
	/* Bad handles. */
	assert_int_equal(rw(f, 4, NVDIMM_FN_GET_LABEL_DATA, 0, 4, NULL, 0), NVDIMM_ST_NO_DEVICE);
	assert_int_equal(rw(f, 0xffffffff, NVDIMM_FN_SET_LABEL_DATA, 0, 4, data, 4),
			 NVDIMM_ST_NO_DEVICE);
	assert_int_equal(rw(f, 99, NVDIMM_FN_LSR, 0, 4, NULL, 0), NVDIMM_LS_INVALID);
	/* Offsets and lengths outside the area, and overflowing ones. */
	assert_int_equal(rw(f, 1, NVDIMM_FN_GET_LABEL_DATA, 128 << 10, 1, NULL, 0),
			 NVDIMM_ST_INVALID);
	assert_int_equal(rw(f, 1, NVDIMM_FN_GET_LABEL_DATA, (128 << 10) - 1, 2, NULL, 0),
			 NVDIMM_ST_INVALID);
	assert_int_equal(rw(f, 1, NVDIMM_FN_GET_LABEL_DATA, 0xffffffff, 1, NULL, 0),
			 NVDIMM_ST_INVALID);
	assert_int_equal(rw(f, 1, NVDIMM_FN_GET_LABEL_DATA, 0xfffffff0, 0x20, NULL, 0),
			 NVDIMM_ST_INVALID);
	assert_int_equal(rw(f, 1, NVDIMM_FN_GET_LABEL_DATA, 0, NVDIMM_MAX_XFER + 1, NULL, 0),
			 NVDIMM_ST_INVALID);
	assert_int_equal(rw(f, 1, NVDIMM_FN_GET_LABEL_DATA, 0, 0xffffffff, NULL, 0),
			 NVDIMM_ST_INVALID);
	assert_int_equal(rw(f, 1, NVDIMM_FN_SET_LABEL_DATA, (128 << 10) - 8, 16, data, 16),
			 NVDIMM_ST_INVALID);
	assert_int_equal(rw(f, 1, NVDIMM_FN_LSW, 0xfffffff8, 16, data, 16), NVDIMM_LS_INVALID);
	assert_int_equal(rw(f, 1, NVDIMM_FN_LSR, 1 << 20, 16, NULL, 0), NVDIMM_LS_INVALID);
	/* Length says more data than the request carries. */
	assert_int_equal(rw(f, 1, NVDIMM_FN_SET_LABEL_DATA, 0, 64, data, 32), NVDIMM_ST_INVALID);
	/* Input length shorter than the header, or beyond the page. */
	assert_int_equal(call(f, 1, 1, NVDIMM_FN_GET_LABEL_DATA, data, 7), NVDIMM_ST_INVALID);
	assert_int_equal(call(f, 1, 1, NVDIMM_FN_SET_LABEL_DATA, data, 0), NVDIMM_ST_INVALID);
	assert_int_equal(call(f, 1, 1, NVDIMM_FN_GET_LABEL_DATA, data, NVDIMM_DSM_IN_MAX + 1),
			 NVDIMM_ST_INVALID);
	assert_int_equal(call(f, 1, 1, NVDIMM_FN_LSW, data, 0xffffffff), NVDIMM_LS_INVALID);
	/* Read-only DIMM: reads work, writes are refused. */
	assert_int_equal(rw(f, 2, NVDIMM_FN_GET_LABEL_DATA, 0, 8, NULL, 0), 0);
	assert_int_equal(rw(f, 2, NVDIMM_FN_SET_LABEL_DATA, 0, 8, data, 8), NVDIMM_ST_UNSUPPORTED);
	assert_int_equal(rw(f, 2, NVDIMM_FN_LSW, 0, 8, data, 8), NVDIMM_LS_LOCKED);
	assert_int_equal(f->areas[1].base[0], 0);
	/* DIMM without labels. */
	assert_int_equal(rw(f, 3, NVDIMM_FN_GET_LABEL_DATA, 0, 8, NULL, 0), NVDIMM_ST_UNSUPPORTED);
	assert_int_equal(rw(f, 3, NVDIMM_FN_LSR, 0, 0, NULL, 0), NVDIMM_LS_INVALID);
	assert_int_equal(rw(f, 3, NVDIMM_FN_LSW, 0, 0, NULL, 0), NVDIMM_LS_INVALID);

	assert_int_equal(f->writes, writes);
	assert_int_equal(f->ctx.errors, errors + 22);
	check_guards(f);
}

static void test_dsm_random(void **state)
{
	struct fixture *f = *state;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	/* Random pages, biased towards plausible headers. */
	for (int iter = 0; iter < 200000; iter++) {
		for (size_t i = 0; i < 64; i += 8) {
			x ^= x << 13; x ^= x >> 7; x ^= x << 17;
			memcpy(f->page + i, &x, 8);
		}
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		if (x & 1)
			put_le32(f->page, (uint32_t)(x >> 8) % 5);
		if (x & 2)
			put_le32(f->page + 8, (x & 4) ? 5 + (uint32_t)((x >> 16) & 1)
					       : 0x1005 + (uint32_t)((x >> 16) & 1));
		if (x & 8)
			put_le32(f->page + 12, (uint32_t)(x >> 20) % 5000);
		if (x & 16)
			put_le32(f->page + 16, (uint32_t)(x >> 24) % (300 << 10));
		if (x & 32)
			put_le32(f->page + 20, (uint32_t)(x >> 32) % 5000);
		nvdimm_dsm_handle(&f->ctx, f->page);
		assert_true(get_le32(f->page) <= NVDIMM_DSM_OUT_MAX);
	}
	check_guards(f);
}

static void test_label_at(void **state)
{
	uint8_t buf[64];
	struct nvdimm_label_area la = { buf, sizeof(buf), false }, none = { NULL, 0, false };

	assert_ptr_equal(nvdimm_label_at(&la, 0, 64), buf);
	assert_ptr_equal(nvdimm_label_at(&la, 64, 0), buf + 64);
	assert_null(nvdimm_label_at(&la, 64, 1));
	assert_null(nvdimm_label_at(&la, 65, 0));
	assert_null(nvdimm_label_at(&la, 1, UINT64_MAX));
	assert_null(nvdimm_label_at(&la, UINT64_MAX, 2));
	assert_null(nvdimm_label_at(&none, 0, 0));
	assert_null(nvdimm_label_at(NULL, 0, 0));
}

static void test_child_names(void **state)
{
	char n[5];

	nvdimm_child_name(0, n);
	assert_string_equal(n, "NV00");
	nvdimm_child_name(63, n);
	assert_string_equal(n, "NV3F");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_defaults),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_backing_create_reopen),
		cmocka_unit_test(test_backing_errors),
		cmocka_unit_test(test_nfit_layout),
		cmocka_unit_test(test_nfit_iasl),
		cmocka_unit_test(test_aml_iasl),
		cmocka_unit_test(test_aml_acpiexec),
		cmocka_unit_test(test_aml_slots_iasl),
		cmocka_unit_test(test_aml_slots_acpiexec),
		cmocka_unit_test_setup_teardown(test_dsm_fit, dsm_setup, dsm_teardown),
		cmocka_unit_test(test_label_at),
		cmocka_unit_test(test_child_names),
		cmocka_unit_test_setup_teardown(test_dsm_query_and_size, dsm_setup, dsm_teardown),
		cmocka_unit_test_setup_teardown(test_dsm_label_roundtrip, dsm_setup, dsm_teardown),
		cmocka_unit_test_setup_teardown(test_dsm_hostile, dsm_setup, dsm_teardown),
		cmocka_unit_test_setup_teardown(test_dsm_random, dsm_setup, dsm_teardown),
	};
	char cmd[300];
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pmvm-nvdimm-test.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (getenv("PMVM_KEEP_TMP"))
		fprintf(stderr, "kept %s\n", tmpdir);
	else if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return rc;
}
