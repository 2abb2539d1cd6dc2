#!/bin/sh
# incbin.sh SYMBOL FILE OUT.S: an assembler file that links FILE's bytes in
# as SYMBOL[] .. SYMBOL_end[] (read-only data). Used to put the --exec
# guest init into the vmm binary (vmm/exec/meson.build).
set -eu
[ $# -eq 3 ] || { echo "usage: incbin.sh SYMBOL FILE OUT.S" >&2; exit 2; }
sym=$1 file=$2 out=$3
case $file in /*) ;; *) file=$(pwd)/$file ;; esac
cat >"$out" <<EOS
	.section .rodata
	.globl $sym
	.globl ${sym}_end
	.balign 16
$sym:
	.incbin "$file"
${sym}_end:
	.section .note.GNU-stack,"",@progbits
EOS
