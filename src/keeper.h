/*
 * The keeper: the process crispd starts as.  It forks the reactor process
 * that does all the work, and stays above it as the child subreaper, so
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

/*
 * Become the keeper.  Returns 0 in the reactor process, which then runs
 * the daemon; in the keeper it never returns but exits with the reactor's
 * final status once a SIGTERM or SIGINT it forwarded has stopped it.
 * restart_delay_ms is the pause before the reactor is started again after
 * it died.
 */
int keeper_run(const char *state_dir, unsigned restart_delay_ms, struct err **err);

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
