/*
 * fuzz_exec.c - fuzz target for the --exec channel's frame parser
 * (vmm/exec/channel.c), the part of vmm that reads what a guest's init
 * writes to port 0x2F0. The input (after its first byte, which sets the
 * chunk sizes) is fed in chunks of varying size, as I/O exits deliver it;
 * the frames delivered must be exactly those a one-pass reference parse
 * of the whole input finds (type, length, bytes), every length within
 * EXEC_FRAME_MAX, and nothing after the stream broke. libFuzzer with
 * clang; fuzz_replay.c drives it with gcc.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	const uint8_t *ref;  /* the reference frames' bytes, walked in step */
	size_t ref_len, pos;
	unsigned frames;
};

static void on_frame(void *opaque, uint8_t type, const uint8_t *payload, unsigned len)
{
	struct seen *s = opaque;
	unsigned rlen;

	if (len > EXEC_FRAME_MAX)
		abort();
	/* The next reference frame must be this one. */
	if (s->pos + 4 > s->ref_len)
		abort();
	rlen = (unsigned)s->ref[s->pos + 2] | (unsigned)s->ref[s->pos + 3] << 8;
	if (s->ref[s->pos] != type || rlen != len || s->pos + 4 + rlen > s->ref_len ||
	    (len && memcmp(s->ref + s->pos + 4, payload, len)))
		abort();
	s->pos += 4 + rlen;
	s->frames++;
}

/* How many whole frames a straight parse of the stream finds, and
 * whether it breaks. */
static unsigned reference(const uint8_t *p, size_t n, bool *broken)
{
	size_t pos = 0;
	unsigned frames = 0;

	*broken = false;
	while (n - pos >= 4) {
		unsigned len = (unsigned)p[pos + 2] | (unsigned)p[pos + 3] << 8;

		if (p[pos + 1] != 0 || len > EXEC_FRAME_MAX) {
			*broken = true;
			break;
		}
		if (n - pos - 4 < len)
			break;
		pos += 4 + len;
		frames++;
	}
	return frames;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct exec_channel ch;
	struct seen s = { 0 };
	unsigned step, want;
	bool broken, got_broken = false;
	size_t off = 0;

	if (size < 1)
		return 0;
	step = data[0] % 17 + 1;
	data++;
	size--;
	s.ref = data;
	s.ref_len = size;
	want = reference(data, size, &broken);
	exec_channel_init(&ch);
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		if (exec_channel_feed(&ch, data + off, n, on_frame, &s) < 0)
			got_broken = true;
		off += n;
		step = step * 7 % 4099 + 1; /* vary: 1 byte (outb) .. whole frames */
	}
	if (s.frames != want || got_broken != broken)
		abort();
	/* A broken stream stays broken and silent. */
	if (broken && (exec_channel_feed(&ch, (const uint8_t *)"\1\0\0\0", 4, on_frame, &s) != -1 ||
		       s.frames != want))
		abort();
	return 0;
}
