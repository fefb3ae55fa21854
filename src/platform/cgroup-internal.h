/* The cgroup versions behind cgroup.h: one ops table each, in cgroup-v1.c and cgroup-v2.c. */
#ifndef CRISP_PLATFORM_CGROUP_INTERNAL_H
#define CRISP_PLATFORM_CGROUP_INTERNAL_H

#include "platform/cgroup.h"

#define CGROUP_MOUNT "/sys/fs/cgroup"

/* Bounds of cpu.shares in the kernel (v1 clamps to them). */
#define CGROUP_SHARES_MIN 2
#define CGROUP_SHARES_MAX 262144

struct cgroup_ops {
    int version;
    /* Pure: the interface file writes for res, see cgroup_render(). */
    int (*render)(const struct cgroup_resources *res, struct cgroup_writes *out, struct err **err);
    /* Make the directory at path and missing ancestors; *ret_created is true when path is new. */
    int (*create)(const char *path, bool *ret_created, struct err **err);
    int (*write)(const char *path, const struct cgroup_writes *w, struct err **err);
    int (*enter)(const char *path, pid_t pid, struct err **err);
    int (*remove)(const char *path, bool kill, struct err **err);
    int (*oom_kills)(const char *path, uint64_t *ret_count, struct err **err);
    /* Open an fd that turns readable on an OOM event in the cgroup. */
    int (*oom_open)(const char *path, int *ret_fd, struct err **err);
    /* Drain fd after a wake-up; returns 1 for an OOM event, 0 for none, -1 once the cgroup is gone. */
    int (*oom_read)(const char *path, int fd, uint64_t *last_count);
    /* Restrict device access of the cgroup; see cgroup_devices_apply(). */
    int (*devices)(const char *path, const struct cgroup_device_rule *rules, size_t n,
                   struct err **err);
};

extern const struct cgroup_ops cgroup_v1_ops;
extern const struct cgroup_ops cgroup_v2_ops;

/* Append a write of file = value (value formatted) to out. */
void cgroup_writes_add(struct cgroup_writes *out, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Validate the fields both versions share (shares range, cpuset strings, hugepage sizes). */
int cgroup_check_common(const struct cgroup_resources *res, struct err **err);

/* Write value to the file at path (O_WRONLY, no O_CREAT); returns 0 or -errno. */
int cgroup_write_file(const char *path, const char *value);

/* Read the "<key> <number>" line of a flat-keyed file such as memory.events. */
int cgroup_read_key(const char *path, const char *key, uint64_t *ret, struct err **err);

/* SIGKILL every process listed in dir/cgroup.procs; missing file is fine. */
void cgroup_kill_procs(const char *dir);

/*
 * Remove dir and every cgroup directory below it, deepest first, sending
 * SIGKILL to the processes of each first when kill is set.  A missing dir
 * is fine.  Returns 0 or -errno (-EBUSY while processes remain).
 */
int cgroup_rmdir_tree(const char *dir, bool kill);

/* Write each of w to the file dir_of(file)/file; optional ones may be missing. */
int cgroup_write_all(const char *path, const struct cgroup_writes *w,
                     char *(*dir_of)(const char *path, const char *file), struct err **err);

/*
 * Load the program of cgroup_devices_bpf() for rules and attach it to the
 * cgroup v2 directory dir with BPF_F_ALLOW_MULTI.  The program stays
 * attached until the cgroup is removed.
 */
int cgroup_devices_attach(const char *dir, const struct cgroup_device_rule *rules, size_t n,
                          struct err **err);

#endif
