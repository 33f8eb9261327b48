/* fuzz_net_handshake.c: libFuzzer target for what a connection reads
 * before it trusts anything: the hello (seal_hello_decode, which must
 * round-trip), and sealed frames under fixed keys (seal_open must refuse
 * what was not sealed with them, and never write past the plaintext). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/seal.h"
#include "net/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seal_hello h;
    if (seal_hello_decode(data, size, &h) == 0) {
        uint8_t enc[SEAL_HELLO_MAX];
        size_t n;
        struct seal_hello again;
        if (seal_hello_encode(&h, enc, &n) != 0 ||
            seal_hello_decode(enc, n, &again) != 0 ||
            again.mesh_id != h.mesh_id || again.node_id != h.node_id ||
            again.role != h.role || memcmp(again.nonce, h.nonce, sizeof h.nonce))
            abort();
    }
    /* As a sealed frame: a 4-byte prefix and the rest. */
    if (size >= 4) {
        static const uint8_t secret[NET_SECRET_BYTES] = {1, 2, 3};
        static const uint8_t t[SEAL_HASH_BYTES] = {4, 5, 6};
        struct seal_keys k;
        seal_keys_derive(secret, t, SEAL_ACCEPTOR, &k);
        uint32_t l = (uint32_t)(size - 4);
        uint8_t *out = malloc(l ? l : 1);
        struct wire_body b;
        if (out && seal_open(&k.rx, data, data + 4, l, out) == 0 &&
            l >= SEAL_TAG_BYTES && wire_decode(out, l - SEAL_TAG_BYTES, &b) == 0)
            wire_body_free(&b);
        free(out);
    }
    return 0;
}
