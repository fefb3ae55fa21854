#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "handlers/rpc.h"
#include "image/image.h"
#include "platform/platform.h"
#include "store/store.h"
#include "util/cleanup.h"
#include "util/xalloc.h"

struct crisp *handlers_crisp;

static int pidfd_open_alive(pid_t pid)
{
    if (pid <= 0)
        return -1;
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void on_adopted_pause_exit(void *data, pid_t pid, int exit_code, int signal)
{
    struct sandbox *sb = data;

    (void)pid;
    (void)exit_code;
    (void)signal;
    proc_watch_free(sb->watch);
    sb->watch = NULL;
    close_and_reset(&sb->pidfd);
    sb->pid = 0;
    sb->state = SANDBOX_NOTREADY;
    store_save_sandbox(handlers_crisp->store, sb, NULL);
    waiters_notify(&sb->stop_waiters, NULL);
}

/* A process crispd did not start this time: waitid() cannot give its exit code. */
static void on_adopted_container_exit(void *data, pid_t pid, int exit_code, int signal)
{
    struct container *c = data;

    (void)pid;
    (void)signal;
    proc_watch_free(c->watch);
    c->watch = NULL;
    if (c->stop_timer) {
        event_free(c->stop_timer);
        c->stop_timer = NULL;
    }
    close_and_reset(&c->pidfd);
    c->pid = 0;
    c->state = CONTAINER_EXITED;
    c->finished_at = now_ns();
    c->exit_code = exit_code >= 0 ? exit_code : 255;
    free(c->reason);
    c->reason = xstrdup(exit_code >= 0 ? (exit_code == 0 ? "Completed" : "Error") : "Unknown");
    c->stopping = false;
    store_save_container(handlers_crisp->store, c, NULL);
    waiters_notify(&c->stop_waiters, NULL);
}

/*
 * NOTE: a restarted crispd adopts processes by pid alone, so a pid reused
 * by an unrelated process after a reboot-free crash would be adopted too,
 * and the output pipes of adopted containers are gone.
 */
void handlers_recover(struct crisp *crisp)
{
    struct sandbox **sbs;
    struct container **ctrs;
    size_t n;

    handlers_crisp = crisp;

    sbs = store_sandboxes(crisp->store, &n);
    for (size_t i = 0; i < n; i++) {
        struct sandbox *sb = sbs[i];
        int fd = sb->state == SANDBOX_READY ? pidfd_open_alive(sb->pid) : -1;

        sb->state_dir = xasprintf("%s/pods/%s", crisp->config->state_dir, sb->id);
        if (fd < 0) {
            sb->state = SANDBOX_NOTREADY;
            sb->pid = 0;
        } else {
            sb->pidfd = fd;
            sb->watch = proc_watch_new(crisp->base, sb->pid, fd, on_adopted_pause_exit, sb);
        }
        store_save_sandbox(crisp->store, sb, NULL);
    }

    ctrs = store_containers(crisp->store, &n);
    for (size_t i = 0; i < n; i++) {
        _cleanup_err_ struct err *e = NULL;

        if (ctrs[i]->image_id && image_store_hold(crisp->images, ctrs[i]->image_id, &e) < 0)
            log_warn_err(e, "container %s: its image's layers are not held", ctrs[i]->id);
    }
    image_store_drop_stale_holds(crisp->images);

    for (size_t i = 0; i < n; i++) {
        struct container *c = ctrs[i];
        int fd;

        if (c->state != CONTAINER_RUNNING && c->state != CONTAINER_CREATED)
            continue;
        fd = c->state == CONTAINER_RUNNING ? pidfd_open_alive(c->pid) : -1;
        if (fd < 0) {
            /* A parked CREATED process exits when its sync socket closes. */
            c->state = CONTAINER_EXITED;
            c->finished_at = now_ns();
            c->exit_code = 255;
            free(c->reason);
            c->reason = xstrdup("Unknown");
            free(c->message);
            c->message = xstrdup("the container ended while crispd was not running; its exit "
                                 "code is unknown");
            c->pid = 0;
        } else {
            c->pidfd = fd;
            c->watch = proc_watch_new(crisp->base, c->pid, fd, on_adopted_container_exit, c);
        }
        store_save_container(crisp->store, c, NULL);
    }
}

void handlers_detach(struct crisp *crisp)
{
    struct sandbox **sbs;
    struct container **ctrs;
    size_t n;

    ctrs = store_containers(crisp->store, &n);
    for (size_t i = 0; i < n; i++) {
        struct container *c = ctrs[i];

        proc_watch_free(c->watch);
        c->watch = NULL;
        if (c->stop_timer) {
            event_free(c->stop_timer);
            c->stop_timer = NULL;
        }
        platform_ctr_free(c->proc);
        c->proc = NULL;
        log_pump_free(c->log);
        c->log = NULL;
        close_and_reset(&c->pidfd);
    }

    sbs = store_sandboxes(crisp->store, &n);
    for (size_t i = 0; i < n; i++) {
        proc_watch_free(sbs[i]->watch);
        sbs[i]->watch = NULL;
        close_and_reset(&sbs[i]->pidfd);
    }
}
