/* Process creation helpers shared inside platform/ and image/. */
#ifndef CRISP_PLATFORM_PROC_H
#define CRISP_PLATFORM_PROC_H

#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

/*
 * clone3() with CLONE_PIDFD added to flags, fork-like (no shared memory):
 * returns 0 in the child, the pid in the parent with *ret_pidfd set
 * (O_CLOEXEC), or -1 with *err filled.  The child of a single-threaded
 * parent may use any libc call; it starts with default signal dispositions
 * and an empty signal mask.
 */
pid_t proc_clone(uint64_t flags, int *ret_pidfd, struct err **err);

/* proc_clone() into the cgroup v2 directory cgroup_fd (CLONE_INTO_CGROUP); -1: the caller's. */
pid_t proc_clone_into(uint64_t flags, int cgroup_fd, int *ret_pidfd, struct err **err);

#endif
