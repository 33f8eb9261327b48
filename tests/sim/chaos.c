/* chaos.c: what happens to the cluster: faults (partitions, crashes, a
 * learner away for long), membership churn, forced recovery, leadership
 * transfers, compaction, and the clients' proposals and ReadIndex reads.
 * Every choice comes from the run's one PRNG. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "sim.h"

int sim_leader_slot(const struct sim *s)
{
    int best = -1;
    for (int i = 0; i < SIM_SLOTS; i++) {
        const struct sim_node *n = &s->nodes[i];
        if (!n->used || !n->up || n->role != RAFT_LEADER)
            continue;
        if (best < 0 || n->term > s->nodes[best].term)
            best = i;
    }
    return best;
}

static int pick_up(struct sim *s, int voters_only)
{
    int cand[SIM_SLOTS], k = 0;
    for (int i = 0; i < SIM_SLOTS; i++) {
        const struct sim_node *n = &s->nodes[i];
        if (!n->used || !n->up || n->gone)
            continue;
        if (voters_only) {
            const struct raft_config *c = raft_config_latest(n->r);
            if (raft_config_role(c, n->id) != RAFT_VOTER)
                continue;
        }
        cand[k++] = i;
    }
    return k ? cand[sim_rng_below(&s->rng, k)] : -1;
}

static int free_slot(const struct sim *s)
{
    for (int i = 0; i < SIM_SLOTS; i++)
        if (!s->nodes[i].used)
            return i;
    /* Reuse the slot of a node that is gone for good. */
    for (int i = 0; i < SIM_SLOTS; i++)
        if (s->nodes[i].gone && !s->nodes[i].up)
            return i;
    return -1;
}

/* --- clients ----------------------------------------------------------------- */

static void client_read(struct sim *s)
{
    int slot = pick_up(s, 0);
    if (slot < 0)
        return;
    sim_client_read_at(s, slot);
}

void sim_client_read_at(struct sim *s, int slot)
{
    struct sim_node *n = &s->nodes[slot];
    if (n->n_reads >= SIM_READS_MAX)
        return;
    struct sim_read *rd = &n->reads[n->n_reads++];
    memset(rd, 0, sizeof(*rd));
    rd->rid = ++s->next_rid;
    rd->wm = s->ack_max; /* every write acked so far must be visible */
    struct raft_event e = {.type = RAFT_EV_READ_INDEX, .now_ms = s->now_ms};
    e.read.id = rd->rid;
    uint64_t rid = rd->rid;
    int rc = sim_node_step(s, slot, &e, NULL, NULL);
    if (rc != 0) {
        for (int i = 0; i < n->n_reads; i++)
            if (n->reads[i].rid == rid) {
                n->reads[i] = n->reads[--n->n_reads];
                break;
            }
    }
}

/* A node that believes it leads, of any term: clients that still talk to a
 * deposed or partitioned leader make the divergent log tails that the
 * conflict rules (Figure 7/8 of the Raft paper) exist for. */
static int pick_any_leader(struct sim *s)
{
    int cand[SIM_SLOTS], k = 0;
    for (int i = 0; i < SIM_SLOTS; i++)
        if (s->nodes[i].used && s->nodes[i].up &&
            s->nodes[i].role == RAFT_LEADER)
            cand[k++] = i;
    return k ? cand[sim_rng_below(&s->rng, k)] : -1;
}

static void client_propose(struct sim *s)
{
    int slot = s->healed ? sim_leader_slot(s) : pick_any_leader(s);
    if (slot < 0 || (!s->healed && sim_rng_ppm(&s->rng, 100000)))
        slot = pick_up(s, 0);
    if (slot < 0)
        return;
    struct sim_node *n = &s->nodes[slot];
    if (n->n_props >= SIM_PROPS_MAX)
        return;
    enum { BATCH_MAX = 8 };
    uint8_t buf[BATCH_MAX][9 + 256];
    const uint8_t *payloads[BATCH_MAX];
    uint32_t lens[BATCH_MAX];
    uint64_t pids[BATCH_MAX];
    int keys[BATCH_MAX];
    uint32_t nb = 1;
    if (!s->healed && sim_rng_ppm(&s->rng, s->p.batch_ppm))
        nb = (uint32_t)sim_rng_range(&s->rng, 1, BATCH_MAX);
    if (n->n_props + (int)nb > SIM_PROPS_MAX) {
        if (!s->healed)
            return;
        n->n_props = 0; /* the clients gave up on those: time out, retry */
    }
    for (uint32_t b = 0; b < nb; b++) {
        uint32_t len = 9 + (uint32_t)sim_rng_below(&s->rng, 48);
        if (sim_rng_ppm(&s->rng, 50000))
            len = 9 + 256;
        keys[b] = (int)sim_rng_below(&s->rng, SIM_KEYS);
        pids[b] = ++s->next_pid;
        buf[b][0] = (uint8_t)keys[b];
        memcpy(buf[b] + 1, &pids[b], 8);
        for (uint32_t i = 9; i < len; i++)
            buf[b][i] = (uint8_t)(pids[b] + i);
        payloads[b] = buf[b];
        lens[b] = len;
    }
    struct raft_event e = {.now_ms = s->now_ms};
    if (nb == 1 && sim_rng_ppm(&s->rng, 800000)) {
        e.type = RAFT_EV_PROPOSE;
        e.propose.data = buf[0];
        e.propose.len = lens[0];
    } else {
        /* The host's group commit: several client requests, one event. */
        e.type = RAFT_EV_PROPOSE_BATCH;
        e.batch.payloads = payloads;
        e.batch.lens = lens;
        e.batch.n = nb;
    }
    uint64_t idx, term;
    int rc = sim_node_step(s, slot, &e, &idx, &term);
    if (rc == 0 && idx) {
        if (!n->up || n->n_props + (int)nb > SIM_PROPS_MAX)
            return;
        for (uint32_t b = 0; b < nb; b++)
            n->props[n->n_props++] =
                (struct sim_prop){idx + b, term, pids[b], keys[b]};
    } else if (rc == -PM_EINVAL) {
        sim_fail(s, "n%" PRIu64 ": rejected a valid proposal: %s", n->id,
                 pm_strerror(rc));
    }
}

/* What a host does when it answers a proposal a follower forwarded: tell
 * that follower the commit index at once (RAFT_EV_NOTIFY_COMMIT), here
 * after every fourth proposal, to a node picked by the proposal count (0:
 * every follower). Drawn without the RNG, so the other draws of a seed
 * stay as they were; only seeds with commit_notice_ms set. */
static void notify_commit(struct sim *s)
{
    int l = sim_leader_slot(s);
    if (s->p.notice_ms == 0 || l < 0 || s->next_pid % 4 != 0)
        return;
    int to = (int)(s->next_pid / 4 % (SIM_SLOTS + 1));
    struct raft_event e = {.type = RAFT_EV_NOTIFY_COMMIT, .now_ms = s->now_ms};
    e.notify.to = to < SIM_SLOTS && s->nodes[to].used ? s->nodes[to].id : 0;
    sim_node_step(s, l, &e, NULL, NULL);
}

void sim_client(struct sim *s)
{
    if (s->healed) {
        /* Liveness phase: one new write must commit; then the target (every
         * acknowledged write applied everywhere) stops moving. */
        if (s->n_acks == s->heal_acks)
            client_propose(s);
        sim_push(s, s->now_ms + 20, SIM_EV_CLIENT, -1, 0, NULL);
        return;
    }
    if (sim_rng_ppm(&s->rng, s->p.read_ppm))
        client_read(s);
    else
        client_propose(s);
    notify_commit(s);
    sim_push(s, s->now_ms + sim_rng_range(&s->rng, s->p.client_min_ms,
                                          s->p.client_max_ms),
             SIM_EV_CLIENT, -1, 0, NULL);
}

/* --- membership ---------------------------------------------------------------- */

/* Stop nodes a committed configuration no longer names. */
static void stop_removed(struct sim *s)
{
    int l = sim_leader_slot(s);
    if (l < 0)
        return;
    struct raft_status st;
    raft_status(s->nodes[l].r, &st);
    if (!st.config_committed)
        return;
    /* A copy: the leader itself may be the one stopped below. */
    const struct raft_config cfg = *raft_config_latest(s->nodes[l].r);
    for (int i = 0; i < SIM_SLOTS; i++) {
        struct sim_node *n = &s->nodes[i];
        if (!n->used || n->gone)
            continue;
        int role = raft_config_role(&cfg, n->id);
        if (n->joining) {
            if (role)
                n->joining = 0;
            continue;
        }
        if (role == 0) {
            sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64
                      " removed from the configuration: stopped",
                      s->now_ms, n->id);
            sim_node_crash(s, i, "removed");
            n->gone = 1;
        }
    }
}

static int propose_config(struct sim *s, int l, const struct raft_config *c,
                          int expect_ok)
{
    struct sim_node *n = &s->nodes[l];
    static const uint8_t app[] = "sim-member";
    struct raft_event e = {.type = RAFT_EV_CHANGE, .now_ms = s->now_ms};
    e.change.config = c;
    e.change.app = app;
    e.change.app_len = sizeof(app) - 1;
    uint32_t voters = raft_config_voters(c);
    int rc = sim_node_step(s, l, &e, NULL, NULL);
    sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " CHANGE -> %u servers %u "
              "voters%s: %s", s->now_ms, n->id, c->n, voters,
              c->weighted ? " weighted" : "", rc ? pm_strerror(rc) : "ok");
    if (rc == 0) {
        s->st.changes++;
        if (!expect_ok)
            sim_fail(s, "n%" PRIu64 ": accepted an unsafe configuration "
                     "change (%u voters%s)", n->id, voters,
                     c->weighted ? ", weighted" : "");
    } else {
        s->st.changes_rejected++;
        if (expect_ok && rc == -PM_EINVAL)
            sim_fail(s, "n%" PRIu64 ": refused a safe configuration change "
                     "(%u servers, %u voters%s): %s", n->id, c->n, voters,
                     c->weighted ? ", weighted" : "", pm_strerror(rc));
    }
    return rc;
}

static int start_joiner(struct sim *s)
{
    int slot = free_slot(s);
    if (slot < 0)
        return -1;
    if (s->nodes[slot].used) {
        disk_free(&s->nodes[slot].disk);
        chk_log_free(&s->nodes[slot].log);
    }
    uint64_t id = s->next_id++;
    sim_node_start(s, slot, id, NULL);
    s->nodes[slot].joining = 1;
    sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " started to join",
              s->now_ms, id);
    return slot;
}

static void churn(struct sim *s)
{
    stop_removed(s);
    int l = sim_leader_slot(s);
    if (l < 0)
        return;
    struct sim_node *ln = &s->nodes[l];
    struct raft_status st;
    raft_status(ln->r, &st);
    const struct raft_config *cur = raft_config_latest(ln->r);
    struct raft_config cand[3 * RAFT_SERVERS_MAX + 4];
    int ok[3 * RAFT_SERVERS_MAX + 4];
    int k = 0;
    uint32_t voters = raft_config_voters(cur);

    /* Add a joiner (start one if none waits) as a learner. */
    int joiner = -1;
    for (int i = 0; i < SIM_SLOTS; i++)
        if (s->nodes[i].used && s->nodes[i].up && s->nodes[i].joining &&
            !raft_config_role(cur, s->nodes[i].id))
            joiner = i;
    if (joiner < 0 && cur->n < SIM_SLOTS - 1 && sim_rng_ppm(&s->rng, 300000))
        joiner = start_joiner(s);
    if (joiner >= 0 && cur->n < RAFT_SERVERS_MAX) {
        cand[k] = *cur;
        raft_config_set(&cand[k], s->nodes[joiner].id, RAFT_LEARNER);
        k++;
    }
    const int cand_max = (int)(sizeof(cand) / sizeof(cand[0]));
    for (uint32_t i = 0; i < cur->n && k < cand_max - 3; i++) {
        const struct raft_server *sv = &cur->servers[i];
        int slot = sim_slot_of(s, sv->id);
        if (sv->role == RAFT_LEARNER) {
            /* Promote a learner that is up and caught up; remove one. */
            uint64_t match = 0, next = 0;
            raft_progress(ln->r, sv->id, &match, &next);
            if (slot >= 0 && s->nodes[slot].up && voters < SIM_VOTERS_MAX &&
                match + 4 >= st.commit) {
                cand[k] = *cur;
                raft_config_set(&cand[k], sv->id, RAFT_VOTER);
                k++;
            }
            cand[k] = *cur;
            raft_config_remove(&cand[k], sv->id);
            k++;
        } else if (sv->id != cur->tiebreaker && voters > 1) {
            /* Demote or remove a voter (the seed stays, as in a mesh). */
            cand[k] = *cur;
            raft_config_set(&cand[k], sv->id, RAFT_LEARNER);
            k++;
            cand[k] = *cur;
            raft_config_remove(&cand[k], sv->id);
            k++;
        }
    }
    if (voters == 2 && cur->tiebreaker &&
        raft_config_role(cur, cur->tiebreaker) == RAFT_VOTER) {
        cand[k] = *cur;
        cand[k].weighted = !cur->weighted;
        k++;
    }
    int n_ok = 0, n_bad = 0;
    for (int i = 0; i < k; i++) {
        cand[i].forced = 0;
        ok[i] = raft_config_check_transition(cur, &cand[i]) == 0;
        n_ok += ok[i];
        n_bad += !ok[i];
    }
    /* Mostly safe changes; now and then an unsafe one the core must refuse
     * (e.g. weighted {S,B} -> {S,B,C}, whose quorums {S} and {B,C} do not
     * intersect). */
    int want_bad = n_bad > 0 && sim_rng_ppm(&s->rng, 100000);
    int pool = want_bad ? n_bad : n_ok;
    if (pool == 0)
        return;
    int pick = (int)sim_rng_below(&s->rng, pool);
    for (int i = 0; i < k; i++) {
        if (ok[i] == want_bad)
            continue;
        if (pick-- == 0) {
            propose_config(s, l, &cand[i], !want_bad);
            return;
        }
    }
}

/* --- forced recovery ----------------------------------------------------------- */

/* The tie-breaker of a weighted two-voter configuration is lost for good;
 * the operator forces recovery on the survivor. Entries committed by the
 * tie-breaker alone may be lost by design: the checker forks its history at
 * the survivor's matching prefix, and nodes that already committed past it
 * are retired (they must never come back with that state). */
void sim_force_recover(struct sim *s, int b)
{
    struct sim_node *n = &s->nodes[b];
    if (!n->up)
        sim_node_restart(s, b);
    if (!n->up || s->failed)
        return;
    uint64_t top = n->log.last < s->chk.committed ? n->log.last
                                                   : s->chk.committed;
    uint64_t keep = n->log.base_index;
    for (uint64_t i = top; i > n->log.base_index; i--) {
        uint64_t t, eh, ph;
        struct chk_commit rec;
        chk_log_get(&n->log, i, &t, &eh, &ph);
        if (chk_get(&s->chk, i, &rec) && rec.phash == ph) {
            keep = i;
            break;
        }
    }
    struct raft_event e = {.type = RAFT_EV_FORCE_RECOVER, .now_ms = s->now_ms};
    /* The operator gives the highest term any surviving server reports. */
    for (int i = 0; i < SIM_SLOTS; i++) {
        const struct sim_node *o = &s->nodes[i];
        if (!o->used || o->gone)
            continue;
        uint64_t t = o->up ? o->term : o->disk.term;
        if (t > e.force.term_floor)
            e.force.term_floor = t;
    }
    sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " FORCE RECOVER (keeps "
              "committed history up to %" PRIu64 " of %" PRIu64 ")",
              s->now_ms, n->id, keep, s->chk.committed);
    chk_fork(&s->chk, keep);
    for (int i = 0; i < SIM_SLOTS; i++) {
        struct sim_node *o = &s->nodes[i];
        if (i == b || !o->used || o->gone)
            continue;
        o->n_reads = 0;
        if (o->commit > keep || o->fsm.applied > keep || o->disk.commit > keep ||
            o->disk.fsm.applied > keep) {
            sim_node_crash(s, i, "retired by forced recovery");
            o->gone = 1;
        }
    }
    n->n_reads = 0;
    chk_pairs_reset(&s->chk);
    for (int i = 0; i < SIM_SLOTS; i++) {
        struct sim_node *o = &s->nodes[i];
        if (!o->used || o->gone)
            continue;
        for (uint64_t x = o->log.base_index + 1; x <= o->log.last; x++) {
            uint64_t t, eh, ph;
            chk_log_get(&o->log, x, &t, &eh, &ph);
            if (chk_pair(&s->chk, x, t, ph) != 0) {
                sim_fail(s, "n%" PRIu64 ": %s (surviving logs at the fork)",
                         o->id, s->chk.msg);
                return;
            }
        }
    }
    /* Writes acknowledged above the fork were given up with the seed. */
    uint64_t j = 0;
    s->ack_max = 0;
    for (uint64_t i = 0; i < s->n_acks; i++) {
        if (s->acks[i].index > keep)
            continue;
        s->acks[j++] = s->acks[i];
        if (s->acks[i].index > s->ack_max)
            s->ack_max = s->acks[i].index;
    }
    s->n_acks = j;
    uint64_t idx, term;
    int rc = sim_node_step(s, b, &e, &idx, &term);
    if (rc != 0)
        sim_fail(s, "n%" PRIu64 ": forced recovery refused: %s", n->id,
                 pm_strerror(rc));
    s->st.forced++;
}

/* A forced recovery that a crash undid before it was durable leaves the
 * survivor in the old configuration with a dead tie-breaker: the operator
 * runs it again. */
static void reforce(struct sim *s)
{
    if (s->force_victim == 0)
        return;
    uint64_t victim = s->force_victim;
    for (int b = 0; b < SIM_SLOTS; b++) {
        struct sim_node *n = &s->nodes[b];
        if (!n->used || !n->up || n->gone)
            continue;
        const struct raft_config *c = raft_config_latest(n->r);
        if (c->tiebreaker == victim && raft_config_voters(c) == 2 &&
            raft_config_role(c, n->id) == RAFT_VOTER &&
            n->role != RAFT_LEADER) {
            sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " forced recovery "
                      "was lost in a crash: run it again", s->now_ms, n->id);
            sim_force_recover(s, b);
            return;
        }
    }
}

static void maybe_force(struct sim *s)
{
    if (s->force_victim)
        return;
    for (int b = 0; b < SIM_SLOTS; b++) {
        struct sim_node *n = &s->nodes[b];
        if (!n->used || !n->up || n->gone)
            continue;
        const struct raft_config *c = raft_config_latest(n->r);
        if (!c->weighted || raft_config_voters(c) != 2 ||
            c->tiebreaker == n->id ||
            raft_config_role(c, n->id) != RAFT_VOTER)
            continue;
        int tb = sim_slot_of(s, c->tiebreaker);
        if (tb < 0)
            return;
        sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64
                  " (tie-breaker) LOST FOR GOOD", s->now_ms, c->tiebreaker);
        sim_node_crash(s, tb, "lost for good");
        sim_purge_from(s, tb);
        s->nodes[tb].gone = 1;
        s->force_victim = c->tiebreaker;
        sim_force_recover(s, b);
        return;
    }
}

/* --- faults ----------------------------------------------------------------- */

static void partition(struct sim *s)
{
    int a = sim_rng_ppm(&s->rng, 400000) ? sim_leader_slot(s) : -1;
    if (a < 0)
        a = pick_up(s, 0);
    if (a < 0)
        return;
    s->st.partitions++;
    switch (sim_rng_below(&s->rng, 4)) {
    case 0: /* isolate one node both ways */
        for (int i = 0; i < SIM_SLOTS; i++)
            s->blocked[a][i] = s->blocked[i][a] = 1;
        sim_trace(&s->trace, "t=%" PRIu64 " PARTITION isolate n%" PRIu64,
                  s->now_ms, s->nodes[a].id);
        break;
    case 1: /* a node can send but not receive (one-way) */
        for (int i = 0; i < SIM_SLOTS; i++)
            s->blocked[i][a] = 1;
        sim_trace(&s->trace, "t=%" PRIu64 " PARTITION n%" PRIu64
                  " deaf (one-way)", s->now_ms, s->nodes[a].id);
        break;
    case 2: { /* split into two random groups */
        uint8_t side[SIM_SLOTS];
        for (int i = 0; i < SIM_SLOTS; i++)
            side[i] = (uint8_t)sim_rng_below(&s->rng, 2);
        for (int i = 0; i < SIM_SLOTS; i++)
            for (int j = 0; j < SIM_SLOTS; j++)
                if (side[i] != side[j])
                    s->blocked[i][j] = 1;
        sim_trace(&s->trace, "t=%" PRIu64 " PARTITION split", s->now_ms);
        break;
    }
    default: { /* one link, one way */
        int b = pick_up(s, 0);
        if (b >= 0 && b != a) {
            s->blocked[a][b] = 1;
            sim_trace(&s->trace, "t=%" PRIu64 " PARTITION link n%" PRIu64
                      "->n%" PRIu64 " cut", s->now_ms, s->nodes[a].id,
                      s->nodes[b].id);
        }
        break;
    }
    }
}

static void heal_links(struct sim *s)
{
    memset(s->blocked, 0, sizeof(s->blocked));
    sim_trace(&s->trace, "t=%" PRIu64 " network healed", s->now_ms);
}

void sim_chaos(struct sim *s)
{
    const struct sim_profile *p = &s->p;
    sim_push(s, s->now_ms + sim_rng_range(&s->rng, p->chaos_min_ms,
                                          p->chaos_max_ms),
             SIM_EV_CHAOS, -1, 0, NULL);
    for (int i = 0; i < SIM_SLOTS; i++) {
        struct sim_node *n = &s->nodes[i];
        if (n->used && !n->up && !n->gone && n->restart_at &&
            n->restart_at <= s->now_ms) {
            n->away = 0;
            sim_node_restart(s, i);
        }
    }
    if (sim_rng_ppm(&s->rng, p->crash_ppm)) {
        /* Leaders half of the time: their unsynced writes and in-flight
         * commits are where the interesting histories are. */
        int v = sim_rng_ppm(&s->rng, 500000) ? sim_leader_slot(s) : -1;
        if (v < 0)
            v = pick_up(s, 0);
        if (v >= 0) {
            sim_node_crash(s, v, "fault");
            s->nodes[v].restart_at =
                s->now_ms + sim_rng_range(&s->rng, 10, 1500);
        }
    }
    if (sim_rng_ppm(&s->rng, p->away_ppm)) {
        int v = pick_up(s, 0);
        if (v >= 0 && s->nodes[v].role != RAFT_LEADER) {
            const struct raft_config *c = raft_config_latest(s->nodes[v].r);
            if (raft_config_role(c, s->nodes[v].id) == RAFT_LEARNER) {
                sim_node_crash(s, v, "learner away");
                s->nodes[v].away = 1;
                s->nodes[v].restart_at =
                    s->now_ms + sim_rng_range(&s->rng, 1500, 6000);
            }
        }
    }
    if (sim_rng_ppm(&s->rng, p->partition_ppm))
        partition(s);
    if (sim_rng_ppm(&s->rng, p->heal_ppm))
        heal_links(s);
    if (sim_rng_ppm(&s->rng, p->churn_ppm))
        churn(s);
    else
        stop_removed(s);
    if (sim_rng_ppm(&s->rng, p->compact_ppm)) {
        int v = pick_up(s, 0);
        if (v >= 0)
            sim_compact(s, v);
    }
    if (sim_rng_ppm(&s->rng, p->transfer_ppm)) {
        int l = sim_leader_slot(s);
        if (l >= 0) {
            struct raft_event e = {.type = RAFT_EV_TRANSFER,
                                   .now_ms = s->now_ms};
            e.transfer.target = 0;
            sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " TRANSFER",
                      s->now_ms, s->nodes[l].id);
            if (sim_node_step(s, l, &e, NULL, NULL) == 0)
                s->st.transfers++;
        }
    }
    if (sim_rng_ppm(&s->rng, p->campaign_ppm)) {
        int v = pick_up(s, 1);
        if (v >= 0) {
            struct raft_event e = {.type = RAFT_EV_CAMPAIGN,
                                   .now_ms = s->now_ms};
            sim_node_step(s, v, &e, NULL, NULL);
        }
    }
    if (sim_rng_ppm(&s->rng, p->force_ppm))
        maybe_force(s);
    reforce(s);
    if (sim_rng_ppm(&s->rng, p->pause_ppm)) {
        /* A process pause (GC, VM stall), leaders preferred: the others may
         * move on to a new term; a client read that was waiting in its
         * socket is the first thing the resumed process handles, before it
         * hears of the new term. Only a quorum round keeps that read safe. */
        int v = sim_rng_ppm(&s->rng, 500000) ? sim_leader_slot(s) : -1;
        if (v < 0)
            v = pick_up(s, 0);
        if (v >= 0) {
            struct sim_node *n = &s->nodes[v];
            n->paused_until = s->now_ms + sim_rng_range(&s->rng, 50, 1500);
            sim_trace(&s->trace, "t=%" PRIu64 " n%" PRIu64 " PAUSED until %"
                      PRIu64, s->now_ms, n->id, n->paused_until);
            sim_push(s, n->paused_until, SIM_EV_CLIENT, v, n->gen, NULL);
        }
    }
}

/* Liveness with failures the configuration is meant to survive: a minority
 * of the voters stays down (plain majority), or, with two voters in
 * weighted mode, the non-seed voter: the seed must then commit alone. */
static void hold_minority_down(struct sim *s)
{
    /* Every server's latest configuration (committed or not) may be the
     * one that decides: the allowance is the smallest minority of them,
     * and a server held down must be a voter in all of them. */
    /* Copies: crashing a node below frees its core and what it lent. */
    struct raft_config cs[SIM_SLOTS];
    int nc = 0, weighted = 0, plain = 0;
    uint32_t allowed = UINT32_MAX;
    for (int i = 0; i < SIM_SLOTS; i++) {
        struct sim_node *n = &s->nodes[i];
        if (!n->used || !n->up || n->gone)
            continue;
        const struct raft_config *c = raft_config_latest(n->r);
        if (raft_config_voters(c) == 0)
            continue; /* a joiner that knows no configuration yet */
        cs[nc++] = *c;
        uint32_t a = c->weighted ? 1 : (raft_config_voters(c) - 1) / 2;
        if (a < allowed)
            allowed = a;
        weighted += c->weighted;
        plain += !c->weighted;
    }
    if (nc == 0 || (weighted && plain))
        return;
    uint32_t down = 0;
    const struct raft_config *c0 = &cs[0];
    for (uint32_t k = 0; k < c0->n && down < allowed; k++) {
        uint64_t id = c0->servers[k].id;
        int slot = sim_slot_of(s, id), ok = slot >= 0 && !s->nodes[slot].gone;
        for (int j = 0; j < nc && ok; j++)
            ok = raft_config_role(&cs[j], id) == RAFT_VOTER &&
                 !(cs[j].weighted && cs[j].tiebreaker == id);
        if (!ok || !sim_rng_ppm(&s->rng, 600000))
            continue;
        sim_node_crash(s, slot, "held down for the liveness phase");
        s->nodes[slot].held_down = 1;
        down++;
    }
    if (down)
        sim_trace(&s->trace, "t=%" PRIu64 " liveness with %u voters down%s",
                  s->now_ms, down,
                  weighted ? " (weighted: the seed commits alone)" : "");
}

/* Liveness phase: every fault stops and every node that may come back does. */
void sim_heal(struct sim *s)
{
    s->healed = 1;
    heal_links(s);
    for (int i = 0; i < SIM_SLOTS; i++) {
        struct sim_node *n = &s->nodes[i];
        if (n->used && !n->up && !n->gone)
            sim_node_restart(s, i);
    }
    reforce(s);
    if (sim_rng_ppm(&s->rng, 500000))
        hold_minority_down(s);
}
