/* audit.c: entries as readable records, for `pmesh log`, `history KEY` and
 * `replay`. A record is produced while the entry is applied to a scratch
 * FSM, so it can say what each setting was before and after (the log alone
 * only says what was asked). Secrets never appear in a record. */
#include "fsm/internal.h"
#include "fsm/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "base/err.h"

struct audit {
    cJSON *changes;   /* array of {key, old, new} */
    int ok;
    const char *key;  /* history filter, or NULL */
    size_t klen;
    int touched;      /* a change hit the filter key, above or below it */
};

/* Text from an untrusted command as a JSON string: anything but printable
 * ASCII becomes '?', so a record is always valid UTF-8 JSON. */
static cJSON *safe_str(const char *p, size_t len)
{
    char *t = malloc(len + 1);
    if (!t)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        t[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    t[len] = 0;
    cJSON *s = cJSON_CreateString(t);
    free(t);
    return s;
}

/* A stored (canonical) JSON value as a tree; NULL text gives JSON null. */
static cJSON *json_or_null(const char *val)
{
    if (!val)
        return cJSON_CreateNull();
    cJSON *v = cJSON_Parse(val);
    return v ? v : safe_str(val, strlen(val));
}

static int related(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    if (memcmp(a, b, n) != 0)
        return 0;
    if (alen == blen)
        return 1;
    return (alen > blen ? a[blen] : b[alen]) == '.';
}

static int on_change(void *ctx, const char *key, size_t klen,
                     const char *old_val, const char *new_val)
{
    struct audit *a = ctx;
    if (a->key && related(key, klen, a->key, a->klen))
        a->touched = 1;
    if (!a->changes)
        return 0;
    cJSON *c = cJSON_CreateObject();
    if (!c) {
        a->ok = 0;
        return 0;
    }
    fsm__json_add(c, "key", safe_str(key, klen), &a->ok);
    fsm__json_add(c, "old", json_or_null(old_val), &a->ok);
    fsm__json_add(c, "new", json_or_null(new_val), &a->ok);
    if (!cJSON_AddItemToArray(a->changes, c)) {
        cJSON_Delete(c);
        a->ok = 0;
    }
    return 0;
}

static cJSON *member_json(const struct fsm_member *m, int *ok)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        *ok = 0;
        return NULL;
    }
    char hp[FSM_HOST_MAX + 16];
    fsm__json_add(o, "id", fsm__json_u64(m->id), ok);
    fsm__json_add(o, "name", safe_str(m->name, strlen(m->name)), ok);
    fsm__json_add(o, "cluster", safe_str(m->cluster, strlen(m->cluster)), ok);
    fsm__json_add(o, "role", cJSON_CreateString(fsm_role_name(m->role)), ok);
    snprintf(hp, sizeof hp, strchr(m->peer_host, ':') ? "[%s]:%u" : "%s:%u",
             m->peer_host, m->peer_port);
    fsm__json_add(o, "peer", safe_str(hp, strlen(hp)), ok);
    fsm__json_add(o, "nats_host", safe_str(m->nats_host, strlen(m->nats_host)), ok);
    cJSON *p = cJSON_CreateIntArray(
        (const int[]){m->nats_client_port, m->nats_cluster_port,
                      m->nats_gateway_port, m->nats_leaf_port,
                      m->nats_http_port},
        5);
    fsm__json_add(o, "nats_ports", p, ok);
    return o;
}

/* The member a command names, as the state knew it before the entry. */
static cJSON *member_ref(const struct fsm *fsm, uint64_t id, int *ok)
{
    const struct fsm_member *m = fsm__member_find(fsm, id);
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        *ok = 0;
        return NULL;
    }
    fsm__json_add(o, "id", fsm__json_u64(id), ok);
    fsm__json_add(o, "name", m ? cJSON_CreateString(m->name) : cJSON_CreateNull(), ok);
    return o;
}

static cJSON *command_json(const struct fsm *fsm, const struct fsm_cmd *c,
                           int *ok)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) {
        *ok = 0;
        return NULL;
    }
    switch (c->type) {
    case FSM_CMD_BOOTSTRAP:
        fsm__json_add(o, "mesh_id", fsm__json_u64_str(c->mesh_id), ok);
        fsm__json_add(o, "secret", cJSON_CreateString("<redacted>"), ok);
        fsm__json_add(o, "member", member_json(&c->member, ok), ok);
        break;
    case FSM_CMD_MEMBER_ADD:
    case FSM_CMD_MEMBER_ADDRESS:
        fsm__json_add(o, "member", member_json(&c->member, ok), ok);
        break;
    case FSM_CMD_MEMBER_PROMOTE:
    case FSM_CMD_MEMBER_REMOVE:
        fsm__json_add(o, "member", member_ref(fsm, c->member_id, ok), ok);
        break;
    case FSM_CMD_SET: {
        fsm__json_add(o, "key", safe_str(c->key.p, c->key.len), ok);
        char *v = malloc(c->value.len + 1);
        if (!v) {
            *ok = 0;
            break;
        }
        memcpy(v, c->value.p, c->value.len);
        v[c->value.len] = 0;
        cJSON *j = fsm__value_check(c->value.p, c->value.len, NULL, 0) == 0
                       ? cJSON_Parse(v)
                       : safe_str(c->value.p, c->value.len);
        free(v);
        fsm__json_add(o, "value", j, ok);
        break;
    }
    case FSM_CMD_UNSET:
        fsm__json_add(o, "key", safe_str(c->key.p, c->key.len), ok);
        break;
    case FSM_CMD_CLUSTER_RENAME:
        fsm__json_add(o, "from", safe_str(c->cluster_from.p, c->cluster_from.len), ok);
        fsm__json_add(o, "to", safe_str(c->cluster_to.p, c->cluster_to.len), ok);
        break;
    case FSM_CMD_FORCE_RECOVER: {
        fsm__json_add(o, "member", member_ref(fsm, c->member_id, ok), ok);
        cJSON *r = cJSON_CreateArray();
        if (!r) {
            *ok = 0;
            break;
        }
        for (uint32_t i = 0; i < c->n_remove; i++) {
            cJSON *m = member_ref(fsm, c->remove_ids[i], ok);
            if (!m || !cJSON_AddItemToArray(r, m)) {
                cJSON_Delete(m);
                *ok = 0;
            }
        }
        fsm__json_add(o, "remove", r, ok);
        break;
    }
    default:
        break;
    }
    return o;
}

static const char *result_name(int status)
{
    if (status == 0)
        return "applied";
    return status == -PM_EEXIST ? "duplicate" : "rejected";
}

/* fsm_get view of KEY, or NULL when nothing is there. */
static char *view(const struct fsm *fsm, const char *key)
{
    char *j = NULL;
    return fsm_get(fsm, key, &j, NULL) == 0 ? j : NULL;
}

int fsm_apply_audit(struct fsm *fsm, const struct pm_entry *e,
                    const char *key, struct fsm_result *res, char **record)
{
    struct fsm_result local;
    struct fsm_cmd pre, cmd;
    struct audit a = {.ok = 1};
    cJSON *rec = NULL, *cmd_json = NULL;
    char *before = NULL, *after = NULL;
    int rc;

    *record = NULL;
    if (!res)
        res = &local;
    if (e->index != fsm->applied + 1)
        return -PM_ERANGE;
    int decoded = (e->type == PM_ENTRY_COMMAND ||
                   (e->type == PM_ENTRY_CONFIG && e->len > 0)) &&
                  fsm_cmd_decode(e->data, e->len, &pre, NULL, 0) == 0;
    if (key) {
        a.key = key;
        a.klen = strlen(key);
        before = view(fsm, key);
    } else {
        a.changes = cJSON_CreateArray();
        /* Described against the state before the entry (names of removed
         * members). */
        cmd_json = decoded ? command_json(fsm, &pre, &a.ok) : cJSON_CreateNull();
        if (!a.changes || !cmd_json)
            a.ok = 0;
    }
    fsm->audit_fn = on_change;
    fsm->audit_ctx = &a;
    rc = fsm__apply(fsm, e, res, &cmd);
    fsm->audit_fn = NULL;
    fsm->audit_ctx = NULL;
    if (rc)
        goto out;
    if (key) {
        after = view(fsm, key);
        int differ = (before == NULL) != (after == NULL) ||
                     (before && strcmp(before, after) != 0);
        /* A set/unset at, above or below the key belongs to its history
         * even when it was a duplicate or rejected: the record says so. */
        int asked = decoded &&
                    (pre.type == FSM_CMD_SET || pre.type == FSM_CMD_UNSET) &&
                    related(pre.key.p, pre.key.len, a.key, a.klen);
        if (!a.touched && !differ && !asked)
            goto out;
    }
    rec = cJSON_CreateObject();
    if (!rec) {
        a.ok = 0;
        goto out;
    }
    fsm__json_add(rec, "index", fsm__json_u64(e->index), &a.ok);
    fsm__json_add(rec, "term", fsm__json_u64(e->term), &a.ok);
    fsm__json_add(rec, "time_ms", decoded ? fsm__json_u64(pre.time_ms) : cJSON_CreateNull(),
        &a.ok);
    fsm__json_add(rec, "proposer", decoded ? fsm__json_u64(pre.proposer) : cJSON_CreateNull(),
        &a.ok);
    const char *type = e->type == PM_ENTRY_NOOP     ? "noop"
                       : !decoded && e->len == 0   ? "config"
                       : decoded ? fsm_cmd_type_name(pre.type)
                                 : "undecodable";
    if (key) {
        fsm__json_add(rec, "op", cJSON_CreateString(type), &a.ok);
        fsm__json_add(rec, "old", json_or_null(before), &a.ok);
        fsm__json_add(rec, "new", json_or_null(after), &a.ok);
        fsm__json_add(rec, "result", cJSON_CreateString(result_name(res->status)),
            &a.ok);
    } else {
        fsm__json_add(rec, "type", cJSON_CreateString(type), &a.ok);
        cJSON *client = cJSON_CreateNull();
        if (decoded && pre.client_id) {
            cJSON_Delete(client);
            client = cJSON_CreateObject();
            if (client) {
                fsm__json_add(client, "id", fsm__json_u64(pre.client_id), &a.ok);
                fsm__json_add(client, "seq", fsm__json_u64(pre.seq), &a.ok);
            }
        }
        fsm__json_add(rec, "client", client, &a.ok);
        fsm__json_add(rec, "command", cmd_json, &a.ok);
        cmd_json = NULL;
        fsm__json_add(rec, "result", cJSON_CreateString(result_name(res->status)),
            &a.ok);
        fsm__json_add(rec, "error",
            res->status ? cJSON_CreateString(res->error) : cJSON_CreateNull(),
            &a.ok);
        fsm__json_add(rec, "changes", a.changes, &a.ok);
        a.changes = NULL;
    }
    if (a.ok) {
        *record = cJSON_PrintUnformatted(rec);
        if (!*record)
            a.ok = 0;
    }
out:
    cJSON_Delete(rec);
    cJSON_Delete(cmd_json);
    cJSON_Delete(a.changes);
    free(before);
    free(after);
    if (rc == 0 && !a.ok)
        rc = -PM_ENOMEM; /* the entry is applied; only the record failed */
    return rc;
}
