/*
 * kvm-pin - hold one idle KVM VM (with an irqchip and one never-run vCPU)
 * open for the life of the nested tier's L1, so that L1's kernel never
 * rewrites its own text when later VMs come and go.
 *
 * Why: every KVM_CREATE_VM and every VM destroy flips static keys in L1's
 * kernel (preempt_notifier_key; apic_sw_disabled for each new local APIC)
 * when their count crosses zero, and a static key flip is live text
 * patching (text_poke_bp: an INT3 over the jump site, IPIs, the new bytes).
 * Under QEMU's multi-threaded TCG a vCPU that keeps running translated code
 * across that patch can go on executing a stale block that still holds the
 * INT3 after memory no longer does: kprobe_int3_handler then sees no INT3
 * at the address, rewinds RIP, and the CPU traps on the same address
 * forever (a soft lockup on every L1 CPU; guest-tests/nested/README.md).
 * With this VM held, the counts never return to zero, so no vmm run in L1
 * patches kernel text at all.
 *
 * Usage: kvm-pin & (runs until killed; exits 1 at once if KVM fails).
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm, vcpu;

	if (kvm < 0) {
		fprintf(stderr, "kvm-pin: /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) {
		fprintf(stderr, "kvm-pin: VM: %s\n", strerror(errno));
		return 1;
	}
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		fprintf(stderr, "kvm-pin: vCPU: %s\n", strerror(errno));
		return 1;
	}
	for (;;)
		pause();
}
