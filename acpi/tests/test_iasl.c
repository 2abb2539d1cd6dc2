/*
 * test_iasl.c - pmvm's ACPI tables as ACPICA sees them.
 *
 * usage: test_iasl IASL ACPIEXEC [VMM]
 * (meson passes the found programs; an empty path, or a VMM that was not
 * built or no usable /dev/kvm, means SKIP, exit 77)
 *
 * Without VMM: for 1, 2, 64 and 300 vCPUs (2 and 64 with a fake module
 * adding DSDT AML, an NFIT and two SSDTs), builds the tables with the
 * vm-free builders and dumps them as SIG.dat. With VMM: runs
 * `vmm --dump-acpi DIR` for 1, 4 and 255 vCPUs and with an --nvdimm and a
 * --disk, so the real modules contribute through their acpi() hooks. Then, on every dump:
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
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acpi.h"
#include "check.h"
#include "fake_module.h"
#include "tables.h"
#include "test_check.h"

static int failures;
static const char *iasl, *acpiexec;

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

static const char *dsl_trouble(const char *text)
{
	static const char *const bad[] = {
		"warning", "error", "invalid", "****", "unknown opcode",
		"unknown subtable", "unknown table", "unknown object",
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
	char *out, path[1200], *dsl, *orig, *back;
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
	/* Problems iasl found show up as comments in the output. Field names
	 * ("Save to device failed") and "Unknown UUID" (a _DSM UUID iasl has
	 * no name for) are not problems. */
	CHECK(!dsl_trouble(dsl), "%s.dsl contains \"%s\"", name, dsl_trouble(dsl));
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


static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The table names (file names without .dat) in dir, sorted. */
static int list_tables(const char *dir, char names[][16], int max)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *ptr[64];
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)) && n < max && n < 64) {
		size_t l = strlen(e->d_name);
		if (l > 4 && l < 16 && !strcmp(e->d_name + l - 4, ".dat") &&
		    strncmp(e->d_name, "rt-", 3)) {
			memcpy(names[n], e->d_name, l - 4);
			names[n][l - 4] = '\0';
			n++;
		}
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		ptr[i] = strdup(names[i]);
	qsort(ptr, (size_t)n, sizeof(ptr[0]), cmp_str);
	for (int i = 0; i < n; i++) {
		snprintf(names[i], 16, "%s", ptr[i]);
		free(ptr[i]);
	}
	return n;
}

/* Everything ACPICA can tell about a directory of dumped tables. extra_eval
 * is appended to acpiexec's batch commands; expect are strings its output
 * must contain. */
static void check_dir(const char *dir, const char *extra_eval,
		      const char *const *expect)
{
	char names[64][16], path[600], ssdts[1024] = "", tables[2048] = "";
	char *out, *buf;
	size_t len = 0;
	int n = list_tables(dir, names, 64), ntab = 0, st;

	/* RSDP (in C), XSDT entry count, every checksum. */
	snprintf(path, sizeof(path), "%s/RSDP.dat", dir);
	buf = slurp(path, &len);
	CHECK(buf && len == ACPI_RSDP_LEN, "RSDP.dat missing or not 36 bytes");
	if (buf && len == ACPI_RSDP_LEN) {
		CHECK(!memcmp(buf, "RSD PTR ", 8), "RSDP signature");
		CHECK(acpi_checksum(buf, 20) == 0, "RSDP checksum");
		CHECK(acpi_checksum(buf, ACPI_RSDP_LEN) == 0, "RSDP extended checksum");
		CHECK(buf[15] == 2, "RSDP revision %d", buf[15]);
	}
	free(buf);
	for (int i = 0; i < n; i++) {
		if (!strcmp(names[i], "RSDP"))
			continue;
		snprintf(path, sizeof(path), "%.500s/%.15s.dat", dir, names[i]);
		buf = slurp(path, &len);
		CHECK(buf && len >= ACPI_HEADER_LEN && rd((uint8_t *)buf + 4, 4) == len &&
		      acpi_checksum(buf, len) == 0,
		      "%s.dat: length or checksum wrong", names[i]);
		if (buf && !strcmp(names[i], "XSDT"))
			ntab = (int)(len - ACPI_HEADER_LEN) / 8;
		free(buf);
	}
	/* The XSDT lists everything but RSDP, XSDT and DSDT. */
	CHECK(ntab == n - 3, "XSDT lists %d tables, %d dumped besides RSDP, XSDT, "
	      "DSDT", ntab, n - 3);

	for (int i = 0; i < n; i++) {
		const char *nm = names[i];
		if (!strcmp(nm, "RSDP"))
			continue;
		disassemble(dir, nm, !strncmp(nm, "DSDT", 4) || !strncmp(nm, "SSDT", 4));
		if (!strncmp(nm, "SSDT", 4)) {
			strncat(ssdts, " ", sizeof(ssdts) - strlen(ssdts) - 1);
			strncat(ssdts, nm, sizeof(ssdts) - strlen(ssdts) - 1);
			strncat(ssdts, ".dat", sizeof(ssdts) - strlen(ssdts) - 1);
		}
		if (strcmp(nm, "XSDT")) {
			strncat(tables, " ", sizeof(tables) - strlen(tables) - 1);
			strncat(tables, nm, sizeof(tables) - strlen(tables) - 1);
			strncat(tables, ".dat", sizeof(tables) - strlen(tables) - 1);
		}
	}
	if (ssdts[0]) {
		st = run(&out, "cd '%s' && '%s' -e%s -d DSDT.dat", dir, iasl, ssdts);
		CHECK(st == 0 && !trouble(out), "iasl -e%s -d DSDT.dat: exit %d\n%s",
		      ssdts, st, out);
		free(out);
	}

	/* acpiexec: ACPICA's table manager takes our FADT (hardware-reduced,
	 * sleep registers) and runs the AML. */
	st = run(&out, "cd '%s' && '%s' -b '"
		 "evaluate \\_S5; evaluate \\_SB.COM1._HID; "
		 "evaluate \\_SB.COM1._UID; evaluate \\_SB.COM1._CRS; "
		 "evaluate \\_SB.PWRB._HID%s'%s", dir, acpiexec,
		 extra_eval ? extra_eval : "", tables);
	CHECK(st == 0, "acpiexec: exit %d\n%s", st, out);
	CHECK(!trouble(out), "acpiexec says \"%s\":\n%s", trouble(out), out);
	/* ACPICA prints "ACPI: " and the table line separately, and with
	 * stdout and stderr in one pipe a line break can fall between them
	 * (seen in CI): match the table line itself. */
	{
		const char *facp = strstr(out, "FACP 0x");
		const char *eol = facp ? strchr(facp, '\n') : NULL;
		const char *rev = facp ? strstr(facp, "(v06 PMVM   PMVMACPI") : NULL;

		CHECK(facp && rev && (!eol || rev < eol),
		      "acpiexec: no \"FACP 0x... (v06 PMVM   PMVMACPI\" line in:\n%s",
		      out);
	}
	expect_in(out, "[Package] Contains 4 Elements:\n"
		  "    [Integer] = 0000000000000005", "\\_S5");
	expect_in(out, "[Integer] = 000000000105D041", "COM1._HID");
	expect_in(out, "47 01 F8 03 F8 03 01 08 22 10 00 79 00", "COM1._CRS");
	expect_in(out, "[String] Length 07 = \"PNP0C0C\"", "PWRB._HID");
	for (int i = 0; expect && expect[i]; i++)
		expect_in(out, expect[i], "acpiexec");
	expect_in(out, "No outstanding allocations", "acpiexec");
	free(out);
}

static void cleanup(const char *dir)
{
	char *rm;

	if (failures) {
		fprintf(stderr, "tables kept in %s\n", dir);
		return;
	}
	run(&rm, "rm -rf '%s'", dir);
	free(rm);
}

static void one_machine(int ncpus, bool module)
{
	static const char *const fake_expect[] = {
		"[Integer] = 000000000000002A",          /* TST0.ADD2 (40) */
		"[String] Length 08 = \"PMVM0002\"",     /* TST1._HID */
		"Received a Device Notify on [PWRB]",   /* GED0._EVT (9) */
		"Received a Device Notify on [COM1]",   /* GED0._EVT (10) */
		NULL,
	};
	struct acpi_machine m;
	struct acpi_ctx ctx;
	struct acpi_image img;
	char dir[] = "/tmp/pmvm-acpi-iasl-XXXXXX", err[256] = "";

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
	if (module) {  /* what acpi/pm.c adds: the button, another event */
		static const struct acpi_ged_event ev[] = {
			{ 9, "\\_SB.PWRB", 0x80 },
			{ 10, "\\_SB.COM1", 0x81 },
		};

		acpi_aml_ged(acpi_dsdt(&ctx), ev, 2);
	}
	if (acpi_tables_build(&m, &ctx, &img, err, sizeof(err)) < 0 ||
	    acpi_image_dump(&img, dir, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	acpi_ctx_free(&ctx);
	acpi_image_free(&img);
	check_dir(dir, module ? "; evaluate \\_SB.TST0.ADD2 40; "
				"evaluate \\_SB.NVDR.NV00._ADR; "
				"evaluate \\_SB.TST1._HID; "
				"evaluate \\_SB.GED0._EVT 8; "
				"evaluate \\_SB.GED0._EVT 9; "
				"evaluate \\_SB.GED0._EVT 10" : NULL,
		  module ? fake_expect : NULL);
	cleanup(dir);
}

enum vmm_dev { DEV_NONE, DEV_NVDIMM, DEV_DISK };

/* vmm --dump-acpi DIR --smp N [--nvdimm FILE | --disk FILE]; the MADT must
 * list N CPUs, the modules' devices must be in the namespace. */
static void one_vmm(const char *vmm, int ncpus, enum vmm_dev dev)
{
	static const char *const none_expect[] = {
		"[String] Length 08 = \"ACPI0013\"",  /* GED0 (acpi-pm) */
		NULL,
	};
	static const char *const nv_expect[] = {
		"[String] Length 08 = \"ACPI0013\"",
		"[String] Length 08 = \"ACPI0012\"",
		NULL,
	};
	static const char *const disk_expect[] = {
		"[String] Length 08 = \"ACPI0013\"",
		"[String] Length 08 = \"LNRO0005\"",  /* virtio-mmio */
		NULL,
	};
	static const char *const opt[] = { "", " --nvdimm ", " --disk " };
	/* nvdimm: 16 MiB of data plus the default 128 KiB label area. */
	static const off_t size[] = { 0, (16 << 20) + (128 << 10), 1 << 20 };
	char dir[] = "/tmp/pmvm-acpi-vmm-XXXXXX", img[600] = "", path[600];
	char *out, *buf;
	size_t len = 0;
	int st;

	printf("# vmm --smp %d%s\n", ncpus, opt[dev]);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		exit(1);
	}
	if (dev != DEV_NONE) {
		snprintf(img, sizeof(img), "%s/dev.img", dir);
		int fd = open(img, O_RDWR | O_CREAT | O_TRUNC, 0600);
		CHECK(fd >= 0 && ftruncate(fd, size[dev]) == 0,
		      "cannot create %s", img);
		if (fd >= 0)
			close(fd);
	}
	st = run(&out, "'%s' --dump-acpi '%s' --smp %d%s%s", vmm, dir, ncpus,
		 opt[dev], img);
	CHECK(st == 0, "vmm --dump-acpi: exit %d\n%s", st, out);
	free(out);
	if (dev != DEV_NONE)
		unlink(img);
	if (st == 0) {
		check_dir(dir, dev == DEV_NVDIMM ?
			  "; evaluate \\_SB.GED0._HID; evaluate \\_SB.NVDR._HID" :
			  dev == DEV_DISK ?
			  "; evaluate \\_SB.GED0._HID; evaluate \\_SB.VR00._HID" :
			  "; evaluate \\_SB.GED0._HID",
			  dev == DEV_NVDIMM ? nv_expect :
			  dev == DEV_DISK ? disk_expect : none_expect);
		snprintf(path, sizeof(path), "%s/APIC.dat", dir);
		buf = slurp(path, &len);
		int lapics = 0;
		for (size_t off = 44; buf && off + 8 <= len; off += (uint8_t)buf[off + 1]) {
			if (buf[off] == 0 && (buf[off + 4] & 1))
				lapics++;
			if (!buf[off + 1])
				break;
		}
		CHECK(lapics == ncpus, "MADT from vmm --smp %d lists %d CPUs",
		      ncpus, lapics);
		free(buf);
		if (dev == DEV_NVDIMM) {
			snprintf(path, sizeof(path), "%s/NFIT.dat", dir);
			CHECK(access(path, F_OK) == 0, "no NFIT.dat with --nvdimm");
		}
	}
	cleanup(dir);
}

int main(int argc, char **argv)
{
	const char *vmm = argc > 3 ? argv[3] : NULL;

	if (argc < 3) {
		fprintf(stderr, "usage: test_iasl IASL ACPIEXEC [VMM]\n");
		return 2;
	}
	iasl = argv[1][0] ? argv[1] : NULL;
	acpiexec = argv[2][0] ? argv[2] : NULL;
	if (!iasl || !acpiexec) {
		printf("SKIP: iasl/acpiexec not found (Debian package acpica-tools)\n");
		return 77;
	}
	if (vmm) {
		int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (access(vmm, X_OK) != 0) {
			printf("SKIP: %s not built\n", vmm);
			return 77;
		}
		if (fd < 0) {
			printf("SKIP: /dev/kvm: %s\n", strerror(errno));
			return 77;
		}
		close(fd);
		one_vmm(vmm, 1, DEV_NONE);
		one_vmm(vmm, 4, DEV_NONE);
		one_vmm(vmm, 255, DEV_NONE);
		one_vmm(vmm, 2, DEV_NVDIMM);
		one_vmm(vmm, 2, DEV_DISK);
	} else {
		one_machine(1, false);
		one_machine(2, true);
		one_machine(64, true);
		one_machine(300, false); /* x2APIC entries from vCPU 255 on */
	}
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("ok\n");
	return 0;
}
