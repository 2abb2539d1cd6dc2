/*
 * test_iasl.c - pmvm's ACPI tables as ACPICA sees them.
 *
 * usage: test_iasl IASL ACPIEXEC   (meson passes the found programs; an
 * empty path means "not installed": SKIP, exit 77)
 *
 * For 1, 2 and 64 vCPUs (the last two with a fake module adding DSDT AML,
 * an NFIT and two SSDTs), builds the tables, dumps them as SIG.dat and:
 *  - runs iasl -d on every table: exit 0 and no warning, error or remark;
 *    the DSDT again with the SSDTs as -e externals;
 *  - compiles each disassembly back with iasl (-oa: no optimisation) and
 *    requires the same bytes as ours (header checksum and compiler ID
 *    aside): the AML builder and table layouts agree with ACPICA's;
 *  - runs acpiexec in batch mode on FADT + MADT + DSDT + SSDTs + NFIT and
 *    evaluates \_S5, COM1's objects and the module's methods.
 * The RSDP is checked here in C (both checksums): iasl 20200925 cannot
 * read an RSDP from a file ("does not contain a valid ACPI table").
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "fake_module.h"
#include "tables.h"

static int failures;
static const char *iasl, *acpiexec;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
			failures++;                                       \
		}                                                         \
	} while (0)

/* Run a shell command line; returns its exit status, output in *out. */
static int run(char **out, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	FILE *p;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	if (!buf || !(p = popen(cmd, "r"))) {
		fprintf(stderr, "cannot run %s\n", cmd);
		exit(1);
	}
	for (;;) {
		if (cap - len < 4096) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (!buf)
				exit(1);
		}
		size_t n = fread(buf + len, 1, cap - len - 1, p);
		if (!n)
			break;
		len += n;
	}
	buf[len] = '\0';
	st = pclose(p);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Case-insensitive search for any word that means trouble. */
static const char *trouble(const char *text)
{
	static const char *const bad[] = {
		"warning", "error", "remark", "invalid", "incorrect",
		"unknown", "exception", "****", "not found", "failed",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strcasestr(text, bad[i]))
			return bad[i];
	return NULL;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return buf;
}

/* iasl -d NAME.dat, then compile NAME.dsl back and compare. */
static void disassemble(const char *dir, const char *name, bool aml)
{
	char *out, path[512], *dsl, *orig, *back;
	size_t dlen, olen, blen;
	int st;

	st = run(&out, "cd '%s' && '%s' -d %s.dat", dir, iasl, name);
	CHECK(st == 0, "iasl -d %s.dat: exit %d\n%s", name, st, out);
	CHECK(!trouble(out), "iasl -d %s.dat says \"%s\":\n%s", name,
	      trouble(out), out);
	free(out);

	snprintf(path, sizeof(path), "%s/%s.dsl", dir, name);
	dsl = slurp(path, &dlen);
	CHECK(dsl, "%s: not written", path);
	if (!dsl)
		return;
	/* Data tables: "[Signature]" lines must name a known table. */
	CHECK(!trouble(dsl), "%s.dsl contains \"%s\"", name, trouble(dsl));
	free(dsl);

	st = run(&out, "cd '%s' && '%s' %s -p rt-%s %s.dsl", dir, iasl,
		 aml ? "-oa" : "", name, name);
	CHECK(st == 0 && strstr(out, "0 Errors, 0 Warnings, 0 Remarks"),
	      "iasl %s.dsl (recompile): exit %d\n%s", name, st, out);
	free(out);
	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	orig = slurp(path, &olen);
	snprintf(path, sizeof(path), "%s/rt-%s.aml", dir, name);
	back = slurp(path, &blen);
	CHECK(orig && back && olen == blen,
	      "%s: recompiled length %zu, ours %zu", name, blen, olen);
	if (orig && back && olen == blen) {
		/* 9: checksum, 28..35: compiler ID and revision ("INTL"). */
		for (size_t i = 0; i < olen; i++) {
			if (i == 9 || (i >= 28 && i < 36))
				continue;
			if (orig[i] != back[i]) {
				CHECK(0, "%s: byte %zu is 0x%02x, iasl makes 0x%02x",
				      name, i, (uint8_t)orig[i], (uint8_t)back[i]);
				break;
			}
		}
	}
	free(orig);
	free(back);
}

static void expect_in(const char *out, const char *what, const char *ctx)
{
	CHECK(strstr(out, what), "%s: expected \"%s\" in:\n%s", ctx, what, out);
}

static void one_machine(int ncpus, bool module)
{
	struct acpi_machine m;
	struct acpi_ctx ctx;
	struct acpi_image img;
	char dir[] = "/tmp/pmvm-acpi-iasl-XXXXXX", err[256] = "", *out;
	int st;

	printf("# %d vCPUs%s\n", ncpus, module ? ", fake module" : "");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	acpi_machine_default(&m, ncpus);
	acpi_ctx_init(&ctx);
	if (module && fake_module_acpi(&ctx) < 0) {
		fprintf(stderr, "fake module failed\n");
		exit(1);
	}
	if (acpi_tables_build(&m, &ctx, &img, err, sizeof(err)) < 0 ||
	    acpi_image_dump(&img, dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	acpi_ctx_free(&ctx);

	/* RSDP in C; every table's checksum. */
	CHECK(acpi_checksum(img.buf, 20) == 0, "RSDP checksum");
	CHECK(acpi_checksum(img.buf, ACPI_RSDP_LEN) == 0, "RSDP extended checksum");
	for (int i = 1; i < img.nt; i++)
		CHECK(acpi_checksum(img.buf + img.t[i].off, img.t[i].len) == 0,
		      "%s checksum", img.t[i].name);

	for (int i = 1; i < img.nt; i++) {
		const char *n = img.t[i].name;
		disassemble(dir, n, !strncmp(n, "DSDT", 4) || !strncmp(n, "SSDT", 4));
	}

	if (module) {
		st = run(&out, "cd '%s' && '%s' -e SSDT.dat SSDT1.dat -d DSDT.dat",
			 dir, iasl);
		CHECK(st == 0 && !trouble(out),
		      "iasl -e SSDT.dat SSDT1.dat -d DSDT.dat: exit %d\n%s", st, out);
		free(out);
	}

	/* acpiexec: ACPICA's table manager takes our FADT (hardware-reduced,
	 * sleep registers) and runs the AML. */
	if (acpiexec) {
		st = run(&out, "cd '%s' && '%s' -b '"
			 "evaluate \\_S5; evaluate \\_SB.COM1._HID; "
			 "evaluate \\_SB.COM1._UID; evaluate \\_SB.COM1._CRS; "
			 "evaluate \\_SB.PWRB._HID%s' FACP.dat APIC.dat DSDT.dat%s",
			 dir, acpiexec,
			 module ? "; evaluate \\_SB.TST0.ADD2 40; "
				  "evaluate \\_SB.NVDR.NV00._ADR; "
				  "evaluate \\_SB.TST1._HID" : "",
			 module ? " SSDT.dat SSDT1.dat NFIT.dat" : "");
		CHECK(st == 0, "acpiexec: exit %d\n%s", st, out);
		CHECK(!trouble(out), "acpiexec says \"%s\":\n%s", trouble(out), out);
		expect_in(out, "ACPI: FACP", "acpiexec");
		expect_in(out, "(v06 PMVM   PMVMACPI", "acpiexec");
		expect_in(out, "[Package] Contains 4 Elements:\n"
			  "    [Integer] = 0000000000000005", "\\_S5");
		expect_in(out, "[Integer] = 000000000105D041", "COM1._HID");
		expect_in(out, "47 01 F8 03 F8 03 01 08 22 10 00 79 00", "COM1._CRS");
		expect_in(out, "[String] Length 07 = \"PNP0C0C\"", "PWRB._HID");
		if (module) {
			expect_in(out, "[Integer] = 000000000000002A", "TST0.ADD2(40)");
			expect_in(out, "[String] Length 08 = \"PMVM0002\"", "TST1._HID");
		}
		expect_in(out, "ACPI: No outstanding allocations", "acpiexec");
		free(out);
	}

	if (!failures) {
		char *rm;
		run(&rm, "rm -rf '%s'", dir);
		free(rm);
	} else {
		fprintf(stderr, "tables kept in %s\n", dir);
	}
	acpi_image_free(&img);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: test_iasl IASL ACPIEXEC\n");
		return 2;
	}
	iasl = argv[1][0] ? argv[1] : NULL;
	acpiexec = argv[2][0] ? argv[2] : NULL;
	if (!iasl || !acpiexec) {
		printf("SKIP: iasl/acpiexec not found (Debian package acpica-tools)\n");
		return 77;
	}
	one_machine(1, false);
	one_machine(2, true);
	one_machine(64, true);
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
