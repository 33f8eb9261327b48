/* test_raft_harness.h: a tiny cluster of real raft cores for the unit and
 * scenario tests: a deterministic clock, a message network with latency,
 * partitions and loss, a "disk" per node (log, hard state, snapshot) that
 * survives crashes, and a register FSM (COMMAND payload = u64 value; the
 * state is the last value written).
 *
 * Every update is handled exactly as the header asks of a host: send msgs,
 * persist, send msgs_after, report PERSISTED, apply committed entries. A node
 * in `defer` mode holds its persistence (and msgs_after) until h_flush().
 * Safety is checked as it runs: one leader per term, and every node applies
 * the same entry at each index. Include from exactly one test file. */
#ifndef TEST_RAFT_HARNESS_H
#define TEST_RAFT_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/err.h"
#include "raft/raft.h"

#define H_NODES 8
#define H_APPLIED_MAX 4096
#define H_TERMS_MAX 1024

struct h_ent {
    uint64_t index, term;
    uint8_t type;
    uint8_t *data;
    uint32_t len;
};

struct h_job { /* one deferred persistence */
    uint64_t truncate_from;
    struct h_ent *ents;
    size_t n;
    int hs_changed;
    struct raft_hard_state hs;
    struct raft_message *after; /* deep copies */
    size_t n_after;
};

struct h_node {
    uint64_t id;
    struct raft *r;
    int up;
    /* disk */
    struct raft_hard_state hs;
    struct h_ent *log; /* entries after snap_index */
    size_t n, cap;
    uint64_t snap_index, snap_term;
    struct raft_config snap_conf;
    uint64_t snap_value;
    /* FSM */
    uint64_t applied, value, applied_term;
    /* ReadIndex results */
    struct raft_read reads[256];
    size_t n_reads;
    uint64_t next_tick_ms;
    uint8_t role;
    uint64_t term, leader;
    /* deferred persistence */
    int defer;
    struct h_job jobs[64];
    size_t n_jobs;
    int busy; /* inside process(): no re-entry */
    int need_snapshot;
    uint64_t snap_installs;
};

struct h_msg {
    struct raft_message m;
    uint64_t at_ms;
    uint64_t seq;
};

struct h_committed {
    uint64_t term;
    uint8_t type;
    uint64_t value;
    int set;
};

struct harness {
    struct h_node nodes[H_NODES];
    int n;
    uint64_t now_ms;
    struct h_msg *q;
    size_t nq, capq;
    uint64_t seq;
    int cut[H_NODES][H_NODES]; /* 1: messages i -> j are dropped */
    uint32_t drop_pct;         /* random loss, percent */
    uint32_t latency_ms;
    uint32_t jitter_ms;
    uint32_t flush_pct; /* deferred disks complete with this chance per ms */
    uint64_t rng;
    struct raft_options opt;
    uint64_t leader_of_term[H_TERMS_MAX];
    struct h_committed committed[H_APPLIED_MAX];
    uint64_t delivered;
};

static inline uint64_t h_rand(struct harness *h)
{
    h->rng ^= h->rng << 13;
    h->rng ^= h->rng >> 7;
    h->rng ^= h->rng << 17;
    return h->rng;
}

static inline int h_idx(const struct harness *h, uint64_t id)
{
    for (int i = 0; i < h->n; i++)
        if (h->nodes[i].id == id)
            return i;
    return -1;
}

static inline uint8_t *h_dup(const void *p, size_t n)
{
    if (n == 0)
        return NULL;
    uint8_t *d = malloc(n);
    assert_non_null(d);
    memcpy(d, p, n);
    return d;
}

static inline struct raft_message h_copy_msg(const struct raft_message *m)
{
    struct raft_message c = *m;
    if (m->n_entries > 0) {
        struct pm_entry *e = calloc(m->n_entries, sizeof *e);
        assert_non_null(e);
        for (uint32_t i = 0; i < m->n_entries; i++) {
            e[i] = m->entries[i];
            e[i].data = h_dup(m->entries[i].data, m->entries[i].len);
        }
        c.entries = e;
    } else {
        c.entries = NULL;
    }
    c.data = h_dup(m->data, m->len);
    c.config = h_dup(m->config, m->config_len);
    return c;
}

static inline void h_free_msg(struct raft_message *m)
{
    for (uint32_t i = 0; i < m->n_entries; i++)
        free((void *)m->entries[i].data);
    free((void *)m->entries);
    free((void *)m->data);
    free((void *)m->config);
}

static inline void h_send(struct harness *h, const struct raft_message *m)
{
    int a = h_idx(h, m->from), b = h_idx(h, m->to);
    if (a < 0 || b < 0 || h->cut[a][b])
        return;
    if (h->drop_pct > 0 && h_rand(h) % 100 < h->drop_pct)
        return;
    if (h->nq == h->capq) {
        h->capq = h->capq ? h->capq * 2 : 256;
        h->q = realloc(h->q, h->capq * sizeof *h->q);
        assert_non_null(h->q);
    }
    uint64_t lat = h->latency_ms;
    if (h->jitter_ms > 0)
        lat += h_rand(h) % (h->jitter_ms + 1);
    h->q[h->nq++] = (struct h_msg){
        .m = h_copy_msg(m), .at_ms = h->now_ms + lat, .seq = h->seq++};
}

static inline void h_ent_free(struct h_ent *e)
{
    free(e->data);
    e->data = NULL;
}

static inline void h_disk_truncate(struct h_node *nd, uint64_t from)
{
    while (nd->n > 0 && nd->log[nd->n - 1].index >= from)
        h_ent_free(&nd->log[--nd->n]);
}

static inline void h_disk_append(struct h_node *nd, const struct h_ent *e)
{
    uint64_t last = nd->n ? nd->log[nd->n - 1].index : nd->snap_index;
    assert_int_equal(e->index, last + 1);
    if (nd->n == nd->cap) {
        nd->cap = nd->cap ? nd->cap * 2 : 64;
        nd->log = realloc(nd->log, nd->cap * sizeof *nd->log);
        assert_non_null(nd->log);
    }
    nd->log[nd->n] = *e;
    nd->log[nd->n].data = h_dup(e->data, e->len);
    nd->n++;
}

static inline uint64_t h_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void h_apply(struct harness *h, struct h_node *nd,
                    const struct pm_entry *e)
{
    if (e->index <= nd->applied)
        return; /* already in the FSM (restart) */
    assert_int_equal(e->index, nd->applied + 1);
    uint64_t v = 0;
    if (e->type == PM_ENTRY_COMMAND) {
        assert_int_equal(e->len, 8);
        v = h_u64(e->data);
        nd->value = v;
    }
    nd->applied = e->index;
    nd->applied_term = e->term;
    /* State machine safety: the same entry at each index everywhere. */
    if (e->index < H_APPLIED_MAX) {
        struct h_committed *c = &h->committed[e->index];
        if (c->set) {
            assert_int_equal(c->term, e->term);
            assert_int_equal(c->type, e->type);
            assert_int_equal(c->value, v);
        } else {
            *c = (struct h_committed){e->term, e->type, v, 1};
        }
    }
}

static inline void h_process(struct harness *h, int i, struct raft_update *up);

static inline void h_step(struct harness *h, int i, const struct raft_event *ev,
                   int *rc_out)
{
    struct h_node *nd = &h->nodes[i];
    struct raft_update up;
    struct raft_event e = *ev;
    e.now_ms = h->now_ms;
    int rc = raft_step(nd->r, &e, &up);
    if (rc_out != NULL)
        *rc_out = rc;
    h_process(h, i, &up);
}

static inline void h_do_job(struct harness *h, int i, struct h_job *j)
{
    struct h_node *nd = &h->nodes[i];
    if (j->truncate_from)
        h_disk_truncate(nd, j->truncate_from);
    for (size_t k = 0; k < j->n; k++)
        h_disk_append(nd, &j->ents[k]);
    if (j->hs_changed)
        nd->hs = j->hs;
    for (size_t k = 0; k < j->n_after; k++) {
        h_send(h, &j->after[k]);
        h_free_msg(&j->after[k]);
    }
    uint64_t idx = j->n ? j->ents[j->n - 1].index : 0;
    uint64_t term = j->n ? j->ents[j->n - 1].term : 0;
    for (size_t k = 0; k < j->n; k++)
        h_ent_free(&j->ents[k]);
    free(j->ents);
    free(j->after);
    if (idx != 0) {
        struct raft_event ev = {.type = RAFT_EV_PERSISTED};
        ev.persisted.index = idx;
        ev.persisted.term = term;
        h_step(h, i, &ev, NULL);
    }
}

/* Complete node i's deferred persistence, in order. */
static inline void h_flush(struct harness *h, int i)
{
    struct h_node *nd = &h->nodes[i];
    size_t n = nd->n_jobs;
    struct h_job jobs[64];
    memcpy(jobs, nd->jobs, n * sizeof jobs[0]);
    nd->n_jobs = 0;
    for (size_t k = 0; k < n; k++)
        h_do_job(h, i, &jobs[k]);
}

static inline void h_process(struct harness *h, int i, struct raft_update *up)
{
    struct h_node *nd = &h->nodes[i];
    if (nd->defer && nd->n_jobs == 64)
        h_flush(h, i); /* the disk queue is full: wait for it */
    if (up->role == RAFT_LEADER) {
        uint64_t t = up->term;
        assert_true(t < H_TERMS_MAX);
        if (h->leader_of_term[t] == 0)
            h->leader_of_term[t] = nd->id;
        /* Election safety (Figure 3): at most one leader per term. */
        assert_int_equal(h->leader_of_term[t], nd->id);
    }
    nd->role = up->role;
    nd->term = up->term;
    nd->leader = up->leader;
    nd->next_tick_ms = up->next_tick_ms;
    for (size_t k = 0; k < up->n_msgs; k++)
        h_send(h, &up->msgs[k]);

    /* Snapshot install: replaces the FSM and the log. */
    if (up->snapshot != NULL) {
        const struct raft_snapshot *s = up->snapshot;
        assert_int_equal(s->len, 16);
        if (up->truncate_from)
            h_disk_truncate(nd, up->truncate_from);
        h_disk_truncate(nd, 0);
        nd->snap_index = s->index;
        nd->snap_term = s->term;
        nd->snap_conf = s->config;
        nd->snap_value = h_u64(s->data + 8);
        assert_int_equal(h_u64(s->data), s->index);
        nd->value = nd->snap_value;
        nd->applied = s->index;
        nd->applied_term = s->term;
        nd->snap_installs++;
    }

    struct h_job j = {0};
    j.truncate_from = up->snapshot ? 0 : up->truncate_from;
    if (up->n_entries > 0) {
        j.ents = calloc(up->n_entries, sizeof *j.ents);
        assert_non_null(j.ents);
        for (size_t k = 0; k < up->n_entries; k++) {
            const struct pm_entry *e = &up->entries[k];
            j.ents[k] = (struct h_ent){e->index, e->term, e->type,
                                       h_dup(e->data, e->len), e->len};
        }
        j.n = up->n_entries;
    }
    j.hs_changed = up->hard_state_changed;
    j.hs = up->hard_state;
    if (up->n_msgs_after > 0) {
        j.after = calloc(up->n_msgs_after, sizeof *j.after);
        assert_non_null(j.after);
        for (size_t k = 0; k < up->n_msgs_after; k++)
            j.after[k] = h_copy_msg(&up->msgs_after[k]);
        j.n_after = up->n_msgs_after;
    }
    /* Copy what must outlive the next step before stepping again. */
    for (size_t k = 0; k < up->n_reads && nd->n_reads < 256; k++)
        nd->reads[nd->n_reads++] = up->reads[k];
    for (size_t k = 0; k < up->n_committed; k++)
        h_apply(h, nd, &up->committed[k]);
    int need_snap = up->need_snapshot;

    if (nd->defer) {
        assert_true(nd->n_jobs < 64);
        nd->jobs[nd->n_jobs++] = j;
    } else {
        h_do_job(h, i, &j);
    }
    if (up->snapshot != NULL && nd->up) {
        /* Installed above (synchronously): tell the core. */
        struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_INSTALLED};
        ev.at.index = nd->snap_index;
        h_step(h, i, &ev, NULL);
    }
    if (need_snap && nd->up) {
        /* Offer a fresh snapshot at the FSM's applied index. */
        uint8_t data[16];
        memcpy(data, &nd->applied, 8);
        memcpy(data + 8, &nd->value, 8);
        struct raft_snapshot s = {.index = nd->applied,
                                  .term = nd->applied_term,
                                  .data = data,
                                  .len = 16};
        s.config = *raft_config_latest(nd->r);
        /* The config at applied: the latest is fine in these tests when
         * no change is pending; otherwise scan the disk log. */
        for (size_t k = nd->n; k > 0; k--) {
            const struct h_ent *e = &nd->log[k - 1];
            if (e->index <= nd->applied && e->type == PM_ENTRY_CONFIG) {
                assert_int_equal(raft_config_payload_split(
                                     e->data, e->len, &s.config, NULL, NULL),
                                 0);
                break;
            }
            if (k == 1)
                s.config = nd->snap_conf;
        }
        struct raft_event ev = {.type = RAFT_EV_SNAPSHOT, .snapshot = &s};
        h_step(h, i, &ev, NULL);
    }
}

static inline uint8_t *h_config_payload(const struct raft_config *c, uint32_t *len)
{
    uint8_t *p;
    assert_int_equal(raft_config_payload_encode(c, "m", 1, &p, len), 0);
    return p;
}

static inline void h_boot_node(struct harness *h, int i)
{
    struct h_node *nd = &h->nodes[i];
    struct raft_options o = h->opt;
    o.seed = h->opt.seed + nd->id;
    assert_int_equal(raft_new(nd->id, &o, &nd->r), 0);
    struct pm_entry *es = calloc(nd->n + 1, sizeof *es);
    for (size_t k = 0; k < nd->n; k++)
        es[k] = (struct pm_entry){nd->log[k].index, nd->log[k].term,
                                  nd->log[k].type, nd->log[k].data,
                                  nd->log[k].len};
    struct raft_snapshot s = {0};
    s.index = nd->snap_index;
    s.term = nd->snap_term;
    s.config = nd->snap_conf;
    assert_int_equal(raft_restore(nd->r, &nd->hs, nd->snap_index ? &s : NULL,
                                  es, nd->n),
                     0);
    free(es);
    nd->up = 1;
    nd->n_jobs = 0;
    nd->role = RAFT_FOLLOWER;
    nd->leader = 0;
    nd->term = nd->hs.term;
    nd->next_tick_ms = h->now_ms;
    if (nd->snap_index > nd->applied) {
        nd->applied = nd->snap_index;
        nd->value = nd->snap_value;
    }
}

/* A cluster of N nodes (ids 1..N). Node 1 is the seed: it boots with a
 * CONFIG entry naming MEMBERS servers (ids 1..members): ids 1..voters as
 * voters and the rest as learners, tie-breaker 1, WEIGHTED as given. Every node holds the same
 * bootstrap entry (as if it had been replicated). If SEED_ONLY, only node 1
 * has it; the others start empty and learn everything from the leader. */
static inline void h_init(struct harness *h, int n, int members, int voters,
                          int weighted, int seed_only)
{
    memset(h, 0, sizeof *h);
    h->n = n;
    h->latency_ms = 1;
    h->rng = 0x1234567;
    h->opt.election_timeout_ms = 100;
    h->opt.heartbeat_ms = 20;
    h->opt.seed = 42;
    struct raft_config c = {0};
    for (int i = 0; i < members; i++)
        raft_config_set(&c, (uint64_t)i + 1,
                        i < voters ? RAFT_VOTER : RAFT_LEARNER);
    c.tiebreaker = 1;
    c.weighted = (uint8_t)weighted;
    uint32_t len;
    uint8_t *p = h_config_payload(&c, &len);
    for (int i = 0; i < n; i++) {
        struct h_node *nd = &h->nodes[i];
        nd->id = (uint64_t)i + 1;
        if (i == 0 || !seed_only) {
            struct h_ent e = {1, 1, PM_ENTRY_CONFIG, p, len};
            h_disk_append(nd, &e);
            nd->hs.term = 1;
            nd->hs.commit = 1;
        }
    }
    free(p);
}

static inline void h_start(struct harness *h)
{
    for (int i = 0; i < h->n; i++)
        h_boot_node(h, i);
}

static inline void h_crash(struct harness *h, int i)
{
    struct h_node *nd = &h->nodes[i];
    if (!nd->up)
        return;
    /* Deferred (unsynced) writes are lost. */
    for (size_t k = 0; k < nd->n_jobs; k++) {
        for (size_t e = 0; e < nd->jobs[k].n; e++)
            h_ent_free(&nd->jobs[k].ents[e]);
        free(nd->jobs[k].ents);
        for (size_t e = 0; e < nd->jobs[k].n_after; e++)
            h_free_msg(&nd->jobs[k].after[e]);
        free(nd->jobs[k].after);
    }
    nd->n_jobs = 0;
    raft_free(nd->r);
    nd->r = NULL;
    nd->up = 0;
    /* The FSM state is rebuilt from the snapshot and the log. */
    nd->applied = nd->snap_index;
    nd->value = nd->snap_value;
}

static inline void h_restart(struct harness *h, int i)
{
    h_boot_node(h, i);
}

static inline void h_deliver_one(struct harness *h, size_t k)
{
    struct h_msg hm = h->q[k];
    h->q[k] = h->q[--h->nq];
    int b = h_idx(h, hm.m.to);
    if (b >= 0 && h->nodes[b].up) {
        struct raft_event ev = {.type = RAFT_EV_RECEIVE, .msg = &hm.m};
        h_step(h, b, &ev, NULL);
        h->delivered++;
    }
    h_free_msg(&hm.m);
}

/* Deliver everything due at the current time (in send order). */
static inline void h_deliver_due(struct harness *h)
{
    for (int guard = 0; guard < 1000000; guard++) {
        size_t best = (size_t)-1;
        for (size_t k = 0; k < h->nq; k++)
            if (h->q[k].at_ms <= h->now_ms &&
                (best == (size_t)-1 || h->q[k].seq < h->q[best].seq))
                best = k;
        if (best == (size_t)-1)
            return;
        h_deliver_one(h, best);
    }
    fail_msg("message storm");
}

static inline void h_tick_due(struct harness *h)
{
    for (int i = 0; i < h->n; i++) {
        struct h_node *nd = &h->nodes[i];
        if (nd->up && nd->next_tick_ms <= h->now_ms) {
            struct raft_event ev = {.type = RAFT_EV_TICK};
            h_step(h, i, &ev, NULL);
        }
    }
}

/* Run the cluster for MS milliseconds of simulated time. */
static inline void h_run(struct harness *h, uint64_t ms)
{
    uint64_t end = h->now_ms + ms;
    while (h->now_ms < end) {
        h->now_ms++;
        h_deliver_due(h);
        h_tick_due(h);
        for (int i = 0; i < h->n; i++)
            if (h->nodes[i].up && h->nodes[i].defer &&
                h->nodes[i].n_jobs > 0 && h_rand(h) % 100 < h->flush_pct)
                h_flush(h, i);
        h_deliver_due(h);
    }
}

/* The unique node that is leader in the highest term, or -1. */
static inline int h_leader(const struct harness *h)
{
    int best = -1;
    for (int i = 0; i < h->n; i++) {
        const struct h_node *nd = &h->nodes[i];
        if (nd->up && nd->role == RAFT_LEADER &&
            (best < 0 || nd->term > h->nodes[best].term))
            best = i;
    }
    return best;
}

/* Run until some node leads (and has committed its NOOP), at most MS. */
static inline int h_wait_leader(struct harness *h, uint64_t ms)
{
    for (uint64_t t = 0; t < ms; t += 5) {
        int l = h_leader(h);
        if (l >= 0) {
            struct raft_status st;
            raft_status(h->nodes[l].r, &st);
            if (st.commit == st.last_index && st.last_term == st.term)
                return l;
        }
        h_run(h, 5);
    }
    return h_leader(h);
}

static inline int h_propose(struct harness *h, int i, uint64_t value,
                     uint64_t *index, uint64_t *term)
{
    struct h_node *nd = &h->nodes[i];
    struct raft_event ev = {.type = RAFT_EV_PROPOSE, .now_ms = h->now_ms};
    ev.propose.data = (const uint8_t *)&value;
    ev.propose.len = 8;
    struct raft_update up;
    int rc = raft_step(nd->r, &ev, &up);
    if (index)
        *index = up.proposed_index;
    if (term)
        *term = up.proposed_term;
    h_process(h, i, &up);
    return rc;
}

static inline int h_change(struct harness *h, int i, const struct raft_config *c)
{
    int rc;
    struct raft_event ev = {.type = RAFT_EV_CHANGE};
    ev.change.config = c;
    ev.change.app = (const uint8_t *)"x";
    ev.change.app_len = 1;
    h_step(h, i, &ev, &rc);
    return rc;
}

static inline int h_event(struct harness *h, int i, uint8_t type, uint64_t arg)
{
    int rc;
    struct raft_event ev = {.type = type};
    if (type == RAFT_EV_TRANSFER)
        ev.transfer.target = arg;
    else if (type == RAFT_EV_READ_INDEX)
        ev.read.id = arg;
    else
        ev.at.index = arg;
    h_step(h, i, &ev, &rc);
    return rc;
}

/* Is entry (index, term) committed and applied on node i? */
static inline int h_applied(const struct harness *h, int i, uint64_t index,
                     uint64_t term)
{
    const struct h_node *nd = &h->nodes[i];
    return nd->applied >= index && index < H_APPLIED_MAX &&
           h->committed[index].set && h->committed[index].term == term;
}

/* Run until entry (index, term) is applied on every up node in MASK (bit
 * i = node i), at most MS. */
static inline int h_wait_applied(struct harness *h, uint32_t mask, uint64_t index,
                          uint64_t term, uint64_t ms)
{
    for (uint64_t t = 0; t <= ms; t++) {
        int all = 1;
        for (int i = 0; i < h->n; i++)
            if ((mask & (1u << i)) && !h_applied(h, i, index, term))
                all = 0;
        if (all)
            return 1;
        h_run(h, 1);
    }
    return 0;
}

/* Isolate node i (both directions). */
static inline void h_isolate(struct harness *h, int i, int on)
{
    for (int j = 0; j < h->n; j++) {
        h->cut[i][j] = on;
        h->cut[j][i] = on;
    }
}

static inline void h_free(struct harness *h)
{
    for (int i = 0; i < h->n; i++) {
        struct h_node *nd = &h->nodes[i];
        h_crash(h, i);
        for (size_t k = 0; k < nd->n; k++)
            h_ent_free(&nd->log[k]);
        free(nd->log);
    }
    for (size_t k = 0; k < h->nq; k++)
        h_free_msg(&h->q[k].m);
    free(h->q);
}

#endif
