# L1 side of exec-bench: prints BENCH lines for bench/exec.sh. Rounds
# alternate vmm and QEMU so that both see the same L1 load.
need_vmm
cd "$RUNDIR" || fail "no $RUNDIR"
ROUNDS=${EXEC_BENCH_ROUNDS:-3}
CMD="ls /pmvm/bin >/dev/null"
ARGS="console=ttyS0 quiet loglevel=3 panic=-1 reboot=a"
$VMM --kernel $L2_KERNEL --exec "$CMD" --exec-save-initramfs initrd.cpio ||
	fail "vmm --exec-save-initramfs failed"
ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
r=1
while [ $r -le $ROUNDS ]; do
	t0=$(ms)
	$VMM --kernel $L2_KERNEL -m 256M --timeout 120 --results v$r.json --exec "$CMD" \
		>v$r.out 2>v$r.err </dev/null
	rc=$?
	t1=$(ms)
	[ $rc = 0 ] || { cat v$r.err; fail "vmm --exec round $r: status $rc"; }
	boot=$(sed -n 's/.*"exec_boot_seconds":\([0-9.]*\).*/\1/p' v$r.json)
	echo "BENCH peer=vmm round=$r boot_to_command_ms=$(awk -v b="$boot" 'BEGIN { printf "%d", b * 1000 }') wall_ms=$((t1 - t0))"

	# QEMU: the same virtiofsd, started as a user would (its socket), and
	# isa-debug-exit on the init's channel port: the init's first frame,
	# "started" (type 3), ends QEMU with status (3 << 1) | 1 = 7 just as the
	# command would begin. Wall time from starting virtiofsd to that exit.
	sock=$RUNDIR/vfsd.sock
	rm -f "$sock"
	t0=$(ms)
	/usr/lib/qemu/virtiofsd --socket-path="$sock" -o source=/ -o sandbox=chroot \
		-o cache=auto >q$r.fsd 2>&1 &
	fpid=$!
	i=0; while [ ! -S "$sock" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i + 1)); done
	timeout 120 qemu-system-x86_64 -L /usr/share/qemu -M microvm,x-option-roms=off,rtc=off \
		-global virtio-mmio.force-legacy=false \
		-enable-kvm -cpu host -smp 1 -m 256M -nodefaults -no-user-config -display none \
		-serial file:q$r.console -no-reboot \
		-object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
		-chardev socket,id=fs0,path="$sock" -device vhost-user-fs-device,chardev=fs0,tag=pmvm-root \
		-device isa-debug-exit,iobase=0x2f0,iosize=1 \
		-kernel $L2_KERNEL -initrd initrd.cpio -append "$ARGS" >q$r.out 2>q$r.err </dev/null
	rc=$?
	t1=$(ms)
	kill -9 $fpid 2>/dev/null; wait $fpid 2>/dev/null
	[ $rc = 7 ] || { cat q$r.err q$r.fsd; tail -20 q$r.console; fail "QEMU round $r: status $rc, not 7 (the init's first frame, 'started')"; }
	echo "BENCH peer=qemu-microvm round=$r boot_to_command_ms=$((t1 - t0))"
	r=$((r + 1))
done
