/*
 * acpi.c - a read-only walk of the ACPI tables the vmm built: RSDP (from
 * the PVH start info, else a scan of 0xe0000..0xfffff), XSDT (RSDT as a
 * fallback), tables by signature, the DSDT through the FADT, MADT entries,
 * and power-off/reset through the FADT registers. Every table is checked
 * for its checksum before use; a bad one is treated as absent.
 */
#include "pvh.h"
#include "rt.h"

#define PTR(a) ((const void *)(uintptr_t)(a))

struct rsdp {
	char sig[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt;
	uint32_t length;
	uint64_t xsdt;
	uint8_t ext_checksum;
	uint8_t reserved[3];
} __attribute__((packed));

/* FADT offsets used here (ACPI 6.x). */
#define FADT_DSDT        40
#define FADT_FLAGS       112
#define FADT_RESET_REG   116
#define FADT_RESET_VALUE 128
#define FADT_X_DSDT      140
#define FADT_SLEEP_CTL   244

uint8_t rt_acpi_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s += *b++;
	return s;
}

static bool rsdp_valid(const struct rsdp *r)
{
	if (memcmp(r->sig, "RSD PTR ", 8) || rt_acpi_sum(r, 20))
		return false;
	if (r->revision >= 2 && (r->length < sizeof(*r) || r->length > 4096 ||
				 rt_acpi_sum(r, r->length)))
		return false;
	return true;
}

/* Tables are static once the guest runs, so what was found and checked
 * once is remembered: every checksum costs emulated instructions. */
static const struct rsdp *rsdp_cache;
static bool rsdp_searched;

const void *rt_acpi_rsdp(void)
{
	if (rsdp_searched)
		return rsdp_cache;
	rsdp_searched = true;
	if (rt_start_info && rt_start_info->rsdp_paddr) {
		const struct rsdp *r = PTR(rt_start_info->rsdp_paddr);

		rsdp_cache = rsdp_valid(r) ? r : NULL;
		return rsdp_cache;
	}
	for (uintptr_t a = 0xe0000; a < 0x100000; a += 16)
		if (rsdp_valid(PTR(a)))
			return rsdp_cache = PTR(a);
	return NULL;
}

static const struct acpi_sdt *sdt_checked(uint64_t addr)
{
	const struct acpi_sdt *t = PTR(addr);

	if (!addr || addr >= 0x100000000ULL || t->length < sizeof(*t) ||
	    t->length > (1u << 24) || rt_acpi_sum(t, t->length))
		return NULL;
	return t;
}

static const struct acpi_sdt *table_uncached(int i);

#define TABLE_CACHE 32
static const struct acpi_sdt *table_cache[TABLE_CACHE];
static bool table_cached[TABLE_CACHE];

const struct acpi_sdt *rt_acpi_table(int i)
{
	if (i < 0)
		return NULL;
	if (i >= TABLE_CACHE)
		return table_uncached(i);
	if (!table_cached[i]) {
		table_cache[i] = table_uncached(i);
		table_cached[i] = true;
	}
	return table_cache[i];
}

static const struct acpi_sdt *table_uncached(int i)
{
	const struct rsdp *r = rt_acpi_rsdp();
	const struct acpi_sdt *root;

	if (!r || i < 0)
		return NULL;
	if (r->revision >= 2 && r->xsdt) {
		const uint8_t *e;

		root = sdt_checked(r->xsdt);
		if (!root || (size_t)i >= (root->length - sizeof(*root)) / 8)
			return NULL;
		e = (const uint8_t *)(root + 1) + 8 * i;
		uint64_t a;

		memcpy(&a, e, 8);
		return sdt_checked(a);
	}
	root = sdt_checked(r->rsdt);
	if (!root || (size_t)i >= (root->length - sizeof(*root)) / 4)
		return NULL;
	uint32_t a;

	memcpy(&a, (const uint8_t *)(root + 1) + 4 * i, 4);
	return sdt_checked(a);
}

const struct acpi_sdt *rt_acpi_find(const char sig[4])
{
	const struct acpi_sdt *t;

	if (!memcmp(sig, "DSDT", 4)) {
		const uint8_t *f = (const void *)rt_acpi_find("FACP");
		uint64_t x = 0;
		uint32_t d = 0;

		if (!f)
			return NULL;
		if (((const struct acpi_sdt *)f)->length >= FADT_X_DSDT + 8)
			memcpy(&x, f + FADT_X_DSDT, 8);
		memcpy(&d, f + FADT_DSDT, 4);
		t = sdt_checked(x ? x : d);
		return t && !memcmp(t->sig, "DSDT", 4) ? t : NULL;
	}
	for (int i = 0; (t = rt_acpi_table(i)); i++)
		if (!memcmp(t->sig, sig, 4))
			return t;
	return NULL;
}

/* Iterate MADT entries: calls fn for each, stops when fn returns false. */
static void madt_walk(bool (*fn)(const uint8_t *e, void *ctx), void *ctx)
{
	const struct acpi_sdt *m = rt_acpi_find("APIC");
	const uint8_t *p, *end;

	if (!m)
		return;
	p = (const uint8_t *)m + 44;
	end = (const uint8_t *)m + m->length;
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		if (!fn(p, ctx))
			return;
		p += p[1];
	}
}

struct cpu_ctx {
	uint32_t *ids;
	int max, n;
};

static bool madt_cpu(const uint8_t *e, void *ctx)
{
	struct cpu_ctx *c = ctx;
	uint32_t flags, id;

	if (e[0] == 0 && e[1] >= 8) {          /* processor local APIC */
		memcpy(&flags, e + 4, 4);
		id = e[3];
	} else if (e[0] == 9 && e[1] >= 16) {  /* processor local x2APIC */
		memcpy(&id, e + 4, 4);
		memcpy(&flags, e + 8, 4);
	} else {
		return true;
	}
	if (flags & 1) {
		if (c->n < c->max)
			c->ids[c->n] = id;
		c->n++;
	}
	return true;
}

int rt_madt_cpus(uint32_t *apic_ids, int max)
{
	struct cpu_ctx c = { apic_ids, max, 0 };

	madt_walk(madt_cpu, &c);
	return c.n;
}

static bool madt_ioapic(const uint8_t *e, void *ctx)
{
	if (e[0] == 1 && e[1] >= 12) {
		uint32_t a;

		memcpy(&a, e + 4, 4);
		*(uint64_t *)ctx = a;
		return false;
	}
	return true;
}

uint64_t rt_madt_ioapic(void)
{
	uint64_t a = 0;

	madt_walk(madt_ioapic, &a);
	return a;
}

static void gas_write8(const struct acpi_gas *g, uint8_t v)
{
	if (g->space_id == 1)
		outb((uint16_t)g->address, v);
	else if (g->space_id == 0 && g->address)
		*(volatile uint8_t *)(uintptr_t)g->address = v;
}

/* SLP_TYPa of \_S5: the first element of the package after "_S5_". */
static int s5_slp_typ(void)
{
	const struct acpi_sdt *d = rt_acpi_find("DSDT");
	const uint8_t *p, *end;

	if (!d)
		return -1;
	p = (const uint8_t *)(d + 1);
	end = (const uint8_t *)d + d->length;
	for (; p + 8 < end; p++) {
		const uint8_t *q;

		if (memcmp(p, "_S5_", 4) || p[4] != 0x12) /* PackageOp */
			continue;
		q = p + 5;
		q += 1 + (*q >> 6);  /* PkgLength */
		q++;                  /* NumElements */
		if (q >= end)
			return -1;
		if (*q == 0x0a && q + 1 < end)  /* BytePrefix */
			return q[1];
		if (*q == 0x00 || *q == 0x01)    /* ZeroOp, OneOp */
			return *q;
		return -1;
	}
	return -1;
}

void rt_acpi_poweroff(void)
{
	const uint8_t *f = (const void *)rt_acpi_find("FACP");
	struct acpi_gas g;
	int typ = s5_slp_typ();

	if (!f || ((const struct acpi_sdt *)f)->length < FADT_SLEEP_CTL + 12)
		return;
	memcpy(&g, f + FADT_SLEEP_CTL, sizeof(g));
	if (typ < 0)
		typ = 5;
	gas_write8(&g, (uint8_t)(((typ & 7) << 2) | 0x20));
}

void rt_acpi_reset(void)
{
	const uint8_t *f = (const void *)rt_acpi_find("FACP");
	struct acpi_gas g;

	if (!f || ((const struct acpi_sdt *)f)->length < FADT_RESET_VALUE + 1)
		return;
	memcpy(&g, f + FADT_RESET_REG, sizeof(g));
	gas_write8(&g, f[FADT_RESET_VALUE]);
}
