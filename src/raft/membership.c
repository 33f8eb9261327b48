/* membership.c: configuration changes one server at a time (thesis §4.1),
 * forced recovery, and the leader's half of leadership transfer. */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "raft/raft_int.h"

static void set_conf(struct raft *r, const struct raft_config *c,
                     uint64_t index)
{
    r->conf = *c;
    r->conf_index = index;
    if (r->role == RAFT_LEADER)
        raft__progress_sync(r, 0);
}

/* Find the last CONFIG entry in (lo - 1, hi]; 1 and sets *C and *AT if
 * found. Bounded by the in-memory log. */
static int find_config(const struct raft *r, uint64_t lo, uint64_t hi,
                       struct raft_config *c, uint64_t *at)
{
    for (uint64_t i = hi; i >= lo && i > r->log.base; i--) {
        const struct pm_entry *e = raft__log_get(&r->log, i);
        if (e->type != PM_ENTRY_CONFIG)
            continue;
        if (raft_config_payload_split(e->data, e->len, c, NULL, NULL) != 0)
            continue; /* validated when it entered the log */
        *at = i;
        return 1;
    }
    return 0;
}

/* Thesis §4.1: a server uses the latest configuration in its log, whether
 * committed or not. After a truncation: scan back from the end for the last
 * CONFIG entry, else the snapshot's configuration. */
void raft__config_recompute(struct raft *r)
{
    struct raft_config c;
    uint64_t at;
    if (find_config(r, r->log.base + 1, raft__log_last(&r->log), &c, &at))
        set_conf(r, &c, at);
    else
        set_conf(r, &r->base_conf, 0);
}

/* After appending entries FIRST..last: only they can hold a newer config,
 * so appends cost nothing extra per entry already in the log. */
void raft__config_on_append(struct raft *r, uint64_t first)
{
    struct raft_config c;
    uint64_t at;
    if (find_config(r, first, raft__log_last(&r->log), &c, &at))
        set_conf(r, &c, at);
}

/* The configuration in force at INDEX (>= the log's base). */
int raft__config_at(const struct raft *r, uint64_t index,
                    struct raft_config *out)
{
    if (index < r->log.base)
        return -PM_ECOMPACTED;
    uint64_t last = raft__log_last(&r->log);
    if (index > last)
        index = last;
    for (uint64_t i = index; i > r->log.base; i--) {
        const struct pm_entry *e = raft__log_get(&r->log, i);
        if (e->type == PM_ENTRY_CONFIG)
            return raft_config_payload_split(e->data, e->len, out, NULL,
                                             NULL);
    }
    *out = r->base_conf;
    return 0;
}

static int append_config(struct raft *r, const struct raft_config *c,
                         const uint8_t *app, uint32_t app_len)
{
    uint8_t *payload;
    uint32_t len;
    int rc = raft_config_payload_encode(c, app, app_len, &payload, &len);
    if (rc != 0)
        return rc;
    if (len > r->o.proposal_bytes_max) {
        free(payload);
        return -PM_ETOOBIG;
    }
    uint64_t idx = raft__log_last(&r->log) + 1;
    rc = raft__log_append_one(&r->log, r->term, PM_ENTRY_CONFIG, payload,
                              len);
    free(payload);
    if (rc != 0)
        return rc;
    r->proposed_index = idx;
    r->proposed_term = r->term;
    raft__mark_appended(r, idx); /* takes effect now (thesis §4.1) */
    return 0;
}

/* A server dropped by a change hears nothing more from this leader: its
 * progress goes as soon as the change is appended (thesis §4.1: the new
 * configuration is in force from then on), so it used to learn of its
 * removal only by timing out, seconds later. Send it, once, the entries
 * from its match index through the change, so that its host sees itself
 * out of the latest configuration at once and can stop. Best effort and
 * bounded: if this is lost, or the server is too far behind for a few
 * messages, it finds out by timing out as before. Safe like any APPEND of
 * this leader: the entries are the leader's own log. */
#define RAFT__FAREWELL_MSGS_MAX 4

static void send_farewell(struct raft *r, uint64_t id, uint64_t match)
{
    struct raft__progress p;
    memset(&p, 0, sizeof p);
    p.id = id;
    p.role = RAFT_LEARNER; /* counts for nothing; never stored */
    p.state = RAFT__REPLICATE;
    p.match = match;
    p.next = match + 1;
    for (int k = 0; k < RAFT__FAREWELL_MSGS_MAX; k++) {
        /* Compacted entries would take a snapshot: not for a farewell. */
        if (p.next <= r->log.base || p.next > raft__log_last(&r->log))
            return;
        uint64_t before = p.next;
        raft__send_append(r, &p, 0);
        if (p.next == before)
            return; /* nothing sent (no memory, or the window) */
    }
}

int raft__propose_change(struct raft *r, const struct raft_event *ev)
{
    if (r->role != RAFT_LEADER)
        return -PM_ENOTLEADER;
    const struct raft_config *want = ev->change.config;
    if (want == NULL || (ev->change.app == NULL && ev->change.app_len > 0))
        return -PM_EINVAL;
    if (r->transfer_target != 0)
        return -PM_EBUSY;
    /* One change at a time (thesis §4.1), and not before this leader has
     * committed an entry of its own term: otherwise a change from an
     * earlier term might still be uncommitted (the bug found in the
     * single-server scheme, thesis §4.1 / raft-dev 2015). */
    if (r->conf_index > r->commit || r->commit < r->term_start)
        return -PM_EBUSY;
    struct raft_config c = *want;
    c.forced = 0;
    raft_config_sort(&c);
    int rc = raft_config_check_transition(&r->conf, &c);
    if (rc != 0)
        return rc;
    /* A newcomer joins as a learner and is promoted once caught up
     * (thesis §4.2.1), so adding it never stalls commits. */
    for (uint32_t i = 0; i < c.n; i++) {
        const struct raft_server *s = &c.servers[i];
        int was = raft_config_role(&r->conf, s->id);
        if (s->role != RAFT_VOTER || was == RAFT_VOTER || s->id == r->id)
            continue;
        if (was == 0)
            return -PM_EINVAL;
        struct raft__progress *p = raft__progress_get(r, s->id);
        if (p == NULL ||
            p->match + r->o.append_entries_max < raft__log_last(&r->log))
            return -PM_EAGAIN;
    }
    /* The servers this change drops, and how far they are known to hold
     * the log: their progress goes with the change (set_conf). */
    uint64_t gone_id[RAFT_SERVERS_MAX], gone_match[RAFT_SERVERS_MAX];
    uint32_t n_gone = 0;
    for (uint32_t i = 0; i < r->n_prog && n_gone < RAFT_SERVERS_MAX; i++) {
        const struct raft__progress *p = &r->prog[i];
        if (raft_config_role(&c, p->id) != 0 || p->state == RAFT__SNAPSHOT)
            continue;
        gone_id[n_gone] = p->id;
        gone_match[n_gone++] = p->match;
    }
    rc = append_config(r, &c, ev->change.app, ev->change.app_len);
    if (rc != 0)
        return rc;
    raft__broadcast_append(r);
    for (uint32_t i = 0; i < n_gone; i++)
        send_farewell(r, gone_id[i], gone_match[i]);
    raft__maybe_commit(r);
    return 0;
}

/* Operator escape hatch: continue alone when the rest of the configuration
 * (in particular the tie-breaker of a two-voter mesh) is gone for good. The
 * forced configuration is logged like any other, flagged for the audit. */
int raft__force_recover(struct raft *r, uint64_t term_floor)
{
    if (!raft__can_vote(r))
        return -PM_ESTATE;
    struct raft_config c = r->conf;
    for (uint32_t i = 0; i < c.n;) {
        if (c.servers[i].role == RAFT_VOTER && c.servers[i].id != r->id)
            raft_config_remove(&c, c.servers[i].id);
        else
            i++;
    }
    c.tiebreaker = r->id;
    c.weighted = 0;
    c.forced = 1;
    raft__reads_fail_all(r, -PM_ENOLEADER);
    /* The lost servers may have led terms this one never saw, and a
     * learner may hold their entries: take a term above anything seen and
     * above the operator's floor so no (index, term) is ever reused
     * (BUGS.md #3). */
    uint64_t t = r->term;
    if (r->max_term_seen > t)
        t = r->max_term_seen;
    if (term_floor > t)
        t = term_floor;
    r->term = t + 1;
    r->vote = r->id;
    r->hs_changed = 1;
    r->term_durable = 0;
    raft__become_leader(r);
    int rc = append_config(r, &c, NULL, 0);
    if (rc != 0)
        return rc;
    raft__broadcast_append(r);
    raft__maybe_commit(r);
    return 0;
}

/* Thesis §3.10: stop accepting proposals, bring the target up to date,
 * then send it TimeoutNow. Aborted after an election timeout. */
int raft__transfer(struct raft *r, uint64_t target)
{
    if (r->role != RAFT_LEADER)
        return -PM_ENOTLEADER;
    if (target == 0) {
        struct raft__progress *best = NULL;
        for (uint32_t i = 0; i < r->n_prog; i++)
            if (r->prog[i].role == RAFT_VOTER &&
                (best == NULL || r->prog[i].match > best->match))
                best = &r->prog[i];
        if (best == NULL)
            return -PM_EINVAL;
        target = best->id;
    }
    if (target == r->id)
        return 0;
    if (raft_config_role(&r->conf, target) != RAFT_VOTER)
        return -PM_EINVAL;
    struct raft__progress *p = raft__progress_get(r, target);
    if (p == NULL)
        return -PM_EINVAL;
    r->transfer_target = target;
    r->transfer_deadline_ms = r->now_ms + r->o.election_timeout_ms;
    if (p->match == raft__log_last(&r->log))
        raft__transfer_check(r, p);
    else
        raft__send_append(r, p, 0);
    return 0;
}

void raft__transfer_check(struct raft *r, struct raft__progress *p)
{
    if (r->transfer_target != p->id || p->match != raft__log_last(&r->log))
        return;
    raft__msg(r, 0, RAFT_MSG_TIMEOUT_NOW, p->id);
}
