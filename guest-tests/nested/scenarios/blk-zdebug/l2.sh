cat /proc/interrupts
(kmod_load virtio_blk; echo LOADED) &
sleep 15
cat /proc/interrupts
dmesg | tail -20
ls /sys/block
