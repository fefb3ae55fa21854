/*
 * The pull state machine: manifest (through indexes to this platform's
 * manifest), config, then the layers: up to max_concurrent_downloads blobs
 * at a time.  The reactor passes each blob's bytes through a pipe to a
 * child process, which writes the blob file, checks its digest and unpacks
 * it as it arrives.  The reactor itself never writes a layer to the disk
 * or hashes it, so a pull does not hold up the other calls.  Blobs and
 * snapshots are renamed into the store as they complete; index.json is
 * written last, so a crash leaves no visible partial image, and a failed
 * or cancelled pull removes what it added.
 *
 * One pull task serves every caller that asks for the same reference with
 * the same credentials while it runs: each caller holds a struct
 * image_pull (a waiter), and the task is cancelled only when its last
 * waiter leaves.  A layer blob that another task is downloading is not
 * fetched twice: the layer waits, and takes the stored blob once that task
 * has moved it into the store (or downloads it after all if that task
 * fails).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "image/curl-shim.h"
#include "image/image.h"
#include "image/internal.h"
#include "image/unpack.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"


enum layer_state {
    LAYER_WAITING,     /* blob to download */
    LAYER_DOWNLOADING, /* blob arriving, stored and unpacked by the child as it comes */
    LAYER_DOWNLOADED,  /* blob already stored, snapshot to unpack */
    LAYER_UNPACKING,
    LAYER_DONE,
};

/*
 * Pipe buffer for a blob on its way to the child: the reactor pauses the
 * transfer when the child falls this far behind.
 */
#define BLOB_PIPE_SIZE (1024 * 1024)

struct pull_layer {
    struct pull_task *pull;
    enum layer_state state;
    char *digest;
    uint64_t size;
    char *diff_id;
    char *chain_id;
    bool need_unpack;
    char *blob_tmp; /* the blob the child writes in the ingest directory, NULL when stored */
    int pipe_fd;    /* write end of the pipe to the child while downloading, else -1 */
    struct registry_fetch *fetch;
    struct unpack_job *job;
    char *snapshot_tmp;
};

/* A manifest, index or config document, written to the blob store at the end. */
struct pull_doc {
    char *digest;
    char *data;
    size_t len;
};

/* One caller of image_pull_start(). */
struct image_pull {
    struct pull_task *task;
    image_pull_fn cb;
    void *data;
    bool in_callback;
    struct image_pull *next;
};

struct pull_task {
    struct image_store *store;
    struct event_base *base;
    struct image_ref ref;
    char *ref_string;
    struct registry *registry;
    struct registry_fetch *fetch;
    struct event *done_ev;
    struct event *wake_ev;  /* another task stored a blob or ended: look at waiting layers again */
    char *auth_key;         /* sha256 of the credentials, to match joining callers */
    unsigned max_downloads;

    int depth;
    uint64_t expected_size; /* of the manifest being fetched, when an index gave it */
    char *target_media_type;
    char *target_digest;
    uint64_t target_size;
    struct pull_doc docs[INDEX_MAX_DEPTH + 2];
    size_t n_docs;
    struct manifest manifest;

    struct pull_layer *layers;
    size_t n_layers;
    size_t jobs; /* layers with a child process running */
    char **created; /* blob digests and chain ids this pull moved into the store */
    size_t n_created;

    bool finished;
    bool notifying; /* on_done is calling the waiters back */
    struct err *err;
    struct image *result;
    struct image_pull *waiters;
};

bool pull_uses(const struct pull_task *p, const char *digest_or_chain)
{
    for (size_t i = 0; i < p->n_docs; i++) {
        if (strcmp(p->docs[i].digest, digest_or_chain) == 0)
            return true;
    }
    for (size_t i = 0; i < p->n_layers; i++) {
        if (strcmp(p->layers[i].digest, digest_or_chain) == 0 ||
            strcmp(p->layers[i].chain_id, digest_or_chain) == 0)
            return true;
    }
    return false;
}

static void pump(struct pull_task *p);

/* ---- ending ---- */

/*
 * Stop the layer's download and kill its child.  on_unpacked runs when the
 * child has exited and its partial files are gone.
 */
static void layer_abort(struct pull_layer *l)
{
    registry_fetch_cancel(l->fetch);
    l->fetch = NULL;
    if (l->pipe_fd >= 0)
        close(l->pipe_fd);
    l->pipe_fd = -1;
    unpack_kill(l->job);
}

/* Let the other tasks look again at layers that wait for this task's downloads. */
static void wake_others(struct pull_task *p)
{
    size_t n;
    struct pull_task *const *all = store_pulls(p->store, &n);

    for (size_t i = 0; i < n; i++) {
        if (all[i] != p)
            event_active(all[i]->wake_ev, 0, 0);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pump(arg);
}

/* Stop all work and delete what this pull added that no image uses. */
static void pull_abort(struct pull_task *p)
{
    char **digests = xnew(char *, p->n_created + 1);
    char **chains = xnew(char *, p->n_created + 1);
    size_t nd = 0, nc = 0;

    for (size_t i = 0; i < p->n_layers; i++)
        layer_abort(&p->layers[i]);
    store_pull_remove(p->store, p);
    wake_others(p);
    for (size_t i = 0; i < p->n_created; i++) {
        bool is_chain = false;

        for (size_t l = 0; l < p->n_layers; l++)
            is_chain = is_chain || strcmp(p->layers[l].chain_id, p->created[i]) == 0;
        if (is_chain)
            chains[nc++] = p->created[i];
        else
            digests[nd++] = p->created[i];
    }
    store_collect(p->store, digests, chains);
    free(digests);
    free(chains);
}

/*
 * Seconds without a pull after which libcurl is unloaded, so that a reactor
 * does not keep libcurl and its TLS, Kerberos, LDAP and SSH libraries mapped
 * after its last pull: measured after one pull of busybox, the reactor's RSS
 * went from 11.8 to 7.9 MiB.  The next pull loads libcurl again.
 */
#define CURL_UNLOAD_DELAY_S 5

static void schedule_curl_unload(struct image_store *s, struct event_base *base);

static void on_curl_unload(evutil_socket_t fd, short what, void *arg)
{
    struct image_store *s = arg;
    size_t n = 0;

    (void)fd;
    (void)what;
    store_pulls(s, &n);
    if (n > 0 || !curl_shim_loaded())
        return;
    if (curl_shim_unload()) {
        log_debug("image: unloaded libcurl after %d s without a pull", CURL_UNLOAD_DELAY_S);
        return;
    }
    /* A resolver thread still runs: try again later. */
    schedule_curl_unload(s, event_get_base(*store_curl_unload_event(s)));
}

/* (Re)start the timer that unloads libcurl once no pull has run for CURL_UNLOAD_DELAY_S. */
static void schedule_curl_unload(struct image_store *s, struct event_base *base)
{
    struct event **ev = store_curl_unload_event(s);
    const struct timeval delay = {.tv_sec = CURL_UNLOAD_DELAY_S};

    if (!*ev) {
        *ev = evtimer_new(base, on_curl_unload, s);
        if (!*ev)
            abort();
    }
    evtimer_add(*ev, &delay);
}

static void pull_free(struct pull_task *p)
{
    struct image_store *store = p->store;
    struct event_base *base = p->base;

    for (size_t i = 0; i < p->n_layers; i++) {
        struct pull_layer *l = &p->layers[i];

        if (l->pipe_fd >= 0)
            close(l->pipe_fd);
        /* A child still running cleans up after itself, unseen. */
        unpack_cancel(l->job);
        free(l->digest);
        free(l->diff_id);
        free(l->chain_id);
        free(l->blob_tmp);
        free(l->snapshot_tmp);
    }
    registry_free(p->registry);
    event_free(p->done_ev);
    event_free(p->wake_ev);
    free(p->auth_key);
    for (size_t i = 0; i < p->n_docs; i++) {
        free(p->docs[i].digest);
        free(p->docs[i].data);
    }
    for (size_t i = 0; i < p->n_created; i++)
        free(p->created[i]);
    free(p->created);
    free(p->layers);
    manifest_done(&p->manifest);
    image_ref_done(&p->ref);
    free(p->ref_string);
    free(p->target_media_type);
    free(p->target_digest);
    err_free(p->err);
    free(p);
    schedule_curl_unload(store, base);
}

/* Report the result to every waiter, in the order they joined, then free the task. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct pull_task *p = arg;

    (void)fd;
    (void)what;
    registry_free(p->registry);
    p->registry = NULL;
    p->notifying = true;
    while (p->waiters) {
        struct image_pull *w = p->waiters;

        p->waiters = w->next;
        w->in_callback = true;
        w->cb(w->data, p->err ? NULL : p->result, p->err);
        free(w);
    }
    pull_free(p);
}

/*
 * Fail the pull: e is taken over.  The callback runs from the reactor once
 * the layers' children are gone, so that the caller finds nothing of the
 * pull left in the store.
 */
static void pull_fail(struct pull_task *p, struct err *e)
{
    if (p->finished) {
        err_free(e);
        return;
    }
    p->finished = true;
    err_wrap(&e, "pull image '%s'", p->ref_string);
    p->err = e;
    pull_abort(p);
    if (p->jobs == 0)
        event_active(p->done_ev, 0, 0);
}

static void pull_succeed(struct pull_task *p, struct image *img)
{
    p->finished = true;
    p->result = img;
    store_pull_remove(p->store, p);
    event_active(p->done_ev, 0, 0);
}

static void record_created(struct pull_task *p, const char *digest_or_chain)
{
    p->created = xrealloc(p->created, (p->n_created + 1) * sizeof(char *));
    p->created[p->n_created++] = xstrdup(digest_or_chain);
}

/* ---- commit ---- */

static int fsync_dir(const char *path, struct err **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fsync(fd) < 0)
        return err_sys(err, "fsync '%s'", path);
    return 0;
}

static void commit(struct pull_task *p)
{
    struct err *e = NULL;
    _cleanup_free_ char *blob_dir = NULL;
    _cleanup_free_ char *snapshot_dir = NULL;
    _cleanup_free_ char *tag_name = NULL;
    _cleanup_free_ char *digest_name = NULL;
    char *names[3] = {NULL, NULL, NULL};
    struct image *img;

    for (size_t i = 0; i < p->n_docs; i++) {
        _cleanup_free_ char *path = store_blob_path(p->store, p->docs[i].digest);

        if (store_blob_exists(p->store, p->docs[i].digest))
            continue;
        if (write_file_atomic(path, p->docs[i].data, p->docs[i].len, 0644, &e) < 0) {
            pull_fail(p, e);
            return;
        }
        record_created(p, p->docs[i].digest);
    }
    /* Snapshot renames must be durable before index.json names the image. */
    blob_dir = store_blob_path(p->store, "");
    snapshot_dir = store_snapshot_path(p->store, "");
    if (fsync_dir(blob_dir, &e) < 0 || fsync_dir(snapshot_dir, &e) < 0) {
        pull_fail(p, e);
        return;
    }

    digest_name = xasprintf("%s/%s@%s", p->ref.domain, p->ref.path, p->target_digest);
    names[0] = digest_name;
    if (p->ref.tag) {
        tag_name = xasprintf("%s/%s:%s", p->ref.domain, p->ref.path, p->ref.tag);
        names[0] = tag_name;
        names[1] = digest_name;
    }
    img = store_commit(p->store, names, p->target_media_type, p->target_digest, p->target_size, &e);
    if (!img) {
        pull_fail(p, e);
        return;
    }
    pull_succeed(p, img);
}

/* ---- layers ---- */

/* Remove the blob and snapshot a layer's helper left for renaming. */
static void layer_remove_tmp(struct pull_layer *l)
{
    if (l->blob_tmp && unlink(l->blob_tmp) < 0 && errno != ENOENT)
        log_warn("image: remove '%s': %s", l->blob_tmp, strerror(errno));
    if (l->snapshot_tmp)
        unpack_remove_tree(l->pull->base, store_unpack_helper(l->pull->store), l->snapshot_tmp);
    free(l->blob_tmp);
    free(l->snapshot_tmp);
    l->blob_tmp = l->snapshot_tmp = NULL;
}

static void on_unpacked(void *data, const struct err *err)
{
    struct pull_layer *l = data;
    struct pull_task *p = l->pull;
    struct err *e = NULL;

    l->job = NULL;
    p->jobs--;
    if (p->finished) {
        /* Killed by pull_fail(), or done just before it. */
        if (!err)
            layer_remove_tmp(l);
        if (p->jobs == 0)
            event_active(p->done_ev, 0, 0);
        return;
    }
    if (err) {
        err_status(&e, err_grpc_status(err), "layer %s: %s", l->digest, err->msg);
        pull_fail(p, e);
        return;
    }
    if (l->fetch) {
        /* The child reads to the end of the pipe, which stays open until the download ends. */
        err_status(&e, GRPC_STATUS_INTERNAL,
                   "layer %s: the unpack process exited before the blob download finished",
                   l->digest);
        layer_remove_tmp(l);
        pull_fail(p, e);
        return;
    }
    if (l->blob_tmp) {
        _cleanup_free_ char *path = store_blob_path(p->store, l->digest);

        if (rename(l->blob_tmp, path) < 0) {
            err_sys(&e, "rename '%s' to '%s'", l->blob_tmp, path);
            layer_remove_tmp(l);
            pull_fail(p, e);
            return;
        }
        free(l->blob_tmp);
        l->blob_tmp = NULL;
        record_created(p, l->digest);
    }
    if (l->snapshot_tmp) {
        _cleanup_free_ char *path = store_snapshot_path(p->store, l->chain_id);

        if (rename(l->snapshot_tmp, path) == 0) {
            record_created(p, l->chain_id);
        } else if (errno == EEXIST || errno == ENOTEMPTY) {
            /* Another pull unpacked the same layer first. */
            unpack_remove_tree(p->base, store_unpack_helper(p->store), l->snapshot_tmp);
        } else {
            err_sys(&e, "rename '%s' to '%s'", l->snapshot_tmp, path);
            unpack_remove_tree(p->base, store_unpack_helper(p->store), l->snapshot_tmp);
            pull_fail(p, e);
            return;
        }
    }
    l->state = LAYER_DONE;
    wake_others(p);
    pump(p);
}

static void on_blob(void *data, struct registry_fetch *f, const struct err *err)
{
    struct pull_layer *l = data;
    struct pull_task *p = l->pull;
    struct err *e = NULL;

    (void)f;
    l->fetch = NULL;
    /* Closing the write end gives the child end-of-file: the blob is complete. */
    close(l->pipe_fd);
    l->pipe_fd = -1;
    if (err) {
        err_status(&e, err_grpc_status(err), "%s", err->msg);
        pull_fail(p, e);
    }
    /* Else on_unpacked finishes the layer once the child has checked and stored the blob. */
}

static int start_job(struct pull_task *p, struct pull_layer *l, struct unpack_spec *spec,
                     struct err **err)
{
    if (l->need_unpack) {
        l->snapshot_tmp = store_temp_path(p->store, "snapshots", l->chain_id);
        spec->tmp_dir = l->snapshot_tmp;
    }
    spec->diff_id = l->diff_id;
    l->job = unpack_start(p->base, store_unpack_helper(p->store), spec, on_unpacked, l, err);
    if (!l->job)
        return -1;
    p->jobs++;
    return 0;
}

static int start_download(struct pull_task *p, struct pull_layer *l, struct err **err)
{
    struct unpack_spec spec = {0};
    int fds[2];
    int r;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return err_sys(err, "create pipe");
    /* Best effort: the default 64 KiB pipe only means more pauses. */
    (void)fcntl(fds[1], F_SETPIPE_SZ, BLOB_PIPE_SIZE);
    if (fcntl(fds[1], F_SETFL, O_NONBLOCK) < 0) {
        close(fds[0]);
        close(fds[1]);
        return err_sys(err, "make the blob pipe non-blocking");
    }
    l->blob_tmp = store_temp_path(p->store, "ingest", l->digest);
    spec.blob_pipe = fds[0];
    spec.blob_path = l->blob_tmp;
    spec.blob_digest = l->digest;
    spec.blob_size = l->size;
    r = start_job(p, l, &spec, err);
    close(fds[0]);
    if (r < 0) {
        close(fds[1]);
        return -1;
    }
    l->pipe_fd = fds[1];
    l->fetch = registry_get_blob(p->registry, l->digest, l->size, l->pipe_fd, on_blob, l);
    l->state = LAYER_DOWNLOADING;
    return 0;
}

static int start_unpack(struct pull_task *p, struct pull_layer *l, struct err **err)
{
    _cleanup_free_ char *stored = store_blob_path(p->store, l->digest);
    struct unpack_spec spec = {.blob_pipe = -1, .blob_path = stored};

    if (start_job(p, l, &spec, err) < 0)
        return -1;
    l->state = LAYER_UNPACKING;
    return 0;
}

/*
 * Whether another layer, of this task or another, is downloading this
 * blob and has not yet moved it into the store.  A manifest may list the
 * same blob twice.
 */
static bool downloading_elsewhere(struct pull_task *p, const struct pull_layer *self)
{
    size_t n;
    struct pull_task *const *all = store_pulls(p->store, &n);

    for (size_t i = 0; i < n; i++) {
        const struct pull_task *q = all[i];

        if (q->finished)
            continue;
        for (size_t k = 0; k < q->n_layers; k++) {
            const struct pull_layer *l = &q->layers[k];

            if (l != self && l->blob_tmp && l->state != LAYER_WAITING &&
                l->state != LAYER_DONE && strcmp(l->digest, self->digest) == 0)
                return true;
        }
    }
    return false;
}

/*
 * Move a waiting layer on: take the blob if another task stored it
 * meanwhile, keep waiting while another task downloads it, else download
 * it when a slot is free.
 */
static int advance_waiting(struct pull_task *p, struct pull_layer *l, struct err **err)
{
    if (store_blob_exists(p->store, l->digest)) {
        l->need_unpack = !store_snapshot_exists(p->store, l->chain_id);
        l->state = l->need_unpack ? LAYER_DOWNLOADED : LAYER_DONE;
        return 0;
    }
    if (downloading_elsewhere(p, l) || p->jobs >= p->max_downloads)
        return 0;
    return start_download(p, l, err);
}

static void pump(struct pull_task *p)
{
    struct err *e = NULL;
    bool all_done = true;

    if (p->finished)
        return;
    for (size_t i = 0; i < p->n_layers; i++) {
        if (p->layers[i].state == LAYER_WAITING && advance_waiting(p, &p->layers[i], &e) < 0) {
            pull_fail(p, e);
            return;
        }
    }
    for (size_t i = 0; i < p->n_layers && p->jobs < p->max_downloads; i++) {
        if (p->layers[i].state == LAYER_DOWNLOADED && start_unpack(p, &p->layers[i], &e) < 0) {
            pull_fail(p, e);
            return;
        }
    }
    for (size_t i = 0; i < p->n_layers; i++)
        all_done = all_done && p->layers[i].state == LAYER_DONE;
    if (all_done)
        commit(p);
}

static void setup_layers(struct pull_task *p, char **diff_ids)
{
    _cleanup_strv_free_ char **chain_ids = chain_ids_compute(diff_ids, p->manifest.n_layers);

    p->n_layers = p->manifest.n_layers;
    p->layers = xnew(struct pull_layer, p->n_layers ? p->n_layers : 1);
    for (size_t i = 0; i < p->n_layers; i++) {
        struct pull_layer *l = &p->layers[i];
        bool have_blob, have_snapshot;

        l->pull = p;
        l->pipe_fd = -1;
        l->digest = xstrdup(p->manifest.layers[i].digest);
        l->size = p->manifest.layers[i].size;
        l->diff_id = xstrdup(diff_ids[i]);
        l->chain_id = xstrdup(chain_ids[i]);
        have_blob = store_blob_exists(p->store, l->digest);
        have_snapshot = store_snapshot_exists(p->store, l->chain_id);
        l->need_unpack = !have_snapshot;
        if (have_blob)
            l->state = have_snapshot ? LAYER_DONE : LAYER_DOWNLOADED;
        else
            l->state = LAYER_WAITING;
    }
}

/* ---- manifest and config ---- */

static void add_doc(struct pull_task *p, const char *digest, const char *data, size_t len)
{
    struct pull_doc *d = &p->docs[p->n_docs++];

    d->digest = xstrdup(digest);
    d->data = xmemdup(data, len + 1);
    d->len = len;
}

static void on_config(void *data, struct registry_fetch *f, const struct err *err)
{
    struct pull_task *p = data;
    _cleanup_strv_free_ char **diff_ids = NULL;
    struct image_config config = {0};
    struct err *e = NULL;
    const char *body;
    size_t len, n;

    p->fetch = NULL;
    if (err) {
        err_status(&e, err_grpc_status(err), "%s", err->msg);
        pull_fail(p, e);
        return;
    }
    body = registry_fetch_body(f, &len);
    if (image_config_parse(body, len, &config, &diff_ids, &n, &e) < 0) {
        pull_fail(p, e);
        return;
    }
    image_config_done(&config);
    if (n != p->manifest.n_layers) {
        err_status(&e, GRPC_STATUS_INVALID_ARGUMENT,
                   "image config %s lists %zu layers, the manifest %zu", p->manifest.config.digest,
                   n, p->manifest.n_layers);
        pull_fail(p, e);
        return;
    }
    add_doc(p, registry_fetch_digest(f), body, len);
    setup_layers(p, diff_ids);
    pump(p);
}

static void on_manifest(void *data, struct registry_fetch *f, const struct err *err);

static int next_manifest(struct pull_task *p, struct manifest *m, struct err **err)
{
    struct platform host;
    const struct descriptor *d;
    int chosen;

    if (m->kind == MANIFEST_KIND_IMAGE) {
        if (m->config.size > MANIFEST_MAX_SIZE)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "image config %s of %llu bytes is larger than the %zu allowed",
                              m->config.digest, (unsigned long long)m->config.size,
                              MANIFEST_MAX_SIZE);
        p->manifest = *m;
        p->fetch = registry_get_blob(p->registry, m->config.digest, m->config.size, -1, on_config, p);
        return 0;
    }
    if (++p->depth > INDEX_MAX_DEPTH)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "indexes nested deeper than %d",
                          INDEX_MAX_DEPTH);
    platform_host(&host);
    chosen = manifest_choose_platform(m, &host, err);
    if (chosen < 0)
        return -1;
    d = &m->manifests[chosen];
    if (d->size > MANIFEST_MAX_SIZE)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "manifest %s of %llu bytes is larger than the %zu allowed", d->digest,
                          (unsigned long long)d->size, MANIFEST_MAX_SIZE);
    p->expected_size = d->size;
    p->fetch = registry_get_manifest(p->registry, d->digest, on_manifest, p);
    manifest_done(m);
    return 0;
}

static void on_manifest(void *data, struct registry_fetch *f, const struct err *err)
{
    struct pull_task *p = data;
    struct manifest m = {0};
    struct err *e = NULL;
    const char *body;
    size_t len;

    p->fetch = NULL;
    if (err) {
        err_status(&e, err_grpc_status(err), "%s", err->msg);
        pull_fail(p, e);
        return;
    }
    body = registry_fetch_body(f, &len);
    if (p->target_digest && len != p->expected_size) {
        err_status(&e, GRPC_STATUS_FAILED_PRECONDITION,
                   "manifest %s: size %zu does not match the index's %llu",
                   registry_fetch_digest(f), len, (unsigned long long)p->expected_size);
        pull_fail(p, e);
        return;
    }
    if (manifest_parse(body, len, registry_fetch_content_type(f), &m, &e) < 0) {
        err_wrap(&e, "manifest %s", registry_fetch_digest(f));
        pull_fail(p, e);
        return;
    }
    if (!p->target_digest) {
        p->target_digest = xstrdup(registry_fetch_digest(f));
        p->target_media_type = xstrdup(m.media_type);
        p->target_size = len;
    }
    add_doc(p, registry_fetch_digest(f), body, len);
    if (next_manifest(p, &m, &e) < 0) {
        manifest_done(&m);
        pull_fail(p, e);
    }
}

/* ---- API ---- */

/* "sha256:<hex>" of the credentials, each field length-prefixed so that none can shift into another. */
static char *auth_key_compute(const struct registry_auth *auth)
{
    const char *fields[] = {
        auth ? auth->username : NULL,       auth ? auth->password : NULL,
        auth ? auth->auth : NULL,           auth ? auth->identity_token : NULL,
        auth ? auth->registry_token : NULL,
    };
    struct strbuf b = STRBUF_INIT;
    char *key;

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *f = fields[i] ? fields[i] : "";

        strbuf_printf(&b, "%zu:", strlen(f));
        strbuf_append(&b, f);
    }
    key = digest_compute(b.buf, b.len);
    explicit_bzero(b.buf, b.len);
    strbuf_done(&b);
    return key;
}

/*
 * A running task for the same reference and credentials, or NULL.  The
 * registry options are not compared: crispd passes the same ones, from its
 * configuration, to every pull.
 */
static struct pull_task *find_task(struct image_store *s, const char *ref_string,
                                   const char *auth_key)
{
    size_t n;
    struct pull_task *const *all = store_pulls(s, &n);

    for (size_t i = 0; i < n; i++) {
        if (!all[i]->finished && strcmp(all[i]->ref_string, ref_string) == 0 &&
            strcmp(all[i]->auth_key, auth_key) == 0)
            return all[i];
    }
    return NULL;
}

static void add_waiter(struct pull_task *p, struct image_pull *w)
{
    struct image_pull **tail = &p->waiters;

    while (*tail)
        tail = &(*tail)->next;
    *tail = w;
    w->task = p;
}

struct image_pull *image_pull_start(struct image_store *s, struct event_base *base,
                                    const struct registry_options *opts, const char *ref,
                                    const struct registry_auth *auth, image_pull_fn cb, void *data,
                                    struct err **err)
{
    struct pull_task *p;
    struct image_pull *w;
    struct image_ref parsed = {0};
    _cleanup_free_ char *ref_string = NULL;
    _cleanup_free_ char *auth_key = NULL;

    if (image_ref_parse(ref, &parsed, err) < 0)
        return NULL;
    if (curl_shim_load(err) < 0) {
        image_ref_done(&parsed);
        return NULL;
    }
    ref_string = image_ref_string(&parsed);
    auth_key = auth_key_compute(auth);
    w = xzalloc(sizeof(*w));
    w->cb = cb;
    w->data = data;

    p = find_task(s, ref_string, auth_key);
    if (p) {
        image_ref_done(&parsed);
        add_waiter(p, w);
        return w;
    }

    p = xzalloc(sizeof(*p));
    p->store = s;
    p->base = base;
    p->ref = parsed;
    p->ref_string = TAKE_PTR(ref_string);
    p->auth_key = TAKE_PTR(auth_key);
    p->max_downloads = opts && opts->max_concurrent_downloads ? opts->max_concurrent_downloads
                                                               : MAX_CONCURRENT_DOWNLOADS_DEFAULT;
    p->done_ev = event_new(base, -1, 0, on_done, p);
    p->wake_ev = event_new(base, -1, 0, on_wake, p);
    if (!p->done_ev || !p->wake_ev)
        abort();
    add_waiter(p, w);
    store_pull_add(s, p);
    p->registry = registry_new(base, &p->ref, opts, auth);
    p->fetch = registry_get_manifest(p->registry, p->ref.digest ? p->ref.digest : p->ref.tag,
                                     on_manifest, p);
    return w;
}

void image_pull_cancel(struct image_pull *w)
{
    struct pull_task *p;
    struct image_pull **link;

    if (!w || w->in_callback)
        return;
    p = w->task;
    for (link = &p->waiters; *link != w; link = &(*link)->next)
        ;
    *link = w->next;
    free(w);
    if (p->waiters || p->notifying)
        return;
    if (!p->finished)
        pull_abort(p);
    pull_free(p);
}
