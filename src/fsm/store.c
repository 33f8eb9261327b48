/* store.c: the FSM's state as bytes: the stored key/values (loaded at
 * start), snapshots, and the state hash.
 *
 * Snapshot (msgpack), version FSM__SNAP_VERSION:
 *   [version, applied, globals, [member...], [[key, value]...],
 *    [[client_id, seq, index]...]]
 * globals = [bootstrapped, mesh_id, secret (bin 32), seed_id,
 *            bootstrap_index, recovery_index]
 * Members are in id order, settings in tree order (segments sorted by
 * bytes), request ids oldest first: all orders that follow from the state
 * alone, so identical states give identical bytes. Restoring treats the
 * bytes as hostile and checks everything a command would have had to pass,
 * plus the invariants that tie the parts together. */
#include "fsm/internal.h"

#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <sodium.h>

#include "base/err.h"

#define FSM__SNAP_VERSION 1
#define SNAP_DEPTH_MAX 4

void fsm__pack_globals(struct msgpack_packer *pk, const struct fsm *fsm)
{
    msgpack_pack_array(pk, 6);
    msgpack_pack_uint8(pk, (uint8_t)fsm->bootstrapped);
    msgpack_pack_uint64(pk, fsm->mesh_id);
    msgpack_pack_bin_with_body(pk, fsm->secret, sizeof fsm->secret);
    msgpack_pack_uint64(pk, fsm->seed_id);
    msgpack_pack_uint64(pk, fsm->bootstrap_index);
    msgpack_pack_uint64(pk, fsm->recovery_index);
}

static int u64_of(const msgpack_object *o, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return -PM_ECORRUPT;
    *v = o->via.u64;
    return 0;
}

static int unpack_globals(const msgpack_object *o, struct fsm *fsm)
{
    uint64_t b;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 6)
        return -PM_ECORRUPT;
    const msgpack_object *a = o->via.array.ptr;
    if (u64_of(&a[0], &b) || b > 1 || u64_of(&a[1], &fsm->mesh_id) ||
        a[2].type != MSGPACK_OBJECT_BIN ||
        a[2].via.bin.size != sizeof fsm->secret ||
        u64_of(&a[3], &fsm->seed_id) ||
        u64_of(&a[4], &fsm->bootstrap_index) ||
        u64_of(&a[5], &fsm->recovery_index))
        return -PM_ECORRUPT;
    fsm->bootstrapped = (int)b;
    memcpy(fsm->secret, a[2].via.bin.ptr, sizeof fsm->secret);
    return 0;
}

/* A member from the store or a snapshot: well-formed and valid. */
static int load_member(struct fsm *fsm, const msgpack_object *o)
{
    struct fsm_member m;
    if (fsm__unpack_member(o, &m) || fsm__member_check(&m, NULL, 0))
        return -PM_ECORRUPT;
    if (fsm__member_find(fsm, m.id))
        return -PM_ECORRUPT;
    if (fsm->n_members >= FSM_MEMBERS_MAX)
        return -PM_ECORRUPT;
    return fsm__member_insert(fsm, &m);
}

/* A setting from the store or a snapshot: valid key, canonical value, no
 * stored key at, above or below it yet. */
static int load_setting(struct fsm *fsm, const char *key, size_t klen,
                        const char *val, size_t vlen)
{
    int rc;
    if (fsm_key_check(key, klen, NULL, 0) ||
        (rc = fsm__value_check(val, vlen, NULL, 0)) == -PM_EINVAL ||
        rc == -PM_ETOOBIG)
        return -PM_ECORRUPT;
    if (rc)
        return rc;
    if (fsm__settings_find(&fsm->settings, key, klen) ||
        fsm__settings_holder(&fsm->settings, key, klen))
        return -PM_ECORRUPT;
    if (fsm->settings.n_keys >= FSM_SETTINGS_MAX ||
        fsm->settings.bytes + klen + vlen > FSM_SETTINGS_BYTES_MAX)
        return -PM_ECORRUPT;
    return fsm__settings_set(&fsm->settings, key, klen, val, vlen, NULL,
                             NULL);
}

static int load_dedup(struct fsm *fsm, uint64_t client, uint64_t seq,
                      uint64_t index)
{
    if (client == 0 || seq == 0 || index == 0 ||
        fsm->dd_used >= FSM_DEDUP_MAX || fsm__dedup_find(fsm, client))
        return -PM_ECORRUPT;
    uint64_t evicted; /* never: the table is not full */
    fsm__dedup_put(fsm, client, seq, index, &evicted);
    return 0;
}

int fsm__state_check(const struct fsm *fsm)
{
    if (!fsm->bootstrapped) {
        if (fsm->n_members || fsm->settings.n_keys || fsm->dd_used ||
            fsm->mesh_id || fsm->seed_id)
            return -PM_ECORRUPT;
        return 0;
    }
    if (fsm->mesh_id == 0 || fsm->bootstrap_index == 0 ||
        fsm->bootstrap_index > fsm->applied ||
        fsm->recovery_index > fsm->applied)
        return -PM_ECORRUPT;
    size_t seeds = 0, voters = 0;
    for (size_t i = 0; i < fsm->n_members; i++) {
        const struct fsm_member *m = &fsm->members[i];
        seeds += m->seed;
        voters += m->role == FSM_ROLE_VOTER;
        if (m->seed && (m->id != fsm->seed_id || m->role != FSM_ROLE_VOTER))
            return -PM_ECORRUPT;
        for (size_t j = 0; j < i; j++)
            if (strcmp(fsm->members[j].name, m->name) == 0)
                return -PM_ECORRUPT;
    }
    if (voters == 0 || seeds != 1)
        return -PM_ECORRUPT;
    for (int32_t i = fsm->dd_head; i >= 0; i = fsm->dd[i].next)
        if (fsm->dd[i].index > fsm->applied)
            return -PM_ECORRUPT;
    return 0;
}

/* ---- loading the stored key/values -------------------------------------- */

static int unpack_one(const void *val, uint32_t len, msgpack_unpacked *u,
                      unsigned depth)
{
    size_t off = 0;
    if (fsm__mp_check(val, len, depth))
        return -PM_ECORRUPT;
    int r = msgpack_unpack_next(u, val, len, &off);
    if (r == MSGPACK_UNPACK_NOMEM_ERROR)
        return -PM_ENOMEM;
    return (r == MSGPACK_UNPACK_SUCCESS && off == len) ? 0 : -PM_ECORRUPT;
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int fsm_load_kv(struct fsm *fsm, const void *key, uint32_t key_len,
                const void *val, uint32_t val_len)
{
    const char *k = key;
    msgpack_unpacked u;
    int rc;

    fsm__render_invalidate(fsm);
    if (key_len < 2 || k[1] != '/')
        return -PM_ECORRUPT;
    if (k[0] == 's')
        return load_setting(fsm, k + 2, key_len - 2, val, val_len);
    if (k[0] == 'g') {
        if (key_len != 6 || memcmp(k, "g/mesh", 6) != 0)
            return -PM_ECORRUPT;
    } else if ((k[0] != 'm' && k[0] != 'd') || key_len != 10) {
        return -PM_ECORRUPT;
    }
    msgpack_unpacked_init(&u);
    rc = unpack_one(val, val_len, &u, 3);
    if (rc)
        goto out;
    if (k[0] == 'g') {
        rc = unpack_globals(&u.data, fsm);
    } else if (k[0] == 'm') {
        rc = load_member(fsm, &u.data);
        if (rc == 0 && fsm__member_find(fsm, be64((const uint8_t *)k + 2)) ==
                           NULL)
            rc = -PM_ECORRUPT; /* key and record disagree */
    } else {
        uint64_t seq, index;
        const msgpack_object *o = &u.data;
        if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2 ||
            u64_of(&o->via.array.ptr[0], &seq) ||
            u64_of(&o->via.array.ptr[1], &index))
            rc = -PM_ECORRUPT;
        else
            rc = load_dedup(fsm, be64((const uint8_t *)k + 2), seq, index);
    }
out:
    msgpack_unpacked_destroy(&u);
    return rc;
}

int fsm_load_done(struct fsm *fsm, uint64_t applied)
{
    fsm__render_invalidate(fsm);
    fsm->applied = applied;
    fsm__dedup_relink(fsm);
    return fsm__state_check(fsm);
}

/* ---- snapshots -------------------------------------------------------------- */

static int pack_setting(void *ctx, const char *key, size_t klen,
                        const char *old_val, const char *val)
{
    msgpack_packer *pk = ctx;
    (void)old_val;
    msgpack_pack_array(pk, 2);
    msgpack_pack_str_with_body(pk, key, klen);
    msgpack_pack_str_with_body(pk, val, strlen(val));
    return 0;
}

int fsm_snapshot(const struct fsm *fsm, uint8_t **out, size_t *out_len)
{
    struct fsm__buf b = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, fsm__buf_write);
    msgpack_pack_array(&pk, 6);
    msgpack_pack_uint32(&pk, FSM__SNAP_VERSION);
    msgpack_pack_uint64(&pk, fsm->applied);
    fsm__pack_globals(&pk, fsm);
    msgpack_pack_array(&pk, (uint32_t)fsm->n_members);
    for (size_t i = 0; i < fsm->n_members; i++)
        fsm__pack_member(&pk, &fsm->members[i]);
    msgpack_pack_array(&pk, (uint32_t)fsm->settings.n_keys);
    fsm__settings_walk(&fsm->settings, pack_setting, &pk);
    msgpack_pack_array(&pk, fsm->dd_used);
    for (int32_t i = fsm->dd_head; i >= 0; i = fsm->dd[i].next) {
        msgpack_pack_array(&pk, 3);
        msgpack_pack_uint64(&pk, fsm->dd[i].client_id);
        msgpack_pack_uint64(&pk, fsm->dd[i].seq);
        msgpack_pack_uint64(&pk, fsm->dd[i].index);
    }
    if (b.oom) {
        fsm__buf_free(&b);
        return -PM_ENOMEM;
    }
    *out = (uint8_t *)b.p;
    *out_len = b.len;
    return 0;
}

/* Decode a snapshot into the fresh FSM N. */
static int restore_into(struct fsm *n, const msgpack_object *top)
{
    int rc;
    uint64_t v;
    if (top->type != MSGPACK_OBJECT_ARRAY || top->via.array.size < 1)
        return -PM_ECORRUPT;
    const msgpack_object *a = top->via.array.ptr;
    if (u64_of(&a[0], &v))
        return -PM_ECORRUPT;
    if (v != FSM__SNAP_VERSION)
        return -PM_EVERSION;
    if (top->via.array.size < 6 || u64_of(&a[1], &n->applied) ||
        (rc = unpack_globals(&a[2], n)) || a[3].type != MSGPACK_OBJECT_ARRAY ||
        a[4].type != MSGPACK_OBJECT_ARRAY || a[5].type != MSGPACK_OBJECT_ARRAY)
        return -PM_ECORRUPT;
    /* Members (unique ids, checked like a member add). */
    if (a[3].via.array.size > FSM_MEMBERS_MAX)
        return -PM_ECORRUPT;
    for (uint32_t i = 0; i < a[3].via.array.size; i++) {
        if ((rc = load_member(n, &a[3].via.array.ptr[i])))
            return rc;
    }
    /* Settings. */
    if (a[4].via.array.size > FSM_SETTINGS_MAX)
        return -PM_ECORRUPT;
    for (uint32_t i = 0; i < a[4].via.array.size; i++) {
        const msgpack_object *p = &a[4].via.array.ptr[i];
        if (p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size < 2 ||
            p->via.array.ptr[0].type != MSGPACK_OBJECT_STR ||
            p->via.array.ptr[1].type != MSGPACK_OBJECT_STR)
            return -PM_ECORRUPT;
        const msgpack_object_str *k = &p->via.array.ptr[0].via.str;
        const msgpack_object_str *val = &p->via.array.ptr[1].via.str;
        if ((rc = load_setting(n, k->ptr, k->size, val->ptr, val->size)))
            return rc;
    }
    /* Request ids, oldest first. */
    if (a[5].via.array.size > FSM_DEDUP_MAX)
        return -PM_ECORRUPT;
    uint64_t last = 0;
    for (uint32_t i = 0; i < a[5].via.array.size; i++) {
        const msgpack_object *p = &a[5].via.array.ptr[i];
        uint64_t c, s, x;
        if (p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size < 3 ||
            u64_of(&p->via.array.ptr[0], &c) ||
            u64_of(&p->via.array.ptr[1], &s) ||
            u64_of(&p->via.array.ptr[2], &x) || x <= last)
            return -PM_ECORRUPT;
        last = x;
        if ((rc = load_dedup(n, c, s, x)))
            return rc;
    }
    fsm__dedup_relink(n);
    return fsm__state_check(n);
}

int fsm_restore(struct fsm *fsm, const uint8_t *buf, size_t len)
{
    struct fsm *n;
    msgpack_unpacked u;
    size_t off = 0;
    int rc;

    if (!buf || len == 0 || fsm__mp_check(buf, len, SNAP_DEPTH_MAX))
        return -PM_ECORRUPT;
    if ((rc = fsm_new(&n)))
        return rc;
    msgpack_unpacked_init(&u);
    int r = msgpack_unpack_next(&u, (const char *)buf, len, &off);
    if (r == MSGPACK_UNPACK_NOMEM_ERROR)
        rc = -PM_ENOMEM;
    else if (r != MSGPACK_UNPACK_SUCCESS || off != len)
        rc = -PM_ECORRUPT;
    else
        rc = restore_into(n, &u.data);
    msgpack_unpacked_destroy(&u);
    if (rc) {
        fsm_free(n);
        return rc;
    }
    /* Swap the new state in; keep the caller's tracking choice. */
    int track = fsm->track;
    fsm__key_fn afn = fsm->audit_fn;
    void *actx = fsm->audit_ctx;
    fsm_changes_clear(fsm);
    fsm__render_invalidate(fsm);
    struct fsm tmp = *fsm;
    *fsm = *n;
    *n = tmp;
    /* The tree's root lives inside struct fsm: re-aim its children. */
    for (uint32_t i = 0; i < fsm->settings.root.n_kids; i++)
        fsm->settings.root.kids[i]->parent = &fsm->settings.root;
    fsm_free(n);
    fsm->track = track;
    fsm->audit_fn = afn;
    fsm->audit_ctx = actx;
    fsm->clear = track;
    rc = fsm__queue_all(fsm);
    return rc;
}

int fsm_state_hash(const struct fsm *fsm, char hex[FSM_HASH_HEX_LEN])
{
    uint8_t *snap;
    size_t len;
    uint8_t h[32];
    int rc = fsm_snapshot(fsm, &snap, &len);
    if (rc)
        return rc;
    crypto_generichash(h, sizeof h, snap, len, NULL, 0);
    free(snap);
    sodium_bin2hex(hex, FSM_HASH_HEX_LEN, h, sizeof h);
    return 0;
}
