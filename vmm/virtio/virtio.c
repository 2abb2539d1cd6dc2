/*
 * virtio.c - the transport-neutral entry of vmm/virtio: picks the transport
 * for a new device (virtio-mmio, the only one today) and owns the trace
 * switch every part of the layer and its devices share.
 */
#include <stdlib.h>

#include "virtio-mmio.h"
#include "virtio.h"

/* PMVM_VIRTIO_TRACE=1: one stderr line per kick, interrupt change, reset. */
bool virtio_trace;

struct virtio_transport *virtio_transport_create(struct vm *vm,
						 const struct virtio_dev_info *info,
						 const struct virtio_dev_ops *ops,
						 void *opaque, char *err, size_t errlen)
{
	virtio_trace = getenv("PMVM_VIRTIO_TRACE") != NULL;
	return virtio_mmio_create(vm, info, ops, opaque, err, errlen);
}
