# L1 side of linux-console.
l2_start
l2_wait_for PMVM-CONSOLE-READY 100 || { l2_wait; fail "guest never asked for input (vmm exit $VMM_RC)"; }
l2_send "hello from l1 $$
"
l2_wait_for "ECHO:HELLO FROM L1 $$" 30
l2_wait
expect_out "^ECHO:HELLO FROM L1 $$" "guest did not echo the line sent on vmm's stdin"
expect_exit 0
