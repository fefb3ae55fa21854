/*
 * A container's LinuxContainerSecurityContext, devices and OOM score as
 * the platform's struct ctr_security, decided as containerd's CRI plugin
 * decides them.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/security.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

/* The two files in /etc a user lookup reads are small; longer lines are skipped. */
#define ETC_LINE_MAX 4096
#define MAX_GROUPS 256

static const char *const default_masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    NULL,
};

static const char *const default_readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

void security_holder_free(struct ctr_security_holder *h)
{
    if (!h)
        return;
    seccomp_profile_free(h->seccomp);
    strv_free(h->masked_paths);
    strv_free(h->readonly_paths);
    free(h->devices);
    free(h->groups);
    free(h);
}

static char **strv_copy(char *const *v, size_t n)
{
    char **out = xcalloc(n + 1, sizeof(*out));

    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

static char **strv_copy_null(const char *const *v)
{
    size_t n = 0;

    while (v[n])
        n++;
    return strv_copy((char *const *)v, n);
}

/*
 * The deprecated string fields, still sent by older kubelets; read in one
 * place so the deprecation warning is silenced only here.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static const char *deprecated_seccomp_path(const Runtime__V1__LinuxContainerSecurityContext *sc)
{
    return sc->seccomp_profile_path;
}

static const char *deprecated_apparmor_profile(const Runtime__V1__LinuxContainerSecurityContext *sc)
{
    return sc->apparmor_profile;
}
#pragma GCC diagnostic pop

/* ---- seccomp ---- */

/*
 * The deprecated seccomp_profile_path strings: runtime/default,
 * docker/default, unconfined and localhost/<path>.
 */
static int seccomp_from_path(const char *path, struct seccomp_profile **ret, struct err **err)
{
    *ret = NULL;
    if (!path[0] || strcmp(path, "unconfined") == 0)
        return 0;
    if (strcmp(path, "runtime/default") == 0 || strcmp(path, "docker/default") == 0) {
        *ret = seccomp_profile_default();
        return 0;
    }
    if (strncmp(path, "localhost/", 10) == 0) {
        *ret = seccomp_profile_load(path + 10, err);
        return *ret ? 0 : -1;
    }
    return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                      "config.linux.security_context.seccomp_profile_path '%s' is not "
                      "runtime/default, docker/default, unconfined or localhost/<path>",
                      path);
}

/*
 * The SecurityProfile message wins over the deprecated string.  Neither
 * set means unconfined, as in containerd without unset_seccomp_profile;
 * kubelet always sends one.
 */
static int build_seccomp(const Runtime__V1__LinuxContainerSecurityContext *sc,
                         struct seccomp_profile **ret, struct err **err)
{
    const Runtime__V1__SecurityProfile *sp = sc->seccomp;

    *ret = NULL;
    if (!sp)
        return seccomp_from_path(deprecated_seccomp_path(sc), ret, err);
    switch (sp->profile_type) {
    case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault:
        *ret = seccomp_profile_default();
        return 0;
    case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined:
        return 0;
    case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost:
        *ret = seccomp_profile_load(sp->localhost_ref, err);
        return *ret ? 0 : -1;
    default:
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config.linux.security_context.seccomp.profile_type %d is unknown",
                          (int)sp->profile_type);
    }
}

/* ---- AppArmor and SELinux ---- */

static int no_apparmor(const char *profile, struct err **err)
{
    return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                      "AppArmor profile '%s' requested, but this host has no AppArmor", profile);
}

/* RuntimeDefault and unconfined mean no profile here; a named profile cannot be honoured. */
static int check_apparmor(const Runtime__V1__LinuxContainerSecurityContext *sc, struct err **err)
{
    const Runtime__V1__SecurityProfile *sp = sc->apparmor;
    const char *name = deprecated_apparmor_profile(sc);

    if (sp) {
        if (sp->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost)
            return no_apparmor(sp->localhost_ref, err);
        return 0;
    }
    if (!name[0] || strcmp(name, "runtime/default") == 0 || strcmp(name, "unconfined") == 0)
        return 0;
    if (strncmp(name, "localhost/", 10) == 0)
        return no_apparmor(name + 10, err);
    return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                      "config.linux.security_context.apparmor_profile '%s' is not "
                      "runtime/default, unconfined or localhost/<profile>",
                      name);
}

static int check_selinux(const Runtime__V1__LinuxContainerSecurityContext *sc, struct err **err)
{
    const Runtime__V1__SELinuxOption *o = sc->selinux_options;

    if (o && (o->user[0] || o->role[0] || o->type[0] || o->level[0]))
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "SELinux label '%s:%s:%s:%s' requested, but this host has no SELinux",
                          o->user, o->role, o->type, o->level);
    return 0;
}

/* ---- groups ---- */

/* Split an etc/passwd or etc/group line into at most n ':'-separated fields in place. */
static size_t split_fields(char *line, char **fields, size_t n)
{
    size_t k = 0;

    line[strcspn(line, "\n")] = '\0';
    while (k < n && line) {
        fields[k++] = line;
        line = strchr(line, ':');
        if (line)
            *line++ = '\0';
    }
    return k;
}

/* The first etc/<name> in the image's layers, topmost first; NULL when none has it. */
static FILE *open_image_file(char **layer_dirs, const char *name)
{
    for (size_t i = 0; layer_dirs && layer_dirs[i]; i++) {
        _cleanup_free_ char *path = path_join(layer_dirs[i], name);
        FILE *f = fopen(path, "re");

        if (f)
            return f;
    }
    return NULL;
}

static char *user_name(char **layer_dirs, uid_t uid)
{
    _cleanup_fclose_ FILE *f = open_image_file(layer_dirs, "etc/passwd");
    char line[ETC_LINE_MAX];

    while (f && fgets(line, sizeof(line), f)) {
        char *fields[4];
        char *end;

        if (split_fields(line, fields, 4) < 3)
            continue;
        if (strtoul(fields[2], &end, 10) == uid && !*end && fields[2][0])
            return xstrdup(fields[0]);
    }
    return NULL;
}

/* Whether the comma-separated member list of an etc/group line names name. */
static bool has_member(const char *list, const char *name)
{
    size_t len = strlen(name);

    for (const char *m = list; m; m = strchr(m, ',') ? strchr(m, ',') + 1 : NULL) {
        if (strncmp(m, name, len) == 0 && (m[len] == ',' || m[len] == '\0'))
            return true;
    }
    return false;
}

static void add_group(struct ctr_security_holder *h, gid_t gid)
{
    for (size_t i = 0; i < h->n_groups; i++) {
        if (h->groups[i] == gid)
            return;
    }
    if (h->n_groups >= MAX_GROUPS)
        return;
    h->groups = xrealloc(h->groups, (h->n_groups + 1) * sizeof(*h->groups));
    h->groups[h->n_groups++] = gid;
}

/*
 * The primary group, the groups whose member list names the user in the
 * image's /etc/group (containerd's WithAdditionalGIDs), then the
 * supplemental_groups of the request.
 */
static void build_groups(struct ctr_security_holder *h, char **layer_dirs, uid_t uid, gid_t gid,
                         const Runtime__V1__LinuxContainerSecurityContext *sc)
{
    _cleanup_free_ char *name = user_name(layer_dirs, uid);
    _cleanup_fclose_ FILE *f = name ? open_image_file(layer_dirs, "etc/group") : NULL;
    char line[ETC_LINE_MAX];

    add_group(h, gid);
    while (f && fgets(line, sizeof(line), f)) {
        char *fields[4];
        char *end;
        unsigned long g;

        if (split_fields(line, fields, 4) < 4 || !fields[2][0])
            continue;
        g = strtoul(fields[2], &end, 10);
        if (!*end && g <= 0x7fffffff && has_member(fields[3], name))
            add_group(h, (gid_t)g);
    }
    for (size_t i = 0; sc && i < sc->n_supplemental_groups; i++) {
        if (sc->supplemental_groups[i] >= 0 && sc->supplemental_groups[i] <= 0x7fffffff)
            add_group(h, (gid_t)sc->supplemental_groups[i]);
    }
}

/* ---- OOM score ---- */

/*
 * Without CAP_SYS_RESOURCE crispd cannot give a container a score below
 * its own; like containerd's restrict_oom_score_adj, clamp and warn.
 */
static int clamp_oom_score_adj(int64_t requested)
{
    _cleanup_free_ char *text = NULL;
    int sys_resource, own;
    size_t len;

    if (requested < -1000)
        requested = -1000;
    if (requested > 1000)
        requested = 1000;
    if (caps_parse_name("CAP_SYS_RESOURCE", &sys_resource, NULL) == 0 &&
        (caps_current() & (UINT64_C(1) << sys_resource)))
        return (int)requested;
    if (read_file("/proc/self/oom_score_adj", 32, &text, &len, NULL) < 0)
        return (int)requested;
    own = (int)strtol(text, NULL, 10);
    if (requested >= own)
        return (int)requested;
    log_warn("oom_score_adj %d is below crispd's own %d and crispd lacks CAP_SYS_RESOURCE; "
             "using %d",
             (int)requested, own, own);
    return own;
}

/* ---- the whole context ---- */

static int build_devices(struct ctr_security_holder *h, const Runtime__V1__ContainerConfig *config,
                         struct err **err)
{
    h->devices = xcalloc(config->n_devices + 1, sizeof(*h->devices));
    for (size_t i = 0; i < config->n_devices; i++) {
        const Runtime__V1__Device *d = config->devices[i];

        if (d->host_path[0] != '/')
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "config.devices[%zu].host_path '%s' is not absolute", i,
                              d->host_path);
        h->devices[i].host_path = d->host_path;
        h->devices[i].container_path = d->container_path[0] ? d->container_path : d->host_path;
    }
    h->sec.devices = h->devices;
    h->sec.n_devices = config->n_devices;
    return 0;
}

static int build_caps(struct ctr_security_holder *h,
                      const Runtime__V1__LinuxContainerSecurityContext *sc, bool privileged,
                      uid_t uid, struct err **err)
{
    const Runtime__V1__Capability *c = sc ? sc->capabilities : NULL;
    struct caps_request req;

    memset(&req, 0, sizeof(req));
    req.privileged = privileged;
    req.root_user = uid == 0;
    if (c) {
        req.add = c->add_capabilities;
        req.n_add = c->n_add_capabilities;
        req.drop = c->drop_capabilities;
        req.n_drop = c->n_drop_capabilities;
        req.ambient = c->add_ambient_capabilities;
        req.n_ambient = c->n_add_ambient_capabilities;
    }
    if (caps_compute(&req, &h->sec.caps, err) < 0)
        return err_wrap(err, "config.linux.security_context.capabilities");
    return 0;
}

static int build_confinement(struct ctr_security_holder *h,
                             const Runtime__V1__LinuxContainerSecurityContext *sc, bool privileged,
                             struct err **err)
{
    if (!sc)
        return 0;
    if (check_apparmor(sc, err) < 0 || check_selinux(sc, err) < 0)
        return -1;
    h->sec.no_new_privs = sc->no_new_privs;
    if (privileged)
        return 0;
    if (build_seccomp(sc, &h->seccomp, err) < 0)
        return -1;
    h->sec.seccomp = h->seccomp;
    if (sc->n_masked_paths)
        h->masked_paths = strv_copy(sc->masked_paths, sc->n_masked_paths);
    if (sc->n_readonly_paths)
        h->readonly_paths = strv_copy(sc->readonly_paths, sc->n_readonly_paths);
    return 0;
}

struct ctr_security_holder *security_from_cri(const struct crisp *crisp,
                                              const Runtime__V1__ContainerConfig *config,
                                              const Runtime__V1__PodSandboxConfig *pod_config,
                                              char **layer_dirs, uid_t uid, gid_t gid,
                                              struct err **err)
{
    const Runtime__V1__LinuxContainerSecurityContext *sc =
        config->linux ? config->linux->security_context : NULL;
    const Runtime__V1__LinuxContainerResources *res =
        config->linux ? config->linux->resources : NULL;
    bool privileged = sc && sc->privileged;
    struct ctr_security_holder *h = xzalloc(sizeof(*h));

    if (privileged && !(pod_config && pod_config->linux && pod_config->linux->security_context &&
                        pod_config->linux->security_context->privileged)) {
        err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                   "no privileged container allowed in an unprivileged pod sandbox");
        goto fail;
    }
    if (build_caps(h, sc, privileged, uid, err) < 0 ||
        build_confinement(h, sc, privileged, err) < 0 || build_devices(h, config, err) < 0)
        goto fail;

    h->sec.privileged = privileged;
    if (!privileged && !h->masked_paths)
        h->masked_paths = strv_copy_null(default_masked_paths);
    if (!privileged && !h->readonly_paths)
        h->readonly_paths = strv_copy_null(default_readonly_paths);
    h->sec.masked_paths = h->masked_paths;
    h->sec.readonly_paths = h->readonly_paths;
    build_groups(h, layer_dirs, uid, gid, sc);
    if (res) {
        h->sec.set_oom_score_adj = true;
        h->sec.oom_score_adj = clamp_oom_score_adj(res->oom_score_adj);
    }
    h->sec.rlimit_nofile = crisp->config->rlimit_nofile;
    return h;

fail:
    security_holder_free(h);
    return NULL;
}
