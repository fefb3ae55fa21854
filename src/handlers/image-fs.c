/* ImageFsInfo: what the image store uses of its file system. */
#include "config.h"

#include "handlers/rpc.h"
#include "image/image.h"
#include "util/cleanup.h"

static void on_measured(void *data, const struct image_store_usage *usage, const struct err *err)
{
    struct rpc *rpc = data;
    Runtime__V1__ImageFsInfoResponse resp = RUNTIME__V1__IMAGE_FS_INFO_RESPONSE__INIT;
    Runtime__V1__FilesystemUsage fs = RUNTIME__V1__FILESYSTEM_USAGE__INIT;
    Runtime__V1__FilesystemIdentifier id = RUNTIME__V1__FILESYSTEM_IDENTIFIER__INIT;
    Runtime__V1__UInt64Value bytes = RUNTIME__V1__UINT64_VALUE__INIT;
    Runtime__V1__UInt64Value inodes = RUNTIME__V1__UINT64_VALUE__INIT;
    Runtime__V1__FilesystemUsage *list[] = {&fs};

    if (err)
        return rpc_fail(rpc, err);
    id.mountpoint = (char *)usage->mountpoint;
    bytes.value = usage->used_bytes;
    inodes.value = usage->inodes_used;
    fs.timestamp = usage->timestamp_ns;
    fs.fs_id = &id;
    fs.used_bytes = &bytes;
    fs.inodes_used = &inodes;
    /* Writable layers live under the same root, so container_filesystems stays empty (CRI). */
    resp.n_image_filesystems = 1;
    resp.image_filesystems = list;
    rpc_reply(rpc, &resp.base);
}

void rpc_image_fs_info(struct rpc *rpc)
{
    _cleanup_err_ struct err *e = NULL;

    if (!image_store_usage_start(rpc->crisp->images, rpc->crisp->base, on_measured, rpc, &e))
        return rpc_fail(rpc, e);
}
