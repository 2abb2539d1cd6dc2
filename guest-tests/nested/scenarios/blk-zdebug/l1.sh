img=$RUNDIR/disk.img
truncate -s 64M "$img"
export PMVM_VIRTIO_TRACE=1
L2_TIMEOUT=120
l2_boot --disk "$img"
cat "$L2_ERR" | head -100
