/*
 * test-transport.c - the virtio transport as a device sees it (virtio.h):
 * virtio_transport_create() on the fake core, slots from
 * vm_alloc_mmio_slot(), refusals (queue count, config size, no slot, no
 * interrupt) that leave nothing behind, the identification registers, the
 * ops table (queue lookup, notify_used, needs_reset, kick_later) and a queue
 * notify reaching the device only once the driver is ready.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "fake-vm.h"
#include "virtio.h"

static struct vm *vm;
static char err[256];
static unsigned notified[4];
static uint8_t cfg[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

static void dev_queue_notify(void *opaque, unsigned q)
{
	notified[q]++;
}

static void dev_config_read(void *opaque, unsigned off, void *data, unsigned len)
{
	memcpy(data, cfg + off, len);
}

static const struct virtio_dev_ops dev_ops = {
	.queue_notify = dev_queue_notify,
	.config_read = dev_config_read,
};

static struct virtio_transport *create(unsigned nq, unsigned config_len)
{
	struct virtio_dev_info info = {
		.device_id = 42, .features = 1ULL << 3, .nq = nq, .config_len = config_len,
	};

	err[0] = 0;
	return virtio_transport_create(vm, &info, &dev_ops, NULL, err, sizeof(err));
}

static int setup(void **state)
{
	vm = fake_vm_new();
	memset(notified, 0, sizeof(notified));
	return 0;
}

static int teardown(void **state)
{
	fake_vm_free(vm);
	return 0;
}

static void test_refusals(void **state)
{
	assert_null(create(0, 8));
	assert_non_null(strstr(err, "0 queues (1..16)"));
	assert_null(create(VIRTIO_MAX_QUEUES + 1, 8));
	assert_null(create(1, 0x1000));
	assert_non_null(strstr(err, "config space too large"));
	/* No slot left: nothing claimed. */
	vm->next_mmio_slot = LAYOUT_VIRTIO_MAX;
	assert_null(create(1, 8));
	assert_non_null(strstr(err, "all 64 slots in use"));
	assert_null(vm->mmio_fn);
	/* No interrupt line left: the slot is used up, nothing registered. */
	vm->next_mmio_slot = 0;
	vm->next_irq = IRQ_DEVICE_LAST + 1;
	assert_null(create(1, 8));
	assert_non_null(strstr(err, "no free interrupt line"));
	assert_null(vm->mmio_fn);
	assert_int_equal(vm->nfds, 0);
}

static void test_slots_and_registers(void **state)
{
	struct virtio_transport *a = create(2, 8), *b;

	assert_non_null(a);
	assert_int_equal(vm->mmio_base, LAYOUT_VIRTIO_MMIO);
	assert_int_equal(vm->nfds, 2); /* one notifier per queue */
	b = create(1, 8);
	assert_non_null(b);
	assert_int_equal(vm->mmio_base, LAYOUT_VIRTIO_MMIO + LAYOUT_VIRTIO_SLOT);
	assert_int_equal(vm->nfds, 3);
	/* b is the last registered range: its registers. */
	assert_int_equal(fake_mmio_read32(vm, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	assert_int_equal(fake_mmio_read32(vm, VIRTIO_MMIO_VERSION), 2);
	assert_int_equal(fake_mmio_read32(vm, VIRTIO_MMIO_DEVICE_ID), 42);
	fake_mmio_write32(vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	assert_int_equal(fake_mmio_read32(vm, VIRTIO_MMIO_DEVICE_FEATURES), 1u << 3);
	fake_mmio_write32(vm, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	assert_int_equal(fake_mmio_read32(vm, VIRTIO_MMIO_DEVICE_FEATURES),
			 1u << (VIRTIO_F_VERSION_1 - 32));
	assert_int_equal(fake_mmio_read32(vm, VIRTIO_MMIO_CONFIG + 4), 0x08070605);
	/* Queue lookup through the ops. */
	assert_non_null(a->ops->queue(a, 1));
	assert_ptr_not_equal(a->ops->queue(a, 0), a->ops->queue(a, 1));
	assert_null(a->ops->queue(a, 2));
	b->ops->destroy(b);
	assert_int_equal(vm->nfds, 2);
	a->ops->destroy(a);
	assert_int_equal(vm->nfds, 0);
}

/* Bring the last created device up as a driver would, queue 0 at 0x1000. */
static void driver_up(void)
{
	fake_mmio_write32(vm, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
			  VIRTIO_CONFIG_S_DRIVER);
	fake_mmio_write32(vm, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	fake_mmio_write32(vm, VIRTIO_MMIO_DRIVER_FEATURES, 1);
	fake_mmio_write32(vm, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE |
			  VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
	fake_mmio_write32(vm, VIRTIO_MMIO_QUEUE_SEL, 0);
	fake_mmio_write32(vm, VIRTIO_MMIO_QUEUE_NUM, 16);
	fake_mmio_write32(vm, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
	fake_mmio_write32(vm, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x2000);
	fake_mmio_write32(vm, VIRTIO_MMIO_QUEUE_USED_LOW, 0x3000);
	fake_mmio_write32(vm, VIRTIO_MMIO_QUEUE_READY, 1);
	assert_int_equal(fake_mmio_read32(vm, VIRTIO_MMIO_QUEUE_READY), 1);
}

static void test_ops(void **state)
{
	struct virtio_transport *t = create(1, 8);
	int gsi;

	assert_non_null(t);
	gsi = vm->next_irq - 1;
	/* A notify before DRIVER_OK does not reach the device. */
	driver_up();
	fake_mmio_write32(vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	fake_vm_poll(vm, 0);
	assert_int_equal(notified[0], 0);
	fake_mmio_write32(vm, VIRTIO_MMIO_STATUS,
			  fake_mmio_read32(vm, VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
	fake_mmio_write32(vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	fake_vm_poll(vm, 0);
	assert_int_equal(notified[0], 1);
	t->ops->kick_later(t, 0);
	fake_vm_poll(vm, 0);
	assert_int_equal(notified[0], 2);
	/* Used-buffer interrupt: line up until acknowledged. */
	t->ops->lock(t);
	t->ops->notify_used(t, 0);
	t->ops->unlock(t);
	assert_int_equal(vm->irq_level[gsi], 1);
	assert_int_equal(fake_mmio_read32(vm, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_MMIO_INT_VRING);
	fake_mmio_write32(vm, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(vm->irq_level[gsi], 0);
	/* The driver asked for no interrupts: none. */
	((uint16_t *)fake_gpa(vm, 0x2000))[0] = VRING_AVAIL_F_NO_INTERRUPT;
	t->ops->notify_used(t, 0);
	assert_int_equal(vm->irq_level[gsi], 0);
	/* Needs reset: status bit, config interrupt, no more notifies. */
	t->ops->needs_reset(t);
	assert_true(fake_mmio_read32(vm, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	assert_int_equal(fake_mmio_read32(vm, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(vm->irq_level[gsi], 1);
	fake_mmio_write32(vm, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	fake_vm_poll(vm, 0);
	assert_int_equal(notified[0], 2);
	t->ops->destroy(t);
}

static unsigned driver_oks;

static void dev_driver_ok(void *opaque)
{
	driver_oks++;
}

static const struct virtio_dev_ops ext_ops = {
	.queue_notify = dev_queue_notify,
	.config_read = dev_config_read,
	.driver_ok = dev_driver_ok,
};

/* Queues served by another process (vhost-user): the notifiers are handed
 * out, not watched; DRIVER_OK is reported once; interrupt() raises the
 * line with no ring check, and only once the driver is up. */
static void test_external_queues(void **state)
{
	struct virtio_dev_info info = {
		.device_id = 26, .nq = 2, .config_len = 8, .external_queues = true,
	};
	struct virtio_transport *t;
	int gsi, fd;
	uint64_t v;

	driver_oks = 0;
	t = virtio_transport_create(vm, &info, &ext_ops, NULL, err, sizeof(err));
	assert_non_null(t);
	gsi = vm->next_irq - 1;
	assert_int_equal(vm->nfds, 0);
	fd = t->ops->kick_fd(t, 1);
	assert_true(fd >= 0);
	assert_int_equal(t->ops->kick_fd(t, 2), -1);
	t->ops->interrupt(t);
	assert_int_equal(vm->irq_level[gsi], 0);
	driver_up();
	assert_int_equal(driver_oks, 0);
	fake_mmio_write32(vm, VIRTIO_MMIO_STATUS,
			  fake_mmio_read32(vm, VIRTIO_MMIO_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
	assert_int_equal(driver_oks, 1);
	fake_mmio_write32(vm, VIRTIO_MMIO_STATUS, fake_mmio_read32(vm, VIRTIO_MMIO_STATUS));
	assert_int_equal(driver_oks, 1);
	/* A notify lands in the eventfd for the backend, not in the device. */
	fake_mmio_write32(vm, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	fake_vm_poll(vm, 0);
	assert_int_equal(notified[1], 0);
	assert_int_equal(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	/* The backend's call: the line goes up until acknowledged, even with
	 * the driver's no-interrupt flag (the backend already applied it). */
	((uint16_t *)fake_gpa(vm, 0x2000))[0] = VRING_AVAIL_F_NO_INTERRUPT;
	t->ops->interrupt(t);
	assert_int_equal(vm->irq_level[gsi], 1);
	assert_int_equal(fake_mmio_read32(vm, VIRTIO_MMIO_INTERRUPT_STATUS),
			 VIRTIO_MMIO_INT_VRING);
	fake_mmio_write32(vm, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(vm->irq_level[gsi], 0);
	t->ops->destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slots_and_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_external_queues, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
