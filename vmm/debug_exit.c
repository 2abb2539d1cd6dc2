/*
 * debug_exit.c - the debug-exit port at 0xf4, compatible with QEMU's
 * isa-debug-exit: a guest write of value v (1, 2 or 4 bytes) ends vmm with
 * process exit status (v << 1) | 1. Test guests use it to report a result
 * without a shutdown path. Statuses are odd, so they never collide with
 * vmm's own (even) ones; the shell sees them modulo 256.
 */
#include <stdio.h>
#include <string.h>

#include "vmm.h"

static void debug_exit_io(void *opaque, uint64_t addr, void *data,
			  unsigned len, bool is_write)
{
	struct vm *vm = opaque;
	uint32_t v = 0;

	if (!is_write || addr != 0 || len > 4)
		return;
	memcpy(&v, data, len);
	vm_debug_exit(vm, v);
}

static int debug_exit_setup(struct vm *vm, char *err, size_t errlen)
{
	if (vm_register_pio(vm, PORT_DEBUG_EXIT, 4, debug_exit_io, vm) < 0) {
		snprintf(err, errlen, "debug-exit: cannot claim port 0x%x",
			 PORT_DEBUG_EXIT);
		return -1;
	}
	return 0;
}

static const struct vmm_module debug_exit_module = {
	.name = "debug-exit",
	.setup = debug_exit_setup,
};
VMM_MODULE(debug_exit_module);
