/*
 * pull-tool STORE_ROOT REF [--insecure HOST]... [--user USER:PASSWORD]
 *
 * Pull REF into the image store at STORE_ROOT on a real event loop and print
 * the resulting image as one JSON object (id, tags, digests, size, chain ids,
 * layer directories).  On failure print the error with its gRPC status on
 * stderr and exit 1.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "image/image.h"
#include "util/cleanup.h"
#include "util/fs.h"
#include "util/xalloc.h"

struct result {
    struct event_base *base;
    struct image_store *store;
    int status;
};

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();

    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static void on_pulled(void *data, struct image *img, const struct err *err)
{
    struct result *r = data;
    json_t *out;
    char **dirs;
    char *text;

    event_base_loopbreak(r->base);
    if (err) {
        char *msg = err_text(err);

        fprintf(stderr, "pull failed: %s: %s\n", grpc_status_name(err_grpc_status(err)), msg);
        free(msg);
        r->status = 1;
        return;
    }
    dirs = image_layer_dirs(r->store, img);
    out = json_object();
    json_object_set_new(out, "id", json_string(img->id));
    json_object_set_new(out, "repo_tags", strv_json(img->repo_tags));
    json_object_set_new(out, "repo_digests", strv_json(img->repo_digests));
    json_object_set_new(out, "manifest_digest", json_string(img->manifest_digest));
    json_object_set_new(out, "size", json_integer((json_int_t)img->size));
    json_object_set_new(out, "chain_ids", strv_json(img->chain_ids));
    json_object_set_new(out, "layer_dirs", strv_json(dirs));
    json_object_set_new(out, "cmd", strv_json(img->config.cmd));
    json_object_set_new(out, "env", strv_json(img->config.env));
    text = json_dumps(out, JSON_INDENT(2));
    printf("%s\n", text);
    free(text);
    json_decref(out);
    strv_free(dirs);
    r->status = 0;
}

int main(int argc, char **argv)
{
    _cleanup_err_ struct err *e = NULL;
    struct registry_options opts = {0};
    struct registry_auth auth = {0};
    struct result r = {0};
    char **insecure = xnew(char *, (size_t)argc);
    size_t n_insecure = 0;
    _cleanup_free_ char *user = NULL;

    if (argc < 3) {
        fprintf(stderr, "usage: %s STORE_ROOT REF [--insecure HOST]... [--user USER:PASSWORD]\n",
                argv[0]);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--insecure") == 0 && i + 1 < argc) {
            insecure[n_insecure++] = argv[++i];
        } else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc) {
            char *colon;

            user = xstrdup(argv[++i]);
            colon = strchr(user, ':');
            if (colon) {
                *colon = '\0';
                auth.password = colon + 1;
            }
            auth.username = user;
        } else {
            fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], argv[i]);
            return 2;
        }
    }
    opts.insecure_hosts = insecure;

    r.base = event_base_new();
    if (image_store_open(argv[1], &r.store, &e) < 0) {
        _cleanup_free_ char *msg = err_text(e);

        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    {
        /* crisp-unpack of the same build: CRISP_BUILDDIR, else two levels above this tool. */
        const char *builddir = getenv("CRISP_BUILDDIR");
        _cleanup_free_ char *helper = builddir ? path_join(builddir, "crisp-unpack") : NULL;

        if (!helper) {
            _cleanup_free_ char *self = xstrdup(argv[0]);
            char *slash = strrchr(self, '/');

            if (slash)
                *slash = '\0';
            helper = xasprintf("%s/../../crisp-unpack", slash ? self : ".");
        }
        image_store_set_helper(r.store, r.base, helper);
    }
    if (!image_pull_start(r.store, r.base, &opts, argv[2], &auth, on_pulled, &r, &e)) {
        _cleanup_free_ char *msg = err_text(e);

        fprintf(stderr, "pull failed: %s: %s\n", grpc_status_name(err_grpc_status(e)), msg);
        return 1;
    }
    r.status = 1;
    event_base_dispatch(r.base);
    image_store_free(r.store);
    event_base_free(r.base);
    free(insecure);
    return r.status;
}
