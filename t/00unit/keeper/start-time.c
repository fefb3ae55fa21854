/* proc_start_time(): field 22 of /proc/PID/stat, also for a command name with spaces and ')'. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "keeper.h"
#include "../tap.h"

/* Field 22 of /proc/self/stat read with scanf, for a command name without spaces. */
static unsigned long long start_time_by_scanf(void)
{
    unsigned long long start = 0;
    FILE *f = fopen("/proc/self/stat", "re");

    if (!f)
        return 0;
    if (fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
                  "%*d %*d %llu",
               &start) != 1)
        start = 0;
    fclose(f);
    return start;
}

int main(void)
{
    unsigned long long expected;

    prctl(PR_SET_NAME, "start-time", 0, 0, 0);
    expected = start_time_by_scanf();
    ok(expected > 0, "scanf reads a start time from /proc/self/stat");
    is_int((long long)proc_start_time(getpid()), (long long)expected,
           "proc_start_time returns field 22");

    prctl(PR_SET_NAME, "a ) b ) c", 0, 0, 0);
    is_int((long long)proc_start_time(getpid()), (long long)expected,
           "a command name with spaces and ')' does not shift the fields");

    is_int((long long)proc_start_time(0x7ffffff0), 0, "a pid without a process returns 0");
    return tap_done();
}
