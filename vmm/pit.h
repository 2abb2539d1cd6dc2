/*
 * pit.h - the i8254 PIT (pit.c), which the core sets up when it creates the
 * VM: KVM's in-kernel PIT, now (lazy false) or on the guest's first access
 * to one of its ports (lazy true). An offline VM gets no PIT.
 */
#ifndef PMVM_PIT_H
#define PMVM_PIT_H

#include <stdbool.h>
#include <stddef.h>

struct vm;

int pit_setup(struct vm *vm, bool lazy, char *err, size_t errlen);

#endif
