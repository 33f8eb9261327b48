/* wire.h: the msgpack body codec (internal to src/net; the fuzz targets and
 * unit tests use it directly).
 *
 * A body is the plaintext inside one frame: a msgpack array
 *   [version, mesh_id, sender_id, kind, payload]
 * with payload, by kind:
 *   RAFT     [type, term, from, to, prev_index, prev_term,
 *             [[index, term, type, data(bin)]...], commit, reject, index,
 *             hint_index, hint_term, last_index, last_term, transfer,
 *             snap_index, snap_term, snap_size, offset, data(bin),
 *             config(bin), done, ctx]            (every field, every type)
 *   REQUEST  [id, op(str), [arg(bin)...], flags, timeout_ms]
 *   REPLY    [id, status(int), body(bin)]
 *   PING     nil
 * Integers are msgpack unsigned except status. Every field is present, so
 * a decoder never guesses.
 *
 * Decoding validates everything before anything else sees it: exactly one
 * object spanning the whole input, the shape above, types, ranges (u8
 * fields, 0/1 flags, message and entry types), counts (entries, args), and
 * a bound on the total number of msgpack objects, checked on the raw bytes
 * BEFORE msgpack-c allocates: msgpack-c sizes an array's storage from the
 * count in its header, so an unchecked 5-byte header could ask for 100 GB.
 * Decoded byte strings point into the input (zero copy).
 */
#ifndef PM_NET_WIRE_H
#define PM_NET_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "base/entry.h"
#include "net/net.h"
#include "raft/raft.h"

enum wire_kind {
    WIRE_RAFT = 1,
    WIRE_REQUEST = 2,
    WIRE_REPLY = 3,
    WIRE_PING = 4,
};

/* Most msgpack objects in one body (bounds the decoder's memory to about
 * 24 MiB whatever the input claims). */
#define WIRE_OBJECTS_MAX (1u << 20)
/* Most entries in one RAFT message. */
#define WIRE_ENTRIES_MAX 65536u
/* Deepest nesting: body > payload > entries > entry. */
#define WIRE_DEPTH_MAX 4

struct wire_header {
    uint8_t version;  /* NET_PROTOCOL_VERSION */
    uint64_t mesh_id;
    uint64_t sender;
    uint8_t kind;     /* enum wire_kind */
};

/* A decoded body. Byte strings (entry payloads, snapshot data, config,
 * args, reply body) point into the decoded input, which must outlive it;
 * `entries` (for RAFT) is malloc'd: release with wire_body_free(). */
struct wire_body {
    struct wire_header h;
    struct raft_message raft;          /* kind RAFT */
    struct net_request req;            /* kind REQUEST; req.op -> op[] */
    struct net_reply rep;              /* kind REPLY */
    char op[NET_OP_MAX + 1];
    struct net_bytes args[NET_ARGS_MAX];
    struct pm_entry *entries;          /* private: raft.entries' storage */
};

/* Encoders: write the whole body into a malloc'd buffer *OUT of *LEN bytes
 * (caller frees). -PM_ETOOBIG if the body would exceed MAX_BYTES;
 * -PM_EINVAL for a value the format cannot carry (bad kind, op length,
 * too many args or entries, a flag field not 0/1); -PM_ENOMEM. */
int wire_encode_raft(const struct wire_header *h, const struct raft_message *m,
                     uint32_t max_bytes, uint8_t **out, size_t *len);
int wire_encode_request(const struct wire_header *h,
                        const struct net_request *req, uint32_t max_bytes,
                        uint8_t **out, size_t *len);
int wire_encode_reply(const struct wire_header *h, const struct net_reply *rep,
                      uint32_t max_bytes, uint8_t **out, size_t *len);
int wire_encode_ping(const struct wire_header *h, uint8_t **out, size_t *len);

/* Decode BUF[0..LEN) into *OUT. -PM_EPROTO for anything malformed (nothing
 * to free then), -PM_EVERSION for another protocol version, -PM_ENOMEM.
 * On 0, call wire_body_free(OUT) when done. */
int wire_decode(const uint8_t *buf, size_t len, struct wire_body *out);
void wire_body_free(struct wire_body *b);

/* Check that BUF[0..LEN) is exactly one msgpack object of the subset this
 * protocol uses (nil, bool, integers, str, bin, arrays; no maps, floats or
 * ext), nested at most MAX_DEPTH deep, with at most MAX_OBJECTS objects.
 * 0 or -PM_EPROTO. Used before msgpack-c's unpacker sees the bytes. */
int wire_check(const uint8_t *buf, size_t len, unsigned max_depth,
               size_t max_objects);

/* Frame prefix helpers (u32 big endian). */
static inline void wire_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint32_t wire_get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

#endif
