/*
 * The pure parts of gRPC over HTTP/2 (grpc/doc/PROTOCOL-HTTP2.md): the
 * length-prefixed message framing, the grpc-timeout header and the
 * percent-encoding of grpc-message.  No I/O and no logging, so the server
 * and the fuzz targets share them.
 */
#ifndef CRISP_REACTOR_GRPC_WIRE_H
#define CRISP_REACTOR_GRPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length-Prefixed-Message: Compressed-Flag (1 byte), Message-Length (4 bytes, big endian). */
#define GRPC_PREFIX_SIZE 5

/* Compressed-Flag value for a message compressed with the call's grpc-encoding. */
#define GRPC_FLAG_COMPRESSED 0x01

/* Events returned by grpc_decoder_feed(). */
enum grpc_decode_event {
    GRPC_DECODE_MORE,       /* all input consumed, the message is not complete yet */
    GRPC_DECODE_MESSAGE,    /* a message is complete: take it with grpc_decoder_take() */
    GRPC_DECODE_TOO_LARGE,  /* the prefix announces more than max_len bytes */
    GRPC_DECODE_COMPRESSED, /* the Compressed-Flag is set */
    GRPC_DECODE_BAD_FLAGS,  /* the flag byte has bits other than the Compressed-Flag */
};

/*
 * Incremental decoder of length-prefixed messages.  The payload buffer is
 * allocated only after the prefix has passed the size check, and grows with
 * the bytes that arrive, never past the announced length.  So a too-large
 * message costs only its 5-byte prefix, and announcing a large message
 * without sending it costs nothing.
 */
struct grpc_decoder {
    size_t max_len;
    uint8_t prefix[GRPC_PREFIX_SIZE];
    size_t prefix_len;
    uint8_t flags;    /* flag byte of the current message, valid once the prefix is complete */
    uint32_t msg_len; /* Message-Length of the current message, likewise */
    uint8_t *msg;
    size_t msg_have;
    size_t msg_cap;
};

/* Prepare d to accept messages of at most max_len bytes. */
void grpc_decoder_init(struct grpc_decoder *d, size_t max_len);

/* Free the payload buffer of d, if any. */
void grpc_decoder_done(struct grpc_decoder *d);

/*
 * Consume bytes from data until a message is complete, an error is found or
 * the input ends.  *ret_consumed receives the number of bytes used; the rest
 * belongs to whatever follows the event.  After an error event the decoder
 * must not be fed again.
 */
enum grpc_decode_event grpc_decoder_feed(struct grpc_decoder *d, const uint8_t *data, size_t len,
                                         size_t *ret_consumed);

/*
 * Hand the completed message to the caller (free() it; NULL for an empty
 * message) with its length in *ret_len, and reset d for the next message.
 */
uint8_t *grpc_decoder_take(struct grpc_decoder *d, size_t *ret_len);

/* Whether d contains part of a message (a prefix byte or more). */
bool grpc_decoder_in_message(const struct grpc_decoder *d);

/* Write the 5-byte prefix of an uncompressed message of len bytes into out. */
void grpc_prefix_write(uint8_t out[GRPC_PREFIX_SIZE], uint32_t len);

/*
 * Parse a grpc-timeout value: 1 to 8 ASCII digits and one unit of H, M, S,
 * m, u or n (hours down to nanoseconds).  Stores the timeout in
 * microseconds, nanoseconds rounded up, in *ret_usec.  Returns 0, or -1 for
 * any other form.
 */
int grpc_timeout_parse(const char *value, size_t len, uint64_t *ret_usec);

/*
 * Percent-encode a grpc-message value: bytes outside 0x20-0x7E, and '%',
 * become "%XX" with upper-case hex digits.  Returns a new string (caller
 * frees).
 */
char *grpc_message_encode(const char *message);

#endif
