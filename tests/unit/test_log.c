/* test_log.c: the durable store's operations (src/log/log.h): append, read,
 * truncate, compact, hard state, snapshot metadata, FSM state, applied
 * index, persistence across reopen, map growth, and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "base/err.h"
#include "log/log.h"
#include "log/util.h"

struct fx {
    char *dir;
    struct log *log;
    struct pm_entry e[1000];
    uint8_t buf[1000 * 301];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->dir = tl_mkdtemp("log");
    if (!f->dir || log_open(f->dir, NULL, &f->log) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    log_close(f->log);
    tl_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fx *f)
{
    log_close(f->log);
    f->log = NULL;
    assert_int_equal(log_open(f->dir, NULL, &f->log), 0);
}

/* Append entries [lo, lo + n) with tl_make contents. */
static int append(struct fx *f, uint64_t lo, size_t n)
{
    assert_true(n <= 1000);
    tl_make(lo, n, f->e, f->buf);
    struct log_batch b = {.entries = f->e, .n_entries = n};
    return log_write(f->log, &b);
}

/* Every entry in [lo, hi] reads back as tl_make wrote it. */
static void assert_entries(struct log *log, uint64_t lo, uint64_t hi)
{
    uint64_t next = lo;
    while (next <= hi) {
        struct log_entries es;
        assert_int_equal(log_read(log, next, hi - next + 1, SIZE_MAX, &es), 0);
        assert_true(es.n <= hi - next + 1);
        assert_true(es.n >= 1);
        for (size_t i = 0; i < es.n; i++) {
            assert_int_equal(es.entries[i].index, next + i);
            assert_true(tl_check(&es.entries[i]));
            uint64_t t;
            assert_int_equal(log_term_at(log, next + i, &t), 0);
            assert_int_equal(t, tl_term(next + i));
        }
        next += es.n;
        log_entries_free(&es);
    }
}

static void assert_bounds(struct log *log, uint64_t base, uint64_t last)
{
    assert_int_equal(log_base_index(log), base);
    assert_int_equal(log_first_index(log), base + 1);
    assert_int_equal(log_last_index(log), last);
}

static void crc32c_matches_the_standard_check_value(void **state)
{
    (void)state;
    assert_int_equal(log_crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(log_crc32c("", 0), 0);
    /* RFC 3720 B.4: 32 bytes of zeros. */
    uint8_t zeros[32] = {0};
    assert_int_equal(log_crc32c(zeros, sizeof zeros), 0x8A9136AAu);
}

static void a_new_store_is_empty(void **state)
{
    struct fx *f = *state;
    struct stat st;
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_bounds(f->log, 0, 0);
    uint64_t t = 99;
    assert_int_equal(log_term_at(f->log, 0, &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(log_term_at(f->log, 1, &t), -PM_ERANGE);
    struct log_entries es;
    assert_int_equal(log_read(f->log, 1, 10, 1000, &es), -PM_ERANGE);
    assert_null(es.entries);
    log_entries_free(&es);
    assert_int_equal(log_read(f->log, 0, 10, 1000, &es), -PM_ECOMPACTED);
    struct log_hard_state hs = {1, 2, 3};
    assert_int_equal(log_hard_state(f->log, &hs), 0);
    assert_int_equal(hs.term + hs.vote + hs.commit, 0);
    struct log_snapshot_meta sm;
    uint8_t *cfg;
    assert_int_equal(log_snapshot_meta(f->log, &sm, &cfg), -PM_ENOTFOUND);
    assert_null(cfg);
    assert_int_equal(log_applied(f->log), 0);
    void *v;
    uint32_t vl;
    assert_int_equal(log_state_get(f->log, "k", 1, &v, &vl), -PM_ENOTFOUND);
}

static void appended_entries_read_back(void **state)
{
    struct fx *f = *state;
    assert_int_equal(append(f, 1, 1), 0);
    assert_bounds(f->log, 0, 1);
    assert_int_equal(append(f, 2, 299), 0); /* includes empty payload 97, 194 */
    assert_bounds(f->log, 0, 300);
    assert_entries(f->log, 1, 300);
    uint64_t t;
    assert_int_equal(log_term_at(f->log, 301, &t), -PM_ERANGE);
    struct log_entries es;
    assert_int_equal(log_read(f->log, 301, 1, 1, &es), -PM_ERANGE);
    assert_int_equal(log_read(f->log, 97, 1, SIZE_MAX, &es), 0);
    assert_int_equal(es.n, 1);
    assert_int_equal(es.entries[0].len, 0);
    assert_null(es.entries[0].data);
    log_entries_free(&es);
}

static void reads_are_bounded_by_count_and_bytes(void **state)
{
    struct fx *f = *state;
    assert_int_equal(append(f, 1, 100), 0);
    struct log_entries es;
    assert_int_equal(log_read(f->log, 10, 5, SIZE_MAX, &es), 0);
    assert_int_equal(es.n, 5);
    assert_int_equal(es.entries[4].index, 14);
    log_entries_free(&es);

    /* Byte bound: as many whole entries as fit. */
    size_t want = tl_len(10) + tl_len(11) + tl_len(12);
    assert_int_equal(log_read(f->log, 10, SIZE_MAX, want, &es), 0);
    assert_int_equal(es.n, 3);
    log_entries_free(&es);
    assert_int_equal(log_read(f->log, 10, SIZE_MAX, want + tl_len(13) - 1, &es), 0);
    assert_int_equal(es.n, 3);
    log_entries_free(&es);

    /* The first entry comes back even when it alone exceeds the bound. */
    assert_true(tl_len(10) > 1);
    assert_int_equal(log_read(f->log, 10, SIZE_MAX, 1, &es), 0);
    assert_int_equal(es.n, 1);
    assert_true(tl_check(&es.entries[0]));
    log_entries_free(&es);
    assert_int_equal(log_read(f->log, 10, 0, 0, &es), 0);
    assert_int_equal(es.n, 1);
    log_entries_free(&es);

    /* Bounded by the end of the log. */
    assert_int_equal(log_read(f->log, 95, 100, SIZE_MAX, &es), 0);
    assert_int_equal(es.n, 6);
    assert_int_equal(es.entries[5].index, 100);
    log_entries_free(&es);
}

static void a_batch_breaking_contiguity_writes_nothing(void **state)
{
    struct fx *f = *state;
    assert_int_equal(append(f, 1, 10), 0);
    struct log_hard_state hs = {.term = 7, .vote = 3, .commit = 5};
    struct log_kv kv = {"k", 1, "v", 1};

    /* Starts after a gap. */
    tl_make(12, 3, f->e, f->buf);
    struct log_batch b = {.entries = f->e, .n_entries = 3, .hard_state = &hs,
                          .state = &kv, .n_state = 1, .applied = 4};
    assert_int_equal(log_write(f->log, &b), -PM_EINVAL);
    /* Overlaps the last entry without truncating. */
    tl_make(10, 3, f->e, f->buf);
    assert_int_equal(log_write(f->log, &b), -PM_EINVAL);
    /* A gap inside the batch. */
    tl_make(11, 3, f->e, f->buf);
    f->e[2].index = 14;
    assert_int_equal(log_write(f->log, &b), -PM_EINVAL);
    /* Payload length without data. */
    tl_make(11, 3, f->e, f->buf);
    f->e[1].data = NULL;
    f->e[1].len = 5;
    assert_int_equal(log_write(f->log, &b), -PM_EINVAL);

    assert_bounds(f->log, 0, 10);
    struct log_hard_state got;
    assert_int_equal(log_hard_state(f->log, &got), 0);
    assert_int_equal(got.term, 0);
    assert_int_equal(log_applied(f->log), 0);
    void *v;
    uint32_t vl;
    assert_int_equal(log_state_get(f->log, "k", 1, &v, &vl), -PM_ENOTFOUND);
    reopen(f);
    assert_bounds(f->log, 0, 10);
    assert_entries(f->log, 1, 10);
    assert_int_equal(log_hard_state(f->log, &got), 0);
    assert_int_equal(got.term, 0);
}

static int truncate_at(struct fx *f, uint64_t from)
{
    struct log_batch b = {.truncate_from = from};
    return log_write(f->log, &b);
}

static void truncate_removes_a_suffix(void **state)
{
    struct fx *f = *state;
    /* Empty log: nothing to remove. */
    assert_int_equal(truncate_at(f, 1), 0);
    assert_bounds(f->log, 0, 0);

    assert_int_equal(append(f, 1, 20), 0);
    assert_int_equal(truncate_at(f, 21), 0); /* past the end: no-op */
    assert_int_equal(truncate_at(f, 500), 0);
    assert_bounds(f->log, 0, 20);
    assert_int_equal(truncate_at(f, 20), 0); /* the last entry */
    assert_bounds(f->log, 0, 19);
    assert_int_equal(truncate_at(f, 11), 0); /* the middle */
    assert_bounds(f->log, 0, 10);
    uint64_t t;
    assert_int_equal(log_term_at(f->log, 11, &t), -PM_ERANGE);
    assert_entries(f->log, 1, 10);
    assert_int_equal(truncate_at(f, 1), 0);  /* the first: empty again */
    assert_bounds(f->log, 0, 0);
    assert_int_equal(truncate_at(f, 0), 0);  /* 0 means none */

    /* Truncate and append in one batch (a follower resolving a conflict):
     * the new entries carry a different term. */
    assert_int_equal(append(f, 1, 10), 0);
    struct pm_entry e[3];
    for (int i = 0; i < 3; i++)
        e[i] = (struct pm_entry){.index = 6 + i, .term = 9, .type = 1};
    struct log_batch b = {.truncate_from = 6, .entries = e, .n_entries = 3};
    assert_int_equal(log_write(f->log, &b), 0);
    assert_bounds(f->log, 0, 8);
    assert_int_equal(log_term_at(f->log, 8, &t), 0);
    assert_int_equal(t, 9);
    assert_entries(f->log, 1, 5);
    reopen(f);
    assert_bounds(f->log, 0, 8);
    assert_int_equal(log_term_at(f->log, 6, &t), 0);
    assert_int_equal(t, 9);
    /* Entries must follow the truncation point. */
    b.entries = e + 1;
    b.n_entries = 2;
    assert_int_equal(log_write(f->log, &b), -PM_EINVAL);
    assert_bounds(f->log, 0, 8);
}

static int compact(struct fx *f, uint64_t index, uint64_t term)
{
    struct log_batch b = {.compact_index = index, .compact_term = term};
    return log_write(f->log, &b);
}

static void compact_removes_a_prefix_and_keeps_base_term(void **state)
{
    struct fx *f = *state;
    assert_int_equal(append(f, 1, 200), 0);
    /* The first entry. */
    assert_int_equal(compact(f, 1, tl_term(1)), 0);
    assert_bounds(f->log, 1, 200);
    uint64_t t;
    assert_int_equal(log_term_at(f->log, 1, &t), 0);
    assert_int_equal(t, tl_term(1));
    assert_int_equal(log_term_at(f->log, 0, &t), -PM_ECOMPACTED);
    /* The middle. */
    assert_int_equal(compact(f, 120, tl_term(120)), 0);
    assert_bounds(f->log, 120, 200);
    assert_int_equal(log_term_at(f->log, 120, &t), 0);
    assert_int_equal(t, tl_term(120));
    struct log_entries es;
    assert_int_equal(log_read(f->log, 120, 1, 1, &es), -PM_ECOMPACTED);
    assert_int_equal(log_read(f->log, 5, 1, 1, &es), -PM_ECOMPACTED);
    assert_entries(f->log, 121, 200);
    /* Same point again is a no-op; below base or the wrong term are not. */
    assert_int_equal(compact(f, 120, tl_term(120)), 0);
    assert_int_equal(compact(f, 120, tl_term(120) + 1), -PM_EINVAL);
    assert_int_equal(compact(f, 100, tl_term(100)), -PM_EINVAL);
    assert_bounds(f->log, 120, 200);
    /* Truncation cannot reach into the compacted prefix. */
    assert_int_equal(truncate_at(f, 120), -PM_EINVAL);
    assert_int_equal(truncate_at(f, 50), -PM_EINVAL);
    reopen(f);
    assert_bounds(f->log, 120, 200);
    assert_int_equal(log_term_at(f->log, 120, &t), 0);
    assert_int_equal(t, tl_term(120));
    /* The last entry: the log is empty, base term kept. */
    assert_int_equal(compact(f, 200, tl_term(200)), 0);
    assert_bounds(f->log, 200, 200);
    assert_int_equal(log_term_at(f->log, 200, &t), 0);
    assert_int_equal(t, tl_term(200));
    assert_int_equal(log_read(f->log, 201, 1, 1, &es), -PM_ERANGE);
    assert_int_equal(append(f, 201, 5), 0);
    assert_bounds(f->log, 200, 205);
    assert_entries(f->log, 201, 205);
}

static void compact_beyond_last_installs_a_snapshot(void **state)
{
    struct fx *f = *state;
    /* On an empty log. */
    assert_int_equal(compact(f, 50, 3), 0);
    assert_bounds(f->log, 50, 50);
    uint64_t t;
    assert_int_equal(log_term_at(f->log, 50, &t), 0);
    assert_int_equal(t, 3);
    assert_int_equal(append(f, 51, 10), 0);
    /* Beyond a non-empty log, with the snapshot metadata and the state it
     * carries in the same batch. */
    uint8_t cfg[] = {1, 2, 3, 4};
    struct log_snapshot_meta sm = {.index = 1000, .term = 21, .config = cfg,
                                   .config_len = sizeof cfg};
    struct log_kv kv = {"x", 1, "42", 2};
    struct log_batch b = {.state_clear = 1, .state = &kv, .n_state = 1,
                          .applied = 1000, .snapshot = &sm,
                          .compact_index = 1000, .compact_term = 21};
    assert_int_equal(log_write(f->log, &b), 0);
    assert_bounds(f->log, 1000, 1000);
    assert_int_equal(log_applied(f->log), 1000);
    assert_int_equal(log_term_at(f->log, 1000, &t), 0);
    assert_int_equal(t, 21);
    assert_int_equal(log_term_at(f->log, 60, &t), -PM_ECOMPACTED);
    reopen(f);
    assert_bounds(f->log, 1000, 1000);
    assert_int_equal(log_applied(f->log), 1000);
    assert_int_equal(append(f, 1001, 3), 0);
    assert_entries(f->log, 1001, 1003);
    /* A conflicting log is truncated and compacted in one batch. */
    struct log_batch c = {.truncate_from = 1001, .compact_index = 1002,
                          .compact_term = 30};
    assert_int_equal(log_write(f->log, &c), 0);
    assert_bounds(f->log, 1002, 1002);
    assert_int_equal(log_term_at(f->log, 1002, &t), 0);
    assert_int_equal(t, 30);
}

static void compact_at_a_conflicting_term_discards_the_rest(void **state)
{
    struct fx *f = *state;
    assert_int_equal(append(f, 1, 100), 0);
    /* Agreeing term: the entries after the compaction point stay. */
    assert_int_equal(compact(f, 40, tl_term(40)), 0);
    assert_bounds(f->log, 40, 100);
    /* Conflicting term at 60 (a follower with a divergent suffix getting a
     * snapshot): everything after it goes as well (Raft §7). */
    assert_int_equal(compact(f, 60, tl_term(60) + 5), 0);
    assert_bounds(f->log, 60, 60);
    uint64_t t;
    assert_int_equal(log_term_at(f->log, 60, &t), 0);
    assert_int_equal(t, tl_term(60) + 5);
    assert_int_equal(log_term_at(f->log, 61, &t), -PM_ERANGE);
    reopen(f);
    assert_bounds(f->log, 60, 60);
    /* The same through a truncation in one batch (truncate after the
     * snapshot index, then compact at it with another term). */
    assert_int_equal(append(f, 61, 30), 0);
    struct log_batch b = {.truncate_from = 81, .compact_index = 80,
                          .compact_term = 99};
    assert_int_equal(log_write(f->log, &b), 0);
    assert_bounds(f->log, 80, 80);
    assert_int_equal(log_term_at(f->log, 80, &t), 0);
    assert_int_equal(t, 99);
}

static void hard_state_round_trips(void **state)
{
    struct fx *f = *state;
    struct log_hard_state hs = {.term = 5, .vote = 0x1122334455667788ull,
                                .commit = 17};
    struct log_batch b = {.hard_state = &hs};
    assert_int_equal(log_write(f->log, &b), 0);
    struct log_hard_state got;
    assert_int_equal(log_hard_state(f->log, &got), 0);
    assert_memory_equal(&got, &hs, sizeof hs);
    hs.term = 6;
    hs.vote = 0;
    assert_int_equal(append(f, 1, 3), 0); /* no hard state: unchanged */
    assert_int_equal(log_hard_state(f->log, &got), 0);
    assert_int_equal(got.term, 5);
    assert_int_equal(log_write(f->log, &b), 0);
    reopen(f);
    assert_int_equal(log_hard_state(f->log, &got), 0);
    assert_memory_equal(&got, &hs, sizeof hs);
}

static void snapshot_meta_round_trips(void **state)
{
    struct fx *f = *state;
    uint8_t cfg[300];
    for (size_t i = 0; i < sizeof cfg; i++)
        cfg[i] = (uint8_t)(i * 7);
    struct log_snapshot_meta sm = {.index = 9, .term = 2, .config = cfg,
                                   .config_len = sizeof cfg};
    struct log_batch b = {.snapshot = &sm};
    assert_int_equal(log_write(f->log, &b), 0);
    reopen(f);
    struct log_snapshot_meta got;
    uint8_t *gc;
    assert_int_equal(log_snapshot_meta(f->log, &got, &gc), 0);
    assert_int_equal(got.index, 9);
    assert_int_equal(got.term, 2);
    assert_int_equal(got.config_len, sizeof cfg);
    assert_ptr_equal(got.config, gc);
    assert_memory_equal(gc, cfg, sizeof cfg);
    free(gc);
    /* Replaced by one with an empty config. */
    struct log_snapshot_meta sm2 = {.index = 12, .term = 3};
    b.snapshot = &sm2;
    assert_int_equal(log_write(f->log, &b), 0);
    assert_int_equal(log_snapshot_meta(f->log, &got, &gc), 0);
    assert_int_equal(got.index, 12);
    assert_int_equal(got.config_len, 0);
    assert_null(gc);
    sm2.config_len = 3; /* length without bytes */
    assert_int_equal(log_write(f->log, &b), -PM_EINVAL);
}

struct scan {
    char keys[16][8];
    int n;
    int stop_at;
};

static int scan_fn(void *ctx, const void *key, uint32_t key_len,
                   const void *val, uint32_t val_len)
{
    struct scan *s = ctx;
    assert_true(key_len < 8 && s->n < 16);
    memcpy(s->keys[s->n], key, key_len);
    s->keys[s->n][key_len] = 0;
    assert_int_equal(val_len, key_len + 1);
    assert_memory_equal(val, "vvvvvvv", val_len);
    s->n++;
    return s->n == s->stop_at ? 77 : 0;
}

static int put(struct fx *f, const char *k, const char *v, uint64_t applied)
{
    struct log_kv kv = {k, (uint32_t)strlen(k), v, v ? (uint32_t)strlen(v) : 0};
    struct log_batch b = {.state = &kv, .n_state = 1, .applied = applied};
    return log_write(f->log, &b);
}

static void state_store_puts_deletes_scans_and_clears(void **state)
{
    struct fx *f = *state;
    assert_int_equal(put(f, "b", "vv", 1), 0);
    assert_int_equal(put(f, "a", "vv", 2), 0);
    assert_int_equal(put(f, "ab", "vvv", 3), 0);
    assert_int_equal(put(f, "c", "vv", 0), 0); /* applied 0: unchanged */
    assert_int_equal(log_applied(f->log), 3);
    void *v;
    uint32_t vl;
    assert_int_equal(log_state_get(f->log, "ab", 2, &v, &vl), 0);
    assert_int_equal(vl, 3);
    assert_memory_equal(v, "vvv", 3);
    free(v);
    struct scan s = {.stop_at = -1};
    assert_int_equal(log_state_scan(f->log, scan_fn, &s), 0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.keys[0], "a");
    assert_string_equal(s.keys[1], "ab");
    assert_string_equal(s.keys[2], "b");
    assert_string_equal(s.keys[3], "c");
    struct scan s2 = {.stop_at = 2};
    assert_int_equal(log_state_scan(f->log, scan_fn, &s2), 77);
    assert_int_equal(s2.n, 2);

    assert_int_equal(put(f, "ab", NULL, 4), 0);        /* delete */
    assert_int_equal(put(f, "nothere", NULL, 5), 0);   /* delete absent */
    assert_int_equal(log_state_get(f->log, "ab", 2, &v, &vl), -PM_ENOTFOUND);
    assert_int_equal(put(f, "e", "", 6), 0);           /* empty value */
    assert_int_equal(log_state_get(f->log, "e", 1, &v, &vl), 0);
    assert_non_null(v);
    assert_int_equal(vl, 0);
    free(v);
    reopen(f);
    assert_int_equal(log_applied(f->log), 6);
    assert_int_equal(log_state_get(f->log, "b", 1, &v, &vl), 0);
    free(v);

    /* Clear then put in one batch: only the new key remains. */
    struct log_kv kv = {"z", 1, "vv", 2};
    struct log_batch b = {.state_clear = 1, .state = &kv, .n_state = 1,
                          .applied = 7};
    assert_int_equal(log_write(f->log, &b), 0);
    struct scan s3 = {.stop_at = -1};
    assert_int_equal(log_state_scan(f->log, scan_fn, &s3), 0);
    assert_int_equal(s3.n, 1);
    assert_string_equal(s3.keys[0], "z");

    /* Bad keys. */
    char big[600];
    memset(big, 'k', sizeof big);
    struct log_kv bad = {big, sizeof big, "v", 1};
    b = (struct log_batch){.state = &bad, .n_state = 1};
    assert_int_equal(log_write(f->log, &b), -PM_ETOOBIG);
    bad.key_len = 0;
    assert_int_equal(log_write(f->log, &b), -PM_EINVAL);
    assert_int_equal(log_state_get(f->log, big, 0, &v, &vl), -PM_EINVAL);
    assert_int_equal(log_applied(f->log), 7);
}

static void the_map_grows_when_full(void **state)
{
    struct fx *f = *state;
    log_close(f->log);
    f->log = NULL;
    struct log_options o = {.map_bytes_initial = 64 << 10,
                            .map_bytes_max = 1ull << 30};
    assert_int_equal(log_open(f->dir, &o, &f->log), 0);
    /* ~20 MB through a 64 KiB map, in batches of varying size, with the
     * hard state in each. */
    uint64_t next = 1;
    for (int round = 0; round < 140; round++) {
        size_t n = 1 + (size_t)(round * 37 % 1000);
        tl_make(next, n, f->e, f->buf);
        struct log_hard_state hs = {.term = (uint64_t)round + 1};
        struct log_batch b = {.entries = f->e, .n_entries = n, .hard_state = &hs};
        assert_int_equal(log_write(f->log, &b), 0);
        next += n;
        /* Reads between growths (the reused read txn sees the new map). */
        uint64_t t;
        assert_int_equal(log_term_at(f->log, next - 1, &t), 0);
        assert_int_equal(t, tl_term(next - 1));
    }
    assert_bounds(f->log, 0, next - 1);
    assert_true(next > 60000);
    assert_entries(f->log, 1, next - 1);
    reopen(f);
    assert_bounds(f->log, 0, next - 1);
    assert_entries(f->log, 1, next - 1);
    struct log_hard_state hs;
    assert_int_equal(log_hard_state(f->log, &hs), 0);
    assert_int_equal(hs.term, 140);
}

static void a_full_map_at_its_maximum_is_enospc(void **state)
{
    struct fx *f = *state;
    log_close(f->log);
    f->log = NULL;
    /* LMDB's own limit: without the journal every batch meets it at once
     * (a_tail_lmdb_cannot_take_stays_in_the_journal covers the journal). */
    struct log_options o = {.map_bytes_initial = 64 << 10,
                            .map_bytes_max = 1 << 20, .journal_off = 1};
    assert_int_equal(log_open(f->dir, &o, &f->log), 0);
    uint64_t next = 1;
    int rc = 0;
    for (int round = 0; round < 100 && rc == 0; round++) {
        rc = append(f, next, 500);
        if (rc == 0)
            next += 500;
    }
    assert_int_equal(rc, -PM_ENOSPC);
    assert_true(next > 1000);
    assert_bounds(f->log, 0, next - 1);
    assert_entries(f->log, 1, next - 1);
    /* Still usable: compaction frees pages for new entries (LMDB reuses
     * them once a later transaction has committed). */
    assert_int_equal(compact(f, next - 1, tl_term(next - 1)), 0);
    struct log_hard_state hs = {.term = 1};
    struct log_batch b = {.hard_state = &hs};
    assert_int_equal(log_write(f->log, &b), 0);
    assert_int_equal(append(f, next, 500), 0);
    assert_entries(f->log, next, next + 499);
}

static void bad_open_arguments_and_a_second_handle_are_refused(void **state)
{
    struct fx *f = *state;
    struct log *l2 = (struct log *)1;
    assert_int_equal(log_open(f->dir, NULL, &l2), -PM_EBUSY);
    assert_null(l2);
    assert_int_equal(log_open(NULL, NULL, &l2), -PM_EINVAL);
    assert_int_equal(log_open("", NULL, &l2), -PM_EINVAL);
    char sub[600];
    snprintf(sub, sizeof sub, "%s/other", f->dir);
    struct log_options o = {.map_bytes_initial = 1 << 30, .map_bytes_max = 1 << 20};
    assert_int_equal(log_open(sub, &o, &l2), -PM_EINVAL);
    assert_int_equal(log_write(f->log, NULL), -PM_EINVAL);
    log_close(NULL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crc32c_matches_the_standard_check_value),
        T(a_new_store_is_empty),
        T(appended_entries_read_back),
        T(reads_are_bounded_by_count_and_bytes),
        T(a_batch_breaking_contiguity_writes_nothing),
        T(truncate_removes_a_suffix),
        T(compact_removes_a_prefix_and_keeps_base_term),
        T(compact_beyond_last_installs_a_snapshot),
        T(compact_at_a_conflicting_term_discards_the_rest),
        T(hard_state_round_trips),
        T(snapshot_meta_round_trips),
        T(state_store_puts_deletes_scans_and_clears),
        T(the_map_grows_when_full),
        T(a_full_map_at_its_maximum_is_enospc),
        T(bad_open_arguments_and_a_second_handle_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
