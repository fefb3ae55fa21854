/* Manifest, index and config parsing, and the platform choice from an index. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "image/internal.h"
#include "util/cleanup.h"
#include "../tap.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
             c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static const char docker_manifest[] =
    "{\"schemaVersion\":2,"
    "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
    "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","
    "\"digest\":\"" D("c") "\",\"size\":1469},"
    "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
    "\"digest\":\"" D("1") "\",\"size\":100},"
    "{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar\","
    "\"digest\":\"" D("2") "\",\"size\":200}]}";

/* An OCI manifest without mediaType: the Content-Type decides. */
static const char oci_manifest[] =
    "{\"schemaVersion\":2,"
    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
    "\"digest\":\"" D("c") "\",\"size\":7},"
    "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\","
    "\"digest\":\"" D("1") "\",\"size\":100}]}";

static const char oci_index[] =
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
    "\"manifests\":["
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D("a") "\","
    "\"size\":10,\"platform\":{\"os\":\"linux\",\"architecture\":\"s390x\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D("b") "\","
    "\"size\":11,\"platform\":{\"os\":\"windows\",\"architecture\":\"amd64\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D("c") "\","
    "\"size\":12,\"platform\":{\"os\":\"linux\",\"architecture\":\"386\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D("d") "\","
    "\"size\":13,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D("e") "\","
    "\"size\":14,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v6\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D("f") "\","
    "\"size\":15,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D("0") "\","
    "\"size\":16,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D("9") "\","
    "\"size\":17}"
    "]}";

static const char config[] =
    "{\"architecture\":\"amd64\",\"os\":\"linux\","
    "\"config\":{\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":null,"
    "\"Env\":[\"PATH=/bin\",\"A=b\"],\"WorkingDir\":\"/w\",\"User\":\"1000:1000\","
    "\"StopSignal\":\"SIGQUIT\"},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D("1") "\",\"" D("2") "\"]}}";

static void test_docker_manifest(void)
{
    _cleanup_err_ struct err *e = NULL;
    struct manifest m = {0};

    is_int(manifest_parse(docker_manifest, strlen(docker_manifest), NULL, &m, &e), 0,
           "docker manifest parses");
    is_int(m.kind, MANIFEST_KIND_IMAGE, "docker manifest is an image manifest");
    is_str(m.media_type, MEDIA_DOCKER_MANIFEST, "docker manifest media type");
    is_str(m.config.digest, D("c"), "docker manifest config digest");
    is_int(m.config.size, 1469, "docker manifest config size");
    is_int(m.n_layers, 2, "docker manifest layer count");
    is_str(m.layers[0].digest, D("1"), "docker manifest layer 0 digest");
    is_int(m.layers[1].size, 200, "docker manifest layer 1 size");
    is_str(m.layers[1].media_type, "application/vnd.docker.image.rootfs.diff.tar",
           "docker manifest layer 1 media type");
    manifest_done(&m);
}

static void test_oci_manifest_by_content_type(void)
{
    _cleanup_err_ struct err *e = NULL;
    struct manifest m = {0};

    is_int(manifest_parse(oci_manifest, strlen(oci_manifest), MEDIA_OCI_MANIFEST, &m, &e), 0,
           "oci manifest without mediaType parses");
    is_str(m.media_type, MEDIA_OCI_MANIFEST, "oci manifest media type from Content-Type");
    is_int(m.n_layers, 1, "oci manifest layer count");
    manifest_done(&m);
}

static void expect_error(const char *json, const char *content_type, int status,
                         const char *fragment, const char *what)
{
    _cleanup_err_ struct err *e = NULL;
    struct manifest m = {0};

    is_int(manifest_parse(json, strlen(json), content_type, &m, &e), -1, "%s: rejected", what);
    if (!e)
        return;
    is_int(err_grpc_status(e), status, "%s: status", what);
    if (!ok(strstr(e->msg, fragment) != NULL, "%s: message names '%s'", what, fragment))
        diag("message: %s", e->msg);
}

static void test_rejections(void)
{
    static const char schema1[] = "{\"schemaVersion\":1,\"name\":\"x\",\"fsLayers\":[]}";
    static const char unknown_layer[] =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D("c") "\",\"size\":1},"
        "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+encrypted\","
        "\"digest\":\"" D("1") "\",\"size\":1}]}";
    static const char bad_size[] =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"x\",\"digest\":\"" D("c") "\",\"size\":-1},\"layers\":[]}";
    static const char sha512[] =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
        "\"config\":{\"mediaType\":\"x\",\"digest\":\"sha512:00\",\"size\":1},\"layers\":[]}";

    expect_error(schema1, NULL, GRPC_STATUS_UNIMPLEMENTED, MEDIA_DOCKER_SCHEMA1,
                 "schema 1 by schemaVersion");
    expect_error("{\"schemaVersion\":1}", MEDIA_DOCKER_SCHEMA1_SIGNED, GRPC_STATUS_UNIMPLEMENTED,
                 MEDIA_DOCKER_SCHEMA1, "signed schema 1");
    expect_error("{\"schemaVersion\":2}", "application/vnd.example+json",
                 GRPC_STATUS_UNIMPLEMENTED, "application/vnd.example+json", "unknown media type");
    expect_error(unknown_layer, NULL, GRPC_STATUS_UNIMPLEMENTED, "tar+encrypted",
                 "encrypted layer");
    expect_error(bad_size, NULL, GRPC_STATUS_INVALID_ARGUMENT, "invalid size", "negative size");
    expect_error(sha512, NULL, GRPC_STATUS_UNIMPLEMENTED, "sha512:00", "sha512 digest");
    expect_error("[1]", NULL, GRPC_STATUS_INVALID_ARGUMENT, "not a JSON object", "array");
    expect_error("{\"a\":", NULL, GRPC_STATUS_INVALID_ARGUMENT, "invalid manifest JSON",
                 "truncated JSON");
    expect_error("{\"a\":1,\"a\":2}", NULL, GRPC_STATUS_INVALID_ARGUMENT, "invalid manifest JSON",
                 "duplicate key");
}

static void test_size_cap(void)
{
    _cleanup_err_ struct err *e = NULL;
    _cleanup_free_ char *big = malloc(MANIFEST_MAX_SIZE + 2);
    struct manifest m = {0};

    memset(big, ' ', MANIFEST_MAX_SIZE + 1);
    big[0] = '{';
    big[MANIFEST_MAX_SIZE] = '}';
    big[MANIFEST_MAX_SIZE + 1] = '\0';
    is_int(manifest_parse(big, MANIFEST_MAX_SIZE + 1, NULL, &m, &e), -1,
           "manifest one byte over the cap is rejected");
}

static void choose(const struct manifest *idx, const char *arch, const char *variant,
                   int expected)
{
    _cleanup_err_ struct err *e = NULL;
    struct platform want = {"linux", arch, variant};

    is_int(manifest_choose_platform(idx, &want, &e), expected, "choose linux/%s%s%s", arch,
           variant ? "/" : "", variant ? variant : "");
}

static void test_index(void)
{
    _cleanup_err_ struct err *e = NULL;
    struct manifest m = {0};
    struct platform host;
    _cleanup_free_ char *host_name = NULL;

    is_int(manifest_parse(oci_index, strlen(oci_index), NULL, &m, &e), 0, "oci index parses");
    is_int(m.kind, MANIFEST_KIND_INDEX, "oci index kind");
    is_int(m.n_manifests, 8, "oci index entries");
    is_str(m.manifests[4].variant, "v6", "index entry variant");
    is_str(m.manifests[7].os, NULL, "index entry without platform");

    choose(&m, "amd64", NULL, 3);
    choose(&m, "s390x", NULL, 0);
    choose(&m, "arm64", NULL, 6);
    choose(&m, "arm", "v7", 5);
    choose(&m, "arm", "v6", 4);
    choose(&m, "arm", "v5", -1);
    choose(&m, "ppc64le", NULL, -1);
    {
        struct platform want = {"linux", "riscv64", NULL};

        is_int(manifest_choose_platform(&m, &want, &e), -1, "no riscv64 entry");
        is_int(err_grpc_status(e), GRPC_STATUS_NOT_FOUND, "no riscv64 entry gives NOT_FOUND");
        ok(strstr(e->msg, "linux/riscv64") != NULL, "message names the platform: %s", e->msg);
    }

    platform_host(&host);
    host_name = platform_string(&host);
    diag("this machine is %s", host_name);
    is_str(host.os, "linux", "host os");
#if defined(__x86_64__)
    is_str(host_name, "linux/amd64", "host platform");
#elif defined(__aarch64__)
    is_str(host_name, "linux/arm64", "host platform");
#endif
    manifest_done(&m);
}

static void test_index_fallback(void)
{
    static const char only_386[] =
        "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\","
        "\"manifests\":[{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
        "\"digest\":\"" D("a") "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"386\"}},"
        "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","
        "\"digest\":\"" D("b") "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"arm\",\"variant\":\"v8\"}}]}";
    _cleanup_err_ struct err *e = NULL;
    struct manifest m = {0};

    is_int(manifest_parse(only_386, strlen(only_386), NULL, &m, &e), 0, "manifest list parses");
    is_str(m.media_type, MEDIA_DOCKER_LIST, "manifest list media type");
    choose(&m, "amd64", NULL, 0);
    choose(&m, "arm64", NULL, 1);
    manifest_done(&m);
}

static void test_config(void)
{
    _cleanup_err_ struct err *e = NULL;
    _cleanup_strv_free_ char **diff_ids = NULL;
    struct image_config c = {0};
    size_t n = 0;

    is_int(image_config_parse(config, strlen(config), &c, &diff_ids, &n, &e), 0, "config parses");
    is_int(n, 2, "config diff_id count");
    is_str(diff_ids[0], D("1"), "config diff_id 0");
    is_str(diff_ids[2], NULL, "config diff_ids NULL-terminated");
    is_str(c.entrypoint[0], "/bin/sh", "config entrypoint 0");
    is_str(c.entrypoint[1], "-c", "config entrypoint 1");
    ok(c.cmd == NULL, "config null Cmd is NULL");
    is_str(c.env[1], "A=b", "config env 1");
    is_str(c.working_dir, "/w", "config working dir");
    is_str(c.user, "1000:1000", "config user");
    is_str(c.stop_signal, "SIGQUIT", "config stop signal");
    image_config_done(&c);
}

static void test_config_rejections(void)
{
    static const char *const bad[] = {
        "{\"rootfs\":{\"type\":\"layers\"}}",
        "{\"rootfs\":{\"type\":\"other\",\"diff_ids\":[]}}",
        "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:00\"]}}",
        "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"Env\":[1]}}",
        "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"Cmd\":\"sh\"}}",
        "[]",
    };

    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        _cleanup_err_ struct err *e = NULL;
        _cleanup_strv_free_ char **diff_ids = NULL;
        struct image_config c = {0};
        size_t n = 0;

        is_int(image_config_parse(bad[i], strlen(bad[i]), &c, &diff_ids, &n, &e), -1,
               "config rejected: %s", bad[i]);
        is_int(err_grpc_status(e), GRPC_STATUS_INVALID_ARGUMENT, "config %zu: INVALID_ARGUMENT", i);
    }
}

int main(void)
{
    test_docker_manifest();
    test_oci_manifest_by_content_type();
    test_rejections();
    test_size_cap();
    test_index();
    test_index_fallback();
    test_config();
    test_config_rejections();
    return tap_done();
}
