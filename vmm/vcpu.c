/*
 * vcpu.c - vCPUs: creation, CPUID (the supported list, per vCPU topology
 * from cpuid.c: APIC ID = vCPU index), LAPIC LINT pins, MSRs and FPU at
 * reset, and one thread per vCPU running KVM_RUN and dispatching exits.
 * The boot register state belongs to the boot protocol: boot.c.
 * Machine checks (KVM_X86_SETUP_MCE per vCPU) and the SIGBUS path of a
 * memory error during KVM_RUN: memerr.c.
 *
 * Application processors are created up front; the in-kernel LAPIC keeps
 * them waiting for INIT/SIPI, so KVM_RUN blocks in the kernel until the
 * guest starts them. vm_request_exit() stops every thread with
 * immediate_exit plus SIGUSR1.
 *
 * vm_pause_vcpus() (vmm.h) uses the same kick: it sets pause_req, then
 * immediate_exit and SIGUSR1 on every thread; a thread whose KVM_RUN
 * returns EINTR (so any I/O exit it was handling has been completed by
 * KVM) parks on pause_cond until the last vm_resume_vcpus(), clears
 * immediate_exit and runs on. Ordering: the pauser and vm_exit_v store
 * their flag before immediate_exit = 1; a waking thread stores
 * immediate_exit = 0, then reads both flags and sets immediate_exit = 1
 * again if one is up, so a pause or exit that comes while it wakes (its
 * SIGUSR1 lost outside KVM_RUN) is never missed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#define MSR_IA32_SYSENTER_CS    0x174
#define MSR_IA32_SYSENTER_ESP   0x175
#define MSR_IA32_SYSENTER_EIP   0x176
#define MSR_IA32_MISC_ENABLE    0x1a0
#define MSR_MTRR_DEF_TYPE       0x2ff
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SYSCALL_MASK        0xc0000084
#define MSR_KERNEL_GS_BASE      0xc0000102

#define APIC_LVT_LINT0          0x350
#define APIC_LVT_LINT1          0x360
#define APIC_MODE_NMI           0x4
#define APIC_MODE_EXTINT        0x7

static int cpuid_init(struct vm *vm, char *err, size_t errlen)
{
	int nent = 256;
	struct kvm_cpuid2 *c;

	for (;;) {
		c = calloc(1, sizeof(*c) + (size_t)nent * sizeof(c->entries[0]));
		if (!c) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		c->nent = (uint32_t)nent;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		free(c);
		if (errno != E2BIG || nent >= 4096) {
			snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: %s",
				 strerror(errno));
			return -1;
		}
		nent *= 2;
	}
	/* Room for topology leaves we may add. */
	vm->cpuid = realloc(c, sizeof(*c) + (c->nent + 8) * sizeof(c->entries[0]));
	if (!vm->cpuid) {
		free(c);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void set_msrs(struct vcpu *v)
{
	static const struct { uint32_t idx; uint64_t val; } init[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 },
		{ MSR_IA32_SYSENTER_EIP, 0 }, { MSR_STAR, 0 }, { MSR_LSTAR, 0 },
		{ MSR_CSTAR, 0 }, { MSR_SYSCALL_MASK, 0 },
		{ MSR_KERNEL_GS_BASE, 0 },
		{ MSR_IA32_MISC_ENABLE, 1 },       /* fast strings */
		{ MSR_MTRR_DEF_TYPE, 0x806 },      /* MTRRs on, default WB */
	};
	union {
		struct kvm_msrs h;
		uint8_t buf[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} m;

	/* One at a time: a backend that refuses one MSR must not keep the
	 * rest from being set. */
	for (size_t i = 0; i < sizeof(init) / sizeof(init[0]); i++) {
		memset(&m, 0, sizeof(m));
		m.h.nmsrs = 1;
		m.h.entries[0].index = init[i].idx;
		m.h.entries[0].data = init[i].val;
		ioctl(v->fd, KVM_SET_MSRS, &m);
	}
}

static int set_lapic(struct vcpu *v)
{
	struct kvm_lapic_state l;
	uint32_t r;

	if (ioctl(v->fd, KVM_GET_LAPIC, &l) < 0)
		return -1;
	memcpy(&r, &l.regs[APIC_LVT_LINT0], 4);
	r = (r & ~0x700u) | (APIC_MODE_EXTINT << 8);
	memcpy(&l.regs[APIC_LVT_LINT0], &r, 4);
	memcpy(&r, &l.regs[APIC_LVT_LINT1], 4);
	r = (r & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(&l.regs[APIC_LVT_LINT1], &r, 4);
	return ioctl(v->fd, KVM_SET_LAPIC, &l);
}

int vcpus_create(struct vm *vm, char *err, size_t errlen)
{
	int n = vm->cfg.smp;

	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	if (!vm->cfg.offline && cpuid_init(vm, err, errlen) < 0)
		return -1;
	vm->vcpus = calloc((size_t)n, sizeof(*vm->vcpus));
	if (!vm->vcpus) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		vm->vcpus[i].fd = -1;
		vm->vcpus[i].vm = vm;
		vm->vcpus[i].index = i;
	}
	vm->nvcpus = n;
	if (vm->cfg.offline)
		return 0; /* the machine is described, never run */
	for (int i = 0; i < n; i++) {
		struct vcpu *v = &vm->vcpus[i];
		struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
		struct kvm_cpuid2 *c;
		void *run;

		v->vm = vm;
		v->index = i;
		v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (v->fd < 0) {
			snprintf(err, errlen, "KVM_CREATE_VCPU %d: %s", i,
				 strerror(errno));
			return -1;
		}
		run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE,
			   MAP_SHARED, v->fd, 0);
		if (run == MAP_FAILED) {
			snprintf(err, errlen, "mmap kvm_run %d: %s", i,
				 strerror(errno));
			return -1;
		}
		v->run = run;
		c = cpuid_for_vcpu(vm->cpuid, i, vm->cfg.smp);
		if (!c) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		memerr_cpuid(vm, c);
		if (vm->sync_faults)
			cpuid_hide_async_pf(c);
		if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0) {
			snprintf(err, errlen, "KVM_SET_CPUID2 %d: %s", i,
				 strerror(errno));
			free(c);
			return -1;
		}
		free(c);
		set_msrs(v);
		memerr_vcpu_setup(v);
		if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0) {
			snprintf(err, errlen, "KVM_SET_FPU %d: %s", i,
				 strerror(errno));
			return -1;
		}
		/* The BSP's LINT0 takes the PIC (virtual wire), LINT1 NMI, as
		 * firmware leaves them; APs keep KVM's reset state (masked). */
		if (i == 0 && set_lapic(v) < 0) {
			snprintf(err, errlen, "LAPIC setup %d: %s", i,
				 strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* ---- Running ------------------------------------------------------------ */

static uint64_t vcpu_rip(struct vcpu *v)
{
	struct kvm_regs r;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0)
		return 0;
	return r.rip;
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	unsigned size = run->io.size;
	uint64_t total = (uint64_t)run->io.count * size;

	if (run->io.data_offset > (uint64_t)v->vm->run_size ||
	    total > (uint64_t)v->vm->run_size - run->io.data_offset)
		return;
	for (uint32_t i = 0; i < run->io.count; i++)
		vm_dispatch_io(v->vm, &v->vm->pio, run->io.port,
			       data + (size_t)i * size, size,
			       run->io.direction == KVM_EXIT_IO_OUT);
}

static void kvm_error(struct vcpu *v, const char *what, unsigned long long code)
{
	uint64_t rip = vcpu_rip(v);

	vm_exit_detail(v->vm, VMM_EXIT_KVM_ERROR, "kvm-error", &rip,
		       "vCPU %d: %s %llu at RIP 0x%llx", v->index, what, code,
		       (unsigned long long)rip);
}

/* Park until the VM is resumed or exits (pause_req is set). */
static void vcpu_park(struct vcpu *v)
{
	struct vm *vm = v->vm;

	pthread_mutex_lock(&vm->pause_lock);
	vm->nparked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_req) && !atomic_load(&vm->exiting))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->nparked--;
	pthread_mutex_unlock(&vm->pause_lock);
	/* A new pause may have come between the wake-up and here, its kick
	 * lost while this thread was outside KVM_RUN: clear immediate_exit,
	 * then read the flags, and set it again if either is up. */
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	if (atomic_load(&vm->pause_req) || atomic_load(&vm->exiting))
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

static void vcpu_ended(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->nended++;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vm *vm = v->vm;
	struct kvm_run *run = v->run;
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "vcpu%d", v->index);
	pthread_setname_np(pthread_self(), name);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	memerr_thread_enter(v);
	while (!atomic_load(&vm->exiting)) {
		uint64_t changes = atomic_load(&vm->changes);
		int rc;

		memerr_run_begin();
		rc = ioctl(v->fd, KVM_RUN, 0);
		memerr_run_end();
		if (rc < 0) {
			int e = errno;

			/* A store to guest memory being remapped (a pcow
			 * NVDIMM moving a cluster): run it again once the
			 * change is over (vm_mem_change_begin, vmm.h). */
			if (e == EFAULT && vm_mem_change_retry(vm, changes))
				continue;

			/* A SIGBUS (memory error) during KVM_RUN: a machine
			 * check for the guest (memerr.c). */
			if (memerr_vcpu_pending(v) || (e == EFAULT && memerr_vcpu_efault(v)))
				continue;
			errno = e;
			if (errno == EINTR || errno == EAGAIN) {
				if (errno == EINTR && atomic_load(&vm->pause_req) &&
				    !atomic_load(&vm->exiting))
					vcpu_park(v);
				continue;
			}
			uint64_t rip = vcpu_rip(v);

			vm_exit_detail(vm, VMM_EXIT_KVM_ERROR, "kvm-error", &rip,
				       "vCPU %d: KVM_RUN: %s at RIP 0x%llx",
				       v->index, strerror(errno),
				       (unsigned long long)rip);
			break;
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(v);
			break;
		case KVM_EXIT_MMIO:
			vm_dispatch_io(vm, &vm->mmio, run->mmio.phys_addr,
				       run->mmio.data,
				       run->mmio.len <= 8 ? run->mmio.len : 8,
				       run->mmio.is_write);
			memerr_mmio_done(v);
			break;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_HLT:
			/* Only without an in-kernel LAPIC; nothing can wake
			 * the vCPU then, so this is the end. */
			vm_exit_detail(vm, VMM_EXIT_KVM_ERROR, "kvm-error", NULL,
				       "vCPU %d halted with no irqchip", v->index);
			break;
		case KVM_EXIT_SHUTDOWN: {
			uint64_t rip = vcpu_rip(v);

			vm_exit_detail(vm, VMM_EXIT_TRIPLE_FAULT, "triple-fault",
				       &rip, "vCPU %d: triple fault "
				       "(KVM_EXIT_SHUTDOWN) at RIP 0x%llx",
				       v->index, (unsigned long long)rip);
			break;
		}
		case KVM_EXIT_SYSTEM_EVENT:
			switch (run->system_event.type) {
			case KVM_SYSTEM_EVENT_SHUTDOWN:
				vm_request_exit(vm, VMM_EXIT_POWEROFF, NULL);
				break;
			case KVM_SYSTEM_EVENT_RESET:
				vm_request_exit(vm, VMM_EXIT_RESET,
						"guest requested a reset");
				break;
			case KVM_SYSTEM_EVENT_WAKEUP:
				break;
			default:
				kvm_error(v, "system event",
					  run->system_event.type);
			}
			break;
		case KVM_EXIT_FAIL_ENTRY:
			kvm_error(v, "KVM_EXIT_FAIL_ENTRY, hardware reason",
				  (unsigned long long)run->fail_entry
					  .hardware_entry_failure_reason);
			break;
		case KVM_EXIT_INTERNAL_ERROR:
			kvm_error(v, "KVM_EXIT_INTERNAL_ERROR, suberror",
				  run->internal.suberror);
			break;
		default:
			kvm_error(v, "unhandled exit reason", run->exit_reason);
		}
	}
	vcpu_ended(vm);
	return NULL;
}

static void kick(int sig) { (void)sig; }

int vcpus_start(struct vm *vm, char *err, size_t errlen)
{
	struct sigaction sa = { .sa_handler = kick };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: KVM_RUN gets EINTR */
	if (memerr_start(vm) < 0) {
		snprintf(err, errlen, "cannot install the SIGBUS handler: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		int e = pthread_create(&v->thread, NULL, vcpu_thread, v);

		if (e) {
			snprintf(err, errlen, "cannot start vCPU thread %d: %s", i,
				 strerror(e));
			return -1;
		}
		v->started = true;
	}
	return 0;
}

void vcpus_stop(struct vm *vm)
{
	/* Wake parked threads: they see exiting and end. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (!v->started)
			continue;
		if (v->run)
			__atomic_store_n(&v->run->immediate_exit, 1,
					 __ATOMIC_SEQ_CST);
		pthread_kill(v->thread, SIGUSR1);
		pthread_join(v->thread, NULL);
		v->started = false;
	}
}

/* ---- Pause and resume (vmm.h) --------------------------------------------- */

static int vcpus_started(const struct vm *vm)
{
	int n = 0;

	for (int i = 0; i < vm->nvcpus; i++)
		n += vm->vcpus[i].started;
	return n;
}

int vm_pause_vcpus(struct vm *vm)
{
	int want;

	for (int i = 0; i < vm->nvcpus; i++) {
		if (vm->vcpus[i].started &&
		    pthread_equal(vm->vcpus[i].thread, pthread_self())) {
			errno = EDEADLK;
			return -1;
		}
	}
	if (vm->pause_depth++ > 0)
		return 0;
	atomic_store(&vm->pause_req, true);
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		if (v->run)
			__atomic_store_n(&v->run->immediate_exit, 1,
					 __ATOMIC_SEQ_CST);
		if (v->started)
			pthread_kill(v->thread, SIGUSR1);
	}
	want = vcpus_started(vm);
	pthread_mutex_lock(&vm->pause_lock);
	while (vm->nparked + vm->nended < want)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	pthread_mutex_unlock(&vm->pause_lock);
	return 0;
}

void vm_resume_vcpus(struct vm *vm)
{
	if (vm->pause_depth == 0 || --vm->pause_depth > 0)
		return;
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_req, false);
	/* A vCPU whose thread has not started yet (a pause during set-up)
	 * must not find immediate_exit set at its first KVM_RUN. */
	for (int i = 0; i < vm->nvcpus; i++)
		if (!vm->vcpus[i].started && vm->vcpus[i].run && !atomic_load(&vm->exiting))
			__atomic_store_n(&vm->vcpus[i].run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

bool vm_vcpus_paused(const struct vm *vm)
{
	return vm->pause_depth > 0;
}
