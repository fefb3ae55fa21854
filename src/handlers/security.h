/*
 * Translation of a container's CRI security context (capabilities,
 * seccomp, AppArmor, SELinux, masked paths, devices, groups, OOM score)
 * into the platform's struct ctr_security.
 */
#ifndef CRISP_HANDLERS_SECURITY_H
#define CRISP_HANDLERS_SECURITY_H

#include <sys/types.h>

#include "handlers/handlers.h"
#include "platform/platform.h"
#include "proto/api.pb-c.h"

/* A struct ctr_security and everything it points to. */
struct ctr_security_holder {
    struct ctr_security sec;
    struct seccomp_profile *seccomp;
    char **masked_paths;
    char **readonly_paths;
    struct ctr_device *devices;
    gid_t *groups;
    size_t n_groups;
};

/*
 * Build the security settings of a container that runs as uid/gid in the
 * pod whose stored config is pod_config, reading the image's etc/passwd
 * and etc/group from layer_dirs (topmost first) for the user's groups.
 * Fails with INVALID_ARGUMENT (unknown capability, unreadable or invalid
 * seccomp profile, bad profile name) or FAILED_PRECONDITION (an AppArmor
 * or SELinux profile on this host without them, a privileged container in
 * an unprivileged pod).
 */
struct ctr_security_holder *security_from_cri(const struct crisp *crisp,
                                              const Runtime__V1__ContainerConfig *config,
                                              const Runtime__V1__PodSandboxConfig *pod_config,
                                              char **layer_dirs, uid_t uid, gid_t gid,
                                              struct err **err);

void security_holder_free(struct ctr_security_holder *h);

#endif
