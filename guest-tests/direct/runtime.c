/*
 * runtime - the runtime's own pieces, inside a guest: command-line
 * arguments from the FDT's /chosen/bootargs (run with
 * "num=42 hex=0x10 word=hello flag"), rt_snprintf formats, strtoul,
 * memmove with overlap, the stack-protector canary libfdt reads at
 * %fs:0x28, and the PVH start info (magic, the "pmvm-fdt" module, memmap).
 */
#include <libfdt.h>

#include "pvh.h"
#include "rt.h"

static bool fmt_is(const char *want, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool fmt_is(const char *want, const char *fmt, ...)
{
	char buf[64];
	va_list ap;

	va_start(ap, fmt);
	rt_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (strcmp(buf, want))
		rt_diag("format '%s' gave '%s', expected '%s'", fmt, buf, want);
	return !strcmp(buf, want);
}

void rt_main(void)
{
	char word[16], small[4], buf[16] = "abcdefgh";
	uint64_t canary;
	const struct hvm_start_info *si = rt_start_info;
	bool fmt_ok = true;
	char *end;

	rt_plan(9);
	rt_ok(rt_fdt() != NULL && fdt_check_header(rt_fdt()) == 0,
	      "FDT found through the pmvm-fdt PVH module");
	rt_ok(rt_arg_int("num", -1) == 42 && rt_arg_int("hex", -1) == 16 &&
	      rt_arg_int("absent", 7) == 7, "integer arguments from bootargs");
	rt_ok(rt_arg("word", word, sizeof(word)) && !strcmp(word, "hello") &&
	      rt_arg("word", small, sizeof(small)) && !strcmp(small, "hel") &&
	      rt_has_arg("flag") && !rt_has_arg("fla") && !rt_has_arg("wor"),
	      "string and flag arguments, truncation, no prefix matches");
	fmt_ok &= fmt_is("-42|42|2a|002A", "%d|%u|%x|%04X", -42, 42u, 42u, 42u);
	fmt_ok &= fmt_is("ffffffffffffffff|18446744073709551615", "%lx|%llu",
			 ~0ul, ~0ull);
	fmt_ok &= fmt_is("[ab  ]|[  ab]|ABCD|%|x", "[%-4s]|[%4s]|%.4s|%%|%c",
			 "ab", "ab", "ABCDEF", 'x');
	fmt_ok &= fmt_is("0x100000|-0000007", "%p|%08d", (void *)0x100000, -7);
	rt_ok(fmt_ok, "rt_snprintf formats");
	rt_ok(strtoul("0x1f", &end, 0) == 31 && !*end && strtoul("017", NULL, 0) == 15 &&
	      strtoul("99z", &end, 10) == 99 && *end == 'z', "strtoul bases and end");
	memmove(buf + 2, buf, 6);
	rt_ok(!memcmp(buf, "ababcdef", 8), "memmove with overlap");
	__asm__ volatile("mov %%fs:0x28, %0" : "=r"(canary));
	rt_ok(canary != 0, "stack-protector canary at %%fs:0x28");
	rt_ok(si && si->magic == 0x336ec578 && si->rsdp_paddr, "PVH start info magic and RSDP");
	rt_ok(si && si->version >= 1 && si->memmap_entries > 0 && si->memmap_paddr,
	      "PVH memory map (%u entries)", si ? si->memmap_entries : 0);
}
