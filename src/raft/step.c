/* step.c: the entry point. raft_step() takes one event, dispatches it, and
 * assembles the update; plus creation, restore and status. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "raft/raft_int.h"

/* --- PRNG (xorshift64*): the core's own, seeded by the host ------------- */

static uint64_t rng_next(struct raft *r)
{
    uint64_t x = r->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Raft §5.2: election timeouts drawn at random from [T, 2T). */
uint64_t raft__random_timeout(struct raft *r)
{
    uint64_t t = r->o.election_timeout_ms;
    return t + rng_next(r) % t;
}

/* --- creation ----------------------------------------------------------- */

static void apply_defaults(struct raft_options *o)
{
    if (o->election_timeout_ms == 0)
        o->election_timeout_ms = 1000;
    if (o->heartbeat_ms == 0)
        o->heartbeat_ms = 100;
    if (o->append_entries_max == 0)
        o->append_entries_max = 64;
    if (o->append_bytes_max == 0)
        o->append_bytes_max = 1u << 20;
    if (o->inflight_max == 0)
        o->inflight_max = 32;
    if (o->inflight_max > RAFT__INFLIGHT_CAP)
        o->inflight_max = RAFT__INFLIGHT_CAP;
    if (o->inflight_bytes_max == 0)
        o->inflight_bytes_max = 8u << 20;
    if (o->snapshot_chunk_bytes == 0)
        o->snapshot_chunk_bytes = 256u << 10;
    if (o->snapshot_bytes_max == 0)
        o->snapshot_bytes_max = 1ull << 30;
    if (o->log_bytes_compact == 0)
        o->log_bytes_compact = 64ull << 20;
    if (o->reads_max == 0)
        o->reads_max = 1024;
    if (o->proposal_bytes_max == 0)
        o->proposal_bytes_max = 1u << 20;
    if (o->compact_keep_entries == 0)
        o->compact_keep_entries = 512;
    else if (o->compact_keep_entries == RAFT_COMPACT_KEEP_NONE)
        o->compact_keep_entries = 0;
}

int raft_new(uint64_t id, const struct raft_options *opt, struct raft **out)
{
    if (id == 0 || out == NULL)
        return -PM_EINVAL;
    struct raft *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -PM_ENOMEM;
    r->id = id;
    if (opt != NULL)
        r->o = *opt;
    apply_defaults(&r->o);
    if (r->o.heartbeat_ms >= r->o.election_timeout_ms) {
        free(r);
        return -PM_EINVAL;
    }
    /* xorshift needs a nonzero state; mix the id in so servers given the
     * same seed still draw different timeouts. */
    r->rng = (r->o.seed ^ (id * 0x9E3779B97F4A7C15ULL)) | 1;
    raft__log_init(&r->log);
    r->role = RAFT_FOLLOWER;
    r->prog = calloc(RAFT_SERVERS_MAX, sizeof *r->prog);
    r->reads = calloc(r->o.reads_max, sizeof *r->reads);
    r->fwd = calloc(r->o.reads_max, sizeof *r->fwd);
    if (r->prog == NULL || r->reads == NULL || r->fwd == NULL) {
        raft_free(r);
        return -PM_ENOMEM;
    }
    *out = r;
    return 0;
}

static void msgbuf_free(struct raft__msgbuf *b)
{
    free(b->m);
    free(b->lo);
    memset(b, 0, sizeof *b);
}

void raft_free(struct raft *r)
{
    if (r == NULL)
        return;
    raft__log_free(&r->log);
    free(r->prog);
    free(r->reads);
    free(r->fwd);
    free(r->snap_out_data);
    free(r->snap_garbage);
    free(r->in_buf);
    free(r->installing_buf);
    msgbuf_free(&r->now);
    msgbuf_free(&r->after);
    free(r->out_reads);
    free(r);
}

int raft_restore(struct raft *r, const struct raft_hard_state *hs,
                 const struct raft_snapshot *snap,
                 const struct pm_entry *entries, size_t n)
{
    if (r->stepped)
        return -PM_ESTATE;
    uint64_t base = 0, base_term = 0;
    if (snap != NULL) {
        if (raft_config_validate(&snap->config) != 0 ||
            (snap->index == 0) != (snap->term == 0))
            return -PM_EINVAL;
        base = snap->index;
        base_term = snap->term;
    }
    for (size_t i = 0; i < n; i++) {
        if (entries[i].index != base + 1 + i || entries[i].term == 0 ||
            (entries[i].len > 0 && entries[i].data == NULL))
            return -PM_EINVAL;
        if (i > 0 && entries[i].term < entries[i - 1].term)
            return -PM_EINVAL;
        if (entries[i].type == PM_ENTRY_CONFIG) {
            struct raft_config c;
            if (raft_config_payload_split(entries[i].data, entries[i].len,
                                          &c, NULL, NULL) != 0)
                return -PM_EINVAL;
        }
    }
    raft__log_free(&r->log);
    raft__log_compact(&r->log, base, base_term);
    int rc = raft__log_append(&r->log, entries, n);
    if (rc != 0)
        return rc;
    memset(&r->base_conf, 0, sizeof r->base_conf);
    if (snap != NULL)
        r->base_conf = snap->config;
    raft_config_sort(&r->base_conf);
    if (hs != NULL) {
        r->term = hs->term;
        r->vote = hs->vote;
        r->commit = hs->commit;
    }
    if (r->commit < base)
        r->commit = base;
    if (r->commit > raft__log_last(&r->log))
        r->commit = raft__log_last(&r->log);
    r->persisted = raft__log_last(&r->log);
    /* The host's FSM state covers the snapshot; entries after it are
     * handed out again and the host skips those it already applied. */
    r->applied = base;
    raft__config_recompute(r);
    return 0;
}

/* --- update assembly ---------------------------------------------------- */

struct raft_message *raft__msg(struct raft *r, int after, uint8_t type,
                               uint64_t to)
{
    /* A leader that elected itself on its own has raised its term in this
     * or an earlier update that may not be durable yet: nothing of the new
     * term may leave before it is, or a crash could let it lead the same
     * term twice with different entries (found by the simulator, BUGS.md
     * #1). Its NOOP's PERSISTED report proves the term durable. */
    if (r->role == RAFT_LEADER && !r->term_durable)
        after = 1;
    struct raft__msgbuf *b = after ? &r->after : &r->now;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct raft_message *m = realloc(b->m, cap * sizeof *m);
        if (m == NULL)
            return NULL;
        b->m = m;
        uint64_t *lo = realloc(b->lo, cap * sizeof *lo);
        if (lo == NULL)
            return NULL;
        b->lo = lo;
        b->cap = cap;
    }
    struct raft_message *m = &b->m[b->n];
    memset(m, 0, sizeof *m);
    b->lo[b->n] = 0;
    r->last_lo = &b->lo[b->n];
    b->n++;
    m->type = type;
    m->term = r->term;
    m->from = r->id;
    m->to = to;
    return m;
}

void raft__read_result(struct raft *r, uint64_t id, uint64_t index,
                       int status)
{
    if (r->n_out_reads == r->cap_out_reads) {
        uint32_t cap = r->cap_out_reads ? r->cap_out_reads * 2 : 16;
        struct raft_read *p = realloc(r->out_reads, cap * sizeof *p);
        if (p == NULL)
            return; /* the host times the read out and retries */
        r->out_reads = p;
        r->cap_out_reads = cap;
    }
    r->out_reads[r->n_out_reads++] =
        (struct raft_read){.id = id, .index = index, .status = status};
}

/* Entries of APPEND messages are recorded as (first index, count) while
 * the step runs, because the log array may move when entries are appended
 * later in the same step; pointers are resolved here, at the end. */
static void resolve_entries(struct raft *r, struct raft__msgbuf *b)
{
    size_t w = 0;
    for (size_t i = 0; i < b->n; i++) {
        struct raft_message *m = &b->m[i];
        if (m->n_entries > 0) {
            const struct pm_entry *e = raft__log_get(&r->log, b->lo[i]);
            const struct pm_entry *last =
                raft__log_get(&r->log, b->lo[i] + m->n_entries - 1);
            if (e == NULL || last == NULL)
                continue; /* overtaken by a truncation: drop it */
            m->entries = e;
        }
        if (w != i) {
            b->m[w] = *m;
            b->lo[w] = b->lo[i];
        }
        w++;
    }
    b->n = w;
}

static uint64_t next_tick(struct raft *r)
{
    /* Nothing is due before this: the longest randomized timeout. */
    uint64_t t = r->now_ms + 2ull * r->o.election_timeout_ms;
    if (r->role == RAFT_LEADER) {
        if (r->heartbeat_deadline_ms < t)
            t = r->heartbeat_deadline_ms;
        if (r->quorum_deadline_ms < t)
            t = r->quorum_deadline_ms;
        if (r->transfer_target != 0 && r->transfer_deadline_ms < t)
            t = r->transfer_deadline_ms;
        if (r->notice_deadline_ms != 0 && r->notice_deadline_ms < t)
            t = r->notice_deadline_ms;
    } else {
        if (raft__can_campaign(r) && r->election_deadline_ms < t)
            t = r->election_deadline_ms;
        for (uint32_t i = 0; i < r->n_fwd; i++)
            if (r->fwd[i].deadline_ms < t)
                t = r->fwd[i].deadline_ms;
    }
    return t > r->now_ms ? t : r->now_ms + 1;
}

/* Hand out committed entries the host has also persisted: applying an
 * entry that is not yet durable here could leave the FSM ahead of the log
 * after a crash. */
static void fill_committed(struct raft *r, struct raft_update *up)
{
    uint64_t to = r->commit < r->persisted ? r->commit : r->persisted;
    if (to > raft__log_last(&r->log))
        to = raft__log_last(&r->log);
    if (r->applied < r->log.base)
        r->applied = r->log.base;
    if (to > r->applied) {
        up->committed = raft__log_get(&r->log, r->applied + 1);
        up->n_committed = (size_t)(to - r->applied);
        r->applied = to;
    }
}

static void finish(struct raft *r, struct raft_update *up, uint8_t role0,
                   uint64_t term0, uint64_t leader0)
{
    resolve_entries(r, &r->now);
    resolve_entries(r, &r->after);
    up->truncate_from = r->truncate_from;
    if (r->unstable_from != 0 &&
        r->unstable_from <= raft__log_last(&r->log)) {
        up->entries = raft__log_get(&r->log, r->unstable_from);
        up->n_entries = (size_t)(raft__log_last(&r->log) - r->unstable_from + 1);
    }
    up->hard_state_changed = r->hs_changed;
    up->hard_state.term = r->term;
    up->hard_state.vote = r->vote;
    up->hard_state.commit = r->commit;
    if (r->has_installing)
        up->snapshot = &r->installing;
    up->msgs = r->now.m;
    up->n_msgs = r->now.n;
    up->msgs_after = r->after.m;
    up->n_msgs_after = r->after.n;
    fill_committed(r, up);
    up->reads = r->out_reads;
    up->n_reads = r->n_out_reads;
    up->proposed_index = r->proposed_index;
    up->proposed_term = r->proposed_term;
    up->need_snapshot = r->need_snapshot;
    /* Payload plus the per-entry bookkeeping, so that many tiny entries
     * also ask for compaction. */
    up->want_compact =
        r->log.bytes + r->log.n * (sizeof(struct pm_entry) + sizeof(void *)) >
        r->o.log_bytes_compact;
    up->role = r->role;
    up->term = r->term;
    up->leader = r->leader;
    up->commit = r->commit;
    up->state_changed = r->state_changed || role0 != r->role ||
                        term0 != r->term || leader0 != r->leader;
    up->next_tick_ms = next_tick(r);
}

static void begin(struct raft *r)
{
    r->now.n = 0;
    r->after.n = 0;
    r->n_out_reads = 0;
    r->unstable_from = 0;
    r->truncate_from = 0;
    r->hs_changed = 0;
    r->state_changed = 0;
    r->proposed_index = 0;
    r->proposed_term = 0;
    r->need_snapshot = 0;
    free(r->snap_garbage);
    r->snap_garbage = NULL;
    if (r->has_installing) {
        /* The previous update's snapshot bytes lived until now. */
        free(r->installing_buf);
        r->installing_buf = NULL;
        r->has_installing = 0;
    }
}

/* --- message validation and dispatch ------------------------------------ */

static int msg_valid(const struct raft *r, const struct raft_message *m)
{
    if (m == NULL || m->type < 1 || m->type > RAFT_MSG_TYPE_MAX)
        return 0;
    if (m->from == 0 || m->from == r->id || m->to != r->id)
        return 0;
    if (m->n_entries > 0 && m->entries == NULL)
        return 0;
    if (m->len > 0 && m->data == NULL)
        return 0;
    if (m->config_len > 0 && m->config == NULL)
        return 0;
    if (m->type != RAFT_MSG_APPEND && m->n_entries > 0)
        return 0;
    return 1;
}

static int is_response_granting(const struct raft_message *m)
{
    return m->type == RAFT_MSG_PREVOTE_RESP && !m->reject;
}

static int recv(struct raft *r, const struct raft_message *m)
{
    if (!msg_valid(r, m))
        return -PM_EPROTO;
    if (m->term > r->max_term_seen)
        r->max_term_seen = m->term;

    if (m->term > r->term) {
        if (m->type == RAFT_MSG_PREVOTE)
            return raft__recv_vote(r, m); /* never changes our term */
        if (is_response_granting(m))
            return raft__recv_vote_resp(r, m);
        if (m->type == RAFT_MSG_VOTE)
            return raft__recv_vote(r, m); /* lease check, then term */
        uint64_t leader = 0;
        if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
            m->type == RAFT_MSG_SNAPSHOT || m->type == RAFT_MSG_TIMEOUT_NOW)
            leader = m->from;
        /* Figure 2: a higher term makes any server a follower. */
        raft__become_follower(r, m->term, leader);
    } else if (m->term < r->term) {
        /* A stale leader learns the new term from the rejection; with
         * check-quorum and pre-vote, a server that was partitioned may
         * otherwise never hear the newer term (etcd does the same). */
        if (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
            m->type == RAFT_MSG_SNAPSHOT) {
            struct raft_message *o =
                raft__msg(r, 0, RAFT_MSG_APPEND_RESP, m->from);
            if (o != NULL) {
                o->reject = 1;
                o->index = m->prev_index;
            }
            return 0;
        }
        if (m->type == RAFT_MSG_PREVOTE)
            return raft__recv_vote(r, m); /* rejected with our term */
        if (m->type == RAFT_MSG_READ_INDEX) {
            struct raft_message *o =
                raft__msg(r, 0, RAFT_MSG_READ_INDEX_RESP, m->from);
            if (o != NULL) {
                o->reject = 1;
                o->ctx = m->ctx;
            }
        }
        return 0; /* stale: ignore */
    }

    switch (m->type) {
    case RAFT_MSG_APPEND:
        return raft__recv_append(r, m);
    case RAFT_MSG_APPEND_RESP:
        return raft__recv_append_resp(r, m);
    case RAFT_MSG_HEARTBEAT:
        return raft__recv_heartbeat(r, m);
    case RAFT_MSG_HEARTBEAT_RESP:
        return raft__recv_heartbeat_resp(r, m);
    case RAFT_MSG_PREVOTE:
    case RAFT_MSG_VOTE:
        return raft__recv_vote(r, m);
    case RAFT_MSG_PREVOTE_RESP:
    case RAFT_MSG_VOTE_RESP:
        return raft__recv_vote_resp(r, m);
    case RAFT_MSG_SNAPSHOT:
        return raft__recv_snapshot(r, m);
    case RAFT_MSG_SNAPSHOT_RESP:
        return raft__recv_snapshot_resp(r, m);
    case RAFT_MSG_TIMEOUT_NOW:
        return raft__recv_timeout_now(r, m);
    case RAFT_MSG_READ_INDEX:
        return raft__recv_read_index(r, m);
    case RAFT_MSG_READ_INDEX_RESP:
        return raft__recv_read_index_resp(r, m);
    }
    return -PM_EPROTO;
}

static int persisted(struct raft *r, uint64_t index, uint64_t term)
{
    if (index == 0)
        return 0;
    if (index > raft__log_last(&r->log) ||
        raft__log_term(&r->log, index) != term)
        return 0; /* stale report about entries since replaced */
    if (r->role == RAFT_LEADER && index >= r->term_start &&
        term == r->term)
        r->term_durable = 1;
    if (index > r->persisted) {
        r->persisted = index;
        if (r->role == RAFT_LEADER)
            raft__maybe_commit(r);
    }
    return 0;
}

static int tick(struct raft *r)
{
    if (r->role == RAFT_LEADER)
        raft__tick_leader(r);
    else
        raft__tick_election(r);
    raft__tick_reads(r);
    return 0;
}

int raft_step(struct raft *r, const struct raft_event *ev,
              struct raft_update *up)
{
    memset(up, 0, sizeof *up);
    begin(r);
    r->stepped = 1;
    uint8_t role0 = r->role;
    uint64_t term0 = r->term, leader0 = r->leader;
    int rc;
    if (ev == NULL) {
        rc = -PM_EINVAL;
        goto out;
    }
    if (ev->now_ms > r->now_ms)
        r->now_ms = ev->now_ms;
    if (r->election_deadline_ms == 0)
        r->election_deadline_ms = r->now_ms + raft__random_timeout(r);

    switch (ev->type) {
    case RAFT_EV_TICK:
        rc = tick(r);
        break;
    case RAFT_EV_RECEIVE:
        rc = recv(r, ev->msg);
        break;
    case RAFT_EV_PROPOSE:
        rc = raft__propose(r, ev);
        break;
    case RAFT_EV_PROPOSE_BATCH:
        rc = raft__propose_batch(r, ev);
        break;
    case RAFT_EV_CHANGE:
        rc = raft__propose_change(r, ev);
        break;
    case RAFT_EV_PERSISTED:
        rc = persisted(r, ev->persisted.index, ev->persisted.term);
        break;
    case RAFT_EV_SNAPSHOT:
        rc = raft__offer_snapshot(r, ev->snapshot);
        break;
    case RAFT_EV_SNAPSHOT_INSTALLED:
        /* The core already moved its log past the snapshot; now the
         * leader may hear that it is in. */
        rc = raft__snapshot_installed(r, ev->at.index);
        break;
    case RAFT_EV_COMPACTED:
        rc = raft__compacted(r, ev->at.index);
        break;
    case RAFT_EV_READ_INDEX:
        rc = raft__read_index(r, ev->read.id);
        break;
    case RAFT_EV_TRANSFER:
        rc = raft__transfer(r, ev->transfer.target);
        break;
    case RAFT_EV_FORCE_RECOVER:
        rc = raft__force_recover(r, ev->force.term_floor);
        break;
    case RAFT_EV_NOTIFY_COMMIT:
        if (r->role != RAFT_LEADER) {
            rc = -PM_ENOTLEADER;
        } else {
            raft__notify_commit(r, ev->notify.to);
            rc = 0;
        }
        break;
    case RAFT_EV_CAMPAIGN:
        if (r->role == RAFT_LEADER || !raft__can_campaign(r)) {
            rc = -PM_ESTATE;
        } else {
            raft__campaign(r, 0, 0);
            rc = 0;
        }
        break;
    default:
        rc = -PM_EINVAL;
        break;
    }
out:
    finish(r, up, role0, term0, leader0);
    return rc;
}
