/*
 * CRI handlers: translate requests into store, image and platform
 * operations and their results back into responses.
 */
#ifndef CRISP_HANDLERS_H
#define CRISP_HANDLERS_H

#include <stdbool.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "util/err.h"
#include "util/log.h"
#include "util/id.h"

struct event_base;
struct grpc_call;
struct store;
struct image_store;
struct registry_host;
struct sandbox;
struct container;

/* Daemon settings, from the command line and the configuration file. */
struct crisp_config {
    char *socket_path;
    char *root_dir;
    char *state_dir;
    char *config_path;
    char *pause_path;
    char *unpack_path; /* crisp-unpack, run for each layer pulled */
    char **insecure_registries; /* NULL-terminated */
    unsigned shutdown_grace_ms;
    int cgroup_driver;          /* enum cgroup_driver: how pods write cgroup_parent */
    int64_t pids_limit;         /* pids.max of every container, 0: not set */
    struct registry_host *registry_hosts; /* the "registries" object of the file */
    size_t n_registry_hosts;
    unsigned image_pull_progress_timeout_s; /* 0: the image module's default */
    unsigned max_concurrent_downloads;      /* 0: the image module's default */
    uint64_t rlimit_nofile;     /* containers' soft and hard RLIMIT_NOFILE */
};

/*
 * Read "cgroup_driver" ("cgroupfs", the default, or "systemd") and
 * "pids_limit" (-1 for unlimited) from the configuration file's JSON
 * object root (a json_t *).
 */
int handlers_load_cgroup_config(struct crisp_config *c, void *root, struct err **err);

/* The daemon: everything a handler can reach. */
struct crisp {
    struct event_base *base;
    struct crisp_config *config;
    struct store *store;
    struct image_store *images;
};

/* Route a call to its handler (a grpc_dispatch_fn; data is the struct crisp). */
void handlers_dispatch(void *data, struct grpc_call *call);

/* Bring the loaded records in line with what runs: called once at start-up. */
void handlers_recover(struct crisp *crisp);

/* Stop every container and pod process crispd watches, without waiting (shutdown). */
void handlers_detach(struct crisp *crisp);

#endif
