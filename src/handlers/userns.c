#include "config.h"

#include <string.h>

#include "handlers/userns.h"

#define FIELD "config.linux.security_context.namespace_options.userns_options"

static int copy_map(Runtime__V1__IDMapping **in, size_t n, const char *name, struct id_map *out,
                    struct err **err)
{
    struct id_map all[ID_MAP_MAX_RANGES] = {{0}};

    if (n > ID_MAP_MAX_RANGES)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "%s has %zu ranges, more than the kernel's limit of %d", name, n,
                          ID_MAP_MAX_RANGES);
    for (size_t i = 0; i < n; i++) {
        all[i].container_id = in[i]->container_id;
        all[i].host_id = in[i]->host_id;
        all[i].length = in[i]->length;
    }
    if (id_map_check(all, n, name, err) < 0)
        return -1;
    if (n != 1)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "%s has %zu ranges: only one range is supported, as kubelet sends", name,
                          n);
    *out = all[0];
    return 0;
}

int pod_userns_from_cri(const Runtime__V1__PodSandboxConfig *config, struct pod_userns *ret,
                        struct err **err)
{
    const Runtime__V1__UserNamespace *u = NULL;

    memset(ret, 0, sizeof(*ret));
    if (config->linux && config->linux->security_context &&
        config->linux->security_context->namespace_options)
        u = config->linux->security_context->namespace_options->userns_options;
    if (!u)
        return 0;

    switch (u->mode) {
    case RUNTIME__V1__NAMESPACE_MODE__NODE:
        if (u->n_uids || u->n_gids)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              FIELD ": mode NODE takes no uids or gids");
        return 0;
    case RUNTIME__V1__NAMESPACE_MODE__POD:
        break;
    default:
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          FIELD ".mode %d is invalid: only POD and NODE are supported",
                          (int)u->mode);
    }

    if (copy_map(u->uids, u->n_uids, FIELD ".uids", ret->uids, err) < 0 ||
        copy_map(u->gids, u->n_gids, FIELD ".gids", ret->gids, err) < 0)
        return -1;
    if (memcmp(ret->uids, ret->gids, sizeof(ret->uids)) != 0)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          FIELD ".uids and .gids differ: the same range is required for both");
    ret->enabled = true;
    ret->spec.uids = ret->uids;
    ret->spec.n_uids = 1;
    ret->spec.gids = ret->gids;
    ret->spec.n_gids = 1;
    return 0;
}
