(insmod /vblk.ko; echo LOADED) &
sleep 12
cat /proc/interrupts | grep -v ' 0 *0 '
dmesg | grep -i virt
ls /sys/block
