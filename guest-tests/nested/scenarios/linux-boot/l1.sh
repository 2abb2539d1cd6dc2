# L1 side of linux-boot: the bzImage boot (checks in l1-lib.sh).
linux_boot_checks
