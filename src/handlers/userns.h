/* A pod's CRI UserNamespace (NamespaceOption.userns_options) as platform ID maps. */
#ifndef CRISP_HANDLERS_USERNS_H
#define CRISP_HANDLERS_USERNS_H

#include <stdbool.h>

#include "platform/platform.h"
#include "proto/api.pb-c.h"
#include "util/err.h"

/* The maps of one pod; spec points into uids and gids. */
struct pod_userns {
    bool enabled;               /* mode POD; false for NODE or no userns_options */
    struct id_map uids[1];
    struct id_map gids[1];
    struct userns_spec spec;
};

/*
 * Read the user namespace of a pod config.  Mode NODE (or none sent)
 * keeps the host's and must come without maps.  Mode POD needs one uid
 * range and one gid range, equal to each other, as kubelet sends them and
 * containerd requires.  Fails with INVALID_ARGUMENT naming the field.
 */
int pod_userns_from_cri(const Runtime__V1__PodSandboxConfig *config, struct pod_userns *ret,
                        struct err **err);

#endif
