/* node_int.h: the running node's state, shared by the files of src/node.
 *
 * One event-loop turn is one group commit (DESIGN.md §3): every raft_step()
 * of the turn appends what its update asks to persist (entries, truncation,
 * hard state) and what applying committed entries changed in the FSM into
 * `pend`; the before-blocking hook writes it all with ONE log_write(), then
 * sends the messages that had to wait for persistence, reports
 * RAFT_EV_PERSISTED, and answers the requests whose entries are now applied.
 */
#ifndef PM_NODE_INT_H
#define PM_NODE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/entry.h"
#include "fsm/fsm.h"
#include "log/log.h"
#include "net/net.h"
#include "node/home.h"
#include "node/natsd.h"
#include "node/node.h"
#include "raft/raft.h"

/* Bounds (TigerBeetle habit: every queue has one). */
#define NODE_WAITS_MAX 4096       /* requests waiting for commit/apply/read */
#define NODE_AFTER_MSGS_MAX 4096  /* messages held until persisted */
#define NODE_HOUSEKEEP_MS 100     /* timeouts, peers, membership steps */
#define NODE_NO_LEADER_WAIT_MS 5000 /* how long a request waits for a leader */
#define NODE_PEERS_MAX 256        /* peers the transport dials */
#define NODE_BATCH_MAX 1024       /* proposals appended in one raft step */
#define NODE_REMOVE_WAIT_MS 3000  /* a removed member that does not catch up
                                   * leaves the configuration anyway */
/* Free space the data directory must keep for a new proposal to be taken,
 * on top of a few times the proposal's own size: LMDB copies every page on
 * the path to a changed record, so one commit needs several pages more
 * than the bytes it adds. */
#define NODE_DISK_MARGIN_BYTES (1u << 20)
/* node_disk_check asks the file system at most this often while the last
 * answer, less what was let through since, still covers the request; near
 * the margin it asks every time. (Two statvfs() per set were 7% of the
 * leader's system calls at one client.) */
#define NODE_DISK_STAT_MS 50
/* raft_options.commit_notice_ms: under load the next APPEND carries a new
 * commit index to the followers, so a separate notice (a frame to send,
 * a wake-up, a decrypt and a step on each follower) is held back this long.
 * At one client in flight it was one message of three per set; without it
 * the mesh spent ~20% less CPU per set. A follower that waits on the commit
 * (a forwarded proposal) is told at once (RAFT_EV_NOTIFY_COMMIT). */
#define NODE_COMMIT_NOTICE_MS 2
/* A batch the store could not write for lack of space is retried after
 * this delay, doubling up to the maximum while the disk stays full. */
#define NODE_DISK_RETRY_MIN_MS 200
#define NODE_DISK_RETRY_MAX_MS 2000
/* A leader on a full disk hands leadership over, retried this often. */
#define NODE_DISK_TRANSFER_EVERY_MS 5000

/* A request waiting for something. */
enum wait_kind {
    WAIT_PROPOSAL = 1, /* our proposal (index, term) to be applied */
    WAIT_APPLIED = 2,  /* local applied >= index (forwarded set, read) */
    WAIT_READ = 3,     /* ReadIndex result for read_id */
    WAIT_LEADER = 4,   /* no leader known: forward when there is one */
    WAIT_FORWARD = 5,  /* forwarded to the leader, reply pending */
    WAIT_BATCH = 6,    /* leader: to append with this turn's proposals */
};

struct wait {
    enum wait_kind kind;
    struct net_call *call;   /* NULL once answered */
    uint64_t deadline_ms;    /* mono */
    uint64_t index, term;    /* PROPOSAL, APPLIED */
    uint64_t read_id;        /* READ */
    /* What to answer with once applied (PROPOSAL/APPLIED): op-specific. */
    int reply_kind;          /* WR_* below */
    char *key;               /* READ (get --consistent): the key, or NULL */
    int stop_after;          /* leave: stop the node after replying */
    /* The request, kept to forward/retry (LEADER, BATCH): op, arg. */
    char op[NET_OP_MAX + 1];
    uint8_t *arg;            /* one encoded argument (malloc'd) */
    uint32_t arg_len;
    uint32_t flags;
    uint32_t timeout_ms;
    uint64_t from_member;    /* forwarded to us by this member; else 0 */
    uint64_t stamped_ms;     /* arg encoded here at this wall time; else 0 */
    uint64_t join_id;        /* join: the member id we assigned */
    uint64_t gen;            /* tells a reused slot from the old request */
    uint64_t retry_ms;       /* LEADER: next routing attempt */
    uint64_t created_ms;
    /* Outcome, once known; sent by node_waits_flush() after the write. */
    int ready;
    int status;
    uint64_t result_index;
    char error[FSM_ERR_LEN];
};

/* Waits of kind PROPOSAL and APPLIED by index, in a binary min-heap, so
 * that each applied entry finds its waiters in O(log n) instead of scanning
 * the table. An entry is a hint, checked against the slot when it comes
 * out (the slot may have been answered, freed or reused since: `gen`). */
struct wait_ref {
    uint64_t index;
    uint64_t gen;
    uint32_t slot;
};
#define NODE_WAIT_HEAP_MAX (2 * NODE_WAITS_MAX)

#define WR_INDEX 1   /* {"index":N} */
#define WR_JOIN 2    /* the join reply */
#define WR_GET 3     /* a get after a read index */

struct node {
    char home[4096];
    struct home_identity id;
    struct node_run_options opt;

    struct log *log;
    struct raft *raft;
    struct fsm *fsm;
    struct net_loop *loop;
    struct net *net;
    struct net_control *ctl;
    struct net_timer *tick_timer;   /* at the core's next_tick_ms */
    struct net_timer *house_timer;  /* every NODE_HOUSEKEEP_MS */
    struct net_timer *kick_timer;   /* 0 ms: one more loop turn */
    struct net_timer *stop_timer;   /* stop shortly after a reply */
    struct net_signal *sig_term, *sig_int;
    struct natsd *natsd;            /* the supervised nats-server; NULL
                                     * with --no-nats */
    /* The voters' names at the last node_js_peers_sync (NATS servers, so
     * JetStream meta group peers); js_known: filled once. */
    char js_voters[RAFT_SERVERS_MAX][FSM_NAME_MAX + 1];
    size_t n_js_voters;
    int js_known;

    /* The group commit being gathered. */
    struct {
        uint64_t truncate_from;
        struct pm_entry *entries;   /* copies; their `data` is set from
                                     * `arena` just before the write */
        size_t n, cap;
        /* The payloads, back to back in one buffer kept between turns (no
         * allocation per entry on the hot path): entry i's bytes start at
         * arena + offs[i]. The buffer may move while a turn grows it,
         * hence offsets rather than pointers. */
        uint8_t *arena;
        size_t arena_len, arena_cap;
        size_t *offs;
        int hs_dirty;
        struct log_hard_state hs;
        struct raft_message *after; /* msgs_after, held until written */
        size_t n_after;
        uint64_t last_index, last_term; /* last entry appended (for PERSISTED) */
        int persisted_due;          /* hard state only: report index 0 */
    } pend;

    struct wait *waits;
    size_t n_waits;
    size_t waits_low;                /* every slot below it is in use */
    struct wait_ref *wheap;          /* NODE_WAIT_HEAP_MAX */
    size_t n_wheap;
    int wheap_lost;                  /* a ref did not fit: scan as well */

    /* Raft view kept between steps. */
    uint8_t role;
    uint64_t term, leader, commit;
    uint64_t next_tick_ms;
    uint64_t applied_term;           /* term of the entry at fsm_applied */
    struct raft_config applied_config; /* configuration in force at applied */
    uint64_t snapshot_index;         /* last compaction */
    uint64_t read_seq;
    uint64_t wait_gen;
    size_t n_batch;                  /* waits of kind WAIT_BATCH */
    uint64_t proposed_index, proposed_term; /* of the last raft_step */
    uint64_t call_seq;

    /* Peers given to the transport, so an unchanged address is not
     * re-dialed. */
    struct {
        uint64_t id;
        char addr[HOME_ADDR_LEN];
    } peers[NODE_PEERS_MAX];
    size_t n_peers;
    struct {
        uint64_t id, since_ms, index;
    } gone[RAFT_SERVERS_MAX];        /* leader: members removed from the FSM */
    uint64_t state_due_ms;            /* write deferred FSM state by then */
    struct log_hard_state hs_written; /* last hard state in the store */
    int members_dirty;   /* peers/files need refreshing after apply */
    int files_dirty;     /* settings.json / nats.conf may have changed */
    uint64_t files_due_ms;     /* not before (0: at once, membership) */
    struct {                   /* files.c: the child writing settings.json */
        pid_t pid;             /* 0: none */
        struct net_child *watch;
        uint64_t started_ms;
        uint64_t took_ms;      /* the last render; small: in the loop */
        size_t bytes;          /* fsm_settings_bytes() at its start */
        uint64_t js_hold_ms;   /* held for a JetStream removal since; 0 */
    } files;
    int leader_changed;
    /* A leader's batch whose journal flush runs in the background
     * (log_write_unflushed): its last entry, reported PERSISTED to the
     * core once log_flushed() says so (run.c, bg_collect). */
    struct net_async *flush_wake; /* the flushing thread wakes the loop */
    int bg_pending;
    uint64_t bg_index, bg_term;
    int want_compact;
    /* Compaction in progress (compact.c). */
    struct {
        pid_t pid;                   /* child saving the state; 0: none */
        struct net_child *watch;
        uint64_t index, term;        /* A: applied index at the fork */
        struct raft_config config;   /* configuration in force at A */
        int ready;                   /* audit.snap.next holds A: compact */
        uint64_t started_ms;
        uint64_t fork_ms, saved_ms;  /* how long fork() and the child took */
        uint64_t retry_ms, backoff_ms; /* after a failed child */
        uint64_t snap_bytes;         /* size of the last saved state */
        uint64_t next_ms;            /* not sooner, by the last one's cost */
    } compact;
    int leaving;         /* `leave` accepted: stop once removed */
    int was_member;      /* our member record was applied here once */
    uint64_t removed_ms; /* when we saw our removal */
    uint64_t leaderless_since_ms; /* when the known leader was lost */
    /* Catch-up progress of a follower or replica: the commit index the
     * leader last announced (APPEND/HEARTBEAT), and when progress was last
     * logged. */
    uint64_t leader_commit;
    uint64_t catchup_said_ms;
    int stopping;
    int stop_rc;
    int fatal;           /* a store write failed: stop */
    /* The store refused the last batch for lack of space: it is held in
     * `pend` (nothing reported persisted, no held message sent) and retried
     * from disk_retry_ms; new proposals are refused meanwhile. */
    int disk_full;
    uint64_t disk_retry_ms;
    uint64_t disk_backoff_ms;
    /* node_disk_check's last statvfs(): free bytes, when, and what was
     * let through since (see NODE_DISK_STAT_MS). */
    uint64_t disk_free;
    uint64_t disk_free_at_ms;
    uint64_t disk_granted;
    uint64_t disk_transfer_ms; /* next leadership hand-off attempt; 0: none
                                * since the disk was last fine */
    int files_failed;    /* the last settings.json/nats.conf write failed */
    size_t after_dropped; /* held messages dropped since the last write */
    uint64_t started_ms;
};

/* run.c */
void node_step(struct node *n, const struct raft_event *ev, int *rc_out);
void node_kick(struct node *n);
void node_stop(struct node *n, int rc);
uint64_t node_now(void);
/* Whether a new proposal of about BYTES may be appended here: -PM_ENOSPC
 * (and a one-line reason in ERR, which may be NULL) while the store holds
 * a batch it could not write, or while the data directory has less than
 * NODE_DISK_MARGIN_BYTES plus a few times BYTES free; else 0. Refusing up
 * front means nothing is appended that could still apply after its client
 * was told "refused". A failing statvfs() does not refuse. */
int node_disk_check(struct node *n, size_t bytes, char *err, size_t err_len);

/* ops.c: serving requests (control socket and peers). */
void node_on_request(void *ctx, struct net_call *call,
                     const struct net_request *req,
                     const struct net_origin *origin);
/* A proposal of ours was applied (or lost): answer its waiter(s). */
void node_waits_on_applied(struct node *n, uint64_t index, uint64_t term,
                           const struct fsm_result *res);
void node_waits_on_read(struct node *n, const struct raft_read *rd);
void node_waits_housekeep(struct node *n);
void node_waits_flush(struct node *n);
/* Append every WAIT_BATCH proposal of this turn in one step (the hook calls
 * it first, so they join this turn's write). */
void node_waits_propose(struct node *n);
void node_waits_leader_changed(struct node *n);
void node_waits_fail_all(struct node *n, int status, const char *why);
void node_reply_json_index(struct net_call *call, uint64_t index);

/* ops.c: register a wait that just became PROPOSAL or APPLIED (with its
 * index set) for node_waits_on_applied(). */
void node_waits_index_watch(struct node *n, struct wait *w);

/* child.c: the node's forked workers (compaction, settings.json).
 * node_child_setup: first thing in the child: die with the node (_exit(3)
 *   if it is gone already), default signals, no inherited descriptor,
 *   lowest CPU and I/O priority, and NAME as its process name (ps, pgrep
 *   -x: tests and operators tell the workers apart). The child leaves
 *   through _exit().
 * node_child_kill: in the node, for a child nobody else reaps (its watcher
 *   freed, or none): SIGKILL, then wait for it. */
void node_child_setup(pid_t parent, const char *name);
void node_child_kill(pid_t pid);

/* files.c: HOME/settings.json and HOME/nats.conf follow the FSM.
 * node_files_maybe_write: from the housekeeping timer, when files_dirty
 *   and files_due_ms has come: nats.conf in the loop (a change reloads or
 *   restarts nats-server), settings.json in a forked child (O(state)); one
 *   child at a time; the next rewrite is spaced by what this one took.
 * node_files_write: both in the loop, now (start and stop), after
 *   node_files_abort.
 * node_files_abort: kill and reap the child (its file stays whole: the
 *   write is a rename); the files are dirty again. */
void node_files_maybe_write(struct node *n);
void node_files_write(struct node *n);
void node_files_abort(struct node *n);

/* compact.c: compaction off the event loop, and the FSM state at the log's
 * base (HOME/audit.snap, or HOME/audit.snap.next between a compaction's
 * commit and its rename) that the audit replays the kept entries from.
 * The rule: the log's base never moves past a durable file of exactly that
 * base. Saving is best effort: failures are logged, never compacted past
 * (the audit then reports the log compacted when it cannot start).
 *
 * node_compact_maybe_start: from the before-block hook, after the write.
 *   When due (entries since the base >= node_compact_threshold() and the
 *   spacing by the last compaction's cost is over, or the core asked),
 *   fork a child that saves the state at the current applied index A to
 *   audit.snap.next; one child at a time; failures retried with a
 *   backoff.
 * node_compact_fill: write_pending(): once the child succeeded, put the
 *   snapshot metadata of A and the compaction to A into batch B (META and
 *   CFG are the caller's storage); returns 1 if it did.
 * node_compact_done: after that batch is durable (WRITE_MS: how long its
 *   write took): audit.snap.next becomes audit.snap, the core hears
 *   RAFT_EV_COMPACTED at A.
 * node_compact_abort: kill and reap the child, forget a finished one
 *   (shutdown, snapshot install). */
uint64_t node_compact_threshold(const struct node *n);
void node_compact_maybe_start(struct node *n);
int node_compact_fill(struct node *n, struct log_batch *b,
                      struct log_snapshot_meta *meta, uint8_t *cfg,
                      size_t cfg_cap);
void node_compact_done(struct node *n, uint64_t index, uint64_t write_ms);
void node_compact_abort(struct node *n);
/* Snapshot install: save its state as audit.snap.next (durably; aborts a
 * compaction child first) before the store's base moves; after the store
 * commit, node_audit_base_commit() renames it to audit.snap. */
int node_audit_base_save(struct node *n, const uint8_t *snap, size_t len);
void node_audit_base_commit(struct node *n);
/* The saved FSM state of exactly index BASE (from audit.snap, else
 * audit.snap.next) as a scratch FSM (no change tracking); -PM_ENOTFOUND
 * (or the error reading audit.snap) if neither holds it. */
int node_audit_base_load(const char *home, uint64_t base, struct fsm **out);
/* At start, before serving: finish a rename that a crash interrupted,
 * remove the files of compactions that did not happen. */
void node_audit_base_recover(const char *home, uint64_t base);

/* members.c: peers and membership steps driven by the leader. */
/* A member's peer address ("host:port", "[v6]:port") and NATS client URL
 * ("nats://host:port"), as shown to users and dialed by the transport. */
void node_member_peer_addr(const struct fsm_member *m, char *out, size_t len);
void node_member_nats_url(const struct fsm_member *m, char *out, size_t len);
void node_peers_refresh(struct node *n);
/* After a membership change: a voter (a NATS server) that left is removed
 * from the JetStream meta group through the own nats-server
 * (natsd_js_remove_peer: stock nats-server keeps counting it otherwise),
 * by every remaining voter while at least 3 remain (with fewer, natsconf
 * renders no clustered JetStream); a name that is a voter again cancels a
 * pending removal. The first call only notes the voters, so a restart or
 * a replay never removes anyone. */
void node_js_peers_sync(struct node *n);
void node_membership_step(struct node *n);
int node_propose_cmd(struct node *n, struct fsm_cmd *cmd, uint64_t *index,
                     uint64_t *term, char *err, size_t err_len);

/* setup.c */
int node_fsm_load(struct log *log, struct fsm **out);

#endif
