/*
 * Pod-level settings, translated from the CRI PodSandboxConfig as
 * containerd's CRI plugin (internal/cri/server/podsandbox,
 * sandbox_run_linux.go and container_create_linux.go) applies them.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handlers/pod-settings.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

#define HOST_HOSTS "/etc/hosts"
#define HOST_RESOLV_CONF "/etc/resolv.conf"
#define HOST_SHM "/dev/shm"

static const Runtime__V1__NamespaceOption *pod_namespaces(const Runtime__V1__PodSandboxConfig *c)
{
    if (!c->linux || !c->linux->security_context)
        return NULL;
    return c->linux->security_context->namespace_options;
}

static bool pod_host_network(const Runtime__V1__PodSandboxConfig *c)
{
    const Runtime__V1__NamespaceOption *ns = pod_namespaces(c);

    return ns && ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE;
}

static bool pod_host_ipc(const Runtime__V1__PodSandboxConfig *c)
{
    const Runtime__V1__NamespaceOption *ns = pod_namespaces(c);

    return ns && ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
}

/* A resolv.conf entry is one line of text: a newline would start a line of its own. */
static int check_dns_list(const char *field, char **items, size_t n, struct err **err)
{
    if (n > POD_SETTINGS_MAX_ENTRIES)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config.dns_config.%s has %zu entries, more than the maximum of %d",
                          field, n, POD_SETTINGS_MAX_ENTRIES);
    for (size_t i = 0; i < n; i++) {
        if (!items[i][0] || strpbrk(items[i], "\n\r"))
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "config.dns_config.%s[%zu] '%s' is empty or contains a line break",
                              field, i, items[i]);
    }
    return 0;
}

int pod_settings_check(const Runtime__V1__PodSandboxConfig *config, struct err **err)
{
    const Runtime__V1__DNSConfig *dns = config->dns_config;
    const Runtime__V1__LinuxPodSandboxConfig *linux_config = config->linux;

    if (dns && (check_dns_list("servers", dns->servers, dns->n_servers, err) < 0 ||
                check_dns_list("searches", dns->searches, dns->n_searches, err) < 0 ||
                check_dns_list("options", dns->options, dns->n_options, err) < 0))
        return -1;
    if (!linux_config)
        return 0;
    if (linux_config->n_sysctls > POD_SETTINGS_MAX_ENTRIES)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config.linux.sysctls has %zu entries, more than the maximum of %d",
                          linux_config->n_sysctls, POD_SETTINGS_MAX_ENTRIES);
    for (size_t i = 0; i < linux_config->n_sysctls; i++) {
        const Runtime__V1__LinuxPodSandboxConfig__SysctlsEntry *s = linux_config->sysctls[i];

        if (sysctl_check(s->key, s->value, pod_host_network(config), pod_host_ipc(config), err) <
            0)
            return -1;
    }
    return 0;
}

int pod_settings_setup(const struct sandbox *sb, struct pod_sysctl **ret_sysctls,
                       size_t *ret_n_sysctls, struct err **err)
{
    const Runtime__V1__PodSandboxConfig *config = sb->config;
    const Runtime__V1__DNSConfig *dns_config = config->dns_config;
    const Runtime__V1__LinuxPodSandboxConfig *linux_config = config->linux;
    struct pod_dns dns = {0};
    struct pod_files files = {
        .state_dir = sb->state_dir,
        .hostname = config->hostname,
        .host_ipc = pod_host_ipc(config),
        .host_hosts = HOST_HOSTS,
        .host_resolv_conf = HOST_RESOLV_CONF,
    };
    struct pod_sysctl *sysctls = NULL;
    size_t n = linux_config ? linux_config->n_sysctls : 0;

    if (dns_config) {
        dns = (struct pod_dns){dns_config->servers,  dns_config->n_servers,
                               dns_config->searches, dns_config->n_searches,
                               dns_config->options,  dns_config->n_options};
        files.dns = &dns;
    }
    if (platform_pod_files_setup(&files, err) < 0) {
        pod_settings_cleanup(sb);
        return -1;
    }

    sysctls = xnew(struct pod_sysctl, n);
    for (size_t i = 0; i < n; i++) {
        sysctls[i].key = linux_config->sysctls[i]->key;
        sysctls[i].value = linux_config->sysctls[i]->value;
    }
    *ret_sysctls = sysctls;
    *ret_n_sysctls = n;
    return 0;
}

void pod_settings_cleanup(const struct sandbox *sb)
{
    _cleanup_err_ struct err *e = NULL;

    if (sb->state_dir && platform_pod_files_cleanup(sb->state_dir, &e) < 0)
        log_emit(LOG_LEVEL_WARN, e, &(struct log_ids){.pod_id = sb->id},
                 "unmounting the pod's /dev/shm failed; ignored");
}

/*
 * Drop repeated '/', "." components and a trailing '/' ("/etc//./hosts/"
 * gives "/etc/hosts"), as Go's filepath.Clean does for containerd's
 * comparison; ".." components stay.
 */
static char *clean_path(const char *path)
{
    char *out = xzalloc(strlen(path) + 2), *o = out;
    const char *p = path;

    while (*p) {
        size_t n;

        while (*p == '/')
            p++;
        n = strcspn(p, "/");
        if (n == 0)
            break;
        if (!(n == 1 && p[0] == '.')) {
            *o++ = '/';
            memcpy(o, p, n);
            o += n;
        }
        p += n;
    }
    if (o == out)
        *o++ = '/';
    *o = '\0';
    return out;
}

static bool requested_on(const struct ctr_mount *requested, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++) {
        _cleanup_free_ char *clean = clean_path(requested[i].container_path);

        if (strcmp(clean, path) == 0)
            return true;
    }
    return false;
}

static bool ctr_host_ipc(const Runtime__V1__ContainerConfig *config)
{
    const Runtime__V1__LinuxContainerSecurityContext *sc =
        config->linux ? config->linux->security_context : NULL;

    return sc && sc->namespace_options &&
           sc->namespace_options->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
}

struct pod_ctr_mounts *pod_settings_ctr_mounts(const struct sandbox *sb,
                                               const Runtime__V1__ContainerConfig *config,
                                               const struct ctr_mount *requested, size_t n)
{
    static const struct {
        const char *name;
        const char *container_path;
    } files[] = {
        {POD_FILE_HOSTNAME, "/etc/hostname"},
        {POD_FILE_HOSTS, "/etc/hosts"},
        {POD_FILE_RESOLV_CONF, "/etc/resolv.conf"},
        {POD_FILE_SHM, HOST_SHM},
    };
    const Runtime__V1__LinuxContainerSecurityContext *sc =
        config->linux ? config->linux->security_context : NULL;
    struct pod_ctr_mounts *m = xzalloc(sizeof(*m));
    size_t k = 0;

    m->mounts = xnew(struct ctr_mount, ARRAY_SIZE(files) + n);
    for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
        struct ctr_mount *cm = &m->mounts[k];
        bool shm = strcmp(files[i].name, POD_FILE_SHM) == 0;

        if (requested_on(requested, n, files[i].container_path))
            continue;
        if (shm && (pod_host_ipc(sb->config) || ctr_host_ipc(config)))
            m->paths[i] = xstrdup(HOST_SHM);
        else
            m->paths[i] = path_join(sb->state_dir, files[i].name);
        /* As containerd does, a missing file (a pod from before the files existed) is skipped. */
        if (!shm && access(m->paths[i], F_OK) < 0) {
            free(m->paths[i]);
            m->paths[i] = NULL;
            continue;
        }
        cm->host_path = m->paths[i];
        cm->container_path = files[i].container_path;
        /* containerd: the files follow readonly_rootfs, /dev/shm is always writable. */
        cm->readonly = !shm && sc && sc->readonly_rootfs;
        cm->propagation = MOUNT_PROPAGATION_PRIVATE;
        k++;
    }
    memcpy(&m->mounts[k], requested, n * sizeof(*requested));
    m->n_mounts = k + n;
    return m;
}

void pod_ctr_mounts_free(struct pod_ctr_mounts *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(m->paths); i++)
        free(m->paths[i]);
    free(m->mounts);
    free(m);
}
