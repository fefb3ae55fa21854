/* User namespace ID maps: checks, the /proc/PID/uid_map text and lookups. */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>

#include "platform/platform.h"
#include "util/strbuf.h"

static bool ranges_overlap(uint32_t a, uint32_t a_len, uint32_t b, uint32_t b_len)
{
    return (uint64_t)a < (uint64_t)b + b_len && (uint64_t)b < (uint64_t)a + a_len;
}

int id_map_check(const struct id_map *map, size_t n, const char *field, struct err **err)
{
    if (n == 0)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "%s is empty", field);
    if (n > ID_MAP_MAX_RANGES)
        return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                          "%s has %zu ranges, more than the kernel's limit of %d", field, n,
                          ID_MAP_MAX_RANGES);
    for (size_t i = 0; i < n; i++) {
        const struct id_map *r = &map[i];

        if (r->length == 0)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT, "%s[%zu].length is 0", field,
                              i);
        if ((uint64_t)r->container_id + r->length - 1 > UINT32_MAX - 1 ||
            (uint64_t)r->host_id + r->length - 1 > UINT32_MAX - 1)
            return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                              "%s[%zu] runs past the largest ID 4294967294", field, i);
        for (size_t j = 0; j < i; j++) {
            if (ranges_overlap(r->container_id, r->length, map[j].container_id, map[j].length))
                return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                                  "%s[%zu] overlaps %s[%zu] in container IDs", field, i, field,
                                  j);
            if (ranges_overlap(r->host_id, r->length, map[j].host_id, map[j].length))
                return err_status(err, GRPC_STATUS_INVALID_ARGUMENT,
                                  "%s[%zu] overlaps %s[%zu] in host IDs", field, i, field, j);
        }
    }
    return 0;
}

char *id_map_format(const struct id_map *map, size_t n)
{
    struct strbuf out = STRBUF_INIT;

    for (size_t i = 0; i < n; i++)
        strbuf_printf(&out, "%" PRIu32 " %" PRIu32 " %" PRIu32 "\n", map[i].container_id,
                       map[i].host_id, map[i].length);
    return strbuf_take(&out);
}

int64_t id_map_to_host(const struct id_map *map, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (id >= map[i].container_id && (uint64_t)id < (uint64_t)map[i].container_id + map[i].length)
            return (int64_t)map[i].host_id + (id - map[i].container_id);
    }
    return -1;
}
