# L1 side of linux-panic-default-reboot.
l2_boot
expect_out 'PMVM-PANIC-NOW' "L2 userspace never reached the panic"
expect_out 'Kernel panic - not syncing: sysrq triggered crash' "no panic message on the console"
expect_exit 6
