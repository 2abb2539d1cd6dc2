# L2 side of linux-panic: crash the kernel.
echo "PMVM-PANIC-NOW"
echo 1 >/proc/sys/kernel/sysrq
echo c >/proc/sysrq-trigger
echo "PMVM-STILL-ALIVE"
