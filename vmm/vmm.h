/*
 * vmm.h - the contract between the pmvm core and its device modules.
 *
 * The core (vmm/) owns KVM, guest memory, vCPU threads, the exit dispatcher,
 * the main event loop and booting. Device modules (nvdimm/, blk-nvme/, the
 * legacy devices in vmm/) register themselves with VMM_MODULE(); the core
 * never names them. A module adds command-line options, claims I/O ports and
 * MMIO ranges, maps memory, contributes ACPI and the test-guest FDT, and
 * cleans up at exit. Adding a device touches one new file.
 *
 * Threads: vCPU threads call I/O handlers concurrently; a device with state
 * shared between vCPUs takes its own lock. The main thread runs the event
 * loop (vm_add_fd) and the module hooks.
 */
#ifndef PMVM_VMM_H
#define PMVM_VMM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

struct vm;
struct acpi_ctx;
struct json_object;
struct vmm_command;

/* ---- Process exit status ------------------------------------------------
 * vmm's own statuses are even; the debug-exit device yields (v << 1) | 1,
 * which is always odd, so the two never collide.                          */
#define VMM_EXIT_POWEROFF     0   /* guest powered off (ACPI S5) */
#define VMM_EXIT_USAGE        2   /* bad command line */
#define VMM_EXIT_ERROR        4   /* host-side failure: file, KVM, device setup */
#define VMM_EXIT_RESET        6   /* guest asked for a reset; vmm does not reboot it */
#define VMM_EXIT_TRIPLE_FAULT 8   /* KVM_EXIT_SHUTDOWN */
#define VMM_EXIT_KVM_ERROR    10  /* internal error, failed entry, unhandled exit */
#define VMM_EXIT_NO_KVM       12  /* /dev/kvm missing or unusable on this host */
#define VMM_EXIT_TIMEOUT      124 /* --timeout expired (as timeout(1)) */

/* ---- Modules ------------------------------------------------------------ */

/* One command-line option. parse() is called once per occurrence, before the
 * VM exists; on a bad value it writes one line naming the value into err
 * (the core prefixes the option name) and returns -1. */
struct vmm_option {
	const char *name;    /* long name without "--" */
	const char *metavar; /* shown in --help; NULL: the option takes no value */
	const char *help;    /* one line */
	int (*parse)(const char *arg, char *err, size_t errlen);
};

struct vmm_module {
	const char *name;
	const struct vmm_option *options; /* terminated by an entry with name NULL */
	/* After guest RAM exists and before ACPI is built: open backends, map
	 * memory, claim ports/ranges/IRQs. Return -1 with err filled to abort. */
	int (*setup)(struct vm *vm, char *err, size_t errlen);
	/* Add DSDT AML (acpi_dsdt()) and tables (acpi_add_table()). */
	int (*acpi)(struct vm *vm, struct acpi_ctx *ctx, char *err, size_t errlen);
	/* Add nodes to the machine-description FDT given to test guests. */
	int (*fdt)(struct vm *vm, void *fdt, char *err, size_t errlen);
	/* Called once when the VM stops (vCPUs are no longer running): make data
	 * durable, release host resources. Must tolerate a failed setup. */
	void (*teardown)(struct vm *vm);
	/* Control-socket commands (see "Control socket" below), terminated by
	 * an entry with name NULL; may be NULL. */
	const struct vmm_command *commands;
	/* Memory errors (see "Memory errors" below); may be NULL. memory_error:
	 * the host reported [gpa, gpa+len) bad (kind VM_MEMERR_*); called on a
	 * vCPU thread or the main thread, for every module (a module ignores
	 * addresses not its own). memory_fault: KVM could not map some guest
	 * memory and gave no address (a shrunk backing file?): check and return
	 * true if the module found lost memory and is dealing with it. */
	void (*memory_error)(struct vm *vm, uint64_t gpa, uint64_t len, int kind);
	bool (*memory_fault)(struct vm *vm);
};

#define VMM_MODULE(m)                                                     \
	static const struct vmm_module *const vmm_module_ptr_##m            \
		__attribute__((used, section("vmm_modules"), aligned(8))) = &m

/* Iterate over every linked module. */
extern const struct vmm_module *const __start_vmm_modules[];
extern const struct vmm_module *const __stop_vmm_modules[];
#define vmm_for_each_module(mp)                                           \
	for (const struct vmm_module *const *mp = __start_vmm_modules;        \
	     mp < __stop_vmm_modules; mp++)

/* ---- Guest memory ------------------------------------------------------- */

#define VM_MEM_READONLY 0x1 /* KVM_MEM_READONLY: guest writes exit as MMIO */
#define VM_MEM_NO_E820  0x2 /* not RAM for the guest's e820 (pmem, DSM page) */
#define VM_MEM_PMEM     0x4 /* persistent memory range (e820 stays silent) */
#define VM_MEM_LOG_DIRTY 0x8 /* KVM dirty logging, manual re-protect (see
			      * vm_mem_dirty_log); refused without
			      * vm_dirty_log_supported() */

/* Map [host, host+size) at guest physical gpa as one KVM memslot and make it
 * reachable through vm_gpa(). gpa, size and host must be page aligned.
 * Returns the slot number, or -1 with errno set. */
int vm_add_memory(struct vm *vm, uint64_t gpa, uint64_t size, void *host,
		  unsigned flags);

/* THE checked accessor for guest-supplied addresses. Returns a host pointer
 * to [gpa, gpa+len) if that whole range lies inside one memory region (no
 * overflow, no crossing into a hole), else NULL. vm_gpa_w additionally
 * refuses read-only regions. len 0 is treated as 1. */
void *vm_gpa(struct vm *vm, uint64_t gpa, uint64_t len);
void *vm_gpa_w(struct vm *vm, uint64_t gpa, uint64_t len);

uint64_t vm_ram_size(const struct vm *vm);   /* --memory */

/* Dirty logging of a VM_MEM_LOG_DIRTY region (docs/pcow-runtime.md): KVM
 * marks a page when it first lets the guest write it and never clears the
 * mark by itself (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2), so a region's log
 * holds every page the guest wrote since it was added or last re-armed.
 * vm_mem_dirty_log ORs that log into bitmap (bit i: page i of the region
 * at gpa, len bytes; the region must be exactly [gpa, gpa+len)); pieces the
 * region was split into by vm_mem_hole are merged, and the log of a piece
 * replaced by a split is kept. vm_mem_dirty_rearm clears it and makes KVM
 * write-protect the pages again. Any thread; 0, or -1 with errno. */
bool vm_dirty_log_supported(const struct vm *vm);
int vm_mem_dirty_log(struct vm *vm, uint64_t gpa, uint64_t len, uint64_t *bitmap);
int vm_mem_dirty_rearm(struct vm *vm, uint64_t gpa, uint64_t len);

/* Guest memory remapped under running vCPUs (a pcow NVDIMM moving
 * clusters, docs/pcow-runtime.md): between begin and end a guest store to
 * the part being moved may fail KVM_RUN with a bare EFAULT; the vCPU then
 * waits for the change to end and runs the instruction again. Changes may
 * overlap (several DIMMs). Any thread. */
void vm_mem_change_begin(struct vm *vm);
void vm_mem_change_end(struct vm *vm);
/* How many times a vCPU's KVM_RUN failed with EFAULT during or across a
 * change and was run again. */
uint64_t vm_mem_change_waits(struct vm *vm);
/* vmm's own stores into a VM_MEM_LOG_DIRTY region do not reach KVM's log:
 * vm_gpa_w marks the pages it hands out, other writers call this (before
 * or after the store). A vmm thread whose store meets a change (the page
 * read-only for a moment) waits in a SIGSEGV handler until the change
 * ends, then stores again. */
void vm_mem_mark_dirty(struct vm *vm, uint64_t gpa, uint64_t len);
uint64_t vm_ram_end(const struct vm *vm);    /* highest RAM gpa + 1 */
/* Guest RAM as one host mapping: the region at gpa 0 starts at
 * vm_ram_host(), the one at LAYOUT_HIGH_RAM right after it (see
 * vm_for_each_ram_region). vm_ram_fd() is the memfd behind it when the
 * VM was made with shareable RAM (--exec: a vhost-user backend maps
 * it), else -1. */
void *vm_ram_host(const struct vm *vm);
int vm_ram_fd(const struct vm *vm);

/* Guest-physical address allocator for things placed after RAM (pmem):
 * returns an address aligned to align, above every region so far, and
 * reserves size bytes there. */
uint64_t vm_alloc_gpa(struct vm *vm, uint64_t size, uint64_t align);

/* Guest RAM (--memory) as the core laid it out (layout.h: below
 * LAYOUT_LOW_RAM_MAX, the rest from LAYOUT_HIGH_RAM): fn is called once per
 * region, lowest gpa first; each region is one vm_gpa() region. Stops at the
 * first non-zero return of fn and returns it; else 0. */
int vm_for_each_ram_region(struct vm *vm,
			   int (*fn)(void *opaque, uint64_t gpa, uint64_t len),
			   void *opaque);

/* Slot allocator for the virtio-mmio window: returns n, the lowest slot not
 * yet handed out in this VM, whose range is [LAYOUT_VIRTIO_MMIO + n *
 * LAYOUT_VIRTIO_SLOT, + LAYOUT_VIRTIO_SLOT); -1 once all LAYOUT_VIRTIO_MAX
 * are taken. A slot is never given twice, nor back. Module setup (main
 * thread) only, like vm_alloc_irq(). */
int vm_alloc_mmio_slot(struct vm *vm);

/* ---- I/O dispatch ------------------------------------------------------- */

/* addr is the offset from the registered base; data points to len bytes
 * (1, 2, 4 or 8). For reads the handler fills data; untouched bytes read as
 * all-ones. Called on vCPU threads. */
typedef void (*vm_io_fn)(void *opaque, uint64_t addr, void *data,
			 unsigned len, bool is_write);

int vm_register_pio(struct vm *vm, uint16_t base, uint16_t len,
		    vm_io_fn fn, void *opaque);
int vm_register_mmio(struct vm *vm, uint64_t base, uint64_t len,
		     vm_io_fn fn, void *opaque);

/* ---- Interrupts and event fds -------------------------------------------- */

int vm_alloc_irq(struct vm *vm);                       /* a free GSI, or -1 */
int vm_set_irq(struct vm *vm, int gsi, int level);     /* KVM_IRQ_LINE */
int vm_irqfd(struct vm *vm, int gsi, int eventfd);     /* KVM_IRQFD (edge) */
/* KVM_IOEVENTFD on a port (pio) or MMIO address; datamatch < 0: any value. */
int vm_ioeventfd(struct vm *vm, uint64_t addr, unsigned len, bool pio,
		 int eventfd, int64_t datamatch);

/* Watch fd in the main thread's event loop (epoll events); cb runs there. */
int vm_add_fd(struct vm *vm, int fd, uint32_t events,
	      void (*cb)(void *opaque, uint32_t events), void *opaque);
int vm_mod_fd(struct vm *vm, int fd, uint32_t events); /* change the events */
int vm_del_fd(struct vm *vm, int fd);

/* ---- Control socket (control.c; docs/control.md) -------------------------
 * `vmm --control PATH` serves JSON requests, one per line:
 * {"cmd": NAME, "args": {...}, "id": ...}. The core has its own commands
 * (query-status, pause, resume, system-powerdown, quit, query-commands) and
 * serves every module's vmm_module.commands; names are unique across all
 * of them (a duplicate fails start-up). Handlers run in the main thread,
 * one at a time, between event-loop callbacks; the vCPUs keep running
 * unless the handler pauses them. A handler reads args with vmm_arg_*
 * (args may be NULL: no args given; keys outside vmm_command.args are
 * refused before the handler runs), adds members to result (an empty JSON
 * object; json-c's API, link jsonc_dep) and returns 0, or returns -1 with a
 * one-line message in err. Requests are hostile input: check every value. */
struct vmm_command {
	const char *name; /* lower case words joined by '-': "nvdimm-errors" */
	const char *args; /* accepted argument keys, space-separated; NULL: none */
	const char *help; /* one line, shown by query-commands */
	int (*fn)(struct vm *vm, struct json_object *args,
		  struct json_object *result, char *err, size_t errlen);
};

/* Typed access to a request's args. Each returns 1 with *out set when key
 * is present and valid, 0 when args or the key is absent (*out untouched),
 * -1 with err filled ("args.KEY: ...") on a wrong type or value. A string
 * stays valid until the handler returns. vmm_arg_u64 takes a JSON integer
 * >= 0 or a string in the size grammar ("4K", "1.5G"). */
int vmm_arg_string(struct json_object *args, const char *key, const char **out,
		   char *err, size_t errlen);
int vmm_arg_u64(struct json_object *args, const char *key, uint64_t *out,
		char *err, size_t errlen);
int vmm_arg_bool(struct json_object *args, const char *key, bool *out,
		 char *err, size_t errlen);

/* Stop every vCPU thread outside KVM_RUN (kicked out with SIGUSR1, any
 * pending I/O exit completed) and wait until each is parked; the guest's
 * memory and vCPU state then stay still until vm_resume_vcpus(). Main
 * thread only (-1 with EDEADLK from a vCPU thread). Calls nest: the vCPUs
 * run again when every pause has had its resume. A vCPU thread that has
 * ended (the VM is exiting) counts as parked. Returns 0. */
int vm_pause_vcpus(struct vm *vm);
void vm_resume_vcpus(struct vm *vm);
bool vm_vcpus_paused(const struct vm *vm);

/* ---- Memory errors (memerr.c; docs/nvdimm.md "Memory errors") ----------
 * The core catches SIGBUS BUS_MCEERR_AR/AO on guest memory, injects a
 * machine check into the vCPU (uncorrected, MCi_ADDR = guest physical
 * address) and calls the modules' memory_error hooks. */
#define VM_MEMERR_AR 0 /* action required: a vCPU consumed it */
#define VM_MEMERR_AO 1 /* action optional: found, not consumed */

/* Take the pages of [gpa, gpa+len) out of KVM's memslots (hole true), so
 * guest accesses exit as MMIO to whoever registered the range, or put them
 * back. Pauses the vCPUs while the slots change. Main thread only; -1 on a
 * bad range, too many holes (VM_MAX_HOLES) or a KVM failure. */
int vm_mem_hole(struct vm *vm, uint64_t gpa, uint64_t len, bool hole);
/* From an MMIO read handler on a vCPU thread: the read consumed bad memory
 * at gpa. The load does not retire; the vCPU gets a machine check instead
 * (when the guest has machine checks enabled; else it reads the handler's
 * data). */
void vm_io_machine_check(struct vm *vm, uint64_t gpa);
/* Run fn(opaque); a SIGBUS on an address in [lo, lo+len) during it (a
 * poisoned page, a truncated file) ends it early: -1 with *bad the address.
 * 0 when fn returned. fn must not hold locks it takes again afterwards
 * inconsistently: it is left with siglongjmp. */
int vm_guarded(void (*fn)(void *), void *opaque, const void *lo, size_t len, void **bad);

/* ---- Lifecycle ------------------------------------------------------------ */

/* Stop the whole VM with this process exit status; the first call wins. The
 * message (may be NULL) is printed on stderr by the core as one line.
 * Safe from any thread, including vCPU threads inside an I/O handler. */
void vm_request_exit(struct vm *vm, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The same with the machine-readable reason for --results given (e.g.
 * "interrupted"), for endings the status alone does not name. */
void vm_request_exit_reason(struct vm *vm, int status, const char *reason,
			    const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The debug-exit device's ending: status (value << 1) | 1, and value kept
 * whole for --results (debug_exit_value). */
void vm_debug_exit(struct vm *vm, uint32_t value);

/* Has an exit been requested (for device code that would otherwise wait)? */
bool vm_exiting(const struct vm *vm);

int vm_vcpu_count(const struct vm *vm);
/* The VM fd, for module-specific ioctls; -1 for an offline VM (--dump-acpi:
 * the machine is built, never run, and /dev/kvm is never opened). */
int vm_kvm_fd(const struct vm *vm);

/*
 * Synchronous guest page faults, asked for by a module while options are
 * parsed (before the VM exists): every guest access to memory that is not
 * mapped yet must reach the module's userfaultfd as the guest's own access,
 * read or write. KVM's asynchronous page faults break that: their worker
 * faults the page in for *write* whatever the guest did (virt/kvm/async_pf.c),
 * so a read would look like a write. vmm then hides KVM's async-PF features
 * from the guest's CPUID and lets HLT run in the guest
 * (KVM_X86_DISABLE_EXITS_HLT), the two conditions under which KVM never
 * takes the async path; the cost is that an idle vCPU holds its host CPU
 * instead of sleeping in vmm. who names the reason, for the log.
 */
void vmm_request_sync_faults(const char *who);

/* Log a line to stderr prefixed with "vmm: " (for modules, which are part of
 * the binary; libraries never print). */
void vmm_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Seconds since vmm started (the clock --results' wall_seconds uses). */
double vmm_elapsed(void);

/* Size parsing shared by all options, in the one grammar of vmm/util/opts.h
 * ("64M", "2G", "1.5G", "64KiB", "4096"; opt_parse_size also says why a
 * value is refused). Returns 0, or -1 on a malformed or overflowing value. */
int vmm_parse_size(const char *s, uint64_t *out);

#endif
