/* Unit tests of the user namespace ID maps: checks, /proc text and lookups. */
#include "config.h"

#include <stdlib.h>

#include "platform/platform.h"
#include "../tap.h"

static void check_rejected(const struct id_map *map, size_t n, const char *expected)
{
    struct err *e = NULL;

    is_int(id_map_check(map, n, "uids", &e), -1, "rejected: %s", expected);
    is_str(e ? e->msg : NULL, expected, "message: %s", expected);
    is_int(e ? err_grpc_status(e) : 0, GRPC_STATUS_INVALID_ARGUMENT, "INVALID_ARGUMENT: %s",
           expected);
    err_free(e);
}

int main(void)
{
    const struct id_map one[] = {{0, 100000, 65536}};
    const struct id_map two[] = {{0, 100000, 1000}, {1000, 300000, 1000}};
    const struct id_map zero[] = {{0, 100000, 0}};
    const struct id_map overlap_ctr[] = {{0, 100000, 1000}, {999, 300000, 10}};
    const struct id_map overlap_host[] = {{0, 100000, 1000}, {5000, 100999, 10}};
    const struct id_map past_end[] = {{0, 4294967290u, 10}};
    char *text;

    is_int(id_map_check(one, 1, "uids", NULL), 0, "one range is valid");
    is_int(id_map_check(two, 2, "uids", NULL), 0, "two disjoint ranges are valid");
    check_rejected(one, 0, "uids is empty");
    check_rejected(zero, 1, "uids[0].length is 0");
    check_rejected(overlap_ctr, 2, "uids[1] overlaps uids[0] in container IDs");
    check_rejected(overlap_host, 2, "uids[1] overlaps uids[0] in host IDs");
    check_rejected(past_end, 1, "uids[0] runs past the largest ID 4294967294");

    text = id_map_format(two, 2);
    is_str(text, "0 100000 1000\n1000 300000 1000\n", "two ranges format as uid_map lines");
    free(text);

    is_int(id_map_to_host(two, 2, 0), 100000, "container 0 is host 100000");
    is_int(id_map_to_host(two, 2, 999), 100999, "container 999 is host 100999");
    is_int(id_map_to_host(two, 2, 1000), 300000, "container 1000 is host 300000");
    is_int(id_map_to_host(two, 2, 2000), -1, "container 2000 is unmapped");
    return tap_done();
}
