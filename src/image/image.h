/*
 * Image store and puller.  The store is an OCI image layout under
 * <root>/content (index.json, blobs/sha256/...) whose index entries carry
 * the image names as "org.opencontainers.image.ref.name" annotations;
 * unpacked layers are snapshots under <root>/snapshots/<chain id hex>/fs,
 * shared between images.  Knows nothing of protobuf or gRPC.
 */
#ifndef CRISP_IMAGE_H
#define CRISP_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "util/err.h"

struct event_base;

/* ---- references ---- */

struct image_ref {
    char *domain;  /* "docker.io", "127.0.0.1:5000" */
    char *path;    /* "library/busybox" */
    char *tag;     /* NULL when only a digest is given */
    char *digest;  /* "sha256:<64 hex>" or NULL */
};

/*
 * Parse and normalize a reference as Docker and containerd do:
 * "busybox" -> docker.io/library/busybox:latest.  Invalid input gives
 * INVALID_ARGUMENT naming the reference.
 */
int image_ref_parse(const char *s, struct image_ref *ret, struct err **err);
void image_ref_done(struct image_ref *r);
/* "domain/path:tag", "domain/path@digest" or "domain/path:tag@digest".  Caller frees. */
char *image_ref_string(const struct image_ref *r);
/* "domain/path".  Caller frees. */
char *image_ref_name(const struct image_ref *r);

/* ---- images ---- */

/* Fields of the image config (OCI image-spec config.json) crisp uses. */
struct image_config {
    char **entrypoint;   /* NULL-terminated, NULL when unset */
    char **cmd;
    char **env;
    char *working_dir;
    char *user;
    char *stop_signal;
};

struct image {
    char *id;             /* "sha256:<config digest hex>" */
    char **repo_tags;     /* "docker.io/library/busybox:latest", NULL-terminated */
    char **repo_digests;  /* "docker.io/library/busybox@sha256:<manifest digest>" */
    char *manifest_digest;
    uint64_t size;        /* compressed layers + config + manifest, as containerd reports */
    struct image_config config;
    char *config_json;    /* the config blob, for verbose ImageStatus */
    char **chain_ids;     /* "sha256:...", bottom layer first */
    size_t n_layers;
};

struct image_store;

/* Open (creating if needed) the store under root and load its images. */
int image_store_open(const char *root, struct image_store **ret, struct err **err);
void image_store_free(struct image_store *s);
/*
 * The crisp-unpack program that pulls run for each layer, and that removes
 * unused snapshots, with the event base that watches it.  Set it before
 * the first pull.  Until then, unused snapshots are removed in this process.
 */
void image_store_set_helper(struct image_store *s, struct event_base *base, const char *path);

/*
 * Images in a stable order; *ret_n gets the count.  The array belongs to the
 * store.  A struct image stays valid until image_store_remove() removes it
 * or a completed pull moves its last name away, so copy what an
 * asynchronous operation needs.
 */
struct image *const *image_store_list(struct image_store *s, size_t *ret_n);

/*
 * Find an image by reference ("busybox", "busybox:1", "name@sha256:..."),
 * image id ("sha256:<hex>" or bare hex), or unique id prefix.  Returns NULL
 * when nothing matches; *err is set only for invalid or ambiguous input.
 */
struct image *image_store_find(struct image_store *s, const char *ref_or_id, struct err **err);

/* Remove the image with all its tags; content goes once unused.  Removing a missing image is fine. */
int image_store_remove(struct image_store *s, struct image *img, struct err **err);

/*
 * Keep the snapshots of the image with this id until the matching
 * image_store_release(), even if the image is removed meanwhile: a
 * container's root file system is built from them.  Holds are counted and
 * recorded on disk (<root>/holds), so they survive a restart as stale holds
 * that image_store_hold() claims again.  Fails with NOT_FOUND for an
 * unknown image that no stale hold names, or when the record cannot be
 * written.
 */
int image_store_hold(struct image_store *s, const char *image_id, struct err **err);
/* Drop one hold; the last one deletes snapshots no image uses.  An unknown id is ignored. */
void image_store_release(struct image_store *s, const char *image_id);
/* Drop the holds of the previous run that no image_store_hold() claimed (call after recovery). */
void image_store_drop_stale_holds(struct image_store *s);

/* Directories of the image's unpacked layers, topmost first, NULL-terminated.  Caller frees (strv). */
char **image_layer_dirs(struct image_store *s, const struct image *img);

/* ---- usage (ImageFsInfo) ---- */

struct image_store_usage {
    const char *mountpoint; /* the store's root directory */
    uint64_t used_bytes;    /* allocated bytes (st_blocks), each inode counted once */
    uint64_t inodes_used;
    int64_t timestamp_ns;   /* CLOCK_REALTIME when the walk finished */
};

/* Called once with the usage (valid during the call) or the error. */
typedef void (*image_usage_fn)(void *data, const struct image_store_usage *usage,
                               const struct err *err);

struct image_usage_job;

/*
 * Measure the store without blocking: a child process walks its root
 * without crossing mount points and reports on the reactor.  Returns NULL
 * and fills *err when the child cannot be started.
 */
struct image_usage_job *image_store_usage_start(struct image_store *s, struct event_base *base,
                                                image_usage_fn cb, void *data, struct err **err);

/* ---- pulls ---- */

struct registry_auth {
    const char *username;
    const char *password;
    const char *auth;            /* base64 "user:pass" */
    const char *identity_token;
    const char *registry_token;
};

/* Settings for one registry host, from the daemon's configuration file. */
struct registry_host {
    const char *host;       /* "host[:port]" as references name it ("docker.io" for Docker Hub) */
    /*
     * TLS without certificate checks, and plain HTTP when the host does
     * not speak TLS (the TLS handshake fails).
     */
    bool insecure;
    const char *ca_file;    /* PEM CA certificates trusted for this host besides the system's */
    /*
     * Mirror endpoints tried in order before the host itself:
     * "[http[s]://]host[:port][/prefix]", https when no scheme is given.
     * Each mirror's own entry, if any, gives its TLS settings and
     * credentials.  NULL-terminated; may be NULL.
     */
    const char *const *mirrors;
    struct registry_auth auth; /* used when the request carries no credentials */
};

/* A transfer that receives no bytes for this long is cancelled (containerd's default). */
#define REGISTRY_PROGRESS_TIMEOUT_DEFAULT_S 300u

/* Layer blobs one pull downloads at a time (containerd's max_concurrent_downloads default). */
#define MAX_CONCURRENT_DOWNLOADS_DEFAULT 3u
/* Upper bound of the max_concurrent_downloads setting: an image has at most this many layers. */
#define MAX_CONCURRENT_DOWNLOADS_MAX 256u

struct registry_options {
    char **insecure_hosts;       /* "host[:port]" with insecure set, NULL-terminated; may be NULL */
    const struct registry_host *hosts;
    size_t n_hosts;
    unsigned progress_timeout_s; /* 0 means REGISTRY_PROGRESS_TIMEOUT_DEFAULT_S */
    unsigned max_concurrent_downloads; /* per pull; 0 means MAX_CONCURRENT_DOWNLOADS_DEFAULT */
};

/*
 * Parse the "registries" object of the configuration file: keys are hosts
 * ("host[:port]"), values objects with "insecure" (boolean), "ca_file"
 * (string), "mirrors" (array of strings) and "auth" (object with the CRI
 * AuthConfig names username, password, auth, identity_token and
 * registry_token).  registries is a jansson json_t.  Unknown keys, wrong
 * types, a mirror with user info and an unreadable ca_file give
 * INVALID_ARGUMENT naming the host; messages never contain credentials.
 * Free the result with registry_hosts_free().
 */
struct json_t;
int registry_hosts_parse(const struct json_t *registries, struct registry_host **ret_hosts,
                         size_t *ret_n, struct err **err);
void registry_hosts_free(struct registry_host *hosts, size_t n);

/* Called once with the pulled image (owned by the store) or the error. */
typedef void (*image_pull_fn)(void *data, struct image *img, const struct err *err);

struct image_pull;

/*
 * Pull ref into the store without blocking: manifest (an index or list picks
 * linux and this machine's architecture), config and layers, each sha256
 * verified, layers unpacked in a child process.  Returns NULL and fills *err
 * for a reference that cannot be parsed; else cb reports later.  A call for
 * the same normalized reference and credentials as a pull still running
 * joins it: the download happens once and each caller's cb gets the
 * result.  Layer blobs that another pull is downloading are not fetched
 * again.  opts and auth are used only by the call that starts the download.
 */
struct image_pull *image_pull_start(struct image_store *s, struct event_base *base,
                                    const struct registry_options *opts, const char *ref,
                                    const struct registry_auth *auth, image_pull_fn cb, void *data,
                                    struct err **err);
/*
 * Abandon a pull: this caller's cb is not called.  The download stops, and
 * nothing partial stays in the store, once no caller waits for it.
 */
void image_pull_cancel(struct image_pull *p);

#endif
