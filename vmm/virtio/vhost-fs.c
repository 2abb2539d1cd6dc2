/*
 * vhost-fs.c - virtio-fs through a vhost-user backend (vhost-fs.h).
 *
 * Queue 0 is the high-priority queue, queue 1 the one request queue
 * (num_request_queues = 1). The device's work is the hand-over: at
 * FEATURES_OK the driver's features go to the backend; at DRIVER_OK guest
 * RAM (once) and every ready queue (size, ring addresses as vmm's own
 * mapping of them, notifier, call eventfd); at reset the queues are stopped
 * again (GET_VRING_BASE). Backend errors end the run: a file system that
 * stopped answering cannot be recovered from inside the guest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>

#include "le.h"
#include "vhost-fs.h"
#include "vhost-user.h"
#include "virtio.h"
#include "vmm.h"

#define FS_NQ 2 /* hiprio + one request queue */

/* What the guest may negotiate of what the backend offers. */
#define FS_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) | \
		     (1ULL << VIRTIO_RING_F_EVENT_IDX))

struct vhost_fs {
	struct vm *vm;
	struct virtio_transport *t;
	struct vhost_user *vu;
	struct virtio_fs_config config;
	int call_fd[FS_NQ];
	bool started[FS_NQ];
	bool mem_sent;
	bool watching_socket;
};

static void fs_fail(struct vhost_fs *fs, const char *what, const char *err)
{
	vm_request_exit(fs->vm, VMM_EXIT_ERROR, "virtio-fs: %s: %s", what, err);
}

static void fs_stop_queues(struct vhost_fs *fs)
{
	char err[256];

	for (unsigned q = 0; q < FS_NQ; q++) {
		uint16_t idx;

		if (!fs->started[q])
			continue;
		fs->started[q] = false;
		if (vhost_user_stop_queue(fs->vu, q, &idx, err, sizeof(err)) < 0)
			fs_fail(fs, "stopping a queue", err);
	}
}

static void fs_reset(void *opaque)
{
	fs_stop_queues(opaque);
}

static void fs_config_read(void *opaque, unsigned off, void *data, unsigned len)
{
	struct vhost_fs *fs = opaque;

	/* The transport checked off + len against config_len. */
	memcpy(data, (const uint8_t *)&fs->config + off, len);
}

static bool fs_features_ok(void *opaque, uint64_t features)
{
	struct vhost_fs *fs = opaque;
	char err[256];

	if (vhost_user_set_features(fs->vu, features, err, sizeof(err)) < 0) {
		fs_fail(fs, "features", err);
		return false;
	}
	return true;
}

struct mem_regions {
	struct vhost_user_region r[2];
	unsigned n;
	uint8_t *ram;
	int fd;
	uint64_t off; /* memfd offset of the next region */
};

static int add_ram_region(void *opaque, uint64_t gpa, uint64_t len)
{
	struct mem_regions *m = opaque;

	if (m->n >= 2)
		return -1;
	m->r[m->n] = (struct vhost_user_region){
		.gpa = gpa, .size = len, .hva = (uint64_t)(uintptr_t)(m->ram + m->off),
		.fd_offset = m->off, .fd = m->fd,
	};
	m->n++;
	m->off += len;
	return 0;
}

static void fs_driver_ok(void *opaque)
{
	struct vhost_fs *fs = opaque;
	char err[256];

	if (!fs->mem_sent) {
		struct mem_regions m = { .ram = vm_ram_host(fs->vm), .fd = vm_ram_fd(fs->vm) };

		if (vm_for_each_ram_region(fs->vm, add_ram_region, &m) < 0) {
			fs_fail(fs, "memory table", "more than two RAM regions");
			return;
		}
		if (vhost_user_set_mem_table(fs->vu, m.r, m.n, err, sizeof(err)) < 0) {
			fs_fail(fs, "memory table", err);
			return;
		}
		fs->mem_sent = true;
	}
	for (unsigned q = 0; q < FS_NQ; q++) {
		struct virtq *vq = fs->t->ops->queue(fs->t, q);

		if (!vq || !vq->ready || fs->started[q])
			continue;
		if (vhost_user_start_queue(fs->vu, q, vq->size, (uint64_t)(uintptr_t)vq->desc,
					   (uint64_t)(uintptr_t)vq->avail,
					   (uint64_t)(uintptr_t)vq->used, 0,
					   fs->t->ops->kick_fd(fs->t, q), fs->call_fd[q],
					   err, sizeof(err)) < 0) {
			fs_fail(fs, "starting a queue", err);
			return;
		}
		fs->started[q] = true;
	}
}

static void fs_queue_notify(void *opaque, unsigned q)
{
	(void)opaque;
	(void)q; /* never called: the backend reads the notifiers */
}

static const struct virtio_dev_ops fs_ops = {
	.queue_notify = fs_queue_notify,
	.reset = fs_reset,
	.config_read = fs_config_read,
	.features_ok = fs_features_ok,
	.driver_ok = fs_driver_ok,
};

/* The backend signalled a used buffer on some queue. */
static void on_call(void *opaque, uint32_t events)
{
	struct vhost_fs *fs = opaque;
	bool any = false;

	(void)events;
	for (unsigned q = 0; q < FS_NQ; q++) {
		eventfd_t v;

		if (eventfd_read(fs->call_fd[q], &v) == 0)
			any = true;
	}
	if (any)
		fs->t->ops->interrupt(fs->t);
}

/* Only EPOLLRDHUP/EPOLLHUP are watched: replies are read by the requests. */
static void on_socket(void *opaque, uint32_t events)
{
	struct vhost_fs *fs = opaque;

	if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)) {
		vm_del_fd(fs->vm, vhost_user_fd(fs->vu));
		fs->watching_socket = false;
		if (!vm_exiting(fs->vm))
			fs_fail(fs, "backend", "the vhost-user backend (virtiofsd) closed its connection");
	}
}

struct vhost_fs *vhost_fs_create(struct vm *vm, const char *tag, int sock,
				 char *err, size_t errlen)
{
	struct virtio_dev_info info = {
		.device_id = VIRTIO_ID_FS,
		.nq = FS_NQ,
		.config_len = sizeof(struct virtio_fs_config),
		.external_queues = true,
	};
	struct vhost_fs *fs;
	char e[256];

	if (strlen(tag) == 0 || strlen(tag) > sizeof(fs->config.tag)) {
		snprintf(err, errlen, "virtio-fs: tag '%s' must be 1 to %zu bytes", tag,
			 sizeof(fs->config.tag));
		close(sock);
		return NULL;
	}
	if (vm_ram_fd(vm) < 0) {
		snprintf(err, errlen, "virtio-fs: guest RAM is not shareable (no memfd)");
		close(sock);
		return NULL;
	}
	fs = calloc(1, sizeof(*fs));
	if (!fs) {
		snprintf(err, errlen, "virtio-fs: out of memory");
		close(sock);
		return NULL;
	}
	fs->vm = vm;
	fs->call_fd[0] = fs->call_fd[1] = -1;
	memcpy(fs->config.tag, tag, strlen(tag));
	put_le32(&fs->config.num_request_queues, FS_NQ - 1);
	fs->vu = vhost_user_connect(sock, e, sizeof(e));
	if (!fs->vu) {
		snprintf(err, errlen, "virtio-fs: %s", e);
		goto fail;
	}
	info.features = vhost_user_features(fs->vu) & FS_FEATURES;
	if (!(info.features & (1ULL << VIRTIO_F_VERSION_1))) {
		snprintf(err, errlen, "virtio-fs: the backend does not offer VIRTIO_F_VERSION_1");
		goto fail;
	}
	for (unsigned q = 0; q < FS_NQ; q++) {
		fs->call_fd[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (fs->call_fd[q] < 0 || vm_add_fd(vm, fs->call_fd[q], EPOLLIN, on_call, fs) < 0) {
			snprintf(err, errlen, "virtio-fs: call eventfd: %s", strerror(errno));
			goto fail;
		}
	}
	if (vm_add_fd(vm, vhost_user_fd(fs->vu), EPOLLRDHUP, on_socket, fs) == 0)
		fs->watching_socket = true;
	fs->t = virtio_transport_create(vm, &info, &fs_ops, fs, err, errlen);
	if (!fs->t)
		goto fail;
	return fs;
fail:
	vhost_fs_destroy(fs);
	return NULL;
}

void vhost_fs_acpi(struct vhost_fs *fs, struct aml *dsdt)
{
	fs->t->ops->acpi(fs->t, dsdt);
}

void vhost_fs_destroy(struct vhost_fs *fs)
{
	if (!fs)
		return;
	if (fs->watching_socket)
		vm_del_fd(fs->vm, vhost_user_fd(fs->vu));
	for (unsigned q = 0; q < FS_NQ; q++) {
		if (fs->call_fd[q] < 0)
			continue;
		vm_del_fd(fs->vm, fs->call_fd[q]);
		close(fs->call_fd[q]);
	}
	if (fs->vu)
		vhost_user_close(fs->vu);
	if (fs->t)
		fs->t->ops->destroy(fs->t);
	free(fs);
}
