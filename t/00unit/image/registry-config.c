/* registry_hosts_parse: the "registries" object of the configuration file. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "image/image.h"
#include "../tap.h"

/* Parse text; return the error message ("" on success) and free everything. */
static char *parse_error(const char *text)
{
    json_t *root = json_loads(text, 0, NULL);
    struct registry_host *hosts = NULL;
    struct err *e = NULL;
    size_t n = 0;
    char *msg;

    if (registry_hosts_parse(root, &hosts, &n, &e) < 0) {
        msg = strdup(e->msg);
        err_free(e);
    } else {
        msg = strdup("");
        registry_hosts_free(hosts, n);
    }
    json_decref(root);
    return msg;
}

static void test_full_entry(void)
{
    json_t *root = json_loads("{\"docker.io\": {\"mirrors\": [\"https://m1:5000\", \"m2\"]},"
                              " \"r.example:5000\": {\"insecure\": true, \"ca_file\": \"/dev/null\","
                              " \"auth\": {\"username\": \"u\", \"password\": \"p\","
                              " \"identity_token\": \"i\"}}}",
                              0, NULL);
    struct registry_host *hosts = NULL;
    struct err *e = NULL;
    size_t n = 0;

    is_int(registry_hosts_parse(root, &hosts, &n, &e), 0, "valid object parses");
    is_int((int)n, 2, "two hosts");
    is_str(hosts[0].host, "docker.io", "first host");
    is_str(hosts[0].mirrors[0], "https://m1:5000", "first mirror");
    is_str(hosts[0].mirrors[1], "m2", "mirror without a scheme");
    ok(hosts[0].mirrors[2] == NULL, "mirror list ends with NULL");
    ok(!hosts[0].insecure, "insecure defaults to false");
    ok(hosts[1].insecure, "insecure true");
    is_str(hosts[1].ca_file, "/dev/null", "ca_file");
    is_str(hosts[1].auth.username, "u", "auth.username");
    is_str(hosts[1].auth.password, "p", "auth.password");
    is_str(hosts[1].auth.identity_token, "i", "auth.identity_token");
    ok(hosts[1].auth.registry_token == NULL, "unset auth field is NULL");
    registry_hosts_free(hosts, n);
    json_decref(root);
}

static void test_rejected(void)
{
    static const struct {
        const char *json;
        const char *msg;
    } cases[] = {
        {"[]", "registries: expected an object keyed by host"},
        {"{\"h\": 1}", "registries.\"h\": expected an object"},
        {"{\"h\": {\"insecur\": true}}",
         "registries.\"h\": unknown key 'insecur' (expected insecure, ca_file, mirrors or auth)"},
        {"{\"h\": {\"insecure\": \"yes\"}}", "registries.\"h\".insecure: expected true or false"},
        {"{\"h\": {\"mirrors\": \"m\"}}", "registries.\"h\".mirrors: expected an array of strings"},
        {"{\"h\": {\"mirrors\": [\"ftp://m\"]}}",
         "registries.\"h\".mirrors[0]: the scheme must be http or https"},
        {"{\"h\": {\"mirrors\": [\"https://u:secret@m\"]}}",
         "registries.\"h\".mirrors[0]: user info is not allowed in a mirror; give credentials in "
         "the mirror host's own \"auth\""},
        {"{\"h\": {\"mirrors\": [\"http:///v2\"]}}", "registries.\"h\".mirrors[0]: the host is missing"},
        {"{\"h\": {\"auth\": {\"user\": \"x\"}}}", "registries.\"h\".auth: unknown key 'user'"},
        {"{\"h\": {\"auth\": {\"password\": 5}}}", "registries.\"h\".auth.password: expected a string"},
        {"{\"h\": {\"ca_file\": \"/nonexistent/ca.pem\"}}",
         "registries.\"h\".ca_file '/nonexistent/ca.pem': No such file or directory"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *msg = parse_error(cases[i].json);

        is_str(msg, cases[i].msg, "rejects %s", cases[i].json);
        free(msg);
    }
}

int main(void)
{
    test_full_entry();
    test_rejected();
    return tap_done();
}
