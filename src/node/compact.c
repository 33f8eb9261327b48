/* compact.c: log compaction off the event loop (see node_int.h,
 * "compaction").
 *
 * Serializing the whole FSM and writing it to disk costs O(state): with
 * thousands of keys, many milliseconds, and every request in flight waits
 * for a loop that does it. So a forked child does it: copy-on-write hands
 * it the FSM exactly at the applied index A of the fork, it writes
 * AUDIT_NEXT (temporary file, fsync, rename, directory fsync) and exits.
 * The loop goes on serving meanwhile. Once the child has exited with
 * success, the next group commit also moves the log's base to A (snapshot
 * metadata + compaction, in the same LMDB transaction as the turn's
 * entries), and only after that commit is AUDIT_NEXT renamed over
 * AUDIT_BASE. That rename is not synced in the loop (a directory fsync
 * costs milliseconds there): until it is durable, AUDIT_NEXT still holds
 * the base, and the next child syncs the directory before it writes a new
 * AUDIT_NEXT. So at every instant one of the two files holds, durably and
 * whole, the FSM state at the log's base:
 *
 *   crash while the child writes      base B, audit.snap = B (.next.tmp
 *                                     is ignored, removed at start)
 *   crash after the child, before     base B, audit.snap = B, .next = A
 *   the LMDB commit                   (.next removed at start)
 *   crash after the commit, before    base A, audit.snap = B, .next = A
 *   the rename                        (renamed at start; the audit reads
 *                                     .next meanwhile)
 *
 * The snapshot metadata written with the compaction describes A (index,
 * term, configuration at A). The FSM state stored in LMDB is at applied
 * >= A; a restart hands the core the entries after A and the node skips
 * those already applied, as it always did after a restart.
 *
 * The child closes every inherited descriptor first (LMDB's, the sockets,
 * the event loop's), dies with the node (PR_SET_PDEATHSIG), never returns
 * into the loop, and leaves through _exit() (no atexit handlers, no stdio
 * flush). */
#include "node/node_int.h"

#include "base/err.h"
#include "base/say.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define AUDIT_BASE "audit.snap"
#define AUDIT_NEXT "audit.snap.next"
/* The temporary file home_write_file() uses for AUDIT_NEXT. */
#define AUDIT_NEXT_TMP "audit.snap.next.tmp"

/* A failed child is retried after this long, doubling up to the max. */
#define COMPACT_RETRY_MIN_MS 1000
#define COMPACT_RETRY_MAX_MS 60000
/* Cadence: a snapshot costs O(state bytes); compacting only once the
 * entries since the base reach (last snapshot bytes) / this, bounds the
 * snapshot work per applied entry to about this many bytes (amortized
 * O(1) per entry, whatever the state size). 256 bytes is about one live
 * key with a typical value, so a state of K keys is snapshotted about
 * every K entries (never more often than compact_every). */
#define COMPACT_BYTES_PER_ENTRY 256
/* Spacing: the next compaction starts no sooner than this many times what
 * the last one took (the child's save, the loop's commit and rename) after
 * it, as files.c spaces settings.json rewrites, so that saving the state
 * takes about 1% of the time. Under a steady write load the entries then
 * gather between compactions instead of each threshold's worth paying a
 * whole snapshot: with a 20,000-key state at 256 clients, three nodes each
 * wrote 2-5 MB snapshots every ~8,000-18,000 entries, all at the same
 * indexes, and every request in flight waited ~17 ms for the disk (the
 * p99). The in-memory log stays bounded: the core's want_compact
 * (raft options.log_bytes_compact) starts a compaction whatever the
 * spacing. */
#define COMPACT_COST_FACTOR 100

/* Fault injection for the crash tests (tests/integration/node/
 * t_compact_crash.sh), from $PMESH_TEST_COMPACT_FAULT; unset in use:
 *   child-fail     the child exits with a failure, writing nothing;
 *   child-slow     the child sleeps 300 ms first (a kill lands while it
 *                  works);
 *   after-child    the node kills itself (SIGKILL) once the child reported
 *                  success, before the store's compaction;
 *   before-rename  the node kills itself after the compaction's commit,
 *                  before audit.snap.next is renamed. */
enum fault { FAULT_NONE, FAULT_CHILD_FAIL, FAULT_CHILD_SLOW, FAULT_AFTER_CHILD,
             FAULT_BEFORE_RENAME };

static enum fault fault(void)
{
    const char *f = getenv("PMESH_TEST_COMPACT_FAULT");
    if (f == NULL)
        return FAULT_NONE;
    return strcmp(f, "child-fail") == 0      ? FAULT_CHILD_FAIL
           : strcmp(f, "child-slow") == 0    ? FAULT_CHILD_SLOW
           : strcmp(f, "after-child") == 0   ? FAULT_AFTER_CHILD
           : strcmp(f, "before-rename") == 0 ? FAULT_BEFORE_RENAME
                                             : FAULT_NONE;
}

/* The FSM state at its applied index, written durably to HOME/AUDIT_NEXT.
 * Runs in the child (and in the loop when no child can be watched). */
static int write_next(const struct fsm *f, const char *home)
{
    uint8_t *snap = NULL;
    size_t len = 0;
    int rc = fsm_snapshot(f, &snap, &len);
    if (rc == 0)
        rc = home_write_file(home, AUDIT_NEXT, snap, len, 0600);
    free(snap);
    return rc;
}

static void child_main(struct node *n, pid_t parent, enum fault f)
{
    node_child_setup(parent, "pmesh-compact");
    /* The last compaction's rename must be durable before AUDIT_NEXT, which
     * it moved away, is written again (the loop did not sync it). */
    if (home_sync(n->home) != 0)
        _exit(1);
    if (f == FAULT_CHILD_FAIL)
        _exit(1);
    if (f == FAULT_CHILD_SLOW)
        usleep(300 * 1000);
    _exit(write_next(n->fsm, n->home) == 0 ? 0 : 1);
}

static uint64_t file_size(const char *home, const char *leaf)
{
    char p[4200];
    struct stat st;
    if (home_path(p, sizeof p, home, leaf) != 0 || stat(p, &st) != 0)
        return 0;
    return (uint64_t)st.st_size;
}

static void prepared(struct node *n)
{
    n->compact.ready = 1;
    n->compact.backoff_ms = 0;
    n->compact.snap_bytes = file_size(n->home, AUDIT_NEXT);
    n->compact.saved_ms = node_now() - n->compact.started_ms;
    if (fault() == FAULT_AFTER_CHILD)
        raise(SIGKILL);
    node_kick(n);
}

static void failed(struct node *n, const char *why)
{
    n->compact.backoff_ms = n->compact.backoff_ms
                                ? n->compact.backoff_ms * 2
                                : COMPACT_RETRY_MIN_MS;
    if (n->compact.backoff_ms > COMPACT_RETRY_MAX_MS)
        n->compact.backoff_ms = COMPACT_RETRY_MAX_MS;
    n->compact.retry_ms = node_now() + n->compact.backoff_ms;
    pm_say(PM_WARN, "node", "saving the state at %" PRIu64 " for compaction "
           "failed (%s); not compacting, retrying in %" PRIu64 " ms",
           n->compact.index, why, n->compact.backoff_ms);
}

static void child_cb(void *ctx, pid_t pid, int status)
{
    struct node *n = ctx;
    net_child_free(n->compact.watch);
    n->compact.watch = NULL;
    if (pid != n->compact.pid)
        return;
    n->compact.pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        prepared(n);
        return;
    }
    char why[64];
    if (WIFSIGNALED(status))
        snprintf(why, sizeof why, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(status));
    failed(n, why);
}

uint64_t node_compact_threshold(const struct node *n)
{
    uint64_t by_size = n->compact.snap_bytes / COMPACT_BYTES_PER_ENTRY;
    return by_size > n->opt.compact_every ? by_size : n->opt.compact_every;
}

void node_compact_maybe_start(struct node *n)
{
    uint64_t applied = fsm_applied(n->fsm);
    if (n->compact.pid != 0 || n->compact.ready || n->stopping || n->fatal ||
        n->disk_full || applied <= n->snapshot_index ||
        node_now() < n->compact.retry_ms)
        return;
    if (!n->want_compact &&
        (applied - n->snapshot_index < node_compact_threshold(n) ||
         node_now() < n->compact.next_ms))
        return;
    /* A is a persisted entry of the log (compaction needs its term there):
     * applied entries are, except right after a snapshot install, whose
     * own compaction already moved the base. */
    if (applied > log_last_index(n->log))
        return;
    n->compact.index = applied;
    n->compact.term = n->applied_term;
    n->compact.config = n->applied_config;
    n->compact.started_ms = node_now();
    pid_t parent = getpid();
    enum fault f = fault();
    pid_t pid = fork();
    if (pid == 0)
        child_main(n, parent, f); /* does not return */
    if (pid < 0) {
        failed(n, strerror(errno));
        return;
    }
    int rc = net_child_new(n->loop, pid, child_cb, n, &n->compact.watch);
    if (rc != 0) {
        /* Not the default loop (an embedding, a test): nobody would reap
         * it. Do the work here instead, in the loop. */
        node_child_kill(pid);
        n->compact.watch = NULL;
        n->compact.fork_ms = 0;
        rc = write_next(n->fsm, n->home);
        if (rc == 0)
            prepared(n);
        else
            failed(n, pm_strerror(rc));
        return;
    }
    n->compact.pid = pid;
    n->compact.fork_ms = node_now() - n->compact.started_ms;
}

int node_compact_fill(struct node *n, struct log_batch *b,
                      struct log_snapshot_meta *meta, uint8_t *cfg,
                      size_t cfg_cap)
{
    if (!n->compact.ready)
        return 0;
    uint64_t a = n->compact.index;
    size_t cfg_len = 0;
    if (a <= log_base_index(n->log) || a <= n->snapshot_index) {
        /* A snapshot install moved the base past it meanwhile. */
        n->compact.ready = 0;
        return 0;
    }
    if (a > log_last_index(n->log) + n->pend.n)
        return 0; /* cannot happen (A was persisted); keep it for later */
    if (raft_config_encode(&n->compact.config, cfg, cfg_cap, &cfg_len) != 0) {
        n->compact.ready = 0;
        failed(n, "the configuration does not encode");
        return 0;
    }
    *meta = (struct log_snapshot_meta){.index = a,
                                       .term = n->compact.term,
                                       .config = cfg,
                                       .config_len = (uint32_t)cfg_len};
    b->snapshot = meta;
    b->compact_index = a;
    b->compact_term = n->compact.term;
    return 1;
}

void node_compact_done(struct node *n, uint64_t a, uint64_t write_ms)
{
    if (fault() == FAULT_BEFORE_RENAME)
        raise(SIGKILL);
    uint64_t t0 = node_now();
    int rc = home_rename_file(n->home, AUDIT_NEXT, AUDIT_BASE, 0);
    if (rc != 0) /* the audit reads AUDIT_NEXT; the next start renames */
        pm_say(PM_WARN, "node", "renaming %s: %s", AUDIT_NEXT,
               pm_strerror(rc));
    uint64_t now = node_now(), rename_ms = now - t0;
    /* What the loop paid (fork, rename) beside what the child did. */
    pm_say(PM_INFO, "node", "snapshot and compaction at %" PRIu64 " (state "
           "%" PRIu64 " bytes saved in %" PRIu64 " ms; loop: fork %" PRIu64
           " ms, store write with the compaction %" PRIu64 " ms, rename %"
           PRIu64 " ms)", a, n->compact.snap_bytes, n->compact.saved_ms,
           n->compact.fork_ms, write_ms, rename_ms);
    n->compact.next_ms = now + COMPACT_COST_FACTOR *
                                   (n->compact.saved_ms + write_ms + rename_ms);
    struct raft_event ev = {.type = RAFT_EV_COMPACTED, .now_ms = now};
    ev.at.index = a;
    node_step(n, &ev, NULL);
}

void node_compact_abort(struct node *n)
{
    n->compact.ready = 0;
    if (n->compact.pid <= 0)
        return;
    pid_t pid = n->compact.pid;
    net_child_free(n->compact.watch); /* our own waitpid from here on */
    n->compact.watch = NULL;
    n->compact.pid = 0;
    node_child_kill(pid);
    pm_say(PM_DEBUG, "node", "stopped the compaction child (pid %ld)",
           (long)pid);
}

int node_audit_base_save(struct node *n, const uint8_t *snap, size_t len)
{
    node_compact_abort(n); /* it writes the same file */
    int rc = home_write_file(n->home, AUDIT_NEXT, snap, len, 0600);
    if (rc != 0)
        pm_say(PM_WARN, "node", "saving %s: %s", AUDIT_NEXT, pm_strerror(rc));
    return rc;
}

void node_audit_base_commit(struct node *n)
{
    int rc = home_rename_file(n->home, AUDIT_NEXT, AUDIT_BASE, 1);
    if (rc != 0)
        pm_say(PM_WARN, "node", "renaming %s: %s", AUDIT_NEXT,
               pm_strerror(rc));
}

/* The FSM saved in HOME/LEAF, into a new scratch FSM; -PM_ENOTFOUND if the
 * file is absent or empty, -PM_ECORRUPT if it does not restore. */
static int load_file(const char *home, const char *leaf, struct fsm **out)
{
    char p[4200];
    int rc = home_path(p, sizeof p, home, leaf);
    if (rc != 0)
        return rc;
    FILE *file = fopen(p, "re");
    if (file == NULL)
        return errno == ENOENT ? -PM_ENOTFOUND : pm_from_errno(errno);
    uint8_t *buf = NULL;
    long size = -1;
    rc = -PM_EIO;
    if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 &&
        fseek(file, 0, SEEK_SET) == 0) {
        if (size == 0)
            rc = -PM_ENOTFOUND;
        else if ((buf = malloc((size_t)size)) == NULL)
            rc = -PM_ENOMEM;
        else if (fread(buf, 1, (size_t)size, file) == (size_t)size)
            rc = 0;
    }
    fclose(file);
    struct fsm *f = NULL;
    if (rc == 0)
        rc = fsm_new(&f);
    if (rc == 0) {
        fsm_track_changes(f, 0);
        rc = fsm_restore(f, buf, (size_t)size);
        if (rc == 0)
            fsm_track_changes(f, 0); /* restore queued a rewrite: drop it */
    }
    free(buf);
    if (rc != 0) {
        fsm_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int node_audit_base_load(const char *home, uint64_t base, struct fsm **out)
{
    static const char *const leaves[] = {AUDIT_BASE, AUDIT_NEXT};
    int first_rc = -PM_ENOTFOUND;
    for (size_t i = 0; i < sizeof leaves / sizeof leaves[0]; i++) {
        struct fsm *f = NULL;
        int rc = load_file(home, leaves[i], &f);
        if (rc == 0 && fsm_applied(f) == base) {
            *out = f;
            return 0;
        }
        fsm_free(f);
        if (i == 0)
            first_rc = rc == 0 ? -PM_ENOTFOUND : rc;
    }
    return first_rc;
}

void node_audit_base_recover(const char *home, uint64_t base)
{
    char p[4200];
    if (home_path(p, sizeof p, home, AUDIT_NEXT_TMP) == 0)
        unlink(p); /* a child or a save that did not finish */
    struct fsm *f = NULL;
    int rc = load_file(home, AUDIT_NEXT, &f);
    if (rc == -PM_ENOTFOUND)
        return;
    uint64_t at = rc == 0 ? fsm_applied(f) : 0;
    fsm_free(f);
    if (rc == 0 && base != 0 && at == base) {
        /* Stopped between the compaction and the rename: finish it (the
         * current file, if any, is of an older base). */
        rc = home_rename_file(home, AUDIT_NEXT, AUDIT_BASE, 1);
        pm_say(rc == 0 ? PM_INFO : PM_WARN, "node", "state at the log's base "
               "%" PRIu64 ": %s %s", base, AUDIT_NEXT,
               rc == 0 ? "completed" : pm_strerror(rc));
        return;
    }
    /* Of a compaction that did not happen (or damaged): not needed. */
    if (home_path(p, sizeof p, home, AUDIT_NEXT) == 0)
        unlink(p);
}
