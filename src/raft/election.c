/* election.c: roles, randomized election timers, pre-vote, votes, and the
 * TimeoutNow half of leadership transfer. */
#include <string.h>

#include "base/err.h"
#include "raft/raft_int.h"

/* Is this server a voter of the latest configuration? (Learners and
 * non-members neither count nor, with the exception below, campaign.) */
int raft__can_vote(const struct raft *r)
{
    return raft_config_role(&r->conf, r->id) == RAFT_VOTER;
}

/* Thesis §4.2.2: a server that is not part of its own latest configuration
 * should still start elections while that configuration is uncommitted, as
 * it may still be needed (it may hold the only up-to-date log, e.g. a
 * leader that demoted itself and then lost its quorum). It does not count
 * its own vote then (raft_config_is_quorum ignores non-voters). Found by
 * the simulator (seed 238): without this the cluster deadlocks. */
int raft__can_campaign(struct raft *r)
{
    if (raft__can_vote(r))
        return 1;
    if (r->conf_index == 0 || r->conf_index <= r->commit)
        return 0;
    uint64_t t = raft__log_term(&r->log, r->conf_index);
    if (r->stand_cache_index != r->conf_index || r->stand_cache_term != t) {
        struct raft_config prev;
        r->stand_cache_index = r->conf_index;
        r->stand_cache_term = t;
        r->stand_cache =
            raft__config_at(r, r->conf_index - 1, &prev) == 0 &&
            raft_config_role(&prev, r->id) == RAFT_VOTER;
    }
    return r->stand_cache;
}

static void reset_election_timer(struct raft *r)
{
    r->election_deadline_ms = r->now_ms + raft__random_timeout(r);
}

static void leave_leader(struct raft *r)
{
    if (r->role != RAFT_LEADER)
        return;
    raft__reads_fail_all(r, -PM_ENOTLEADER);
    r->transfer_target = 0;
    raft__snapshot_drop_out(r);
}

void raft__become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
    leave_leader(r);
    if (term > r->term) {
        r->term = term;
        r->vote = 0;
        r->hs_changed = 1;
    }
    if (r->leader != leader)
        raft__reads_fail_all(r, -PM_ENOLEADER); /* forwarded reads */
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->transfer_election = 0;
    if (leader != 0) {
        r->leader_contact = 1;
        r->leader_contact_ms = r->now_ms;
    }
    reset_election_timer(r);
}

void raft__become_leader(struct raft *r)
{
    r->role = RAFT_LEADER;
    r->leader = r->id;
    r->transfer_target = 0;
    r->transfer_election = 0;
    raft__progress_sync(r, 1);
    r->heartbeat_deadline_ms = r->now_ms + r->o.heartbeat_ms;
    r->quorum_deadline_ms = r->now_ms + r->o.election_timeout_ms;
    r->notice_deadline_ms = 0;
    /* Raft §5.4.2 / thesis §3.6.2: entries of earlier terms commit only
     * through an entry of the leader's own term, so append a NOOP now. */
    uint64_t idx = raft__log_last(&r->log) + 1;
    /* Set even if the append fails (no memory): the first entry of this
     * term, whatever it is, will sit at idx, and reads and configuration
     * changes wait until something at or after it commits. */
    r->term_start = idx;
    if (raft__log_append_one(&r->log, r->term, PM_ENTRY_NOOP, NULL, 0) == 0)
        raft__mark_appended(r, idx);
    raft__broadcast_append(r);
    raft__maybe_commit(r);
}

static void record_vote(uint64_t *set, uint32_t *n, uint64_t id)
{
    for (uint32_t i = 0; i < *n; i++)
        if (set[i] == id)
            return;
    if (*n < RAFT_SERVERS_MAX + 1)
        set[(*n)++] = id;
}

/* Could the voters not yet rejecting still form a quorum? */
static int quorum_possible(const struct raft *r)
{
    uint64_t ids[RAFT_SERVERS_MAX];
    size_t n = 0;
    for (uint32_t i = 0; i < r->conf.n; i++) {
        uint64_t id = r->conf.servers[i].id;
        int rej = 0;
        for (uint32_t k = 0; k < r->n_rejected; k++)
            rej |= r->rejected[k] == id;
        if (!rej)
            ids[n++] = id;
    }
    return raft_config_is_quorum(&r->conf, ids, n);
}

static void send_vote_requests(struct raft *r, int pre, int transfer)
{
    for (uint32_t i = 0; i < r->conf.n; i++) {
        const struct raft_server *s = &r->conf.servers[i];
        if (s->id == r->id || s->role != RAFT_VOTER)
            continue;
        /* A vote request follows our own vote for ourselves, which must be
         * durable first (else a crash could let us vote twice in a term);
         * a pre-vote changes no state and may go at once. */
        struct raft_message *m = raft__msg(
            r, !pre, pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE, s->id);
        if (m == NULL)
            continue;
        if (pre)
            m->term = r->term + 1;
        m->last_index = raft__log_last(&r->log);
        m->last_term = raft__log_last_term(&r->log);
        m->transfer = (uint8_t)transfer;
    }
}

/* Thesis §9.6: a pre-candidate first asks whether it could win, without
 * raising its term; only then does it run a real election. */
void raft__campaign(struct raft *r, int pre, int transfer)
{
    leave_leader(r);
    r->n_granted = 0;
    r->n_rejected = 0;
    r->transfer_election = transfer;
    record_vote(r->granted, &r->n_granted, r->id);
    reset_election_timer(r);
    if (pre) {
        r->role = RAFT_PRECANDIDATE;
        r->leader = 0;
        if (raft__self_quorum_with(r, NULL, 0)) {
            raft__campaign(r, 0, 0);
            return;
        }
        send_vote_requests(r, 1, transfer);
        return;
    }
    r->role = RAFT_CANDIDATE;
    r->leader = 0;
    r->term++;
    r->vote = r->id;
    r->hs_changed = 1;
    raft__reads_fail_all(r, -PM_ENOLEADER);
    if (raft__self_quorum_with(r, NULL, 0)) {
        r->term_durable = 0; /* the term/vote above is not on disk yet */
        raft__become_leader(r);
        return;
    }
    send_vote_requests(r, 0, transfer);
}

/* Raft §5.4.1: grant only to a candidate whose log is at least as up to
 * date as ours. */
static int log_ok(const struct raft *r, const struct raft_message *m)
{
    uint64_t lt = raft__log_last_term(&r->log);
    return m->last_term > lt ||
           (m->last_term == lt && m->last_index >= raft__log_last(&r->log));
}

/* Check-quorum's leader lease (thesis §4.2.3): while we hear from a leader,
 * ignore servers trying to start elections, unless the leader itself asked
 * for it (transfer). A leader is always in its own lease; it steps down on
 * its own when it loses its quorum. */
static int in_lease(const struct raft *r)
{
    if (r->role == RAFT_LEADER)
        return 1;
    return r->leader != 0 && r->leader_contact &&
           r->now_ms < r->leader_contact_ms + r->o.election_timeout_ms;
}

int raft__recv_vote(struct raft *r, const struct raft_message *m)
{
    int pre = m->type == RAFT_MSG_PREVOTE;
    int resp_type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP;
    if (m->term > r->term && in_lease(r) && !m->transfer) {
        if (pre) {
            struct raft_message *o = raft__msg(r, 0, (uint8_t)resp_type,
                                               m->from);
            if (o != NULL)
                o->reject = 1;
        }
        return 0;
    }
    if (!pre && m->term > r->term)
        raft__become_follower(r, m->term, 0);

    int grant;
    if (pre)
        grant = m->term > r->term && log_ok(r, m);
    else
        grant = m->term == r->term && (r->vote == 0 || r->vote == m->from) &&
                log_ok(r, m);
    /* Only a voter's opinion matters, but a learner answering does no
     * harm: the candidate counts votes of its configuration's voters. */
    if (grant && !pre) {
        if (r->vote != m->from) {
            r->vote = m->from;
            r->hs_changed = 1;
        }
        reset_election_timer(r);
    }
    /* A vote grant waits until the vote is durable; everything else may go
     * at once. */
    struct raft_message *o =
        raft__msg(r, grant && !pre, (uint8_t)resp_type, m->from);
    if (o != NULL) {
        o->reject = (uint8_t)!grant;
        if (pre && grant)
            o->term = m->term; /* echo the term the candidate would use */
    }
    return 0;
}

int raft__recv_vote_resp(struct raft *r, const struct raft_message *m)
{
    int pre = m->type == RAFT_MSG_PREVOTE_RESP;
    if (pre) {
        if (r->role != RAFT_PRECANDIDATE)
            return 0;
        if (!m->reject && m->term != r->term + 1)
            return 0;
    } else if (r->role != RAFT_CANDIDATE || m->term != r->term) {
        return 0;
    }
    if (raft_config_role(&r->conf, m->from) != RAFT_VOTER)
        return 0;
    if (m->reject)
        record_vote(r->rejected, &r->n_rejected, m->from);
    else
        record_vote(r->granted, &r->n_granted, m->from);
    if (raft_config_is_quorum(&r->conf, r->granted, r->n_granted)) {
        if (pre) {
            raft__campaign(r, 0, r->transfer_election);
        } else {
            /* Our vote requests left only after our term and vote were
             * durable, so the grants prove it. */
            r->term_durable = 1;
            raft__become_leader(r);
        }
    } else if (!quorum_possible(r)) {
        raft__become_follower(r, r->term, 0);
    }
    return 0;
}

/* Thesis §3.10: the leader tells the transfer target to start an election
 * at once, skipping pre-vote; its vote requests carry `transfer` so voters
 * set the leader lease aside. */
int raft__recv_timeout_now(struct raft *r, const struct raft_message *m)
{
    if (r->role == RAFT_LEADER || !raft__can_campaign(r))
        return 0;
    if (r->leader != 0 && m->from != r->leader)
        return 0;
    raft__campaign(r, 0, 1);
    return 0;
}

void raft__tick_election(struct raft *r)
{
    if (!raft__can_campaign(r)) {
        reset_election_timer(r);
        return;
    }
    if (r->now_ms < r->election_deadline_ms)
        return;
    /* A (pre-)candidate whose round timed out starts over with a pre-vote
     * too: that is what keeps a partitioned server's term from rising. */
    raft__campaign(r, 1, 0);
}
