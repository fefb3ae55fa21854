/*
 * The pull state machine: manifest (through indexes to this platform's
 * manifest), config, then the layers: up to PARALLEL_DOWNLOADS blobs at a
 * time, each unpacked in a child process once downloaded.  Blobs and
 * snapshots are renamed into the store as they complete; index.json is
 * written last, so a crash leaves no visible partial image, and a failed
 * or cancelled pull removes what it added.
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
#include "util/xalloc.h"

#define PARALLEL_DOWNLOADS 3

enum layer_state {
    LAYER_WAITING,     /* blob to download */
    LAYER_DOWNLOADING,
    LAYER_DOWNLOADED,  /* blob verified, to fsync and maybe unpack */
    LAYER_UNPACKING,
    LAYER_DONE,
};

struct pull_layer {
    struct image_pull *pull;
    enum layer_state state;
    char *digest;
    uint64_t size;
    char *diff_id;
    char *chain_id;
    bool need_unpack;
    char *blob_tmp; /* downloaded blob in the ingest directory, NULL when already stored */
    int fd;
    struct registry_fetch *fetch;
    char *snapshot_tmp;
};

/* A manifest, index or config document, written to the blob store at the end. */
struct pull_doc {
    char *digest;
    char *data;
    size_t len;
};

struct image_pull {
    struct image_store *store;
    struct event_base *base;
    struct image_ref ref;
    char *ref_string;
    struct registry *registry;
    struct registry_fetch *fetch;
    struct unpack_job *job;
    struct event *done_ev;

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
    size_t downloading;
    char **created; /* blob digests and chain ids this pull moved into the store */
    size_t n_created;

    bool finished;
    bool in_callback;
    struct err *err;
    struct image *result;
    image_pull_fn cb;
    void *data;
};

bool pull_uses(const struct image_pull *p, const char *digest_or_chain)
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

static void pump(struct image_pull *p);

/* ---- ending ---- */

static void layer_abort(struct pull_layer *l)
{
    registry_fetch_cancel(l->fetch);
    l->fetch = NULL;
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    if (l->blob_tmp)
        unlink(l->blob_tmp);
}

/* Stop all work and delete what this pull added that no image uses. */
static void pull_abort(struct image_pull *p)
{
    char **digests = xnew(char *, p->n_created + 1);
    char **chains = xnew(char *, p->n_created + 1);
    size_t nd = 0, nc = 0;

    for (size_t i = 0; i < p->n_layers; i++)
        layer_abort(&p->layers[i]);
    unpack_cancel(p->job);
    p->job = NULL;
    store_pull_remove(p->store, p);
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

static void pull_free(struct image_pull *p)
{
    for (size_t i = 0; i < p->n_layers; i++) {
        struct pull_layer *l = &p->layers[i];

        if (l->fd >= 0)
            close(l->fd);
        free(l->digest);
        free(l->diff_id);
        free(l->chain_id);
        free(l->blob_tmp);
        free(l->snapshot_tmp);
    }
    registry_free(p->registry);
    event_free(p->done_ev);
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
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct image_pull *p = arg;

    (void)fd;
    (void)what;
    registry_free(p->registry);
    p->registry = NULL;
    p->in_callback = true;
    p->cb(p->data, p->err ? NULL : p->result, p->err);
    pull_free(p);
}

/* Fail the pull: e is taken over.  The callback runs from the reactor, after the current one. */
static void pull_fail(struct image_pull *p, struct err *e)
{
    if (p->finished) {
        err_free(e);
        return;
    }
    p->finished = true;
    err_wrap(&e, "pull image '%s'", p->ref_string);
    p->err = e;
    pull_abort(p);
    event_active(p->done_ev, 0, 0);
}

static void pull_succeed(struct image_pull *p, struct image *img)
{
    p->finished = true;
    p->result = img;
    store_pull_remove(p->store, p);
    event_active(p->done_ev, 0, 0);
}

static void record_created(struct image_pull *p, const char *digest_or_chain)
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

static void commit(struct image_pull *p)
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

static void on_unpacked(void *data, const struct err *err)
{
    struct pull_layer *l = data;
    struct image_pull *p = l->pull;
    struct err *e = NULL;

    p->job = NULL;
    if (err) {
        err_status(&e, err_grpc_status(err), "layer %s: %s", l->digest, err->msg);
        pull_fail(p, e);
        return;
    }
    if (l->blob_tmp) {
        _cleanup_free_ char *path = store_blob_path(p->store, l->digest);

        if (rename(l->blob_tmp, path) < 0) {
            err_sys(&e, "rename '%s' to '%s'", l->blob_tmp, path);
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
            rm_rf(l->snapshot_tmp, NULL);
        } else {
            err_sys(&e, "rename '%s' to '%s'", l->snapshot_tmp, path);
            rm_rf(l->snapshot_tmp, NULL);
            pull_fail(p, e);
            return;
        }
    }
    l->state = LAYER_DONE;
    pump(p);
}

static void on_blob(void *data, struct registry_fetch *f, const struct err *err)
{
    struct pull_layer *l = data;
    struct image_pull *p = l->pull;
    struct err *e = NULL;

    (void)f;
    l->fetch = NULL;
    p->downloading--;
    close(l->fd);
    l->fd = -1;
    if (err) {
        unlink(l->blob_tmp);
        err_status(&e, err_grpc_status(err), "%s", err->msg);
        pull_fail(p, e);
        return;
    }
    l->state = LAYER_DOWNLOADED;
    pump(p);
}

static int start_download(struct image_pull *p, struct pull_layer *l, struct err **err)
{
    l->blob_tmp = store_temp_path(p->store, "ingest", l->digest);
    l->fd = open(l->blob_tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (l->fd < 0)
        return err_sys(err, "create '%s'", l->blob_tmp);
    l->fetch = registry_get_blob(p->registry, l->digest, l->size, l->fd, on_blob, l);
    l->state = LAYER_DOWNLOADING;
    p->downloading++;
    return 0;
}

static int start_unpack(struct image_pull *p, struct pull_layer *l, struct err **err)
{
    _cleanup_free_ char *stored = store_blob_path(p->store, l->digest);
    struct unpack_spec spec = {
        .blob_path = l->blob_tmp ? l->blob_tmp : stored,
        .diff_id = l->diff_id,
    };

    if (l->need_unpack) {
        l->snapshot_tmp = store_temp_path(p->store, "snapshots", l->chain_id);
        spec.tmp_dir = l->snapshot_tmp;
    }
    p->job = unpack_start(p->base, &spec, on_unpacked, l, err);
    if (!p->job)
        return -1;
    l->state = LAYER_UNPACKING;
    return 0;
}

static void pump(struct image_pull *p)
{
    struct err *e = NULL;
    bool all_done = true;

    if (p->finished)
        return;
    for (size_t i = 0; i < p->n_layers && p->downloading < PARALLEL_DOWNLOADS; i++) {
        if (p->layers[i].state == LAYER_WAITING && start_download(p, &p->layers[i], &e) < 0) {
            pull_fail(p, e);
            return;
        }
    }
    for (size_t i = 0; i < p->n_layers && !p->job; i++) {
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

static void setup_layers(struct image_pull *p, char **diff_ids)
{
    _cleanup_strv_free_ char **chain_ids = chain_ids_compute(diff_ids, p->manifest.n_layers);

    p->n_layers = p->manifest.n_layers;
    p->layers = xnew(struct pull_layer, p->n_layers ? p->n_layers : 1);
    for (size_t i = 0; i < p->n_layers; i++) {
        struct pull_layer *l = &p->layers[i];
        bool have_blob, have_snapshot;

        l->pull = p;
        l->fd = -1;
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

static void add_doc(struct image_pull *p, const char *digest, const char *data, size_t len)
{
    struct pull_doc *d = &p->docs[p->n_docs++];

    d->digest = xstrdup(digest);
    d->data = xmemdup(data, len + 1);
    d->len = len;
}

static void on_config(void *data, struct registry_fetch *f, const struct err *err)
{
    struct image_pull *p = data;
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
    store_pull_add(p->store, p);
    pump(p);
}

static void on_manifest(void *data, struct registry_fetch *f, const struct err *err);

static int next_manifest(struct image_pull *p, struct manifest *m, struct err **err)
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
    struct image_pull *p = data;
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

struct image_pull *image_pull_start(struct image_store *s, struct event_base *base,
                                    const struct registry_options *opts, const char *ref,
                                    const struct registry_auth *auth, image_pull_fn cb, void *data,
                                    struct err **err)
{
    struct image_pull *p;
    struct image_ref parsed = {0};

    if (image_ref_parse(ref, &parsed, err) < 0)
        return NULL;
    if (curl_shim_load(err) < 0) {
        image_ref_done(&parsed);
        return NULL;
    }
    p = xzalloc(sizeof(*p));
    p->store = s;
    p->base = base;
    p->ref = parsed;
    p->ref_string = image_ref_string(&parsed);
    p->cb = cb;
    p->data = data;
    p->done_ev = event_new(base, -1, 0, on_done, p);
    if (!p->done_ev)
        abort();
    p->registry = registry_new(base, &p->ref, opts, auth);
    p->fetch = registry_get_manifest(p->registry, p->ref.digest ? p->ref.digest : p->ref.tag,
                                     on_manifest, p);
    return p;
}

void image_pull_cancel(struct image_pull *p)
{
    if (!p || p->in_callback)
        return;
    if (!p->finished)
        pull_abort(p);
    pull_free(p);
}
