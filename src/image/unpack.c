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
#include <nettle/sha2.h>

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
    struct sha256_ctx sha;
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
    sha256_update(&s->sha, (size_t)n, (const uint8_t *)s->buf);
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

/* Return whether digest is "sha256:" and the hex of sha's digest, which goes to hex. */
static bool sha256_matches(struct sha256_ctx *sha, const char *digest,
                           char hex[2 * SHA256_DIGEST_SIZE + 1])
{
    uint8_t md[SHA256_DIGEST_SIZE];

    sha256_digest(sha, sizeof(md), md);
    hex_encode(md, sizeof(md), hex);
    return strncmp(digest, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) == 0 &&
           strcmp(digest + strlen(DIGEST_PREFIX), hex) == 0;
}

static int check_diff_id(struct layer_stream *s, const char *diff_id, struct err **err)
{
    char hex[2 * SHA256_DIGEST_SIZE + 1];

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
        sha256_update(&s->sha, (size_t)n, (const uint8_t *)s->buf);
    }
    if (!sha256_matches(&s->sha, diff_id, hex))
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "layer content has digest sha256:%s, but the image config says %s", hex,
                          diff_id);
    return 0;
}

/*
 * Source of the compressed layer: a stored blob, read as is, or a pipe from
 * the reactor's download, whose bytes are also hashed and written to the
 * blob file.
 */
struct blob_source {
    int in_fd;
    int out_fd;       /* -1 for a stored blob */
    const char *path; /* of the blob file, for messages */
    bool streamed;    /* hash, count and store what arrives */
    struct sha256_ctx sha;
    uint64_t total;
    struct err *err;  /* the first failure to write the blob file */
    char buf[READ_BLOCK_SIZE];
};

/* Read the next block into s->buf: its length, 0 at the end, or -1 with errno. */
static ssize_t source_next(struct blob_source *s)
{
    ssize_t n;

    do
        n = read(s->in_fd, s->buf, sizeof(s->buf));
    while (n < 0 && errno == EINTR);
    if (n <= 0 || !s->streamed)
        return n;
    sha256_update(&s->sha, (size_t)n, (const uint8_t *)s->buf);
    s->total += (uint64_t)n;
    if (!s->err && write_full(s->out_fd, s->buf, (size_t)n) < 0)
        err_sys(&s->err, "write blob '%s'", s->path);
    return n;
}

static la_ssize_t source_read(struct archive *a, void *data, const void **ret_buf)
{
    struct blob_source *s = data;
    ssize_t n = source_next(s);

    if (n < 0) {
        archive_set_error(a, errno, "read blob: %s", strerror(errno));
        return -1;
    }
    if (s->err) {
        /* The blob file cannot be kept, so the snapshot cannot either. */
        archive_set_error(a, EIO, "%s", s->err->msg);
        return -1;
    }
    *ret_buf = s->buf;
    return n;
}

static int extract_layer(struct blob_source *src, int dir_fd, const char *diff_id,
                         struct err **err)
{
    _cleanup_(archive_read_freep) struct archive *raw = archive_read_new();
    _cleanup_(archive_read_freep) struct archive *tar = archive_read_new();
    _cleanup_(archive_write_freep) struct archive *disk = archive_write_disk_new();
    _cleanup_free_ struct layer_stream *s = xzalloc(sizeof(*s));
    struct archive_entry *e;
    int r;

    if (!raw || !tar || !disk)
        abort();
    /*
     * libarchive's SECURE flags check paths relative to the working
     * directory.  Without ARCHIVE_EXTRACT_UNLINK, an entry under a symlink
     * fails ("Cannot extract through symlink") instead of replacing it.
     */
    if (fchdir(dir_fd) < 0)
        return err_sys(err, "change to the layer directory");
    sha256_init(&s->sha);
    s->raw = raw;

    archive_read_support_filter_all(raw);
    archive_read_support_format_raw(raw);
    if (archive_read_open(raw, src, NULL, source_read, NULL) != ARCHIVE_OK)
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

/* ---- one layer, as crisp-unpack runs it ---- */

/* Read the rest of a streamed blob, then check its size and digest and make it durable. */
static int finish_blob(const struct unpack_spec *spec, struct blob_source *s, struct err **err)
{
    char hex[2 * SHA256_DIGEST_SIZE + 1];
    ssize_t n;

    while ((n = source_next(s)) > 0)
        ;
    if (n < 0)
        return err_sys(err, "read blob %s from the download", spec->blob_digest);
    if (s->err) {
        *err = TAKE_PTR(s->err);
        return -1;
    }
    if (s->total != spec->blob_size)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "blob %s: the download ended after %llu of %llu bytes",
                          spec->blob_digest, (unsigned long long)s->total,
                          (unsigned long long)spec->blob_size);
    if (!sha256_matches(&s->sha, spec->blob_digest, hex))
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "blob %s: digest mismatch: the content has digest " DIGEST_PREFIX "%s",
                          spec->blob_digest, hex);
    /* The blob is renamed into the store afterwards: its data must be on disk first. */
    if (fsync(s->out_fd) < 0)
        return err_sys(err, "fsync blob '%s'", spec->blob_path);
    return 0;
}

static int extract_into(const struct unpack_spec *spec, struct blob_source *src, struct err **err)
{
    _cleanup_free_ char *fs = path_join(spec->tmp_dir, "fs");
    _cleanup_close_ int fs_fd = -EBADF;

    if (mkdir(spec->tmp_dir, 0700) < 0 || mkdir(fs, 0755) < 0)
        return err_sys(err, "mkdir '%s'", fs);
    fs_fd = open(fs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs_fd < 0)
        return err_sys(err, "open '%s'", fs);
    if (archive_shim_load(err) < 0)
        return -1;
    return extract_layer(src, fs_fd, spec->diff_id, err);
}

/*
 * A streamed blob is read to its end whatever happens to the extraction.
 * The reactor's writes then meet a closed pipe only when the helper dies,
 * and a corrupt blob is reported as such rather than as the tar error it
 * causes.
 */
int unpack_run(const struct unpack_spec *spec, struct err **err)
{
    _cleanup_free_ struct blob_source *src = xzalloc(sizeof(*src));
    _cleanup_close_ int blob_fd = -EBADF;
    _cleanup_err_ struct err *extract_err = NULL;
    int blob_pipe = spec->blob_pipe;

    src->path = spec->blob_path;
    src->out_fd = -1;
    if (blob_pipe >= 0) {
        src->streamed = true;
        sha256_init(&src->sha);
        src->in_fd = blob_pipe;
        blob_fd = open(spec->blob_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (blob_fd < 0)
            err_sys(&src->err, "create blob '%s'", spec->blob_path);
        src->out_fd = blob_fd;
    } else {
        blob_fd = open(spec->blob_path, O_RDONLY | O_CLOEXEC);
        if (blob_fd < 0)
            return err_sys(err, "open blob '%s'", spec->blob_path);
        src->in_fd = blob_fd;
    }
    if (spec->tmp_dir && !src->err)
        extract_into(spec, src, &extract_err);
    if (blob_pipe >= 0 && finish_blob(spec, src, err) < 0)
        return -1;
    if (extract_err) {
        *err = TAKE_PTR(extract_err);
        return -1;
    }
    return 0;
}
