/*
 * test-vhost-user.c - the vhost-user front-end (vmm/virtio/vhost-user.c)
 * against a fake back-end and against Debian's virtiofsd.
 *
 * usage: test-vhost-user fake
 *        test-vhost-user virtiofsd [PATH]   (default /usr/lib/qemu/virtiofsd)
 *
 * fake: a back-end thread on a socketpair checks the bytes the front-end
 * sends (header flags, payload layouts, fds) and misbehaves on purpose: a
 * reply for the wrong request, bad flags, a huge size, an early close, a
 * reply that never comes, a refused REPLY_ACK, a reply for the wrong queue,
 * replies dribbled a byte at a time. Each must give -1 (or NULL) and an
 * error naming the message.
 *
 * virtiofsd: the test is the guest's FUSE driver. Guest RAM is a 16 MiB
 * memfd (gpa 0 = offset 0); the split rings of queue 0 (hiprio) and 1
 * (requests) live in it. FUSE_INIT, LOOKUP, OPEN, READ and RELEASE of a
 * file with known bytes go through virtiofsd; then both queues are stopped
 * (GET_VRING_BASE gives the number of requests made) and virtiofsd must
 * exit by itself when the connection closes. Run with -o sandbox=namespace
 * (falls back, with virtiofsd's log shown, if namespaces are unavailable)
 * and -o sandbox=chroot on a scratch directory, then chroot with
 * source=/ (what vmm needs when / is an initramfs, where pivot_root fails).
 * virtiofsd's --fd must be a listening socket (it accept()s on it), so the
 * test listens on an abstract address, connects, and hands over the
 * listening end. Needs root; SKIP (77) otherwise or without virtiofsd.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/fuse.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "vhost-user.h"
#include "test_check.h"

static int failures;
static int test_no;

/* Run one named test; "ok"/"not ok" by whether it added failures. */
static void run_test(const char *name, void (*fn)(void))
{
	int before = failures;

	fn();
	printf("%sok %d - %s\n", failures == before ? "" : "not ", ++test_no, name);
	fflush(stdout);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t rd32(const uint8_t *p, size_t off)
{
	uint32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p, size_t off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

/* ---- the fake back-end ---------------------------------------------- */

/* Message codes and flags as the spec numbers them, written out here so
 * the test does not share the library's definitions. */
enum {
	GET_FEATURES = 1, SET_FEATURES = 2, SET_OWNER = 3, SET_MEM_TABLE = 5,
	SET_VRING_NUM = 8, SET_VRING_ADDR = 9, SET_VRING_BASE = 10,
	GET_VRING_BASE = 11, SET_VRING_KICK = 12, SET_VRING_CALL = 13,
	GET_PROTOCOL_FEATURES = 15, SET_PROTOCOL_FEATURES = 16,
	SET_VRING_ENABLE = 18,
};
#define F_VERSION    0x1u
#define F_REPLY      0x4u
#define F_NEED_REPLY 0x8u
#define PROTOCOL_F   (1ULL << 30)
#define LOG_ALL      (1ULL << 26)
#define PF_MQ        (1ULL << 0)
#define PF_REPLY_ACK (1ULL << 3)
#define PF_CONFIG    (1ULL << 9)

enum fake_mode {
	FAKE_GOOD,          /* protocol features with REPLY_ACK, all correct */
	FAKE_NO_PROTOCOL,   /* no VHOST_USER_F_PROTOCOL_FEATURES */
	FAKE_WRONG_REQUEST, /* GET_FEATURES answered as SET_FEATURES */
	FAKE_BAD_FLAGS,     /* GET_FEATURES reply without the reply bit */
	FAKE_BAD_VERSION,   /* GET_FEATURES reply with version 2 */
	FAKE_HUGE,          /* GET_FEATURES reply claims 1 MiB */
	FAKE_CLOSE,         /* reads GET_FEATURES, closes */
	FAKE_SILENT,        /* connects (no protocol), then never replies */
	FAKE_NACK,          /* refuses SET_MEM_TABLE (REPLY_ACK status 1) */
	FAKE_BAD_INDEX,     /* GET_VRING_BASE reply for another queue */
	FAKE_DRIBBLE,       /* like GOOD, every reply one byte at a time */
};

struct fake_msg {
	uint32_t request, flags, size;
	uint8_t payload[512];
	unsigned nfds;
	ino_t fd_ino[8];      /* what the fds were */
	bool kick_ok;         /* SET_VRING_KICK/CALL: wrote 1 to the received fd */
};

struct fake {
	int fd;
	enum fake_mode mode;
	pthread_t thread;
	struct fake_msg log[64];
	unsigned nlog;
	bool overflow;
};

/* Read one message with its fds; -1 at EOF or on error. */
static int fake_recv(int fd, struct fake_msg *m)
{
	uint32_t hdr[3];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * 8)];
	} control;
	struct iovec iov = { .iov_base = hdr, .iov_len = sizeof(hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = control.buf, .msg_controllen = sizeof(control.buf) };
	int fds[8];
	size_t got = 0;
	ssize_t n;

	memset(m, 0, sizeof(*m));
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0)
		return -1;
	/* The fds come with the header's first byte. */
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (unsigned i = 0; i < k && m->nfds < 8; i++)
			memcpy(&fds[m->nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	while ((size_t)n < sizeof(hdr)) {
		ssize_t r = recv(fd, (uint8_t *)hdr + n, sizeof(hdr) - n, 0);

		if (r <= 0)
			break;
		n += r;
	}
	m->request = hdr[0];
	m->flags = hdr[1];
	m->size = hdr[2];
	for (unsigned i = 0; i < m->nfds; i++) {
		struct stat st;

		if (fstat(fds[i], &st) == 0)
			m->fd_ino[i] = st.st_ino;
		/* Signal a kick/call eventfd: the test reads its own end. */
		if (m->request == SET_VRING_KICK || m->request == SET_VRING_CALL)
			m->kick_ok = eventfd_write(fds[i], 1) == 0;
		close(fds[i]);
	}
	if ((size_t)n < sizeof(hdr) || m->size > sizeof(m->payload))
		return -1;
	while (got < m->size) {
		ssize_t r = recv(fd, m->payload + got, m->size - got, 0);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static void fake_send(struct fake *f, uint32_t request, uint32_t flags, uint32_t size,
		      const void *payload, size_t len)
{
	uint8_t buf[12 + 64];
	uint32_t hdr[3] = { request, flags, size };
	size_t total = sizeof(hdr) + len;

	memcpy(buf, hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), payload, len);
	if (f->mode == FAKE_DRIBBLE) {
		for (size_t i = 0; i < total; i++) {
			if (send(f->fd, buf + i, 1, MSG_NOSIGNAL) != 1)
				return;
			usleep(500);
		}
		return;
	}
	if (send(f->fd, buf, total, MSG_NOSIGNAL) != (ssize_t)total)
		return;
}

static void fake_reply_u64(struct fake *f, uint32_t request, uint64_t v)
{
	fake_send(f, request, F_VERSION | F_REPLY, sizeof(v), &v, sizeof(v));
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	bool protocol = f->mode != FAKE_NO_PROTOCOL && f->mode != FAKE_SILENT;
	struct fake_msg m;

	while (fake_recv(f->fd, &m) == 0) {
		if (f->nlog < 64)
			f->log[f->nlog++] = m;
		else
			f->overflow = true;
		if (m.request == GET_FEATURES) {
			uint64_t feat = (1ULL << VIRTIO_F_VERSION_1) | LOG_ALL |
					(1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
					(protocol ? PROTOCOL_F : 0);

			switch (f->mode) {
			case FAKE_WRONG_REQUEST:
				fake_send(f, SET_FEATURES, F_VERSION | F_REPLY, 8, &feat, 8);
				continue;
			case FAKE_BAD_FLAGS:
				fake_send(f, GET_FEATURES, F_VERSION, 8, &feat, 8);
				continue;
			case FAKE_BAD_VERSION:
				fake_send(f, GET_FEATURES, 0x2 | F_REPLY, 8, &feat, 8);
				continue;
			case FAKE_HUGE:
				fake_send(f, GET_FEATURES, F_VERSION | F_REPLY, 1u << 20, &feat, 8);
				continue;
			case FAKE_CLOSE:
				goto out;
			default:
				fake_reply_u64(f, GET_FEATURES, feat);
				continue;
			}
		}
		if (f->mode == FAKE_SILENT)
			continue;
		if (m.request == GET_PROTOCOL_FEATURES) {
			fake_reply_u64(f, m.request, PF_MQ | PF_REPLY_ACK | PF_CONFIG);
			continue;
		}
		if (m.request == GET_VRING_BASE) {
			uint32_t st[2];

			memcpy(st, m.payload, sizeof(st));
			st[0] += f->mode == FAKE_BAD_INDEX;
			st[1] = 42;
			fake_send(f, m.request, F_VERSION | F_REPLY, sizeof(st), st, sizeof(st));
			continue;
		}
		if (m.flags & F_NEED_REPLY)
			fake_reply_u64(f, m.request,
				       f->mode == FAKE_NACK && m.request == SET_MEM_TABLE);
	}
out:
	close(f->fd);
	return NULL;
}

/* Start a fake back-end; returns the front-end's end of the socketpair. */
static int fake_start(struct fake *f, enum fake_mode mode)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
	f->fd = sv[1];
	f->mode = mode;
	if (pthread_create(&f->thread, NULL, fake_main, f) != 0) {
		fprintf(stderr, "pthread_create failed\n");
		exit(1);
	}
	return sv[0];
}

static void fake_join(struct fake *f)
{
	pthread_join(f->thread, NULL);
}

/* Connect must fail with an error that names GET_FEATURES and says what. */
static void expect_connect_error(enum fake_mode mode, const char *what)
{
	struct fake f;
	char err[256] = "";
	struct vhost_user *vu = vhost_user_connect(fake_start(&f, mode), err, sizeof(err));

	CHECK(vu == NULL, "mode %d: connect succeeded", mode);
	vhost_user_close(vu);
	fake_join(&f);
	CHECK(strstr(err, "vhost-user: GET_FEATURES: ") == err, "error '%s' does not name GET_FEATURES",
	      err);
	CHECK(strstr(err, what) != NULL, "error '%s' does not say '%s'", err, what);
	printf("# %s\n", err);
}

static void test_wrong_request(void)
{
	expect_connect_error(FAKE_WRONG_REQUEST, "reply is for request 2, not 1");
}

static void test_bad_flags(void)
{
	expect_connect_error(FAKE_BAD_FLAGS, "reply flags 0x1");
	expect_connect_error(FAKE_BAD_VERSION, "reply flags 0x6");
}

static void test_huge_size(void)
{
	expect_connect_error(FAKE_HUGE, "reply payload is 1048576 bytes, expected 8");
}

static void test_early_close(void)
{
	expect_connect_error(FAKE_CLOSE, "back-end closed the connection");
}

static void test_timeout(void)
{
	struct fake f;
	char err[256] = "";
	struct vhost_user *vu = vhost_user_connect(fake_start(&f, FAKE_SILENT), err, sizeof(err));
	uint16_t idx = 7;
	int64_t t0, ms;

	CHECK(vu != NULL, "connect: %s", err);
	if (!vu) {
		fake_join(&f);
		return;
	}
	vhost_user_set_timeout(vu, 300);
	t0 = now_ms();
	CHECK(vhost_user_stop_queue(vu, 1, &idx, err, sizeof(err)) == -1, "no error");
	ms = now_ms() - t0;
	CHECK(strcmp(err, "vhost-user: GET_VRING_BASE: no reply within 300 ms") == 0, "error '%s'",
	      err);
	CHECK(ms >= 280 && ms < 3000, "the timeout took %lld ms", (long long)ms);
	CHECK(idx == 7, "last_avail changed on error");
	printf("# %s (after %lld ms)\n", err, (long long)ms);
	/* The stream is out of step now: later calls fail at once. */
	CHECK(vhost_user_set_features(vu, 1ULL << VIRTIO_F_VERSION_1, err, sizeof(err)) == -1,
	      "a call after a timeout succeeded");
	CHECK(strcmp(err, "vhost-user: SET_FEATURES: connection unusable after an earlier error") == 0,
	      "error '%s'", err);
	vhost_user_close(vu);
	fake_join(&f);
}

static void test_nack(void)
{
	struct fake f;
	char err[256] = "";
	struct vhost_user *vu = vhost_user_connect(fake_start(&f, FAKE_NACK), err, sizeof(err));
	int memfd = memfd_create("vu-test", MFD_CLOEXEC);
	struct vhost_user_region r = { .gpa = 0, .size = 4096, .hva = 0x10000, .fd = memfd };

	CHECK(vu != NULL, "connect: %s", err);
	if (vu) {
		CHECK(vhost_user_set_mem_table(vu, &r, 1, err, sizeof(err)) == -1, "no error");
		CHECK(strcmp(err, "vhost-user: SET_MEM_TABLE: back-end refused it (status 1)") == 0,
		      "error '%s'", err);
		printf("# %s\n", err);
	}
	vhost_user_close(vu);
	fake_join(&f);
	close(memfd);
}

static void test_bad_index(void)
{
	struct fake f;
	char err[256] = "";
	struct vhost_user *vu = vhost_user_connect(fake_start(&f, FAKE_BAD_INDEX), err, sizeof(err));
	uint16_t idx = 7;

	CHECK(vu != NULL, "connect: %s", err);
	if (vu) {
		CHECK(vhost_user_stop_queue(vu, 1, &idx, err, sizeof(err)) == -1, "no error");
		CHECK(strcmp(err, "vhost-user: GET_VRING_BASE: reply is for queue 2, not 1") == 0,
		      "error '%s'", err);
		CHECK(idx == 7, "last_avail changed on error");
		printf("# %s\n", err);
	}
	vhost_user_close(vu);
	fake_join(&f);
}

static void test_bad_arguments(void)
{
	struct fake f;
	char err[256] = "";
	struct vhost_user *vu = vhost_user_connect(fake_start(&f, FAKE_GOOD), err, sizeof(err));
	struct vhost_user_region r[9];
	uint16_t idx;

	CHECK(vu != NULL, "connect: %s", err);
	if (!vu) {
		fake_join(&f);
		return;
	}
	for (unsigned i = 0; i < 9; i++)
		r[i] = (struct vhost_user_region){ .gpa = i << 20, .size = 1 << 20,
						   .hva = 0x10000000 + (i << 20), .fd = 0 };
	CHECK(vhost_user_set_mem_table(vu, r, 9, err, sizeof(err)) == -1, "9 regions accepted");
	CHECK(strstr(err, "vhost-user: SET_MEM_TABLE: 9 regions") == err, "error '%s'", err);
	CHECK(vhost_user_set_mem_table(vu, r, 0, err, sizeof(err)) == -1, "0 regions accepted");
	r[0].fd = -1;
	CHECK(vhost_user_set_mem_table(vu, r, 1, err, sizeof(err)) == -1, "fd -1 accepted");
	r[0].fd = 0;
	r[0].gpa = UINT64_MAX - 10;
	CHECK(vhost_user_set_mem_table(vu, r, 1, err, sizeof(err)) == -1, "wrapping region accepted");
	CHECK(vhost_user_start_queue(vu, 256, 8, 0, 0, 0, 0, -1, -1, err, sizeof(err)) == -1,
	      "queue 256 accepted");
	CHECK(vhost_user_start_queue(vu, 1, 6, 0, 0, 0, 0, -1, -1, err, sizeof(err)) == -1,
	      "size 6 accepted");
	CHECK(vhost_user_stop_queue(vu, 300, &idx, err, sizeof(err)) == -1, "queue 300 accepted");
	CHECK(vhost_user_set_features(vu, 1ULL << 40, err, sizeof(err)) == -1,
	      "a feature that was not offered accepted");
	CHECK(vhost_user_set_features(vu, PROTOCOL_F, err, sizeof(err)) == -1,
	      "the protocol features bit accepted from the caller");
	/* None of that went on the wire, so the connection still works. */
	CHECK(vhost_user_stop_queue(vu, 1, &idx, err, sizeof(err)) == 0, "after argument errors: %s",
	      err);
	vhost_user_close(vu);
	fake_join(&f);
	CHECK(f.nlog == 5 && f.log[4].request == GET_VRING_BASE,
	      "argument errors sent messages (%u)", f.nlog);
}

/* A whole session against a well-behaved fake; then the bytes on the wire
 * are compared with the spec's layouts. */
static void good_session(enum fake_mode mode)
{
	struct fake f;
	char err[256] = "";
	int memfd = memfd_create("vu-test", MFD_CLOEXEC);
	int kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), callfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	bool protocol = mode != FAKE_NO_PROTOCOL;
	struct vhost_user *vu = vhost_user_connect(fake_start(&f, mode), err, sizeof(err));
	struct vhost_user_region r[2] = {
		{ .gpa = 0, .size = 0xa0000, .hva = 0x7f0000000000, .fd_offset = 0, .fd = memfd },
		{ .gpa = 0x100000, .size = 0x300000, .hva = 0x7f0000100000, .fd_offset = 0xa0000,
		  .fd = memfd },
	};
	uint32_t need = protocol ? F_NEED_REPLY : 0;
	uint16_t idx = 0;
	struct stat st;
	eventfd_t v;
	unsigned i = 0;

	fstat(memfd, &st);
	CHECK(vu != NULL, "connect: %s", err);
	if (!vu)
		goto out;
	CHECK(vhost_user_features(vu) == ((1ULL << VIRTIO_F_VERSION_1) |
					  (1ULL << VIRTIO_RING_F_INDIRECT_DESC)),
	      "features 0x%llx", (unsigned long long)vhost_user_features(vu));
	CHECK(vhost_user_fd(vu) >= 0, "no fd");
	CHECK(vhost_user_set_features(vu, 1ULL << VIRTIO_F_VERSION_1, err, sizeof(err)) == 0, "%s",
	      err);
	CHECK(vhost_user_set_mem_table(vu, r, 2, err, sizeof(err)) == 0, "%s", err);
	CHECK(vhost_user_start_queue(vu, 1, 8, 0x7f0000001000, 0x7f0000001100, 0x7f0000001200, 5,
				     kick, callfd, err, sizeof(err)) == 0, "%s", err);
	CHECK(vhost_user_start_queue(vu, 0, 16, 0x7f0000002000, 0x7f0000002100, 0x7f0000002200, 0,
				     -1, -1, err, sizeof(err)) == 0, "%s", err);
	CHECK(vhost_user_stop_queue(vu, 1, &idx, err, sizeof(err)) == 0, "%s", err);
	CHECK(idx == 42, "GET_VRING_BASE gave %u", idx);
	vhost_user_close(vu);
out:
	fake_join(&f);
	CHECK(!f.overflow, "too many messages");

	/* What went over the wire, message by message. */
#define NEXT(req, fl, sz)                                                                \
	do {                                                                             \
		CHECK(i < f.nlog, "message %u missing (want %d)", i, req);                \
		if (i >= f.nlog)                                                         \
			goto done;                                                       \
		CHECK(f.log[i].request == (req) && f.log[i].flags == (fl) &&             \
		      f.log[i].size == (sz),                                             \
		      "message %u: request %u flags 0x%x size %u, want %d 0x%x %u", i,    \
		      f.log[i].request, f.log[i].flags, f.log[i].size, req,              \
		      (unsigned)(fl), (unsigned)(sz));                                   \
	} while (0)
	NEXT(GET_FEATURES, F_VERSION, 0);
	i++;
	if (protocol) {
		NEXT(GET_PROTOCOL_FEATURES, F_VERSION, 0);
		i++;
		NEXT(SET_PROTOCOL_FEATURES, F_VERSION, 8); /* REPLY_ACK only, not MQ or CONFIG */
		CHECK(rd64(f.log[i].payload, 0) == PF_REPLY_ACK, "protocol features 0x%llx",
		      (unsigned long long)rd64(f.log[i].payload, 0));
		i++;
	}
	NEXT(SET_OWNER, F_VERSION | need, 0);
	i++;
	NEXT(SET_FEATURES, F_VERSION | need, 8);
	CHECK(rd64(f.log[i].payload, 0) == ((1ULL << VIRTIO_F_VERSION_1) | (protocol ? PROTOCOL_F : 0)),
	      "SET_FEATURES 0x%llx", (unsigned long long)rd64(f.log[i].payload, 0));
	i++;
	NEXT(SET_MEM_TABLE, F_VERSION | need, 8 + 2 * 32);
	{
		const uint8_t *p = f.log[i].payload;

		CHECK(rd32(p, 0) == 2 && rd32(p, 4) == 0, "nregions %u padding %u", rd32(p, 0),
		      rd32(p, 4));
		for (unsigned k = 0; k < 2; k++) {
			size_t o = 8 + 32 * k;

			CHECK(rd64(p, o) == r[k].gpa && rd64(p, o + 8) == r[k].size &&
			      rd64(p, o + 16) == r[k].hva && rd64(p, o + 24) == r[k].fd_offset,
			      "region %u layout", k);
		}
		CHECK(f.log[i].nfds == 2 && f.log[i].fd_ino[0] == st.st_ino &&
		      f.log[i].fd_ino[1] == st.st_ino, "SET_MEM_TABLE fds (%u)", f.log[i].nfds);
	}
	i++;
	NEXT(SET_VRING_NUM, F_VERSION | need, 8);
	CHECK(rd32(f.log[i].payload, 0) == 1 && rd32(f.log[i].payload, 4) == 8, "SET_VRING_NUM");
	i++;
	NEXT(SET_VRING_BASE, F_VERSION | need, 8);
	CHECK(rd32(f.log[i].payload, 0) == 1 && rd32(f.log[i].payload, 4) == 5, "SET_VRING_BASE");
	i++;
	NEXT(SET_VRING_ADDR, F_VERSION | need, 40);
	{
		const uint8_t *p = f.log[i].payload;

		/* index, flags, descriptor, used, available, log */
		CHECK(rd32(p, 0) == 1 && rd32(p, 4) == 0 && rd64(p, 8) == 0x7f0000001000 &&
		      rd64(p, 16) == 0x7f0000001200 && rd64(p, 24) == 0x7f0000001100 &&
		      rd64(p, 32) == 0, "SET_VRING_ADDR layout");
	}
	i++;
	NEXT(SET_VRING_KICK, F_VERSION | need, 8);
	CHECK(rd64(f.log[i].payload, 0) == 1 && f.log[i].nfds == 1 && f.log[i].kick_ok,
	      "SET_VRING_KICK 0x%llx, %u fds", (unsigned long long)rd64(f.log[i].payload, 0),
	      f.log[i].nfds);
	CHECK(eventfd_read(kick, &v) == 0 && v == 1, "the kick fd sent is not ours");
	i++;
	NEXT(SET_VRING_CALL, F_VERSION | need, 8);
	CHECK(rd64(f.log[i].payload, 0) == 1 && f.log[i].nfds == 1 && f.log[i].kick_ok,
	      "SET_VRING_CALL");
	CHECK(eventfd_read(callfd, &v) == 0 && v == 1, "the call fd sent is not ours");
	i++;
	if (protocol) {
		NEXT(SET_VRING_ENABLE, F_VERSION | need, 8);
		CHECK(rd32(f.log[i].payload, 0) == 1 && rd32(f.log[i].payload, 4) == 1,
		      "SET_VRING_ENABLE");
		i++;
	}
	/* Queue 0 without fds: bit 8 ("no fd") set, nothing attached. */
	NEXT(SET_VRING_NUM, F_VERSION | need, 8);
	i++;
	NEXT(SET_VRING_BASE, F_VERSION | need, 8);
	i++;
	NEXT(SET_VRING_ADDR, F_VERSION | need, 40);
	i++;
	NEXT(SET_VRING_KICK, F_VERSION | need, 8);
	CHECK(rd64(f.log[i].payload, 0) == 0x100 && f.log[i].nfds == 0, "SET_VRING_KICK no fd");
	i++;
	NEXT(SET_VRING_CALL, F_VERSION | need, 8);
	CHECK(rd64(f.log[i].payload, 0) == 0x100 && f.log[i].nfds == 0, "SET_VRING_CALL no fd");
	i++;
	if (protocol) {
		NEXT(SET_VRING_ENABLE, F_VERSION | need, 8);
		i++;
	}
	NEXT(GET_VRING_BASE, F_VERSION, 8); /* has its own reply: no need_reply */
	CHECK(rd32(f.log[i].payload, 0) == 1, "GET_VRING_BASE index");
	i++;
	CHECK(i == f.nlog, "%u messages, expected %u", f.nlog, i);
#undef NEXT
done:
	close(memfd);
	close(kick);
	close(callfd);
}

static void test_good(void)
{
	good_session(FAKE_GOOD);
}

static void test_no_protocol(void)
{
	good_session(FAKE_NO_PROTOCOL);
}

static void test_dribble(void)
{
	good_session(FAKE_DRIBBLE);
}

static int run_fake(void)
{
	signal(SIGPIPE, SIG_IGN); /* the fake's sends after a close */
	run_test("fake: session, wire layout (protocol features, REPLY_ACK)", test_good);
	run_test("fake: session, wire layout (no protocol features)", test_no_protocol);
	run_test("fake: replies a byte at a time", test_dribble);
	run_test("fake: reply for the wrong request", test_wrong_request);
	run_test("fake: reply with bad flags", test_bad_flags);
	run_test("fake: reply with a huge size", test_huge_size);
	run_test("fake: back-end closes early", test_early_close);
	run_test("fake: back-end never answers (timeout)", test_timeout);
	run_test("fake: REPLY_ACK refusal", test_nack);
	run_test("fake: GET_VRING_BASE for another queue", test_bad_index);
	run_test("fake: bad arguments stay off the wire", test_bad_arguments);
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}

/* ---- virtiofsd -------------------------------------------------------- */

#define RAM_SIZE  (16u << 20)
#define QSIZE     8
#define REQ_GPA   0x10000
#define REPLY_GPA 0x20000
#define BUF_SIZE  0x10000
#define WAIT_MS   5000

static const char hello_bytes[] = "Hello from the host, through virtiofsd and vhost-user.\n";

static volatile pid_t backend_pid = -1; /* killed on every way out */

static void kill_backend(void)
{
	if (backend_pid > 0) {
		kill(backend_pid, SIGKILL);
		waitpid(backend_pid, NULL, 0);
		backend_pid = -1;
	}
}


struct ring {
	uint64_t desc, avail, used; /* gpa */
	uint16_t avail_idx;
};

struct session {
	const char *label;
	uint8_t *ram;
	int memfd;
	struct ring q[2];
	int kick[2], call[2];
	struct vhost_user *vu;
	uint64_t unique;
	unsigned requests; /* made on queue 1 */
};

/* Show virtiofsd's output as test comments. */
static void dump_log(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		printf("#   virtiofsd: %s", line);
	fclose(f);
}

/* The first line of virtiofsd's output containing what, or NULL. */
static const char *log_line(const char *path, const char *what)
{
	static char line[512];
	FILE *f = fopen(path, "r");
	bool found = false;

	if (!f)
		return NULL;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	line[strcspn(line, "\n")] = 0;
	return found ? line : NULL;
}

/* Start virtiofsd on source with sandbox; returns our connected socket.
 * virtiofsd accept()s on --fd, so it gets a listening socket to which we
 * are already connected (the connection waits in the backlog). */
static int spawn_virtiofsd(const char *prog, const char *source, const char *sandbox,
			   const char *logpath)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t salen = sizeof(sa_family_t);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t parent = getpid(), pid;

	/* bind with no name: the kernel picks a unique abstract address. */
	if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&sa, salen) < 0 ||
	    listen(lfd, 1) < 0 || (salen = sizeof(sa), getsockname(lfd, (struct sockaddr *)&sa, &salen)) < 0 ||
	    connect(cfd, (struct sockaddr *)&sa, salen) < 0) {
		perror("vhost-user socket");
		exit(1);
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(1);
	}
	if (pid == 0) {
		char fdarg[32], srcarg[4096], sbarg[64];
		int fd, log;

		/* Never outlive the test, even if it is SIGKILLed. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		fd = dup(lfd); /* without FD_CLOEXEC */
		log = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || log < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
			_exit(127);
		snprintf(fdarg, sizeof(fdarg), "--fd=%d", fd);
		snprintf(srcarg, sizeof(srcarg), "source=%s", source);
		snprintf(sbarg, sizeof(sbarg), "sandbox=%s", sandbox);
		execl(prog, prog, fdarg, "-o", srcarg, "-o", "cache=none", "-o", sbarg,
		      (char *)NULL);
		_exit(127);
	}
	backend_pid = pid;
	close(lfd);
	return cfd;
}

/* Wait up to ms for the back-end to exit; its wait status, or -1. */
static int wait_backend(int ms)
{
	int64_t end = now_ms() + ms;
	int status;

	while (backend_pid > 0) {
		pid_t r = waitpid(backend_pid, &status, WNOHANG);

		if (r == backend_pid) {
			backend_pid = -1;
			return status;
		}
		if (now_ms() > end)
			return -1;
		usleep(5000);
	}
	return -1;
}

static void *gpa_ptr(struct session *s, uint64_t gpa)
{
	return s->ram + gpa;
}

static int start_queues(struct session *s, char *err, size_t errlen)
{
	for (unsigned q = 0; q < 2; q++) {
		struct ring *r = &s->q[q];

		r->desc = 0x1000 + 0x1000 * q; /* 16 * QSIZE bytes */
		r->avail = r->desc + 0x400;     /* 4 + 2 * QSIZE + 2 */
		r->used = r->desc + 0x800;      /* 4 + 8 * QSIZE + 2 */
		r->avail_idx = 0;
		if (vhost_user_start_queue(s->vu, q, QSIZE,
					   (uint64_t)(uintptr_t)gpa_ptr(s, r->desc),
					   (uint64_t)(uintptr_t)gpa_ptr(s, r->avail),
					   (uint64_t)(uintptr_t)gpa_ptr(s, r->used), 0, s->kick[q],
					   s->call[q], err, errlen) < 0)
			return -1;
	}
	return 0;
}

/* One FUSE request on queue 1 as a guest driver makes it: the request in a
 * device-readable descriptor, the reply buffer in a device-writable one.
 * Returns the reply's payload length, or -errno from the reply header;
 * *fatal (test failures recorded) when the device misbehaved. */
static long fuse_call(struct session *s, uint32_t opcode, uint64_t nodeid, const void *body,
		      size_t blen, void *out, size_t outcap, bool *fatal)
{
	struct ring *r = &s->q[1];
	struct vring_desc *desc = gpa_ptr(s, r->desc);
	struct vring_avail *avail = gpa_ptr(s, r->avail);
	struct vring_used *used = gpa_ptr(s, r->used);
	struct fuse_in_header in = {
		.len = sizeof(in) + blen, .opcode = opcode, .unique = ++s->unique, .nodeid = nodeid,
	};
	struct fuse_out_header oh;
	struct pollfd p = { .fd = s->call[1], .events = POLLIN };
	uint16_t used_idx;
	uint32_t id, len;
	eventfd_t v;
	int64_t end;

	*fatal = true;
	memcpy(gpa_ptr(s, REQ_GPA), &in, sizeof(in));
	memcpy((uint8_t *)gpa_ptr(s, REQ_GPA) + sizeof(in), body, blen);
	memset(gpa_ptr(s, REPLY_GPA), 0xee, BUF_SIZE);
	desc[0] = (struct vring_desc){ .addr = REQ_GPA, .len = in.len, .flags = VRING_DESC_F_NEXT,
				       .next = 1 };
	desc[1] = (struct vring_desc){ .addr = REPLY_GPA, .len = BUF_SIZE,
				       .flags = VRING_DESC_F_WRITE };
	avail->ring[r->avail_idx % QSIZE] = 0;
	r->avail_idx++;
	__atomic_store_n(&avail->idx, r->avail_idx, __ATOMIC_RELEASE);
	s->requests++;
	CHECK(eventfd_write(s->kick[1], 1) == 0, "kick: %s", strerror(errno));

	/* The used-buffer notification, then the used ring. */
	end = now_ms() + WAIT_MS;
	for (;;) {
		int64_t left = end - now_ms();
		int n = poll(&p, 1, left > 0 ? (int)left : 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			CHECK(0, "%s: opcode %u: no used-buffer notification within %d ms", s->label,
			      opcode, WAIT_MS);
			return -1;
		}
		eventfd_read(s->call[1], &v);
		used_idx = __atomic_load_n(&used->idx, __ATOMIC_ACQUIRE);
		if (used_idx == r->avail_idx)
			break;
	}
	id = used->ring[(uint16_t)(used_idx - 1) % QSIZE].id;
	len = used->ring[(uint16_t)(used_idx - 1) % QSIZE].len;
	CHECK(id == 0, "%s: opcode %u: used id %u, want head 0", s->label, opcode, id);
	CHECK(len >= sizeof(oh) && len <= BUF_SIZE, "%s: opcode %u: used len %u", s->label, opcode,
	      len);
	if (id != 0 || len < sizeof(oh) || len > BUF_SIZE)
		return -1;
	memcpy(&oh, gpa_ptr(s, REPLY_GPA), sizeof(oh));
	CHECK(oh.len == len, "%s: opcode %u: out header len %u, used len %u", s->label, opcode,
	      oh.len, len);
	CHECK(oh.unique == in.unique, "%s: opcode %u: unique %llu, want %llu", s->label, opcode,
	      (unsigned long long)oh.unique, (unsigned long long)in.unique);
	if (oh.len != len || oh.unique != in.unique)
		return -1;
	*fatal = false;
	if (oh.error)
		return oh.error;
	len -= sizeof(oh);
	if (len > outcap)
		len = outcap;
	memcpy(out, (uint8_t *)gpa_ptr(s, REPLY_GPA) + sizeof(oh), len);
	return len;
}

/* FUSE_INIT, LOOKUP of each component of path (relative to the export),
 * OPEN, READ, RELEASE; the bytes read must be hello_bytes. */
static void fuse_exchange(struct session *s, const char *path)
{
	struct fuse_init_in init = { .major = FUSE_KERNEL_VERSION,
				     .minor = FUSE_KERNEL_MINOR_VERSION, .max_readahead = 65536 };
	struct fuse_init_out init_out;
	struct fuse_entry_out entry = { 0 };
	struct fuse_open_in open_in = { .flags = O_RDONLY };
	struct fuse_open_out open_out;
	struct fuse_read_in read_in;
	struct fuse_release_in rel;
	char data[4096], comp[256];
	uint64_t node = FUSE_ROOT_ID;
	const char *p = path;
	bool fatal;
	long n;

	n = fuse_call(s, FUSE_INIT, 0, &init, sizeof(init), &init_out, sizeof(init_out), &fatal);
	if (fatal)
		return;
	CHECK(n >= 8, "%s: FUSE_INIT: %ld", s->label, n);
	if (n < 8)
		return;
	CHECK(init_out.major == 7 && init_out.minor >= 27, "%s: FUSE_INIT: version %u.%u",
	      s->label, init_out.major, init_out.minor);
	printf("# %s: FUSE_INIT: virtiofsd speaks FUSE %u.%u (we offered %u.%u)\n", s->label,
	       init_out.major, init_out.minor, FUSE_KERNEL_VERSION, FUSE_KERNEL_MINOR_VERSION);

	while (*p) {
		size_t len = strcspn(p, "/");

		if (len == 0) {
			p++;
			continue;
		}
		memcpy(comp, p, len);
		comp[len] = 0;
		p += len;
		n = fuse_call(s, FUSE_LOOKUP, node, comp, len + 1, &entry, sizeof(entry), &fatal);
		if (fatal)
			return;
		CHECK(n == sizeof(entry), "%s: FUSE_LOOKUP %s: %ld", s->label, comp, n);
		if (n != sizeof(entry))
			return;
		CHECK(entry.nodeid != 0, "%s: FUSE_LOOKUP %s: nodeid 0", s->label, comp);
		node = entry.nodeid;
	}
	CHECK(S_ISREG(entry.attr.mode) && entry.attr.size == sizeof(hello_bytes) - 1,
	      "%s: %s: mode 0%o size %llu", s->label, path, entry.attr.mode,
	      (unsigned long long)entry.attr.size);

	n = fuse_call(s, FUSE_OPEN, node, &open_in, sizeof(open_in), &open_out, sizeof(open_out),
		      &fatal);
	if (fatal)
		return;
	CHECK(n == sizeof(open_out), "%s: FUSE_OPEN: %ld", s->label, n);
	if (n != sizeof(open_out))
		return;

	read_in = (struct fuse_read_in){ .fh = open_out.fh, .offset = 0, .size = sizeof(data),
					 .flags = O_RDONLY };
	n = fuse_call(s, FUSE_READ, node, &read_in, sizeof(read_in), data, sizeof(data), &fatal);
	if (fatal)
		return;
	CHECK(n == sizeof(hello_bytes) - 1 && memcmp(data, hello_bytes, n) == 0,
	      "%s: FUSE_READ: %ld bytes, not the file's", s->label, n);

	rel = (struct fuse_release_in){ .fh = open_out.fh, .flags = O_RDONLY };
	n = fuse_call(s, FUSE_RELEASE, node, &rel, sizeof(rel), data, sizeof(data), &fatal);
	if (fatal)
		return;
	CHECK(n == 0, "%s: FUSE_RELEASE: %ld", s->label, n);
}

enum session_result { SESSION_OK, SESSION_FAILED, SESSION_BACKEND_DIED_EARLY };

/* One virtiofsd from spawn to exit: export source, read path (relative to
 * source) through it. */
static enum session_result run_session(const char *prog, const char *label, const char *source,
				       const char *sandbox, const char *path, const char *logpath,
				       bool expect_early_death)
{
	struct session s = { .label = label };
	char err[512];
	int before = failures, status;
	enum session_result res = SESSION_OK;
	int64_t t0 = now_ms();

	s.memfd = memfd_create("guest-ram", MFD_CLOEXEC);
	CHECK(s.memfd >= 0 && ftruncate(s.memfd, RAM_SIZE) == 0, "memfd: %s", strerror(errno));
	s.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s.memfd, 0);
	CHECK(s.ram != MAP_FAILED, "mmap: %s", strerror(errno));
	for (unsigned q = 0; q < 2; q++) {
		s.kick[q] = eventfd(0, EFD_CLOEXEC);
		s.call[q] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		CHECK(s.kick[q] >= 0 && s.call[q] >= 0, "eventfd: %s", strerror(errno));
	}
	if (failures != before)
		exit(1);

	s.vu = vhost_user_connect(spawn_virtiofsd(prog, source, sandbox, logpath), err, sizeof(err));
	if (!s.vu) {
		status = wait_backend(WAIT_MS);
		if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			res = SESSION_BACKEND_DIED_EARLY;
			if (!expect_early_death) {
				printf("# %s: virtiofsd exited (status 0x%x) before answering: %s\n",
				       label, status, err);
				dump_log(logpath);
			}
		} else {
			CHECK(0, "%s: %s", label, err);
			res = SESSION_FAILED;
		}
		goto out;
	}
	if (expect_early_death)
		printf("# %s: virtiofsd started after all\n", label);
	CHECK(vhost_user_features(s.vu) & (1ULL << VIRTIO_F_VERSION_1),
	      "%s: features 0x%llx lack VIRTIO_F_VERSION_1", label,
	      (unsigned long long)vhost_user_features(s.vu));
	if (vhost_user_set_features(s.vu, 1ULL << VIRTIO_F_VERSION_1, err, sizeof(err)) < 0 ||
	    vhost_user_set_mem_table(s.vu, &(struct vhost_user_region){
			.gpa = 0, .size = RAM_SIZE, .hva = (uint64_t)(uintptr_t)s.ram,
			.fd_offset = 0, .fd = s.memfd }, 1, err, sizeof(err)) < 0 ||
	    start_queues(&s, err, sizeof(err)) < 0) {
		CHECK(0, "%s: %s", label, err);
	} else {
		uint16_t idx;

		fuse_exchange(&s, path);
		/* GET_VRING_BASE: the back-end consumed every request, none on hiprio. */
		if (vhost_user_stop_queue(s.vu, 1, &idx, err, sizeof(err)) < 0)
			CHECK(0, "%s: %s", label, err);
		else
			CHECK(idx == s.requests, "%s: queue 1 stopped at %u, %u requests made", label,
			      idx, s.requests);
		if (vhost_user_stop_queue(s.vu, 0, &idx, err, sizeof(err)) < 0)
			CHECK(0, "%s: %s", label, err);
		else
			CHECK(idx == 0, "%s: queue 0 stopped at %u", label, idx);
	}
	vhost_user_close(s.vu);
	/* The connection's end is virtiofsd's end. */
	status = wait_backend(WAIT_MS);
	CHECK(status != -1, "%s: virtiofsd still running %d ms after the connection closed", label,
	      WAIT_MS);
	if (status != -1)
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "%s: virtiofsd exit status 0x%x", label, status);
	res = failures == before ? SESSION_OK : SESSION_FAILED;
	if (res != SESSION_OK)
		dump_log(logpath);
out:
	kill_backend();
	printf("# %s: %lld ms\n", label, (long long)(now_ms() - t0));
	for (unsigned q = 0; q < 2; q++) {
		close(s.kick[q]);
		close(s.call[q]);
	}
	munmap(s.ram, RAM_SIZE);
	close(s.memfd);
	return res;
}

static char scratch[64], share[128], hello_path[192], logpath[192];
static const char *virtiofsd_prog;

static void test_namespace(void)
{
	enum session_result r = run_session(virtiofsd_prog, "sandbox=namespace", share,
					    "namespace", "hello", logpath, false);

	if (r == SESSION_BACKEND_DIED_EARLY)
		printf("# namespace sandbox unavailable here (virtiofsd's reason above); "
		       "use -o sandbox=chroot\n");
}

static void test_chroot(void)
{
	enum session_result r = run_session(virtiofsd_prog, "sandbox=chroot", share, "chroot",
					    "hello", logpath, false);

	CHECK(r == SESSION_OK, "sandbox=chroot failed");
}

static void test_chroot_root(void)
{
	/* Export "/" as vmm must when / is an initramfs; read the file by its
	 * full path. */
	enum session_result r = run_session(virtiofsd_prog, "sandbox=chroot source=/", "/",
					    "chroot", hello_path, logpath, false);

	CHECK(r == SESSION_OK, "sandbox=chroot with source=/ failed");
}

static void test_namespace_root(void)
{
	/* For the record: pivot_root(2) cannot move "/" (EBUSY on a mounted
	 * root, EINVAL on rootfs), so virtiofsd is expected to refuse. */
	enum session_result r = run_session(virtiofsd_prog, "sandbox=namespace source=/", "/",
					    "namespace", hello_path, logpath, true);

	if (r == SESSION_BACKEND_DIED_EARLY) {
		const char *why = log_line(logpath, "pivot_root");

		printf("# sandbox=namespace with source=/ refused as expected%s%s\n",
		       why ? ": " : "", why ? why : "");
	}
}

static void cleanup_scratch(void)
{
	unlink(hello_path);
	unlink(logpath);
	rmdir(share);
	rmdir(scratch);
}

/* SIGTERM (meson's timeout), SIGINT, SIGHUP: no virtiofsd and no scratch
 * directory left behind (SIGKILL: PR_SET_PDEATHSIG ends virtiofsd). */
static void on_fatal_signal(int sig)
{
	if (backend_pid > 0)
		kill(backend_pid, SIGKILL);
	cleanup_scratch(); /* unlink and rmdir are async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig);
}

static int run_virtiofsd(const char *prog)
{
	struct sigaction sa = { .sa_handler = on_fatal_signal };
	int fd;

	if (access(prog, X_OK) != 0) {
		printf("SKIP: %s not found (Debian's qemu-system-common; scripts/setup installs it)\n",
		       prog);
		return 77;
	}
	if (geteuid() != 0) {
		printf("SKIP: virtiofsd needs root\n");
		return 77;
	}
	virtiofsd_prog = prog;
	atexit(kill_backend);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	snprintf(scratch, sizeof(scratch), "/tmp/vhost-user-test.XXXXXX");
	if (!mkdtemp(scratch)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(share, sizeof(share), "%s/share", scratch);
	snprintf(hello_path, sizeof(hello_path), "%s/hello", share);
	snprintf(logpath, sizeof(logpath), "%s/virtiofsd.log", scratch);
	atexit(cleanup_scratch);
	if (mkdir(share, 0755) < 0 ||
	    (fd = open(hello_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0 ||
	    write(fd, hello_bytes, sizeof(hello_bytes) - 1) != sizeof(hello_bytes) - 1 ||
	    close(fd) < 0) {
		perror(hello_path);
		return 1;
	}
	run_test("virtiofsd: sandbox=namespace, FUSE INIT/LOOKUP/OPEN/READ/RELEASE", test_namespace);
	run_test("virtiofsd: sandbox=chroot, FUSE INIT/LOOKUP/OPEN/READ/RELEASE", test_chroot);
	run_test("virtiofsd: sandbox=chroot, source=/", test_chroot_root);
	run_test("virtiofsd: sandbox=namespace, source=/ (informational)", test_namespace_root);
	printf("1..%d\n", test_no);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && strcmp(argv[1], "fake") == 0)
		return run_fake();
	if (argc >= 2 && strcmp(argv[1], "virtiofsd") == 0)
		return run_virtiofsd(argc >= 3 ? argv[2] : "/usr/lib/qemu/virtiofsd");
	fprintf(stderr, "usage: %s fake | virtiofsd [PATH]\n", argv[0]);
	return 2;
}
