/* run.c: the running node: start-up, the raft glue and the group commit
 * done once per event-loop turn (see node_int.h), shut-down. */
#include "node/node_int.h"

#include "base/err.h"
#include "base/say.h"

#include <sodium.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define NODE_COMPACT_EVERY_DEFAULT 8192
#define NODE_HOOK_ROUNDS_MAX 8
/* The stored FSM state (and its applied index) may trail the log this
 * long: it is written at most this often, in a write of entries when one
 * is due then, else on its own (write_pending). 100 ms made each state
 * batch a p99 stall at 256 clients (p99 22-36 ms vs 9-11 ms at 20 ms, same
 * rate). */
#define NODE_STATE_DEFER_MS 20
/* A leader's batch of at least this many entries (node_run_options.
 * bg_flush_min) is written with its flush in the background
 * (log_write_unflushed), so that the loop takes the followers'
 * acknowledgements and new requests meanwhile; smaller ones (light load:
 * the loop has nothing else to do) are flushed in the loop, which spares
 * the thread hand-off (every write in the background cost +13-20% CPU
 * per set at one client, for no more sets/s). Measured at 256 clients, 3
 * voters: +4% sets/s over 10 interleaved pairs (8 of 10 faster); at 64
 * clients +2.5%; 1 client unchanged. */
#define NODE_BG_FLUSH_MIN_ENTRIES 8

uint64_t node_now(void) { return net_mono_ms(); }

void node_kick(struct node *n)
{
    if (!net_timer_active(n->kick_timer))
        net_timer_start(n->kick_timer, 0, 0);
}

static void kick_cb(void *ctx) { (void)ctx; /* the hook runs after it */ }

/* --- gathering one turn's persistence ---------------------------------- */

static void pend_drop_entries_from(struct node *n, size_t from)
{
    if (from < n->pend.n)
        n->pend.arena_len = n->pend.offs[from];
    n->pend.n = from;
    if (from == 0) {
        n->pend.last_index = 0;
        n->pend.last_term = 0;
    } else {
        n->pend.last_index = n->pend.entries[from - 1].index;
        n->pend.last_term = n->pend.entries[from - 1].term;
    }
}

static int pend_truncate(struct node *n, uint64_t from)
{
    if (n->pend.n > 0 && from >= n->pend.entries[0].index) {
        /* Only entries not yet written are cut. */
        pend_drop_entries_from(n, (size_t)(from - n->pend.entries[0].index));
        return 0;
    }
    pend_drop_entries_from(n, 0);
    if (n->pend.truncate_from == 0 || from < n->pend.truncate_from)
        n->pend.truncate_from = from;
    return 0;
}

static int pend_append(struct node *n, const struct pm_entry *e, size_t cnt)
{
    if (n->pend.n + cnt > n->pend.cap) {
        size_t cap = n->pend.cap ? n->pend.cap : 64;
        while (cap < n->pend.n + cnt)
            cap *= 2;
        struct pm_entry *ne = realloc(n->pend.entries, cap * sizeof *ne);
        if (ne == NULL)
            return -PM_ENOMEM;
        n->pend.entries = ne;
        size_t *no = realloc(n->pend.offs, cap * sizeof *no);
        if (no == NULL)
            return -PM_ENOMEM;
        n->pend.offs = no;
        n->pend.cap = cap;
    }
    size_t bytes = 0;
    for (size_t i = 0; i < cnt; i++)
        bytes += e[i].len;
    if (n->pend.arena_len + bytes > n->pend.arena_cap) {
        size_t cap = n->pend.arena_cap ? n->pend.arena_cap : 64u << 10;
        while (cap < n->pend.arena_len + bytes)
            cap *= 2;
        uint8_t *na = realloc(n->pend.arena, cap);
        if (na == NULL)
            return -PM_ENOMEM;
        n->pend.arena = na;
        n->pend.arena_cap = cap;
    }
    for (size_t i = 0; i < cnt; i++) {
        struct pm_entry *t = &n->pend.entries[n->pend.n];
        *t = e[i];
        t->data = NULL; /* set from the arena by write_pending() */
        n->pend.offs[n->pend.n] = n->pend.arena_len;
        if (e[i].len > 0)
            memcpy(n->pend.arena + n->pend.arena_len, e[i].data, e[i].len);
        n->pend.arena_len += e[i].len;
        n->pend.n++;
        n->pend.last_index = e[i].index;
        n->pend.last_term = e[i].term;
    }
    return 0;
}

static void pend_after(struct node *n, const struct raft_message *m)
{
    if (n->pend.n_after >= NODE_AFTER_MSGS_MAX) {
        /* Raft tolerates a lost message; the sender retries. One line per
         * stall: while a full disk holds the batch, acks pile up here. */
        if (n->after_dropped++ == 0)
            pm_say(PM_WARN, "node", "dropping %s to %" PRIu64 ": queue full",
                   raft_msg_name(m->type), m->to);
        return;
    }
    struct raft_message c = *m;
    /* Acks and votes carry no payload; never keep borrowed pointers. */
    if (c.n_entries || c.data || c.config) {
        pm_say(PM_WARN, "node", "%s held for persistence carried a payload",
               raft_msg_name(m->type));
        c.entries = NULL;
        c.n_entries = 0;
        c.data = NULL;
        c.len = 0;
        c.config = NULL;
        c.config_len = 0;
    }
    n->pend.after[n->pend.n_after++] = c;
}

/* --- applying committed entries --------------------------------------- */

static void apply_committed(struct node *n, const struct pm_entry *e)
{
    if (e->index <= fsm_applied(n->fsm))
        return; /* already in the store's state (restart) */
    struct pm_entry fe = *e;
    struct raft_config cfg;
    if (e->type == PM_ENTRY_CONFIG) {
        const uint8_t *app = NULL;
        uint32_t app_len = 0;
        if (raft_config_payload_split(e->data, e->len, &cfg, &app,
                                      &app_len) == 0) {
            n->applied_config = cfg;
            fe.data = app;
            fe.len = app_len;
        } else {
            pm_say(PM_ERROR, "node", "entry %" PRIu64 ": bad config payload",
                   e->index);
            fe.data = NULL;
            fe.len = 0;
        }
        n->members_dirty = 1;
    }
    struct fsm_result res;
    int rc = fsm_apply(n->fsm, &fe, &res);
    if (rc != 0) {
        pm_say(PM_ERROR, "node", "apply %" PRIu64 ": %s", e->index,
               pm_strerror(rc));
        n->fatal = 1;
        net_loop_stop(n->loop);
        return;
    }
    if (res.status < 0 && res.status != -PM_EEXIST)
        pm_say(PM_INFO, "node", "entry %" PRIu64 " rejected at apply: %s",
               e->index, res.error);
    if (res.changed & (FSM_CHANGED_MEMBERS | FSM_CHANGED_MESH))
        n->members_dirty = 1;
    if (res.changed)
        n->files_dirty = 1;
    n->applied_term = e->term;
    node_waits_on_applied(n, e->index, e->term, &res);
}

/* --- snapshots ---------------------------------------------------------- */

static void give_snapshot(struct node *n)
{
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = fsm_snapshot(n->fsm, &data, &len);
    if (rc != 0) {
        pm_say(PM_ERROR, "node", "snapshot: %s", pm_strerror(rc));
        return;
    }
    struct raft_snapshot s = {
        .index = fsm_applied(n->fsm),
        .term = n->applied_term,
        .config = n->applied_config,
        .data = data,
        .len = len,
    };
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT, .now_ms = node_now()};
    ev.snapshot = &s;
    pm_say(PM_INFO, "node", "sending snapshot at %" PRIu64 " (%zu bytes)",
           s.index, len);
    node_step(n, &ev, NULL);
    free(data);
}

static int write_pending(struct node *n, int compact, int with_state);
static void bg_collect(struct node *n, int done);

static void install_snapshot(struct node *n, const struct raft_snapshot *s)
{
    /* Everything gathered before it must land first, in order. The core
     * has already moved its log past the snapshot, so a snapshot that
     * cannot be installed now cannot wait either: stop, as for any failed
     * install. (on_raft drops snapshots while a batch is held on a full
     * disk; only a disk that fills during this very install gets here.) */
    if (write_pending(n, 0, 1) != 0) {
        if (!n->fatal) {
            pm_say(PM_ERROR, "node", "cannot install the snapshot at %" PRIu64
                   ": the store holds an unwritten batch; stopping", s->index);
            n->fatal = 1;
            net_loop_stop(n->loop);
        }
        return;
    }
    int rc = fsm_restore(n->fsm, s->data, (size_t)s->len);
    if (rc != 0) {
        pm_say(PM_ERROR, "node", "snapshot at %" PRIu64 " rejected: %s",
               s->index, pm_strerror(rc));
        return;
    }
    uint8_t cfg[1024];
    size_t cfg_len = 0;
    if (raft_config_encode(&s->config, cfg, sizeof cfg, &cfg_len) != 0) {
        pm_say(PM_ERROR, "node", "snapshot config does not encode");
        return;
    }
    struct fsm_changes ch;
    fsm_changes(n->fsm, &ch);
    struct log_snapshot_meta meta = {.index = s->index, .term = s->term,
                                     .config = cfg,
                                     .config_len = (uint32_t)cfg_len};
    struct log_batch b = {
        .state_clear = ch.clear,
        .state = (const struct log_kv *)ch.kv,
        .n_state = ch.n,
        .applied = ch.applied ? ch.applied : s->index,
        .snapshot = &meta,
        .compact_index = s->index,
        .compact_term = s->term,
    };
    if (log_last_index(n->log) > s->index)
        b.truncate_from = s->index + 1;
    /* The base moves only past a durable saved state of exactly it. */
    int saved = node_audit_base_save(n, s->data, (size_t)s->len) == 0;
    rc = log_write(n->log, &b);
    if (rc != 0) {
        pm_say(PM_ERROR, "node", "writing snapshot: %s", pm_strerror(rc));
        n->fatal = 1;
        net_loop_stop(n->loop);
        return;
    }
    fsm_changes_clear(n->fsm);
    if (saved)
        node_audit_base_commit(n);
    n->applied_config = s->config;
    n->applied_term = s->term;
    n->snapshot_index = s->index;
    n->members_dirty = 1;
    n->files_dirty = 1;
    pm_say(PM_INFO, "node", "installed snapshot at %" PRIu64 " term %" PRIu64
           " (%" PRIu64 " bytes)", s->index, s->term, s->len);
    struct raft_event ev = {.type = RAFT_EV_SNAPSHOT_INSTALLED,
                            .now_ms = node_now()};
    ev.at.index = s->index;
    node_step(n, &ev, NULL);
}

/* --- one raft step ------------------------------------------------------ */

void node_step(struct node *n, const struct raft_event *ev, int *rc_out)
{
    struct raft_update up;
    memset(&up, 0, sizeof up);
    int rc = raft_step(n->raft, ev, &up);
    if (rc_out != NULL)
        *rc_out = rc;
    if (rc != 0 && rc != -PM_ENOTLEADER && rc != -PM_EBUSY &&
        rc != -PM_EPROTO && rc != -PM_EINVAL && rc != -PM_ETOOBIG &&
        rc != -PM_ESTATE)
        pm_say(PM_WARN, "node", "raft_step(%d): %s", ev->type,
               pm_strerror(rc));
    if (rc == -PM_ENOMEM) {
        n->fatal = 1;
        net_loop_stop(n->loop);
        return;
    }
    /* 1. What to persist, copied out: the pointers die at the next step. */
    if (up.truncate_from)
        pend_truncate(n, up.truncate_from);
    if (up.n_entries && pend_append(n, up.entries, up.n_entries) != 0) {
        n->fatal = 1;
        net_loop_stop(n->loop);
        return;
    }
    if (up.hard_state_changed) {
        n->pend.hs.term = up.hard_state.term;
        n->pend.hs.vote = up.hard_state.vote;
        n->pend.hs.commit = up.hard_state.commit;
        n->pend.hs_dirty = 1;
    }
    /* 2. Messages that may go now; the others wait for the write. */
    for (size_t i = 0; i < up.n_msgs; i++) {
        const struct raft_message *m = &up.msgs[i];
        int src = net_send_raft(n->net, m->to, m);
        pm_say(PM_DEBUG, "node", "send %s to %" PRIu64 " idx %" PRIu64
               "/%" PRIu64 " n %u: %d", raft_msg_name(m->type), m->to,
               m->prev_index, m->index, m->n_entries, src);
    }
    for (size_t i = 0; i < up.n_msgs_after; i++)
        pend_after(n, &up.msgs_after[i]);
    /* 3. Committed entries (already durable here) go to the FSM. */
    for (size_t i = 0; i < up.n_committed && !n->fatal; i++)
        apply_committed(n, &up.committed[i]);
    for (size_t i = 0; i < up.n_reads; i++)
        node_waits_on_read(n, &up.reads[i]);
    /* 4. State. */
    if (up.state_changed) {
        if (up.leader != n->leader || up.role != n->role)
            pm_say(PM_INFO, "node", "%s, term %" PRIu64 ", leader %" PRIu64,
                   raft_role_name(up.role), up.term, up.leader);
        if (up.leader != n->leader)
            n->leader_changed = 1;
    }
    n->role = up.role;
    n->term = up.term;
    if (up.leader == 0 && n->leader != 0)
        n->leaderless_since_ms = node_now();
    n->leader = up.leader;
    n->commit = up.commit;
    if (ev->type == RAFT_EV_PROPOSE || ev->type == RAFT_EV_PROPOSE_BATCH ||
        ev->type == RAFT_EV_CHANGE || ev->type == RAFT_EV_FORCE_RECOVER) {
        n->proposed_index = up.proposed_index;
        n->proposed_term = up.proposed_term;
    }
    if (up.want_compact)
        n->want_compact = 1;
    if (up.next_tick_ms != 0 && up.next_tick_ms != n->next_tick_ms) {
        n->next_tick_ms = up.next_tick_ms;
        uint64_t now = node_now();
        net_timer_start(n->tick_timer,
                        up.next_tick_ms > now ? up.next_tick_ms - now : 0, 0);
    }
    /* 5. Last, the events that step the core again (the update dies with
     * the next raft_step, so the snapshot is copied first). */
    int need_snapshot = up.need_snapshot;
    if (up.snapshot != NULL) {
        struct raft_snapshot snap = *up.snapshot;
        uint8_t *copy = malloc(snap.len ? (size_t)snap.len : 1);
        if (copy == NULL) {
            n->fatal = 1;
            net_loop_stop(n->loop);
            return;
        }
        memcpy(copy, up.snapshot->data, (size_t)snap.len);
        snap.data = copy;
        install_snapshot(n, &snap); /* steps SNAPSHOT_INSTALLED */
        free(copy);
    }
    if (need_snapshot && !n->fatal)
        give_snapshot(n);
}

static void tick_cb(void *ctx)
{
    struct node *n = ctx;
    n->next_tick_ms = 0;
    struct raft_event ev = {.type = RAFT_EV_TICK, .now_ms = node_now()};
    node_step(n, &ev, NULL);
}

/* --- the group commit --------------------------------------------------- */

/* A hard state whose only change is the commit index may wait like the
 * FSM state, and goes with it: commit is recomputed from the log after a
 * restart (writing it with every batch of entries dirtied the store's meta
 * table too, one more page per commit: at one client 5.4 -> 4.6 pwrite per
 * set on the leader). Term and vote must be durable before any vote or ack
 * leaves (Figure 2). */
static int hs_must(const struct node *n)
{
    return n->pend.hs_dirty && (n->pend.hs.term != n->hs_written.term ||
                                n->pend.hs.vote != n->hs_written.vote);
}

/* What the Raft core gave us to persist: it must be written before the
 * messages that wait for it go out and before the core hears PERSISTED. */
static int raft_work(const struct node *n)
{
    return n->pend.n > 0 || n->pend.truncate_from || hs_must(n) ||
           n->pend.n_after > 0;
}

/* FSM mutations not yet stored. They may wait a little: the entries that
 * caused them are durable, and after a crash the core hands out again
 * every entry after the store's applied index (raft_restore), so the state
 * is rebuilt. Deferring them saves a second sync per turn. */
static int state_work(const struct node *n)
{
    struct fsm_changes ch;
    fsm_changes(n->fsm, &ch);
    return ch.n > 0 || ch.clear || ch.applied > log_applied(n->log) ||
           n->pend.hs_dirty;
}

static int pending_work(const struct node *n)
{
    return raft_work(n) || state_work(n);
}

/* B: what the Raft core gave us to persist (pend's truncation and
 * entries, and the term and vote when they changed), nothing else. */
static void pend_batch(struct node *n, struct log_batch *b)
{
    memset(b, 0, sizeof *b);
    b->truncate_from = n->pend.truncate_from;
    for (size_t i = 0; i < n->pend.n; i++)
        n->pend.entries[i].data = n->pend.entries[i].len
                                      ? n->pend.arena + n->pend.offs[i]
                                      : NULL;
    b->entries = n->pend.entries;
    b->n_entries = n->pend.n;
    b->hard_state = hs_must(n) ? &n->pend.hs : NULL;
}

/* Write everything gathered in ONE transaction, then send what waited for
 * it and tell the core. COMPACT: also move the log's base to the index
 * whose state a compaction child has saved, if one has (compact.c).
 * WITH_STATE: also write the FSM's changed keys and applied index. They
 * are not needed for an acknowledgement (the entries are durable in the
 * log, and a restart re-applies what follows the stored state), so they
 * go only every NODE_STATE_DEFER_MS under load: one larger state batch
 * instead of dirtying the state table's pages in every commit (measured
 * at 16 clients: +15% sets/s, -12% CPU per set). A compaction always takes
 * them: the log's new base must never pass the stored state. */
static int write_pending(struct node *n, int compact, int with_state)
{
    struct fsm_changes ch;
    fsm_changes(n->fsm, &ch);
    struct log_batch b;
    pend_batch(n, &b);
    uint8_t cfg[1024];
    struct log_snapshot_meta meta;
    int compacting = compact && node_compact_fill(n, &b, &meta, cfg,
                                                  sizeof cfg);
    with_state = with_state || compacting || ch.clear;
    int with_hs = hs_must(n) || (n->pend.hs_dirty && with_state);
    b.hard_state = with_hs ? &n->pend.hs : NULL;
    if (with_state) {
        b.state_clear = ch.clear;
        b.state = (const struct log_kv *)ch.kv;
        b.n_state = ch.n;
        b.applied = ch.applied > log_applied(n->log) ? ch.applied : 0;
    }
    /* The leader's APPENDs leave before its own sync, so the followers'
     * writes overlap with it (thesis §10.2.1); under load its flush runs
     * in the background too (NODE_BG_FLUSH_MIN_ENTRIES). Only entries:
     * a term or vote, and what waits for a write, must be durable before
     * the loop goes on. */
    net_loop_flush(n->loop);
    int bg = n->role == RAFT_LEADER && n->flush_wake != NULL &&
             b.n_entries >= n->opt.bg_flush_min && !b.truncate_from &&
             !b.hard_state && !with_state && !compacting &&
             n->pend.n_after == 0;
    int bg_was = n->bg_pending;
    uint64_t t0 = node_now();
    int rc = bg ? log_write_unflushed(n->log, &b) : log_write(n->log, &b);
    /* Any write waits for the flush before it first. */
    int bg_done = bg_was && rc == 0;
    uint64_t took = node_now() - t0;
    pm_say(took >= 100 ? PM_WARN : PM_DEBUG, "node",
           "log write: %zu entries, %zu state keys, %" PRIu64 " ms%s",
           b.n_entries, b.n_state, took, bg ? " (flush in the background)"
                                              : "");
    if (rc == -PM_ENOSPC) {
        /* Nothing was written, and nothing of the batch is lost: it stays
         * in `pend` and in the FSM's change list, the core is not told it
         * is persisted, the messages that wait for it stay held, and its
         * proposals are not answered (their clients time out with an
         * unknown outcome). Retry with a backoff; new proposals are refused
         * meanwhile (node_disk_check). A follower so simply stops
         * acknowledging until it can persist (Raft Figure 2: reply only
         * after the entries are stored). */
        n->disk_backoff_ms = n->disk_full ? n->disk_backoff_ms * 2
                                          : NODE_DISK_RETRY_MIN_MS;
        if (n->disk_backoff_ms > NODE_DISK_RETRY_MAX_MS)
            n->disk_backoff_ms = NODE_DISK_RETRY_MAX_MS;
        n->disk_retry_ms = node_now() + n->disk_backoff_ms;
        if (!n->disk_full)
            pm_say(PM_WARN, "node", "disk full: the store cannot write %zu "
                   "entries and %zu state keys; holding them, refusing new "
                   "writes and retrying until space returns", b.n_entries,
                   b.n_state);
        n->disk_full = 1;
        return rc;
    }
    if (rc != 0) {
        /* Nothing was written; the state in memory is ahead of the disk and
         * no acknowledgement may follow. Stop rather than guess. */
        pm_say(PM_ERROR, "node", "log write failed: %s; stopping",
               pm_strerror(rc));
        n->fatal = 1;
        net_loop_stop(n->loop);
        return rc;
    }
    if (n->disk_full) {
        pm_say(PM_INFO, "node", "disk space is back: the held batch is "
               "written (%zu entries); accepting writes again", b.n_entries);
        n->disk_full = 0;
        n->disk_backoff_ms = 0;
    }
    if (n->after_dropped > 0) {
        pm_say(PM_WARN, "node", "%zu held messages were dropped (queue full)",
               n->after_dropped);
        n->after_dropped = 0;
    }
    if (with_state) {
        fsm_changes_clear(n->fsm);
        n->state_due_ms = 0;
    }
    uint64_t p_index = n->pend.last_index, p_term = n->pend.last_term;
    int stepped = n->pend.n > 0 || with_hs || n->pend.truncate_from;
    if (with_hs) {
        n->hs_written = n->pend.hs;
        n->pend.hs_dirty = 0;
    }
    pend_drop_entries_from(n, 0);
    n->pend.truncate_from = 0;
    /* Acks and votes may go now that their cause is durable. */
    size_t n_after = n->pend.n_after;
    n->pend.n_after = 0;
    for (size_t i = 0; i < n_after; i++) {
        const struct raft_message *m = &n->pend.after[i];
        int src = net_send_raft(n->net, m->to, m);
        pm_say(PM_DEBUG, "node", "send-after %s to %" PRIu64 " idx %" PRIu64
               " rej %u: %d", raft_msg_name(m->type), m->to, m->index,
               m->reject, src);
    }
    uint64_t compacted = 0;
    if (compacting) {
        compacted = b.compact_index;
        n->compact.ready = 0;
        n->snapshot_index = compacted;
        n->want_compact = 0;
    }
    if (bg_done)
        bg_collect(n, 1);
    if (stepped && bg) {
        /* Reported persisted once flushed: now if it already is (or went
         * to LMDB), else when the flushing thread wakes the loop. */
        n->bg_pending = 1;
        n->bg_index = p_index;
        n->bg_term = p_term;
        bg_collect(n, 0);
    } else if (stepped && !n->fatal) {
        struct raft_event ev = {.type = RAFT_EV_PERSISTED,
                                .now_ms = node_now()};
        ev.persisted.index = p_index;
        ev.persisted.term = p_term;
        node_step(n, &ev, NULL);
    }
    if (compacted != 0)
        node_compact_done(n, compacted, took);
    return 0;
}

/* The background flush (NODE_BG_FLUSH_MIN_ENTRIES) of the leader's last
 * batch: once done, the core hears its entries are persisted; if it
 * failed, the node stops as after a failed write (nothing is reported
 * persisted). DONE: the caller knows it is done (a write since waited for
 * it). */
static void bg_collect(struct node *n, int done)
{
    if (!n->bg_pending)
        return;
    int rc = done ? 1 : log_flushed(n->log);
    if (rc == 0)
        return;
    n->bg_pending = 0;
    if (rc < 0) {
        pm_say(PM_ERROR, "node", "log flush failed: %s; stopping",
               pm_strerror(rc));
        n->fatal = 1;
        net_loop_stop(n->loop);
        return;
    }
    struct raft_event ev = {.type = RAFT_EV_PERSISTED, .now_ms = node_now()};
    ev.persisted.index = n->bg_index;
    ev.persisted.term = n->bg_term;
    node_step(n, &ev, NULL);
}

static void flush_wake_cb(void *ctx) { (void)ctx; /* the hook runs after it */ }

/* From the flushing thread. */
static void flush_notify(void *ctx)
{
    struct node *n = ctx;
    net_async_send(n->flush_wake);
}

/* Whether pend's entries alone would be one journal record. */
static int entries_journal(struct node *n)
{
    struct log_batch b;
    pend_batch(n, &b);
    return log_write_journals(n->log, &b);
}

static void before_block(void *ctx)
{
    struct node *n = ctx;
    uint64_t now = node_now();
    bg_collect(n, 0);
    int state_due = n->state_due_ms != 0 && now >= n->state_due_ms;
    node_waits_propose(n);
    /* A batch held on a full disk is retried only when its backoff is
     * over (the housekeeping timer wakes the loop for it). */
    int held = n->disk_full && now < n->disk_retry_ms;
    /* Replies for what the turn's events applied leave before the write:
     * those entries are committed (durable on a majority) and applied;
     * the write below is for entries after them, and a flush is the
     * longest wait of the turn. */
    node_waits_flush(n);
    for (int round = 0; round < NODE_HOOK_ROUNDS_MAX && !n->fatal && !held;
         round++) {
        if (!raft_work(n) && !(state_due && state_work(n)) && !n->disk_full)
            break;
        /* FSM changes ride along when due (write_pending). Such a write,
         * or a compaction's, is an LMDB commit (milliseconds with
         * thousands of keys); when the entries alone would be a journal
         * record, they go first on their own, so that their acks and the
         * core's PERSISTED do not wait for it. (Entries LMDB must take
         * anyway ride along: two commits would cost more.) */
        if ((state_due || n->compact.ready) && !n->disk_full &&
            entries_journal(n) && write_pending(n, 0, 0) != 0)
            break;
        if (write_pending(n, 1, state_due) != 0)
            break;
        state_due = 0;
    }
    if (n->fatal)
        return;
    if (n->disk_full) {
        /* Reads, status and replies go on; no kick, or the loop would
         * spin on the held batch. */
        n->state_due_ms = 0;
    } else if (state_work(n)) {
        /* Due NODE_STATE_DEFER_MS after the last state write (which
         * cleared state_due_ms), however busy the log is. */
        if (n->state_due_ms == 0)
            n->state_due_ms = now + NODE_STATE_DEFER_MS;
        net_timer_start(n->kick_timer, n->state_due_ms > now ?
                        n->state_due_ms - now : 0, 0);
    } else {
        n->state_due_ms = 0;
    }
    /* Replies for what the writes' PERSISTED committed and applied (the
     * rest went before the writes). */
    node_waits_flush(n);
    node_compact_maybe_start(n);
    if (n->members_dirty) {
        n->members_dirty = 0;
        node_peers_refresh(n);
        node_js_peers_sync(n);
        n->files_dirty = 1;
        n->files_due_ms = 0; /* membership: rewrite at once */
    }
    if (n->leader_changed) {
        n->leader_changed = 0;
        node_waits_leader_changed(n);
    }
    if (raft_work(n) && !n->disk_full)
        node_kick(n);
}

int node_disk_check(struct node *n, size_t bytes, char *err, size_t err_len)
{
    char dp[4200];
    dp[0] = '\0';
    uint64_t need = NODE_DISK_MARGIN_BYTES + 4 * (uint64_t)bytes;
    uint64_t now = node_now();
    int fresh = n->disk_free_at_ms != 0 &&
                now - n->disk_free_at_ms < NODE_DISK_STAT_MS &&
                n->disk_free >= n->disk_granted + need;
    if (!fresh) {
        struct statvfs vfs;
        n->disk_free = UINT64_MAX;
        if (home_path(dp, sizeof dp, n->home, "data") == 0 &&
            statvfs(dp, &vfs) == 0)
            n->disk_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        n->disk_free_at_ms = now;
        n->disk_granted = 0;
    }
    /* Never below zero: a fresh answer covers granted + need, a new one
     * has granted nothing yet. */
    uint64_t free_bytes = n->disk_free - n->disk_granted;
    if (!n->disk_full && free_bytes >= need) {
        n->disk_granted += bytes;
        return 0;
    }
    if (fresh) /* the message names the directory */
        home_path(dp, sizeof dp, n->home, "data");
    if (err != NULL) {
        if (n->disk_full)
            snprintf(err, err_len, "disk full: this node cannot store what "
                     "it already has; writes are refused until space "
                     "returns");
        else
            snprintf(err, err_len, "disk full: %" PRIu64 " bytes free in "
                     "%s, %" PRIu64 " needed; writes are refused until space "
                     "returns", free_bytes, dp, need);
    }
    return -PM_ENOSPC;
}

/* Supervise nats-server (natsd.h) unless --no-nats. Started after the
 * first materialize: it runs the nats.conf on disk, and a node that is not
 * a member yet starts it when its first nats.conf is written. */
static int nats_start(struct node *n, char *err, size_t err_len)
{
    if (n->opt.no_nats) {
        pm_say(PM_INFO, "node", "--no-nats: not running nats-server");
        return 0;
    }
    const struct fsm_member *me = fsm_bootstrapped(n->fsm)
                                      ? fsm_member_by_id(n->fsm, n->id.node_id)
                                      : NULL;
    const char *host = me ? me->nats_host : n->id.nats_host;
    struct natsd_options o = {
        .home = n->home,
        .http_host = host[0] ? host : NULL,
        .http_port = me ? me->nats_http_port : n->id.nats_ports[4],
    };
    int rc = natsd_new(n->loop, &o, &n->natsd);
    if (rc != 0)
        return home_fail(err, err_len, rc, "nats-server supervisor: %s",
                         pm_strerror(rc));
    natsd_start(n->natsd);
    return 0;
}

/* A leader whose disk is full (or too low to take a write) refuses every
 * proposal and cannot apply what the others commit, so the mesh could
 * write nothing: hand leadership to an up-to-date voter (thesis §3.10).
 * It cannot come back meanwhile: a vote needs its term persisted first. */
static void hand_over_on_full_disk(struct node *n, uint64_t now)
{
    if (!n->disk_full && node_disk_check(n, 0, NULL, 0) == 0) {
        n->disk_transfer_ms = 0;
        return;
    }
    struct raft_status st;
    raft_status(n->raft, &st);
    if (st.transfer_target != 0 || now < n->disk_transfer_ms ||
        raft_config_voters(raft_config_latest(n->raft)) < 2)
        return;
    if (n->disk_transfer_ms == 0)
        pm_say(PM_WARN, "node", "disk full: handing leadership over");
    n->disk_transfer_ms = now + NODE_DISK_TRANSFER_EVERY_MS;
    struct raft_event ev = {.type = RAFT_EV_TRANSFER, .now_ms = now};
    ev.transfer.target = 0;
    node_step(n, &ev, NULL);
}

/* A member far behind the leader (a new joiner, a replica back after days)
 * says how far it has got, once a second, so `pmesh start` in the
 * foreground shows the catch-up; `status` shows the same figures. */
static void say_catch_up(struct node *n, uint64_t now)
{
    uint64_t applied = fsm_applied(n->fsm);
    if (n->role == RAFT_LEADER || n->leader_commit <= applied + 64) {
        if (n->catchup_said_ms != 0 && n->leader_commit <= applied)
            pm_say(PM_INFO, "node", "caught up at index %" PRIu64, applied);
        if (n->leader_commit <= applied)
            n->catchup_said_ms = 0;
        return;
    }
    if (n->catchup_said_ms != 0 && now - n->catchup_said_ms < 1000)
        return;
    n->catchup_said_ms = now;
    pm_say(PM_INFO, "node", "catching up: applied %" PRIu64 " of %" PRIu64
           " (%u%%)", applied, n->leader_commit,
           (unsigned)(applied * 100 / n->leader_commit));
}

static void house_cb(void *ctx)
{
    struct node *n = ctx;
    uint64_t now = node_now();
    node_waits_housekeep(n);
    if (n->role == RAFT_LEADER)
        hand_over_on_full_disk(n, now);
    say_catch_up(n, now);
    node_files_maybe_write(n);
    if (n->role == RAFT_LEADER)
        node_membership_step(n);
    /* Removed (by `leave` or `remove`): stop once the removal is applied
     * here AND we are out of the Raft configuration -- stopping while still
     * a voter there could cost the others their quorum. We learn the latter
     * from the configuration entry, or because the leader stopped talking to
     * us (it drops a removed server at once, thesis §4.1); a leader first
     * hands leadership over (the membership step above starts it). */
    if (!fsm_bootstrapped(n->fsm))
        return;
    if (fsm_member_by_id(n->fsm, n->id.node_id) != NULL) {
        n->was_member = 1;
        return;
    }
    if (!n->was_member && !n->leaving)
        return; /* a joiner before its own addition is applied */
    if (n->removed_ms == 0)
        n->removed_ms = now;
    const struct raft_config *c = raft_config_latest(n->raft);
    int in_config = raft_config_role(c, n->id.node_id) != 0;
    if (n->role == RAFT_LEADER)
        return; /* transfer under way */
    /* A leader that is only briefly unknown (a transfer we started, an
     * election) is no sign that we were dropped: in a two-voter mesh the
     * successor cannot even win without our vote, nor drop us from the
     * configuration without our acknowledgement. */
    int leader_gone = n->leader == 0 &&
                      now - n->leaderless_since_ms >= NODE_REMOVE_WAIT_MS;
    if (!in_config || leader_gone ||
        now - n->removed_ms >= 2 * NODE_REMOVE_WAIT_MS) {
        pm_say(PM_INFO, "node", "removed from the mesh; stopping");
        node_stop(n, 0);
    }
}

static void stop_cb(void *ctx)
{
    struct node *n = ctx;
    net_loop_stop(n->loop);
}

void node_stop(struct node *n, int rc)
{
    if (n->stopping)
        return;
    n->stopping = 1;
    n->stop_rc = rc;
    /* A short delay lets the last replies (e.g. to `stop`) leave. */
    net_timer_start(n->stop_timer, 50, 0);
}

static void signal_cb(void *ctx, int signum)
{
    struct node *n = ctx;
    pm_say(PM_INFO, "node", "signal %d: stopping", signum);
    /* Single-threaded: no write is in progress while this runs. */
    n->stopping = 1;
    net_loop_stop(n->loop);
}

/* --- start-up ------------------------------------------------------------ */

static int on_scan(void *ctx, const void *k, uint32_t kl, const void *v,
                   uint32_t vl)
{
    return fsm_load_kv(ctx, k, kl, v, vl);
}

int node_fsm_load(struct log *log, struct fsm **out)
{
    struct fsm *f = NULL;
    int rc = fsm_new(&f);
    if (rc != 0)
        return rc;
    rc = log_state_scan(log, on_scan, f);
    if (rc == 0)
        rc = fsm_load_done(f, log_applied(log));
    if (rc != 0) {
        fsm_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

static void on_raft(void *ctx, uint64_t from, const struct raft_message *m)
{
    struct node *n = ctx;
    pm_say(PM_DEBUG, "node", "recv %s from %" PRIu64 " idx %" PRIu64
           "/%" PRIu64 " n %u rej %u", raft_msg_name(m->type), from,
           m->prev_index, m->index, m->n_entries, m->reject);
    /* While a batch is held on a full disk, take no snapshot (the core
     * counts an installed snapshot as persisted at once, but its write
     * would have to wait behind the held batch) and no leadership (an
     * election needs its term persisted first): drop them as a lossy
     * network would; the leader sends them again later. */
    if (n->disk_full && (m->type == RAFT_MSG_SNAPSHOT ||
                         m->type == RAFT_MSG_TIMEOUT_NOW)) {
        pm_say(PM_DEBUG, "node", "disk full: dropping %s from %" PRIu64,
               raft_msg_name(m->type), from);
        return;
    }
    /* The leader's commit index, for catch-up progress: APPENDs carry it
     * (heartbeats only up to what we hold), a snapshot is at or below it. */
    uint64_t seen = m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT
                        ? m->commit
                    : m->type == RAFT_MSG_SNAPSHOT ? m->snap_index : 0;
    if (seen > n->leader_commit) {
        n->leader_commit = seen;
        say_catch_up(n, node_now()); /* before a snapshot makes it moot */
    }
    struct raft_event ev = {.type = RAFT_EV_RECEIVE, .now_ms = node_now()};
    ev.msg = m;
    node_step(n, &ev, NULL);
}

/* Restore the raft core from the store: hard state, snapshot metadata and
 * every entry after the snapshot. Also finds the configuration in force at
 * the FSM's applied index. */
static int restore_raft(struct node *n, char *err, size_t err_len)
{
    struct log_hard_state lhs;
    int rc = log_hard_state(n->log, &lhs);
    if (rc != 0)
        return home_fail(err, err_len, rc, "reading hard state: %s",
                         pm_strerror(rc));
    struct raft_snapshot snap;
    memset(&snap, 0, sizeof snap);
    int have_snap = 0;
    struct log_snapshot_meta meta;
    uint8_t *cfg = NULL;
    rc = log_snapshot_meta(n->log, &meta, &cfg);
    if (rc == 0) {
        rc = raft_config_decode(meta.config, meta.config_len, &snap.config);
        free(cfg);
        if (rc != 0)
            return home_fail(err, err_len, -PM_ECORRUPT,
                             "stored snapshot configuration is damaged");
        snap.index = meta.index;
        snap.term = meta.term;
        have_snap = 1;
        n->snapshot_index = meta.index;
        n->applied_config = snap.config;
        n->applied_term = meta.term;
    } else if (rc != -PM_ENOTFOUND) {
        return home_fail(err, err_len, rc, "reading snapshot metadata: %s",
                         pm_strerror(rc));
    }
    rc = 0;
    uint64_t applied = fsm_applied(n->fsm);
    uint64_t lo = have_snap ? snap.index + 1 : log_first_index(n->log);
    if (lo < log_first_index(n->log))
        lo = log_first_index(n->log);
    uint64_t hi = log_last_index(n->log);
    /* Gather every entry (one array; the chunks stay alive until restore
     * copied them). */
    size_t cap = hi >= lo ? (size_t)(hi - lo + 1) : 0;
    struct pm_entry *all = cap ? calloc(cap, sizeof *all) : NULL;
    struct log_entries *chunks = NULL;
    size_t n_chunks = 0, n_all = 0;
    if (cap && all == NULL)
        return home_fail(err, err_len, -PM_ENOMEM, "out of memory");
    uint64_t at = lo;
    while (at <= hi && cap) {
        struct log_entries le;
        rc = log_read(n->log, at, 4096, 16u << 20, &le);
        if (rc != 0 || le.n == 0) {
            rc = rc ? rc : -PM_ECORRUPT;
            break;
        }
        struct log_entries *nc = realloc(chunks, (n_chunks + 1) * sizeof *nc);
        if (nc == NULL) {
            log_entries_free(&le);
            rc = -PM_ENOMEM;
            break;
        }
        chunks = nc;
        chunks[n_chunks++] = le;
        for (size_t i = 0; i < le.n; i++) {
            const struct pm_entry *e = &le.entries[i];
            all[n_all++] = *e;
            if (e->index == applied)
                n->applied_term = e->term;
            if (e->type == PM_ENTRY_CONFIG && e->index <= applied) {
                struct raft_config c;
                const uint8_t *app;
                uint32_t app_len;
                if (raft_config_payload_split(e->data, e->len, &c, &app,
                                              &app_len) == 0)
                    n->applied_config = c;
            }
        }
        at += le.n;
    }
    if (rc == 0) {
        n->hs_written = lhs;
        struct raft_hard_state hs = {.term = lhs.term, .vote = lhs.vote,
                                     .commit = lhs.commit};
        if (hs.commit < applied)
            hs.commit = applied;
        rc = raft_restore(n->raft, &hs, have_snap ? &snap : NULL, all, n_all);
        if (rc != 0)
            home_fail(err, err_len, rc, "restoring raft state: %s",
                      pm_strerror(rc));
    } else {
        home_fail(err, err_len, rc, "reading the log: %s", pm_strerror(rc));
    }
    for (size_t i = 0; i < n_chunks; i++)
        log_entries_free(&chunks[i]);
    free(chunks);
    free(all);
    return rc;
}

static int lock_home(const char *home, int *fd_out)
{
    char p[4200];
    int rc = home_path(p, sizeof p, home, "node.pid");
    if (rc != 0)
        return rc;
    int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return pm_from_errno(errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return -PM_EBUSY;
    }
    char b[32];
    int len = snprintf(b, sizeof b, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, b, (size_t)len, 0) != len) {
        close(fd);
        return -PM_EIO;
    }
    *fd_out = fd;
    return 0;
}

static void node_teardown(struct node *n)
{
    if (n->waits != NULL)
        node_waits_fail_all(n, -PM_ECLOSED, "node stopping");
    node_compact_abort(n); /* no child left behind */
    node_files_abort(n);
    natsd_free(n->natsd); /* stops nats-server (bounded) */
    n->natsd = NULL;
    net_control_free(n->ctl);
    net_free(n->net);
    net_timer_free(n->tick_timer);
    net_timer_free(n->house_timer);
    net_timer_free(n->kick_timer);
    net_timer_free(n->stop_timer);
    net_signal_free(n->sig_term);
    net_signal_free(n->sig_int);
    if (n->log != NULL)
        log_set_flush_notify(n->log, NULL, NULL); /* before its async goes */
    net_async_free(n->flush_wake);
    if (n->loop != NULL) {
        net_loop_set_before_block(n->loop, NULL, NULL);
        net_loop_free(n->loop);
    }
    raft_free(n->raft);
    fsm_free(n->fsm);
    if (n->log != NULL)
        log_close(n->log);
    pend_drop_entries_from(n, 0);
    free(n->pend.entries);
    free(n->pend.offs);
    free(n->pend.arena);
    free(n->pend.after);
    free(n->waits);
    free(n->wheap);
    sodium_memzero(&n->id, sizeof n->id);
}

int node_run(const char *home, const struct node_run_options *o, char *err,
             size_t err_len)
{
    if (sodium_init() < 0)
        return home_fail(err, err_len, -PM_EIO, "libsodium failed to start");
    struct node *n = calloc(1, sizeof *n);
    if (n == NULL)
        return home_fail(err, err_len, -PM_ENOMEM, "out of memory");
    int rc, lock_fd = -1;
    if (strlen(home) >= sizeof n->home) {
        free(n);
        return home_fail(err, err_len, -PM_ETOOBIG, "home path too long");
    }
    strcpy(n->home, home);
    if (o != NULL)
        n->opt = *o;
    if (n->opt.compact_every == 0) {
        const char *ce = getenv("PMESH_COMPACT_EVERY");
        n->opt.compact_every = ce ? strtoull(ce, NULL, 10) : 0;
    }
    if (n->opt.compact_every == 0)
        n->opt.compact_every = NODE_COMPACT_EVERY_DEFAULT;
    if (n->opt.bg_flush_min == 0) {
        const char *bf = getenv("PMESH_BG_FLUSH_MIN");
        n->opt.bg_flush_min = bf ? (uint32_t)strtoul(bf, NULL, 10) : 0;
    }
    if (n->opt.bg_flush_min == 0)
        n->opt.bg_flush_min = NODE_BG_FLUSH_MIN_ENTRIES;

    rc = home_identity_read(home, &n->id);
    if (rc == -PM_ENOTFOUND) {
        rc = home_fail(err, err_len, rc,
                       "%s is not set up (run 'pmesh setup' first)", home);
        goto out;
    }
    if (rc != 0) {
        rc = home_fail(err, err_len, rc, "%s/identity.json: %s", home,
                       pm_strerror(rc));
        goto out;
    }
    if (n->id.role == NODE_ROLE_CLIENT) {
        rc = home_fail(err, err_len, -PM_ESTATE,
                       "%s is a client home: it runs no node", home);
        goto out;
    }
    rc = lock_home(home, &lock_fd);
    if (rc != 0) {
        rc = home_fail(err, err_len, rc == -PM_EBUSY ? rc : rc,
                       rc == -PM_EBUSY ? "a node is already running on %s"
                                       : "cannot lock %s/node.pid", home);
        goto out;
    }
    if (!n->opt.log_to_stderr) {
        char lp[4200];
        if (home_path(lp, sizeof lp, home, "pmesh.log") == 0)
            pm_say_open(lp);
    }
    pm_say(PM_INFO, "node", "starting %s (id %" PRIu64 ", %s) pid %ld",
           n->id.name, n->id.node_id,
           n->id.role == NODE_ROLE_VOTER ? "voter" : "replica",
           (long)getpid());

    char dp[4200];
    home_path(dp, sizeof dp, home, "data");
    rc = log_open(dp, NULL, &n->log);
    if (rc != 0) {
        /* The log module names the damage in pmesh.log (pm_say). */
        rc = home_fail(err, err_len, rc, "opening the store %s: %s%s%s", dp,
                       rc == -PM_ECORRUPT ? "store damaged: " : "",
                       pm_strerror(rc),
                       rc == -PM_ECORRUPT ? " (what and where: pmesh.log)" : "");
        goto out;
    }
    rc = node_fsm_load(n->log, &n->fsm);
    if (rc == -PM_ECORRUPT) {
        /* Never serve a value nobody wrote (DESIGN.md §Storage). */
        rc = home_fail(err, err_len, rc, "loading the state: %s: a stored "
                       "state record is damaged (see %s/pmesh.log); refusing "
                       "to start", pm_strerror(rc), home);
        goto out;
    }
    if (rc != 0) {
        rc = home_fail(err, err_len, rc, "loading the state: %s",
                       pm_strerror(rc));
        goto out;
    }
    struct raft_options ro;
    memset(&ro, 0, sizeof ro);
    ro.election_timeout_ms = n->opt.election_timeout_ms;
    ro.heartbeat_ms = n->opt.heartbeat_ms;
    ro.commit_notice_ms = NODE_COMMIT_NOTICE_MS;
    randombytes_buf(&ro.seed, sizeof ro.seed);
    rc = raft_new(n->id.node_id, &ro, &n->raft);
    if (rc != 0) {
        rc = home_fail(err, err_len, rc, "raft: %s", pm_strerror(rc));
        goto out;
    }
    rc = restore_raft(n, err, err_len);
    if (rc != 0)
        goto out;
    node_audit_base_recover(home, log_base_index(n->log));

    n->pend.after = calloc(NODE_AFTER_MSGS_MAX, sizeof *n->pend.after);
    n->waits = calloc(NODE_WAITS_MAX, sizeof *n->waits);
    n->wheap = calloc(NODE_WAIT_HEAP_MAX, sizeof *n->wheap);
    if (n->pend.after == NULL || n->waits == NULL || n->wheap == NULL) {
        rc = home_fail(err, err_len, -PM_ENOMEM, "out of memory");
        goto out;
    }
    rc = net_loop_new(&n->loop);
    if (rc != 0) {
        rc = home_fail(err, err_len, rc, "event loop: %s", pm_strerror(rc));
        goto out;
    }
    struct net_options no;
    memset(&no, 0, sizeof no);
    memcpy(no.secret, n->id.secret, sizeof no.secret);
    no.mesh_id = n->id.mesh_id;
    no.node_id = n->id.node_id;
    no.on_raft = on_raft;
    no.on_request = node_on_request;
    no.ctx = n;
    rc = net_new(n->loop, &no, &n->net);
    sodium_memzero(no.secret, sizeof no.secret);
    if (rc != 0) {
        rc = home_fail(err, err_len, rc, "network: %s", pm_strerror(rc));
        goto out;
    }
    rc = net_listen(n->net, n->id.listen, NULL);
    if (rc != 0) {
        rc = home_fail(err, err_len, rc, "cannot listen on %s: %s",
                       n->id.listen, pm_strerror(rc));
        goto out;
    }
    char cp[4200];
    home_path(cp, sizeof cp, home, "control.sock");
    rc = net_control_new(n->loop, cp, 0, node_on_request, n, &n->ctl);
    if (rc != 0) {
        rc = home_fail(err, err_len, rc, "control socket %s: %s", cp,
                       pm_strerror(rc));
        goto out;
    }
    if ((rc = net_timer_new(n->loop, tick_cb, n, &n->tick_timer)) != 0 ||
        (rc = net_timer_new(n->loop, house_cb, n, &n->house_timer)) != 0 ||
        (rc = net_timer_new(n->loop, kick_cb, n, &n->kick_timer)) != 0 ||
        (rc = net_timer_new(n->loop, stop_cb, n, &n->stop_timer)) != 0 ||
        (rc = net_signal_new(n->loop, SIGTERM, signal_cb, n,
                             &n->sig_term)) != 0 ||
        (rc = net_signal_new(n->loop, SIGINT, signal_cb, n,
                             &n->sig_int)) != 0 ||
        (rc = net_async_new(n->loop, flush_wake_cb, n,
                            &n->flush_wake)) != 0) {
        rc = home_fail(err, err_len, rc, "timers/signals: %s",
                       pm_strerror(rc));
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    log_set_flush_notify(n->log, flush_notify, n);
    net_loop_set_before_block(n->loop, before_block, n);
    node_peers_refresh(n);
    node_js_peers_sync(n); /* notes the voters only */
    n->files_dirty = 1;
    node_files_write(n);
    rc = nats_start(n, err, err_len);
    if (rc != 0)
        goto out;
    n->started_ms = node_now();
    net_timer_start(n->house_timer, NODE_HOUSEKEEP_MS, NODE_HOUSEKEEP_MS);
    /* The first tick tells the core the time and gets its schedule. */
    struct raft_event ev = {.type = RAFT_EV_TICK, .now_ms = node_now()};
    node_step(n, &ev, NULL);
    /* A lone voter need not wait an election timeout to lead. */
    const struct raft_config *c = raft_config_latest(n->raft);
    if (raft_config_voters(c) == 1 &&
        raft_config_role(c, n->id.node_id) == RAFT_VOTER) {
        ev.type = RAFT_EV_CAMPAIGN;
        node_step(n, &ev, NULL);
    }
    pm_say(PM_INFO, "node", "listening on %s; applied %" PRIu64
           ", log %" PRIu64 "..%" PRIu64, n->id.listen, fsm_applied(n->fsm),
           log_first_index(n->log), log_last_index(n->log));

    net_loop_run(n->loop);

    if (!n->fatal && pending_work(n))
        write_pending(n, 0, 1); /* finish what this turn gathered */
    node_files_write(n);
    rc = n->fatal ? -PM_EIO : n->stop_rc;
    if (n->fatal)
        home_fail(err, err_len, rc, "stopped after a fatal error (see %s/pmesh.log)",
                  home);
    pm_say(PM_INFO, "node", "stopped");
out:
    node_teardown(n);
    if (lock_fd >= 0) {
        char pp[4200];
        if (home_path(pp, sizeof pp, home, "node.pid") == 0)
            unlink(pp);
        close(lock_fd);
    }
    free(n);
    pm_say_open(NULL);
    return rc;
}
