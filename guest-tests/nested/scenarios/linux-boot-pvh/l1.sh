# L1 side of linux-boot-pvh: linux-boot through the PVH entry.
L2_KERNEL=$L2_VMLINUX
linux_boot_checks
