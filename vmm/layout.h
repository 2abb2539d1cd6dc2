/*
 * layout.h - the guest-visible machine as one table.
 *
 * Every guest physical address and I/O port that pmvm gives a meaning to is
 * defined here and nowhere else, so the memory map can be read (and
 * documented in docs/machine.md) in one place. Keep docs/machine.md in step.
 */
#ifndef PMVM_LAYOUT_H
#define PMVM_LAYOUT_H

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* ---- Low memory (below 1 MiB) ---------------------------------------- */
#define LAYOUT_GDT            0x00000500ULL /* boot GDT (flat 32/64-bit) */
#define LAYOUT_AP_TRAMPOLINE  0x00001000ULL /* free for guests' SIPI code */
#define LAYOUT_PVH_START_INFO 0x00006000ULL /* struct hvm_start_info + modlist + memmap */
#define LAYOUT_ZERO_PAGE      0x00007000ULL /* Linux struct boot_params */
#define LAYOUT_PML4           0x00009000ULL /* identity page tables for 64-bit boot */
#define LAYOUT_PDPT           0x0000a000ULL
#define LAYOUT_PD             0x0000b000ULL /* 4 pages: 4 GiB of 2 MiB pages */
#define LAYOUT_BOOT_STACK     0x0000f000ULL /* top of the initial stack */
#define LAYOUT_CMDLINE        0x00020000ULL /* kernel command line */
#define LAYOUT_CMDLINE_MAX    0x00010000ULL
#define LAYOUT_FDT            0x00030000ULL /* machine description for test guests */
#define LAYOUT_FDT_MAX        0x00010000ULL
#define LAYOUT_EBDA           0x0009fc00ULL /* e820: reserved from here to 1 MiB */
#define LAYOUT_ACPI           0x000e0000ULL /* RSDP first, then the other tables */
#define LAYOUT_ACPI_MAX       0x00020000ULL /* up to 1 MiB */
#define LAYOUT_RESET_VECTOR   0x000ffff0ULL /* F000:FFF0: a real-mode stub that resets through the i8042 */
#define LAYOUT_KERNEL         0x00100000ULL /* bzImage protected-mode code */

/* ---- RAM and the 32-bit hole --------------------------------------------
 * RAM is [0, min(size, LAYOUT_LOW_RAM_MAX)) and, for the rest,
 * [4 GiB, 4 GiB + size - LAYOUT_LOW_RAM_MAX). The hole below 4 GiB holds
 * device MMIO. Persistent memory (NVDIMMs) comes after high RAM, starting at
 * the next 1 GiB boundary, each DIMM 1 GiB aligned (see nvdimm/).          */
#define LAYOUT_LOW_RAM_MAX    0xc0000000ULL /* 3 GiB */
#define LAYOUT_HIGH_RAM       0x100000000ULL
#define LAYOUT_MMIO_BASE      0xc0000000ULL
#define LAYOUT_VIRTIO_MMIO    0xd0000000ULL /* virtio-mmio slots, 4 KiB each */
#define LAYOUT_VIRTIO_SLOT    0x1000ULL
#define LAYOUT_VIRTIO_MAX     64
#define LAYOUT_NVDIMM_DSM     0xd8000000ULL /* NVDIMM _DSM shared page (4 KiB RAM) */
#define LAYOUT_NVDIMM_FLUSH   0xd8100000ULL /* flush hint pages, 4 KiB per DIMM, trapped */
#define LAYOUT_KVM_IDENTITY_MAP 0xfeffc000ULL /* KVM's EPT identity page (1 page) */
#define LAYOUT_KVM_TSS        0xfeffd000ULL /* KVM's real-mode TSS (3 pages) */
#define LAYOUT_IOAPIC         0xfec00000ULL
#define LAYOUT_TESTDEV_MMIO   0xff000000ULL /* pc-testdev scratch memory (pc_testdev.c) */
#define TESTDEV_MMIO_LEN      0x10000
#define LAYOUT_LAPIC          0xfee00000ULL
#define LAYOUT_PMEM_ALIGN     GiB

/* ---- I/O ports ---------------------------------------------------------- */
#define PORT_PIT              0x40  /* i8254 counters 0-2 (0x40-0x42) ... */
#define PORT_PIT_CTRL         0x43  /* ... and its control word */
#define PORT_PIT_SPEAKER      0x61  /* PIT channel 2 gate and speaker (1 byte) */
#define PORT_I8042_DATA       0x60
#define PORT_I8042_CMD        0x64
#define PORT_DEBUG_EXIT       0xf4  /* QEMU isa-debug-exit compatible */
#define PORT_TESTDEV_REG      0xe0  /* pc-testdev: 32-bit scratch register (pc_testdev.c) */
#define PORT_TESTDEV_FLUSH    0xe4  /* pc-testdev: flush a RAM page's mapping */
#define PORT_TESTDEV_REG_BYTE 0xe8  /* pc-testdev: the register, byte-wise */
#define PORT_TESTDEV_IRQ      0x2000 /* pc-testdev: IRQ lines 0-23, a port each */
#define TESTDEV_IRQ_LINES     24
#define PORT_FW_CFG           0x510 /* fw_cfg selector (16-bit), 0x511 data (fwcfg.c) */
#define PORT_COM1             0x3f8 /* 8 ports */
#define PORT_ACPI_SLEEP_CTL   0x600 /* FADT sleep control register (1 byte) */
#define PORT_ACPI_SLEEP_STS   0x601 /* FADT sleep status register (1 byte) */
#define PORT_ACPI_RESET       0x602 /* FADT reset register (1 byte) */
#define ACPI_RESET_VALUE      0x01
#define PORT_NVDIMM_DSM       0x0a18 /* 4 bytes: guest writes the DSM page address */

/* ---- Interrupts (GSI = IOAPIC pin) ---------------------------------------
 * The ISA lines below are never handed out by vm_alloc_irq(), used or not. */
#define IRQ_PIT               0   /* i8254 (in-kernel; pin 2 per the MADT override) */
#define IRQ_I8042_KBD         1   /* i8042 keyboard output buffer */
#define IRQ_COM1              4
#define IRQ_RTC               8   /* no RTC, but the line stays ISA's */
#define IRQ_I8042_AUX         12  /* i8042 AUX (mouse) output buffer */
#define IRQ_DEVICE_FIRST      5   /* vm_alloc_irq() hands out from here ... */
#define IRQ_DEVICE_LAST       23  /* ... to here, skipping the ones above */

#endif
