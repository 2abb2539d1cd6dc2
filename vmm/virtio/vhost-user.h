/*
 * vhost-user.h - the front-end side of the vhost-user protocol (QEMU's
 * docs/interop/vhost-user.rst): hand a device's virtqueues to a back-end
 * process (virtiofsd for virtio-fs) over a unix stream socket.
 *
 * The library speaks the control plane only: features, guest memory (one fd
 * per region, sent with SCM_RIGHTS), and per queue its size, ring addresses
 * and the kick/call eventfds. The rings themselves are then shared memory
 * between the driver and the back-end. The back-end is untrusted: every
 * reply's request code, flags and size are checked, and a reply that does
 * not come within the timeout is an error, not a hang. After any error the
 * connection is shut down (the spec's rule for a wrong reply) and every
 * later call fails at once. Not thread-safe: one caller at a time.
 *
 * The library never prints and never exits; errors go to the caller's
 * err/errlen as "vhost-user: MESSAGE: what went wrong".
 */
#ifndef PMVM_VHOST_USER_H
#define PMVM_VHOST_USER_H

#include <stddef.h>
#include <stdint.h>

#define VHOST_USER_MAX_REGIONS 8      /* SET_MEM_TABLE's fixed array */
#define VHOST_USER_TIMEOUT_MS  5000   /* default wait for each reply */

struct vhost_user; /* one connection to a back-end */

/* One piece of guest RAM: gpa..gpa+size is mapped in this process at hva
 * and is fd's bytes from fd_offset on (fd: a memfd or other shareable file;
 * the back-end maps it MAP_SHARED). */
struct vhost_user_region {
	uint64_t gpa, size, hva, fd_offset;
	int fd;
};

/* Take a connected SOCK_STREAM unix socket (owned from now on, closed on
 * failure too), negotiate protocol features (REPLY_ACK only) and SET_OWNER.
 * NULL with err filled on failure. */
struct vhost_user *vhost_user_connect(int sock, char *err, size_t errlen);

/* Wait at most ms (> 0) for each later reply (VHOST_USER_TIMEOUT_MS until
 * then). */
void vhost_user_set_timeout(struct vhost_user *vu, int ms);

/* The virtio features the back-end offers, without the vhost-layer bits
 * (VHOST_USER_F_PROTOCOL_FEATURES, VHOST_F_LOG_ALL). */
uint64_t vhost_user_features(const struct vhost_user *vu);

/* SET_FEATURES with the driver's acked virtio features (protocol features
 * bit added back when negotiated). Bits the back-end did not offer are an
 * error. 0, or -1 with err filled. */
int vhost_user_set_features(struct vhost_user *vu, uint64_t acked, char *err,
			    size_t errlen);

/* SET_MEM_TABLE with n (1..VHOST_USER_MAX_REGIONS) regions; the fds are
 * duplicated into the back-end, the caller keeps its own. 0, or -1 with
 * err filled. */
int vhost_user_set_mem_table(struct vhost_user *vu, const struct vhost_user_region *r,
			     unsigned n, char *err, size_t errlen);

/* Start queue q (0..255): SET_VRING_NUM, SET_VRING_BASE (last_avail),
 * SET_VRING_ADDR (the rings' addresses in this process, inside the regions'
 * hva ranges), SET_VRING_KICK, SET_VRING_CALL (an fd < 0 is sent as "no fd":
 * the back-end polls), then SET_VRING_ENABLE 1 if protocol features were
 * negotiated. 0, or -1 with err filled. */
int vhost_user_start_queue(struct vhost_user *vu, unsigned q, unsigned size,
			   uint64_t desc_hva, uint64_t avail_hva, uint64_t used_hva,
			   uint16_t last_avail, int kick_fd, int call_fd,
			   char *err, size_t errlen);

/* Stop queue q: GET_VRING_BASE; the back-end stops processing the ring and
 * *last_avail gets its next available index. 0, or -1 with err filled. */
int vhost_user_stop_queue(struct vhost_user *vu, unsigned q, uint16_t *last_avail,
			  char *err, size_t errlen);

/* The socket, to watch for the back-end going away (EPOLLHUP/EPOLLRDHUP);
 * replies are read by the calls above, never by the caller. */
int vhost_user_fd(const struct vhost_user *vu);

/* Close the connection (the back-end sees it end) and free; NULL is a
 * no-op. */
void vhost_user_close(struct vhost_user *vu);

#endif
