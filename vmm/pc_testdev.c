/*
 * pc_testdev.c - the test device kvm-unit-tests' x86 tests expect beside
 * isa-debug-exit (QEMU's "pc-testdev"); always present, harmless to other
 * guests (nothing else uses these addresses):
 *   ports 0xe0-0xe3   a 32-bit scratch register: an access of 1, 2 or 4
 *                     bytes at 0xe0+k reads/writes its bytes k..k+len-1
 *   port  0xe4        "flush page": a 4-byte write of a guest-physical
 *                     address makes vmm drop and restore its host mapping
 *                     of that RAM page (mprotect none, then read/write), so
 *                     KVM must fault it in again; contents are kept (RAM
 *                     pages only; other addresses are ignored)
 *   ports 0xe8-0xeb   the same register, byte by byte
 *   ports 0x2000-0x2017  IRQ lines: a byte write sets ISA/IOAPIC line N
 *                     (the port's offset) to (value != 0)
 *   MMIO 0xff000000, 64 KiB  scratch memory (reads return what was written)
 * Guest input: offsets are bounded by the registered lengths, the flush
 * address goes through vm_gpa_w (RAM only; anything else is ignored).
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm.h"

static struct {
	struct vm *vm;
	pthread_mutex_t lock;	/* vCPU threads share the register and buffer */
	uint32_t reg;
	uint8_t mem[TESTDEV_MMIO_LEN];
} td = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* bytes [off, off+len) of the register; off + len <= 4 */
static void reg_access(unsigned off, uint8_t *data, unsigned len, bool is_write)
{
	uint8_t b[4];

	pthread_mutex_lock(&td.lock);
	memcpy(b, &td.reg, 4);
	if (is_write)
		memcpy(b + off, data, len);
	else
		memcpy(data, b + off, len);
	memcpy(&td.reg, b, 4);
	pthread_mutex_unlock(&td.lock);
}

static void reg_io(void *opaque, uint64_t addr, void *data, unsigned len, bool is_write)
{
	(void)opaque;
	if (addr >= 4 || len > 4 - addr)
		return;		/* crosses the register's end: reads all-ones */
	reg_access((unsigned)addr, data, len, is_write);
}

static void flush_io(void *opaque, uint64_t addr, void *data, unsigned len, bool is_write)
{
	uint32_t gpa;
	uint8_t *hva;
	long pg = sysconf(_SC_PAGESIZE);

	(void)opaque;
	if (!is_write || addr != 0 || len != 4)
		return;
	memcpy(&gpa, data, 4);
	gpa &= ~0xfffU;
	if ((uint64_t)gpa + 4096 > vm_ram_end(td.vm))
		return;		/* RAM only: NVDIMMs (pcow's userfaultfd) lie above */
	hva = vm_gpa_w(td.vm, gpa, 4096);
	if (!hva)
		return;
	hva = (uint8_t *)((uintptr_t)hva & ~(uintptr_t)(pg - 1));
	if (mprotect(hva, (size_t)pg, PROT_NONE) == 0)
		mprotect(hva, (size_t)pg, PROT_READ | PROT_WRITE);
}

static void irq_io(void *opaque, uint64_t addr, void *data, unsigned len, bool is_write)
{
	(void)opaque;
	if (!is_write || len != 1 || addr >= TESTDEV_IRQ_LINES)
		return;
	vm_set_irq(td.vm, (int)addr, *(uint8_t *)data != 0);
}

static void mem_io(void *opaque, uint64_t addr, void *data, unsigned len, bool is_write)
{
	(void)opaque;
	if (addr >= TESTDEV_MMIO_LEN || len > TESTDEV_MMIO_LEN - addr)
		return;
	pthread_mutex_lock(&td.lock);
	if (is_write)
		memcpy(td.mem + addr, data, len);
	else
		memcpy(data, td.mem + addr, len);
	pthread_mutex_unlock(&td.lock);
}

static int testdev_setup(struct vm *vm, char *err, size_t errlen)
{
	td.vm = vm;
	if (vm_register_pio(vm, PORT_TESTDEV_REG, 4, reg_io, NULL) < 0 ||
	    vm_register_pio(vm, PORT_TESTDEV_FLUSH, 4, flush_io, NULL) < 0 ||
	    vm_register_pio(vm, PORT_TESTDEV_REG_BYTE, 4, reg_io, NULL) < 0 ||
	    vm_register_pio(vm, PORT_TESTDEV_IRQ, TESTDEV_IRQ_LINES, irq_io, NULL) < 0 ||
	    vm_register_mmio(vm, LAYOUT_TESTDEV_MMIO, TESTDEV_MMIO_LEN, mem_io, NULL) < 0) {
		snprintf(err, errlen, "pc-testdev: cannot claim ports 0x%x-0x%x, 0x%x-0x%x or "
			 "MMIO 0x%llx", PORT_TESTDEV_REG, PORT_TESTDEV_REG_BYTE + 3, PORT_TESTDEV_IRQ,
			 PORT_TESTDEV_IRQ + TESTDEV_IRQ_LINES - 1, (unsigned long long)LAYOUT_TESTDEV_MMIO);
		return -1;
	}
	return 0;
}

static const struct vmm_module testdev_module = {
	.name = "pc-testdev",
	.setup = testdev_setup,
};
VMM_MODULE(testdev_module);
