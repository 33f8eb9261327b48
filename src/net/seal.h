/* seal.h: the handshake and frame sealing (internal to src/net; all
 * cryptography is libsodium's).
 *
 * Handshake, both sides at once (no side waits for the other to speak
 * first), every message a frame (u32 big-endian length + bytes):
 *   1. each side sends its hello: msgpack
 *        ["pmtp", SEAL_VERSION, role, mesh_id, node_id, nonce(bin 32)]
 *      role 0 = the side that dialed, 1 = the side that accepted; the nonce
 *      is 32 fresh random bytes.
 *   2. on receiving the other's hello (checked: magic, version, the other
 *      role, mesh ids not both nonzero and different), each side computes
 *      the transcript hash
 *        T = BLAKE2b-512(len32(dialer hello) || dialer hello ||
 *                        len32(acceptor hello) || acceptor hello)
 *      and sends its proof (a 32-byte frame)
 *        MAC_role = HMAC-SHA512-256_{K_auth}("pmtp-auth" || role || T)
 *      K_auth = KDF(secret, 1, "pmtpauth"). The role in the MAC keeps a
 *      side's proof from being reflected back at it; the nonces in T keep
 *      a recorded proof from being replayed in another session.
 *   3. each side verifies the other's MAC in constant time
 *      (crypto_auth_verify). Only then is the connection open.
 * Session keys: M = BLAKE2b-256 keyed with KDF(secret, 2, "pmtpsess") over
 * T; the dialer->acceptor key is KDF(M, 1, "pmtp-d2a"), the other
 * KDF(M, 2, "pmtp-a2d"). Both nonces are in T, so keys are fresh per
 * connection even when one side's randomness repeats.
 *
 * Sealed frames: u32 big-endian L, then L = n + 16 bytes of
 * ChaCha20-Poly1305-IETF ciphertext of an n-byte body; the 4 length
 * bytes are the associated data, the nonce is a 64-bit per-direction frame
 * counter (little endian, zero padded to 12 bytes). A dropped, replayed,
 * reordered or altered frame fails to open. The keys are fresh per
 * connection and direction and the counter never repeats under a key, so
 * the 96-bit nonce needs no randomness; XChaCha20's extended nonce (an
 * HChaCha20 block per frame, ~1/4 of sealing a small frame) bought nothing
 * here and was dropped in SEAL_VERSION 2.
 */
#ifndef PM_NET_SEAL_H
#define PM_NET_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "net/net.h"

/* The handshake's version (the hello's): 2 seals frames with
 * ChaCha20-Poly1305-IETF, 1 did with XChaCha20-Poly1305; a peer of the
 * other version is refused at the hello (-PM_EVERSION). The bodies inside
 * the frames keep NET_PROTOCOL_VERSION. */
#define SEAL_VERSION 2
#define SEAL_NONCE_BYTES 32
#define SEAL_MAC_BYTES 32
#define SEAL_TAG_BYTES 16
#define SEAL_HASH_BYTES 64
#define SEAL_HELLO_MAX 96 /* an encoded hello is at most this long */

enum seal_role { SEAL_DIALER = 0, SEAL_ACCEPTOR = 1 };

struct seal_hello {
    uint8_t version;
    uint8_t role;     /* enum seal_role */
    uint64_t mesh_id;
    uint64_t node_id;
    uint8_t nonce[SEAL_NONCE_BYTES];
};

/* Encode H into OUT (capacity SEAL_HELLO_MAX); *LEN gets the size. */
int seal_hello_encode(const struct seal_hello *h, uint8_t *out, size_t *len);

/* Decode exactly LEN bytes. -PM_EPROTO malformed (wrong magic, shape,
 * types, role not 0/1), -PM_EVERSION another protocol version. */
int seal_hello_decode(const uint8_t *buf, size_t len, struct seal_hello *h);

/* Fill H as ROLE with our identity and a fresh random nonce. */
void seal_hello_make(struct seal_hello *h, uint8_t role, uint64_t mesh_id,
                     uint64_t node_id);

/* T over the encoded hellos (see the file comment). */
void seal_transcript(const uint8_t *dialer_hello, size_t dialer_len,
                     const uint8_t *acceptor_hello, size_t acceptor_len,
                     uint8_t t[SEAL_HASH_BYTES]);

/* The proof of ROLE over T. */
void seal_mac(const uint8_t secret[NET_SECRET_BYTES],
              const uint8_t t[SEAL_HASH_BYTES], uint8_t role,
              uint8_t mac[SEAL_MAC_BYTES]);

/* 0 if MAC is ROLE's proof over T (constant time), else -PM_EAUTH. */
int seal_mac_verify(const uint8_t secret[NET_SECRET_BYTES],
                    const uint8_t t[SEAL_HASH_BYTES], uint8_t role,
                    const uint8_t mac[SEAL_MAC_BYTES]);

/* One direction's key and frame counter. */
struct seal_dir {
    uint8_t key[32];
    uint64_t counter;
};
struct seal_keys {
    struct seal_dir tx, rx;
};

/* Session keys for OUR_ROLE. */
void seal_keys_derive(const uint8_t secret[NET_SECRET_BYTES],
                      const uint8_t t[SEAL_HASH_BYTES], uint8_t our_role,
                      struct seal_keys *k);

/* Wipe keys (sodium_memzero). */
void seal_keys_wipe(struct seal_keys *k);

/* Seal BODY[0..N) into OUT, which must hold N + 4 + SEAL_TAG_BYTES bytes:
 * the length prefix, then the ciphertext. Advances the tx counter. N must
 * be < UINT32_MAX - SEAL_TAG_BYTES. */
void seal_frame(struct seal_dir *tx, const uint8_t *body, uint32_t n,
                uint8_t *out);

/* Open a sealed frame: PREFIX is its 4 length bytes (L = be32(PREFIX)),
 * CT its L bytes; writes L - SEAL_TAG_BYTES bytes into OUT. Advances the rx
 * counter on success. -PM_EAUTH if it does not authenticate, -PM_EPROTO if
 * L < SEAL_TAG_BYTES. */
int seal_open(struct seal_dir *rx, const uint8_t prefix[4], const uint8_t *ct,
              uint32_t l, uint8_t *out);

#endif
