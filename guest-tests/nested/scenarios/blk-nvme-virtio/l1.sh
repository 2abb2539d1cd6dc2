# L1 side of blk-nvme-virtio.
VX=/pmvm/bin/vblk-exercise
nvme_vfio_bind
note "NVMe $NVME_BDF bound to vfio-pci, group $VFIO_GROUP"
$VX --nvme "$NVME_BDF" verify >vx.out 2>&1
rc=$?
cat vx.out
[ $rc = 0 ] || fail "vblk-exercise --nvme exited $rc: $(grep -E 'FAIL|vblk-exercise:' vx.out | head -3)"

# Hand the controller back to Linux and run the file backend on it.
echo "$NVME_BDF" >/sys/bus/pci/drivers/vfio-pci/unbind
echo nvme >/sys/bus/pci/devices/$NVME_BDF/driver_override
echo "$NVME_BDF" >/sys/bus/pci/drivers_probe
for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/nvme0n1 ] && break; sleep 1; done
[ -b /dev/nvme0n1 ] || fail "no /dev/nvme0n1 after binding $NVME_BDF to nvme"
$VX --disk /dev/nvme0n1 verify >vx.out 2>&1
rc=$?
cat vx.out
[ $rc = 0 ] || fail "vblk-exercise --disk /dev/nvme0n1 exited $rc: $(grep -E 'FAIL|vblk-exercise:' vx.out | head -3)"
# leave it to vfio-pci again for the scenarios after this one
echo "$NVME_BDF" >/sys/bus/pci/drivers/nvme/unbind
echo vfio-pci >/sys/bus/pci/devices/$NVME_BDF/driver_override
echo "$NVME_BDF" >/sys/bus/pci/drivers_probe
