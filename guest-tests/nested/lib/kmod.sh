# kmod.sh - kernel module loading inside the nested tier's initramfs images
# (L1 and L2), sourced by their init scripts. The host-side run script wrote
# /pmvm/kmod/NAME: the .ko files of NAME and its dependencies, deps first.

# kmod_load NAME...: insmod NAME and its dependencies unless already loaded.
kmod_load() {
	local m f mod
	for m in "$@"; do
		m=$(echo "$m" | tr - _)
		if [ ! -f "/pmvm/kmod/$m" ]; then
			echo "kmod_load: module $m was not put into this initramfs" >&2
			return 1
		fi
		while read -r f; do
			[ -n "$f" ] || continue
			mod=$(basename "$f" .ko | tr - _)
			[ -d "/sys/module/$mod" ] && continue
			insmod "$f" || { echo "kmod_load: insmod $f failed" >&2; return 1; }
		done <"/pmvm/kmod/$m"
	done
}
