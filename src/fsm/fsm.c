/* fsm.c: the state machine proper: apply, members, the duplicate-request
 * table and the queue of stored mutations.
 *
 * Apply is deterministic (DESIGN.md §3): it depends only on the state and
 * the entry. The order of checks is part of that contract: decode, then
 * duplicate detection, then validation against the state, then the change.
 * A rejected command changes nothing but the applied index, on every node
 * alike, so the Raft state machine safety property (Raft §5.4.3: all
 * servers apply the same command at the same index) carries over to the
 * materialized files. */
#include "fsm/internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>
#include <sodium.h>

#include "base/err.h"

/* ---- lifecycle ----------------------------------------------------------- */

int fsm_new(struct fsm **out)
{
    struct fsm *f = calloc(1, sizeof *f);
    if (!f)
        return -PM_ENOMEM;
    f->dd = calloc(FSM_DEDUP_MAX, sizeof *f->dd);
    f->dd_hash = malloc(FSM__DD_HASH * sizeof *f->dd_hash);
    f->render = calloc(1, sizeof *f->render);
    if (!f->dd || !f->dd_hash || !f->render) {
        free(f->dd);
        free(f->dd_hash);
        free(f->render);
        free(f);
        return -PM_ENOMEM;
    }
    for (size_t i = 0; i < FSM__DD_HASH; i++)
        f->dd_hash[i] = -1;
    f->dd_head = f->dd_tail = -1;
    fsm__settings_init(&f->settings);
    f->track = 1;
    *out = f;
    return 0;
}

void fsm_free(struct fsm *fsm)
{
    if (!fsm)
        return;
    fsm_changes_clear(fsm);
    free(fsm->ch);
    fsm__settings_free(&fsm->settings);
    free(fsm->members);
    free(fsm->dd);
    free(fsm->dd_hash);
    fsm__render_invalidate(fsm);
    free(fsm->render);
    sodium_memzero(fsm->secret, sizeof fsm->secret);
    free(fsm);
}

void fsm_track_changes(struct fsm *fsm, int enabled)
{
    fsm->track = enabled != 0;
    if (!fsm->track)
        fsm_changes_clear(fsm);
}

uint64_t fsm_applied(const struct fsm *fsm) { return fsm->applied; }
int fsm_bootstrapped(const struct fsm *fsm) { return fsm->bootstrapped; }
uint64_t fsm_mesh_id(const struct fsm *fsm) { return fsm->mesh_id; }
uint64_t fsm_seed_id(const struct fsm *fsm) { return fsm->seed_id; }

const uint8_t *fsm_secret(const struct fsm *fsm)
{
    return fsm->bootstrapped ? fsm->secret : NULL;
}

/* ---- members -------------------------------------------------------------- */

static size_t member_lower_bound(const struct fsm *fsm, uint64_t id)
{
    size_t lo = 0, hi = fsm->n_members;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (fsm->members[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct fsm_member *fsm__member_find(const struct fsm *fsm, uint64_t id)
{
    size_t i = member_lower_bound(fsm, id);
    if (i < fsm->n_members && fsm->members[i].id == id)
        return &fsm->members[i];
    return NULL;
}

int fsm__member_insert(struct fsm *fsm, const struct fsm_member *m)
{
    if (fsm->n_members == fsm->cap_members) {
        size_t cap = fsm->cap_members ? 2 * fsm->cap_members : 8;
        struct fsm_member *p = realloc(fsm->members, cap * sizeof *p);
        if (!p)
            return -PM_ENOMEM;
        fsm->members = p;
        fsm->cap_members = cap;
    }
    size_t i = member_lower_bound(fsm, m->id);
    memmove(&fsm->members[i + 1], &fsm->members[i],
            (fsm->n_members - i) * sizeof *fsm->members);
    fsm->members[i] = *m;
    fsm->n_members++;
    return 0;
}

void fsm__member_erase(struct fsm *fsm, uint64_t id)
{
    size_t i = member_lower_bound(fsm, id);
    if (i >= fsm->n_members || fsm->members[i].id != id)
        return;
    memmove(&fsm->members[i], &fsm->members[i + 1],
            (fsm->n_members - i - 1) * sizeof *fsm->members);
    fsm->n_members--;
}

size_t fsm_member_count(const struct fsm *fsm) { return fsm->n_members; }
size_t fsm_settings_bytes(const struct fsm *fsm) { return fsm->settings.bytes; }

const struct fsm_member *fsm_member_at(const struct fsm *fsm, size_t i)
{
    return i < fsm->n_members ? &fsm->members[i] : NULL;
}

const struct fsm_member *fsm_member_by_id(const struct fsm *fsm, uint64_t id)
{
    return fsm__member_find(fsm, id);
}

const struct fsm_member *fsm_member_by_name(const struct fsm *fsm,
                                            const char *name)
{
    for (size_t i = 0; i < fsm->n_members; i++)
        if (strcmp(fsm->members[i].name, name) == 0)
            return &fsm->members[i];
    return NULL;
}

uint64_t fsm_next_member_id(const struct fsm *fsm)
{
    return fsm->n_members ? fsm->members[fsm->n_members - 1].id + 1 : 1;
}

int fsm_get(const struct fsm *fsm, const char *key, char **json,
            size_t *json_len)
{
    return fsm__settings_get(&fsm->settings, key, json, json_len);
}

/* ---- duplicate-request table --------------------------------------------
 * FSM_DEDUP_MAX slots, an open-addressing index over client ids (never
 * iterated, so its order cannot leak into the state), and a list of slots
 * in the order of the index that last used them. When the table is full
 * the client whose last request is oldest is forgotten: the same choice on
 * every node. */

static uint32_t dd_hash_of(uint64_t id)
{
    return (uint32_t)((id * 0x9E3779B97F4A7C15ull) >> 40) % FSM__DD_HASH;
}

static int32_t *dd_probe(const struct fsm *fsm, uint64_t id)
{
    uint32_t h = dd_hash_of(id);
    /* The index is at most half full, so an empty slot ends the probe. */
    for (uint32_t n = 0; n < FSM__DD_HASH; n++) {
        int32_t *s = &fsm->dd_hash[(h + n) % FSM__DD_HASH];
        if (*s < 0 || fsm->dd[*s].client_id == id)
            return s;
    }
    return NULL;
}

struct fsm__dedup *fsm__dedup_find(const struct fsm *fsm, uint64_t id)
{
    int32_t *s = dd_probe(fsm, id);
    return (s && *s >= 0) ? &fsm->dd[*s] : NULL;
}

static void dd_hash_remove(struct fsm *fsm, uint64_t id)
{
    int32_t *s = dd_probe(fsm, id);
    if (!s || *s < 0)
        return;
    /* Backward-shift deletion keeps every probe chain unbroken. */
    uint32_t hole = (uint32_t)(s - fsm->dd_hash);
    uint32_t j = hole;
    fsm->dd_hash[hole] = -1;
    for (uint32_t n = 0; n < FSM__DD_HASH; n++) {
        j = (j + 1) % FSM__DD_HASH;
        int32_t v = fsm->dd_hash[j];
        if (v < 0)
            break;
        uint32_t home = dd_hash_of(fsm->dd[v].client_id);
        /* Move v into the hole if its home is not in (hole, j]. */
        int in_range = hole <= j ? (home > hole && home <= j)
                                 : (home > hole || home <= j);
        if (!in_range) {
            fsm->dd_hash[hole] = v;
            fsm->dd_hash[j] = -1;
            hole = j;
        }
    }
}

static void dd_unlink(struct fsm *fsm, int32_t i)
{
    struct fsm__dedup *d = &fsm->dd[i];
    if (d->prev >= 0)
        fsm->dd[d->prev].next = d->next;
    else
        fsm->dd_head = d->next;
    if (d->next >= 0)
        fsm->dd[d->next].prev = d->prev;
    else
        fsm->dd_tail = d->prev;
    d->prev = d->next = -1;
}

static void dd_append(struct fsm *fsm, int32_t i)
{
    struct fsm__dedup *d = &fsm->dd[i];
    d->prev = fsm->dd_tail;
    d->next = -1;
    if (fsm->dd_tail >= 0)
        fsm->dd[fsm->dd_tail].next = i;
    else
        fsm->dd_head = i;
    fsm->dd_tail = i;
}

void fsm__dedup_put(struct fsm *fsm, uint64_t id, uint64_t seq,
                    uint64_t index, uint64_t *evicted)
{
    *evicted = 0;
    int32_t *s = dd_probe(fsm, id);
    if (s && *s >= 0) {
        struct fsm__dedup *d = &fsm->dd[*s];
        d->seq = seq;
        d->index = index;
        dd_unlink(fsm, *s);
        dd_append(fsm, *s);
        return;
    }
    int32_t slot;
    if (fsm->dd_used < FSM_DEDUP_MAX) {
        slot = (int32_t)fsm->dd_used++;
    } else {
        slot = fsm->dd_head;
        *evicted = fsm->dd[slot].client_id;
        dd_unlink(fsm, slot);
        dd_hash_remove(fsm, *evicted);
    }
    fsm->dd[slot].client_id = id;
    fsm->dd[slot].seq = seq;
    fsm->dd[slot].index = index;
    fsm->dd[slot].ch_at = 0;
    s = dd_probe(fsm, id);
    assert(s && *s < 0); /* the index is never more than half full */
    *s = slot;
    dd_append(fsm, slot);
}

static const struct fsm__dedup *sort_base;
static int by_index(const void *a, const void *b)
{
    uint64_t x = sort_base[*(const int32_t *)a].index;
    uint64_t y = sort_base[*(const int32_t *)b].index;
    return x < y ? -1 : x > y;
}

void fsm__dedup_relink(struct fsm *fsm)
{
    int32_t order[FSM_DEDUP_MAX];
    for (uint32_t i = 0; i < fsm->dd_used; i++)
        order[i] = (int32_t)i;
    sort_base = fsm->dd;
    qsort(order, fsm->dd_used, sizeof *order, by_index);
    fsm->dd_head = fsm->dd_tail = -1;
    for (uint32_t i = 0; i < fsm->dd_used; i++)
        dd_append(fsm, order[i]);
}

/* ---- pending stored mutations -------------------------------------------- */

/* Fill KV with copies of KEY and VAL (NULL: a delete) in one allocation,
 * owned through kv->key; KV is unchanged on -PM_ENOMEM. */
static int kv_fill(struct fsm_kv *kv, const void *key, size_t klen,
                   const void *val, size_t vlen)
{
    char *mem = malloc(klen + (val ? vlen : 0) + 1);
    if (!mem)
        return -PM_ENOMEM;
    memcpy(mem, key, klen);
    kv->key = mem;
    kv->key_len = (uint32_t)klen;
    if (val) {
        memcpy(mem + klen, val, vlen);
        kv->val = mem + klen;
        kv->val_len = (uint32_t)vlen;
    } else {
        kv->val = NULL;
        kv->val_len = 0;
    }
    return 0;
}

int fsm__queue(struct fsm *fsm, const void *key, size_t klen, const void *val,
               size_t vlen)
{
    if (!fsm->track)
        return 0;
    if (fsm->n_ch == fsm->cap_ch) {
        size_t cap = fsm->cap_ch ? 2 * fsm->cap_ch : 64;
        struct fsm_kv *p = realloc(fsm->ch, cap * sizeof *p);
        if (!p)
            return -PM_ENOMEM;
        fsm->ch = p;
        fsm->cap_ch = cap;
    }
    int rc = kv_fill(&fsm->ch[fsm->n_ch], key, klen, val, vlen);
    if (rc == 0)
        fsm->n_ch++;
    return rc;
}

static void id_key(char prefix, uint64_t id, uint8_t key[10])
{
    key[0] = (uint8_t)prefix;
    key[1] = '/';
    for (int i = 0; i < 8; i++)
        key[2 + i] = (uint8_t)(id >> (56 - 8 * i));
}

static int queue_packed(struct fsm *fsm, const void *key, size_t klen,
                        struct fsm__buf *b)
{
    int rc = b->oom ? -PM_ENOMEM : fsm__queue(fsm, key, klen, b->p, b->len);
    fsm__buf_free(b);
    return rc;
}

int fsm__queue_member(struct fsm *fsm, const struct fsm_member *m)
{
    if (!fsm->track)
        return 0;
    uint8_t key[10];
    struct fsm__buf b = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, fsm__buf_write);
    fsm__pack_member(&pk, m);
    id_key('m', m->id, key);
    return queue_packed(fsm, key, sizeof key, &b);
}

int fsm__queue_member_del(struct fsm *fsm, uint64_t id)
{
    uint8_t key[10];
    id_key('m', id, key);
    return fsm__queue(fsm, key, sizeof key, NULL, 0);
}

int fsm__queue_globals(struct fsm *fsm)
{
    if (!fsm->track)
        return 0;
    struct fsm__buf b = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, fsm__buf_write);
    fsm__pack_globals(&pk, fsm);
    return queue_packed(fsm, "g/mesh", 6, &b);
}

int fsm__queue_dedup(struct fsm *fsm, struct fsm__dedup *d)
{
    if (!fsm->track)
        return 0;
    uint8_t key[10];
    struct fsm__buf b = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, fsm__buf_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, d->seq);
    msgpack_pack_uint64(&pk, d->index);
    id_key('d', d->client_id, key);
    if (b.oom)
        return queue_packed(fsm, key, sizeof key, &b);
    /* A client sends request after request: between two state writes only
     * its last record matters, so replace the one it queued (the same key,
     * and no later record for it: a delete would have come with its
     * eviction, after which it gets a fresh entry) instead of adding one
     * more put per request to the next write. */
    struct fsm_kv *kv = d->ch_gen == fsm->ch_gen && d->ch_at != 0 &&
                                d->ch_at <= fsm->n_ch
                            ? &fsm->ch[d->ch_at - 1]
                            : NULL;
    if (kv != NULL && kv->val != NULL && kv->key_len == sizeof key &&
        memcmp(kv->key, key, sizeof key) == 0) {
        const void *old = kv->key;
        int rc = kv_fill(kv, key, sizeof key, b.p, b.len);
        if (rc == 0)
            free((void *)old);
        fsm__buf_free(&b);
        return rc;
    }
    int rc = queue_packed(fsm, key, sizeof key, &b);
    if (rc == 0) {
        d->ch_at = (uint32_t)fsm->n_ch;
        d->ch_gen = fsm->ch_gen;
    }
    return rc;
}

int fsm__queue_dedup_del(struct fsm *fsm, uint64_t client_id)
{
    uint8_t key[10];
    id_key('d', client_id, key);
    return fsm__queue(fsm, key, sizeof key, NULL, 0);
}

static int queue_setting(void *ctx, const char *key, size_t klen,
                         const char *old_val, const char *new_val)
{
    struct fsm *fsm = ctx;
    (void)old_val;
    char k[2 + FSM_KEY_MAX];
    k[0] = 's';
    k[1] = '/';
    memcpy(k + 2, key, klen);
    return fsm__queue(fsm, k, klen + 2, new_val,
                      new_val ? strlen(new_val) : 0);
}

int fsm__queue_all(struct fsm *fsm)
{
    int rc = 0;
    if (!fsm->track)
        return 0;
    if (fsm->bootstrapped && (rc = fsm__queue_globals(fsm)))
        return rc;
    for (size_t i = 0; i < fsm->n_members; i++)
        if ((rc = fsm__queue_member(fsm, &fsm->members[i])))
            return rc;
    if ((rc = fsm__settings_walk(&fsm->settings, queue_setting, fsm)))
        return rc;
    for (int32_t i = fsm->dd_head; i >= 0; i = fsm->dd[i].next)
        if ((rc = fsm__queue_dedup(fsm, &fsm->dd[i])))
            return rc;
    return 0;
}

void fsm_changes(const struct fsm *fsm, struct fsm_changes *out)
{
    out->clear = fsm->clear;
    out->kv = fsm->ch;
    out->n = fsm->n_ch;
    out->applied = fsm->applied;
}

void fsm_changes_clear(struct fsm *fsm)
{
    for (size_t i = 0; i < fsm->n_ch; i++)
        free((void *)fsm->ch[i].key);
    fsm->n_ch = 0;
    fsm->clear = 0;
    fsm->ch_gen++;
}

/* ---- apply ---------------------------------------------------------------- */

/* Settings callback: queue the stored mutation and tell the audit. */
static int setting_changed(void *ctx, const char *key, size_t klen,
                           const char *old_val, const char *new_val)
{
    struct fsm *fsm = ctx;
    int rc = queue_setting(fsm, key, klen, old_val, new_val);
    if (rc == 0 && fsm->audit_fn)
        rc = fsm->audit_fn(fsm->audit_ctx, key, klen, old_val, new_val);
    return rc;
}

static int set_seed(struct fsm *fsm, uint64_t id)
{
    int rc;
    struct fsm_member *old = fsm__member_find(fsm, fsm->seed_id);
    if (old && old->id != id) {
        old->seed = 0;
        if ((rc = fsm__queue_member(fsm, old)))
            return rc;
    }
    struct fsm_member *m = fsm__member_find(fsm, id);
    if (m && !m->seed) {
        m->seed = 1;
        if ((rc = fsm__queue_member(fsm, m)))
            return rc;
    }
    fsm->seed_id = m ? id : 0;
    return fsm__queue_globals(fsm);
}

static int remove_member(struct fsm *fsm, uint64_t id)
{
    int was_seed = fsm->seed_id == id;
    fsm__member_erase(fsm, id);
    int rc = fsm__queue_member_del(fsm, id);
    if (rc || !was_seed)
        return rc;
    /* The seed flag moves to the voter with the lowest id: a choice every
     * node makes alike from the state alone. (Raft keeps its own
     * tie-breaker in its configuration; this flag is what settings.json,
     * the seed URL and nats.conf's primary show.) */
    for (size_t i = 0; i < fsm->n_members; i++)
        if (fsm->members[i].role == FSM_ROLE_VOTER)
            return set_seed(fsm, fsm->members[i].id);
    fsm->seed_id = 0;
    return fsm__queue_globals(fsm);
}

static int execute(struct fsm *fsm, const struct fsm_cmd *c, uint64_t index,
                   unsigned *changed)
{
    int rc = 0;
    struct fsm_member *m;
    switch (c->type) {
    case FSM_CMD_NOOP:
        return 0;
    case FSM_CMD_BOOTSTRAP:
        fsm->bootstrapped = 1;
        fsm->mesh_id = c->mesh_id;
        memcpy(fsm->secret, c->secret, sizeof fsm->secret);
        fsm->seed_id = c->member.id;
        fsm->bootstrap_index = index;
        if ((rc = fsm__member_insert(fsm, &c->member)) ||
            (rc = fsm__queue_member(fsm, &c->member)))
            return rc;
        *changed |= FSM_CHANGED_MESH | FSM_CHANGED_MEMBERS;
        return fsm__queue_globals(fsm);
    case FSM_CMD_MEMBER_ADD:
        if ((rc = fsm__member_insert(fsm, &c->member)))
            return rc;
        *changed |= FSM_CHANGED_MEMBERS;
        return fsm__queue_member(fsm, &c->member);
    case FSM_CMD_MEMBER_PROMOTE:
        m = fsm__member_find(fsm, c->member_id);
        m->role = FSM_ROLE_VOTER;
        *changed |= FSM_CHANGED_MEMBERS;
        return fsm__queue_member(fsm, m);
    case FSM_CMD_MEMBER_REMOVE:
        *changed |= FSM_CHANGED_MEMBERS;
        if (fsm->seed_id == c->member_id)
            *changed |= FSM_CHANGED_MESH;
        return remove_member(fsm, c->member_id);
    case FSM_CMD_SET:
        *changed |= FSM_CHANGED_SETTINGS;
        return fsm__settings_set(&fsm->settings, c->key.p, c->key.len,
                                 c->value.p, c->value.len, setting_changed,
                                 fsm);
    case FSM_CMD_UNSET:
        *changed |= FSM_CHANGED_SETTINGS;
        rc = fsm__settings_unset(&fsm->settings, c->key.p, c->key.len,
                                 setting_changed, fsm);
        return rc < 0 ? rc : 0;
    case FSM_CMD_CLUSTER_RENAME:
        for (size_t i = 0; i < fsm->n_members; i++) {
            m = &fsm->members[i];
            if (strlen(m->cluster) != c->cluster_from.len ||
                memcmp(m->cluster, c->cluster_from.p, c->cluster_from.len))
                continue;
            memcpy(m->cluster, c->cluster_to.p, c->cluster_to.len);
            m->cluster[c->cluster_to.len] = 0;
            if ((rc = fsm__queue_member(fsm, m)))
                return rc;
        }
        *changed |= FSM_CHANGED_MEMBERS;
        return 0;
    case FSM_CMD_MEMBER_ADDRESS:
        m = fsm__member_find(fsm, c->member.id);
        memcpy(m->peer_host, c->member.peer_host, sizeof m->peer_host);
        m->peer_port = c->member.peer_port;
        memcpy(m->nats_host, c->member.nats_host, sizeof m->nats_host);
        m->nats_client_port = c->member.nats_client_port;
        m->nats_cluster_port = c->member.nats_cluster_port;
        m->nats_gateway_port = c->member.nats_gateway_port;
        m->nats_leaf_port = c->member.nats_leaf_port;
        m->nats_http_port = c->member.nats_http_port;
        *changed |= FSM_CHANGED_MEMBERS;
        return fsm__queue_member(fsm, m);
    case FSM_CMD_FORCE_RECOVER:
        for (uint32_t i = 0; i < c->n_remove; i++) {
            fsm__member_erase(fsm, c->remove_ids[i]);
            if ((rc = fsm__queue_member_del(fsm, c->remove_ids[i])))
                return rc;
        }
        fsm->recovery_index = index;
        *changed |= FSM_CHANGED_MEMBERS | FSM_CHANGED_MESH;
        return set_seed(fsm, c->member_id);
    }
    return 0;
}

int fsm__apply(struct fsm *fsm, const struct pm_entry *e,
               struct fsm_result *res, struct fsm_cmd *cmd)
{
    char why[FSM_ERR_LEN];
    int rc;

    if (e->index != fsm->applied + 1)
        return -PM_ERANGE;
    fsm__render_invalidate(fsm);
    memset(res, 0, sizeof *res);
    memset(cmd, 0, sizeof *cmd);
    res->index = e->index;
    if (e->type == PM_ENTRY_NOOP ||
        (e->type == PM_ENTRY_CONFIG && e->len == 0))
        goto done;
    if (e->type != PM_ENTRY_COMMAND && e->type != PM_ENTRY_CONFIG) {
        res->status = -PM_EPROTO;
        fsm__errf(res->error, sizeof res->error, "unknown entry type %u",
                  e->type);
        goto done;
    }
    rc = fsm_cmd_decode(e->data, e->len, cmd, why, sizeof why);
    res->cmd_type = cmd->type;
    if (rc == -PM_ENOMEM)
        return rc;
    if (rc) {
        res->status = rc;
        memcpy(res->error, why, sizeof res->error);
        goto done;
    }
    if (cmd->client_id) {
        const struct fsm__dedup *d = fsm__dedup_find(fsm, cmd->client_id);
        if (d && cmd->seq <= d->seq) {
            res->status = -PM_EEXIST;
            res->dup_index = cmd->seq == d->seq ? d->index : 0;
            fsm__errf(res->error, sizeof res->error,
                      "duplicate request (client %llu, sequence %llu)",
                      (unsigned long long)cmd->client_id,
                      (unsigned long long)cmd->seq);
            goto done;
        }
    }
    rc = fsm_validate(fsm, cmd, res->error, sizeof res->error);
    if (rc == -PM_ENOMEM)
        return rc;
    if (rc) {
        res->status = rc;
        goto done;
    }
    if ((rc = execute(fsm, cmd, e->index, &res->changed)))
        return rc;
    /* What validation promised holds after the change. */
    assert(fsm->n_members <= FSM_MEMBERS_MAX);
    assert(fsm->settings.n_keys <= FSM_SETTINGS_MAX);
    assert(!fsm->bootstrapped || fsm__member_find(fsm, fsm->seed_id));
    if (cmd->client_id) {
        uint64_t evicted;
        fsm__dedup_put(fsm, cmd->client_id, cmd->seq, e->index, &evicted);
        if (evicted && (rc = fsm__queue_dedup_del(fsm, evicted)))
            return rc;
        if ((rc = fsm__queue_dedup(fsm, fsm__dedup_find(fsm,
                                                         cmd->client_id))))
            return rc;
    }
done:
    fsm->applied = e->index;
    return 0;
}

int fsm_apply(struct fsm *fsm, const struct pm_entry *e,
              struct fsm_result *res)
{
    struct fsm_result local;
    struct fsm_cmd cmd;
    return fsm__apply(fsm, e, res ? res : &local, &cmd);
}
