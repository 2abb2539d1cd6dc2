/*
 * channel.h - the receiving end of the --exec channel (exec-proto.h): the
 * byte stream the guest's init writes to EXEC_PORT, cut into frames.
 * Hostile input: a header with flags set or a length over EXEC_FRAME_MAX
 * breaks the stream for good; nothing else is trusted either (the frame's
 * type and payload are the caller's to check).
 */
#ifndef PMVM_EXEC_CHANNEL_H
#define PMVM_EXEC_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exec-proto.h"

struct exec_channel {
	uint8_t hdr[4];
	unsigned hdr_got, len, got;
	bool broken;
	uint8_t payload[EXEC_FRAME_MAX];
};

typedef void (*exec_frame_fn)(void *opaque, uint8_t type, const uint8_t *payload,
			      unsigned len);

/* Start empty. */
void exec_channel_init(struct exec_channel *c);
/* Take n more bytes; fn gets each frame they complete, in order (len <=
 * EXEC_FRAME_MAX; payload valid during the call). 0, or -1 once the stream
 * is broken (then, and on every later call, nothing is delivered). */
int exec_channel_feed(struct exec_channel *c, const uint8_t *p, size_t n, exec_frame_fn fn,
		      void *opaque);

#endif
