#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <ftw.h>

#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

int mkdir_p(const char *path, mode_t mode, struct err **err)
{
    _cleanup_free_ char *copy = xstrdup(path);
    struct stat st;

    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return err_sys(err, "mkdir '%s'", copy);
        *p = '/';
    }
    if (mkdir(copy, mode) < 0) {
        if (errno != EEXIST)
            return err_sys(err, "mkdir '%s'", copy);
        if (stat(copy, &st) < 0)
            return err_sys(err, "stat '%s'", copy);
        if (!S_ISDIR(st.st_mode))
            return err_errno(err, ENOTDIR, "mkdir '%s'", copy);
    }
    return 0;
}

static int fsync_parent(const char *path)
{
    _cleanup_free_ char *copy = xstrdup(path);
    _cleanup_close_ int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return -1;
    return fsync(fd);
}

int write_full(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err **err)
{
    _cleanup_free_ char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
    _cleanup_close_ int fd = -EBADF;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return err_sys(err, "create '%s'", tmp);
    if (write_full(fd, data, len) < 0) {
        err_sys(err, "write '%s'", tmp);
        unlink(tmp);
        return -1;
    }
    if (fsync(fd) < 0) {
        err_sys(err, "fsync '%s'", tmp);
        unlink(tmp);
        return -1;
    }
    if (rename(tmp, path) < 0) {
        err_sys(err, "rename '%s' to '%s'", tmp, path);
        unlink(tmp);
        return -1;
    }
    if (fsync_parent(path) < 0)
        return err_sys(err, "fsync directory of '%s'", path);
    return 0;
}

int read_file(const char *path, size_t max_size, char **ret_data, size_t *ret_len, struct err **err)
{
    /* O_NONBLOCK: opening a FIFO must not block until a writer comes. */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    _cleanup_free_ char *buf = NULL;
    size_t len = 0, cap = 0;
    struct stat st;

    if (fd < 0)
        return err_sys(err, "open '%s'", path);
    if (fstat(fd, &st) < 0)
        return err_sys(err, "stat '%s'", path);
    if (!S_ISREG(st.st_mode))
        return err_errno(err, EINVAL, "read '%s': not a regular file", path);

    for (;;) {
        ssize_t n;

        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = xrealloc(buf, cap + 1);
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_sys(err, "read '%s'", path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max_size)
            return err_errno(err, EFBIG, "read '%s': larger than %zu bytes", path, max_size);
    }
    if (!buf)
        buf = xmalloc(1);
    buf[len] = '\0';
    *ret_data = TAKE_PTR(buf);
    if (ret_len)
        *ret_len = len;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_rf(const char *path, struct err **err)
{
    struct stat st;

    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        return err_sys(err, "stat '%s'", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return err_sys(err, "unlink '%s'", path);
        return 0;
    }
    if (nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
        return err_sys(err, "remove '%s'", path);
    return 0;
}

char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a);

    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    if (la == 1 && a[0] == '/')
        return xasprintf("/%s", b);
    return xasprintf("%.*s/%s", (int)la, a, b);
}
