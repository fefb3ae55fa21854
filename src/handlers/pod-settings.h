/*
 * Pod-level settings as containerd's CRI plugin applies them: DNSConfig,
 * the pod's hosts and hostname files, a per-pod /dev/shm and sysctls, and
 * the mounts that show them in each container.
 */
#ifndef CRISP_HANDLERS_POD_SETTINGS_H
#define CRISP_HANDLERS_POD_SETTINGS_H

#include "platform/platform.h"
#include "proto/api.pb-c.h"
#include "util/err.h"

struct sandbox;

/* At most this many sysctls, DNS servers, searches or options in one request. */
#define POD_SETTINGS_MAX_ENTRIES 256

/*
 * Check the DNSConfig and the sysctls of a RunPodSandbox request before
 * anything is created.  Fails with INVALID_ARGUMENT naming the sysctl key
 * or the DNS entry.
 */
int pod_settings_check(const Runtime__V1__PodSandboxConfig *config, struct err **err);

/*
 * Write the pod's files into sb->state_dir and mount its /dev/shm; fill
 * *ret_sysctls (the caller frees the array, not the strings, which the
 * config owns) for the pause process.  On failure nothing stays mounted.
 */
int pod_settings_setup(const struct sandbox *sb, struct pod_sysctl **ret_sysctls,
                       size_t *ret_n_sysctls, struct err **err);

/* Unmount the pod's /dev/shm, logging a failure; the state directory stays. */
void pod_settings_cleanup(const struct sandbox *sb);

/* A container's mounts: the pod's files first, then the request's. */
struct pod_ctr_mounts {
    struct ctr_mount *mounts;
    size_t n_mounts;
    char *paths[4]; /* host paths of the pod's files, owned */
};

/*
 * Put the pod's /etc/hostname, /etc/hosts, /etc/resolv.conf (read-only
 * when the container's root file system is) and /dev/shm in front of the
 * n requested mounts, skipping a file the request mounts itself, as
 * containerd does, and skipping a file missing from the pod's state
 * directory.  /dev/shm is the host's when the pod or the container uses
 * the host IPC namespace.  Never fails.
 */
struct pod_ctr_mounts *pod_settings_ctr_mounts(const struct sandbox *sb,
                                               const Runtime__V1__ContainerConfig *config,
                                               const struct ctr_mount *requested, size_t n);

void pod_ctr_mounts_free(struct pod_ctr_mounts *m);

#endif
