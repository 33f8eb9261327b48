/* ops.c: the requests of docs/control-protocol.md, served on the control
 * socket (the owner's CLI), and on the peer port for members (forwarded
 * proposals, joins) and guests (joining nodes, client-mode CLIs).
 *
 * A request that changes the mesh becomes a proposal. On the leader it is
 * appended at once and answered when its entry is applied here (and
 * written). Elsewhere it is forwarded to the leader (op `propose`, flag
 * FORWARDED, never forwarded twice) and answered once this node has applied
 * the index the leader reports. With no leader known it waits (bounded) for
 * one. Every waiting request sits in a fixed table of NODE_WAITS_MAX slots
 * and has a deadline. */
#include "node/node_int.h"

#include "base/err.h"
#include "base/say.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- replies -------------------------------------------------------------- */

static void reply_text(struct net_call *call, const char *json)
{
    struct net_reply r = {.status = 0, .body = (const uint8_t *)json,
                          .body_len = (uint32_t)strlen(json)};
    net_reply_send(call, &r);
}

static void reply_json(struct net_call *call, cJSON *o)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (text == NULL) {
        net_reply_error(call, -PM_ENOMEM, "out of memory");
        return;
    }
    reply_text(call, text);
    free(text);
}

void node_reply_json_index(struct net_call *call, uint64_t index)
{
    char b[64];
    snprintf(b, sizeof b, "{\"index\":%" PRIu64 "}", index);
    reply_text(call, b);
}

/* --- the wait table ------------------------------------------------------ */

static uint64_t deadline_for(uint32_t timeout_ms)
{
    uint64_t t = timeout_ms ? timeout_ms : 10000;
    /* Answer a little before the caller gives up. */
    t = t > 1000 ? t - 300 : t * 7 / 10;
    return node_now() + t;
}

static struct wait *wait_new(struct node *n, enum wait_kind kind,
                             struct net_call *call, uint32_t timeout_ms)
{
    /* From the lowest slot that may be free: with hundreds in flight a
     * scan from 0 touched a slot (a cache line or more) for each. */
    for (size_t i = n->waits_low; i < NODE_WAITS_MAX; i++) {
        struct wait *w = &n->waits[i];
        if (w->kind != 0)
            continue;
        n->waits_low = i + 1;
        memset(w, 0, sizeof *w);
        w->kind = kind;
        w->call = call;
        w->timeout_ms = timeout_ms ? timeout_ms : 10000;
        w->deadline_ms = deadline_for(timeout_ms);
        w->gen = ++n->wait_gen;
        w->created_ms = node_now();
        if (i >= n->n_waits)
            n->n_waits = i + 1;
        return w;
    }
    return NULL;
}

static void wait_free(struct node *n, struct wait *w)
{
    size_t i = (size_t)(w - n->waits);
    if (i < n->waits_low)
        n->waits_low = i;
    free(w->arg);
    free(w->key);
    memset(w, 0, sizeof *w);
}

static void wait_done(struct wait *w, int status, const char *error)
{
    w->ready = 1;
    w->status = status;
    if (error != NULL)
        snprintf(w->error, sizeof w->error, "%s", error);
}

static void answer(struct node *n, struct wait *w)
{
    struct net_call *call = w->call;
    w->call = NULL;
    if (call == NULL)
        return;
    if (w->status != 0) {
        net_reply_error(call, w->status,
                        w->error[0] ? w->error : pm_strerror(w->status));
        return;
    }
    if (w->reply_kind == WR_GET) {
        char *json = NULL;
        size_t len = 0;
        int rc = fsm_get(n->fsm, w->key, &json, &len);
        if (rc != 0) {
            net_reply_error(call, rc, rc == -PM_ENOTFOUND ? "no such key"
                                                          : pm_strerror(rc));
            return;
        }
        cJSON *o = cJSON_CreateObject();
        if (w->key)
            cJSON_AddStringToObject(o, "key", w->key);
        else
            cJSON_AddNullToObject(o, "key");
        cJSON *v = cJSON_Parse(json);
        cJSON_AddItemToObject(o, "value", v ? v : cJSON_CreateNull());
        cJSON_AddNumberToObject(o, "index", (double)fsm_applied(n->fsm));
        free(json);
        reply_json(call, o);
        return;
    }
    if (w->reply_kind == WR_JOIN) {
        cJSON *o = cJSON_CreateObject();
        char b[32];
        snprintf(b, sizeof b, "%" PRIu64, fsm_mesh_id(n->fsm));
        cJSON_AddStringToObject(o, "mesh_id", b);
        snprintf(b, sizeof b, "%" PRIu64, w->join_id);
        cJSON_AddStringToObject(o, "node_id", b);
        snprintf(b, sizeof b, "%" PRIu64, n->id.node_id);
        cJSON_AddStringToObject(o, "leader", b);
        cJSON_AddNumberToObject(o, "index", (double)w->result_index);
        cJSON *arr = cJSON_AddArrayToObject(o, "members");
        for (size_t i = 0; i < fsm_member_count(n->fsm); i++) {
            const struct fsm_member *m = fsm_member_at(n->fsm, i);
            cJSON *mo = cJSON_CreateObject();
            snprintf(b, sizeof b, "%" PRIu64, m->id);
            cJSON_AddStringToObject(mo, "id", b);
            cJSON_AddStringToObject(mo, "name", m->name);
            cJSON_AddStringToObject(mo, "cluster", m->cluster);
            char addr[HOME_ADDR_LEN];
            node_member_peer_addr(m, addr, sizeof addr);
            cJSON_AddStringToObject(mo, "peer", addr);
            cJSON_AddItemToArray(arr, mo);
        }
        reply_json(call, o);
        return;
    }
    node_reply_json_index(call, w->result_index);
    if (w->stop_after)
        n->leaving = 1;
}

void node_waits_flush(struct node *n)
{
    /* A member that forwarded a proposal answers its caller once it has
     * applied the entry too: tell it the commit index now rather than
     * after NODE_COMMIT_NOTICE_MS. One notice per member per flush. */
    uint64_t told[8];
    size_t n_told = 0;
    for (size_t i = 0; i < n->n_waits; i++) {
        struct wait *w = &n->waits[i];
        if (w->kind == 0 || !w->ready)
            continue;
        uint64_t from = w->status == 0 ? w->from_member : 0;
        answer(n, w);
        wait_free(n, w);
        size_t k = 0;
        while (k < n_told && told[k] != from)
            k++;
        if (from == 0 || k < n_told)
            continue;
        struct raft_event ev = {.type = RAFT_EV_NOTIFY_COMMIT,
                                .now_ms = node_now()};
        ev.notify.to = from;
        node_step(n, &ev, NULL);
        if (n_told < sizeof told / sizeof told[0])
            told[n_told++] = from;
    }
    while (n->n_waits > 0 && n->waits[n->n_waits - 1].kind == 0)
        n->n_waits--;
}

/* --- waits by index (struct wait_ref) ------------------------------------ */

static int ref_less(const struct wait_ref *a, const struct wait_ref *b)
{
    return a->index < b->index;
}

static void heap_up(struct wait_ref *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ref_less(&h[i], &h[p]))
            break;
        struct wait_ref t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static void heap_down(struct wait_ref *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && ref_less(&h[l], &h[m]))
            m = l;
        if (r < n && ref_less(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        struct wait_ref t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Whether REF still stands for a wait on its index. */
static int ref_live(const struct node *n, const struct wait_ref *ref)
{
    const struct wait *w = &n->waits[ref->slot];
    return w->gen == ref->gen && !w->ready && w->index == ref->index &&
           (w->kind == WAIT_PROPOSAL || w->kind == WAIT_APPLIED);
}

void node_waits_index_watch(struct node *n, struct wait *w)
{
    if (n->n_wheap == NODE_WAIT_HEAP_MAX) {
        /* Full of refs to waits answered or gone (they leave the heap only
         * when their index is applied): keep the live ones. */
        size_t k = 0;
        for (size_t i = 0; i < n->n_wheap; i++)
            if (ref_live(n, &n->wheap[i]))
                n->wheap[k++] = n->wheap[i];
        n->n_wheap = k;
        for (size_t i = k / 2; i-- > 0;)
            heap_down(n->wheap, k, i);
    }
    if (n->n_wheap == NODE_WAIT_HEAP_MAX) {
        n->wheap_lost = 1; /* live refs are about one per wait: unreachable */
        return;
    }
    struct wait_ref *r = &n->wheap[n->n_wheap];
    r->index = w->index;
    r->gen = w->gen;
    r->slot = (uint32_t)(w - n->waits);
    heap_up(n->wheap, n->n_wheap++);
}

/* The id of the member a join request W asked to add: the one that now
 * holds its name (names are unique), or 0. */
static uint64_t join_member_id(const struct node *n, const struct wait *w)
{
    struct fsm_cmd cmd;
    if (fsm_cmd_decode(w->arg, w->arg_len, &cmd, NULL, 0) != 0)
        return 0;
    const struct fsm_member *m = fsm_member_by_name(n->fsm, cmd.member.name);
    return m != NULL ? m->id : 0;
}

static void on_applied_wait(const struct node *n, struct wait *w,
                            uint64_t index, uint64_t term,
                            const struct fsm_result *res)
{
    if (w->ready)
        return;
    if (w->kind == WAIT_APPLIED && w->index <= index) {
        wait_done(w, 0, NULL);
        return;
    }
    if (w->kind != WAIT_PROPOSAL || w->index != index)
        return;
    if (w->term != term) {
        wait_done(w, -PM_EAGAIN,
                  "the proposal was lost in a leader change; retry");
        return;
    }
    w->result_index = index;
    if (res->status == -PM_EEXIST && w->reply_kind == WR_JOIN) {
        /* A join is a duplicate only when the FSM says so (its client id
         * added a member before): then it is answered as the original was,
         * with the member holding its name. Any other EEXIST (a name or an
         * address taken meanwhile) refuses it. */
        uint64_t id = res->dup_index ? join_member_id(n, w) : 0;
        if (id == 0) {
            wait_done(w, res->status, res->error);
            return;
        }
        w->join_id = id;
        w->result_index = res->dup_index;
        wait_done(w, 0, NULL);
    } else if (res->status == -PM_EEXIST) {
        /* A retried request: report where the original applied. */
        if (res->dup_index)
            w->result_index = res->dup_index;
        wait_done(w, 0, NULL);
    } else if (res->status < 0) {
        wait_done(w, res->status == -PM_ENOMEM ? -PM_EIO : res->status,
                  res->error);
    } else {
        wait_done(w, 0, NULL);
    }
}

/* Called once per applied entry, so O(log n) per waiter answered rather
 * than a scan of the table: the waits on indexes <= INDEX come out of the
 * heap. A proposal whose index was passed without being applied here (a
 * snapshot installed over it) is dropped from the heap as it was never
 * matched by the scan either: it times out. */
void node_waits_on_applied(struct node *n, uint64_t index, uint64_t term,
                           const struct fsm_result *res)
{
    while (n->n_wheap > 0 && n->wheap[0].index <= index) {
        struct wait_ref top = n->wheap[0];
        n->wheap[0] = n->wheap[--n->n_wheap];
        heap_down(n->wheap, n->n_wheap, 0);
        if (ref_live(n, &top))
            on_applied_wait(n, &n->waits[top.slot], index, term, res);
    }
    if (n->wheap_lost) {
        for (size_t i = 0; i < n->n_waits; i++)
            on_applied_wait(n, &n->waits[i], index, term, res);
    }
}

void node_waits_on_read(struct node *n, const struct raft_read *rd)
{
    for (size_t i = 0; i < n->n_waits; i++) {
        struct wait *w = &n->waits[i];
        if (w->kind != WAIT_READ || w->ready || w->read_id != rd->id)
            continue;
        if (rd->status != 0) {
            wait_done(w, rd->status == -PM_EBUSY ? -PM_ENOLEADER : rd->status,
                      "no leader could confirm a consistent read; retry");
            return;
        }
        w->kind = WAIT_APPLIED;
        w->index = rd->index;
        w->result_index = rd->index;
        if (fsm_applied(n->fsm) >= rd->index)
            wait_done(w, 0, NULL);
        else
            node_waits_index_watch(n, w);
        return;
    }
}

void node_waits_fail_all(struct node *n, int status, const char *why)
{
    for (size_t i = 0; i < n->n_waits; i++) {
        struct wait *w = &n->waits[i];
        if (w->kind == 0)
            continue;
        if (w->call != NULL)
            net_reply_error(w->call, status, why);
        w->call = NULL;
        wait_free(n, w);
    }
    n->n_waits = 0;
}

/* --- proposals ----------------------------------------------------------- */

static void forward(struct node *n, struct wait *w);
static void handle_join_leader(struct node *n, struct wait *w);

/* Append an encoded command (we are the leader) and wait for it. */
static void propose_bytes(struct node *n, struct wait *w)
{
    struct fsm_cmd cmd;
    char why[128];
    /* Stamp the leader's clock (DESIGN.md: the leader's time at proposal).
     * A request encoded here within the last millisecond already carries
     * it (the common case: a set on the leader, proposed in the same call);
     * decoding and encoding it again was ~7% of a leader's time. */
    uint64_t now = net_wall_ms();
    if (w->stamped_ms != 0 && now >= w->stamped_ms &&
        now - w->stamped_ms <= 1)
        goto batch;
    if (fsm_cmd_decode(w->arg, w->arg_len, &cmd, why, sizeof why) != 0) {
        wait_done(w, -PM_EPROTO, "malformed proposal");
        return;
    }
    cmd.time_ms = now;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = fsm_cmd_encode(&cmd, &buf, &len);
    if (rc != 0) {
        wait_done(w, rc, "cannot encode the command");
        return;
    }
    free(w->arg);
    w->arg = buf;
    w->arg_len = (uint32_t)len;
batch:
    /* Appended with the others of this loop turn (node_waits_propose). */
    w->kind = WAIT_BATCH;
    w->reply_kind = WR_INDEX;
    n->n_batch++;
}

void node_waits_propose(struct node *n)
{
    if (n->n_batch == 0)
        return;
    const uint8_t *payloads[NODE_BATCH_MAX];
    uint32_t lens[NODE_BATCH_MAX];
    struct wait *ws[NODE_BATCH_MAX];
    uint32_t k = 0;
    for (size_t i = 0; i < n->n_waits && k < NODE_BATCH_MAX; i++) {
        struct wait *w = &n->waits[i];
        if (w->kind != WAIT_BATCH || w->ready)
            continue;
        payloads[k] = w->arg;
        lens[k] = w->arg_len;
        ws[k++] = w;
    }
    n->n_batch = 0;
    if (k == 0)
        return;
    /* The leader's own disk must be able to take them (node_disk_check):
     * refused now, they cannot apply later behind their clients' backs. */
    size_t batch_bytes = 0;
    for (uint32_t i = 0; i < k; i++)
        batch_bytes += lens[i];
    char why[FSM_ERR_LEN];
    int rc = node_disk_check(n, batch_bytes, why, sizeof why);
    if (rc == 0) {
        /* One step for all of them: the core appends them together and
         * sends them in as few APPENDs as its limits allow. */
        struct raft_event ev = {.type = RAFT_EV_PROPOSE_BATCH,
                                .now_ms = node_now()};
        ev.batch.payloads = payloads;
        ev.batch.lens = lens;
        ev.batch.n = k;
        node_step(n, &ev, &rc);
    }
    for (uint32_t i = 0; i < k; i++) {
        struct wait *w = ws[i];
        if (rc == -PM_ENOTLEADER || rc == -PM_EBUSY) {
            w->kind = WAIT_LEADER; /* transfer or election under way */
        } else if (rc == -PM_ENOSPC) {
            wait_done(w, rc, why);
        } else if (rc != 0) {
            wait_done(w, rc, rc == -PM_ETOOBIG ? "command too large"
                                               : pm_strerror(rc));
        } else {
            w->kind = WAIT_PROPOSAL;
            w->index = n->proposed_index + i;
            w->term = n->proposed_term;
            node_waits_index_watch(n, w);
        }
    }
    /* More than one batch's worth: the rest goes in the next turn. */
    for (size_t i = 0; i < n->n_waits; i++)
        if (n->waits[i].kind == WAIT_BATCH && !n->waits[i].ready)
            n->n_batch++;
    if (n->n_batch > 0)
        node_kick(n);
}

/* Route a waiting request (kind WAIT_LEADER) to where it can be served. */
static void route(struct node *n, struct wait *w)
{
    if (n->role == RAFT_LEADER) {
        if (strcmp(w->op, "join") == 0)
            handle_join_leader(n, w);
        else
            propose_bytes(n, w);
        return;
    }
    if (n->leader != 0 && !(w->flags & NET_REQ_FORWARDED)) {
        forward(n, w);
        return;
    }
    if (w->flags & NET_REQ_FORWARDED) {
        /* Forwarded to us, but we are not the leader: the sender retries. */
        wait_done(w, -PM_ENOTLEADER, "not the leader");
        return;
    }
    w->kind = WAIT_LEADER; /* retried on leader change / housekeeping */
}

struct fwd_ctx {
    struct node *n;
    size_t slot;
    uint64_t gen;
};

static void forward_reply(void *ctx, int status, const struct net_reply *r)
{
    struct fwd_ctx *f = ctx;
    struct node *n = f->n;
    struct wait *w = &n->waits[f->slot];
    uint64_t gen = f->gen;
    free(f);
    if (w->kind != WAIT_FORWARD || w->gen != gen)
        return; /* answered or timed out meanwhile */
    if (status != 0 || r->status == -PM_ENOTLEADER ||
        r->status == -PM_ENOLEADER) {
        /* Leader gone or changed: wait for the next one (bounded by the
         * deadline). A proposal that did get in is dropped as a duplicate
         * by the FSM when it carries a client request id. */
        w->kind = WAIT_LEADER;
        node_kick(n);
        return;
    }
    if (r->status != 0) {
        char msg[FSM_ERR_LEN];
        size_t l = r->body_len < sizeof msg - 1 ? r->body_len : sizeof msg - 1;
        memcpy(msg, r->body, l);
        msg[l] = '\0';
        wait_done(w, r->status, msg);
        node_kick(n);
        return;
    }
    if (strcmp(w->op, "join") == 0) {
        /* Pass the leader's join reply through unchanged. */
        if (w->call != NULL) {
            struct net_reply rr = *r;
            net_reply_send(w->call, &rr);
            w->call = NULL;
        }
        wait_free(n, w);
        return;
    }
    cJSON *o = cJSON_ParseWithLength((const char *)r->body, r->body_len);
    const cJSON *idx = o ? cJSON_GetObjectItemCaseSensitive(o, "index") : NULL;
    if (!cJSON_IsNumber(idx)) {
        cJSON_Delete(o);
        wait_done(w, -PM_EPROTO, "bad reply from the leader");
        node_kick(n);
        return;
    }
    w->kind = WAIT_APPLIED;
    w->reply_kind = WR_INDEX;
    w->index = (uint64_t)idx->valuedouble;
    w->result_index = w->index;
    cJSON_Delete(o);
    if (fsm_applied(n->fsm) >= w->index)
        wait_done(w, 0, NULL);
    else
        node_waits_index_watch(n, w);
    node_kick(n);
}

static void forward(struct node *n, struct wait *w)
{
    struct fwd_ctx *f = malloc(sizeof *f);
    if (f == NULL) {
        wait_done(w, -PM_ENOMEM, "out of memory");
        return;
    }
    f->n = n;
    f->slot = (size_t)(w - n->waits);
    f->gen = w->gen;
    struct net_bytes arg = {.data = w->arg, .len = w->arg_len};
    struct net_request req = {
        .id = ++n->call_seq,
        .op = strcmp(w->op, "join") == 0 ? "join" : "propose",
        .args = &arg,
        .n_args = 1,
        .flags = NET_REQ_FORWARDED,
        .timeout_ms = w->timeout_ms,
    };
    uint64_t now = node_now();
    uint32_t left = w->deadline_ms > now ? (uint32_t)(w->deadline_ms - now)
                                         : 1;
    if (left > NODE_NO_LEADER_WAIT_MS)
        left = NODE_NO_LEADER_WAIT_MS; /* a dead leader must not hold it */
    w->kind = WAIT_FORWARD;
    int rc = net_call_peer(n->net, n->leader, &req, left, forward_reply, f);
    if (rc != 0) {
        free(f);
        w->kind = WAIT_LEADER;
    }
}

void node_waits_leader_changed(struct node *n)
{
    for (size_t i = 0; i < n->n_waits; i++) {
        struct wait *w = &n->waits[i];
        if (w->kind == WAIT_LEADER && !w->ready)
            route(n, w);
    }
}

void node_waits_housekeep(struct node *n)
{
    uint64_t now = node_now();
    uint64_t applied = fsm_applied(n->fsm);
    for (size_t i = 0; i < n->n_waits; i++) {
        struct wait *w = &n->waits[i];
        if (w->kind == 0 || w->ready)
            continue;
        if (w->kind == WAIT_APPLIED && applied >= w->index) {
            wait_done(w, 0, NULL);
            continue;
        }
        if (now >= w->deadline_ms) {
            if (w->kind == WAIT_LEADER)
                wait_done(w, -PM_ENOLEADER,
                          "no leader: the mesh has no quorum right now");
            else
                wait_done(w, -PM_ETIMEOUT, "timed out waiting for commit");
            continue;
        }
        if (w->kind == WAIT_LEADER && n->leader == 0 &&
            now - w->created_ms >= NODE_NO_LEADER_WAIT_MS) {
            wait_done(w, -PM_ENOLEADER,
                      "no leader: the mesh has no quorum right now");
            continue;
        }
        if (w->kind == WAIT_LEADER && now >= w->retry_ms) {
            w->retry_ms = now + 100;
            route(n, w);
        }
    }
    node_waits_flush(n);
}

/* --- join ------------------------------------------------------------------ */

/* Could member M be the node whose join request asks for R? Same name
 * (the caller checks), same addresses, a role the request's can have
 * become (a learner is promoted, a replica may be), and the cluster it
 * asked for, if any. Addresses are unique among members, so another
 * running node never matches. */
static int same_joiner(const struct fsm_member *m, const struct fsm_member *r)
{
    int role_ok = m->role == r->role || m->role == FSM_ROLE_VOTER;
    return role_ok && strcmp(m->peer_host, r->peer_host) == 0 &&
           m->peer_port == r->peer_port &&
           strcmp(m->nats_host, r->nats_host) == 0 &&
           m->nats_client_port == r->nats_client_port &&
           m->nats_cluster_port == r->nats_cluster_port &&
           m->nats_gateway_port == r->nats_gateway_port &&
           m->nats_leaf_port == r->nats_leaf_port &&
           m->nats_http_port == r->nats_http_port &&
           (r->cluster[0] == '\0' || strcmp(m->cluster, r->cluster) == 0);
}

/* On the leader: give the joiner an id and add it as a learner in one
 * CONFIG entry whose app blob is the FSM's member-add. */
static void handle_join_leader(struct node *n, struct wait *w)
{
    struct fsm_cmd cmd;
    char why[FSM_ERR_LEN];
    if (fsm_cmd_decode(w->arg, w->arg_len, &cmd, why, sizeof why) != 0 ||
        cmd.type != FSM_CMD_MEMBER_ADD) {
        wait_done(w, -PM_EPROTO, "malformed join request");
        return;
    }
    const struct fsm_member *same = fsm_member_by_name(n->fsm,
                                                       cmd.member.name);
    if (same != NULL && w->join_id != 0 && same->id == w->join_id) {
        /* Our own earlier attempt got in (a retry after EBUSY raced). */
        w->kind = WAIT_APPLIED;
        w->reply_kind = WR_JOIN;
        w->index = fsm_applied(n->fsm);
        w->result_index = w->index;
        wait_done(w, 0, NULL);
        return;
    }
    /* The name is taken by a member that looks exactly like the joiner: a
     * retry whose first answer was lost (the joiner cannot tell), or
     * another node at the same addresses (a reinstalled server) that must
     * not take over the old one's id and votes. Only the log can tell
     * them apart, on every leader alike: the request goes in with the
     * configuration unchanged, the FSM drops it as a duplicate if its
     * client id added the member (answered then with that member, see
     * on_applied_wait) and refuses it as "name taken" otherwise. */
    int retry = same != NULL && cmd.client_id != 0 &&
                same_joiner(same, &cmd.member);
    uint64_t same_id = retry ? same->id : 0; /* `same` dies with the FSM */
    cmd.member.id = fsm_next_member_id(n->fsm);
    if (cmd.member.cluster[0] == '\0') {
        const struct fsm_member *seed =
            fsm_member_by_id(n->fsm, fsm_seed_id(n->fsm));
        if (seed != NULL)
            snprintf(cmd.member.cluster, sizeof cmd.member.cluster, "%s",
                     seed->cluster);
    }
    cmd.member.seed = 0;
    cmd.proposer = n->id.node_id;
    cmd.time_ms = net_wall_ms();
    int rc = fsm_validate(retry ? NULL : n->fsm, &cmd, why, sizeof why);
    if (rc == 0)
        rc = node_disk_check(n, w->arg_len, why, sizeof why);
    if (rc != 0) {
        wait_done(w, rc, why);
        return;
    }
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    rc = fsm_cmd_encode(&cmd, &blob, &blob_len);
    if (rc != 0) {
        wait_done(w, rc, "cannot encode the join");
        return;
    }
    struct raft_config c = *raft_config_latest(n->raft);
    c.forced = 0;
    if (!retry) {
        /* The core starts replicating as soon as the change is appended:
         * the transport must know the new peer before that. */
        char addr[HOME_ADDR_LEN];
        node_member_peer_addr(&cmd.member, addr, sizeof addr);
        net_peer_set(n->net, cmd.member.id, addr);
        raft_config_set(&c, cmd.member.id, RAFT_LEARNER);
    }
    struct raft_event ev = {.type = RAFT_EV_CHANGE, .now_ms = node_now()};
    ev.change.config = &c;
    ev.change.app = blob;
    ev.change.app_len = (uint32_t)blob_len;
    node_step(n, &ev, &rc);
    free(blob);
    if (rc == -PM_EBUSY || rc == -PM_ENOTLEADER) {
        w->kind = WAIT_LEADER; /* another change in flight: retry soon */
        return;
    }
    if (rc != 0) {
        wait_done(w, rc, "the membership change was refused");
        return;
    }
    if (retry)
        pm_say(PM_INFO, "node", "join: %s again (member %" PRIu64 "): a "
               "retry if its client id added it, index %" PRIu64,
               cmd.member.name, same_id, n->proposed_index);
    else
        pm_say(PM_INFO, "node", "join: %s as %s, id %" PRIu64 ", index %"
               PRIu64, cmd.member.name, fsm_role_name(cmd.member.role),
               cmd.member.id, n->proposed_index);
    w->kind = WAIT_PROPOSAL;
    w->reply_kind = WR_JOIN;
    w->join_id = cmd.member.id;
    w->index = n->proposed_index;
    w->term = n->proposed_term;
    node_waits_index_watch(n, w);
}

/* --- building commands from requests ---------------------------------- */

static int arg_str(const struct net_request *req, uint32_t i, char *out,
                   size_t len)
{
    if (i >= req->n_args || req->args[i].len >= len ||
        memchr(req->args[i].data, '\0', req->args[i].len) != NULL)
        return -PM_EINVAL;
    memcpy(out, req->args[i].data, req->args[i].len);
    out[req->args[i].len] = '\0';
    return 0;
}

static uint64_t arg_u64(const struct net_request *req, uint32_t i)
{
    char b[32];
    if (arg_str(req, i, b, sizeof b) != 0)
        return 0;
    return strtoull(b, NULL, 10);
}

/* Validate CMD against our state, encode it, and route it. */
static void submit(struct node *n, struct net_call *call,
                   const struct net_request *req, struct fsm_cmd *cmd,
                   int stop_after)
{
    char err[FSM_ERR_LEN];
    cmd->proposer = n->id.node_id;
    cmd->time_ms = net_wall_ms();
    int rc = fsm_validate(n->fsm, cmd, err, sizeof err);
    /* This node must store and apply the entry before it can answer, so
     * its own disk is checked too (the leader checks its own). */
    if (rc == 0)
        rc = node_disk_check(n, cmd->key.len + cmd->value.len, err,
                             sizeof err);
    if (rc != 0) {
        net_reply_error(call, rc, err);
        return;
    }
    struct wait *w = wait_new(n, WAIT_LEADER, call, req->timeout_ms);
    if (w == NULL) {
        net_reply_error(call, -PM_EAGAIN, "too many requests in flight");
        return;
    }
    size_t len = 0;
    rc = fsm_cmd_encode(cmd, &w->arg, &len);
    if (rc != 0) {
        wait_free(n, w);
        net_reply_error(call, rc, "cannot encode the command");
        return;
    }
    w->arg_len = (uint32_t)len;
    w->stamped_ms = cmd->time_ms;
    snprintf(w->op, sizeof w->op, "propose");
    w->flags = req->flags & NET_REQ_FORWARDED;
    w->stop_after = stop_after;
    route(n, w);
    node_kick(n);
}

static const struct fsm_member *member_arg(struct node *n,
                                           struct net_call *call,
                                           const struct net_request *req)
{
    char name[FSM_NAME_MAX + 1];
    if (arg_str(req, 0, name, sizeof name) != 0) {
        net_reply_error(call, -PM_EINVAL, "expected a member name");
        return NULL;
    }
    const struct fsm_member *m = fsm_member_by_name(n->fsm, name);
    if (m == NULL) {
        char msg[128];
        snprintf(msg, sizeof msg, "no member named '%s'", name);
        net_reply_error(call, -PM_ENOTFOUND, msg);
    }
    return m;
}

static void op_set(struct node *n, struct net_call *call,
                   const struct net_request *req, int unset)
{
    struct fsm_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    uint32_t need = unset ? 1 : 2;
    if (req->n_args < need) {
        net_reply_error(call, -PM_EINVAL, unset ? "usage: unset KEY"
                                                : "usage: set KEY VALUE");
        return;
    }
    char err[FSM_ERR_LEN];
    const struct net_bytes *k = &req->args[0];
    int rc = fsm_key_check((const char *)k->data, k->len, err, sizeof err);
    if (rc != 0) {
        net_reply_error(call, rc, err);
        return;
    }
    char *json = NULL;
    size_t json_len = 0;
    cmd.type = unset ? FSM_CMD_UNSET : FSM_CMD_SET;
    cmd.key.p = (const char *)k->data;
    cmd.key.len = k->len;
    if (!unset) {
        rc = fsm_value_normalize((const char *)req->args[1].data,
                                 req->args[1].len, &json, &json_len, err,
                                 sizeof err);
        if (rc != 0) {
            net_reply_error(call, rc, err);
            return;
        }
        cmd.value.p = json;
        cmd.value.len = (uint32_t)json_len;
    }
    cmd.client_id = arg_u64(req, need);
    cmd.seq = arg_u64(req, need + 1);
    submit(n, call, req, &cmd, 0);
    free(json);
}

static void op_get(struct node *n, struct net_call *call,
                   const struct net_request *req)
{
    char key[FSM_KEY_MAX + 1];
    const char *k = NULL;
    if (req->n_args > 0) {
        if (arg_str(req, 0, key, sizeof key) != 0) {
            net_reply_error(call, -PM_EINVAL, "key too long");
            return;
        }
        k = key;
    }
    struct wait *w = wait_new(n, WAIT_READ, call, req->timeout_ms);
    if (w == NULL) {
        net_reply_error(call, -PM_EAGAIN, "too many requests in flight");
        return;
    }
    w->reply_kind = WR_GET;
    w->key = k ? strdup(k) : NULL;
    if (!(req->flags & NET_REQ_CONSISTENT)) {
        wait_done(w, 0, NULL); /* local state, possibly stale */
        node_kick(n);
        return;
    }
    /* ReadIndex (thesis §6.4): the core confirms leadership (or asks the
     * leader) and names an index; we answer once applied up to it. */
    w->read_id = ++n->read_seq;
    struct raft_event ev = {.type = RAFT_EV_READ_INDEX, .now_ms = node_now()};
    ev.read.id = w->read_id;
    int rc = 0;
    node_step(n, &ev, &rc);
    if (rc != 0 && !w->ready)
        wait_done(w, rc == -PM_EBUSY ? -PM_ENOLEADER : rc,
                  "no leader to confirm a consistent read");
}

static const char *state_name(const struct node *n)
{
    if (n->role == RAFT_LEADER)
        return "leader";
    if (n->role == RAFT_CANDIDATE || n->role == RAFT_PRECANDIDATE)
        return "candidate";
    const struct raft_config *c = raft_config_latest(n->raft);
    if (raft_config_role(c, n->id.node_id) != RAFT_VOTER)
        return "learner";
    return "follower";
}

static void add_member_ref(cJSON *o, const char *k, struct node *n,
                           uint64_t id)
{
    if (id == 0) {
        cJSON_AddNullToObject(o, k);
        return;
    }
    cJSON *l = cJSON_AddObjectToObject(o, k);
    cJSON_AddNumberToObject(l, "id", (double)id);
    const struct fsm_member *m = fsm_member_by_id(n->fsm, id);
    if (m)
        cJSON_AddStringToObject(l, "name", m->name);
    else
        cJSON_AddNullToObject(l, "name");
}

/* status: the supervised nats-server, from natsd's cached summary (read
 * from its monitoring port at most health_every_ms ago), so status never
 * waits on nats-server. */
static void add_nats_health(cJSON *o, struct node *n)
{
    cJSON *j = cJSON_AddObjectToObject(o, "nats");
    if (n->natsd == NULL) {
        cJSON_AddFalseToObject(j, "supervised");
        return;
    }
    struct natsd_health h;
    natsd_health(n->natsd, &h);
    cJSON_AddTrueToObject(j, "supervised");
    cJSON_AddStringToObject(j, "state", natsd_state_name(h.state));
    if (h.pid > 0)
        cJSON_AddNumberToObject(j, "pid", (double)h.pid);
    else
        cJSON_AddNullToObject(j, "pid");
    cJSON_AddNumberToObject(j, "up_ms", (double)h.up_ms);
    cJSON_AddNumberToObject(j, "starts", h.starts);
    cJSON_AddNumberToObject(j, "crashes", h.crashes);
    cJSON_AddNumberToObject(j, "reloads", h.reloads);
    cJSON_AddNumberToObject(j, "restarts", h.restarts);
    cJSON_AddNumberToObject(j, "restart_in_ms", h.restart_in_ms);
    if (h.error[0])
        cJSON_AddStringToObject(j, "error", h.error);
    else
        cJSON_AddNullToObject(j, "error");
    if (!h.have_monitor) {
        cJSON_AddNullToObject(j, "monitor_age_ms");
        return;
    }
    cJSON_AddNumberToObject(j, "monitor_age_ms", (double)h.monitor_age_ms);
    cJSON_AddStringToObject(j, "server_name", h.server_name);
    cJSON_AddStringToObject(j, "cluster", h.cluster);
    cJSON_AddNumberToObject(j, "connections", h.connections);
    cJSON_AddNumberToObject(j, "routes", h.routes);
    cJSON_AddNumberToObject(j, "leafnodes", h.leafnodes);
    cJSON *g = cJSON_AddArrayToObject(j, "gateways");
    for (uint32_t i = 0; i < h.gateways_out && i < NATSD_GATEWAYS_MAX; i++)
        cJSON_AddItemToArray(g, cJSON_CreateString(h.gateways[i]));
    cJSON_AddNumberToObject(j, "gateways_in", h.gateways_in);
    cJSON_AddBoolToObject(j, "jetstream", h.jetstream);
    cJSON_AddBoolToObject(j, "js_clustered", h.js_clustered);
    if (h.js_meta_leader[0])
        cJSON_AddStringToObject(j, "js_meta_leader", h.js_meta_leader);
    else
        cJSON_AddNullToObject(j, "js_meta_leader");
    cJSON_AddNumberToObject(j, "js_cluster_size", h.js_cluster_size);
}

static void op_status(struct node *n, struct net_call *call)
{
    struct raft_status st;
    raft_status(n->raft, &st);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", n->id.name);
    cJSON_AddNumberToObject(o, "id", (double)n->id.node_id);
    const struct fsm_member *me = fsm_member_by_id(n->fsm, n->id.node_id);
    cJSON_AddStringToObject(o, "role", me ? fsm_role_name(me->role)
                                          : (n->id.role == NODE_ROLE_REPLICA
                                                 ? "replica" : "voter"));
    cJSON_AddStringToObject(o, "cluster", me ? me->cluster : n->id.cluster);
    cJSON_AddStringToObject(o, "state", state_name(n));
    add_member_ref(o, "leader", n, st.leader);
    cJSON_AddNumberToObject(o, "term", (double)st.term);
    cJSON_AddNumberToObject(o, "commit_index", (double)st.commit);
    cJSON_AddNumberToObject(o, "applied_index", (double)fsm_applied(n->fsm));
    /* How far the leader is: a joiner or returning replica compares it with
     * applied_index to show its catch-up. */
    uint64_t leader_commit = st.role == RAFT_LEADER ? st.commit
                             : n->leader_commit > st.commit ? n->leader_commit
                                                            : st.commit;
    cJSON_AddNumberToObject(o, "leader_commit_index", (double)leader_commit);
    cJSON_AddNumberToObject(o, "last_index", (double)log_last_index(n->log));
    cJSON_AddNumberToObject(o, "first_index", (double)log_first_index(n->log));
    cJSON_AddNumberToObject(o, "snapshot_index", (double)n->snapshot_index);
    /* "full": the store holds a batch it could not write; "low": less free
     * space than a write needs; both refuse writes (node_disk_check). */
    cJSON_AddStringToObject(o, "disk", n->disk_full ? "full"
                                       : node_disk_check(n, 0, NULL, 0) != 0
                                           ? "low" : "ok");
    cJSON *arr = cJSON_AddArrayToObject(o, "members");
    uint64_t now = node_now();
    for (size_t i = 0; i < fsm_member_count(n->fsm); i++) {
        const struct fsm_member *m = fsm_member_at(n->fsm, i);
        cJSON *mo = cJSON_CreateObject();
        cJSON_AddNumberToObject(mo, "id", (double)m->id);
        cJSON_AddStringToObject(mo, "name", m->name);
        cJSON_AddStringToObject(mo, "role", fsm_role_name(m->role));
        cJSON_AddStringToObject(mo, "cluster", m->cluster);
        uint64_t match = 0, next = 0;
        if (m->id == n->id.node_id) {
            cJSON_AddNumberToObject(mo, "match_index", (double)st.last_index);
            cJSON_AddNumberToObject(mo, "lag", 0);
            cJSON_AddNullToObject(mo, "last_contact_ms");
            cJSON_AddTrueToObject(mo, "reachable");
        } else {
            if (raft_progress(n->raft, m->id, &match, &next) == 0) {
                cJSON_AddNumberToObject(mo, "match_index", (double)match);
                cJSON_AddNumberToObject(mo, "lag", (double)(st.last_index >
                                        match ? st.last_index - match : 0));
            } else {
                cJSON_AddNullToObject(mo, "match_index");
                cJSON_AddNullToObject(mo, "lag");
            }
            int up = 0;
            uint64_t last = 0;
            if (net_peer_info(n->net, m->id, &up, &last) == 0 && last != 0)
                cJSON_AddNumberToObject(mo, "last_contact_ms",
                                        (double)(now - last));
            else
                cJSON_AddNullToObject(mo, "last_contact_ms");
            cJSON_AddBoolToObject(mo, "reachable", up);
        }
        cJSON_AddItemToArray(arr, mo);
    }
    add_nats_health(o, n);
    reply_json(call, o);
}

static void op_members(struct node *n, struct net_call *call)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "members");
    uint64_t seed = fsm_seed_id(n->fsm);
    for (size_t i = 0; i < fsm_member_count(n->fsm); i++) {
        const struct fsm_member *m = fsm_member_at(n->fsm, i);
        cJSON *mo = cJSON_CreateObject();
        char b[HOME_ADDR_LEN + 16];
        cJSON_AddNumberToObject(mo, "id", (double)m->id);
        cJSON_AddStringToObject(mo, "name", m->name);
        cJSON_AddStringToObject(mo, "role", fsm_role_name(m->role));
        cJSON_AddStringToObject(mo, "cluster", m->cluster);
        node_member_peer_addr(m, b, sizeof b);
        cJSON_AddStringToObject(mo, "peer", b);
        node_member_nats_url(m, b, sizeof b);
        cJSON_AddStringToObject(mo, "nats", b);
        cJSON_AddBoolToObject(mo, "seed", m->id == seed);
        cJSON_AddBoolToObject(mo, "leader", m->id == n->leader);
        cJSON_AddItemToArray(arr, mo);
    }
    reply_json(call, o);
}

/* --- audit: log, history, replay ---------------------------------------- */

/* The scratch FSM the audit starts from: empty when the log is whole, else
 * the state at the log's base (audit.snap). */
static int audit_start(struct node *n, struct fsm **out, char *err,
                       size_t err_len)
{
    uint64_t base = log_base_index(n->log);
    struct fsm *f = NULL;
    if (base == 0) {
        int rc = fsm_new(&f);
        if (rc != 0)
            return home_fail(err, err_len, rc, "out of memory");
        fsm_track_changes(f, 0);
        *out = f;
        return 0;
    }
    int rc = node_audit_base_load(n->home, base, &f);
    if (rc == -PM_ENOMEM)
        return home_fail(err, err_len, rc, "out of memory");
    if (rc != 0)
        return home_fail(err, err_len, -PM_ECOMPACTED,
                         "the log is compacted up to %" PRIu64
                         " and no state saved there (%s/audit.snap: %s); "
                         "the audit trail starts after it", base, n->home,
                         rc == -PM_ENOTFOUND ? "missing or of another index"
                                             : pm_strerror(rc));
    *out = f;
    return 0;
}

/* Replay the stored log into a scratch FSM up to TO, calling the audit for
 * each entry (from the log's base when it is compacted). */
static int audit_walk(struct node *n, const char *key, uint64_t from,
                      uint64_t to, cJSON *records, struct fsm **scratch_out,
                      char *err, size_t err_len)
{
    struct fsm *f = NULL;
    int rc = audit_start(n, &f, err, err_len);
    if (rc != 0)
        return rc;
    uint64_t at = log_base_index(n->log) + 1, last = fsm_applied(n->fsm);
    if (to != 0 && to < at - 1) {
        fsm_free(f);
        return home_fail(err, err_len, -PM_ECOMPACTED,
                         "index %" PRIu64 " is before the log's start "
                         "(compacted up to %" PRIu64 ")", to, at - 1);
    }
    if (to == 0 || to > last)
        to = last;
    while (at <= to && rc == 0) {
        struct log_entries le;
        rc = log_read(n->log, at, 1024, 4u << 20, &le);
        if (rc != 0)
            break;
        for (size_t i = 0; i < le.n && le.entries[i].index <= to; i++) {
            struct pm_entry e = le.entries[i];
            if (e.type == PM_ENTRY_CONFIG) {
                struct raft_config c;
                const uint8_t *app;
                uint32_t app_len;
                if (raft_config_payload_split(e.data, e.len, &c, &app,
                                              &app_len) == 0) {
                    e.data = app;
                    e.len = app_len;
                } else {
                    e.data = NULL;
                    e.len = 0;
                }
            }
            struct fsm_result res;
            char *rec = NULL;
            rc = fsm_apply_audit(f, &e, key, &res, &rec);
            if (rc != 0) {
                free(rec);
                break;
            }
            if (rec != NULL && records != NULL && e.index >= from) {
                cJSON *r = cJSON_Parse(rec);
                if (r)
                    cJSON_AddItemToArray(records, r);
            }
            free(rec);
        }
        at += le.n;
        log_entries_free(&le);
    }
    if (rc != 0) {
        fsm_free(f);
        return home_fail(err, err_len, rc, "replaying the log: %s",
                         pm_strerror(rc));
    }
    if (scratch_out)
        *scratch_out = f;
    else
        fsm_free(f);
    return 0;
}

static void op_log(struct node *n, struct net_call *call,
                   const struct net_request *req, int history)
{
    char err[256];
    char key[FSM_KEY_MAX + 1];
    uint64_t from = 0, to = 0;
    if (history) {
        if (arg_str(req, 0, key, sizeof key) != 0) {
            net_reply_error(call, -PM_EINVAL, "usage: history KEY");
            return;
        }
    } else {
        from = arg_u64(req, 0);
        to = arg_u64(req, 1);
    }
    cJSON *o = cJSON_CreateObject();
    if (history)
        cJSON_AddStringToObject(o, "key", key);
    cJSON *arr = cJSON_AddArrayToObject(o, "records");
    int rc = audit_walk(n, history ? key : NULL, from, to, arr, NULL, err,
                        sizeof err);
    if (rc != 0) {
        cJSON_Delete(o);
        net_reply_error(call, rc, err);
        return;
    }
    reply_json(call, o);
}

static void op_replay(struct node *n, struct net_call *call,
                      const struct net_request *req)
{
    char err[256];
    uint64_t to = arg_u64(req, 0);
    struct fsm *f = NULL;
    int rc = audit_walk(n, NULL, 0, to, NULL, &f, err, sizeof err);
    if (rc != 0) {
        net_reply_error(call, rc, err);
        return;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", (double)fsm_applied(f));
    char h[FSM_HASH_HEX_LEN];
    if (fsm_state_hash(f, h) == 0)
        cJSON_AddStringToObject(o, "state_hash", h);
    if (fsm_applied(f) == fsm_applied(n->fsm) && fsm_state_hash(n->fsm, h) == 0)
        cJSON_AddStringToObject(o, "live_hash", h);
    else
        cJSON_AddNullToObject(o, "live_hash");
    char *text = NULL;
    size_t len = 0;
    if (fsm_get(f, NULL, &text, &len) == 0) {
        cJSON *s = cJSON_Parse(text);
        cJSON_AddItemToObject(o, "settings", s ? s : cJSON_CreateNull());
        free(text);
    } else {
        cJSON_AddNullToObject(o, "settings");
    }
    if (fsm_render_nats(f, n->id.node_id, n->home, &text, &len) == 0) {
        cJSON_AddStringToObject(o, "nats_conf", text);
        free(text);
    } else {
        cJSON_AddNullToObject(o, "nats_conf");
    }
    fsm_free(f);
    reply_json(call, o);
}

/* nats-urls: the client URL of every member's nats-server, voters first
 * (they hold JetStream), then learners and replicas (leaf nodes, which
 * serve clients too), each group by id; and all of them as one
 * comma-separated connection string, as NATS client libraries take it. */
static void op_nats_urls(struct node *n, struct net_call *call)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *ss = cJSON_AddArrayToObject(o, "servers");
    cJSON *us = cJSON_AddArrayToObject(o, "urls");
    size_t cnt = fsm_member_count(n->fsm);
    size_t cap = 64 + cnt * (FSM_HOST_MAX + 16), len = 0;
    char *conn = malloc(cap);
    if (conn == NULL) {
        cJSON_Delete(o);
        net_reply_error(call, -PM_ENOMEM, "out of memory");
        return;
    }
    conn[0] = '\0';
    for (int voters = 1; voters >= 0; voters--) {
        for (size_t i = 0; i < cnt; i++) {
            const struct fsm_member *m = fsm_member_at(n->fsm, i);
            if ((m->role == FSM_ROLE_VOTER) != voters)
                continue;
            char url[FSM_HOST_MAX + 32];
            node_member_nats_url(m, url, sizeof url);
            cJSON *s = cJSON_CreateObject();
            cJSON_AddStringToObject(s, "url", url);
            cJSON_AddStringToObject(s, "name", m->name);
            cJSON_AddStringToObject(s, "cluster", m->cluster);
            cJSON_AddStringToObject(s, "role", fsm_role_name(m->role));
            cJSON_AddItemToArray(ss, s);
            cJSON_AddItemToArray(us, cJSON_CreateString(url));
            len += (size_t)snprintf(conn + len, cap - len, "%s%s",
                                    len ? "," : "", url);
        }
    }
    cJSON_AddStringToObject(o, "connect", conn);
    free(conn);
    reply_json(call, o);
}

static void op_nats_config(struct node *n, struct net_call *call)
{
    char *text = NULL;
    size_t len = 0;
    int rc = fsm_render_nats(n->fsm, n->id.node_id, n->home, &text, &len);
    if (rc != 0) {
        net_reply_error(call, rc, "no NATS configuration for this node yet");
        return;
    }
    char p[4200];
    home_path(p, sizeof p, n->home, "nats.conf");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", p);
    cJSON_AddStringToObject(o, "conf", text);
    free(text);
    reply_json(call, o);
}

static void op_force_recover(struct node *n, struct net_call *call,
                             const struct net_request *req)
{
    const struct raft_config before = *raft_config_latest(n->raft);
    char why[FSM_ERR_LEN];
    int rc = node_disk_check(n, 0, why, sizeof why);
    if (rc != 0) {
        net_reply_error(call, rc, why);
        return;
    }
    struct raft_event ev = {.type = RAFT_EV_FORCE_RECOVER,
                            .now_ms = node_now()};
    node_step(n, &ev, &rc);
    if (rc != 0) {
        net_reply_error(call, rc, rc == -PM_ESTATE
                                      ? "only a voter can force recovery"
                                      : pm_strerror(rc));
        return;
    }
    pm_say(PM_WARN, "node", "FORCED RECOVERY by the operator: continuing "
           "as the sole voter (index %" PRIu64 ")", n->proposed_index);
    /* Record it in the FSM too: we become the seed, the lost voters go. */
    struct fsm_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.type = FSM_CMD_FORCE_RECOVER;
    cmd.member_id = n->id.node_id;
    for (uint32_t i = 0; i < before.n && cmd.n_remove < FSM_RECOVER_REMOVE_MAX;
         i++)
        if (before.servers[i].role == RAFT_VOTER &&
            before.servers[i].id != n->id.node_id)
            cmd.remove_ids[cmd.n_remove++] = before.servers[i].id;
    submit(n, call, req, &cmd, 0);
}

/* --- dispatch -------------------------------------------------------------- */

/* Queue a request that carries one opaque argument (a member record for
 * `join`, an encoded command for `propose`) to wait for a leader, keeping a
 * copy of the argument since the request's memory is gone on return. */
static void route_with_arg(struct node *n, struct net_call *call,
                           const struct net_request *req, const char *op,
                           uint32_t flags, uint64_t from_member)
{
    struct wait *w = wait_new(n, WAIT_LEADER, call, req->timeout_ms);
    if (w == NULL) {
        net_reply_error(call, -PM_EAGAIN, "busy; retry");
        return;
    }
    w->arg = malloc(req->args[0].len ? req->args[0].len : 1);
    if (w->arg == NULL) {
        wait_free(n, w);
        net_reply_error(call, -PM_ENOMEM, "out of memory");
        return;
    }
    memcpy(w->arg, req->args[0].data, req->args[0].len);
    w->arg_len = req->args[0].len;
    size_t op_len = strnlen(op, sizeof w->op - 1); /* every request */
    memcpy(w->op, op, op_len);
    w->op[op_len] = '\0';
    w->flags = flags;
    w->from_member = from_member;
    route(n, w);
    node_kick(n);
}

void node_on_request(void *ctx, struct net_call *call,
                     const struct net_request *req,
                     const struct net_origin *origin)
{
    struct node *n = ctx;
    const char *op = req->op;
    int control = origin->kind == NET_ORIGIN_CONTROL;
    int member = origin->kind == NET_ORIGIN_MEMBER;

    if (n->stopping) {
        net_reply_error(call, -PM_ENOTRUNNING, "the node is stopping");
        return;
    }
    if (strcmp(op, "join") == 0) {
        if (req->n_args < 1 || control) {
            net_reply_error(call, -PM_EINVAL, "join: expected a member record");
            return;
        }
        route_with_arg(n, call, req, "join",
                       member ? (req->flags & NET_REQ_FORWARDED) : 0,
                       member ? origin->node_id : 0);
        return;
    }
    if (strcmp(op, "propose") == 0) {
        if (!member || req->n_args != 1) {
            net_reply_error(call, -PM_EPROTO, "propose: members only");
            return;
        }
        route_with_arg(n, call, req, "propose", NET_REQ_FORWARDED,
                       origin->node_id);
        return;
    }
    /* Operator-only operations: the local CLI. */
    if (!control && (strcmp(op, "stop") == 0 || strcmp(op, "leave") == 0 ||
                     strcmp(op, "force-recover") == 0)) {
        net_reply_error(call, -PM_EREJECTED,
                        "this operation is only served on the control socket");
        return;
    }
    if (!fsm_bootstrapped(n->fsm) && strcmp(op, "stop") != 0 &&
        strcmp(op, "status") != 0) {
        net_reply_error(call, -PM_EAGAIN,
                        "this node has not received the mesh state yet");
        return;
    }
    if (strcmp(op, "status") == 0)
        op_status(n, call);
    else if (strcmp(op, "members") == 0)
        op_members(n, call);
    else if (strcmp(op, "get") == 0)
        op_get(n, call, req);
    else if (strcmp(op, "set") == 0)
        op_set(n, call, req, 0);
    else if (strcmp(op, "unset") == 0)
        op_set(n, call, req, 1);
    else if (strcmp(op, "remove") == 0 || strcmp(op, "promote") == 0) {
        const struct fsm_member *m = member_arg(n, call, req);
        if (m == NULL)
            return;
        struct fsm_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.type = op[0] == 'r' ? FSM_CMD_MEMBER_REMOVE
                                : FSM_CMD_MEMBER_PROMOTE;
        cmd.member_id = m->id;
        submit(n, call, req, &cmd, 0);
    } else if (strcmp(op, "leave") == 0) {
        struct fsm_cmd cmd;
        memset(&cmd, 0, sizeof cmd);
        cmd.type = FSM_CMD_MEMBER_REMOVE;
        cmd.member_id = n->id.node_id;
        submit(n, call, req, &cmd, 1);
    } else if (strcmp(op, "force-recover") == 0)
        op_force_recover(n, call, req);
    else if (strcmp(op, "get-seed") == 0) {
        char url[4096];
        int rc = fsm_seed_url(n->fsm, url, sizeof url);
        if (rc != 0) {
            net_reply_error(call, rc, pm_strerror(rc));
            return;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "seed_url", url);
        reply_json(call, o);
    } else if (strcmp(op, "log") == 0)
        op_log(n, call, req, 0);
    else if (strcmp(op, "history") == 0)
        op_log(n, call, req, 1);
    else if (strcmp(op, "replay") == 0)
        op_replay(n, call, req);
    else if (strcmp(op, "nats-config") == 0)
        op_nats_config(n, call);
    else if (strcmp(op, "nats-urls") == 0)
        op_nats_urls(n, call);
    else if (strcmp(op, "stop") == 0) {
        reply_text(call, "{}");
        pm_say(PM_INFO, "node", "stop requested");
        node_stop(n, 0);
    } else if (strcmp(op, "read-index") == 0) {
        net_reply_error(call, -PM_EPROTO,
                        "read-index travels inside raft messages");
    } else {
        char msg[96];
        snprintf(msg, sizeof msg, "unknown operation '%.40s'", op);
        net_reply_error(call, -PM_EINVAL, msg);
    }
}
