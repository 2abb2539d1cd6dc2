# L2 side of pcow-linux (see scenario.conf). PMVM_ARG is a comma-separated
# list of steps, run in order:
#   mkfs              the label-less DIMM's namespace0.0 -> fsdax (-M mem),
#                     mke2fs, mount -o dax   (else: mount the existing fs -o dax)
#   verify            every set's files against its manifest: SET_x=HASH ok|bad,
#                     and each file of the snapshot writer's set b: B_FILE=I SUM
#   write:SET:N:KIB   N files of KIB KiB of random data in /mnt/SET, their
#                     sha256 manifest in /mnt/SET.sums, sync: SET_x=HASH written
#   snapdialog        PMVM-WAIT=snap, then one console line: "snap" runs a
#                     writer (set b, 1 MiB files, each fsynced: B_DONE=I SUM)
#                     until the line "stop"; "nosnap": no writer
#   wait              PMVM-WAIT=go, then wait for one console line
#   hold              print SYNCED=1 and sleep (L1 kills vmm with -9)
# Without hold: unmount and power off.
ndctl=/usr/bin/ndctl
mkdir -p /mnt
up() { cut -d' ' -f1 /proc/uptime; }
wait_pmem() {
	for i in $(seq 1 100); do [ -b /dev/pmem0 ] && return 0; sleep 0.2; done
	echo "NO_PMEM0=1"; ls /sys/bus/nd/devices 2>&1 | tr '\n' ' '; echo
	return 1
}
dax_check() { # DAX really in effect: mount option and the block device's dax capability
	grep -q '/mnt .*dax' /proc/mounts && [ "$(cat /sys/block/pmem0/queue/dax 2>/dev/null)" = 1 ] &&
		echo "DAX_MOUNT=ok ($(grep ' /mnt ' /proc/mounts))"
}
write_set() { # SET N KIB
	mkdir -p "/mnt/$1"
	i=1
	while [ "$i" -le "$2" ]; do
		dd if=/dev/urandom of="/mnt/$1/$i" bs=64k count=$(($3 / 64)) 2>/dev/null || echo "WRITE_FAIL=$1/$i"
		i=$((i + 1))
	done
	(cd "/mnt/$1" && sha256sum $(ls | sort -n)) >"/mnt/$1.sums"
	sync
	echo "SET_$1=$(sha256sum <"/mnt/$1.sums" | cut -c1-64) written"
}
verify() {
	for m in /mnt/*.sums; do
		[ -f "$m" ] || continue
		s=${m##*/}; s=${s%.sums}
		if (cd "/mnt/$s" && sha256sum -c -s "$m"); then r=ok; else r=bad; fi
		echo "SET_$s=$(sha256sum <"$m" | cut -c1-64) $r"
	done
	if [ -d /mnt/b ]; then
		for f in $(ls /mnt/b | sort -n); do echo "B_FILE=$f $(sha256sum "/mnt/b/$f" | cut -c1-64)"; done
	fi
	echo "SETS=$(ls /mnt | grep -v 'lost+found' | tr '\n' ' ')"
}
writer() { # set b until /tmp/stop exists
	mkdir -p /mnt/b
	i=0
	while [ ! -e /tmp/stop ]; do
		i=$((i + 1))
		dd if=/dev/urandom of="/mnt/b/$i" bs=64k count=16 conv=fsync 2>/dev/null || echo "WRITE_FAIL=b/$i"
		echo "B_DONE=$i $(sha256sum "/mnt/b/$i" | cut -c1-64)"
	done
	echo "B_STOPPED=$i"
}

mounted=
for step in $(echo "$PMVM_ARG" | tr ',' ' '); do
	echo "STEP=$step $(up)"
	case $step in
	mkfs)
		wait_pmem || exit 1
		$ndctl create-namespace -f -e namespace0.0 -m fsdax -M mem >/tmp/ns 2>&1 && echo "FSDAX=ok"
		cat /tmp/ns
		wait_pmem || exit 1
		# lazy init: mke2fs writes no inode tables or journal blocks, and
		# noinit_itable keeps the kernel from zeroing them after mount
		/usr/sbin/mke2fs -q -F -t ext4 -b 4096 -E lazy_itable_init=1,lazy_journal_init=1 /dev/pmem0 ||
			echo "MKFS=fail"
		mount -t ext4 -o dax,noinit_itable /dev/pmem0 /mnt || echo "MOUNT=fail"
		dax_check; mounted=1
		;;
	verify|write:*)
		if [ -z "$mounted" ]; then
			wait_pmem || exit 1
			echo "NS_MODE=$($ndctl list -N -n namespace0.0 2>/dev/null | sed -n 's/.*"mode":"\([a-z]*\)".*/\1/p')"
			mount -t ext4 -o dax,noinit_itable /dev/pmem0 /mnt || echo "MOUNT=fail"
			dax_check; mounted=1
		fi
		case $step in
		verify) verify ;;
		*) r=${step#write:}; s=${r%%:*}; r=${r#*:}; n=${r%%:*}; k=${r#*:}
			write_set "$s" "$n" "$k" ;;
		esac
		;;
	snapdialog)
		echo "PMVM-WAIT=snap"
		read -r cmd
		if [ "$cmd" = snap ]; then
			writer &
			wpid=$!
			read -r cmd
			touch /tmp/stop
			wait $wpid
		fi
		;;
	wait)
		echo "PMVM-WAIT=go"
		read -r cmd
		;;
	hold)
		echo "SYNCED=1"
		sleep 1000
		;;
	esac
done
[ -n "$mounted" ] && umount /mnt && echo "UMOUNT=ok"
echo "STEPS-DONE $(up)"
