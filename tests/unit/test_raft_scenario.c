/* test_raft_scenario.c: whole-cluster scenarios on the in-test harness:
 * small meshes (1, 2 weighted, 3 voters), growth and shrinking, failures,
 * forced recovery, leadership transfer, learners catching up by snapshot,
 * and ReadIndex across a leader change. */
#include <stdio.h>
#include "test_raft_harness.h"

static uint64_t commit_value(struct harness *h, uint64_t v, uint32_t mask)
{
    int l = h_wait_leader(h, 3000);
    assert_true(l >= 0);
    uint64_t idx, term;
    int rc = h_propose(h, l, v, &idx, &term);
    /* A leadership transfer in progress refuses proposals for a moment. */
    for (int k = 0; k < 100 && (rc == -PM_EBUSY || rc == -PM_ENOTLEADER);
         k++) {
        h_run(h, 10);
        l = h_wait_leader(h, 3000);
        assert_true(l >= 0);
        rc = h_propose(h, l, v, &idx, &term);
    }
    if (rc != 0 || !h_wait_applied(h, mask, idx, term, 2000)) {
        for (int i = 0; i < h->n; i++) {
            struct raft_status st;
            if (!h->nodes[i].up) {
                fprintf(stderr, "node %d down\n", i);
                continue;
            }
            raft_status(h->nodes[i].r, &st);
            fprintf(stderr, "node %d role %d term %lu leader %lu commit %lu "
                    "last %lu persisted %lu applied %lu fsm %lu transfer %lu "
                    "jobs %zu\n", i, st.role, st.term, st.leader, st.commit,
                    st.last_index, st.persisted, st.applied,
                    h->nodes[i].applied, st.transfer_target,
                    h->nodes[i].n_jobs);
        }
        fail_msg("commit of %lu failed: rc %d, leader %d", v, rc, l);
    }
    return idx;
}

static void one_voter_commits_alone(void **state)
{
    (void)state;
    struct harness h;
    h_init(&h, 1, 1, 1, 0, 0);
    h_start(&h);
    int l = h_wait_leader(&h, 1000);
    assert_int_equal(l, 0);
    for (uint64_t v = 1; v <= 20; v++)
        commit_value(&h, v, 1);
    assert_int_equal(h.nodes[0].value, 20);
    h_free(&h);
}

static void three_voters_elect_and_replicate(void **state)
{
    (void)state;
    struct harness h;
    h_init(&h, 3, 3, 3, 0, 0);
    h_start(&h);
    int l = h_wait_leader(&h, 3000);
    assert_true(l >= 0);
    for (uint64_t v = 1; v <= 50; v++)
        commit_value(&h, v, 7);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h.nodes[i].value, 50);
    h_free(&h);
}


static struct raft_config cfg_of(const struct harness *h, int i)
{
    return *raft_config_latest(h->nodes[i].r);
}

/* Apply one membership change at the leader and wait until it commits on
 * the nodes in MASK, committing a value afterwards to show progress. */
static void change_and_commit(struct harness *h, const struct raft_config *c,
                              uint32_t mask, uint64_t v)
{
    int l = h_wait_leader(h, 3000);
    assert_true(l >= 0);
    int rc = -PM_EAGAIN;
    /* A promotion waits until the learner has caught up (-PM_EAGAIN). */
    for (int tries = 0; tries < 200 && rc == -PM_EAGAIN; tries++) {
        rc = h_change(h, l, c);
        if (rc == -PM_EAGAIN || rc == -PM_EBUSY) {
            rc = -PM_EAGAIN;
            h_run(h, 10);
        }
    }
    assert_int_equal(rc, 0);
    commit_value(h, v, mask);
    for (int i = 0; i < h->n; i++) {
        if (!(mask & (1u << i)))
            continue;
        struct raft_config got = cfg_of(h, i);
        assert_int_equal(got.n, c->n);
        assert_int_equal(got.weighted, c->weighted);
        for (uint32_t k = 0; k < c->n; k++)
            assert_int_equal(raft_config_role(&got, c->servers[k].id),
                             raft_config_role(c, c->servers[k].id));
    }
}

/* Issue scenario: 1 -> 2 -> 3 voters, proposals committing throughout. The
 * two-voter step enters weighted mode and leaves it before the third voter
 * is added (weighted {S,B} -> plain {S,B} -> {S,B,C}). */
static void growth_one_two_three_voters_commits_throughout(void **state)
{
    (void)state;
    struct harness h;
    h_init(&h, 3, 1, 1, 0, 1);
    h_start(&h);
    assert_int_equal(h_wait_leader(&h, 1000), 0);
    for (uint64_t v = 1000; v < 1300; v++)
        commit_value(&h, v, 1);

    /* B joins as a learner with 300 entries to catch up on: the seed keeps
     * committing on its own meanwhile (learners never count). */
    struct raft_config c = cfg_of(&h, 0);
    assert_int_equal(raft_config_set(&c, 2, RAFT_LEARNER), 0);
    assert_int_equal(h_change(&h, 0, &c), 0);
    for (uint64_t v = 1; v < 20; v++) {
        uint64_t idx, term;
        assert_int_equal(h_propose(&h, 0, v, &idx, &term), 0);
        assert_true(h_wait_applied(&h, 1, idx, term, 5));
    }
    commit_value(&h, 2, 3);
    /* {S} -> weighted {S,B}: one step, safe. */
    assert_int_equal(raft_config_set(&c, 2, RAFT_VOTER), 0);
    c.weighted = 1;
    change_and_commit(&h, &c, 3, 3);
    /* Weighted {S,B} -> {S,B,C} directly is refused... */
    struct raft_config bad = c;
    assert_int_equal(raft_config_set(&bad, 3, RAFT_VOTER), 0);
    bad.weighted = 0;
    assert_int_equal(h_change(&h, h_leader(&h), &bad), -PM_EINVAL);
    /* ...so leave weighted mode, add C as learner, then promote. */
    c.weighted = 0;
    change_and_commit(&h, &c, 3, 4);
    assert_int_equal(raft_config_set(&c, 3, RAFT_LEARNER), 0);
    change_and_commit(&h, &c, 7, 5);
    assert_int_equal(raft_config_set(&c, 3, RAFT_VOTER), 0);
    change_and_commit(&h, &c, 7, 6);
    assert_int_equal(raft_config_voters(&c), 3);
    for (uint64_t v = 7; v < 20; v++)
        commit_value(&h, v, 7);
    /* Shrinking reverses it: {S,B,C} -> {S,B} -> weighted {S,B}. */
    assert_int_equal(raft_config_remove(&c, 3), 0);
    change_and_commit(&h, &c, 3, 20);
    c.weighted = 1;
    change_and_commit(&h, &c, 3, 21);
    h_free(&h);
}

/* Two voters, weighted: the mesh keeps committing while the non-seed voter
 * is down, whichever of the two was leading. */
static void two_voters_non_seed_down_keeps_committing(void **state)
{
    (void)state;
    for (int b_leads = 0; b_leads < 2; b_leads++) {
        struct harness h;
        h_init(&h, 2, 2, 2, 1, 0);
        h_start(&h);
        int l = h_wait_leader(&h, 3000);
        assert_true(l >= 0);
        if (b_leads && l != 1) {
            assert_int_equal(h_event(&h, l, RAFT_EV_TRANSFER, 2), 0);
            h_run(&h, 300);
            assert_int_equal(h_wait_leader(&h, 3000), 1);
        }
        commit_value(&h, 1, 3);
        h_crash(&h, 1);
        for (uint64_t v = 2; v < 10; v++)
            commit_value(&h, v, 1);
        assert_int_equal(h_leader(&h), 0);
        h_restart(&h, 1);
        uint64_t idx = commit_value(&h, 10, 3);
        assert_true(h.nodes[1].applied >= idx);
        h_free(&h);
    }
}

/* Two voters, weighted, seed down: no commit and no leader on the other
 * side, ever; then the operator forces recovery on the survivor. */
static void two_voters_seed_down_then_forced_recovery(void **state)
{
    (void)state;
    struct harness h;
    h_init(&h, 2, 2, 2, 1, 0);
    h_start(&h);
    assert_true(h_wait_leader(&h, 3000) >= 0);
    commit_value(&h, 1, 3);
    /* Let the non-seed lead first: losing the seed must still stop it. */
    if (h_leader(&h) == 0) {
        assert_int_equal(h_event(&h, 0, RAFT_EV_TRANSFER, 2), 0);
        h_run(&h, 50);
    }
    assert_int_equal(h_leader(&h), 1);
    commit_value(&h, 2, 3);
    h_crash(&h, 0);
    /* Check-quorum: it steps down within about an election timeout... */
    h_run(&h, 250);
    assert_int_not_equal(h.nodes[1].role, RAFT_LEADER);
    /* ...and never leads again on its own. */
    for (int k = 0; k < 40; k++) {
        h_run(&h, 50);
        assert_int_not_equal(h.nodes[1].role, RAFT_LEADER);
    }
    assert_int_equal(h_propose(&h, 1, 99, NULL, NULL), -PM_ENOTLEADER);
    uint64_t applied = h.nodes[1].applied;

    /* A learner or a non-member cannot force; the voter can. */
    int rc;
    struct raft_event ev = {.type = RAFT_EV_FORCE_RECOVER};
    h_step(&h, 1, &ev, &rc);
    assert_int_equal(rc, 0);
    assert_int_equal(h.nodes[1].role, RAFT_LEADER);
    h_run(&h, 10);
    const struct raft_config *c = raft_config_latest(h.nodes[1].r);
    assert_int_equal(c->forced, 1);
    assert_int_equal(c->tiebreaker, 2);
    assert_int_equal(raft_config_voters(c), 1);
    assert_int_equal(raft_config_role(c, 2), RAFT_VOTER);
    assert_int_equal(raft_config_role(c, 1), 0);
    assert_true(h.nodes[1].applied > applied);
    for (uint64_t v = 3; v < 6; v++)
        commit_value(&h, v, 2);
    h_free(&h);
}

/* Three voters: any one down, the other two keep committing, and the one
 * that returns catches up. */
static void three_voters_any_one_down(void **state)
{
    (void)state;
    for (int down = 0; down < 3; down++) {
        struct harness h;
        h_init(&h, 3, 3, 3, 0, 0);
        h_start(&h);
        commit_value(&h, 1, 7);
        h_crash(&h, down);
        uint32_t alive = 7u & ~(1u << down);
        uint64_t last = 0;
        for (uint64_t v = 2; v < 12; v++)
            last = commit_value(&h, v, alive);
        h_restart(&h, down);
        if (!h_wait_applied(&h, 7, last, h.committed[last].term, 3000)) {
            for (int i = 0; i < 3; i++) {
                struct raft_status st; raft_status(h.nodes[i].r, &st);
                fprintf(stderr, "down=%d node %d role %d term %lu leader %lu commit %lu last %lu persisted %lu applied %lu fsm %lu\n", down, i, st.role, st.term, st.leader, st.commit, st.last_index, st.persisted, st.applied, h.nodes[i].applied);
                uint64_t m, nx; if (raft_progress(h.nodes[i].r, h.nodes[down].id, &m, &nx) == 0) fprintf(stderr, "  progress match %lu next %lu\n", m, nx);
            }
            fail();
        }
        assert_int_equal(h.nodes[down].value, 11);
        h_free(&h);
    }
}

/* Leadership transfer (thesis §3.10): the target takes over well before an
 * election timeout would have let it. */
static void leadership_transfer_moves_leader(void **state)
{
    (void)state;
    struct harness h;
    h_init(&h, 3, 3, 3, 0, 0);
    h_start(&h);
    commit_value(&h, 1, 7);
    int l = h_leader(&h);
    int target = (l + 1) % 3;
    uint64_t term = h.nodes[l].term;
    assert_int_equal(h_event(&h, l, RAFT_EV_TRANSFER,
                             h.nodes[target].id), 0);
    /* Proposals are refused while the transfer runs. */
    assert_int_equal(h_propose(&h, l, 5, NULL, NULL), -PM_EBUSY);
    h_run(&h, 20); /* far less than the 100 ms election timeout */
    assert_int_equal(h_leader(&h), target);
    assert_int_equal(h.nodes[target].term, term + 1);
    commit_value(&h, 2, 7);
    h_free(&h);
}

/* A learner away while the log was compacted catches up by a chunked
 * snapshot, over a lossy network, and then follows the log again. */
static void learner_returns_after_compaction_catches_up_by_snapshot(
    void **state)
{
    (void)state;
    struct harness h;
    h_init(&h, 4, 4, 3, 0, 0);
    h.opt.snapshot_chunk_bytes = 3; /* 16-byte snapshot: 6 chunks */
    h.opt.compact_keep_entries = 10; /* the learner is further behind */
    h_start(&h);
    commit_value(&h, 1, 15);
    h_crash(&h, 3);
    uint64_t last = 0;
    for (uint64_t v = 2; v < 60; v++)
        last = commit_value(&h, v, 7);
    for (int i = 0; i < 3; i++)
        assert_int_equal(h_event(&h, i, RAFT_EV_COMPACTED,
                                 h.nodes[i].applied), 0);
    struct raft_status st;
    raft_status(h.nodes[h_leader(&h)].r, &st);
    assert_true(st.snapshot_index >= last - 10);
    h.drop_pct = 20;
    h_restart(&h, 3);
    h_run(&h, 2000);
    h.drop_pct = 0;
    assert_true(h_wait_applied(&h, 15, last, h.committed[last].term, 3000));
    assert_true(h.nodes[3].snap_installs >= 1);
    assert_int_equal(h.nodes[3].value, 59);
    uint64_t idx = commit_value(&h, 60, 15);
    assert_true(h.nodes[3].applied >= idx);
    assert_int_equal(h.nodes[3].value, 60);
    h_free(&h);
}

/* Find a read result for ID on node i; 1 if present. */
static int read_result(struct harness *h, int i, uint64_t id,
                       struct raft_read *out)
{
    for (size_t k = 0; k < h->nodes[i].n_reads; k++) {
        if (h->nodes[i].reads[k].id == id) {
            *out = h->nodes[i].reads[k];
            return 1;
        }
    }
    return 0;
}

/* ReadIndex (thesis §6.4) never returns a stale value: a read that starts
 * after a write was acknowledged sees it, on the leader and through a
 * follower, also across a leader change where the old leader is cut off. */
static void read_index_never_stale_across_leader_change(void **state)
{
    (void)state;
    struct harness h;
    h_init(&h, 3, 3, 3, 0, 0);
    h_start(&h);
    commit_value(&h, 1, 7);
    int l = h_leader(&h);
    int f = (l + 1) % 3;
    struct raft_read rd;

    /* Through a follower. */
    assert_int_equal(h_event(&h, f, RAFT_EV_READ_INDEX, 100), 0);
    h_run(&h, 20);
    assert_true(read_result(&h, f, 100, &rd));
    assert_int_equal(rd.status, 0);
    assert_true(h.nodes[f].applied >= rd.index);
    assert_int_equal(h.nodes[f].value, 1);

    /* Cut the leader off; the others elect a new one and commit 2. */
    h_isolate(&h, l, 1);
    h_run(&h, 500);
    int l2 = h_leader(&h);
    if (l2 == l) { /* the isolated one still believes; pick the other */
        l2 = -1;
        for (int i = 0; i < 3; i++)
            if (i != l && h.nodes[i].role == RAFT_LEADER)
                l2 = i;
    }
    assert_true(l2 >= 0 && l2 != l);
    uint64_t idx, term;
    assert_int_equal(h_propose(&h, l2, 2, &idx, &term), 0);
    assert_true(h_wait_applied(&h, 7u & ~(1u << l), idx, term, 1000));

    /* The old leader cannot confirm its leadership: no answer with the old
     * value (it steps down by check-quorum and fails the read). */
    if (h.nodes[l].role == RAFT_LEADER) {
        assert_int_equal(h_event(&h, l, RAFT_EV_READ_INDEX, 200), 0);
        h_run(&h, 300);
        if (read_result(&h, l, 200, &rd))
            assert_int_not_equal(rd.status, 0);
    }
    /* A read on the majority side sees the new value. */
    int f2 = 3 - l - l2;
    assert_int_equal(h_event(&h, f2, RAFT_EV_READ_INDEX, 300), 0);
    h_run(&h, 20);
    assert_true(read_result(&h, f2, 300, &rd));
    assert_int_equal(rd.status, 0);
    assert_true(rd.index >= idx);
    assert_true(h_wait_applied(&h, 1u << f2, rd.index,
                               h.committed[rd.index].term, 100));
    assert_int_equal(h.nodes[f2].value, 2);

    /* Heal: the old leader follows and reads through it are fresh. */
    h_isolate(&h, l, 0);
    h_run(&h, 300);
    assert_int_not_equal(h.nodes[l].role, RAFT_LEADER);
    assert_int_equal(h_event(&h, l, RAFT_EV_READ_INDEX, 400), 0);
    h_run(&h, 20);
    assert_true(read_result(&h, l, 400, &rd));
    assert_int_equal(rd.status, 0);
    h_run(&h, 20);
    assert_true(h.nodes[l].applied >= rd.index);
    assert_int_equal(h.nodes[l].value, 2);
    h_free(&h);
}

/* Randomized: lossy, jittery network, crashes and restarts; the harness
 * checks election safety and state machine safety at every step, and the
 * healed cluster makes progress. */
/* The highest index applied anywhere: every entry up to it is committed
 * and may have been acknowledged to a client. */
static uint64_t acked_frontier(const struct harness *h)
{
    uint64_t m = 0;
    for (int i = 0; i < h->n; i++)
        if (h->nodes[i].applied > m)
            m = h->nodes[i].applied;
    return m;
}

#define READS_MAX 4096

/* Randomized: lossy, jittery network, slow disks that lose unsynced writes
 * on a crash, partitions, crashes and restarts, compaction, transfers and
 * ReadIndex requests. The harness checks election safety and state machine
 * safety at every step; reads are checked against the acknowledged
 * frontier at the time they were issued (thesis §6.4); the healed cluster
 * makes progress. */
static void chaos_keeps_safety_and_recovers(void **state)
{
    (void)state;
    const char *asan = getenv("PMESH_ASAN");
    int rounds = asan ? 30 : 300;
    static uint64_t floor_of[READS_MAX];
    for (int seed = 1; seed <= rounds; seed++) {
        struct harness h;
        int n = 3 + seed % 3;
        h_init(&h, n + 1, n + 1, n, 0, 0); /* n voters + 1 learner */
        h.opt.seed = (uint64_t)seed;
        h.opt.snapshot_chunk_bytes = 5;
        h.rng = (uint64_t)seed * 7919;
        h.drop_pct = 10;
        h.jitter_ms = 5;
        h.flush_pct = 30;
        h_start(&h);
        for (int i = 0; i < h.n; i++)
            h.nodes[i].defer = (seed + i) % 2;
        uint64_t v = 1, read_id = 1;
        size_t checked[H_NODES] = {0};
        for (int step = 0; step < 150; step++) {
            int l = h_leader(&h);
            if (l >= 0)
                h_propose(&h, l, v++, NULL, NULL);
            uint64_t r = h_rand(&h) % 40;
            int victim = (int)(h_rand(&h) % (uint64_t)h.n);
            struct h_node *vn = &h.nodes[victim];
            if (r == 0) {
                h_crash(&h, victim);
            } else if (r < 4 && !vn->up) {
                h_restart(&h, victim);
            } else if (r == 4) {
                h_isolate(&h, victim, 1);
            } else if (r == 5) {
                memset(h.cut, 0, sizeof h.cut);
            } else if (r == 6 && vn->up) {
                h_event(&h, victim, RAFT_EV_COMPACTED, vn->applied);
            } else if (r == 7 && l >= 0) {
                h_event(&h, l, RAFT_EV_TRANSFER, 0);
            } else if (r < 14 && vn->up && read_id < READS_MAX &&
                       vn->n_reads < 200) {
                floor_of[read_id] = acked_frontier(&h);
                h_event(&h, victim, RAFT_EV_READ_INDEX, read_id++);
            }
            h_run(&h, 10);
            /* ReadIndex: a successful read index covers everything
             * acknowledged before the read was issued. */
            for (int i = 0; i < h.n; i++) {
                struct h_node *nd = &h.nodes[i];
                for (; checked[i] < nd->n_reads; checked[i]++) {
                    const struct raft_read *rd = &nd->reads[checked[i]];
                    if (rd->status == 0)
                        assert_true(rd->index >= floor_of[rd->id]);
                }
            }
        }
        memset(h.cut, 0, sizeof h.cut);
        for (int i = 0; i < h.n; i++) {
            if (!h.nodes[i].up)
                h_restart(&h, i);
            h_flush(&h, i);
            h.nodes[i].defer = 0;
        }
        h.drop_pct = 0;
        h.jitter_ms = 0;
        commit_value(&h, 1000000, (1u << h.n) - 1);
        h_free(&h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_voter_commits_alone),
        cmocka_unit_test(three_voters_elect_and_replicate),
        cmocka_unit_test(growth_one_two_three_voters_commits_throughout),
        cmocka_unit_test(two_voters_non_seed_down_keeps_committing),
        cmocka_unit_test(two_voters_seed_down_then_forced_recovery),
        cmocka_unit_test(three_voters_any_one_down),
        cmocka_unit_test(leadership_transfer_moves_leader),
        cmocka_unit_test(learner_returns_after_compaction_catches_up_by_snapshot),
        cmocka_unit_test(read_index_never_stale_across_leader_change),
        cmocka_unit_test(chaos_keeps_safety_and_recovers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
