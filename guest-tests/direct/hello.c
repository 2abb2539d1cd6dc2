/* hello - the smallest guest test: boots, prints one TAP point, passes. */
#include "rt.h"

void rt_main(void)
{
	rt_plan(1);
	rt_ok(true, "hello from a pmvm test guest");
}
