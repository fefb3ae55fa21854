/*
 * Helpers shared by the pod and container start-up code: the messages a
 * set-up child sends on its sync socket, and what every such child does
 * before it acts.  The child side runs between clone3() and execve().
 */
#ifndef CRISP_PLATFORM_INTERNAL_H
#define CRISP_PLATFORM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "platform/platform.h"
#include "util/err.h"

enum sync_kind {
    SYNC_READY = 1, /* container set up and parked before execve */
    SYNC_ERROR = 2, /* set-up or execve failed: errnum, status and text follow */
};

#define SYNC_TEXT_MAX 1024

/* One message on a SOCK_SEQPACKET sync socket. */
struct sync_msg {
    int32_t kind;
    int32_t errnum;
    int32_t status;
    char text[SYNC_TEXT_MAX];
};

/* Make a SOCK_SEQPACKET socket pair, both ends close-on-exec. */
int sync_pair(int fds[2], struct err **err);

/*
 * Receive one message without blocking: returns 1 with *msg filled, 0 at
 * end of file, -EAGAIN when nothing is there yet, other negative errno values
 * on failure.
 */
int sync_recv(int fd, struct sync_msg *msg);

/* Turn an SYNC_ERROR message into an error object. */
struct err *sync_msg_err(const struct sync_msg *msg);

/* ---- child side ---- */

/* Send e as an SYNC_ERROR message and _exit(code).  Never returns. */
void child_fail(int sync_fd, const struct err *e, int code) __attribute__((noreturn));

/* Send SYNC_READY. */
int child_send_ready(int sync_fd, struct err **err);

/* Unblock all signals and reset every disposition to the default. */
void child_reset_signals(void);

/*
 * Move each fd in keep[] to a number above 2 (updating keep[]) and close
 * every other fd from 3 up, so nothing of the daemon leaks into the child.
 */
int child_close_fds(int *keep[], size_t n_keep, struct err **err);

/*
 * In a container's set-up child, in its own mount namespace: mount the
 * rootfs overlay and everything in it at bundle_dir/rootfs and pivot_root
 * into it.  Errors name the operation and the path.
 */
int rootfs_setup(const struct ctr_spec *spec, struct err **err);

/* Detach every mount at or under dir in the caller's mount namespace. */
int unmount_under(const char *dir, struct err **err);

#endif
