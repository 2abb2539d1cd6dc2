# L1 side of blk-disk-linux.
img=$RUNDIR/disk.img
truncate -s 64M "$img"
L2_TIMEOUT=240
L2_APPEND="pmvm.arg=write"
l2_boot --disk "$img,serial=pmvm-disk-1"
expect_exit 0
expect_out '^WRITE=done' "L2 did not write its files"
[ "$(out_value SERIAL)" = pmvm-disk-1 ] || fail "serial '$(out_value SERIAL)', expected pmvm-disk-1"
[ "$(out_value SIZE)" = 131072 ] || fail "size '$(out_value SIZE)' sectors, expected 131072"
[ "$(out_value QUEUES)" = 2 ] || fail "guest sees '$(out_value QUEUES)' queues, expected 2"
[ "$(out_value RO)" = 0 ] || fail "guest sees the disk read-only"
[ "$(out_value DISCARD_MAX)" != 0 ] || fail "no discard in the guest"
[ "$(out_value WZ_MAX)" != 0 ] || fail "no write zeroes in the guest"
[ "$(out_value CACHE)" = "write back" ] || fail "write cache '$(out_value CACHE)' (flush not offered?)"
sums=$(out_value SUMS_HASH)
note "written: SUMS_HASH=$sums; image uses $(du -k "$img" | cut -f1) KiB after fstrim"
/usr/sbin/e2fsck -fn "$img" >fsck.out 2>&1 || { cat fsck.out; fail "e2fsck of the image in L1 found problems"; }

# Second boot, the same file read-only: files verify, writes are refused.
L2_APPEND="pmvm.arg=verify-ro"
l2_boot --disk "$img,readonly=on"
expect_exit 0
expect_out '^VERIFY=ok' "files did not verify on the second boot"
[ "$(out_value SUMS_HASH)" = "$sums" ] || fail "checksum list changed between boots"
[ "$(out_value RO)" = 1 ] || fail "guest does not see the disk read-only"
expect_out '^WRITE_ON_RO=refused' "a write to a read-only disk succeeded"
