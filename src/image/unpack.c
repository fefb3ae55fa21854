/*
 * Layer unpacking: each layer is extracted on its own into an empty
 * directory (overlayfs stacks the layers later), in a child process so that
 * the reactor never waits on decompression or on writing the extracted
 * files.  Whiteouts
 * become overlayfs whiteouts (Documentation/filesystems/overlayfs.rst,
 * "whiteouts and opaque directories"); the OCI whiteout names are those of
 * image-spec layer.md.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "image/archive-shim.h"
#include "image/internal.h"
#include "image/unpack.h"
#include "platform/platform.h"
#include "platform/proc.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/id.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE_NAME ".wh..wh..opq"
#define OVERLAY_XATTR_PREFIX "trusted.overlay."
#define READ_BLOCK_SIZE (128 * 1024)
/* An error message from the child fits in one pipe write, which is then atomic. */
#define CHILD_MESSAGE_MAX 4000

int tar_path_clean(const char *name, char **ret, struct err **err)
{
    struct strbuf b = STRBUF_INIT;
    const char *p = name;

    if (!name || name[0] == '\0')
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "layer entry with an empty name");
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);

        if (len == 2 && p[0] == '.' && p[1] == '.') {
            strbuf_done(&b);
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "layer entry '%s': a '..' component is not allowed", name);
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (b.len > 0)
                strbuf_add(&b, "/", 1);
            strbuf_add(&b, p, len);
        }
        p += len;
        if (*p == '/')
            p++;
    }
    *ret = strbuf_take(&b);
    return 0;
}

enum whiteout_kind whiteout_parse(const char *path, char **ret_dir, char **ret_name)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const char *name;

    *ret_dir = NULL;
    *ret_name = NULL;
    if (strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) != 0)
        return WHITEOUT_NONE;
    if (strcmp(base, WHITEOUT_OPAQUE_NAME) == 0) {
        *ret_dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
        return WHITEOUT_OPAQUE;
    }
    name = base + strlen(WHITEOUT_PREFIX);
    /* ".wh." alone, ".wh.." and ".wh..." would delete nothing or the directory itself. */
    if (strncmp(base, WHITEOUT_META_PREFIX, strlen(WHITEOUT_META_PREFIX)) == 0 ||
        name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return WHITEOUT_META;
    *ret_dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
    *ret_name = xstrdup(name);
    return WHITEOUT_FILE;
}

DEFINE_CLEANUP_FUNC(struct archive *, archive_read_free)
DEFINE_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free)

static void archive_write_freep(struct archive **a)
{
    if (*a)
        archive_write_free(*a);
}

/*
 * Open the directory at path beneath root_fd one component at a time,
 * creating missing ones when create is set, and never following a symlink.
 */
static int open_dir_beneath(int root_fd, const char *path, bool create, struct err **err)
{
    int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);

    if (fd < 0)
        return err_sys(err, "dup directory fd");
    for (const char *c = path; *c;) {
        const char *slash = strchr(c, '/');
        _cleanup_free_ char *name = slash ? xstrndup(c, (size_t)(slash - c)) : xstrdup(c);
        int next;

        c = slash ? slash + 1 : c + strlen(c);
        if (create && mkdirat(fd, name, 0755) < 0 && errno != EEXIST) {
            err_sys(err, "mkdir '%s'", path);
            close(fd);
            return -1;
        }
        next = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(fd);
        /* The layer made this component a symlink or a file: its fault, not ours. */
        if (next < 0 && (errno == ELOOP || errno == ENOTDIR))
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "'%s' is a symlink or not a directory, and is not followed", path);
        if (next < 0)
            return err_sys(err, "open directory '%s' without following symlinks", path);
        fd = next;
    }
    return fd;
}

static int apply_whiteout(int root_fd, struct archive_entry *e, enum whiteout_kind kind,
                          const char *dir, const char *name, struct err **err)
{
    _cleanup_close_ int fd = open_dir_beneath(root_fd, dir, true, err);

    if (fd < 0)
        return -1;
    if (kind == WHITEOUT_OPAQUE) {
        if (fsetxattr(fd, OVERLAY_XATTR_PREFIX "opaque", "y", 1, 0) < 0)
            return err_sys(err, "set opaque xattr on '%s'", dir[0] ? dir : "/");
        return 0;
    }
    if (mknodat(fd, name, S_IFCHR, makedev(0, 0)) < 0)
        return err_sys(err, "create whiteout '%s' in '%s'", name, dir[0] ? dir : "/");
    if (fchownat(fd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e),
                 AT_SYMLINK_NOFOLLOW) < 0)
        return err_sys(err, "chown whiteout '%s' in '%s'", name, dir[0] ? dir : "/");
    return 0;
}

/* Drop overlayfs xattrs from an entry: a layer must not steer the overlay (redirects, metacopy). */
static void drop_overlay_xattrs(struct archive_entry *e)
{
    struct {
        char *name;
        void *value;
        size_t size;
    } keep[64];
    size_t n = 0;
    bool dropped = false;
    const char *name;
    const void *value;
    size_t size;

    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        if (strncmp(name, OVERLAY_XATTR_PREFIX, strlen(OVERLAY_XATTR_PREFIX)) == 0) {
            dropped = true;
        } else if (n < ARRAY_SIZE(keep)) {
            keep[n].name = xstrdup(name);
            keep[n].value = xmemdup(value, size ? size : 1);
            keep[n].size = size;
            n++;
        }
    }
    if (dropped) {
        archive_entry_xattr_clear(e);
        for (size_t i = 0; i < n; i++)
            archive_entry_xattr_add_entry(e, keep[i].name, keep[i].value, keep[i].size);
    }
    for (size_t i = 0; i < n; i++) {
        free(keep[i].name);
        free(keep[i].value);
    }
}

/* The layer root itself ("/" or "./"): its owner and mode apply to the directory. */
static int apply_root_entry(int root_fd, struct archive_entry *e, struct err **err)
{
    if (archive_entry_filetype(e) != AE_IFDIR)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "layer entry '%s' names the root but is not a directory",
                          archive_entry_pathname(e));
    if (fchown(root_fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
        return err_sys(err, "chown layer root");
    if (fchmod(root_fd, archive_entry_perm(e) & 07777) < 0)
        return err_sys(err, "chmod layer root");
    return 0;
}

struct layer_stream {
    struct archive *raw; /* the decompressed blob, as one "raw" entry */
    EVP_MD_CTX *sha;
    uint64_t total;
    char buf[READ_BLOCK_SIZE];
};

/* Feed the tar reader the decompressed bytes, hashing them for the diff_id on the way. */
static la_ssize_t layer_stream_read(struct archive *a, void *data, const void **ret_buf)
{
    struct layer_stream *s = data;
    la_ssize_t n = archive_read_data(s->raw, s->buf, sizeof(s->buf));

    if (n < 0) {
        archive_set_error(a, archive_errno(s->raw), "%s", archive_error_string(s->raw));
        return -1;
    }
    s->total += (uint64_t)n;
    if (s->total > LAYER_MAX_BYTES) {
        archive_set_error(a, EFBIG, "uncompressed layer larger than %llu bytes",
                          (unsigned long long)LAYER_MAX_BYTES);
        return -1;
    }
    EVP_DigestUpdate(s->sha, s->buf, (size_t)n);
    *ret_buf = s->buf;
    return n;
}

static int extract_entry(struct archive *tar, struct archive *disk, struct archive_entry *e,
                         int root_fd, struct err **err)
{
    _cleanup_free_ char *path = NULL, *dir = NULL, *name = NULL;
    const char *entry_name = archive_entry_pathname(e);
    const char *link = archive_entry_hardlink(e);
    enum whiteout_kind kind;
    const void *buf;
    size_t size;
    la_int64_t offset;
    int r;

    if (tar_path_clean(entry_name, &path, err) < 0)
        return -1;
    if (path[0] == '\0')
        return apply_root_entry(root_fd, e, err);

    kind = whiteout_parse(path, &dir, &name);
    if (kind == WHITEOUT_META)
        return 0;
    if (kind != WHITEOUT_NONE) {
        if (apply_whiteout(root_fd, e, kind, dir, name, err) < 0)
            return err_wrap(err, "layer entry '%s'", entry_name);
        return 0;
    }

    archive_entry_set_pathname(e, path);
    if (link) {
        _cleanup_free_ char *target = NULL;

        if (tar_path_clean(link, &target, err) < 0)
            return err_wrap(err, "hard link '%s'", entry_name);
        archive_entry_set_hardlink(e, target);
    }
    drop_overlay_xattrs(e);

    r = archive_write_header(disk, e);
    if (r < ARCHIVE_WARN)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "layer entry '%s': %s", entry_name,
                          archive_error_string(disk));
    if (archive_entry_size(e) > 0 && !link) {
        while ((r = archive_read_data_block(tar, &buf, &size, &offset)) == ARCHIVE_OK) {
            if (archive_write_data_block(disk, buf, size, offset) < ARCHIVE_OK)
                return err_status(err, GRPC_STATUS_INTERNAL, "write layer entry '%s': %s",
                                  entry_name, archive_error_string(disk));
        }
        if (r != ARCHIVE_EOF)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "read layer entry '%s': %s",
                              entry_name, archive_error_string(tar));
    }
    if (archive_write_finish_entry(disk) < ARCHIVE_WARN)
        return err_status(err, GRPC_STATUS_INTERNAL, "finish layer entry '%s': %s", entry_name,
                          archive_error_string(disk));
    return 0;
}

static int extract_entries(struct archive *tar, struct archive *disk, int root_fd,
                           struct err **err)
{
    struct archive_entry *e;
    size_t count = 0;
    int r;

    while ((r = archive_read_next_header(tar, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        if (++count > LAYER_MAX_ENTRIES)
            return err_status(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                              "layer has more than %d entries", LAYER_MAX_ENTRIES);
        if (extract_entry(tar, disk, e, root_fd, err) < 0)
            return -1;
    }
    if (r != ARCHIVE_EOF)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "read layer tar: %s",
                          archive_error_string(tar));
    if (archive_write_close(disk) < ARCHIVE_WARN)
        return err_status(err, GRPC_STATUS_INTERNAL, "finish layer extraction: %s",
                          archive_error_string(disk));
    return 0;
}

static int check_diff_id(struct layer_stream *s, const char *diff_id, struct err **err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];

    /* The tar reader stops at the end-of-archive blocks; the digest covers everything after. */
    for (;;) {
        la_ssize_t n = archive_read_data(s->raw, s->buf, sizeof(s->buf));

        if (n < 0)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "read layer: %s",
                              archive_error_string(s->raw));
        if (n == 0)
            break;
        s->total += (uint64_t)n;
        if (s->total > LAYER_MAX_BYTES)
            return err_status(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                              "uncompressed layer larger than %llu bytes",
                              (unsigned long long)LAYER_MAX_BYTES);
        EVP_DigestUpdate(s->sha, s->buf, (size_t)n);
    }
    EVP_DigestFinal_ex(s->sha, md, &md_len);
    hex_encode(md, md_len, hex);
    if (strcmp(diff_id + strlen(DIGEST_PREFIX), hex) != 0)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "layer content has digest sha256:%s, but the image config says %s", hex,
                          diff_id);
    return 0;
}

static int extract_layer(int blob_fd, int dir_fd, const char *diff_id, struct err **err)
{
    _cleanup_(archive_read_freep) struct archive *raw = archive_read_new();
    _cleanup_(archive_read_freep) struct archive *tar = archive_read_new();
    _cleanup_(archive_write_freep) struct archive *disk = archive_write_disk_new();
    _cleanup_free_ struct layer_stream *s = xzalloc(sizeof(*s));
    _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *sha = EVP_MD_CTX_new();
    struct archive_entry *e;
    int r;

    if (!raw || !tar || !disk || !sha)
        abort();
    /*
     * libarchive's SECURE flags check paths relative to the working
     * directory.  Without ARCHIVE_EXTRACT_UNLINK, an entry under a symlink
     * fails ("Cannot extract through symlink") instead of replacing it.
     */
    if (fchdir(dir_fd) < 0)
        return err_sys(err, "change to the layer directory");
    EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
    s->sha = sha;
    s->raw = raw;

    archive_read_support_filter_all(raw);
    archive_read_support_format_raw(raw);
    if (archive_read_open_fd(raw, blob_fd, READ_BLOCK_SIZE) != ARCHIVE_OK)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "open layer: %s",
                          archive_error_string(raw));
    r = archive_read_next_header(raw, &e);
    if (r != ARCHIVE_OK)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "open layer: %s",
                          r == ARCHIVE_EOF ? "empty blob" : archive_error_string(raw));

    archive_read_support_format_tar(tar);
    if (archive_read_open(tar, s, NULL, layer_stream_read, NULL) != ARCHIVE_OK)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "open layer tar: %s",
                          archive_error_string(tar));

    archive_write_disk_set_options(disk, ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM |
                                             ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_XATTR |
                                             ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                                             ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                                             ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
    if (extract_entries(tar, disk, dir_fd, err) < 0)
        return -1;
    if (check_diff_id(s, diff_id, err) < 0)
        return -1;
    if (syncfs(dir_fd) < 0)
        return err_sys(err, "sync the layer's file system");
    return 0;
}

int unpack_layer(int blob_fd, int dir_fd, const char *diff_id, struct err **err)
{
    if (archive_shim_load(err) < 0)
        return -1;
    return extract_layer(blob_fd, dir_fd, diff_id, err);
}

/* ---- the child process ---- */

struct unpack_job {
    struct proc_watch *watch;
    pid_t pid;
    int pidfd;
    int msg_fd; /* read end of the pipe the child reports its error on */
    char *tmp_dir;
    unpack_done_fn cb;
    void *data;
};

static void write_all(int fd, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, s, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

static int child_run(const struct unpack_spec *spec, struct err **err)
{
    _cleanup_close_ int blob_fd = open(spec->blob_path, O_RDONLY | O_CLOEXEC);
    _cleanup_free_ char *fs = NULL;
    _cleanup_close_ int fs_fd = -EBADF;

    if (blob_fd < 0)
        return err_sys(err, "open blob '%s'", spec->blob_path);
    /* The blob is renamed into the store afterwards: its data must be on disk first. */
    if (fsync(blob_fd) < 0)
        return err_sys(err, "fsync blob '%s'", spec->blob_path);
    if (!spec->tmp_dir)
        return 0;

    fs = path_join(spec->tmp_dir, "fs");
    if (mkdir(spec->tmp_dir, 0700) < 0 || mkdir(fs, 0755) < 0)
        return err_sys(err, "mkdir '%s'", fs);
    fs_fd = open(fs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs_fd < 0)
        return err_sys(err, "open '%s'", fs);
    return unpack_layer(blob_fd, fs_fd, spec->diff_id, err);
}

/*
 * Nice value of the unpack child.  Decompressing and hashing a layer keeps a
 * CPU busy, and at the reactor's own priority it took the CPU from the
 * reactor: ListContainers answered several times slower during pulls on a
 * 2-CPU machine (bench/RESULTS.md).  At nice 10 the scheduler gives the
 * reactor about nine times the child's share when both want a CPU.
 */
#define UNPACK_NICE 10

static _Noreturn void child_main(const struct unpack_spec *spec, int msg_fd)
{
    _cleanup_err_ struct err *e = NULL;

    /* Best effort: a failure leaves the child at the reactor's priority. */
    setpriority(PRIO_PROCESS, 0, UNPACK_NICE);
    if (child_run(spec, &e) < 0) {
        _cleanup_free_ char *text = err_text(e);
        char status = (char)err_grpc_status(e);
        size_t len = strlen(text);

        if (len > CHILD_MESSAGE_MAX)
            len = CHILD_MESSAGE_MAX;
        write_all(msg_fd, &status, 1);
        write_all(msg_fd, text, len);
        _exit(1);
    }
    _exit(0);
}

static void job_free(struct unpack_job *j)
{
    proc_watch_free(j->watch);
    if (j->pidfd >= 0)
        close(j->pidfd);
    if (j->msg_fd >= 0)
        close(j->msg_fd);
    free(j->tmp_dir);
    free(j);
}

static void on_child_exit(void *data, pid_t pid, int exit_code, int sig)
{
    struct unpack_job *j = data;
    _cleanup_err_ struct err *e = NULL;
    char buf[CHILD_MESSAGE_MAX + 2];
    ssize_t n;

    (void)pid;
    if (!j->cb) {
        /*
         * Cancelled: the child is gone, so its partial tree can go too.
         * NOTE: rm_rf runs on the reactor and blocks it for a large tree.
         */
        if (j->tmp_dir)
            rm_rf(j->tmp_dir, NULL);
        job_free(j);
        return;
    }
    if (exit_code != 0) {
        n = read(j->msg_fd, buf, sizeof(buf) - 1);
        if (n >= 2) {
            buf[n] = '\0';
            err_status(&e, (enum grpc_status)buf[0], "%s", buf + 1);
        } else if (sig) {
            err_status(&e, GRPC_STATUS_INTERNAL, "layer unpack process killed by signal %d", sig);
        } else {
            err_status(&e, GRPC_STATUS_INTERNAL, "layer unpack process exited with status %d",
                       exit_code);
        }
        if (j->tmp_dir)
            rm_rf(j->tmp_dir, NULL);
    }
    j->cb(j->data, e);
    job_free(j);
}

struct unpack_job *unpack_start(struct event_base *base, const struct unpack_spec *spec,
                                unpack_done_fn cb, void *data, struct err **err)
{
    struct unpack_job *j;
    int pipe_fds[2];
    pid_t pid;
    int pidfd = -1;

    if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) < 0)
        return err_sys(err, "create pipe"), NULL;
    pid = proc_clone(0, &pidfd, err);
    if (pid < 0) {
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        return NULL;
    }
    if (pid == 0) {
        close(pipe_fds[0]);
        child_main(spec, pipe_fds[1]);
    }
    close(pipe_fds[1]);

    j = xzalloc(sizeof(*j));
    j->pid = pid;
    j->pidfd = pidfd;
    j->msg_fd = pipe_fds[0];
    j->tmp_dir = spec->tmp_dir ? xstrdup(spec->tmp_dir) : NULL;
    j->cb = cb;
    j->data = data;
    j->watch = proc_watch_new(base, pid, pidfd, on_child_exit, j);
    return j;
}

void unpack_cancel(struct unpack_job *j)
{
    if (!j)
        return;
    j->cb = NULL;
    proc_signal(j->pidfd, SIGKILL, NULL);
}
