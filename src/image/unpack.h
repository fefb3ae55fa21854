/* Layer unpacking in a child process, reported on the reactor. */
#ifndef CRISP_IMAGE_UNPACK_H
#define CRISP_IMAGE_UNPACK_H

#include <stdint.h>

#include "util/err.h"

struct event_base;
struct unpack_job;

/* crisp-unpack reports a failure on fd 3: the gRPC status as one byte, then at most this much text. */
#define UNPACK_MESSAGE_MAX 4000

struct unpack_spec {
    /*
     * -1 to unpack the stored blob at blob_path.  Else the read end of a
     * pipe the blob arrives on: the child creates blob_path, writes the
     * blob to it, checks blob_digest and blob_size, and fsyncs it.  The
     * child reads the pipe to its end even when the unpack fails.
     */
    int blob_pipe;
    const char *blob_path;
    const char *blob_digest;
    uint64_t blob_size;
    const char *tmp_dir; /* created by the child, which extracts into tmp_dir/fs; NULL for none */
    const char *diff_id; /* digest the uncompressed layer must have */
};

/*
 * Unpack one layer as described by spec, in this process: what crisp-unpack runs.
 * Blocks for as long as the blob takes to arrive and extract.
 */
int unpack_run(const struct unpack_spec *spec, struct err **err);

/* Called once with NULL or the error.  After an error, tmp_dir and a streamed blob_path are gone. */
typedef void (*unpack_done_fn)(void *data, const struct err *err);

/*
 * Run the crisp-unpack program at helper_path on spec, with its blob_pipe
 * as the program's standard input.  cb reports from the reactor after this
 * returns.
 */
struct unpack_job *unpack_start(struct event_base *base, const char *helper_path,
                                const struct unpack_spec *spec, unpack_done_fn cb, void *data,
                                struct err **err);
/* Kill the child; cb is not called, and its partial files are removed once it has exited. */
void unpack_cancel(struct unpack_job *j);
/* Kill the child; cb is called, with an error, once it has exited and its partial files are gone. */
void unpack_kill(struct unpack_job *j);

/*
 * Remove the tree at path in a crisp-unpack process; its end is logged.
 * Returns 0 once it runs, or -1 when it cannot start.
 */
int unpack_remove(struct event_base *base, const char *helper_path, const char *path,
                  struct err **err);
/* unpack_remove(), or rm_rf here (logged) when the helper cannot start. */
void unpack_remove_tree(struct event_base *base, const char *helper_path, const char *path);

#endif
