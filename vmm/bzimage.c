/*
 * bzimage.c - check a Linux bzImage's setup header (boot protocol, see the
 * kernel's Documentation/x86/boot.rst) before vmm boots it through the
 * 64-bit entry point. The image is a hostile file: every field read lies
 * inside the buffer, and anything vmm cannot boot is refused with a reason.
 */
#include <stdio.h>
#include <string.h>

#include "boot_params.h"
#include "internal.h"
#include "le.h"

int bzimage_parse(const uint8_t *img, size_t len, struct bzimage_info *bi,
		  char *err, size_t errlen)
{
	unsigned setup_sects;

	memset(bi, 0, sizeof(*bi));
	if (len < BP_SETUP_HDR_MAX) {
		snprintf(err, errlen, "too small for a bzImage (%zu bytes)", len);
		return -1;
	}
	if (get_le16(img + BP_BOOT_FLAG) != 0xaa55 ||
	    get_le32(img + BP_HEADER) != BP_HEADER_MAGIC) {
		snprintf(err, errlen, "not a bzImage (no boot flag or HdrS magic)");
		return -1;
	}
	bi->version = get_le16(img + BP_VERSION);
	if (bi->version < 0x206) {
		snprintf(err, errlen, "boot protocol %u.%02u too old (need 2.06)",
			 bi->version >> 8, bi->version & 0xff);
		return -1;
	}
	if (bi->version < 0x20c) {
		snprintf(err, errlen,
			 "boot protocol %u.%02u has no 64-bit entry (need 2.12)",
			 bi->version >> 8, bi->version & 0xff);
		return -1;
	}
	bi->loadflags = img[BP_LOADFLAGS];
	if (!(bi->loadflags & BP_LOADED_HIGH)) {
		snprintf(err, errlen, "kernel is not loaded high (zImage?)");
		return -1;
	}
	bi->xloadflags = get_le16(img + BP_XLOADFLAGS);
	if (!(bi->xloadflags & BP_XLF_KERNEL_64)) {
		snprintf(err, errlen, "kernel has no 64-bit entry (XLF_KERNEL_64)");
		return -1;
	}
	setup_sects = img[BP_SETUP_SECTS];
	if (setup_sects == 0)
		setup_sects = 4;
	bi->setup_size = (setup_sects + 1) * 512;
	if (bi->setup_size >= len) {
		snprintf(err, errlen, "setup (%u bytes) leaves no kernel in %zu bytes",
			 bi->setup_size, len);
		return -1;
	}
	bi->hdr_end = 0x202 + img[BP_JUMP + 1];
	if (bi->hdr_end > BP_SETUP_HDR_MAX)
		bi->hdr_end = BP_SETUP_HDR_MAX;
	if (bi->hdr_end < BP_INIT_SIZE + 4) {
		snprintf(err, errlen, "setup header too short (ends at 0x%x)",
			 bi->hdr_end);
		return -1;
	}
	bi->initrd_addr_max = get_le32(img + BP_INITRD_ADDR_MAX);
	bi->cmdline_size = get_le32(img + BP_CMDLINE_SIZE);
	bi->kernel_alignment = get_le32(img + BP_KERNEL_ALIGNMENT);
	bi->relocatable = img[BP_RELOCATABLE] != 0;
	bi->pref_address = get_le64(img + BP_PREF_ADDRESS);
	bi->init_size = get_le32(img + BP_INIT_SIZE);
	if (bi->init_size < len - bi->setup_size)
		bi->init_size = (uint32_t)(len - bi->setup_size);
	return 0;
}

int bzimage_kernel_release(const uint8_t *img, size_t len, char *out, size_t outlen)
{
	size_t off, n = 0;

	if (outlen == 0 || len < BP_SETUP_HDR_MAX ||
	    get_le16(img + BP_BOOT_FLAG) != 0xaa55 ||
	    get_le32(img + BP_HEADER) != BP_HEADER_MAGIC ||
	    get_le16(img + BP_KERNEL_VERSION) == 0)
		return -1;
	off = 0x200 + (size_t)get_le16(img + BP_KERNEL_VERSION);
	while (off + n < len && img[off + n] != ' ' && img[off + n] != '\0') {
		if (img[off + n] < 0x21 || img[off + n] > 0x7e || n + 1 >= outlen)
			return -1;
		out[n] = (char)img[off + n];
		n++;
	}
	if (n == 0 || off + n >= len)
		return -1;
	out[n] = '\0';
	return 0;
}
