#!/bin/sh
# help2man.sh - a manual page from a program's --help and --version (one
# source: the help text the program prints), for programs without a
# hand-written page. Usage: help2man.sh PROGRAM NAME "SUMMARY" OUT
set -eu
prog=$1 name=$2 summary=$3 out=$4
NAME=$(printf '%s' "$name" | tr 'a-z' 'A-Z')
ver=$("$prog" --version 2>/dev/null | head -1 || true)
{
	printf '.\\" %s.1: generated from `%s --help` by scripts/help2man.sh\n' "$name" "$name"
	printf '.TH %s 1 "" "%s" "User Commands"\n' "$NAME" "$ver"
	printf '.SH NAME\n%s \\- %s\n' "$name" "$summary"
	printf '.SH DESCRIPTION\n.nf\n'
	# roff: a leading dot or quote is escaped, backslashes doubled
	"$prog" --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
	printf '.fi\n.SH SEE ALSO\n.BR pcow-img (1)\n'
} >"$out"
