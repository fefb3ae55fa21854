#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "handlers/rpc.h"
#include "image/image.h"
#include "reactor/grpc.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* ---- PullImage ---- */

static void on_pulled(void *data, struct image *img, const struct err *err)
{
    struct rpc *rpc = data;
    Runtime__V1__PullImageResponse resp = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;

    rpc->op = NULL;
    if (err)
        return rpc_fail(rpc, err);
    log_emit(LOG_LEVEL_INFO, NULL, &rpc->ids, "image pulled as %s", img->id);
    /* runtime.v1: image_ref is the same value as Image.id. */
    resp.image_ref = img->id;
    rpc_reply(rpc, &resp.base);
}

static void on_pull_cancelled(void *data)
{
    struct rpc *rpc = data;

    image_pull_cancel(rpc->op);
    rpc->op = NULL;
    rpc_failf(rpc, GRPC_STATUS_CANCELLED, "pull of '%s' cancelled by the client", rpc->ids.image);
}

void rpc_pull_image(struct rpc *rpc)
{
    Runtime__V1__PullImageRequest *req = (Runtime__V1__PullImageRequest *)rpc->req;
    struct crisp *crisp = rpc->crisp;
    struct registry_options opts = {
        .insecure_hosts = crisp->config->insecure_registries,
        .hosts = crisp->config->registry_hosts,
        .n_hosts = crisp->config->n_registry_hosts,
        .progress_timeout_s = crisp->config->image_pull_progress_timeout_s,
        .max_concurrent_downloads = crisp->config->max_concurrent_downloads,
    };
    struct registry_auth auth = {0};
    _cleanup_err_ struct err *e = NULL;

    if (!req->image || !req->image->image[0])
        return rpc_failf(rpc, GRPC_STATUS_INVALID_ARGUMENT, "image.image is empty");
    rpc->ids.image = req->image->image;

    if (req->auth) {
        auth.username = req->auth->username;
        auth.password = req->auth->password;
        auth.auth = req->auth->auth;
        auth.identity_token = req->auth->identity_token;
        auth.registry_token = req->auth->registry_token;
    }
    rpc->op = image_pull_start(crisp->images, crisp->base, &opts, req->image->image, &auth,
                               on_pulled, rpc, &e);
    if (!rpc->op)
        return rpc_fail(rpc, e);

    /* A client that gives up (deadline, cancel, hang-up) takes the pull down with it. */
    grpc_call_on_cancel(rpc->call, on_pull_cancelled, rpc);
}

/* ---- ListImages, ImageStatus, RemoveImage ---- */

static size_t strv_len(char **v)
{
    size_t n = 0;

    while (v && v[n])
        n++;
    return n;
}

/* Fill out from img; uid and spec are storage the caller provides. */
static void image_to_cri(const struct image *img, Runtime__V1__Image *out,
                         Runtime__V1__Int64Value *uid, Runtime__V1__ImageSpec *spec)
{
    const char *user = img->config.user ? img->config.user : "";
    _cleanup_free_ char *name = xstrndup(user, strcspn(user, ":"));
    char *end;
    long v;

    runtime__v1__image__init(out);
    runtime__v1__int64_value__init(uid);
    runtime__v1__image_spec__init(spec);
    out->id = img->id;
    out->n_repo_tags = strv_len(img->repo_tags);
    out->repo_tags = img->repo_tags;
    out->n_repo_digests = strv_len(img->repo_digests);
    out->repo_digests = img->repo_digests;
    out->size = img->size;
    spec->image = img->id;
    out->spec = spec;

    /* The config's User: a number goes to uid, a name to username, unset means uid 0. */
    v = strtol(name, &end, 10);
    if (!name[0] || (*end == '\0' && v >= 0)) {
        uid->value = name[0] ? v : 0;
        out->uid = uid;
    } else {
        out->username = TAKE_PTR(name);
    }
}

static void image_cri_done(Runtime__V1__Image *out)
{
    if (out->username != protobuf_c_empty_string)
        free(out->username);
}

void rpc_list_images(struct rpc *rpc)
{
    Runtime__V1__ListImagesRequest *req = (Runtime__V1__ListImagesRequest *)rpc->req;
    Runtime__V1__ListImagesResponse resp = RUNTIME__V1__LIST_IMAGES_RESPONSE__INIT;
    _cleanup_free_ Runtime__V1__Image *items = NULL;
    _cleanup_free_ Runtime__V1__Image **ptrs = NULL;
    _cleanup_free_ Runtime__V1__Int64Value *uids = NULL;
    _cleanup_free_ Runtime__V1__ImageSpec *specs = NULL;
    struct image *const *all;
    struct image *only = NULL;
    size_t n, k = 0;

    if (req->filter && req->filter->image && req->filter->image->image[0]) {
        only = image_store_find(rpc->crisp->images, req->filter->image->image, NULL);
        if (!only) {
            rpc_reply(rpc, &resp.base);
            return;
        }
    }

    all = image_store_list(rpc->crisp->images, &n);
    items = xnew(Runtime__V1__Image, n);
    ptrs = xnew(Runtime__V1__Image *, n);
    uids = xnew(Runtime__V1__Int64Value, n);
    specs = xnew(Runtime__V1__ImageSpec, n);
    for (size_t i = 0; i < n; i++) {
        if (only && all[i] != only)
            continue;
        image_to_cri(all[i], &items[k], &uids[k], &specs[k]);
        ptrs[k] = &items[k];
        k++;
    }
    resp.n_images = k;
    resp.images = ptrs;
    rpc_reply(rpc, &resp.base);
    for (size_t i = 0; i < k; i++)
        image_cri_done(&items[i]);
}

void rpc_image_status(struct rpc *rpc)
{
    Runtime__V1__ImageStatusRequest *req = (Runtime__V1__ImageStatusRequest *)rpc->req;
    Runtime__V1__ImageStatusResponse resp = RUNTIME__V1__IMAGE_STATUS_RESPONSE__INIT;
    Runtime__V1__ImageStatusResponse__InfoEntry info =
        RUNTIME__V1__IMAGE_STATUS_RESPONSE__INFO_ENTRY__INIT;
    Runtime__V1__ImageStatusResponse__InfoEntry *infos[] = {&info};
    Runtime__V1__Image image;
    Runtime__V1__Int64Value uid;
    Runtime__V1__ImageSpec spec;
    _cleanup_err_ struct err *e = NULL;
    _cleanup_free_ char *info_json = NULL;
    struct image *img;

    if (!req->image || !req->image->image[0])
        return rpc_failf(rpc, GRPC_STATUS_INVALID_ARGUMENT, "image.image is empty");
    rpc->ids.image = req->image->image;

    img = image_store_find(rpc->crisp->images, req->image->image, &e);
    if (e)
        return rpc_fail(rpc, e);
    if (!img) /* an unknown image is an empty response, not an error */
        return rpc_reply(rpc, &resp.base);

    image_to_cri(img, &image, &uid, &spec);
    resp.image = &image;
    if (req->verbose) {
        json_t *o = json_object();
        json_t *config = json_loads(img->config_json ? img->config_json : "{}", 0, NULL);

        json_object_set_new(o, "imageSpec", config ? config : json_object());
        json_object_set_new(o, "manifestDigest", json_string(img->manifest_digest));
        info_json = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(o);
        info.key = (char *)"info";
        info.value = info_json;
        resp.n_info = 1;
        resp.info = infos;
    }
    rpc_reply(rpc, &resp.base);
    image_cri_done(&image);
}

void rpc_remove_image(struct rpc *rpc)
{
    Runtime__V1__RemoveImageRequest *req = (Runtime__V1__RemoveImageRequest *)rpc->req;
    Runtime__V1__RemoveImageResponse resp = RUNTIME__V1__REMOVE_IMAGE_RESPONSE__INIT;
    _cleanup_err_ struct err *e = NULL;
    struct image *img;

    if (!req->image || !req->image->image[0])
        return rpc_failf(rpc, GRPC_STATUS_INVALID_ARGUMENT, "image.image is empty");
    rpc->ids.image = req->image->image;

    img = image_store_find(rpc->crisp->images, req->image->image, &e);
    if (e)
        return rpc_fail(rpc, e);
    if (!img) /* already removed: RemoveImage is idempotent */
        return rpc_reply(rpc, &resp.base);

    /* As in containerd, an image in use goes: its containers hold its layers until removed. */
    if (image_store_remove(rpc->crisp->images, img, &e) < 0)
        return rpc_fail(rpc, e);
    log_emit(LOG_LEVEL_INFO, NULL, &rpc->ids, "image removed");
    rpc_reply(rpc, &resp.base);
}
