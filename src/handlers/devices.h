/*
 * The device cgroup of a container: containerd's default rules plus the
 * CRI Device entries with their permissions, or every device when
 * privileged.
 */
#ifndef CRISP_HANDLERS_DEVICES_H
#define CRISP_HANDLERS_DEVICES_H

#include <stdbool.h>

#include "proto/api.pb-c.h"
#include "util/err.h"

/*
 * Restrict the devices of the container cgroup at cgroup_path, before its
 * process runs.  Fails with INVALID_ARGUMENT naming the field for
 * permissions other than r, w and m, and for a host_path that is not a
 * character or block device.
 */
int container_devices_apply(const Runtime__V1__ContainerConfig *config, bool privileged,
                            const char *cgroup_path, struct err **err);

#endif
