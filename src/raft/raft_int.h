/* raft_int.h: internals of the Raft core shared between its files.
 * Internal cross-file names use the raft__ prefix (libuv style). */
#ifndef PM_RAFT_INT_H
#define PM_RAFT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* Hard cap on the per-follower in-flight ring (options are clamped). */
#define RAFT__INFLIGHT_CAP 256

/* --- in-memory log (log_mem.c) ------------------------------------------ */

/* Payload storage shared by the entries of one batch (one proposal, or the
 * entries of one AppendEntries): one allocation, released when the last
 * entry referring to it is truncated or compacted away. */
struct raft__block {
    uint32_t refs;
    uint8_t data[];
};

/* Entries (base, base + n]: e[i] has index base + 1 + i. */
struct raft__log {
    uint64_t base;      /* snapshot index: entries <= base are gone */
    uint64_t base_term; /* term of entry `base` */
    struct pm_entry *e;
    struct raft__block **blk; /* parallel to e; NULL for empty payloads */
    size_t n, cap;
    uint64_t bytes; /* payload bytes held */
};

void raft__log_init(struct raft__log *l);
void raft__log_free(struct raft__log *l);
uint64_t raft__log_last(const struct raft__log *l);
uint64_t raft__log_last_term(const struct raft__log *l);
/* Term at INDEX: base_term for base, 0 when unknown (below base or after
 * the end). */
uint64_t raft__log_term(const struct raft__log *l, uint64_t index);
const struct pm_entry *raft__log_get(const struct raft__log *l,
                                     uint64_t index);
/* Append copies of ES[0..n) (their index must continue the log) with one
 * payload block for all. -PM_ENOMEM. */
int raft__log_append(struct raft__log *l, const struct pm_entry *es,
                     size_t n);
/* Append one entry taking payload bytes DATA[0..len) (copied). */
int raft__log_append_one(struct raft__log *l, uint64_t term, uint8_t type,
                         const uint8_t *data, uint32_t len);
/* Delete entries >= FROM (FROM > base). */
void raft__log_truncate(struct raft__log *l, uint64_t from);
/* Drop entries <= INDEX and make (INDEX, TERM) the base. INDEX may be past
 * the end (everything is dropped). */
void raft__log_compact(struct raft__log *l, uint64_t index, uint64_t term);

/* --- progress (progress.c) ---------------------------------------------- */

enum {
    RAFT__PROBE = 0,     /* one append at a time until a match is found */
    RAFT__REPLICATE = 1, /* pipelined appends */
    RAFT__SNAPSHOT = 2,  /* sending a snapshot */
};

struct raft__progress {
    uint64_t id;
    uint8_t role; /* voter / learner, from the latest config */
    uint8_t state;
    uint8_t paused;  /* probe: an append is out, wait for reply/heartbeat */
    uint8_t active;  /* heard from since the last check-quorum round */
    uint64_t match;
    uint64_t next;
    /* In-flight appends: ring of (last index, payload bytes). */
    uint64_t infl_index[RAFT__INFLIGHT_CAP];
    uint32_t infl_bytes[RAFT__INFLIGHT_CAP];
    uint32_t infl_head, infl_count;
    uint64_t infl_total_bytes;
    /* Snapshot transfer. */
    uint64_t snap_index;
    uint64_t snap_acked; /* bytes the follower holds */
    uint64_t snap_sent;  /* bytes sent */
    uint64_t snap_send_ms;
    /* ReadIndex: highest heartbeat ctx acknowledged. */
    uint64_t read_ack;
    /* The commit index last sent to it (options.commit_notice_ms). */
    uint64_t commit_sent;
};

void raft__inflight_reset(struct raft__progress *p);
void raft__inflight_add(struct raft__progress *p, uint64_t last,
                        uint32_t bytes);
void raft__inflight_free_to(struct raft__progress *p, uint64_t index);

/* --- the core ----------------------------------------------------------- */

struct raft__fwd_read { /* follower: a read forwarded to the leader */
    uint64_t id;
    uint64_t deadline_ms;
};

struct raft__read { /* leader: a pending ReadIndex */
    uint64_t id;
    uint64_t from; /* 0: local request */
    uint64_t index;
    uint64_t seq; /* heartbeat round that confirms it; 0: not started */
};

struct raft__msgbuf {
    struct raft_message *m;
    uint64_t *lo; /* first entry index of each message's entries */
    size_t n, cap;
};

struct raft {
    uint64_t id;
    struct raft_options o;
    uint64_t rng;
    int stepped;

    /* Persistent state (Figure 2). */
    uint64_t term;
    uint64_t vote;
    uint64_t commit;

    uint8_t role;
    uint64_t leader;
    struct raft__log log;
    uint64_t persisted; /* highest index the host reported durable */
    uint64_t applied;   /* highest index handed out in committed[] */

    /* Configuration: the latest (in force) and its index, and the one at
     * the log's base (from the snapshot). */
    struct raft_config conf;
    uint64_t conf_index;
    struct raft_config base_conf;

    /* Timers. */
    uint64_t now_ms;
    uint64_t election_deadline_ms;
    uint64_t heartbeat_deadline_ms;
    uint64_t quorum_deadline_ms;
    uint64_t notice_deadline_ms; /* leader: commit notices due; 0: none */
    uint64_t leader_contact_ms; /* follower: last message from the leader */
    int leader_contact;         /* leader_contact_ms is meaningful */

    /* Elections. */
    uint64_t granted[RAFT_SERVERS_MAX + 1];
    uint32_t n_granted;
    uint64_t rejected[RAFT_SERVERS_MAX + 1];
    uint32_t n_rejected;
    int transfer_election; /* this election was started by TimeoutNow */

    /* Leader. */
    struct raft__progress *prog; /* RAFT_SERVERS_MAX entries */
    uint32_t n_prog;
    uint64_t term_start; /* index of this leader's NOOP */
    /* 0 while a leader that elected itself alone (sole quorum, forced
     * recovery) has not seen its new term reported durable: until then
     * everything it sends waits in msgs_after (see raft__msg). */
    int term_durable;
    uint64_t max_term_seen; /* highest term in any message received */
    /* raft__can_campaign's answer for a non-voter, cached for the latest
     * config entry (index, term) since it scans the log. */
    uint64_t stand_cache_index, stand_cache_term;
    int stand_cache;
    uint64_t transfer_target;
    uint64_t transfer_deadline_ms;

    /* ReadIndex. */
    struct raft__read *reads;
    uint32_t n_reads;
    uint64_t read_seq;
    struct raft__fwd_read *fwd;
    uint32_t n_fwd;

    /* Leader: the snapshot offered to followers. */
    int snap_wanted;
    uint64_t snap_out_index, snap_out_term;
    uint8_t *snap_out_data;
    uint64_t snap_out_len;
    uint8_t snap_out_conf[16 + RAFT_SERVERS_MAX * 9];
    uint32_t snap_out_conf_len;
    uint8_t *snap_garbage; /* freed at the start of the next step */

    /* Follower: a snapshot being received. */
    uint64_t in_index, in_term, in_size, in_have;
    uint8_t *in_buf;
    uint64_t in_cap;
    uint8_t *installing_buf; /* handed to the host in the last update */
    struct raft_snapshot installing;
    int has_installing;
    /* The "installed" reply waits for RAFT_EV_SNAPSHOT_INSTALLED. */
    uint64_t install_index, install_term, install_leader;

    /* The update being built. */
    struct raft__msgbuf now, after;
    uint64_t *last_lo; /* lo slot of the message raft__msg returned last */
    struct raft_read *out_reads;
    uint32_t n_out_reads, cap_out_reads;
    uint64_t unstable_from; /* first index appended this step; 0: none */
    uint64_t truncate_from; /* 0: none */
    int hs_changed;
    int state_changed;
    uint64_t proposed_index, proposed_term;
    int need_snapshot;
};

/* step.c */
struct raft_message *raft__msg(struct raft *r, int after, uint8_t type,
                               uint64_t to);
void raft__read_result(struct raft *r, uint64_t id, uint64_t index,
                       int status);
uint64_t raft__random_timeout(struct raft *r);

/* propose.c */
int raft__propose(struct raft *r, const struct raft_event *ev);
int raft__propose_batch(struct raft *r, const struct raft_event *ev);

/* election.c */
void raft__become_follower(struct raft *r, uint64_t term, uint64_t leader);
void raft__become_leader(struct raft *r);
void raft__campaign(struct raft *r, int pre, int transfer);
int raft__recv_vote(struct raft *r, const struct raft_message *m);
int raft__recv_vote_resp(struct raft *r, const struct raft_message *m);
int raft__recv_timeout_now(struct raft *r, const struct raft_message *m);
void raft__tick_election(struct raft *r);
int raft__can_vote(const struct raft *r);
int raft__can_campaign(struct raft *r);

/* replication.c */
void raft__send_append(struct raft *r, struct raft__progress *p,
                       int allow_empty);
void raft__broadcast_append(struct raft *r);
void raft__broadcast_heartbeat(struct raft *r, uint64_t ctx);
int raft__recv_append(struct raft *r, const struct raft_message *m);
int raft__recv_append_resp(struct raft *r, const struct raft_message *m);
int raft__recv_heartbeat(struct raft *r, const struct raft_message *m);
int raft__recv_heartbeat_resp(struct raft *r, const struct raft_message *m);
void raft__maybe_commit(struct raft *r);
void raft__on_commit(struct raft *r, uint64_t old_commit);
void raft__notify_commit(struct raft *r, uint64_t to);
void raft__truncate(struct raft *r, uint64_t from);
void raft__mark_appended(struct raft *r, uint64_t first);
void raft__tick_leader(struct raft *r);
void raft__heard_from_leader(struct raft *r, const struct raft_message *m);

/* progress.c */
struct raft__progress *raft__progress_get(struct raft *r, uint64_t id);
void raft__progress_sync(struct raft *r, int reset);
int raft__self_quorum_with(const struct raft *r, const uint64_t *ids,
                           size_t n);

/* membership.c */
void raft__config_recompute(struct raft *r);
void raft__config_on_append(struct raft *r, uint64_t first);
int raft__config_at(const struct raft *r, uint64_t index,
                    struct raft_config *out);
int raft__propose_change(struct raft *r, const struct raft_event *ev);
int raft__force_recover(struct raft *r, uint64_t term_floor);
int raft__transfer(struct raft *r, uint64_t target);
void raft__transfer_check(struct raft *r, struct raft__progress *p);

/* snapshot.c */
void raft__send_snapshot(struct raft *r, struct raft__progress *p);
int raft__offer_snapshot(struct raft *r, const struct raft_snapshot *s);
int raft__recv_snapshot(struct raft *r, const struct raft_message *m);
int raft__recv_snapshot_resp(struct raft *r, const struct raft_message *m);
int raft__compacted(struct raft *r, uint64_t index);
int raft__snapshot_installed(struct raft *r, uint64_t index);
void raft__snapshot_drop_out(struct raft *r);

/* read_index.c */
int raft__read_index(struct raft *r, uint64_t id);
int raft__recv_read_index(struct raft *r, const struct raft_message *m);
int raft__recv_read_index_resp(struct raft *r, const struct raft_message *m);
void raft__reads_ack(struct raft *r);
void raft__reads_on_commit(struct raft *r);
void raft__reads_fail_all(struct raft *r, int status);
void raft__tick_reads(struct raft *r);

#endif
