/*
 * The image store: an OCI image layout under <root>/content (image-spec
 * image-layout.md) whose index.json names the images, plus unpacked layers
 * under <root>/snapshots/<chain id hex>/fs.  Image records are derived
 * from index.json and the blobs; nothing else is persisted.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "image/image.h"
#include "image/internal.h"
#include "image/unpack.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/id.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"
#define ANNOTATION_CONTAINERD_NAME "io.containerd.image.name"
#define OCI_LAYOUT "{\"imageLayoutVersion\":\"1.0.0\"}"
#define INDEX_MAX_SIZE ((size_t)64 << 20)

/* jansson provides json_decrefp for its json_auto_t. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* One name in index.json and the manifest or index it points at. */
struct name_entry {
    char *name;
    char *media_type;
    char *digest;
    uint64_t size;
};

/* A loaded manifest or index: what it resolves to on this platform. */
struct target {
    char *digest;
    char *manifest_digest; /* the platform's manifest; the target itself when not an index */
    char *image_id;
    uint64_t size;         /* target, manifest, config and layers */
};

struct image_rec {
    struct image pub;
    char **layer_digests;
};

/* The snapshots of an image that containers use, kept after the image is removed. */
struct hold {
    char *image_id;
    char **chain_ids;
    unsigned count;
    bool stale;         /* loaded from a hold file at start, not yet claimed again */
    struct hold *next;
};

/* A hold file lists chain ids one per line: 256 layers of 72 bytes fit well below this. */
#define HOLD_FILE_MAX (64 * 1024)

struct image_store {
    char *root;
    char *holds_dir;
    struct hold *holds;
    char *content;
    char *ingest;
    char *snapshots;
    char *index_path;

    struct name_entry *names;
    size_t n_names;
    struct target *targets;
    size_t n_targets;
    struct image **images;
    size_t n_images;
    struct pull_task **pulls;
    size_t n_pulls;
    struct event *curl_unload_ev; /* created by pull.c at the first pull that ends */
    char *unpack_helper;
    struct event_base *base; /* watches the helpers that remove snapshots; NULL: remove here */
};

static struct image_rec *rec_of(struct image *img)
{
    return (struct image_rec *)img;
}

/* ---- paths ---- */

static const char *digest_hex(const char *digest)
{
    const char *colon = strchr(digest, ':');

    return colon ? colon + 1 : digest;
}

char *store_blob_path(struct image_store *s, const char *digest)
{
    return xasprintf("%s/blobs/sha256/%s", s->content, digest_hex(digest));
}

char *store_snapshot_path(struct image_store *s, const char *chain_id)
{
    return xasprintf("%s/%s", s->snapshots, digest_hex(chain_id));
}

char *store_temp_path(struct image_store *s, const char *dir, const char *prefix)
{
    char id[ID_LEN + 1];

    id_generate(id);
    id[16] = '\0';
    if (strcmp(dir, "snapshots") == 0)
        return xasprintf("%s/%s-%s.tmp", s->snapshots, digest_hex(prefix), id);
    return xasprintf("%s/%s-%s.tmp", s->ingest, digest_hex(prefix), id);
}

bool store_blob_exists(struct image_store *s, const char *digest)
{
    _cleanup_free_ char *path = store_blob_path(s, digest);

    return access(path, F_OK) == 0;
}

bool store_snapshot_exists(struct image_store *s, const char *chain_id)
{
    _cleanup_free_ char *path = store_snapshot_path(s, chain_id);
    _cleanup_free_ char *fs = path_join(path, "fs");

    return access(fs, F_OK) == 0;
}

/* Read a small blob (manifest, index or config) and check its digest. */
static int read_blob(struct image_store *s, const char *digest, char **ret, size_t *ret_len,
                     struct err **err)
{
    _cleanup_free_ char *path = store_blob_path(s, digest);
    _cleanup_free_ char *data = NULL;
    _cleanup_free_ char *actual = NULL;
    size_t len;

    if (read_file(path, MANIFEST_MAX_SIZE, &data, &len, err) < 0)
        return -1;
    actual = digest_compute(data, len);
    if (strcmp(actual, digest) != 0)
        return err_status(err, GRPC_STATUS_DATA_LOSS, "blob %s in the store has digest %s", digest,
                          actual);
    *ret = TAKE_PTR(data);
    *ret_len = len;
    return 0;
}

/* ---- images ---- */

static void image_free(struct image *img)
{
    struct image_rec *rec = rec_of(img);

    if (!img)
        return;
    free(img->id);
    strv_free(img->repo_tags);
    strv_free(img->repo_digests);
    free(img->manifest_digest);
    image_config_done(&img->config);
    free(img->config_json);
    strv_free(img->chain_ids);
    strv_free(rec->layer_digests);
    free(rec);
}

static struct image *image_by_id(struct image_store *s, const char *id)
{
    for (size_t i = 0; i < s->n_images; i++) {
        if (strcmp(s->images[i]->id, id) == 0)
            return s->images[i];
    }
    return NULL;
}

static struct target *target_by_digest(struct image_store *s, const char *digest)
{
    for (size_t i = 0; i < s->n_targets; i++) {
        if (strcmp(s->targets[i].digest, digest) == 0)
            return &s->targets[i];
    }
    return NULL;
}

/* Build the image record of a manifest whose config blob is config_digest. */
static struct image *image_load(struct image_store *s, const struct manifest *m, struct err **err)
{
    _cleanup_free_ char *data = NULL;
    _cleanup_strv_free_ char **diff_ids = NULL;
    struct image_rec *rec;
    struct image_config config;
    size_t len, n;

    if (read_blob(s, m->config.digest, &data, &len, err) < 0)
        return NULL;
    if (image_config_parse(data, len, &config, &diff_ids, &n, err) < 0)
        return NULL;
    if (n != m->n_layers) {
        image_config_done(&config);
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "image config %s lists %zu layers, its manifest %zu", m->config.digest, n,
                          m->n_layers),
               NULL;
    }

    rec = xzalloc(sizeof(*rec));
    rec->pub.id = xstrdup(m->config.digest);
    rec->pub.repo_tags = xnew(char *, 1);
    rec->pub.repo_digests = xnew(char *, 1);
    rec->pub.config = config;
    rec->pub.config_json = TAKE_PTR(data);
    rec->pub.chain_ids = chain_ids_compute(diff_ids, n);
    rec->pub.n_layers = n;
    rec->layer_digests = xnew(char *, n + 1);
    for (size_t i = 0; i < n; i++)
        rec->layer_digests[i] = xstrdup(m->layers[i].digest);
    return &rec->pub;
}

/*
 * Load a manifest or index from the blob store: pick the platform's
 * manifest in an index, create the image record if it is new, and add the
 * target to the cache.
 */
static int target_load(struct image_store *s, const char *digest, struct err **err)
{
    _cleanup_free_ char *data = NULL;
    _cleanup_free_ char *manifest_digest = xstrdup(digest);
    struct manifest m = {0};
    struct platform host;
    struct target *t;
    uint64_t size = 0;
    size_t len;

    if (target_by_digest(s, digest))
        return 0;
    platform_host(&host);
    for (int depth = 0;; depth++) {
        int chosen;

        if (read_blob(s, manifest_digest, &data, &len, err) < 0)
            return -1;
        size += len;
        if (manifest_parse(data, len, NULL, &m, err) < 0)
            return err_wrap(err, "manifest %s", manifest_digest);
        free(TAKE_PTR(data));
        if (m.kind == MANIFEST_KIND_IMAGE)
            break;
        chosen = depth < INDEX_MAX_DEPTH ? manifest_choose_platform(&m, &host, err) : -1;
        if (chosen < 0) {
            manifest_done(&m);
            return depth < INDEX_MAX_DEPTH ? err_wrap(err, "index %s", manifest_digest)
                                           : err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                                                        "indexes nested too deep under %s", digest);
        }
        free(manifest_digest);
        manifest_digest = xstrdup(m.manifests[chosen].digest);
        manifest_done(&m);
    }

    size += m.config.size;
    for (size_t i = 0; i < m.n_layers; i++)
        size += m.layers[i].size;
    if (!image_by_id(s, m.config.digest)) {
        struct image *img = image_load(s, &m, err);

        if (!img) {
            manifest_done(&m);
            return -1;
        }
        s->images = xrealloc(s->images, (s->n_images + 2) * sizeof(*s->images));
        s->images[s->n_images++] = img;
        s->images[s->n_images] = NULL;
    }

    s->targets = xrealloc(s->targets, (s->n_targets + 1) * sizeof(*s->targets));
    t = &s->targets[s->n_targets++];
    t->digest = xstrdup(digest);
    t->manifest_digest = TAKE_PTR(manifest_digest);
    t->image_id = xstrdup(m.config.digest);
    t->size = size;
    manifest_done(&m);
    return 0;
}

/* ---- names ---- */

static void name_entry_done(struct name_entry *n)
{
    free(n->name);
    free(n->media_type);
    free(n->digest);
}

static int name_compare(const void *a, const void *b)
{
    return strcmp(((const struct name_entry *)a)->name, ((const struct name_entry *)b)->name);
}

/* "domain/path" of a stored name ("domain/path:tag" or "domain/path@digest"). */
static char *name_repository(const char *name)
{
    const char *at = strchr(name, '@');
    const char *slash, *colon;

    if (at)
        return xstrndup(name, (size_t)(at - name));
    slash = strrchr(name, '/');
    colon = strrchr(slash ? slash : name, ':');
    return colon ? xstrndup(name, (size_t)(colon - name)) : xstrdup(name);
}

static void strv_push_unique(char ***v, char *s)
{
    size_t n = 0;

    for (; (*v)[n]; n++) {
        if (strcmp((*v)[n], s) == 0) {
            free(s);
            return;
        }
    }
    *v = xrealloc(*v, (n + 2) * sizeof(char *));
    (*v)[n] = s;
    (*v)[n + 1] = NULL;
}

/*
 * Recompute every image's tags and digests from the names; drop targets and
 * images no name reaches, adding their blobs and snapshots to the candidates
 * for deletion.
 */
static void rebuild(struct image_store *s, char ***gc_digests, char ***gc_chains)
{
    size_t kept = 0;

    for (size_t i = 0; i < s->n_images; i++) {
        strv_free(s->images[i]->repo_tags);
        strv_free(s->images[i]->repo_digests);
        free(s->images[i]->manifest_digest);
        s->images[i]->repo_tags = xnew(char *, 1);
        s->images[i]->repo_digests = xnew(char *, 1);
        s->images[i]->manifest_digest = NULL;
    }
    for (size_t i = 0; i < s->n_names; i++) {
        const struct name_entry *n = &s->names[i];
        struct target *t = target_by_digest(s, n->digest);
        struct image *img = t ? image_by_id(s, t->image_id) : NULL;
        _cleanup_free_ char *repo = name_repository(n->name);

        if (!img)
            continue;
        if (!strchr(n->name, '@'))
            strv_push_unique(&img->repo_tags, xstrdup(n->name));
        strv_push_unique(&img->repo_digests, xasprintf("%s@%s", repo, n->digest));
        if (!img->manifest_digest) {
            img->manifest_digest = xstrdup(n->digest);
            img->size = t->size;
        }
    }

    for (size_t i = 0; i < s->n_targets; i++) {
        struct target *t = &s->targets[i];
        bool used = false;

        for (size_t j = 0; j < s->n_names && !used; j++)
            used = strcmp(s->names[j].digest, t->digest) == 0;
        if (used) {
            s->targets[kept++] = *t;
            continue;
        }
        strv_push_unique(gc_digests, t->digest);
        strv_push_unique(gc_digests, t->manifest_digest);
        free(t->image_id);
    }
    s->n_targets = kept;

    kept = 0;
    for (size_t i = 0; i < s->n_images; i++) {
        struct image *img = s->images[i];

        if (img->manifest_digest) {
            s->images[kept++] = img;
            continue;
        }
        strv_push_unique(gc_digests, xstrdup(img->id));
        for (size_t l = 0; l < img->n_layers; l++) {
            strv_push_unique(gc_digests, xstrdup(rec_of(img)->layer_digests[l]));
            strv_push_unique(gc_chains, xstrdup(img->chain_ids[l]));
        }
        image_free(img);
    }
    s->n_images = kept;
    if (s->images)
        s->images[kept] = NULL;
}

static int index_write(struct image_store *s, struct err **err)
{
    _cleanup_json_ json_t *root = json_object();
    _cleanup_free_ char *text = NULL;
    json_t *manifests = json_array();

    json_object_set_new(root, "schemaVersion", json_integer(2));
    json_object_set_new(root, "mediaType", json_string(MEDIA_OCI_INDEX));
    json_object_set_new(root, "manifests", manifests);
    for (size_t i = 0; i < s->n_names; i++) {
        const struct name_entry *n = &s->names[i];
        json_t *d = json_object();
        json_t *annotations = json_object();

        json_object_set_new(d, "mediaType", json_string(n->media_type));
        json_object_set_new(d, "digest", json_string(n->digest));
        json_object_set_new(d, "size", json_integer((json_int_t)n->size));
        json_object_set_new(annotations, ANNOTATION_CONTAINERD_NAME, json_string(n->name));
        json_object_set_new(annotations, ANNOTATION_REF_NAME, json_string(n->name));
        json_object_set_new(d, "annotations", annotations);
        json_array_append_new(manifests, d);
    }
    text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (!text)
        abort();
    return write_file_atomic(s->index_path, text, strlen(text), 0644, err);
}

static bool blob_in_use(struct image_store *s, const char *digest)
{
    for (size_t i = 0; i < s->n_targets; i++) {
        if (strcmp(s->targets[i].digest, digest) == 0 ||
            strcmp(s->targets[i].manifest_digest, digest) == 0)
            return true;
    }
    for (size_t i = 0; i < s->n_images; i++) {
        if (strcmp(s->images[i]->id, digest) == 0)
            return true;
        for (char **l = rec_of(s->images[i])->layer_digests; *l; l++) {
            if (strcmp(*l, digest) == 0)
                return true;
        }
    }
    for (size_t i = 0; i < s->n_pulls; i++) {
        if (pull_uses(s->pulls[i], digest))
            return true;
    }
    return false;
}

static bool chain_in_use(struct image_store *s, const char *chain_id)
{
    for (struct hold *h = s->holds; h; h = h->next) {
        for (char **c = h->chain_ids; *c; c++) {
            if (strcmp(*c, chain_id) == 0)
                return true;
        }
    }
    for (size_t i = 0; i < s->n_images; i++) {
        for (char **c = s->images[i]->chain_ids; *c; c++) {
            if (strcmp(*c, chain_id) == 0)
                return true;
        }
    }
    for (size_t i = 0; i < s->n_pulls; i++) {
        if (pull_uses(s->pulls[i], chain_id))
            return true;
    }
    return false;
}

void store_collect(struct image_store *s, char *const *digests, char *const *chain_ids)
{
    for (size_t i = 0; digests && digests[i]; i++) {
        _cleanup_free_ char *path = store_blob_path(s, digests[i]);

        if (!blob_in_use(s, digests[i]) && unlink(path) < 0 && errno != ENOENT)
            log_debug("remove unused blob '%s': %s", path, strerror(errno));
    }
    for (size_t i = 0; chain_ids && chain_ids[i]; i++) {
        _cleanup_free_ char *path = store_snapshot_path(s, chain_ids[i]);
        _cleanup_free_ char *trash = NULL;

        if (chain_in_use(s, chain_ids[i]) || access(path, F_OK) < 0)
            continue;
        /*
         * Renamed first, so a crash mid-removal leaves a .tmp that the next
         * open deletes.  A layer can hold tens of thousands of files, so a
         * crisp-unpack removes it off the reactor.
         */
        trash = store_temp_path(s, "snapshots", chain_ids[i]);
        if (rename(path, trash) < 0) {
            log_warn("remove unused snapshot: rename '%s': %s", path, strerror(errno));
            continue;
        }
        if (s->base)
            unpack_remove_tree(s->base, store_unpack_helper(s), trash);
        else if (rm_rf(trash, NULL) < 0)
            log_warn("remove unused snapshot '%s' failed", trash);
    }
}

/* Add or repoint a name; the array stays sorted. */
static void name_set(struct image_store *s, const char *name, const char *media_type,
                     const char *digest, uint64_t size)
{
    struct name_entry *n = NULL;

    for (size_t i = 0; i < s->n_names; i++) {
        if (strcmp(s->names[i].name, name) == 0)
            n = &s->names[i];
    }
    if (!n) {
        s->names = xrealloc(s->names, (s->n_names + 1) * sizeof(*s->names));
        n = &s->names[s->n_names++];
        n->name = xstrdup(name);
    } else {
        free(n->media_type);
        free(n->digest);
    }
    n->media_type = xstrdup(media_type);
    n->digest = xstrdup(digest);
    n->size = size;
    qsort(s->names, s->n_names, sizeof(*s->names), name_compare);
}

struct image *store_commit(struct image_store *s, char *const *names, const char *media_type,
                           const char *digest, uint64_t size, struct err **err)
{
    _cleanup_strv_free_ char **gc_digests = xnew(char *, 1);
    _cleanup_strv_free_ char **gc_chains = xnew(char *, 1);
    struct target *t;

    if (target_load(s, digest, err) < 0)
        return NULL;
    for (size_t i = 0; names[i]; i++)
        name_set(s, names[i], media_type, digest, size);
    if (index_write(s, err) < 0)
        return NULL;
    rebuild(s, &gc_digests, &gc_chains);
    store_collect(s, gc_digests, gc_chains);
    t = target_by_digest(s, digest);
    return t ? image_by_id(s, t->image_id) : NULL;
}

/* ---- pulls in flight ---- */

void store_pull_add(struct image_store *s, struct pull_task *p)
{
    s->pulls = xrealloc(s->pulls, (s->n_pulls + 1) * sizeof(*s->pulls));
    s->pulls[s->n_pulls++] = p;
}

void store_pull_remove(struct image_store *s, struct pull_task *p)
{
    for (size_t i = 0; i < s->n_pulls; i++) {
        if (s->pulls[i] == p) {
            s->n_pulls--;
            memmove(&s->pulls[i], &s->pulls[i + 1], (s->n_pulls - i) * sizeof(*s->pulls));
            return;
        }
    }
}

struct event **store_curl_unload_event(struct image_store *s)
{
    return &s->curl_unload_ev;
}

struct pull_task *const *store_pulls(struct image_store *s, size_t *ret_n)
{
    *ret_n = s->n_pulls;
    return s->pulls;
}

/* ---- open ---- */

static int index_load_entry(struct image_store *s, json_t *d)
{
    _cleanup_err_ struct err *e = NULL;
    json_t *annotations = json_object_get(d, "annotations");
    const char *name = json_string_value(json_object_get(annotations, ANNOTATION_REF_NAME));
    const char *media_type = json_string_value(json_object_get(d, "mediaType"));
    const char *digest = json_string_value(json_object_get(d, "digest"));
    json_t *size = json_object_get(d, "size");
    struct image_ref ref = {0};

    if (!name)
        name = json_string_value(json_object_get(annotations, ANNOTATION_CONTAINERD_NAME));
    if (!name || !media_type || !digest || !digest_is_valid(digest) || !json_is_integer(size) ||
        image_ref_parse(name, &ref, &e) < 0) {
        log_debug("index.json: skip an entry without a valid name, media type, digest and size");
        return 0;
    }
    image_ref_done(&ref);
    if (target_load(s, digest, &e) < 0) {
        log_debug_err(e, "index.json: skip image '%s'", name);
        return 0;
    }
    s->names = xrealloc(s->names, (s->n_names + 1) * sizeof(*s->names));
    s->names[s->n_names++] = (struct name_entry){xstrdup(name), xstrdup(media_type),
                                                 xstrdup(digest), (uint64_t)json_integer_value(size)};
    return 0;
}

static int index_load(struct image_store *s, struct err **err)
{
    _cleanup_free_ char *data = NULL;
    _cleanup_json_ json_t *root = NULL;
    json_t *manifests;
    json_error_t jerr;
    size_t len;

    if (access(s->index_path, F_OK) < 0)
        return 0;
    if (read_file(s->index_path, INDEX_MAX_SIZE, &data, &len, err) < 0)
        return -1;
    root = json_loadb(data, len, 0, &jerr);
    if (!root)
        return err_status(err, GRPC_STATUS_DATA_LOSS, "parse '%s': %s", s->index_path, jerr.text);
    manifests = json_object_get(root, "manifests");
    for (size_t i = 0; i < json_array_size(manifests); i++)
        index_load_entry(s, json_array_get(manifests, i));
    qsort(s->names, s->n_names, sizeof(*s->names), name_compare);
    return 0;
}

/* Remove what a crash may have left: temporary files and unreferenced blobs and snapshots. */
static void sweep(struct image_store *s)
{
    _cleanup_strv_free_ char **digests = xnew(char *, 1);
    _cleanup_strv_free_ char **chains = xnew(char *, 1);
    _cleanup_free_ char *blobs = path_join(s->content, "blobs/sha256");
    _cleanup_closedir_ DIR *d = NULL;
    struct dirent *de;

    rm_rf(s->ingest, NULL);
    mkdir(s->ingest, 0700);

    d = opendir(blobs);
    while (d && (de = readdir(d))) {
        if (de->d_name[0] != '.')
            strv_push_unique(&digests, xasprintf(DIGEST_PREFIX "%s", de->d_name));
    }
    closedirp(&d);
    d = opendir(s->snapshots);
    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);

        if (de->d_name[0] == '.')
            continue;
        if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) {
            _cleanup_free_ char *path = path_join(s->snapshots, de->d_name);

            rm_rf(path, NULL);
        } else {
            strv_push_unique(&chains, xasprintf(DIGEST_PREFIX "%s", de->d_name));
        }
    }
    store_collect(s, digests, chains);
}

/* ---- holds ---- */

static void hold_free(struct hold *h)
{
    free(h->image_id);
    strv_free(h->chain_ids);
    free(h);
}

static struct hold *hold_find(struct image_store *s, const char *image_id)
{
    for (struct hold *h = s->holds; h; h = h->next) {
        if (strcmp(h->image_id, image_id) == 0)
            return h;
    }
    return NULL;
}

static char *hold_path(struct image_store *s, const char *image_id)
{
    return path_join(s->holds_dir, digest_hex(image_id));
}

/* Load the hold files a previous run left, as stale holds: the snapshots stay until claimed or dropped. */
static void holds_load(struct image_store *s)
{
    _cleanup_closedir_ DIR *d = opendir(s->holds_dir);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        _cleanup_free_ char *path = NULL;
        _cleanup_free_ char *data = NULL;
        _cleanup_free_ char *id = NULL;
        struct hold *h;
        size_t len;

        if (de->d_name[0] == '.')
            continue;
        id = xasprintf(DIGEST_PREFIX "%s", de->d_name);
        path = path_join(s->holds_dir, de->d_name);
        if (!digest_is_valid(id) || read_file(path, HOLD_FILE_MAX, &data, &len, NULL) < 0) {
            log_debug("ignore invalid hold file '%s'", path);
            continue;
        }
        h = xzalloc(sizeof(*h));
        h->image_id = TAKE_PTR(id);
        h->chain_ids = xnew(char *, 1);
        for (char *line = data, *end; *line; line = end) {
            end = line + strcspn(line, "\n");
            if (*end)
                *end++ = '\0';
            if (digest_is_valid(line))
                strv_push_unique(&h->chain_ids, xstrdup(line));
        }
        h->stale = true;
        h->next = s->holds;
        s->holds = h;
    }
}

int image_store_hold(struct image_store *s, const char *image_id, struct err **err)
{
    struct hold *h = hold_find(s, image_id);
    struct image *img;
    struct strbuf text = STRBUF_INIT;
    _cleanup_free_ char *path = NULL;
    int r;

    if (h && h->stale) {
        h->stale = false;
        h->count = 1;
        return 0;
    }
    if (h) {
        h->count++;
        return 0;
    }
    img = image_by_id(s, image_id);
    if (!img)
        return err_status(err, GRPC_STATUS_NOT_FOUND, "image %s not found", image_id);

    for (size_t i = 0; i < img->n_layers; i++)
        strbuf_printf(&text, "%s\n", img->chain_ids[i]);
    path = hold_path(s, image_id);
    r = write_file_atomic(path, text.buf ? text.buf : "", text.len, 0600, err);
    strbuf_done(&text);
    if (r < 0)
        return err_wrap(err, "hold the layers of image %s", image_id);

    h = xzalloc(sizeof(*h));
    h->image_id = xstrdup(image_id);
    h->chain_ids = xnew(char *, img->n_layers + 1);
    for (size_t i = 0; i < img->n_layers; i++)
        h->chain_ids[i] = xstrdup(img->chain_ids[i]);
    h->count = 1;
    h->next = s->holds;
    s->holds = h;
    return 0;
}

/* Forget the hold h (already unlinked from the list) and delete what only it kept. */
static void hold_drop(struct image_store *s, struct hold *h)
{
    _cleanup_free_ char *path = hold_path(s, h->image_id);

    if (unlink(path) < 0 && errno != ENOENT)
        log_debug("remove hold file '%s': %s", path, strerror(errno));
    store_collect(s, NULL, h->chain_ids);
    hold_free(h);
}

void image_store_release(struct image_store *s, const char *image_id)
{
    struct hold **p = &s->holds;

    while (*p && strcmp((*p)->image_id, image_id) != 0)
        p = &(*p)->next;
    if (!*p || (*p)->stale || (*p)->count == 0)
        return;
    if (--(*p)->count == 0) {
        struct hold *h = *p;

        *p = h->next;
        hold_drop(s, h);
    }
}

void image_store_drop_stale_holds(struct image_store *s)
{
    struct hold **p = &s->holds;

    while (*p) {
        struct hold *h = *p;

        if (h->stale) {
            *p = h->next;
            hold_drop(s, h);
        } else {
            p = &h->next;
        }
    }
}

int image_store_open(const char *root, struct image_store **ret, struct err **err)
{
    struct image_store *s = xzalloc(sizeof(*s));
    _cleanup_free_ char *blobs = NULL;
    _cleanup_free_ char *layout = NULL;

    s->root = xstrdup(root);
    s->content = path_join(root, "content");
    s->ingest = path_join(s->content, "ingest");
    s->snapshots = path_join(root, "snapshots");
    s->index_path = path_join(s->content, "index.json");
    s->holds_dir = path_join(root, "holds");
    blobs = path_join(s->content, "blobs/sha256");
    layout = path_join(s->content, "oci-layout");

    if (mkdir_p(blobs, 0755, err) < 0 || mkdir_p(s->ingest, 0700, err) < 0 ||
        mkdir_p(s->snapshots, 0700, err) < 0 || mkdir_p(s->holds_dir, 0700, err) < 0)
        goto fail;
    if (access(layout, F_OK) < 0 &&
        write_file_atomic(layout, OCI_LAYOUT, strlen(OCI_LAYOUT), 0644, err) < 0)
        goto fail;
    if (index_load(s, err) < 0)
        goto fail;
    {
        _cleanup_strv_free_ char **unused_digests = xnew(char *, 1);
        _cleanup_strv_free_ char **unused_chains = xnew(char *, 1);

        rebuild(s, &unused_digests, &unused_chains);
    }
    holds_load(s);
    sweep(s);
    *ret = s;
    return 0;

fail:
    err_wrap(err, "open image store '%s'", root);
    image_store_free(s);
    return -1;
}

void image_store_free(struct image_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_names; i++)
        name_entry_done(&s->names[i]);
    for (size_t i = 0; i < s->n_targets; i++) {
        free(s->targets[i].digest);
        free(s->targets[i].manifest_digest);
        free(s->targets[i].image_id);
    }
    for (size_t i = 0; i < s->n_images; i++)
        image_free(s->images[i]);
    free(s->names);
    free(s->targets);
    free(s->images);
    free(s->pulls);
    if (s->curl_unload_ev)
        event_free(s->curl_unload_ev);
    free(s->root);
    free(s->unpack_helper);
    free(s->content);
    free(s->ingest);
    free(s->snapshots);
    free(s->index_path);
    while (s->holds) {
        struct hold *h = s->holds;

        s->holds = h->next;
        hold_free(h);
    }
    free(s->holds_dir);
    free(s);
}

const char *store_root(const struct image_store *s)
{
    return s->root;
}

void image_store_set_helper(struct image_store *s, struct event_base *base, const char *path)
{
    s->base = base;
    free(s->unpack_helper);
    s->unpack_helper = xstrdup(path);
}

const char *store_unpack_helper(const struct image_store *s)
{
    return s->unpack_helper ? s->unpack_helper : CRISP_LIBEXECDIR "/crisp-unpack";
}

struct image *const *image_store_list(struct image_store *s, size_t *ret_n)
{
    static struct image *const empty[1] = {NULL};

    *ret_n = s->n_images;
    return s->images ? s->images : empty;
}

/* ---- find and remove ---- */

static struct image *find_by_name(struct image_store *s, const char *name)
{
    for (size_t i = 0; i < s->n_names; i++) {
        if (strcmp(s->names[i].name, name) == 0) {
            struct target *t = target_by_digest(s, s->names[i].digest);

            return t ? image_by_id(s, t->image_id) : NULL;
        }
    }
    return NULL;
}

/* Find by an id or id prefix, with or without "sha256:", as containerd's digestset does. */
static struct image *find_by_id_prefix(struct image_store *s, const char *id, struct err **err)
{
    const char *hex = strncmp(id, DIGEST_PREFIX, strlen(DIGEST_PREFIX)) == 0
                          ? id + strlen(DIGEST_PREFIX)
                          : id;
    struct image *found = NULL;

    if (!id_is_valid_prefix(hex))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "'%s' is neither an image reference nor an image id", id),
               NULL;
    for (size_t i = 0; i < s->n_images; i++) {
        if (strncmp(digest_hex(s->images[i]->id), hex, strlen(hex)) != 0)
            continue;
        if (found)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "image id prefix '%s' is ambiguous", id),
                   NULL;
        found = s->images[i];
    }
    return found;
}

struct image *image_store_find(struct image_store *s, const char *ref_or_id, struct err **err)
{
    _cleanup_err_ struct err *parse_err = NULL;
    struct image_ref ref = {0};
    struct image *img;

    if (!ref_or_id || ref_or_id[0] == '\0')
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "empty image reference"), NULL;
    if (digest_is_valid(ref_or_id))
        return image_by_id(s, ref_or_id);

    if (image_ref_parse(ref_or_id, &ref, &parse_err) == 0) {
        _cleanup_free_ char *name = NULL;

        /* containerd looks up name@digest when both a tag and a digest are given. */
        if (ref.digest) {
            free(ref.tag);
            ref.tag = NULL;
        }
        name = image_ref_string(&ref);
        image_ref_done(&ref);
        img = find_by_name(s, name);
        if (img)
            return img;
        /* A valid reference to no image is not an error, unless it may be an id prefix. */
        if (!id_is_valid_prefix(ref_or_id))
            return NULL;
    }
    return find_by_id_prefix(s, ref_or_id, err);
}

int image_store_remove(struct image_store *s, struct image *img, struct err **err)
{
    _cleanup_strv_free_ char **gc_digests = xnew(char *, 1);
    _cleanup_strv_free_ char **gc_chains = xnew(char *, 1);
    size_t kept = 0;
    bool present = false;

    for (size_t i = 0; i < s->n_images; i++)
        present = present || s->images[i] == img;
    if (!present)
        return 0;

    for (size_t i = 0; i < s->n_names; i++) {
        struct target *t = target_by_digest(s, s->names[i].digest);

        if (t && strcmp(t->image_id, img->id) == 0)
            name_entry_done(&s->names[i]);
        else
            s->names[kept++] = s->names[i];
    }
    s->n_names = kept;
    if (index_write(s, err) < 0)
        return -1;
    rebuild(s, &gc_digests, &gc_chains);
    store_collect(s, gc_digests, gc_chains);
    return 0;
}

char **image_layer_dirs(struct image_store *s, const struct image *img)
{
    char **dirs = xnew(char *, img->n_layers + 1);

    for (size_t i = 0; i < img->n_layers; i++) {
        _cleanup_free_ char *snapshot = store_snapshot_path(s, img->chain_ids[img->n_layers - 1 - i]);

        dirs[i] = path_join(snapshot, "fs");
    }
    return dirs;
}
