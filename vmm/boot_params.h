/*
 * boot_params.h - offsets into Linux's struct boot_params (the "zero page")
 * and its setup_header, from the x86 boot protocol (boot.rst). Offsets
 * rather than a struct, so the loader and the header checks read and write
 * exactly the documented bytes.
 */
#ifndef PMVM_BOOT_PARAMS_H
#define PMVM_BOOT_PARAMS_H

/* boot_params */
#define BP_ACPI_RSDP_ADDR     0x070 /* u64, protocol 2.14 */
#define BP_EXT_RAMDISK_IMAGE  0x0c0 /* u32 */
#define BP_EXT_RAMDISK_SIZE   0x0c4 /* u32 */
#define BP_EXT_CMD_LINE_PTR   0x0c8 /* u32 */
#define BP_E820_ENTRIES       0x1e8 /* u8 */
#define BP_E820_TABLE         0x2d0 /* 128 x 20 bytes */
#define BP_E820_MAX           128

/* setup_header, at 0x1f1 inside both the file and boot_params */
#define BP_SETUP_HDR          0x1f1
#define BP_SETUP_SECTS        0x1f1 /* u8 */
#define BP_VID_MODE           0x1fa /* u16 */
#define BP_BOOT_FLAG          0x1fe /* u16, 0xaa55 */
#define BP_JUMP               0x200 /* 2-byte jump; byte 0x201 = hdr end - 0x202 */
#define BP_HEADER             0x202 /* "HdrS" */
#define BP_HEADER_MAGIC       0x53726448
#define BP_VERSION            0x206 /* u16 */
#define BP_KERNEL_VERSION     0x20e /* u16: version string at 0x200 + this */
#define BP_TYPE_OF_LOADER     0x210 /* u8 */
#define BP_LOADFLAGS          0x211 /* u8 */
#define BP_LOADED_HIGH        0x01
#define BP_CAN_USE_HEAP       0x80
#define BP_CODE32_START       0x214 /* u32 */
#define BP_RAMDISK_IMAGE      0x218 /* u32 */
#define BP_RAMDISK_SIZE       0x21c /* u32 */
#define BP_HEAP_END_PTR       0x224 /* u16 */
#define BP_CMD_LINE_PTR       0x228 /* u32 */
#define BP_INITRD_ADDR_MAX    0x22c /* u32 */
#define BP_KERNEL_ALIGNMENT   0x230 /* u32 */
#define BP_RELOCATABLE        0x234 /* u8 */
#define BP_XLOADFLAGS         0x236 /* u16 */
#define BP_XLF_KERNEL_64      0x01
#define BP_XLF_CAN_BE_LOADED_ABOVE_4G 0x02
#define BP_CMDLINE_SIZE       0x238 /* u32 */
#define BP_SETUP_DATA         0x250 /* u64 */
#define BP_PREF_ADDRESS       0x258 /* u64 */
#define BP_INIT_SIZE          0x260 /* u32 */
#define BP_SETUP_HDR_MAX      0x290 /* boot_params has room up to here */

#define BP_SIZE               4096

#endif
