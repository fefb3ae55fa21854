/* Object ids: 64 lowercase hex characters, as containerd and crictl use. */
#ifndef CRISP_UTIL_ID_H
#define CRISP_UTIL_ID_H

#include <stdbool.h>
#include <stddef.h>

#define ID_LEN 64

/* Fill out (ID_LEN + 1 bytes) with a random id. */
void id_generate(char out[ID_LEN + 1]);

/* Whether s is a non-empty string of at most ID_LEN lowercase hex characters. */
bool id_is_valid_prefix(const char *s);

/* Encode len bytes as lowercase hex into out (2 * len + 1 bytes). */
void hex_encode(const unsigned char *data, size_t len, char *out);

#endif
