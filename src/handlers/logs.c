#include "config.h"

#include "handlers/rpc.h"
#include "platform/platform.h"
#include "store/store.h"
#include "util/cleanup.h"

/*
 * ReopenContainerLog: kubelet renames the log file to rotate it, then asks
 * for a new file at log_path.  Like containerd, only a running container's
 * log can be reopened.
 */
void rpc_reopen_container_log(struct rpc *rpc)
{
    Runtime__V1__ReopenContainerLogRequest *req =
        (Runtime__V1__ReopenContainerLogRequest *)rpc->req;
    Runtime__V1__ReopenContainerLogResponse resp = RUNTIME__V1__REOPEN_CONTAINER_LOG_RESPONSE__INIT;
    _cleanup_err_ struct err *e = NULL;
    struct container *c;

    if (!req->container_id[0])
        return rpc_failf(rpc, GRPC_STATUS_INVALID_ARGUMENT, "container_id is empty");
    c = store_find_container(rpc->crisp->store, req->container_id, &e);
    if (e)
        return rpc_fail(rpc, e);
    if (!c)
        return rpc_failf(rpc, GRPC_STATUS_NOT_FOUND, "container '%s' not found",
                         req->container_id);
    rpc_set_container(rpc, c->id);
    rpc_set_pod(rpc, c->sandbox_id);
    if (c->state != CONTAINER_RUNNING)
        return rpc_failf(rpc, GRPC_STATUS_FAILED_PRECONDITION,
                         "container %s is not running, so its log cannot be reopened", c->id);
    if (c->log && log_pump_reopen(c->log, &e) < 0)
        return rpc_fail(rpc, e);
    rpc_reply(rpc, &resp.base);
}
