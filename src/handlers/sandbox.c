#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "handlers/pod-settings.h"
#include "handlers/resources.h"
#include "handlers/userns.h"
#include "handlers/rpc.h"
#include "keeper.h"
#include "platform/platform.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/*
 * The map entries of every CRI message (labels, annotations, info) have
 * the same wire layout, key = 1 and value = 2, both strings, so entries of
 * one message can be sent as another's.
 */
#define MAP_ENTRIES(type, entries) ((type **)(void *)(entries))

struct kv_entry {
    ProtobufCMessage base;
    char *key;
    char *value;
};

bool labels_match(size_t n_labels, void *const *labels, size_t n_selector, void *const *selector)
{
    for (size_t i = 0; i < n_selector; i++) {
        const struct kv_entry *want = selector[i];
        bool found = false;

        for (size_t j = 0; j < n_labels && !found; j++) {
            const struct kv_entry *have = labels[j];

            found = strcmp(have->key, want->key) == 0 && strcmp(have->value, want->value) == 0;
        }
        if (!found)
            return false;
    }
    return true;
}

void waiters_notify(struct waiter **list, const struct err *e)
{
    struct waiter *w = TAKE_PTR(*list);

    while (w) {
        struct waiter *next = w->next;

        w->done(w, e);
        w = next;
    }
}

static Runtime__V1__NamespaceOption *sandbox_namespaces(const struct sandbox *sb)
{
    const Runtime__V1__LinuxPodSandboxConfig *linux_config = sb->config->linux;

    if (!linux_config || !linux_config->security_context)
        return NULL;
    return linux_config->security_context->namespace_options;
}

static char *sandbox_name(const Runtime__V1__PodSandboxMetadata *md)
{
    return xasprintf("%s_%s_%s_%u", md->name, md->namespace_, md->uid, md->attempt);
}

int sandbox_release(struct crisp *crisp, struct sandbox *sb, struct err **err)
{
    /* The watch refers to sb: it goes first.  The cgroup removal kills a pause still running. */
    proc_watch_free(sb->watch);
    sb->watch = NULL;
    close_and_reset(&sb->pidfd);
    pod_cgroup_remove(crisp, sb);
    /* Unmounts the pod's /dev/shm, which rm_rf() would not cross. */
    pod_settings_cleanup(sb);
    if (sb->state_dir && rm_rf(sb->state_dir, err) < 0)
        return -1;
    return store_remove_sandbox(crisp->store, sb, err);
}

/*
 * The user the pause process runs as, from the pod's security context, as
 * containerd runs its sandbox container: run_as_user, run_as_group (only
 * with a user) and supplemental_groups.  *ret_groups is freed by the caller.
 */
static int sandbox_user(const Runtime__V1__PodSandboxConfig *config, struct pod_spec *spec,
                        gid_t **ret_groups, struct err **err)
{
    const Runtime__V1__LinuxSandboxSecurityContext *sc =
        config->linux ? config->linux->security_context : NULL;
    gid_t *groups;

    if (!sc || (!sc->run_as_user && !sc->run_as_group && sc->n_supplemental_groups == 0))
        return 0;
    if (sc->run_as_group && !sc->run_as_user)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config.linux.security_context.run_as_group is set without "
                          "run_as_user");
    if (sc->run_as_user && (sc->run_as_user->value < 0 || sc->run_as_user->value > 0x7fffffff))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config.linux.security_context.run_as_user %lld is out of range",
                          (long long)sc->run_as_user->value);
    if (sc->run_as_group && (sc->run_as_group->value < 0 || sc->run_as_group->value > 0x7fffffff))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config.linux.security_context.run_as_group %lld is out of range",
                          (long long)sc->run_as_group->value);
    groups = xnew(gid_t, sc->n_supplemental_groups);
    for (size_t i = 0; i < sc->n_supplemental_groups; i++) {
        if (sc->supplemental_groups[i] < 0 || sc->supplemental_groups[i] > 0x7fffffff) {
            free(groups);
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "config.linux.security_context.supplemental_groups[%zu] %lld is "
                              "out of range",
                              i, (long long)sc->supplemental_groups[i]);
        }
        groups[i] = (gid_t)sc->supplemental_groups[i];
    }
    spec->has_user = true;
    spec->uid = sc->run_as_user ? (uid_t)sc->run_as_user->value : 0;
    spec->gid = sc->run_as_group ? (gid_t)sc->run_as_group->value : 0;
    spec->groups = groups;
    spec->n_groups = sc->n_supplemental_groups;
    *ret_groups = groups;
    return 0;
}

/* ---- RunPodSandbox ---- */

static void on_pause_exit(void *data, pid_t pid, int exit_code, int signal)
{
    struct sandbox *sb = data;
    _cleanup_err_ struct err *e = NULL;

    log_emit(LOG_LEVEL_INFO, NULL, &(struct log_ids){.pod_id = sb->id},
             "pod sandbox process %d exited with code %d (signal %d)", (int)pid, exit_code,
             signal);
    proc_watch_free(sb->watch);
    sb->watch = NULL;
    close_and_reset(&sb->pidfd);
    sb->pid = 0;
    sb->state = SANDBOX_NOTREADY;
    if (store_save_sandbox(handlers_crisp->store, sb, &e) < 0)
        log_warn_err(e, "saving pod sandbox state failed; ignored");
    waiters_notify(&sb->stop_waiters, NULL);
}

static void on_pod_started(void *data, const struct pod_proc *proc, const struct err *err)
{
    struct rpc *rpc = data;
    struct crisp *crisp = rpc->crisp;
    Runtime__V1__RunPodSandboxResponse resp = RUNTIME__V1__RUN_POD_SANDBOX_RESPONSE__INIT;
    _cleanup_err_ struct err *e = NULL;
    struct sandbox *sb = store_find_sandbox(crisp->store, rpc->pod_id, NULL);

    if (err) {
        if (sb)
            sandbox_release(crisp, sb, NULL);
        rpc_fail(rpc, err);
        return;
    }

    sb->pid = proc->pid;
    sb->start_time = proc_start_time(proc->pid);
    sb->pidfd = proc->pidfd;
    sb->watch = proc_watch_new(crisp->base, sb->pid, sb->pidfd, on_pause_exit, sb);
    sb->state = SANDBOX_READY;
    sb->creating = false;
    if (store_save_sandbox(crisp->store, sb, &e) < 0)
        log_warn_err(e, "saving pod sandbox state failed; ignored");

    log_emit(LOG_LEVEL_INFO, NULL, &rpc->ids, "pod sandbox '%s' started, pid %d", sb->name,
             (int)sb->pid);
    resp.pod_sandbox_id = sb->id;
    rpc_reply(rpc, &resp.base);
}

void rpc_run_pod_sandbox(struct rpc *rpc)
{
    Runtime__V1__RunPodSandboxRequest *req = (Runtime__V1__RunPodSandboxRequest *)rpc->req;
    struct crisp *crisp = rpc->crisp;
    const Runtime__V1__PodSandboxConfig *config = req->config;
    const Runtime__V1__NamespaceOption *ns;
    _cleanup_err_ struct err *e = NULL;
    _cleanup_free_ char *name = NULL, *cgroup_path = NULL;
    _cleanup_free_ struct pod_sysctl *sysctls = NULL;
    _cleanup_free_ gid_t *groups = NULL;
    struct pod_spec spec = {0};
    struct pod_userns userns;
    struct sandbox *sb, *other;

    if (!config)
        return rpc_failf(rpc, GRPC_STATUS_INVALID_ARGUMENT, "config is missing");
    if (!config->metadata)
        return rpc_failf(rpc, GRPC_STATUS_INVALID_ARGUMENT, "config.metadata is missing");
    if (!config->metadata->name[0])
        return rpc_failf(rpc, GRPC_STATUS_INVALID_ARGUMENT, "config.metadata.name is empty");
    if (req->runtime_handler[0])
        return rpc_failf(rpc, GRPC_STATUS_INVALID_ARGUMENT,
                         "runtime_handler '%s' is not configured: crisp has only the default "
                         "handler, named by an empty string",
                         req->runtime_handler);
    if (pod_settings_check(config, &e) < 0)
        return rpc_fail(rpc, e);

    if (pod_userns_from_cri(config, &userns, &e) < 0)
        return rpc_fail(rpc, e);

    name = sandbox_name(config->metadata);
    other = store_find_sandbox_by_name(crisp->store, name);
    if (other)
        return rpc_failf(rpc, GRPC_STATUS_ALREADY_EXISTS,
                         "pod sandbox name '%s' is already used by pod sandbox %s", name,
                         other->id);

    sb = store_add_sandbox(crisp->store, rpc->raw, rpc->raw_len, req, name, &e);
    if (!sb)
        return rpc_fail(rpc, e);
    rpc->req = NULL; /* the store owns the request now */
    rpc_set_pod(rpc, sb->id);

    sb->state_dir = xasprintf("%s/pods/%s", crisp->config->state_dir, sb->id);
    if (mkdir_p(sb->state_dir, 0700, &e) < 0 ||
        pod_settings_setup(sb, &sysctls, &spec.n_sysctls, &e) < 0)
        goto fail;
    spec.sysctls = sysctls;

    ns = sandbox_namespaces(sb);
    spec.id = sb->id;
    spec.hostname = config->hostname;
    spec.host_network = ns && ns->network == RUNTIME__V1__NAMESPACE_MODE__NODE;
    spec.host_ipc = ns && ns->ipc == RUNTIME__V1__NAMESPACE_MODE__NODE;
    /* The pause gets a PID namespace of its own unless the pod uses the host's. */
    spec.pod_pid_namespace = !(ns && ns->pid == RUNTIME__V1__NAMESPACE_MODE__NODE);
    if (sandbox_user(config, &spec, &groups, &e) < 0)
        goto fail;
    spec.pause_path = crisp->config->pause_path;
    spec.userns = userns.enabled ? &userns.spec : NULL;
    spec.state_dir = sb->state_dir;
    if (pod_cgroup_create(crisp, sb, &cgroup_path, &e) < 0)
        goto fail;
    spec.cgroup_path = cgroup_path;
    if (platform_pod_start(crisp->base, &spec, on_pod_started, rpc, &e) < 0)
        goto fail;
    return;

fail:
    sandbox_release(crisp, sb, NULL);
    rpc_fail(rpc, e);
}

/* ---- StopPodSandbox and RemovePodSandbox ---- */

/* One stop of a pod: its containers first, then the pause process. */
struct pod_stop {
    struct rpc *rpc;
    bool remove;
    size_t pending;                /* containers still stopping */
    struct waiter pod_waiter;
};

struct ctr_stop_waiter {
    struct waiter w;
    struct pod_stop *op;
};

static void pod_stop_finish(struct pod_stop *op, const struct err *err);

static void on_pod_process_gone(struct waiter *w, const struct err *err)
{
    struct pod_stop *op = (struct pod_stop *)((char *)w - offsetof(struct pod_stop, pod_waiter));

    pod_stop_finish(op, err);
}

static void stop_pod_process(struct pod_stop *op)
{
    struct crisp *crisp = op->rpc->crisp;
    _cleanup_err_ struct err *e = NULL;
    struct sandbox *sb = store_find_sandbox(crisp->store, op->rpc->pod_id, NULL);

    if (!sb || !sb->pid) {
        pod_stop_finish(op, NULL);
        return;
    }
    op->pod_waiter.done = on_pod_process_gone;
    op->pod_waiter.next = sb->stop_waiters;
    sb->stop_waiters = &op->pod_waiter;
    if (proc_signal(sb->pidfd, SIGKILL, &e) < 0)
        log_warn_err(e, "killing the pod sandbox process failed; waiting for it anyway");
}

static void pod_stop_release(struct pod_stop *op)
{
    if (--op->pending == 0)
        stop_pod_process(op);
}

static void on_container_stopped(struct waiter *w, const struct err *err)
{
    struct ctr_stop_waiter *cw = (struct ctr_stop_waiter *)w;
    struct pod_stop *op = cw->op;

    if (err)
        log_warn_err(err, "stopping a container of the pod failed; going on");
    free(cw);
    pod_stop_release(op);
}

static void pod_stop_start(struct rpc *rpc, bool remove)
{
    struct crisp *crisp = rpc->crisp;
    struct pod_stop *op = xzalloc(sizeof(*op));
    struct container **ctrs;
    size_t n;

    op->rpc = rpc;
    op->remove = remove;
    op->pending = 1; /* held until every container stop has been started */

    ctrs = store_containers(crisp->store, &n);
    for (size_t i = 0; i < n; i++) {
        struct ctr_stop_waiter *cw;

        if (strcmp(ctrs[i]->sandbox_id, rpc->pod_id) != 0)
            continue;
        cw = xzalloc(sizeof(*cw));
        cw->w.done = on_container_stopped;
        cw->op = op;
        op->pending++;
        container_stop(crisp, ctrs[i], 0, &cw->w);
    }
    pod_stop_release(op);
}

static void pod_stop_finish(struct pod_stop *op, const struct err *err)
{
    struct rpc *rpc = op->rpc;
    struct crisp *crisp = rpc->crisp;
    bool remove = op->remove;
    _cleanup_err_ struct err *e = NULL;
    struct sandbox *sb;
    struct container **ctrs;
    size_t n;

    free(op);
    if (err)
        return rpc_fail(rpc, err);

    sb = store_find_sandbox(crisp->store, rpc->pod_id, NULL);
    /* As containerd does, the pod's /dev/shm goes once its containers are stopped. */
    if (sb)
        pod_settings_cleanup(sb);
    if (!remove) {
        Runtime__V1__StopPodSandboxResponse resp = RUNTIME__V1__STOP_POD_SANDBOX_RESPONSE__INIT;

        if (sb)
            log_emit(LOG_LEVEL_INFO, NULL, &rpc->ids, "pod sandbox '%s' stopped", sb->name);
        return rpc_reply(rpc, &resp.base);
    }

    if (sb) {
        /* Remove the pod's containers, walking backwards since removal shifts the array. */
        ctrs = store_containers(crisp->store, &n);
        for (size_t i = n; i-- > 0;) {
            if (strcmp(ctrs[i]->sandbox_id, sb->id) != 0)
                continue;
            if (container_remove(crisp, ctrs[i], &e) < 0)
                return rpc_fail(rpc, e);
            ctrs = store_containers(crisp->store, &n);
        }
        log_emit(LOG_LEVEL_INFO, NULL, &rpc->ids, "pod sandbox '%s' removed", sb->name);
        if (sandbox_release(crisp, sb, &e) < 0)
            return rpc_fail(rpc, e);
    }

    Runtime__V1__RemovePodSandboxResponse resp = RUNTIME__V1__REMOVE_POD_SANDBOX_RESPONSE__INIT;
    rpc_reply(rpc, &resp.base);
}

static int find_sandbox_arg(struct rpc *rpc, const char *id, struct sandbox **ret,
                            struct err **err)
{
    struct sandbox *sb;

    if (!id[0])
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "pod_sandbox_id is empty");
    sb = store_find_sandbox(rpc->crisp->store, id, err);
    if (!sb && *err)
        return -1;
    if (sb)
        rpc_set_pod(rpc, sb->id);
    *ret = sb;
    return 0;
}

void rpc_stop_pod_sandbox(struct rpc *rpc)
{
    Runtime__V1__StopPodSandboxRequest *req = (Runtime__V1__StopPodSandboxRequest *)rpc->req;
    _cleanup_err_ struct err *e = NULL;
    struct sandbox *sb;

    if (find_sandbox_arg(rpc, req->pod_sandbox_id, &sb, &e) < 0)
        return rpc_fail(rpc, e);
    if (!sb)
        return rpc_failf(rpc, GRPC_STATUS_NOT_FOUND, "pod sandbox '%s' not found",
                         req->pod_sandbox_id);
    pod_stop_start(rpc, false);
}

void rpc_remove_pod_sandbox(struct rpc *rpc)
{
    Runtime__V1__RemovePodSandboxRequest *req = (Runtime__V1__RemovePodSandboxRequest *)rpc->req;
    Runtime__V1__RemovePodSandboxResponse resp = RUNTIME__V1__REMOVE_POD_SANDBOX_RESPONSE__INIT;
    _cleanup_err_ struct err *e = NULL;
    struct sandbox *sb;

    if (find_sandbox_arg(rpc, req->pod_sandbox_id, &sb, &e) < 0)
        return rpc_fail(rpc, e);
    if (!sb) /* already removed: RemovePodSandbox is idempotent */
        return rpc_reply(rpc, &resp.base);
    pod_stop_start(rpc, true);
}

/* ---- PodSandboxStatus and ListPodSandbox ---- */

static char *sandbox_info_json(const struct sandbox *sb)
{
    json_t *o = json_object();
    char *text;

    json_object_set_new(o, "pid", json_integer(sb->pid));
    json_object_set_new(o, "name", json_string(sb->name));
    json_object_set_new(o, "record_dir", json_string(sb->dir));
    if (sb->state_dir)
        json_object_set_new(o, "state_dir", json_string(sb->state_dir));
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

void rpc_pod_sandbox_status(struct rpc *rpc)
{
    Runtime__V1__PodSandboxStatusRequest *req = (Runtime__V1__PodSandboxStatusRequest *)rpc->req;
    Runtime__V1__PodSandboxStatusResponse resp = RUNTIME__V1__POD_SANDBOX_STATUS_RESPONSE__INIT;
    Runtime__V1__PodSandboxStatus status = RUNTIME__V1__POD_SANDBOX_STATUS__INIT;
    Runtime__V1__PodSandboxNetworkStatus network = RUNTIME__V1__POD_SANDBOX_NETWORK_STATUS__INIT;
    Runtime__V1__LinuxPodSandboxStatus linux_status = RUNTIME__V1__LINUX_POD_SANDBOX_STATUS__INIT;
    Runtime__V1__Namespace namespaces = RUNTIME__V1__NAMESPACE__INIT;
    Runtime__V1__PodSandboxStatusResponse__InfoEntry info = RUNTIME__V1__POD_SANDBOX_STATUS_RESPONSE__INFO_ENTRY__INIT;
    Runtime__V1__PodSandboxStatusResponse__InfoEntry *infos[] = {&info};
    _cleanup_err_ struct err *e = NULL;
    _cleanup_free_ char *info_json = NULL;
    struct sandbox *sb;

    if (find_sandbox_arg(rpc, req->pod_sandbox_id, &sb, &e) < 0)
        return rpc_fail(rpc, e);
    if (!sb)
        return rpc_failf(rpc, GRPC_STATUS_NOT_FOUND, "pod sandbox '%s' not found",
                         req->pod_sandbox_id);

    status.id = sb->id;
    status.metadata = sb->config->metadata;
    status.state = (Runtime__V1__PodSandboxState)sb->state;
    status.created_at = sb->created_at;
    status.network = &network;
    namespaces.options = sandbox_namespaces(sb);
    linux_status.namespaces = &namespaces;
    status.linux = &linux_status;
    status.n_labels = sb->config->n_labels;
    status.labels = MAP_ENTRIES(Runtime__V1__PodSandboxStatus__LabelsEntry, sb->config->labels);
    status.n_annotations = sb->config->n_annotations;
    status.annotations =
        MAP_ENTRIES(Runtime__V1__PodSandboxStatus__AnnotationsEntry, sb->config->annotations);
    status.runtime_handler = sb->req->runtime_handler;
    resp.status = &status;
    if (req->verbose) {
        info_json = sandbox_info_json(sb);
        info.key = (char *)"info";
        info.value = info_json;
        resp.n_info = 1;
        resp.info = infos;
    }
    resp.timestamp = now_ns();
    rpc_reply(rpc, &resp.base);
}

static bool sandbox_matches(const struct sandbox *sb, const Runtime__V1__PodSandboxFilter *f)
{
    if (!f)
        return true;
    if (f->id[0] && strncmp(sb->id, f->id, strlen(f->id)) != 0)
        return false;
    if (f->state && (enum sandbox_state)f->state->state != sb->state)
        return false;
    return labels_match(sb->config->n_labels, (void *const *)sb->config->labels,
                        f->n_label_selector, (void *const *)f->label_selector);
}

/*
 * The PodSandbox item of sb, packed.  Only the state of a pod changes after
 * it is created, so the bytes are kept until it does: packing nested
 * messages is most of what ListPodSandbox costs (protobuf-c sizes every
 * submessage again at each level).
 */
static const uint8_t *sandbox_list_item(struct sandbox *sb, size_t *ret_len)
{
    Runtime__V1__PodSandbox item = RUNTIME__V1__POD_SANDBOX__INIT;

    if (sb->list_item && sb->list_item_state == sb->state) {
        *ret_len = sb->list_item_len;
        return sb->list_item;
    }
    item.id = (char *)sb->id;
    item.metadata = sb->config->metadata;
    item.state = (Runtime__V1__PodSandboxState)sb->state;
    item.created_at = sb->created_at;
    item.n_labels = sb->config->n_labels;
    item.labels = MAP_ENTRIES(Runtime__V1__PodSandbox__LabelsEntry, sb->config->labels);
    item.n_annotations = sb->config->n_annotations;
    item.annotations =
        MAP_ENTRIES(Runtime__V1__PodSandbox__AnnotationsEntry, sb->config->annotations);
    item.runtime_handler = sb->req->runtime_handler;
    free(sb->list_item);
    sb->list_item_len = protobuf_c_message_get_packed_size(&item.base);
    sb->list_item = xmalloc(sb->list_item_len);
    protobuf_c_message_pack(&item.base, sb->list_item);
    sb->list_item_state = sb->state;
    *ret_len = sb->list_item_len;
    return sb->list_item;
}

void rpc_list_pod_sandbox(struct rpc *rpc)
{
    Runtime__V1__ListPodSandboxRequest *req = (Runtime__V1__ListPodSandboxRequest *)rpc->req;
    struct strbuf out = STRBUF_INIT;
    struct sandbox **all;
    size_t n;

    all = store_sandboxes(rpc->crisp->store, &n);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *item;
        size_t len;

        if (!sandbox_matches(all[i], req->filter))
            continue;
        item = sandbox_list_item(all[i], &len);
        packed_append_field(&out, 1, item, len); /* ListPodSandboxResponse.items */
    }
    rpc_reply_packed(rpc, (const uint8_t *)out.buf, out.len);
    strbuf_done(&out);
}
