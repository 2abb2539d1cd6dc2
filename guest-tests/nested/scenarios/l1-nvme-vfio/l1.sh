# L1 side of l1-nvme-vfio.
nvme_vfio_bind
note "NVMe $NVME_BDF bound to vfio-pci, group $VFIO_GROUP"
[ -c /dev/vfio/vfio ] || fail "no /dev/vfio/vfio"
