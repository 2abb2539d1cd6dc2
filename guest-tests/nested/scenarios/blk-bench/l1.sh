# L1 side of blk-bench: prints BENCH lines for bench/blk-nvme.sh.
VX=/pmvm/bin/vblk-exercise
OPS=${BLK_BENCH_OPS:-3000}
nvme_vfio_bind
for qd in 1 8; do
	$VX --nvme "$NVME_BDF" bench --ops $OPS --qd $qd --span 512 >vx.out 2>&1 ||
		{ cat vx.out; fail "vblk-exercise --nvme bench failed"; }
	echo "BENCH $(grep '^backend=' vx.out)"
done
echo "$NVME_BDF" >/sys/bus/pci/drivers/vfio-pci/unbind
echo nvme >/sys/bus/pci/devices/$NVME_BDF/driver_override
echo "$NVME_BDF" >/sys/bus/pci/drivers_probe
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/nvme0n1 ] && break; sleep 1; done
[ -b /dev/nvme0n1 ] || fail "no /dev/nvme0n1 after binding $NVME_BDF to nvme"
for qd in 1 8; do
	$VX --disk /dev/nvme0n1 bench --ops $OPS --qd $qd --span 512 >vx.out 2>&1 ||
		{ cat vx.out; fail "vblk-exercise --disk bench failed"; }
	echo "BENCH $(grep '^backend=' vx.out)"
done
