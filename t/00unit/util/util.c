/* Unit tests for src/util: errors, buffers, ids and paths. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "keeper.h"
#include "util/cleanup.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/id.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static void test_err(void)
{
    struct err *e = NULL;
    char *text;

    errno = ENOENT;
    is_int(err_sys(&e, "open '%s'", "/x"), -1, "err_sys returns -1");
    is_int(e->errnum, ENOENT, "err_sys records errno");
    text = err_text(e);
    is_str(text, "open '/x': No such file or directory", "err_text appends strerror");
    free(text);
    is_int(err_grpc_status(e), GRPC_STATUS_NOT_FOUND, "ENOENT maps to NOT_FOUND");

    err_wrap(&e, "pull '%s'", "busybox");
    text = err_text(e);
    is_str(text, "pull 'busybox': open '/x': No such file or directory", "err_wrap prefixes");
    free(text);

    err_status(&e, GRPC_STATUS_INVALID_ARGUMENT, "config.metadata is missing");
    is_int(e->errnum, 0, "err_status replaces the error and has no errno");
    is_int(err_grpc_status(e), GRPC_STATUS_INVALID_ARGUMENT, "err_status keeps its status");
    err_free(e);

    is_int(grpc_status_from_errno(EEXIST), GRPC_STATUS_ALREADY_EXISTS, "EEXIST");
    is_int(grpc_status_from_errno(EINVAL), GRPC_STATUS_INVALID_ARGUMENT, "EINVAL");
    is_int(grpc_status_from_errno(EOPNOTSUPP), GRPC_STATUS_UNIMPLEMENTED, "EOPNOTSUPP");
    is_int(grpc_status_from_errno(EIO), GRPC_STATUS_INTERNAL, "unmapped errno is INTERNAL");
    is_str(grpc_status_name(GRPC_STATUS_UNIMPLEMENTED), "UNIMPLEMENTED", "status name");
    is_str(grpc_status_name(99), "UNKNOWN", "out-of-range status name");
}

static void test_strbuf(void)
{
    struct strbuf b = STRBUF_INIT;
    char *s;

    strbuf_append_quoted(&b, "a \"b\"\\\n\x01");
    is_str(b.buf, "\"a \\\"b\\\"\\\\\\n\\x01\"", "quoted escapes quotes, backslash, controls");
    strbuf_reset(&b);
    strbuf_append_json_string(&b, "\x1f");
    is_str(b.buf, "\"\\u001f\"", "JSON escapes controls as \\u");
    strbuf_reset(&b);
    for (int i = 0; i < 1000; i++)
        strbuf_printf(&b, "%d,", i % 10);
    is_int(b.len, 2000, "printf appends grow the buffer");
    s = strbuf_take(&b);
    is_int(strlen(s), 2000, "take hands over the whole string");
    is_int(b.len, 0, "take empties the buffer");
    free(s);
    strbuf_done(&b);
}

static void test_id(void)
{
    char id[ID_LEN + 1], other[ID_LEN + 1];

    id_generate(id);
    id_generate(other);
    is_int(strlen(id), ID_LEN, "generated id has 64 characters");
    ok(id_is_valid_prefix(id), "generated id is lowercase hex");
    ok(strcmp(id, other) != 0, "two generated ids differ");
    ok(id_is_valid_prefix("0a"), "short hex prefix is valid");
    ok(!id_is_valid_prefix(""), "empty prefix is invalid");
    ok(!id_is_valid_prefix("0A"), "upper-case hex is invalid");
    ok(!id_is_valid_prefix("xyz"), "non-hex is invalid");
}

static void test_paths(void)
{
    char *p;

    p = path_join("/a/", "/b");
    is_str(p, "/a/b", "path_join drops duplicate slashes");
    free(p);
    p = path_join("/", "b");
    is_str(p, "/b", "path_join on the root");
    free(p);
}

static void test_files(void)
{
    char dir[] = "/tmp/crisp-util-XXXXXX";
    _cleanup_free_ char *nested = NULL, *file = NULL, *data = NULL;
    struct err *e = NULL;
    size_t len = 0;

    ok(mkdtemp(dir) != NULL, "make a temp dir");
    nested = path_join(dir, "a/b/c");
    is_int(mkdir_p(nested, 0700, &e), 0, "mkdir_p creates parents");
    is_int(mkdir_p(nested, 0700, &e), 0, "mkdir_p on an existing dir succeeds");
    file = path_join(nested, "f");
    is_int(write_file_atomic(file, "hello", 5, 0600, &e), 0, "write_file_atomic");
    is_int(read_file(file, 1024, &data, &len, &e), 0, "read_file");
    is_str(data, "hello", "read back what was written");
    is_int(len, 5, "read length");
    free(data);
    data = NULL;
    is_int(read_file(file, 3, &data, &len, &e), -1, "read_file over max_size fails");
    is_int(e->errnum, EFBIG, "with EFBIG");
    err_free(e);
    e = NULL;
    is_int(rm_rf(dir, &e), 0, "rm_rf removes the tree");
    ok(access(dir, F_OK) < 0 && errno == ENOENT, "tree is gone");
    is_int(rm_rf(dir, &e), 0, "rm_rf on a missing path succeeds");
}

/* Field 22 of /proc/self/stat, counted after the ')' that ends the command name. */
static unsigned long long stat_field_22(void)
{
    char buf[1024], *p;
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    unsigned long long v = 0;
    int field = 2;

    if (f)
        fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    for (char *tok = p ? p + 2 : NULL; tok && *tok; field++) {
        char *end = strchr(tok, ' ');

        if (field + 1 == 22) {
            v = strtoull(tok, NULL, 10);
            break;
        }
        tok = end ? end + 1 : NULL;
    }
    return v;
}

static void test_start_time(void)
{
    unsigned long long expected = stat_field_22();

    ok(expected > 0, "field 22 of /proc/self/stat is read");
    is_int(proc_start_time(getpid()), expected, "proc_start_time reads field 22 (starttime)");
    is_int(proc_start_time(0), 0, "an unreadable pid gives 0");
}

int main(void)
{
    test_start_time();
    test_err();
    test_strbuf();
    test_id();
    test_paths();
    test_files();
    return tap_done();
}
