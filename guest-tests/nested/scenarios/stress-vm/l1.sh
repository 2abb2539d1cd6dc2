# L1 side of stress-vm (see scenario.conf).
need_vmm
# context switches on every CPU meanwhile
(yes | cat >/dev/null) & (yes | cat >/dev/null) &
i=0
t0=$(cut -d' ' -f1 /proc/uptime)
while [ $i -lt "${STRESS_N:-1000}" ]; do
	"$VMM" --kernel /pmvm/guests/hello.elf --timeout 20 </dev/null >/dev/null 2>&1
	rc=$?
	[ $rc = 1 ] || fail "run $i: exit $rc"
	i=$((i + 1))
	[ $((i % 50)) = 0 ] && echo "stress-vm: $i runs at $(cut -d' ' -f1 /proc/uptime)" >/dev/console
done
echo "stress-vm: $i runs from $t0 to $(cut -d' ' -f1 /proc/uptime)" >/dev/console
