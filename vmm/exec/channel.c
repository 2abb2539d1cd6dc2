/*
 * channel.c - frames out of the --exec channel's byte stream (channel.h).
 * A frame is a 4-byte header {type, flags = 0, length u16 LE} and length
 * bytes of payload; the parser keeps a partial frame across calls, since
 * the bytes arrive one I/O exit at a time.
 */
#include "channel.h"
#include "le.h"

void exec_channel_init(struct exec_channel *c)
{
	c->hdr_got = c->len = c->got = 0;
	c->broken = false;
}

int exec_channel_feed(struct exec_channel *c, const uint8_t *p, size_t n, exec_frame_fn fn,
		      void *opaque)
{
	for (size_t i = 0; i < n && !c->broken; i++) {
		if (c->hdr_got < sizeof(c->hdr)) {
			c->hdr[c->hdr_got++] = p[i];
			if (c->hdr_got < sizeof(c->hdr))
				continue;
			c->len = get_le16(c->hdr + 2);
			c->got = 0;
			if (c->hdr[1] != 0 || c->len > EXEC_FRAME_MAX) {
				c->broken = true;
				break;
			}
		} else {
			c->payload[c->got++] = p[i];
		}
		if (c->got == c->len) {
			c->hdr_got = 0;
			fn(opaque, c->hdr[0], c->payload, c->len);
		}
	}
	return c->broken ? -1 : 0;
}
