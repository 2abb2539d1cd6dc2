/*
 * aml.h - a small builder for ACPI Machine Language byte code.
 *
 * AML is prefix notation: an operator byte followed by its operands. This
 * builder writes terms in that order into a growable buffer. Constructs
 * that carry a PkgLength (Scope, Device, Method, If, Else, While, Package,
 * Buffer, Field) are opened with the matching function and finished with
 * aml_close(), which back-patches a minimal PkgLength encoding.
 *
 *   Store (Arg0, Local0)   ->  aml_op(a, AML_STORE); aml_arg(a, 0); aml_local(a, 0);
 *   If (LEqual (Arg1, 1)) { Return (Zero) }
 *       ->  aml_if(a); aml_op(a, AML_LEQUAL); aml_arg(a, 1); aml_int(a, 1);
 *           aml_op(a, AML_RETURN); aml_int(a, 0); aml_close(a);
 *
 * Errors (allocation failure, bad name, unbalanced close) are sticky: check
 * aml_ok() once at the end. The builder never prints or exits.
 */
#ifndef PMVM_AML_H
#define PMVM_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_MAX_DEPTH 32

struct aml {
	uint8_t *buf;
	size_t len, cap;
	size_t open[AML_MAX_DEPTH]; /* offsets where each open PkgLength goes */
	int depth;
	bool failed;
};

/* Single-byte opcodes (ACPI 6.x, 20.3). */
enum {
	AML_ZERO = 0x00, AML_ONE = 0x01, AML_ONES = 0xff,
	AML_STORE = 0x70, AML_REFOF = 0x71, AML_ADD = 0x72, AML_CONCAT = 0x73,
	AML_SUBTRACT = 0x74, AML_INCREMENT = 0x75, AML_DECREMENT = 0x76,
	AML_MULTIPLY = 0x77, AML_DIVIDE = 0x78, AML_SHIFTLEFT = 0x79,
	AML_SHIFTRIGHT = 0x7a, AML_AND = 0x7b, AML_OR = 0x7d, AML_XOR = 0x7f,
	AML_NOT = 0x80, AML_DEREFOF = 0x83, AML_NOTIFY = 0x86, AML_SIZEOF = 0x87,
	AML_INDEX = 0x88, AML_CREATEDWORDFIELD = 0x8a,
	AML_CREATEWORDFIELD = 0x8b, AML_CREATEBYTEFIELD = 0x8c,
	AML_CREATEQWORDFIELD = 0x8f, AML_LAND = 0x90, AML_LOR = 0x91,
	AML_LNOT = 0x92, AML_LEQUAL = 0x93, AML_LGREATER = 0x94,
	AML_LLESS = 0x95, AML_TOBUFFER = 0x96, AML_TOINTEGER = 0x99,
	AML_MID = 0x9e, AML_CONTINUE = 0x9f, AML_RETURN = 0xa4, AML_BREAK = 0xa5, AML_NOOP = 0xa3,
};

/* ExtOpPrefix (0x5B) opcodes, for aml_extop(). */
enum {
	AML_EXT_MUTEX = 0x01, AML_EXT_CREATEFIELD = 0x13, AML_EXT_SLEEP = 0x22,
	AML_EXT_ACQUIRE = 0x23, AML_EXT_RELEASE = 0x27,
};

/* Operation region spaces and field flags. */
enum { AML_SPACE_MEMORY = 0, AML_SPACE_IO = 1 };
enum {
	AML_FIELD_ANY = 0, AML_FIELD_BYTE = 1, AML_FIELD_WORD = 2,
	AML_FIELD_DWORD = 3, AML_FIELD_QWORD = 4, AML_FIELD_BUFFER = 5,
	AML_FIELD_LOCK = 0x10,
	AML_FIELD_PRESERVE = 0x00, AML_FIELD_WRITE_ONES = 0x20,
	AML_FIELD_WRITE_ZEROS = 0x40,
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
bool aml_ok(const struct aml *a);   /* no error and every open closed */

/* Raw bytes and opcodes. */
void aml_byte(struct aml *a, uint8_t b);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_op(struct aml *a, uint8_t op);
void aml_extop(struct aml *a, uint8_t op);
void aml_append(struct aml *a, const struct aml *b); /* copy b's bytes */

/* Data objects and names. */
void aml_int(struct aml *a, uint64_t v);      /* smallest encoding */
void aml_string(struct aml *a, const char *s);
void aml_name(struct aml *a, const char *path); /* "\\_SB.NVDR", "^PCI0", "_ADR" */
void aml_arg(struct aml *a, int n);           /* Arg0..Arg6 */
void aml_local(struct aml *a, int n);         /* Local0..Local7 */
void aml_eisaid(struct aml *a, const char *id); /* "PNP0501" as a DWord */
void aml_uuid(struct aml *a, const char *uuid); /* ToUUID("...") buffer */
void aml_buffer_bytes(struct aml *a, const void *p, size_t n);

/* Declarations. */
void aml_name_decl(struct aml *a, const char *name); /* Name (X, <next term>) */
void aml_opregion(struct aml *a, const char *name, uint8_t space,
		  uint64_t offset, uint64_t len);
void aml_mutex(struct aml *a, const char *name, uint8_t sync_level);

/* Constructs with a PkgLength, each closed with aml_close(). */
void aml_scope(struct aml *a, const char *name);
void aml_device(struct aml *a, const char *name);
void aml_method(struct aml *a, const char *name, int nargs, bool serialized);
void aml_if(struct aml *a);      /* predicate term next, then the body */
void aml_else(struct aml *a);    /* directly after an If's aml_close() */
void aml_while(struct aml *a);   /* predicate term next, then the body */
void aml_package(struct aml *a, uint8_t nelems);
void aml_buffer(struct aml *a);  /* size term next, then optional bytes */
void aml_field(struct aml *a, const char *region, uint8_t flags);
void aml_field_entry(struct aml *a, const char *name4, unsigned bits); /* name NULL: reserved gap */
void aml_close(struct aml *a);

/* Resource descriptors, written into a struct aml used as a byte sink and
 * turned into a ResourceTemplate buffer by aml_restemplate(). */
void aml_res_io(struct aml *r, uint16_t base, uint8_t len);
void aml_res_irq(struct aml *r, unsigned irq);           /* legacy IRQ (0-15), edge high */
void aml_res_interrupt(struct aml *r, uint32_t gsi, bool level, bool active_low);
void aml_res_mem32(struct aml *r, uint32_t base, uint32_t len, bool writable);
void aml_res_qword_mem(struct aml *r, uint64_t base, uint64_t len, bool writable);
void aml_restemplate(struct aml *a, const struct aml *r); /* Buffer + EndTag */

#endif
