/*
 * fwcfg.c - the part of QEMU's fw_cfg I/O interface that test kernels read
 * (kvm-unit-tests' lib/x86/fwcfg.c): a 16-bit write of a key to the
 * selector port 0x510, then byte reads from the data port 0x511 walk that
 * item from its first byte; reads past an item's end, and every byte of a
 * key vmm does not know, are 0. Items (little-endian):
 *   0x00 signature  "QEMU"
 *   0x01 id         u32 1 (the traditional interface only, no DMA)
 *   0x03 ram size   u64, --memory
 *   0x05 nb cpus    u16, --smp
 *   0x0d numa       u64 0 (no NUMA nodes)
 *   0x0f max cpus   u16, --smp (no CPU hot-plug)
 * Guest input is one 16-bit key and a read offset that only grows: nothing
 * indexes memory with it beyond the fixed item buffer.
 */
#include <stdio.h>
#include <string.h>

#include "le.h"
#include "vmm.h"

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID        0x01
#define FW_CFG_RAM_SIZE  0x03
#define FW_CFG_NB_CPUS   0x05
#define FW_CFG_NUMA      0x0d
#define FW_CFG_MAX_CPUS  0x0f

static struct {
	struct vm *vm;
	uint8_t item[8];	/* the selected item's bytes */
	unsigned len, pos;
} fw;

static void select_key(uint16_t key)
{
	memset(fw.item, 0, sizeof(fw.item));
	fw.len = 0;
	fw.pos = 0;
	switch (key) {
	case FW_CFG_SIGNATURE:
		memcpy(fw.item, "QEMU", 4);
		fw.len = 4;
		break;
	case FW_CFG_ID:
		put_le32(fw.item, 1);
		fw.len = 4;
		break;
	case FW_CFG_RAM_SIZE:
		put_le64(fw.item, vm_ram_size(fw.vm));
		fw.len = 8;
		break;
	case FW_CFG_NB_CPUS:
	case FW_CFG_MAX_CPUS:
		put_le16(fw.item, (uint16_t)vm_vcpu_count(fw.vm));
		fw.len = 2;
		break;
	case FW_CFG_NUMA:
		fw.len = 8;	/* zero nodes */
		break;
	}
}

static void fwcfg_io(void *opaque, uint64_t addr, void *data, unsigned len, bool is_write)
{
	(void)opaque;
	if (addr == 0 && is_write) {	/* selector: 16 bits (8 accepted too) */
		uint16_t key = 0;
		memcpy(&key, data, len < 2 ? len : 2);
		select_key(key);
		return;
	}
	if (is_write)
		return;		/* writes to the data port: ignored */
	memset(data, 0, len);
	if (addr != 1)
		return;		/* reads of the selector: 0 */
	for (unsigned i = 0; i < len; i++, fw.pos++)
		((uint8_t *)data)[i] = fw.pos < fw.len ? fw.item[fw.pos] : 0;
}

static int fwcfg_setup(struct vm *vm, char *err, size_t errlen)
{
	fw.vm = vm;
	if (vm_register_pio(vm, PORT_FW_CFG, 2, fwcfg_io, NULL) < 0) {
		snprintf(err, errlen, "fw_cfg: cannot claim ports 0x%x-0x%x", PORT_FW_CFG,
			 PORT_FW_CFG + 1);
		return -1;
	}
	return 0;
}

static const struct vmm_module fwcfg_module = {
	.name = "fw_cfg",
	.setup = fwcfg_setup,
};
VMM_MODULE(fwcfg_module);
