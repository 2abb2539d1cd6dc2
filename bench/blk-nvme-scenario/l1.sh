# L1 side of blk-bench: prints BENCH lines for bench/blk-nvme.sh.
VX=/pmvm/bin/vblk-exercise
OPS=${BLK_BENCH_OPS:-3000}
L2_OPS=${BLK_BENCH_L2_OPS:-1000}
L2_TIMEOUT=300
L2_MEM=256M

synthetic() { # backend-option target [--direct]
	for qd in 1 8; do
		$VX $1 "$2" $3 bench --ops $OPS --qd $qd --span 512 >vx.out 2>&1 ||
			{ cat vx.out; fail "vblk-exercise $1 bench failed"; }
		echo "BENCH src=synthetic $(grep '^backend=' vx.out)"
	done
}
linux() { # backend-name vmm-options...
	local name=$1
	shift
	L2_APPEND="pmvm.arg=$L2_OPS"
	l2_boot "$@"
	[ "$VMM_RC" = 0 ] || { cat "$L2_ERR"; l2_show 30; fail "L2 bench on $name: vmm exited $VMM_RC"; }
	tr -d '\r' <"$L2_OUT" | sed -n "s/^LBENCH /BENCH src=linux backend=$name ops=$L2_OPS /p"
}

nvme_vfio_bind
synthetic --nvme "$NVME_BDF"
linux nvme --nvme "$NVME_BDF"
echo "$NVME_BDF" >/sys/bus/pci/drivers/vfio-pci/unbind
echo nvme >/sys/bus/pci/devices/$NVME_BDF/driver_override
echo "$NVME_BDF" >/sys/bus/pci/drivers_probe
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/nvme0n1 ] && break; sleep 1; done
[ -b /dev/nvme0n1 ] || fail "no /dev/nvme0n1 after binding $NVME_BDF to nvme"
synthetic --disk /dev/nvme0n1
synthetic --disk /dev/nvme0n1 --direct
linux disk-direct --disk /dev/nvme0n1,direct=on
