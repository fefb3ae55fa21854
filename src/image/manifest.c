/*
 * Manifest, index and config documents (OCI image-spec v1.1 manifest.md,
 * image-index.md, config.md; Docker image manifest v2 schema 2) and the
 * choice of a platform from an index.  Pure: no I/O.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "image/internal.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* jansson provides json_decrefp for its json_auto_t. */
#define _cleanup_json_ _cleanup_(json_decrefp)

/* A descriptor size beyond 2^53 cannot be an exact JSON number in most parsers. */
#define DESCRIPTOR_MAX_SIZE ((uint64_t)1 << 53)

static const char *const layer_media_types[] = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
};

bool layer_media_type_supported(const char *media_type)
{
    for (size_t i = 0; i < ARRAY_SIZE(layer_media_types); i++) {
        if (strcmp(media_type, layer_media_types[i]) == 0)
            return true;
    }
    return false;
}

void descriptor_done(struct descriptor *d)
{
    free(d->media_type);
    free(d->digest);
    free(d->os);
    free(d->architecture);
    free(d->variant);
    memset(d, 0, sizeof(*d));
}

void manifest_done(struct manifest *m)
{
    descriptor_done(&m->config);
    for (size_t i = 0; i < m->n_layers; i++)
        descriptor_done(&m->layers[i]);
    for (size_t i = 0; i < m->n_manifests; i++)
        descriptor_done(&m->manifests[i]);
    free(m->layers);
    free(m->manifests);
    free(m->media_type);
    memset(m, 0, sizeof(*m));
}

static char *string_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

static int descriptor_parse(json_t *obj, const char *what, struct descriptor *ret,
                            struct err **err)
{
    json_t *size = json_object_get(obj, "size");
    json_t *platform;

    if (!json_is_object(obj))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: descriptor is not an object",
                          what);
    ret->media_type = string_member(obj, "mediaType");
    ret->digest = string_member(obj, "digest");
    if (!ret->media_type)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: descriptor without mediaType",
                          what);
    if (!ret->digest)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: descriptor without digest",
                          what);
    if (!digest_is_valid(ret->digest))
        return err_status(err, GRPC_STATUS_UNIMPLEMENTED,
                          "%s: digest '%s' is not supported: expected sha256 and 64 hex digits",
                          what, ret->digest);
    if (!json_is_integer(size) || json_integer_value(size) < 0 ||
        (uint64_t)json_integer_value(size) > DESCRIPTOR_MAX_SIZE)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: descriptor %s has an invalid size",
                          what, ret->digest);
    ret->size = (uint64_t)json_integer_value(size);

    platform = json_object_get(obj, "platform");
    if (json_is_object(platform)) {
        ret->os = string_member(platform, "os");
        ret->architecture = string_member(platform, "architecture");
        ret->variant = string_member(platform, "variant");
    }
    return 0;
}

static int descriptors_parse(json_t *array, const char *what, size_t max, struct descriptor **ret,
                             size_t *ret_n, struct err **err)
{
    size_t n;

    if (!json_is_array(array))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: missing or not an array", what);
    n = json_array_size(array);
    if (n > max)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: %zu entries, at most %zu allowed",
                          what, n, max);
    *ret = xnew(struct descriptor, n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        *ret_n = i + 1;
        if (descriptor_parse(json_array_get(array, i), what, &(*ret)[i], err) < 0)
            return -1;
    }
    *ret_n = n;
    return 0;
}

static int image_manifest_parse(json_t *root, struct manifest *m, struct err **err)
{
    m->kind = MANIFEST_KIND_IMAGE;
    if (descriptor_parse(json_object_get(root, "config"), "manifest config", &m->config, err) < 0)
        return -1;
    if (descriptors_parse(json_object_get(root, "layers"), "manifest layers", IMAGE_MAX_LAYERS,
                          &m->layers, &m->n_layers, err) < 0)
        return -1;
    for (size_t i = 0; i < m->n_layers; i++) {
        if (!layer_media_type_supported(m->layers[i].media_type))
            return err_status(err, GRPC_STATUS_UNIMPLEMENTED,
                              "layer %s: media type '%s' is not supported", m->layers[i].digest,
                              m->layers[i].media_type);
    }
    return 0;
}

/* The media type of a document: its mediaType member, else the Content-Type, else its shape. */
static const char *media_type_of(json_t *root, const char *content_type)
{
    json_t *mt = json_object_get(root, "mediaType");
    json_t *version = json_object_get(root, "schemaVersion");

    if (json_is_string(mt))
        return json_string_value(mt);
    if (json_is_integer(version) && json_integer_value(version) == 1)
        return MEDIA_DOCKER_SCHEMA1;
    if (content_type && strcmp(content_type, "application/json") != 0 &&
        strcmp(content_type, "application/octet-stream") != 0 && content_type[0])
        return content_type;
    if (json_object_get(root, "manifests"))
        return MEDIA_OCI_INDEX;
    return MEDIA_OCI_MANIFEST;
}

int manifest_parse(const char *data, size_t len, const char *content_type, struct manifest *ret,
                   struct err **err)
{
    _cleanup_json_ json_t *root = NULL;
    struct manifest m = {0};
    json_error_t jerr;
    const char *mt;
    int r;

    if (len > MANIFEST_MAX_SIZE)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "manifest of %zu bytes is larger than the %zu allowed", len,
                          MANIFEST_MAX_SIZE);
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "invalid manifest JSON: %s (line %d)",
                          jerr.text, jerr.line);
    if (!json_is_object(root))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "invalid manifest: not a JSON object");

    mt = media_type_of(root, content_type);
    if (strcmp(mt, MEDIA_OCI_MANIFEST) == 0 || strcmp(mt, MEDIA_DOCKER_MANIFEST) == 0) {
        m.media_type = xstrdup(mt);
        r = image_manifest_parse(root, &m, err);
    } else if (strcmp(mt, MEDIA_OCI_INDEX) == 0 || strcmp(mt, MEDIA_DOCKER_LIST) == 0) {
        m.media_type = xstrdup(mt);
        m.kind = MANIFEST_KIND_INDEX;
        r = descriptors_parse(json_object_get(root, "manifests"), "index manifests",
                              INDEX_MAX_MANIFESTS, &m.manifests, &m.n_manifests, err);
    } else {
        r = err_status(err, GRPC_STATUS_UNIMPLEMENTED, "manifest media type '%s' is not supported",
                       mt);
    }
    if (r < 0) {
        manifest_done(&m);
        return -1;
    }
    *ret = m;
    return 0;
}

void platform_host(struct platform *ret)
{
    ret->os = "linux";
    ret->variant = NULL;
#if defined(__x86_64__)
    ret->architecture = "amd64";
#elif defined(__aarch64__)
    ret->architecture = "arm64";
#elif defined(__arm__)
    ret->architecture = "arm";
#if defined(__ARM_ARCH) && __ARM_ARCH >= 7
    ret->variant = "v7";
#elif defined(__ARM_ARCH) && __ARM_ARCH == 6
    ret->variant = "v6";
#else
    ret->variant = "v5";
#endif
#elif defined(__i386__)
    ret->architecture = "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    ret->architecture = "ppc64le";
#elif defined(__s390x__)
    ret->architecture = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    ret->architecture = "riscv64";
#elif defined(__loongarch64)
    ret->architecture = "loong64";
#else
#error "no GOARCH name known for this architecture"
#endif
}

char *platform_string(const struct platform *p)
{
    return xasprintf("%s/%s%s%s", p->os, p->architecture, p->variant ? "/" : "",
                     p->variant ? p->variant : "");
}

struct arch_variant {
    const char *architecture;
    const char *variant;
};

/* Normalize an entry's variant the way containerd's platform matcher compares them. */
static const char *normalize_variant(const char *architecture, const char *variant)
{
    variant = variant ? variant : "";
    if (strcmp(architecture, "amd64") == 0 && strcmp(variant, "v1") == 0)
        return "";
    if (strcmp(architecture, "arm64") == 0 && (strcmp(variant, "v8") == 0 || strcmp(variant, "8") == 0))
        return "";
    if (strcmp(architecture, "arm") == 0) {
        if (variant[0] == '\0' || strcmp(variant, "7") == 0)
            return "v7";
        if (strcmp(variant, "6") == 0)
            return "v6";
        if (strcmp(variant, "5") == 0)
            return "v5";
        if (strcmp(variant, "8") == 0)
            return "v8";
    }
    return variant;
}

/*
 * List the platforms that run on want, best first: amd64 also runs 386,
 * arm64 also runs arm v8 down to v5, arm vN runs vN down to v5.
 * NOTE: this follows containerd 1.7's platforms.Only as recalled, not
 * checked against its source.
 */
static size_t platform_vector(const struct platform *want, struct arch_variant *out, size_t max)
{
    static const char *const arm_variants[] = {"v8", "v7", "v6", "v5"};
    const char *variant = normalize_variant(want->architecture, want->variant);
    size_t n = 0;

    out[n++] = (struct arch_variant){want->architecture, variant};
    if (strcmp(want->architecture, "amd64") == 0) {
        out[n++] = (struct arch_variant){"386", ""};
    } else if (strcmp(want->architecture, "arm64") == 0) {
        for (size_t i = 0; i < ARRAY_SIZE(arm_variants) && n < max; i++)
            out[n++] = (struct arch_variant){"arm", arm_variants[i]};
    } else if (strcmp(want->architecture, "arm") == 0) {
        size_t i = 0;

        while (i < ARRAY_SIZE(arm_variants) && strcmp(arm_variants[i], variant) != 0)
            i++;
        for (i++; i < ARRAY_SIZE(arm_variants) && n < max; i++)
            out[n++] = (struct arch_variant){"arm", arm_variants[i]};
    }
    return n;
}

/* Rank of an index entry for want: 0 for no match, higher is better. */
static size_t platform_rank(const struct descriptor *d, const struct platform *want)
{
    struct arch_variant vector[8];
    size_t n = platform_vector(want, vector, ARRAY_SIZE(vector));
    const char *variant;

    if (!d->os || !d->architecture || strcmp(d->os, want->os) != 0)
        return 0;
    variant = normalize_variant(d->architecture, d->variant);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(d->architecture, vector[i].architecture) == 0 &&
            strcmp(variant, vector[i].variant) == 0)
            return n - i;
    }
    return 0;
}

int manifest_choose_platform(const struct manifest *index, const struct platform *want,
                             struct err **err)
{
    size_t best_rank = 0;
    int best = -1;

    for (size_t i = 0; i < index->n_manifests; i++) {
        size_t rank = platform_rank(&index->manifests[i], want);

        if (rank > best_rank) {
            best = (int)i;
            best_rank = rank;
        }
    }
    if (best < 0) {
        _cleanup_free_ char *name = platform_string(want);

        return err_status(err, GRPC_STATUS_NOT_FOUND, "no manifest for platform %s in the index",
                          name);
    }
    return best;
}

void image_config_done(struct image_config *c)
{
    strv_free(c->entrypoint);
    strv_free(c->cmd);
    strv_free(c->env);
    free(c->working_dir);
    free(c->user);
    free(c->stop_signal);
    memset(c, 0, sizeof(*c));
}

/* A JSON array of strings as a NULL-terminated vector; NULL when v is null or absent. */
static int string_array(json_t *v, const char *what, char ***ret, struct err **err)
{
    char **out;
    size_t n;

    *ret = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "image config: %s is not an array",
                          what);
    n = json_array_size(v);
    out = xnew(char *, n + 1);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);

        if (!json_is_string(s)) {
            strv_free(out);
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "image config: %s[%zu] is not a string", what, i);
        }
        out[i] = xstrdup(json_string_value(s));
    }
    *ret = out;
    return 0;
}

static int container_config_parse(json_t *cc, struct image_config *c, struct err **err)
{
    if (!cc || json_is_null(cc))
        return 0;
    if (!json_is_object(cc))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "image config: config is not an object");
    if (string_array(json_object_get(cc, "Entrypoint"), "Entrypoint", &c->entrypoint, err) < 0 ||
        string_array(json_object_get(cc, "Cmd"), "Cmd", &c->cmd, err) < 0 ||
        string_array(json_object_get(cc, "Env"), "Env", &c->env, err) < 0)
        return -1;
    c->working_dir = string_member(cc, "WorkingDir");
    c->user = string_member(cc, "User");
    c->stop_signal = string_member(cc, "StopSignal");
    return 0;
}

int image_config_parse(const char *data, size_t len, struct image_config *ret_config,
                       char ***ret_diff_ids, size_t *ret_n, struct err **err)
{
    _cleanup_json_ json_t *root = NULL;
    _cleanup_strv_free_ char **diff_ids = NULL;
    struct image_config c = {0};
    json_t *rootfs, *type;
    json_error_t jerr;
    size_t n;

    if (len > MANIFEST_MAX_SIZE)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "image config of %zu bytes is larger than the %zu allowed", len,
                          MANIFEST_MAX_SIZE);
    root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "invalid image config JSON: %s",
                          root ? "not an object" : jerr.text);

    rootfs = json_object_get(root, "rootfs");
    type = json_object_get(rootfs, "type");
    if (!json_is_object(rootfs) || !json_is_string(type) ||
        strcmp(json_string_value(type), "layers") != 0)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "image config: rootfs.type is not \"layers\"");
    if (string_array(json_object_get(rootfs, "diff_ids"), "rootfs.diff_ids", &diff_ids, err) < 0)
        return -1;
    if (!diff_ids)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "image config: no rootfs.diff_ids");
    for (n = 0; diff_ids[n]; n++) {
        if (!digest_is_valid(diff_ids[n]))
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "image config: diff_id '%s' is not a sha256 digest", diff_ids[n]);
    }
    if (n > IMAGE_MAX_LAYERS)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "image config: %zu layers, at most %d allowed", n, IMAGE_MAX_LAYERS);

    if (container_config_parse(json_object_get(root, "config"), &c, err) < 0) {
        image_config_done(&c);
        return -1;
    }
    *ret_config = c;
    *ret_diff_ids = TAKE_PTR(diff_ids);
    *ret_n = n;
    return 0;
}
