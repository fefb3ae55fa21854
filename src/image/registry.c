/*
 * A registry client (OCI distribution-spec v1.1, Docker Registry HTTP API
 * v2) on libcurl's multi-socket interface, driven by the libevent base.
 * Authentication follows the Docker Registry token protocol: a 401 with a
 * Bearer challenge sends us to the realm for a token, then the request is
 * repeated with it.
 *
 * A repository is reached through endpoints: the configured mirrors in
 * order, then the registry host itself.  A request that fails on one
 * endpoint moves to the next, as containerd's resolver and fetcher do.  A
 * pass over the endpoints that met a connection error or a 5xx is
 * repeated with exponential backoff.  A blob download that breaks off
 * resumes with a Range request where it stopped.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "image/internal.h"
#include "util/cleanup.h"
#include "util/id.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#define DOCKER_HUB_DOMAIN "docker.io"
#define DOCKER_HUB_HOST "registry-1.docker.io"
#define USER_AGENT "crisp/" PACKAGE_VERSION
/* Error bodies and token responses are small; anything longer is cut off or rejected. */
#define ERROR_BODY_MAX (64 * 1024)
#define TOKEN_BODY_MAX (1024 * 1024)
#define CONNECT_TIMEOUT_S 30L
#define MAX_REDIRECTS 10L
/* Repeats of a pass over the endpoints after a connection error or a 5xx: 0.5 s, 1 s, 2 s apart. */
#define RETRY_MAX 3u
#define RETRY_BASE_DELAY_MS 500L

static const char manifest_accept[] =
    "Accept: " MEDIA_OCI_INDEX ", " MEDIA_OCI_MANIFEST ", " MEDIA_DOCKER_LIST
    ", " MEDIA_DOCKER_MANIFEST;

enum auth_scheme {
    AUTH_NONE,
    AUTH_BASIC,
    AUTH_BEARER,
};

struct socket_watch {
    struct event *ev;
    struct socket_watch *prev, *next;
};

/* One place the repository is served from: a mirror or the registry host. */
struct endpoint {
    char *host;     /* "host[:port]", the key of its configuration entry */
    char *base_url; /* "<scheme>://host[:port][/prefix]/v2/<path>" */
    char *ca_file;
    bool insecure;  /* no TLS certificate checks */
    /* An insecure https endpoint switches to plain HTTP when the TLS handshake fails. */
    bool may_use_http;
    bool down;      /* a connection failed: later fetches start past it */

    char *username;
    char *password;
    char *identity_token;
    char *registry_token;

    enum auth_scheme scheme;
    char *token;
    unsigned token_generation;
};

struct registry {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct socket_watch *sockets;
    struct registry_fetch *fetches;
    char *path;
    struct endpoint *endpoints; /* mirrors in order, then the registry host */
    size_t n_endpoints;
    long progress_timeout_s;
};

enum fetch_kind {
    FETCH_MANIFEST,
    FETCH_BLOB,
    FETCH_TOKEN,
};

struct registry_fetch {
    struct registry *r;
    struct registry_fetch *prev, *next;
    enum fetch_kind kind;
    CURL *easy;
    struct curl_slist *headers;
    char *rel_path; /* "manifests/<reference>" or "blobs/<digest>"; NULL for tokens */
    char *url;
    char *post_body;
    char error_text[CURL_ERROR_SIZE];

    size_t endpoint; /* index into r->endpoints */
    unsigned attempts; /* passes over the endpoints repeated so far */
    bool pass_retryable; /* an attempt of this pass failed on the connection or with a 5xx */
    struct event *retry_timer;
    struct err *first_err; /* the first endpoint's error, reported if all fail */

    char *expected_digest; /* NULL for a manifest by tag and for tokens */
    uint64_t expected_size;
    bool size_known;
    size_t max_body;

    /*
     * A blob streamed into a non-blocking pipe (fd >= 0).  delivered
     * counts the bytes written to the pipe or spill, across attempts.  A
     * retry requests the rest with a Range header, and skips the bytes
     * already delivered when the server responds with the whole blob.
     * Bytes the pipe had no room for wait in spill, and the transfer
     * pauses until they are written.
     */
    int fd;
    uint64_t delivered;
    bool range_sent;
    uint64_t range_start; /* from a 206 response's Content-Range */
    char *spill;
    size_t spill_len, spill_off, spill_cap;
    struct event *pipe_ev;
    bool paused;
    bool finish_pending; /* the transfer ended; spill must drain before the callback */

    struct strbuf body;
    struct strbuf error_body;
    EVP_MD_CTX *sha;
    uint64_t received;
    struct err *write_err;
    struct err *range_err; /* a 206 response at the wrong offset, retried */

    char *content_type;
    char *www_authenticate;
    char *header_digest;
    char *digest;

    bool auth_retried;
    unsigned sent_generation;
    struct registry_fetch *parent; /* for a token fetch: the request it authorizes */
    struct registry_fetch *token_fetch;

    registry_fetch_fn cb;
    void *data;
};

/* ---- libevent glue ---- */

static void process_messages(struct registry *r);

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    struct registry *r = arg;
    int action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;

    curl_multi_socket_action(r->multi, fd, action, &running);
    process_messages(r);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct registry *r = arg;
    int running;

    (void)fd;
    (void)what;
    curl_multi_socket_action(r->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    process_messages(r);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct registry *r = userp;
    struct socket_watch *w = socketp;
    short events;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            event_free(w->ev);
            if (w->prev)
                w->prev->next = w->next;
            else
                r->sockets = w->next;
            if (w->next)
                w->next->prev = w->prev;
            free(w);
            curl_multi_assign(r->multi, s, NULL);
        }
        return 0;
    }

    events = EV_PERSIST | (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    if (!w) {
        w = xzalloc(sizeof(*w));
        w->next = r->sockets;
        if (r->sockets)
            r->sockets->prev = w;
        r->sockets = w;
        curl_multi_assign(r->multi, s, w);
    } else {
        event_free(w->ev);
    }
    w->ev = event_new(r->base, s, events, on_socket_event, r);
    if (!w->ev)
        abort();
    event_add(w->ev, NULL);
    return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct registry *r = userp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(r->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(r->timer, &tv);
    return 0;
}

/* ---- fetch lifetime ---- */

static void fetch_free(struct registry_fetch *f)
{
    struct registry *r = f->r;

    if (f->token_fetch) {
        f->token_fetch->parent = NULL;
        fetch_free(f->token_fetch);
    }
    if (f->parent)
        f->parent->token_fetch = NULL;
    if (f->easy) {
        curl_multi_remove_handle(r->multi, f->easy);
        curl_easy_cleanup(f->easy);
    }
    if (f->retry_timer)
        event_free(f->retry_timer);
    if (f->pipe_ev)
        event_free(f->pipe_ev);
    free(f->spill);
    err_free(f->first_err);
    if (f->prev)
        f->prev->next = f->next;
    else
        r->fetches = f->next;
    if (f->next)
        f->next->prev = f->prev;
    curl_slist_free_all(f->headers);
    EVP_MD_CTX_free(f->sha);
    strbuf_done(&f->body);
    strbuf_done(&f->error_body);
    err_free(f->write_err);
    err_free(f->range_err);
    if (f->post_body) {
        /* The OAuth2 body carries a refresh token. */
        explicit_bzero(f->post_body, strlen(f->post_body));
        free(f->post_body);
    }
    free(f->url);
    free(f->rel_path);
    free(f->expected_digest);
    free(f->content_type);
    free(f->www_authenticate);
    free(f->header_digest);
    free(f->digest);
    free(f);
}

void registry_fetch_cancel(struct registry_fetch *f)
{
    if (f)
        fetch_free(f);
}

const char *registry_fetch_body(const struct registry_fetch *f, size_t *ret_len)
{
    *ret_len = f->body.len;
    return f->body.buf ? f->body.buf : "";
}

const char *registry_fetch_content_type(const struct registry_fetch *f)
{
    return f->content_type;
}

const char *registry_fetch_digest(const struct registry_fetch *f)
{
    return f->digest;
}

/* ---- curl callbacks ---- */

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct registry_fetch *f = arg;
    size_t len = size * n;
    _cleanup_free_ char *line = xstrndup(data, len);
    char *value, *end;

    /* Each response of a redirect chain starts with its status line. */
    if (strncmp(line, "HTTP/", 5) == 0) {
        free(f->content_type);
        free(f->www_authenticate);
        free(f->header_digest);
        f->content_type = f->www_authenticate = f->header_digest = NULL;
        f->range_start = UINT64_MAX;
        return len;
    }
    value = strchr(line, ':');
    if (!value)
        return len;
    *value++ = '\0';
    value += strspn(value, " \t");
    end = value + strlen(value);
    while (end > value && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';

    if (strcasecmp(line, "Content-Type") == 0) {
        char *semicolon = strchr(value, ';');

        if (semicolon)
            *semicolon = '\0';
        free(f->content_type);
        f->content_type = xstrdup(value);
    } else if (strcasecmp(line, "WWW-Authenticate") == 0 && !f->www_authenticate) {
        f->www_authenticate = xstrdup(value);
    } else if (strcasecmp(line, "Docker-Content-Digest") == 0) {
        free(f->header_digest);
        f->header_digest = xstrdup(value);
    } else if (strcasecmp(line, "Content-Range") == 0) {
        uint64_t first;

        if (content_range_start(value, &first) == 0)
            f->range_start = first;
    }
    return len;
}

static void on_pipe_writable(evutil_socket_t fd, short what, void *arg);

/* Write what waits in spill: 0 (maybe not all of it), or -1 with f->write_err set. */
static int flush_spill(struct registry_fetch *f)
{
    while (f->spill_off < f->spill_len) {
        ssize_t w = write(f->fd, f->spill + f->spill_off, f->spill_len - f->spill_off);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            return 0;
        if (w < 0) {
            err_sys(&f->write_err, "write blob %s to the unpack process", f->expected_digest);
            return -1;
        }
        f->spill_off += (size_t)w;
    }
    f->spill_len = f->spill_off = 0;
    return 0;
}

static void wait_for_pipe(struct registry_fetch *f)
{
    if (!f->pipe_ev) {
        f->pipe_ev = event_new(f->r->base, f->fd, EV_WRITE, on_pipe_writable, f);
        if (!f->pipe_ev)
            abort();
    }
    event_add(f->pipe_ev, NULL);
}

/*
 * Pass a chunk of a blob's body on to the pipe.  base is the blob offset
 * the body of this response starts at.
 */
static size_t write_stream(struct registry_fetch *f, const char *data, size_t len, uint64_t base)
{
    uint64_t pos = base + f->received;
    size_t skip = 0;
    ssize_t w;

    if (f->spill_len > 0 && flush_spill(f) < 0)
        return 0;
    if (f->spill_len > 0) {
        /* libcurl keeps this chunk and passes it again after curl_easy_pause(CONT). */
        f->paused = true;
        wait_for_pipe(f);
        return CURL_WRITEFUNC_PAUSE;
    }
    if (pos > f->delivered) {
        err_status(&f->range_err, GRPC_STATUS_UNAVAILABLE,
                   "%s: the registry resumed at byte %llu instead of %llu", f->url,
                   (unsigned long long)pos, (unsigned long long)f->delivered);
        return 0;
    }
    if (pos + len > f->expected_size) {
        err_status(&f->write_err, GRPC_STATUS_FAILED_PRECONDITION,
                   "%s: the registry sent more than the %llu bytes expected", f->url,
                   (unsigned long long)f->expected_size);
        return 0;
    }
    if (pos < f->delivered)
        skip = f->delivered - pos < len ? (size_t)(f->delivered - pos) : len;
    f->received += len;
    data += skip;
    len -= skip;
    if (len == 0)
        return len + skip;
    w = write(f->fd, data, len);
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        err_sys(&f->write_err, "write blob %s to the unpack process", f->expected_digest);
        return 0;
    }
    if (w < 0)
        w = 0;
    f->delivered += len;
    if ((size_t)w < len) {
        if (f->spill_cap < len - (size_t)w) {
            f->spill_cap = len - (size_t)w;
            f->spill = xrealloc(f->spill, f->spill_cap);
        }
        memcpy(f->spill, data + w, len - (size_t)w);
        f->spill_len = len - (size_t)w;
        f->spill_off = 0;
        wait_for_pipe(f);
    }
    return len + skip;
}

static size_t on_write(char *data, size_t size, size_t n, void *arg)
{
    struct registry_fetch *f = arg;
    size_t len = size * n;
    long code = 0;

    if (f->write_err)
        return 0;
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code == 206 && f->range_sent && f->range_start != UINT64_MAX)
        return write_stream(f, data, len, f->range_start);
    if (code != 200) {
        if (f->error_body.len < ERROR_BODY_MAX)
            strbuf_add(&f->error_body, data,
                       len < ERROR_BODY_MAX - f->error_body.len ? len : ERROR_BODY_MAX - f->error_body.len);
        return len;
    }
    if (f->fd >= 0)
        return write_stream(f, data, len, 0);
    if (f->size_known && f->received + len > f->expected_size) {
        err_status(&f->write_err, GRPC_STATUS_FAILED_PRECONDITION,
                   "%s: the registry sent more than the %llu bytes expected", f->url,
                   (unsigned long long)f->expected_size);
        return 0;
    }
    if (f->body.len + len > f->max_body) {
        err_status(&f->write_err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                   "%s: response larger than the %zu bytes allowed", f->url, f->max_body);
        return 0;
    }
    strbuf_add(&f->body, data, len);
    EVP_DigestUpdate(f->sha, data, len);
    f->received += len;
    return len;
}

/* ---- requests ---- */

static void set_auth(struct registry_fetch *f)
{
    struct endpoint *r = &f->r->endpoints[f->endpoint];

    curl_easy_setopt(f->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_NONE);
    curl_easy_setopt(f->easy, CURLOPT_USERNAME, NULL);
    curl_easy_setopt(f->easy, CURLOPT_PASSWORD, NULL);
    curl_easy_setopt(f->easy, CURLOPT_XOAUTH2_BEARER, NULL);
    f->sent_generation = r->token_generation;

    /*
     * Credentials go through libcurl's own auth options, not a custom
     * header: libcurl then drops them when a redirect leads to another
     * host or port (CURLOPT_UNRESTRICTED_AUTH stays off).
     */
    if (f->kind == FETCH_TOKEN) {
        if (r->username && !f->post_body) {
            curl_easy_setopt(f->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            curl_easy_setopt(f->easy, CURLOPT_USERNAME, r->username);
            curl_easy_setopt(f->easy, CURLOPT_PASSWORD, r->password ? r->password : "");
        }
        return;
    }
    if (r->scheme == AUTH_BEARER && r->token) {
        curl_easy_setopt(f->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(f->easy, CURLOPT_XOAUTH2_BEARER, r->token);
    } else if (r->scheme == AUTH_BASIC && r->username) {
        curl_easy_setopt(f->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(f->easy, CURLOPT_USERNAME, r->username);
        curl_easy_setopt(f->easy, CURLOPT_PASSWORD, r->password ? r->password : "");
    }
}

static void fetch_reset(struct registry_fetch *f)
{
    strbuf_reset(&f->body);
    strbuf_reset(&f->error_body);
    f->received = 0;
    f->range_start = UINT64_MAX;
    EVP_DigestInit_ex(f->sha, EVP_sha256(), NULL);
    /* A streamed blob goes on where the last attempt stopped. */
    f->range_sent = f->fd >= 0 && f->delivered > 0 && f->delivered < f->expected_size;
    if (f->range_sent) {
        char range[32];

        snprintf(range, sizeof(range), "%llu-", (unsigned long long)f->delivered);
        curl_easy_setopt(f->easy, CURLOPT_RANGE, range);
    } else {
        curl_easy_setopt(f->easy, CURLOPT_RANGE, NULL);
    }
}

/* Add the endpoint's CA file to the trust store libcurl built from the system CAs. */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *arg)
{
    struct registry_fetch *f = arg;
    const char *ca_file = f->r->endpoints[f->endpoint].ca_file;
    X509_STORE *store = SSL_CTX_get_cert_store(ssl_ctx);

    (void)easy;
    if (!ca_file)
        return CURLE_OK;
    if (!store || X509_STORE_load_file(store, ca_file) != 1) {
        unsigned long e = ERR_get_error();
        char text[256];

        ERR_error_string_n(e, text, sizeof(text));
        ERR_clear_error();
        if (!f->write_err)
            err_status(&f->write_err, GRPC_STATUS_FAILED_PRECONDITION,
                       "load CA file '%s' for %s: %s", ca_file, f->r->endpoints[f->endpoint].host,
                       text);
        return CURLE_SSL_CERTPROBLEM;
    }
    return CURLE_OK;
}

/*
 * Take the system CAs from SSL_CERT_FILE and SSL_CERT_DIR when set, as Go's
 * crypto/x509 (so containerd) does on Linux.  OpenSSL's default verify
 * paths read the same variables, but a libcurl built with a CA bundle path
 * (Debian's: /etc/ssl/certs/ca-certificates.crt) loads that path instead
 * and never consults them.  SSL_CERT_DIR may list directories separated by
 * ':', which OpenSSL's hash-directory lookup accepts as Go does.
 */
static void set_system_cas(CURL *easy)
{
    const char *file = getenv("SSL_CERT_FILE");
    const char *dir = getenv("SSL_CERT_DIR");

    if (file && file[0])
        curl_easy_setopt(easy, CURLOPT_CAINFO, file);
    if (dir && dir[0])
        curl_easy_setopt(easy, CURLOPT_CAPATH, dir);
}

static void set_tls(struct registry_fetch *f)
{
    const struct endpoint *e = &f->r->endpoints[f->endpoint];

    curl_easy_setopt(f->easy, CURLOPT_SSL_VERIFYPEER, e->insecure ? 0L : 1L);
    curl_easy_setopt(f->easy, CURLOPT_SSL_VERIFYHOST, e->insecure ? 0L : 2L);
#if LIBCURL_VERSION_NUM >= 0x075700
    /* A cached trust store would keep one endpoint's extra CA for the others. */
    curl_easy_setopt(f->easy, CURLOPT_CA_CACHE_TIMEOUT, 0L);
#endif
    curl_easy_setopt(f->easy, CURLOPT_SSL_CTX_FUNCTION, e->ca_file ? on_ssl_ctx : NULL);
    curl_easy_setopt(f->easy, CURLOPT_SSL_CTX_DATA, f);
    set_system_cas(f->easy);
}

/*
 * libcurl reads http_proxy but not HTTP_PROXY, because a CGI program gets
 * the request's Proxy header there (httpoxy).  crispd is no CGI program
 * and Go programs such as containerd read both, so the upper-case name
 * works for plain HTTP too.  HTTPS_PROXY and NO_PROXY libcurl reads in
 * either case.
 */
static void set_proxy(struct registry_fetch *f)
{
    const char *proxy = getenv("HTTP_PROXY");

    if (strncmp(f->url, "http://", 7) == 0 && !getenv("http_proxy") && proxy && proxy[0])
        curl_easy_setopt(f->easy, CURLOPT_PROXY, proxy);
    else
        curl_easy_setopt(f->easy, CURLOPT_PROXY, NULL);
}

static void fetch_submit(struct registry_fetch *f)
{
    if (f->rel_path) {
        free(f->url);
        f->url = xasprintf("%s/%s", f->r->endpoints[f->endpoint].base_url, f->rel_path);
        curl_easy_setopt(f->easy, CURLOPT_URL, f->url);
    }
    f->error_text[0] = '\0';
    fetch_reset(f);
    set_tls(f);
    set_proxy(f);
    set_auth(f);
    curl_multi_add_handle(f->r->multi, f->easy);
}

/*
 * Mark each connection close-on-exec: libcurl leaves the flag to the
 * application, and a program crispd starts must not hold a registry
 * connection open.
 */
static int on_sockopt(void *data, curl_socket_t fd, curlsocktype purpose)
{
    (void)data;
    (void)purpose;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return CURL_SOCKOPT_ERROR;
    return CURL_SOCKOPT_OK;
}

/* The first endpoint a new fetch tries: the first one not known to be down. */
static size_t first_endpoint(const struct registry *r)
{
    size_t i = 0;

    while (i + 1 < r->n_endpoints && r->endpoints[i].down)
        i++;
    return i;
}

/* A fetch of rel_path on the endpoints, or of url for a token (rel_path NULL). */
static struct registry_fetch *fetch_new(struct registry *r, enum fetch_kind kind, char *rel_path,
                                        char *url, registry_fetch_fn cb, void *data)
{
    struct registry_fetch *f = xzalloc(sizeof(*f));

    f->r = r;
    f->kind = kind;
    f->rel_path = rel_path;
    f->url = url;
    f->endpoint = first_endpoint(r);
    f->fd = -1;
    f->cb = cb;
    f->data = data;
    f->sha = EVP_MD_CTX_new();
    f->easy = curl_easy_init();
    if (!f->sha || !f->easy)
        abort();

    if (f->url)
        curl_easy_setopt(f->easy, CURLOPT_URL, f->url);
    curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
    curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->error_text);
    curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->easy, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(f->easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(f->easy, CURLOPT_MAXREDIRS, MAX_REDIRECTS);
    curl_easy_setopt(f->easy, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    /* Less than 1 byte/s over the progress timeout: nothing arrived, so cancel. */
    curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(f->easy, CURLOPT_LOW_SPEED_TIME, r->progress_timeout_s);
    curl_easy_setopt(f->easy, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);

    f->next = r->fetches;
    if (r->fetches)
        r->fetches->prev = f;
    r->fetches = f;
    return f;
}

struct registry_fetch *registry_get_manifest(struct registry *r, const char *reference,
                                             registry_fetch_fn cb, void *data)
{
    struct registry_fetch *f =
        fetch_new(r, FETCH_MANIFEST, xasprintf("manifests/%s", reference), NULL, cb, data);

    f->max_body = MANIFEST_MAX_SIZE;
    if (digest_is_valid(reference))
        f->expected_digest = xstrdup(reference);
    f->headers = curl_slist_append(f->headers, manifest_accept);
    curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
    fetch_submit(f);
    return f;
}

struct registry_fetch *registry_get_blob(struct registry *r, const char *digest, uint64_t size,
                                         int fd, registry_fetch_fn cb, void *data)
{
    struct registry_fetch *f =
        fetch_new(r, FETCH_BLOB, xasprintf("blobs/%s", digest), NULL, cb, data);

    f->fd = fd;
    f->max_body = MANIFEST_MAX_SIZE;
    f->expected_digest = xstrdup(digest);
    f->expected_size = size;
    f->size_known = true;
    fetch_submit(f);
    return f;
}

/* ---- completion ---- */

/* The registry's own error text, from an OCI distribution-spec error body. */
static char *registry_error_text(const struct strbuf *body)
{
    json_t *root = body->len ? json_loadb(body->buf, body->len, 0, NULL) : NULL;
    json_t *first = json_array_get(json_object_get(root, "errors"), 0);
    const char *code = json_string_value(json_object_get(first, "code"));
    const char *message = json_string_value(json_object_get(first, "message"));
    char *text = NULL;

    if (code || message)
        text = xasprintf("%s%s%s", code ? code : "", code && message ? ": " : "",
                         message ? message : "");
    json_decref(root);
    return text;
}

static enum grpc_status status_of_http(long code)
{
    switch (code) {
    case 401:
        return GRPC_STATUS_UNAUTHENTICATED;
    case 403:
        return GRPC_STATUS_PERMISSION_DENIED;
    case 404:
        return GRPC_STATUS_NOT_FOUND;
    case 429:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    default:
        /* 5xx, and a 2xx or 3xx that the request cannot have (206 without Range, 304). */
        return code >= 500 || code < 400 ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_UNKNOWN;
    }
}

/* Stop waiting for the pipe: the callback may close it. */
static void stop_pipe_wait(struct registry_fetch *f)
{
    if (f->pipe_ev)
        event_del(f->pipe_ev);
}

static void fetch_fail(struct registry_fetch *f, struct err *e)
{
    stop_pipe_wait(f);
    f->cb(f->data, f, e);
    err_free(e);
    fetch_free(f);
}

static void on_token_done(void *data, struct registry_fetch *tf, const struct err *err);

static int start_token_fetch(struct registry_fetch *f, const struct auth_challenge *c,
                             struct err **err)
{
    struct endpoint *r = &f->r->endpoints[f->endpoint];
    _cleanup_free_ char *scope_default = xasprintf("repository:%s:pull", f->r->path);
    const char *scope = c->scope ? c->scope : scope_default;
    char *service = curl_easy_escape(NULL, c->service ? c->service : "", 0);
    char *scope_q = curl_easy_escape(NULL, scope, 0);
    struct registry_fetch *tf;
    char *url;

    if (!c->realm || (strncmp(c->realm, "https://", 8) != 0 && strncmp(c->realm, "http://", 7) != 0)) {
        curl_free(service);
        curl_free(scope_q);
        return err_status(err, GRPC_STATUS_UNAUTHENTICATED,
                          "%s: Bearer challenge without an http(s) realm", f->url);
    }
    if (r->identity_token)
        url = xstrdup(c->realm);
    else
        url = xasprintf("%s%cservice=%s&scope=%s", c->realm, strchr(c->realm, '?') ? '&' : '?',
                        service, scope_q);
    tf = fetch_new(f->r, FETCH_TOKEN, NULL, url, on_token_done, f);
    tf->endpoint = f->endpoint;
    tf->max_body = TOKEN_BODY_MAX;
    tf->parent = f;
    f->token_fetch = tf;
    if (r->identity_token) {
        char *token_q = curl_easy_escape(NULL, r->identity_token, 0);

        /* An OAuth2 refresh-token grant (RFC 6749 section 6). */
        tf->post_body = xasprintf("grant_type=refresh_token&client_id=crisp&service=%s&scope=%s"
                                  "&refresh_token=%s",
                                  service, scope_q, token_q);
        explicit_bzero(token_q, strlen(token_q));
        curl_free(token_q);
        curl_easy_setopt(tf->easy, CURLOPT_POSTFIELDS, tf->post_body);
    }
    curl_free(service);
    curl_free(scope_q);
    fetch_submit(tf);
    return 0;
}

static void fetch_failover(struct registry_fetch *f, struct err *e, bool retryable, bool conn_failed);

static void on_token_done(void *data, struct registry_fetch *tf, const struct err *err)
{
    struct registry_fetch *f = data;
    struct endpoint *r = &f->r->endpoints[f->endpoint];
    struct err *e = NULL;
    json_t *root, *token;

    /* tf is freed after this returns and f may be freed here: unlink them first. */
    tf->parent = NULL;
    f->token_fetch = NULL;
    if (err) {
        err_status(&e, err_grpc_status(err), "get a registry token for %s: %s", f->url, err->msg);
        fetch_failover(f, e, false, false);
        return;
    }
    root = json_loadb(tf->body.buf ? tf->body.buf : "", tf->body.len, 0, NULL);
    token = json_object_get(root, "token");
    if (!json_is_string(token))
        token = json_object_get(root, "access_token");
    if (!json_is_string(token) || json_string_length(token) == 0) {
        json_decref(root);
        err_status(&e, GRPC_STATUS_UNAUTHENTICATED,
                   "get a registry token for %s: the response has no token", f->url);
        fetch_failover(f, e, false, false);
        return;
    }
    free(r->token);
    r->token = xstrdup(json_string_value(token));
    r->scheme = AUTH_BEARER;
    r->token_generation++;
    json_decref(root);
    fetch_submit(f);
}

/* Handle a 401: pick credentials from the challenge and repeat the request; false when it cannot. */
static bool retry_with_auth(struct registry_fetch *f, struct err **err)
{
    struct endpoint *r = &f->r->endpoints[f->endpoint];
    struct auth_challenge c = {0};
    bool ok = false;

    if (f->kind == FETCH_TOKEN || f->auth_retried || !f->www_authenticate)
        return false;
    f->auth_retried = true;
    if (auth_challenge_parse(f->www_authenticate, &c, err) < 0)
        return false;

    if (strcmp(c.scheme, "basic") == 0) {
        if (r->username) {
            r->scheme = AUTH_BASIC;
            fetch_submit(f);
            ok = true;
        }
    } else if (strcmp(c.scheme, "bearer") == 0) {
        if (r->token && f->sent_generation != r->token_generation) {
            /* Another request got a token meanwhile. */
            fetch_submit(f);
            ok = true;
        } else if (r->registry_token) {
            free(r->token);
            r->token = xstrdup(r->registry_token);
            r->scheme = AUTH_BEARER;
            r->token_generation++;
            fetch_submit(f);
            ok = true;
        } else {
            ok = start_token_fetch(f, &c, err) == 0;
        }
    }
    auth_challenge_done(&c);
    return ok;
}

static int check_content(struct registry_fetch *f, struct err **err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];

    if (f->fd >= 0) {
        /* The unpack process checks the digest of a streamed blob. */
        if (f->delivered != f->expected_size)
            return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                              "blob %s: size %llu does not match the expected %llu",
                              f->expected_digest, (unsigned long long)f->delivered,
                              (unsigned long long)f->expected_size);
        return 0;
    }
    EVP_DigestFinal_ex(f->sha, md, &md_len);
    hex_encode(md, md_len, hex);
    f->digest = xasprintf(DIGEST_PREFIX "%s", hex);
    if (f->kind == FETCH_TOKEN)
        return 0;
    if (f->size_known && f->received != f->expected_size)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "blob %s: size %llu does not match the expected %llu", f->expected_digest,
                          (unsigned long long)f->received, (unsigned long long)f->expected_size);
    if (f->expected_digest && strcmp(f->digest, f->expected_digest) != 0)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "%s %s: digest mismatch: the content has digest %s",
                          f->kind == FETCH_BLOB ? "blob" : "manifest", f->expected_digest,
                          f->digest);
    if (f->kind == FETCH_MANIFEST && f->header_digest && digest_is_valid(f->header_digest) &&
        strcmp(f->header_digest, f->digest) != 0)
        return err_status(err, GRPC_STATUS_FAILED_PRECONDITION,
                          "manifest %s: Docker-Content-Digest %s does not match the content's %s",
                          f->url, f->header_digest, f->digest);
    return 0;
}

static void on_retry_timer(evutil_socket_t fd, short what, void *arg)
{
    struct registry_fetch *f = arg;

    (void)fd;
    (void)what;
    fetch_submit(f);
}

/*
 * Handle a failed attempt (e is taken over) by moving to the next
 * endpoint.  After the last one, start a new pass from the first endpoint,
 * with exponential backoff, when any attempt of this pass failed on the
 * connection or with a 5xx.  Else fail with the first endpoint's error of
 * the last pass, as containerd reports it.  A token fetch stays on its
 * endpoint.
 */
static void fetch_failover(struct registry_fetch *f, struct err *e, bool retryable, bool conn_failed)
{
    struct registry *r = f->r;
    bool last = f->kind == FETCH_TOKEN || f->endpoint + 1 >= r->n_endpoints;
    struct timeval delay;
    long delay_ms;

    f->pass_retryable = f->pass_retryable || retryable;
    if (!f->first_err)
        f->first_err = e;
    if (!last) {
        /* At info, as containerd logs it: a mirror that fails is otherwise unseen. */
        log_info("%s: %s; trying the next endpoint", r->endpoints[f->endpoint].host, e->msg);
        if (conn_failed)
            r->endpoints[f->endpoint].down = true;
        if (f->first_err != e)
            err_free(e);
        f->endpoint++;
        f->auth_retried = false;
        fetch_submit(f);
        return;
    }
    if (f->pass_retryable && f->attempts < RETRY_MAX) {
        delay_ms = RETRY_BASE_DELAY_MS << f->attempts;
        f->attempts++;
        log_info("%s; retry %u of %u in %ld ms", e->msg, f->attempts, RETRY_MAX, delay_ms);
        if (f->first_err != e)
            err_free(e);
        err_free(TAKE_PTR(f->first_err));
        f->pass_retryable = false;
        if (f->kind != FETCH_TOKEN)
            f->endpoint = 0;
        f->auth_retried = false;
        if (!f->retry_timer) {
            f->retry_timer = evtimer_new(r->base, on_retry_timer, f);
            if (!f->retry_timer)
                abort();
        }
        delay.tv_sec = delay_ms / 1000;
        delay.tv_usec = (delay_ms % 1000) * 1000;
        evtimer_add(f->retry_timer, &delay);
        return;
    }
    if (f->first_err != e)
        err_free(e);
    fetch_fail(f, TAKE_PTR(f->first_err));
}

/* Whether a libcurl failure is of the connection (retried) rather than of the data. */
static bool curl_result_is_connection(CURLcode result)
{
    switch (result) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

static void fetch_transfer_failed(struct registry_fetch *f, CURLcode result)
{
    struct endpoint *ep = &f->r->endpoints[f->endpoint];
    struct err *e = NULL;
    long request_bytes = 0;

    if (result == CURLE_SSL_CONNECT_ERROR && ep->may_use_http && f->kind != FETCH_TOKEN &&
        strncmp(ep->base_url, "https://", 8) == 0) {
        /* An insecure host that does not speak TLS: use plain HTTP from now on. */
        char *http = xasprintf("http://%s", ep->base_url + 8);

        log_debug("%s: TLS handshake failed (%s); using plain HTTP", ep->host, f->error_text);
        free(ep->base_url);
        ep->base_url = http;
        ep->may_use_http = false;
        fetch_submit(f);
        return;
    }

    /* A request sent (on a new or reused connection) means the wait was for data. */
    curl_easy_getinfo(f->easy, CURLINFO_REQUEST_SIZE, &request_bytes);
    if (result == CURLE_OPERATION_TIMEDOUT && request_bytes > 0) {
        err_status(&e, GRPC_STATUS_DEADLINE_EXCEEDED,
                   "GET %s: no data received for %ld s, transfer cancelled (progress timeout)",
                   f->url, f->r->progress_timeout_s);
        fetch_failover(f, e, false, false);
        return;
    }
    if (result == CURLE_SSL_CONNECT_ERROR && strncmp(ep->base_url, "https://", 8) == 0)
        /* The usual cause: a registry that serves plain HTTP only. */
        err_status(&e, GRPC_STATUS_UNAVAILABLE,
                   "GET %s: %s (if '%s' serves plain HTTP, list it in insecure_registries or "
                   "pass --insecure-registry)",
                   f->url, f->error_text[0] ? f->error_text : curl_easy_strerror(result),
                   ep->host);
    else
        err_status(&e, GRPC_STATUS_UNAVAILABLE, "GET %s: %s", f->url,
                   f->error_text[0] ? f->error_text : curl_easy_strerror(result));
    fetch_failover(f, e, curl_result_is_connection(result), curl_result_is_connection(result));
}

static void fetch_done(struct registry_fetch *f, CURLcode result)
{
    struct err *e = NULL;
    long code = 0;

    curl_multi_remove_handle(f->r->multi, f->easy);
    if (f->write_err) {
        e = TAKE_PTR(f->write_err);
        fetch_fail(f, e);
        return;
    }
    if (f->range_err) {
        fetch_failover(f, TAKE_PTR(f->range_err), true, false);
        return;
    }
    if (result != CURLE_OK && f->fd >= 0 && f->delivered == f->expected_size) {
        /* Every byte arrived before the failure: crisp-unpack checks the digest. */
        log_debug("GET %s: %s after the last byte; the blob is complete", f->url,
                  curl_easy_strerror(result));
        result = CURLE_OK;
    }
    if (result != CURLE_OK) {
        fetch_transfer_failed(f, result);
        return;
    }
    curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code == 401 && retry_with_auth(f, &e))
        return;
    if (e) {
        fetch_failover(f, e, false, false);
        return;
    }
    if (code == 206 && f->range_sent && f->range_start == UINT64_MAX) {
        err_status(&e, GRPC_STATUS_UNAVAILABLE, "GET %s: HTTP status 206 without a valid Content-Range",
                   f->url);
        fetch_failover(f, e, true, false);
        return;
    }
    if (code != 200 && !(code == 206 && f->range_sent)) {
        _cleanup_free_ char *detail = registry_error_text(&f->error_body);

        err_status(&e, status_of_http(code), "GET %s: HTTP status %ld%s%s", f->url, code,
                   detail ? ": " : "", detail ? detail : "");
        fetch_failover(f, e, code >= 500, false);
        return;
    }
    if (check_content(f, &e) < 0) {
        fetch_failover(f, e, false, false);
        return;
    }
    if (f->spill_len > 0) {
        f->finish_pending = true;
        return;
    }
    stop_pipe_wait(f);
    f->cb(f->data, f, NULL);
    fetch_free(f);
}

static void on_pipe_writable(evutil_socket_t fd, short what, void *arg)
{
    struct registry_fetch *f = arg;

    (void)fd;
    (void)what;
    if (flush_spill(f) < 0) {
        if (f->finish_pending)
            fetch_fail(f, TAKE_PTR(f->write_err));
        else if (f->paused)
            /* The chunk libcurl passes again fails on write_err and ends the transfer. */
            curl_easy_pause(f->easy, CURLPAUSE_CONT);
        return;
    }
    if (f->spill_len > 0) {
        event_add(f->pipe_ev, NULL);
        return;
    }
    if (f->finish_pending) {
        stop_pipe_wait(f);
        f->cb(f->data, f, NULL);
        fetch_free(f);
        return;
    }
    if (f->paused) {
        f->paused = false;
        curl_easy_pause(f->easy, CURLPAUSE_CONT);
    }
}

static void process_messages(struct registry *r)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(r->multi, &left))) {
        struct registry_fetch *f = NULL;
        CURLcode result = msg->data.result;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
        fetch_done(f, result);
    }
}

/* ---- Content-Range ---- */

/* Parse a decimal number of 1 to 19 digits at *p and move *p past it. */
static int parse_decimal(const char **p, uint64_t *ret)
{
    uint64_t v = 0;
    size_t n = 0;

    while (**p >= '0' && **p <= '9' && n < 19) {
        v = v * 10 + (uint64_t)(**p - '0');
        (*p)++;
        n++;
    }
    if (n == 0 || (**p >= '0' && **p <= '9'))
        return -1;
    *ret = v;
    return 0;
}

int content_range_start(const char *value, uint64_t *ret)
{
    const char *p = value;
    uint64_t first, last, complete;

    if (strncmp(p, "bytes ", 6) != 0)
        return -1;
    p += 6;
    if (parse_decimal(&p, &first) < 0 || *p++ != '-' || parse_decimal(&p, &last) < 0 ||
        last < first || *p++ != '/')
        return -1;
    if (strcmp(p, "*") != 0 && (parse_decimal(&p, &complete) < 0 || *p != '\0' ||
                                last >= complete))
        return -1;
    *ret = first;
    return 0;
}

/* ---- WWW-Authenticate ---- */

void auth_challenge_done(struct auth_challenge *c)
{
    free(c->scheme);
    free(c->realm);
    free(c->service);
    free(c->scope);
    memset(c, 0, sizeof(*c));
}

static bool is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Parse auth-param := token BWS "=" BWS ( token / quoted-string ); *p advances. */
static int parse_param(const char **p, char **ret_name, char **ret_value)
{
    const char *s = *p;
    const char *start = s;
    struct strbuf v = STRBUF_INIT;

    while (is_token_char(*s))
        s++;
    if (s == start)
        return -1;
    *ret_name = xstrndup(start, (size_t)(s - start));
    s += strspn(s, " \t");
    if (*s != '=') {
        free(*ret_name);
        return -1;
    }
    s++;
    s += strspn(s, " \t");
    if (*s == '"') {
        for (s++; *s && *s != '"'; s++) {
            if (*s == '\\' && s[1])
                s++;
            strbuf_add(&v, s, 1);
        }
        if (*s != '"') {
            strbuf_done(&v);
            free(*ret_name);
            return -1;
        }
        s++;
    } else {
        start = s;
        while (is_token_char(*s) || *s == '/' || *s == ':')
            s++;
        strbuf_add(&v, start, (size_t)(s - start));
    }
    *ret_value = strbuf_take(&v);
    *p = s;
    return 0;
}

int auth_challenge_parse(const char *header, struct auth_challenge *ret, struct err **err)
{
    struct auth_challenge c = {0};
    const char *p = header + strspn(header, " \t");
    const char *start = p;

    while (is_token_char(*p))
        p++;
    if (p == start)
        return err_status(err, GRPC_STATUS_UNAUTHENTICATED, "invalid WWW-Authenticate header");
    c.scheme = xstrndup(start, (size_t)(p - start));
    for (char *s = c.scheme; *s; s++) {
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
    }
    p += strspn(p, " \t");
    while (*p) {
        char *name = NULL, *value = NULL;

        if (parse_param(&p, &name, &value) < 0)
            break;
        if (strcasecmp(name, "realm") == 0 && !c.realm)
            c.realm = TAKE_PTR(value);
        else if (strcasecmp(name, "service") == 0 && !c.service)
            c.service = TAKE_PTR(value);
        else if (strcasecmp(name, "scope") == 0 && !c.scope)
            c.scope = TAKE_PTR(value);
        free(name);
        free(value);
        p += strspn(p, " \t");
        if (*p != ',')
            break;
        p++;
        p += strspn(p, " \t");
    }
    *ret = c;
    return 0;
}

/* ---- the client ---- */

static void decode_auth(struct endpoint *r, const char *auth)
{
    size_t len = strlen(auth);
    _cleanup_free_ unsigned char *out = xmalloc(len / 4 * 3 + 4);
    int n = EVP_DecodeBlock(out, (const unsigned char *)auth, (int)len);
    char *colon;

    if (n < 0)
        return;
    /* EVP_DecodeBlock counts the padding as output bytes. */
    while (len > 0 && auth[len - 1] == '=' && n > 0) {
        len--;
        n--;
    }
    out[n] = '\0';
    colon = strchr((char *)out, ':');
    if (colon) {
        *colon = '\0';
        r->username = xstrdup((char *)out);
        r->password = xstrdup(colon + 1);
    }
    explicit_bzero(out, (size_t)n);
}

static bool auth_is_empty(const struct registry_auth *a)
{
    return !a || ((!a->username || !a->username[0]) && (!a->auth || !a->auth[0]) &&
                  (!a->identity_token || !a->identity_token[0]) &&
                  (!a->registry_token || !a->registry_token[0]));
}

static void endpoint_set_auth(struct endpoint *e, const struct registry_auth *auth)
{
    if (auth_is_empty(auth))
        return;
    /* containerd's order (pkg/cri ParseAuth): username, then identity token, then auth. */
    if (auth->username && auth->username[0]) {
        e->username = xstrdup(auth->username);
        e->password = xstrdup(auth->password ? auth->password : "");
    } else if (auth->identity_token && auth->identity_token[0]) {
        e->identity_token = xstrdup(auth->identity_token);
    } else if (auth->auth && auth->auth[0]) {
        decode_auth(e, auth->auth);
    }
    if (auth->registry_token && auth->registry_token[0])
        e->registry_token = xstrdup(auth->registry_token);
}

static const struct registry_host *host_config(const struct registry_options *opts,
                                               const char *host)
{
    for (size_t i = 0; opts && i < opts->n_hosts; i++) {
        if (strcmp(opts->hosts[i].host, host) == 0)
            return &opts->hosts[i];
    }
    return NULL;
}

static bool host_is_insecure(const struct registry_options *opts, const char *host)
{
    const struct registry_host *h = host_config(opts, host);

    if (h && h->insecure)
        return true;
    if (!opts || !opts->insecure_hosts)
        return false;
    for (char **i = opts->insecure_hosts; *i; i++) {
        if (strcmp(*i, host) == 0)
            return true;
    }
    return false;
}

/*
 * Set up endpoint e for location "[http[s]://]host[:port][/prefix]";
 * connect_host replaces the host in the URL (Docker Hub's API host).
 * Request credentials win over the host's configured ones.
 */
static void endpoint_init(struct endpoint *e, const char *location, const char *connect_host,
                          const char *repo_path, const struct registry_options *opts,
                          const struct registry_auth *auth)
{
    const char *scheme = NULL;
    const char *rest = location;
    const struct registry_host *config;
    size_t host_len, prefix_len;

    if (strncmp(location, "http://", 7) == 0) {
        scheme = "http";
        rest = location + 7;
    } else if (strncmp(location, "https://", 8) == 0) {
        scheme = "https";
        rest = location + 8;
    }
    host_len = strcspn(rest, "/");
    prefix_len = strlen(rest + host_len);
    while (prefix_len > 0 && rest[host_len + prefix_len - 1] == '/')
        prefix_len--;
    e->host = xstrndup(rest, host_len);
    config = host_config(opts, e->host);
    e->insecure = host_is_insecure(opts, e->host);
    e->may_use_http = e->insecure && !scheme;
    e->ca_file = config && config->ca_file ? xstrdup(config->ca_file) : NULL;
    e->base_url = xasprintf("%s://%s%.*s/v2/%s", scheme ? scheme : "https",
                            connect_host ? connect_host : e->host, (int)prefix_len,
                            rest + host_len, repo_path);
    endpoint_set_auth(e, auth_is_empty(auth) && config ? &config->auth : auth);
}

struct registry *registry_new(struct event_base *base, const struct image_ref *ref,
                              const struct registry_options *opts,
                              const struct registry_auth *auth)
{
    struct registry *r = xzalloc(sizeof(*r));
    const struct registry_host *config = host_config(opts, ref->domain);
    const char *const *mirrors = config ? config->mirrors : NULL;
    size_t n_mirrors = 0;

    while (mirrors && mirrors[n_mirrors])
        n_mirrors++;
    r->base = base;
    r->path = xstrdup(ref->path);
    r->progress_timeout_s = opts && opts->progress_timeout_s
                                ? (long)opts->progress_timeout_s
                                : (long)REGISTRY_PROGRESS_TIMEOUT_DEFAULT_S;
    r->n_endpoints = n_mirrors + 1;
    r->endpoints = xnew(struct endpoint, r->n_endpoints);
    for (size_t i = 0; i < n_mirrors; i++)
        endpoint_init(&r->endpoints[i], mirrors[i], NULL, ref->path, opts, auth);
    endpoint_init(&r->endpoints[n_mirrors], ref->domain,
                  strcmp(ref->domain, DOCKER_HUB_DOMAIN) == 0 ? DOCKER_HUB_HOST : NULL, ref->path,
                  opts, auth);

    r->multi = curl_multi_init();
    r->timer = evtimer_new(base, on_timer, r);
    if (!r->multi || !r->timer)
        abort();
    curl_multi_setopt(r->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(r->multi, CURLMOPT_SOCKETDATA, r);
    curl_multi_setopt(r->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(r->multi, CURLMOPT_TIMERDATA, r);
    return r;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    while (r->fetches) {
        struct registry_fetch *f = r->fetches;

        /* A token fetch goes with its parent; free parents first. */
        while (f->parent)
            f = f->parent;
        fetch_free(f);
    }
    curl_multi_cleanup(r->multi);
    while (r->sockets) {
        struct socket_watch *w = r->sockets;

        r->sockets = w->next;
        event_free(w->ev);
        free(w);
    }
    event_free(r->timer);
    for (size_t i = 0; i < r->n_endpoints; i++) {
        struct endpoint *e = &r->endpoints[i];

        free(e->host);
        free(e->base_url);
        free(e->ca_file);
        free(e->username);
        free_secret(e->password);
        free_secret(e->identity_token);
        free_secret(e->registry_token);
        free_secret(e->token);
    }
    free(r->endpoints);
    free(r->path);
    free(r);
}
