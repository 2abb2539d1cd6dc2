# L1 side of linux-panic.
L2_APPEND="reboot=a $L2_APPEND"
l2_boot
expect_out 'PMVM-PANIC-NOW' "L2 userspace never reached the panic"
expect_out 'Kernel panic - not syncing: sysrq triggered crash' "no panic message on the console"
expect_exit 6
grep -q 'reset (ACPI)' "$L2_ERR" || fail "vmm did not say the reset came through ACPI"
