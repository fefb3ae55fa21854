#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "handlers/devices.h"
#include "handlers/pod-settings.h"
#include "handlers/resources.h"
#include "handlers/rpc.h"
#include "handlers/security.h"
#include "handlers/userns.h"
#include "image/image.h"
#include "keeper.h"
#include "platform/platform.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define MAP_ENTRIES(type, entries) ((type **)(void *)(entries))

#define DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- building the process from the request and the image ---- */

static size_t strv_length(char *const *v)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return n;
}

static void strv_push(char ***v, size_t *n, char *s)
{
    *v = xrealloc(*v, (*n + 2) * sizeof(**v));
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
}

/*
 * Kubernetes rules: command replaces the image's Entrypoint, args replace
 * its Cmd, and a command without args drops the image's Cmd.
 */
static char **build_argv(const Runtime__V1__ContainerConfig *config, const struct image *img)
{
    char **argv = NULL;
    size_t n = 0;

    if (config->n_command > 0) {
        for (size_t i = 0; i < config->n_command; i++)
            strv_push(&argv, &n, xstrdup(config->command[i]));
    } else {
        for (size_t i = 0; i < strv_length(img->config.entrypoint); i++)
            strv_push(&argv, &n, xstrdup(img->config.entrypoint[i]));
    }

    if (config->n_args > 0) {
        for (size_t i = 0; i < config->n_args; i++)
            strv_push(&argv, &n, xstrdup(config->args[i]));
    } else if (config->n_command == 0) {
        for (size_t i = 0; i < strv_length(img->config.cmd); i++)
            strv_push(&argv, &n, xstrdup(img->config.cmd[i]));
    }
    return argv;
}

static void env_set(char ***env, size_t *n, const char *key, size_t key_len, char *entry)
{
    for (size_t i = 0; i < *n; i++) {
        if (strncmp((*env)[i], key, key_len) == 0 && (*env)[i][key_len] == '=') {
            free((*env)[i]);
            (*env)[i] = entry;
            return;
        }
    }
    strv_push(env, n, entry);
}

/* The image's Env, then the request's envs over it by key, then HOSTNAME. */
static int build_env(const Runtime__V1__ContainerConfig *config, const struct image *img,
                     const char *hostname, char ***ret_env, struct err **err)
{
    _cleanup_strv_free_ char **env = NULL;
    size_t n = 0;
    bool has_path = false;

    for (size_t i = 0; i < strv_length(img->config.env); i++) {
        const char *entry = img->config.env[i];
        const char *eq = strchr(entry, '=');

        if (!eq)
            continue;
        env_set(&env, &n, entry, (size_t)(eq - entry), xstrdup(entry));
    }

    for (size_t i = 0; i < config->n_envs; i++) {
        const Runtime__V1__KeyValue *kv = config->envs[i];

        if (!kv->key[0] || strchr(kv->key, '='))
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "config.envs[%zu].key '%s' is not a valid variable name", i, kv->key);
        if (kv->value.len && memchr(kv->value.data, '\0', kv->value.len))
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "config.envs[%zu].value of '%s' contains a NUL byte", i, kv->key);
        env_set(&env, &n, kv->key, strlen(kv->key),
                xasprintf("%s=%.*s", kv->key, (int)kv->value.len, (const char *)kv->value.data));
    }

    for (size_t i = 0; i < n; i++)
        has_path = has_path || strncmp(env[i], "PATH=", 5) == 0;
    if (!has_path)
        strv_push(&env, &n, xstrdup(DEFAULT_PATH));
    if (hostname && hostname[0])
        env_set(&env, &n, "HOSTNAME", 8, xasprintf("HOSTNAME=%s", hostname));

    *ret_env = TAKE_PTR(env);
    return 0;
}

static bool parse_id(const char *s, long *ret)
{
    char *end;
    long v;

    if (!s[0])
        return false;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || v > 0x7fffffff)
        return false;
    *ret = v;
    return true;
}

/*
 * Look name up in the first etc/passwd (or etc/group, field 3 is the id)
 * found in the image's layers, topmost first.  The files are small local
 * ones, read on the reactor.
 */
static int lookup_image_id(char **layer_dirs, const char *file, const char *name, long *ret_id,
                           long *ret_gid)
{
    for (size_t i = 0; layer_dirs && layer_dirs[i]; i++) {
        _cleanup_free_ char *path = path_join(layer_dirs[i], file);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[1024];

        if (!f)
            continue;
        while (fgets(line, sizeof(line), f)) {
            char *fields[5] = {0}, *p = line;

            line[strcspn(line, "\n")] = '\0';
            for (size_t k = 0; k < 5 && p; k++) {
                fields[k] = p;
                p = strchr(p, ':');
                if (p)
                    *p++ = '\0';
            }
            if (!fields[2] || strcmp(fields[0], name) != 0)
                continue;
            if (!parse_id(fields[2], ret_id))
                return -1;
            if (ret_gid && (!fields[3] || !parse_id(fields[3], ret_gid)))
                *ret_gid = *ret_id;
            return 0;
        }
        return -1;
    }
    return -1;
}

/*
 * The primary group of uid: the group field of the first entry with that
 * uid in the image's etc/passwd, as containerd's WithUserID finds it; 0
 * when there is no such entry.
 */
static long passwd_gid_of_uid(char **layer_dirs, long uid)
{
    for (size_t i = 0; layer_dirs && layer_dirs[i]; i++) {
        _cleanup_free_ char *path = path_join(layer_dirs[i], "etc/passwd");
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        char line[1024];

        if (!f)
            continue;
        while (fgets(line, sizeof(line), f)) {
            char *fields[4] = {0}, *p = line;
            long entry_uid, gid;

            line[strcspn(line, "\n")] = '\0';
            for (size_t k = 0; k < 4 && p; k++) {
                fields[k] = p;
                p = strchr(p, ':');
                if (p)
                    *p++ = '\0';
            }
            if (!fields[3] || !parse_id(fields[2], &entry_uid) || entry_uid != uid)
                continue;
            return parse_id(fields[3], &gid) ? gid : 0;
        }
        return 0;
    }
    return 0;
}

/* Resolve the user: the security context's run_as_user / run_as_group, else the image's User. */
static int resolve_user(const Runtime__V1__ContainerConfig *config, const struct image *img,
                        char **layer_dirs, uid_t *ret_uid, gid_t *ret_gid, struct err **err)
{
    const Runtime__V1__LinuxContainerSecurityContext *sc =
        config->linux ? config->linux->security_context : NULL;
    const char *user = img->config.user;
    long uid = 0, gid = -1;

    if (sc && sc->run_as_group && !sc->run_as_user && !sc->run_as_username[0])
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config.linux.security_context.run_as_group is set without run_as_user "
                          "or run_as_username");

    if (sc && sc->run_as_user) {
        uid = (long)sc->run_as_user->value;
    } else {
        _cleanup_free_ char *copy = xstrdup(sc && sc->run_as_username[0] ? sc->run_as_username
                                            : user ? user : "");
        char *colon = strchr(copy, ':');

        if (colon)
            *colon++ = '\0';
        if (copy[0] && !parse_id(copy, &uid) &&
            lookup_image_id(layer_dirs, "etc/passwd", copy, &uid, &gid) < 0)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "user '%s' not found in the image's /etc/passwd", copy);
        if (colon && colon[0] && !parse_id(colon, &gid) &&
            lookup_image_id(layer_dirs, "etc/group", colon, &gid, NULL) < 0)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "group '%s' not found in the image's /etc/group", colon);
    }
    if (sc && sc->run_as_group)
        gid = (long)sc->run_as_group->value;
    if (uid < 0 || uid > 0x7fffffff)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config.linux.security_context.run_as_user %ld is out of range", uid);
    /* A numeric user without a group takes the group of its etc/passwd entry. */
    if (gid < 0)
        gid = passwd_gid_of_uid(layer_dirs, uid);

    *ret_uid = (uid_t)uid;
    *ret_gid = (gid_t)(gid < 0 ? 0 : gid);
    return 0;
}

/* ---- container exit ---- */

/* A watch that reaps a killed process whose container record is already gone. */
struct reaper {
    struct proc_watch *watch;
    int pidfd;
};

static void reap_only(void *data, pid_t pid, int exit_code, int signal)
{
    struct reaper *r = data;

    (void)pid;
    (void)exit_code;
    (void)signal;
    proc_watch_free(r->watch);
    close(r->pidfd);
    free(r);
}

void container_unwatch(struct container *c)
{
    proc_watch_free(c->watch);
    c->watch = NULL;
    if (c->stop_timer) {
        event_free(c->stop_timer);
        c->stop_timer = NULL;
    }
    platform_ctr_free(c->proc);
    c->proc = NULL;
    close_and_reset(&c->pidfd);
    c->pid = 0;
}

void container_exited(struct container *c, int exit_code, int64_t finished_at, const char *reason,
                      const char *message)
{
    _cleanup_err_ struct err *e = NULL;
    bool oom_killed = container_cgroup_exited(handlers_crisp, c);

    if (c->state == CONTAINER_RUNNING || c->state == CONTAINER_CREATED) {
        c->state = CONTAINER_EXITED;
        c->finished_at = finished_at;
        c->exit_code = exit_code;
        free(c->reason);
        c->reason = xstrdup(reason       ? reason
                            : oom_killed ? "OOMKilled"
                            : exit_code == 0 ? "Completed"
                                             : "Error");
        if (message) {
            free(c->message);
            c->message = xstrdup(message);
        }
    }
    c->stopping = false;
    if (store_save_container(handlers_crisp->store, c, &e) < 0)
        log_warn_err(e, "saving container state failed; ignored");
    waiters_notify(&c->stop_waiters, NULL);
}

static void on_container_exit(void *data, pid_t pid, int exit_code, int signal)
{
    struct container *c = data;

    (void)signal;
    log_emit(LOG_LEVEL_INFO, NULL, &(struct log_ids){.container_id = c->id, .pod_id = c->sandbox_id},
             "container process %d exited with code %d", (int)pid, exit_code);
    if (c->starting) {
        /*
         * A process can exit before its start is confirmed.  The start still
         * holds c->proc, so the exit is reported once the start has ended.
         */
        proc_watch_free(c->watch);
        c->watch = NULL;
        close_and_reset(&c->pidfd);
        c->exit_pending = true;
        c->pending_exit_code = exit_code;
        c->pending_finished_at = now_ns();
        return;
    }
    container_unwatch(c);
    /* Like containerd, report the exit only once the process's output is in the log. */
    if (c->log)
        log_pump_flush(c->log);
    container_exited(c, exit_code, now_ns(), NULL, NULL);
}

/* Report an exit that on_container_exit() held back while the start was under way. */
static void report_pending_exit(struct container *c)
{
    if (!c->exit_pending)
        return;
    c->exit_pending = false;
    container_unwatch(c);
    if (c->log)
        log_pump_flush(c->log);
    container_exited(c, c->pending_exit_code, c->pending_finished_at, NULL, NULL);
}

/* ---- CreateContainer ---- */

static char *container_name(const Runtime__V1__ContainerMetadata *md,
                            const Runtime__V1__PodSandboxMetadata *pod)
{
    return xasprintf("%s_%s_%s_%s_%u", md->name, pod->name, pod->namespace_, pod->uid,
                     md->attempt);
}

/* Everything a create needs between the request and the platform callback. */
struct create_op {
    struct ctr_spec spec;
    char **argv;
    char **env;
    char **layer_dirs;
    struct ctr_mount *mounts;
    struct pod_ctr_mounts *pod_mounts;
    struct ctr_security_holder *security;
    struct pod_userns userns;
    int stdout_read, stderr_read;
    char *cgroup_path;
};

static void create_op_free(struct create_op *op)
{
    if (!op)
        return;
    strv_free(op->argv);
    strv_free(op->env);
    strv_free(op->layer_dirs);
    free(op->mounts);
    pod_ctr_mounts_free(op->pod_mounts);
    free(op->cgroup_path);
    security_holder_free(op->security);
    closep(&op->stdout_read);
    closep(&op->stderr_read);
    if (op->spec.stdout_fd >= 0)
        close(op->spec.stdout_fd);
    if (op->spec.stderr_fd >= 0 && op->spec.stderr_fd != op->spec.stdout_fd)
        close(op->spec.stderr_fd);
    free(op);
}

static void create_rollback(struct crisp *crisp, struct container *c)
{
    _cleanup_err_ struct err *e = NULL;

    log_pump_free(c->log);
    c->log = NULL;
    container_cgroup_remove(crisp, c);
    if (platform_ctr_cleanup(c->dir, &e) < 0)
        log_warn_err(e, "cleaning up a failed container left files behind");
    if (c->image_id)
        image_store_release(crisp->images, c->image_id);
    store_remove_container(crisp->store, c, NULL);
}

static void on_container_created(void *data, struct ctr_proc *proc, const struct err *err)
{
    struct rpc *rpc = data;
    struct crisp *crisp = rpc->crisp;
    Runtime__V1__CreateContainerResponse resp = RUNTIME__V1__CREATE_CONTAINER_RESPONSE__INIT;
    struct container *c = store_find_container(crisp->store, rpc->container_id, NULL);
    _cleanup_err_ struct err *e = NULL;

    create_op_free(rpc->op);
    rpc->op = NULL;
    if (err) {
        struct waiter *waiting = NULL;

        if (c) {
            /* Calls that waited to stop or remove it find it gone. */
            waiting = TAKE_PTR(c->stop_waiters);
            create_rollback(crisp, c);
        }
        waiters_notify(&waiting, NULL);
        return rpc_fail(rpc, err);
    }

    c->creating = false;
    c->proc = proc;
    c->pid = proc->pid;
    c->start_time = proc_start_time(proc->pid);
    c->pidfd = TAKE_FD(proc->pidfd); /* the container owns the pidfd, proc its sync socket */
    c->watch = proc_watch_new(crisp->base, c->pid, c->pidfd, on_container_exit, c);
    container_cgroup_watch(crisp, c);
    c->state = CONTAINER_CREATED;
    if (store_save_container(crisp->store, c, &e) < 0) {
        proc_signal(c->pidfd, SIGKILL, NULL);
        return rpc_fail(rpc, e);
    }

    log_emit(LOG_LEVEL_INFO, NULL, &rpc->ids, "container '%s' created", c->name);
    resp.container_id = c->id;
    rpc_reply(rpc, &resp.base);

    /* Stops that arrived during the create can act now that there is a process. */
    if (c->stop_waiters) {
        struct waiter *w = TAKE_PTR(c->stop_waiters);

        while (w) {
            struct waiter *next = w->next;

            container_stop(crisp, c, 0, w);
            w = next;
        }
    }
}

/* Pipe capacity asked for the output FIFOs, so a container writes on while crispd restarts. */
#define OUTPUT_FIFO_SIZE (1024 * 1024)

/*
 * Open one output FIFO in the container's directory: the read end for the
 * log pump, and a read-write end for the container.  Because the container
 * holds a reader too, its writes never fail with EPIPE while no crispd
 * runs; they block once the pipe is full and resume when a restarted
 * crispd opens the FIFO by its path and reads again.
 */
static int open_output_fifo(const char *dir, const char *name, int *ret_read, int *ret_write,
                            struct err **err)
{
    _cleanup_free_ char *path = path_join(dir, name);

    if (mkfifo(path, 0600) < 0 && errno != EEXIST)
        return err_sys(err, "create FIFO '%s'", path);
    *ret_read = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (*ret_read < 0)
        return err_sys(err, "open FIFO '%s'", path);
    /* fifo(7): on Linux, opening a FIFO for reading and writing succeeds without blocking. */
    *ret_write = open(path, O_RDWR | O_CLOEXEC);
    if (*ret_write < 0)
        return err_sys(err, "open FIFO '%s'", path);
    /* Best effort: a smaller pipe only blocks the container sooner. */
    (void)fcntl(*ret_read, F_SETPIPE_SZ, OUTPUT_FIFO_SIZE);
    return 0;
}

/* A pseudo-terminal: the master for the log pump, the slave for the container. */
static int open_tty(struct create_op *op, struct err **err)
{
    char name[64];
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (master < 0)
        return err_sys(err, "open a pseudo-terminal");
    op->stdout_read = master;
    if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
        return err_sys(err, "set up the pseudo-terminal");
    op->spec.stdout_fd = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (op->spec.stdout_fd < 0)
        return err_sys(err, "open terminal '%s'", name);
    op->spec.stderr_fd = op->spec.stdout_fd;
    op->spec.tty = true;
    return 0;
}

static int open_output(struct create_op *op, struct container *c, struct err **err)
{
    /* A terminal merges both streams, which the CRI log records as stdout. */
    if (c->config->tty)
        return open_tty(op, err);
    if (!c->log_path) {
        op->spec.stdout_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (op->spec.stdout_fd < 0)
            return err_sys(err, "open '/dev/null'");
        op->spec.stderr_fd = op->spec.stdout_fd;
        return 0;
    }

    if (open_output_fifo(c->dir, "stdout", &op->stdout_read, &op->spec.stdout_fd, err) < 0)
        return -1;
    return open_output_fifo(c->dir, "stderr", &op->stderr_read, &op->spec.stderr_fd, err);
}

int container_open_log(struct crisp *crisp, struct container *c, struct err **err)
{
    _cleanup_free_ char *out = path_join(c->dir, "stdout");
    _cleanup_free_ char *errp = path_join(c->dir, "stderr");
    int out_fd, err_fd;

    if (!c->log_path)
        return 0;
    out_fd = open(out, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (out_fd < 0)
        return err_sys(err, "open FIFO '%s'", out);
    err_fd = open(errp, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (err_fd < 0) {
        err_sys(err, "open FIFO '%s'", errp);
        close(out_fd);
        return -1;
    }
    c->log = log_pump_new(crisp->base, c->log_path, out_fd, err_fd, NULL, NULL, err);
    return c->log ? 0 : -1;
}

static int build_mounts(struct create_op *op, const Runtime__V1__ContainerConfig *config,
                        struct err **err)
{
    op->mounts = xnew(struct ctr_mount, config->n_mounts);
    for (size_t i = 0; i < config->n_mounts; i++) {
        const Runtime__V1__Mount *m = config->mounts[i];
        struct ctr_mount *cm = &op->mounts[i];

        if (m->image)
            return err_status(err, GRPC_STATUS_UNIMPLEMENTED,
                              "config.mounts[%zu].image: image volumes are not supported by "
                              "crisp yet",
                              i);
        if (m->container_path[0] != '/')
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "config.mounts[%zu].container_path '%s' is not an absolute path", i,
                              m->container_path);
        if (!m->host_path[0])
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "config.mounts[%zu].host_path is empty", i);
        cm->host_path = m->host_path;
        cm->container_path = m->container_path;
        cm->readonly = m->readonly;
        switch (m->propagation) {
        case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_HOST_TO_CONTAINER:
            cm->propagation = MOUNT_PROPAGATION_RSLAVE;
            break;
        case RUNTIME__V1__MOUNT_PROPAGATION__PROPAGATION_BIDIRECTIONAL:
            cm->propagation = MOUNT_PROPAGATION_RSHARED;
            break;
        default:
            cm->propagation = MOUNT_PROPAGATION_PRIVATE;
        }
    }
    op->spec.mounts = op->mounts;
    op->spec.n_mounts = config->n_mounts;
    return 0;
}

static int check_create_request(const Runtime__V1__CreateContainerRequest *req, struct err **err)
{
    const Runtime__V1__ContainerConfig *config = req->config;

    if (!req->pod_sandbox_id[0])
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "pod_sandbox_id is empty");
    if (!config)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "config is missing");
    if (!config->metadata)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "config.metadata is missing");
    if (!config->metadata->name[0])
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "config.metadata.name is empty");
    if (!config->image || !config->image->image[0])
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "config.image.image is empty");
    if (config->stdin)
        return err_status(err, GRPC_STATUS_UNIMPLEMENTED,
                          "config.stdin is not supported by crisp yet (there is no Attach)");
    return 0;
}

/*
 * PID mode TARGET: share the PID namespace of another running container of
 * the pod (kubectl debug --target), as containerd does.
 */
static int target_pid_namespace(struct crisp *crisp, const struct sandbox *sb,
                                const char *target_id, struct ctr_spec *spec, struct err **err)
{
    struct container *target;

    if (!target_id[0])
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "config.linux.security_context.namespace_options.target_id is empty "
                          "with pid mode TARGET");
    target = store_find_container(crisp->store, target_id, err);
    if (!target && *err)
        return -1;
    if (!target)
        return err_status(err, GRPC_STATUS_NOT_FOUND,
                          "namespace_options.target_id: container '%s' not found", target_id);
    if (strcmp(target->sandbox_id, sb->id) != 0)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "namespace_options.target_id: container %s is not in pod sandbox %s",
                          target->id, sb->id);
    if (target->state != CONTAINER_RUNNING || target->pidfd < 0)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "namespace_options.target_id: container %s is not running", target->id);
    spec->join_pod_pid = true;
    spec->pid_ns_target = target->pid;
    spec->pid_ns_target_pidfd = target->pidfd;
    return 0;
}

static const char *first_or(char **v, const char *fallback)
{
    return v && v[0] ? v[0] : fallback;
}

void rpc_create_container(struct rpc *rpc)
{
    Runtime__V1__CreateContainerRequest *req = (Runtime__V1__CreateContainerRequest *)rpc->req;
    struct crisp *crisp = rpc->crisp;
    const Runtime__V1__ContainerConfig *config = req->config;
    struct create_op *op = NULL;
    _cleanup_err_ struct err *e = NULL;
    _cleanup_free_ char *name = NULL;
    const char *hostname;
    struct container *c, *other;
    struct sandbox *sb;
    struct image *img;

    if (check_create_request(req, &e) < 0)
        return rpc_fail(rpc, e);

    sb = store_find_sandbox(crisp->store, req->pod_sandbox_id, &e);
    if (e)
        return rpc_fail(rpc, e);
    if (!sb)
        return rpc_failf(rpc, GRPC_STATUS_NOT_FOUND, "pod sandbox '%s' not found",
                         req->pod_sandbox_id);
    rpc_set_pod(rpc, sb->id);
    if (sb->state != SANDBOX_READY || !sb->pid)
        return rpc_failf(rpc, GRPC_STATUS_FAILED_PRECONDITION, "pod sandbox %s is not ready",
                         sb->id);

    img = image_store_find(crisp->images, config->image->image, &e);
    if (e)
        return rpc_fail(rpc, e);
    if (!img)
        return rpc_failf(rpc, GRPC_STATUS_NOT_FOUND, "image '%s' not found: pull it first",
                         config->image->image);

    name = container_name(config->metadata, sb->config->metadata);
    other = store_find_container_by_name(crisp->store, name);
    if (other)
        return rpc_failf(rpc, GRPC_STATUS_ALREADY_EXISTS,
                         "container name '%s' is already used by container %s", name, other->id);

    op = xzalloc(sizeof(*op));
    op->stdout_read = op->stderr_read = -EBADF;
    op->spec.stdout_fd = op->spec.stderr_fd = -EBADF;
    hostname = sb->config->hostname;
    op->layer_dirs = image_layer_dirs(crisp->images, img);
    op->argv = build_argv(config, img);
    if (!op->argv) {
        create_op_free(op);
        return rpc_failf(rpc, GRPC_STATUS_INVALID_ARGUMENT,
                         "no command: config.command is empty and image '%s' has neither "
                         "Entrypoint nor Cmd",
                         config->image->image);
    }
    if (build_env(config, img, hostname, &op->env, &e) < 0 || build_mounts(op, config, &e) < 0 ||
        resolve_user(config, img, op->layer_dirs, &op->spec.uid, &op->spec.gid, &e) < 0 ||
        !(op->security = security_from_cri(crisp, config, sb->config, op->layer_dirs,
                                           op->spec.uid, op->spec.gid, &e))) {
        create_op_free(op);
        return rpc_fail(rpc, e);
    }
    op->pod_mounts = pod_settings_ctr_mounts(sb, config, op->spec.mounts, op->spec.n_mounts);
    op->spec.mounts = op->pod_mounts->mounts;
    op->spec.n_mounts = op->pod_mounts->n_mounts;
    op->spec.security = &op->security->sec;
    op->spec.groups = op->security->groups;
    op->spec.n_groups = op->security->n_groups;

    c = store_add_container(crisp->store, sb, rpc->raw, rpc->raw_len, req, name, &e);
    if (!c) {
        create_op_free(op);
        return rpc_fail(rpc, e);
    }
    rpc->req = NULL; /* the store owns the request now */
    rpc->op = op;
    c->creating = true;
    rpc_set_container(rpc, c->id);
    /* The image may be removed while the container exists; its layers stay until then. */
    if (image_store_hold(crisp->images, img->id, &e) < 0)
        goto fail;
    c->image_id = xstrdup(img->id);
    c->image_ref = xstrdup(first_or(img->repo_digests, img->id));
    c->image_name = xstrdup(config->image->image);
    c->stop_signal = xstrdup(img->config.stop_signal);
    if (sb->config->log_directory[0] && config->log_path[0])
        c->log_path = path_join(sb->config->log_directory, config->log_path);
    else if (config->log_path[0])
        log_emit(LOG_LEVEL_WARN, NULL, &rpc->ids,
                 "config.log_path '%s' is ignored: the pod sandbox has no log_directory, so the "
                 "container's output is discarded",
                 config->log_path);

    if (open_output(op, c, &e) < 0)
        goto fail;
    if (c->log_path || op->spec.tty) {
        /* A terminal must be read even without a log, or the container blocks when it fills. */
        const char *path = c->log_path ? c->log_path : "/dev/null";
        _cleanup_free_ char *dir = xstrdup(path);

        if (mkdir_p(dirname(dir), 0755, &e) < 0)
            goto fail;
        c->log = log_pump_new(crisp->base, path, op->stdout_read, op->stderr_read, NULL, NULL,
                              &e);
        op->stdout_read = op->stderr_read = -EBADF; /* taken over, even on failure */
        if (!c->log)
            goto fail;
    }

    op->spec.id = c->id;
    op->spec.bundle_dir = c->dir;
    op->spec.lowerdirs = op->layer_dirs;
    op->spec.argv = op->argv;
    op->spec.envp = op->env;
    op->spec.cwd = config->working_dir[0] ? config->working_dir
                   : img->config.working_dir ? img->config.working_dir
                                             : "/";
    op->spec.readonly_rootfs = config->linux && config->linux->security_context &&
                               config->linux->security_context->readonly_rootfs;
    op->spec.hostname = hostname;
    op->spec.pod_pid = sb->pid;
    op->spec.pod_pidfd = sb->pidfd;
    {
        /* An unset mode is POD (0): containers share the pause's PID namespace. */
        const Runtime__V1__NamespaceOption *ns =
            config->linux && config->linux->security_context
                ? config->linux->security_context->namespace_options
                : NULL;
        Runtime__V1__NamespaceMode pid_mode = ns ? ns->pid : RUNTIME__V1__NAMESPACE_MODE__POD;

        op->spec.join_pod_network = true;
        op->spec.join_pod_ipc = true;
        op->spec.join_pod_pid = pid_mode == RUNTIME__V1__NAMESPACE_MODE__POD;
        op->spec.host_pid = pid_mode == RUNTIME__V1__NAMESPACE_MODE__NODE;
        if (pid_mode == RUNTIME__V1__NAMESPACE_MODE__TARGET &&
            target_pid_namespace(crisp, sb, ns->target_id, &op->spec, &e) < 0)
            goto fail;
    }

    if (container_cgroup_create(crisp, sb, c, &op->cgroup_path, &e) < 0)
        goto fail;
    op->spec.cgroup_path = op->cgroup_path;
    if (pod_userns_from_cri(sb->config, &op->userns, &e) < 0)
        goto fail;
    op->spec.userns = op->userns.enabled ? &op->userns.spec : NULL;
    if (container_devices_apply(config, op->security->sec.privileged, op->cgroup_path, &e) < 0)
        goto fail;
    if (platform_ctr_create(crisp->base, &op->spec, on_container_created, rpc, &e) < 0)
        goto fail;
    /* The child has its own copies of the write ends now. */
    if (op->spec.stderr_fd == op->spec.stdout_fd)
        op->spec.stderr_fd = -EBADF;
    close_and_reset(&op->spec.stderr_fd);
    close_and_reset(&op->spec.stdout_fd);
    return;

fail:
    create_op_free(op);
    rpc->op = NULL;
    create_rollback(crisp, c);
    rpc_fail(rpc, e);
}

/* ---- StartContainer ---- */

static int find_container_arg(struct rpc *rpc, const char *id, struct container **ret,
                              struct err **err)
{
    struct container *c;

    if (!id[0])
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "container_id is empty");
    c = store_find_container(rpc->crisp->store, id, err);
    if (!c && *err)
        return -1;
    if (c) {
        rpc_set_container(rpc, c->id);
        rpc_set_pod(rpc, c->sandbox_id);
    }
    *ret = c;
    return 0;
}

static const char *state_name(enum container_state state)
{
    switch (state) {
    case CONTAINER_CREATED:
        return "CONTAINER_CREATED";
    case CONTAINER_RUNNING:
        return "CONTAINER_RUNNING";
    case CONTAINER_EXITED:
        return "CONTAINER_EXITED";
    default:
        return "CONTAINER_UNKNOWN";
    }
}

static void on_container_started(void *data, struct ctr_proc *proc, const struct err *err)
{
    struct rpc *rpc = data;
    struct crisp *crisp = rpc->crisp;
    Runtime__V1__StartContainerResponse resp = RUNTIME__V1__START_CONTAINER_RESPONSE__INIT;
    struct container *c = store_find_container(crisp->store, rpc->container_id, NULL);
    _cleanup_err_ struct err *e = NULL;

    (void)proc;
    if (!c)
        return rpc_failf(rpc, GRPC_STATUS_NOT_FOUND, "container %s was removed while starting",
                         rpc->container_id);
    c->starting = false;
    if (c->state != CONTAINER_CREATED) {
        report_pending_exit(c);
        return rpc_failf(rpc, GRPC_STATUS_ABORTED, "container %s was stopped while starting",
                         c->id);
    }

    if (err) {
        _cleanup_free_ char *text = err_text(err);

        /* As containerd does: the container is EXITED with code 128 and reason StartError. */
        c->state = CONTAINER_EXITED;
        c->finished_at = now_ns();
        c->exit_code = 128;
        free(c->reason);
        c->reason = xstrdup("StartError");
        free(c->message);
        c->message = xstrdup(text);
        store_save_container(crisp->store, c, NULL);
        report_pending_exit(c);
        err_status(&e, GRPC_STATUS_UNKNOWN, "start container %s: %s", c->id, text);
        return rpc_fail(rpc, e);
    }

    c->state = CONTAINER_RUNNING;
    c->started_at = now_ns();
    if (store_save_container(crisp->store, c, &e) < 0)
        log_warn_err(e, "saving container state failed; ignored");
    log_emit(LOG_LEVEL_INFO, NULL, &rpc->ids, "container '%s' started, pid %d", c->name,
             (int)c->pid);
    rpc_reply(rpc, &resp.base);
    report_pending_exit(c);
}

void rpc_start_container(struct rpc *rpc)
{
    Runtime__V1__StartContainerRequest *req = (Runtime__V1__StartContainerRequest *)rpc->req;
    struct crisp *crisp = rpc->crisp;
    _cleanup_err_ struct err *e = NULL;
    struct container *c;
    struct sandbox *sb;

    if (find_container_arg(rpc, req->container_id, &c, &e) < 0)
        return rpc_fail(rpc, e);
    if (!c)
        return rpc_failf(rpc, GRPC_STATUS_NOT_FOUND, "container '%s' not found",
                         req->container_id);
    if (c->state != CONTAINER_CREATED || !c->proc || c->creating)
        return rpc_failf(rpc, GRPC_STATUS_FAILED_PRECONDITION,
                         "container %s is in state %s, not CONTAINER_CREATED", c->id,
                         c->creating ? "being created" : state_name(c->state));
    if (c->starting)
        return rpc_failf(rpc, GRPC_STATUS_FAILED_PRECONDITION,
                         "container %s is already being started", c->id);
    sb = store_find_sandbox(crisp->store, c->sandbox_id, NULL);
    if (!sb || sb->state != SANDBOX_READY)
        return rpc_failf(rpc, GRPC_STATUS_FAILED_PRECONDITION, "pod sandbox %s is not ready",
                         c->sandbox_id);

    if (platform_ctr_start(crisp->base, c->proc, on_container_started, rpc, &e) < 0)
        return rpc_fail(rpc, e);
    c->starting = true;
}

/* ---- StopContainer ---- */

static int parse_signal(const char *name)
{
    static const struct {
        const char *name;
        int sig;
    } table[] = {
        {"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"ILL", SIGILL},
        {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},   {"BUS", SIGBUS},   {"FPE", SIGFPE},
        {"KILL", SIGKILL}, {"USR1", SIGUSR1},   {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
        {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},   {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
        {"CHLD", SIGCHLD}, {"CONT", SIGCONT},   {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
        {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},   {"URG", SIGURG},   {"XCPU", SIGXCPU},
        {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
        {"IO", SIGIO},     {"PWR", SIGPWR},     {"SYS", SIGSYS},
    };
    long num;

    if (!name || !name[0])
        return SIGTERM;
    if (parse_id(name, &num))
        return num > 0 && num < 65 ? (int)num : SIGTERM;
    if (strncmp(name, "SIG", 3) == 0)
        name += 3;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (strcasecmp(table[i].name, name) == 0)
            return table[i].sig;
    }
    return SIGTERM;
}

/* The v1 stop_signal enum (1 = SIGABRT ... 65 = SIGRTMAX) as a Linux signal number. */
static int signal_from_cri(Runtime__V1__Signal s)
{
    static const char *const names[] = {
        NULL,   "ABRT", "ALRM", "BUS",  "CHLD", "CHLD", "CONT",   "FPE",  "HUP",  "ILL",
        "INT",  "IO",   "ABRT", "KILL", "PIPE", "IO",   "PROF",   "PWR",  "QUIT", "SEGV",
        "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN",  "TTOU", "URG",  "USR1",
        "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    };

    if (s <= 0)
        return 0;
    if ((size_t)s < sizeof(names) / sizeof(names[0]))
        return parse_signal(names[s]);
    if (s >= 35 && s <= 50) /* SIGRTMIN, SIGRTMIN+1 ... SIGRTMIN+15 */
        return SIGRTMIN + (int)(s - 35);
    if (s >= 51 && s <= 65) /* SIGRTMAX-14 ... SIGRTMAX */
        return SIGRTMAX - (int)(65 - s);
    return 0;
}

static int container_stop_signal(const struct container *c)
{
    int sig = signal_from_cri(c->config->stop_signal);

    return sig ? sig : parse_signal(c->stop_signal);
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *data)
{
    struct container *c = data;
    _cleanup_err_ struct err *e = NULL;

    (void)fd;
    (void)what;
    event_free(c->stop_timer);
    c->stop_timer = NULL;
    log_emit(LOG_LEVEL_INFO, NULL, &(struct log_ids){.container_id = c->id},
             "stop timeout passed; killing the container");
    if (c->pidfd >= 0 && proc_signal(c->pidfd, SIGKILL, &e) < 0)
        log_warn_err(e, "killing the container failed");
}

void container_stop(struct crisp *crisp, struct container *c, int64_t timeout_s, struct waiter *w)
{
    _cleanup_err_ struct err *e = NULL;
    int sig;

    if (c->creating || c->exit_pending) {
        /*
         * Wait for the create (its callback stops the new process, or drops
         * the container) or for the start that holds back an exit.
         */
        w->next = c->stop_waiters;
        c->stop_waiters = w;
        return;
    }
    if (!c->proc && c->pidfd < 0) {
        w->done(w, NULL);
        return;
    }

    w->next = c->stop_waiters;
    c->stop_waiters = w;

    if (timeout_s <= 0 || c->state == CONTAINER_CREATED) {
        if (proc_signal(c->pidfd, SIGKILL, &e) < 0)
            log_warn_err(e, "killing the container failed; waiting for it anyway");
        return;
    }
    if (c->stopping)
        return; /* a stop is already under way: wait for it */

    c->stopping = true;
    sig = container_stop_signal(c);
    if (proc_signal(c->pidfd, sig, &e) < 0)
        log_warn_err(e, "sending the stop signal failed; killing after the timeout anyway");
    c->stop_timer = evtimer_new(crisp->base, on_stop_timeout, c);
    evtimer_add(c->stop_timer, &(struct timeval){.tv_sec = timeout_s});
}

static void on_stop_done(struct waiter *w, const struct err *err)
{
    struct rpc *rpc = (struct rpc *)((char *)w - offsetof(struct rpc, waiter));
    Runtime__V1__StopContainerResponse resp = RUNTIME__V1__STOP_CONTAINER_RESPONSE__INIT;

    if (err)
        return rpc_fail(rpc, err);
    log_emit(LOG_LEVEL_INFO, NULL, &rpc->ids, "container stopped");
    rpc_reply(rpc, &resp.base);
}

void rpc_stop_container(struct rpc *rpc)
{
    Runtime__V1__StopContainerRequest *req = (Runtime__V1__StopContainerRequest *)rpc->req;
    Runtime__V1__StopContainerResponse resp = RUNTIME__V1__STOP_CONTAINER_RESPONSE__INIT;
    _cleanup_err_ struct err *e = NULL;
    struct container *c;

    if (find_container_arg(rpc, req->container_id, &c, &e) < 0)
        return rpc_fail(rpc, e);
    if (!c)
        return rpc_failf(rpc, GRPC_STATUS_NOT_FOUND, "container '%s' not found",
                         req->container_id);
    /* Stopping a container that is not running succeeds and changes nothing. */
    if (c->state != CONTAINER_RUNNING)
        return rpc_reply(rpc, &resp.base);

    rpc->waiter.done = on_stop_done;
    container_stop(rpc->crisp, c, req->timeout, &rpc->waiter);
}

/* ---- RemoveContainer ---- */

int container_remove(struct crisp *crisp, struct container *c, struct err **err)
{
    if (c->watch) {
        /* A parked or still running process: kill it and let a watch reap it. */
        struct reaper *r = xzalloc(sizeof(*r));

        proc_watch_free(c->watch);
        c->watch = NULL;
        proc_signal(c->pidfd, SIGKILL, NULL);
        r->pidfd = TAKE_FD(c->pidfd);
        r->watch = proc_watch_new(crisp->base, c->pid, r->pidfd, reap_only, r);
    }
    if (c->stop_timer) {
        event_free(c->stop_timer);
        c->stop_timer = NULL;
    }
    platform_ctr_free(c->proc);
    c->proc = NULL;
    log_pump_free(c->log);
    c->log = NULL;
    container_cgroup_remove(crisp, c);
    if (platform_ctr_cleanup(c->dir, err) < 0)
        return -1;
    if (c->image_id)
        image_store_release(crisp->images, c->image_id);
    log_emit(LOG_LEVEL_INFO, NULL, &(struct log_ids){.container_id = c->id}, "container '%s' removed",
             c->name);
    return store_remove_container(crisp->store, c, err);
}

static void on_removable(struct waiter *w, const struct err *err)
{
    struct rpc *rpc = (struct rpc *)((char *)w - offsetof(struct rpc, waiter));
    Runtime__V1__RemoveContainerResponse resp = RUNTIME__V1__REMOVE_CONTAINER_RESPONSE__INIT;
    _cleanup_err_ struct err *e = NULL;
    struct container *c = store_find_container(rpc->crisp->store, rpc->container_id, NULL);

    if (err)
        return rpc_fail(rpc, err);
    if (c && container_remove(rpc->crisp, c, &e) < 0)
        return rpc_fail(rpc, e);
    rpc_reply(rpc, &resp.base);
}

void rpc_remove_container(struct rpc *rpc)
{
    Runtime__V1__RemoveContainerRequest *req = (Runtime__V1__RemoveContainerRequest *)rpc->req;
    Runtime__V1__RemoveContainerResponse resp = RUNTIME__V1__REMOVE_CONTAINER_RESPONSE__INIT;
    _cleanup_err_ struct err *e = NULL;
    struct container *c;

    if (find_container_arg(rpc, req->container_id, &c, &e) < 0)
        return rpc_fail(rpc, e);
    if (!c) /* already removed: RemoveContainer is idempotent */
        return rpc_reply(rpc, &resp.base);

    /* Like containerd, a running container is stopped forcibly first. */
    rpc->waiter.done = on_removable;
    container_stop(rpc->crisp, c, 0, &rpc->waiter);
}

/* ---- ContainerStatus and ListContainers ---- */

static char *container_info_json(const struct container *c)
{
    json_t *o = json_object();
    char *text;

    json_object_set_new(o, "pid", json_integer(c->pid));
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "sandboxID", json_string(c->sandbox_id));
    json_object_set_new(o, "bundle", json_string(c->dir));
    json_object_set_new(o, "imageID", json_string(c->image_id));
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

void rpc_container_status(struct rpc *rpc)
{
    Runtime__V1__ContainerStatusRequest *req = (Runtime__V1__ContainerStatusRequest *)rpc->req;
    Runtime__V1__ContainerStatusResponse resp = RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INIT;
    Runtime__V1__ContainerStatus status = RUNTIME__V1__CONTAINER_STATUS__INIT;
    Runtime__V1__ImageSpec image = RUNTIME__V1__IMAGE_SPEC__INIT;
    Runtime__V1__ContainerResources resources = RUNTIME__V1__CONTAINER_RESOURCES__INIT;
    Runtime__V1__ContainerStatusResponse__InfoEntry info =
        RUNTIME__V1__CONTAINER_STATUS_RESPONSE__INFO_ENTRY__INIT;
    Runtime__V1__ContainerStatusResponse__InfoEntry *infos[] = {&info};
    _cleanup_err_ struct err *e = NULL;
    _cleanup_free_ char *info_json = NULL;
    struct container *c;
    struct image *img;

    if (find_container_arg(rpc, req->container_id, &c, &e) < 0)
        return rpc_fail(rpc, e);
    if (!c)
        return rpc_failf(rpc, GRPC_STATUS_NOT_FOUND, "container '%s' not found",
                         req->container_id);

    /* As containerd reports it: the image's first tag, and its repo digest as image_ref. */
    img = image_store_find(rpc->crisp->images, c->image_id, NULL);
    image.image = (char *)first_or(img ? img->repo_tags : NULL, c->image_name);
    status.id = c->id;
    status.metadata = c->config->metadata;
    status.state = (Runtime__V1__ContainerState)c->state;
    status.created_at = c->created_at;
    status.started_at = c->started_at;
    status.finished_at = c->finished_at;
    status.exit_code = c->exit_code;
    status.image = &image;
    status.image_ref = c->image_ref;
    status.image_id = c->image_id;
    status.reason = c->reason ? c->reason : (char *)"";
    status.message = c->message ? c->message : (char *)"";
    status.n_labels = c->config->n_labels;
    status.labels = MAP_ENTRIES(Runtime__V1__ContainerStatus__LabelsEntry, c->config->labels);
    status.n_annotations = c->config->n_annotations;
    status.annotations =
        MAP_ENTRIES(Runtime__V1__ContainerStatus__AnnotationsEntry, c->config->annotations);
    status.n_mounts = c->config->n_mounts;
    status.mounts = c->config->mounts;
    status.log_path = c->log_path ? c->log_path : (char *)"";
    status.stop_signal = c->config->stop_signal;
    resources.linux = container_resources(c);
    status.resources = &resources;
    resp.status = &status;
    if (req->verbose) {
        info_json = container_info_json(c);
        info.key = (char *)"info";
        info.value = info_json;
        resp.n_info = 1;
        resp.info = infos;
    }
    rpc_reply(rpc, &resp.base);
}

static bool container_matches(const struct container *c, const Runtime__V1__ContainerFilter *f)
{
    if (!f)
        return true;
    if (f->id[0] && strncmp(c->id, f->id, strlen(f->id)) != 0)
        return false;
    if (f->pod_sandbox_id[0] &&
        strncmp(c->sandbox_id, f->pod_sandbox_id, strlen(f->pod_sandbox_id)) != 0)
        return false;
    if (f->state && (enum container_state)f->state->state != c->state)
        return false;
    return labels_match(c->config->n_labels, (void *const *)c->config->labels,
                        f->n_label_selector, (void *const *)f->label_selector);
}

/* The Container item of c, packed and kept until its state changes (see sandbox_list_item()). */
static const uint8_t *container_list_item(struct container *c, size_t *ret_len)
{
    Runtime__V1__Container item = RUNTIME__V1__CONTAINER__INIT;
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;

    if (c->list_item && c->list_item_state == c->state) {
        *ret_len = c->list_item_len;
        return c->list_item;
    }
    spec.image = c->image_id;
    item.id = (char *)c->id;
    item.pod_sandbox_id = (char *)c->sandbox_id;
    item.metadata = c->config->metadata;
    item.image = &spec;
    item.image_ref = c->image_ref;
    item.image_id = c->image_id;
    item.state = (Runtime__V1__ContainerState)c->state;
    item.created_at = c->created_at;
    item.n_labels = c->config->n_labels;
    item.labels = MAP_ENTRIES(Runtime__V1__Container__LabelsEntry, c->config->labels);
    item.n_annotations = c->config->n_annotations;
    item.annotations = MAP_ENTRIES(Runtime__V1__Container__AnnotationsEntry, c->config->annotations);
    free(c->list_item);
    c->list_item_len = protobuf_c_message_get_packed_size(&item.base);
    c->list_item = xmalloc(c->list_item_len);
    protobuf_c_message_pack(&item.base, c->list_item);
    c->list_item_state = c->state;
    *ret_len = c->list_item_len;
    return c->list_item;
}

void rpc_list_containers(struct rpc *rpc)
{
    Runtime__V1__ListContainersRequest *req = (Runtime__V1__ListContainersRequest *)rpc->req;
    struct strbuf out = STRBUF_INIT;
    struct container **all;
    size_t n;

    all = store_containers(rpc->crisp->store, &n);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *item;
        size_t len;

        if (!container_matches(all[i], req->filter))
            continue;
        item = container_list_item(all[i], &len);
        packed_append_field(&out, 1, item, len); /* ListContainersResponse.containers */
    }
    rpc_reply_packed(rpc, (const uint8_t *)out.buf, out.len);
    strbuf_done(&out);
}
