/*
 * The keeper: the process crispd starts as.  It forks the reactor process
 * that does all the work, then executes the small crisp-keeper program
 * (keeper-main.c), which stays above the reactor as the child subreaper, so
 * pods and containers orphaned by a crash of the reactor become its
 * children.  It reaps them, writing each exit status to a record the
 * restarted reactor reads, and restarts the reactor when it dies.
 */
#ifndef CRISP_KEEPER_H
#define CRISP_KEEPER_H

#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"

/* Directory of exit records under the state directory.  Caller frees. */
char *keeper_exits_dir(const char *state_dir);

/* Settings crispd passes to the crisp-keeper program. */
struct keeper_args {
    const char *keeper_path; /* the crisp-keeper program */
    const char *state_dir;
    unsigned restart_delay_ms; /* pause before a reactor that died is started again */
    const char *log_level;     /* NULL: the keeper's default (info) */
    const char *log_format;    /* NULL: text */
};

/*
 * Start the reactor and become the keeper.  Forks the reactor process and
 * returns 0 in it; the reactor then runs the daemon.  The calling process
 * keeps its pid and executes a->keeper_path (crisp-keeper), which restarts
 * the reactor as "crispd --reactor-process ARGV[1]..." when it dies, and
 * exits with the reactor's final status once a SIGTERM or SIGINT it
 * forwarded has stopped it.  argv is crispd's own argument vector.  Returns
 * -1 with *err set when the reactor cannot be forked or the keeper cannot
 * be executed; no reactor is left running then.
 */
int keeper_start(const struct keeper_args *a, char **argv, struct err **err);

/* The exit record of pid started at start_time.  Caller frees. */
char *keeper_exit_record_path(const char *state_dir, pid_t pid, uint64_t start_time);

/*
 * Read the exit record of the process pid that started at start_time
 * (clock ticks since boot, /proc/PID/stat field 22), and delete it.
 * Returns 1 with the exit code (128 + N for signal N) and the time it was
 * reaped (ns since the epoch), 0 when there is no such record.
 */
int keeper_take_exit(const char *state_dir, pid_t pid, uint64_t start_time, int *ret_exit_code,
                     int64_t *ret_finished_at);

/* The start time of pid in clock ticks since boot, 0 when it cannot be read. */
uint64_t proc_start_time(pid_t pid);

#endif
