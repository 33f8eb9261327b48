/* test_log_corrupt.c: damage on disk is reported as -PM_ECORRUPT (or
 * -PM_EVERSION), never returned as data and never a crash: flipped bytes in
 * stored entries, truncated, empty and garbage data files, and damaged
 * metadata crafted with LMDB directly. */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/err.h"
#include "log/log.h"
#include "log/log_impl.h" /* log__err: the LMDB -> pm_err table */
#include "log/util.h"

struct fx {
    char *dir;
    char data_path[600];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = tl_mkdtemp("logc")))
        return -1;
    snprintf(f->data_path, sizeof f->data_path, "%s/data.mdb", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tl_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Entry INDEX's payload: a unique, searchable text then filler. */
static uint32_t tagged_payload(uint64_t index, uint8_t *buf)
{
    int n = snprintf((char *)buf, 64, "PMESH-TAG-%06llu-", (unsigned long long)index);
    memset(buf + n, 'x', 40);
    return (uint32_t)n + 40;
}

/* Write entries 1..N in batches of 10 (so that stale copies of pages exist
 * too), with a hard state, then close. */
static void write_tagged(struct fx *f, uint64_t n)
{
    struct log *log;
    assert_int_equal(log_open(f->dir, NULL, &log), 0);
    static uint8_t buf[10][64];
    struct pm_entry e[10];
    for (uint64_t lo = 1; lo <= n; lo += 10) {
        size_t k = n - lo + 1 < 10 ? (size_t)(n - lo + 1) : 10;
        for (size_t i = 0; i < k; i++) {
            e[i] = (struct pm_entry){.index = lo + i, .term = 3, .type = 3,
                                     .data = buf[i]};
            e[i].len = tagged_payload(lo + i, buf[i]);
        }
        struct log_hard_state hs = {.term = 3, .vote = 1, .commit = lo};
        struct log_batch b = {.entries = e, .n_entries = k, .hard_state = &hs};
        assert_int_equal(log_write(log, &b), 0);
    }
    log_close(log);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *b = tl_slurp(path, len);
    assert_non_null(b);
    return b;
}

/* XOR the byte at DELTA from every occurrence of PAT in the file (every
 * copy: LMDB leaves stale versions of pages behind). Returns the count. */
static int flip_all(const char *path, const void *pat, size_t pat_len,
                    long delta)
{
    size_t len;
    uint8_t *p = slurp(path, &len);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    int hits = 0;
    for (size_t i = 0; i + pat_len <= len; i++) {
        if (memcmp(p + i, pat, pat_len) != 0)
            continue;
        uint8_t b = (uint8_t)(p[(long)i + delta] ^ 0x5A);
        assert_int_equal(pwrite(fd, &b, 1, (off_t)((long)i + delta)), 1);
        hits++;
    }
    close(fd);
    free(p);
    return hits;
}

/* A store with a damaged record is refused at open (the open-time check,
 * verify.c); the read path checks every record again, for damage that
 * happens while the store is open: reach it by skipping the check. */
static void open_past_check(struct fx *f, struct log **log)
{
    assert_int_equal(log_open(f->dir, NULL, log), -PM_ECORRUPT);
    struct log_options o = {.verify_skip = 1};
    assert_int_equal(log_open(f->dir, &o, log), 0);
}

static void assert_reads_ok(struct log *log, uint64_t lo, uint64_t hi)
{
    struct log_entries es;
    assert_int_equal(log_read(log, lo, hi - lo + 1, SIZE_MAX, &es), 0);
    assert_int_equal(es.n, hi - lo + 1);
    for (size_t i = 0; i < es.n; i++) {
        uint8_t want[64];
        uint32_t n = tagged_payload(lo + i, want);
        assert_int_equal(es.entries[i].len, n);
        assert_memory_equal(es.entries[i].data, want, n);
    }
    log_entries_free(&es);
}

static void a_flipped_payload_or_term_byte_is_reported(void **state)
{
    struct fx *f = *state;
    write_tagged(f, 50);
    /* Payload of entry 25; the term (the byte before the payload) of 30. */
    assert_true(flip_all(f->data_path, "PMESH-TAG-000025-", 17, 12) >= 1);
    assert_true(flip_all(f->data_path, "PMESH-TAG-000030-", 17, -1) >= 1);

    struct log *log;
    open_past_check(f, &log);
    assert_int_equal(log_last_index(log), 50);
    struct log_entries es;
    uint64_t t = 0;
    assert_int_equal(log_read(log, 25, 1, SIZE_MAX, &es), -PM_ECORRUPT);
    assert_null(es.entries);
    assert_int_equal(es.n, 0);
    assert_int_equal(log_term_at(log, 25, &t), -PM_ECORRUPT);
    assert_int_equal(log_term_at(log, 30, &t), -PM_ECORRUPT);
    assert_int_equal(log_read(log, 30, 5, SIZE_MAX, &es), -PM_ECORRUPT);
    /* A range containing a bad entry returns nothing at all. */
    assert_int_equal(log_read(log, 20, 10, SIZE_MAX, &es), -PM_ECORRUPT);
    assert_null(es.mem);
    /* Every other entry is fine. */
    assert_reads_ok(log, 1, 24);
    assert_reads_ok(log, 26, 29);
    assert_reads_ok(log, 31, 50);
    assert_int_equal(log_term_at(log, 24, &t), 0);
    assert_int_equal(t, 3);
    log_close(log);
}

static void expect_open_fails(struct fx *f, int want)
{
    struct log *log = (struct log *)1;
    assert_int_equal(log_open(f->dir, NULL, &log), want);
    assert_null(log);
}

static void truncated_and_empty_data_files_are_refused(void **state)
{
    struct fx *f = *state;
    write_tagged(f, 3000);
    struct stat st;
    assert_int_equal(stat(f->data_path, &st), 0);
    off_t sizes[] = {st.st_size - 4096, st.st_size / 2, 8192 + 100, 4096, 100, 0};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        assert_int_equal(truncate(f->data_path, sizes[i]), 0);
        expect_open_fails(f, -PM_ECORRUPT);
    }
}

static void a_garbage_data_file_is_refused(void **state)
{
    struct fx *f = *state;
    write_tagged(f, 200);
    size_t len;
    uint8_t *p = slurp(f->data_path, &len);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        p[i] = (uint8_t)x;
    }
    int fd = open(f->data_path, O_WRONLY);
    assert_int_equal(pwrite(fd, p, len, 0), (ssize_t)len);
    close(fd);
    expect_open_fails(f, -PM_ECORRUPT);
    /* All zeros too. */
    memset(p, 0, len);
    fd = open(f->data_path, O_WRONLY);
    assert_int_equal(pwrite(fd, p, len, 0), (ssize_t)len);
    close(fd);
    expect_open_fails(f, -PM_ECORRUPT);
    free(p);
}

/* Raw LMDB access to craft damage the store itself never writes. */
struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi log, meta, state;
};

static void raw_begin(struct fx *f, struct raw *r)
{
    assert_int_equal(mdb_env_create(&r->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(r->env, 3), 0);
    assert_int_equal(mdb_env_open(r->env, f->dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "log", 0, &r->log), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "meta", 0, &r->meta), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "state", 0, &r->state), 0);
}

static void raw_commit(struct raw *r)
{
    assert_int_equal(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

static void raw_del_entry(struct raw *r, uint64_t index)
{
    uint8_t key[8];
    for (int i = 7; i >= 0; i--, index >>= 8)
        key[i] = (uint8_t)index;
    MDB_val k = {8, key};
    assert_int_equal(mdb_del(r->txn, r->log, &k, NULL), 0);
}

static void raw_put(MDB_txn *txn, MDB_dbi dbi, const void *key, size_t key_len,
                    const void *val, size_t val_len)
{
    MDB_val k = {key_len, (void *)key}, v = {val_len, (void *)val};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
}

static void a_gap_in_the_log_is_refused_on_open(void **state)
{
    struct fx *f = *state;
    write_tagged(f, 40);
    struct raw r;
    raw_begin(f, &r);
    raw_del_entry(&r, 17);
    raw_commit(&r);
    expect_open_fails(f, -PM_ECORRUPT);
}

static void a_missing_first_entry_is_refused_on_open(void **state)
{
    struct fx *f = *state;
    write_tagged(f, 40);
    struct raw r;
    raw_begin(f, &r);
    raw_del_entry(&r, 1);
    raw_commit(&r);
    expect_open_fails(f, -PM_ECORRUPT);
}

static void damaged_metadata_is_refused_on_open(void **state)
{
    struct fx *f = *state;
    write_tagged(f, 5);
    struct raw r;
    /* A hard state record with a bad checksum. */
    raw_begin(f, &r);
    uint8_t junk[28] = {1, 2, 3, 4};
    raw_put(r.txn, r.meta, "hard", 4, junk, sizeof junk);
    raw_commit(&r);
    expect_open_fails(f, -PM_ECORRUPT);
    /* The wrong size (a valid checksum over a short body). */
    raw_begin(f, &r);
    uint8_t rec[4 + 5] = {0};
    uint8_t crc_in[4 + 5];
    memcpy(crc_in, "hard", 4);
    memset(crc_in + 4, 0, 5);
    uint32_t c = log_crc32c(crc_in, sizeof crc_in);
    rec[0] = (uint8_t)(c >> 24); rec[1] = (uint8_t)(c >> 16);
    rec[2] = (uint8_t)(c >> 8); rec[3] = (uint8_t)c;
    raw_put(r.txn, r.meta, "hard", 4, rec, sizeof rec);
    raw_commit(&r);
    expect_open_fails(f, -PM_ECORRUPT);
}

/* Replace the format record by a valid one naming VERSION. */
static void put_format(struct fx *f, uint8_t version)
{
    struct raw r;
    raw_begin(f, &r);
    uint8_t body[6 + 4] = {'f', 'o', 'r', 'm', 'a', 't', 0, 0, 0, version};
    uint32_t c = log_crc32c(body, sizeof body);
    uint8_t rec[8] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16), (uint8_t)(c >> 8),
                      (uint8_t)c, 0, 0, 0, version};
    raw_put(r.txn, r.meta, "format", 6, rec, sizeof rec);
    raw_commit(&r);
}

static void a_newer_format_or_a_missing_format_is_refused(void **state)
{
    struct fx *f = *state;
    write_tagged(f, 5);
    struct raw r;
    put_format(f, LOG__FORMAT + 1);
    expect_open_fails(f, -PM_EVERSION);
    /* Format 1 stored FSM state without checksums: refused, not read. */
    put_format(f, 1);
    expect_open_fails(f, -PM_EVERSION);
    put_format(f, LOG__FORMAT);
    struct log *log;
    assert_int_equal(log_open(f->dir, NULL, &log), 0);
    log_close(log);

    raw_begin(f, &r);
    MDB_val k = {6, "format"};
    assert_int_equal(mdb_del(r.txn, r.meta, &k, NULL), 0);
    raw_commit(&r);
    expect_open_fails(f, -PM_ECORRUPT);
}

static void a_malformed_entry_value_is_reported_on_read(void **state)
{
    struct fx *f = *state;
    write_tagged(f, 10);
    struct raw r;
    raw_begin(f, &r);
    uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, 5};
    raw_put(r.txn, r.log, key, 8, "abc", 3); /* shorter than a header */
    raw_commit(&r);
    struct log *log;
    open_past_check(f, &log);
    struct log_entries es;
    uint64_t t;
    assert_int_equal(log_read(log, 5, 1, SIZE_MAX, &es), -PM_ECORRUPT);
    assert_int_equal(log_read(log, 1, 10, SIZE_MAX, &es), -PM_ECORRUPT);
    assert_int_equal(log_term_at(log, 5, &t), -PM_ECORRUPT);
    assert_reads_ok(log, 6, 10);
    log_close(log);
}

/* ---- FSM state records (F4 of tests/chaos/FINDINGS.md) ------------------ */

/* Store three state keys whose values carry searchable markers. */
static void write_state(struct fx *f)
{
    struct log *log;
    assert_int_equal(log_open(f->dir, NULL, &log), 0);
    struct log_kv kv[3] = {
        {"key1", 4, "MARKERVALUE1-abcdefghij", 23},
        {"key2", 4, "MARKERVALUE2-abcdefghij", 23},
        {"key3", 4, "MARKERVALUE3-abcdefghij", 23},
    };
    struct log_batch b = {.state = kv, .n_state = 3, .applied = 7};
    assert_int_equal(log_write(log, &b), 0);
    log_close(log);
}

struct scan_seen {
    int n;
};

static int count_kv(void *ctx, const void *k, uint32_t kl, const void *v,
                    uint32_t vl)
{
    (void)k; (void)kl; (void)v; (void)vl;
    ((struct scan_seen *)ctx)->n++;
    return 0;
}

static void a_damaged_state_value_is_reported_not_served(void **state)
{
    struct fx *f = *state;
    write_state(f);
    /* The byte after "MARKERVALUE" of key3's value: '3' becomes another
     * digit-like byte, as in the finding's reproduction. */
    assert_true(flip_all(f->data_path, "MARKERVALUE3", 12, 11) >= 1);
    struct log *log;
    open_past_check(f, &log);
    void *v = (void *)1;
    uint32_t vl = 99;
    assert_int_equal(log_state_get(log, "key3", 4, &v, &vl), -PM_ECORRUPT);
    assert_null(v);
    assert_int_equal(vl, 0);
    struct scan_seen seen = {0};
    assert_int_equal(log_state_scan(log, count_kv, &seen), -PM_ECORRUPT);
    assert_int_equal(seen.n, 2); /* key1, key2; stopped at key3 */
    /* The intact ones read back as written. */
    assert_int_equal(log_state_get(log, "key1", 4, &v, &vl), 0);
    assert_int_equal(vl, 23);
    assert_memory_equal(v, "MARKERVALUE1-abcdefghij", 23);
    free(v);
    log_close(log);
}

static void a_state_value_under_another_key_or_short_is_reported(void **state)
{
    struct fx *f = *state;
    write_state(f);
    struct raw r;
    /* key1's intact record copied under key2: the CRC covers the key. */
    raw_begin(f, &r);
    MDB_val k = {4, "key1"}, v;
    assert_int_equal(mdb_get(r.txn, r.state, &k, &v), 0);
    uint8_t copy[64];
    assert_true(v.mv_size <= sizeof copy);
    memcpy(copy, v.mv_data, v.mv_size);
    size_t copy_len = v.mv_size;
    raw_put(r.txn, r.state, "key2", 4, copy, copy_len);
    /* key3 shorter than a checksum. */
    raw_put(r.txn, r.state, "key3", 4, "abc", 3);
    raw_commit(&r);
    struct log *log;
    open_past_check(f, &log);
    void *val;
    uint32_t vl;
    assert_int_equal(log_state_get(log, "key2", 4, &val, &vl), -PM_ECORRUPT);
    assert_int_equal(log_state_get(log, "key3", 4, &val, &vl), -PM_ECORRUPT);
    assert_int_equal(log_state_get(log, "key1", 4, &val, &vl), 0);
    free(val);
    struct scan_seen seen = {0};
    assert_int_equal(log_state_scan(log, count_kv, &seen), -PM_ECORRUPT);
    log_close(log);
}

/* ---- a damaged store never opens empty (F5) ------------------------------ */

/* A table missing from LMDB's main database (what a torn page of it looks
 * like to LMDB) is damage: no empty stand-in is created. */
static void a_missing_table_is_refused_not_recreated(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 3; i++) { /* log, meta, state */
        tl_rmrf(f->dir);
        assert_int_equal(mkdir(f->dir, 0700), 0);
        write_tagged(f, 20);
        write_state(f);
        struct raw r;
        raw_begin(f, &r);
        MDB_dbi d = i == 0 ? r.log : i == 1 ? r.meta : r.state;
        assert_int_equal(mdb_drop(r.txn, d, 1), 0); /* 1: delete the name */
        raw_commit(&r);
        expect_open_fails(f, -PM_ECORRUPT);
        /* Still refused on a second try: the failed open created nothing. */
        expect_open_fails(f, -PM_ECORRUPT);
    }
}

/* A meta record lost from the table (its name zeroed, as a torn page
 * leaves it) or an unknown one is damage, not "no hard state yet". */
static void a_lost_or_unknown_meta_record_is_refused(void **state)
{
    struct fx *f = *state;
    write_tagged(f, 20);
    struct raw r;
    raw_begin(f, &r);
    MDB_val k = {4, "hard"}, v;
    assert_int_equal(mdb_get(r.txn, r.meta, &k, &v), 0);
    uint8_t rec[64];
    memcpy(rec, v.mv_data, v.mv_size);
    size_t len = v.mv_size;
    assert_int_equal(mdb_del(r.txn, r.meta, &k, NULL), 0);
    raw_put(r.txn, r.meta, "\0\0\0\0", 4, rec, len);
    raw_commit(&r);
    expect_open_fails(f, -PM_ECORRUPT);
}

/* Tear or zero each page of a store in turn (as tests/disk/t_torn.sh does
 * to a node): an open either fails with -PM_ECORRUPT or finds the whole
 * log range and hard state; it never opens as an empty store. */
static void a_torn_page_never_opens_an_empty_store(void **state)
{
    struct fx *f = *state;
    write_tagged(f, 60);
    write_state(f);
    size_t len;
    uint8_t *pristine = slurp(f->data_path, &len);
    size_t pages = len / 4096;
    int refused = 0, opened = 0;
    for (size_t p = 0; p < pages; p++) {
        for (int whole = 0; whole < 2; whole++) {
            int fd = open(f->data_path, O_WRONLY | O_TRUNC);
            assert_true(fd >= 0);
            assert_int_equal(pwrite(fd, pristine, len, 0), (ssize_t)len);
            static const uint8_t zeros[4096];
            size_t off = whole ? 0 : 1536; /* sectors 3-7 of the page */
            assert_int_equal(pwrite(fd, zeros, 4096 - off,
                                    (off_t)(p * 4096 + off)),
                             (ssize_t)(4096 - off));
            close(fd);
            struct log *log = NULL;
            int rc = log_open(f->dir, NULL, &log);
            if (rc != 0) {
                if (rc != -PM_ECORRUPT)
                    fail_msg("page %zu %s: open %d", p,
                             whole ? "zeroed" : "torn", rc);
                refused++;
                continue;
            }
            struct log_hard_state hs;
            assert_int_equal(log_hard_state(log, &hs), 0);
            if (log_last_index(log) != 60 || hs.term != 3 ||
                log_applied(log) != 7)
                fail_msg("page %zu %s: opened with last %llu, term %llu, "
                         "applied %llu", p, whole ? "zeroed" : "torn",
                         (unsigned long long)log_last_index(log),
                         (unsigned long long)hs.term,
                         (unsigned long long)log_applied(log));
            opened++;
            log_close(log);
        }
    }
    free(pristine);
    assert_true(refused > 0);
    (void)opened;
}

static void lmdb_and_errno_codes_translate_at_the_boundary(void **state)
{
    (void)state;
    assert_int_equal(log__err(MDB_SUCCESS), 0);
    assert_int_equal(log__err(MDB_CORRUPTED), -PM_ECORRUPT);
    assert_int_equal(log__err(MDB_PAGE_NOTFOUND), -PM_ECORRUPT);
    assert_int_equal(log__err(MDB_INVALID), -PM_ECORRUPT);
    assert_int_equal(log__err(MDB_VERSION_MISMATCH), -PM_ECORRUPT);
    assert_int_equal(log__err(MDB_NOTFOUND), -PM_ENOTFOUND);
    assert_int_equal(log__err(MDB_MAP_FULL), -PM_ENOSPC);
    assert_int_equal(log__err(MDB_TXN_FULL), -PM_ETOOBIG);
    assert_int_equal(log__err(MDB_PANIC), -PM_EIO);
    assert_int_equal(log__err(ENOSPC), -PM_ENOSPC);
    assert_int_equal(log__err(EIO), -PM_EIO);
    assert_int_equal(log__err(ENOMEM), -PM_ENOMEM);
    assert_int_equal(log__err(-99999), -PM_EIO);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_flipped_payload_or_term_byte_is_reported),
        T(truncated_and_empty_data_files_are_refused),
        T(a_garbage_data_file_is_refused),
        T(a_gap_in_the_log_is_refused_on_open),
        T(a_missing_first_entry_is_refused_on_open),
        T(damaged_metadata_is_refused_on_open),
        T(a_newer_format_or_a_missing_format_is_refused),
        T(a_malformed_entry_value_is_reported_on_read),
        T(a_damaged_state_value_is_reported_not_served),
        T(a_state_value_under_another_key_or_short_is_reported),
        T(a_missing_table_is_refused_not_recreated),
        T(a_lost_or_unknown_meta_record_is_refused),
        T(a_torn_page_never_opens_an_empty_store),
        cmocka_unit_test(lmdb_and_errno_codes_translate_at_the_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
