/* test_net_wire.c: the frame body codec (every raft message type, requests,
 * replies), its rejection of malformed input, and the handshake and frame
 * sealing primitives. No sockets here; see test_net_transport.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "base/err.h"
#include "net/seal.h"
#include "net/wire.h"

static const struct wire_header hdr = {NET_PROTOCOL_VERSION, 0xabcdef0123456789ull,
                                       7, 0};

/* A message of TYPE with every field set to a distinct nonzero value, so a
 * swapped or dropped field shows up. */
static void full_message(struct raft_message *m, uint8_t type,
                         struct pm_entry *ents, uint8_t *blob)
{
    memset(m, 0, sizeof *m);
    for (int i = 0; i < 300; i++)
        blob[i] = (uint8_t)(i * 7 + 1);
    for (int i = 0; i < 3; i++) {
        ents[i].index = 100 + (uint64_t)i;
        ents[i].term = 9 + (uint64_t)i;
        ents[i].type = (uint8_t)(PM_ENTRY_NOOP + i);
        ents[i].data = i == 0 ? NULL : blob + i;
        ents[i].len = i == 0 ? 0 : (uint32_t)(50 * i);
    }
    m->type = type;
    m->term = UINT64_MAX;        /* the widest integer survives */
    m->from = 7;
    m->to = 3;
    m->prev_index = 99;
    m->prev_term = 8;
    m->entries = ents;
    m->n_entries = 3;
    m->commit = 98;
    m->reject = 1;
    m->index = 1u << 31;
    m->hint_index = 12;
    m->hint_term = 13;
    m->last_index = 14;
    m->last_term = 15;
    m->transfer = 1;
    m->snap_index = 16;
    m->snap_term = 17;
    m->snap_size = 1ull << 40;
    m->offset = 19;
    m->data = blob + 10;
    m->len = 200;
    m->config = blob + 20;
    m->config_len = 23;
    m->done = 1;
    m->ctx = 0x1122334455667788ull;
}

static void assert_same_message(const struct raft_message *a,
                                const struct raft_message *b)
{
    assert_int_equal(a->type, b->type);
    assert_true(a->term == b->term);
    assert_true(a->from == b->from);
    assert_true(a->to == b->to);
    assert_true(a->prev_index == b->prev_index);
    assert_true(a->prev_term == b->prev_term);
    assert_int_equal(a->n_entries, b->n_entries);
    for (uint32_t i = 0; i < a->n_entries; i++) {
        assert_true(a->entries[i].index == b->entries[i].index);
        assert_true(a->entries[i].term == b->entries[i].term);
        assert_int_equal(a->entries[i].type, b->entries[i].type);
        assert_int_equal(a->entries[i].len, b->entries[i].len);
        if (a->entries[i].len)
            assert_memory_equal(a->entries[i].data, b->entries[i].data,
                                a->entries[i].len);
    }
    assert_true(a->commit == b->commit);
    assert_int_equal(a->reject, b->reject);
    assert_true(a->index == b->index);
    assert_true(a->hint_index == b->hint_index);
    assert_true(a->hint_term == b->hint_term);
    assert_true(a->last_index == b->last_index);
    assert_true(a->last_term == b->last_term);
    assert_int_equal(a->transfer, b->transfer);
    assert_true(a->snap_index == b->snap_index);
    assert_true(a->snap_term == b->snap_term);
    assert_true(a->snap_size == b->snap_size);
    assert_true(a->offset == b->offset);
    assert_int_equal(a->len, b->len);
    if (a->len)
        assert_memory_equal(a->data, b->data, a->len);
    assert_int_equal(a->config_len, b->config_len);
    if (a->config_len)
        assert_memory_equal(a->config, b->config, a->config_len);
    assert_int_equal(a->done, b->done);
    assert_true(a->ctx == b->ctx);
}

static void raft_messages_round_trip_for_every_type(void **state)
{
    (void)state;
    struct pm_entry ents[3];
    uint8_t blob[300];
    for (uint8_t type = 1; type <= RAFT_MSG_TYPE_MAX; type++) {
        struct raft_message m;
        full_message(&m, type, ents, blob);
        uint8_t *buf;
        size_t n;
        assert_int_equal(wire_encode_raft(&hdr, &m, NET_FRAME_BYTES_DEFAULT,
                                          &buf, &n), 0);
        struct wire_body b;
        assert_int_equal(wire_decode(buf, n, &b), 0);
        assert_int_equal(b.h.kind, WIRE_RAFT);
        assert_true(b.h.mesh_id == hdr.mesh_id);
        assert_true(b.h.sender == hdr.sender);
        assert_same_message(&m, &b.raft);
        wire_body_free(&b);
        free(buf);
    }
}

static void empty_raft_message_round_trips(void **state)
{
    (void)state;
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_HEARTBEAT;
    uint8_t *buf;
    size_t n;
    assert_int_equal(wire_encode_raft(&hdr, &m, 1024, &buf, &n), 0);
    struct wire_body b;
    assert_int_equal(wire_decode(buf, n, &b), 0);
    assert_same_message(&m, &b.raft);
    assert_null(b.raft.entries);
    assert_null(b.raft.data);
    wire_body_free(&b);
    free(buf);
}

static void request_reply_and_ping_round_trip(void **state)
{
    (void)state;
    struct net_bytes args[3] = {{(const uint8_t *)"nats.max_payload", 16},
                                {(const uint8_t *)"", 0},
                                {(const uint8_t *)"\x00\xff\x01", 3}};
    struct net_request req = {42, "set", args, 3,
                              NET_REQ_JSON | NET_REQ_FORWARDED, 5000};
    uint8_t *buf;
    size_t n;
    assert_int_equal(wire_encode_request(&hdr, &req, 4096, &buf, &n), 0);
    struct wire_body b;
    assert_int_equal(wire_decode(buf, n, &b), 0);
    assert_int_equal(b.h.kind, WIRE_REQUEST);
    assert_true(b.req.id == 42);
    assert_string_equal(b.req.op, "set");
    assert_int_equal(b.req.n_args, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(b.req.args[i].len, args[i].len);
        if (args[i].len)
            assert_memory_equal(b.req.args[i].data, args[i].data, args[i].len);
    }
    assert_int_equal(b.req.flags, NET_REQ_JSON | NET_REQ_FORWARDED);
    assert_int_equal(b.req.timeout_ms, 5000);
    wire_body_free(&b);
    free(buf);

    struct net_reply rep = {42, -PM_ENOLEADER, (const uint8_t *)"no leader", 9};
    assert_int_equal(wire_encode_reply(&hdr, &rep, 4096, &buf, &n), 0);
    assert_int_equal(wire_decode(buf, n, &b), 0);
    assert_int_equal(b.h.kind, WIRE_REPLY);
    assert_true(b.rep.id == 42);
    assert_int_equal(b.rep.status, -PM_ENOLEADER);
    assert_int_equal(b.rep.body_len, 9);
    assert_memory_equal(b.rep.body, "no leader", 9);
    wire_body_free(&b);
    free(buf);

    struct net_reply ok = {1, 0, NULL, 0};
    assert_int_equal(wire_encode_reply(&hdr, &ok, 4096, &buf, &n), 0);
    assert_int_equal(wire_decode(buf, n, &b), 0);
    assert_int_equal(b.rep.status, 0);
    assert_int_equal(b.rep.body_len, 0);
    wire_body_free(&b);
    free(buf);

    assert_int_equal(wire_encode_ping(&hdr, &buf, &n), 0);
    assert_int_equal(wire_decode(buf, n, &b), 0);
    assert_int_equal(b.h.kind, WIRE_PING);
    wire_body_free(&b);
    free(buf);
}

static void encoder_refuses_what_the_format_cannot_carry(void **state)
{
    (void)state;
    uint8_t *buf = NULL;
    size_t n;
    struct net_request req = {1, "", NULL, 0, 0, 0};
    assert_int_equal(wire_encode_request(&hdr, &req, 4096, &buf, &n), -PM_EINVAL);
    req.op = "this-op-name-is-far-too-long-for-the-protocol";
    assert_int_equal(wire_encode_request(&hdr, &req, 4096, &buf, &n), -PM_EINVAL);
    req.op = "bad op";
    assert_int_equal(wire_encode_request(&hdr, &req, 4096, &buf, &n), -PM_EINVAL);
    struct net_bytes many[NET_ARGS_MAX + 1];
    memset(many, 0, sizeof many);
    req.op = "get";
    req.args = many;
    req.n_args = NET_ARGS_MAX + 1;
    assert_int_equal(wire_encode_request(&hdr, &req, 4096, &buf, &n), -PM_EINVAL);

    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = RAFT_MSG_TYPE_MAX + 1;
    assert_int_equal(wire_encode_raft(&hdr, &m, 4096, &buf, &n), -PM_EINVAL);
    m.type = RAFT_MSG_VOTE_RESP;
    m.reject = 2;
    assert_int_equal(wire_encode_raft(&hdr, &m, 4096, &buf, &n), -PM_EINVAL);

    /* Over the size limit: refused, nothing allocated for the caller. */
    static uint8_t big[8192];
    m.reject = 0;
    m.type = RAFT_MSG_SNAPSHOT;
    m.data = big;
    m.len = sizeof big;
    assert_int_equal(wire_encode_raft(&hdr, &m, 4096, &buf, &n), -PM_ETOOBIG);
    m.len = 4000; /* payload fits, payload + framing does not */
    assert_int_equal(wire_encode_raft(&hdr, &m, 4010, &buf, &n), -PM_ETOOBIG);
    struct net_reply rep = {1, 0, big, sizeof big};
    assert_int_equal(wire_encode_reply(&hdr, &rep, 4096, &buf, &n), -PM_ETOOBIG);
    rep.status = 3; /* statuses are 0 or negative */
    rep.body_len = 0;
    assert_int_equal(wire_encode_reply(&hdr, &rep, 4096, &buf, &n), -PM_EINVAL);
    assert_null(buf);
}

static void decode_rejects_every_truncation_and_trailing_bytes(void **state)
{
    (void)state;
    struct pm_entry ents[3];
    uint8_t blob[300];
    struct raft_message m;
    full_message(&m, RAFT_MSG_APPEND, ents, blob);
    uint8_t *buf;
    size_t n;
    assert_int_equal(wire_encode_raft(&hdr, &m, 1 << 20, &buf, &n), 0);
    struct wire_body b;
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(wire_decode(buf, cut, &b), -PM_EPROTO);
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, buf, n);
    longer[n] = 0xc0;
    assert_int_equal(wire_decode(longer, n + 1, &b), -PM_EPROTO);
    free(longer);
    free(buf);
}

static void decode_rejects_lying_counts_before_allocating(void **state)
{
    (void)state;
    struct wire_body b;
    /* An array claiming 2^32-1 elements in five bytes. */
    static const uint8_t huge_array[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(wire_decode(huge_array, sizeof huge_array, &b), -PM_EPROTO);
    /* A bin claiming 4 GiB. */
    static const uint8_t huge_bin[] = {0x95, 0x01, 0x00, 0x00, 0x03,
                                       0xc6, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(wire_decode(huge_bin, sizeof huge_bin, &b), -PM_EPROTO);
    /* Nesting deeper than the protocol ever does. */
    static const uint8_t deep[] = {0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0};
    assert_int_equal(wire_check(deep, sizeof deep, WIRE_DEPTH_MAX, 100),
                     -PM_EPROTO);
    /* The object budget. */
    uint8_t flat[1 + 2 + 300];
    flat[0] = 0xdc;
    flat[1] = 0x01;
    flat[2] = 0x2c; /* 300 elements */
    memset(flat + 3, 0xc0, 300);
    assert_int_equal(wire_check(flat, sizeof flat, 4, 1000), 0);
    assert_int_equal(wire_check(flat, sizeof flat, 4, 100), -PM_EPROTO);
}

static void decode_rejects_wrong_shapes_types_and_ranges(void **state)
{
    (void)state;
    struct wire_body b;
    /* Not an array, a map, a float. */
    static const uint8_t nil[] = {0xc0};
    static const uint8_t map[] = {0x81, 0x01, 0x02};
    static const uint8_t flt[] = {0xca, 0, 0, 0, 0};
    assert_int_equal(wire_decode(nil, 1, &b), -PM_EPROTO);
    assert_int_equal(wire_decode(map, sizeof map, &b), -PM_EPROTO);
    assert_int_equal(wire_decode(flt, sizeof flt, &b), -PM_EPROTO);
    /* Version 2: [2, 0, 0, 4, nil]. */
    static const uint8_t v2[] = {0x95, 0x02, 0x00, 0x00, 0x04, 0xc0};
    assert_int_equal(wire_decode(v2, sizeof v2, &b), -PM_EVERSION);
    /* Unknown kind 9. */
    static const uint8_t kind9[] = {0x95, 0x01, 0x00, 0x00, 0x09, 0xc0};
    assert_int_equal(wire_decode(kind9, sizeof kind9, &b), -PM_EPROTO);
    /* Negative sender. */
    static const uint8_t neg[] = {0x95, 0x01, 0x00, 0xff, 0x04, 0xc0};
    assert_int_equal(wire_decode(neg, sizeof neg, &b), -PM_EPROTO);
    /* A good ping for contrast. */
    static const uint8_t ping[] = {0x95, 0x01, 0x00, 0x00, 0x04, 0xc0};
    assert_int_equal(wire_decode(ping, sizeof ping, &b), 0);
    wire_body_free(&b);

    /* Mutate single fields of a good raft body: type 0, type 14, reject 2,
     * an entry of type 4. Found by re-encoding with patched values. */
    struct pm_entry ents[3];
    uint8_t blob[300];
    struct raft_message m;
    full_message(&m, RAFT_MSG_APPEND, ents, blob);
    uint8_t *buf;
    size_t n;
    assert_int_equal(wire_encode_raft(&hdr, &m, 1 << 20, &buf, &n), 0);
    /* The raft payload starts after the 5-element header: 0x95, version,
     * mesh (cf + 8), sender (7), kind (1), then 0xdc 0x00 0x17 (23 fields)
     * and the type byte. */
    size_t type_at = 1 + 1 + 9 + 1 + 1 + 3;
    assert_int_equal(buf[type_at], RAFT_MSG_APPEND);
    buf[type_at] = 0;
    assert_int_equal(wire_decode(buf, n, &b), -PM_EPROTO);
    buf[type_at] = RAFT_MSG_TYPE_MAX + 1;
    assert_int_equal(wire_decode(buf, n, &b), -PM_EPROTO);
    buf[type_at] = 0xc0; /* nil instead of an integer */
    assert_int_equal(wire_decode(buf, n, &b), -PM_EPROTO);
    free(buf);

    /* Reply with a positive status; request with an op holding a NUL. */
    static const uint8_t pos_status[] = {0x95, 0x01, 0x00, 0x00, 0x03,
                                         0x93, 0x01, 0x05, 0xc4, 0x00};
    assert_int_equal(wire_decode(pos_status, sizeof pos_status, &b), -PM_EPROTO);
    static const uint8_t nul_op[] = {0x95, 0x01, 0x00, 0x00, 0x02, 0x95, 0x01,
                                     0xa3, 'g', 0x00, 't', 0x90, 0x00, 0x00};
    assert_int_equal(wire_decode(nul_op, sizeof nul_op, &b), -PM_EPROTO);
    static const uint8_t good_op[] = {0x95, 0x01, 0x00, 0x00, 0x02, 0x95, 0x01,
                                      0xa3, 'g', 'e', 't', 0x90, 0x00, 0x00};
    assert_int_equal(wire_decode(good_op, sizeof good_op, &b), 0);
    assert_string_equal(b.req.op, "get");
    wire_body_free(&b);
    /* Arguments as str instead of bin. */
    static const uint8_t str_arg[] = {0x95, 0x01, 0x00, 0x00, 0x02, 0x95, 0x01,
                                      0xa3, 'g', 'e', 't', 0x91, 0xa1, 'k',
                                      0x00, 0x00};
    assert_int_equal(wire_decode(str_arg, sizeof str_arg, &b), -PM_EPROTO);
}

static void decode_survives_random_garbage(void **state)
{
    (void)state;
    assert_true(sodium_init() >= 0);
    uint8_t buf[512];
    struct wire_body b;
    int accepted = 0;
    for (int i = 0; i < 20000; i++) {
        size_t n = randombytes_uniform(sizeof buf) + 1;
        randombytes_buf(buf, n);
        if (i & 1)
            buf[0] = 0x95; /* get past the first check more often */
        if (wire_decode(buf, n, &b) == 0) {
            accepted++;
            wire_body_free(&b);
        }
    }
    /* Random bytes are essentially never a valid body. */
    assert_true(accepted < 5);
}

/* ------------------------------------------------------------------------
 * Handshake and sealing
 * ------------------------------------------------------------------------ */

struct side {
    struct seal_hello h;
    uint8_t enc[SEAL_HELLO_MAX];
    size_t len;
};

static void make_side(struct side *s, uint8_t role, uint64_t mesh, uint64_t node)
{
    seal_hello_make(&s->h, role, mesh, node);
    assert_int_equal(seal_hello_encode(&s->h, s->enc, &s->len), 0);
}

static void handshake_derives_matching_keys_and_frames_open(void **state)
{
    (void)state;
    uint8_t secret[32];
    randombytes_buf(secret, sizeof secret);
    struct side d, a;
    make_side(&d, SEAL_DIALER, 5, 1);
    make_side(&a, SEAL_ACCEPTOR, 5, 2);

    struct seal_hello got;
    assert_int_equal(seal_hello_decode(d.enc, d.len, &got), 0);
    assert_int_equal(got.role, SEAL_DIALER);
    assert_true(got.mesh_id == 5 && got.node_id == 1);
    assert_memory_equal(got.nonce, d.h.nonce, SEAL_NONCE_BYTES);

    uint8_t td[SEAL_HASH_BYTES], ta[SEAL_HASH_BYTES];
    seal_transcript(d.enc, d.len, a.enc, a.len, td);
    seal_transcript(d.enc, d.len, a.enc, a.len, ta);
    uint8_t mac_d[SEAL_MAC_BYTES], mac_a[SEAL_MAC_BYTES];
    seal_mac(secret, td, SEAL_DIALER, mac_d);
    seal_mac(secret, ta, SEAL_ACCEPTOR, mac_a);
    assert_int_equal(seal_mac_verify(secret, ta, SEAL_DIALER, mac_d), 0);
    assert_int_equal(seal_mac_verify(secret, td, SEAL_ACCEPTOR, mac_a), 0);
    /* A proof reflected back as the other role does not verify. */
    assert_int_equal(seal_mac_verify(secret, td, SEAL_DIALER, mac_a), -PM_EAUTH);

    struct seal_keys kd, ka;
    seal_keys_derive(secret, td, SEAL_DIALER, &kd);
    seal_keys_derive(secret, ta, SEAL_ACCEPTOR, &ka);
    assert_memory_equal(kd.tx.key, ka.rx.key, 32);
    assert_memory_equal(kd.rx.key, ka.tx.key, 32);
    assert_memory_not_equal(kd.tx.key, kd.rx.key, 32);

    /* Two frames each way, in order. */
    const char *msgs[2] = {"first frame", "second, longer frame"};
    for (int i = 0; i < 2; i++) {
        uint32_t n = (uint32_t)strlen(msgs[i]);
        uint8_t f[64], out[64];
        seal_frame(&kd.tx, (const uint8_t *)msgs[i], n, f);
        assert_int_equal(wire_get_be32(f), n + SEAL_TAG_BYTES);
        assert_int_equal(seal_open(&ka.rx, f, f + 4, n + SEAL_TAG_BYTES, out), 0);
        assert_memory_equal(out, msgs[i], n);
        seal_frame(&ka.tx, (const uint8_t *)msgs[i], n, f);
        assert_int_equal(seal_open(&kd.rx, f, f + 4, n + SEAL_TAG_BYTES, out), 0);
        assert_memory_equal(out, msgs[i], n);
    }
}

static void wrong_secret_fails_the_proof(void **state)
{
    (void)state;
    uint8_t s1[32], s2[32];
    randombytes_buf(s1, sizeof s1);
    memcpy(s2, s1, sizeof s2);
    s2[31] ^= 1;
    struct side d, a;
    make_side(&d, SEAL_DIALER, 0, 0);
    make_side(&a, SEAL_ACCEPTOR, 5, 2);
    uint8_t t[SEAL_HASH_BYTES], mac[SEAL_MAC_BYTES];
    seal_transcript(d.enc, d.len, a.enc, a.len, t);
    seal_mac(s1, t, SEAL_DIALER, mac);
    assert_int_equal(seal_mac_verify(s2, t, SEAL_DIALER, mac), -PM_EAUTH);
    /* A proof from another session (other nonces) does not verify either. */
    struct side d2;
    make_side(&d2, SEAL_DIALER, 0, 0);
    uint8_t t2[SEAL_HASH_BYTES];
    seal_transcript(d2.enc, d2.len, a.enc, a.len, t2);
    assert_int_equal(seal_mac_verify(s1, t2, SEAL_DIALER, mac), -PM_EAUTH);
}

static void tampered_replayed_or_reordered_frames_fail(void **state)
{
    (void)state;
    uint8_t secret[32], t[SEAL_HASH_BYTES];
    randombytes_buf(secret, sizeof secret);
    randombytes_buf(t, sizeof t);
    struct seal_keys kd, ka;
    seal_keys_derive(secret, t, SEAL_DIALER, &kd);
    seal_keys_derive(secret, t, SEAL_ACCEPTOR, &ka);
    const uint8_t body[] = "set nats.max_payload 1048576";
    uint32_t n = sizeof body, l = n + SEAL_TAG_BYTES;
    uint8_t f1[128], f2[128], out[128];
    seal_frame(&kd.tx, body, n, f1);
    seal_frame(&kd.tx, body, n, f2);

    for (uint32_t i = 0; i < l; i++) { /* every ciphertext byte matters */
        f1[4 + i] ^= 0x01;
        assert_int_equal(seal_open(&ka.rx, f1, f1 + 4, l, out), -PM_EAUTH);
        f1[4 + i] ^= 0x01;
    }
    uint8_t prefix[4];
    memcpy(prefix, f1, 4);
    prefix[3] ^= 0x01; /* the length prefix is authenticated too */
    assert_int_equal(seal_open(&ka.rx, prefix, f1 + 4, l, out), -PM_EAUTH);
    /* Out of order: frame 2 before frame 1. */
    assert_int_equal(seal_open(&ka.rx, f2, f2 + 4, l, out), -PM_EAUTH);
    assert_int_equal(seal_open(&ka.rx, f1, f1 + 4, l, out), 0);
    /* Replay of frame 1. */
    assert_int_equal(seal_open(&ka.rx, f1, f1 + 4, l, out), -PM_EAUTH);
    assert_int_equal(seal_open(&ka.rx, f2, f2 + 4, l, out), 0);
    assert_int_equal(seal_open(&ka.rx, f2, f2 + 4, 3, out), -PM_EPROTO);
}

static void hello_decode_rejects_garbage_and_other_versions(void **state)
{
    (void)state;
    struct side s;
    struct seal_hello h;
    make_side(&s, SEAL_ACCEPTOR, 1, 1);
    for (size_t cut = 0; cut < s.len; cut++)
        assert_int_not_equal(seal_hello_decode(s.enc, cut, &h), 0);
    uint8_t bad[SEAL_HELLO_MAX];
    memcpy(bad, s.enc, s.len);
    bad[2] = 'X'; /* magic "pmtp" -> "pXtp" */
    assert_int_equal(seal_hello_decode(bad, s.len, &h), -PM_EPROTO);
    memcpy(bad, s.enc, s.len);
    bad[6] = 1; /* version (after 0x96, 0xa4 "pmtp"): XChaCha20 frames */
    assert_int_equal(seal_hello_decode(bad, s.len, &h), -PM_EVERSION);
    bad[6] = 3;
    assert_int_equal(seal_hello_decode(bad, s.len, &h), -PM_EVERSION);
    memcpy(bad, s.enc, s.len);
    bad[7] = 2; /* role */
    assert_int_equal(seal_hello_decode(bad, s.len, &h), -PM_EPROTO);
    static const uint8_t text[] = "GET / HTTP/1.1\r\n\r\n";
    assert_int_equal(seal_hello_decode(text, sizeof text - 1, &h), -PM_EPROTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(raft_messages_round_trip_for_every_type),
        cmocka_unit_test(empty_raft_message_round_trips),
        cmocka_unit_test(request_reply_and_ping_round_trip),
        cmocka_unit_test(encoder_refuses_what_the_format_cannot_carry),
        cmocka_unit_test(decode_rejects_every_truncation_and_trailing_bytes),
        cmocka_unit_test(decode_rejects_lying_counts_before_allocating),
        cmocka_unit_test(decode_rejects_wrong_shapes_types_and_ranges),
        cmocka_unit_test(decode_survives_random_garbage),
        cmocka_unit_test(handshake_derives_matching_keys_and_frames_open),
        cmocka_unit_test(wrong_secret_fails_the_proof),
        cmocka_unit_test(tampered_replayed_or_reordered_frames_fail),
        cmocka_unit_test(hello_decode_rejects_garbage_and_other_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
