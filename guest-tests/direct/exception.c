/*
 * exception - the runtime catches a CPU exception and fails loudly: the
 * guest executes ud2 after one TAP point; the #UD handler prints
 * "Bail out! ... #UD ..." and exits with RT_EXIT_PANIC (vmm status 5).
 * The runner expects exactly that, so this also proves a guest test can
 * fail (run-guest --status 5 --expect 'Bail out!.*#UD').
 */
#include "rt.h"

void rt_main(void)
{
	rt_plan(2);
	rt_ok(true, "about to execute ud2");
	__asm__ volatile("ud2");
	rt_ok(false, "still running after ud2");
}
