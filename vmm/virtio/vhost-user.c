/*
 * vhost-user.c - the vhost-user front-end (vhost-user.h).
 *
 * A message is a 12-byte header (request, flags, size) and size bytes of
 * payload, in host byte order, sent in one sendmsg() with any fds as
 * SCM_RIGHTS. Replies are read header first; the header is checked against
 * the request (same code, version 1 with the reply bit, exactly the payload
 * size that request's reply has) before a payload byte is read, so a
 * back-end cannot make us read more than we expect; fds it might attach
 * are dropped by the kernel (plain recv, no control buffer). Every wait
 * (for room to send, for reply bytes) polls against one deadline per
 * message.
 *
 * With VHOST_USER_PROTOCOL_F_REPLY_ACK negotiated, messages without a reply
 * of their own carry need_reply and the back-end's u64 status is checked,
 * so a refused SET_MEM_TABLE is an error here, not a silent dead queue.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vhost-user.h"

/* Front-end message types (spec: "Front-end message types"). */
enum {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_SET_VRING_ENABLE = 18,
};

/* Header flags. */
#define VHOST_USER_VERSION      0x1
#define VHOST_USER_VERSION_MASK 0x3
#define VHOST_USER_REPLY_MASK   (1u << 2)
#define VHOST_USER_NEED_REPLY   (1u << 3)

/* Feature bits of the vhost layer, not of the virtio device. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VHOST_F_LOG_ALL                26
#define VHOST_LAYER_FEATURES ((1ULL << VHOST_USER_F_PROTOCOL_FEATURES) | (1ULL << VHOST_F_LOG_ALL))

#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
/* What we speak of the protocol features. */
#define PROTOCOL_FEATURES (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK)

/* SET_VRING_KICK/CALL payload: queue index in bits 0-7, bit 8 "no fd". */
#define VHOST_USER_VRING_IDX_MASK 0xffULL
#define VHOST_USER_VRING_NOFD     (1ULL << 8)

/* Payloads (spec: "Payload"); natural alignment gives the spec's layout. */
struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t descriptor; /* the order is the spec's: descriptor, used, available, log */
	uint64_t used;
	uint64_t available;
	uint64_t log;
};

struct vu_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};

struct vu_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VHOST_USER_MAX_REGIONS];
};

_Static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header");
_Static_assert(sizeof(struct vu_vring_state) == 8, "vring state");
_Static_assert(sizeof(struct vu_vring_addr) == 40, "vring address");
_Static_assert(sizeof(struct vu_mem_region) == 32, "memory region");
_Static_assert(sizeof(struct vu_memory) == 8 + 8 * 32, "memory regions");

#define MAX_PAYLOAD sizeof(struct vu_memory)

struct vhost_user {
	int sock;
	int timeout_ms;
	bool protocol;  /* VHOST_USER_F_PROTOCOL_FEATURES offered and used */
	bool reply_ack; /* VHOST_USER_PROTOCOL_F_REPLY_ACK negotiated */
	bool broken;    /* an earlier error: the stream is out of step */
	uint64_t features; /* as GET_FEATURES returned them */
};

static const char *msg_name(uint32_t request)
{
	switch (request) {
	case VHOST_USER_GET_FEATURES: return "GET_FEATURES";
	case VHOST_USER_SET_FEATURES: return "SET_FEATURES";
	case VHOST_USER_SET_OWNER: return "SET_OWNER";
	case VHOST_USER_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case VHOST_USER_SET_VRING_NUM: return "SET_VRING_NUM";
	case VHOST_USER_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case VHOST_USER_SET_VRING_BASE: return "SET_VRING_BASE";
	case VHOST_USER_GET_VRING_BASE: return "GET_VRING_BASE";
	case VHOST_USER_SET_VRING_KICK: return "SET_VRING_KICK";
	case VHOST_USER_SET_VRING_CALL: return "SET_VRING_CALL";
	case VHOST_USER_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	}
	return "?";
}

/* Record the error for message request and take the connection out of
 * use: after a failed or unchecked exchange the stream is out of step. */
__attribute__((format(printf, 5, 6)))
static int fail(struct vhost_user *vu, uint32_t request, char *err, size_t errlen,
		const char *fmt, ...)
{
	char what[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(err, errlen, "vhost-user: %s: %s", msg_name(request), what);
	if (!vu->broken) {
		vu->broken = true;
		shutdown(vu->sock, SHUT_RDWR);
	}
	return -1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on the socket until deadline: 1 ready, 0 timed out,
 * -1 with errno. */
static int wait_sock(int sock, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = sock, .events = events };
		int64_t left = deadline - now_ms();
		int r;

		if (left < 0)
			left = 0;
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r;
		/* POLLHUP/POLLERR: let the read or write report what it is. */
		return 1;
	}
}

/* Send header + payload with fds attached to the first byte; short
 * writes and EINTR are continued. 0, or -1 with err filled. */
static int send_msg(struct vhost_user *vu, uint32_t request, uint32_t flags,
		    const void *payload, uint32_t size, const int *fds, unsigned nfds,
		    int64_t deadline, char *err, size_t errlen)
{
	uint8_t buf[sizeof(struct vu_hdr) + MAX_PAYLOAD];
	struct vu_hdr hdr = { .request = request, .flags = VHOST_USER_VERSION | flags,
			      .size = size };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_REGIONS)];
	} control;
	size_t len = sizeof(hdr) + size, done = 0;

	if (size > MAX_PAYLOAD || nfds > VHOST_USER_MAX_REGIONS)
		return fail(vu, request, err, errlen, "message too large to send");
	memcpy(buf, &hdr, sizeof(hdr));
	if (size)
		memcpy(buf + sizeof(hdr), payload, size);
	while (done < len) {
		struct iovec iov = { .iov_base = buf + done, .iov_len = len - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (done == 0 && nfds) {
			struct cmsghdr *c;

			memset(&control, 0, sizeof(control));
			mh.msg_control = control.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		n = sendmsg(vu->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_sock(vu->sock, POLLOUT, deadline);

			if (r == 0)
				return fail(vu, request, err, errlen,
					    "back-end not reading (no room to send within %d ms)",
					    vu->timeout_ms);
			if (r < 0)
				return fail(vu, request, err, errlen, "poll: %s", strerror(errno));
			continue;
		}
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return fail(vu, request, err, errlen, "back-end closed the connection");
		if (n < 0)
			return fail(vu, request, err, errlen, "sendmsg: %s", strerror(errno));
		done += (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes of the reply to request before deadline. */
static int recv_exact(struct vhost_user *vu, uint32_t request, void *dst, size_t len,
		      int64_t deadline, char *err, size_t errlen)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(vu->sock, (uint8_t *)dst + done, len - done, MSG_DONTWAIT);

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return fail(vu, request, err, errlen, "back-end closed the connection");
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			int r = wait_sock(vu->sock, POLLIN, deadline);

			if (r == 0)
				return fail(vu, request, err, errlen, "no reply within %d ms",
					    vu->timeout_ms);
			if (r < 0)
				return fail(vu, request, err, errlen, "poll: %s", strerror(errno));
			continue;
		}
		if (errno == ECONNRESET)
			return fail(vu, request, err, errlen, "back-end closed the connection");
		return fail(vu, request, err, errlen, "recv: %s", strerror(errno));
	}
	return 0;
}

/* Read the reply to request: its header must say request, version 1 with
 * the reply bit, and exactly size bytes, which go to payload. */
static int recv_reply(struct vhost_user *vu, uint32_t request, void *payload,
		      uint32_t size, int64_t deadline, char *err, size_t errlen)
{
	struct vu_hdr hdr;

	if (recv_exact(vu, request, &hdr, sizeof(hdr), deadline, err, errlen) < 0)
		return -1;
	if (hdr.request != request)
		return fail(vu, request, err, errlen, "reply is for request %u, not %u",
			    hdr.request, request);
	if ((hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    !(hdr.flags & VHOST_USER_REPLY_MASK))
		return fail(vu, request, err, errlen,
			    "reply flags 0x%x (want version 1 and the reply bit)", hdr.flags);
	if (hdr.size != size)
		return fail(vu, request, err, errlen, "reply payload is %u bytes, expected %u",
			    hdr.size, size);
	return recv_exact(vu, request, payload, size, deadline, err, errlen);
}

/* One exchange: send request, then read its reply of reply_size bytes into
 * reply, or (reply NULL) the REPLY_ACK status if negotiated. */
static int call(struct vhost_user *vu, uint32_t request, const void *payload,
		uint32_t size, const int *fds, unsigned nfds, void *reply,
		uint32_t reply_size, char *err, size_t errlen)
{
	int64_t deadline = now_ms() + vu->timeout_ms;
	bool ack = !reply && vu->reply_ack;
	uint64_t status;

	if (vu->broken) {
		snprintf(err, errlen, "vhost-user: %s: connection unusable after an earlier error",
			 msg_name(request));
		return -1;
	}
	if (send_msg(vu, request, ack ? VHOST_USER_NEED_REPLY : 0, payload, size, fds, nfds,
		     deadline, err, errlen) < 0)
		return -1;
	if (reply)
		return recv_reply(vu, request, reply, reply_size, deadline, err, errlen);
	if (!ack)
		return 0;
	if (recv_reply(vu, request, &status, sizeof(status), deadline, err, errlen) < 0)
		return -1;
	if (status != 0)
		return fail(vu, request, err, errlen, "back-end refused it (status %llu)",
			    (unsigned long long)status);
	return 0;
}

static int call_u64(struct vhost_user *vu, uint32_t request, uint64_t v, char *err,
		    size_t errlen)
{
	return call(vu, request, &v, sizeof(v), NULL, 0, NULL, 0, err, errlen);
}

static int get_u64(struct vhost_user *vu, uint32_t request, uint64_t *v, char *err,
		   size_t errlen)
{
	return call(vu, request, NULL, 0, NULL, 0, v, sizeof(*v), err, errlen);
}

static int call_state(struct vhost_user *vu, uint32_t request, unsigned q, uint32_t num,
		      char *err, size_t errlen)
{
	struct vu_vring_state s = { .index = q, .num = num };

	return call(vu, request, &s, sizeof(s), NULL, 0, NULL, 0, err, errlen);
}

/* SET_VRING_KICK/CALL: the queue index, and the fd or the "no fd" bit. */
static int call_vring_fd(struct vhost_user *vu, uint32_t request, unsigned q, int fd,
			 char *err, size_t errlen)
{
	uint64_t v = q & VHOST_USER_VRING_IDX_MASK;

	if (fd < 0)
		v |= VHOST_USER_VRING_NOFD;
	return call(vu, request, &v, sizeof(v), fd < 0 ? NULL : &fd, fd < 0 ? 0 : 1, NULL, 0,
		    err, errlen);
}

struct vhost_user *vhost_user_connect(int sock, char *err, size_t errlen)
{
	struct vhost_user *vu = calloc(1, sizeof(*vu));

	if (!vu) {
		snprintf(err, errlen, "vhost-user: out of memory");
		close(sock);
		return NULL;
	}
	vu->sock = sock;
	vu->timeout_ms = VHOST_USER_TIMEOUT_MS;
	if (get_u64(vu, VHOST_USER_GET_FEATURES, &vu->features, err, errlen) < 0)
		goto fail;
	if (vu->features & (1ULL << VHOST_USER_F_PROTOCOL_FEATURES)) {
		uint64_t pf;

		if (get_u64(vu, VHOST_USER_GET_PROTOCOL_FEATURES, &pf, err, errlen) < 0)
			goto fail;
		pf &= PROTOCOL_FEATURES;
		/* Sent before reply_ack is set: the ack is not ours to ask yet. */
		if (call_u64(vu, VHOST_USER_SET_PROTOCOL_FEATURES, pf, err, errlen) < 0)
			goto fail;
		vu->protocol = true;
		vu->reply_ack = pf & (1ULL << VHOST_USER_PROTOCOL_F_REPLY_ACK);
	}
	if (call(vu, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL, 0, err, errlen) < 0)
		goto fail;
	return vu;
fail:
	vhost_user_close(vu);
	return NULL;
}

void vhost_user_set_timeout(struct vhost_user *vu, int ms)
{
	if (ms > 0)
		vu->timeout_ms = ms;
}

uint64_t vhost_user_features(const struct vhost_user *vu)
{
	return vu->features & ~VHOST_LAYER_FEATURES;
}

int vhost_user_set_features(struct vhost_user *vu, uint64_t acked, char *err,
			    size_t errlen)
{
	uint64_t extra = acked & ~vhost_user_features(vu);

	if (extra) {
		snprintf(err, errlen,
			 "vhost-user: SET_FEATURES: features 0x%llx were not offered by the back-end",
			 (unsigned long long)extra);
		return -1;
	}
	if (vu->protocol)
		acked |= 1ULL << VHOST_USER_F_PROTOCOL_FEATURES;
	return call_u64(vu, VHOST_USER_SET_FEATURES, acked, err, errlen);
}

int vhost_user_set_mem_table(struct vhost_user *vu, const struct vhost_user_region *r,
			     unsigned n, char *err, size_t errlen)
{
	struct vu_memory m = { .nregions = n };
	int fds[VHOST_USER_MAX_REGIONS];

	if (n == 0 || n > VHOST_USER_MAX_REGIONS) {
		snprintf(err, errlen, "vhost-user: SET_MEM_TABLE: %u regions (1 to %d)", n,
			 VHOST_USER_MAX_REGIONS);
		return -1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (r[i].fd < 0 || r[i].size == 0 || r[i].gpa + r[i].size < r[i].gpa ||
		    r[i].hva + r[i].size < r[i].hva) {
			snprintf(err, errlen,
				 "vhost-user: SET_MEM_TABLE: region %u (gpa 0x%llx, size 0x%llx, fd %d) is invalid",
				 i, (unsigned long long)r[i].gpa, (unsigned long long)r[i].size,
				 r[i].fd);
			return -1;
		}
		m.regions[i] = (struct vu_mem_region){
			.guest_phys_addr = r[i].gpa,
			.memory_size = r[i].size,
			.userspace_addr = r[i].hva,
			.mmap_offset = r[i].fd_offset,
		};
		fds[i] = r[i].fd;
	}
	return call(vu, VHOST_USER_SET_MEM_TABLE, &m,
		    offsetof(struct vu_memory, regions) + n * sizeof(struct vu_mem_region),
		    fds, n, NULL, 0, err, errlen);
}

int vhost_user_start_queue(struct vhost_user *vu, unsigned q, unsigned size,
			   uint64_t desc_hva, uint64_t avail_hva, uint64_t used_hva,
			   uint16_t last_avail, int kick_fd, int call_fd,
			   char *err, size_t errlen)
{
	struct vu_vring_addr addr = {
		.index = q, .descriptor = desc_hva, .used = used_hva, .available = avail_hva,
	};

	if (q > VHOST_USER_VRING_IDX_MASK) {
		snprintf(err, errlen, "vhost-user: queue %u: the protocol has 256 queues at most", q);
		return -1;
	}
	if (size == 0 || size > 32768 || (size & (size - 1))) {
		snprintf(err, errlen, "vhost-user: queue %u: size %u is not a power of two up to 32768",
			 q, size);
		return -1;
	}
	if (call_state(vu, VHOST_USER_SET_VRING_NUM, q, size, err, errlen) < 0 ||
	    call_state(vu, VHOST_USER_SET_VRING_BASE, q, last_avail, err, errlen) < 0 ||
	    call(vu, VHOST_USER_SET_VRING_ADDR, &addr, sizeof(addr), NULL, 0, NULL, 0, err,
		 errlen) < 0 ||
	    call_vring_fd(vu, VHOST_USER_SET_VRING_KICK, q, kick_fd, err, errlen) < 0 ||
	    call_vring_fd(vu, VHOST_USER_SET_VRING_CALL, q, call_fd, err, errlen) < 0)
		return -1;
	if (vu->protocol && call_state(vu, VHOST_USER_SET_VRING_ENABLE, q, 1, err, errlen) < 0)
		return -1;
	return 0;
}

int vhost_user_stop_queue(struct vhost_user *vu, unsigned q, uint16_t *last_avail,
			  char *err, size_t errlen)
{
	struct vu_vring_state s = { .index = q }, reply;

	if (q > VHOST_USER_VRING_IDX_MASK) {
		snprintf(err, errlen, "vhost-user: queue %u: the protocol has 256 queues at most", q);
		return -1;
	}
	if (call(vu, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &reply, sizeof(reply),
		 err, errlen) < 0)
		return -1;
	if (reply.index != q)
		return fail(vu, VHOST_USER_GET_VRING_BASE, err, errlen,
			    "reply is for queue %u, not %u", reply.index, q);
	if (reply.num > UINT16_MAX)
		return fail(vu, VHOST_USER_GET_VRING_BASE, err, errlen,
			    "queue %u: index %u does not fit 16 bits", q, reply.num);
	*last_avail = (uint16_t)reply.num;
	return 0;
}

int vhost_user_fd(const struct vhost_user *vu)
{
	return vu->sock;
}

void vhost_user_close(struct vhost_user *vu)
{
	if (!vu)
		return;
	close(vu->sock);
	free(vu);
}
