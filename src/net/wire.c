/* wire.c: msgpack encoding and validated decoding of frame bodies
 * (see wire.h for the format). */
#include "net/wire.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "base/err.h"

#define RAFT_FIELDS 23
#define REQUEST_FIELDS 5
#define REPLY_FIELDS 3
#define ENTRY_FIELDS 4

/* ------------------------------------------------------------------------
 * Structural pre-check on raw bytes
 * ------------------------------------------------------------------------ */

/* Reads big-endian N-byte unsigned at P (N <= 4). */
static uint32_t be_n(const uint8_t *p, unsigned n)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int wire_check(const uint8_t *buf, size_t len, unsigned max_depth,
               size_t max_objects)
{
    /* stack[i]: objects still expected at nesting level i (0 = the root). */
    uint32_t stack[WIRE_DEPTH_MAX + 2];
    unsigned depth = 1;
    size_t pos = 0, objects = 0;

    if (max_depth > WIRE_DEPTH_MAX)
        max_depth = WIRE_DEPTH_MAX;
    stack[0] = 1;
    while (depth > 0) {
        if (stack[depth - 1] == 0) {
            depth--;
            continue;
        }
        stack[depth - 1]--;
        if (pos >= len || ++objects > max_objects)
            return -PM_EPROTO;
        uint8_t b = buf[pos++];
        size_t skip = 0;     /* payload bytes after the header */
        unsigned lenb = 0;   /* width of a length field */
        uint32_t items = 0;  /* array elements */
        int is_array = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool */
        } else if (b >= 0x90 && b <= 0x9f) {
            is_array = 1;
            items = b & 0x0f;
        } else if (b >= 0xa0 && b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xc4: case 0xd9: lenb = 1; break;   /* bin8, str8 */
            case 0xc5: case 0xda: lenb = 2; break;   /* bin16, str16 */
            case 0xc6: case 0xdb: lenb = 4; break;   /* bin32, str32 */
            case 0xdc: is_array = 1; lenb = 2; break;
            case 0xdd: is_array = 1; lenb = 4; break;
            default:
                return -PM_EPROTO; /* map, float, ext, 0xc1 */
            }
            if (lenb) {
                if (len - pos < lenb)
                    return -PM_EPROTO;
                uint32_t n = be_n(buf + pos, lenb);
                pos += lenb;
                if (is_array)
                    items = n;
                else
                    skip = n;
            }
        }
        if (skip > len - pos)
            return -PM_EPROTO;
        pos += skip;
        if (is_array && items > 0) {
            /* Every element takes at least one byte: a count beyond the
             * remaining input is a lie, refused before anyone allocates. */
            if (items > len - pos || depth > max_depth)
                return -PM_EPROTO;
            stack[depth++] = items;
        }
    }
    return pos == len ? 0 : -PM_EPROTO;
}

/* ------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------ */

struct enc {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t max_bytes;
    int err; /* first failure: -PM_ENOMEM or -PM_ETOOBIG; later writes skip */
};

/* The packer's sink: stops growing at max_bytes and remembers a failed
 * allocation, so a body is either complete or refused, never truncated. */
static int enc_write(void *data, const char *buf, size_t len)
{
    struct enc *e = data;
    if (e->err)
        return -1;
    if (len > e->max_bytes - e->sb.size) {
        e->err = -PM_ETOOBIG;
        return -1;
    }
    if (msgpack_sbuffer_write(&e->sb, buf, len) != 0) {
        e->err = -PM_ENOMEM;
        return -1;
    }
    return 0;
}

static void enc_init(struct enc *e, uint32_t max_bytes)
{
    msgpack_sbuffer_init(&e->sb);
    e->max_bytes = max_bytes;
    e->err = 0;
    msgpack_packer_init(&e->pk, e, enc_write);
}

static void enc_header(struct enc *e, const struct wire_header *h, uint8_t kind)
{
    msgpack_pack_array(&e->pk, 5);
    msgpack_pack_uint8(&e->pk, h->version);
    msgpack_pack_uint64(&e->pk, h->mesh_id);
    msgpack_pack_uint64(&e->pk, h->sender);
    msgpack_pack_uint8(&e->pk, kind);
}

static void enc_bin(struct enc *e, const uint8_t *p, uint32_t n)
{
    msgpack_pack_bin(&e->pk, n);
    if (n)
        msgpack_pack_bin_body(&e->pk, p, n);
}

/* Hands the buffer to the caller, or reports why it is incomplete. */
static int enc_finish(struct enc *e, uint8_t **out, size_t *len)
{
    if (e->err || e->sb.data == NULL) {
        int rc = e->err ? e->err : -PM_ENOMEM;
        msgpack_sbuffer_destroy(&e->sb);
        return rc;
    }
    *len = e->sb.size;
    *out = (uint8_t *)msgpack_sbuffer_release(&e->sb);
    return 0;
}

static int flag01(uint8_t v) { return v == 0 || v == 1; }

int wire_encode_raft(const struct wire_header *h, const struct raft_message *m,
                     uint32_t max_bytes, uint8_t **out, size_t *len)
{
    if (m->type < 1 || m->type > RAFT_MSG_TYPE_MAX || !flag01(m->reject) ||
        !flag01(m->transfer) || !flag01(m->done) ||
        m->n_entries > WIRE_ENTRIES_MAX ||
        (m->n_entries > 0 && m->entries == NULL) ||
        (m->len > 0 && m->data == NULL) ||
        (m->config_len > 0 && m->config == NULL))
        return -PM_EINVAL;
    /* Refuse before copying megabytes we would throw away. */
    uint64_t payload = (uint64_t)m->len + m->config_len;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct pm_entry *en = &m->entries[i];
        if (en->len > 0 && en->data == NULL)
            return -PM_EINVAL;
        payload += en->len;
    }
    if (payload > max_bytes)
        return -PM_ETOOBIG;

    struct enc e;
    enc_init(&e, max_bytes);
    enc_header(&e, h, WIRE_RAFT);
    msgpack_packer *pk = &e.pk;
    msgpack_pack_array(pk, RAFT_FIELDS);
    msgpack_pack_uint8(pk, m->type);
    msgpack_pack_uint64(pk, m->term);
    msgpack_pack_uint64(pk, m->from);
    msgpack_pack_uint64(pk, m->to);
    msgpack_pack_uint64(pk, m->prev_index);
    msgpack_pack_uint64(pk, m->prev_term);
    msgpack_pack_array(pk, m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct pm_entry *en = &m->entries[i];
        msgpack_pack_array(pk, ENTRY_FIELDS);
        msgpack_pack_uint64(pk, en->index);
        msgpack_pack_uint64(pk, en->term);
        msgpack_pack_uint8(pk, en->type);
        enc_bin(&e, en->data, en->len);
    }
    msgpack_pack_uint64(pk, m->commit);
    msgpack_pack_uint8(pk, m->reject);
    msgpack_pack_uint64(pk, m->index);
    msgpack_pack_uint64(pk, m->hint_index);
    msgpack_pack_uint64(pk, m->hint_term);
    msgpack_pack_uint64(pk, m->last_index);
    msgpack_pack_uint64(pk, m->last_term);
    msgpack_pack_uint8(pk, m->transfer);
    msgpack_pack_uint64(pk, m->snap_index);
    msgpack_pack_uint64(pk, m->snap_term);
    msgpack_pack_uint64(pk, m->snap_size);
    msgpack_pack_uint64(pk, m->offset);
    enc_bin(&e, m->data, m->len);
    enc_bin(&e, m->config, m->config_len);
    msgpack_pack_uint8(pk, m->done);
    msgpack_pack_uint64(pk, m->ctx);
    return enc_finish(&e, out, len);
}

static int op_valid(const char *op, size_t *n_out)
{
    if (op == NULL)
        return 0;
    size_t n = strnlen(op, NET_OP_MAX + 1);
    if (n == 0 || n > NET_OP_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)op[i] <= 0x20 || (unsigned char)op[i] >= 0x7f)
            return 0;
    *n_out = n;
    return 1;
}

int wire_encode_request(const struct wire_header *h,
                        const struct net_request *req, uint32_t max_bytes,
                        uint8_t **out, size_t *len)
{
    size_t op_len;
    if (!op_valid(req->op, &op_len) || req->n_args > NET_ARGS_MAX ||
        (req->n_args > 0 && req->args == NULL))
        return -PM_EINVAL;
    uint64_t payload = 0;
    for (uint32_t i = 0; i < req->n_args; i++) {
        if (req->args[i].len > 0 && req->args[i].data == NULL)
            return -PM_EINVAL;
        payload += req->args[i].len;
    }
    if (payload > max_bytes)
        return -PM_ETOOBIG;

    struct enc e;
    enc_init(&e, max_bytes);
    enc_header(&e, h, WIRE_REQUEST);
    msgpack_pack_array(&e.pk, REQUEST_FIELDS);
    msgpack_pack_uint64(&e.pk, req->id);
    msgpack_pack_str(&e.pk, op_len);
    msgpack_pack_str_body(&e.pk, req->op, op_len);
    msgpack_pack_array(&e.pk, req->n_args);
    for (uint32_t i = 0; i < req->n_args; i++)
        enc_bin(&e, req->args[i].data, req->args[i].len);
    msgpack_pack_uint32(&e.pk, req->flags);
    msgpack_pack_uint32(&e.pk, req->timeout_ms);
    return enc_finish(&e, out, len);
}

int wire_encode_reply(const struct wire_header *h, const struct net_reply *rep,
                      uint32_t max_bytes, uint8_t **out, size_t *len)
{
    if ((rep->body_len > 0 && rep->body == NULL) || rep->status > 0)
        return -PM_EINVAL;
    if (rep->body_len > max_bytes)
        return -PM_ETOOBIG;
    struct enc e;
    enc_init(&e, max_bytes);
    enc_header(&e, h, WIRE_REPLY);
    msgpack_pack_array(&e.pk, REPLY_FIELDS);
    msgpack_pack_uint64(&e.pk, rep->id);
    msgpack_pack_int32(&e.pk, rep->status);
    enc_bin(&e, rep->body, rep->body_len);
    return enc_finish(&e, out, len);
}

int wire_encode_ping(const struct wire_header *h, uint8_t **out, size_t *len)
{
    struct enc e;
    enc_init(&e, 64);
    enc_header(&e, h, WIRE_PING);
    msgpack_pack_nil(&e.pk);
    return enc_finish(&e, out, len);
}

/* ------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------ */

static int get_u64(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -PM_EPROTO;
    *v = o->via.u64;
    return 0;
}

static int get_u32(const msgpack_object *o, uint32_t *v)
{
    uint64_t x;
    if (get_u64(o, &x) < 0 || x > UINT32_MAX)
        return -PM_EPROTO;
    *v = (uint32_t)x;
    return 0;
}

static int get_u8(const msgpack_object *o, uint8_t *v, uint8_t max)
{
    uint64_t x;
    if (get_u64(o, &x) < 0 || x > max)
        return -PM_EPROTO;
    *v = (uint8_t)x;
    return 0;
}

/* A byte string: bin only (the encoder never writes str for bytes). */
static int get_bin(const msgpack_object *o, const uint8_t **p, uint32_t *n)
{
    if (o->type != MSGPACK_OBJECT_BIN)
        return -PM_EPROTO;
    *n = o->via.bin.size;
    *p = *n ? (const uint8_t *)o->via.bin.ptr : NULL;
    return 0;
}

static const msgpack_object *get_array(const msgpack_object *o, uint32_t n)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n)
        return NULL;
    return o->via.array.ptr;
}

static int decode_raft(const msgpack_object *o, struct wire_body *b)
{
    const msgpack_object *f = get_array(o, RAFT_FIELDS);
    struct raft_message *m = &b->raft;
    if (f == NULL)
        return -PM_EPROTO;
    if (get_u8(&f[0], &m->type, RAFT_MSG_TYPE_MAX) < 0 || m->type == 0 ||
        get_u64(&f[1], &m->term) < 0 || get_u64(&f[2], &m->from) < 0 ||
        get_u64(&f[3], &m->to) < 0 || get_u64(&f[4], &m->prev_index) < 0 ||
        get_u64(&f[5], &m->prev_term) < 0)
        return -PM_EPROTO;
    const msgpack_object *ents = &f[6];
    if (ents->type != MSGPACK_OBJECT_ARRAY ||
        ents->via.array.size > WIRE_ENTRIES_MAX)
        return -PM_EPROTO;
    uint32_t n = ents->via.array.size;
    if (n > 0) {
        b->entries = calloc(n, sizeof *b->entries);
        if (b->entries == NULL)
            return -PM_ENOMEM;
        for (uint32_t i = 0; i < n; i++) {
            const msgpack_object *ef = get_array(&ents->via.array.ptr[i],
                                                 ENTRY_FIELDS);
            struct pm_entry *en = &b->entries[i];
            if (ef == NULL || get_u64(&ef[0], &en->index) < 0 ||
                get_u64(&ef[1], &en->term) < 0 ||
                get_u8(&ef[2], &en->type, PM_ENTRY_COMMAND) < 0 ||
                en->type < PM_ENTRY_NOOP || get_bin(&ef[3], &en->data, &en->len) < 0)
                return -PM_EPROTO;
        }
    }
    m->entries = b->entries;
    m->n_entries = n;
    if (get_u64(&f[7], &m->commit) < 0 || get_u8(&f[8], &m->reject, 1) < 0 ||
        get_u64(&f[9], &m->index) < 0 || get_u64(&f[10], &m->hint_index) < 0 ||
        get_u64(&f[11], &m->hint_term) < 0 ||
        get_u64(&f[12], &m->last_index) < 0 ||
        get_u64(&f[13], &m->last_term) < 0 ||
        get_u8(&f[14], &m->transfer, 1) < 0 ||
        get_u64(&f[15], &m->snap_index) < 0 ||
        get_u64(&f[16], &m->snap_term) < 0 ||
        get_u64(&f[17], &m->snap_size) < 0 || get_u64(&f[18], &m->offset) < 0 ||
        get_bin(&f[19], &m->data, &m->len) < 0 ||
        get_bin(&f[20], &m->config, &m->config_len) < 0 ||
        get_u8(&f[21], &m->done, 1) < 0 || get_u64(&f[22], &m->ctx) < 0)
        return -PM_EPROTO;
    return 0;
}

static int decode_request(const msgpack_object *o, struct wire_body *b)
{
    const msgpack_object *f = get_array(o, REQUEST_FIELDS);
    struct net_request *r = &b->req;
    if (f == NULL || get_u64(&f[0], &r->id) < 0)
        return -PM_EPROTO;
    if (f[1].type != MSGPACK_OBJECT_STR || f[1].via.str.size == 0 ||
        f[1].via.str.size > NET_OP_MAX)
        return -PM_EPROTO;
    memcpy(b->op, f[1].via.str.ptr, f[1].via.str.size);
    b->op[f[1].via.str.size] = '\0';
    size_t op_len;
    if (!op_valid(b->op, &op_len) || op_len != f[1].via.str.size)
        return -PM_EPROTO; /* control bytes or an embedded NUL */
    r->op = b->op;
    if (f[2].type != MSGPACK_OBJECT_ARRAY || f[2].via.array.size > NET_ARGS_MAX)
        return -PM_EPROTO;
    r->n_args = f[2].via.array.size;
    for (uint32_t i = 0; i < r->n_args; i++)
        if (get_bin(&f[2].via.array.ptr[i], &b->args[i].data, &b->args[i].len) < 0)
            return -PM_EPROTO;
    r->args = b->args;
    if (get_u32(&f[3], &r->flags) < 0 || get_u32(&f[4], &r->timeout_ms) < 0)
        return -PM_EPROTO;
    return 0;
}

static int decode_reply(const msgpack_object *o, struct wire_body *b)
{
    const msgpack_object *f = get_array(o, REPLY_FIELDS);
    struct net_reply *r = &b->rep;
    if (f == NULL || get_u64(&f[0], &r->id) < 0)
        return -PM_EPROTO;
    if (f[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER && f[1].via.u64 == 0)
        r->status = 0;
    else if (f[1].type == MSGPACK_OBJECT_NEGATIVE_INTEGER &&
             f[1].via.i64 >= INT32_MIN)
        r->status = (int32_t)f[1].via.i64;
    else
        return -PM_EPROTO; /* statuses are 0 or negative pm_err codes */
    return get_bin(&f[2], &r->body, &r->body_len);
}

/* The zone a frame is unpacked into. msgpack_unpack_next() makes a zone
 * for every value and frees it (two mallocs and two frees per frame: a
 * client's request, an append, an ack); a decoded frame is read and copied
 * out before the next one is decoded, so one zone per thread, cleared
 * after each use (it keeps its first chunk), serves every frame. It is
 * freed with its thread (a tss destructor): clients may decode on threads
 * of their own. src/fsm/cmd.c keeps its own zone the same way. One could
 * serve both (each decode clears it before it returns), but the only
 * module both use is src/base, which links no msgpack (the fuzz targets
 * build its sources without it), so there are two; a fix to one is a fix
 * to the other. */
static tss_t scratch_key;
static once_flag scratch_once = ONCE_FLAG_INIT;
static int scratch_ok;

static void scratch_free(void *z) { msgpack_zone_free(z); }

static void scratch_init(void)
{
    scratch_ok = tss_create(&scratch_key, scratch_free) == thrd_success;
}

static msgpack_zone *scratch_zone(void)
{
    call_once(&scratch_once, scratch_init);
    if (!scratch_ok)
        return NULL;
    msgpack_zone *z = tss_get(scratch_key);
    if (z == NULL && (z = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)) != NULL &&
        tss_set(scratch_key, z) != thrd_success) {
        msgpack_zone_free(z);
        z = NULL;
    }
    return z;
}

int wire_decode(const uint8_t *buf, size_t len, struct wire_body *out)
{
    memset(out, 0, sizeof *out);
    int rc = wire_check(buf, len, WIRE_DEPTH_MAX, WIRE_OBJECTS_MAX);
    if (rc < 0)
        return rc;
    msgpack_zone *z = scratch_zone();
    if (z == NULL)
        return -PM_ENOMEM;
    msgpack_object top;
    size_t off = 0;
    /* msgpack_unpack: the same parser as msgpack_unpack_next, into a zone
     * of the caller's (msgpack-c calls it obsolete, not deprecated). */
    msgpack_unpack_return ur =
        msgpack_unpack((const char *)buf, len, &off, z, &top);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
        rc = -PM_ENOMEM;
        goto out;
    }
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
        rc = -PM_EPROTO;
        goto out;
    }
    const msgpack_object *f = get_array(&top, 5);
    rc = -PM_EPROTO;
    if (f == NULL || get_u8(&f[0], &out->h.version, 255) < 0)
        goto out;
    if (out->h.version != NET_PROTOCOL_VERSION) {
        rc = -PM_EVERSION;
        goto out;
    }
    if (get_u64(&f[1], &out->h.mesh_id) < 0 ||
        get_u64(&f[2], &out->h.sender) < 0 ||
        get_u8(&f[3], &out->h.kind, WIRE_PING) < 0)
        goto out;
    switch (out->h.kind) {
    case WIRE_RAFT: rc = decode_raft(&f[4], out); break;
    case WIRE_REQUEST: rc = decode_request(&f[4], out); break;
    case WIRE_REPLY: rc = decode_reply(&f[4], out); break;
    case WIRE_PING:
        rc = f[4].type == MSGPACK_OBJECT_NIL ? 0 : -PM_EPROTO;
        break;
    default: rc = -PM_EPROTO; break;
    }
out:
    msgpack_zone_clear(z);
    if (rc < 0)
        wire_body_free(out);
    return rc;
}

void wire_body_free(struct wire_body *b)
{
    free(b->entries);
    b->entries = NULL;
    b->raft.entries = NULL;
    b->raft.n_entries = 0;
}
