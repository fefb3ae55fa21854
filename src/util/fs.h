/* File system helpers. */
#ifndef CRISP_UTIL_FS_H
#define CRISP_UTIL_FS_H

#include <stddef.h>
#include <sys/types.h>

#include "util/err.h"

/* Create path and its missing parents with mode; an existing directory is fine. */
int mkdir_p(const char *path, mode_t mode, struct err **err);

/* Write all of data to fd, going on after EINTR and short writes: 0, or -1 with errno. */
int write_full(int fd, const void *data, size_t len);

/* Write data to path atomically: a temporary file beside it, fsync, rename, fsync of the directory. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, struct err **err);

/* Read a whole file, at most max_size bytes; the buffer gets a terminating NUL beyond *ret_len. */
int read_file(const char *path, size_t max_size, char **ret_data, size_t *ret_len, struct err **err);

/* Remove path recursively without crossing into other mounts; a missing path is fine. */
int rm_rf(const char *path, struct err **err);

/* Join two path pieces with exactly one '/'.  Caller frees. */
char *path_join(const char *a, const char *b);

#endif
