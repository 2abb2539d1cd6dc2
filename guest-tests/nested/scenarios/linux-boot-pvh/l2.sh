# L2 side of linux-boot: report what the guest sees; init then powers off.
echo "CPUS=$(grep -c ^processor /proc/cpuinfo)"
echo "ONLINE=$(cat /sys/devices/system/cpu/online)"
echo "TABLES=$(ls /sys/firmware/acpi/tables 2>/dev/null | tr '\n' ' ')"
echo "MEMTOTAL=$(sed -n 's/^MemTotal: *//p' /proc/meminfo)"
echo "KERNEL=$(uname -r)"
