/*
 * Declarations shared by the files of src/image.  The pure parts (digests,
 * manifests, tar entry names) are here so that unit tests and fuzz targets
 * can reach them.
 */
#ifndef CRISP_IMAGE_INTERNAL_H
#define CRISP_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "image/image.h"
#include "util/err.h"

struct event;
struct event_base;

/* ---- media types (OCI image-spec v1.1, Docker image manifest v2 schema 2) ---- */

#define MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MEDIA_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

/* Manifests, indexes and configs are buffered in memory: larger ones are rejected. */
#define MANIFEST_MAX_SIZE ((size_t)4 << 20)
/* Maximum number of layers in one image and of entries in one index. */
#define IMAGE_MAX_LAYERS 256
#define INDEX_MAX_MANIFESTS 1024
/* Maximum nesting of indexes (an index pointing at an index). */
#define INDEX_MAX_DEPTH 4

/* ---- digests (digest.c) ---- */

#define DIGEST_PREFIX "sha256:"
#define DIGEST_LEN (7 + 64)

/* Whether s is "sha256:" followed by exactly 64 lowercase hex characters. */
bool digest_is_valid(const char *s);
/* Return "sha256:<hex>" of data.  Caller frees. */
char *digest_compute(const void *data, size_t len);
/*
 * Return the chain ids of layers with the given diff ids (OCI image-spec
 * config.md "Layer ChainID"): chain[0] = diff[0], chain[n] =
 * sha256(chain[n-1] + " " + diff[n]).  NULL-terminated; caller frees (strv).
 */
char **chain_ids_compute(char *const *diff_ids, size_t n);

/* ---- manifests (manifest.c) ---- */

struct descriptor {
    char *media_type;
    char *digest;
    uint64_t size;
    /* Platform of an index entry; NULL when absent. */
    char *os;
    char *architecture;
    char *variant;
};

enum manifest_kind {
    MANIFEST_KIND_IMAGE,
    MANIFEST_KIND_INDEX,
};

struct manifest {
    enum manifest_kind kind;
    char *media_type;
    /* MANIFEST_KIND_IMAGE */
    struct descriptor config;
    struct descriptor *layers;
    size_t n_layers;
    /* MANIFEST_KIND_INDEX */
    struct descriptor *manifests;
    size_t n_manifests;
};

/*
 * Parse an image manifest or index.  content_type is the Content-Type the
 * registry sent (NULL when unknown); the document's own mediaType wins when
 * both are present.  Docker schema 1 and unknown media types give
 * UNIMPLEMENTED naming the media type; malformed documents INVALID_ARGUMENT.
 */
int manifest_parse(const char *data, size_t len, const char *content_type, struct manifest *ret,
                   struct err **err);
void manifest_done(struct manifest *m);
void descriptor_done(struct descriptor *d);

struct platform {
    const char *os;
    const char *architecture;
    const char *variant; /* NULL when the architecture has none */
};

/* This machine's platform with Go's names (GOOS/GOARCH), as OCI indexes use them. */
void platform_host(struct platform *ret);
/* "os/architecture[/variant]".  Caller frees. */
char *platform_string(const struct platform *p);

/*
 * Pick the entry of index that runs best on want, as containerd's
 * platforms.Only matcher does: the same os, then the same architecture and
 * variant, else a compatible one (amd64 runs 386; arm64 runs arm; arm v7
 * runs v6 and v5).  Among equal matches the first entry wins.  Returns the
 * position of the entry, or -1 with NOT_FOUND.
 */
int manifest_choose_platform(const struct manifest *index, const struct platform *want,
                             struct err **err);

/*
 * Parse an image config (OCI image-spec config.md): the container config
 * fields into *ret_config and rootfs.diff_ids into *ret_diff_ids
 * (NULL-terminated), *ret_n their count.
 */
int image_config_parse(const char *data, size_t len, struct image_config *ret_config,
                       char ***ret_diff_ids, size_t *ret_n, struct err **err);
void image_config_done(struct image_config *c);

/* Whether a layer of this media type can be unpacked (tar, gzip or zstd). */
bool layer_media_type_supported(const char *media_type);

/* ---- layer entries and unpacking (unpack.c) ---- */

enum whiteout_kind {
    WHITEOUT_NONE,   /* an ordinary entry */
    WHITEOUT_FILE,   /* DIR/.wh.NAME: NAME is deleted from lower layers */
    WHITEOUT_OPAQUE, /* DIR/.wh..wh..opq: DIR hides what lower layers put in it */
    WHITEOUT_META,   /* another DIR/.wh..wh.* name: AUFS metadata, skipped */
};

/*
 * Classify a cleaned entry path (see tar_path_clean).  For WHITEOUT_FILE,
 * *ret_dir gets the directory ("" for the root) and *ret_name the deleted
 * name; for WHITEOUT_OPAQUE only *ret_dir.  Caller frees both.
 */
enum whiteout_kind whiteout_parse(const char *path, char **ret_dir, char **ret_name);

/*
 * Clean a tar entry name into a path relative to the layer root: a leading
 * "/", "." components and repeated or trailing slashes go, so absolute
 * names are rooted at the layer.  A ".."
 * component or an empty name gives INVALID_ARGUMENT naming the entry.
 * *ret is "" for the root itself.
 */
int tar_path_clean(const char *name, char **ret, struct err **err);

/*
 * Hard limits on one layer: uncompressed bytes and tar entries.
 * NOTE: chosen to stay far above real images, not taken from another runtime.
 */
#define LAYER_MAX_BYTES ((uint64_t)64 << 30)
#define LAYER_MAX_ENTRIES 4000000

/* ---- registry client (registry.c) ---- */

struct registry;
struct registry_fetch;

/* Called once per fetch; the fetch is freed when the callback returns. */
typedef void (*registry_fetch_fn)(void *data, struct registry_fetch *f, const struct err *err);

/* A client for one repository: ref's domain and path. */
struct registry *registry_new(struct event_base *base, const struct image_ref *ref,
                              const struct registry_options *opts,
                              const struct registry_auth *auth);
/* Cancel every fetch (their callbacks are not called) and free.  Not from a fetch callback. */
void registry_free(struct registry *r);

/*
 * GET /v2/<path>/manifests/<reference> into memory (at most
 * MANIFEST_MAX_SIZE).  With a digest reference the body must match it.
 */
struct registry_fetch *registry_get_manifest(struct registry *r, const char *reference,
                                             registry_fetch_fn cb, void *data);
/*
 * GET the blob with this digest and size.  fd < 0 buffers it in memory
 * (size must be at most MANIFEST_MAX_SIZE) and checks size and digest.
 * Else fd is the non-blocking write end of a pipe to the process that
 * stores the blob and checks its digest, and only the size is checked
 * here.  The transfer pauses while the pipe is full, and a retry resumes
 * where the last attempt stopped.
 */
struct registry_fetch *registry_get_blob(struct registry *r, const char *digest, uint64_t size,
                                         int fd, registry_fetch_fn cb, void *data);
/* Cancel one fetch: its callback is not called. */
void registry_fetch_cancel(struct registry_fetch *f);

/* The body of a memory fetch (NUL-terminated beyond *ret_len). */
const char *registry_fetch_body(const struct registry_fetch *f, size_t *ret_len);
const char *registry_fetch_content_type(const struct registry_fetch *f);
/* "sha256:<hex>" of the body. */
const char *registry_fetch_digest(const struct registry_fetch *f);

struct auth_challenge {
    char *scheme; /* "bearer" or "basic", lowercased */
    char *realm;
    char *service;
    char *scope;
};

/*
 * Parse a Content-Range header value, "bytes FIRST-LAST/COMPLETE" with
 * COMPLETE a number or an asterisk (RFC 9110 section 14.4): 0 with FIRST in
 * *ret, or -1 when the value is not of that form or LAST is below FIRST.
 */
int content_range_start(const char *value, uint64_t *ret);

/* Parse the first challenge of a WWW-Authenticate header (RFC 9110 section 11.6.1). */
int auth_challenge_parse(const char *header, struct auth_challenge *ret, struct err **err);
void auth_challenge_done(struct auth_challenge *c);

/* ---- store internals (store.c) used by pull.c ---- */

char *store_blob_path(struct image_store *s, const char *digest);
char *store_snapshot_path(struct image_store *s, const char *chain_id);
/* A fresh path for a temporary file or directory in the store ("<root>/<dir>/<prefix>-<random>.tmp"). */
char *store_temp_path(struct image_store *s, const char *dir, const char *prefix);
bool store_blob_exists(struct image_store *s, const char *digest);
bool store_snapshot_exists(struct image_store *s, const char *chain_id);

/*
 * Point the names at the target (a manifest or index already in the blob
 * store), write index.json and update the image records; names that
 * pointed elsewhere move.  Returns the image of the target.
 */
struct image *store_commit(struct image_store *s, char *const *names, const char *media_type,
                           const char *digest, uint64_t size, struct err **err);

const char *store_root(const struct image_store *s);
/* The crisp-unpack program to run (image_store_set_helper). */
const char *store_unpack_helper(const struct image_store *s);

/*
 * Register a pull task while it runs, so that removals in the meantime keep
 * its content and later pulls can find it.
 */
struct pull_task;
void store_pull_add(struct image_store *s, struct pull_task *p);
void store_pull_remove(struct image_store *s, struct pull_task *p);
/* The registered pull tasks; the array belongs to the store and changes with add and remove. */
struct pull_task *const *store_pulls(struct image_store *s, size_t *ret_n);
/* The store's timer that unloads libcurl when no pull ran for a while (pull.c); NULL at first. */
struct event **store_curl_unload_event(struct image_store *s);
/* Whether an in-flight pull uses this blob digest or chain id. */
bool pull_uses(const struct pull_task *p, const char *digest_or_chain);
/* Delete the blobs and snapshots no image or pull uses among those listed. */
void store_collect(struct image_store *s, char *const *digests, char *const *chain_ids);

#endif
