/*
 * The parts of a container's confinement that the set-up child applies in
 * its mount namespace: masked and read-only paths (as runc's maskPath and
 * readonlyPath do), device nodes, RLIMIT_NOFILE and the OOM score.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "platform/internal.h"
#include "platform/platform.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* Host /dev subdirectories that hold no devices of their own, or mounts of the container's. */
static const char *const host_dev_skip[] = {"pts", "shm", "mqueue", "fd", "hugepages", NULL};

#define HOST_DEV_MAX_DEPTH 4

/*
 * Hide path: bind /dev/null over a file, a read-only tmpfs over a
 * directory.  A path that does not exist is skipped.
 */
static int mask_path(const char *path, struct err **err)
{
    if (mount("/dev/null", path, NULL, MS_BIND, NULL) == 0 || errno == ENOENT)
        return 0;
    if (errno != ENOTDIR)
        return err_sys(err, "mask '%s'", path);
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL) < 0)
        return err_sys(err, "mask directory '%s'", path);
    return 0;
}

/* Bind path on itself, recursively, read-only.  A path that does not exist is skipped. */
static int readonly_path(const char *path, struct err **err)
{
    struct mount_attr attr;

    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
        if (errno == ENOENT)
            return 0;
        return err_sys(err, "bind '%s' for read-only", path);
    }
    memset(&attr, 0, sizeof(attr));
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (mount_setattr(AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
        return err_sys(err, "make '%s' read-only", path);
    return 0;
}

int security_setup_root(const struct ctr_security *sec, struct err **err)
{
    for (char **p = sec->readonly_paths; p && *p; p++) {
        if ((*p)[0] != '/')
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "read-only path '%s' is not absolute", *p);
        if (readonly_path(*p, err) < 0)
            return -1;
    }
    for (char **p = sec->masked_paths; p && *p; p++) {
        if ((*p)[0] != '/')
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "masked path '%s' is not absolute",
                              *p);
        if (mask_path(*p, err) < 0)
            return -1;
    }
    return 0;
}

/* ---- devices ---- */

/* Create the node name in dirfd like st (type, numbers, mode, owner), replacing a file there. */
static int make_node(int dirfd, const char *name, const struct stat *st, const char *what,
                     struct err **err)
{
    mode_t mode = st->st_mode & (S_IFMT | 07777);

    if (mknodat(dirfd, name, mode, st->st_rdev) < 0) {
        if (errno != EEXIST)
            return err_sys(err, "create device node '%s'", what);
        if (unlinkat(dirfd, name, 0) < 0 || mknodat(dirfd, name, mode, st->st_rdev) < 0)
            return err_sys(err, "replace '%s' with a device node", what);
    }
    if (fchownat(dirfd, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        return err_sys(err, "set the owner of device node '%s'", what);
    return 0;
}

static int create_device(int rootfd, const struct ctr_device *d, struct err **err)
{
    _cleanup_free_ char *parent_path = NULL;
    _cleanup_close_ int parent = -EBADF, dirfd = -EBADF;
    const char *base;
    struct stat st;

    if (!d->host_path || d->host_path[0] != '/' || !d->container_path ||
        d->container_path[0] != '/')
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "device host path '%s' and container path '%s' must be absolute",
                          d->host_path ? d->host_path : "",
                          d->container_path ? d->container_path : "");
    if (stat(d->host_path, &st) < 0)
        return err_sys(err, "device '%s'", d->host_path);
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "device '%s' is not a character or block device", d->host_path);

    base = strrchr(d->container_path, '/');
    parent_path = xstrndup(d->container_path, (size_t)(base - d->container_path));
    if (!base[1])
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "device container path '%s' ends in '/'", d->container_path);
    parent = mkdir_in_root(rootfd, parent_path[0] ? parent_path : "/", err);
    if (parent < 0)
        return -1;
    /* O_PATH fds cannot create nodes; reopen the resolved directory. */
    dirfd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return err_sys(err, "open directory '%s' in the container", parent_path);
    return make_node(dirfd, base + 1, &st, d->container_path, err);
}

static bool skip_host_dev(const char *name, int depth)
{
    if (name[0] == '.')
        return true;
    for (size_t i = 0; depth == 0 && host_dev_skip[i]; i++) {
        if (strcmp(name, host_dev_skip[i]) == 0)
            return true;
    }
    return false;
}

/* Copy every device node under the host directory host_dir into the container's dir_fd. */
static int copy_host_devices(const char *host_dir, int dir_fd, int depth, struct err **err)
{
    _cleanup_closedir_ DIR *d = opendir(host_dir);
    struct dirent *de;

    if (!d)
        return err_sys(err, "open host directory '%s'", host_dir);
    while ((de = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (skip_host_dev(de->d_name, depth))
            continue;
        path = xasprintf("%s/%s", host_dir, de->d_name);
        if (lstat(path, &st) < 0)
            continue; /* gone meanwhile */
        if (S_ISDIR(st.st_mode) && depth < HOST_DEV_MAX_DEPTH) {
            _cleanup_close_ int sub = -EBADF;

            if (mkdirat(dir_fd, de->d_name, st.st_mode & 07777) < 0 && errno != EEXIST)
                return err_sys(err, "create directory '%s' in the container", path);
            sub = openat(dir_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                return err_sys(err, "open directory '%s' in the container", path);
            if (copy_host_devices(path, sub, depth + 1, err) < 0)
                return -1;
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
            struct stat existing;

            /* /dev/null and the like are already bound from the host. */
            if (fstatat(dir_fd, de->d_name, &existing, AT_SYMLINK_NOFOLLOW) == 0)
                continue;
            if (make_node(dir_fd, de->d_name, &st, path, err) < 0)
                return -1;
        }
    }
    return 0;
}

int security_create_devices(int rootfd, const struct ctr_security *sec, struct err **err)
{
    if (sec->privileged) {
        _cleanup_close_ int devfd = open_in_root(rootfd, "/dev", O_RDONLY | O_DIRECTORY);

        if (devfd < 0)
            return err_sys(err, "open '/dev' in the container");
        if (copy_host_devices("/dev", devfd, 0, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < sec->n_devices; i++) {
        if (create_device(rootfd, &sec->devices[i], err) < 0)
            return -1;
    }
    return 0;
}

/* ---- limits ---- */

int security_set_limits(const struct ctr_security *sec, struct err **err)
{
    if (sec->rlimit_nofile) {
        struct rlimit rl = {.rlim_cur = sec->rlimit_nofile, .rlim_max = sec->rlimit_nofile};

        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return err_sys(err, "set RLIMIT_NOFILE to %llu",
                           (unsigned long long)sec->rlimit_nofile);
    }
    if (sec->set_oom_score_adj) {
        _cleanup_close_ int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        char buf[16];
        int len = snprintf(buf, sizeof(buf), "%d", sec->oom_score_adj);

        if (fd < 0)
            return err_sys(err, "open '/proc/self/oom_score_adj'");
        /* The caller clamps to what crispd may set; EPERM and EACCES remain tolerated here. */
        if (write(fd, buf, (size_t)len) != len && errno != EPERM && errno != EACCES)
            return err_sys(err, "set oom_score_adj to %d", sec->oom_score_adj);
    }
    return 0;
}
