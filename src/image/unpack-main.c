/*
 * crisp-unpack: unpack one image layer for crispd.
 *
 *   crisp-unpack --stream BLOB DIGEST SIZE DIR DIFF_ID
 *   crisp-unpack --stored BLOB "" 0 DIR DIFF_ID
 *   crisp-unpack --remove DIR
 *
 * --stream reads the blob from standard input, writes it to the new file
 * BLOB and checks that it has DIGEST and SIZE; --stored reads the stored
 * blob BLOB.  A non-empty DIR is created and the layer is extracted into
 * DIR/fs; its uncompressed content must have the digest DIFF_ID.
 * --remove deletes the tree DIR, an unused snapshot already renamed.  On
 * failure the program writes the gRPC status code as one byte, then the
 * message, to fd 3, and exits with status 1.  crispd runs it; it is not
 * meant to be run by hand.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "image/unpack.h"
#include "util/cleanup.h"
#include "util/fs.h"

#define MESSAGE_FD 3

/*
 * Nice value of the helper.  Decompressing and hashing a layer keeps a
 * CPU busy, and at the reactor's own priority it took the CPU from the
 * reactor: ListContainers responded several times slower during pulls on
 * a 2-CPU machine (bench/RESULTS.md).  At nice 10 the reactor gets about
 * nine times the helper's CPU share when both want a CPU: the kernel's
 * scheduler weights are 1024 for nice 0 and 110 for nice 10.
 */
#define UNPACK_NICE 10

static _Noreturn void fail(struct err *e)
{
    _cleanup_free_ char *text = err_text(e);
    char status = (char)err_grpc_status(e);
    size_t len = strlen(text);

    if (len > UNPACK_MESSAGE_MAX)
        len = UNPACK_MESSAGE_MAX;
    (void)write_full(MESSAGE_FD, &status, 1);
    (void)write_full(MESSAGE_FD, text, len);
    exit(1);
}

int main(int argc, char **argv)
{
    struct unpack_spec spec = {.blob_pipe = -1};
    struct err *e = NULL;
    char *end;

    if (argc == 3 && strcmp(argv[1], "--remove") == 0) {
        setpriority(PRIO_PROCESS, 0, UNPACK_NICE);
        if (rm_rf(argv[2], &e) < 0)
            fail(e);
        return 0;
    }
    if (argc != 7 || (strcmp(argv[1], "--stream") != 0 && strcmp(argv[1], "--stored") != 0)) {
        err_status(&e, GRPC_STATUS_INTERNAL,
                   "usage: crisp-unpack --stream|--stored BLOB DIGEST SIZE DIR DIFF_ID, "
                   "or crisp-unpack --remove DIR");
        fail(e);
    }
    if (strcmp(argv[1], "--stream") == 0)
        spec.blob_pipe = STDIN_FILENO;
    spec.blob_path = argv[2];
    spec.blob_digest = argv[3];
    errno = 0;
    spec.blob_size = strtoull(argv[4], &end, 10);
    if (errno != 0 || end == argv[4] || *end != '\0') {
        err_status(&e, GRPC_STATUS_INTERNAL,
                   "crisp-unpack: invalid blob size '%s': expected a decimal byte count", argv[4]);
        fail(e);
    }
    spec.tmp_dir = argv[5][0] ? argv[5] : NULL;
    spec.diff_id = argv[6];

    /*
     * Die with the reactor: adopted by crisp-keeper, a helper would go on
     * writing into the store that the next reactor sweeps at its start.
     * NOTE: if the reactor dies before this call, the helper runs on until
     * it has read its whole blob.
     */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Best effort: a failure leaves the helper at crispd's priority. */
    setpriority(PRIO_PROCESS, 0, UNPACK_NICE);
    if (unpack_run(&spec, &e) < 0)
        fail(e);
    return 0;
}
