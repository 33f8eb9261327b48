/* crash.c: kill -9 a writer at random moments and check that nothing it was
 * told is durable went missing.
 *
 * A child opens the store (with a small map, so that map growth happens
 * under fire too, and a small journal, so that it fills) and loops: each
 * batch appends a random number of entries (sometimes first truncating and
 * rewriting the last few, as a follower resolving a conflict does) and the
 * hard state; half of the batches also carry an FSM state key with the
 * applied index and now and then a compaction (an LMDB commit), the other
 * half nothing else (a journal record, src/log/journal.c); a third of those
 * go through log_write_unflushed (the flush on the store's thread, as a
 * leader's under load), acknowledged once log_flushed() says so.
 * After each log_write() returns 0 it tells the parent what is now
 * acknowledged through a pipe. The parent SIGKILLs it after a random delay,
 * reopens the store and checks:
 *   - every acknowledged entry is present with the content derived from its
 *     index (tests/log/util.h), CRCs fine, in one contiguous range
 *     [base + 1, last] with last >= the acknowledged last;
 *   - base, hard state and applied index are >= the acknowledged ones, and
 *     the state key written with `applied` agrees with it (same txn);
 *   - no torn batch: last and the hard state's term (both set to the
 *     batch's last index in one write) are equal, and applied is at most
 *     last.
 * This is a process crash (the page cache survives), not a power cut.
 *
 * usage: log-crash [-s SEED] [-k KILLS] [-d DELAY_US_MAX] [-b ack-early]
 * `-b ack-early` makes the child acknowledge before writing: a deliberate
 * bug the checker must catch (exit 1), to show the test can fail. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "log/log.h"
#include "log/util.h"

/* One pipe message: READY once the store is open, then one ACK per
 * successful write. Smaller than PIPE_BUF, so each write() is atomic. */
enum { MSG_READY = 1, MSG_ACK = 2 };
struct ack {
    uint64_t kind;
    uint64_t last, base, hard_term, applied;
};

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

#define BATCH_MAX 64
#define REWRITE_MAX 5
#define KEEP_ENTRIES 1000
#define READY_WAIT_US 5000000

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static _Noreturn void child(const char *dir, uint64_t seed, int fd, int ack_early)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct log_options o = {.map_bytes_initial = 64 << 10,
                            .journal_bytes_max = 128 << 10};
    struct log *log;
    int rc = log_open(dir, &o, &log);
    if (rc != 0) {
        fprintf(stderr, "child: log_open: %s\n", pm_strerror(rc));
        _exit(2);
    }
    struct ack ready = {.kind = MSG_READY};
    if (write(fd, &ready, sizeof ready) != sizeof ready)
        _exit(3);
    static struct pm_entry e[BATCH_MAX + REWRITE_MAX];
    static uint8_t buf[(BATCH_MAX + REWRITE_MAX) * 301];
    for (uint64_t round = 0;; round++) {
        uint64_t last = log_last_index(log), base = log_base_index(log);
        uint64_t from = last + 1;
        uint64_t rewrite = rng_next(&seed) % 4 == 0 ? rng_next(&seed) % (REWRITE_MAX + 1) : 0;
        if (rewrite > last - base)
            rewrite = last - base;
        from -= rewrite;
        size_t n = (size_t)rewrite + 1 + (size_t)(rng_next(&seed) % BATCH_MAX);
        tl_make(from, n, e, buf);
        uint64_t new_last = from + n - 1;
        struct log_hard_state hs = {.term = new_last, .vote = 1, .commit = new_last};
        uint8_t val[8];
        put_be64(val, new_last);
        struct log_kv kv = {"applied", 7, val, 8};
        struct log_batch b = {.truncate_from = rewrite ? from : 0, .entries = e,
                              .n_entries = n, .hard_state = &hs};
        int to_lmdb = rng_next(&seed) % 2;
        if (to_lmdb) {
            b.state = &kv;
            b.n_state = 1;
            b.applied = new_last;
        }
        if (to_lmdb && new_last - base > 2 * KEEP_ENTRIES && round % 7 == 0) {
            b.compact_index = new_last - KEEP_ENTRIES;
            b.compact_term = tl_term(b.compact_index);
        }
        struct ack a = {MSG_ACK, new_last,
                        b.compact_index ? b.compact_index : base, hs.term,
                        to_lmdb ? new_last : log_applied(log)};
        if (ack_early && write(fd, &a, sizeof a) != sizeof a)
            _exit(3);
        int bg = !to_lmdb && rng_next(&seed) % 3 == 0;
        rc = bg ? log_write_unflushed(log, &b) : log_write(log, &b);
        while (rc == 0 && bg && (rc = log_flushed(log)) == 0)
            usleep(20);
        if (rc < 0) {
            fprintf(stderr, "child: log_write: %s\n", pm_strerror(rc));
            _exit(2);
        }
        if (!ack_early && write(fd, &a, sizeof a) != sizeof a)
            _exit(3);
    }
}

#define FAIL(...) do { fprintf(stderr, "log-crash: kill %d: ", kill_no); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); goto fail; } while (0)

static int verify(const char *dir, const struct ack *a, int kill_no)
{
    struct log *log;
    int rc = log_open(dir, NULL, &log);
    /* A writer killed inside log_open leaves its store check (a child,
     * src/log/verify.c) to be killed with it, which takes a moment; until
     * then the directory may still read as in use. */
    for (int i = 0; rc == -PM_EBUSY && i < 100; i++) {
        usleep(10000);
        rc = log_open(dir, NULL, &log);
    }
    if (rc != 0) {
        fprintf(stderr, "log-crash: kill %d: reopen failed: %s\n", kill_no,
                pm_strerror(rc));
        return -1;
    }
    uint64_t base = log_base_index(log), last = log_last_index(log);
    struct log_hard_state hs;
    void *v = NULL;
    uint32_t vl = 0;
    if (last < a->last)
        FAIL("last %llu < acknowledged %llu", (unsigned long long)last,
             (unsigned long long)a->last);
    if (base < a->base)
        FAIL("base %llu < acknowledged %llu", (unsigned long long)base,
             (unsigned long long)a->base);
    if (log_first_index(log) != base + 1)
        FAIL("first != base + 1");
    log_hard_state(log, &hs);
    if (hs.term < a->hard_term)
        FAIL("hard state term %llu < acknowledged %llu",
             (unsigned long long)hs.term, (unsigned long long)a->hard_term);
    if (log_applied(log) < a->applied)
        FAIL("applied %llu < acknowledged %llu",
             (unsigned long long)log_applied(log), (unsigned long long)a->applied);
    /* Each batch writes entries up to L and hard state term L in one
     * write (journal record or transaction): after a crash both agree
     * (atomicity); applied L came with some of them. */
    if (last > 0 && (hs.term != last || log_applied(log) > last))
        FAIL("torn batch: last %llu, hard state term %llu, applied %llu",
             (unsigned long long)last, (unsigned long long)hs.term,
             (unsigned long long)log_applied(log));
    if (log_applied(log) > 0) {
        uint8_t want[8];
        put_be64(want, log_applied(log));
        rc = log_state_get(log, "applied", 7, &v, &vl);
        if (rc != 0 || vl != 8 || memcmp(v, want, 8) != 0)
            FAIL("state key disagrees with applied %llu (%s)",
                 (unsigned long long)log_applied(log), pm_strerror(rc));
        free(v);
        v = NULL;
    }
    uint64_t t;
    if (log_term_at(log, base, &t) != 0 || (base > 0 && t != tl_term(base)))
        FAIL("base term wrong");
    for (uint64_t next = base + 1; next <= last;) {
        struct log_entries es;
        rc = log_read(log, next, 1000, SIZE_MAX, &es);
        if (rc != 0)
            FAIL("read at %llu: %s", (unsigned long long)next, pm_strerror(rc));
        for (size_t i = 0; i < es.n; i++) {
            if (es.entries[i].index != next + i || !tl_check(&es.entries[i])) {
                log_entries_free(&es);
                FAIL("entry %llu has the wrong content",
                     (unsigned long long)(next + i));
            }
        }
        next += es.n;
        log_entries_free(&es);
    }
    log_close(log);
    return 0;
fail:
    free(v);
    log_close(log);
    return -1;
}

int main(int argc, char **argv)
{
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    int kills = 250, ack_early = 0;
    unsigned delay_us_max = 20000;
    int opt;
    while ((opt = getopt(argc, argv, "s:k:d:b:")) != -1) {
        switch (opt) {
        case 's': seed = strtoull(optarg, NULL, 0); break;
        case 'k': kills = atoi(optarg); break;
        case 'd': delay_us_max = (unsigned)atoi(optarg); break;
        case 'b':
            if (strcmp(optarg, "ack-early") != 0) {
                fprintf(stderr, "unknown -b %s (only ack-early)\n", optarg);
                return 2;
            }
            ack_early = 1;
            break;
        default:
            fprintf(stderr, "usage: %s [-s SEED] [-k KILLS] [-d DELAY_US_MAX] "
                    "[-b ack-early]\n", argv[0]);
            return 2;
        }
    }
    if (seed == 0)
        seed = 1;
    printf("log-crash: seed=%llu kills=%d delay_us_max=%u%s (rerun: -s %llu)\n",
           (unsigned long long)seed, kills, delay_us_max,
           ack_early ? " bug=ack-early" : "", (unsigned long long)seed);
    fflush(stdout);
    char *dir = tl_mkdtemp("logcrash");
    if (!dir) {
        perror("mkdtemp");
        return 2;
    }
    uint64_t rng = seed;
    struct ack acked = {0};
    int failed = 0, kill_no;
    uint64_t writes = 0, start = now_us();
    for (kill_no = 1; kill_no <= kills && !failed; kill_no++) {
        int p[2];
        if (pipe(p) != 0) {
            perror("pipe");
            failed = 1;
            break;
        }
        uint64_t child_seed = rng_next(&rng) | 1;
        uint64_t delay_us = rng_next(&rng) % (delay_us_max + 1);
        /* One kill in four is timed from the fork, so it may land while the
         * child opens the store; the rest from the child's READY, so that
         * slow starts (sanitizers) still leave time for writes. */
        int from_fork = rng_next(&rng) % 4 == 0;
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            failed = 1;
            break;
        }
        if (pid == 0) {
            close(p[0]);
            child(dir, child_seed, p[1], ack_early);
        }
        close(p[1]);
        /* Collect acknowledgements until the deadline, then kill. Waiting
         * for READY is bounded too (a child that hangs in open is killed
         * after READY_WAIT_US all the same). */
        uint64_t deadline = now_us() + (from_fork ? delay_us : READY_WAIT_US);
        int ready = from_fork;
        struct ack a;
        int exited = 0;
        for (;;) {
            uint64_t now = now_us();
            if (now >= deadline)
                break;
            struct pollfd pfd = {p[0], POLLIN, 0};
            int ms = (int)((deadline - now + 999) / 1000);
            if (poll(&pfd, 1, ms) <= 0)
                continue;
            ssize_t r = read(p[0], &a, sizeof a);
            if (r == (ssize_t)sizeof a && a.kind == MSG_ACK) {
                acked = a;
                writes++;
            } else if (r == (ssize_t)sizeof a && !ready) {
                ready = 1;
                deadline = now_us() + delay_us;
            } else if (r == 0) {
                exited = 1; /* the child died on its own */
                break;
            }
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        /* Whatever it acknowledged before dying counts. */
        while (read(p[0], &a, sizeof a) == (ssize_t)sizeof a) {
            if (a.kind == MSG_ACK) {
                acked = a;
                writes++;
            }
        }
        close(p[0]);
        if (exited || !WIFSIGNALED(status)) {
            fprintf(stderr, "log-crash: kill %d: child exited by itself (status %d)\n",
                    kill_no, status);
            failed = 1;
            break;
        }
        if (verify(dir, &acked, kill_no) != 0)
            failed = 1;
    }
    double secs = (double)(now_us() - start) / 1e6;
    printf("log-crash: %d kills, %llu acknowledged writes, last=%llu base=%llu, "
           "%.1f s: %s\n", kill_no - 1, (unsigned long long)writes,
           (unsigned long long)acked.last, (unsigned long long)acked.base, secs,
           failed ? "FAILED" : "ok");
    if (failed)
        printf("log-crash: reproduce with -s %llu%s\n", (unsigned long long)seed,
               ack_early ? " -b ack-early" : "");
    tl_rmrf(dir);
    free(dir);
    return failed ? 1 : 0;
}
