#include "config.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>

#include <archive.h>
#include <archive_entry.h>

#include "image/archive-shim.h"

/* Functions returning a value: X(return type, name, parameters, arguments). */
#define ARCHIVE_FUNCTIONS(X)                                                                       \
    X(struct archive *, archive_read_new, (void), ())                                             \
    X(int, archive_read_free, (struct archive * a), (a))                                          \
    X(int, archive_read_support_filter_all, (struct archive * a), (a))                            \
    X(int, archive_read_support_format_raw, (struct archive * a), (a))                            \
    X(int, archive_read_support_format_tar, (struct archive * a), (a))                            \
    X(int, archive_read_open,                                                                      \
      (struct archive * a, void *data, archive_open_callback *open_cb,                             \
       archive_read_callback *read_cb, archive_close_callback *close_cb),                          \
      (a, data, open_cb, read_cb, close_cb))                                                       \
    X(int, archive_read_next_header, (struct archive * a, struct archive_entry * *e), (a, e))     \
    X(la_ssize_t, archive_read_data, (struct archive * a, void *buf, size_t size),                \
      (a, buf, size))                                                                              \
    X(int, archive_read_data_block,                                                                \
      (struct archive * a, const void **buf, size_t *size, la_int64_t *offset),                    \
      (a, buf, size, offset))                                                                      \
    X(struct archive *, archive_write_disk_new, (void), ())                                       \
    X(int, archive_write_disk_set_options, (struct archive * a, int flags), (a, flags))           \
    X(int, archive_write_header, (struct archive * a, struct archive_entry * e), (a, e))          \
    X(la_ssize_t, archive_write_data_block,                                                        \
      (struct archive * a, const void *buf, size_t size, la_int64_t offset),                       \
      (a, buf, size, offset))                                                                      \
    X(int, archive_write_finish_entry, (struct archive * a), (a))                                 \
    X(int, archive_write_close, (struct archive * a), (a))                                        \
    X(int, archive_write_free, (struct archive * a), (a))                                         \
    X(int, archive_errno, (struct archive * a), (a))                                              \
    X(const char *, archive_error_string, (struct archive * a), (a))                              \
    X(__LA_MODE_T, archive_entry_filetype, (struct archive_entry * e), (e))                       \
    X(__LA_MODE_T, archive_entry_perm, (struct archive_entry * e), (e))                           \
    X(la_int64_t, archive_entry_uid, (struct archive_entry * e), (e))                             \
    X(la_int64_t, archive_entry_gid, (struct archive_entry * e), (e))                             \
    X(la_int64_t, archive_entry_size, (struct archive_entry * e), (e))                            \
    X(const char *, archive_entry_pathname, (struct archive_entry * e), (e))                      \
    X(const char *, archive_entry_hardlink, (struct archive_entry * e), (e))                      \
    X(int, archive_entry_xattr_reset, (struct archive_entry * e), (e))                            \
    X(int, archive_entry_xattr_next,                                                               \
      (struct archive_entry * e, const char **name, const void **value, size_t *size),             \
      (e, name, value, size))

/* Functions returning void: V(name, parameters, arguments). */
#define ARCHIVE_VOID_FUNCTIONS(V)                                                                  \
    V(archive_entry_set_pathname, (struct archive_entry * e, const char *path), (e, path))        \
    V(archive_entry_set_hardlink, (struct archive_entry * e, const char *path), (e, path))        \
    V(archive_entry_xattr_clear, (struct archive_entry * e), (e))                                 \
    V(archive_entry_xattr_add_entry,                                                               \
      (struct archive_entry * e, const char *name, const void *value, size_t size),                \
      (e, name, value, size))                                                                      \
    V(archive_set_error, (struct archive * a, int code, const char *fmt, ...), ())

#define DECLARE_POINTER(ret, name, params, args) ret(*name) params;
#define DECLARE_VOID_POINTER(name, params, args) void(*name) params;

static struct {
    void *handle;
    ARCHIVE_FUNCTIONS(DECLARE_POINTER)
    ARCHIVE_VOID_FUNCTIONS(DECLARE_VOID_POINTER)
} lib;

int archive_shim_load(struct err **err)
{
    void *handle;

    if (lib.handle)
        return 0;
    handle = dlopen(ARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!handle)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION, "load libarchive: %s",
                          dlerror());

#define RESOLVE(name)                                                                              \
    do {                                                                                           \
        *(void **)&lib.name = dlsym(handle, #name);                                                \
        if (!lib.name) {                                                                           \
            dlclose(handle);                                                                       \
            return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,                                \
                              "load libarchive: '%s' has no function %s", ARCHIVE_SONAME, #name);  \
        }                                                                                          \
    } while (0);
#define RESOLVE_FUNCTION(ret, name, params, args) RESOLVE(name)
#define RESOLVE_VOID_FUNCTION(name, params, args) RESOLVE(name)
    ARCHIVE_FUNCTIONS(RESOLVE_FUNCTION)
    ARCHIVE_VOID_FUNCTIONS(RESOLVE_VOID_FUNCTION)

    lib.handle = handle;
    return 0;
}

/* The forwarding definitions, with the prototypes of archive.h and archive_entry.h. */
#define DEFINE_FORWARD(ret, name, params, args)                                                    \
    ret name params                                                                                \
    {                                                                                              \
        return lib.name args;                                                                      \
    }
ARCHIVE_FUNCTIONS(DEFINE_FORWARD)

void archive_entry_set_pathname(struct archive_entry *e, const char *path)
{
    lib.archive_entry_set_pathname(e, path);
}

void archive_entry_set_hardlink(struct archive_entry *e, const char *path)
{
    lib.archive_entry_set_hardlink(e, path);
}

void archive_entry_xattr_clear(struct archive_entry *e)
{
    lib.archive_entry_xattr_clear(e);
}

void archive_entry_xattr_add_entry(struct archive_entry *e, const char *name, const void *value,
                                   size_t size)
{
    lib.archive_entry_xattr_add_entry(e, name, value, size);
}

/* A variadic call cannot be forwarded, so the message is formatted here. */
void archive_set_error(struct archive *a, int code, const char *fmt, ...)
{
    char message[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    lib.archive_set_error(a, code, "%s", message);
}
