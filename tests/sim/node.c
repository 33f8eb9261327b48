/* node.c: one simulated node around a real struct raft: the host side of
 * the core's contract (raft.h) with a fake disk, a fake FSM and the fake
 * network, and the safety checks run on every update the core produces. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "sim.h"

void sim_fail(struct sim *s, const char *fmt, ...)
{
    if (s->failed)
        return; /* keep the first violation: later ones are consequences */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fail_msg, sizeof(s->fail_msg), fmt, ap);
    va_end(ap);
    s->failed = 1;
    sim_trace(&s->trace, "t=%" PRIu64 " VIOLATION %s", s->now_ms, s->fail_msg);
}

static void chk_fail(struct sim *s, int slot)
{
    sim_fail(s, "n%" PRIu64 ": %s", s->nodes[slot].id, s->chk.msg);
}

void sim_push(struct sim *s, uint64_t at_ms, int kind, int slot, uint64_t gen,
              void *ptr)
{
    struct sim_ev ev = {.at_ms = at_ms, .kind = kind, .node = slot,
                        .gen = gen, .ptr = ptr};
    sim_heap_push(&s->heap, ev);
}

int sim_slot_of(const struct sim *s, uint64_t id)
{
    for (int i = 0; i < SIM_SLOTS; i++)
        if (s->nodes[i].used && s->nodes[i].id == id)
            return i;
    return -1;
}

uint64_t sim_entry_hash(const struct pm_entry *e)
{
    return sim_hash(e->data, e->len, e->type);
}

/* --- the fake FSM --------------------------------------------------------- */

/* COMMAND payload: u8 key, u64 proposal id, filler. */
static void fsm_apply(struct sim_fsm *f, const struct pm_entry *e)
{
    f->chain = sim_mix(sim_mix(f->chain, e->index),
                       sim_mix(e->term, sim_entry_hash(e)));
    f->applied = e->index;
    f->applied_term = e->term;
    if (e->type == PM_ENTRY_COMMAND && e->len >= 9) {
        int k = e->data[0] % SIM_KEYS;
        uint64_t pid;
        memcpy(&pid, e->data + 1, 8);
        f->val[k] = pid;
        f->at[k] = e->index;
    } else if (e->type == PM_ENTRY_CONFIG) {
        struct raft_config c;
        const uint8_t *app;
        uint32_t app_len;
        if (raft_config_payload_split(e->data, e->len, &c, &app, &app_len) ==
            0) {
            size_t len = 0;
            if (raft_config_encode(&c, f->config, sizeof(f->config), &len) ==
                0)
                f->config_len = (uint32_t)len;
        }
    }
}

void sim_fsm_init_boot(struct sim_fsm *f, const struct pm_entry *boot)
{
    memset(f, 0, sizeof(*f));
    fsm_apply(f, boot);
}

/* Snapshot bytes: the struct, then filler derived from the chain so that a
 * corrupted or misassembled chunked transfer is detected on install. */
static uint8_t filler_byte(uint64_t chain, size_t i)
{
    return (uint8_t)(sim_mix(chain, i / 8) >> ((i % 8) * 8));
}

static uint8_t *fsm_serialize(const struct sim_fsm *f, uint32_t *len)
{
    size_t extra = 16 + f->chain % 3000;
    size_t n = sizeof(*f) + extra;
    uint8_t *b = sim_xrealloc(NULL, n);
    memcpy(b, f, sizeof(*f));
    for (size_t i = 0; i < extra; i++)
        b[sizeof(*f) + i] = filler_byte(f->chain, i);
    *len = (uint32_t)n;
    return b;
}

static int fsm_deserialize(struct sim_fsm *f, const uint8_t *b, uint64_t n)
{
    if (n < sizeof(*f))
        return -1;
    memcpy(f, b, sizeof(*f));
    if (n != sizeof(*f) + 16 + f->chain % 3000)
        return -1;
    for (size_t i = 0; i < n - sizeof(*f); i++)
        if (b[sizeof(*f) + i] != filler_byte(f->chain, i))
            return -1;
    return 0;
}

/* --- messages -------------------------------------------------------------- */

struct sim_msg {
    struct raft_message m;
    int from_slot;
};

static struct sim_msg *msg_copy(const struct raft_message *m, int from_slot)
{
    size_t bytes = sizeof(struct sim_msg) +
                   (size_t)m->n_entries * sizeof(struct pm_entry);
    for (uint32_t i = 0; i < m->n_entries; i++)
        bytes += m->entries[i].len;
    bytes += m->len + m->config_len;
    struct sim_msg *c = sim_xrealloc(NULL, bytes);
    c->m = *m;
    c->from_slot = from_slot;
    struct pm_entry *ents = (struct pm_entry *)(c + 1);
    uint8_t *p = (uint8_t *)(ents + m->n_entries);
    for (uint32_t i = 0; i < m->n_entries; i++) {
        ents[i] = m->entries[i];
        if (m->entries[i].len)
            memcpy(p, m->entries[i].data, m->entries[i].len);
        ents[i].data = p;
        p += m->entries[i].len;
    }
    c->m.entries = m->n_entries ? ents : NULL;
    if (m->len)
        memcpy(p, m->data, m->len);
    c->m.data = m->len ? p : NULL;
    p += m->len;
    if (m->config_len)
        memcpy(p, m->config, m->config_len);
    c->m.config = m->config_len ? p : NULL;
    return c;
}

static void trace_msg(struct sim *s, const char *what, const struct raft_message *m)
{
    sim_trace(&s->trace,
              "t=%" PRIu64 " %s %s n%" PRIu64 "->n%" PRIu64 " t%" PRIu64
              " prev=%" PRIu64 "/%" PRIu64 " n=%u c=%" PRIu64 " idx=%" PRIu64
              "%s last=%" PRIu64 "/%" PRIu64 "%s",
              s->now_ms, what, raft_msg_name(m->type), m->from, m->to, m->term,
              m->prev_index, m->prev_term, m->n_entries, m->commit, m->index,
              m->reject ? " REJ" : "", m->last_index, m->last_term,
              m->type == RAFT_MSG_SNAPSHOT || m->type == RAFT_MSG_SNAPSHOT_RESP
                  ? " snap" : "");
}

/* Put a message on the wire now (faults decided here and at delivery). */
static void net_send(struct sim *s, int from_slot, struct sim_msg *c)
{
    const struct raft_message *m = &c->m;
    int to = sim_slot_of(s, m->to);
    s->st.msgs++;
    if (to < 0 || s->blocked[from_slot][to] ||
        (!s->healed && sim_rng_ppm(&s->rng, s->p.drop_ppm))) {
        s->st.dropped++;
        if (s->trace.verbose)
            trace_msg(s, "drop", m);
        free(c);
        return;
    }
    int copies = (!s->healed && sim_rng_ppm(&s->rng, s->p.dup_ppm)) ? 2 : 1;
    for (int k = 0; k < copies; k++) {
        struct sim_msg *d = c;
        if (k > 0)
            d = msg_copy(&c->m, from_slot);
        uint64_t delay = sim_rng_range(&s->rng, s->p.delay_min_ms,
                                       s->p.delay_max_ms);
        if (!s->healed && sim_rng_ppm(&s->rng, s->p.reorder_ppm))
            delay += sim_rng_range(&s->rng, 1, s->p.reorder_max_ms);
        sim_push(s, s->now_ms + delay, SIM_EV_DELIVER, to, 0, d);
    }
}

void sim_purge_from(struct sim *s, int slot)
{
    for (size_t i = 0; i < s->heap.n; i++)
        if (s->heap.v[i].kind == SIM_EV_DELIVER) {
            struct sim_msg *c = s->heap.v[i].ptr;
            if (c->from_slot == slot)
                c->m.to = 0; /* never matches a node: dropped on delivery */
        }
}

void sim_msg_free_all(struct sim *s)
{
    for (size_t i = 0; i < s->heap.n; i++)
        if (s->heap.v[i].kind == SIM_EV_DELIVER)
            free(s->heap.v[i].ptr);
}

/* --- update processing: the host side and the checks ---------------------- */

static void schedule_tick(struct sim *s, int slot, uint64_t at_local_ms)
{
    struct sim_node *n = &s->nodes[slot];
    if (at_local_ms == 0 || at_local_ms == UINT64_MAX)
        return;
    /* The first simulated millisecond at which the node's clock reads at
     * least at_local_ms. */
    uint64_t at_ms = (at_local_ms * 1000 + n->rate_permille - 1) /
                     n->rate_permille;
    if (at_ms < s->now_ms)
        at_ms = s->now_ms;
    if (n->tick_at == at_ms)
        return;
    n->tick_at = at_ms;
    n->tick_gen = ++s->tick_seq;
    sim_push(s, at_ms, SIM_EV_TICK, slot, n->tick_gen, NULL);
}

static void serve_reads(struct sim *s, struct sim_node *n)
{
    for (int i = 0; i < n->n_reads;) {
        struct sim_read *rd = &n->reads[i];
        if (rd->have_index && n->fsm.applied >= rd->index) {
            /* Linearizable read: local state after the read index reflects
             * every write acknowledged before the read began (thesis §6.4). */
            if (n->fsm.applied < rd->wm)
                sim_fail(s, "n%" PRIu64 ": read %" PRIu64 " served at applied %"
                         PRIu64 " below acked write %" PRIu64,
                         n->id, rd->rid, n->fsm.applied, rd->wm);
            s->st.reads_ok++;
            n->reads[i] = n->reads[--n->n_reads];
            continue;
        }
        i++;
    }
}

static void ack_proposals(struct sim *s, struct sim_node *n,
                          const struct pm_entry *e)
{
    for (int i = 0; i < n->n_props;) {
        struct sim_prop *p = &n->props[i];
        if (p->index > e->index) {
            i++;
            continue;
        }
        if (p->index == e->index && p->term == e->term) {
            /* The client sees success: this write must never be lost. */
            if (s->n_acks == s->cap_acks) {
                s->cap_acks = s->cap_acks ? 2 * s->cap_acks : 256;
                s->acks = sim_xrealloc(s->acks, s->cap_acks * sizeof(*s->acks));
            }
            s->acks[s->n_acks++] = *p;
            if (p->index > s->ack_max)
                s->ack_max = p->index;
            s->st.acks++;
        }
        n->props[i] = n->props[--n->n_props];
    }
}

/* Proposals whose entries left this node's log can no longer be
 * acknowledged by it (the client would time out and retry). */
static void drop_props_from(struct sim_node *n, uint64_t from)
{
    for (int i = 0; i < n->n_props;) {
        if (n->props[i].index >= from)
            n->props[i] = n->props[--n->n_props];
        else
            i++;
    }
}

static int is_ack_type(const struct raft_message *m)
{
    switch (m->type) {
    case RAFT_MSG_VOTE_RESP:
        return !m->reject;
    case RAFT_MSG_APPEND_RESP:
        return !m->reject;
    case RAFT_MSG_SNAPSHOT_RESP:
        return m->done;
    case RAFT_MSG_VOTE:
        return 1;
    default:
        return 0;
    }
}

static void apply_snapshot(struct sim *s, int slot,
                           const struct raft_snapshot *sn,
                           struct disk_write *w)
{
    struct sim_node *n = &s->nodes[slot];
    struct sim_fsm f;
    if (fsm_deserialize(&f, sn->data, sn->len) != 0) {
        sim_fail(s, "n%" PRIu64 ": snapshot %" PRIu64 "/%" PRIu64
                 " arrived corrupted (%" PRIu64 " bytes)",
                 n->id, sn->index, sn->term, sn->len);
        return;
    }
    if (f.applied != sn->index || f.applied_term != sn->term) {
        sim_fail(s, "n%" PRIu64 ": snapshot meta %" PRIu64 "/%" PRIu64
                 " but its FSM state is at %" PRIu64 "/%" PRIu64,
                 n->id, sn->index, sn->term, f.applied, f.applied_term);
        return;
    }
    if (sn->index < n->fsm.applied) {
        sim_fail(s, "n%" PRIu64 ": installing snapshot %" PRIu64
                 " moves applied back from %" PRIu64,
                 n->id, sn->index, n->fsm.applied);
        return;
    }
    if (chk_snapshot(&s->chk, sn->index, sn->term, f.chain) != 0) {
        chk_fail(s, slot);
        return;
    }
    struct chk_commit rec;
    if (!chk_get(&s->chk, sn->index, &rec)) {
        sim_fail(s, "n%" PRIu64 ": snapshot at %" PRIu64
                 " which no node reported committed", n->id, sn->index);
        return;
    }
    n->fsm = f;
    n->fsm_dirty = 1;
    s->st.snaps_installed++;
    drop_props_from(n, 0); /* their fate is inside the snapshot */
    struct raft_status st;
    raft_status(n->r, &st);
    uint64_t t, eh, ph;
    if (chk_log_get(&n->log, sn->index, &t, &eh, &ph) && t == sn->term &&
        ph == rec.phash && st.last_index > sn->index) {
        chk_log_compact(&n->log, sn->index);
        chk_log_truncate(&n->log, st.last_index + 1);
    } else {
        chk_log_reset(&n->log, sn->index, sn->term, rec.phash);
    }
    if (n->log.last != st.last_index)
        sim_fail(s, "n%" PRIu64 ": after snapshot %" PRIu64
                 " the core's log ends at %" PRIu64 ", host expects %" PRIu64,
                 n->id, sn->index, st.last_index, n->log.last);
    uint8_t cfg[SIM_CONFIG_BYTES_MAX];
    size_t cfg_len = 0;
    if (raft_config_encode(&sn->config, cfg, sizeof(cfg), &cfg_len) != 0)
        sim_fail(s, "n%" PRIu64 ": snapshot config does not encode", n->id);
    disk_write_set_snap(w, sn->index, sn->term, cfg, (uint32_t)cfg_len,
                        sn->data, (uint32_t)sn->len);
    if (st.last_index == sn->index &&
        (!w->truncate_from || w->truncate_from > sn->index + 1))
        w->truncate_from = sn->index + 1;
    w->compact_index = sn->index;
    w->compact_term = sn->term;
    w->report_installed = 1;
    w->installed_index = sn->index;
    sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " installs snapshot %"
              PRIu64 "/%" PRIu64 " (%" PRIu64 " bytes)",
              s->now_ms, n->id, sn->index, sn->term, sn->len);
}

/* Entries leaving in an APPEND are public from now on: record their
 * (index, term) -> prefix for Log Matching. */
static void register_sent(struct sim *s, int slot, const struct raft_message *m)
{
    struct sim_node *n = &s->nodes[slot];
    for (uint32_t i = 0; i < m->n_entries && !s->failed; i++) {
        const struct pm_entry *e = &m->entries[i];
        uint64_t t, eh, ph;
        if (!chk_log_get(&n->log, e->index, &t, &eh, &ph) || t != e->term ||
            eh != sim_entry_hash(e)) {
            sim_fail(s, "n%" PRIu64 ": sends index %" PRIu64 " term %" PRIu64
                     " that is not in its log", n->id, e->index, e->term);
            return;
        }
        if (chk_pair(&s->chk, e->index, e->term, ph) != 0)
            chk_fail(s, slot);
    }
}

/* Everything the host does with one update, with the invariant checks. */
static void process_update(struct sim *s, int slot, const struct raft_update *up)
{
    struct sim_node *n = &s->nodes[slot];
    uint8_t prev_role = n->role;
    uint64_t prev_term = n->term;
    struct disk_write *w = disk_write_new();

    /* 1. The log: truncation and new entries. */
    if (up->truncate_from) {
        if (prev_role == RAFT_LEADER && up->role == RAFT_LEADER &&
            up->term == prev_term && up->truncate_from <= n->log.last)
            sim_fail(s, "n%" PRIu64 ": leader append-only: leader of term %"
                     PRIu64 " truncates its log from %" PRIu64 " (last %"
                     PRIu64 ")", n->id, up->term, up->truncate_from,
                     n->log.last);
        /* Entries up to the commit index never change; installing a
         * snapshot at or past it may drop them (the snapshot holds them). */
        if (up->truncate_from <= n->commit &&
            !(up->snapshot && up->snapshot->index >= n->commit))
            sim_fail(s, "n%" PRIu64 ": truncates from %" PRIu64
                     " below its commit index %" PRIu64,
                     n->id, up->truncate_from, n->commit);
        chk_log_truncate(&n->log, up->truncate_from);
        w->truncate_from = up->truncate_from;
        drop_props_from(n, up->truncate_from);
    }
    for (size_t i = 0; i < up->n_entries; i++) {
        const struct pm_entry *e = &up->entries[i];
        if (e->index != n->log.last + 1) {
            sim_fail(s, "n%" PRIu64 ": update appends index %" PRIu64
                     " after last %" PRIu64, n->id, e->index, n->log.last);
            break;
        }
        uint64_t ph = chk_log_append(&n->log, e->term, sim_entry_hash(e));
        if (chk_pair_match(&s->chk, e->index, e->term, ph) != 0)
            chk_fail(s, slot);
    }
    if (up->n_entries && !s->failed) {
        disk_write_set_entries(w, up->entries, up->n_entries);
        w->tags = sim_xcalloc(up->n_entries, sizeof(uint64_t));
        for (size_t i = 0; i < up->n_entries; i++) {
            uint64_t t, eh;
            chk_log_get(&n->log, up->entries[i].index, &t, &eh, &w->tags[i]);
        }
        w->report_persisted = 1;
        w->persist_index = up->entries[up->n_entries - 1].index;
        w->persist_term = up->entries[up->n_entries - 1].term;
    }

    /* 2. A snapshot from the leader. */
    if (up->snapshot && !s->failed)
        apply_snapshot(s, slot, up->snapshot, w);

    /* 3. Hard state: term never decreases, one vote per term. */
    const struct raft_hard_state *hs = &up->hard_state;
    if (!up->hard_state_changed &&
        (hs->term != n->hs_term || hs->vote != n->hs_vote))
        sim_fail(s, "n%" PRIu64 ": term/vote changed to %" PRIu64 "/%" PRIu64
                 " without hard_state_changed (was %" PRIu64 "/%" PRIu64 ")",
                 n->id, hs->term, hs->vote, n->hs_term, n->hs_vote);
    if (up->hard_state_changed) {
        if (hs->term < n->hs_term)
            sim_fail(s, "n%" PRIu64 ": term went back %" PRIu64 " -> %" PRIu64,
                     n->id, n->hs_term, hs->term);
        if (hs->term == n->hs_term && n->hs_vote && hs->vote != n->hs_vote)
            sim_fail(s, "n%" PRIu64 ": voted for %" PRIu64 " and then %" PRIu64
                     " in term %" PRIu64, n->id, n->hs_vote, hs->vote,
                     hs->term);
        n->hs_term = hs->term;
        n->hs_vote = hs->vote;
        w->has_hs = 1;
        w->term = hs->term;
        w->vote = hs->vote;
        w->commit = hs->commit;
        w->report_persisted = 1;
    }

    /* 4. Commit index: monotonic; every newly committed index is recorded
     * once globally and compared with what any other node commits there. */
    if (up->commit < n->commit) {
        sim_fail(s, "n%" PRIu64 ": commit index went back %" PRIu64
                 " -> %" PRIu64, n->id, n->commit, up->commit);
    } else if (up->commit > n->commit && !s->failed) {
        uint64_t from = n->commit + 1;
        if (from <= n->log.base_index)
            from = n->log.base_index + 1;
        if (up->commit > n->log.last) {
            sim_fail(s, "n%" PRIu64 ": commit %" PRIu64
                     " beyond its last log index %" PRIu64,
                     n->id, up->commit, n->log.last);
        } else {
            for (uint64_t i = from; i <= up->commit; i++) {
                uint64_t t, eh, ph;
                chk_log_get(&n->log, i, &t, &eh, &ph);
                if (chk_commit(&s->chk, i, t, eh, ph, up->term) != 0) {
                    chk_fail(s, slot);
                    break;
                }
            }
            s->st.commits += up->commit - n->commit;
            if (up->role == RAFT_LEADER && !s->healed &&
                sim_rng_ppm(&s->rng, s->p.crash_commit_ppm))
                sim_push(s, s->now_ms + sim_rng_range(&s->rng, 0, 3),
                         SIM_EV_CRASH, slot, n->gen, NULL);
        }
        n->commit = up->commit;
    }

    /* 5. Role: at most one leader per term, and a new leader holds every
     * entry committed in earlier terms (Leader Completeness, §5.4). */
    if (up->role == RAFT_LEADER &&
        !(prev_role == RAFT_LEADER && prev_term == up->term)) {
        s->st.elections++;
        sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " LEADER term %" PRIu64
                  " last %" PRIu64 " commit %" PRIu64,
                  s->now_ms, n->id, up->term, n->log.last, up->commit);
        /* A leadership counts once its term is durable: a self-elected
         * leader (sole quorum) that crashes before that has never spoken
         * (see the msgs check below) and may lead the same term again. */
        if (n->disk.term >= up->term) {
            if (chk_leader(&s->chk, up->term, n->id) != 0)
                chk_fail(s, slot);
        } else {
            n->lead_pending = up->term;
        }
        if (!s->healed && sim_rng_ppm(&s->rng, s->p.crash_elected_ppm))
            sim_push(s, s->now_ms + sim_rng_range(&s->rng, 0, 10),
                     SIM_EV_CRASH, slot, n->gen, NULL);
        uint64_t need_ph;
        uint64_t need = chk_required(&s->chk, up->term, &need_ph);
        uint64_t t, eh, ph;
        if (need > n->log.last)
            sim_fail(s, "n%" PRIu64 ": leader completeness: leader of term %"
                     PRIu64 " has last index %" PRIu64 " < committed %" PRIu64,
                     n->id, up->term, n->log.last, need);
        else if (need >= n->log.base_index &&
                 chk_log_get(&n->log, need, &t, &eh, &ph) && ph != need_ph)
            sim_fail(s, "n%" PRIu64 ": leader completeness: leader of term %"
                     PRIu64 " holds a different entry at committed index %"
                     PRIu64, n->id, up->term, need);
    } else if (up->state_changed && s->trace.verbose) {
        sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " %s term %" PRIu64
                  " leader n%" PRIu64, s->now_ms, n->id,
                  raft_role_name(up->role), up->term, up->leader);
    }
    n->role = up->role;
    n->term = up->term;
    n->leader = up->leader;
    if (n->role != RAFT_LEADER || n->term != n->lead_pending)
        n->lead_pending = 0;

    /* 6. Apply committed entries: State Machine Safety. */
    for (size_t i = 0; i < up->n_committed && !s->failed; i++) {
        const struct pm_entry *e = &up->committed[i];
        if (e->index > up->commit) {
            sim_fail(s, "n%" PRIu64 ": applies %" PRIu64 " beyond commit %"
                     PRIu64, n->id, e->index, up->commit);
            break;
        }
        if (e->index <= n->fsm.applied) {
            /* Replay after a restart of what the durable FSM already has. */
            struct chk_commit rec;
            if (chk_get(&s->chk, e->index, &rec) &&
                (rec.term != e->term || rec.ehash != sim_entry_hash(e)))
                sim_fail(s, "n%" PRIu64 ": replays index %" PRIu64
                         " with a different entry than committed",
                         n->id, e->index);
            continue;
        }
        if (e->index != n->fsm.applied + 1) {
            sim_fail(s, "n%" PRIu64 ": applies %" PRIu64 " after %" PRIu64,
                     n->id, e->index, n->fsm.applied);
            break;
        }
        fsm_apply(&n->fsm, e);
        n->fsm_dirty = 1;
        s->st.applied++;
        if (chk_applied(&s->chk, e->index, e->term, sim_entry_hash(e),
                        n->fsm.chain) != 0) {
            chk_fail(s, slot);
            break;
        }
        ack_proposals(s, n, e);
    }
    if (up->n_committed)
        serve_reads(s, n);

    /* 7. ReadIndex results. */
    for (size_t i = 0; i < up->n_reads && !s->failed; i++) {
        const struct raft_read *rr = &up->reads[i];
        for (int k = 0; k < n->n_reads; k++) {
            struct sim_read *rd = &n->reads[k];
            if (rd->rid != rr->id)
                continue;
            if (rr->status != 0) {
                n->reads[k] = n->reads[--n->n_reads];
            } else {
                if (rr->index < rd->wm)
                    sim_fail(s, "n%" PRIu64 ": ReadIndex %" PRIu64
                             " returned index %" PRIu64 " below write %" PRIu64
                             " acknowledged before the read started",
                             n->id, rd->rid, rr->index, rd->wm);
                rd->index = rr->index;
                rd->have_index = 1;
            }
            break;
        }
    }
    serve_reads(s, n);

    /* 8. Requests to the host. */
    if (up->need_snapshot)
        sim_push(s, s->now_ms + sim_rng_range(&s->rng, 0, 3), SIM_EV_SNAPSHOT,
                 slot, n->gen, (void *)1);
    if (up->want_compact)
        sim_push(s, s->now_ms + 1, SIM_EV_SNAPSHOT, slot, n->gen, NULL);

    /* 9. Messages now, messages after the write, the write itself. */
    for (size_t i = 0; i < up->n_msgs; i++) {
        const struct raft_message *m = &up->msgs[i];
        if (is_ack_type(m))
            sim_fail(s, "n%" PRIu64 ": %s to n%" PRIu64 " sent before its "
                     "state is persisted (in msgs, not msgs_after)",
                     n->id, raft_msg_name(m->type), m->to);
        /* A leader speaks only in a term that survives its crash, or it
         * could lead that term twice (BUGS.md #1). */
        if (m->term > n->disk.term &&
            (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
             m->type == RAFT_MSG_SNAPSHOT || m->type == RAFT_MSG_TIMEOUT_NOW))
            sim_fail(s, "n%" PRIu64 ": %s of term %" PRIu64 " sent while its "
                     "durable term is %" PRIu64, n->id,
                     raft_msg_name(m->type), m->term, n->disk.term);
        if (s->trace.verbose)
            trace_msg(s, "send", m);
        register_sent(s, slot, m);
        net_send(s, slot, msg_copy(m, slot));
    }
    for (size_t i = 0; i < up->n_msgs_after; i++)
        disk_write_hold(w, msg_copy(&up->msgs_after[i], slot));
    if (n->fsm_dirty) {
        w->has_fsm = 1;
        w->fsm = n->fsm;
        n->fsm_dirty = 0;
    }
    if (w->truncate_from || w->n_entries || w->has_hs || w->has_fsm ||
        w->has_snap || w->n_held) {
        uint64_t delay = sim_rng_range(&s->rng, s->p.disk_min_ms,
                                       s->p.disk_max_ms);
        disk_submit(&n->disk, w, s->now_ms, delay);
        sim_push(s, w->done_ms, SIM_EV_DISK, slot, n->gen, NULL);
    } else {
        disk_write_free(w);
    }

    /* 10. The next tick. */
    schedule_tick(s, slot, up->next_tick_ms);
}

/* Each node's clock runs at its own rate (clock drift): local time is
 * simulated time scaled by rate_permille. Timing assumptions in the core
 * (leases, check-quorum) must never be needed for safety. */
static uint64_t local_ms(const struct sim *s, const struct sim_node *n)
{
    return s->now_ms * n->rate_permille / 1000;
}

int sim_node_step(struct sim *s, int slot, const struct raft_event *ev_in,
                  uint64_t *prop_index, uint64_t *prop_term)
{
    struct sim_node *n = &s->nodes[slot];
    struct raft_update up;
    struct raft_event ev_local = *ev_in;
    const struct raft_event *ev = &ev_local;
    ev_local.now_ms = local_ms(s, n);
    memset(&up, 0, sizeof(up));
    int rc = raft_step(n->r, ev, &up);
    if (rc != 0 && rc != -PM_ENOTLEADER && rc != -PM_EBUSY &&
        rc != -PM_EINVAL && rc != -PM_ESTATE && rc != -PM_EAGAIN)
        sim_fail(s, "n%" PRIu64 ": raft_step(event %d) failed: %s", n->id,
                 ev->type, pm_strerror(rc));
    if (prop_index) {
        *prop_index = rc == 0 ? up.proposed_index : 0;
        *prop_term = rc == 0 ? up.proposed_term : 0;
    }
    process_update(s, slot, &up);
    return rc;
}

/* --- events ---------------------------------------------------------------- */

void sim_deliver(struct sim *s, struct sim_ev *ev)
{
    struct sim_msg *c = ev->ptr;
    int to = ev->node;
    struct sim_node *n = &s->nodes[to];
    if (!n->used || !n->up || n->id != c->m.to ||
        s->blocked[c->from_slot][to]) {
        s->st.dropped++;
        free(c);
        return;
    }
    if (s->trace.verbose)
        trace_msg(s, "recv", &c->m);
    else if (c->m.type != RAFT_MSG_HEARTBEAT &&
             c->m.type != RAFT_MSG_HEARTBEAT_RESP)
        trace_msg(s, "recv", &c->m);
    if (c->m.type == RAFT_MSG_SNAPSHOT)
        s->st.snaps_sent++;
    struct raft_event e = {.type = RAFT_EV_RECEIVE, .now_ms = s->now_ms};
    e.msg = &c->m;
    int rc = sim_node_step(s, to, &e, NULL, NULL);
    if (rc == -PM_EINVAL || rc == -PM_ESTATE)
        sim_fail(s, "n%" PRIu64 ": rejected a %s from n%" PRIu64 ": %s",
                 n->id, raft_msg_name(c->m.type), c->m.from, pm_strerror(rc));
    free(c);
}

void sim_disk_done(struct sim *s, int slot)
{
    struct sim_node *n = &s->nodes[slot];
    struct disk_write *w = disk_complete(&n->disk);
    if (!w)
        return;
    if (n->lead_pending && n->role == RAFT_LEADER &&
        n->term == n->lead_pending && n->disk.term >= n->lead_pending) {
        if (chk_leader(&s->chk, n->term, n->id) != 0)
            chk_fail(s, slot);
        n->lead_pending = 0;
    }
    /* Durable entries are public: a restart will read them back. */
    for (size_t i = 0; w->tags && i < w->n_entries; i++)
        if (chk_pair(&s->chk, w->entries[i].index, w->entries[i].term,
                     w->tags[i]) != 0) {
            chk_fail(s, slot);
            break;
        }
    /* Only now may the acknowledgements leave (the core's msgs_after). */
    for (size_t i = 0; i < w->n_held; i++) {
        struct sim_msg *c = w->held[i];
        if (s->trace.verbose)
            trace_msg(s, "send", &c->m);
        net_send(s, slot, c);
    }
    w->n_held = 0;
    if (w->report_persisted) {
        struct raft_event e = {.type = RAFT_EV_PERSISTED, .now_ms = s->now_ms};
        e.persisted.index = w->persist_index;
        e.persisted.term = w->persist_term;
        int rc = sim_node_step(s, slot, &e, NULL, NULL);
        if (rc != 0)
            sim_fail(s, "n%" PRIu64 ": PERSISTED %" PRIu64 "/%" PRIu64
                     " refused: %s", n->id, w->persist_index, w->persist_term,
                     pm_strerror(rc));
    }
    if (w->report_installed && n->up) {
        struct raft_event e = {.type = RAFT_EV_SNAPSHOT_INSTALLED,
                               .now_ms = s->now_ms};
        e.at.index = w->installed_index;
        int rc = sim_node_step(s, slot, &e, NULL, NULL);
        if (rc != 0)
            sim_fail(s, "n%" PRIu64 ": SNAPSHOT_INSTALLED at %" PRIu64
                     " refused: %s", n->id, w->installed_index,
                     pm_strerror(rc));
    }
    if (w->report_compacted && n->up) {
        struct raft_event e = {.type = RAFT_EV_COMPACTED, .now_ms = s->now_ms};
        e.at.index = w->compact_index;
        int rc = sim_node_step(s, slot, &e, NULL, NULL);
        if (rc != 0)
            sim_fail(s, "n%" PRIu64 ": COMPACTED at %" PRIu64 " refused: %s",
                     n->id, w->compact_index, pm_strerror(rc));
        s->st.compactions++;
        struct raft_status st;
        raft_status(n->r, &st);
        /* The core may keep some entries below the compaction point in
         * memory (for followers); mirror what it actually dropped. */
        if (st.first_index > n->log.base_index + 1)
            chk_log_compact(&n->log, st.first_index - 1);
        if (st.last_index != n->log.last)
            sim_fail(s, "n%" PRIu64 ": after compaction to %" PRIu64
                     " the core's log ends at %" PRIu64 ", host expects %"
                     PRIu64, n->id, w->compact_index, st.last_index,
                     n->log.last);
    }
    disk_write_free(w);
}

void sim_tick(struct sim *s, int slot)
{
    struct sim_node *n = &s->nodes[slot];
    n->tick_at = 0;
    struct raft_event e = {.type = RAFT_EV_TICK, .now_ms = s->now_ms};
    sim_node_step(s, slot, &e, NULL, NULL);
}

static void make_snapshot(struct sim_node *n, struct raft_snapshot *sn,
                          uint8_t **data)
{
    uint32_t len;
    memset(sn, 0, sizeof(*sn));
    sn->index = n->fsm.applied;
    sn->term = n->fsm.applied_term;
    raft_config_decode(n->fsm.config, n->fsm.config_len, &sn->config);
    *data = fsm_serialize(&n->fsm, &len);
    sn->data = *data;
    sn->len = len;
}

/* The leader's core asked for a snapshot to send (need_snapshot). */
void sim_leader_snapshot(struct sim *s, int slot)
{
    struct sim_node *n = &s->nodes[slot];
    struct raft_snapshot sn;
    uint8_t *data;
    make_snapshot(n, &sn, &data);
    struct raft_event e = {.type = RAFT_EV_SNAPSHOT, .now_ms = s->now_ms};
    e.snapshot = &sn;
    int rc = sim_node_step(s, slot, &e, NULL, NULL);
    if (rc != 0 && rc != -PM_ENOTLEADER)
        sim_fail(s, "n%" PRIu64 ": snapshot at %" PRIu64 " refused: %s",
                 n->id, sn.index, pm_strerror(rc));
    free(data);
}

/* The host snapshots its FSM at the applied index and compacts the log;
 * the core hears COMPACTED once that write is durable. */
void sim_compact(struct sim *s, int slot)
{
    struct sim_node *n = &s->nodes[slot];
    if (n->fsm.applied <= n->log.base_index)
        return;
    struct raft_snapshot sn;
    uint8_t *data;
    make_snapshot(n, &sn, &data);
    struct disk_write *w = disk_write_new();
    disk_write_set_snap(w, sn.index, sn.term, n->fsm.config,
                        n->fsm.config_len, data, (uint32_t)sn.len);
    free(data);
    w->has_fsm = 1;
    w->fsm = n->fsm;
    n->fsm_dirty = 0;
    w->compact_index = sn.index;
    w->compact_term = sn.term;
    w->report_compacted = 1;
    sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " compacts to %" PRIu64,
              s->now_ms, n->id, sn.index);
    disk_submit(&n->disk, w, s->now_ms,
                sim_rng_range(&s->rng, s->p.disk_min_ms, s->p.disk_max_ms));
    sim_push(s, w->done_ms, SIM_EV_DISK, slot, n->gen, NULL);
}

/* --- lifecycle -------------------------------------------------------------- */

static int node_boot_core(struct sim *s, int slot)
{
    struct sim_node *n = &s->nodes[slot];
    struct raft_options o = s->ropt;
    n->gen = ++s->gen_seq;
    o.seed = sim_mix(sim_mix(s->seed, n->id), n->gen);
    int rc = raft_new(n->id, &o, &n->r);
    if (rc != 0) {
        sim_fail(s, "n%" PRIu64 ": raft_new: %s", n->id, pm_strerror(rc));
        return rc;
    }
    struct sim_disk *d = &n->disk;
    struct raft_hard_state hs = {d->term, d->vote, d->commit};
    struct raft_snapshot snap, *sp = NULL;
    if (d->has_snap) {
        memset(&snap, 0, sizeof(snap));
        snap.index = d->snap.index;
        snap.term = d->snap.term;
        if (raft_config_decode(d->snap.config, d->snap.config_len,
                               &snap.config) != 0)
            sim_fail(s, "n%" PRIu64 ": stored snapshot config corrupt", n->id);
        sp = &snap;
    }
    rc = raft_restore(n->r, &hs, sp, d->log, d->n);
    if (rc != 0) {
        sim_fail(s, "n%" PRIu64 ": raft_restore: %s", n->id, pm_strerror(rc));
        return rc;
    }
    /* Shadow log and floors from the durable state alone. */
    uint64_t base_ph = 0;
    struct chk_commit rec;
    if (d->base_index && chk_get(&s->chk, d->base_index, &rec))
        base_ph = rec.phash;
    chk_log_reset(&n->log, d->base_index, d->base_term, base_ph);
    for (uint64_t i = 0; i < d->n; i++) {
        uint64_t ph = chk_log_append(&n->log, d->log[i].term,
                                     sim_entry_hash(&d->log[i]));
        if (chk_pair(&s->chk, d->log[i].index, d->log[i].term, ph) != 0)
            chk_fail(s, slot);
    }
    n->fsm = d->fsm;
    n->fsm_dirty = 0;
    n->commit = d->commit;
    n->hs_term = d->term;
    n->hs_vote = d->vote;
    n->role = RAFT_FOLLOWER;
    n->term = d->term;
    n->leader = 0;
    n->n_props = 0;
    n->n_reads = 0;
    n->tick_at = 0;
    struct raft_status st;
    raft_status(n->r, &st);
    if (st.commit < d->commit)
        sim_fail(s, "n%" PRIu64 ": restored commit %" PRIu64
                 " below durable %" PRIu64, n->id, st.commit, d->commit);
    if (st.last_index != n->log.last)
        sim_fail(s, "n%" PRIu64 ": restored log ends at %" PRIu64
                 ", disk at %" PRIu64, n->id, st.last_index, n->log.last);
    n->up = 1;
    schedule_tick(s, slot, local_ms(s, n) + 1);
    return 0;
}

int sim_node_start(struct sim *s, int slot, uint64_t id,
                   const struct pm_entry *boot)
{
    struct sim_node *n = &s->nodes[slot];
    memset(n, 0, sizeof(*n));
    n->used = 1;
    n->id = id;
    n->rate_permille = s->p.drift ? (uint32_t)sim_rng_range(&s->rng, 800, 1250)
                                  : 1000;
    disk_init(&n->disk);
    chk_log_init(&n->log);
    if (boot) {
        /* A bootstrapped member: its disk already holds the initial CONFIG
         * entry, committed, and its FSM has applied it (raft.h, restore). */
        struct disk_write *w = disk_write_new();
        disk_write_set_entries(w, boot, 1);
        w->has_hs = 1;
        w->term = boot->term;
        w->commit = boot->index;
        w->has_fsm = 1;
        sim_fsm_init_boot(&w->fsm, boot);
        disk_submit(&n->disk, w, 0, 0);
        disk_write_free(disk_complete(&n->disk));
    }
    return node_boot_core(s, slot);
}

void sim_node_crash(struct sim *s, int slot, const char *why)
{
    struct sim_node *n = &s->nodes[slot];
    if (!n->up)
        return;
    sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " CRASH (%s): %zu disk "
              "writes lost, durable last %" PRIu64 " commit %" PRIu64,
              s->now_ms, n->id, why, n->disk.pending, disk_last(&n->disk),
              n->disk.commit);
    raft_free(n->r);
    n->r = NULL;
    disk_crash(&n->disk);
    n->up = 0;
    n->n_props = 0;
    n->n_reads = 0;
    n->tick_at = 0;
    n->lead_pending = 0;
    n->paused_until = 0;
    s->st.crashes++;
}

void sim_node_restart(struct sim *s, int slot)
{
    struct sim_node *n = &s->nodes[slot];
    if (n->up || n->gone || !n->used)
        return;
    sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " RESTART from term %"
              PRIu64 " vote %" PRIu64 " commit %" PRIu64 " last %" PRIu64
              " applied %" PRIu64, s->now_ms, n->id, n->disk.term,
              n->disk.vote, n->disk.commit, disk_last(&n->disk),
              n->disk.fsm.applied);
    n->restart_at = 0;
    s->st.restarts++;
    node_boot_core(s, slot);
}
