/* test_log_journal.c: the store's write-ahead journal (src/log/journal.c).
 * Journaled batches survive a crash (a forked child writes and _exit()s
 * without log_close) and are in LMDB after the next open; reads span
 * LMDB's part and the in-memory tail; journaled truncations within the
 * tail and into LMDB's entries; a torn last record is dropped and a
 * damaged record before an intact one is refused; injected faults leave
 * nothing behind; a full journal or a big batch goes to LMDB with the
 * tail; and a model-based random run with crashes every few hundred
 * operations.
 *
 * Expected content is kept in a model (index -> term, type, payload
 * recipe; hard state, applied, FSM state, snapshot). A scenario is written
 * once and run twice: by a child against the store (checking as it goes)
 * and by the parent against the model alone, which then knows what the
 * store must hold after the crash. Checks use CHK, which in a child exits
 * with a message (cmocka's longjmp must not run there) and in the parent
 * fails the test. Some checks look at struct log's journal fields
 * (log_impl.h) to make sure a batch took the path the test is about.
 * fdatasync(), pwrite() and pread() are interposed (as in
 * test_log_durability.c) to fail on the journal's file descriptor when a
 * test asks. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/err.h"
#include "log/log.h"
#include "log/log_impl.h" /* struct log: which path a batch took */
#include "log/util.h"

#define PAGE 4096u
#define MAXN 128          /* entries in one batch */
#define PAYLOAD_MAX 4000u /* the big batches' entries */
#define NKEYS 8
#define VAL_MAX 40
#define CFG_MAX 16

/* ---- checks usable in a child and in the parent ------------------------- */

static int in_child;

static void chk_fail(const char *file, int line, const char *what,
                     long long a, long long b, int vals)
{
    if (vals)
        fprintf(stderr, "%s:%d: %sfailed: %s (%lld vs %lld)\n", file, line,
                in_child ? "[child] " : "", what, a, b);
    else
        fprintf(stderr, "%s:%d: %sfailed: %s\n", file, line,
                in_child ? "[child] " : "", what);
    if (in_child)
        _exit(100);
    _fail(file, line);
}

#define CHK(c)                                                              \
    do {                                                                    \
        if (!(c))                                                           \
            chk_fail(__FILE__, __LINE__, #c, 0, 0, 0);                      \
    } while (0)
#define CHKEQ(a, b)                                                         \
    do {                                                                    \
        long long a_ = (long long)(a), b_ = (long long)(b);                 \
        if (a_ != b_)                                                       \
            chk_fail(__FILE__, __LINE__, #a " == " #b, a_, b_, 1);          \
    } while (0)

/* ---- entry contents ----------------------------------------------------- */

/* What an entry holds: salt 0 is tl_make's content for its index (term,
 * type and length as tl_make gives them); any other salt is a payload
 * derived from (index, salt), unlike tl_make's. */
struct ment {
    uint64_t term;
    uint32_t salt;
    uint32_t len;
    uint8_t type;
};

static void alt_fill(uint64_t index, uint32_t salt, uint8_t *buf, uint32_t len)
{
    uint64_t x = ((index * 0x9E3779B97F4A7C15ull) ^
                  ((uint64_t)salt * 0xD1B54A32D192ED03ull)) | 1;
    for (uint32_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)(x >> 24);
    }
}

static void ment_fill(uint64_t index, const struct ment *d, uint8_t *buf)
{
    if (d->salt == 0)
        tl_fill(index, buf, d->len);
    else
        alt_fill(index, d->salt, buf, d->len);
}

static struct ment tl_desc(uint64_t index)
{
    return (struct ment){tl_term(index), 0, tl_len(index), tl_type(index)};
}

/* Another content for INDEX: term TERM, a payload of 1..MAXLEN bytes
 * (0 if MAXLEN is 0) depending on SALT (non-zero). */
static struct ment alt_desc(uint64_t index, uint64_t term, uint32_t salt,
                            uint32_t maxlen)
{
    uint64_t h = (index + 1) * 0x9E3779B97F4A7C15ull ^ salt * 0x85EBCA6Bull;
    h ^= h >> 29;
    struct ment d = {term, salt, 0, (uint8_t)(1 + h % 3)};
    if (maxlen)
        d.len = 1 + (uint32_t)((h >> 8) % maxlen);
    return d;
}

/* 1 if E (read back) holds what D describes. */
static int ment_ok(const struct pm_entry *e, const struct ment *d)
{
    static uint8_t want[PAYLOAD_MAX];
    if (e->term != d->term || e->type != d->type || e->len != d->len)
        return 0;
    if (e->len == 0)
        return e->data == NULL;
    ment_fill(e->index, d, want);
    return memcmp(e->data, want, e->len) == 0;
}

/* ---- the model ---------------------------------------------------------- */

struct model {
    uint64_t base, base_term, last, applied;
    struct log_hard_state hs;
    struct ment *e; /* by index */
    size_t cap;
    int snap;
    uint64_t snap_index, snap_term;
    uint32_t cfg_len;
    uint8_t cfg[CFG_MAX];
    int kv_len[NKEYS]; /* -1: absent */
    uint8_t kv[NKEYS][VAL_MAX];
};

static void m_init(struct model *m)
{
    free(m->e);
    memset(m, 0, sizeof *m);
    for (int k = 0; k < NKEYS; k++)
        m->kv_len[k] = -1;
}

static struct ment *m_at(struct model *m, uint64_t index)
{
    if (index >= m->cap) {
        size_t c = m->cap ? m->cap : 1024;
        while (c <= index)
            c *= 2;
        struct ment *q = realloc(m->e, c * sizeof *q);
        CHK(q != NULL);
        memset(q + m->cap, 0, (c - m->cap) * sizeof *q);
        m->e = q;
        m->cap = c;
    }
    return &m->e[index];
}

static void key_name(int k, char *out) { snprintf(out, 16, "key%d", k); }

/* A batch, described so that it can be applied to the model too. The
 * entries start at sp_lo() (after the truncation), unless `shift` moves
 * them (an invalid batch). */
struct spec {
    uint64_t tf;
    struct ment d[MAXN];
    size_t n;
    int shift;
    int has_hs;
    struct log_hard_state hs;
    uint64_t applied;
    int state_clear;
    size_t n_state;
    int key[2];
    int val_len[2]; /* -1: delete */
    uint8_t val[2][VAL_MAX];
    int snap;
    uint64_t snap_index, snap_term;
    uint32_t cfg_len;
    uint8_t cfg[CFG_MAX];
    uint64_t ci, ct;
};

static uint64_t sp_lo(const struct model *m, const struct spec *s)
{
    return s->tf && s->tf <= m->last ? s->tf : m->last + 1;
}

/* Append N entries with tl_make's content. */
static void sp_tl(struct spec *s, const struct model *m, size_t n)
{
    uint64_t lo = sp_lo(m, s) + s->n;
    CHK(s->n + n <= MAXN);
    for (size_t i = 0; i < n; i++)
        s->d[s->n++] = tl_desc(lo + i);
}

/* Append N entries with other content (see alt_desc). */
static void sp_alt(struct spec *s, const struct model *m, size_t n,
                   uint64_t term, uint32_t salt, uint32_t maxlen)
{
    uint64_t lo = sp_lo(m, s) + s->n;
    CHK(s->n + n <= MAXN);
    for (size_t i = 0; i < n; i++)
        s->d[s->n++] = alt_desc(lo + i, term, salt, maxlen);
}

static void sp_hs(struct spec *s, uint64_t term, uint64_t vote,
                  uint64_t commit)
{
    s->has_hs = 1;
    s->hs = (struct log_hard_state){term, vote, commit};
}

/* Encoded size of the journal record S would be (journal.c's layout). */
static size_t sp_record_bytes(const struct spec *s)
{
    size_t n = 64;
    for (size_t i = 0; i < s->n; i++)
        n += 24 + s->d[i].len;
    return n;
}

static void m_apply(struct model *m, const struct spec *s)
{
    if (s->tf && s->tf <= m->last)
        m->last = s->tf - 1;
    for (size_t i = 0; i < s->n; i++) {
        m->last++;
        *m_at(m, m->last) = s->d[i];
    }
    if (s->has_hs)
        m->hs = s->hs;
    if (s->state_clear)
        for (int k = 0; k < NKEYS; k++)
            m->kv_len[k] = -1;
    for (size_t i = 0; i < s->n_state; i++) {
        m->kv_len[s->key[i]] = s->val_len[i];
        if (s->val_len[i] > 0)
            memcpy(m->kv[s->key[i]], s->val[i], (size_t)s->val_len[i]);
    }
    if (s->applied)
        m->applied = s->applied;
    if (s->snap) {
        m->snap = 1;
        m->snap_index = s->snap_index;
        m->snap_term = s->snap_term;
        m->cfg_len = s->cfg_len;
        memcpy(m->cfg, s->cfg, s->cfg_len);
    }
    if (s->ci && s->ci > m->base) {
        if (s->ci < m->last && m->e[s->ci].term != s->ct)
            m->last = s->ci; /* a divergent suffix goes too */
        if (s->ci > m->last)
            m->last = s->ci;
        m->base = s->ci;
        m->base_term = s->ct;
    }
}

/* log_write_journals() of the batch the last sp_write gave a store. */
static int sp_journals = -1;
/* 1: sp_write uses log_write_unflushed instead of log_write. */
static int sp_unflushed;

/* Write S through LOG (NULL: model only) expecting EXPECT; on success
 * (expected and got) apply it to M. Returns the code log_write gave. */
static int sp_write(struct log *log, struct model *m, const struct spec *s,
                    int expect)
{
    static struct pm_entry e[MAXN];
    static uint8_t buf[MAXN * PAYLOAD_MAX];
    uint64_t lo = sp_lo(m, s) + (uint64_t)(int64_t)s->shift;
    uint8_t *p = buf;
    for (size_t i = 0; i < s->n; i++) {
        CHK(s->d[i].len <= PAYLOAD_MAX);
        e[i] = (struct pm_entry){.index = lo + i, .term = s->d[i].term,
                                 .type = s->d[i].type, .len = s->d[i].len,
                                 .data = s->d[i].len ? p : NULL};
        ment_fill(lo + i, &s->d[i], p);
        p += s->d[i].len;
    }
    struct log_kv kv[2];
    char names[2][16];
    for (size_t i = 0; i < s->n_state; i++) {
        key_name(s->key[i], names[i]);
        kv[i] = (struct log_kv){names[i], (uint32_t)strlen(names[i]),
                                s->val_len[i] >= 0 ? s->val[i] : NULL,
                                s->val_len[i] >= 0 ? (uint32_t)s->val_len[i]
                                                   : 0};
    }
    struct log_snapshot_meta sm = {s->snap_index, s->snap_term,
                                   s->cfg_len ? s->cfg : NULL, s->cfg_len};
    struct log_batch b = {.truncate_from = s->tf,
                          .entries = s->n ? e : NULL,
                          .n_entries = s->n,
                          .hard_state = s->has_hs ? &s->hs : NULL,
                          .state_clear = s->state_clear,
                          .state = s->n_state ? kv : NULL,
                          .n_state = s->n_state,
                          .applied = s->applied,
                          .snapshot = s->snap ? &sm : NULL,
                          .compact_index = s->ci,
                          .compact_term = s->ct};
    int rc = expect;
    if (log) {
        sp_journals = log_write_journals(log, &b);
        rc = sp_unflushed ? log_write_unflushed(log, &b) : log_write(log, &b);
        CHKEQ(rc, expect);
    }
    if (rc == 0)
        m_apply(m, s);
    return rc;
}

/* ---- checking a store against the model --------------------------------- */

static void check_meta(struct log *log, const struct model *m)
{
    CHKEQ(log_base_index(log), m->base);
    CHKEQ(log_first_index(log), m->base + 1);
    CHKEQ(log_last_index(log), m->last);
    struct log_hard_state hs;
    CHKEQ(log_hard_state(log, &hs), 0);
    CHKEQ(hs.term, m->hs.term);
    CHKEQ(hs.vote, m->hs.vote);
    CHKEQ(hs.commit, m->hs.commit);
    CHKEQ(log_applied(log), m->applied);
    uint64_t t = 12345;
    CHKEQ(log_term_at(log, m->base, &t), 0);
    CHKEQ(t, m->base_term);
    CHKEQ(log_term_at(log, m->last + 1, &t), -PM_ERANGE);
    if (m->base)
        CHKEQ(log_term_at(log, m->base - 1, &t), -PM_ECOMPACTED);
}

/* One log_read at LO with the given bounds, checked; returns n. */
static size_t check_read(struct log *log, const struct model *m, uint64_t lo,
                         size_t maxc, size_t maxb)
{
    struct log_entries es;
    CHKEQ(log_read(log, lo, maxc, maxb, &es), 0);
    size_t n = es.n, bytes = 0;
    CHK(n >= 1);
    CHK(n <= (maxc ? maxc : 1));
    CHK(lo + n - 1 <= m->last);
    for (size_t i = 0; i < n; i++) {
        CHKEQ(es.entries[i].index, lo + i);
        if (!ment_ok(&es.entries[i], &m->e[lo + i]))
            chk_fail(__FILE__, __LINE__, "entry content", (long long)(lo + i),
                     (long long)es.entries[i].term, 1);
        bytes += es.entries[i].len;
    }
    if (n > 1)
        CHK(bytes <= maxb);
    log_entries_free(&es);
    return n;
}

/* Every entry in [lo, hi], read in as many calls as it takes. */
static void check_range(struct log *log, const struct model *m, uint64_t lo,
                        uint64_t hi, size_t maxc, size_t maxb)
{
    for (uint64_t next = lo; next <= hi;) {
        size_t c = maxc; /* 0 reads one entry */
        if (c != 0 && (uint64_t)c > hi - next + 1)
            c = (size_t)(hi - next + 1);
        next += check_read(log, m, next, c, maxb);
    }
}

static void check_state(struct log *log, const struct model *m)
{
    for (int k = 0; k < NKEYS; k++) {
        char name[16];
        key_name(k, name);
        void *v = NULL;
        uint32_t vl = 0;
        int rc = log_state_get(log, name, (uint32_t)strlen(name), &v, &vl);
        if (m->kv_len[k] < 0) {
            CHKEQ(rc, -PM_ENOTFOUND);
        } else {
            CHKEQ(rc, 0);
            CHKEQ(vl, m->kv_len[k]);
            CHK(memcmp(v, m->kv[k], vl) == 0);
        }
        free(v);
    }
    struct log_snapshot_meta sm;
    uint8_t *cfg = NULL;
    int rc = log_snapshot_meta(log, &sm, &cfg);
    if (!m->snap) {
        CHKEQ(rc, -PM_ENOTFOUND);
    } else {
        CHKEQ(rc, 0);
        CHKEQ(sm.index, m->snap_index);
        CHKEQ(sm.term, m->snap_term);
        CHKEQ(sm.config_len, m->cfg_len);
        CHK(m->cfg_len == 0 || memcmp(cfg, m->cfg, m->cfg_len) == 0);
    }
    free(cfg);
}

/* Everything: bounds, hard state, applied, every entry (read whole and
 * one at a time through log_term_at), the FSM state and snapshot. */
static void check_all(struct log *log, const struct model *m)
{
    check_meta(log, m);
    check_range(log, m, m->base + 1, m->last, SIZE_MAX, SIZE_MAX);
    for (uint64_t i = m->base + 1; i <= m->last; i++) {
        uint64_t t;
        CHKEQ(log_term_at(log, i, &t), 0);
        CHKEQ(t, m->e[i].term);
    }
    check_state(log, m);
}

/* ---- processes, files --------------------------------------------------- */

/* What a child saw of the journal (struct log's fields) and did. */
struct cstats {
    uint64_t tail_n, off, lmdb_last, last; /* at the crash */
    uint64_t ops, journaled, lmdb, full, big, faults, reopens, invalid;
};

/* Run FN(CTX, stats) in a forked child that then exits without closing
 * anything (a crash, as far as the store can tell). The child's checks
 * exit non-zero on failure; the parent asserts a clean exit. */
static void in_child_run(void (*fn)(void *ctx, struct cstats *st), void *ctx,
                         struct cstats *out)
{
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* cmocka catches these; here they must end the child. */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
            signal(sigs[i], SIG_DFL);
        close(pfd[0]);
        in_child = 1;
        struct cstats st = {0};
        fn(ctx, &st);
        fflush(NULL);
        _exit(write(pfd[1], &st, sizeof st) == (ssize_t)sizeof st ? 0 : 101);
    }
    close(pfd[1]);
    struct cstats st;
    size_t got = 0;
    for (ssize_t r; got < sizeof st &&
                    (r = read(pfd[0], (char *)&st + got, sizeof st - got)) > 0;)
        got += (size_t)r;
    close(pfd[0]);
    int ws;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        fail_msg("child failed (status 0x%x)", ws);
    assert_int_equal(got, sizeof st);
    if (out)
        *out = st;
}

static void stats_at_crash(struct log *log, struct cstats *st)
{
    st->tail_n = log->j.n;
    st->off = log->j.off;
    st->lmdb_last = log->lmdb_last;
    st->last = log->last;
}

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static uint8_t *slurp(const char *dir, const char *name, size_t *len)
{
    char p[700];
    path_in(p, sizeof p, dir, name);
    uint8_t *b = tl_slurp(p, len);
    assert_non_null(b);
    return b;
}

static void spill(const char *dir, const char *name, const uint8_t *b,
                  size_t len)
{
    char p[700];
    path_in(p, sizeof p, dir, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, len), (ssize_t)len);
    close(fd);
}

static void xor_byte(const char *dir, const char *name, off_t at)
{
    char p[700];
    path_in(p, sizeof p, dir, name);
    int fd = open(p, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x5A;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

/* LMDB's own view of the "log" table (no handle may be open on DIR). */
static void lmdb_log_keys(const char *dir, size_t *count, uint64_t *first,
                          uint64_t *last)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 3), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_RDONLY, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "log", 0, &dbi), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    *count = st.ms_entries;
    *first = *last = 0;
    MDB_cursor *cur;
    MDB_val k, v;
    assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
    if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0)
        *first = log__get_be64(k.mv_data);
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0)
        *last = log__get_be64(k.mv_data);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

/* ---- I/O failures, on request (other calls pass through) ---------------- */

static int fail_sync_fd = -1;   /* the next fdatasync() on it fails (EIO) */
static int short_write_fd = -1; /* the next pwrite() on it is cut short: */
static size_t short_write_keep; /* this many bytes written (0: ENOSPC) */

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (fd >= 0 && fd == fail_sync_fd) {
        fail_sync_fd = -1;
        errno = EIO;
        return -1;
    }
    return real(fd);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real)
        real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(
            RTLD_NEXT, "pwrite");
    if (fd >= 0 && fd == short_write_fd) {
        short_write_fd = -1;
        if (short_write_keep == 0) {
            errno = ENOSPC;
            return -1;
        }
        return real(fd, buf, short_write_keep < n ? short_write_keep : n, off);
    }
    return real(fd, buf, n, off);
}

/* The next pread() of a file named "journal" at this offset fails (EIO);
 * -1: none. The file is named because the store is not open yet. */
static off_t fail_read_journal_at = -1;

static int fd_is_journal(int fd)
{
    char link[64], target[700];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    return n >= 8 && strcmp(target + n - 8, "/journal") == 0;
}

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, void *, size_t, off_t);
    if (!real)
        real = (ssize_t (*)(int, void *, size_t, off_t))dlsym(RTLD_NEXT,
                                                              "pread");
    if (off == fail_read_journal_at && fd_is_journal(fd)) {
        fail_read_journal_at = -1;
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n, off);
}

/* ---- fixture ------------------------------------------------------------ */

struct fx {
    char *dir;       /* the test's directory */
    char sub[600];   /* the store (a subdirectory, one per sub-scenario) */
    struct log *log; /* the parent's handle, if open */
    struct model m;
    struct log_options opt;
    int arg;         /* a scenario's parameter */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = tl_mkdtemp("logj")))
        return -1;
    m_init(&f->m);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    log_close(f->log);
    tl_rmrf(f->dir);
    free(f->dir);
    free(f->m.e);
    free(f);
    return 0;
}

/* Start sub-scenario NAME: a fresh store directory and an empty model. */
static void fresh(struct fx *f, const char *name)
{
    log_close(f->log);
    f->log = NULL;
    path_in(f->sub, sizeof f->sub, f->dir, name);
    m_init(&f->m);
}

static void open_sub(struct fx *f, const struct log_options *o)
{
    assert_null(f->log);
    assert_int_equal(log_open(f->sub, o, &f->log), 0);
}

static void close_sub(struct fx *f)
{
    log_close(f->log);
    f->log = NULL;
}

/* A scenario: run with LOG against the store, or with LOG NULL against
 * the model only (the same batches, so the same model). */
typedef void scenario_fn(struct fx *f, struct log *log);

struct crash_ctx {
    struct fx *f;
    scenario_fn *fn;
};

static void crash_child(void *ctx, struct cstats *st)
{
    struct crash_ctx *c = ctx;
    struct log *log;
    CHKEQ(log_open(c->f->sub, &c->f->opt, &log), 0);
    c->fn(c->f, log);
    stats_at_crash(log, st);
}

/* Run FN in a child that crashes at its end, and FN on the parent's model;
 * returns the journal's state at the crash. */
static struct cstats crash_after(struct fx *f, scenario_fn *fn)
{
    assert_null(f->log);
    struct crash_ctx c = {f, fn};
    struct cstats st;
    in_child_run(crash_child, &c, &st);
    fn(f, NULL);
    return st;
}

/* ---- crash survival ----------------------------------------------------- */

/* Six journal-only batches of 3..8 entries, each with a hard state: each
 * record is one page (at most 64 + 8 * (24 + 300) bytes). */
static void scen_six_batches(struct fx *f, struct log *log)
{
    for (uint64_t b = 0; b < 6; b++) {
        struct spec s = {0};
        sp_tl(&s, &f->m, 3 + b);
        sp_hs(&s, 2 + b, 7 + b, f->m.last);
        CHK(sp_record_bytes(&s) <= PAGE);
        sp_write(log, &f->m, &s, 0);
        if (log) {
            CHKEQ(log->j.off, (b + 1) * PAGE);
            CHKEQ(log->lmdb_last, 0);
            check_meta(log, &f->m);
        }
    }
    if (log)
        check_all(log, &f->m);
}

static void journaled_entries_and_hard_state_survive_a_crash(void **state)
{
    struct fx *f = *state;
    fresh(f, "s");
    struct cstats st = crash_after(f, scen_six_batches);
    assert_int_equal(st.tail_n, 33);
    assert_int_equal(st.last, 33);
    assert_int_equal(f->m.last, 33);

    /* At the crash LMDB held none of it: a copy of data.mdb alone, opened
     * without the journal, is empty. */
    char copy[700];
    path_in(copy, sizeof copy, f->dir, "copy");
    size_t len;
    uint8_t *data = slurp(f->sub, "data.mdb", &len);
    assert_int_equal(mkdir(copy, 0700), 0);
    spill(copy, "data.mdb", data, len);
    free(data);
    struct log_options off = {.journal_off = 1};
    struct log *l2;
    assert_int_equal(log_open(copy, &off, &l2), 0);
    assert_int_equal(log_last_index(l2), 0);
    struct log_hard_state hs;
    assert_int_equal(log_hard_state(l2, &hs), 0);
    assert_int_equal(hs.term, 0);
    log_close(l2);
    tl_rmrf(copy);

    /* The open replays the journal: every entry (tl_check), every term and
     * the last hard state. */
    open_sub(f, NULL);
    check_all(f->log, &f->m);
    assert_int_equal(log_last_index(f->log), 33);
    assert_int_equal(log_hard_state(f->log, &hs), 0);
    assert_int_equal(hs.term, 7);
    assert_int_equal(hs.vote, 12);
    assert_int_equal(hs.commit, 25);
    for (uint64_t i = 1; i <= 33; i++) {
        struct log_entries es;
        assert_int_equal(log_read(f->log, i, 1, SIZE_MAX, &es), 0);
        assert_true(tl_check(&es.entries[0]));
        log_entries_free(&es);
        uint64_t t;
        assert_int_equal(log_term_at(f->log, i, &t), 0);
        assert_int_equal(t, tl_term(i));
    }
    /* ... and commits it to LMDB at once: data.mdb copied now (the handle
     * still open, nothing written since) holds everything. */
    assert_int_equal(f->log->j.off, 0);
    assert_int_equal(f->log->lmdb_last, 33);
    data = slurp(f->sub, "data.mdb", &len);
    assert_int_equal(mkdir(copy, 0700), 0);
    spill(copy, "data.mdb", data, len);
    free(data);
    assert_int_equal(log_open(copy, &off, &l2), 0);
    check_all(l2, &f->m);
    log_close(l2);

    /* Writing on after the replay starts the journal over at offset 0. */
    struct spec s = {0};
    sp_tl(&s, &f->m, 4);
    assert_int_equal(sp_write(f->log, &f->m, &s, 0), 0);
    assert_int_equal(f->log->j.off, PAGE);
    check_all(f->log, &f->m);
    close_sub(f);
    open_sub(f, &off);
    check_all(f->log, &f->m);
}

/* ---- reads across the LMDB / tail boundary ------------------------------ */

static void reads_span_lmdb_and_the_journal_tail(void **state)
{
    struct fx *f = *state;
    fresh(f, "s");
    open_sub(f, NULL);
    struct log *log = f->log;
    struct model *m = &f->m;
    /* 1..30 in LMDB (applied forces the LMDB path), 31..60 journaled. */
    struct spec s = {0};
    sp_tl(&s, m, 30);
    s.applied = 1;
    sp_write(log, m, &s, 0);
    assert_int_equal(log->lmdb_last, 30);
    assert_int_equal(log->j.off, 0);
    for (int b = 0; b < 3; b++) {
        s = (struct spec){0};
        sp_tl(&s, m, 10);
        sp_write(log, m, &s, 0);
    }
    assert_int_equal(log->j.n, 30);
    assert_int_equal(log->lmdb_last, 30);
    check_meta(log, m);

    /* From the first index, unbounded: LMDB's part first, at most up to
     * the boundary; then the rest, to the end. */
    struct log_entries es;
    assert_int_equal(log_read(log, 1, SIZE_MAX, SIZE_MAX, &es), 0);
    assert_true(es.n >= 1 && es.n <= 30);
    log_entries_free(&es);
    check_range(log, m, 1, 60, SIZE_MAX, SIZE_MAX);
    /* Starting on either side of the boundary, with count and byte
     * bounds (the first entry always comes back). */
    static const uint64_t starts[] = {1, 25, 29, 30, 31, 32, 59, 60};
    static const size_t counts[] = {0, 1, 2, 7, SIZE_MAX};
    static const size_t bytes[] = {0, 1, 400, 1000, SIZE_MAX};
    for (size_t a = 0; a < sizeof starts / sizeof *starts; a++)
        for (size_t c = 0; c < sizeof counts / sizeof *counts; c++)
            for (size_t b = 0; b < sizeof bytes / sizeof *bytes; b++)
                check_range(log, m, starts[a], 60, counts[c], bytes[b]);
    /* A read starting in the tail stays in it and stops at last. */
    assert_int_equal(log_read(log, 55, 100, SIZE_MAX, &es), 0);
    assert_int_equal(es.n, 6);
    assert_int_equal(es.entries[5].index, 60);
    log_entries_free(&es);
    assert_int_equal(log_read(log, 61, 1, SIZE_MAX, &es), -PM_ERANGE);
    assert_null(es.entries);
    uint64_t t;
    for (uint64_t i = 28; i <= 33; i++) {
        assert_int_equal(log_term_at(log, i, &t), 0);
        assert_int_equal(t, tl_term(i));
    }
    assert_int_equal(log_term_at(log, 60, &t), 0);
    assert_int_equal(t, tl_term(60));
    assert_int_equal(log_term_at(log, 61, &t), -PM_ERANGE);

    /* A compaction into the tail (an LMDB batch, the tail with it). */
    s = (struct spec){.ci = 45, .ct = tl_term(45)};
    sp_write(log, m, &s, 0);
    assert_int_equal(log->j.n, 0);
    assert_int_equal(log->lmdb_last, 60);
    check_all(log, m);
    /* And a tail again on top of it. */
    s = (struct spec){0};
    sp_tl(&s, m, 5);
    sp_write(log, m, &s, 0);
    assert_int_equal(log->j.n, 5);
    check_all(log, m);
    check_range(log, m, 46, 65, 3, 500);
    close_sub(f);
    struct log_options off = {.journal_off = 1};
    open_sub(f, &off);
    check_all(f->log, m);
}

/* ---- a journaled truncation into LMDB's entries ------------------------- */

/* 1..100 in LMDB, then one journaled batch cutting at 60 and appending
 * 60..80 with other terms and payloads. */
static void scen_cut_into_lmdb(struct fx *f, struct log *log)
{
    struct model *m = &f->m;
    struct spec s = {0};
    sp_tl(&s, m, 100);
    s.applied = 1;
    sp_write(log, m, &s, 0);
    s = (struct spec){.tf = 60};
    sp_alt(&s, m, 21, 1000, 77, 300);
    sp_hs(&s, 1000, 2, 59);
    for (size_t i = 0; i < s.n; i++) /* really different */
        CHK(s.d[i].term != tl_term(60 + i));
    sp_write(log, m, &s, 0);
    if (!log)
        return;
    CHKEQ(log->lmdb_last, 100);
    CHKEQ(log->j.n, 21);
    CHKEQ(log_last_index(log), 80);
    check_all(log, m);
    /* The read from below the cut ends at it (LMDB's part), then the new
     * entries; nothing past 80 though LMDB still holds 81..100. */
    struct log_entries es;
    CHKEQ(log_read(log, 50, SIZE_MAX, SIZE_MAX, &es), 0);
    CHK(es.n >= 1 && es.n <= 10);
    CHK(tl_check(&es.entries[0]));
    log_entries_free(&es);
    uint64_t t;
    CHKEQ(log_term_at(log, 59, &t), 0);
    CHKEQ(t, tl_term(59));
    CHKEQ(log_term_at(log, 60, &t), 0);
    CHKEQ(t, 1000);
    CHKEQ(log_term_at(log, 81, &t), -PM_ERANGE);
    CHKEQ(log_term_at(log, 100, &t), -PM_ERANGE);
    CHKEQ(log_read(log, 81, 1, SIZE_MAX, &es), -PM_ERANGE);
}

static void assert_lmdb_holds(const char *dir, size_t count, uint64_t first,
                              uint64_t last)
{
    size_t n;
    uint64_t lo, hi;
    lmdb_log_keys(dir, &n, &lo, &hi);
    assert_int_equal(n, count);
    assert_int_equal(lo, first);
    assert_int_equal(hi, last);
}

static void a_journaled_truncation_into_lmdb_replaces_its_entries(void **state)
{
    struct fx *f = *state;
    struct log_options off = {.journal_off = 1};

    /* Without a crash: the next LMDB batch cuts LMDB's stale 81..100. */
    fresh(f, "a");
    open_sub(f, NULL);
    scen_cut_into_lmdb(f, f->log);
    struct spec s = {.applied = 2};
    sp_write(f->log, &f->m, &s, 0);
    assert_int_equal(f->log->lmdb_last, 80);
    assert_int_equal(f->log->j.n, 0);
    check_all(f->log, &f->m);
    close_sub(f);
    assert_lmdb_holds(f->sub, 80, 1, 80);
    open_sub(f, &off);
    check_all(f->log, &f->m);
    close_sub(f);

    /* With a crash: the replay does the same. */
    fresh(f, "b");
    struct cstats st = crash_after(f, scen_cut_into_lmdb);
    assert_int_equal(st.lmdb_last, 100);
    assert_int_equal(st.last, 80);
    open_sub(f, NULL);
    check_all(f->log, &f->m);
    uint64_t t;
    assert_int_equal(log_term_at(f->log, 81, &t), -PM_ERANGE);
    assert_int_equal(f->log->lmdb_last, 80);
    close_sub(f);
    assert_lmdb_holds(f->sub, 80, 1, 80);
    open_sub(f, &off);
    check_all(f->log, &f->m);
}

/* ---- truncations within the tail ---------------------------------------- */

static void scen_tail_cuts(struct fx *f, struct log *log)
{
    struct model *m = &f->m;
    struct spec s = {0};
    sp_tl(&s, m, 20);
    s.applied = 3;
    sp_write(log, m, &s, 0);
    for (int b = 0; b < 4; b++) { /* 21..60 journaled */
        s = (struct spec){0};
        sp_tl(&s, m, 10);
        sp_hs(&s, 2, 1, m->last);
        sp_write(log, m, &s, 0);
    }
    if (log) {
        CHKEQ(log->j.n, 40);
        check_all(log, m);
    }
    /* Truncation only, inside the tail. */
    s = (struct spec){.tf = 56};
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(log_last_index(log), 55);
        CHKEQ(log->j.n, 35);
        check_all(log, m);
    }
    /* Truncate and append in one batch. */
    s = (struct spec){.tf = 41};
    sp_alt(&s, m, 5, 3, 11, 300);
    sp_hs(&s, 3, 2, 40);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(log_last_index(log), 45);
        CHKEQ(log->j.n, 25);
        check_all(log, m);
    }
    /* A cut at last + 1 is none. */
    s = (struct spec){.tf = 46};
    sp_alt(&s, m, 3, 3, 12, 300);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(log_last_index(log), 48);
        check_all(log, m);
    }
    /* A cut at the tail's first entry: all of it replaced, LMDB's 1..20
     * untouched. */
    s = (struct spec){.tf = 21};
    sp_alt(&s, m, 4, 4, 13, 0); /* empty payloads */
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(log_last_index(log), 24);
        CHKEQ(log->j.n, 4);
        CHKEQ(log->lmdb_last, 20);
        check_all(log, m);
    }
    s = (struct spec){.tf = 24};
    sp_alt(&s, m, 7, 5, 14, 300);
    sp_write(log, m, &s, 0);
    /* Then below the tail, into LMDB's entries, twice. */
    s = (struct spec){.tf = 15};
    sp_alt(&s, m, 4, 6, 15, 300);
    sp_hs(&s, 6, 3, 14);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(log_last_index(log), 18);
        CHKEQ(log->j.n, 4);
        CHKEQ(log->lmdb_last, 20);
        check_all(log, m);
    }
    s = (struct spec){.tf = 10};
    sp_write(log, m, &s, 0);
    s = (struct spec){0};
    sp_alt(&s, m, 8, 7, 16, 300);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(log_last_index(log), 17);
        CHKEQ(log->j.n, 8);
        CHKEQ(log->lmdb_last, 20);
        check_all(log, m);
    }
}

static void truncations_within_the_tail_read_back_as_expected(void **state)
{
    struct fx *f = *state;
    struct log_options off = {.journal_off = 1};
    /* In one process, then a clean close (the tail into LMDB). */
    fresh(f, "a");
    open_sub(f, NULL);
    scen_tail_cuts(f, f->log);
    close_sub(f);
    assert_lmdb_holds(f->sub, 17, 1, 17);
    open_sub(f, &off);
    check_all(f->log, &f->m);
    close_sub(f);
    /* Crashed at the end, replayed. */
    fresh(f, "b");
    crash_after(f, scen_tail_cuts);
    open_sub(f, NULL);
    check_all(f->log, &f->m);
    close_sub(f);
    assert_lmdb_holds(f->sub, 17, 1, 17);
}

/* ---- a torn last record ------------------------------------------------- */

/* f->arg journaled batches of 8 entries (one page each), each with a hard
 * state of its own. */
static void scen_batches_of_8(struct fx *f, struct log *log)
{
    for (int b = 0; b < f->arg; b++) {
        struct spec s = {0};
        sp_tl(&s, &f->m, 8);
        sp_hs(&s, 10 + (uint64_t)b, (uint64_t)b, f->m.last);
        CHK(sp_record_bytes(&s) <= PAGE);
        sp_write(log, &f->m, &s, 0);
        if (log)
            CHKEQ(log->j.off, (uint64_t)(b + 1) * PAGE);
    }
}

static void scen_more_alt(struct fx *f, struct log *log)
{
    struct spec s = {0};
    sp_alt(&s, &f->m, 6, 50, 99, 200);
    sp_write(log, &f->m, &s, 0);
    if (log)
        CHKEQ(log->j.off, PAGE);
}

static void a_torn_last_record_is_dropped(void **state)
{
    struct fx *f = *state;
    for (int how = 0; how < 3; how++) {
        char name[16];
        snprintf(name, sizeof name, "t%d", how);
        fresh(f, name);
        f->arg = 5;
        crash_after(f, scen_batches_of_8);
        assert_int_equal(f->m.last, 40);
        /* Tear record 4 (offset 4 pages): a payload byte, its CRC, or the
         * file cut in the middle of it. */
        if (how == 0) {
            xor_byte(f->sub, "journal", 4 * PAGE + 64 + 24 + 5);
        } else if (how == 1) {
            xor_byte(f->sub, "journal", 4 * PAGE + 5);
        } else {
            char p[700];
            path_in(p, sizeof p, f->sub, "journal");
            assert_int_equal(truncate(p, 4 * PAGE + 200), 0);
        }
        /* The expected store: the first four batches. */
        m_init(&f->m);
        f->arg = 4;
        scen_batches_of_8(f, NULL);
        open_sub(f, NULL);
        check_all(f->log, &f->m);
        assert_int_equal(log_last_index(f->log), 32);
        struct log_hard_state hs;
        assert_int_equal(log_hard_state(f->log, &hs), 0);
        assert_int_equal(hs.term, 13);
        uint64_t t;
        assert_int_equal(log_term_at(f->log, 33, &t), -PM_ERANGE);
        close_sub(f);
        /* Writing on (over the stale records, from offset 0), another
         * crash: the new entries replace the torn record's for good. */
        crash_after(f, scen_more_alt);
        assert_int_equal(f->m.last, 38);
        open_sub(f, NULL);
        check_all(f->log, &f->m);
        close_sub(f);
        open_sub(f, NULL);
        check_all(f->log, &f->m);
        close_sub(f);
    }
}

/* ---- a failed read during the replay -------------------------------------- */

/* A read error is not the journal's end: taken as one, the records after
 * it would be skipped, and the LMDB commit that follows the replay would
 * make that final. */
static void a_failed_journal_read_at_open_keeps_every_record(void **state)
{
    struct fx *f = *state;
    fresh(f, "r");
    f->arg = 5;
    crash_after(f, scen_batches_of_8);
    assert_int_equal(f->m.last, 40);
    fail_read_journal_at = 2 * PAGE; /* record 2's header */
    struct log *log = NULL;
    assert_int_equal(log_open(f->sub, NULL, &log), -PM_EIO);
    assert_null(log);
    assert_int_equal(fail_read_journal_at, -1); /* the replay read there */
    open_sub(f, NULL);
    check_all(f->log, &f->m);
    assert_int_equal(log_last_index(f->log), 40);
    close_sub(f);
}

/* ---- a damaged record before an intact one ------------------------------ */

static void a_damaged_record_before_an_intact_one_is_refused(void **state)
{
    struct fx *f = *state;
    /* Record 0 (a payload byte), record 1 (its magic): later ones intact. */
    static const off_t at[] = {0 * PAGE + 64 + 24 + 30, 1 * PAGE + 1};
    for (int v = 0; v < 2; v++) {
        char name[16];
        snprintf(name, sizeof name, "d%d", v);
        fresh(f, name);
        f->arg = 3;
        crash_after(f, scen_batches_of_8);
        size_t jlen, dlen, jlen2, dlen2;
        uint8_t *j0 = slurp(f->sub, "journal", &jlen);
        uint8_t *d0 = slurp(f->sub, "data.mdb", &dlen);
        xor_byte(f->sub, "journal", at[v]);
        struct log *l = (struct log *)1;
        assert_int_equal(log_open(f->sub, NULL, &l), -PM_ECORRUPT);
        assert_null(l);
        assert_int_equal(log_open(f->sub, NULL, &l), -PM_ECORRUPT);
        /* Nothing changed: neither LMDB nor the journal. */
        xor_byte(f->sub, "journal", at[v]);
        uint8_t *j1 = slurp(f->sub, "journal", &jlen2);
        uint8_t *d1 = slurp(f->sub, "data.mdb", &dlen2);
        assert_int_equal(jlen2, jlen);
        assert_memory_equal(j1, j0, jlen);
        assert_int_equal(dlen2, dlen);
        assert_memory_equal(d1, d0, dlen);
        free(j0);
        free(j1);
        free(d0);
        free(d1);
        /* Repaired, it opens with all three batches. */
        open_sub(f, NULL);
        check_all(f->log, &f->m);
        assert_int_equal(log_last_index(f->log), 24);
        close_sub(f);
    }
}

/* ---- injected faults ---------------------------------------------------- */

static void scen_faults(struct fx *f, struct log *log)
{
    struct model *m = &f->m;
    struct spec s = {0};
    sp_tl(&s, m, 10);
    sp_hs(&s, 1, 1, 0);
    sp_write(log, m, &s, 0);
    if (log)
        CHKEQ(log->j.off, PAGE);
    /* A journaled batch fails: nothing of it, and the journal as it was. */
    if (log)
        log_test_fail_commit(log, 1, -PM_EIO);
    s = (struct spec){0};
    sp_tl(&s, m, 10);
    sp_hs(&s, 2, 2, 5);
    sp_write(log, m, &s, -PM_EIO);
    if (log) {
        CHKEQ(log->j.off, PAGE);
        check_all(log, m);
    }
    /* The next one works (other content at the same indexes). */
    s = (struct spec){0};
    sp_alt(&s, m, 5, 3, 21, 300);
    sp_hs(&s, 3, 3, 8);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(log->j.off, 2 * PAGE);
        check_all(log, m);
    }
    /* An LMDB batch (with the tail to take along) fails: the tail stays. */
    if (log)
        log_test_fail_commit(log, 1, -PM_ENOSPC);
    s = (struct spec){.applied = 5, .n_state = 1, .key = {2},
                      .val_len = {3}, .val = {"abc"}};
    sp_tl(&s, m, 3);
    sp_write(log, m, &s, -PM_ENOSPC);
    if (log) {
        CHKEQ(log->j.n, 15);
        CHKEQ(log->j.off, 2 * PAGE);
        CHKEQ(log->lmdb_last, 0);
        check_all(log, m);
    }
    s = (struct spec){0};
    sp_alt(&s, m, 2, 3, 22, 300);
    sp_write(log, m, &s, 0);
    /* A journaled truncation fails. */
    if (log)
        log_test_fail_commit(log, 1, -PM_EIO);
    s = (struct spec){.tf = 12};
    sp_tl(&s, m, 2);
    sp_write(log, m, &s, -PM_EIO);
    if (log) {
        CHKEQ(log->j.off, 3 * PAGE);
        check_all(log, m);
    }
    /* The second write from now fails, the first does not. */
    if (log)
        log_test_fail_commit(log, 2, -PM_EIO);
    s = (struct spec){0};
    sp_hs(&s, 4, 4, 9);
    sp_write(log, m, &s, 0);
    s = (struct spec){0};
    sp_tl(&s, m, 1);
    sp_write(log, m, &s, -PM_EIO);
    if (log)
        check_all(log, m);
}

static void a_failed_journal_write_leaves_nothing_behind(void **state)
{
    struct fx *f = *state;
    fresh(f, "a");
    open_sub(f, NULL);
    scen_faults(f, f->log);
    close_sub(f);
    open_sub(f, NULL);
    check_all(f->log, &f->m);
    close_sub(f);

    fresh(f, "b");
    crash_after(f, scen_faults);
    assert_int_equal(f->m.last, 17);
    assert_int_equal(f->m.applied, 0);
    open_sub(f, NULL);
    check_all(f->log, &f->m);
    struct log_hard_state hs;
    assert_int_equal(log_hard_state(f->log, &hs), 0);
    assert_int_equal(hs.term, 4);
    void *v;
    uint32_t vl;
    assert_int_equal(log_state_get(f->log, "key2", 4, &v, &vl), -PM_ENOTFOUND);
}

/* ---- a full journal, a big batch ---------------------------------------- */

/* The record limit these scenarios are written for (journal_record_max;
 * the store's default is larger). */
#define TEST_RECORD_MAX (32u << 10)

static void scen_full_and_big(struct fx *f, struct log *log)
{
    struct model *m = &f->m;
    /* Four one-page records fill a 16 KiB journal; the fifth goes to LMDB
     * with them. */
    for (int b = 0; b < 5; b++) {
        struct spec s = {0};
        sp_tl(&s, m, 6);
        sp_hs(&s, 1, 1, m->last);
        sp_write(log, m, &s, 0);
        if (log) {
            CHKEQ(sp_journals, b < 4);
            CHKEQ(log->j.off, b < 4 ? (uint64_t)(b + 1) * PAGE : 0);
            CHKEQ(log->lmdb_last, b < 4 ? 0 : m->last);
            check_meta(log, m);
        }
    }
    struct spec s = {0};
    sp_tl(&s, m, 2);
    sp_write(log, m, &s, 0);
    /* A record over 32 KiB goes to LMDB (with the tail), whatever the
     * room left. */
    s = (struct spec){.tf = m->last};
    sp_alt(&s, m, 10, 5, 31, PAYLOAD_MAX);
    for (size_t i = 0; i < s.n; i++)
        s.d[i].len = 3500;
    CHK(sp_record_bytes(&s) > TEST_RECORD_MAX);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(sp_journals, 0);
        CHKEQ(log->j.off, 0);
        CHKEQ(log->lmdb_last, m->last);
        check_all(log, m);
    }
    /* A record of 2 pages in a journal with 1 page left: LMDB. */
    for (int b = 0; b < 3; b++) {
        s = (struct spec){0};
        sp_tl(&s, m, 3);
        sp_write(log, m, &s, 0);
    }
    s = (struct spec){0};
    sp_alt(&s, m, 2, 5, 32, PAYLOAD_MAX);
    for (size_t i = 0; i < s.n; i++)
        s.d[i].len = 3000;
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(sp_journals, 0);
        CHKEQ(log->j.off, 0);
        CHKEQ(log->lmdb_last, m->last);
    }
    s = (struct spec){0};
    sp_tl(&s, m, 3);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(sp_journals, 1);
        CHKEQ(log->j.off, PAGE);
        check_all(log, m);
    }
    /* Entries with FSM state: LMDB, however small. */
    s = (struct spec){.n_state = 1, .key = {0}, .val_len = {3},
                      .val = {"abc"}};
    sp_tl(&s, m, 1);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(sp_journals, 0);
        CHKEQ(log->j.off, 0);
        CHKEQ(log->lmdb_last, m->last);
        check_all(log, m);
    }
}

static void a_full_journal_or_a_big_batch_goes_to_lmdb_with_the_tail(
    void **state)
{
    struct fx *f = *state;
    fresh(f, "a");
    f->opt = (struct log_options){.journal_bytes_max = 16 << 10,
                                  .journal_record_max = TEST_RECORD_MAX};
    crash_after(f, scen_full_and_big);
    open_sub(f, &f->opt);
    check_all(f->log, &f->m);
    /* The journal file is the configured size (preallocated). */
    char p[700];
    struct stat st;
    path_in(p, sizeof p, f->sub, "journal");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 16 << 10);
}

/* With the default options, a batch of ~120 KiB (a 256-client turn is
 * 35-90 KiB) is one journal record, not an LMDB commit, and a reopened
 * store reads it back; one over the default limit goes to LMDB. */
static void a_large_batch_is_one_record_by_default(void **state)
{
    struct fx *f = *state;
    fresh(f, "a");
    open_sub(f, NULL);
    struct model *m = &f->m;
    struct spec s = {0};
    sp_alt(&s, m, 30, 1, 7, PAYLOAD_MAX);
    for (size_t i = 0; i < s.n; i++)
        s.d[i].len = 4000;
    sp_hs(&s, 1, 1, 0);
    CHK(sp_record_bytes(&s) > (96u << 10));
    sp_write(f->log, m, &s, 0);
    CHKEQ(sp_journals, 1);
    CHKEQ(f->log->j.off, (uint64_t)30 * PAGE);
    CHKEQ(f->log->lmdb_last, 0);
    /* 80 more such entries: over 256 KiB, so LMDB takes them (and the
     * tail), and the journal starts over. */
    s = (struct spec){0};
    sp_alt(&s, m, 80, 1, 9, PAYLOAD_MAX);
    for (size_t i = 0; i < s.n; i++)
        s.d[i].len = 3500;
    CHK(sp_record_bytes(&s) > (256u << 10));
    sp_write(f->log, m, &s, 0);
    CHKEQ(sp_journals, 0);
    CHKEQ(f->log->j.off, 0);
    CHKEQ(f->log->lmdb_last, m->last);
    /* And one more journaled record, read back after a reopen. */
    s = (struct spec){0};
    sp_alt(&s, m, 30, 1, 11, PAYLOAD_MAX);
    sp_write(f->log, m, &s, 0);
    CHKEQ(sp_journals, 1);
    close_sub(f);
    open_sub(f, NULL);
    check_all(f->log, m);
}

/* ---- the journal file's own I/O failures -------------------------------- */

static void m_copy(struct model *dst, const struct model *src)
{
    free(dst->e);
    *dst = *src;
    dst->e = malloc(src->cap * sizeof *dst->e);
    assert_non_null(dst->e);
    memcpy(dst->e, src->e, src->cap * sizeof *dst->e);
}

/* A fresh store NAME, open, holding one acknowledged journal batch (5
 * entries and a hard state); its model. */
static struct model *fresh_with_a_batch(struct fx *f, const char *name)
{
    fresh(f, name);
    open_sub(f, NULL);
    struct spec s = {0};
    sp_tl(&s, &f->m, 5);
    sp_hs(&s, 1, 1, 0);
    sp_write(f->log, &f->m, &s, 0);
    return &f->m;
}

static void a_failed_journal_flush_refuses_writes_until_reopened(void **state)
{
    struct fx *f = *state;
    struct model *m = fresh_with_a_batch(f, "a");
    struct spec s;
    /* The record is written but its flush fails: -PM_EIO, nothing in
     * memory changes, and every later write is refused (whether the
     * record is durable is unknown) while reads go on. */
    struct model with_b = {0};
    s = (struct spec){0};
    sp_tl(&s, m, 5);
    sp_hs(&s, 2, 2, 5);
    m_copy(&with_b, m);
    m_apply(&with_b, &s);
    fail_sync_fd = f->log->j.fd;
    sp_write(f->log, m, &s, -PM_EIO);
    assert_int_equal(fail_sync_fd, -1); /* it was the journal's flush */
    check_all(f->log, m);
    s = (struct spec){0};
    sp_tl(&s, m, 1);
    sp_write(f->log, m, &s, -PM_EIO);
    s = (struct spec){.applied = 1};
    sp_write(f->log, m, &s, -PM_EIO);
    check_all(f->log, m);
    /* Reopened: the acknowledged batch is there, the failed one may be. */
    close_sub(f);
    open_sub(f, NULL);
    const struct model *want = log_last_index(f->log) == with_b.last ? &with_b
                                                                      : m;
    check_all(f->log, want);
    m_copy(m, want);
    free(with_b.e);
    s = (struct spec){0};
    sp_tl(&s, m, 3);
    sp_write(f->log, m, &s, 0);
    assert_int_equal(f->log->j.off, PAGE);
    check_all(f->log, m);
}

/* ---- the background flush (log_write_unflushed) ------------------------- */

static atomic_int flush_notified;
static void count_flush(void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&flush_notified, 1);
}

/* log_flushed() once it is no longer 0 (at most ~5 s). */
static int wait_flushed(struct log *log)
{
    for (int i = 0; i < 5000; i++) {
        int rc = log_flushed(log);
        if (rc != 0)
            return rc;
        usleep(1000);
    }
    return 0;
}

/* Journal batches written with the flush in the background; the last is
 * left unflushed when the child crashes (the process, not the machine:
 * the page cache keeps it). */
static void scen_unflushed(struct fx *f, struct log *log)
{
    for (uint64_t b = 0; b < 6; b++) {
        struct spec s = {0};
        sp_tl(&s, &f->m, 2 + b);
        sp_unflushed = 1;
        sp_write(log, &f->m, &s, 0);
        sp_unflushed = 0;
        if (log)
            CHKEQ(log->j.off, (b + 1) * PAGE);
    }
}

static void unflushed_writes_read_back_at_once_and_become_durable(void **state)
{
    struct fx *f = *state;
    fresh(f, "u");
    open_sub(f, NULL);
    struct model *m = &f->m;
    atomic_store(&flush_notified, 0);
    log_set_flush_notify(f->log, count_flush, NULL);
    int pending = 0;
    for (int b = 0; b < 20; b++) {
        struct spec s = {0};
        sp_tl(&s, m, 1 + (size_t)b % 7);
        sp_unflushed = 1;
        sp_write(f->log, m, &s, 0);
        sp_unflushed = 0;
        /* Readable at once, flushed or not. */
        check_range(f->log, m, m->base + 1, m->last, SIZE_MAX, SIZE_MAX);
        int rc = log_flushed(f->log);
        assert_true(rc == 0 || rc == 1);
        pending += rc == 0;
        assert_int_equal(f->log->j.off, (uint64_t)(b + 1) * PAGE);
    }
    assert_int_equal(wait_flushed(f->log), 1);
    assert_true(atomic_load(&flush_notified) >= 1);
    printf("unflushed: %d of 20 writes returned before their flush\n",
           pending);
    /* A batch LMDB takes waits for the flush, then takes the tail. */
    struct spec s = {.applied = 3};
    sp_write(f->log, m, &s, 0);
    assert_int_equal(f->log->j.off, 0);
    check_all(f->log, m);
    /* After the notify is unset it is not called. */
    log_set_flush_notify(f->log, NULL, NULL);
    int seen = atomic_load(&flush_notified);
    s = (struct spec){0};
    sp_tl(&s, m, 4);
    sp_unflushed = 1;
    sp_write(f->log, m, &s, 0);
    sp_unflushed = 0;
    assert_int_equal(wait_flushed(f->log), 1);
    assert_int_equal(atomic_load(&flush_notified), seen);
    close_sub(f);
    /* A process crash right after unflushed writes loses none of them. */
    crash_after(f, scen_unflushed);
    open_sub(f, NULL);
    check_all(f->log, m);
}

static void a_failed_background_flush_fails_the_store(void **state)
{
    struct fx *f = *state;
    struct model *m = fresh_with_a_batch(f, "v");
    struct spec s;
    struct model before = {0};
    m_copy(&before, m);
    /* Accepted (written; the thread's flush fails), and read back; then
     * the store refuses writes, as after a failed flush in log_write. */
    s = (struct spec){0};
    sp_tl(&s, m, 9);
    fail_sync_fd = f->log->j.fd;
    sp_unflushed = 1;
    sp_write(f->log, m, &s, 0);
    sp_unflushed = 0;
    assert_int_equal(wait_flushed(f->log), -PM_EIO);
    assert_int_equal(fail_sync_fd, -1);
    check_range(f->log, m, 1, m->last, SIZE_MAX, SIZE_MAX);
    s = (struct spec){0};
    sp_tl(&s, m, 1);
    sp_write(f->log, m, &s, -PM_EIO);
    s = (struct spec){.applied = 1};
    sp_write(f->log, m, &s, -PM_EIO);
    assert_int_equal(log_flushed(f->log), -PM_EIO);
    /* Reopened: the batch before it is there; the failed one may be. */
    close_sub(f);
    open_sub(f, NULL);
    const struct model *want = log_last_index(f->log) == m->last ? m : &before;
    check_all(f->log, want);
    free(before.e);
}

/* Journal records whose write the disk cuts short go to LMDB instead,
 * with the tail; the journal starts over. */
static void scen_short_writes(struct fx *f, struct log *log)
{
    struct model *m = &f->m;
    struct spec s = {0};
    sp_tl(&s, m, 5);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(log->j.off, PAGE);
        short_write_fd = log->j.fd;
        short_write_keep = 0; /* ENOSPC, nothing written */
    }
    s = (struct spec){0};
    sp_tl(&s, m, 5);
    sp_hs(&s, 3, 1, 4);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(short_write_fd, -1);
        CHKEQ(log->j.off, 0);
        CHKEQ(log->lmdb_last, 10);
        check_all(log, m);
    }
    s = (struct spec){0};
    sp_tl(&s, m, 3);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(log->j.off, PAGE);
        short_write_fd = log->j.fd;
        short_write_keep = PAGE; /* the first of two pages */
    }
    s = (struct spec){0};
    sp_alt(&s, m, 20, 4, 41, PAYLOAD_MAX);
    for (size_t i = 0; i < s.n; i++)
        s.d[i].len = 300;
    CHK(sp_record_bytes(&s) > PAGE);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(short_write_fd, -1);
        CHKEQ(log->j.off, 0);
        CHKEQ(log->lmdb_last, m->last);
    }
    /* Journaled again, from offset 0 (the cut record at offset 1 page has
     * the next record's sequence number, and must not be taken for it). */
    s = (struct spec){0};
    sp_tl(&s, m, 2);
    sp_hs(&s, 4, 2, 30);
    sp_write(log, m, &s, 0);
    if (log) {
        CHKEQ(log->j.off, PAGE);
        check_all(log, m);
    }
}

static void a_journal_write_cut_short_goes_to_lmdb(void **state)
{
    struct fx *f = *state;
    fresh(f, "a");
    crash_after(f, scen_short_writes);
    assert_int_equal(f->m.last, 35);
    open_sub(f, NULL);
    check_all(f->log, &f->m);
}

/* ---- the model-based random run ----------------------------------------- */

struct rng {
    uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

static uint64_t rn(struct rng *r, uint64_t n) { return n ? rnd(r) % n : 0; }

#define MODEL_OPS 2000
#define MODEL_JOURNAL (64u << 10)

struct mrun {
    struct fx *f;
    struct rng r;   /* the operations: the same in child and parent */
    struct rng cr;  /* the child's random reads */
    uint64_t op;
    uint64_t seg_end;
    uint64_t lmdb_every; /* this phase's weight of LMDB batches */
    struct log *log;
};

/* Append 1..MAXC entries of current term with fresh payloads. */
static void gen_append(struct mrun *r, struct spec *s, size_t maxc)
{
    size_t n = 1 + (size_t)rn(&r->r, maxc);
    uint32_t salt = (uint32_t)rnd(&r->r) | 1;
    sp_alt(s, &r->f->m, n, r->f->m.hs.term ? r->f->m.hs.term : 1, salt, 300);
}

static void gen_hs(struct mrun *r, struct spec *s)
{
    struct model *m = &r->f->m;
    sp_hs(s, (m->hs.term ? m->hs.term : 1) + rn(&r->r, 2), rn(&r->r, 5),
          rn(&r->r, m->last + 1));
}

/* A cut of the last 1..5 entries (1 in 5: up to 40, often into LMDB),
 * not below base + 1; 0 if the log is empty. */
static uint64_t gen_cut(struct mrun *r)
{
    struct model *m = &r->f->m;
    uint64_t k = 1 + rn(&r->r, rn(&r->r, 5) == 0 ? 40 : 5);
    if (m->last == m->base)
        return 0;
    if (k > m->last - m->base)
        k = m->last - m->base;
    return m->last - k + 1;
}

/* Kinds of batch. */
enum { K_APPEND, K_SMALL, K_CUT_APPEND, K_CUT, K_HS, K_LMDB, K_COMPACT,
       K_BIG };

static int journal_kind(int kind)
{
    return kind == K_APPEND || kind == K_SMALL || kind == K_CUT_APPEND ||
           kind == K_CUT || kind == K_HS;
}

static int gen_kind(struct mrun *r)
{
    uint64_t x = rn(&r->r, 100);
    if (x < r->lmdb_every)
        return rn(&r->r, 4) == 0 ? K_COMPACT : K_LMDB;
    x = rn(&r->r, 100);
    return x < 38 ? K_APPEND : x < 55 ? K_SMALL : x < 72 ? K_CUT_APPEND
         : x < 80 ? K_CUT : x < 95 ? K_HS : K_BIG;
}

static void gen_batch(struct mrun *r, int kind, struct spec *s)
{
    struct model *m = &r->f->m;
    memset(s, 0, sizeof *s);
    switch (kind) {
    case K_APPEND:
        gen_append(r, s, 20);
        if (rn(&r->r, 2))
            gen_hs(r, s);
        break;
    case K_SMALL:
        gen_append(r, s, 3);
        break;
    case K_CUT_APPEND: {
        s->tf = gen_cut(r);
        /* A new leader's entries: a higher term, with the hard state. */
        sp_hs(s, (m->hs.term ? m->hs.term : 1) + 1, rn(&r->r, 5), m->base);
        size_t n = (size_t)rn(&r->r, 21);
        uint32_t salt = (uint32_t)rnd(&r->r) | 1;
        sp_alt(s, m, n, s->hs.term, salt, 300);
        break;
    }
    case K_CUT:
        s->tf = rn(&r->r, 4) ? gen_cut(r) : m->last + 1 + rn(&r->r, 3);
        if (rn(&r->r, 2))
            gen_hs(r, s);
        if (s->tf == 0 && !s->has_hs)
            gen_hs(r, s);
        break;
    case K_HS:
        gen_hs(r, s);
        break;
    case K_LMDB:
        if (rn(&r->r, 2))
            s->applied = m->applied + 1 + rn(&r->r, 10);
        if (!s->applied || rn(&r->r, 2)) {
            s->n_state = 1 + (size_t)rn(&r->r, 2);
            for (size_t i = 0; i < s->n_state; i++) {
                s->key[i] = (int)rn(&r->r, NKEYS);
                s->val_len[i] = rn(&r->r, 4) == 0 ? -1
                                                  : (int)rn(&r->r, VAL_MAX + 1);
                for (int b = 0; b < s->val_len[i]; b++)
                    s->val[i][b] = (uint8_t)rnd(&r->r);
            }
            s->state_clear = rn(&r->r, 16) == 0;
        }
        if (rn(&r->r, 2)) {
            if (rn(&r->r, 3) == 0)
                s->tf = gen_cut(r);
            gen_append(r, s, 6);
        }
        if (rn(&r->r, 2))
            gen_hs(r, s);
        if (rn(&r->r, 8) == 0) {
            s->snap = 1;
            s->snap_index = rn(&r->r, m->last + 1);
            s->snap_term = rn(&r->r, 9);
            s->cfg_len = (uint32_t)rn(&r->r, CFG_MAX + 1);
            for (uint32_t b = 0; b < s->cfg_len; b++)
                s->cfg[b] = (uint8_t)rnd(&r->r);
        }
        break;
    case K_COMPACT:
        if (m->last > m->base && rn(&r->r, 8)) {
            /* Keep a good part of the log, mostly. */
            uint64_t span = m->last - m->base;
            s->ci = m->base + 1 + rn(&r->r, rn(&r->r, 4) ? span / 2 + 1 : span);
            s->ct = m->e[s->ci].term;
            if (rn(&r->r, 10) == 0)
                s->ct++; /* a conflicting term: the rest of the log goes */
        } else { /* beyond last: a snapshot install */
            s->ci = m->last + 1 + rn(&r->r, 5);
            s->ct = m->hs.term ? m->hs.term : 1;
        }
        if (rn(&r->r, 3) == 0)
            s->applied = m->applied + 1;
        break;
    case K_BIG: {
        /* Over 32 KiB: 9..16 entries of 3700..4000 bytes. */
        if (rn(&r->r, 4) == 0)
            s->tf = gen_cut(r);
        size_t n = 9 + (size_t)rn(&r->r, 8);
        uint32_t salt = (uint32_t)rnd(&r->r) | 1;
        sp_alt(s, m, n, m->hs.term ? m->hs.term : 1, salt, PAYLOAD_MAX);
        for (size_t i = 0; i < n; i++)
            s->d[i].len = 3700 + (uint32_t)rn(&r->r, 301);
        break;
    }
    }
}

/* A few random reads and terms, checked against the model. */
static void spot_check(struct mrun *r)
{
    struct model *m = &r->f->m;
    check_meta(r->log, m);
    if (m->last == m->base)
        return;
    static const size_t counts[] = {0, 1, 5, 50, SIZE_MAX};
    static const size_t bytes[] = {0, 500, 5000, SIZE_MAX};
    for (int i = 0; i < 3; i++) {
        uint64_t lo = m->base + 1 + rn(&r->cr, m->last - m->base);
        check_read(r->log, m, lo, counts[rn(&r->cr, 5)], bytes[rn(&r->cr, 4)]);
        uint64_t t;
        CHKEQ(log_term_at(r->log, lo, &t), 0);
        CHKEQ(t, m->e[lo].term);
    }
}

/* One operation: generated from r->r and the model only (so the parent,
 * without a store, makes the same ones), written through r->log if set. */
static void model_op(struct mrun *r, struct cstats *st)
{
    struct model *m = &r->f->m;
    struct log *log = r->log;
    struct spec s;
    uint64_t x = rn(&r->r, 100);
    r->op++;
    if (r->op % 150 == 0) /* phases: LMDB batches rare or common */
        r->lmdb_every = rn(&r->r, 2) ? 3 : 15;
    if (x < 2) {
        /* A clean close (the tail into LMDB) and an open, sometimes with
         * another journal size or none (allowed: nothing is left in the
         * journal; the next crash's open has the journal on again). */
        uint64_t o = rn(&r->r, 6);
        if (log) {
            struct log_options opt = r->f->opt;
            if (o == 0)
                opt.journal_off = 1;
            else if (o == 1)
                opt.journal_bytes_max = 16 << 10;
            else if (o == 2)
                opt.journal_bytes_max = 256 << 10;
            log_close(log);
            r->log = NULL;
            CHKEQ(log_open(r->f->sub, &opt, &r->log), 0);
            check_all(r->log, m);
            st->reopens++;
        }
        return;
    }
    if (x < 5) {
        /* Invalid: a gap, or a cut into the compacted prefix. */
        gen_batch(r, rn(&r->r, 2) ? K_APPEND : K_LMDB, &s);
        if (m->base && rn(&r->r, 2)) {
            s.tf = 1 + rn(&r->r, m->base);
        } else {
            s.tf = 0;
            if (!s.n)
                gen_append(r, &s, 3);
            s.shift = 1;
        }
        sp_write(log, m, &s, -PM_EINVAL);
        if (log) {
            st->invalid++;
            spot_check(r);
        }
        return;
    }
    int fault = x < 12 ? (rn(&r->r, 2) ? -PM_EIO : -PM_ENOSPC) : 0;
    int kind = gen_kind(r);
    gen_batch(r, kind, &s);
    if (!log) {
        sp_write(NULL, m, &s, fault);
        return;
    }
    uint64_t off0 = log->j.off;
    if (fault)
        log_test_fail_commit(log, 1, fault);
    sp_write(log, m, &s, fault);
    st->ops++;
    if (fault) {
        CHKEQ(log->j.off, off0);
        st->faults++;
    } else if (journal_kind(kind) && sp_record_bytes(&s) <= TEST_RECORD_MAX &&
               log->j.fd >= 0) {
        if (log->j.off > off0)
            st->journaled++;
        else if (off0 && log->j.off == 0)
            st->full++; /* went to LMDB: the journal was full */
        else
            CHK(!"a journal batch neither journaled nor full");
    } else {
        CHKEQ(log->j.off, 0);
        CHKEQ(log->j.n, 0);
        CHKEQ(log->lmdb_last, log->last);
        if (kind == K_BIG)
            st->big++;
        else if (!journal_kind(kind))
            st->lmdb++;
    }
    spot_check(r);
    if (r->op % 100 == 0)
        check_all(log, m);
}

static void model_child(void *ctx, struct cstats *st)
{
    struct mrun *r = ctx;
    r->cr.s = (r->r.s ^ 0x5DEECE66Dull) | 1;
    CHKEQ(log_open(r->f->sub, &r->f->opt, &r->log), 0);
    check_all(r->log, &r->f->m);
    while (r->op < r->seg_end)
        model_op(r, st);
    stats_at_crash(r->log, st);
}

static void a_random_run_with_crashes_matches_a_model(void **state)
{
    struct fx *f = *state;
    uint64_t seed = 0x9a1e5eedu;
    const char *env = getenv("PM_JOURNAL_SEED");
    if (env && *env)
        seed = strtoull(env, NULL, 0);
    printf("model seed %llu (PM_JOURNAL_SEED=... to repeat another)\n",
           (unsigned long long)seed);
    fresh(f, "m");
    f->opt = (struct log_options){.journal_bytes_max = MODEL_JOURNAL,
                                  .journal_record_max = TEST_RECORD_MAX};
    struct mrun r = {.f = f, .r = {seed | 1}, .lmdb_every = 8};
    struct cstats sum = {0};
    int crashes = 0, crashes_in_tail = 0, crashes_stale = 0;
    while (r.op < MODEL_OPS) {
        r.seg_end = r.op + 100 + rn(&r.r, 200);
        if (r.seg_end > MODEL_OPS)
            r.seg_end = MODEL_OPS;
        struct cstats st;
        in_child_run(model_child, &r, &st);
        /* The same operations on the model alone. */
        while (r.op < r.seg_end)
            model_op(&r, &st);
        crashes++;
        crashes_in_tail += st.tail_n > 0;
        crashes_stale += st.lmdb_last > st.last - st.tail_n;
        sum.ops += st.ops;
        sum.journaled += st.journaled;
        sum.lmdb += st.lmdb;
        sum.full += st.full;
        sum.big += st.big;
        sum.faults += st.faults;
        sum.reopens += st.reopens;
        sum.invalid += st.invalid;
        /* Everything the child wrote is there, and no more. */
        open_sub(f, &f->opt);
        check_all(f->log, &f->m);
        assert_int_equal(f->log->j.off, 0);
        assert_int_equal(f->log->lmdb_last, f->m.last);
        close_sub(f);
    }
    printf("model: %d crashes (%d with a tail, %d with a journaled cut into "
           "LMDB); %llu batches: %llu journaled, %llu to LMDB, %llu at a "
           "full journal, %llu big, %llu failed by injection, %llu invalid; "
           "%llu clean reopens; log %llu..%llu\n",
           crashes, crashes_in_tail, crashes_stale,
           (unsigned long long)sum.ops, (unsigned long long)sum.journaled,
           (unsigned long long)sum.lmdb, (unsigned long long)sum.full,
           (unsigned long long)sum.big, (unsigned long long)sum.faults,
           (unsigned long long)sum.invalid, (unsigned long long)sum.reopens,
           (unsigned long long)f->m.base + 1, (unsigned long long)f->m.last);
    /* The run exercised what it is for. */
    char p[700];
    struct stat jst;
    path_in(p, sizeof p, f->sub, "journal");
    assert_int_equal(stat(p, &jst), 0);
    assert_true(jst.st_size >= (off_t)MODEL_JOURNAL);
    assert_true(crashes >= 5);
    assert_true(crashes_in_tail >= 2);
    assert_true(sum.journaled > sum.ops / 3);
    assert_true(sum.full >= 3);
    assert_true(sum.big >= 10);
    assert_true(sum.lmdb >= 50);
    assert_true(sum.faults >= 30);
    assert_true(sum.reopens >= 5);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(journaled_entries_and_hard_state_survive_a_crash),
        T(reads_span_lmdb_and_the_journal_tail),
        T(a_journaled_truncation_into_lmdb_replaces_its_entries),
        T(truncations_within_the_tail_read_back_as_expected),
        T(a_torn_last_record_is_dropped),
        T(a_damaged_record_before_an_intact_one_is_refused),
        T(a_failed_journal_read_at_open_keeps_every_record),
        T(a_failed_journal_write_leaves_nothing_behind),
        T(a_full_journal_or_a_big_batch_goes_to_lmdb_with_the_tail),
        T(a_large_batch_is_one_record_by_default),
        T(a_failed_journal_flush_refuses_writes_until_reopened),
        T(a_journal_write_cut_short_goes_to_lmdb),
        T(unflushed_writes_read_back_at_once_and_become_durable),
        T(a_failed_background_flush_fails_the_store),
        T(a_random_run_with_crashes_matches_a_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
