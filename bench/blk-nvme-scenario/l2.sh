# L2 side of blk-bench: random 4 KiB I/O on /dev/vda at queue depths 1 and 4.
OPS=${PMVM_ARG:-1000}
for i in $(seq 1 100); do [ -b /dev/vda ] && break; sleep 0.1; done
for qd in 1 4; do
	r=$(randio /dev/vda read $OPS $qd | sed -n 's/.*iops=//p')
	w=$(randio /dev/vda write $OPS $qd | sed -n 's/.*iops=//p')
	echo "LBENCH qd=$qd randread_iops=${r:-0} randwrite_iops=${w:-0}"
done
