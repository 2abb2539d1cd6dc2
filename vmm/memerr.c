/*
 * memerr.c - host memory errors in guest memory, handled as real hardware
 * would: the vCPU that consumed a bad byte gets a machine check.
 *
 * Three ways an error is found:
 *   - SIGBUS BUS_MCEERR_AR/AO with a host address (a poisoned page: a DAX
 *     media error, or madvise(MADV_HWPOISON) in tests). KVM sends it to the
 *     vCPU thread whose guest touched the page (KVM_RUN then fails with
 *     EINTR); the kernel sends AO to the process.
 *   - KVM_RUN failing with EFAULT: a backing file shrank under the guest
 *     (the page is beyond EOF). The modules' memory_fault hooks look for it.
 *   - A guest read of a "hole": guest physical pages a module took out of
 *     KVM's memslots with vm_mem_hole() (a recorded bad range) exit as MMIO;
 *     the module's handler calls vm_io_machine_check().
 * Then the core injects a machine check (KVM_X86_SET_MCE: uncorrected,
 * action required, MCi_ADDR the guest physical address, MCi_MISC physical
 * address mode with 4 KiB granularity; on AMD also the poison bit and the
 * CPUID recovery bits, memerr_cpuid) and tells every module
 * (vmm_module.memory_error), which records the range.
 *
 * Signal safety: the handler only stores the address in thread-local
 * variables (a vCPU thread in KVM_RUN: handled after KVM_RUN returns), in a
 * small lock-free ring plus an eventfd write (AO on any other thread), or
 * siglongjmp()s out of a vm_guarded() call. Anything else is fatal, as it
 * was before (default action, core dump), after one line on stderr.
 *
 * The MMIO path must not let the load retire (real hardware does not): the
 * vCPU's registers are saved at the exit, the pending MMIO is completed
 * with immediate_exit (KVM_RUN returns EINTR without running the guest),
 * the registers are put back and the machine check is injected with
 * MCG_STATUS.EIPV|RIPV: the guest sees RIP at the faulting instruction.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "internal.h"

#ifndef BUS_MCEERR_AR
#define BUS_MCEERR_AR 4
#define BUS_MCEERR_AO 5
#endif
#ifndef KVM_EXIT_MEMORY_FAULT
#define KVM_EXIT_MEMORY_FAULT 39
#endif

#define MSR_MCG_CAP     0x179
#define MSR_MCG_STATUS  0x17a
#define MSR_MCG_CTL     0x17b
#define MSR_MC_CTL(i)   (0x400u + 4u * (i))
#define MCG_CTL_P       (1ULL << 8)
#define MCG_SER_P       (1ULL << 24)
#define MCG_STATUS_RIPV 1ULL
#define MCG_STATUS_EIPV 2ULL
#define MCG_STATUS_MCIP 4ULL
#define MCI_STATUS_VAL   (1ULL << 63)
#define MCI_STATUS_UC    (1ULL << 61)
#define MCI_STATUS_EN    (1ULL << 60)
#define MCI_STATUS_MISCV (1ULL << 59)
#define MCI_STATUS_ADDRV (1ULL << 58)
#define MCI_STATUS_PCC   (1ULL << 57)
#define MCI_STATUS_S     (1ULL << 56)
#define MCI_STATUS_AR    (1ULL << 55)
#define MCI_STATUS_POISON_AMD (1ULL << 43) /* AMD: the error is consumed poison */
#define MCACOD_DATA_READ 0x134   /* memory hierarchy, data read */
#define MCACOD_SCRUB     0xc0    /* memory controller: scrubbing */
#define MCI_MISC_PHYS_4K ((2ULL << 6) | 12) /* address mode physical, LSB 12 */
#define MCE_BANKS        10
#define MCE_BANK         9

/* ---- Per-thread state the signal handler reads and writes -------------- */
struct memerr_tls {
	sigjmp_buf *jb;              /* vm_guarded(): where to go */
	uintptr_t lo, hi;            /* ... for faults inside [lo, hi) */
	void *volatile bad;
	struct vcpu *vcpu;           /* this thread's vCPU, or NULL */
	volatile sig_atomic_t in_run;
	volatile sig_atomic_t pending; /* a SIGBUS came during KVM_RUN */
	void *volatile pend_addr;
	volatile int pend_code;
	bool mce_req;                /* vm_io_machine_check() during this exit */
	uint64_t mce_gpa;
};
static _Thread_local struct memerr_tls tls;

/* AO errors on threads that are not in KVM_RUN: a ring the main loop drains. */
#define AO_RING 16
static void *volatile ao_addr[AO_RING];
static atomic_uint ao_head;
static unsigned ao_tail;
static int ao_fd = -1;
static struct vm *ao_vm;
static uint64_t mcg_cap;
static bool amd_guest;

static void fatal_write(const char *s)
{
	ssize_t r = write(2, s, strlen(s));
	(void)r;
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	struct sigaction dfl = { .sa_handler = SIG_DFL };

	(void)uc;
	/* An AO error is asynchronous: never the guarded access's fault. */
	if (tls.jb && a >= tls.lo && a < tls.hi && si->si_code != BUS_MCEERR_AO) {
		tls.bad = si->si_addr;
		siglongjmp(*tls.jb, 1);
	}
	if (tls.in_run && (si->si_code == BUS_MCEERR_AR || si->si_code == BUS_MCEERR_AO)) {
		tls.pend_addr = si->si_addr;
		tls.pend_code = si->si_code;
		tls.pending = 1;
		return;
	}
	if (si->si_code == BUS_MCEERR_AO && ao_fd >= 0) {
		uint64_t one = 1;
		unsigned h = atomic_fetch_add(&ao_head, 1);
		ssize_t r;

		ao_addr[h % AO_RING] = si->si_addr;
		r = write(ao_fd, &one, sizeof(one));
		(void)r;
		return;
	}
	fatal_write("vmm: SIGBUS in vmm itself (a memory error or a truncated file "
		    "outside a guarded access): fatal\n");
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
}

int vm_guarded(void (*fn)(void *), void *opaque, const void *lo, size_t len, void **bad)
{
	sigjmp_buf jb, *prev = tls.jb;
	uintptr_t plo = tls.lo, phi = tls.hi;

	if (sigsetjmp(jb, 1)) {
		if (bad)
			*bad = tls.bad;
		tls.jb = prev;
		tls.lo = plo;
		tls.hi = phi;
		return -1;
	}
	tls.lo = (uintptr_t)lo;
	tls.hi = (uintptr_t)lo + len;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	tls.jb = &jb;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	fn(opaque);
	tls.jb = prev;
	tls.lo = plo;
	tls.hi = phi;
	return 0;
}

/* ---- Machine checks -------------------------------------------------------- */

void memerr_vcpu_setup(struct vcpu *v)
{
	struct vm *vm = v->vm;
	uint64_t supported = 0, cap;

	v->mce = false;
	/* KVM_CAP_MCE is the number of banks KVM emulates; the supported
	 * capability bits come separately (they may be none). */
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MCE) < MCE_BANKS ||
	    ioctl(vm->kvm_fd, KVM_X86_GET_MCE_CAP_SUPPORTED, &supported) < 0)
		return;
	cap = MCE_BANKS | (supported & (MCG_CTL_P | MCG_SER_P));
	if (ioctl(v->fd, KVM_X86_SETUP_MCE, &cap) < 0)
		return;
	mcg_cap = cap;
	v->mce = true;
}

/* An AMD guest (Linux) treats every uncorrected error as fatal unless
 * CPUID 0x80000007 EBX says the platform can recover (SUCCOR, bit 1) and
 * survive an overflow (OVERFLOW_RECOV, bit 0); KVM reports neither. vmm
 * delivers errors as such a platform would, so it sets both when it can
 * inject machine checks. Intel guests look at MCG_CAP.SER_P instead. */
void memerr_cpuid(struct vm *vm, struct kvm_cpuid2 *c)
{
	bool amd = false;

	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MCE) < MCE_BANKS)
		return;
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 0)
			amd = c->entries[i].ebx == 0x68747541; /* "Auth"enticAMD */
	for (uint32_t i = 0; amd && i < c->nent; i++)
		if (c->entries[i].function == 0x80000007)
			c->entries[i].ebx |= 0x3;
	amd_guest = amd;
}

static int get_msr(struct vcpu *v, uint32_t idx, uint64_t *val)
{
	union {
		struct kvm_msrs h;
		uint8_t buf[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} m;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.h.entries[0].index = idx;
	if (ioctl(v->fd, KVM_GET_MSRS, &m) != 1)
		return -1;
	*val = m.h.entries[0].data;
	return 0;
}

/* Would KVM deliver a machine check now, rather than drop it (the guest
 * has not enabled the bank) or shut the guest down (CR4.MCE clear, or one
 * in progress)? Real hardware behaves the same way. */
static bool mce_enabled(struct vcpu *v)
{
	uint64_t ctl = 0, gctl = ~0ULL;

	if (get_msr(v, MSR_MC_CTL(MCE_BANK), &ctl) || ctl != ~0ULL)
		return false;
	if ((mcg_cap & MCG_CTL_P) && (get_msr(v, MSR_MCG_CTL, &gctl) || gctl != ~0ULL))
		return false;
	return true;
}

/* Inject an uncorrected memory error at gpa into v: action required
 * (consumed by the instruction at RIP) or action optional (found). */
static int inject(struct vcpu *v, uint64_t gpa, bool ar)
{
	struct kvm_x86_mce m = {
		.status = MCI_STATUS_VAL | MCI_STATUS_UC | MCI_STATUS_EN | MCI_STATUS_MISCV |
			  MCI_STATUS_ADDRV | MCI_STATUS_S,
		.addr = gpa & ~0xfffULL,
		.misc = MCI_MISC_PHYS_4K,
		.mcg_status = MCG_STATUS_MCIP | MCG_STATUS_RIPV,
		.bank = MCE_BANK,
	};

	if (!v->mce)
		return -1;
	if (ar) {
		m.status |= MCI_STATUS_AR | MCACOD_DATA_READ;
		/* Linux on AMD (6.x) trusts MCi_ADDR of an error outside the
		 * legacy northbridge bank only with the poison bit; without it
		 * the process is killed but the page is not isolated. */
		if (amd_guest)
			m.status |= MCI_STATUS_POISON_AMD;
		m.mcg_status |= MCG_STATUS_EIPV;
	} else {
		m.status |= MCACOD_SCRUB;
	}
	atomic_fetch_add(&v->vm->mces, 1);
	return ioctl(v->fd, KVM_X86_SET_MCE, &m);
}

static void notify_modules(struct vm *vm, uint64_t gpa, uint64_t len, bool ar)
{
	vmm_for_each_module(mp)
		if ((*mp)->memory_error)
			(*mp)->memory_error(vm, gpa, len, ar ? VM_MEMERR_AR : VM_MEMERR_AO);
}

static bool hva_to_gpa(struct vm *vm, const void *hva, uint64_t *gpa)
{
	bool ok;

	pthread_rwlock_rdlock(&vm->mem_lock);
	ok = memmap_hva_to_gpa(&vm->mem, hva, gpa) == 0;
	pthread_rwlock_unlock(&vm->mem_lock);
	return ok;
}

/* One line per error, for the first few. */
static void log_error(struct vcpu *v, uint64_t gpa, const char *how)
{
	static atomic_int n;

	if (atomic_fetch_add(&n, 1) < 16)
		vmm_log("vCPU %d: memory error at guest 0x%" PRIx64 " (%s): machine check",
			v->index, gpa, how);
}

/* After KVM_RUN returned: a SIGBUS that came during it. */
bool memerr_vcpu_pending(struct vcpu *v)
{
	uint64_t gpa;
	bool ar;

	if (!tls.pending)
		return false;
	tls.pending = 0;
	ar = tls.pend_code == BUS_MCEERR_AR;
	if (!hva_to_gpa(v->vm, tls.pend_addr, &gpa)) {
		vm_exit_detail(v->vm, VMM_EXIT_ERROR, "memory-error", NULL,
			       "vCPU %d: host memory error at %p, which is not guest memory",
			       v->index, tls.pend_addr);
		return true;
	}
	gpa &= ~0xfffULL;
	log_error(v, gpa, ar ? "SIGBUS BUS_MCEERR_AR" : "SIGBUS BUS_MCEERR_AO");
	notify_modules(v->vm, gpa, 4096, ar);
	if (inject(v, gpa, ar) < 0)
		vm_exit_detail(v->vm, VMM_EXIT_ERROR, "memory-error", NULL,
			       "vCPU %d: memory error at guest 0x%" PRIx64 " and no machine "
			       "check to report it (KVM has no MCE support)", v->index, gpa);
	return true;
}

void vm_io_machine_check(struct vm *vm, uint64_t gpa)
{
	(void)vm;
	tls.mce_req = true;
	tls.mce_gpa = gpa;
}

/* An MMIO read exit whose handler called vm_io_machine_check(): complete
 * the exit without letting the load retire, then raise the machine check. */
void memerr_mmio_done(struct vcpu *v)
{
	struct kvm_regs regs;
	static atomic_bool logged;
	int r;

	if (!tls.mce_req)
		return;
	tls.mce_req = false;
	if (!v->mce || !mce_enabled(v)) {
		if (!atomic_exchange(&logged, true))
			vmm_log("vCPU %d: guest read of bad memory at 0x%" PRIx64 " with machine "
				"checks %s: it reads all-ones", v->index, tls.mce_gpa,
				v->mce ? "disabled by the guest" : "unsupported by KVM");
		return;
	}
	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0)
		return;
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	tls.in_run = 1;
	do
		r = ioctl(v->fd, KVM_RUN, 0);
	while (r == 0 && v->run->exit_reason == KVM_EXIT_INTR);
	tls.in_run = 0;
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	if (atomic_load(&v->vm->pause_req) || atomic_load(&v->vm->exiting))
		__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (ioctl(v->fd, KVM_SET_REGS, &regs) < 0)
		return;
	inject(v, tls.mce_gpa, true);
}

/* KVM_RUN failed with EFAULT: an address KVM could not map. Returns true
 * if it was a memory error (handled: run the vCPU again). */
bool memerr_vcpu_efault(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	bool found = false;

	if (run->exit_reason == KVM_EXIT_MEMORY_FAULT) {
		uint64_t gpa;

		memcpy(&gpa, (uint8_t *)&run->hw + 8, sizeof(gpa));
		gpa &= ~0xfffULL;
		log_error(v, gpa, "KVM_EXIT_MEMORY_FAULT");
		notify_modules(v->vm, gpa, 4096, true);
		return inject(v, gpa, true) == 0;
	}
	vmm_for_each_module(mp)
		if ((*mp)->memory_fault && (*mp)->memory_fault(v->vm))
			found = true;
	if (found) {
		/* The module punches the lost range out of the memslots from
		 * the main thread; the vCPU then exits there as MMIO. */
		usleep(1000);
	}
	return found;
}

static void on_ao(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t n;
	unsigned head;

	(void)events;
	if (read(ao_fd, &n, sizeof(n)) != sizeof(n))
		return;
	head = atomic_load(&ao_head);
	for (; ao_tail != head; ao_tail++) {
		uint64_t gpa;

		if (!hva_to_gpa(vm, ao_addr[ao_tail % AO_RING], &gpa))
			continue;
		gpa &= ~0xfffULL;
		notify_modules(vm, gpa, 4096, false);
		if (vm->nvcpus > 0)
			inject(&vm->vcpus[0], gpa, false);
	}
}

void memerr_thread_enter(struct vcpu *v)
{
	tls.vcpu = v;
}

void memerr_run_begin(void) { tls.in_run = 1; }
void memerr_run_end(void) { tls.in_run = 0; }

int memerr_start(struct vm *vm)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		return -1;
	ao_vm = vm;
	ao_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ao_fd >= 0 && vm_add_fd(vm, ao_fd, EPOLLIN, on_ao, vm) < 0) {
		close(ao_fd);
		ao_fd = -1;
	}
	return 0;
}

/* ---- Holes: guest pages taken out of the memslots ------------------------- */

#define HOLE_SLOTS     (VM_MAX_HOLES + 1)

static int set_slot(struct vm *vm, int slot, uint64_t gpa, uint64_t size, uint8_t *host,
		    unsigned flags)
{
	struct kvm_userspace_memory_region reg = {
		.slot = (uint32_t)slot,
		.flags = vm_kvm_mem_flags(flags),
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};

	if (vm->vm_fd < 0)
		return 0;
	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg);
}


/* Rebuild region r's memslots from the hole list. */
static int rebuild(struct vm *vm, struct vm_region *r)
{
	struct vm_hole pieces[HOLE_SLOTS];
	int n, rc = 0;

	for (int i = 0; i < r->pieces; i++)
		set_slot(vm, memmap_piece_slot(r, i), 0, 0, NULL, 0);
	n = memmap_pieces(r->gpa, r->size, vm->holes, vm->nholes, pieces, HOLE_SLOTS);
	if (n < 0)
		return -1;
	for (int k = 0; k < n; k++)
		if (set_slot(vm, memmap_piece_slot(r, k), pieces[k].gpa, pieces[k].len,
			     r->host + (pieces[k].gpa - r->gpa), r->flags) < 0)
			rc = -1;
	r->pieces = n;
	return rc;
}

int vm_mem_hole(struct vm *vm, uint64_t gpa, uint64_t len, bool hole)
{
	uint64_t s = gpa & ~0xfffULL, e = (gpa + len + 0xfff) & ~0xfffULL;
	struct vm_hole nh[VM_MAX_HOLES + 2];
	int n = 0, rc = 0;
	bool paused = false;

	if (len == 0 || gpa + len < gpa || e < s)
		return -1;
	/* The new list: the old minus [s, e), plus [s, e) when hole. */
	for (int i = 0; i < vm->nholes; i++) {
		uint64_t hs = vm->holes[i].gpa, he = hs + vm->holes[i].len;

		if (he <= s || hs >= e) {
			nh[n++] = vm->holes[i];
			continue;
		}
		if (hole) {
			if (hs < s)
				s = hs;
			if (he > e)
				e = he;
			continue;
		}
		if (hs < s)
			nh[n++] = (struct vm_hole){ hs, s - hs };
		if (he > e)
			nh[n++] = (struct vm_hole){ e, he - e };
		if (n > VM_MAX_HOLES)
			return -1;
	}
	if (hole) {
		int i;

		if (n >= VM_MAX_HOLES)
			return -1;
		for (i = n; i > 0 && nh[i - 1].gpa > s; i--)
			nh[i] = nh[i - 1];
		nh[i] = (struct vm_hole){ s, e - s };
		n++;
	}
	/* Before the vCPU threads run (set-up) there is nothing to pause, and
	 * a pause would leave immediate_exit set for their first KVM_RUN. */
	for (int i = 0; i < vm->nvcpus && !paused; i++)
		paused = vm->vcpus[i].started;
	if (paused) {
		if (vm_pause_vcpus(vm) < 0)
			return -1;
		paused = true;
	}
	pthread_rwlock_wrlock(&vm->mem_lock);
	/* a dirty-logged region keeps what its old slots logged (vm.c) */
	for (int i = 0; i < vm->mem.n; i++) {
		struct vm_region *r = &vm->mem.r[i];

		if (r->gpa < e && r->gpa + r->size > s && vm_mem_dirty_carry(vm, r))
			rc = -1;
	}
	memcpy(vm->holes, nh, (size_t)n * sizeof(nh[0]));
	vm->nholes = n;
	for (int i = 0; i < vm->mem.n; i++) {
		struct vm_region *r = &vm->mem.r[i];

		if (r->gpa < e && r->gpa + r->size > s)
			rc |= rebuild(vm, r);
	}
	pthread_rwlock_unlock(&vm->mem_lock);
	if (paused)
		vm_resume_vcpus(vm);
	return rc;
}
