#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include <event2/event.h>

#include "platform/cgroup-internal.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* ---- pure helpers ---- */

void cgroup_writes_done(struct cgroup_writes *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->items[i].file);
        free(w->items[i].value);
    }
    free(w->items);
    w->items = NULL;
    w->n = 0;
}

void cgroup_writes_add(struct cgroup_writes *out, const char *file, const char *fmt, ...)
{
    va_list ap;

    out->items = xrealloc(out->items, (out->n + 1) * sizeof(*out->items));
    va_start(ap, fmt);
    out->items[out->n].value = xvasprintf(fmt, ap);
    va_end(ap);
    out->items[out->n].file = xstrdup(file);
    out->items[out->n].optional = false;
    out->n++;
}

uint64_t cgroup_shares_to_weight(uint64_t shares)
{
    if (shares == 0)
        return 0;
    if (shares < CGROUP_SHARES_MIN)
        shares = CGROUP_SHARES_MIN;
    if (shares > CGROUP_SHARES_MAX)
        shares = CGROUP_SHARES_MAX;
    return 1 + ((shares - 2) * 9999) / 262142;
}

/* Expand a systemd slice name into its path, as systemd's unit_name_to_path does for slices. */
static int expand_slice(const char *slice, char **ret_path, struct err **err)
{
    static const char suffix[] = ".slice";
    size_t len = strlen(slice), name_len;
    struct strbuf path = {0};
    const char *p, *end;

    if (len <= strlen(suffix) || strcmp(slice + len - strlen(suffix), suffix) != 0 ||
        strchr(slice, '/') || len > NAME_MAX)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "cgroup_parent '%s' is not a systemd slice name (expected "
                          "\"name.slice\" with cgroup_driver systemd)",
                          slice);
    name_len = len - strlen(suffix);
    if (name_len == 1 && slice[0] == '-') {
        *ret_path = xstrdup("/");
        return 0;
    }

    end = slice + name_len;
    for (p = slice;; p++) {
        const char *dash = memchr(p, '-', (size_t)(end - p));
        const char *stop = dash ? dash : end;

        if (stop == p) {
            strbuf_done(&path);
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "cgroup_parent '%s' is not a valid slice name: empty component "
                              "between dashes",
                              slice);
        }
        strbuf_printf(&path, "/%.*s.slice", (int)(stop - slice), slice);
        if (!dash)
            break;
        p = dash;
    }
    *ret_path = strbuf_take(&path);
    return 0;
}

/* Normalize a cgroupfs path: absolute, no empty, "." or ".." components, no trailing slash. */
static int clean_cgroupfs_path(const char *parent, char **ret_path, struct err **err)
{
    struct strbuf path = {0};
    const char *p = parent;

    if (strlen(parent) > PATH_MAX)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "cgroup_parent is longer than %d bytes", PATH_MAX);
    while (*p) {
        size_t len;

        p += strspn(p, "/");
        len = strcspn(p, "/");
        if (len == 0)
            break;
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) {
            strbuf_done(&path);
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "cgroup_parent '%s' contains a '.' or '..' component", parent);
        }
        strbuf_printf(&path, "/%.*s", (int)len, p);
        p += len;
    }
    *ret_path = path.len ? strbuf_take(&path) : xstrdup("/");
    strbuf_done(&path);
    return 0;
}

int cgroup_parent_path(const char *parent, enum cgroup_driver driver, char **ret_path,
                       struct err **err)
{
    if (driver == CGROUP_DRIVER_SYSTEMD)
        return expand_slice(parent && parent[0] ? parent : CGROUP_DEFAULT_SLICE, ret_path, err);
    return clean_cgroupfs_path(parent && parent[0] ? parent : CGROUP_DEFAULT_PARENT, ret_path,
                               err);
}

/*
 * A cpuset list: digits, commas and dashes ("0-3,6"), so no value can hold
 * a newline, and short enough to name every CPU of a large machine.
 */
static bool valid_cpuset(const char *s)
{
    size_t len = strlen(s);

    return len <= 4096 && strspn(s, "0123456789,-") == len;
}

/* A hugepage size as the kernel writes it in file names: digits then KB, MB or GB. */
static bool valid_page_size(const char *s)
{
    size_t digits = strspn(s, "0123456789");

    return digits > 0 && digits < 8 &&
           (strcmp(s + digits, "KB") == 0 || strcmp(s + digits, "MB") == 0 ||
            strcmp(s + digits, "GB") == 0);
}

int cgroup_check_common(const struct cgroup_resources *res, struct err **err)
{
    if (res->cpu_shares < 0)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "cpu_shares %" PRId64 " is negative",
                          res->cpu_shares);
    if (res->cpu_period < 0)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "cpu_period %" PRId64 " is negative",
                          res->cpu_period);
    if (res->cpu_quota < -1)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "cpu_quota %" PRId64 " is invalid: expected -1 (unlimited) or more",
                          res->cpu_quota);
    if (res->memory_limit < -1 || res->memory_swap_limit < -1 || res->pids_limit < -1)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "memory, swap and pids limits must be -1 (unlimited) or more");
    if (res->cpuset_cpus && !valid_cpuset(res->cpuset_cpus))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "cpuset_cpus '%s' is not a CPU list such as \"0-3,6\"",
                          res->cpuset_cpus);
    if (res->cpuset_mems && !valid_cpuset(res->cpuset_mems))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "cpuset_mems '%s' is not a node list such as \"0-1\"", res->cpuset_mems);
    if (res->n_hugepages > CGROUP_MAX_HUGEPAGES)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "%zu hugepage limits: at most %d are accepted", res->n_hugepages,
                          CGROUP_MAX_HUGEPAGES);
    for (size_t i = 0; i < res->n_hugepages; i++) {
        if (!valid_page_size(res->hugepages[i].page_size))
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "hugepage size '%s' is invalid: expected a size such as \"2MB\"",
                              res->hugepages[i].page_size);
    }
    if (res->n_unified > CGROUP_MAX_UNIFIED)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "%zu unified entries: at most %d are accepted", res->n_unified,
                          CGROUP_MAX_UNIFIED);
    return 0;
}

int cgroup_render(int version, const struct cgroup_resources *res, struct cgroup_writes *out,
                  struct err **err)
{
    const struct cgroup_ops *ops = version == 2 ? &cgroup_v2_ops : &cgroup_v1_ops;

    if (cgroup_check_common(res, err) < 0 || ops->render(res, out, err) < 0) {
        cgroup_writes_done(out);
        return -1;
    }
    return 0;
}

/* ---- files ---- */

int cgroup_write_file(const char *path, const char *value)
{
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    size_t len = strlen(value);
    ssize_t n;

    if (fd < 0)
        return -errno;
    n = write(fd, value, len);
    if (n < 0)
        return -errno;
    return (size_t)n == len ? 0 : -EIO;
}

int cgroup_read_key(const char *path, const char *key, uint64_t *ret, struct err **err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    size_t key_len = strlen(key);
    char line[256];

    if (!f)
        return err_sys(err, "open '%s'", path);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, key_len) == 0 && line[key_len] == ' ') {
            *ret = strtoull(line + key_len + 1, NULL, 10);
            return 0;
        }
    }
    return err_errno(err, ENOENT, "no '%s' in '%s'", key, path);
}

void cgroup_kill_procs(const char *dir)
{
    _cleanup_free_ char *path = xasprintf("%s/cgroup.procs", dir);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    long pid;

    if (!f)
        return;
    while (fscanf(f, "%ld", &pid) == 1) {
        if (pid > 0)
            (void)kill((pid_t)pid, SIGKILL);
    }
}

int cgroup_rmdir_tree(const char *dir, bool kill)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    struct dirent *de;

    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((de = readdir(d))) {
        _cleanup_free_ char *child = NULL;
        int r;

        if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        child = xasprintf("%s/%s", dir, de->d_name);
        r = cgroup_rmdir_tree(child, kill);
        if (r < 0)
            return r;
    }
    if (kill)
        cgroup_kill_procs(dir);
    if (rmdir(dir) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/*
 * A write the kernel rejects with EINVAL or EBUSY is tried again after the
 * others, because some limits depend on each other.  For example v1
 * memory.memsw.limit_in_bytes must stay at or above memory.limit_in_bytes,
 * so raising both needs memsw first and lowering both needs memory first.
 */
int cgroup_write_all(const char *path, const struct cgroup_writes *w,
                     char *(*dir_of)(const char *path, const char *file), struct err **err)
{
    _cleanup_free_ bool *retry = xnew(bool, w->n ? w->n : 1);

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < w->n; i++) {
            const struct cgroup_write *item = &w->items[i];
            _cleanup_free_ char *dir = NULL, *file = NULL;
            int r;

            if (pass == 1 && !retry[i])
                continue;
            dir = dir_of(path, item->file);
            if (!dir) {
                if (item->optional)
                    continue;
                return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                                  "cannot set '%s': its cgroup controller is not mounted",
                                  item->file);
            }
            file = xasprintf("%s/%s", dir, item->file);
            r = cgroup_write_file(file, item->value);
            retry[i] = pass == 0 && (r == -EINVAL || r == -EBUSY);
            if (r == 0 || retry[i] || (r == -ENOENT && item->optional))
                continue;
            err_errno(err, -r, "write '%s' to '%s'", item->value, file);
            /* The kernel rejects a value it cannot apply (a CPU that does not exist). */
            if (r == -EINVAL || r == -ERANGE)
                (*err)->status = GRPC_STATUS_INVALID_ARGUMENT;
            return -1;
        }
    }
    return 0;
}

/* ---- the version in use ---- */

static const struct cgroup_ops *ops_in_use(void)
{
    static const struct cgroup_ops *ops;
    struct statfs sfs;

    if (!ops)
        ops = statfs(CGROUP_MOUNT, &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC
                  ? &cgroup_v2_ops
                  : &cgroup_v1_ops;
    return ops;
}

int cgroup_version(void)
{
    return ops_in_use()->version;
}

static int apply(const char *path, const struct cgroup_resources *res, struct err **err)
{
    const struct cgroup_ops *ops = ops_in_use();
    struct cgroup_writes w = {0};
    int r;

    if (cgroup_render(ops->version, res, &w, err) < 0)
        return -1;
    r = ops->write(path, &w, err);
    cgroup_writes_done(&w);
    return r;
}

int cgroup_create(const char *path, const struct cgroup_resources *res, struct err **err)
{
    const struct cgroup_ops *ops = ops_in_use();
    bool created = false;

    if (ops->create(path, &created, err) < 0)
        return err_wrap(err, "create cgroup '%s'", path);
    if (res && apply(path, res, err) < 0) {
        if (created)
            (void)ops->remove(path, false, NULL);
        return err_wrap(err, "set limits of cgroup '%s'", path);
    }
    return 0;
}

int cgroup_update(const char *path, const struct cgroup_resources *res, struct err **err)
{
    if (apply(path, res, err) < 0)
        return err_wrap(err, "update limits of cgroup '%s'", path);
    return 0;
}

int cgroup_devices_apply(const char *path, const struct cgroup_device_rule *rules, size_t n,
                         struct err **err)
{
    if (ops_in_use()->devices(path, rules, n, err) < 0)
        return err_wrap(err, "set device access of cgroup '%s'", path);
    return 0;
}

char *cgroup_pod_process_path(const char *pod_path)
{
    if (ops_in_use()->version == 2)
        return xasprintf("%s/pause", pod_path);
    return xstrdup(pod_path);
}

int cgroup_clone_fd(const char *path, int *ret_fd, struct err **err)
{
    _cleanup_free_ char *dir = NULL;

    *ret_fd = -1;
    if (!path || ops_in_use()->version != 2)
        return 0;
    dir = xasprintf(CGROUP_MOUNT "%s", path);
    *ret_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*ret_fd < 0)
        return err_sys(err, "open cgroup '%s'", dir);
    return 0;
}

int cgroup_child_join(const char *path, struct err **err)
{
    if (!path || ops_in_use()->version == 2)
        return 0;
    return cgroup_enter(path, 0, err);
}

int cgroup_enter(const char *path, pid_t pid, struct err **err)
{
    return ops_in_use()->enter(path, pid, err);
}

int cgroup_remove(const char *path, bool kill, struct err **err)
{
    return ops_in_use()->remove(path, kill, err);
}

int cgroup_oom_kills(const char *path, uint64_t *ret_count, struct err **err)
{
    return ops_in_use()->oom_kills(path, ret_count, err);
}

/* ---- OOM watch ---- */

struct cgroup_oom_watch {
    struct event *ev;
    int fd;
    char *path;
    uint64_t last_count;
    void (*cb)(void *data);
    void *data;
};

static void on_oom_readable(evutil_socket_t fd, short what, void *arg)
{
    struct cgroup_oom_watch *w = arg;
    int r;

    (void)fd;
    (void)what;
    r = ops_in_use()->oom_read(w->path, w->fd, &w->last_count);
    if (r < 0) {
        /* The cgroup is gone: nothing more will be reported. */
        event_del(w->ev);
        return;
    }
    if (r > 0)
        w->cb(w->data);
}

struct cgroup_oom_watch *cgroup_oom_watch_new(struct event_base *base, const char *path,
                                              void (*cb)(void *data), void *data,
                                              struct err **err)
{
    const struct cgroup_ops *ops = ops_in_use();
    struct cgroup_oom_watch *w;
    uint64_t count = 0;
    int fd;

    if (ops->oom_kills(path, &count, err) < 0 || ops->oom_open(path, &fd, err) < 0)
        return NULL;
    w = xzalloc(sizeof(*w));
    w->fd = fd;
    w->path = xstrdup(path);
    w->last_count = count;
    w->cb = cb;
    w->data = data;
    w->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_oom_readable, w);
    if (!w->ev)
        abort();
    event_add(w->ev, NULL);
    return w;
}

void cgroup_oom_watch_free(struct cgroup_oom_watch *w)
{
    if (!w)
        return;
    event_free(w->ev);
    close(w->fd);
    free(w->path);
    free(w);
}
