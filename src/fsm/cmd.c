/* cmd.c: the versioned msgpack encoding of FSM commands (see fsm.h for the
 * layout) and of member records, which commands, stored keys and snapshots
 * share. Decoding treats every byte as hostile: the bound check of
 * mpcheck.c runs first, then every field's type and size is checked before
 * it is copied or borrowed. */
#include "fsm/internal.h"

#include <string.h>
#include <threads.h>

#include <msgpack.h>

#include "base/err.h"

#define BODY_DEPTH_MAX 4 /* command array > body > member / id list */

const char *fsm_cmd_type_name(int type)
{
    static const char *const names[] = {
        [FSM_CMD_NOOP] = "noop",
        [FSM_CMD_BOOTSTRAP] = "bootstrap",
        [FSM_CMD_MEMBER_ADD] = "member-add",
        [FSM_CMD_MEMBER_PROMOTE] = "member-promote",
        [FSM_CMD_MEMBER_REMOVE] = "member-remove",
        [FSM_CMD_SET] = "set",
        [FSM_CMD_UNSET] = "unset",
        [FSM_CMD_CLUSTER_RENAME] = "cluster-rename",
        [FSM_CMD_MEMBER_ADDRESS] = "member-address",
        [FSM_CMD_FORCE_RECOVER] = "force-recover",
    };
    if (type < FSM_CMD_NOOP || type > FSM_CMD__MAX)
        return "unknown";
    return names[type];
}

const char *fsm_role_name(int role)
{
    switch (role) {
    case FSM_ROLE_VOTER: return "voter";
    case FSM_ROLE_LEARNER: return "learner";
    case FSM_ROLE_REPLICA: return "replica";
    default: return "unknown";
    }
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str_with_body(pk, s, n);
}

/* Member record: [id, name, cluster, role, seed, peer_host, peer_port,
 * nats_host, client, cluster, gateway, leaf, http ports]. */
void fsm__pack_member(struct msgpack_packer *pk, const struct fsm_member *m)
{
    msgpack_pack_array(pk, 13);
    msgpack_pack_uint64(pk, m->id);
    pack_cstr(pk, m->name);
    pack_cstr(pk, m->cluster);
    msgpack_pack_uint8(pk, m->role);
    msgpack_pack_uint8(pk, m->seed);
    pack_cstr(pk, m->peer_host);
    msgpack_pack_uint16(pk, m->peer_port);
    pack_cstr(pk, m->nats_host);
    msgpack_pack_uint16(pk, m->nats_client_port);
    msgpack_pack_uint16(pk, m->nats_cluster_port);
    msgpack_pack_uint16(pk, m->nats_gateway_port);
    msgpack_pack_uint16(pk, m->nats_leaf_port);
    msgpack_pack_uint16(pk, m->nats_http_port);
}

static int get_u64(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -PM_EPROTO;
    *v = o->via.u64;
    return 0;
}

static int get_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    if (get_u64(o, v) || *v > max)
        return -PM_EPROTO;
    return 0;
}

static int get_str(const msgpack_object *o, struct fsm_str *s)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return -PM_EPROTO;
    s->p = o->via.str.ptr;
    s->len = o->via.str.size;
    return 0;
}

/* Copy a string of at most CAP - 1 bytes without NUL into BUF. */
static int get_fixed(const msgpack_object *o, char *buf, size_t cap)
{
    struct fsm_str s;
    if (get_str(o, &s) || s.len >= cap || memchr(s.p, 0, s.len))
        return -PM_EPROTO;
    memcpy(buf, s.p, s.len);
    buf[s.len] = 0;
    return 0;
}

int fsm__unpack_member(const struct msgpack_object *o, struct fsm_member *m)
{
    uint64_t v[8];
    memset(m, 0, sizeof *m);
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 13)
        return -PM_EPROTO;
    const msgpack_object *a = o->via.array.ptr;
    if (get_u64(&a[0], &m->id) ||
        get_fixed(&a[1], m->name, sizeof m->name) ||
        get_fixed(&a[2], m->cluster, sizeof m->cluster) ||
        get_uint(&a[3], 255, &v[0]) || get_uint(&a[4], 255, &v[1]) ||
        get_fixed(&a[5], m->peer_host, sizeof m->peer_host) ||
        get_uint(&a[6], 65535, &v[2]) ||
        get_fixed(&a[7], m->nats_host, sizeof m->nats_host) ||
        get_uint(&a[8], 65535, &v[3]) || get_uint(&a[9], 65535, &v[4]) ||
        get_uint(&a[10], 65535, &v[5]) || get_uint(&a[11], 65535, &v[6]) ||
        get_uint(&a[12], 65535, &v[7]))
        return -PM_EPROTO;
    m->role = (uint8_t)v[0];
    m->seed = (uint8_t)v[1];
    m->peer_port = (uint16_t)v[2];
    m->nats_client_port = (uint16_t)v[3];
    m->nats_cluster_port = (uint16_t)v[4];
    m->nats_gateway_port = (uint16_t)v[5];
    m->nats_leaf_port = (uint16_t)v[6];
    m->nats_http_port = (uint16_t)v[7];
    return 0;
}

int fsm_cmd_encode(const struct fsm_cmd *c, uint8_t **out, size_t *out_len)
{
    struct fsm__buf b = {0};
    msgpack_packer pk;

    *out = NULL;
    *out_len = 0;
    if (c->type < FSM_CMD_NOOP || c->type > FSM_CMD__MAX)
        return -PM_EINVAL;
    if (c->type == FSM_CMD_FORCE_RECOVER &&
        c->n_remove > FSM_RECOVER_REMOVE_MAX)
        return -PM_EINVAL;
    msgpack_packer_init(&pk, &b, fsm__buf_write);
    msgpack_pack_array(&pk, 7);
    msgpack_pack_uint32(&pk, FSM_CMD_VERSION);
    msgpack_pack_uint8(&pk, c->type);
    msgpack_pack_uint64(&pk, c->proposer);
    msgpack_pack_uint64(&pk, c->time_ms);
    msgpack_pack_uint64(&pk, c->client_id);
    msgpack_pack_uint64(&pk, c->seq);
    switch (c->type) {
    case FSM_CMD_NOOP:
        msgpack_pack_array(&pk, 0);
        break;
    case FSM_CMD_BOOTSTRAP:
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint64(&pk, c->mesh_id);
        msgpack_pack_bin_with_body(&pk, c->secret, sizeof c->secret);
        fsm__pack_member(&pk, &c->member);
        break;
    case FSM_CMD_MEMBER_ADD:
    case FSM_CMD_MEMBER_ADDRESS:
        msgpack_pack_array(&pk, 1);
        fsm__pack_member(&pk, &c->member);
        break;
    case FSM_CMD_MEMBER_PROMOTE:
    case FSM_CMD_MEMBER_REMOVE:
        msgpack_pack_array(&pk, 1);
        msgpack_pack_uint64(&pk, c->member_id);
        break;
    case FSM_CMD_SET:
        msgpack_pack_array(&pk, 2);
        msgpack_pack_str_with_body(&pk, c->key.p, c->key.len);
        msgpack_pack_str_with_body(&pk, c->value.p, c->value.len);
        break;
    case FSM_CMD_UNSET:
        msgpack_pack_array(&pk, 1);
        msgpack_pack_str_with_body(&pk, c->key.p, c->key.len);
        break;
    case FSM_CMD_CLUSTER_RENAME:
        msgpack_pack_array(&pk, 2);
        msgpack_pack_str_with_body(&pk, c->cluster_from.p,
                                   c->cluster_from.len);
        msgpack_pack_str_with_body(&pk, c->cluster_to.p, c->cluster_to.len);
        break;
    case FSM_CMD_FORCE_RECOVER:
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint64(&pk, c->member_id);
        msgpack_pack_array(&pk, c->n_remove);
        for (uint32_t i = 0; i < c->n_remove; i++)
            msgpack_pack_uint64(&pk, c->remove_ids[i]);
        break;
    }
    if (b.oom) {
        fsm__buf_free(&b);
        return -PM_ENOMEM;
    }
    *out = (uint8_t *)b.p;
    *out_len = b.len;
    return 0;
}

/* Body arity per type (minimum; more fields are a later extension). */
static const uint32_t body_min[FSM_CMD__MAX + 1] = {
    [FSM_CMD_NOOP] = 0,           [FSM_CMD_BOOTSTRAP] = 3,
    [FSM_CMD_MEMBER_ADD] = 1,     [FSM_CMD_MEMBER_PROMOTE] = 1,
    [FSM_CMD_MEMBER_REMOVE] = 1,  [FSM_CMD_SET] = 2,
    [FSM_CMD_UNSET] = 1,          [FSM_CMD_CLUSTER_RENAME] = 2,
    [FSM_CMD_MEMBER_ADDRESS] = 1, [FSM_CMD_FORCE_RECOVER] = 2,
};

static int decode_body(const msgpack_object *body, struct fsm_cmd *c,
                       const char **why)
{
    const msgpack_object *a = body->via.array.ptr;
    switch (c->type) {
    case FSM_CMD_NOOP:
        return 0;
    case FSM_CMD_BOOTSTRAP:
        if (get_u64(&a[0], &c->mesh_id)) {
            *why = "mesh id is not an unsigned integer";
            return -PM_EPROTO;
        }
        if (a[1].type != MSGPACK_OBJECT_BIN ||
            a[1].via.bin.size != sizeof c->secret) {
            *why = "secret is not 32 bytes";
            return -PM_EPROTO;
        }
        memcpy(c->secret, a[1].via.bin.ptr, sizeof c->secret);
        if (fsm__unpack_member(&a[2], &c->member)) {
            *why = "malformed member record";
            return -PM_EPROTO;
        }
        return 0;
    case FSM_CMD_MEMBER_ADD:
    case FSM_CMD_MEMBER_ADDRESS:
        if (fsm__unpack_member(&a[0], &c->member)) {
            *why = "malformed member record";
            return -PM_EPROTO;
        }
        return 0;
    case FSM_CMD_MEMBER_PROMOTE:
    case FSM_CMD_MEMBER_REMOVE:
        if (get_u64(&a[0], &c->member_id)) {
            *why = "member id is not an unsigned integer";
            return -PM_EPROTO;
        }
        return 0;
    case FSM_CMD_SET:
        if (get_str(&a[0], &c->key) || get_str(&a[1], &c->value)) {
            *why = "key or value is not a string";
            return -PM_EPROTO;
        }
        return 0;
    case FSM_CMD_UNSET:
        if (get_str(&a[0], &c->key)) {
            *why = "key is not a string";
            return -PM_EPROTO;
        }
        return 0;
    case FSM_CMD_CLUSTER_RENAME:
        if (get_str(&a[0], &c->cluster_from) ||
            get_str(&a[1], &c->cluster_to)) {
            *why = "cluster label is not a string";
            return -PM_EPROTO;
        }
        return 0;
    case FSM_CMD_FORCE_RECOVER:
        if (get_u64(&a[0], &c->member_id) ||
            a[1].type != MSGPACK_OBJECT_ARRAY ||
            a[1].via.array.size > FSM_RECOVER_REMOVE_MAX) {
            *why = "malformed recovery record";
            return -PM_EPROTO;
        }
        c->n_remove = a[1].via.array.size;
        for (uint32_t i = 0; i < c->n_remove; i++) {
            if (get_u64(&a[1].via.array.ptr[i], &c->remove_ids[i])) {
                *why = "member id is not an unsigned integer";
                return -PM_EPROTO;
            }
        }
        return 0;
    }
    *why = "unknown command type";
    return -PM_EPROTO;
}

/* The zone a command is unpacked into: one per thread, cleared after each
 * decode (it keeps its first chunk) and freed with its thread (a tss
 * destructor), instead of the zone that msgpack_unpack_next() makes and
 * frees for every command (two mallocs and two frees per applied entry).
 * The decoded command points into BUF, never into the zone. (src/net's
 * wire.c keeps one of its own the same way, and says why they are two; a
 * fix to one is a fix to the other.) */
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

int fsm_cmd_decode(const uint8_t *buf, size_t len, struct fsm_cmd *c,
                   char *why_buf, size_t why_len)
{
    const char *why = NULL;
    int rc = -PM_EPROTO;
    msgpack_object top_obj;
    msgpack_zone *z = NULL;
    size_t off = 0;
    uint64_t v;

    memset(c, 0, sizeof *c);
    if (!buf || len == 0) {
        fsm__errf(why_buf, why_len, "command: empty");
        return -PM_EPROTO;
    }
    if (fsm__mp_check(buf, len, BODY_DEPTH_MAX)) {
        fsm__errf(why_buf, why_len, "command: not one well-formed msgpack "
                  "value of bounded size and depth");
        return -PM_EPROTO;
    }
    z = scratch_zone();
    /* msgpack_unpack: msgpack_unpack_next's parser, into a zone of ours
     * (msgpack-c calls it obsolete, not deprecated). */
    int ur = z == NULL ? MSGPACK_UNPACK_NOMEM_ERROR
                       : msgpack_unpack((const char *)buf, len, &off, z,
                                        &top_obj);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
        rc = -PM_ENOMEM;
        why = "out of memory";
        goto out;
    }
    if (ur != MSGPACK_UNPACK_SUCCESS || off != len) {
        why = "malformed msgpack";
        goto out;
    }
    const msgpack_object *top = &top_obj;
    if (top->type != MSGPACK_OBJECT_ARRAY || top->via.array.size < 1) {
        why = "not an array";
        goto out;
    }
    const msgpack_object *a = top->via.array.ptr;
    if (get_u64(&a[0], &v)) {
        why = "version is not an unsigned integer";
        goto out;
    }
    if (v != FSM_CMD_VERSION) {
        rc = -PM_EVERSION;
        fsm__errf(why_buf, why_len, "command: format version %llu is not "
                  "supported (this node speaks %d)",
                  (unsigned long long)v, FSM_CMD_VERSION);
        goto done;
    }
    if (top->via.array.size < 7) {
        why = "too few fields";
        goto out;
    }
    if (get_uint(&a[1], 255, &v) || v < FSM_CMD_NOOP || v > FSM_CMD__MAX) {
        why = "unknown command type";
        goto out;
    }
    c->type = (uint8_t)v;
    if (get_u64(&a[2], &c->proposer) || get_u64(&a[3], &c->time_ms) ||
        get_u64(&a[4], &c->client_id) || get_u64(&a[5], &c->seq)) {
        why = "header field is not an unsigned integer";
        goto out;
    }
    if (a[6].type != MSGPACK_OBJECT_ARRAY ||
        a[6].via.array.size < body_min[c->type]) {
        why = "body has too few fields";
        goto out;
    }
    rc = decode_body(&a[6], c, &why);
    if (rc == 0)
        goto done;
out:
    fsm__errf(why_buf, why_len, "command: %s", why ? why : "malformed");
    {
        uint8_t type = c->type;
        memset(c, 0, sizeof *c);
        c->type = type; /* kept so an audit can name what failed */
    }
done:
    if (z != NULL)
        msgpack_zone_clear(z);
    return rc;
}
