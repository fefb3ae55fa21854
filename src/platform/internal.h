/*
 * Helpers shared by the pod and container start-up code: the messages a
 * set-up child sends on its sync socket, and what every such child does
 * before it acts.  The child side runs between clone3() and execve().
 */
#ifndef CRISP_PLATFORM_INTERNAL_H
#define CRISP_PLATFORM_INTERNAL_H

#include <stdbool.h>
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
 * into it.  With userns_fd (the pod's user namespace, else -1) the image
 * layers and bind mounts are idmapped with it and the writable layer is
 * owned by the namespace's root.  Errors name the operation and the path.
 */
int rootfs_setup(const struct ctr_spec *spec, int userns_fd, struct err **err);

/*
 * Resolve path inside the tree at rootfd with openat2(RESOLVE_IN_ROOT); "/"
 * and ".." stop at rootfd.  Returns the fd or -1 with errno set.
 */
int open_in_root(int rootfd, const char *path, uint64_t flags);

/* Create the directory path and its missing parents inside rootfd; return an O_PATH fd to it. */
int mkdir_in_root(int rootfd, const char *path, struct err **err);

/* ---- security, child side (caps.c, seccomp.c, security.c) ---- */

/* Set or clear PR_SET_KEEPCAPS around setuid(). */
int caps_keep_on_setuid(bool keep, struct err **err);
/* Make the effective set equal to the permitted set (after a setuid with keep-caps). */
int caps_raise_permitted(struct err **err);
/* Drop every capability outside caps->bounding from the bounding set (needs CAP_SETPCAP). */
int caps_drop_bounding(const struct ctr_caps *caps, struct err **err);
/* Set the effective, permitted, inheritable and ambient sets. */
int caps_set(const struct ctr_caps *caps, struct err **err);

/* Limits of a parsed profile; every one is checked by seccomp_profile_parse(). */
#define SECCOMP_MAX_RULES 4096
#define SECCOMP_MAX_NAMES 1024   /* per rule */
#define SECCOMP_MAX_ARCHES 16
#define SECCOMP_MAX_ARGS 6       /* a system call has six arguments */
#define SECCOMP_MAX_CAPS 64
#define SECCOMP_MAX_ERRNO 4095

struct seccomp_arg {
    unsigned int index;
    uint64_t value;
    uint64_t value_two;
    int op;                      /* enum scmp_compare */
};

/* The Docker "includes"/"excludes" of a rule. */
struct seccomp_cond {
    char **arches;               /* Go names ("amd64", "arm64"), NULL-terminated, may be NULL */
    uint64_t caps;               /* capability bit mask */
};

struct seccomp_rule {
    char **names;                /* NULL-terminated */
    uint32_t action;             /* SCMP_ACT_*, with the errno or trace value */
    struct seccomp_arg args[SECCOMP_MAX_ARGS];
    size_t n_args;
    struct seccomp_cond includes;
    struct seccomp_cond excludes;
};

struct seccomp_arch_map {
    uint32_t arch;               /* SCMP_ARCH_* */
    uint32_t subs[SECCOMP_MAX_ARCHES];
    size_t n_subs;
};

struct seccomp_profile {
    uint32_t default_action;
    uint32_t arches[SECCOMP_MAX_ARCHES];
    size_t n_arches;
    struct seccomp_arch_map arch_map[SECCOMP_MAX_ARCHES];
    size_t n_arch_map;
    struct seccomp_rule *rules;
    size_t n_rules;
};

/* The built-in default profile as Docker-format JSON text. */
extern const char seccomp_default_json[];

/*
 * Whether rule applies on the architecture go_arch ("amd64") to a
 * container whose bounding set is caps: every included capability present,
 * no excluded one, the architecture included (when listed) and not excluded.
 */
bool seccomp_rule_applies(const struct seccomp_rule *rule, const char *go_arch, uint64_t caps);

/* The SCMP_ARCH_* architectures the filter covers on native (archMap first). */
size_t seccomp_profile_arches(const struct seccomp_profile *p, uint32_t native, uint32_t *ret,
                              size_t max);

/*
 * Build the libseccomp filter for profile (for a container with bounding
 * set caps) without loading it; returns a scmp_filter_ctx or NULL.
 */
void *seccomp_filter_build(const struct seccomp_profile *p, uint64_t caps, struct err **err);
/* Load the filter built by seccomp_filter_build() and release it. */
int seccomp_filter_load(void *filter, struct err **err);
void seccomp_filter_free(void *filter);

/*
 * In the set-up child after pivot_root: mask and make read-only the paths
 * of sec, create its devices, set RLIMIT_NOFILE and the OOM score.
 */
int security_setup_root(const struct ctr_security *sec, struct err **err);
int security_create_devices(int rootfd, const struct ctr_security *sec, struct err **err);
int security_set_limits(const struct ctr_security *sec, struct err **err);

/* Detach every mount at or under dir in the caller's mount namespace. */
int unmount_under(const char *dir, struct err **err);

#endif
