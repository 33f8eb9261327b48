/* members.c: who the node talks to, and the membership changes the leader
 * drives to make the Raft configuration follow the FSM's member list.
 *
 * The FSM's members are the wanted state (a join adds a learner in the same
 * CONFIG entry; `promote` and `remove` are FSM commands). The leader moves
 * the Raft configuration toward it one single-server change at a time
 * (thesis §4.1), and only when the latest configuration is committed:
 *   - a member gone from the FSM leaves the configuration (the leader hands
 *     leadership over first if the member is itself, thesis §4.2.2);
 *   - a learner that is to vote is promoted once it has caught up (thesis
 *     §4.2.1: adding a server that is far behind would stall commits);
 *   - with exactly two voters one of which is the seed, the configuration is
 *     "weighted" (the seed alone is a quorum); entering and leaving that mode
 *     are changes of their own, so every old and new quorum intersect
 *     (raft_config_check_transition decides what is allowed). */
#include "node/node_int.h"

#include "base/err.h"
#include "base/say.h"
#include "fsm/natsconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* A learner this close to the leader's commit index counts as caught up. */
#define NODE_CATCH_UP_SLACK 64

void node_member_peer_addr(const struct fsm_member *m, char *out, size_t len)
{
    if (strchr(m->peer_host, ':') != NULL)
        snprintf(out, len, "[%s]:%u", m->peer_host, m->peer_port);
    else
        snprintf(out, len, "%s:%u", m->peer_host, m->peer_port);
}

void node_member_nats_url(const struct fsm_member *m, char *out, size_t len)
{
    if (strchr(m->nats_host, ':') != NULL)
        snprintf(out, len, "nats://[%s]:%u", m->nats_host, m->nats_client_port);
    else
        snprintf(out, len, "nats://%s:%u", m->nats_host, m->nats_client_port);
}


static void peer_set(struct node *n, uint64_t id, const char *addr,
                     int *seen)
{
    for (size_t i = 0; i < n->n_peers; i++) {
        if (n->peers[i].id != id)
            continue;
        seen[i] = 1;
        if (strcmp(n->peers[i].addr, addr) != 0) {
            snprintf(n->peers[i].addr, sizeof n->peers[i].addr, "%s",
                     addr);
            net_peer_set(n->net, id, addr);
        }
        return;
    }
    if (n->n_peers >= NODE_PEERS_MAX)
        return;
    n->peers[n->n_peers].id = id;
    snprintf(n->peers[n->n_peers].addr, HOME_ADDR_LEN, "%s", addr);
    seen[n->n_peers] = 1;
    n->n_peers++;
    if (net_peer_set(n->net, id, addr) == 0)
        pm_say(PM_INFO, "node", "peer %" PRIu64 " at %s", id, addr);
}

void node_peers_refresh(struct node *n)
{
    int seen[NODE_PEERS_MAX];
    memset(seen, 0, sizeof seen);
    size_t count = fsm_member_count(n->fsm);
    for (size_t i = 0; i < count; i++) {
        const struct fsm_member *m = fsm_member_at(n->fsm, i);
        if (m->id == n->id.node_id)
            continue;
        char addr[HOME_ADDR_LEN];
        node_member_peer_addr(m, addr, sizeof addr);
        peer_set(n, m->id, addr, seen);
    }
    /* Servers still in the Raft configuration but already gone from the
     * FSM are kept until the configuration drops them. */
    const struct raft_config *c = raft_config_latest(n->raft);
    for (uint32_t i = 0; c != NULL && i < c->n; i++)
        for (size_t j = 0; j < n->n_peers; j++)
            if (n->peers[j].id == c->servers[i].id)
                seen[j] = 1;
    if (!fsm_bootstrapped(n->fsm)) {
        /* A fresh joiner: dial whom the join reply named. Only until the
         * mesh state arrives: from then on the FSM's members are the
         * truth, even when this node is the only one left in it (the join
         * reply's peers may have left the mesh long ago; dialing them
         * again was seen when the last other member left). */
        for (int i = 0; i < n->id.n_peers; i++)
            if (n->id.peers[i].id != 0 && n->id.peers[i].id != n->id.node_id)
                peer_set(n, n->id.peers[i].id, n->id.peers[i].addr, seen);
        return;
    }
    for (size_t i = 0; i < n->n_peers;) {
        if (seen[i]) {
            i++;
            continue;
        }
        pm_say(PM_INFO, "node", "forgetting peer %" PRIu64, n->peers[i].id);
        net_peer_remove(n->net, n->peers[i].id);
        n->peers[i] = n->peers[n->n_peers - 1];
        seen[i] = seen[n->n_peers - 1];
        n->n_peers--;
    }
}

int node_propose_cmd(struct node *n, struct fsm_cmd *cmd, uint64_t *index,
                     uint64_t *term, char *err, size_t err_len)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = fsm_cmd_encode(cmd, &buf, &len);
    if (rc != 0)
        return home_fail(err, err_len, rc, "cannot encode the command: %s",
                         pm_strerror(rc));
    rc = node_disk_check(n, len, err, err_len);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    struct raft_event ev = {.type = RAFT_EV_PROPOSE, .now_ms = node_now()};
    ev.propose.data = buf;
    ev.propose.len = (uint32_t)len;
    int src = 0;
    node_step(n, &ev, &src);
    free(buf);
    if (src != 0)
        return home_fail(err, err_len, src, "%s",
                         src == -PM_ENOTLEADER ? "not the leader"
                                               : pm_strerror(src));
    *index = n->proposed_index;
    *term = n->proposed_term;
    return 0;
}

/* Pick the two-voter tie-breaker for CAND: keep the current one while it
 * is a voter that stays a member; else the FSM's seed if it is such a
 * voter; else this node (the leader) if it votes in CAND. */
static uint64_t pick_tiebreaker(const struct node *n,
                                const struct raft_config *cand)
{
    uint64_t ids[3] = {cand->tiebreaker, fsm_seed_id(n->fsm), n->id.node_id};
    for (int i = 0; i < 3; i++)
        if (ids[i] != 0 && raft_config_role(cand, ids[i]) == RAFT_VOTER &&
            fsm_member_by_id(n->fsm, ids[i]) != NULL)
            return ids[i];
    return 0;
}

/* Complete CAND (one server changed from CUR) with the weighted flag:
 * weighted exactly when it has two voters, unless the core refuses that
 * as one step (then the flag is kept, and a later step changes it). */
static int single_change_with_weight(const struct node *n,
                                     const struct raft_config *cur,
                                     struct raft_config *cand)
{
    cand->tiebreaker = pick_tiebreaker(n, cand);
    int two = raft_config_voters(cand) == 2 && cand->tiebreaker != 0;
    cand->forced = 0;
    cand->weighted = (uint8_t)two;
    if (raft_config_check_transition(cur, cand) == 0)
        return 0;
    cand->weighted = cur->weighted && two;
    if (raft_config_check_transition(cur, cand) == 0)
        return 0;
    /* Same servers, old tie-breaker: the core may refuse a moved one. */
    cand->tiebreaker = cur->tiebreaker;
    if (cand->tiebreaker != 0 && raft_config_role(cand, cand->tiebreaker) == 0)
        cand->tiebreaker = 0;
    cand->weighted = cur->weighted && raft_config_voters(cand) == 2 &&
                     cand->tiebreaker != 0 &&
                     raft_config_role(cand, cand->tiebreaker) == RAFT_VOTER;
    if (raft_config_check_transition(cur, cand) == 0)
        return 0;
    return -PM_EINVAL;
}

static void propose_change(struct node *n, const struct raft_config *c,
                           const uint8_t *app, size_t app_len,
                           const char *what)
{
    /* Retried by the next housekeeping step once the disk has room. */
    if (node_disk_check(n, app_len, NULL, 0) != 0)
        return;
    struct raft_event ev = {.type = RAFT_EV_CHANGE, .now_ms = node_now()};
    ev.change.config = c;
    ev.change.app = app;
    ev.change.app_len = (uint32_t)app_len;
    int rc = 0;
    node_step(n, &ev, &rc);
    if (rc == 0)
        pm_say(PM_INFO, "node", "membership: %s (%u voters%s)", what,
               raft_config_voters(c), c->weighted ? ", weighted" : "");
    else if (rc != -PM_EBUSY)
        pm_say(PM_WARN, "node", "membership: %s refused: %s", what,
               pm_strerror(rc));
}

void node_membership_step(struct node *n)
{
    if (!fsm_bootstrapped(n->fsm))
        return;
    struct raft_status st;
    raft_status(n->raft, &st);
    if (st.role != RAFT_LEADER || !st.config_committed ||
        st.transfer_target != 0 || st.commit < st.last_index)
        return;
    const struct raft_config *cur = raft_config_latest(n->raft);
    struct raft_config cand;
    char what[96];
    int removal_waiting = 0;

    /* 1. Servers no longer members leave the configuration. */
    for (uint32_t i = 0; i < cur->n; i++) {
        uint64_t id = cur->servers[i].id;
        if (fsm_member_by_id(n->fsm, id) != NULL)
            continue;
        if (id == n->id.node_id) {
            if (raft_config_voters(cur) < 2) {
                /* Nobody to hand over to yet: a member meant to vote may
                 * still be a learner here (its promotion waits for it to
                 * catch up, step 2). Let that go first; handing over
                 * round after round to no one would keep it waiting for
                 * ever (seen: the leader left right after a replica's
                 * promotion and never stopped). */
                continue;
            }
            if (cur->weighted && cur->tiebreaker == id) {
                /* We are the two-voter tie-breaker: a quorum on our own.
                 * Handing over as such would leave a removed server able
                 * to elect itself alone (after one missed heartbeat of
                 * the successor) and hand over again, round after round.
                 * Leave weighted mode first, as a change of its own; the
                 * hand-over follows once it is committed. */
                cand = *cur;
                cand.weighted = 0;
                cand.forced = 0;
                if (raft_config_check_transition(cur, &cand) == 0) {
                    propose_change(n, &cand, NULL, 0,
                                   "leave two-voter weighted mode before "
                                   "handing over");
                    return;
                }
            }
            struct raft_event ev = {.type = RAFT_EV_TRANSFER,
                                    .now_ms = node_now()};
            ev.transfer.target = 0;
            pm_say(PM_INFO, "node", "removed from the mesh: handing over "
                   "leadership");
            node_step(n, &ev, NULL);
            return;
        }
        /* Let it apply its own removal first (it learns the commit index
         * only while it is in the configuration), so that it stops by
         * itself; a member that is down is removed after a while. */
        uint64_t now = node_now(), match = 0, next = 0;
        size_t slot = 0;
        while (slot < RAFT_SERVERS_MAX && n->gone[slot].id != id &&
               n->gone[slot].id != 0)
            slot++;
        if (slot == RAFT_SERVERS_MAX)
            slot = 0;
        if (n->gone[slot].id != id) {
            n->gone[slot].id = id;
            n->gone[slot].since_ms = now;
            n->gone[slot].index = fsm_applied(n->fsm); /* >= its removal */
        }
        uint64_t waited = now - n->gone[slot].since_ms;
        int caught_up = raft_progress(n->raft, id, &match, &next) == 0 &&
                        match >= n->gone[slot].index;
        if (!(caught_up && waited >= 3 * NODE_HOUSEKEEP_MS) &&
            waited < NODE_REMOVE_WAIT_MS) {
            removal_waiting = 1;
            continue;
        }
        n->gone[slot].id = 0;
        cand = *cur;
        raft_config_remove(&cand, id);
        snprintf(what, sizeof what, "remove %" PRIu64, id);
        if (single_change_with_weight(n, cur, &cand) == 0) {
            propose_change(n, &cand, NULL, 0, what);
            return;
        }
        goto unweight;
    }
    /* 2. Learners meant to vote are promoted once caught up; replicas that
     * vote are demoted (not produced by any command today). */
    for (size_t i = 0; i < fsm_member_count(n->fsm); i++) {
        const struct fsm_member *m = fsm_member_at(n->fsm, i);
        int want = m->role == FSM_ROLE_REPLICA ? RAFT_LEARNER : RAFT_VOTER;
        int have = raft_config_role(cur, m->id);
        if (have == want)
            continue;
        if (have == 0) {
            /* A member the configuration lacks: add it as a learner. */
            cand = *cur;
            if (raft_config_set(&cand, m->id, RAFT_LEARNER) != 0)
                continue;
            snprintf(what, sizeof what, "add %s as learner", m->name);
            if (single_change_with_weight(n, cur, &cand) == 0) {
                propose_change(n, &cand, NULL, 0, what);
                return;
            }
            continue;
        }
        if (want == RAFT_VOTER) {
            uint64_t match = 0, next = 0;
            /* Caught up: it holds the latest configuration (its own
             * addition at least) and is close to the commit index. */
            if (raft_progress(n->raft, m->id, &match, &next) != 0 ||
                match < st.config_index ||
                match + NODE_CATCH_UP_SLACK < st.commit)
                continue; /* not caught up yet */
        }
        cand = *cur;
        raft_config_set(&cand, m->id, want);
        snprintf(what, sizeof what, "%s %s", want == RAFT_VOTER ? "promote"
                                                                : "demote",
                 m->name);
        if (single_change_with_weight(n, cur, &cand) != 0)
            goto unweight;
        /* A learner that joined to vote gets its FSM role with the same
         * entry; a promoted replica already has it. */
        uint8_t *blob = NULL;
        size_t blob_len = 0;
        if (want == RAFT_VOTER && m->role == FSM_ROLE_LEARNER) {
            struct fsm_cmd cmd;
            memset(&cmd, 0, sizeof cmd);
            cmd.type = FSM_CMD_MEMBER_PROMOTE;
            cmd.proposer = n->id.node_id;
            cmd.time_ms = net_wall_ms();
            cmd.member_id = m->id;
            if (fsm_cmd_encode(&cmd, &blob, &blob_len) != 0)
                return;
        }
        propose_change(n, &cand, blob, blob_len, what);
        free(blob);
        return;
    }
    /* 3. No server to change: enter or leave the weighted two-voter mode --
     * not while a removal waits (it may need weighted mode left). */
    if (removal_waiting)
        return;
    cand = *cur;
    if (single_change_with_weight(n, cur, &cand) == 0 &&
        cand.weighted != cur->weighted) {
        snprintf(what, sizeof what, "%s two-voter weighted mode",
                 cand.weighted ? "enter" : "leave");
        propose_change(n, &cand, NULL, 0, what);
    }
    return;
unweight:
    if (cur->weighted) {
        cand = *cur;
        cand.weighted = 0;
        cand.forced = 0;
        if (raft_config_check_transition(cur, &cand) == 0)
            propose_change(n, &cand, NULL, 0,
                           "leave two-voter weighted mode");
    }
}

void node_js_peers_sync(struct node *n)
{
    char now[RAFT_SERVERS_MAX][FSM_NAME_MAX + 1];
    size_t n_now = 0, count = fsm_member_count(n->fsm);
    int me_voter = 0;
    for (size_t i = 0; i < count; i++) {
        const struct fsm_member *m = fsm_member_at(n->fsm, i);
        if (m->role != FSM_ROLE_VOTER || n_now == RAFT_SERVERS_MAX)
            continue;
        me_voter = me_voter || m->id == n->id.node_id;
        snprintf(now[n_now++], FSM_NAME_MAX + 1, "%s", m->name);
    }
    if (n->js_known && n->natsd != NULL) {
        char pw[FSM_NATSCONF_PASSWORD_LEN + 1];
        const uint8_t *secret = fsm_secret(n->fsm);
        int have_pw = me_voter && n_now >= 3 && secret != NULL &&
                      fsm_natsconf_sys_password(secret, 32, pw) == 0;
        for (size_t i = 0; i < n->n_js_voters; i++) {
            const char *name = n->js_voters[i];
            size_t j = 0;
            while (j < n_now && strcmp(now[j], name) != 0)
                j++;
            if (j < n_now || !have_pw)
                continue;
            int rc = natsd_js_remove_peer(n->natsd, name,
                                          FSM_NATSCONF_SYS_USER, pw);
            if (rc != 0)
                pm_say(PM_WARN, "node", "cannot ask to drop %s from the "
                       "JetStream meta group: %s", name, pm_strerror(rc));
        }
        sodium_memzero(pw, sizeof pw);
        for (size_t j = 0; j < n_now; j++) {
            size_t i = 0;
            while (i < n->n_js_voters && strcmp(n->js_voters[i], now[j]) != 0)
                i++;
            if (i == n->n_js_voters) /* new, or back: never removed now */
                (void)natsd_js_remove_cancel(n->natsd, now[j]);
        }
    }
    memcpy(n->js_voters, now, sizeof now[0] * n_now);
    n->n_js_voters = n_now;
    n->js_known = 1;
}
