#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "handlers/resources.h"
#include "handlers/rpc.h"
#include "reactor/grpc.h"
#include "util/cleanup.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* Handlers by method name; a method of the services without an entry is not supported yet. */
static const struct {
    const char *name;
    rpc_handler_fn handler;
} handler_table[] = {
    {"Version", rpc_version},
    {"Status", rpc_status},
    {"RuntimeConfig", rpc_runtime_config},
    {"UpdateContainerResources", rpc_update_container_resources},
    {"RunPodSandbox", rpc_run_pod_sandbox},
    {"StopPodSandbox", rpc_stop_pod_sandbox},
    {"RemovePodSandbox", rpc_remove_pod_sandbox},
    {"PodSandboxStatus", rpc_pod_sandbox_status},
    {"ListPodSandbox", rpc_list_pod_sandbox},
    {"CreateContainer", rpc_create_container},
    {"StartContainer", rpc_start_container},
    {"StopContainer", rpc_stop_container},
    {"RemoveContainer", rpc_remove_container},
    {"ContainerStatus", rpc_container_status},
    {"ListContainers", rpc_list_containers},
    {"ReopenContainerLog", rpc_reopen_container_log},
    {"PullImage", rpc_pull_image},
    {"ListImages", rpc_list_images},
    {"ImageStatus", rpc_image_status},
    {"RemoveImage", rpc_remove_image},
    {"ImageFsInfo", rpc_image_fs_info},
};

static rpc_handler_fn find_handler(const char *name)
{
    for (size_t i = 0; i < sizeof(handler_table) / sizeof(handler_table[0]); i++) {
        if (strcmp(handler_table[i].name, name) == 0)
            return handler_table[i].handler;
    }
    return NULL;
}

/*
 * Split "/runtime.<version>.<Service>/<Method>" into its parts.  Returns the
 * service descriptor, or NULL when the path names no service crisp serves.
 */
static const ProtobufCServiceDescriptor *parse_path(const char *path, bool *ret_v1alpha2,
                                                    const char **ret_method)
{
    static const char *const prefixes[] = {"/runtime.v1.", "/runtime.v1alpha2."};
    const char *rest = NULL, *slash;

    for (size_t i = 0; i < 2; i++) {
        size_t len = strlen(prefixes[i]);

        if (strncmp(path, prefixes[i], len) == 0) {
            rest = path + len;
            *ret_v1alpha2 = i == 1;
            break;
        }
    }
    if (!rest)
        return NULL;

    slash = strchr(rest, '/');
    if (!slash)
        return NULL;
    *ret_method = slash + 1;
    if ((size_t)(slash - rest) == strlen("RuntimeService") &&
        strncmp(rest, "RuntimeService", (size_t)(slash - rest)) == 0)
        return &runtime__v1__runtime_service__descriptor;
    if ((size_t)(slash - rest) == strlen("ImageService") &&
        strncmp(rest, "ImageService", (size_t)(slash - rest)) == 0)
        return &runtime__v1__image_service__descriptor;
    return NULL;
}

static void rpc_free(struct rpc *rpc)
{
    if (rpc->req)
        protobuf_c_message_free_unpacked(rpc->req, NULL);
    free(rpc);
}

void handlers_dispatch(void *data, struct grpc_call *call)
{
    const ProtobufCServiceDescriptor *service;
    const ProtobufCMethodDescriptor *md;
    const char *path = grpc_call_path(call);
    const char *method_name = NULL;
    rpc_handler_fn handler;
    bool v1alpha2 = false;
    struct rpc *rpc;

    service = parse_path(path, &v1alpha2, &method_name);
    md = service ? protobuf_c_service_descriptor_get_method_by_name(service, method_name) : NULL;
    if (!md) {
        log_debug("unknown method '%s'", path);
        grpc_call_finish(call, GRPC_STATUS_UNIMPLEMENTED, "unknown method");
        return;
    }

    handler = find_handler(md->name);
    if (!handler) {
        _cleanup_free_ char *msg = xasprintf("%s is not supported by crisp yet", md->name);

        log_debug("unsupported method '%s'", path);
        grpc_call_finish(call, GRPC_STATUS_UNIMPLEMENTED, msg);
        return;
    }

    rpc = xzalloc(sizeof(*rpc));
    rpc->crisp = data;
    rpc->call = call;
    rpc->v1alpha2 = v1alpha2;
    rpc->ids.rpc = md->name;
    rpc->raw = grpc_call_request(call, &rpc->raw_len);
    rpc->req = protobuf_c_message_unpack(md->input, NULL, rpc->raw_len, rpc->raw);
    if (!rpc->req) {
        rpc_failf(rpc, GRPC_STATUS_INVALID_ARGUMENT, "malformed %s request: not a valid %s message",
                  md->name, md->input->name);
        return;
    }

    trace("dispatch %s", path);
    handler(rpc);
}

void rpc_reply(struct rpc *rpc, const ProtobufCMessage *resp)
{
    log_emit(LOG_LEVEL_DEBUG, NULL, &rpc->ids, "call succeeded");
    grpc_call_reply(rpc->call, resp);
    rpc_free(rpc);
}

void rpc_reply_packed(struct rpc *rpc, const uint8_t *data, size_t len)
{
    log_emit(LOG_LEVEL_DEBUG, NULL, &rpc->ids, "call succeeded");
    grpc_call_reply_packed(rpc->call, data, len);
    rpc_free(rpc);
}

void packed_append_field(struct strbuf *out, unsigned field, const uint8_t *data, size_t len)
{
    uint8_t head[11];
    size_t n = 0;
    uint64_t v = len;

    head[n++] = (uint8_t)(field << 3 | 2); /* wire type 2: length-delimited */
    do {
        head[n] = v & 0x7f;
        v >>= 7;
        if (v)
            head[n] |= 0x80;
        n++;
    } while (v);
    strbuf_add(out, head, n);
    strbuf_add(out, data, len);
}

static enum log_level level_for_status(enum grpc_status status)
{
    switch (status) {
    case GRPC_STATUS_INTERNAL:
    case GRPC_STATUS_UNKNOWN:
    case GRPC_STATUS_DATA_LOSS:
        return LOG_LEVEL_ERROR;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return LOG_LEVEL_WARN;
    default:
        return LOG_LEVEL_DEBUG;
    }
}

void rpc_fail(struct rpc *rpc, const struct err *e)
{
    enum grpc_status status = err_grpc_status(e);

    log_emit(level_for_status(status), e, &rpc->ids, "call failed with %s",
             grpc_status_name(status));
    grpc_call_fail(rpc->call, e);
    rpc_free(rpc);
}

void rpc_failf(struct rpc *rpc, enum grpc_status status, const char *fmt, ...)
{
    _cleanup_err_ struct err *e = NULL;
    _cleanup_free_ char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    err_status(&e, status, "%s", msg);
    rpc_fail(rpc, e);
}

void rpc_set_pod(struct rpc *rpc, const char *id)
{
    snprintf(rpc->pod_id, sizeof(rpc->pod_id), "%s", id);
    rpc->ids.pod_id = rpc->pod_id;
}

void rpc_set_container(struct rpc *rpc, const char *id)
{
    snprintf(rpc->container_id, sizeof(rpc->container_id), "%s", id);
    rpc->ids.container_id = rpc->container_id;
}
