/* The per-call context shared by the handler files. */
#ifndef CRISP_HANDLERS_RPC_H
#define CRISP_HANDLERS_RPC_H

#include "handlers/handlers.h"
#include "proto/api.pb-c.h"
#include "store/store.h"

struct rpc;

typedef void (*rpc_handler_fn)(struct rpc *rpc);

struct method {
    const char *name;                           /* "RunPodSandbox" */
    bool image_service;                         /* ImageService, else RuntimeService */
    const ProtobufCMessageDescriptor *request;
    rpc_handler_fn handler;                     /* NULL: not supported yet */
};

struct rpc {
    struct crisp *crisp;
    struct grpc_call *call;
    const struct method *method;
    bool v1alpha2;                              /* called under runtime.v1alpha2 */
    ProtobufCMessage *req;
    const uint8_t *raw;                         /* the request bytes, valid until the call ends */
    size_t raw_len;
    struct log_ids ids;
    char pod_id[ID_LEN + 1];
    char container_id[ID_LEN + 1];
    struct waiter waiter;
    void *op;                                   /* operation state of the handler */
};

/* Send resp and release rpc. */
void rpc_reply(struct rpc *rpc, const ProtobufCMessage *resp);
/* Send an already packed response message and release rpc. */
void rpc_reply_packed(struct rpc *rpc, const uint8_t *data, size_t len);
/*
 * Append a length-delimited protobuf field (field < 16) holding data: how
 * a list response is built from items packed once and cached.
 */
struct strbuf;
void packed_append_field(struct strbuf *out, unsigned field, const uint8_t *data, size_t len);
/* Send the error (logged once, at a level chosen by its status) and release rpc. */
void rpc_fail(struct rpc *rpc, const struct err *e);
/* rpc_fail() with a status and formatted message. */
void rpc_failf(struct rpc *rpc, enum grpc_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Record the ids the log lines of this call carry. */
void rpc_set_pod(struct rpc *rpc, const char *id);
void rpc_set_container(struct rpc *rpc, const char *id);

/* Handlers, one group per file. */
void rpc_version(struct rpc *rpc);
void rpc_status(struct rpc *rpc);
void rpc_runtime_config(struct rpc *rpc);

void rpc_run_pod_sandbox(struct rpc *rpc);
void rpc_stop_pod_sandbox(struct rpc *rpc);
void rpc_remove_pod_sandbox(struct rpc *rpc);
void rpc_pod_sandbox_status(struct rpc *rpc);
void rpc_list_pod_sandbox(struct rpc *rpc);

void rpc_create_container(struct rpc *rpc);
void rpc_start_container(struct rpc *rpc);
void rpc_stop_container(struct rpc *rpc);
void rpc_remove_container(struct rpc *rpc);
void rpc_container_status(struct rpc *rpc);
void rpc_list_containers(struct rpc *rpc);
void rpc_reopen_container_log(struct rpc *rpc);

void rpc_pull_image(struct rpc *rpc);
void rpc_list_images(struct rpc *rpc);
void rpc_image_status(struct rpc *rpc);
void rpc_remove_image(struct rpc *rpc);
void rpc_image_fs_info(struct rpc *rpc);

/* Shared by sandbox.c and container.c. */

/* The daemon the handlers serve, for callbacks that only get an object. */
extern struct crisp *handlers_crisp;

/* Stop a container: signal, then SIGKILL after timeout_s; w->done runs once it has exited. */
void container_stop(struct crisp *crisp, struct container *c, int64_t timeout_s, struct waiter *w);
/* Delete a stopped pod's cgroup, per-boot state and records; sb is freed. */
int sandbox_release(struct crisp *crisp, struct sandbox *sb, struct err **err);
/* Stop watching c's process: its watch, stop timer, platform handle and pidfd go. */
void container_unwatch(struct container *c);
/*
 * Record that c's process ended (a CREATED or RUNNING container becomes
 * EXITED; reason NULL picks Completed or Error by the code), save the
 * record and wake the calls waiting for it to stop.
 */
void container_exited(struct container *c, int exit_code, int64_t finished_at, const char *reason,
                      const char *message);
/* Pump the output FIFOs of a container crispd did not create this time into its log. */
int container_open_log(struct crisp *crisp, struct container *c, struct err **err);
/* Release a stopped container's resources and records. */
int container_remove(struct crisp *crisp, struct container *c, struct err **err);
/* Whether labels contain every pair of selector. */
bool labels_match(size_t n_labels, void *const *labels, size_t n_selector, void *const *selector);
/* Run pending waiters of an operation with its result. */
void waiters_notify(struct waiter **list, const struct err *e);

#endif
