/*
 * cgroup v1: one hierarchy per mounted controller set, found in
 * /proc/self/mountinfo; a cgroup path exists once in each of them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/cgroup-internal.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define MAX_HIERARCHIES 32

struct hierarchy {
    char *mount;        /* "/sys/fs/cgroup/memory" */
    char *controllers;  /* ",memory," or ",cpu,cpuacct," or ",name=systemd," */
};

static struct hierarchy hierarchies[MAX_HIERARCHIES];
static size_t n_hierarchies;

/* Read the v1 cgroup mounts once; a mount point seen twice (bind mounts) counts once. */
static void load_hierarchies(void)
{
    static bool loaded;
    _cleanup_fclose_ FILE *f = NULL;
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;

    if (loaded)
        return;
    loaded = true;
    f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return;
    while (getline(&line, &cap, f) > 0 && n_hierarchies < MAX_HIERARCHIES) {
        char mount[4096], fstype[64], super[1024];
        const char *sep = strstr(line, " - ");
        bool seen = false;

        if (!sep || sscanf(line, "%*s %*s %*s %*s %4095s", mount) != 1 ||
            sscanf(sep + 3, "%63s %*s %1023s", fstype, super) != 2 || strcmp(fstype, "cgroup") != 0)
            continue;
        for (size_t i = 0; i < n_hierarchies; i++)
            seen = seen || strcmp(hierarchies[i].mount, mount) == 0;
        if (seen)
            continue;
        hierarchies[n_hierarchies].mount = xstrdup(mount);
        hierarchies[n_hierarchies].controllers = xasprintf(",%s,", super);
        n_hierarchies++;
    }
}

static const struct hierarchy *find_hierarchy(const char *controller)
{
    _cleanup_free_ char *needle = xasprintf(",%s,", controller);

    load_hierarchies();
    for (size_t i = 0; i < n_hierarchies; i++) {
        if (strstr(hierarchies[i].controllers, needle))
            return &hierarchies[i];
    }
    return NULL;
}

/* The directory of the cgroup in the hierarchy of file's controller ("cpu.shares": cpu). */
static char *dir_of(const char *path, const char *file)
{
    _cleanup_free_ char *controller = xstrndup(file, strcspn(file, "."));
    const struct hierarchy *h = find_hierarchy(controller);

    return h ? xasprintf("%s%s", h->mount, path) : NULL;
}

static int v1_render(const struct cgroup_resources *res, struct cgroup_writes *out,
                     struct err **err)
{
    int64_t swap = res->memory_swap_limit;

    if (res->n_unified > 0)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "unified cgroup settings need cgroup v2, and this host uses cgroup v1");

    if (res->cpu_shares)
        cgroup_writes_add(out, "cpu.shares", "%" PRId64, res->cpu_shares);
    if (res->cpu_period)
        cgroup_writes_add(out, "cpu.cfs_period_us", "%" PRId64, res->cpu_period);
    if (res->cpu_quota)
        cgroup_writes_add(out, "cpu.cfs_quota_us", "%" PRId64, res->cpu_quota);
    if (res->cpuset_cpus && res->cpuset_cpus[0])
        cgroup_writes_add(out, "cpuset.cpus", "%s", res->cpuset_cpus);
    if (res->cpuset_mems && res->cpuset_mems[0])
        cgroup_writes_add(out, "cpuset.mems", "%s", res->cpuset_mems);

    /* As runc: an unlimited memory limit with no swap limit lifts the swap limit too. */
    if (res->memory_limit == -1 && swap == 0)
        swap = -1;
    if (res->memory_limit)
        cgroup_writes_add(out, "memory.limit_in_bytes", "%" PRId64, res->memory_limit);
    if (swap) {
        cgroup_writes_add(out, "memory.memsw.limit_in_bytes", "%" PRId64, swap);
        out->items[out->n - 1].optional = true; /* absent when the kernel has no swap accounting */
    }

    if (res->pids_limit > 0)
        cgroup_writes_add(out, "pids.max", "%" PRId64, res->pids_limit);
    else if (res->pids_limit == -1)
        cgroup_writes_add(out, "pids.max", "max");

    for (size_t i = 0; i < res->n_hugepages; i++) {
        _cleanup_free_ char *file =
            xasprintf("hugetlb.%s.limit_in_bytes", res->hugepages[i].page_size);

        cgroup_writes_add(out, file, "%" PRIu64, res->hugepages[i].limit);
    }
    return 0;
}

/* Give a new cpuset cgroup its parent's CPUs and memory nodes: it starts with none. */
static int cpuset_inherit(const char *dir, struct err **err)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};

    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *own = xasprintf("%s/%s", dir, files[i]);
        _cleanup_free_ char *parent = xasprintf("%s/../%s", dir, files[i]);
        char value[4096] = "";
        _cleanup_fclose_ FILE *f = fopen(own, "re");
        int r;

        if (!f)
            return err_sys(err, "open '%s'", own);
        if (fgets(value, sizeof(value), f) && value[0] != '\n' && value[0])
            continue;
        fclose(TAKE_PTR(f));
        f = fopen(parent, "re");
        if (!f || !fgets(value, sizeof(value), f))
            return err_sys(err, "read '%s'", parent);
        value[strcspn(value, "\n")] = '\0';
        r = cgroup_write_file(own, value);
        if (r < 0)
            return err_errno(err, -r, "write '%s' to '%s'", value, own);
    }
    return 0;
}

static int v1_create(const char *path, bool *ret_created, struct err **err)
{
    bool created = false;

    load_hierarchies();
    if (n_hierarchies == 0)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "no cgroup v1 hierarchy is mounted");
    for (size_t i = 0; i < n_hierarchies; i++) {
        _cleanup_free_ char *dir = xasprintf("%s%s", hierarchies[i].mount, path);
        bool cpuset = strstr(hierarchies[i].controllers, ",cpuset,") != NULL;

        for (char *p = dir + strlen(hierarchies[i].mount) + 1;; p++) {
            char saved = *p;

            if (*p != '/' && *p != '\0')
                continue;
            *p = '\0';
            if (mkdir(dir, 0755) == 0) {
                created = created || saved == '\0';
                if (cpuset && cpuset_inherit(dir, err) < 0)
                    goto fail;
            } else if (errno != EEXIST) {
                err_sys(err, "mkdir '%s'", dir);
                goto fail;
            }
            *p = saved;
            if (!saved)
                break;
        }
    }
    *ret_created = created;
    return 0;

fail:
    if (created)
        for (size_t i = 0; i < n_hierarchies; i++) {
            _cleanup_free_ char *dir = xasprintf("%s%s", hierarchies[i].mount, path);

            (void)rmdir(dir);
        }
    return -1;
}

static int v1_write(const char *path, const struct cgroup_writes *w, struct err **err)
{
    return cgroup_write_all(path, w, dir_of, err);
}

static int v1_enter(const char *path, pid_t pid, struct err **err)
{
    char value[32];

    load_hierarchies();
    snprintf(value, sizeof(value), "%d", (int)pid);
    for (size_t i = 0; i < n_hierarchies; i++) {
        _cleanup_free_ char *file = xasprintf("%s%s/cgroup.procs", hierarchies[i].mount, path);
        int r = cgroup_write_file(file, value);

        if (r < 0)
            return err_errno(err, -r, "join cgroup: write '%s' to '%s'", value, file);
    }
    return 0;
}

static int v1_remove(const char *path, bool kill, struct err **err)
{
    int busy = 0;

    load_hierarchies();
    for (size_t i = 0; i < n_hierarchies; i++) {
        _cleanup_free_ char *dir = xasprintf("%s%s", hierarchies[i].mount, path);
        int r = cgroup_rmdir_tree(dir, kill);

        if (r == -EBUSY)
            busy = r;
        else if (r < 0)
            return err_errno(err, -r, "remove cgroup '%s'", dir);
    }
    if (busy)
        return err_errno(err, EBUSY, "remove cgroup '%s': processes remain", path);
    return 0;
}

static char *memory_file(const char *path, const char *file)
{
    _cleanup_free_ char *dir = dir_of(path, "memory");

    return dir ? xasprintf("%s/%s", dir, file) : NULL;
}

static int v1_oom_kills(const char *path, uint64_t *ret_count, struct err **err)
{
    _cleanup_free_ char *dir = dir_of(path, "memory");
    _cleanup_free_ char *file = NULL;

    if (!dir)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "the cgroup v1 memory controller is not mounted");
    file = xasprintf("%s/memory.oom_control", dir);
    return cgroup_read_key(file, "oom_kill", ret_count, err);
}

static int v1_oom_open(const char *path, int *ret_fd, struct err **err)
{
    _cleanup_free_ char *dir = dir_of(path, "memory");
    _cleanup_free_ char *control = NULL, *oom_control = NULL;
    _cleanup_close_ int efd = -EBADF, cfd = -EBADF;
    char value[64];
    int r;

    if (!dir)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "the cgroup v1 memory controller is not mounted");
    oom_control = xasprintf("%s/memory.oom_control", dir);
    control = xasprintf("%s/cgroup.event_control", dir);
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0)
        return err_sys(err, "create eventfd for OOM events");
    cfd = open(oom_control, O_RDONLY | O_CLOEXEC);
    if (cfd < 0)
        return err_sys(err, "open '%s'", oom_control);
    /* The kernel keeps its own reference to the cgroup: cfd may close after registering. */
    snprintf(value, sizeof(value), "%d %d", efd, cfd);
    r = cgroup_write_file(control, value);
    if (r < 0)
        return err_errno(err, -r, "register OOM eventfd in '%s'", control);
    *ret_fd = TAKE_FD(efd);
    return 0;
}

/* The eventfd also fires when the cgroup is removed: tell that apart by the file's absence. */
static int v1_oom_read(const char *path, int fd, uint64_t *last_count)
{
    _cleanup_free_ char *file = memory_file(path, "memory.oom_control");
    uint64_t value;

    if (read(fd, &value, sizeof(value)) != sizeof(value))
        return 0;
    if (!file || access(file, F_OK) < 0)
        return -1;
    (void)cgroup_read_key(file, "oom_kill", last_count, NULL);
    return 1;
}

/*
 * Reset the cgroup to deny every device, then write each rule to
 * devices.allow or devices.deny in order.  The kernel rejects an allow
 * rule its parent cgroup does not allow (EPERM).
 */
static int v1_devices(const char *path, const struct cgroup_device_rule *rules, size_t n,
                      struct err **err)
{
    _cleanup_free_ char *dir = dir_of(path, "devices");
    _cleanup_free_ char *allow = NULL, *deny = NULL;
    int r;

    if (!dir)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "the cgroup v1 devices controller is not mounted");
    allow = xasprintf("%s/devices.allow", dir);
    deny = xasprintf("%s/devices.deny", dir);
    r = cgroup_write_file(deny, "a");
    if (r < 0)
        return err_errno(err, -r, "write 'a' to '%s'", deny);
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *line = cgroup_device_rule_format(&rules[i]);
        const char *file = rules[i].allow ? allow : deny;

        r = cgroup_write_file(file, line);
        if (r < 0)
            return err_errno(err, -r, "write '%s' to '%s'", line, file);
    }
    return 0;
}

const struct cgroup_ops cgroup_v1_ops = {
    .version = 1,
    .render = v1_render,
    .create = v1_create,
    .write = v1_write,
    .enter = v1_enter,
    .remove = v1_remove,
    .oom_kills = v1_oom_kills,
    .oom_open = v1_oom_open,
    .oom_read = v1_oom_read,
    .devices = v1_devices,
};
