/*
 * loop.c - the main thread's event loop, in one place: the epoll set that
 * modules add fds to (vm_add_fd/vm_mod_fd/vm_del_fd), the wake-up eventfd
 * that vm_request_exit() writes, the signals (signalfd) and the timers
 * (--timeout, the SIGTERM grace period), and loop_run() itself.
 *
 * Signals: SIGINT stops the VM at once (status 4, reason "signal", message
 * "stopped by SIGINT", as always). The first SIGTERM asks the guest
 * to shut down through the ACPI power button (acpi_power_button: the GED
 * interrupt) and starts the grace period (--shutdown-grace, default
 * LOOP_DEFAULT_GRACE seconds); a guest that powers off in time ends with
 * status 0. A second SIGTERM, or the end of the grace period, stops the VM
 * with status 4, reason "signal". With a grace period of 0, or a machine
 * without a power button GSI, the first SIGTERM stops it at once.
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "acpi.h"
#include "internal.h"

static struct {
	int sig_fd, timer_fd, grace_fd;
	bool term_pending; /* the power button was pressed for a SIGTERM */
} loop = { -1, -1, -1, false };

/* ---- Watching fds ----------------------------------------------------------- */

int vm_add_fd(struct vm *vm, int fd, uint32_t events,
	      void (*cb)(void *opaque, uint32_t events), void *opaque)
{
	struct vm_fdwatch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = events };

	if (!w)
		return -1;
	w->fd = fd;
	w->cb = cb;
	w->opaque = opaque;
	ev.data.ptr = w;
	if (epoll_ctl(vm->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;

		free(w);
		errno = e;
		return -1;
	}
	w->next = vm->watches;
	vm->watches = w;
	return 0;
}

int vm_del_fd(struct vm *vm, int fd)
{
	for (struct vm_fdwatch **pp = &vm->watches; *pp; pp = &(*pp)->next) {
		if ((*pp)->fd == fd) {
			struct vm_fdwatch *w = *pp;

			epoll_ctl(vm->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
			/* Keep the struct: an epoll batch in flight may still
			 * point at it. Mark it dead; loop_destroy frees it. */
			w->fd = -1;
			w->cb = NULL;
			return 0;
		}
	}
	errno = ENOENT;
	return -1;
}

int vm_mod_fd(struct vm *vm, int fd, uint32_t events)
{
	for (struct vm_fdwatch *w = vm->watches; w; w = w->next) {
		if (w->fd == fd) {
			struct epoll_event ev = { .events = events, .data.ptr = w };

			return epoll_ctl(vm->epoll_fd, EPOLL_CTL_MOD, fd, &ev);
		}
	}
	errno = ENOENT;
	return -1;
}

/* ---- Set-up and tear-down -------------------------------------------------- */

static void on_wake(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t v;

	if (read(vm->wake_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: already drained */
	}
}

int loop_init(struct vm *vm, char *err, size_t errlen)
{
	vm->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->epoll_fd < 0 || vm->wake_fd < 0 ||
	    vm_add_fd(vm, vm->wake_fd, EPOLLIN, on_wake, vm) < 0) {
		snprintf(err, errlen, "event loop (epoll/eventfd): %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

void loop_destroy(struct vm *vm)
{
	struct vm_fdwatch *w, *next;

	for (w = vm->watches; w; w = next) {
		next = w->next;
		free(w);
	}
	vm->watches = NULL;
	if (vm->wake_fd >= 0)
		close(vm->wake_fd);
	if (vm->epoll_fd >= 0)
		close(vm->epoll_fd);
	vm->wake_fd = vm->epoll_fd = -1;
	for (int *fd = &loop.sig_fd; fd <= &loop.grace_fd; fd++) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

/* ---- Timers ---------------------------------------------------------------- */

static int timer_arm(struct vm *vm, int *fd, double seconds,
		     void (*cb)(void *opaque, uint32_t events))
{
	double whole = floor(seconds);
	struct itimerspec its = {
		.it_value.tv_sec = (time_t)whole,
		.it_value.tv_nsec = (long)((seconds - whole) * 1e9),
	};

	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	*fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (*fd < 0 || timerfd_settime(*fd, 0, &its, NULL) < 0 ||
	    vm_add_fd(vm, *fd, EPOLLIN, cb, vm) < 0)
		return -1;
	return 0;
}

static void on_timeout(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t n;

	if (read(loop.timer_fd, &n, sizeof(n)) < 0)
		return;
	vm_exit_detail(vm, VMM_EXIT_TIMEOUT, "timeout", NULL,
		       "timeout after %g s", vm->cfg.timeout);
}

int loop_set_timeout(struct vm *vm, double seconds)
{
	return timer_arm(vm, &loop.timer_fd, seconds, on_timeout);
}

static void on_grace(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	uint64_t n;

	if (read(loop.grace_fd, &n, sizeof(n)) < 0)
		return;
	vm_exit_detail(vm, VMM_EXIT_ERROR, "signal", NULL,
		       "stopped by SIGTERM: the guest did not power off within "
		       "%g s of the ACPI power button", vm->cfg.shutdown_grace);
}

/* ---- Signals --------------------------------------------------------------- */

static void on_signal(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	if (read(loop.sig_fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGINT) {
		vm_exit_detail(vm, VMM_EXIT_ERROR, "signal", NULL,
			       "stopped by SIGINT");
		return;
	}
	if (loop.term_pending) {
		vm_exit_detail(vm, VMM_EXIT_ERROR, "signal", NULL,
			       "stopped by a second SIGTERM (the guest had not "
			       "powered off after the ACPI power button)");
		return;
	}
	if (vm->cfg.shutdown_grace > 0 && acpi_power_button(vm) == 0 &&
	    timer_arm(vm, &loop.grace_fd, vm->cfg.shutdown_grace, on_grace) == 0) {
		loop.term_pending = true;
		return;
	}
	vm_exit_detail(vm, VMM_EXIT_ERROR, "signal", NULL, "stopped by SIGTERM");
}

int loop_watch_signals(struct vm *vm, const sigset_t *mask)
{
	loop.sig_fd = signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (loop.sig_fd < 0 || vm_add_fd(vm, loop.sig_fd, EPOLLIN, on_signal, vm) < 0)
		return -1;
	return 0;
}

/* ---- The loop -------------------------------------------------------------- */

void loop_run(struct vm *vm)
{
	struct epoll_event ev[16];

	while (!atomic_load(&vm->exiting)) {
		int n = epoll_wait(vm->epoll_fd, ev, 16, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			vm_exit_detail(vm, VMM_EXIT_ERROR, "error", NULL,
				       "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct vm_fdwatch *w = ev[i].data.ptr;

			if (w->cb)
				w->cb(w->opaque, ev[i].events);
		}
	}
}
