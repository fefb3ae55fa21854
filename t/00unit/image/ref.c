/* Image reference parsing and normalization, as Docker's distribution/reference does it. */
#include "config.h"

#include <stdlib.h>

#include "image/image.h"
#include "util/cleanup.h"
#include "../tap.h"

#define D64 "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* A tag of 128 characters, the maximum, is valid. */
#define TAG128                                                                                     \
    "a"                                                                                            \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"       \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

struct valid_case {
    const char *input;
    const char *domain;
    const char *path;
    const char *tag;
    const char *digest;
    const char *string;
};

static const struct valid_case valid[] = {
    {"busybox", "docker.io", "library/busybox", "latest", NULL, "docker.io/library/busybox:latest"},
    {"busybox:1.36", "docker.io", "library/busybox", "1.36", NULL,
     "docker.io/library/busybox:1.36"},
    {"user/app", "docker.io", "user/app", "latest", NULL, "docker.io/user/app:latest"},
    {"docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
     "docker.io/library/busybox:latest"},
    {"index.docker.io/library/busybox:x", "docker.io", "library/busybox", "x", NULL,
     "docker.io/library/busybox:x"},
    {"docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", NULL,
     "docker.io/library/busybox:latest"},
    {"host:5000/a/b:tag", "host:5000", "a/b", "tag", NULL, "host:5000/a/b:tag"},
    {"127.0.0.1:5000/busybox", "127.0.0.1:5000", "busybox", "latest", NULL,
     "127.0.0.1:5000/busybox:latest"},
    {"localhost/x", "localhost", "x", "latest", NULL, "localhost/x:latest"},
    {"localhost:5000/x:v1", "localhost:5000", "x", "v1", NULL, "localhost:5000/x:v1"},
    {"registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", NULL,
     "registry.k8s.io/pause:3.9"},
    {"quay.io/a/b/c/d", "quay.io", "a/b/c/d", "latest", NULL, "quay.io/a/b/c/d:latest"},
    {"busybox@" D64, "docker.io", "library/busybox", NULL, D64, "docker.io/library/busybox@" D64},
    {"busybox:1@" D64, "docker.io", "library/busybox", "1", D64,
     "docker.io/library/busybox:1@" D64},
    {"a.b/c@" D64, "a.b", "c", NULL, D64, "a.b/c@" D64},
    {"my-app_x.y__z", "docker.io", "library/my-app_x.y__z", "latest", NULL,
     "docker.io/library/my-app_x.y__z:latest"},
    {"a---b", "docker.io", "library/a---b", "latest", NULL, "docker.io/library/a---b:latest"},
    {"x:_tag", "docker.io", "library/x", "_tag", NULL, "docker.io/library/x:_tag"},
    {"x:Tag.With-Caps_1", "docker.io", "library/x", "Tag.With-Caps_1", NULL,
     "docker.io/library/x:Tag.With-Caps_1"},
    {"Example.com/app", "Example.com", "app", "latest", NULL, "Example.com/app:latest"},
    {"[::1]:5000/app", "[::1]:5000", "app", "latest", NULL, "[::1]:5000/app:latest"},
    {"x:" TAG128, "docker.io", "library/x", TAG128, NULL, "docker.io/library/x:" TAG128},
    {"abcdef", "docker.io", "library/abcdef", "latest", NULL, "docker.io/library/abcdef:latest"},
};

static const char *const invalid[] = {
    "",
    "Busybox",
    "user/App",
    "docker.io/Library/busybox",
    "busybox:",
    "busybox:-tag",
    "busybox:.tag",
    "busybox:tag!",
    /* A tag of 129 characters, one beyond the maximum. */
    "busybox:aa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "busybox@sha256:abc",
    "busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
    "busybox@md5:0123456789abcdef0123456789abcdef",
    "busybox@",
    "a//b",
    "/busybox",
    "busybox/",
    "a/-b",
    "a/b_",
    "a/b..c",
    "a/b___c",
    "host:port/x",
    "host:/x",
    "-host.com/x",
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ":tag",
    "@" D64,
    "a b",
};

static void check_valid(const struct valid_case *c)
{
    _cleanup_err_ struct err *e = NULL;
    struct image_ref ref = {0};
    _cleanup_free_ char *s = NULL;
    _cleanup_free_ char *name = NULL;

    if (!ok(image_ref_parse(c->input, &ref, &e) == 0, "parse '%s'", c->input)) {
        diag("%s", e ? e->msg : "(no error)");
        return;
    }
    is_str(ref.domain, c->domain, "'%s' domain", c->input);
    is_str(ref.path, c->path, "'%s' path", c->input);
    is_str(ref.tag, c->tag, "'%s' tag", c->input);
    is_str(ref.digest, c->digest, "'%s' digest", c->input);
    s = image_ref_string(&ref);
    is_str(s, c->string, "'%s' normalized", c->input);
    name = image_ref_name(&ref);
    ok(strncmp(c->string, name, strlen(name)) == 0, "'%s' name '%s' prefixes the string", c->input,
       name);
    image_ref_done(&ref);
}

static void check_invalid(const char *input)
{
    _cleanup_err_ struct err *e = NULL;
    struct image_ref ref = {0};

    is_int(image_ref_parse(input, &ref, &e), -1, "reject '%.40s'", input);
    if (!e)
        return;
    is_int(err_grpc_status(e), GRPC_STATUS_INVALID_ARGUMENT, "'%.40s' gives INVALID_ARGUMENT",
           input);
    if (input[0] && strlen(input) < 100)
        ok(strstr(e->msg, input) != NULL, "message names '%s': %s", input, e->msg);
}

int main(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(valid); i++)
        check_valid(&valid[i]);
    for (size_t i = 0; i < ARRAY_SIZE(invalid); i++)
        check_invalid(invalid[i]);
    return tap_done();
}
