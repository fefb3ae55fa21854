/* Unit tests for the gRPC message framing, grpc-timeout and grpc-message encoding. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "reactor/grpc-wire.h"
#include "util/cleanup.h"
#include "../tap.h"

static void test_timeout_units(void)
{
    static const struct {
        const char *value;
        uint64_t usec;
    } cases[] = {
        {"1H", 3600ULL * 1000000},
        {"2M", 120ULL * 1000000},
        {"3S", 3000000},
        {"50m", 50000},
        {"7u", 7},
        {"1n", 1},
        {"999n", 1},
        {"1000n", 1},
        {"1001n", 2},
        {"0S", 0},
        {"00000010S", 10000000},
        {"99999999H", 99999999ULL * 3600 * 1000000},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t usec = 12345;
        int r = grpc_timeout_parse(cases[i].value, strlen(cases[i].value), &usec);

        is_int(r, 0, "timeout %s parses", cases[i].value);
        is_int(usec, cases[i].usec, "timeout %s is %llu us", cases[i].value,
               (unsigned long long)cases[i].usec);
    }
}

static void test_timeout_invalid(void)
{
    static const char *const cases[] = {
        "",    "S",   "1",   "10",  "123456789S", "1s",   "1h",   "1X",
        "-1S", "+1S", " 1S", "1 S", "1S ",        "1.5S", "0x1S", "1SS",
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        uint64_t usec = 12345;
        int r = grpc_timeout_parse(cases[i], strlen(cases[i]), &usec);

        is_int(r, -1, "timeout '%s' is rejected", cases[i]);
        is_int(usec, 12345, "timeout '%s' leaves the output alone", cases[i]);
    }

    /* The length bounds the value: "5S" followed by junk the caller did not pass. */
    {
        uint64_t usec = 0;

        is_int(grpc_timeout_parse("5Sxyz", 2, &usec), 0, "timeout reads only len bytes");
        is_int(usec, 5000000, "timeout 5S from a longer buffer");
    }
}

static void test_message_encode(void)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"", ""},
        {"plain text, 100 ~ ok", "plain text, 100 ~ ok"},
        {"50%", "50%25"},
        {"%%", "%25%25"},
        {"caf\xc3\xa9", "caf%C3%A9"},
        {"line\nbreak\ttab", "line%0Abreak%09tab"},
        {"del\x7f", "del%7F"},
        {"\xff", "%FF"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *got = grpc_message_encode(cases[i].in);

        is_str(got, cases[i].out, "grpc-message encoding of case %zu", i);
        free(got);
    }
}

/* Two messages back to back: "hello" and an empty one, then the prefix of a third. */
static const uint8_t stream_bytes[] = {
    0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0, 0, 0, 0, 0, 0, 0,
};

/* Feed buf in pieces split at split (and the rest), collecting complete messages. */
static void feed_split(size_t split)
{
    struct grpc_decoder d;
    size_t offsets[] = {0, split, sizeof(stream_bytes)};
    char got[3][8];
    size_t got_len[3];
    int messages = 0;

    grpc_decoder_init(&d, 16);
    for (int piece = 0; piece < 2; piece++) {
        const uint8_t *p = stream_bytes + offsets[piece];
        size_t left = offsets[piece + 1] - offsets[piece];

        while (left > 0) {
            size_t used = 0;
            enum grpc_decode_event ev = grpc_decoder_feed(&d, p, left, &used);

            p += used;
            left -= used;
            if (ev == GRPC_DECODE_MESSAGE && messages < 3) {
                size_t len;
                uint8_t *msg = grpc_decoder_take(&d, &len);

                got_len[messages] = len;
                memcpy(got[messages], msg ? (char *)msg : "", len);
                got[messages][len] = '\0';
                messages++;
                free(msg);
            } else if (ev != GRPC_DECODE_MESSAGE && ev != GRPC_DECODE_MORE) {
                break;
            }
        }
    }

    is_int(messages, 2, "split at %zu: two messages", split);
    if (messages == 2) {
        is_int(got_len[0], 5, "split at %zu: first length", split);
        is_str(got[0], "hello", "split at %zu: first payload", split);
        is_int(got_len[1], 0, "split at %zu: second is empty", split);
    }
    ok(grpc_decoder_in_message(&d), "split at %zu: third prefix is pending", split);
    is_int(d.prefix_len, 3, "split at %zu: three prefix bytes held", split);
    grpc_decoder_done(&d);
}

static void test_decoder_splits(void)
{
    for (size_t split = 0; split <= sizeof(stream_bytes); split++)
        feed_split(split);
}

static void test_decoder_byte_by_byte(void)
{
    struct grpc_decoder d;
    int messages = 0;

    grpc_decoder_init(&d, 16);
    for (size_t i = 0; i < sizeof(stream_bytes); i++) {
        size_t used = 0;

        if (grpc_decoder_feed(&d, stream_bytes + i, 1, &used) == GRPC_DECODE_MESSAGE) {
            size_t len;

            free(grpc_decoder_take(&d, &len));
            messages++;
        }
        is_int(used, 1, "byte %zu consumed", i);
    }
    is_int(messages, 2, "byte by byte: two messages");
    grpc_decoder_done(&d);
}

static void test_decoder_errors(void)
{
    static const struct {
        uint8_t prefix[GRPC_PREFIX_SIZE];
        enum grpc_decode_event ev;
        uint32_t len;
        const char *name;
    } cases[] = {
        {{0, 0, 0, 0, 16}, GRPC_DECODE_MORE, 16, "length at the limit"},
        {{0, 0, 0, 0, 17}, GRPC_DECODE_TOO_LARGE, 17, "length over the limit"},
        {{0, 0xff, 0xff, 0xff, 0xff}, GRPC_DECODE_TOO_LARGE, 0xffffffffu, "maximum length"},
        {{1, 0, 0, 0, 1}, GRPC_DECODE_COMPRESSED, 1, "compressed flag"},
        {{2, 0, 0, 0, 1}, GRPC_DECODE_BAD_FLAGS, 1, "reserved flag bit"},
        {{0x81, 0, 0, 0, 1}, GRPC_DECODE_BAD_FLAGS, 1, "high flag bit"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct grpc_decoder d;
        size_t used = 0;

        grpc_decoder_init(&d, 16);
        is_int(grpc_decoder_feed(&d, cases[i].prefix, GRPC_PREFIX_SIZE, &used), cases[i].ev,
               "%s: event", cases[i].name);
        is_int(used, GRPC_PREFIX_SIZE, "%s: only the prefix is consumed", cases[i].name);
        is_int(d.msg_len, cases[i].len, "%s: announced length", cases[i].name);
        grpc_decoder_done(&d);
    }
}

static void test_decoder_grows_with_input(void)
{
    static const uint8_t prefix[GRPC_PREFIX_SIZE] = {0, 0x01, 0x00, 0x00, 0x00};
    static uint8_t chunk[10000];
    struct grpc_decoder d;
    size_t used = 0;

    grpc_decoder_init(&d, 16u * 1024 * 1024);
    is_int(grpc_decoder_feed(&d, prefix, sizeof(prefix), &used), GRPC_DECODE_MORE,
           "16 MiB prefix: waits for the payload");
    is_int(d.msg_cap, 0, "16 MiB prefix: nothing allocated for an announced length");
    is_int(grpc_decoder_feed(&d, chunk, sizeof(chunk), &used), GRPC_DECODE_MORE,
           "16 MiB message: first chunk taken");
    is_int(used, sizeof(chunk), "16 MiB message: whole chunk consumed");
    is_int(d.msg_have, sizeof(chunk), "16 MiB message: bytes held");
    ok(d.msg_cap >= sizeof(chunk) && d.msg_cap <= 2 * sizeof(chunk),
       "16 MiB message: buffer sized by the bytes received (%zu)", d.msg_cap);
    grpc_decoder_done(&d);
}

static void test_prefix_write(void)
{
    uint8_t out[GRPC_PREFIX_SIZE];
    static const uint8_t expected[GRPC_PREFIX_SIZE] = {0, 0x01, 0x02, 0x03, 0x04};

    grpc_prefix_write(out, 0x01020304);
    ok(memcmp(out, expected, sizeof(out)) == 0, "prefix is big endian with flag 0");
}

int main(void)
{
    test_timeout_units();
    test_timeout_invalid();
    test_message_encode();
    test_decoder_splits();
    test_decoder_byte_by_byte();
    test_decoder_errors();
    test_decoder_grows_with_input();
    test_prefix_write();
    return tap_done();
}
