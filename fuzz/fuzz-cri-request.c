/*
 * Fuzz target: protobuf-c unpacking of every CRI request message.  The first
 * byte picks the method (of RuntimeService then ImageService), the rest is
 * the message, as crispd unpacks it for that method; whatever unpacks is
 * packed again, which walks every field of the decoded message.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "proto/api.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const ProtobufCServiceDescriptor *rs = &runtime__v1__runtime_service__descriptor;
    const ProtobufCServiceDescriptor *is = &runtime__v1__image_service__descriptor;
    const ProtobufCMessageDescriptor *input;
    ProtobufCMessage *msg;
    unsigned pick;

    if (size < 1)
        return 0;
    pick = data[0] % (rs->n_methods + is->n_methods);
    input = pick < rs->n_methods ? rs->methods[pick].input : is->methods[pick - rs->n_methods].input;

    msg = protobuf_c_message_unpack(input, NULL, size - 1, data + 1);
    if (msg) {
        size_t len = protobuf_c_message_get_packed_size(msg);
        uint8_t *out = malloc(len ? len : 1);

        if (!out)
            abort();
        if (protobuf_c_message_pack(msg, out) != len)
            abort();
        free(out);
        protobuf_c_message_free_unpacked(msg, NULL);
    }
    return 0;
}
