/* cgroup v2: one unified hierarchy at /sys/fs/cgroup. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/cgroup-internal.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define UNIFIED_VALUE_MAX 4096

static char *dir_of(const char *path, const char *file)
{
    (void)file;
    return xasprintf(CGROUP_MOUNT "%s", path);
}

/*
 * A unified key names an interface file of the container's own cgroup:
 * "<controller>.<name>", lowercase letters, digits, dots and underscores.
 * The cgroup.* core files are rejected: writing cgroup.procs,
 * cgroup.subtree_control or cgroup.kill would move or kill processes
 * rather than set a limit.
 */
static bool valid_unified_key(const char *key)
{
    size_t len = strlen(key);

    return len > 0 && len <= NAME_MAX && key[0] != '.' && strchr(key, '.') &&
           strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789._") == len &&
           strncmp(key, "cgroup.", 7) != 0;
}

/* memory.swap.max from the CRI's memory-plus-swap limit, as runc converts it. */
static int swap_max(int64_t swap, int64_t memory, int64_t *ret, struct err **err)
{
    if (memory == -1 && swap == 0) {
        *ret = -1;
        return 0;
    }
    if (swap == -1 || swap == 0) {
        *ret = swap;
        return 0;
    }
    if (memory == 0 || memory == -1)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "memory_swap_limit_in_bytes %" PRId64 " needs a memory limit", swap);
    if (swap < memory)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "memory_swap_limit_in_bytes %" PRId64
                          " is below memory_limit_in_bytes %" PRId64 ": it counts memory plus swap",
                          swap, memory);
    *ret = swap - memory;
    return 0;
}

static void add_limit(struct cgroup_writes *out, const char *file, int64_t value)
{
    if (value == -1)
        cgroup_writes_add(out, file, "max");
    else
        cgroup_writes_add(out, file, "%" PRId64, value);
}

static int v2_render(const struct cgroup_resources *res, struct cgroup_writes *out,
                     struct err **err)
{
    int64_t swap = 0;

    if (res->cpu_shares)
        cgroup_writes_add(out, "cpu.weight", "%" PRIu64,
                          cgroup_shares_to_weight((uint64_t)res->cpu_shares));
    /* As runc: "max" or the quota, then the period when one is given. */
    if (res->cpu_quota || res->cpu_period) {
        char quota[32] = "max";

        if (res->cpu_quota > 0)
            snprintf(quota, sizeof(quota), "%" PRId64, res->cpu_quota);
        if (res->cpu_period)
            cgroup_writes_add(out, "cpu.max", "%s %" PRId64, quota, res->cpu_period);
        else
            cgroup_writes_add(out, "cpu.max", "%s", quota);
    }
    if (res->cpuset_cpus && res->cpuset_cpus[0])
        cgroup_writes_add(out, "cpuset.cpus", "%s", res->cpuset_cpus);
    if (res->cpuset_mems && res->cpuset_mems[0])
        cgroup_writes_add(out, "cpuset.mems", "%s", res->cpuset_mems);

    if (swap_max(res->memory_swap_limit, res->memory_limit, &swap, err) < 0)
        return -1;
    if (swap) {
        add_limit(out, "memory.swap.max", swap);
        out->items[out->n - 1].optional = true; /* absent when the kernel has no swap accounting */
    } else if (res->memory_swap_limit > 0) {
        /* Memory plus swap equal to memory: no swap at all. */
        cgroup_writes_add(out, "memory.swap.max", "0");
        out->items[out->n - 1].optional = true;
    }
    if (res->memory_limit)
        add_limit(out, "memory.max", res->memory_limit);

    if (res->pids_limit)
        add_limit(out, "pids.max", res->pids_limit);

    for (size_t i = 0; i < res->n_hugepages; i++) {
        _cleanup_free_ char *file = xasprintf("hugetlb.%s.max", res->hugepages[i].page_size);

        cgroup_writes_add(out, file, "%" PRIu64, res->hugepages[i].limit);
    }

    /* Last, so that a unified key overrides the same setting above. */
    for (size_t i = 0; i < res->n_unified; i++) {
        const struct cgroup_unified *u = &res->unified[i];

        if (!valid_unified_key(u->key))
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "unified key '%s' is not a cgroup v2 interface file name such as "
                              "\"memory.high\"",
                              u->key);
        if (strlen(u->value) > UNIFIED_VALUE_MAX)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "unified value of '%s' is longer than %d bytes", u->key,
                              UNIFIED_VALUE_MAX);
        cgroup_writes_add(out, u->key, "%s", u->value);
    }
    return 0;
}

/* Enable in dir/cgroup.subtree_control every controller dir has; failures are left to the writes. */
static void enable_controllers(const char *dir)
{
    _cleanup_free_ char *avail = xasprintf("%s/cgroup.controllers", dir);
    _cleanup_free_ char *control = xasprintf("%s/cgroup.subtree_control", dir);
    _cleanup_fclose_ FILE *f = fopen(avail, "re");
    char name[64];

    if (!f)
        return;
    while (fscanf(f, "%63s", name) == 1) {
        char value[66];

        snprintf(value, sizeof(value), "+%s", name);
        (void)cgroup_write_file(control, value);
    }
}

static int v2_create(const char *path, bool *ret_created, struct err **err)
{
    _cleanup_free_ char *dir = xasprintf(CGROUP_MOUNT "%s", path);
    bool created = false;

    char *start = dir + strlen(CGROUP_MOUNT) + 1;

    for (char *p = start;; p++) {
        char saved = *p;

        if (*p != '/' && *p != '\0')
            continue;
        /* The parent of each level gives its controllers to the level below. */
        start[-1] = '\0';
        enable_controllers(dir);
        start[-1] = '/';
        *p = '\0';
        if (mkdir(dir, 0755) == 0)
            created = saved == '\0';
        else if (errno != EEXIST)
            return err_sys(err, "mkdir '%s'", dir);
        *p = saved;
        if (!saved)
            break;
        start = p + 1;
    }
    *ret_created = created;
    return 0;
}

static int v2_write(const char *path, const struct cgroup_writes *w, struct err **err)
{
    return cgroup_write_all(path, w, dir_of, err);
}

static int v2_enter(const char *path, pid_t pid, struct err **err)
{
    _cleanup_free_ char *file = xasprintf(CGROUP_MOUNT "%s/cgroup.procs", path);
    char value[32];
    int r;

    snprintf(value, sizeof(value), "%d", (int)pid);
    r = cgroup_write_file(file, value);
    if (r < 0)
        return err_errno(err, -r, "join cgroup: write '%s' to '%s'", value, file);
    return 0;
}

static int v2_remove(const char *path, bool kill, struct err **err)
{
    _cleanup_free_ char *dir = xasprintf(CGROUP_MOUNT "%s", path);
    int r;

    if (kill) {
        _cleanup_free_ char *file = xasprintf("%s/cgroup.kill", dir);

        (void)cgroup_write_file(file, "1"); /* Linux 5.14 and newer; the walk below kills too */
    }
    r = cgroup_rmdir_tree(dir, kill);
    if (r == -EBUSY)
        return err_errno(err, EBUSY, "remove cgroup '%s': processes remain", dir);
    if (r < 0)
        return err_errno(err, -r, "remove cgroup '%s'", dir);
    return 0;
}

static int v2_oom_kills(const char *path, uint64_t *ret_count, struct err **err)
{
    _cleanup_free_ char *file = xasprintf(CGROUP_MOUNT "%s/memory.events", path);

    return cgroup_read_key(file, "oom_kill", ret_count, err);
}

static int v2_oom_open(const char *path, int *ret_fd, struct err **err)
{
    _cleanup_free_ char *file = xasprintf(CGROUP_MOUNT "%s/memory.events", path);
    _cleanup_close_ int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

    if (fd < 0)
        return err_sys(err, "create inotify instance for OOM events");
    if (inotify_add_watch(fd, file, IN_MODIFY) < 0)
        return err_sys(err, "watch '%s'", file);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int v2_oom_read(const char *path, int fd, uint64_t *last_count)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    uint64_t count;
    bool gone = false;
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)(void *)p;

            gone = gone || (ev->mask & IN_IGNORED);
            p += sizeof(*ev) + ev->len;
        }
    }
    if (v2_oom_kills(path, &count, NULL) < 0)
        return gone ? -1 : 0;
    if (count <= *last_count)
        return 0;
    *last_count = count;
    return 1;
}

static int v2_devices(const char *path, const struct cgroup_device_rule *rules, size_t n,
                      struct err **err)
{
    _cleanup_free_ char *dir = xasprintf(CGROUP_MOUNT "%s", path);

    return cgroup_devices_attach(dir, rules, n, err);
}

const struct cgroup_ops cgroup_v2_ops = {
    .version = 2,
    .render = v2_render,
    .create = v2_create,
    .write = v2_write,
    .enter = v2_enter,
    .remove = v2_remove,
    .oom_kills = v2_oom_kills,
    .oom_open = v2_oom_open,
    .oom_read = v2_oom_read,
    .devices = v2_devices,
};
