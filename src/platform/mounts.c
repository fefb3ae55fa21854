/*
 * The container's root file system, built by its set-up child inside its
 * own mount namespace: the image layers as overlayfs, /proc, /dev, /sys,
 * the requested bind mounts, then pivot_root.  Paths inside the rootfs are
 * resolved with openat2(RESOLVE_IN_ROOT), so a symlink in the image cannot
 * point a mount outside it, and mounts are attached to those fds with the
 * new mount API (Linux 5.2; "lowerdir+" for overlayfs needs Linux 6.8).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/openat2.h>

#include "platform/internal.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MOUNT_ATTR_SAFE (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

/* Resolve path (absolute or not) inside the tree at rootfd; "/" and ".." stop at rootfd. */
int open_in_root(int rootfd, const char *path, uint64_t flags)
{
    struct open_how how;
    int fd;

    memset(&how, 0, sizeof(how));
    how.flags = flags | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    while (*path == '/')
        path++;
    if (!*path)
        path = ".";
    do {
        fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
    } while (fd < 0 && errno == EAGAIN);
    return fd;
}

/* Create the directory path and its missing parents inside rootfd; return an O_PATH fd to it. */
int mkdir_in_root(int rootfd, const char *path, struct err **err)
{
    _cleanup_free_ char *copy = xstrdup(path);
    char *p = copy;

    for (;;) {
        char *slash = strchr(p + (*p == '/'), '/');
        _cleanup_close_ int parent = -EBADF;
        char saved = 0;
        int fd;

        if (slash) {
            saved = *slash;
            *slash = '\0';
        }
        fd = open_in_root(rootfd, copy, O_PATH | O_DIRECTORY);
        if (fd < 0 && errno == ENOENT) {
            char *base = strrchr(copy, '/');

            *base = '\0';
            parent = open_in_root(rootfd, copy, O_PATH | O_DIRECTORY);
            *base = '/';
            if (parent < 0 || (mkdirat(parent, base + 1, 0755) < 0 && errno != EEXIST))
                return err_sys(err, "create directory '%s' in the container", copy);
            fd = open_in_root(rootfd, copy, O_PATH | O_DIRECTORY);
        }
        if (fd < 0)
            return err_sys(err, "open directory '%s' in the container", copy);
        if (!slash)
            return fd;
        close(fd);
        *slash = saved;
        p = slash + 1;
        while (*p == '/')
            p++;
        if (!*p)
            return open_in_root(rootfd, copy, O_PATH | O_DIRECTORY);
    }
}

/* Open path inside rootfd as a mount point, creating it (a directory or an empty file) when missing. */
static int make_mount_point(int rootfd, const char *path, bool dir, struct err **err)
{
    _cleanup_free_ char *parent_path = NULL;
    _cleanup_close_ int parent = -EBADF;
    const char *base;
    int fd;

    if (dir)
        return mkdir_in_root(rootfd, path, err);

    fd = open_in_root(rootfd, path, O_PATH);
    if (fd >= 0 || errno != ENOENT) {
        if (fd < 0)
            return err_sys(err, "open mount point '%s' in the container", path);
        return fd;
    }

    base = strrchr(path, '/');
    parent_path = base ? xstrndup(path, (size_t)(base - path)) : xstrdup(".");
    base = base ? base + 1 : path;
    parent = mkdir_in_root(rootfd, parent_path[0] ? parent_path : "/", err);
    if (parent < 0)
        return -1;
    /* O_PATH fds cannot create files; reopen the resolved directory for real. */
    {
        _cleanup_close_ int dirfd = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int created;

        if (dirfd < 0)
            return err_sys(err, "open directory '%s' in the container", parent_path);
        created = openat(dirfd, base, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (created < 0)
            return err_sys(err, "create mount point '%s' in the container", path);
        close(created);
    }
    fd = open_in_root(rootfd, path, O_PATH);
    if (fd < 0)
        return err_sys(err, "open mount point '%s' in the container", path);
    return fd;
}

static int attach_mount(int mntfd, int targetfd, const char *what, struct err **err)
{
    if (move_mount(mntfd, "", targetfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return err_sys(err, "attach %s", what);
    return 0;
}

/* Add the file system's own error text, when it logged one, to *err; return -1. */
static int add_fs_log(int fsfd, struct err **err)
{
    char log[512];
    ssize_t n = read(fsfd, log, sizeof(log) - 1);

    if (n > 0 && err && *err) {
        char *msg;

        log[n] = '\0';
        log[strcspn(log, "\n")] = '\0';
        msg = xasprintf("%s (%s)", (*err)->msg, log);
        free((*err)->msg);
        (*err)->msg = msg;
    }
    return -1;
}

/*
 * Mount a new file system of type fstype on targetfd.  options holds
 * "key=value" strings and bare flags ("newinstance"); attrs are MOUNT_ATTR_* bits.
 */
static int mount_fs(int targetfd, const char *fstype, const char *const *options,
                    unsigned int attrs, const char *what, struct err **err)
{
    _cleanup_close_ int fsfd = fsopen(fstype, FSOPEN_CLOEXEC);
    _cleanup_close_ int mntfd = -EBADF;

    if (fsfd < 0)
        return err_sys(err, "open %s file system for %s", fstype, what);
    for (; options && *options; options++) {
        _cleanup_free_ char *key = xstrdup(*options);
        char *value = strchr(key, '=');
        int r;

        if (value) {
            *value++ = '\0';
            r = fsconfig(fsfd, FSCONFIG_SET_STRING, key, value, 0);
        } else {
            r = fsconfig(fsfd, FSCONFIG_SET_FLAG, key, NULL, 0);
        }
        if (r < 0) {
            err_sys(err, "set option '%s' of %s", *options, what);
            return add_fs_log(fsfd, err);
        }
    }
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        err_sys(err, "create %s", what);
        return add_fs_log(fsfd, err);
    }
    mntfd = fsmount(fsfd, FSMOUNT_CLOEXEC, attrs);
    if (mntfd < 0)
        return err_sys(err, "make mount of %s", what);
    return attach_mount(mntfd, targetfd, what, err);
}

/*
 * Idmap the detached mount mntfd (and the mounts under it) with the user
 * namespace userns_fd: a file owned by host ID n shows as owned by the
 * host ID that container ID n maps to (Linux 5.12).
 */
static int idmap_mount(int mntfd, int userns_fd, const char *src, struct err **err)
{
    struct mount_attr attr;

    memset(&attr, 0, sizeof(attr));
    attr.attr_set = MOUNT_ATTR_IDMAP;
    attr.userns_fd = (uint64_t)userns_fd;
    if (mount_setattr(mntfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
        return err_sys(err, "idmap mount of '%s' with the pod's user namespace", src);
    return 0;
}

/*
 * Bind the host path src (recursively) on targetfd, read-only and with
 * propagation if asked, idmapped with the user namespace idmap_fd unless -1.
 */
static int bind_mount(const char *src, int targetfd, bool readonly, uint64_t propagation,
                      int idmap_fd, const char *what, struct err **err)
{
    _cleanup_close_ int mntfd = open_tree(AT_FDCWD, src,
                                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    struct mount_attr attr;

    if (mntfd < 0)
        return err_sys(err, "open bind mount source '%s'", src);
    if (idmap_fd >= 0 && idmap_mount(mntfd, idmap_fd, src, err) < 0)
        return -1;
    memset(&attr, 0, sizeof(attr));
    if (readonly)
        attr.attr_set = MOUNT_ATTR_RDONLY;
    attr.propagation = propagation;
    if ((readonly || propagation) &&
        mount_setattr(mntfd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0)
        return err_sys(err, "set attributes of bind mount '%s'", src);
    return attach_mount(mntfd, targetfd, what, err);
}

/* ---- overlay ---- */

/*
 * For a container in a user namespace: idmap every image layer with it,
 * so that files owned by root in the image show as owned by the
 * container's root, and give the writable layer to the container's root,
 * so that the files the container creates belong to its mapped host IDs.
 * Overlayfs accepts idmapped lower layers since Linux 5.19 but cannot be
 * idmapped itself.  Returns the layers as "/proc/self/fd/N" paths of the
 * detached mounts, whose fds stay open (close-on-exec) until execve.
 */
static char **idmap_layers(const struct ctr_spec *spec, int userns_fd, const char *upper,
                           const char *work, struct err **err)
{
    const struct userns_spec *u = spec->userns;
    int64_t root_uid = u ? id_map_to_host(u->uids, u->n_uids, 0) : -1;
    int64_t root_gid = u ? id_map_to_host(u->gids, u->n_gids, 0) : -1;
    size_t n = 0;
    char **paths;

    if (root_uid >= 0 && root_gid >= 0 &&
        (chown(upper, (uid_t)root_uid, (gid_t)root_gid) < 0 ||
         chown(work, (uid_t)root_uid, (gid_t)root_gid) < 0)) {
        err_sys(err, "give '%s' to the container's root", upper);
        return NULL;
    }
    while (spec->lowerdirs[n])
        n++;
    paths = xcalloc(n + 1, sizeof(*paths));
    for (size_t i = 0; i < n; i++) {
        int fd = open_tree(AT_FDCWD, spec->lowerdirs[i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);

        if (fd < 0 || idmap_mount(fd, userns_fd, spec->lowerdirs[i], err) < 0) {
            if (fd < 0)
                err_sys(err, "open image layer '%s'", spec->lowerdirs[i]);
            else
                close(fd);
            strv_free(paths);
            return NULL;
        }
        paths[i] = xasprintf("/proc/self/fd/%d", fd);
    }
    return paths;
}


/*
 * Whether overlayfs parses its options through the VFS's legacy mount
 * context (before Linux 6.5).  That context accepts any key in fsconfig()
 * and only the mount rejects an unknown one, so "lowerdir+" cannot be
 * probed by setting it: an unknown key that fsconfig() accepts shows the
 * legacy context.  Probed once.
 */
static bool overlay_options_legacy(void)
{
    static int legacy = -1;

    if (legacy < 0) {
        _cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);

        legacy = fsfd >= 0 && fsconfig(fsfd, FSCONFIG_SET_FLAG, "crisp-probe", NULL, 0) == 0;
    }
    return legacy;
}

/*
 * Mount the image layers as overlayfs on bundle_dir/rootfs.  Each layer is
 * one "lowerdir+" value (topmost first, Linux 6.8), which avoids the
 * page-size limit of the "lowerdir=a:b:c" option string: with hundreds of
 * layers that string exceeds the 4095 bytes mount(2) takes.  Older kernels
 * (Linux 6.5 to 6.7 reject "lowerdir+", before 6.5 the legacy options are
 * probed) get the joined string, which fails for too many layers with an
 * error that says so.
 */
static int mount_overlay(const struct ctr_spec *spec, int targetfd, int userns_fd,
                         struct err **err)
{
    _cleanup_free_ char *upper = path_join(spec->bundle_dir, "upper");
    _cleanup_free_ char *work = path_join(spec->bundle_dir, "work");
    _cleanup_close_ int fsfd = -EBADF, mntfd = -EBADF;
    _cleanup_strv_free_ char **idmapped = NULL;
    struct strbuf joined = STRBUF_INIT;
    char **lowerdirs = spec->lowerdirs;
    bool plus = !overlay_options_legacy();
    int r = 0;

    if (!spec->lowerdirs || !spec->lowerdirs[0])
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "image has no layers to mount");
    if (mkdir_p(upper, 0755, err) < 0 || mkdir_p(work, 0700, err) < 0)
        return -1;
    if (userns_fd >= 0) {
        idmapped = idmap_layers(spec, userns_fd, upper, work, err);
        if (!idmapped)
            return -1;
        lowerdirs = idmapped;
    }

    fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return err_sys(err, "open overlay file system");
    for (char **l = lowerdirs; *l && plus; l++) {
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", *l, 0) == 0)
            continue;
        if (errno != EINVAL || l != lowerdirs) {
            err_sys(err, "add overlay layer '%s'", *l);
            return add_fs_log(fsfd, err);
        }
        plus = false;
    }
    if (!plus) {
        for (char **l = lowerdirs; *l; l++) {
            if (joined.len)
                strbuf_add(&joined, ":", 1);
            strbuf_append(&joined, *l);
        }
        if (joined.len >= (size_t)sysconf(_SC_PAGESIZE) - 1) {
            r = err_status(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "overlay lowerdir option for %zu bytes of layer paths exceeds the page "
                           "size; this kernel does not support \"lowerdir+\" (Linux 6.8)",
                           joined.len);
        } else if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir", joined.buf, 0) < 0) {
            err_sys(err, "set overlay lowerdir of %zu bytes", joined.len);
            r = add_fs_log(fsfd, err);
        }
        strbuf_done(&joined);
        if (r < 0)
            return -1;
    }
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0) {
        err_sys(err, "set overlay upperdir '%s'", upper);
        return add_fs_log(fsfd, err);
    }
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", work, 0) < 0) {
        err_sys(err, "set overlay workdir '%s'", work);
        return add_fs_log(fsfd, err);
    }
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        err_sys(err, "mount overlay on '%s/rootfs'", spec->bundle_dir);
        return add_fs_log(fsfd, err);
    }
    /*
     * nodev: a device node shipped in an image layer must not open the
     * host's device; /dev is a mount of its own with the nodes crisp puts
     * there.  runc gets the same from the device cgroup.
     */
    mntfd = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV);
    if (mntfd < 0)
        return err_sys(err, "make overlay mount for '%s/rootfs'", spec->bundle_dir);
    return attach_mount(mntfd, targetfd, "overlay rootfs", err);
}

/* ---- /proc, /dev, /sys ---- */

static int mount_proc(int rootfd, struct err **err)
{
    _cleanup_close_ int target = mkdir_in_root(rootfd, "/proc", err);

    if (target < 0)
        return -1;
    return mount_fs(target, "proc", NULL, MOUNT_ATTR_SAFE, "proc on '/proc'", err);
}

/*
 * Mount sysfs, read-only unless the container is privileged.  sysfs shows
 * the network devices of the mounting process's network namespace and
 * refuses a namespace whose user namespace the caller does not own (EPERM);
 * then the host's /sys is bound instead.
 */
static int mount_sys(int rootfd, bool readonly, struct err **err)
{
    _cleanup_close_ int target = mkdir_in_root(rootfd, "/sys", err);
    unsigned int attrs = MOUNT_ATTR_SAFE | (readonly ? MOUNT_ATTR_RDONLY : 0);
    struct err *sysfs_err = NULL;

    if (target < 0)
        return -1;
    if (mount_fs(target, "sysfs", NULL, attrs, "sysfs on '/sys'", &sysfs_err) == 0)
        return 0;
    if (sysfs_err->errnum != EPERM)
        return err_move(err, &sysfs_err);
    err_free(sysfs_err);
    return bind_mount("/sys", target, readonly, 0, -1, "host '/sys' on '/sys'", err);
}

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static const struct {
    const char *name;
    const char *target;
} dev_links[] = {
    {"ptmx", "pts/ptmx"},        {"fd", "/proc/self/fd"},         {"stdin", "/proc/self/fd/0"},
    {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
};

static int mount_dev_fs(int devfd, const char *name, const char *fstype,
                        const char *const *options, unsigned int attrs, struct err **err)
{
    _cleanup_free_ char *what = xasprintf("%s on '/dev/%s'", fstype, name);
    _cleanup_close_ int target = -EBADF;

    if (mkdirat(devfd, name, 0755) < 0 && errno != EEXIST)
        return err_sys(err, "create directory '/dev/%s'", name);
    target = openat(devfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (target < 0)
        return err_sys(err, "open directory '/dev/%s'", name);
    return mount_fs(target, fstype, options, attrs, what, err);
}

/* Whether the request mounts something on path; it then replaces crisp's default mount there. */
static bool spec_mounts_on(const struct ctr_spec *spec, const char *path)
{
    for (size_t i = 0; i < spec->n_mounts; i++) {
        if (spec->mounts[i].container_path && strcmp(spec->mounts[i].container_path, path) == 0)
            return true;
    }
    return false;
}

static int populate_dev(int devfd, const struct ctr_spec *spec, struct err **err)
{
    static const char *const pts_opts[] = {"newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
                                           NULL};
    static const char *const shm_opts[] = {"mode=1777", "size=65536k", NULL};

    for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
        _cleanup_free_ char *host = xasprintf("/dev/%s", dev_nodes[i]);
        _cleanup_close_ int target = -EBADF;
        int fd = openat(devfd, dev_nodes[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);

        if (fd < 0)
            return err_sys(err, "create mount point '%s' in the container", host);
        close(fd);
        target = openat(devfd, dev_nodes[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (target < 0)
            return err_sys(err, "open mount point '%s' in the container", host);
        if (bind_mount(host, target, false, 0, -1, host, err) < 0)
            return -1;
    }

    if (mount_dev_fs(devfd, "pts", "devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                     err) < 0 ||
        (!spec_mounts_on(spec, "/dev/shm") &&
         mount_dev_fs(devfd, "shm", "tmpfs", shm_opts, MOUNT_ATTR_SAFE, err) < 0) ||
        mount_dev_fs(devfd, "mqueue", "mqueue", NULL, MOUNT_ATTR_SAFE, err) < 0)
        return -1;

    for (size_t i = 0; i < ARRAY_SIZE(dev_links); i++) {
        if (symlinkat(dev_links[i].target, devfd, dev_links[i].name) < 0)
            return err_sys(err, "create symlink '/dev/%s'", dev_links[i].name);
    }
    return 0;
}

static int mount_dev(int rootfd, const struct ctr_spec *spec, struct err **err)
{
    static const char *const opts[] = {"mode=755", "size=65536k", NULL};
    _cleanup_close_ int target = mkdir_in_root(rootfd, "/dev", err);
    _cleanup_close_ int devfd = -EBADF;

    if (target < 0)
        return -1;
    if (mount_fs(target, "tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_STRICTATIME,
                 "tmpfs on '/dev'", err) < 0)
        return -1;
    /* Reopen: the fd of the mount point still shows the directory under the new mount. */
    devfd = open_in_root(rootfd, "/dev", O_RDONLY | O_DIRECTORY);
    if (devfd < 0)
        return err_sys(err, "open '/dev' in the container");
    return populate_dev(devfd, spec, err);
}

/* ---- requested mounts ---- */

static uint64_t propagation_flag(enum mount_propagation p)
{
    switch (p) {
    case MOUNT_PROPAGATION_RSLAVE:
        return MS_SLAVE;
    case MOUNT_PROPAGATION_RSHARED:
        return MS_SHARED;
    case MOUNT_PROPAGATION_PRIVATE:
        break;
    }
    return MS_PRIVATE;
}

static int mount_requested(int rootfd, const struct ctr_mount *m, int userns_fd,
                           struct err **err)
{
    _cleanup_close_ int target = -EBADF;
    _cleanup_free_ char *what = NULL;
    struct stat st;

    if (!m->host_path || m->host_path[0] != '/')
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "bind mount host path '%s' is not absolute",
                          m->host_path ? m->host_path : "");
    if (!m->container_path || m->container_path[0] != '/')
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "bind mount container path '%s' is not absolute",
                          m->container_path ? m->container_path : "");
    if (stat(m->host_path, &st) < 0)
        return err_sys(err, "bind mount host path '%s'", m->host_path);

    target = make_mount_point(rootfd, m->container_path, S_ISDIR(st.st_mode), err);
    if (target < 0)
        return -1;
    what = xasprintf("bind mount '%s' on '%s'", m->host_path, m->container_path);
    return bind_mount(m->host_path, target, m->readonly, propagation_flag(m->propagation),
                      userns_fd, what, err);
}

/* Write the pod's host name to bundle_dir/hostname and bind it on /etc/hostname. */
static int mount_hostname(int rootfd, const struct ctr_spec *spec, int userns_fd,
                          struct err **err)
{
    _cleanup_free_ char *path = path_join(spec->bundle_dir, "hostname");
    _cleanup_free_ char *text = xasprintf("%s\n", spec->hostname);
    _cleanup_close_ int target = -EBADF;

    if (write_file_atomic(path, text, strlen(text), 0644, err) < 0)
        return -1;
    target = make_mount_point(rootfd, "/etc/hostname", false, err);
    if (target < 0)
        return -1;
    return bind_mount(path, target, false, 0, userns_fd, "bind mount on '/etc/hostname'", err);
}

/* ---- the whole root ---- */

/*
 * Stop mount events from leaking out: rprivate, or rslave when a mount asks
 * for propagation so the host's new mounts still reach it.
 * NOTE: an RSHARED bind is shared only inside the container (it also
 * receives the host's mounts); mounts made in the container do not reach
 * the host because the host's side is never made a peer.
 */
static int isolate_mounts(const struct ctr_spec *spec, struct err **err)
{
    unsigned long flags = MS_REC | MS_PRIVATE;

    for (size_t i = 0; i < spec->n_mounts; i++) {
        if (spec->mounts[i].propagation != MOUNT_PROPAGATION_PRIVATE)
            flags = MS_REC | MS_SLAVE;
    }
    if (mount(NULL, "/", NULL, flags, NULL) < 0)
        return err_sys(err, "make '/' %s", flags & MS_SLAVE ? "rslave" : "rprivate");
    return 0;
}

static int enter_root(int rootfd, const struct ctr_spec *spec, struct err **err)
{
    if (fchdir(rootfd) < 0)
        return err_sys(err, "change directory to '%s/rootfs'", spec->bundle_dir);
    /* pivot_root(".", ".") stacks the old root on the new one; detaching "." then drops it. */
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return err_sys(err, "pivot_root to '%s/rootfs'", spec->bundle_dir);
    if (umount2(".", MNT_DETACH) < 0)
        return err_sys(err, "detach the old root");
    if (chdir("/") < 0)
        return err_sys(err, "change directory to '/'");
    if (spec->security && security_setup_root(spec->security, err) < 0)
        return -1;
    if (spec->readonly_rootfs) {
        struct mount_attr attr;

        memset(&attr, 0, sizeof(attr));
        attr.attr_set = MOUNT_ATTR_RDONLY;
        if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof(attr)) < 0)
            return err_sys(err, "make the root file system read-only");
    }
    return 0;
}

int rootfs_setup(const struct ctr_spec *spec, int userns_fd, struct err **err)
{
    _cleanup_free_ char *rootfs = path_join(spec->bundle_dir, "rootfs");
    _cleanup_close_ int target = -EBADF, rootfd = -EBADF;

    if (isolate_mounts(spec, err) < 0 || mkdir_p(rootfs, 0755, err) < 0)
        return -1;
    target = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (target < 0)
        return err_sys(err, "open '%s'", rootfs);
    if (mount_overlay(spec, target, userns_fd, err) < 0)
        return -1;
    rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return err_sys(err, "open '%s'", rootfs);

    if (mount_proc(rootfd, err) < 0 || mount_dev(rootfd, spec, err) < 0 ||
        mount_sys(rootfd, !(spec->security && spec->security->privileged), err) < 0)
        return -1;
    if (spec->security && security_create_devices(rootfd, spec->security, err) < 0)
        return -1;
    for (size_t i = 0; i < spec->n_mounts; i++) {
        if (mount_requested(rootfd, &spec->mounts[i], userns_fd, err) < 0)
            return -1;
    }
    if (spec->hostname && spec->hostname[0] && !spec_mounts_on(spec, "/etc/hostname") &&
        mount_hostname(rootfd, spec, userns_fd, err) < 0)
        return -1;
    return enter_root(rootfd, spec, err);
}

/* ---- clean-up on the host ---- */

/* Decode the octal escapes (\040 for a space) of a mountinfo path in place. */
static void unescape_mountinfo(char *s)
{
    char *out = s;

    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
            s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 4;
        } else {
            *out++ = *s++;
        }
    }
    *out = '\0';
}

/* Mount points at or under dir in the caller's mount namespace, in mountinfo order. */
static char **mounts_under(const char *dir, size_t *ret_n, struct err **err)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    _cleanup_free_ char *line = NULL;
    size_t cap = 0, n = 0, dlen = strlen(dir);
    char **list = xnew(char *, 1);

    if (!f) {
        free(list);
        err_sys(err, "open '/proc/self/mountinfo'");
        return NULL;
    }
    while (getline(&line, &cap, f) > 0) {
        char *target;

        /* Fields: id parent major:minor root mount-point ... */
        if (sscanf(line, "%*s %*s %*s %*s %ms", &target) != 1)
            continue;
        unescape_mountinfo(target);
        if (strncmp(target, dir, dlen) == 0 && (target[dlen] == '\0' || target[dlen] == '/')) {
            list = xrealloc(list, (n + 2) * sizeof(*list));
            list[n++] = target;
        } else {
            free(target);
        }
    }
    list[n] = NULL;
    *ret_n = n;
    return list;
}

int unmount_under(const char *dir, struct err **err)
{
    _cleanup_strv_free_ char **list = NULL;
    size_t n = 0;

    list = mounts_under(dir, &n, err);
    if (!list)
        return -1;
    /* Later entries were mounted later, on top of or under earlier ones: undo them first. */
    while (n-- > 0) {
        if (umount2(list[n], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
            return err_sys(err, "unmount '%s'", list[n]);
    }
    return 0;
}
