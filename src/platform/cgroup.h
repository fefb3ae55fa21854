/*
 * Control groups of pods and containers, cgroup v1 and v2 behind one
 * interface, managed directly in the cgroup filesystem (the cgroupfs
 * driver).  A cgroup is named by its path from the root of the hierarchy,
 * "/crisp/<pod id>/<container id>"; on v1 the same path is used in every
 * mounted hierarchy.  The functions that touch the filesystem are short
 * writes and reads of kernel files and run on the reactor.
 */
#ifndef CRISP_PLATFORM_CGROUP_H
#define CRISP_PLATFORM_CGROUP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

struct event_base;

/* Form of a pod's cgroup_parent, set by the kubelet's cgroup driver. */
enum cgroup_driver {
    CGROUP_DRIVER_CGROUPFS, /* a path: "/kubepods/burstable/pod123" */
    CGROUP_DRIVER_SYSTEMD,  /* a slice name: "kubepods-burstable-pod123.slice" */
};

/* Parents used when a pod sets no cgroup_parent. */
#define CGROUP_DEFAULT_PARENT "/crisp"
#define CGROUP_DEFAULT_SLICE "crisp.slice"

/* Maximum number of hugepage limits and unified keys in one resources set. */
#define CGROUP_MAX_HUGEPAGES 16
#define CGROUP_MAX_UNIFIED 64

struct cgroup_hugepage {
    const char *page_size; /* as the kernel names it: "2MB", "1GB" */
    uint64_t limit;        /* bytes */
};

struct cgroup_unified {
    const char *key;       /* a cgroup v2 interface file: "memory.high" */
    const char *value;
};

/*
 * Limits of one container, as in the CRI's LinuxContainerResources.
 * 0 (or NULL) leaves a setting alone.
 */
struct cgroup_resources {
    int64_t cpu_shares;          /* 2..262144, v1 cpu.shares; v2 cpu.weight */
    int64_t cpu_quota;           /* microseconds per period, -1: unlimited */
    int64_t cpu_period;          /* microseconds */
    const char *cpuset_cpus;     /* "0-3,6" */
    const char *cpuset_mems;
    int64_t memory_limit;        /* bytes, -1: unlimited */
    int64_t memory_swap_limit;   /* memory plus swap, bytes, -1: unlimited */
    int64_t pids_limit;          /* -1: unlimited */
    const struct cgroup_hugepage *hugepages;
    size_t n_hugepages;
    const struct cgroup_unified *unified; /* v2 only */
    size_t n_unified;
};

/* One write to a cgroup interface file, as rendered from a cgroup_resources. */
struct cgroup_write {
    char *file;    /* "memory.max"; on v1 the controller is the part before the first dot */
    char *value;
    bool optional; /* skipped when the file or its v1 controller does not exist */
};

struct cgroup_writes {
    struct cgroup_write *items;
    size_t n;
};

/* Free the items of w and empty it; the struct itself may live anywhere. */
void cgroup_writes_done(struct cgroup_writes *w);

/*
 * Turn a pod's cgroup_parent into a cgroup path under the given driver:
 * cgroupfs takes a path (made absolute, repeated slashes folded), systemd
 * a slice name expanded like systemd does ("a-b.slice" is
 * "/a.slice/a-b.slice").  An empty parent gives the default parent.
 * Returns INVALID_ARGUMENT for "." or ".." components, a cgroupfs path of
 * more than PATH_MAX bytes, or an invalid slice name.
 */
int cgroup_parent_path(const char *parent, enum cgroup_driver driver, char **ret_path,
                       struct err **err);

/* cpu.shares as cgroup v2 cpu.weight, as runc converts it: 1 + ((shares - 2) * 9999) / 262142. */
uint64_t cgroup_shares_to_weight(uint64_t shares);

/*
 * Render res as the interface file writes of cgroup v1 (version 1) or v2
 * (version 2), in the order they are to be written.  Pure: it reads no
 * file.  Returns INVALID_ARGUMENT for unified keys on v1, a unified key
 * that is not a plain interface file name, a swap limit without a memory
 * limit or below it (v2), or values out of range.
 */
int cgroup_render(int version, const struct cgroup_resources *res, struct cgroup_writes *out,
                  struct err **err);

/* The cgroup version of the host: 1 or 2, probed once from /sys/fs/cgroup. */
int cgroup_version(void);

/*
 * Create the cgroup at path (and its missing ancestors) in every
 * hierarchy, and apply res (NULL: none).  On v1 a new cpuset cgroup gets
 * its parent's cpus and mems; on v2 the available controllers are enabled
 * on the way down.  On failure nothing created by this call is left.
 */
int cgroup_create(const char *path, const struct cgroup_resources *res, struct err **err);

/* Apply res to an existing cgroup. */
int cgroup_update(const char *path, const struct cgroup_resources *res, struct err **err);

/*
 * The cgroup the pause process of the pod cgroup at pod_path joins: the pod
 * cgroup itself on v1; on v2 its leaf "<pod_path>/pause", because a v2
 * cgroup that contains processes cannot enable controllers for the container
 * cgroups below it.  Caller frees.
 */
char *cgroup_pod_process_path(const char *pod_path);

/*
 * Hooks of the process set-up code (path NULL: no cgroup).  Before clone3()
 * the parent opens the v2 cgroup directory for CLONE_INTO_CGROUP into
 * *ret_fd (O_CLOEXEC), or sets it to -1 on v1 or without a cgroup.  The
 * child calls cgroup_child_join() before anything else: it joins every v1
 * hierarchy and does nothing on v2.
 */
int cgroup_clone_fd(const char *path, int *ret_fd, struct err **err);
int cgroup_child_join(const char *path, struct err **err);

/* Move pid (0: the caller) into the cgroup at path, in every hierarchy. */
int cgroup_enter(const char *path, pid_t pid, struct err **err);

/*
 * Remove the cgroup at path in every hierarchy; missing directories are
 * fine.  With kill set, every process still in it gets SIGKILL first.
 * Returns EBUSY while processes remain (they may still be exiting).
 */
int cgroup_remove(const char *path, bool kill, struct err **err);

/* Number of processes the OOM killer killed in the cgroup at path. */
int cgroup_oom_kills(const char *path, uint64_t *ret_count, struct err **err);

struct cgroup_oom_watch;

/*
 * Watch the cgroup at path for OOM kills without blocking: on v1 an
 * eventfd registered on memory.oom_control through cgroup.event_control,
 * on v2 an inotify watch on memory.events.  cb runs on base once per
 * reported OOM event; it must not free the watch.
 */
struct cgroup_oom_watch *cgroup_oom_watch_new(struct event_base *base, const char *path,
                                              void (*cb)(void *data), void *data,
                                              struct err **err);
/* Stop watching; NULL is fine. */
void cgroup_oom_watch_free(struct cgroup_oom_watch *w);

/* ---- device access (the devices controller on v1, a BPF program on v2) ---- */

/* Access bits of a device rule, as the v1 letters "r", "w" and "m". */
#define CGROUP_DEVICE_READ 0x1u
#define CGROUP_DEVICE_WRITE 0x2u
#define CGROUP_DEVICE_MKNOD 0x4u
#define CGROUP_DEVICE_ALL (CGROUP_DEVICE_READ | CGROUP_DEVICE_WRITE | CGROUP_DEVICE_MKNOD)

/* Number of rules one container may have, defaults included. */
#define CGROUP_MAX_DEVICE_RULES 1024

/* One OCI LinuxDeviceCgroup entry: "c 1:3 rwm" allowed or denied. */
struct cgroup_device_rule {
    bool allow;
    char type;           /* 'a' (every device; major and minor must be -1), 'c' or 'b' */
    int64_t major;       /* -1: any */
    int64_t minor;       /* -1: any */
    unsigned int access; /* CGROUP_DEVICE_* bits, never 0 */
};

/*
 * containerd's default device rules for a container: deny every device, then allow mknod of any character or
 * block device and read, write and mknod of null, zero, full, random,
 * urandom, tty, console, ptmx, the pts devices and net/tun.
 */
extern const struct cgroup_device_rule cgroup_default_device_rules[];
extern const size_t cgroup_n_default_device_rules;

/* Parse "rwm" letters into CGROUP_DEVICE_* bits; INVALID_ARGUMENT for "" or other letters. */
int cgroup_device_access_parse(const char *text, unsigned int *ret, struct err **err);

/* Format rule as the devices.allow and devices.list line "c 1:3 rwm" (caller frees). */
char *cgroup_device_rule_format(const struct cgroup_device_rule *rule);

/*
 * Reduce rules to what they mean when applied in order, as the v1 devices
 * controller applies them: a default (allow or deny every device, from the
 * last "a" rule, deny when there is none) and exceptions to it, each
 * device at most once with the union of its access bits.  An exception
 * removed again by a later opposite rule with the same device loses those
 * bits.  Pure.  Fails with INVALID_ARGUMENT for an invalid rule or more
 * than CGROUP_MAX_DEVICE_RULES rules.
 */
int cgroup_devices_reduce(const struct cgroup_device_rule *rules, size_t n, bool *ret_default_allow,
                          struct cgroup_device_rule **ret_exceptions, size_t *ret_n,
                          struct err **err);

/*
 * Generate the BPF_PROG_TYPE_CGROUP_DEVICE program for rules, as runc's
 * devicefilter does: load the type, access, major and minor of the
 * request, test each exception (returning its verdict on a match), and
 * return the default last.  *ret_insns holds struct bpf_insn values
 * (8 bytes each), caller frees.  Pure.
 */
int cgroup_devices_bpf(const struct cgroup_device_rule *rules, size_t n, void **ret_insns,
                       size_t *ret_n_insns, struct err **err);

/*
 * Restrict the devices the processes of the existing cgroup at path may
 * open or create to rules: on v1 "a" to devices.deny and then every rule
 * to devices.allow or devices.deny; on v2 the program of
 * cgroup_devices_bpf() attached to the cgroup (BPF_F_ALLOW_MULTI).
 */
int cgroup_devices_apply(const char *path, const struct cgroup_device_rule *rules, size_t n,
                         struct err **err);

#endif
