#!/usr/bin/env bash
# test_install.sh - `meson install` into a staging directory gives pcow-img,
# libpcow as a versioned shared library (soname libpcow.so.0), pcow.h,
# pcow.pc, pcow-img's man page and bash completion, and a program built against them through pkg-config runs.
# Usage: test_install.sh BUILD_DIR CC [SANITIZERS (meson's b_sanitize)]
set -uo pipefail
B=$(realpath "$1") CC=${2:-cc} SAN=${3:-none}
unset LD_LIBRARY_PATH	# meson test points it at the build tree
T=$(mktemp -d /tmp/pcow-install-test.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

DESTDIR="$T/stage" meson install -C "$B" --no-rebuild --quiet >"$T/log" 2>&1 ||
	fail "meson install: $(tail -5 "$T/log")"
img=$(find "$T/stage" -path '*/bin/pcow-img' | head -1)
so=$(find "$T/stage" -name 'libpcow.so.0.*' | head -1)
hdr=$(find "$T/stage" -path '*/include/pmvm/pcow.h' | head -1)
pc=$(find "$T/stage" -name pcow.pc | head -1)
[ -x "$img" ] || fail "no bin/pcow-img"
[ -n "$so" ] || fail "no libpcow.so.0.*"
[ -n "$hdr" ] || fail "no include/pmvm/pcow.h"
[ -n "$pc" ] || fail "no pcow.pc"
find "$T/stage" -path '*/man1/pcow-img.1' | grep -q . || fail "no man1/pcow-img.1"
vman=$(find "$T/stage" -path '*/man1/vmm.1' | head -1)
[ -n "$vman" ] || fail "no man1/vmm.1"
grep -q -- '--kernel' "$vman" || fail "vmm.1 lacks vmm's options"
find "$T/stage" -path '*/bash-completion/completions/pcow-img' | grep -q . ||
	fail "no bash completion for pcow-img"
readelf -d "$so" | grep -q 'SONAME.*libpcow\.so\.0\]' || fail "soname is not libpcow.so.0"
"$img" --version | grep -q '^pcow-img ' || fail "installed pcow-img --version"
cat >"$T/use.c" <<'C'
#include <stdio.h>
#include <pcow.h>
int main(int argc, char **argv)
{
	struct pcow_create_opts co = { .virtual_size = 1 << 20 };
	struct pcow_error e;
	struct pcow *p;

	if (argc < 2 || pcow_create(argv[1], &co, &e) || !(p = pcow_open(argv[1], NULL, &e))) {
		fprintf(stderr, "%s\n", e.msg);
		return 1;
	}
	return pcow_close(p);
}
C
libdir=$(dirname "$so")
flags=$(PKG_CONFIG_SYSROOT_DIR="$T/stage" PKG_CONFIG_PATH=$(dirname "$pc") \
	pkg-config --cflags --libs pcow) || fail "pkg-config pcow"
# the .pc names the final prefix: point it at the staging copy; a
# sanitized build's library needs a sanitized program
san=""
[ "$SAN" != none ] && [ -n "$SAN" ] && san="-fsanitize=$SAN"
"$CC" $san -o "$T/use" "$T/use.c" $flags -L"$libdir" -Wl,-rpath,"$libdir" 2>"$T/cc.log" ||
	fail "build against the installed library: $(cat "$T/cc.log")"
"$T/use" "$T/x.pcow" || fail "a program linked to libpcow.so failed"
ldd "$T/use" | grep -qF "$libdir/libpcow.so.0" || fail "not linked to the installed libpcow.so.0: $(ldd "$T/use" | grep pcow)"
"$img" check "$T/x.pcow" >/dev/null || fail "installed pcow-img cannot check its image"
echo "ok: install gives pcow-img, libpcow.so.0, pcow.h, pcow.pc"
