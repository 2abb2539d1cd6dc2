/*
 * virtio-mmio.c - virtio-mmio transport, version 2 (modern) only: the
 * struct virtio_transport behind virtio_transport_create().
 *
 * Register semantics follow the virtio 1.x specification, section 4.2.2.
 * Queue notifications are ioeventfds on QueueNotify (datamatch = queue
 * index) so a guest kick costs no exit to userspace on the vCPU thread;
 * the main loop reads the eventfd and calls the device's queue_notify().
 * If the ioeventfd cannot be registered the MMIO handler signals the same
 * eventfd itself, so the device code sees one path either way.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>

#include "aml.h"
#include "le.h"
#include "virtio-mmio.h"
#include "vmm.h"

static struct virtio_mmio *mmio_of(struct virtio_transport *t)
{
	return (struct virtio_mmio *)t;
}

static void set_irq_line(struct virtio_mmio *d)
{
	bool level = d->isr != 0;

	if (level != d->irq_level) {
		d->irq_level = level;
		if (virtio_trace)
			vmm_log("virtio@%llx: irq %d -> %d (isr %x)", (unsigned long long)d->base,
				d->gsi, level, d->isr);
		vm_set_irq(d->vm, d->gsi, level);
	}
}

static void notify_used(struct virtio_transport *t, unsigned q)
{
	struct virtio_mmio *d = mmio_of(t);

	if (q >= d->nq || !virtq_should_notify(&d->vq[q]))
		return;
	d->isr |= VIRTIO_MMIO_INT_VRING;
	set_irq_line(d);
}

static void needs_reset(struct virtio_mmio *d)
{
	d->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	if (d->status & VIRTIO_CONFIG_S_DRIVER_OK) {
		d->isr |= VIRTIO_MMIO_INT_CONFIG;
		set_irq_line(d);
	}
}

static void device_reset(struct virtio_mmio *d)
{
	if (virtio_trace)
		vmm_log("virtio@%llx: reset", (unsigned long long)d->base);
	if (d->ops->reset)
		d->ops->reset(d->opaque);
	for (unsigned i = 0; i < d->nq; i++)
		virtq_reset(&d->vq[i]);
	d->status = 0;
	d->guest_features = 0;
	d->dev_features_sel = d->drv_features_sel = 0;
	d->queue_sel = 0;
	d->isr = 0;
	set_irq_line(d);
}

static struct virtq *cur_q(struct virtio_mmio *d)
{
	return d->queue_sel < d->nq ? &d->vq[d->queue_sel] : NULL;
}

static uint32_t reg_read(struct virtio_mmio *d, uint64_t addr)
{
	struct virtq *q = cur_q(d);

	switch (addr) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return 0x74726976; /* "virt" */
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return d->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		if (d->dev_features_sel > 1)
			return 0;
		return (uint32_t)(d->host_features >> (32 * d->dev_features_sel));
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return q ? VIRTQ_MAX_SIZE : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return q ? q->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return d->isr;
	case VIRTIO_MMIO_STATUS:
		return d->status;
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return d->config_gen;
	case VIRTIO_MMIO_QUEUE_NUM:
		return q ? q->size : 0;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		return q ? (uint32_t)q->desc_gpa : 0;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		return q ? (uint32_t)(q->desc_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		return q ? (uint32_t)q->avail_gpa : 0;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		return q ? (uint32_t)(q->avail_gpa >> 32) : 0;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		return q ? (uint32_t)q->used_gpa : 0;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		return q ? (uint32_t)(q->used_gpa >> 32) : 0;
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
		return 0xffffffff; /* no shared memory regions */
	default:
		return 0;
	}
}

static void set_addr(uint64_t *a, bool high, uint32_t v)
{
	if (high)
		*a = (*a & 0xffffffffULL) | ((uint64_t)v << 32);
	else
		*a = (*a & ~0xffffffffULL) | v;
}

static void write_status(struct virtio_mmio *d, uint32_t v)
{
	bool up;

	v &= 0xff;
	if (v == 0) {
		device_reset(d);
		return;
	}
	if ((v & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(d->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		/* Modern only; and only features we offered. */
		bool ok = (d->guest_features & (1ULL << VIRTIO_F_VERSION_1)) &&
			  !(d->guest_features & ~d->host_features);

		if (ok && d->ops->features_ok)
			ok = d->ops->features_ok(d->opaque, d->guest_features);
		if (!ok)
			v &= ~VIRTIO_CONFIG_S_FEATURES_OK;
	}
	up = (v & VIRTIO_CONFIG_S_DRIVER_OK) && !(d->status & VIRTIO_CONFIG_S_DRIVER_OK);
	d->status = v | (d->status & VIRTIO_CONFIG_S_NEEDS_RESET);
	if (up && d->ops->driver_ok)
		d->ops->driver_ok(d->opaque);
}

static void kick(struct virtio_mmio *d, uint32_t qi)
{
	if (qi >= d->nq || d->kick_fd[qi] < 0)
		return;
	/* From the MMIO handler only when the ioeventfd is not registered;
	 * from kick_later() to come back to the queue. */
	eventfd_write(d->kick_fd[qi], 1);
}

static void kick_later(struct virtio_transport *t, unsigned q)
{
	kick(mmio_of(t), q);
}

static void reg_write(struct virtio_mmio *d, uint64_t addr, uint32_t v)
{
	struct virtq *q = cur_q(d);
	/* Queue configuration may change only while the queue is not ready. */
	bool qcfg = q && !q->ready;

	switch (addr) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		d->dev_features_sel = v;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		if (d->status & VIRTIO_CONFIG_S_FEATURES_OK)
			break;
		if (d->drv_features_sel == 0)
			d->guest_features = (d->guest_features & ~0xffffffffULL) | v;
		else if (d->drv_features_sel == 1)
			d->guest_features = (d->guest_features & 0xffffffffULL) |
					    ((uint64_t)v << 32);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		d->drv_features_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		d->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
		if (qcfg)
			q->size = v > 0xffff ? 0 : (uint16_t)v;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		if (!q)
			break;
		if (v == 0) {
			uint16_t size = q->size;
			uint64_t a = q->desc_gpa, b = q->avail_gpa, c = q->used_gpa;

			virtq_reset(q);
			q->size = size;
			q->desc_gpa = a;
			q->avail_gpa = b;
			q->used_gpa = c;
		} else if (!q->ready) {
			if (!(d->status & VIRTIO_CONFIG_S_FEATURES_OK) ||
			    !virtq_enable(q))
				needs_reset(d);
		}
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		kick(d, v);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		d->isr &= ~v;
		set_irq_line(d);
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(d, v);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		if (qcfg)
			set_addr(&q->desc_gpa, addr == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		if (qcfg)
			set_addr(&q->avail_gpa, addr == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, v);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		if (qcfg)
			set_addr(&q->used_gpa, addr == VIRTIO_MMIO_QUEUE_USED_HIGH, v);
		break;
	default:
		break; /* read-only or unknown: ignored */
	}
}

static void mmio_access(void *opaque, uint64_t addr, void *data, unsigned len,
			bool is_write)
{
	struct virtio_mmio *d = opaque;

	pthread_mutex_lock(&d->lock);
	if (addr >= VIRTIO_MMIO_CONFIG) {
		unsigned off = addr - VIRTIO_MMIO_CONFIG;

		if (off < d->config_len && len <= d->config_len - off) {
			if (is_write) {
				if (d->ops->config_write)
					d->ops->config_write(d->opaque, off, data, len);
			} else if (d->ops->config_read) {
				d->ops->config_read(d->opaque, off, data, len);
			}
		}
	} else if (len == 4 && !(addr & 3)) {
		/* Registers are 32-bit little endian; other widths are ignored. */
		if (is_write)
			reg_write(d, addr, get_le32(data));
		else
			put_le32(data, reg_read(d, addr));
	}
	pthread_mutex_unlock(&d->lock);
}

static void on_kick(void *opaque, uint32_t events)
{
	struct virtio_mmio_kick *k = opaque;
	struct virtio_mmio *d = k->d;
	eventfd_t v;

	if (eventfd_read(d->kick_fd[k->q], &v) < 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (virtio_trace)
		vmm_log("virtio@%llx: kick q%u status %x ready %d", (unsigned long long)d->base,
			k->q, d->status, d->vq[k->q].ready);
	if ((d->status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	    !(d->status & VIRTIO_CONFIG_S_NEEDS_RESET) && d->vq[k->q].ready)
		d->ops->queue_notify(d->opaque, k->q);
	pthread_mutex_unlock(&d->lock);
}

static void mmio_acpi(struct virtio_transport *t, struct aml *dsdt)
{
	struct virtio_mmio *d = mmio_of(t);
	struct aml r;
	char name[5];

	snprintf(name, sizeof(name), "VR%02X", d->slot & 0xff);
	aml_device(dsdt, name);
	aml_name_decl(dsdt, "_HID");
	aml_string(dsdt, "LNRO0005");
	aml_name_decl(dsdt, "_UID");
	aml_int(dsdt, d->slot);
	aml_init(&r);
	aml_res_mem32(&r, (uint32_t)d->base, VIRTIO_MMIO_REG_SIZE, true);
	aml_res_interrupt(&r, d->gsi, true, false);
	aml_name_decl(dsdt, "_CRS");
	aml_restemplate(dsdt, &r);
	aml_free(&r);
	aml_close(dsdt);
}

static int kick_fd(struct virtio_transport *t, unsigned q)
{
	struct virtio_mmio *d = mmio_of(t);

	return q < d->nq ? d->kick_fd[q] : -1;
}

static void interrupt(struct virtio_transport *t)
{
	struct virtio_mmio *d = mmio_of(t);

	pthread_mutex_lock(&d->lock);
	if (d->status & VIRTIO_CONFIG_S_DRIVER_OK) {
		d->isr |= VIRTIO_MMIO_INT_VRING;
		set_irq_line(d);
	}
	pthread_mutex_unlock(&d->lock);
}

static void mmio_close_notifiers(struct virtio_mmio *d)
{
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (d->kick_fd[i] < 0)
			continue;
		if (!d->external_queues)
			vm_del_fd(d->vm, d->kick_fd[i]);
		close(d->kick_fd[i]);
		d->kick_fd[i] = -1;
	}
}

static void mmio_destroy(struct virtio_transport *t)
{
	struct virtio_mmio *d = mmio_of(t);

	mmio_close_notifiers(d);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static void needs_reset_op(struct virtio_transport *t)
{
	needs_reset(mmio_of(t));
}

static struct virtq *queue(struct virtio_transport *t, unsigned q)
{
	struct virtio_mmio *d = mmio_of(t);

	return q < d->nq ? &d->vq[q] : NULL;
}

static void mmio_lock(struct virtio_transport *t)
{
	pthread_mutex_lock(&mmio_of(t)->lock);
}

static void mmio_unlock(struct virtio_transport *t)
{
	pthread_mutex_unlock(&mmio_of(t)->lock);
}

static const struct virtio_transport_ops mmio_ops = {
	.queue = queue,
	.notify_used = notify_used,
	.kick_later = kick_later,
	.needs_reset = needs_reset_op,
	.lock = mmio_lock,
	.unlock = mmio_unlock,
	.kick_fd = kick_fd,
	.interrupt = interrupt,
	.acpi = mmio_acpi,
	.destroy = mmio_destroy,
};

/* Claim the interrupt, the MMIO range and the queue notifiers. */
static int mmio_attach(struct virtio_mmio *d, char *err, size_t errlen)
{
	struct vm *vm = d->vm;

	d->gsi = vm_alloc_irq(vm);
	if (d->gsi < 0) {
		snprintf(err, errlen, "virtio-mmio: no free interrupt line");
		return -1;
	}
	if (vm_register_mmio(vm, d->base, LAYOUT_VIRTIO_SLOT, mmio_access, d)) {
		snprintf(err, errlen, "virtio-mmio: cannot register MMIO at 0x%llx",
			 (unsigned long long)d->base);
		return -1;
	}
	d->registered = true;
	for (unsigned i = 0; i < d->nq; i++) {
		struct virtio_mmio_kick *k = &d->kick_ctx[i];

		d->kick_fd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (d->kick_fd[i] < 0) {
			snprintf(err, errlen, "virtio-mmio: eventfd: %s",
				 strerror(errno));
			return -1;
		}
		d->kick_is_ioeventfd[i] =
			vm_ioeventfd(vm, d->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4,
				     false, d->kick_fd[i], i) == 0;
		k->d = d;
		k->q = i;
		if (!d->external_queues && vm_add_fd(vm, d->kick_fd[i], EPOLLIN, on_kick, k)) {
			snprintf(err, errlen, "virtio-mmio: cannot watch queue notifier");
			return -1;
		}
	}
	return 0;
}

struct virtio_transport *virtio_mmio_create(struct vm *vm,
					    const struct virtio_dev_info *info,
					    const struct virtio_dev_ops *ops,
					    void *opaque, char *err, size_t errlen)
{
	struct virtio_mmio *d;

	if (info->nq == 0 || info->nq > VIRTIO_MAX_QUEUES) {
		snprintf(err, errlen, "virtio-mmio: %u queues (1..%d)", info->nq,
			 VIRTIO_MAX_QUEUES);
		return NULL;
	}
	if (info->config_len > VIRTIO_MMIO_REG_SIZE - VIRTIO_MMIO_CONFIG) {
		snprintf(err, errlen, "virtio-mmio: config space too large");
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		snprintf(err, errlen, "virtio-mmio: out of memory");
		return NULL;
	}
	d->t.ops = &mmio_ops;
	pthread_mutex_init(&d->lock, NULL);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		d->kick_fd[i] = -1;
	d->vm = vm;
	d->slot = vm_alloc_mmio_slot(vm);
	if (d->slot < 0) {
		snprintf(err, errlen, "virtio-mmio: all %d slots in use",
			 LAYOUT_VIRTIO_MAX);
		mmio_destroy(&d->t);
		return NULL;
	}
	d->base = LAYOUT_VIRTIO_MMIO + (uint64_t)d->slot * LAYOUT_VIRTIO_SLOT;
	d->device_id = info->device_id;
	d->host_features = info->features | (1ULL << VIRTIO_F_VERSION_1);
	d->nq = info->nq;
	d->config_len = info->config_len;
	d->external_queues = info->external_queues;
	d->ops = ops;
	d->opaque = opaque;
	for (unsigned i = 0; i < d->nq; i++)
		virtq_init(&d->vq[i], vm);
	if (mmio_attach(d, err, errlen)) {
		/* The core has no way to unregister an MMIO range: once it is
		 * registered d stays allocated (a failed setup ends the VM
		 * before it runs). */
		mmio_close_notifiers(d);
		if (!d->registered)
			mmio_destroy(&d->t);
		return NULL;
	}
	return &d->t;
}
