/*
 * In-memory index of pod sandboxes and containers, and their durable
 * records.  Each object lives in a directory of its own:
 *   <dir>/request.pb   the CRI request that created it, as received
 *   <dir>/status.json  its status, rewritten atomically on every change
 * store_load() rebuilds the index from those files at start-up.
 */
#ifndef CRISP_STORE_H
#define CRISP_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/api.pb-c.h"
#include "util/err.h"
#include "util/id.h"

struct proc_watch;
struct log_pump;
struct ctr_proc;
struct event;

enum sandbox_state {
    SANDBOX_READY = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY,
    SANDBOX_NOTREADY = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY,
};

enum container_state {
    CONTAINER_CREATED = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED,
    CONTAINER_RUNNING = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING,
    CONTAINER_EXITED = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED,
    CONTAINER_UNKNOWN = RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN,
};

/* A call waiting for an operation on an object to finish (handlers own the type). */
struct waiter {
    struct waiter *next;
    void (*done)(struct waiter *w, const struct err *e);
};

struct sandbox {
    char id[ID_LEN + 1];
    char *name;                               /* name_namespace_uid_attempt, unique */
    char *dir;                                /* durable record directory */
    char *state_dir;                          /* per-boot directory */
    uint8_t *request;                         /* RunPodSandboxRequest as received */
    size_t request_len;
    Runtime__V1__RunPodSandboxRequest *req;   /* unpacked request */
    const Runtime__V1__PodSandboxConfig *config;
    enum sandbox_state state;
    int64_t created_at;                       /* ns since the epoch */
    pid_t pid;                                /* pause process, 0 when not running */
    uint64_t start_time;                      /* of pid, in clock ticks since boot */
    int pidfd;
    struct proc_watch *watch;
    bool creating;                            /* RunPodSandbox has not finished */
    uint8_t *list_item;                       /* packed PodSandbox of ListPodSandbox, or NULL */
    size_t list_item_len;
    enum sandbox_state list_item_state;       /* the state list_item was packed with */
    bool stopping;
    struct waiter *stop_waiters;
    bool removed;
};

struct container {
    char id[ID_LEN + 1];
    char *name;                               /* name_podname_namespace_uid_attempt, unique */
    char *dir;                                /* durable record directory, also the bundle */
    char sandbox_id[ID_LEN + 1];
    uint8_t *request;                         /* CreateContainerRequest as received */
    size_t request_len;
    Runtime__V1__CreateContainerRequest *req;
    const Runtime__V1__ContainerConfig *config;
    char *image_id;                           /* "sha256:..." */
    char *image_ref;                          /* repo digest, or the id */
    char *image_name;                         /* the image as the request named it */
    char *log_path;                           /* absolute, NULL when not logging */
    char *stop_signal;                        /* from the image config, NULL for SIGTERM */
    enum container_state state;
    int64_t created_at, started_at, finished_at;
    int32_t exit_code;
    char *reason;
    char *message;
    pid_t pid;
    uint64_t start_time;                      /* of pid, in clock ticks since boot */
    int pidfd;
    struct ctr_proc *proc;
    struct proc_watch *watch;
    struct log_pump *log;
    bool creating;                            /* CreateContainer has not finished */
    uint8_t *list_item;                       /* packed Container of ListContainers, or NULL */
    size_t list_item_len;
    enum container_state list_item_state;     /* the state list_item was packed with */
    bool starting;                            /* StartContainer has not finished */
    bool exit_pending;                        /* exited during the start, not reported yet */
    int pending_exit_code;
    int64_t pending_finished_at;
    bool stopping;
    struct waiter *stop_waiters;
    struct event *stop_timer;                 /* the stop timeout, or the exit record poll */
    int exit_polls;
    bool removed;
};

struct store;

/* Open the store rooted at dir (records under dir/pods and dir/containers). */
int store_open(const char *dir, struct store **ret, struct err **err);
void store_free(struct store *s);

/* Read every record back into memory; unreadable records are skipped with a warning. */
int store_load(struct store *s, struct err **err);

/* Iterate: the arrays belong to the store and change with add/remove. */
struct sandbox **store_sandboxes(struct store *s, size_t *ret_n);
struct container **store_containers(struct store *s, size_t *ret_n);

/*
 * Find by full id or unique prefix.  NULL and no error when nothing matches;
 * NULL and INVALID_ARGUMENT when the prefix is ambiguous or not hex.
 */
struct sandbox *store_find_sandbox(struct store *s, const char *id, struct err **err);
struct container *store_find_container(struct store *s, const char *id, struct err **err);

struct sandbox *store_find_sandbox_by_name(struct store *s, const char *name);
struct container *store_find_container_by_name(struct store *s, const char *name);

/*
 * Create a sandbox record from a RunPodSandboxRequest (bytes copied, message
 * taken over): new id, directories created, request written.
 */
struct sandbox *store_add_sandbox(struct store *s, const uint8_t *request, size_t len,
                                  Runtime__V1__RunPodSandboxRequest *req, const char *name,
                                  struct err **err);
struct container *store_add_container(struct store *s, struct sandbox *sb, const uint8_t *request,
                                      size_t len, Runtime__V1__CreateContainerRequest *req,
                                      const char *name, struct err **err);

/* Write the status record. */
int store_save_sandbox(struct store *s, struct sandbox *sb, struct err **err);
int store_save_container(struct store *s, struct container *c, struct err **err);

/* Delete the records and drop the object from the index; the object is freed. */
int store_remove_sandbox(struct store *s, struct sandbox *sb, struct err **err);
int store_remove_container(struct store *s, struct container *c, struct err **err);

/* Nanoseconds since the epoch (CLOCK_REALTIME). */
int64_t now_ns(void);

#endif
