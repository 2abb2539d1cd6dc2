for a in "" "reboot=k" "" "reboot=a"; do
L2_APPEND="$a"
l2_boot
echo "RESULT append=[$a] rc=$VMM_RC"
cat $L2_ERR
grep -a "CPU: " $L2_OUT
done
exit 1
