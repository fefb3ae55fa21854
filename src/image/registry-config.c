/* The "registries" object of crispd's configuration file. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "image/image.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

/* Hosts and mirrors are peer-independent but still bounded, like every list we read. */
#define REGISTRY_HOSTS_MAX 1024
#define REGISTRY_MIRRORS_MAX 64

static void free_secret(const char *s)
{
    if (s) {
        explicit_bzero((char *)s, strlen(s));
        free((char *)s);
    }
}

void registry_hosts_free(struct registry_host *hosts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct registry_host *h = &hosts[i];

        free((char *)h->host);
        free((char *)h->ca_file);
        for (size_t m = 0; h->mirrors && h->mirrors[m]; m++)
            free((char *)h->mirrors[m]);
        free((void *)h->mirrors);
        free((char *)h->auth.username);
        free_secret(h->auth.password);
        free_secret(h->auth.auth);
        free_secret(h->auth.identity_token);
        free_secret(h->auth.registry_token);
    }
    free(hosts);
}

/* Copy the string member key of o into *ret; a missing member leaves it NULL. */
static int get_string(json_t *o, const char *key, const char *host, const char *where,
                      const char **ret, struct err **err)
{
    json_t *v = json_object_get(o, key);

    if (!v)
        return 0;
    if (!json_is_string(v))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "registries.\"%s\"%s.%s: expected a string", host, where, key);
    *ret = xstrdup(json_string_value(v));
    return 0;
}

static int parse_auth(json_t *o, const char *host, struct registry_auth *ret, struct err **err)
{
    static const char *const keys[] = {"username", "password", "auth", "identity_token",
                                       "registry_token"};
    const char **fields[] = {&ret->username, &ret->password, &ret->auth, &ret->identity_token,
                             &ret->registry_token};
    const char *key;
    json_t *v;

    if (!json_is_object(o))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "registries.\"%s\".auth: expected an object", host);
    json_object_foreach(o, key, v) {
        bool known = false;

        for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
            known = known || strcmp(key, keys[i]) == 0;
        if (!known)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "registries.\"%s\".auth: unknown key '%s'", host, key);
    }
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (get_string(o, keys[i], host, ".auth", fields[i], err) < 0)
            return -1;
    }
    return 0;
}

static int parse_mirrors(json_t *list, const char *host, struct registry_host *h,
                         struct err **err)
{
    const char **mirrors;
    size_t i;
    json_t *item;

    if (!json_is_array(list))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "registries.\"%s\".mirrors: expected an array of strings", host);
    if (json_array_size(list) > REGISTRY_MIRRORS_MAX)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "registries.\"%s\".mirrors: more than %d mirrors", host,
                          REGISTRY_MIRRORS_MAX);
    mirrors = xnew(const char *, json_array_size(list) + 1);
    h->mirrors = mirrors;
    json_array_foreach(list, i, item) {
        const char *m = json_string_value(item);
        const char *rest;

        if (!m || !m[0])
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "registries.\"%s\".mirrors[%zu]: expected a non-empty string", host,
                              i);
        rest = strstr(m, "://");
        rest = rest ? rest + 3 : m;
        if (strncmp(m, "http://", 7) != 0 && strncmp(m, "https://", 8) != 0 && rest != m)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "registries.\"%s\".mirrors[%zu]: the scheme must be http or https",
                              host, i);
        if (memchr(rest, '@', strcspn(rest, "/")))
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "registries.\"%s\".mirrors[%zu]: user info is not allowed in a "
                              "mirror; give credentials in the mirror host's own \"auth\"",
                              host, i);
        if (rest[0] == '\0' || rest[0] == '/')
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "registries.\"%s\".mirrors[%zu]: the host is missing", host, i);
        mirrors[i] = xstrdup(m);
    }
    return 0;
}

static int parse_host(const char *host, json_t *o, struct registry_host *h, struct err **err)
{
    const char *key;
    json_t *v;

    h->host = xstrdup(host);
    if (!host[0])
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "registries: empty host name");
    if (!json_is_object(o))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "registries.\"%s\": expected an object", host);
    json_object_foreach(o, key, v) {
        if (strcmp(key, "insecure") == 0) {
            if (!json_is_boolean(v))
                return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                                  "registries.\"%s\".insecure: expected true or false", host);
            h->insecure = json_is_true(v);
        } else if (strcmp(key, "ca_file") == 0) {
            if (get_string(o, key, host, "", &h->ca_file, err) < 0)
                return -1;
            if (access(h->ca_file, R_OK) < 0)
                return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                                  "registries.\"%s\".ca_file '%s': %s", host, h->ca_file,
                                  strerror(errno));
        } else if (strcmp(key, "mirrors") == 0) {
            if (parse_mirrors(v, host, h, err) < 0)
                return -1;
        } else if (strcmp(key, "auth") == 0) {
            if (parse_auth(v, host, &h->auth, err) < 0)
                return -1;
        } else {
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "registries.\"%s\": unknown key '%s' (expected insecure, ca_file, "
                              "mirrors or auth)",
                              host, key);
        }
    }
    return 0;
}

int registry_hosts_parse(const struct json_t *registries, struct registry_host **ret_hosts,
                         size_t *ret_n, struct err **err)
{
    json_t *o = (json_t *)registries;
    struct registry_host *hosts;
    size_t n = 0;
    const char *host;
    json_t *v;

    if (!json_is_object(o))
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "registries: expected an object keyed by host");
    if (json_object_size(o) > REGISTRY_HOSTS_MAX)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "registries: more than %d hosts",
                          REGISTRY_HOSTS_MAX);
    hosts = xnew(struct registry_host, json_object_size(o) + 1);
    json_object_foreach(o, host, v) {
        if (parse_host(host, v, &hosts[n++], err) < 0) {
            registry_hosts_free(hosts, n);
            return -1;
        }
    }
    *ret_hosts = hosts;
    *ret_n = n;
    return 0;
}
