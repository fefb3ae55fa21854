/*
 * unpack_run(), the body of crisp-unpack, on a blob streamed through a
 * pipe: the stored blob, the extracted files, and the errors for a wrong
 * digest, a short blob and a layer that is not a tar.  The layers are
 * uncompressed tars built here.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/internal.h"
#include "image/unpack.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"
#include "../tap.h"

#define TAR_BLOCK 512

/* Append one ustar header and the data of a regular file to tar (a multiple of 512 bytes). */
static void tar_add_file(struct strbuf *tar, const char *name, const char *data, mode_t mode)
{
    char header[TAR_BLOCK] = {0};
    size_t len = strlen(data);
    unsigned sum = 0;
    static const char zeros[TAR_BLOCK];

    snprintf(header, 100, "%s", name);
    snprintf(header + 100, 8, "%07o", (unsigned)mode);
    snprintf(header + 108, 8, "%07o", 0u);
    snprintf(header + 116, 8, "%07o", 0u);
    snprintf(header + 124, 12, "%011o", (unsigned)len);
    snprintf(header + 136, 12, "%011o", 0u);
    header[156] = '0';
    memcpy(header + 257, "ustar", 6);
    memcpy(header + 263, "00", 2);
    memset(header + 148, ' ', 8);
    for (size_t i = 0; i < TAR_BLOCK; i++)
        sum += (unsigned char)header[i];
    snprintf(header + 148, 8, "%06o", sum);
    strbuf_add(tar, header, TAR_BLOCK);
    strbuf_add(tar, data, len);
    strbuf_add(tar, zeros, (TAR_BLOCK - len % TAR_BLOCK) % TAR_BLOCK);
}

static void tar_finish(struct strbuf *tar)
{
    static const char zeros[2 * TAR_BLOCK];

    strbuf_add(tar, zeros, sizeof(zeros));
}

struct run {
    char *dir;       /* scratch directory of this case */
    char *blob_path; /* where the helper writes the blob */
    char *tmp_dir;   /* where it extracts the layer */
    struct err *err;
    int r;
};

/*
 * Run unpack_run() on blob, sent through a pipe in full before the helper
 * reads it (the blobs here fit in the pipe's buffer).
 */
static void run_streamed(struct run *run, const char *label, const void *blob, size_t len,
                         const char *digest, uint64_t size, const char *diff_id)
{
    char template[] = "/tmp/crisp-unpack-run-XXXXXX";
    struct unpack_spec spec = {0};
    int fds[2];

    run->dir = xstrdup(mkdtemp(template));
    run->blob_path = path_join(run->dir, "blob");
    run->tmp_dir = path_join(run->dir, "layer");
    if (pipe2(fds, O_CLOEXEC) < 0 || write_full(fds[1], blob, len) < 0) {
        ok(0, "%s: pipe the blob", label);
        exit(1);
    }
    close(fds[1]);
    spec.blob_pipe = fds[0];
    spec.blob_path = run->blob_path;
    spec.blob_digest = digest;
    spec.blob_size = size;
    spec.tmp_dir = run->tmp_dir;
    spec.diff_id = diff_id;
    run->r = unpack_run(&spec, &run->err);
    close(fds[0]);
}

static void run_done(struct run *run)
{
    /* unpack_run() changed into the layer directory. */
    if (chdir("/") < 0)
        abort();
    rm_rf(run->dir, NULL);
    free(run->dir);
    free(run->blob_path);
    free(run->tmp_dir);
    err_free(run->err);
}

static char *read_text(const char *dir, const char *name)
{
    _cleanup_free_ char *path = path_join(dir, name);
    char *data = NULL;
    size_t len;

    if (read_file(path, 1 << 20, &data, &len, NULL) < 0)
        return NULL;
    return data;
}

static void test_good_layer(void)
{
    struct strbuf tar = STRBUF_INIT;
    _cleanup_free_ char *digest = NULL, *stored = NULL, *hello = NULL, *script = NULL;
    _cleanup_free_ char *fs = NULL, *script_path = NULL;
    struct run run = {0};
    struct stat st;
    size_t stored_len = 0;

    tar_add_file(&tar, "hello.txt", "hello from a streamed layer\n", 0644);
    tar_add_file(&tar, "bin/run.sh", "#!/bin/sh\necho run\n", 0755);
    tar_finish(&tar);
    digest = digest_compute(tar.buf, tar.len);

    run_streamed(&run, "good layer", tar.buf, tar.len, digest, tar.len, digest);
    is_int(run.r, 0, "good layer: unpacked");
    fs = path_join(run.tmp_dir, "fs");
    hello = read_text(fs, "hello.txt");
    is_str(hello, "hello from a streamed layer\n", "good layer: hello.txt content");
    script = read_text(fs, "bin/run.sh");
    is_str(script, "#!/bin/sh\necho run\n", "good layer: bin/run.sh content");
    script_path = path_join(fs, "bin/run.sh");
    is_int(stat(script_path, &st) == 0 ? (long long)(st.st_mode & 07777) : -1, 0755,
           "good layer: bin/run.sh mode");
    ok(read_file(run.blob_path, 1 << 20, &stored, &stored_len, NULL) == 0 &&
           stored_len == tar.len && memcmp(stored, tar.buf, tar.len) == 0,
       "good layer: the stored blob has the streamed bytes");
    run_done(&run);
    strbuf_done(&tar);
}

/* Build a tar holding one small file into tar; return its digest.  Caller frees. */
static char *one_file_tar(struct strbuf *tar)
{
    tar_add_file(tar, "a", "a\n", 0644);
    tar_finish(tar);
    return digest_compute(tar->buf, tar->len);
}

static void test_wrong_digest(void)
{
    static const char other[] =
        "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    struct strbuf tar = STRBUF_INIT;
    _cleanup_free_ char *digest = one_file_tar(&tar), *want = NULL;
    struct run run = {0};

    /* The extraction succeeds, so only the blob's digest fails. */
    run_streamed(&run, "wrong digest", tar.buf, tar.len, other, tar.len, digest);
    is_int(run.r, -1, "wrong digest: fails");
    want = xasprintf("blob %s: digest mismatch: the content has digest %s", other, digest);
    is_str(run.err ? run.err->msg : NULL, want, "wrong digest: the error names both digests");
    is_int(err_grpc_status(run.err), GRPC_STATUS_FAILED_PRECONDITION,
           "wrong digest: FAILED_PRECONDITION");
    run_done(&run);
    strbuf_done(&tar);
}

static void test_short_blob(void)
{
    struct strbuf tar = STRBUF_INIT;
    _cleanup_free_ char *digest = one_file_tar(&tar), *want = NULL;
    struct run run = {0};

    /* The download stopped after half the blob. */
    run_streamed(&run, "short blob", tar.buf, tar.len / 2, digest, tar.len, digest);
    is_int(run.r, -1, "short blob: fails");
    want = xasprintf("blob %s: the download ended after %zu of %zu bytes", digest, tar.len / 2,
                     tar.len);
    is_str(run.err ? run.err->msg : NULL, want, "short blob: the error gives both sizes");
    run_done(&run);
    strbuf_done(&tar);
}

static void test_not_a_tar(void)
{
    static const char text[] = "this is not a tar archive, only some text\n";
    _cleanup_free_ char *digest = digest_compute(text, strlen(text));
    struct run run = {0};

    /* The blob itself is intact, so the extraction's error is the one reported. */
    run_streamed(&run, "not a tar", text, strlen(text), digest, strlen(text), digest);
    is_int(run.r, -1, "not a tar: fails");
    is_int(err_grpc_status(run.err), GRPC_STATUS_INVALID_ARGUMENT, "not a tar: INVALID_ARGUMENT");
    is_str(run.err ? run.err->msg : NULL, "open layer tar: Unrecognized archive format",
           "not a tar: libarchive's error");
    run_done(&run);
}

int main(void)
{
    test_good_layer();
    test_wrong_digest();
    test_short_blob();
    test_not_a_tar();
    return tap_done();
}
