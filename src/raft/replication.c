/* replication.c: AppendEntries on both sides, heartbeats, commit, and the
 * leader's timers (heartbeat, check-quorum). */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "raft/raft_int.h"

void raft__mark_appended(struct raft *r, uint64_t first)
{
    if (r->unstable_from == 0 || first < r->unstable_from)
        r->unstable_from = first;
    raft__config_on_append(r, first);
}

/* Delete entries >= FROM (a follower's conflicting suffix, Figure 2
 * "AppendEntries RPC" step 3). Never below the commit index. */
void raft__truncate(struct raft *r, uint64_t from)
{
    raft__log_truncate(&r->log, from);
    if (r->truncate_from == 0 || from < r->truncate_from)
        r->truncate_from = from;
    if (r->unstable_from >= from)
        r->unstable_from = 0;
    if (r->persisted >= from)
        r->persisted = from - 1;
    raft__config_recompute(r);
}

/* --- leader side -------------------------------------------------------- */

static int window_full(const struct raft *r, const struct raft__progress *p)
{
    return p->infl_count >= r->o.inflight_max ||
           p->infl_total_bytes >= r->o.inflight_bytes_max;
}

/* Send one APPEND to P if its state and window allow. ALLOW_EMPTY sends
 * even with nothing new (to probe, or to carry the commit index). */
void raft__send_append(struct raft *r, struct raft__progress *p,
                       int allow_empty)
{
    if (p->state == RAFT__SNAPSHOT)
        return;
    if (p->state == RAFT__PROBE && p->paused)
        return;
    if (p->state == RAFT__REPLICATE && window_full(r, p))
        return;
    uint64_t last = raft__log_last(&r->log);
    if (p->next <= r->log.base) {
        /* The entries it needs were compacted away (thesis §5.3). */
        raft__send_snapshot(r, p);
        return;
    }
    if (p->next > last && !allow_empty)
        return;
    uint64_t prev = p->next - 1;
    struct raft_message *m = raft__msg(r, 0, RAFT_MSG_APPEND, p->id);
    if (m == NULL)
        return;
    m->prev_index = prev;
    m->prev_term = raft__log_term(&r->log, prev);
    m->commit = r->commit;
    p->commit_sent = r->commit;
    /* Batch by count and bytes; always at least one entry if any. */
    uint32_t n = 0;
    uint64_t bytes = 0;
    while (p->next + n <= last && n < r->o.append_entries_max) {
        const struct pm_entry *e = raft__log_get(&r->log, p->next + n);
        if (n > 0 && bytes + e->len > r->o.append_bytes_max)
            break;
        bytes += e->len;
        n++;
    }
    m->n_entries = n;
    *r->last_lo = p->next;
    if (p->state == RAFT__REPLICATE) {
        /* Pipelining: assume success and move on (thesis §10.2.2). */
        p->next += n;
        raft__inflight_add(p, p->next - 1, (uint32_t)bytes);
    } else {
        p->paused = 1;
    }
}

void raft__broadcast_append(struct raft *r)
{
    for (uint32_t i = 0; i < r->n_prog; i++) {
        struct raft__progress *p = &r->prog[i];
        /* Fill the window; each call sends one message at most. */
        for (uint32_t k = 0; k <= r->o.inflight_max; k++) {
            size_t before = r->now.n + r->after.n;
            int probe = p->state == RAFT__PROBE;
            raft__send_append(r, p, probe);
            if (r->now.n + r->after.n == before || probe)
                break;
        }
    }
}

void raft__broadcast_heartbeat(struct raft *r, uint64_t ctx)
{
    for (uint32_t i = 0; i < r->n_prog; i++) {
        struct raft__progress *p = &r->prog[i];
        struct raft_message *m = raft__msg(r, 0, RAFT_MSG_HEARTBEAT, p->id);
        if (m == NULL)
            continue;
        /* Cap at what the follower is known to hold, so it never commits
         * an entry it has not matched. */
        m->commit = p->match < r->commit ? p->match : r->commit;
        if (m->commit > p->commit_sent)
            p->commit_sent = m->commit;
        m->ctx = ctx;
    }
}

/* Figure 2 (Rules for Servers, Leaders): the largest N with a quorum of
 * matchIndex >= N and log[N].term == currentTerm is committed. The leader
 * counts itself only up to what it has persisted (thesis §10.2.1). */
void raft__maybe_commit(struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    uint64_t cand[RAFT_SERVERS_MAX + 1];
    size_t nc = 0;
    cand[nc++] = r->persisted;
    for (uint32_t i = 0; i < r->n_prog; i++)
        if (r->prog[i].role == RAFT_VOTER)
            cand[nc++] = r->prog[i].match;
    uint64_t best = r->commit;
    for (size_t i = 0; i < nc; i++) {
        uint64_t n = cand[i];
        if (n <= best || n > raft__log_last(&r->log))
            continue;
        if (raft__log_term(&r->log, n) != r->term)
            continue;
        uint64_t ids[RAFT_SERVERS_MAX + 1];
        size_t k = 0;
        if (r->persisted >= n)
            ids[k++] = r->id;
        for (uint32_t j = 0; j < r->n_prog; j++)
            if (r->prog[j].match >= n)
                ids[k++] = r->prog[j].id;
        if (raft_config_is_quorum(&r->conf, ids, k))
            best = n;
    }
    if (best > r->commit) {
        uint64_t old = r->commit;
        r->commit = best;
        r->hs_changed = 1;
        raft__on_commit(r, old);
    }
}

/* Things that wait for the commit index to move. */
void raft__on_commit(struct raft *r, uint64_t old_commit)
{
    (void)old_commit;
    if (r->role != RAFT_LEADER)
        return;
    raft__reads_on_commit(r);
    /* Thesis §4.2.2: a leader removed from the configuration steps down
     * once the change is committed; it hands over to the most caught-up
     * voter at once instead of leaving the cluster to time out. */
    if (r->conf_index <= r->commit && !raft__can_vote(r)) {
        struct raft__progress *best = NULL;
        for (uint32_t i = 0; i < r->n_prog; i++)
            if (r->prog[i].role == RAFT_VOTER &&
                (best == NULL || r->prog[i].match > best->match))
                best = &r->prog[i];
        if (best != NULL && best->match == raft__log_last(&r->log))
            raft__msg(r, 0, RAFT_MSG_TIMEOUT_NOW, best->id);
        raft__become_follower(r, r->term, 0);
        return;
    }
    /* Tell followers the new commit index without waiting for the next
     * heartbeat: at once, or (commit_notice_ms) once commits have paused
     * that long; while they go on, each next APPEND carries it. */
    if (r->o.commit_notice_ms == 0) {
        for (uint32_t i = 0; i < r->n_prog; i++) {
            struct raft__progress *p = &r->prog[i];
            if (p->state == RAFT__REPLICATE && p->infl_count == 0)
                raft__send_append(r, p, 1);
        }
    } else {
        r->notice_deadline_ms = r->now_ms + r->o.commit_notice_ms;
    }
}

/* Send the commit index to follower TO (0: every follower) that has not
 * been sent it, where its window allows. */
void raft__notify_commit(struct raft *r, uint64_t to)
{
    for (uint32_t i = 0; i < r->n_prog; i++) {
        struct raft__progress *p = &r->prog[i];
        if ((to == 0 || p->id == to) && p->state == RAFT__REPLICATE &&
            p->commit_sent < r->commit)
            raft__send_append(r, p, 1);
    }
}

/* --- follower side ------------------------------------------------------ */

static void reply_append(struct raft *r, const struct raft_message *m,
                         int reject, uint64_t index, uint64_t hint_index,
                         uint64_t hint_term)
{
    /* An acknowledgement claims the entries are durable: send it only
     * after the update's entries are persisted. A rejection claims
     * nothing, but keeping both in one list keeps them in order. */
    struct raft_message *o = raft__msg(r, 1, RAFT_MSG_APPEND_RESP, m->from);
    if (o == NULL)
        return;
    o->reject = (uint8_t)reject;
    o->index = index;
    o->hint_index = hint_index;
    o->hint_term = hint_term;
}

static int entries_valid(const struct raft_message *m)
{
    uint64_t prev_term = m->prev_term;
    for (uint32_t i = 0; i < m->n_entries; i++) {
        const struct pm_entry *e = &m->entries[i];
        if (e->index != m->prev_index + 1 + i || e->term == 0 ||
            e->term > m->term || e->term < prev_term)
            return 0;
        if (e->type != PM_ENTRY_NOOP && e->type != PM_ENTRY_CONFIG &&
            e->type != PM_ENTRY_COMMAND)
            return 0;
        if (e->len > 0 && e->data == NULL)
            return 0;
        if (e->type == PM_ENTRY_CONFIG) {
            struct raft_config c;
            if (raft_config_payload_split(e->data, e->len, &c, NULL,
                                          NULL) != 0)
                return 0;
        }
        prev_term = e->term;
    }
    return 1;
}

void raft__heard_from_leader(struct raft *r, const struct raft_message *m)
{
    if (r->role != RAFT_FOLLOWER || r->leader != m->from)
        raft__become_follower(r, m->term, m->from);
    r->leader_contact = 1;
    r->leader_contact_ms = r->now_ms;
    r->election_deadline_ms = r->now_ms + raft__random_timeout(r);
}

static void advance_commit_follower(struct raft *r, uint64_t to)
{
    if (to > raft__log_last(&r->log))
        to = raft__log_last(&r->log);
    if (to > r->commit) {
        r->commit = to;
        r->hs_changed = 1;
    }
}

int raft__recv_append(struct raft *r, const struct raft_message *m)
{
    if (m->prev_index > 0 && m->prev_term == 0)
        return -PM_EPROTO;
    if (!entries_valid(m))
        return -PM_EPROTO;
    if (r->role == RAFT_LEADER)
        return -PM_EPROTO; /* two leaders in one term: impossible */
    raft__heard_from_leader(r, m);

    uint64_t last = raft__log_last(&r->log);
    uint64_t prev = m->prev_index;
    const struct pm_entry *es = m->entries;
    uint32_t n = m->n_entries;

    /* Entries at or below our snapshot are committed and so match: skip
     * them (a message overtaken by a snapshot install). */
    if (prev < r->log.base) {
        uint64_t skip = r->log.base - prev;
        if (skip >= n) {
            reply_append(r, m, 0, r->log.base, 0, 0);
            return 0;
        }
        es += skip;
        n -= (uint32_t)skip;
        prev = r->log.base;
    } else if (prev > last) {
        /* Missing entries: hint our last index so the leader jumps back. */
        reply_append(r, m, 1, m->prev_index, last,
                     raft__log_last_term(&r->log));
        return 0;
    } else if (raft__log_term(&r->log, prev) != m->prev_term) {
        /* Fast backtracking: the largest index <= prev whose term is <=
         * the leader's prev_term; the leader resumes from the matching
         * point of that term in one round trip (thesis §5.3 note). */
        uint64_t hint = prev;
        while (hint > r->log.base &&
               raft__log_term(&r->log, hint) > m->prev_term)
            hint--;
        if (hint < r->commit && prev > r->commit)
            hint = r->commit;
        reply_append(r, m, 1, m->prev_index, hint,
                     raft__log_term(&r->log, hint));
        return 0;
    }

    /* Figure 2 step 3/4: find the first entry that is new or conflicts. */
    uint32_t i = 0;
    while (i < n && es[i].index <= last &&
           raft__log_term(&r->log, es[i].index) == es[i].term)
        i++;
    if (i < n) {
        if (es[i].index <= last) {
            if (es[i].index <= r->commit)
                return -PM_EPROTO; /* would overwrite a committed entry */
            raft__truncate(r, es[i].index);
        }
        uint64_t first = es[i].index;
        int rc = raft__log_append(&r->log, es + i, n - i);
        if (rc != 0)
            return rc;
        raft__mark_appended(r, first);
    }
    uint64_t match = prev + n;
    /* Figure 2 step 5: commit = min(leaderCommit, index of last new
     * entry). */
    advance_commit_follower(r, m->commit < match ? m->commit : match);
    reply_append(r, m, 0, match, 0, 0);
    return 0;
}

/* --- leader: responses -------------------------------------------------- */

/* The leader's next index after a rejection: the follower told us the last
 * index where its log might match (hint_index, of term hint_term). Skip
 * back over our entries with terms above hint_term. */
static uint64_t backtrack(const struct raft *r, const struct raft_message *m)
{
    uint64_t idx = m->hint_index;
    if (idx > raft__log_last(&r->log))
        idx = raft__log_last(&r->log);
    while (idx > r->log.base && raft__log_term(&r->log, idx) > m->hint_term)
        idx--;
    return idx + 1;
}

int raft__recv_append_resp(struct raft *r, const struct raft_message *m)
{
    if (r->role != RAFT_LEADER)
        return 0;
    struct raft__progress *p = raft__progress_get(r, m->from);
    if (p == NULL)
        return 0;
    p->active = 1;
    if (m->reject) {
        /* Stale if it rejects something we already know matches, or (in
         * probe) not the probe we sent. */
        if (m->index <= p->match)
            return 0;
        if (p->state == RAFT__PROBE && m->index != p->next - 1)
            return 0;
        if (p->state == RAFT__SNAPSHOT)
            return 0;
        uint64_t next = backtrack(r, m);
        if (next > m->index)
            next = m->index;
        if (next <= p->match)
            next = p->match + 1;
        p->next = next;
        p->state = RAFT__PROBE;
        p->paused = 0;
        raft__inflight_reset(p);
        raft__send_append(r, p, 1);
        return 0;
    }
    if (m->index > raft__log_last(&r->log))
        return -PM_EPROTO;
    if (m->index > p->match) {
        p->match = m->index;
        if (p->next <= p->match)
            p->next = p->match + 1;
        if (p->state == RAFT__PROBE) {
            p->state = RAFT__REPLICATE;
            raft__inflight_reset(p);
        } else if (p->state == RAFT__SNAPSHOT && p->match >= p->snap_index) {
            p->state = RAFT__REPLICATE;
            p->next = p->match + 1;
            raft__inflight_reset(p);
        }
        raft__inflight_free_to(p, p->match);
        raft__maybe_commit(r);
        if (r->role != RAFT_LEADER)
            return 0; /* stepped down after its removal committed */
        raft__transfer_check(r, p);
    } else if (p->state == RAFT__PROBE) {
        p->paused = 0;
    }
    raft__inflight_free_to(p, m->index);
    for (uint32_t k = 0; k <= r->o.inflight_max; k++) {
        size_t before = r->now.n + r->after.n;
        raft__send_append(r, p, 0);
        if (r->now.n + r->after.n == before || p->state != RAFT__REPLICATE)
            break;
    }
    return 0;
}

int raft__recv_heartbeat(struct raft *r, const struct raft_message *m)
{
    if (r->role == RAFT_LEADER)
        return -PM_EPROTO;
    raft__heard_from_leader(r, m);
    advance_commit_follower(r, m->commit);
    struct raft_message *o = raft__msg(r, 0, RAFT_MSG_HEARTBEAT_RESP, m->from);
    if (o != NULL)
        o->ctx = m->ctx;
    return 0;
}

int raft__recv_heartbeat_resp(struct raft *r, const struct raft_message *m)
{
    if (r->role != RAFT_LEADER)
        return 0;
    struct raft__progress *p = raft__progress_get(r, m->from);
    if (p == NULL)
        return 0;
    p->active = 1;
    p->paused = 0;
    if (m->ctx > p->read_ack && m->ctx <= r->read_seq) {
        p->read_ack = m->ctx;
        raft__reads_ack(r);
    }
    if (p->match < raft__log_last(&r->log)) {
        /* The follower is alive but behind. If the window is full, the
         * appends in it may all have been lost (say it restarted): free
         * one slot so one append goes out; its answer (a rejection if
         * entries are missing) gets replication moving again. */
        if (p->state == RAFT__REPLICATE && window_full(r, p) &&
            p->infl_count > 0) {
            p->infl_total_bytes -= p->infl_bytes[p->infl_head];
            p->infl_head = (p->infl_head + 1) % RAFT__INFLIGHT_CAP;
            p->infl_count--;
        }
        /* Even with nothing new to send: an empty append probes where
         * the follower really is (its appends may have been lost). */
        raft__send_append(r, p, 1);
    }
    return 0;
}

/* --- leader timers ------------------------------------------------------ */

static void check_quorum(struct raft *r)
{
    uint64_t ids[RAFT_SERVERS_MAX];
    size_t n = 0;
    for (uint32_t i = 0; i < r->n_prog; i++) {
        if (r->prog[i].active)
            ids[n++] = r->prog[i].id;
        r->prog[i].active = 0;
    }
    /* Thesis §6.2: a leader that cannot reach a quorum for an election
     * timeout steps down, so clients look for the real leader elsewhere. */
    if (!raft__self_quorum_with(r, ids, n))
        raft__become_follower(r, r->term, 0);
}

void raft__tick_leader(struct raft *r)
{
    if (r->now_ms >= r->quorum_deadline_ms) {
        r->quorum_deadline_ms = r->now_ms + r->o.election_timeout_ms;
        check_quorum(r);
        if (r->role != RAFT_LEADER)
            return;
    }
    if (r->transfer_target != 0 && r->now_ms >= r->transfer_deadline_ms)
        r->transfer_target = 0; /* thesis §3.10: abort, resume service */
    if (r->notice_deadline_ms != 0 && r->now_ms >= r->notice_deadline_ms) {
        r->notice_deadline_ms = 0;
        raft__notify_commit(r, 0);
    }
    if (r->now_ms >= r->heartbeat_deadline_ms) {
        r->heartbeat_deadline_ms = r->now_ms + r->o.heartbeat_ms;
        raft__broadcast_heartbeat(r, r->read_seq);
        /* Resend stalled snapshot transfers. */
        for (uint32_t i = 0; i < r->n_prog; i++) {
            struct raft__progress *p = &r->prog[i];
            if (p->state == RAFT__SNAPSHOT &&
                r->now_ms >= p->snap_send_ms + r->o.election_timeout_ms / 2) {
                p->snap_sent = p->snap_acked;
                raft__send_snapshot(r, p);
            }
        }
    }
}
