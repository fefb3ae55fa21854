#include "config.h"

#include "handlers/rpc.h"

/* The CRI version kubelet checks; every runtime reports "0.1.0". */
#define CRI_VERSION "0.1.0"

void rpc_version(struct rpc *rpc)
{
    Runtime__V1__VersionResponse resp = RUNTIME__V1__VERSION_RESPONSE__INIT;

    resp.version = (char *)CRI_VERSION;
    resp.runtime_name = (char *)PACKAGE_NAME;
    resp.runtime_version = (char *)PACKAGE_VERSION;
    resp.runtime_api_version = (char *)(rpc->v1alpha2 ? "v1alpha2" : "v1");
    rpc_reply(rpc, &resp.base);
}

void rpc_status(struct rpc *rpc)
{
    Runtime__V1__StatusResponse resp = RUNTIME__V1__STATUS_RESPONSE__INIT;
    Runtime__V1__RuntimeStatus status = RUNTIME__V1__RUNTIME_STATUS__INIT;
    Runtime__V1__RuntimeCondition runtime_ready = RUNTIME__V1__RUNTIME_CONDITION__INIT;
    Runtime__V1__RuntimeCondition network_ready = RUNTIME__V1__RUNTIME_CONDITION__INIT;
    Runtime__V1__RuntimeCondition *conditions[] = {&runtime_ready, &network_ready};
    Runtime__V1__RuntimeHandler handler = RUNTIME__V1__RUNTIME_HANDLER__INIT;
    Runtime__V1__RuntimeHandlerFeatures features = RUNTIME__V1__RUNTIME_HANDLER_FEATURES__INIT;
    Runtime__V1__RuntimeHandler *handlers[] = {&handler};

    runtime_ready.type = (char *)"RuntimeReady";
    runtime_ready.status = 1;

    /* Pods can only use the host network until crisp has CNI support. */
    network_ready.type = (char *)"NetworkReady";
    network_ready.status = 0;
    network_ready.reason = (char *)"NetworkPluginNotReady";
    network_ready.message = (char *)"crisp has no pod network support yet (no CNI plugin is "
                                    "configured); only pods with host networking can run";

    status.n_conditions = 2;
    status.conditions = conditions;
    resp.status = &status;

    /* The default handler, named by an empty string, runs pods in user namespaces. */
    handler.name = (char *)"";
    features.user_namespaces = 1;
    handler.features = &features;
    resp.n_runtime_handlers = 1;
    resp.runtime_handlers = handlers;
    rpc_reply(rpc, &resp.base);
}
