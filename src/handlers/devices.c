#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "handlers/devices.h"
#include "platform/cgroup.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* The cgroup rule of config.devices[index]: its type and numbers from the host node. */
static int device_rule(const Runtime__V1__Device *d, size_t index,
                       struct cgroup_device_rule *ret, struct err **err)
{
    struct stat st;

    if (stat(d->host_path, &st) < 0)
        return err_sys(err, "config.devices[%zu].host_path '%s'", index, d->host_path);
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config.devices[%zu].host_path '%s' is not a character or block device",
                          index, d->host_path);
    if (cgroup_device_access_parse(d->permissions, &ret->access, err) < 0)
        return err_wrap(err, "config.devices[%zu].permissions", index);
    ret->allow = true;
    ret->type = S_ISCHR(st.st_mode) ? 'c' : 'b';
    ret->major = major(st.st_rdev);
    ret->minor = minor(st.st_rdev);
    return 0;
}

int container_devices_apply(const Runtime__V1__ContainerConfig *config, bool privileged,
                            const char *cgroup_path, struct err **err)
{
    /* containerd gives a privileged container "a *:* rwm": every device. */
    static const struct cgroup_device_rule allow_all = {true, 'a', -1, -1, CGROUP_DEVICE_ALL};
    _cleanup_free_ struct cgroup_device_rule *rules = NULL;
    size_t n = cgroup_n_default_device_rules;

    if (!cgroup_path)
        return 0;
    if (privileged)
        return cgroup_devices_apply(cgroup_path, &allow_all, 1, err);
    if (config->n_devices > CGROUP_MAX_DEVICE_RULES - n)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config.devices has %zu entries, more than the limit of %zu",
                          config->n_devices, (size_t)CGROUP_MAX_DEVICE_RULES - n);

    rules = xcalloc(n + config->n_devices, sizeof(*rules));
    memcpy(rules, cgroup_default_device_rules, n * sizeof(*rules));
    for (size_t i = 0; i < config->n_devices; i++) {
        if (device_rule(config->devices[i], i, &rules[n++], err) < 0)
            return -1;
    }
    return cgroup_devices_apply(cgroup_path, rules, n, err);
}
