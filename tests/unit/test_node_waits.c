/* test_node_waits.c: finding the requests an applied entry answers
 * (node_waits_on_applied, ops.c) through the index heap must answer
 * exactly what the former scan of the whole wait table answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "node/node_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
    struct node n;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->n.waits = calloc(NODE_WAITS_MAX, sizeof *f->n.waits);
    f->n.wheap = calloc(NODE_WAIT_HEAP_MAX, sizeof *f->n.wheap);
    assert_non_null(f->n.waits);
    assert_non_null(f->n.wheap);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->n.waits);
    free(f->n.wheap);
    free(f);
    return 0;
}

/* A wait in SLOT as the table would hold it (no call: nothing is sent). */
static struct wait *put(struct node *n, size_t slot, enum wait_kind kind,
                        uint64_t index, uint64_t term)
{
    struct wait *w = &n->waits[slot];
    memset(w, 0, sizeof *w);
    w->kind = kind;
    w->index = index;
    w->term = term;
    w->gen = ++n->wait_gen;
    if (slot >= n->n_waits)
        n->n_waits = slot + 1;
    node_waits_index_watch(n, w);
    return w;
}

static const struct fsm_result ok = {.status = 0};

static void proposals_answer_their_own_entry(void **state)
{
    struct node *n = &((struct fixture *)*state)->n;
    /* Registered out of index order, in scattered slots. */
    struct wait *w12 = put(n, 7, WAIT_PROPOSAL, 12, 3);
    struct wait *w10 = put(n, 2, WAIT_PROPOSAL, 10, 3);
    struct wait *w11 = put(n, 9, WAIT_PROPOSAL, 11, 2); /* other term */
    node_waits_on_applied(n, 9, 3, &ok);
    assert_false(w10->ready || w11->ready || w12->ready);
    node_waits_on_applied(n, 10, 3, &ok);
    assert_true(w10->ready);
    assert_int_equal(w10->status, 0);
    assert_int_equal(w10->result_index, 10);
    assert_false(w11->ready || w12->ready);
    node_waits_on_applied(n, 11, 3, &ok); /* a new leader's entry */
    assert_true(w11->ready);
    assert_int_equal(w11->status, -PM_EAGAIN);
    struct fsm_result dup = {.status = -PM_EEXIST, .dup_index = 4};
    node_waits_on_applied(n, 12, 3, &dup);
    assert_true(w12->ready);
    assert_int_equal(w12->status, 0);
    assert_int_equal(w12->result_index, 4);
    assert_int_equal(n->n_wheap, 0);
}

static void applied_waits_answer_at_or_after(void **state)
{
    struct node *n = &((struct fixture *)*state)->n;
    struct wait *a = put(n, 0, WAIT_APPLIED, 7, 0);
    struct wait *p = put(n, 1, WAIT_PROPOSAL, 8, 1);
    node_waits_on_applied(n, 6, 1, &ok);
    assert_false(a->ready);
    /* A jump (snapshot installed): the read is served, the proposal whose
     * entry was never applied here is not answered (it times out). */
    node_waits_on_applied(n, 9, 1, &ok);
    assert_true(a->ready);
    assert_false(p->ready);
    assert_int_equal(n->n_wheap, 0);
}

static void reused_slot_is_not_answered_by_an_old_ref(void **state)
{
    struct node *n = &((struct fixture *)*state)->n;
    put(n, 3, WAIT_PROPOSAL, 5, 1);
    memset(&n->waits[3], 0, sizeof n->waits[3]); /* timed out, freed */
    struct wait *w = put(n, 3, WAIT_PROPOSAL, 9, 1); /* the slot reused */
    node_waits_on_applied(n, 5, 1, &ok);
    assert_false(w->ready);
    node_waits_on_applied(n, 9, 1, &ok);
    assert_true(w->ready);
}

static void heap_full_of_stale_refs_is_compacted(void **state)
{
    struct node *n = &((struct fixture *)*state)->n;
    /* Waits for far indexes that go away unanswered leave refs behind. */
    for (size_t i = 0; i < NODE_WAIT_HEAP_MAX + 100; i++) {
        put(n, 0, WAIT_APPLIED, 1000000 + i, 0);
        memset(&n->waits[0], 0, sizeof n->waits[0]);
    }
    assert_true(n->n_wheap <= NODE_WAIT_HEAP_MAX);
    struct wait *w = put(n, 1, WAIT_APPLIED, 50, 0);
    assert_int_equal(n->wheap_lost, 0);
    node_waits_on_applied(n, 50, 1, &ok);
    assert_true(w->ready);
}

/* The former scan, as the reference. */
static void scan(struct wait *waits, size_t nw, uint64_t index, uint64_t term)
{
    for (size_t i = 0; i < nw; i++) {
        struct wait *w = &waits[i];
        if (w->ready)
            continue;
        if (w->kind == WAIT_PROPOSAL && w->index == index) {
            w->ready = 1;
            w->status = w->term != term ? -PM_EAGAIN : 0;
        } else if (w->kind == WAIT_APPLIED && w->index <= index) {
            w->ready = 1;
        }
    }
}

static void same_answers_as_the_scan(void **state)
{
    struct node *n = &((struct fixture *)*state)->n;
    enum { SLOTS = 300, STEPS = 20000 };
    static struct wait ref[SLOTS];
    memset(ref, 0, sizeof ref);
    srand(12345);
    uint64_t applied = 0, term = 1;
    for (int step = 0; step < STEPS; step++) {
        int r = rand() % 10;
        size_t s = (size_t)rand() % SLOTS;
        struct wait *w = &n->waits[s];
        if (r < 4 && w->kind == 0) {
            /* A new wait a little ahead (a proposal) or anywhere near. */
            enum wait_kind k = rand() % 2 ? WAIT_PROPOSAL : WAIT_APPLIED;
            uint64_t at = applied + 1 + (uint64_t)(rand() % 40);
            put(n, s, k, at, term + (rand() % 8 == 0));
            ref[s] = *w;
        } else if (r < 5) {
            /* Answered (flushed) or timed out: the slot is freed. */
            memset(w, 0, sizeof *w);
            memset(&ref[s], 0, sizeof ref[s]);
        } else if (r < 6 && rand() % 50 == 0) {
            term++;
        } else {
            uint64_t next = applied + 1 + (rand() % 30 == 0 ? 5 : 0);
            node_waits_on_applied(n, next, term, &ok);
            scan(ref, SLOTS, next, term);
            applied = next;
        }
        for (size_t i = 0; i < SLOTS; i++) {
            assert_int_equal(n->waits[i].ready, ref[i].ready);
            if (ref[i].ready)
                assert_int_equal(n->waits[i].status, ref[i].status);
        }
    }
    assert_int_equal(n->wheap_lost, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(proposals_answer_their_own_entry,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(applied_waits_answer_at_or_after,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            reused_slot_is_not_answered_by_an_old_ref, setup, teardown),
        cmocka_unit_test_setup_teardown(heap_full_of_stale_refs_is_compacted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(same_answers_as_the_scan, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
