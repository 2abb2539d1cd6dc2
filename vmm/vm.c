/*
 * vm.c - the VM object: KVM setup (irqchip, PIT via pit.c, TSS), guest RAM and memory
 * slots, the checked guest-address accessor, I/O range registration and
 * dispatch, interrupts and the exit request. Everything in vmm.h except
 * vCPUs, boot, the event loop (loop.c) and option parsing is here.
 *
 * An offline VM (vm_config.offline: --dump-acpi) never opens /dev/kvm: RAM,
 * memory regions, I/O ranges, IRQ allocation and module setup work as
 * always, and the KVM calls behind them (memory slots, irqfd, ioeventfd,
 * IRQ lines) are skipped and succeed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "pit.h"

void vmm_log(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One write, so lines from vCPU threads do not interleave. */
	dprintf(STDERR_FILENO, "vmm: %s\n", buf);
}


/* vmm_request_sync_faults (vmm.h): who asked, NULL if nobody */
static const char *sync_faults_for;

void vmm_request_sync_faults(const char *who)
{
	if (!sync_faults_for)
		sync_faults_for = who;
}

/* No async page faults (vmm.h): HLT in the guest now (before any vCPU
 * exists); the CPUID side is cpuid_hide_async_pf(). Without the capability
 * the guest still runs, and vmm says what that costs. */
static void vm_sync_faults(struct vm *vm)
{
	struct kvm_enable_cap cap = {
		.cap = KVM_CAP_X86_DISABLE_EXITS,
		.args = { KVM_X86_DISABLE_EXITS_HLT },
	};
	int m = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_X86_DISABLE_EXITS);

	vm->sync_faults = true;
	if (m <= 0 || !(m & KVM_X86_DISABLE_EXITS_HLT) ||
	    ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0)
		vmm_log("%s: KVM cannot let HLT run in the guest: a guest read of an "
			"unmapped page may be seen as a write (KVM async page faults)",
			sync_faults_for);
}

/* ---- Memory ---------------------------------------------------------- */

uint32_t vm_kvm_mem_flags(unsigned flags)
{
	return ((flags & VM_MEM_READONLY) ? KVM_MEM_READONLY : 0) |
	       ((flags & VM_MEM_LOG_DIRTY) ? KVM_MEM_LOG_DIRTY_PAGES : 0);
}

bool vm_dirty_log_supported(const struct vm *vm)
{
	int m;

	if (vm->vm_fd < 0)
		return false;
	m = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	return m > 0 && (m & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE);
}

/* OR nbits bits of src (from bit 0) into dst from bit at. */
static void or_bits(uint64_t *dst, uint64_t at, const uint64_t *src, uint64_t nbits)
{
	if (at % 64 == 0) {
		for (uint64_t i = 0; i < nbits / 64; i++)
			dst[at / 64 + i] |= src[i];
		if (nbits % 64)
			dst[(at + nbits) / 64] |= src[nbits / 64] & ((1ULL << (nbits % 64)) - 1);
		return;
	}
	for (uint64_t i = 0; i < nbits; i++)
		if (src[i / 64] >> (i % 64) & 1)
			dst[(at + i) / 64] |= 1ULL << ((at + i) % 64);
}

/* The dirty log of one memslot (npages pages) ORed into dst at bit at. */
static int slot_log(struct vm *vm, int slot, uint64_t npages, uint64_t *dst, uint64_t at)
{
	uint64_t *tmp = calloc((npages + 63) / 64, 8);
	struct kvm_dirty_log l = { .slot = (uint32_t)slot, .dirty_bitmap = tmp };
	int rc;

	if (!tmp)
		return -1;
	rc = ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &l);
	if (rc == 0)
		or_bits(dst, at, tmp, npages);
	free(tmp);
	return rc < 0 ? -1 : 0;
}

/* Region r's memslots (the pieces around holes, memerr.c): fn for each,
 * with its slot, first page (from the region's start) and pages. */
static int region_slots(struct vm *vm, struct vm_region *r,
			int (*fn)(struct vm *, int, uint64_t, uint64_t, void *), void *ctx)
{
	struct vm_hole pieces[VM_MAX_HOLES + 1];
	int n = memmap_pieces(r->gpa, r->size, vm->holes, vm->nholes, pieces,
			      VM_MAX_HOLES + 1);

	if (n < 0)
		return -1;
	for (int k = 0; k < n; k++)
		if (fn(vm, memmap_piece_slot(r, k), (pieces[k].gpa - r->gpa) / 4096,
		       pieces[k].len / 4096, ctx))
			return -1;
	return 0;
}

static int log_one(struct vm *vm, int slot, uint64_t first, uint64_t n, void *ctx)
{
	return slot_log(vm, slot, n, ctx, first);
}

static int rearm_one(struct vm *vm, int slot, uint64_t first, uint64_t n, void *ctx)
{
	uint64_t words = (n + 63) / 64, *ones = malloc(words * 8);
	struct kvm_clear_dirty_log c = { .slot = (uint32_t)slot, .num_pages = (uint32_t)n,
					 .first_page = 0, .dirty_bitmap = ones };
	int rc;

	(void)first;
	(void)ctx;
	if (!ones || n > UINT32_MAX) {
		free(ones);
		errno = ENOMEM;
		return -1;
	}
	memset(ones, 0xff, words * 8);
	rc = ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &c);
	free(ones);
	return rc < 0 ? -1 : 0;
}

static struct vm_region *dirty_region(struct vm *vm, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < vm->mem.n; i++)
		if (vm->mem.r[i].gpa == gpa && vm->mem.r[i].size == len &&
		    (vm->mem.r[i].flags & VM_MEM_LOG_DIRTY))
			return &vm->mem.r[i];
	return NULL;
}

/* The dirty log of the region at [gpa, gpa+len) ORed into bitmap, or, with
 * bitmap NULL, the log cleared and the pages write-protected again. */
static int dirty_op(struct vm *vm, uint64_t gpa, uint64_t len, uint64_t *bitmap)
{
	uint64_t words = (len / 4096 + 63) / 64;
	struct vm_region *r;
	int rc = -1;

	pthread_rwlock_rdlock(&vm->mem_lock);
	/* without KVM (tests) the log is what vmm marked itself */
	r = dirty_region(vm, gpa, len);
	if (!r) {
		errno = EINVAL;
	} else if (bitmap) {
		rc = vm->vm_fd >= 0 ? region_slots(vm, r, log_one, bitmap) : 0;
		if (rc == 0 && r->dirty_carry)
			or_bits(bitmap, 0, r->dirty_carry, len / 4096);
		for (uint64_t i = 0; rc == 0 && r->vmm_dirty && i < words; i++)
			bitmap[i] |= __atomic_load_n(&r->vmm_dirty[i], __ATOMIC_RELAXED);
	} else {
		rc = vm->vm_fd >= 0 ? region_slots(vm, r, rearm_one, NULL) : 0;
		free(r->dirty_carry);
		r->dirty_carry = NULL;
		if (r->vmm_dirty)
			memset(r->vmm_dirty, 0, words * 8);
	}
	pthread_rwlock_unlock(&vm->mem_lock);
	return rc;
}

int vm_mem_dirty_log(struct vm *vm, uint64_t gpa, uint64_t len, uint64_t *bitmap)
{
	if (!bitmap) {
		errno = EINVAL;
		return -1;
	}
	return dirty_op(vm, gpa, len, bitmap);
}

int vm_mem_dirty_rearm(struct vm *vm, uint64_t gpa, uint64_t len)
{
	return dirty_op(vm, gpa, len, NULL);
}

int vm_mem_dirty_carry(struct vm *vm, struct vm_region *r)
{
	if (!(r->flags & VM_MEM_LOG_DIRTY) || vm->vm_fd < 0)
		return 0;
	if (!r->dirty_carry) {
		r->dirty_carry = calloc((r->size / 4096 + 63) / 64, 8);
		if (!r->dirty_carry)
			return -1;
	}
	return region_slots(vm, r, log_one, r->dirty_carry);
}

uint64_t vm_mem_change_waits(struct vm *vm)
{
	return atomic_load(&vm->change_waits);
}

/* vmm threads' stores into a dirty-logged region that meet a change: the
 * SIGSEGV handler below, which sees the regions and the VM's change state
 * through these (one VM per process). */
static struct { uintptr_t lo, hi; } segv_range[VM_MAX_REGIONS];
static atomic_int segv_nranges;
static struct vm *segv_vm;
static struct sigaction segv_old;
static __thread uintptr_t segv_last_addr;
static __thread uint64_t segv_last_changes;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;
	int n = atomic_load(&segv_nranges);
	bool ours = false;

	(void)sig;
	(void)uc;
	for (int i = 0; i < n && i < VM_MAX_REGIONS; i++)
		ours |= a >= segv_range[i].lo && a < segv_range[i].hi;
	if (ours && si->si_code == SEGV_ACCERR &&
	    (atomic_load(&segv_vm->changing) > 0 || a != segv_last_addr ||
	     atomic_load(&segv_vm->changes) != segv_last_changes)) {
		segv_last_addr = a;
		while (atomic_load(&segv_vm->changing) > 0)
			sched_yield();
		segv_last_changes = atomic_load(&segv_vm->changes);
		return;	/* the store runs again */
	}
	/* not a change's: whatever handled SIGSEGV before (the access
	 * faults again) */
	sigaction(SIGSEGV, &segv_old, NULL);
}

static void segv_watch(struct vm *vm, void *host, uint64_t size)
{
	int n = atomic_load(&segv_nranges);

	if (n >= VM_MAX_REGIONS)
		return;
	segv_vm = vm;
	segv_range[n].lo = (uintptr_t)host;
	segv_range[n].hi = (uintptr_t)host + size;
	atomic_store(&segv_nranges, n + 1);
	if (n == 0) {
		struct sigaction sa = { .sa_sigaction = on_segv,
					.sa_flags = SA_SIGINFO };

		sigemptyset(&sa.sa_mask);
		sigaction(SIGSEGV, &sa, &segv_old);
	}
}

void vm_mem_change_begin(struct vm *vm)
{
	pthread_mutex_lock(&vm->change_lock);
	atomic_fetch_add(&vm->changing, 1);
	pthread_mutex_unlock(&vm->change_lock);
}

void vm_mem_change_end(struct vm *vm)
{
	pthread_mutex_lock(&vm->change_lock);
	atomic_fetch_add(&vm->changes, 1);
	atomic_fetch_sub(&vm->changing, 1);
	pthread_cond_broadcast(&vm->change_cond);
	pthread_mutex_unlock(&vm->change_lock);
}

bool vm_mem_change_retry(struct vm *vm, uint64_t changes_before)
{
	bool retry;

	pthread_mutex_lock(&vm->change_lock);
	retry = atomic_load(&vm->changing) > 0 || atomic_load(&vm->changes) != changes_before;
	if (retry)
		atomic_fetch_add(&vm->change_waits, 1);
	while (atomic_load(&vm->changing) > 0 && !atomic_load(&vm->exiting))
		pthread_cond_wait(&vm->change_cond, &vm->change_lock);
	pthread_mutex_unlock(&vm->change_lock);
	return retry;
}

int vm_add_memory(struct vm *vm, uint64_t gpa, uint64_t size, void *host,
		  unsigned flags)
{
	struct kvm_userspace_memory_region reg;
	bool have_kvm = vm->vm_fd >= 0;
	uint64_t *vmm_dirty = NULL;	/* VM_MEM_LOG_DIRTY: the region's */
	int slot, ret;

	if ((gpa | size | (uintptr_t)host) & 0xfff || size == 0) {
		errno = EINVAL;
		return -1;
	}
	if ((flags & VM_MEM_LOG_DIRTY) && have_kvm && !vm->manual_dirty) {
		struct kvm_enable_cap cap = {
			.cap = KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
			.args = { KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE },
		};

		if (!vm_dirty_log_supported(vm) || ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
			errno = EOPNOTSUPP;
			return -1;
		}
		vm->manual_dirty = true;
	}
	if (flags & VM_MEM_LOG_DIRTY) {
		vmm_dirty = calloc((size / 4096 + 63) / 64, 8);
		if (!vmm_dirty) {
			errno = ENOMEM;
			return -1;
		}
	}
	pthread_rwlock_wrlock(&vm->mem_lock);
	slot = vm->next_slot;
	ret = memmap_add(&vm->mem, gpa, size, host, flags, slot);
	if (ret == 0) {
		reg = (struct kvm_userspace_memory_region){
			.slot = (uint32_t)slot,
			.flags = vm_kvm_mem_flags(flags),
			.guest_phys_addr = gpa,
			.memory_size = size,
			.userspace_addr = (uintptr_t)host,
		};
		if (have_kvm &&
		    ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0) {
			int e = errno;

			/* Take the region out again: it is the one at gpa. */
			for (int i = 0; i < vm->mem.n; i++) {
				if (vm->mem.r[i].gpa == gpa) {
					memmove(&vm->mem.r[i], &vm->mem.r[i + 1],
						(size_t)(vm->mem.n - i - 1) *
						sizeof(vm->mem.r[0]));
					vm->mem.n--;
					break;
				}
			}
			errno = e;
			ret = -1;
		} else {
			vm->next_slot++;
			if (gpa + size > vm->alloc_next)
				vm->alloc_next = gpa + size;
			if (flags & VM_MEM_LOG_DIRTY) {
				vm->dirty_regions = true;
				for (int i = 0; i < vm->mem.n; i++)
					if (vm->mem.r[i].gpa == gpa)
						vm->mem.r[i].vmm_dirty = vmm_dirty;
				vmm_dirty = NULL;
				segv_watch(vm, host, size);
			}
		}
	}
	pthread_rwlock_unlock(&vm->mem_lock);
	free(vmm_dirty);	/* not added */
	return ret < 0 ? -1 : slot;
}

void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len)
{
	void *p;

	pthread_rwlock_rdlock(&vm->mem_lock);
	p = memmap_lookup(&vm->mem, gpa, len, false);
	pthread_rwlock_unlock(&vm->mem_lock);
	return p;
}

/* Mark [gpa, gpa+len) in region r's vmm_dirty. Called under mem_lock. */
static void mark_dirty(struct vm_region *r, uint64_t gpa, uint64_t len)
{
	uint64_t first, last;

	if (!r->vmm_dirty || gpa < r->gpa || gpa - r->gpa >= r->size)
		return;
	if (len == 0)
		len = 1;
	if (len > r->size - (gpa - r->gpa))
		len = r->size - (gpa - r->gpa);
	first = (gpa - r->gpa) / 4096;
	last = (gpa - r->gpa + len - 1) / 4096;
	for (uint64_t i = first; i <= last; i++)
		__atomic_fetch_or(&r->vmm_dirty[i / 64], 1ULL << (i % 64), __ATOMIC_RELAXED);
}

void vm_mem_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len)
{
	pthread_rwlock_rdlock(&vm->mem_lock);
	for (int i = 0; i < vm->mem.n; i++)
		mark_dirty(&vm->mem.r[i], gpa, len);
	pthread_rwlock_unlock(&vm->mem_lock);
}

void *vm_gpa_w(struct vm *vm, uint64_t gpa, uint64_t len)
{
	void *p;

	pthread_rwlock_rdlock(&vm->mem_lock);
	p = memmap_lookup(&vm->mem, gpa, len, true);
	if (p && vm->dirty_regions)
		for (int i = 0; i < vm->mem.n; i++)
			mark_dirty(&vm->mem.r[i], gpa, len);
	pthread_rwlock_unlock(&vm->mem_lock);
	return p;
}

uint64_t vm_ram_size(const struct vm *vm) { return vm->ram_size; }
int vm_ram_fd(const struct vm *vm) { return vm->ram_fd; }
void *vm_ram_host(const struct vm *vm) { return vm->ram; }
uint64_t vm_ram_end(const struct vm *vm) { return vm->ram_end; }

uint64_t vm_alloc_gpa(struct vm *vm, uint64_t size, uint64_t align)
{
	uint64_t a;

	if (align == 0 || (align & (align - 1)))
		align = 4096;
	pthread_rwlock_wrlock(&vm->mem_lock);
	a = (vm->alloc_next + align - 1) & ~(align - 1);
	if (a < vm->alloc_next || a + size < a) {
		a = 0;
	} else {
		vm->alloc_next = a + size;
	}
	pthread_rwlock_unlock(&vm->mem_lock);
	return a;
}

int vm_for_each_ram_region(struct vm *vm,
			   int (*fn)(void *opaque, uint64_t gpa, uint64_t len),
			   void *opaque)
{
	uint64_t low = vm->ram_size < LAYOUT_LOW_RAM_MAX ? vm->ram_size
							 : LAYOUT_LOW_RAM_MAX;
	int ret = low ? fn(opaque, 0, low) : 0;

	if (!ret && vm->ram_size > low)
		ret = fn(opaque, LAYOUT_HIGH_RAM, vm->ram_size - low);
	return ret;
}

int vm_alloc_mmio_slot(struct vm *vm)
{
	if (vm->next_mmio_slot >= LAYOUT_VIRTIO_MAX)
		return -1;
	return vm->next_mmio_slot++;
}

static int ram_setup(struct vm *vm, char *err, size_t errlen)
{
	uint64_t size = vm->cfg.mem_size;
	uint64_t low = size < LAYOUT_LOW_RAM_MAX ? size : LAYOUT_LOW_RAM_MAX;

	/* Private anonymous memory, 2 MiB aligned: transparent huge pages
	 * back it (with THP "always" or "madvise", the usual settings), so
	 * KVM can map the guest with 2 MiB pages. Shared anonymous memory is
	 * shmem, which gets huge pages only with shmem_enabled set, off by
	 * default. A VM whose RAM another process must map (a vhost-user
	 * backend: cfg.shared_ram) gets a memfd instead, mapped shared. */
	{
		const uint64_t huge = 2 * MiB;
		int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
		uint8_t *m;
		uintptr_t start, head;

		vm->ram_fd = -1;
		if (vm->cfg.shared_ram) {
			vm->ram_fd = memfd_create("pmvm-guest-ram", MFD_CLOEXEC);
			if (vm->ram_fd < 0 || ftruncate(vm->ram_fd, (off_t)size) < 0) {
				snprintf(err, errlen, "guest RAM: memfd of %llu bytes: %s",
					 (unsigned long long)size, strerror(errno));
				return -1;
			}
		}
		m = mmap(NULL, size + huge, PROT_READ | PROT_WRITE, flags, -1, 0);
		if (m == MAP_FAILED) {
			vm->ram = NULL;
			snprintf(err, errlen, "cannot map %llu bytes of guest RAM: %s",
				 (unsigned long long)size, strerror(errno));
			return -1;
		}
		start = ((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1);
		head = start - (uintptr_t)m;
		if (head)
			munmap(m, head);
		if (huge - head)
			munmap((uint8_t *)start + size, huge - head);
		vm->ram = (uint8_t *)start;
		if (vm->ram_fd >= 0 &&
		    mmap(vm->ram, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			 vm->ram_fd, 0) == MAP_FAILED) {
			snprintf(err, errlen, "cannot map the guest RAM memfd: %s",
				 strerror(errno));
			return -1;
		}
	}
	madvise(vm->ram, size, MADV_HUGEPAGE);
	vm->ram_size = size;
	vm->alloc_next = 0;
	if (vm_add_memory(vm, 0, low, vm->ram, 0) < 0) {
		snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION (low RAM): %s",
			 strerror(errno));
		return -1;
	}
	vm->ram_end = low;
	if (size > low) {
		if (vm_add_memory(vm, LAYOUT_HIGH_RAM, size - low, vm->ram + low,
				  0) < 0) {
			snprintf(err, errlen,
				 "KVM_SET_USER_MEMORY_REGION (high RAM): %s",
				 strerror(errno));
			return -1;
		}
		vm->ram_end = LAYOUT_HIGH_RAM + size - low;
	}
	/* Things placed after RAM (pmem) never go below 4 GiB. */
	if (vm->alloc_next < LAYOUT_HIGH_RAM)
		vm->alloc_next = LAYOUT_HIGH_RAM;
	return 0;
}

/* ---- KVM --------------------------------------------------------------- */

/* Leave the 8259 PICs as firmware does: vectors 0x08/0x70, every line
 * masked but the cascade. Guests that use the PIC (Linux) reprogram it;
 * guests that use only the IOAPIC never see ISA lines through LINT0. */
static int pic_mask_all(struct vm *vm)
{
	for (uint32_t chip = KVM_IRQCHIP_PIC_MASTER; chip <= KVM_IRQCHIP_PIC_SLAVE;
	     chip++) {
		struct kvm_irqchip c = { .chip_id = chip };

		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &c) < 0)
			return -1;
		c.chip.pic.imr = chip == KVM_IRQCHIP_PIC_MASTER ? 0xfb : 0xff;
		c.chip.pic.irq_base = chip == KVM_IRQCHIP_PIC_MASTER ? 0x08 : 0x70;
		if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &c) < 0)
			return -1;
	}
	return 0;
}

/* Open /dev/kvm and create the VM. Everything that can go wrong here means
 * "no usable KVM on this host": -1 with the reason in err. */
static int kvm_open(struct vm *vm, char *err, size_t errlen)
{
	int v;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		snprintf(err, errlen, "cannot open /dev/kvm: %s", strerror(errno));
		return -1;
	}
	v = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (v < 0) {
		snprintf(err, errlen, "/dev/kvm is not a KVM device "
			 "(KVM_GET_API_VERSION: %s)", strerror(errno));
		return -1;
	}
	if (v != KVM_API_VERSION) {
		snprintf(err, errlen, "/dev/kvm API version %d, want %d", v,
			 KVM_API_VERSION);
		return -1;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		snprintf(err, errlen, "/dev/kvm: KVM_CREATE_VM: %s",
			 strerror(errno));
		return -1;
	}
	if (sync_faults_for)
		vm_sync_faults(vm);
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		snprintf(err, errlen, "/dev/kvm: KVM_GET_VCPU_MMAP_SIZE: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

/* The in-kernel parts of the machine: TSS, irqchip, PIC state. */
static int kvm_machine_setup(struct vm *vm, char *err, size_t errlen)
{
	uint64_t idmap = LAYOUT_KVM_IDENTITY_MAP;

	/* Needed by VMX for real-mode emulation; harmless elsewhere. Both sit
	 * in the MMIO hole below the IOAPIC. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS) < 0) {
		snprintf(err, errlen, "KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -1;
	}
	if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0 &&
	    errno != EINVAL) {
		snprintf(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR: %s",
			 strerror(errno));
		return -1;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -1;
	}
	if (pic_mask_all(vm) < 0) {
		snprintf(err, errlen, "KVM_SET_IRQCHIP (PIC): %s", strerror(errno));
		return -1;
	}
	return 0;
}

int vm_create(struct vm *vm, char *err, size_t errlen)
{
	pthread_rwlock_init(&vm->mem_lock, NULL);
	pthread_rwlock_init(&vm->io_lock, NULL);
	pthread_mutex_init(&vm->change_lock, NULL);
	pthread_cond_init(&vm->change_cond, NULL);
	vm->kvm_fd = vm->vm_fd = vm->epoll_fd = vm->wake_fd = vm->ram_fd = -1;

	if (!vm->cfg.offline) {
		if (kvm_open(vm, err, errlen) < 0)
			return VM_CREATE_NO_KVM;
		if (kvm_machine_setup(vm, err, errlen) < 0)
			return -1;
	}
	if (pit_setup(vm, vm->cfg.lazy_pit, err, errlen) < 0)
		return -1;
	/* GSIs below IRQ_DEVICE_FIRST and the ISA lines of layout.h are
	 * never handed out. */
	vm->irq_used = (1u << IRQ_DEVICE_FIRST) - 1;
	vm->irq_used |= 1u << IRQ_PIT | 1u << IRQ_I8042_KBD | 1u << IRQ_COM1 |
			1u << IRQ_RTC | 1u << IRQ_I8042_AUX;
	return ram_setup(vm, err, errlen);
}

void vm_destroy(struct vm *vm)
{
	for (int i = 0; i < vm->mem.n; i++) {
		free(vm->mem.r[i].dirty_carry);
		free(vm->mem.r[i].vmm_dirty);
		vm->mem.r[i].dirty_carry = vm->mem.r[i].vmm_dirty = NULL;
	}
	free(vm->pio.r);
	free(vm->mmio.r);
	free(vm->cpuid);
	if (vm->vcpus) {
		for (int i = 0; i < vm->nvcpus; i++) {
			if (vm->vcpus[i].run)
				munmap(vm->vcpus[i].run, (size_t)vm->run_size);
			if (vm->vcpus[i].fd >= 0)
				close(vm->vcpus[i].fd);
		}
		free(vm->vcpus);
		vm->vcpus = NULL;
	}
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	vm->ram = NULL;
	if (vm->ram_fd >= 0)
		close(vm->ram_fd);
	vm->ram_fd = -1;
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->vm_fd = vm->kvm_fd = -1;
}

int vm_vcpu_count(const struct vm *vm) { return vm->cfg.smp; }
int vm_kvm_fd(const struct vm *vm) { return vm->vm_fd; }

/* ---- I/O dispatch ------------------------------------------------------ */

static int io_register(struct vm *vm, struct io_table *t, uint64_t base,
		       uint64_t len, vm_io_fn fn, void *opaque)
{
	int i, ret = 0;

	if (len == 0 || base + len < base || fn == NULL) {
		errno = EINVAL;
		return -1;
	}
	pthread_rwlock_wrlock(&vm->io_lock);
	for (i = 0; i < t->n && t->r[i].base < base; i++)
		;
	if ((i > 0 && t->r[i - 1].base + t->r[i - 1].len > base) ||
	    (i < t->n && t->r[i].base < base + len)) {
		errno = EEXIST;
		ret = -1;
		goto out;
	}
	if (t->n == t->cap) {
		int cap = t->cap ? t->cap * 2 : 16;
		struct io_range *r = realloc(t->r, (size_t)cap * sizeof(*r));

		if (!r) {
			ret = -1;
			goto out;
		}
		t->r = r;
		t->cap = cap;
	}
	memmove(&t->r[i + 1], &t->r[i], (size_t)(t->n - i) * sizeof(t->r[0]));
	t->r[i] = (struct io_range){ base, len, fn, opaque };
	t->n++;
out:
	pthread_rwlock_unlock(&vm->io_lock);
	return ret;
}

int vm_register_pio(struct vm *vm, uint16_t base, uint16_t len,
		    vm_io_fn fn, void *opaque)
{
	if ((uint32_t)base + len > 0x10000) {
		errno = EINVAL;
		return -1;
	}
	return io_register(vm, &vm->pio, base, len, fn, opaque);
}

int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t len,
		     vm_io_fn fn, void *opaque)
{
	return io_register(vm, &vm->mmio, base, len, fn, opaque);
}

/* Find the handler for [addr, addr+len) and call it. Returns 0 if handled,
 * -1 if no range covers the access (reads then see all-ones). */
int vm_dispatch_io(struct vm *vm, struct io_table *t, uint64_t addr,
		   void *data, unsigned len, bool is_write)
{
	int lo = 0, hi;
	const struct io_range *hit = NULL;
	struct io_range r;

	if (!is_write)
		memset(data, 0xff, len);
	pthread_rwlock_rdlock(&vm->io_lock);
	hi = t->n - 1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;

		if (addr < t->r[mid].base)
			hi = mid - 1;
		else if (addr - t->r[mid].base >= t->r[mid].len)
			lo = mid + 1;
		else {
			hit = &t->r[mid];
			break;
		}
	}
	if (hit)
		r = *hit;
	pthread_rwlock_unlock(&vm->io_lock);
	if (!hit)
		return -1;
	r.fn(r.opaque, addr - r.base, data, len, is_write);
	return 0;
}

/* ---- Interrupts -------------------------------------------------------- */

int vm_alloc_irq(struct vm *vm)
{
	for (int g = IRQ_DEVICE_FIRST; g <= IRQ_DEVICE_LAST; g++) {
		if (!(vm->irq_used & (1u << g))) {
			vm->irq_used |= 1u << g;
			return g;
		}
	}
	return -1;
}

int vm_set_irq(struct vm *vm, int gsi, int level)
{
	struct kvm_irq_level l = { .irq = (uint32_t)gsi, .level = level ? 1 : 0 };

	if (vm->vm_fd < 0)
		return 0; /* offline: no guest to interrupt */
	return ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

int vm_irqfd(struct vm *vm, int gsi, int efd)
{
	struct kvm_irqfd f = { .fd = (uint32_t)efd, .gsi = (uint32_t)gsi };

	if (vm->vm_fd < 0)
		return 0; /* offline */
	return ioctl(vm->vm_fd, KVM_IRQFD, &f);
}

int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio,
		 int efd, int64_t datamatch)
{
	struct kvm_ioeventfd io = {
		.addr = addr, .len = len, .fd = efd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (datamatch >= 0 ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0),
		.datamatch = datamatch >= 0 ? (uint64_t)datamatch : 0,
	};

	if (vm->vm_fd < 0)
		return 0; /* offline */
	return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io);
}

/* ---- Exit -------------------------------------------------------------- */

static void vm_exit_v(struct vm *vm, int status, const char *reason,
		      const uint64_t *rip, const char *fmt, va_list ap)
{
	bool expected = false;
	uint64_t one = 1;

	if (!atomic_compare_exchange_strong(&vm->exiting, &expected, true))
		return;
	vm->exit_status = status;
	snprintf(vm->exit_reason, sizeof(vm->exit_reason), "%s", reason);
	if (rip) {
		vm->exit_rip = *rip;
		vm->have_rip = true;
	}
	if (fmt)
		vsnprintf(vm->exit_msg, sizeof(vm->exit_msg), fmt, ap);
	/* Publish, then stop every vCPU and wake the main loop. */
	atomic_thread_fence(memory_order_seq_cst);
	for (int i = 0; i < vm->nvcpus; i++) {
		struct vcpu *c = &vm->vcpus[i];

		if (c->run)
			__atomic_store_n(&c->run->immediate_exit, 1,
					 __ATOMIC_SEQ_CST);
		if (c->started && !pthread_equal(c->thread, pthread_self()))
			pthread_kill(c->thread, SIGUSR1);
	}
	if (vm->wake_fd >= 0 && write(vm->wake_fd, &one, sizeof(one)) < 0) {
		/* The counter cannot overflow here; nothing to do. */
	}
}

void vm_exit_detail(struct vm *vm, int status, const char *reason,
		    const uint64_t *rip, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_exit_v(vm, status, reason, rip, fmt, ap);
	va_end(ap);
}

void vm_request_exit_reason(struct vm *vm, int status, const char *reason,
			    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_exit_v(vm, status, reason, NULL, fmt, ap);
	va_end(ap);
}

void vm_debug_exit(struct vm *vm, uint32_t value)
{
	vm->debug_value = value;
	vm->have_debug_value = true;
	vm_exit_detail(vm, (int)((((uint64_t)value << 1) | 1) & 0xff),
		       "debug-exit", NULL, NULL);
}

bool vm_exiting(const struct vm *vm)
{
	return atomic_load(&vm->exiting);
}

static const char *reason_for(int status)
{
	switch (status) {
	case VMM_EXIT_POWEROFF: return "poweroff";
	case VMM_EXIT_ERROR: return "error";
	case VMM_EXIT_RESET: return "reset";
	case VMM_EXIT_TRIPLE_FAULT: return "triple-fault";
	case VMM_EXIT_KVM_ERROR: return "kvm-error";
	case VMM_EXIT_TIMEOUT: return "timeout";
	default: return (status & 1) ? "debug-exit" : "error";
	}
}

void vm_request_exit(struct vm *vm, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_exit_v(vm, status, reason_for(status), NULL, fmt, ap);
	va_end(ap);
}
