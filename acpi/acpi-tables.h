/*
 * acpi-tables.h - the fixed ACPI tables pmvm writes, as packed structs whose
 * fields carry the names the ACPI 6.5 specification gives them: RSDP
 * (5.2.5.3), the common table header (5.2.6), XSDT (5.2.8), FADT (5.2.9),
 * the Generic Address Structure (5.2.3.2) and MADT with the interrupt
 * controller entries pmvm uses (5.2.12). Every offset the spec lists is
 * checked by a _Static_assert below, so a field is read by its name and its
 * place is checked by the compiler.
 *
 * Byte order: every multi-byte field holds its value little endian, as the
 * spec stores it. Builders set fields with htole16/32/64() and readers use
 * le16/32/64toh() (<endian.h>), so nothing assumes the host's byte order
 * (on x86-64 those calls compile to nothing). Packed structs have alignment
 * 1: they may be laid over any byte of a table buffer.
 */
#ifndef PMVM_ACPI_ACPI_TABLES_H
#define PMVM_ACPI_ACPI_TABLES_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_PACKED __attribute__((packed))

/* Assert a field's offset against the spec's table. */
#define ACPI_AT(type, field, off) \
	_Static_assert(offsetof(type, field) == (off), #type "." #field)
#define ACPI_SIZE(type, len) \
	_Static_assert(sizeof(type) == (len), "sizeof " #type)

/* 5.2.5.3 Root System Description Pointer, revision 2. */
struct acpi_rsdp {
	char signature[8];              /* "RSD PTR " */
	uint8_t checksum;               /* over the first 20 bytes */
	char oemid[6];
	uint8_t revision;               /* 2: ACPI 2.0 and later */
	uint32_t rsdt_address;
	uint32_t length;                /* of the whole RSDP */
	uint64_t xsdt_address;
	uint8_t extended_checksum;      /* over all of it */
	uint8_t reserved[3];
} ACPI_PACKED;
ACPI_AT(struct acpi_rsdp, checksum, 8);
ACPI_AT(struct acpi_rsdp, oemid, 9);
ACPI_AT(struct acpi_rsdp, revision, 15);
ACPI_AT(struct acpi_rsdp, rsdt_address, 16);
ACPI_AT(struct acpi_rsdp, length, 20);
ACPI_AT(struct acpi_rsdp, xsdt_address, 24);
ACPI_AT(struct acpi_rsdp, extended_checksum, 32);
ACPI_SIZE(struct acpi_rsdp, 36);
#define ACPI_RSDP_V1_LEN 20         /* what checksum covers */

/* 5.2.6 System Description Table Header, first in every table but RSDP. */
struct acpi_sdt_header {
	char signature[4];
	uint32_t length;                /* of the table, header included */
	uint8_t revision;
	uint8_t checksum;               /* whole table sums to 0 */
	char oemid[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} ACPI_PACKED;
ACPI_AT(struct acpi_sdt_header, length, 4);
ACPI_AT(struct acpi_sdt_header, revision, 8);
ACPI_AT(struct acpi_sdt_header, checksum, 9);
ACPI_AT(struct acpi_sdt_header, oemid, 10);
ACPI_AT(struct acpi_sdt_header, oem_table_id, 16);
ACPI_AT(struct acpi_sdt_header, oem_revision, 24);
ACPI_AT(struct acpi_sdt_header, creator_id, 28);
ACPI_AT(struct acpi_sdt_header, creator_revision, 32);
ACPI_SIZE(struct acpi_sdt_header, 36);

/* 5.2.8 Extended System Description Table. */
struct acpi_xsdt {
	struct acpi_sdt_header header;  /* "XSDT", revision 1 */
	uint64_t entry[];               /* addresses of the other tables */
} ACPI_PACKED;
ACPI_AT(struct acpi_xsdt, entry, 36);

/* 5.2.3.2 Generic Address Structure. */
struct acpi_gas {
	uint8_t address_space_id;       /* ACPI_GAS_* */
	uint8_t register_bit_width;
	uint8_t register_bit_offset;
	uint8_t access_size;            /* ACPI_GAS_ACCESS_* */
	uint64_t address;
} ACPI_PACKED;
ACPI_AT(struct acpi_gas, access_size, 3);
ACPI_AT(struct acpi_gas, address, 4);
ACPI_SIZE(struct acpi_gas, 12);
#define ACPI_GAS_SYSTEM_IO      1
#define ACPI_GAS_ACCESS_BYTE    1

/* 5.2.9 Fixed ACPI Description Table, revision 6 (minor version 5). */
struct acpi_fadt {
	struct acpi_sdt_header header;  /* "FACP" */
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;        /* ACPI_IAPC_BOOT_ARCH_* */
	uint8_t reserved1;
	uint32_t flags;                 /* ACPI_FADT_* */
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t fadt_minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	char hypervisor_vendor_identity[8];
} ACPI_PACKED;
ACPI_AT(struct acpi_fadt, firmware_ctrl, 36);
ACPI_AT(struct acpi_fadt, dsdt, 40);
ACPI_AT(struct acpi_fadt, preferred_pm_profile, 45);
ACPI_AT(struct acpi_fadt, sci_int, 46);
ACPI_AT(struct acpi_fadt, smi_cmd, 48);
ACPI_AT(struct acpi_fadt, acpi_enable, 52);
ACPI_AT(struct acpi_fadt, pstate_cnt, 55);
ACPI_AT(struct acpi_fadt, pm1a_evt_blk, 56);
ACPI_AT(struct acpi_fadt, pm_tmr_blk, 76);
ACPI_AT(struct acpi_fadt, gpe1_blk, 84);
ACPI_AT(struct acpi_fadt, pm1_evt_len, 88);
ACPI_AT(struct acpi_fadt, cst_cnt, 95);
ACPI_AT(struct acpi_fadt, p_lvl2_lat, 96);
ACPI_AT(struct acpi_fadt, flush_stride, 102);
ACPI_AT(struct acpi_fadt, duty_offset, 104);
ACPI_AT(struct acpi_fadt, century, 108);
ACPI_AT(struct acpi_fadt, iapc_boot_arch, 109);
ACPI_AT(struct acpi_fadt, flags, 112);
ACPI_AT(struct acpi_fadt, reset_reg, 116);
ACPI_AT(struct acpi_fadt, reset_value, 128);
ACPI_AT(struct acpi_fadt, arm_boot_arch, 129);
ACPI_AT(struct acpi_fadt, fadt_minor_version, 131);
ACPI_AT(struct acpi_fadt, x_firmware_ctrl, 132);
ACPI_AT(struct acpi_fadt, x_dsdt, 140);
ACPI_AT(struct acpi_fadt, x_pm1a_evt_blk, 148);
ACPI_AT(struct acpi_fadt, x_pm_tmr_blk, 208);
ACPI_AT(struct acpi_fadt, x_gpe0_blk, 220);
ACPI_AT(struct acpi_fadt, x_gpe1_blk, 232);
ACPI_AT(struct acpi_fadt, sleep_control_reg, 244);
ACPI_AT(struct acpi_fadt, sleep_status_reg, 256);
ACPI_AT(struct acpi_fadt, hypervisor_vendor_identity, 268);
ACPI_SIZE(struct acpi_fadt, 276);

/* FADT Flags (table 5.10) and IA-PC Boot Architecture Flags (5.2.9.3). */
#define ACPI_FADT_WBINVD                (1u << 0)
#define ACPI_FADT_PWR_BUTTON            (1u << 4)  /* no fixed power button */
#define ACPI_FADT_SLP_BUTTON            (1u << 5)  /* no fixed sleep button */
#define ACPI_FADT_RESET_REG_SUP         (1u << 10)
#define ACPI_FADT_HW_REDUCED_ACPI       (1u << 20)
#define ACPI_IAPC_BOOT_ARCH_8042        (1u << 1)
#define ACPI_IAPC_BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define ACPI_IAPC_BOOT_ARCH_CMOS_RTC_NOT_PRESENT (1u << 5)

/* 5.2.12 Multiple APIC Description Table: the fixed part, then entries. */
struct acpi_madt {
	struct acpi_sdt_header header;  /* "APIC", revision 5 */
	uint32_t local_interrupt_controller_address;
	uint32_t flags;                 /* ACPI_MADT_PCAT_COMPAT */
	uint8_t entries[];
} ACPI_PACKED;
ACPI_AT(struct acpi_madt, local_interrupt_controller_address, 36);
ACPI_AT(struct acpi_madt, flags, 40);
ACPI_AT(struct acpi_madt, entries, 44);
#define ACPI_MADT_PCAT_COMPAT   (1u << 0)

/* Interrupt Controller Structure Types (table 5.21). */
#define ACPI_MADT_TYPE_LOCAL_APIC               0
#define ACPI_MADT_TYPE_IO_APIC                  1
#define ACPI_MADT_TYPE_INTERRUPT_OVERRIDE       2
#define ACPI_MADT_TYPE_LOCAL_APIC_NMI           4
#define ACPI_MADT_TYPE_LOCAL_X2APIC             9
#define ACPI_MADT_TYPE_LOCAL_X2APIC_NMI         10

/* Local APIC Flags (table 5.23) and MPS INTI Flags (table 5.26). */
#define ACPI_MADT_ENABLED               (1u << 0)
#define ACPI_MPS_INTI_CONFORMS          0

/* 5.2.12.2 Processor Local APIC Structure. */
struct acpi_madt_local_apic {
	uint8_t type;
	uint8_t length;
	uint8_t acpi_processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} ACPI_PACKED;
ACPI_AT(struct acpi_madt_local_apic, acpi_processor_uid, 2);
ACPI_AT(struct acpi_madt_local_apic, apic_id, 3);
ACPI_AT(struct acpi_madt_local_apic, flags, 4);
ACPI_SIZE(struct acpi_madt_local_apic, 8);

/* 5.2.12.3 I/O APIC Structure. */
struct acpi_madt_io_apic {
	uint8_t type;
	uint8_t length;
	uint8_t io_apic_id;
	uint8_t reserved;
	uint32_t io_apic_address;
	uint32_t global_system_interrupt_base;
} ACPI_PACKED;
ACPI_AT(struct acpi_madt_io_apic, io_apic_id, 2);
ACPI_AT(struct acpi_madt_io_apic, io_apic_address, 4);
ACPI_AT(struct acpi_madt_io_apic, global_system_interrupt_base, 8);
ACPI_SIZE(struct acpi_madt_io_apic, 12);

/* 5.2.12.5 Interrupt Source Override Structure. */
struct acpi_madt_interrupt_override {
	uint8_t type;
	uint8_t length;
	uint8_t bus;                    /* 0: ISA */
	uint8_t source;                 /* bus-relative IRQ */
	uint32_t global_system_interrupt;
	uint16_t flags;                 /* MPS INTI flags */
} ACPI_PACKED;
ACPI_AT(struct acpi_madt_interrupt_override, bus, 2);
ACPI_AT(struct acpi_madt_interrupt_override, source, 3);
ACPI_AT(struct acpi_madt_interrupt_override, global_system_interrupt, 4);
ACPI_AT(struct acpi_madt_interrupt_override, flags, 8);
ACPI_SIZE(struct acpi_madt_interrupt_override, 10);

/* 5.2.12.7 Local APIC NMI Structure. */
struct acpi_madt_local_apic_nmi {
	uint8_t type;
	uint8_t length;
	uint8_t acpi_processor_uid;     /* 0xff: all processors */
	uint16_t flags;                 /* MPS INTI flags */
	uint8_t local_apic_lint;
} ACPI_PACKED;
ACPI_AT(struct acpi_madt_local_apic_nmi, acpi_processor_uid, 2);
ACPI_AT(struct acpi_madt_local_apic_nmi, flags, 3);
ACPI_AT(struct acpi_madt_local_apic_nmi, local_apic_lint, 5);
ACPI_SIZE(struct acpi_madt_local_apic_nmi, 6);

/* 5.2.12.12 Processor Local x2APIC Structure. */
struct acpi_madt_local_x2apic {
	uint8_t type;
	uint8_t length;
	uint16_t reserved;
	uint32_t x2apic_id;
	uint32_t flags;                 /* as the Local APIC Flags */
	uint32_t acpi_processor_uid;
} ACPI_PACKED;
ACPI_AT(struct acpi_madt_local_x2apic, x2apic_id, 4);
ACPI_AT(struct acpi_madt_local_x2apic, flags, 8);
ACPI_AT(struct acpi_madt_local_x2apic, acpi_processor_uid, 12);
ACPI_SIZE(struct acpi_madt_local_x2apic, 16);

/* 5.2.12.13 Local x2APIC NMI Structure. */
struct acpi_madt_local_x2apic_nmi {
	uint8_t type;
	uint8_t length;
	uint16_t flags;                 /* MPS INTI flags */
	uint32_t acpi_processor_uid;    /* 0xffffffff: all processors */
	uint8_t local_x2apic_lint;
	uint8_t reserved[3];
} ACPI_PACKED;
ACPI_AT(struct acpi_madt_local_x2apic_nmi, flags, 2);
ACPI_AT(struct acpi_madt_local_x2apic_nmi, acpi_processor_uid, 4);
ACPI_AT(struct acpi_madt_local_x2apic_nmi, local_x2apic_lint, 8);
ACPI_SIZE(struct acpi_madt_local_x2apic_nmi, 12);

#endif
