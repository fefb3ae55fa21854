#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>

#include <jansson.h>

#include "store/store.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/xalloc.h"

/* Largest request record read back at start-up. */
#define MAX_RECORD_SIZE (16u * 1024 * 1024)

struct store {
    char *pods_dir;
    char *containers_dir;
    struct sandbox **sandboxes;
    size_t n_sandboxes;
    struct container **containers;
    size_t n_containers;
};

int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int store_open(const char *dir, struct store **ret, struct err **err)
{
    struct store *s = xzalloc(sizeof(*s));

    s->pods_dir = path_join(dir, "pods");
    s->containers_dir = path_join(dir, "containers");
    if (mkdir_p(s->pods_dir, 0700, err) < 0 || mkdir_p(s->containers_dir, 0700, err) < 0) {
        store_free(s);
        return -1;
    }
    *ret = s;
    return 0;
}

static void sandbox_free(struct sandbox *sb)
{
    if (!sb)
        return;
    free(sb->list_item);
    free(sb->name);
    free(sb->dir);
    free(sb->state_dir);
    free(sb->request);
    if (sb->req)
        runtime__v1__run_pod_sandbox_request__free_unpacked(sb->req, NULL);
    free(sb);
}

static void container_free(struct container *c)
{
    if (!c)
        return;
    free(c->list_item);
    free(c->name);
    free(c->dir);
    free(c->request);
    if (c->req)
        runtime__v1__create_container_request__free_unpacked(c->req, NULL);
    free(c->image_id);
    free(c->image_ref);
    free(c->image_name);
    free(c->log_path);
    free(c->stop_signal);
    free(c->reason);
    free(c->message);
    free(c);
}

void store_free(struct store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_sandboxes; i++)
        sandbox_free(s->sandboxes[i]);
    for (size_t i = 0; i < s->n_containers; i++)
        container_free(s->containers[i]);
    free(s->sandboxes);
    free(s->containers);
    free(s->pods_dir);
    free(s->containers_dir);
    free(s);
}

struct sandbox **store_sandboxes(struct store *s, size_t *ret_n)
{
    *ret_n = s->n_sandboxes;
    return s->sandboxes;
}

struct container **store_containers(struct store *s, size_t *ret_n)
{
    *ret_n = s->n_containers;
    return s->containers;
}

/* Find the one id among n that starts with prefix; see store_find_sandbox(). */
static ssize_t find_by_prefix(const char *prefix, const char *(*id_at)(void *arr, size_t i),
                              void *arr, size_t n, const char *what, struct err **err)
{
    size_t len = strlen(prefix);
    ssize_t found = -1;

    if (!id_is_valid_prefix(prefix)) {
        err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                   "invalid %s id '%s': expected up to 64 lowercase hex characters", what, prefix);
        return -2;
    }
    for (size_t i = 0; i < n; i++) {
        const char *id = id_at(arr, i);

        if (strncmp(id, prefix, len) != 0)
            continue;
        if (len == ID_LEN)
            return (ssize_t)i;
        if (found >= 0) {
            err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                       "%s id prefix '%s' is ambiguous: it matches more than one %s", what,
                       prefix, what);
            return -2;
        }
        found = (ssize_t)i;
    }
    return found;
}

static const char *sandbox_id_at(void *arr, size_t i)
{
    return ((struct sandbox **)arr)[i]->id;
}

static const char *container_id_at(void *arr, size_t i)
{
    return ((struct container **)arr)[i]->id;
}

struct sandbox *store_find_sandbox(struct store *s, const char *id, struct err **err)
{
    ssize_t i = find_by_prefix(id, sandbox_id_at, s->sandboxes, s->n_sandboxes, "pod sandbox", err);

    return i >= 0 ? s->sandboxes[i] : NULL;
}

struct container *store_find_container(struct store *s, const char *id, struct err **err)
{
    ssize_t i =
        find_by_prefix(id, container_id_at, s->containers, s->n_containers, "container", err);

    return i >= 0 ? s->containers[i] : NULL;
}

struct sandbox *store_find_sandbox_by_name(struct store *s, const char *name)
{
    for (size_t i = 0; i < s->n_sandboxes; i++) {
        if (strcmp(s->sandboxes[i]->name, name) == 0)
            return s->sandboxes[i];
    }
    return NULL;
}

struct container *store_find_container_by_name(struct store *s, const char *name)
{
    for (size_t i = 0; i < s->n_containers; i++) {
        if (strcmp(s->containers[i]->name, name) == 0)
            return s->containers[i];
    }
    return NULL;
}

static int write_request(const char *dir, const uint8_t *request, size_t len, struct err **err)
{
    _cleanup_free_ char *path = path_join(dir, "request.pb");

    return write_file_atomic(path, request, len, 0600, err);
}

struct sandbox *store_add_sandbox(struct store *s, const uint8_t *request, size_t len,
                                  Runtime__V1__RunPodSandboxRequest *req, const char *name,
                                  struct err **err)
{
    struct sandbox *sb = xzalloc(sizeof(*sb));

    id_generate(sb->id);
    sb->name = xstrdup(name);
    sb->dir = path_join(s->pods_dir, sb->id);
    sb->request = xmemdup(request, len);
    sb->request_len = len;
    sb->req = req;
    sb->config = req->config;
    sb->state = SANDBOX_NOTREADY;
    sb->created_at = now_ns();
    sb->pidfd = -EBADF;
    sb->creating = true;

    if (mkdir_p(sb->dir, 0700, err) < 0 || write_request(sb->dir, request, len, err) < 0 ||
        store_save_sandbox(s, sb, err) < 0) {
        rm_rf(sb->dir, NULL);
        sb->req = NULL; /* still the caller's on failure */
        sandbox_free(sb);
        return NULL;
    }

    s->sandboxes = xrealloc(s->sandboxes, (s->n_sandboxes + 1) * sizeof(*s->sandboxes));
    s->sandboxes[s->n_sandboxes++] = sb;
    return sb;
}

struct container *store_add_container(struct store *s, struct sandbox *sb, const uint8_t *request,
                                      size_t len, Runtime__V1__CreateContainerRequest *req,
                                      const char *name, struct err **err)
{
    struct container *c = xzalloc(sizeof(*c));

    id_generate(c->id);
    c->name = xstrdup(name);
    c->dir = path_join(s->containers_dir, c->id);
    memcpy(c->sandbox_id, sb->id, sizeof(c->sandbox_id));
    c->request = xmemdup(request, len);
    c->request_len = len;
    c->req = req;
    c->config = req->config;
    c->state = CONTAINER_CREATED;
    c->created_at = now_ns();
    c->pidfd = -EBADF;

    if (mkdir_p(c->dir, 0700, err) < 0 || write_request(c->dir, request, len, err) < 0) {
        rm_rf(c->dir, NULL);
        c->req = NULL;
        container_free(c);
        return NULL;
    }

    s->containers = xrealloc(s->containers, (s->n_containers + 1) * sizeof(*s->containers));
    s->containers[s->n_containers++] = c;
    return c;
}

static void set_str(json_t *o, const char *key, const char *value)
{
    if (value)
        json_object_set_new(o, key, json_string(value));
}

static int save_json(const char *dir, json_t *o, struct err **err)
{
    _cleanup_free_ char *path = path_join(dir, "status.json");
    _cleanup_free_ char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);

    json_decref(o);
    if (!text)
        return err_status(err, GRPC_STATUS_INTERNAL, "encode status of '%s'", dir);
    return write_file_atomic(path, text, strlen(text), 0600, err);
}

int store_save_sandbox(struct store *s, struct sandbox *sb, struct err **err)
{
    json_t *o = json_object();

    (void)s;
    json_object_set_new(o, "name", json_string(sb->name));
    json_object_set_new(o, "creating", json_boolean(sb->creating));
    json_object_set_new(o, "state", json_integer(sb->state));
    json_object_set_new(o, "created_at", json_integer(sb->created_at));
    json_object_set_new(o, "pid", json_integer(sb->pid));
    json_object_set_new(o, "start_time", json_integer((json_int_t)sb->start_time));
    return save_json(sb->dir, o, err);
}

int store_save_container(struct store *s, struct container *c, struct err **err)
{
    json_t *o = json_object();

    (void)s;
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "sandbox_id", json_string(c->sandbox_id));
    json_object_set_new(o, "state", json_integer(c->state));
    json_object_set_new(o, "created_at", json_integer(c->created_at));
    json_object_set_new(o, "started_at", json_integer(c->started_at));
    json_object_set_new(o, "finished_at", json_integer(c->finished_at));
    json_object_set_new(o, "exit_code", json_integer(c->exit_code));
    json_object_set_new(o, "pid", json_integer(c->pid));
    json_object_set_new(o, "start_time", json_integer((json_int_t)c->start_time));
    set_str(o, "image_id", c->image_id);
    set_str(o, "image_ref", c->image_ref);
    set_str(o, "image_name", c->image_name);
    set_str(o, "log_path", c->log_path);
    set_str(o, "stop_signal", c->stop_signal);
    set_str(o, "reason", c->reason);
    set_str(o, "message", c->message);
    return save_json(c->dir, o, err);
}

static void remove_at(void **arr, size_t *n, size_t i)
{
    memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof(*arr));
    (*n)--;
}

int store_remove_sandbox(struct store *s, struct sandbox *sb, struct err **err)
{
    if (rm_rf(sb->dir, err) < 0)
        return -1;
    for (size_t i = 0; i < s->n_sandboxes; i++) {
        if (s->sandboxes[i] == sb) {
            remove_at((void **)s->sandboxes, &s->n_sandboxes, i);
            break;
        }
    }
    sandbox_free(sb);
    return 0;
}

int store_remove_container(struct store *s, struct container *c, struct err **err)
{
    if (rm_rf(c->dir, err) < 0)
        return -1;
    for (size_t i = 0; i < s->n_containers; i++) {
        if (s->containers[i] == c) {
            remove_at((void **)s->containers, &s->n_containers, i);
            break;
        }
    }
    container_free(c);
    return 0;
}

static char *dup_json_str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));

    return v ? xstrdup(v) : NULL;
}

static int64_t json_int(json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* Read dir/request.pb and dir/status.json. */
static int read_record(const char *dir, uint8_t **ret_request, size_t *ret_len, json_t **ret_status,
                       struct err **err)
{
    _cleanup_free_ char *req_path = path_join(dir, "request.pb");
    _cleanup_free_ char *status_path = path_join(dir, "status.json");
    _cleanup_free_ char *request = NULL;
    json_error_t jerr;
    json_t *status;

    if (read_file(req_path, MAX_RECORD_SIZE, &request, ret_len, err) < 0)
        return -1;
    status = json_load_file(status_path, 0, &jerr);
    if (!status || !json_is_object(status)) {
        json_decref(status);
        return err_status(err, GRPC_STATUS_DATA_LOSS, "read '%s': %s", status_path, jerr.text);
    }
    *ret_request = (uint8_t *)TAKE_PTR(request);
    *ret_status = status;
    return 0;
}

/*
 * A record directory without its request is what a removal interrupted
 * halfway leaves (rm_rf had deleted the request already): finish it.
 * Returns whether that was the case.
 */
static bool record_lost_request(const char *dir)
{
    _cleanup_free_ char *req_path = path_join(dir, "request.pb");

    if (access(req_path, F_OK) == 0 || errno != ENOENT)
        return false;
    log_info("removing record '%s': its removal was interrupted", dir);
    rm_rf(dir, NULL);
    return true;
}

static void load_sandbox(struct store *s, const char *name)
{
    _cleanup_err_ struct err *e = NULL;
    struct sandbox *sb;
    uint8_t *request;
    json_t *status;
    size_t len;

    if (!id_is_valid_prefix(name) || strlen(name) != ID_LEN)
        return;

    sb = xzalloc(sizeof(*sb));
    memcpy(sb->id, name, ID_LEN + 1);
    sb->dir = path_join(s->pods_dir, name);
    sb->pidfd = -EBADF;
    if (read_record(sb->dir, &request, &len, &status, &e) < 0) {
        if (record_lost_request(sb->dir)) {
            sandbox_free(sb);
            return;
        }
        log_warn_err(e, "skipping unreadable pod sandbox record '%s'", sb->dir);
        sandbox_free(sb);
        return;
    }
    sb->request = request;
    sb->request_len = len;
    sb->req = runtime__v1__run_pod_sandbox_request__unpack(NULL, len, request);
    sb->name = dup_json_str(status, "name");
    sb->state = (enum sandbox_state)json_int(status, "state");
    sb->created_at = json_int(status, "created_at");
    sb->pid = (pid_t)json_int(status, "pid");
    sb->start_time = (uint64_t)json_int(status, "start_time");
    sb->creating = json_is_true(json_object_get(status, "creating"));
    json_decref(status);
    if (!sb->req || !sb->req->config || !sb->name) {
        log_warn("skipping corrupt pod sandbox record '%s'", sb->dir);
        sandbox_free(sb);
        return;
    }
    sb->config = sb->req->config;

    s->sandboxes = xrealloc(s->sandboxes, (s->n_sandboxes + 1) * sizeof(*s->sandboxes));
    s->sandboxes[s->n_sandboxes++] = sb;
}

static void load_half_created(struct store *s, struct container *c)
{
    _cleanup_free_ char *req_path = path_join(c->dir, "request.pb");
    _cleanup_free_ char *request = NULL;
    size_t len;

    if (read_file(req_path, MAX_RECORD_SIZE, &request, &len, NULL) < 0)
        goto drop;
    c->req = runtime__v1__create_container_request__unpack(NULL, len, (uint8_t *)request);
    if (!c->req || !c->req->config || !c->req->pod_sandbox_id)
        goto drop;
    c->request = (uint8_t *)TAKE_PTR(request);
    c->request_len = len;
    c->config = c->req->config;
    c->name = xstrdup("");
    snprintf(c->sandbox_id, sizeof(c->sandbox_id), "%s", c->req->pod_sandbox_id);
    c->creating = true;
    s->containers = xrealloc(s->containers, (s->n_containers + 1) * sizeof(*s->containers));
    s->containers[s->n_containers++] = c;
    return;

drop:
    log_warn("removing container record '%s' of a create that never finished", c->dir);
    rm_rf(c->dir, NULL);
    container_free(c);
}

static void load_container(struct store *s, const char *name)
{
    _cleanup_err_ struct err *e = NULL;
    struct container *c;
    const char *sandbox_id;
    uint8_t *request;
    json_t *status;
    size_t len;

    if (!id_is_valid_prefix(name) || strlen(name) != ID_LEN)
        return;

    c = xzalloc(sizeof(*c));
    memcpy(c->id, name, ID_LEN + 1);
    c->dir = path_join(s->containers_dir, name);
    c->pidfd = -EBADF;
    if (read_record(c->dir, &request, &len, &status, &e) < 0) {
        _cleanup_free_ char *status_path = path_join(c->dir, "status.json");
        _cleanup_free_ char *req_path = path_join(c->dir, "request.pb");

        if (access(status_path, F_OK) < 0 && errno == ENOENT && access(req_path, F_OK) == 0) {
            /* CreateContainer never finished: load it for the handlers to roll back. */
            load_half_created(s, c);
            return;
        }
        if (record_lost_request(c->dir)) {
            container_free(c);
            return;
        }
        log_warn_err(e, "skipping unreadable container record '%s'", c->dir);
        container_free(c);
        return;
    }
    c->request = request;
    c->request_len = len;
    c->req = runtime__v1__create_container_request__unpack(NULL, len, request);
    c->name = dup_json_str(status, "name");
    sandbox_id = json_string_value(json_object_get(status, "sandbox_id"));
    if (sandbox_id && strlen(sandbox_id) == ID_LEN)
        memcpy(c->sandbox_id, sandbox_id, ID_LEN + 1);
    c->state = (enum container_state)json_int(status, "state");
    c->created_at = json_int(status, "created_at");
    c->started_at = json_int(status, "started_at");
    c->finished_at = json_int(status, "finished_at");
    c->exit_code = (int32_t)json_int(status, "exit_code");
    c->pid = (pid_t)json_int(status, "pid");
    c->start_time = (uint64_t)json_int(status, "start_time");
    c->image_id = dup_json_str(status, "image_id");
    c->image_ref = dup_json_str(status, "image_ref");
    c->image_name = dup_json_str(status, "image_name");
    c->log_path = dup_json_str(status, "log_path");
    c->stop_signal = dup_json_str(status, "stop_signal");
    c->reason = dup_json_str(status, "reason");
    c->message = dup_json_str(status, "message");
    json_decref(status);
    if (!c->req || !c->req->config || !c->name || !c->sandbox_id[0]) {
        log_warn("skipping corrupt container record '%s'", c->dir);
        container_free(c);
        return;
    }
    c->config = c->req->config;

    s->containers = xrealloc(s->containers, (s->n_containers + 1) * sizeof(*s->containers));
    s->containers[s->n_containers++] = c;
}

static int load_dir(const char *path, void (*load)(struct store *, const char *), struct store *s,
                    struct err **err)
{
    _cleanup_closedir_ DIR *d = opendir(path);
    struct dirent *de;

    if (!d)
        return err_sys(err, "open directory '%s'", path);
    while ((de = readdir(d)))
        load(s, de->d_name);
    return 0;
}

int store_load(struct store *s, struct err **err)
{
    if (load_dir(s->pods_dir, load_sandbox, s, err) < 0)
        return -1;
    return load_dir(s->containers_dir, load_container, s, err);
}
