/*
 * Cgroups of pods and containers seen from the handlers: the CRI's
 * LinuxContainerResources as cgroup limits, the cgroup paths, OOM kills,
 * UpdateContainerResources and RuntimeConfig.
 */
#ifndef CRISP_HANDLERS_RESOURCES_H
#define CRISP_HANDLERS_RESOURCES_H

#include <stdbool.h>

#include "handlers/rpc.h"

/*
 * Create the pod cgroup "<cgroup_parent>/<pod id>" and return in
 * *ret_process_path the cgroup the pause process joins (caller frees).
 */
int pod_cgroup_create(struct crisp *crisp, const struct sandbox *sb, char **ret_process_path,
                      struct err **err);
/* Remove the pod cgroup, killing what is left in it; retried later while busy. */
void pod_cgroup_remove(struct crisp *crisp, const struct sandbox *sb);

/* Create the container cgroup "<pod cgroup>/<container id>" with the request's limits. */
int container_cgroup_create(struct crisp *crisp, const struct sandbox *sb,
                            const struct container *c, char **ret_path, struct err **err);
/* Start reporting OOM kills of the running container c; a failure is logged and ignored. */
void container_cgroup_watch(struct crisp *crisp, const struct container *c);
/*
 * Called when c's process has exited: stop watching, return whether the
 * OOM killer killed a process of the container, and remove the cgroup,
 * killing the processes the main process left in it.
 */
bool container_cgroup_exited(struct crisp *crisp, const struct container *c);
/* Remove the container cgroup, killing what is left in it; retried later while busy. */
void container_cgroup_remove(struct crisp *crisp, const struct container *c);

/* The container's current limits, for ContainerStatus; never NULL. */
Runtime__V1__LinuxContainerResources *container_resources(const struct container *c);

void rpc_update_container_resources(struct rpc *rpc);

#endif
