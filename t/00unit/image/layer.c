/* Digests, chain ids, tar entry names, whiteout names and WWW-Authenticate challenges. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "image/internal.h"
#include "util/cleanup.h"
#include "../tap.h"

/* Values from: printf a | sha256sum, and so on, in a shell. */
#define SHA_A "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define SHA_B "sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define SHA_C "sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
/* printf '%s %s' SHA_A SHA_B | sha256sum */
#define CHAIN_AB "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676"
/* printf '%s %s' CHAIN_AB SHA_C | sha256sum */
#define CHAIN_ABC "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106"

static void test_digests(void)
{
    _cleanup_free_ char *a = digest_compute("a", 1);
    char a_id[] = SHA_A, b_id[] = SHA_B, c_id[] = SHA_C;
    char *diff_ids[] = {a_id, b_id, c_id, NULL};
    _cleanup_strv_free_ char **chain = chain_ids_compute(diff_ids, 3);
    _cleanup_strv_free_ char **none = chain_ids_compute(diff_ids, 0);

    is_str(a, SHA_A, "sha256 of 'a'");
    ok(digest_is_valid(SHA_A), "valid digest");
    ok(!digest_is_valid("sha256:CA978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"),
       "uppercase hex is not a valid digest");
    ok(!digest_is_valid("sha256:ca97"), "short digest is not valid");
    ok(!digest_is_valid("sha512:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"),
       "other algorithm is not valid");
    is_str(chain[0], SHA_A, "chain id 0 is the first diff_id");
    is_str(chain[1], CHAIN_AB, "chain id 1");
    is_str(chain[2], CHAIN_ABC, "chain id 2");
    is_str(chain[3], NULL, "chain ids NULL-terminated");
    is_str(none[0], NULL, "no layers give no chain ids");
}

struct path_case {
    const char *name;
    const char *clean; /* NULL: rejected */
};

static const struct path_case path_cases[] = {
    {"bin/sh", "bin/sh"},
    {"./bin/sh", "bin/sh"},
    {"/bin/sh", "bin/sh"},
    {"//bin//sh/", "bin/sh"},
    {"bin/./sh", "bin/sh"},
    {"./", ""},
    {"/", ""},
    {".", ""},
    {"..", NULL},
    {"../etc/passwd", NULL},
    {"bin/../../etc", NULL},
    {"/../etc", NULL},
    {"a/..", NULL},
    {"", NULL},
    {"...", "..."},
    {"..a/b..", "..a/b.."},
    {".wh.x", ".wh.x"},
};

static void test_tar_paths(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(path_cases); i++) {
        const struct path_case *c = &path_cases[i];
        _cleanup_err_ struct err *e = NULL;
        _cleanup_free_ char *clean = NULL;
        int r = tar_path_clean(c->name, &clean, &e);

        if (c->clean) {
            is_int(r, 0, "entry '%s' accepted", c->name);
            is_str(clean, c->clean, "entry '%s' cleaned", c->name);
        } else {
            is_int(r, -1, "entry '%s' rejected", c->name);
            is_int(err_grpc_status(e), GRPC_STATUS_INVALID_ARGUMENT, "entry '%s': INVALID_ARGUMENT",
                   c->name);
            if (c->name[0])
                ok(e && strstr(e->msg, c->name), "message names entry '%s'", c->name);
        }
    }
}

struct whiteout_case {
    const char *path;
    enum whiteout_kind kind;
    const char *dir;
    const char *name;
};

static const struct whiteout_case whiteout_cases[] = {
    {"etc/passwd", WHITEOUT_NONE, NULL, NULL},
    {"etc/.wh.passwd", WHITEOUT_FILE, "etc", "passwd"},
    {".wh.bin", WHITEOUT_FILE, "", "bin"},
    {"a/b/.wh..hidden", WHITEOUT_FILE, "a/b", ".hidden"},
    {"opq/.wh..wh..opq", WHITEOUT_OPAQUE, "opq", NULL},
    {".wh..wh..opq", WHITEOUT_OPAQUE, "", NULL},
    {"x/.wh..wh.plnk", WHITEOUT_META, NULL, NULL},
    {"x/.wh..wh.aufs", WHITEOUT_META, NULL, NULL},
    {"x/.wh.", WHITEOUT_META, NULL, NULL},
    {"x/.wh..", WHITEOUT_META, NULL, NULL},
    {"x/.wh...", WHITEOUT_META, NULL, NULL},
    {".wh.x/file", WHITEOUT_NONE, NULL, NULL},
    {"x/a.wh.b", WHITEOUT_NONE, NULL, NULL},
};

static void test_whiteouts(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(whiteout_cases); i++) {
        const struct whiteout_case *c = &whiteout_cases[i];
        _cleanup_free_ char *dir = NULL;
        _cleanup_free_ char *name = NULL;

        is_int(whiteout_parse(c->path, &dir, &name), c->kind, "'%s' kind", c->path);
        is_str(dir, c->dir, "'%s' directory", c->path);
        is_str(name, c->name, "'%s' deleted name", c->path);
    }
}

static void test_challenges(void)
{
    struct {
        const char *header;
        const char *scheme, *realm, *service, *scope;
    } cases[] = {
        {"Bearer realm=\"https://auth.docker.io/token\",service=\"registry.docker.io\","
         "scope=\"repository:library/busybox:pull\"",
         "bearer", "https://auth.docker.io/token", "registry.docker.io",
         "repository:library/busybox:pull"},
        {"Basic realm=\"Registry Realm\"", "basic", "Registry Realm", NULL, NULL},
        {"bearer  realm = \"http://127.0.0.1:1/t\" , service=svc", "bearer", "http://127.0.0.1:1/t",
         "svc", NULL},
        {"Bearer realm=\"a\\\"b\"", "bearer", "a\"b", NULL, NULL},
        {"Bearer", "bearer", NULL, NULL, NULL},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_err_ struct err *e = NULL;
        struct auth_challenge c = {0};

        is_int(auth_challenge_parse(cases[i].header, &c, &e), 0, "challenge %zu parses", i);
        is_str(c.scheme, cases[i].scheme, "challenge %zu scheme", i);
        is_str(c.realm, cases[i].realm, "challenge %zu realm", i);
        is_str(c.service, cases[i].service, "challenge %zu service", i);
        is_str(c.scope, cases[i].scope, "challenge %zu scope", i);
        auth_challenge_done(&c);
    }
    {
        _cleanup_err_ struct err *e = NULL;
        struct auth_challenge c = {0};

        is_int(auth_challenge_parse("  ", &c, &e), -1, "empty challenge is rejected");
    }
}

static void test_content_ranges(void)
{
    static const struct {
        const char *value;
        int r;
        uint64_t first;
    } cases[] = {
        {"bytes 515725-1031449/1031450", 0, 515725},
        {"bytes 0-0/1", 0, 0},
        {"bytes 42-99/*", 0, 42},
        {"bytes 18446744073709551-18446744073709552/18446744073709553", 0, 18446744073709551ULL},
        {"bytes 10-9/100", -1, 0},
        {"bytes 10-100/100", -1, 0},
        {"bytes 10-20/100 ", -1, 0},
        {"bytes -20/100", -1, 0},
        {"bytes */100", -1, 0},
        {"items 0-1/2", -1, 0},
        {"bytes 12345678901234567890-12345678901234567891/*", -1, 0},
        {"bytes 1-2", -1, 0},
        {"", -1, 0},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t first = 0;

        is_int(content_range_start(cases[i].value, &first), cases[i].r, "Content-Range '%s'",
               cases[i].value);
        if (cases[i].r == 0)
            ok(first == cases[i].first, "Content-Range '%s' starts at %llu", cases[i].value,
               (unsigned long long)cases[i].first);
    }
}

int main(void)
{
    test_digests();
    test_tar_paths();
    test_whiteouts();
    test_challenges();
    test_content_ranges();
    return tap_done();
}
