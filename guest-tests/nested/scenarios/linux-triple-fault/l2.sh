# L2 side of linux-triple-fault: crash the kernel (it reboots by triple fault).
echo "PMVM-PANIC-NOW"
echo 1 >/proc/sys/kernel/sysrq
echo c >/proc/sysrq-trigger
echo "PMVM-STILL-ALIVE"
