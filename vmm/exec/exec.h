/*
 * exec.h - `vmm --exec CMD`: run a command in a Linux guest over the host's
 * files (exec.c; docs/ci.md "Running a command: --exec").
 *
 * The core calls three hooks; everything else is the "exec" module's own
 * (options, virtiofsd, the virtio-fs device, the channel port).
 */
#ifndef PMVM_EXEC_H
#define PMVM_EXEC_H

#include <stdbool.h>
#include <stddef.h>

struct vm_config;
struct boot_image;
struct json_object;

/* --exec was given. */
bool exec_enabled(void);
/* After the kernel was read, before the VM exists (a no-op without
 * --exec, except that --rwdir and friends alone are refused): build the initramfs
 * (the init, the kernel's modules, the run's settings) into bi->initrd,
 * add the kernel arguments, ask for shareable RAM and a stderr console.
 * -1 with err filled (a usage error: the message names the option); 1
 * when --exec-save-initramfs wrote the initramfs and vmm is done. */
int exec_prepare(struct vm_config *cfg, struct boot_image *bi, const char **bad_opt,
		 char *err, size_t errlen);
/* At exit: turn the VM's ending into --exec's status (the command's, or
 * EXEC_EXIT_* when the guest died first); may replace reason and msg. */
int exec_final_status(int status, const char **reason, char *msg, size_t msglen);
/* Add the exec_* members to the --results object. */
void exec_results(struct json_object *o);

#endif
