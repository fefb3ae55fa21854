#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "handlers/resources.h"
#include "platform/cgroup.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* Retries of a cgroup removal whose processes are still exiting: every 100 ms, for 5 s. */
#define REMOVE_RETRY_MS 100
#define REMOVE_RETRIES 50

/* The cgroup limits of one request, pointing into the request message. */
struct limits {
    struct cgroup_resources res;
    struct cgroup_hugepage pages[CGROUP_MAX_HUGEPAGES];
    struct cgroup_unified unified[CGROUP_MAX_UNIFIED];
};

static int limits_from_cri(const Runtime__V1__LinuxContainerResources *r, int64_t pids_limit,
                           struct limits *out, struct err **err)
{
    memset(out, 0, sizeof(*out));
    out->res.pids_limit = pids_limit;
    if (!r)
        return 0;
    if (r->n_hugepage_limits > CGROUP_MAX_HUGEPAGES)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "%zu hugepage_limits: at most %d are accepted", r->n_hugepage_limits,
                          CGROUP_MAX_HUGEPAGES);
    if (r->n_unified > CGROUP_MAX_UNIFIED)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "%zu unified entries: at most %d are accepted", r->n_unified,
                          CGROUP_MAX_UNIFIED);

    /* The kernel's range for oom_score_adj (proc(5)). */
    if (r->oom_score_adj < -1000 || r->oom_score_adj > 1000)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "oom_score_adj %lld is out of range: expected -1000 to 1000",
                          (long long)r->oom_score_adj);
    out->res.cpu_shares = r->cpu_shares;
    out->res.cpu_quota = r->cpu_quota;
    out->res.cpu_period = r->cpu_period;
    out->res.cpuset_cpus = r->cpuset_cpus;
    out->res.cpuset_mems = r->cpuset_mems;
    out->res.memory_limit = r->memory_limit_in_bytes;
    out->res.memory_swap_limit = r->memory_swap_limit_in_bytes;
    for (size_t i = 0; i < r->n_hugepage_limits; i++) {
        out->pages[i].page_size = r->hugepage_limits[i]->page_size;
        out->pages[i].limit = r->hugepage_limits[i]->limit;
    }
    out->res.hugepages = out->pages;
    out->res.n_hugepages = r->n_hugepage_limits;
    for (size_t i = 0; i < r->n_unified; i++) {
        out->unified[i].key = r->unified[i]->key;
        out->unified[i].value = r->unified[i]->value;
    }
    out->res.unified = out->unified;
    out->res.n_unified = r->n_unified;
    return 0;
}

static const Runtime__V1__LinuxContainerResources *request_resources(const struct container *c)
{
    return c->config->linux ? c->config->linux->resources : NULL;
}

/* ---- paths ---- */

static enum cgroup_driver driver_of(const struct crisp *crisp)
{
    return (enum cgroup_driver)crisp->config->cgroup_driver;
}

static int pod_path(const struct crisp *crisp, const Runtime__V1__PodSandboxConfig *config,
                    const char *pod_id, char **ret_path, struct err **err)
{
    const char *parent = config && config->linux ? config->linux->cgroup_parent : "";
    _cleanup_free_ char *parent_path = NULL;

    if (cgroup_parent_path(parent, driver_of(crisp), &parent_path, err) < 0)
        return err_wrap(err, "config.linux.cgroup_parent");
    *ret_path = xasprintf("%s/%s", strcmp(parent_path, "/") == 0 ? "" : parent_path, pod_id);
    return 0;
}

/* The container's cgroup; from its request's sandbox_config once the pod record is gone. */
static char *container_path(const struct crisp *crisp, const struct container *c)
{
    struct sandbox *sb = store_find_sandbox(crisp->store, c->sandbox_id, NULL);
    const Runtime__V1__PodSandboxConfig *config = sb ? sb->config : c->req->sandbox_config;
    _cleanup_free_ char *pod = NULL;

    if (pod_path(crisp, config, c->sandbox_id, &pod, NULL) < 0)
        return NULL;
    return xasprintf("%s/%s", pod, c->id);
}

/* ---- removal, retried while processes are exiting ---- */

struct removal {
    char *path;
    int tries;
    struct event *timer;
};

static void on_remove_retry(evutil_socket_t fd, short what, void *arg)
{
    struct removal *rm = arg;
    _cleanup_err_ struct err *e = NULL;

    (void)fd;
    (void)what;
    if (cgroup_remove(rm->path, true, &e) < 0 && e->errnum == EBUSY &&
        ++rm->tries < REMOVE_RETRIES) {
        evtimer_add(rm->timer, &(struct timeval){.tv_usec = REMOVE_RETRY_MS * 1000});
        return;
    }
    if (e)
        log_warn_err(e, "cgroup '%s' is left behind", rm->path);
    event_free(rm->timer);
    free(rm->path);
    free(rm);
}

static void remove_cgroup(struct crisp *crisp, const char *path)
{
    _cleanup_err_ struct err *e = NULL;
    struct removal *rm;

    if (cgroup_remove(path, true, &e) == 0)
        return;
    if (e->errnum != EBUSY) {
        log_warn_err(e, "cgroup '%s' is left behind", path);
        return;
    }
    rm = xzalloc(sizeof(*rm));
    rm->path = xstrdup(path);
    rm->timer = evtimer_new(crisp->base, on_remove_retry, rm);
    if (!rm->timer)
        abort();
    evtimer_add(rm->timer, &(struct timeval){.tv_usec = REMOVE_RETRY_MS * 1000});
}

/* ---- pods ---- */

int pod_cgroup_create(struct crisp *crisp, const struct sandbox *sb, char **ret_process_path,
                      struct err **err)
{
    _cleanup_free_ char *path = NULL, *process_path = NULL;

    if (pod_path(crisp, sb->config, sb->id, &path, err) < 0 || cgroup_create(path, NULL, err) < 0)
        return -1;
    process_path = cgroup_pod_process_path(path);
    if (strcmp(process_path, path) != 0 && cgroup_create(process_path, NULL, err) < 0) {
        (void)cgroup_remove(path, true, NULL);
        return -1;
    }
    *ret_process_path = TAKE_PTR(process_path);
    return 0;
}

void pod_cgroup_remove(struct crisp *crisp, const struct sandbox *sb)
{
    _cleanup_free_ char *path = NULL;

    if (pod_path(crisp, sb->config, sb->id, &path, NULL) == 0)
        remove_cgroup(crisp, path);
}

/* ---- containers ---- */

/* OOM watches of running containers, by container id. */
struct oom_entry {
    struct oom_entry *next;
    char id[ID_LEN + 1];
    struct cgroup_oom_watch *watch;
    bool killed;
};

static struct oom_entry *oom_entries;

static struct oom_entry *oom_entry_take(const char *id)
{
    for (struct oom_entry **p = &oom_entries; *p; p = &(*p)->next) {
        struct oom_entry *entry = *p;

        if (strcmp(entry->id, id) == 0) {
            *p = entry->next;
            return entry;
        }
    }
    return NULL;
}

static void oom_entry_free(struct oom_entry *entry)
{
    if (!entry)
        return;
    cgroup_oom_watch_free(entry->watch);
    free(entry);
}

static void on_oom(void *data)
{
    struct oom_entry *entry = data;

    entry->killed = true;
    log_emit(LOG_LEVEL_INFO, NULL, &(struct log_ids){.container_id = entry->id},
             "the OOM killer killed a process of the container");
}

int container_cgroup_create(struct crisp *crisp, const struct sandbox *sb,
                            const struct container *c, char **ret_path, struct err **err)
{
    _cleanup_free_ char *pod = NULL;
    struct limits limits;

    if (limits_from_cri(request_resources(c), crisp->config->pids_limit, &limits, err) < 0)
        return err_wrap(err, "config.linux.resources");
    if (pod_path(crisp, sb->config, sb->id, &pod, err) < 0)
        return -1;
    *ret_path = xasprintf("%s/%s", pod, c->id);
    if (cgroup_create(*ret_path, &limits.res, err) < 0) {
        free(TAKE_PTR(*ret_path));
        return -1;
    }
    return 0;
}

void container_cgroup_watch(struct crisp *crisp, const struct container *c)
{
    _cleanup_free_ char *path = container_path(crisp, c);
    _cleanup_err_ struct err *e = NULL;
    struct oom_entry *entry;

    if (!path)
        return;
    entry = xzalloc(sizeof(*entry));
    snprintf(entry->id, sizeof(entry->id), "%s", c->id);
    entry->watch = cgroup_oom_watch_new(crisp->base, path, on_oom, entry, &e);
    if (!entry->watch) {
        log_emit(LOG_LEVEL_WARN, e, &(struct log_ids){.container_id = c->id},
                 "OOM kills of the container will be reported only when it exits");
        free(entry);
        return;
    }
    entry->next = oom_entries;
    oom_entries = entry;
}

bool container_cgroup_exited(struct crisp *crisp, const struct container *c)
{
    _cleanup_free_ char *path = container_path(crisp, c);
    struct oom_entry *entry = oom_entry_take(c->id);
    bool killed = entry && entry->killed;
    uint64_t count = 0;

    oom_entry_free(entry);
    if (!path)
        return killed;
    /* The event may still be queued behind the exit: the kernel's counter decides too. */
    if (cgroup_oom_kills(path, &count, NULL) == 0 && count > 0)
        killed = true;
    /*
     * As runc does for a container without a PID namespace of its own: what
     * the main process left behind (reparented to the pause) is killed.
     */
    remove_cgroup(crisp, path);
    return killed;
}

void container_cgroup_remove(struct crisp *crisp, const struct container *c)
{
    _cleanup_free_ char *path = container_path(crisp, c);

    oom_entry_free(oom_entry_take(c->id));
    if (path)
        remove_cgroup(crisp, path);
}

Runtime__V1__LinuxContainerResources *container_resources(const struct container *c)
{
    static Runtime__V1__LinuxContainerResources none = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    const Runtime__V1__LinuxContainerResources *r = request_resources(c);

    return r ? (Runtime__V1__LinuxContainerResources *)r : &none;
}

/* ---- UpdateContainerResources ---- */

/*
 * The stored resources with update's over them, as containerd merges
 * them: set (non-zero) fields replace, hugepage limits replace those of
 * the same page size, unified entries those of the same key.  Unpacking
 * both messages packed into one buffer merges them as protobuf defines.
 * The repeated fields are then cut down to the last entry of each key.
 */
static Runtime__V1__LinuxContainerResources *
merge_resources(const Runtime__V1__LinuxContainerResources *stored,
                const Runtime__V1__LinuxContainerResources *update)
{
    size_t len_stored = stored ? runtime__v1__linux_container_resources__get_packed_size(stored) : 0;
    size_t len_update = runtime__v1__linux_container_resources__get_packed_size(update);
    _cleanup_free_ uint8_t *buf = xmalloc(len_stored + len_update + 1);
    Runtime__V1__LinuxContainerResources *merged;
    size_t k;

    if (stored)
        runtime__v1__linux_container_resources__pack(stored, buf);
    runtime__v1__linux_container_resources__pack(update, buf + len_stored);
    merged = runtime__v1__linux_container_resources__unpack(NULL, len_stored + len_update, buf);
    if (!merged)
        abort(); /* packed by protobuf-c just above */

    k = 0;
    for (size_t i = 0; i < merged->n_hugepage_limits; i++) {
        bool later = false;

        for (size_t j = i + 1; j < merged->n_hugepage_limits && !later; j++)
            later = strcmp(merged->hugepage_limits[i]->page_size,
                           merged->hugepage_limits[j]->page_size) == 0;
        if (later)
            protobuf_c_message_free_unpacked(&merged->hugepage_limits[i]->base, NULL);
        else
            merged->hugepage_limits[k++] = merged->hugepage_limits[i];
    }
    merged->n_hugepage_limits = k;

    k = 0;
    for (size_t i = 0; i < merged->n_unified; i++) {
        bool later = false;

        for (size_t j = i + 1; j < merged->n_unified && !later; j++)
            later = strcmp(merged->unified[i]->key, merged->unified[j]->key) == 0;
        if (later)
            protobuf_c_message_free_unpacked(&merged->unified[i]->base, NULL);
        else
            merged->unified[k++] = merged->unified[i];
    }
    merged->n_unified = k;
    return merged;
}

/* Keep merged as the container's resources; c->req owns it from here on. */
static void store_resources(struct container *c, Runtime__V1__LinuxContainerResources *merged)
{
    Runtime__V1__ContainerConfig *config = c->req->config;

    if (!config->linux) {
        config->linux = xmalloc(sizeof(*config->linux));
        runtime__v1__linux_container_config__init(config->linux);
    }
    if (config->linux->resources)
        protobuf_c_message_free_unpacked(&config->linux->resources->base, NULL);
    config->linux->resources = merged;
}

void rpc_update_container_resources(struct rpc *rpc)
{
    Runtime__V1__UpdateContainerResourcesRequest *req =
        (Runtime__V1__UpdateContainerResourcesRequest *)rpc->req;
    Runtime__V1__UpdateContainerResourcesResponse resp =
        RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_RESPONSE__INIT;
    struct crisp *crisp = rpc->crisp;
    Runtime__V1__LinuxContainerResources *merged;
    _cleanup_err_ struct err *e = NULL;
    _cleanup_free_ char *path = NULL;
    struct container *c;
    struct limits limits;

    if (!req->container_id[0])
        return rpc_failf(rpc, GRPC_STATUS_INVALID_ARGUMENT, "container_id is empty");
    c = store_find_container(crisp->store, req->container_id, &e);
    if (e)
        return rpc_fail(rpc, e);
    if (!c)
        return rpc_failf(rpc, GRPC_STATUS_NOT_FOUND, "container '%s' not found",
                         req->container_id);
    rpc_set_container(rpc, c->id);
    rpc_set_pod(rpc, c->sandbox_id);
    if (!req->linux)
        return rpc_reply(rpc, &resp.base);

    /* Check the whole update before anything is written. */
    if (limits_from_cri(req->linux, 0, &limits, &e) < 0) {
        err_wrap(&e, "linux");
        return rpc_fail(rpc, e);
    }
    merged = merge_resources(request_resources(c), req->linux);

    /* As containerd: a container without a live process only gets its recorded limits changed. */
    if (c->state == CONTAINER_CREATED || c->state == CONTAINER_RUNNING) {
        path = container_path(crisp, c);
        if (!path || cgroup_update(path, &limits.res, &e) < 0) {
            protobuf_c_message_free_unpacked(&merged->base, NULL);
            if (!e)
                err_status(&e, GRPC_STATUS_INTERNAL, "container %s has no cgroup path", c->id);
            return rpc_fail(rpc, e);
        }
    }
    store_resources(c, merged);
    log_emit(LOG_LEVEL_INFO, NULL, &rpc->ids, "container resources updated");
    rpc_reply(rpc, &resp.base);
}

/* ---- configuration and RuntimeConfig ---- */

int handlers_load_cgroup_config(struct crisp_config *c, void *root, struct err **err)
{
    json_t *driver = json_object_get(root, "cgroup_driver");
    json_t *pids = json_object_get(root, "pids_limit");

    if (driver) {
        const char *name = json_string_value(driver);

        if (name && strcmp(name, "cgroupfs") == 0)
            c->cgroup_driver = CGROUP_DRIVER_CGROUPFS;
        else if (name && strcmp(name, "systemd") == 0)
            c->cgroup_driver = CGROUP_DRIVER_SYSTEMD;
        else
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "cgroup_driver must be \"cgroupfs\" or \"systemd\"");
    }
    if (pids) {
        if (!json_is_integer(pids) || json_integer_value(pids) < -1)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "pids_limit must be an integer, -1 for unlimited");
        c->pids_limit = json_integer_value(pids);
    }
    return 0;
}

void rpc_runtime_config(struct rpc *rpc)
{
    Runtime__V1__RuntimeConfigResponse resp = RUNTIME__V1__RUNTIME_CONFIG_RESPONSE__INIT;
    Runtime__V1__LinuxRuntimeConfiguration linux_config =
        RUNTIME__V1__LINUX_RUNTIME_CONFIGURATION__INIT;

    linux_config.cgroup_driver = driver_of(rpc->crisp) == CGROUP_DRIVER_SYSTEMD
                                     ? RUNTIME__V1__CGROUP_DRIVER__SYSTEMD
                                     : RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
    resp.linux = &linux_config;
    rpc_reply(rpc, &resp.base);
}
