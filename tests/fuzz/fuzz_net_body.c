/* fuzz_net_body.c: libFuzzer target for frame bodies (wire_decode): any
 * bytes either decode or are refused, never crash or over-allocate; a body
 * that decodes re-encodes to bytes that decode to the same values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "net/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_raft(const struct raft_message *a, const struct raft_message *b)
{
    if (a->type != b->type || a->term != b->term || a->from != b->from ||
        a->to != b->to || a->n_entries != b->n_entries || a->len != b->len ||
        a->config_len != b->config_len || a->ctx != b->ctx ||
        a->snap_size != b->snap_size || a->done != b->done)
        abort();
    for (uint32_t i = 0; i < a->n_entries; i++)
        if (a->entries[i].index != b->entries[i].index ||
            a->entries[i].len != b->entries[i].len ||
            (a->entries[i].len &&
             memcmp(a->entries[i].data, b->entries[i].data, a->entries[i].len)))
            abort();
    if (a->len && memcmp(a->data, b->data, a->len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_body b, again;
    if (wire_decode(data, size, &b) != 0)
        return 0;
    uint8_t *out = NULL;
    size_t n = 0;
    int rc = -1;
    switch (b.h.kind) {
    case WIRE_RAFT:
        rc = wire_encode_raft(&b.h, &b.raft, UINT32_MAX, &out, &n);
        break;
    case WIRE_REQUEST:
        rc = wire_encode_request(&b.h, &b.req, UINT32_MAX, &out, &n);
        break;
    case WIRE_REPLY:
        rc = wire_encode_reply(&b.h, &b.rep, UINT32_MAX, &out, &n);
        break;
    case WIRE_PING:
        rc = wire_encode_ping(&b.h, &out, &n);
        break;
    }
    if (rc != 0) /* whatever decodes must be encodable */
        abort();
    if (wire_decode(out, n, &again) != 0)
        abort();
    if (again.h.kind != b.h.kind || again.h.mesh_id != b.h.mesh_id ||
        again.h.sender != b.h.sender)
        abort();
    if (b.h.kind == WIRE_RAFT)
        same_raft(&b.raft, &again.raft);
    if (b.h.kind == WIRE_REQUEST &&
        (strcmp(b.req.op, again.req.op) != 0 || b.req.n_args != again.req.n_args))
        abort();
    if (b.h.kind == WIRE_REPLY &&
        (b.rep.status != again.rep.status || b.rep.body_len != again.rep.body_len))
        abort();
    wire_body_free(&again);
    wire_body_free(&b);
    free(out);
    return 0;
}
