/*
 * Image references, with the grammar and normalization of Docker's
 * distribution/reference package, which containerd uses too.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "image/internal.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DEFAULT_DOMAIN "index.docker.io"
#define OFFICIAL_REPO_PREFIX "library/"
#define DEFAULT_TAG "latest"
/* distribution/reference: NameTotalLengthMax. */
#define NAME_MAX_LEN 255
#define TAG_MAX_LEN 128

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* tag := [\w][\w.-]{0,127} */
static bool tag_is_valid(const char *s)
{
    size_t len = strlen(s);

    if (len == 0 || len > TAG_MAX_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];

        if (is_alnum(c) || c == '_')
            continue;
        if (i > 0 && (c == '.' || c == '-'))
            continue;
        return false;
    }
    return true;
}

/*
 * path-component := [a-z0-9]+ (separator [a-z0-9]+)*
 * separator := [_.] | __ | [-]+
 */
static bool path_component_is_valid(const char *s, size_t len)
{
    size_t i = 0;

    if (len == 0 || !is_lower_alnum(s[0]))
        return false;
    while (i < len) {
        size_t sep = 0;

        while (i < len && is_lower_alnum(s[i]))
            i++;
        if (i == len)
            return true;
        if (s[i] == '.') {
            sep = 1;
        } else if (s[i] == '_') {
            sep = (i + 1 < len && s[i + 1] == '_') ? 2 : 1;
        } else if (s[i] == '-') {
            while (i + sep < len && s[i + sep] == '-')
                sep++;
        } else {
            return false;
        }
        i += sep;
        if (i == len || !is_lower_alnum(s[i]))
            return false;
    }
    return true;
}

/*
 * domain := host (":" port)?, host := label ("." label)* where a label is
 * [a-zA-Z0-9] or [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]; or an IPv6 address in
 * brackets.
 */
static bool domain_is_valid(const char *s)
{
    const char *colon;
    const char *end;

    if (s[0] == '[') {
        end = strchr(s, ']');
        if (!end || end == s + 1)
            return false;
        for (const char *p = s + 1; p < end; p++) {
            if (!is_hex_lower(*p) && !(*p >= 'A' && *p <= 'F') && *p != ':')
                return false;
        }
        colon = end + 1;
        if (*colon == '\0')
            return true;
        if (*colon != ':')
            return false;
    } else {
        colon = strchr(s, ':');
        end = colon ? colon : s + strlen(s);
        for (const char *label = s; label <= end;) {
            const char *dot = memchr(label, '.', (size_t)(end - label));
            const char *lend = dot ? dot : end;

            if (lend == label || !is_alnum(label[0]) || !is_alnum(lend[-1]))
                return false;
            for (const char *p = label; p < lend; p++) {
                if (!is_alnum(*p) && *p != '-')
                    return false;
            }
            if (!dot)
                break;
            label = dot + 1;
        }
        if (!colon)
            return true;
    }
    if (colon[1] == '\0')
        return false;
    for (const char *p = colon + 1; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
    }
    return true;
}

static int invalid(struct err **err, const char *s, const char *why)
{
    return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "invalid image reference '%s': %s", s,
                      why);
}

/* Split "remainder" (no digest) into name and optional tag: the tag follows the last ':' after the last '/'. */
static char *split_tag(char *remainder)
{
    char *slash = strrchr(remainder, '/');
    char *colon = strrchr(slash ? slash : remainder, ':');

    if (!colon)
        return NULL;
    *colon = '\0';
    return colon + 1;
}

/* Split name into domain and path as Docker's splitDockerDomain does. */
static void split_domain(const char *name, char **ret_domain, char **ret_path)
{
    const char *slash = strchr(name, '/');
    _cleanup_free_ char *first = NULL;
    bool is_domain = false;

    if (slash) {
        first = xstrndup(name, (size_t)(slash - name));
        is_domain = strpbrk(first, ".:") || strcmp(first, "localhost") == 0;
        for (const char *p = first; *p && !is_domain; p++) {
            if (*p >= 'A' && *p <= 'Z')
                is_domain = true;
        }
    }
    if (!is_domain) {
        *ret_domain = xstrdup(DEFAULT_DOMAIN);
        *ret_path = xstrdup(name);
    } else {
        *ret_domain = TAKE_PTR(first);
        *ret_path = xstrdup(slash + 1);
    }
    if (strcmp(*ret_domain, LEGACY_DEFAULT_DOMAIN) == 0) {
        free(*ret_domain);
        *ret_domain = xstrdup(DEFAULT_DOMAIN);
    }
    if (strcmp(*ret_domain, DEFAULT_DOMAIN) == 0 && !strchr(*ret_path, '/')) {
        char *official = xasprintf(OFFICIAL_REPO_PREFIX "%s", *ret_path);

        free(*ret_path);
        *ret_path = official;
    }
}

static int check_path(const char *s, const char *path, struct err **err)
{
    for (const char *p = path; *p; p++) {
        if (*p >= 'A' && *p <= 'Z')
            return invalid(err, s, "repository name must be lowercase");
    }
    for (const char *c = path;;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t)(slash - c) : strlen(c);

        if (!path_component_is_valid(c, len))
            return invalid(err, s, "invalid repository name component");
        if (!slash)
            return 0;
        c = slash + 1;
    }
}

static bool is_identifier(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (const char *p = s; *p; p++) {
        if (!is_hex_lower(*p))
            return false;
    }
    return true;
}

int image_ref_parse(const char *s, struct image_ref *ret, struct err **err)
{
    _cleanup_free_ char *copy = NULL;
    _cleanup_free_ char *domain = NULL;
    _cleanup_free_ char *path = NULL;
    char *at, *tag, *digest = NULL;

    if (!s || s[0] == '\0')
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "invalid image reference '': empty");
    if (strlen(s) > 4096)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "invalid image reference: longer than 4096 bytes");
    /* Docker refuses a bare image id as a name, so it cannot shadow an id. */
    if (is_identifier(s))
        return invalid(err, s, "a 64-character hexadecimal string is an image id, not a name");

    copy = xstrdup(s);
    at = strchr(copy, '@');
    if (at) {
        *at = '\0';
        digest = at + 1;
        if (!digest_is_valid(digest))
            return invalid(err, s, "invalid digest: expected sha256: and 64 lowercase hex digits");
    }
    tag = split_tag(copy);
    if (tag && !tag_is_valid(tag))
        return invalid(err, s, "invalid tag");
    if (copy[0] == '\0')
        return invalid(err, s, "empty repository name");
    if (strlen(copy) > NAME_MAX_LEN)
        return invalid(err, s, "repository name longer than 255 characters");

    split_domain(copy, &domain, &path);
    if (!domain_is_valid(domain))
        return invalid(err, s, "invalid registry domain");
    if (check_path(s, path, err) < 0)
        return -1;
    if (strlen(domain) + 1 + strlen(path) > NAME_MAX_LEN)
        return invalid(err, s, "repository name longer than 255 characters");

    ret->domain = TAKE_PTR(domain);
    ret->path = TAKE_PTR(path);
    ret->tag = tag ? xstrdup(tag) : (digest ? NULL : xstrdup(DEFAULT_TAG));
    ret->digest = digest ? xstrdup(digest) : NULL;
    return 0;
}

void image_ref_done(struct image_ref *r)
{
    free(r->domain);
    free(r->path);
    free(r->tag);
    free(r->digest);
    r->domain = r->path = r->tag = r->digest = NULL;
}

char *image_ref_name(const struct image_ref *r)
{
    return xasprintf("%s/%s", r->domain, r->path);
}

char *image_ref_string(const struct image_ref *r)
{
    return xasprintf("%s/%s%s%s%s%s", r->domain, r->path, r->tag ? ":" : "", r->tag ? r->tag : "",
                     r->digest ? "@" : "", r->digest ? r->digest : "");
}
