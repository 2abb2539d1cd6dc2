# L2 side: crash the kernel. The marker goes out first; userspace console
# output drains through the UART interrupt, so give it a moment.
echo "PMVM-PANIC-NOW"
sleep 1
echo 1 >/proc/sys/kernel/sysrq
echo c >/proc/sysrq-trigger
echo "PMVM-STILL-ALIVE"
