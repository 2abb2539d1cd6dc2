/*
 * cpuid.c - the CPUID a vCPU sees: KVM_GET_SUPPORTED_CPUID with a
 * consistent topology of N cores in one package, one thread each, APIC ID =
 * vCPU index (leaves 1, 4, 0xB, 0x1F, 0x80000008, 0x8000001E), and the
 * hypervisor bit so that guests find KVM's paravirt leaves (0x40000000,
 * kvm-clock), which are passed through as KVM reports them.
 *
 * Pure code over struct kvm_cpuid2, unit-tested without KVM.
 */
#include <stdlib.h>
#include <string.h>

#include <asm/kvm_para.h>

#include "internal.h"

static unsigned topo_shift(int n)
{
	unsigned s = 0;

	while ((1 << s) < n)
		s++;
	return s;
}

struct kvm_cpuid2 *cpuid_for_vcpu(const struct kvm_cpuid2 *src, int idx, int n)
{
	size_t sz = sizeof(*src) + (src->nent + 8) * sizeof(src->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	unsigned shift = topo_shift(n);
	uint32_t max_basic = 0, apic = (uint32_t)idx;
	bool has_1f = false;
	uint32_t out = 0;

	if (!c)
		return NULL;
	memcpy(c, src, sizeof(*src) + src->nent * sizeof(src->entries[0]));
	for (uint32_t i = 0; i < c->nent; i++) {
		if (c->entries[i].function == 0)
			max_basic = c->entries[i].eax;
		if (c->entries[i].function == 0x1f)
			has_1f = true;
	}
	/* Drop the extended-topology leaves; we write our own below. */
	for (uint32_t i = 0; i < c->nent; i++) {
		uint32_t f = c->entries[i].function;

		if (f == 0xb || f == 0x1f)
			continue;
		c->entries[out++] = c->entries[i];
	}
	c->nent = out;
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx &= 0x0000ffff;
			e->ebx |= apic << 24;
			/* Addressable logical IDs: 8 bits, so at most 255. */
			e->ebx |= (uint32_t)((1 << shift) > 255 ? 255 : (1 << shift)) << 16;
			e->edx |= 1u << 28; /* HTT: the count field is valid */
			/* Hypervisor present: Linux only looks for the KVM
			 * leaves (0x40000000, kvm-clock) when this is set. */
			e->ecx |= 1u << 31;
			break;
		case 4: {
			uint32_t level = (e->eax >> 5) & 7;
			uint32_t sharing = level >= 3 ? (uint32_t)n - 1 : 0;

			if ((e->eax & 0x1f) == 0)
				break; /* no more caches */
			e->eax &= 0x00003fff;
			e->eax |= (((uint32_t)(1 << shift) - 1) & 0x3f) << 26;
			e->eax |= (sharing & 0xfff) << 14;
			break;
		}
		case 0x80000008:
			e->ecx &= ~0xf0ffu;
			e->ecx |= ((uint32_t)n - 1) & 0xff;
			e->ecx |= (shift & 0xf) << 12;
			break;
		case 0x8000001e:
			e->eax = apic;
			e->ebx = (e->ebx & ~0xffffu) | (apic & 0xff);
			e->ecx &= ~0xffu;
			break;
		}
	}
	if (max_basic >= 0xb) {
		for (uint32_t leaf = 0xb; leaf != 0; leaf = (leaf == 0xb && has_1f) ? 0x1f : 0) {
			struct kvm_cpuid_entry2 *e = &c->entries[c->nent];

			/* subleaf 0: SMT level, one thread per core */
			e[0] = (struct kvm_cpuid_entry2){
				.function = leaf, .index = 0,
				.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
				.eax = 0, .ebx = 1, .ecx = (1 << 8) | 0, .edx = apic };
			/* subleaf 1: core level, n cores */
			e[1] = (struct kvm_cpuid_entry2){
				.function = leaf, .index = 1,
				.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
				.eax = shift, .ebx = (uint32_t)n,
				.ecx = (2 << 8) | 1, .edx = apic };
			/* subleaf 2: invalid, ends the enumeration */
			e[2] = (struct kvm_cpuid_entry2){
				.function = leaf, .index = 2,
				.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
				.eax = 0, .ebx = 0, .ecx = 2, .edx = apic };
			c->nent += 3;
		}
	}
	return c;
}

void cpuid_hide_async_pf(struct kvm_cpuid2 *c)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == KVM_CPUID_FEATURES)
			c->entries[i].eax &= ~((1u << KVM_FEATURE_ASYNC_PF) |
					       (1u << KVM_FEATURE_ASYNC_PF_VMEXIT) |
					       (1u << KVM_FEATURE_ASYNC_PF_INT));
}
