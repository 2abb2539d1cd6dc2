/*
 * exec-proto.h - what `vmm --exec` and its guest init (init.c) agree on.
 *
 * The initramfs vmm builds holds:
 *   /init                the static init (init.c), built in the tree
 *   /modules/NN-NAME.ko  modules to load in name order (NN: two digits);
 *                        .ko.xz/.ko.zst/.ko.gz are loaded with
 *                        MODULE_INIT_COMPRESSED_FILE (the kernel unpacks)
 *   /pmvm/exec.conf      the run's settings: records "KEY=VALUE\0", see
 *                        EXEC_KEY_* below; unknown keys are errors
 *
 * The channel: init writes frames to the 8-bit I/O port EXEC_PORT (a
 * string write, `rep outsb`, moves a whole frame in one exit). A frame is
 * a 4-byte header {type u8, flags u8 (0), len u16 little endian} and len
 * bytes of payload (len <= EXEC_FRAME_MAX). vmm parses the byte stream; a
 * frame it cannot parse ends the run as a guest failure.
 */
#ifndef PMVM_EXEC_PROTO_H
#define PMVM_EXEC_PROTO_H

#define EXEC_PORT        0x2f0  /* below 0x400: reachable with ioperm(2) */
#define EXEC_FRAME_MAX   4096   /* payload bytes in one frame */
#define EXEC_FS_TAG      "pmvm-root" /* virtio-fs tag of the host's "/" */

enum exec_frame_type {
	EXEC_FRAME_STDOUT  = 1, /* payload: bytes of the command's stdout */
	EXEC_FRAME_STDERR  = 2, /* payload: bytes of the command's stderr */
	EXEC_FRAME_STARTED = 3, /* no payload: the command is about to exec */
	EXEC_FRAME_STATUS  = 4, /* payload: u32 LE exit status 0..255 (a
				 * signal N is reported as 128 + N) */
	EXEC_FRAME_ERROR   = 5, /* payload: one line of text: init could
				 * not set the guest up (module, mount,
				 * directory, user); the run ends */
	EXEC_FRAME_LOG     = 6, /* payload: one line of text, a progress
				 * note shown with --verbose */
};

/* exec.conf keys. Each appears once unless said otherwise; groups and
 * verbose may be absent (no supplementary groups, no notes). */
#define EXEC_KEY_CMD    "cmd"    /* the command, run as /bin/sh -c CMD */
#define EXEC_KEY_CWD    "cwd"    /* absolute directory to run it in */
#define EXEC_KEY_UID    "uid"    /* decimal */
#define EXEC_KEY_GID    "gid"    /* decimal */
#define EXEC_KEY_GROUPS "groups" /* supplementary gids, comma-separated, may be empty */
#define EXEC_KEY_RWDIR  "rwdir"  /* absolute host directory made writable; repeatable */
#define EXEC_KEY_ENV    "env"    /* NAME=VALUE for the command's environment; repeatable */
#define EXEC_KEY_VERBOSE "verbose" /* "1": send EXEC_FRAME_LOG notes */

/* Exit statuses vmm gives in --exec mode besides the command's own. */
#define EXEC_EXIT_PANIC  121 /* the guest kernel panicked or died before the command ended */
#define EXEC_EXIT_SETUP  125 /* init could not run the command (EXEC_FRAME_ERROR) */

#endif
