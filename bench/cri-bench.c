/*
 * cri-bench: a small CRI client that times unary RuntimeService calls, so
 * that the bench measures the servers rather than its own client.  It
 * speaks gRPC over prior-knowledge HTTP/2 (nghttp2) on a Unix socket, one
 * connection per process, with requests packed by the project's generated
 * protobuf-c code.  bench/run builds it; bench/bench.py runs it.
 *
 * Usage:
 *   cri-bench --socket=PATH --method=NAME [--container-id=ID]
 *             [--calls=N] [--interval-ms=MS] [--clients=N --duration=S]
 * NAME is Version, ListContainers, ListPodSandbox or ContainerStatus.
 * Modes, by the options given:
 *   --calls=N          N calls one after the other; prints each latency
 *                      in seconds, one per line.
 *   --calls=0          calls every --interval-ms until stdin reaches end of
 *                      file, then prints the latencies as above.
 *   --clients=N        N processes, each with its own connection, call for
 *                      --duration seconds from a common start; prints the
 *                      total number of calls.
 * Every mode first makes one untimed call per connection, and exits 1 when
 * a call fails (the grpc-status and grpc-message go to stderr).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto/api.pb-c.h"

/* Largest response accepted: ListContainers with thousands of containers fits. */
#define MAX_RESPONSE (64u << 20)

struct method {
    const char *name;
    const ProtobufCMessageDescriptor *response;
};

static const struct method methods[] = {
    {"Version", &runtime__v1__version_response__descriptor},
    {"ListContainers", &runtime__v1__list_containers_response__descriptor},
    {"ListPodSandbox", &runtime__v1__list_pod_sandbox_response__descriptor},
    {"ContainerStatus", &runtime__v1__container_status_response__descriptor},
};

struct conn {
    int fd;
    nghttp2_session *session;
    /* The call in flight: request body (5-byte gRPC prefix and message) and response. */
    uint8_t *request;
    size_t request_len, request_sent;
    uint8_t *response;
    size_t response_len, response_cap;
    int grpc_status; /* -1 until the trailers (or a trailers-only response) carry it */
    char grpc_message[256];
    bool closed;
    uint32_t stream_error;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ssize_t send_cb(nghttp2_session *session, const uint8_t *data, size_t len, int flags,
                             void *user)
{
    struct conn *c = user;
    ssize_t n;

    (void)session;
    (void)flags;
    do
        n = send(c->fd, data, len, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    return n;
}

static int data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *user)
{
    struct conn *c = user;

    (void)session;
    (void)flags;
    (void)stream_id;
    if (c->response_len + len > MAX_RESPONSE)
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    if (c->response_len + len > c->response_cap) {
        size_t cap = c->response_cap ? c->response_cap : 4096;

        while (cap < c->response_len + len)
            cap *= 2;
        c->response = realloc(c->response, cap);
        if (!c->response)
            abort();
        c->response_cap = cap;
    }
    memcpy(c->response + c->response_len, data, len);
    c->response_len += len;
    return 0;
}

static int header_cb(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    struct conn *c = user;

    (void)session;
    (void)frame;
    (void)flags;
    if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        char text[16];

        snprintf(text, sizeof(text), "%.*s", (int)(valuelen < 15 ? valuelen : 15), value);
        c->grpc_status = atoi(text);
    } else if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
        snprintf(c->grpc_message, sizeof(c->grpc_message), "%.*s",
                 (int)(valuelen < 255 ? valuelen : 255), value);
    }
    return 0;
}

static int stream_close_cb(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user)
{
    struct conn *c = user;

    (void)session;
    (void)stream_id;
    c->closed = true;
    c->stream_error = error_code;
    return 0;
}

static ssize_t read_request_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                                     size_t len, uint32_t *flags, nghttp2_data_source *source,
                                     void *user)
{
    struct conn *c = user;
    size_t left = c->request_len - c->request_sent;

    (void)session;
    (void)stream_id;
    (void)source;
    if (len > left)
        len = left;
    memcpy(buf, c->request + c->request_sent, len);
    c->request_sent += len;
    if (c->request_sent == c->request_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)len;
}

static int conn_open(struct conn *c, const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    nghttp2_session_callbacks *cbs;

    memset(c, 0, sizeof(*c));
    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "cri-bench: socket path too long: %s\n", path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        fprintf(stderr, "cri-bench: connecting to %s failed: %s\n", path, strerror(errno));
        return -1;
    }
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_send_callback(cbs, send_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, data_chunk_cb);
    nghttp2_session_callbacks_set_on_header_callback(cbs, header_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, stream_close_cb);
    nghttp2_session_client_new(&c->session, cbs, c);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, NULL, 0);
    return 0;
}

static void conn_close(struct conn *c)
{
    nghttp2_session_del(c->session);
    close(c->fd);
    free(c->request);
    free(c->response);
}

/* Sends what nghttp2 has queued and reads until the call's stream closes. */
static int conn_run(struct conn *c)
{
    uint8_t buf[65536];

    while (!c->closed) {
        ssize_t n;

        if (nghttp2_session_send(c->session) != 0)
            return -1;
        if (c->closed)
            break;
        n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "cri-bench: the server closed the connection\n");
            return -1;
        }
        if (nghttp2_session_mem_recv(c->session, buf, (size_t)n) < 0)
            return -1;
    }
    /* Flush the acknowledgements and window updates the response caused. */
    return nghttp2_session_send(c->session) == 0 ? 0 : -1;
}

/*
 * Makes one unary call of method with request msg and checks the response:
 * grpc-status 0 and a message that unpacks.  Returns 0 or -1.
 */
static int call(struct conn *c, const struct method *m, const ProtobufCMessage *msg)
{
    char path[128];
    size_t len = protobuf_c_message_get_packed_size(msg);
    int path_len = snprintf(path, sizeof(path), "/runtime.v1.RuntimeService/%s", m->name);
    ProtobufCMessage *response;
    uint32_t body_len;
    nghttp2_data_provider provider = {.read_callback = read_request_cb};
    const nghttp2_nv headers[] = {
#define NV(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
        NV(":method", "POST"),
        NV(":scheme", "http"),
        {(uint8_t *)":path", (uint8_t *)path, 5, (size_t)path_len, NGHTTP2_NV_FLAG_NONE},
        NV(":authority", "localhost"),
        NV("content-type", "application/grpc"),
        NV("te", "trailers"),
#undef NV
    };

    c->request = realloc(c->request, len + 5);
    if (!c->request)
        abort();
    c->request[0] = 0;
    c->request[1] = (uint8_t)(len >> 24);
    c->request[2] = (uint8_t)(len >> 16);
    c->request[3] = (uint8_t)(len >> 8);
    c->request[4] = (uint8_t)len;
    protobuf_c_message_pack(msg, c->request + 5);
    c->request_len = len + 5;
    c->request_sent = 0;
    c->response_len = 0;
    c->grpc_status = -1;
    c->grpc_message[0] = '\0';
    c->closed = false;
    c->stream_error = 0;

    if (nghttp2_submit_request(c->session, NULL, headers, sizeof(headers) / sizeof(headers[0]),
                                &provider, NULL) < 0 ||
        conn_run(c) < 0)
        return -1;
    if (c->stream_error || c->grpc_status != 0) {
        fprintf(stderr, "cri-bench: %s failed: stream error %u, grpc-status %d, grpc-message '%s'\n",
                m->name, c->stream_error, c->grpc_status, c->grpc_message);
        return -1;
    }
    if (c->response_len < 5) {
        fprintf(stderr, "cri-bench: %s returned no message\n", m->name);
        return -1;
    }
    body_len = (uint32_t)c->response[1] << 24 | (uint32_t)c->response[2] << 16 |
               (uint32_t)c->response[3] << 8 | c->response[4];
    if (c->response[0] != 0 || body_len != c->response_len - 5) {
        fprintf(stderr, "cri-bench: %s returned an invalid gRPC message of %zu bytes\n", m->name,
                c->response_len);
        return -1;
    }
    response = protobuf_c_message_unpack(m->response, NULL, body_len, c->response + 5);
    if (!response) {
        fprintf(stderr, "cri-bench: %s returned a message that does not unpack\n", m->name);
        return -1;
    }
    protobuf_c_message_free_unpacked(response, NULL);
    return 0;
}

struct options {
    const char *socket;
    const struct method *method;
    char *container_id;
    long calls, interval_ms, clients;
    double duration;
};

/* Runs calls for opts->duration seconds from start_at (CLOCK_MONOTONIC); returns the count. */
static long run_for(struct conn *c, const struct options *o, const ProtobufCMessage *msg,
                    double start_at)
{
    struct timespec ts;
    long count = 0;

    if (call(c, o->method, msg) < 0)
        return -1;
    while (now_s() < start_at) {
        ts.tv_sec = 0;
        ts.tv_nsec = 1000000;
        nanosleep(&ts, NULL);
    }
    while (now_s() < start_at + o->duration) {
        if (call(c, o->method, msg) < 0)
            return -1;
        count++;
    }
    return count;
}

/* Forks opts->clients workers that report their counts through a pipe; returns the total. */
static long throughput(const struct options *o, const ProtobufCMessage *msg)
{
    double start_at = now_s() + 1.0;
    long total = 0;
    int fds[2], failed = 0;

    if (pipe2(fds, O_CLOEXEC) < 0)
        return -1;
    for (long i = 0; i < o->clients; i++) {
        pid_t pid = fork();

        if (pid < 0)
            return -1;
        if (pid == 0) {
            struct conn c;
            long count = -1;

            close(fds[0]);
            if (conn_open(&c, o->socket) == 0)
                count = run_for(&c, o, msg, start_at);
            if (write(fds[1], &count, sizeof(count)) != sizeof(count))
                _exit(1);
            _exit(count < 0);
        }
    }
    close(fds[1]);
    for (long i = 0; i < o->clients; i++) {
        long count;

        if (read(fds[0], &count, sizeof(count)) != sizeof(count) || count < 0)
            failed = 1;
        else
            total += count;
    }
    close(fds[0]);
    while (wait(NULL) > 0)
        ;
    return failed ? -1 : total;
}

/* Sequential calls, or polling every interval until stdin ends; prints each latency. */
static int latencies(const struct options *o, const ProtobufCMessage *msg)
{
    struct conn c;
    double *samples = NULL;
    size_t n = 0, cap = 0;
    int r = 0;

    if (conn_open(&c, o->socket) < 0 || call(&c, o->method, msg) < 0)
        return -1;
    for (long i = 0; o->calls == 0 || i < o->calls; i++) {
        double begin;

        if (o->calls == 0) {
            struct pollfd p = {.fd = 0, .events = POLLIN};
            char buf[256];

            if (poll(&p, 1, (int)o->interval_ms) > 0 && read(0, buf, sizeof(buf)) <= 0)
                break;
        }
        begin = now_s();
        if (call(&c, o->method, msg) < 0) {
            r = -1;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            samples = realloc(samples, cap * sizeof(*samples));
            if (!samples)
                abort();
        }
        samples[n++] = now_s() - begin;
    }
    for (size_t i = 0; i < n; i++)
        printf("%.9f\n", samples[i]);
    free(samples);
    conn_close(&c);
    return r;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},     {"method", required_argument, NULL, 'm'},
        {"container-id", required_argument, NULL, 'c'}, {"calls", required_argument, NULL, 'n'},
        {"interval-ms", required_argument, NULL, 'i'},  {"clients", required_argument, NULL, 'p'},
        {"duration", required_argument, NULL, 'd'},     {NULL, 0, NULL, 0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            o->socket = optarg;
            break;
        case 'm':
            for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
                if (strcmp(optarg, methods[i].name) == 0)
                    o->method = &methods[i];
            }
            if (!o->method) {
                fprintf(stderr, "cri-bench: unsupported method '%s': expected Version, "
                                "ListContainers, ListPodSandbox or ContainerStatus\n",
                        optarg);
                return -1;
            }
            break;
        case 'c':
            o->container_id = optarg;
            break;
        case 'n':
            o->calls = atol(optarg);
            break;
        case 'i':
            o->interval_ms = atol(optarg);
            break;
        case 'p':
            o->clients = atol(optarg);
            break;
        case 'd':
            o->duration = atof(optarg);
            break;
        default:
            return -1;
        }
    }
    if (!o->socket || !o->method || o->calls < 0 || o->interval_ms < 0 || o->clients < 0 ||
        (o->clients > 0 && o->duration <= 0)) {
        fprintf(stderr, "usage: cri-bench --socket=PATH --method=NAME [--container-id=ID] "
                        "[--calls=N] [--interval-ms=MS] [--clients=N --duration=S]\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o = {.calls = 200, .interval_ms = 10};
    Runtime__V1__VersionRequest version = RUNTIME__V1__VERSION_REQUEST__INIT;
    Runtime__V1__ListContainersRequest list_containers = RUNTIME__V1__LIST_CONTAINERS_REQUEST__INIT;
    Runtime__V1__ListPodSandboxRequest list_pods = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__ContainerStatusRequest status = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
    const ProtobufCMessage *msg;

    signal(SIGPIPE, SIG_IGN);
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    version.version = (char *)"v1";
    if (o.container_id)
        status.container_id = o.container_id;
    if (o.method->response == &runtime__v1__version_response__descriptor)
        msg = &version.base;
    else if (o.method->response == &runtime__v1__list_containers_response__descriptor)
        msg = &list_containers.base;
    else if (o.method->response == &runtime__v1__list_pod_sandbox_response__descriptor)
        msg = &list_pods.base;
    else
        msg = &status.base;

    if (o.clients > 0) {
        long total = throughput(&o, msg);

        if (total < 0)
            return 1;
        printf("%ld\n", total);
        return 0;
    }
    return latencies(&o, msg) < 0 ? 1 : 0;
}
