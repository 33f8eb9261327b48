/* test_lincheck.c: the linearizability checker accepts linearizable
 * register histories and rejects the ones that are not, hand-made ones
 * (including the tricky cases of concurrent and unknown-outcome writes)
 * and large generated ones with one stale read planted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "chaos/lincheck.h"

/* Verdict for history TEXT; the report goes to a memory stream so that
 * REPORT_HAS (if not NULL) can be looked for in it. */
static enum lc_verdict check(const char *text, const char *report_has)
{
    struct lc_history *h = NULL;
    char err[256];
    assert_int_equal(lc_parse(&h, text, strlen(text), err, sizeof err), 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *rep = open_memstream(&buf, &len);
    assert_non_null(rep);
    struct lc_stats st;
    enum lc_verdict v = lc_check(h, 0, rep, &st);
    fclose(rep);
    if (report_has && !strstr(buf, report_has)) {
        fprintf(stderr, "report lacks '%s':\n%s", report_has, buf);
        fail();
    }
    free(buf);
    lc_free(h);
    return v;
}

/* --- accepted ------------------------------------------------------------ */

static void empty_and_sequential_histories_pass(void **s)
{
    (void)s;
    assert_int_equal(check("", NULL), LC_OK);
    assert_int_equal(check("# only a comment\n\n", NULL), LC_OK);
    assert_int_equal(check("a r x - 0 5 ok\n"
                           "a w x 1 10 20 ok\n"
                           "a r x 1 30 40 ok\n"
                           "a w x 2 50 60 ok\n"
                           "a r x 2 70 80 ok\n", NULL), LC_OK);
}

static void reads_overlapping_a_write_see_old_or_new(void **s)
{
    (void)s;
    /* Both reads overlap the write: one before, one after its instant. */
    assert_int_equal(check("a w x 1 0 100 ok\n"
                           "b r x - 10 20 ok\n"
                           "c r x 1 10 20 ok\n"
                           "b r x 1 30 40 ok\n", NULL), LC_OK);
    /* Touching intervals (a clock tie) count as concurrent. */
    assert_int_equal(check("a w x 1 0 10 ok\n"
                           "b r x - 10 20 ok\n", NULL), LC_OK);
}

static void concurrent_writes_take_effect_in_either_order(void **s)
{
    (void)s;
    /* w2 then a read of 2, then w1, then a read of 1: all four overlap the
     * writes, and this order explains them. */
    assert_int_equal(check("a w x 1 0 100 ok\n"
                           "b w x 2 0 100 ok\n"
                           "c r x 2 10 20 ok\n"
                           "c r x 1 30 40 ok\n"
                           "d r x 1 50 60 ok\n", NULL), LC_OK);
}

static void unknown_writes_may_or_may_not_take_effect(void **s)
{
    (void)s;
    /* Observed long after its client gave up: it took effect late. */
    assert_int_equal(check("a w x 1 0 10 ok\n"
                           "b w x 2 5 8 info\n"
                           "c r x 1 20 30 ok\n"
                           "c r x 2 40 50 ok\n"
                           "c r x 2 60 70 ok\n", NULL), LC_OK);
    /* Never observed: it did not take effect (or was overwritten). */
    assert_int_equal(check("a w x 1 0 10 ok\n"
                           "b w x 2 5 - info\n"
                           "c r x 1 20 30 ok\n"
                           "c r x 1 100 110 ok\n", NULL), LC_OK);
    /* Failed writes and incomplete reads are ignored. */
    assert_int_equal(check("a w x 1 0 10 ok\n"
                           "b w x 2 12 18 fail\n"
                           "c r x 9 20 - info\n"
                           "c r x 1 20 30 ok\n", NULL), LC_OK);
}

static void keys_are_independent(void **s)
{
    (void)s;
    /* Per key fine; the same value names on two keys do not mix. */
    assert_int_equal(check("a w x 1 0 10 ok\n"
                           "a w y 1 20 30 ok\n"
                           "b r y 1 40 50 ok\n"
                           "b r x 1 40 50 ok\n"
                           "a w x 2 60 70 ok\n"
                           "b r y 1 80 90 ok\n", NULL), LC_OK);
}

/* --- rejected -------------------------------------------------------------- */

static void stale_read_is_rejected(void **s)
{
    (void)s;
    assert_int_equal(check("a w x 1 0 10 ok\n"
                           "b w x 2 20 30 ok\n"
                           "c r x 1 40 50 ok\n", "key x: NOT linearizable"),
                     LC_VIOLATION);
    /* The same read concurrent with the second write would be fine. */
    assert_int_equal(check("a w x 1 0 10 ok\n"
                           "b w x 2 20 45 ok\n"
                           "c r x 1 40 50 ok\n", NULL), LC_OK);
}

static void read_of_unwritten_or_failed_value_is_rejected(void **s)
{
    (void)s;
    assert_int_equal(check("a w x 1 0 10 ok\n"
                           "c r x 7 20 30 ok\n", "no write wrote"),
                     LC_VIOLATION);
    assert_int_equal(check("a w x 1 0 10 ok\n"
                           "b w x 2 12 18 fail\n"
                           "c r x 2 20 30 ok\n", "only a failed write"),
                     LC_VIOLATION);
    /* A value written to another key only. */
    assert_int_equal(check("a w y 5 0 10 ok\n"
                           "c r x 5 20 30 ok\n", NULL), LC_VIOLATION);
}

static void new_then_old_is_rejected(void **s)
{
    (void)s;
    /* One long write: once a read saw the new value, a later read may not
     * see the old one (both reads overlap the write). */
    assert_int_equal(check("a w x 1 0 100 ok\n"
                           "b r x 1 10 20 ok\n"
                           "c r x - 30 40 ok\n", NULL), LC_VIOLATION);
}

static void read_before_write_invoked_is_rejected(void **s)
{
    (void)s;
    assert_int_equal(check("b r x 1 0 10 ok\n"
                           "a w x 1 20 30 ok\n", NULL), LC_VIOLATION);
    /* Also for a write of unknown outcome. */
    assert_int_equal(check("b r x 1 0 10 ok\n"
                           "a w x 1 20 - info\n", NULL), LC_VIOLATION);
}

static void value_cannot_come_back(void **s)
{
    (void)s;
    /* w2 and w3 overlap everything; 2 then 3 then 2 again needs w2 twice. */
    assert_int_equal(check("a w x 1 0 5 ok\n"
                           "b w x 2 0 100 ok\n"
                           "c w x 3 0 100 ok\n"
                           "d r x 2 10 20 ok\n"
                           "d r x 3 30 40 ok\n"
                           "d r x 2 50 60 ok\n", NULL), LC_VIOLATION);
}

static void unknown_write_cannot_hide_a_lost_write(void **s)
{
    (void)s;
    /* w1 acknowledged at 10; w2's outcome unknown. A read sees 2, a later
     * one sees 1: whichever order w1 and w2 took, 1 cannot follow 2. */
    assert_int_equal(check("a w x 1 0 10 ok\n"
                           "b w x 2 5 - info\n"
                           "c r x 2 20 30 ok\n"
                           "c r x 1 40 50 ok\n", NULL), LC_VIOLATION);
    /* Lost acknowledged write: 1 was acked, the register is still empty. */
    assert_int_equal(check("a w x 1 0 10 ok\n"
                           "c r x - 20 30 ok\n", NULL), LC_VIOLATION);
}

/* --- parsing ------------------------------------------------------------ */

static void bad_lines_are_refused_with_their_number(void **s)
{
    (void)s;
    static const char *bad[] = {
        "a w x 1 0 10\n",               /* six fields */
        "a w x 1 0 10 ok extra\n",      /* eight */
        "a q x 1 0 10 ok\n",            /* op */
        "a w - 1 0 10 ok\n",            /* key */
        "a w x 1 ten 10 ok\n",          /* time */
        "a w x 1 -5 10 ok\n",           /* negative */
        "a w x 1 20 10 ok\n",           /* return before invoke */
        "a w x 1 0 - ok\n",             /* ok without return */
        "a w x 1 0 10 maybe\n",         /* status */
        "a w x 1 0 99999999999999999999 ok\n", /* overflow */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct lc_history *h = NULL;
        char err[256] = "";
        char text[512];
        snprintf(text, sizeof text, "a r x - 0 1 ok\n%s", bad[i]);
        assert_int_equal(lc_parse(&h, text, strlen(text), err, sizeof err), -1);
        assert_non_null(strstr(err, "line 2"));
        lc_free(h);
    }
    struct lc_history *h = NULL;
    char err[256];
    const char nul[] = "a r x - 0 1 ok\na r x\0 - 0 1 ok\n";
    assert_int_equal(lc_parse(&h, nul, sizeof nul - 1, err, sizeof err), -1);
    lc_free(h);
}

/* --- generated ----------------------------------------------------------- */

struct gen_op {
    int proc, is_write, key, val, status;
    int64_t inv, lin, ret;
};

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static int by_lin(const void *a, const void *b)
{
    const struct gen_op *x = a, *y = b;
    return x->lin < y->lin ? -1 : x->lin > y->lin;
}

/* A history of an atomic register: P processes each doing N/P operations
 * one after another; each takes effect at a random instant inside its
 * interval. Some writes end with an unknown outcome (and still take
 * effect), as when a client times out. Values are unique per write. */
static struct gen_op *generate(int n, int procs, int keys)
{
    struct gen_op *ops = calloc((size_t)n, sizeof *ops);
    assert_non_null(ops);
    int64_t clock[64] = { 0 };
    for (int i = 0; i < n; i++) {
        struct gen_op *o = &ops[i];
        o->proc = i % procs;
        o->is_write = rnd(2);
        o->key = (int)rnd((uint32_t)keys);
        o->val = i + 1;
        o->inv = clock[o->proc] + rnd(50);
        o->lin = o->inv + 1 + rnd(200);
        o->ret = o->lin + 1 + rnd(200);
        o->status = (o->is_write && rnd(20) == 0) ? 2 : 0;
        clock[o->proc] = o->ret + 1;
    }
    qsort(ops, (size_t)n, sizeof *ops, by_lin);
    int reg[16] = { 0 };
    for (int i = 0; i < n; i++) {
        if (ops[i].is_write)
            reg[ops[i].key] = ops[i].val;
        else
            ops[i].val = reg[ops[i].key];
    }
    return ops;
}

static char *render(const struct gen_op *ops, int n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    for (int i = 0; i < n; i++) {
        const struct gen_op *o = &ops[i];
        char val[16] = "-";
        if (o->val)
            snprintf(val, sizeof val, "v%d", o->val);
        if (o->status == 2)
            fprintf(f, "p%d w k%d %s %lld - info\n", o->proc, o->key, val,
                    (long long)o->inv);
        else
            fprintf(f, "p%d %s k%d %s %lld %lld ok\n", o->proc,
                    o->is_write ? "w" : "r", o->key, val, (long long)o->inv,
                    (long long)o->ret);
    }
    fclose(f);
    return text;
}

static void large_generated_history_passes_and_a_stale_read_fails(void **s)
{
    (void)s;
    const int n = 6000;
    struct gen_op *ops = generate(n, 8, 3);
    char *text = render(ops, n);
    assert_int_equal(check(text, NULL), LC_OK);
    free(text);

    /* Plant a stale read: a read R of key k, a write A completed before R
     * was invoked, and a write B completed before A was invoked. R
     * returning B's value contradicts real-time order. */
    int planted = 0;
    for (int r = n - 1; r >= 0 && !planted; r--) {
        if (ops[r].is_write)
            continue;
        for (int a = 0; a < n && !planted; a++) {
            if (!ops[a].is_write || ops[a].key != ops[r].key ||
                ops[a].status || ops[a].ret >= ops[r].inv)
                continue;
            for (int b = 0; b < n; b++) {
                if (ops[b].is_write && ops[b].key == ops[r].key &&
                    !ops[b].status && ops[b].ret < ops[a].inv) {
                    ops[r].val = ops[b].val;
                    planted = 1;
                    break;
                }
            }
        }
    }
    assert_true(planted);
    text = render(ops, n);
    assert_int_equal(check(text, "NOT linearizable"), LC_VIOLATION);
    free(text);
    free(ops);
}

/* --- a real history ---------------------------------------------------- */

/* tests/chaos/histories/seed19-3nodes.hist: `make chaos` seed 19 (3 nodes,
 * 60 s, 3,872 operations, 44 sets of unknown outcome of which 3 were
 * observed by later reads, kill -9 of a majority three times). */
#define REAL_HISTORY "tests/chaos/histories/seed19-3nodes.hist"

struct line {
    char proc[32], op[4], key[64], val[64], ret[32], st[8];
    long long inv;
};

static struct line *load_lines(size_t *n)
{
    FILE *f = fopen(REAL_HISTORY, "r");
    assert_non_null(f);
    size_t cap = 8192;
    struct line *l = calloc(cap, sizeof *l);
    assert_non_null(l);
    *n = 0;
    char buf[512];
    while (fgets(buf, sizeof buf, f)) {
        assert_true(*n < cap);
        struct line *x = &l[*n];
        if (sscanf(buf, "%31s %3s %63s %63s %lld %31s %7s", x->proc, x->op,
                   x->key, x->val, &x->inv, x->ret, x->st) == 7)
            (*n)++;
    }
    fclose(f);
    return l;
}

static char *render_lines(const struct line *l, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s %s %s %s %lld %s %s\n", l[i].proc, l[i].op, l[i].key,
                l[i].val, l[i].inv, l[i].ret, l[i].st);
    fclose(f);
    return text;
}

static long long ret_of(const struct line *x)
{
    return strcmp(x->ret, "-") == 0 ? -1 : atoll(x->ret);
}

static void real_chaos_history_passes_and_mutants_fail(void **s)
{
    (void)s;
    size_t n;
    struct line *l = load_lines(&n);
    assert_true(n > 3000);
    char *text = render_lines(l, n);
    assert_int_equal(check(text, NULL), LC_OK);
    free(text);

    /* Mutant 1: an unknown write that a read observed becomes a failed
     * one; the read then returns a value that was never written. */
    size_t w = n;
    for (size_t i = 0; i < n && w == n; i++) {
        if (strcmp(l[i].op, "w") || strcmp(l[i].st, "info"))
            continue;
        for (size_t j = 0; j < n; j++)
            if (!strcmp(l[j].op, "r") && !strcmp(l[j].st, "ok") &&
                !strcmp(l[j].key, l[i].key) && !strcmp(l[j].val, l[i].val)) {
                w = i;
                break;
            }
    }
    assert_true(w < n);
    struct line saved = l[w];
    strcpy(l[w].st, "fail");
    text = render_lines(l, n);
    assert_int_equal(check(text, "only a failed write"), LC_VIOLATION);
    free(text);
    l[w] = saved;

    /* Mutant 2: a stale read. A read R, a write A acknowledged before R
     * began, a write B acknowledged before A began, all on R's key: R
     * returning B's value contradicts real time. The last such R. */
    int planted = 0;
    for (size_t r = n; r-- > 0 && !planted;) {
        if (strcmp(l[r].op, "r") || strcmp(l[r].st, "ok"))
            continue;
        for (size_t a = 0; a < n && !planted; a++) {
            if (strcmp(l[a].op, "w") || strcmp(l[a].st, "ok") ||
                strcmp(l[a].key, l[r].key) || ret_of(&l[a]) >= l[r].inv)
                continue;
            for (size_t b = 0; b < n; b++)
                if (!strcmp(l[b].op, "w") && !strcmp(l[b].st, "ok") &&
                    !strcmp(l[b].key, l[r].key) && ret_of(&l[b]) < l[a].inv &&
                    strcmp(l[b].val, l[r].val)) {
                    strcpy(l[r].val, l[b].val);
                    planted = 1;
                    break;
                }
        }
    }
    assert_true(planted);
    text = render_lines(l, n);
    assert_int_equal(check(text, "NOT linearizable"), LC_VIOLATION);
    free(text);
    free(l);
}

static void search_budget_gives_undecided(void **s)
{
    (void)s;
    /* Fully concurrent writes, then a read of the first one: every order
     * of the writes is a candidate (the search is exponential in the
     * number of concurrent operations in the worst case), so a tiny budget
     * cannot settle it and the default one can. */
    char text[8192] = "";
    size_t len = 0;
    for (int i = 1; i <= 10; i++)
        len += (size_t)snprintf(text + len, sizeof text - len,
                                "p%d w x %d 0 1000 ok\n", i, i);
    len += (size_t)snprintf(text + len, sizeof text - len,
                            "q r x 1 2000 2010 ok\n");
    struct lc_history *h = NULL;
    char err[128];
    assert_int_equal(lc_parse(&h, text, len, err, sizeof err), 0);
    assert_int_equal(lc_check(h, 10, NULL, NULL), LC_UNDECIDED);
    assert_int_equal(lc_check(h, 0, NULL, NULL), LC_OK);
    lc_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_and_sequential_histories_pass),
        cmocka_unit_test(reads_overlapping_a_write_see_old_or_new),
        cmocka_unit_test(concurrent_writes_take_effect_in_either_order),
        cmocka_unit_test(unknown_writes_may_or_may_not_take_effect),
        cmocka_unit_test(keys_are_independent),
        cmocka_unit_test(stale_read_is_rejected),
        cmocka_unit_test(read_of_unwritten_or_failed_value_is_rejected),
        cmocka_unit_test(new_then_old_is_rejected),
        cmocka_unit_test(read_before_write_invoked_is_rejected),
        cmocka_unit_test(value_cannot_come_back),
        cmocka_unit_test(unknown_write_cannot_hide_a_lost_write),
        cmocka_unit_test(bad_lines_are_refused_with_their_number),
        cmocka_unit_test(large_generated_history_passes_and_a_stale_read_fails),
        cmocka_unit_test(real_chaos_history_passes_and_mutants_fail),
        cmocka_unit_test(search_budget_gives_undecided),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
