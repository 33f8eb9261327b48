/* seal.c: handshake messages, proofs, session keys and frame sealing
 * (see seal.h). Every primitive is libsodium's. */
#include "net/seal.h"

#include <assert.h>
#include <msgpack.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "base/err.h"
#include "net/wire.h"

static const char hello_magic[4] = {'p', 'm', 't', 'p'};

_Static_assert(SEAL_MAC_BYTES == crypto_auth_BYTES, "proof size");
_Static_assert(crypto_auth_KEYBYTES == 32, "auth key size");
_Static_assert(crypto_kdf_KEYBYTES == NET_SECRET_BYTES, "kdf key size");
_Static_assert(SEAL_TAG_BYTES == crypto_aead_chacha20poly1305_ietf_ABYTES,
               "tag size");

/* A fixed-capacity sink for the hello packer: a hello never grows. */
struct fixed_buf {
    uint8_t *p;
    size_t len, cap;
};

static int fixed_write(void *data, const char *buf, size_t len)
{
    struct fixed_buf *f = data;
    if (len > f->cap - f->len)
        return -1;
    memcpy(f->p + f->len, buf, len);
    f->len += len;
    return 0;
}

int seal_hello_encode(const struct seal_hello *h, uint8_t *out, size_t *len)
{
    struct fixed_buf f = {out, 0, SEAL_HELLO_MAX};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &f, fixed_write);
    int rc = msgpack_pack_array(&pk, 6);
    rc |= msgpack_pack_str(&pk, sizeof hello_magic);
    rc |= msgpack_pack_str_body(&pk, hello_magic, sizeof hello_magic);
    rc |= msgpack_pack_uint8(&pk, h->version);
    rc |= msgpack_pack_uint8(&pk, h->role);
    rc |= msgpack_pack_uint64(&pk, h->mesh_id);
    rc |= msgpack_pack_uint64(&pk, h->node_id);
    rc |= msgpack_pack_bin(&pk, SEAL_NONCE_BYTES);
    rc |= msgpack_pack_bin_body(&pk, h->nonce, SEAL_NONCE_BYTES);
    if (rc != 0)
        return -PM_EINVAL; /* cannot happen: the hello has a fixed shape */
    *len = f.len;
    return 0;
}

int seal_hello_decode(const uint8_t *buf, size_t len, struct seal_hello *h)
{
    if (len > SEAL_HELLO_MAX || wire_check(buf, len, 1, 8) < 0)
        return -PM_EPROTO;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int rc = -PM_EPROTO;
    if (msgpack_unpack_next(&u, (const char *)buf, len, &off) !=
            MSGPACK_UNPACK_SUCCESS || off != len)
        goto out;
    const msgpack_object *o = &u.data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 6)
        goto out;
    const msgpack_object *f = o->via.array.ptr;
    if (f[0].type != MSGPACK_OBJECT_STR ||
        f[0].via.str.size != sizeof hello_magic ||
        memcmp(f[0].via.str.ptr, hello_magic, sizeof hello_magic) != 0)
        goto out;
    for (int i = 1; i <= 4; i++)
        if (f[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            goto out;
    if (f[1].via.u64 != SEAL_VERSION) {
        rc = -PM_EVERSION;
        goto out;
    }
    if (f[2].via.u64 > SEAL_ACCEPTOR || f[5].type != MSGPACK_OBJECT_BIN ||
        f[5].via.bin.size != SEAL_NONCE_BYTES)
        goto out;
    h->version = (uint8_t)f[1].via.u64;
    h->role = (uint8_t)f[2].via.u64;
    h->mesh_id = f[3].via.u64;
    h->node_id = f[4].via.u64;
    memcpy(h->nonce, f[5].via.bin.ptr, SEAL_NONCE_BYTES);
    rc = 0;
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

void seal_hello_make(struct seal_hello *h, uint8_t role, uint64_t mesh_id,
                     uint64_t node_id)
{
    if (sodium_init() < 0)
        abort(); /* no usable randomness: nothing here can be safe */
    h->version = SEAL_VERSION;
    h->role = role;
    h->mesh_id = mesh_id;
    h->node_id = node_id;
    randombytes_buf(h->nonce, sizeof h->nonce);
}

void seal_transcript(const uint8_t *dialer_hello, size_t dialer_len,
                     const uint8_t *acceptor_hello, size_t acceptor_len,
                     uint8_t t[SEAL_HASH_BYTES])
{
    crypto_generichash_state st;
    uint8_t n[4];
    crypto_generichash_init(&st, NULL, 0, SEAL_HASH_BYTES);
    wire_put_be32(n, (uint32_t)dialer_len);
    crypto_generichash_update(&st, n, 4);
    crypto_generichash_update(&st, dialer_hello, dialer_len);
    wire_put_be32(n, (uint32_t)acceptor_len);
    crypto_generichash_update(&st, n, 4);
    crypto_generichash_update(&st, acceptor_hello, acceptor_len);
    crypto_generichash_final(&st, t, SEAL_HASH_BYTES);
}

/* The bytes a proof covers: label, role, transcript hash. */
static size_t mac_input(const uint8_t t[SEAL_HASH_BYTES], uint8_t role,
                        uint8_t out[9 + 1 + SEAL_HASH_BYTES])
{
    memcpy(out, "pmtp-auth", 9);
    out[9] = role;
    memcpy(out + 10, t, SEAL_HASH_BYTES);
    return 10 + SEAL_HASH_BYTES;
}

static void auth_key(const uint8_t secret[NET_SECRET_BYTES],
                     uint8_t k[crypto_auth_KEYBYTES])
{
    crypto_kdf_derive_from_key(k, crypto_auth_KEYBYTES, 1, "pmtpauth", secret);
}

void seal_mac(const uint8_t secret[NET_SECRET_BYTES],
              const uint8_t t[SEAL_HASH_BYTES], uint8_t role,
              uint8_t mac[SEAL_MAC_BYTES])
{
    uint8_t k[crypto_auth_KEYBYTES], in[10 + SEAL_HASH_BYTES];
    auth_key(secret, k);
    size_t n = mac_input(t, role, in);
    crypto_auth(mac, in, n, k);
    sodium_memzero(k, sizeof k);
}

int seal_mac_verify(const uint8_t secret[NET_SECRET_BYTES],
                    const uint8_t t[SEAL_HASH_BYTES], uint8_t role,
                    const uint8_t mac[SEAL_MAC_BYTES])
{
    uint8_t k[crypto_auth_KEYBYTES], in[10 + SEAL_HASH_BYTES];
    auth_key(secret, k);
    size_t n = mac_input(t, role, in);
    int rc = crypto_auth_verify(mac, in, n, k);
    sodium_memzero(k, sizeof k);
    return rc == 0 ? 0 : -PM_EAUTH;
}

void seal_keys_derive(const uint8_t secret[NET_SECRET_BYTES],
                      const uint8_t t[SEAL_HASH_BYTES], uint8_t our_role,
                      struct seal_keys *k)
{
    uint8_t root[crypto_generichash_KEYBYTES], m[crypto_kdf_KEYBYTES];
    uint8_t d2a[32], a2d[32];
    crypto_kdf_derive_from_key(root, sizeof root, 2, "pmtpsess", secret);
    crypto_generichash(m, sizeof m, t, SEAL_HASH_BYTES, root, sizeof root);
    crypto_kdf_derive_from_key(d2a, sizeof d2a, 1, "pmtp-d2a", m);
    crypto_kdf_derive_from_key(a2d, sizeof a2d, 2, "pmtp-a2d", m);
    memcpy(k->tx.key, our_role == SEAL_DIALER ? d2a : a2d, 32);
    memcpy(k->rx.key, our_role == SEAL_DIALER ? a2d : d2a, 32);
    k->tx.counter = 0;
    k->rx.counter = 0;
    sodium_memzero(root, sizeof root);
    sodium_memzero(m, sizeof m);
    sodium_memzero(d2a, sizeof d2a);
    sodium_memzero(a2d, sizeof a2d);
}

void seal_keys_wipe(struct seal_keys *k)
{
    sodium_memzero(k, sizeof *k);
}

static void counter_nonce(uint64_t c,
                          uint8_t n[crypto_aead_chacha20poly1305_ietf_NPUBBYTES])
{
    memset(n, 0, crypto_aead_chacha20poly1305_ietf_NPUBBYTES);
    for (int i = 0; i < 8; i++)
        n[i] = (uint8_t)(c >> (8 * i));
}

void seal_frame(struct seal_dir *tx, const uint8_t *body, uint32_t n,
                uint8_t *out)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    unsigned long long clen;
    assert(n <= UINT32_MAX - SEAL_TAG_BYTES);
    wire_put_be32(out, n + SEAL_TAG_BYTES);
    counter_nonce(tx->counter++, nonce);
    crypto_aead_chacha20poly1305_ietf_encrypt(out + 4, &clen, body, n, out, 4,
                                              NULL, nonce, tx->key);
}

int seal_open(struct seal_dir *rx, const uint8_t prefix[4], const uint8_t *ct,
              uint32_t l, uint8_t *out)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
    unsigned long long mlen;
    if (l < SEAL_TAG_BYTES)
        return -PM_EPROTO;
    counter_nonce(rx->counter, nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, ct, l,
                                                  prefix, 4, nonce,
                                                  rx->key) != 0)
        return -PM_EAUTH;
    rx->counter++;
    return 0;
}
