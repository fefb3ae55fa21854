/* Layer unpacking in a child process, reported on the reactor. */
#ifndef CRISP_IMAGE_UNPACK_H
#define CRISP_IMAGE_UNPACK_H

#include "util/err.h"

struct event_base;
struct unpack_job;

struct unpack_spec {
    const char *blob_path; /* the verified layer blob; fsynced by the child */
    const char *tmp_dir;   /* created by the child, which extracts into tmp_dir/fs; NULL to only fsync */
    const char *diff_id;   /* digest the uncompressed layer must have */
};

/* Called once with NULL or the error; after an error tmp_dir is already removed. */
typedef void (*unpack_done_fn)(void *data, const struct err *err);

/* Start the child; cb reports from the reactor after this returns. */
struct unpack_job *unpack_start(struct event_base *base, const struct unpack_spec *spec,
                                unpack_done_fn cb, void *data, struct err **err);
/* Kill the child; cb is not called, and its partial directory is removed once it has exited. */
void unpack_cancel(struct unpack_job *j);

#endif
