# L1 side of linux-boot-pvh: linux-boot through the PVH entry.
L2_KERNEL=$L2_VMLINUX
l2_boot
expect_out '^PMVM-L2 up' "L2 never reached userspace"
note "L2 reached userspace at L2 uptime $(tr -d '\r' <"$L2_OUT" | sed -n 's/^PMVM-L2 up \([0-9.]*\).*/\1/p')s"
cpus=$(out_value CPUS)
tables=$(out_value TABLES)
note "guest: CPUS=$cpus ONLINE=$(out_value ONLINE) MEMTOTAL=$(out_value MEMTOTAL)"
note "guest ACPI tables: $tables"
[ "$cpus" = 2 ] || fail "guest sees '$cpus' CPUs, expected 2"
for t in FACP APIC DSDT; do
	echo " $tables " | grep -q " $t " || fail "guest has no ACPI table $t (has: $tables)"
done
expect_out '^PMVM-L2-DONE rc=0' "L2 script did not finish"
expect_exit 0
