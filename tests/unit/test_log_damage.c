/* test_log_damage.c: random damage to any page of a closed store never
 * crashes the process that opens it and never serves wrong data.
 *
 * A store with every page kind (LMDB's two meta pages, the main database,
 * branch, leaf and overflow pages of the log, meta and state tables, the
 * free list) is built once. Each trial copies it and damages one page: most
 * often 1-3 random bytes XORed (half the time inside the page header and
 * node-pointer area, where LMDB trusts offsets and counts), else the page
 * zeroed (a lost write) or overwritten with another page (a misdirected
 * write). Then, in a child process, opens the
 * store and reads every entry, state record and meta record through log.h,
 * writes a batch (append, state puts and deletes, compaction: the free list
 * is used), reopens and reads everything again. The parent classifies the
 * child: intact / refused with an error / wrong data / crashed (signal) /
 * hung. After the verifying open (log.h, log_open), crashes and wrong data
 * must be zero.
 *
 * Environment (to measure; the defaults are the check):
 *   PM_DAMAGE_SEED=N    the seed (default: from the clock; always printed)
 *   PM_DAMAGE_TRIALS=N  trials (default 400)
 *   PM_DAMAGE_KEEP=DIR  keep the damaged file of a failing trial there
 *   PM_DAMAGE_VERBOSE=1 show the store's error lines (why each refusal)
 *   PM_DAMAGE_COST_MB=N the store size for the open-time cost figure
 *                       (default 4; printed, never asserted: bench/ rule)
 *   PM_DAMAGE_NOVERIFY=1  open with log_options.verify_skip, i.e. without
 *                       the open-time check, to measure what LMDB alone
 *                       does; the counts are printed and nothing is
 *                       asserted.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/err.h"
#include "log/log.h"
#include "log/util.h"

/* ---- the store's deterministic content ---------------------------------- */
#define N_ENTRIES 1200u      /* written: 1..N_ENTRIES */
#define BASE0 200u           /* compacted at build: log holds 201..1200 */
#define N_KEYS 400u
#define BIG 6000u            /* an overflow value (over half a page) */
#define W_ENTRIES 20u        /* the trial's write: N_ENTRIES+1.. */
#define BASE1 300u           /* and its compaction */
#define SNAP_CONFIG 300u

static uint32_t ent_len(uint64_t idx)
{
    return idx % 200 == 7 ? BIG : tl_len(idx);
}

static void key_name(unsigned i, char *k) /* 8 bytes + NUL */
{
    snprintf(k, 9, "%c/%06u", i >= N_KEYS ? 'n' : 'k', i % N_KEYS);
}

/* Is state key I present after PHASE (0: built, 1: after the trial's
 * write)? Keys N_KEYS.. are the write's new keys ('n/...'). */
static int key_present(unsigned i, int phase)
{
    if (i >= N_KEYS)
        return phase == 1 && i < N_KEYS + 10;
    if (i % 7 == 3)
        return 0;                     /* deleted at build */
    if (phase == 1 && i % 11 == 5)
        return 0;                     /* deleted by the trial's write */
    return 1;
}

static uint32_t val_len(unsigned i, int phase)
{
    if (i == 100)
        return 5000;                  /* an overflow page in "state" */
    return 10 + (i * 7 + (unsigned)phase * (i % 3 == 0)) % 90;
}

static void val_fill(unsigned i, int phase, uint8_t *buf, uint32_t len)
{
    for (uint32_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 31 + j * 7 + (unsigned)phase * (i % 3 == 0));
}

/* Write-set of PHASE's state: build (phase 0) writes every key then deletes
 * some; the trial (phase 1) rewrites every third key, adds ten, deletes
 * some. */
static int put_state(struct log *log, int phase)
{
    static uint8_t vals[N_KEYS + 10][5000];
    static char keys[N_KEYS + 10][9];
    struct log_kv kv[N_KEYS + 10];
    size_t n = 0;
    for (unsigned i = 0; i < N_KEYS + 10; i++) {
        key_name(i, keys[i]);
        int touched = phase == 0 ? i < N_KEYS
                                 : (i >= N_KEYS || i % 3 == 0 || i % 11 == 5);
        if (!touched)
            continue;
        kv[n].key = keys[i];
        kv[n].key_len = 8;
        if (key_present(i, phase)) {
            kv[n].val_len = val_len(i, phase);
            val_fill(i, phase, vals[i], kv[n].val_len);
            kv[n].val = vals[i];
        } else {
            kv[n].val = NULL;
            kv[n].val_len = 0;
        }
        n++;
    }
    struct log_batch b = {.state = kv, .n_state = n,
                          .applied = phase == 0 ? 1150 : 1210};
    return log_write(log, &b);
}

static int append(struct log *log, uint64_t lo, uint64_t hi, uint64_t commit)
{
    static uint8_t buf[25][BIG];
    struct pm_entry e[25];
    for (uint64_t at = lo; at <= hi; at += 25) {
        size_t k = hi - at + 1 < 25 ? (size_t)(hi - at + 1) : 25;
        for (size_t i = 0; i < k; i++) {
            uint64_t idx = at + i;
            e[i] = (struct pm_entry){.index = idx, .term = tl_term(idx),
                                     .type = tl_type(idx),
                                     .len = ent_len(idx), .data = buf[i]};
            tl_fill(idx, buf[i], e[i].len);
        }
        struct log_hard_state hs = {.term = tl_term(at + k - 1), .vote = 2,
                                    .commit = commit ? commit : at};
        struct log_batch b = {.entries = e, .n_entries = k, .hard_state = &hs};
        int rc = log_write(log, &b);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const struct log_options *opts(void)
{
    static struct log_options o;
    o.verify_skip = getenv("PM_DAMAGE_NOVERIFY") &&
                    strcmp(getenv("PM_DAMAGE_NOVERIFY"), "1") == 0;
    return &o;
}

static void build_store(const char *dir)
{
    struct log *log;
    assert_int_equal(log_open(dir, opts(), &log), 0);
    assert_int_equal(append(log, 1, N_ENTRIES, 0), 0);
    assert_int_equal(put_state(log, 0), 0);
    uint8_t cfg[SNAP_CONFIG];
    memset(cfg, 0xC5, sizeof cfg);
    struct log_snapshot_meta sm = {.index = BASE0, .term = tl_term(BASE0),
                                   .config = cfg, .config_len = sizeof cfg};
    struct log_batch b = {.snapshot = &sm, .compact_index = BASE0,
                          .compact_term = tl_term(BASE0)};
    assert_int_equal(log_write(log, &b), 0);
    struct log_hard_state hs = {.term = tl_term(N_ENTRIES), .vote = 2,
                                .commit = N_ENTRIES};
    struct log_batch h = {.hard_state = &hs};
    assert_int_equal(log_write(log, &h), 0);
    log_close(log);
}

/* ---- reading everything back --------------------------------------------- */
enum { R_INTACT = 0, R_ERROR = 1, R_WRONG = 2 };

struct scan_ctx {
    unsigned next; /* the next key index expected */
    int phase;
    int wrong;
};

static int scan_fn(void *ctx, const void *k, uint32_t kl, const void *v,
                   uint32_t vl)
{
    struct scan_ctx *c = ctx;
    while (c->next < N_KEYS + 10 && !key_present(c->next, c->phase))
        c->next++;
    char want[9];
    uint8_t wv[5000];
    if (c->next >= N_KEYS + 10) {
        c->wrong = 1;
        return 1;
    }
    key_name(c->next, want);
    uint32_t wl = val_len(c->next, c->phase);
    val_fill(c->next, c->phase, wv, wl);
    if (kl != 8 || memcmp(k, want, 8) != 0 || vl != wl ||
        memcmp(v, wv, wl) != 0) {
        c->wrong = 1;
        return 1;
    }
    c->next++;
    return 0;
}

/* What reading every record of the store through log.h gives in PHASE. */
static int read_all(struct log *log, int phase)
{
    uint64_t base = phase ? BASE1 : BASE0;
    uint64_t last = N_ENTRIES + (phase ? W_ENTRIES : 0);
    if (log_base_index(log) != base || log_last_index(log) != last ||
        log_applied(log) != (phase ? 1210u : 1150u))
        return R_WRONG;
    struct log_hard_state hs;
    if (log_hard_state(log, &hs) != 0)
        return R_ERROR;
    if (hs.term != tl_term(last) || hs.vote != 2 || hs.commit != last)
        return R_WRONG;
    for (uint64_t lo = base + 1; lo <= last;) {
        struct log_entries es;
        int rc = log_read(log, lo, 64, SIZE_MAX, &es);
        if (rc != 0)
            return R_ERROR;
        for (size_t i = 0; i < es.n; i++) {
            struct pm_entry *e = &es.entries[i];
            static uint8_t want[BIG];
            tl_fill(e->index, want, ent_len(e->index));
            if (e->index != lo + i || e->term != tl_term(e->index) ||
                e->type != tl_type(e->index) || e->len != ent_len(e->index) ||
                (e->len && memcmp(e->data, want, e->len) != 0)) {
                log_entries_free(&es);
                return R_WRONG;
            }
        }
        lo += es.n;
        log_entries_free(&es);
    }
    for (uint64_t i = base; i <= last; i++) {
        uint64_t t;
        int rc = log_term_at(log, i, &t);
        if (rc != 0)
            return R_ERROR;
        if (t != tl_term(i))
            return R_WRONG;
    }
    struct log_snapshot_meta sm;
    uint8_t *cfg;
    int rc = log_snapshot_meta(log, &sm, &cfg);
    if (rc != 0)
        return R_ERROR;
    int bad = sm.index != BASE0 || sm.term != tl_term(BASE0) ||
              sm.config_len != SNAP_CONFIG;
    for (uint32_t i = 0; !bad && i < SNAP_CONFIG; i++)
        bad = cfg[i] != 0xC5;
    free(cfg);
    if (bad)
        return R_WRONG;

    struct scan_ctx c = {.phase = phase};
    rc = log_state_scan(log, scan_fn, &c);
    if (c.wrong)
        return R_WRONG;
    if (rc != 0)
        return R_ERROR;
    while (c.next < N_KEYS + 10 && !key_present(c.next, phase))
        c.next++;
    if (c.next != N_KEYS + 10)
        return R_WRONG; /* records missing at the end */
    for (unsigned i = 0; i < N_KEYS + 10; i++) {
        char k[9];
        key_name(i, k);
        void *v;
        uint32_t vl;
        rc = log_state_get(log, k, 8, &v, &vl);
        if (!key_present(i, phase)) {
            if (rc == 0) {
                free(v);
                return R_WRONG;
            }
            if (rc != -PM_ENOTFOUND)
                return R_ERROR;
            continue;
        }
        if (rc != 0)
            return R_ERROR;
        uint8_t wv[5000];
        uint32_t wl = val_len(i, phase);
        val_fill(i, phase, wv, wl);
        bad = vl != wl || memcmp(v, wv, wl) != 0;
        free(v);
        if (bad)
            return R_WRONG;
    }
    return R_INTACT;
}

/* ---- one trial, in a child ----------------------------------------------- */
/* Exit codes of the trial child; stages are reported through a pipe. */
enum {
    X_INTACT = 0,
    X_REFUSED_OPEN = 10,  /* log_open said -PM_ECORRUPT */
    X_OTHER_OPEN = 11,    /* log_open failed otherwise */
    X_REFUSED_READ = 12,  /* opened; a read reported an error */
    X_WRONG = 13,         /* opened and served data nobody wrote */
    X_REFUSED_WRITE = 14, /* the write, or the reopen after it, failed */
    X_WRONG_AFTER = 15,   /* after the write: wrong data */
};

static void stage(int fd, char c)
{
    if (write(fd, &c, 1) != 1)
        _exit(99);
}

static int child(const char *dir, int fd)
{
    alarm(20); /* a hang shows as SIGALRM */
    struct log *log;
    stage(fd, 'o');
    int rc = log_open(dir, opts(), &log);
    if (rc != 0)
        return rc == -PM_ECORRUPT ? X_REFUSED_OPEN : X_OTHER_OPEN;
    stage(fd, 'r');
    rc = read_all(log, 0);
    if (rc != R_INTACT) {
        log_close(log);
        return rc == R_WRONG ? X_WRONG : X_REFUSED_READ;
    }
    stage(fd, 'w');
    if (append(log, N_ENTRIES + 1, N_ENTRIES + W_ENTRIES,
               N_ENTRIES + W_ENTRIES) != 0 ||
        put_state(log, 1) != 0) {
        log_close(log);
        return X_REFUSED_WRITE;
    }
    struct log_batch b = {.compact_index = BASE1,
                          .compact_term = tl_term(BASE1)};
    if (log_write(log, &b) != 0) {
        log_close(log);
        return X_REFUSED_WRITE;
    }
    log_close(log);
    stage(fd, 'R');
    if (log_open(dir, opts(), &log) != 0)
        return X_REFUSED_WRITE;
    rc = read_all(log, 1);
    log_close(log);
    if (rc != R_INTACT)
        return rc == R_WRONG ? X_WRONG_AFTER : X_REFUSED_WRITE;
    return X_INTACT;
}

/* ---- damage --------------------------------------------------------------- */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#define PSIZE 4096u
enum { K_META, K_BRANCH, K_LEAF, K_OVERFLOW, K_ANY, K__N };
static const char *const kind_names[K__N] = {"meta", "branch", "leaf",
                                             "overflow", "any"};

/* LMDB 0.9 page header (its file format, version 1): pgno (8 bytes), pad
 * (2), flags (2), lower (2), upper (2). Only used to aim the damage. */
static int page_kind(const uint8_t *p, size_t pgno)
{
    if (pgno < 2)
        return K_META;
    uint16_t flags = (uint16_t)(p[10] | p[11] << 8);
    uint64_t no;
    memcpy(&no, p, 8);
    if (no != pgno)
        return K_ANY; /* an overflow continuation page */
    if (flags == 0x01)
        return K_BRANCH;
    if (flags == 0x02)
        return K_LEAF;
    if (flags == 0x04)
        return K_OVERFLOW;
    return K_ANY;
}

static void damage(uint8_t *buf, size_t len, uint64_t *rng, int *kind_out)
{
    size_t pages = len / PSIZE;
    int kind = (int)(rng_next(rng) % K__N);
    size_t cand[4096], n = 0;
    for (size_t p = 0; p < pages && n < 4096; p++)
        if (kind == K_ANY || page_kind(buf + p * PSIZE, p) == kind)
            cand[n++] = p;
    if (n == 0) {
        kind = K_ANY;
        for (size_t p = 0; p < pages && n < 4096; p++)
            cand[n++] = p;
    }
    size_t pg = cand[rng_next(rng) % n];
    uint8_t *p = buf + pg * PSIZE;
    /* The header and node pointers: [0, lower) of a b-tree page, the meta
     * record (header + 136 bytes) of a meta page. */
    size_t hot = 16;
    if (pg < 2)
        hot = 16 + 136;
    else if (kind == K_BRANCH || kind == K_LEAF) {
        size_t lower = (size_t)(p[12] | p[13] << 8);
        hot = lower > 16 && lower <= PSIZE ? lower : 16;
    }
    unsigned mode = (unsigned)(rng_next(rng) % 10);
    if (mode == 0) {        /* a lost write: the page reads as zeros */
        memset(p, 0, PSIZE);
    } else if (mode == 1) { /* a misdirected write: another page's bytes */
        memcpy(p, buf + (rng_next(rng) % pages) * PSIZE, PSIZE);
    } else {                /* flipped bits */
        int flips = 1 + (int)(rng_next(rng) % 3);
        int in_hot = rng_next(rng) % 2;
        for (int i = 0; i < flips; i++) {
            size_t off = (size_t)(rng_next(rng) % (in_hot ? hot : PSIZE));
            uint8_t x = (uint8_t)(1 + rng_next(rng) % 255);
            p[off] ^= x;
        }
    }
    *kind_out = kind;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *b = tl_slurp(path, len);
    assert_non_null(b);
    return b;
}

static void spill(const char *path, const uint8_t *b, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, len), (ssize_t)len);
    close(fd);
}

enum { O_INTACT, O_REFUSED, O_REFUSED_LATE, O_WRONG, O_CRASH, O_HANG, O__N };
static const char *const out_names[O__N] = {
    "intact", "refused at open", "refused later (read/write)", "WRONG DATA",
    "CRASHED", "HUNG"};

static void random_damage_never_crashes_or_serves_wrong_data(void **state)
{
    (void)state;
    const char *s = getenv("PM_DAMAGE_SEED");
    const char *t = getenv("PM_DAMAGE_TRIALS");
    uint64_t seed = s ? strtoull(s, NULL, 0)
                      : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    if (seed == 0)
        seed = 1;
    int trials = t ? atoi(t) : 400;
    int measuring = opts()->verify_skip;
    printf("# damage: seed %llu, %d trials%s (rerun: PM_DAMAGE_SEED=%llu)\n",
           (unsigned long long)seed, trials,
           measuring ? ", open-time verification SKIPPED" : "",
           (unsigned long long)seed);

    char *dir = tl_mkdtemp("logdmg");
    assert_non_null(dir);
    char pristine_dir[600], data[600];
    snprintf(pristine_dir, sizeof pristine_dir, "%s/pristine", dir);
    snprintf(data, sizeof data, "%s/pristine/data.mdb", dir);
    build_store(pristine_dir);
    size_t len = 0;
    uint8_t *pristine = slurp(data, &len);
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    printf("# store: %zu bytes, %zu pages\n", len, len / PSIZE);

    int count[K__N][O__N] = {{0}};
    int total[O__N] = {0};
    char stages[O__N][8] = {{0}};
    uint64_t rng = seed;
    char tdir[600], tdata[600];
    snprintf(tdir, sizeof tdir, "%s/t", dir);
    snprintf(tdata, sizeof tdata, "%s/t/data.mdb", dir);
    for (int i = 0; i < trials; i++) {
        memcpy(buf, pristine, len);
        int kind;
        damage(buf, len, &rng, &kind);
        tl_rmrf(tdir);
        assert_int_equal(mkdir(tdir, 0700), 0);
        spill(tdata, buf, len);
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* cmocka catches these to report a failed test; here a signal
             * must kill the child so that the parent sees it. */
            static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE,
                                       SIGILL, SIGALRM};
            for (size_t j = 0; j < sizeof sigs / sizeof *sigs; j++)
                signal(sigs[j], SIG_DFL);
            close(pfd[0]);
            /* The store's own error lines would drown the summary. */
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0 && !getenv("PM_DAMAGE_VERBOSE"))
                dup2(null, 2);
            _exit(child(tdir, pfd[1]));
        }
        close(pfd[1]);
        char st = '?', c;
        while (read(pfd[0], &c, 1) == 1)
            st = c;
        close(pfd[0]);
        int ws;
        assert_int_equal(waitpid(pid, &ws, 0), pid);
        int o;
        if (WIFSIGNALED(ws))
            o = WTERMSIG(ws) == SIGALRM ? O_HANG : O_CRASH;
        else switch (WEXITSTATUS(ws)) {
            case X_INTACT: o = O_INTACT; break;
            case X_REFUSED_OPEN: o = O_REFUSED; break;
            case X_WRONG: case X_WRONG_AFTER: o = O_WRONG; break;
            case X_REFUSED_READ: case X_REFUSED_WRITE: case X_OTHER_OPEN:
                o = O_REFUSED_LATE; break;
            default: o = O_CRASH; break;
        }
        if ((o == O_CRASH || o == O_HANG || o == O_WRONG) && !measuring) {
            printf("# trial %d (%s page): %s at stage '%c' (status 0x%x)\n",
                   i, kind_names[kind], out_names[o], st, ws);
            const char *keep = getenv("PM_DAMAGE_KEEP");
            if (keep) {
                char kp[700];
                snprintf(kp, sizeof kp, "%s/trial-%d.mdb", keep, i);
                spill(kp, buf, len);
                printf("# damaged file kept as %s\n", kp);
            }
        }
        if (o == O_CRASH || o == O_HANG || o == O_WRONG || o == O_REFUSED_LATE) {
            size_t l = strlen(stages[o]);
            if (!strchr(stages[o], st) && l < 7)
                stages[o][l] = st;
        }
        if (getenv("PM_DAMAGE_VERBOSE"))
            printf("# trial %d (%s page): %s\n", i, kind_names[kind],
                   out_names[o]);
        count[kind][o]++;
        total[o]++;
    }
    printf("# %-9s", "page");
    for (int o = 0; o < O__N; o++)
        printf(" %14.14s", out_names[o]);
    printf("\n");
    for (int k = 0; k < K__N; k++) {
        printf("# %-9s", kind_names[k]);
        for (int o = 0; o < O__N; o++)
            printf(" %14d", count[k][o]);
        printf("\n");
    }
    printf("# %-9s", "total");
    for (int o = 0; o < O__N; o++)
        printf(" %14d", total[o]);
    printf("\n# stages (o open, r read, w write, R reopen+read): late-refused"
           " '%s' wrong '%s' crashed '%s' hung '%s'\n", stages[O_REFUSED_LATE],
           stages[O_WRONG], stages[O_CRASH], stages[O_HANG]);
    free(buf);
    free(pristine);
    tl_rmrf(dir);
    free(dir);
    if (!measuring) {
        assert_int_equal(total[O_CRASH], 0);
        assert_int_equal(total[O_HANG], 0);
        assert_int_equal(total[O_WRONG], 0);
        /* Damage was both refused and (in unused bytes) harmless. */
        assert_true(total[O_REFUSED] > 0);
        assert_true(total[O_INTACT] > 0);
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median time of 5 opens of DIR (with or without the check). */
static double open_ms(const char *dir, int skip, uint64_t want_last)
{
    double t[5];
    for (int i = 0; i < 5; i++) {
        struct log_options o = {.verify_skip = skip};
        struct log *log;
        double t0 = now_ms();
        assert_int_equal(log_open(dir, &o, &log), 0);
        t[i] = now_ms() - t0;
        assert_int_equal(log_last_index(log), want_last);
        log_close(log);
    }
    qsort(t, 5, sizeof *t, cmp_double);
    return t[2];
}

/* What the open-time check costs, per MB of store (printed for
 * docs/reliability.md; the store is what a node holds: 1 KiB entries and
 * a few thousand state keys). */
static void the_open_time_check_costs_a_bounded_time_per_mb(void **state)
{
    (void)state;
    const char *s = getenv("PM_DAMAGE_COST_MB");
    uint64_t mb = s ? strtoull(s, NULL, 0) : 4;
    char *dir = tl_mkdtemp("logcost");
    assert_non_null(dir);
    struct log *log;
    assert_int_equal(log_open(dir, NULL, &log), 0);
    static uint8_t buf[256][1024];
    struct pm_entry e[256];
    uint64_t next = 1, target = mb << 20, bytes = 0;
    while (bytes < target) {
        for (size_t i = 0; i < 256; i++, next++) {
            e[i] = (struct pm_entry){.index = next, .term = 1, .type = 1,
                                     .len = sizeof buf[i], .data = buf[i]};
            tl_fill(next, buf[i], sizeof buf[i]);
        }
        struct log_batch b = {.entries = e, .n_entries = 256};
        assert_int_equal(log_write(log, &b), 0);
        bytes += 256 * (sizeof buf[0] + 40);
    }
    assert_int_equal(put_state(log, 0), 0);
    log_close(log);
    char path[600];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    double with = open_ms(dir, 0, next - 1), without = open_ms(dir, 1, next - 1);
    double file_mb = (double)st.st_size / (1 << 20);
    printf("# open-time check: store %.1f MB (%llu entries, %u state keys): "
           "open %.2f ms with the check, %.2f ms without: %.2f ms per MB\n",
           file_mb, (unsigned long long)(next - 1), N_KEYS, with, without,
           (with - without) / file_mb);
    tl_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_damage_never_crashes_or_serves_wrong_data),
        cmocka_unit_test(the_open_time_check_costs_a_bounded_time_per_mb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
