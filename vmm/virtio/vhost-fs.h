/*
 * vhost-fs.h - a virtio-fs device (virtio 1.x, 5.11) whose queues a
 * vhost-user backend serves: Debian's virtiofsd, started by the caller.
 *
 * vmm keeps the transport (registers, config space with the tag, the
 * interrupt line); the backend gets guest RAM (a memfd, see vm_ram_fd), the
 * rings' addresses, the queue notifiers and one "call" eventfd per queue,
 * which vmm turns into the used-buffer interrupt. The guest's FUSE requests
 * never pass through vmm.
 */
#ifndef PMVM_VHOST_FS_H
#define PMVM_VHOST_FS_H

#include <stddef.h>

struct vm;
struct aml;
struct vhost_fs;

/* Connect to the backend on sock (a connected unix stream socket, owned
 * from now on, even on failure) and put a virtio-fs device named tag on the
 * VM's transport. The VM's RAM must be shareable (vm_ram_fd() >= 0). NULL
 * with err filled on failure. */
struct vhost_fs *vhost_fs_create(struct vm *vm, const char *tag, int sock,
				 char *err, size_t errlen);
/* The device's DSDT node. */
void vhost_fs_acpi(struct vhost_fs *fs, struct aml *dsdt);
/* Close the connection (the backend sees it end) and free the device. */
void vhost_fs_destroy(struct vhost_fs *fs);

#endif
