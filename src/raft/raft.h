/* raft.h: the pure Raft core.
 *
 * This header is the contract. The core does no I/O, reads no clock, draws
 * no randomness of its own and has no globals: the host feeds it events
 * (a received message, a tick, a proposal, "persisted up to here", ...) with
 * the current time, and every raft_step() fills a struct raft_update telling
 * the host what to persist, what to send, what is committed, and when to
 * call again. The same sequence of events always gives the same updates.
 *
 * Protocol (Ongaro, "Consensus: Bridging Theory and Practice", 2014, cited
 * below as "thesis"; and the Raft paper's Figure 2):
 *  - elections with randomized timeouts (seeded PRNG in the struct),
 *    pre-vote (thesis §9.6) and check-quorum (a leader that hears from no
 *    quorum for an election timeout steps down; voters ignore vote requests
 *    while they have a live leader, thesis §4.2.3);
 *  - replication with batching and pipelining, bounded in flight per
 *    follower by count and bytes, fast conflict backtracking;
 *  - commit by counting replicas only for entries of the current term
 *    (Raft §5.4.2; a new leader appends a NOOP first);
 *  - the leader appends to its own disk in parallel with replication and
 *    counts itself only up to what the host reports persisted (thesis
 *    §10.2.1);
 *  - learners receive the log but never vote and never count;
 *  - single-server membership changes, a configuration taking effect as
 *    soon as it is appended (thesis §4.1), one uncommitted change at a time;
 *  - a two-voter "weighted" mode in which the configured tie-breaker (the
 *    seed) alone is a quorum; entering and leaving it is a change of its own
 *    (see raft_config_check_transition);
 *  - leadership transfer (TimeoutNow, thesis §3.10);
 *  - ReadIndex (thesis §6.4), also from followers through the leader;
 *  - snapshots sent in bounded chunks; the receiver reports what it holds so
 *    a retry or a new leader resumes instead of restarting.
 *
 * Persistence contract. Each update lists, in this order of work for the
 * host: (1) truncate_from, entries, hard_state, snapshot: make them durable
 * (one transaction is fine); (2) only then send msgs_after; msgs may be sent
 * at once, before or during (1). After (1) the host reports RAFT_EV_PERSISTED
 * with the last entry written (and RAFT_EV_SNAPSHOT_INSTALLED for a
 * snapshot). Updates must be made durable in the order they were produced;
 * several may share one write (group commit). The core relies on the
 * reports: a leader counts itself toward commit, and every server hands
 * out committed entries, only up to the last index reported persisted.
 * Vote requests, vote grants, append acknowledgements and the "snapshot
 * installed" reply are always in msgs_after, and the latter is only
 * produced by RAFT_EV_SNAPSHOT_INSTALLED, which the host steps once the
 * snapshot is durably installed; a leader's AppendEntries,
 * heartbeats, snapshot chunks, pre-votes and TimeoutNow are in msgs, except
 * that a leader that elected itself alone sends everything through
 * msgs_after until its first entry of the term is reported persisted.
 *
 * Lifetime. Every pointer in a struct raft_update (entries, messages and the
 * entries and bytes they point to, committed entries, snapshot data, reads)
 * points into memory owned by the core and stays valid only until the next
 * raft_step() or raft_free() on the same struct raft. The host copies or
 * encodes what it needs before then. Data passed IN with an event is
 * borrowed for the duration of the call only (the core copies what it keeps).
 *
 * Threading: a struct raft is used from one thread; distinct instances are
 * independent.
 */
#ifndef PM_RAFT_H
#define PM_RAFT_H

#include <stddef.h>
#include <stdint.h>

#include "base/entry.h"

/* Upper bound on servers (voters + learners) in one configuration. Keeps the
 * configuration a fixed-size value type and the safety check exhaustive. */
#define RAFT_SERVERS_MAX 16

/* Version byte that starts an encoded configuration. */
#define RAFT_CONFIG_VERSION 1

/* ----------------------------------------------------------------------- */
/* Configuration                                                           */

enum raft_server_role {
    RAFT_VOTER = 1,   /* votes and counts toward commit */
    RAFT_LEARNER = 2, /* receives the log, never votes or counts (replica) */
};

struct raft_server {
    uint64_t id;   /* nonzero */
    uint8_t role;  /* enum raft_server_role */
};

/* A membership configuration. Servers are kept sorted by id, ids unique.
 * `tiebreaker` names the seed: while `weighted` is set the configuration has
 * exactly two voters, one of them the tie-breaker, and a quorum is any set
 * containing the tie-breaker. Otherwise a quorum is a strict majority of the
 * voters. `forced` marks a configuration written by forced recovery
 * (RAFT_EV_FORCE_RECOVER); it has no effect on quorums, it is for the audit. */
struct raft_config {
    uint32_t n;
    struct raft_server servers[RAFT_SERVERS_MAX];
    uint64_t tiebreaker; /* 0: none */
    uint8_t weighted;    /* 0 or 1 */
    uint8_t forced;      /* 0 or 1 */
};

/* Validate a configuration: ids nonzero and unique, roles valid, n within
 * bounds, weighted only with exactly two voters one of which is the
 * tie-breaker, tiebreaker (if nonzero) a member. 0 or -PM_EINVAL. Does not
 * require sorted servers. */
int raft_config_validate(const struct raft_config *c);

/* Sort the servers by id (canonical form). Encoding sorts by itself. */
void raft_config_sort(struct raft_config *c);

/* Role of server ID in C: RAFT_VOTER, RAFT_LEARNER, or 0 if not a member. */
int raft_config_role(const struct raft_config *c, uint64_t id);

/* Number of voters in C. */
uint32_t raft_config_voters(const struct raft_config *c);

/* Add ID with ROLE, or change its role if present. -PM_ENOSPC when full,
 * -PM_EINVAL for id 0 or a bad role. */
int raft_config_set(struct raft_config *c, uint64_t id, int role);

/* Remove ID; -PM_ENOTFOUND if absent. Removing the tie-breaker sets
 * tiebreaker to 0 (a weighted configuration then needs its flag cleared or
 * a new tie-breaker to be valid). */
int raft_config_remove(struct raft_config *c, uint64_t id);

/* Is the set of server ids IDS[0..n) a quorum of C? Learners and unknown ids
 * in the set are ignored. A configuration with no voters has no quorum. */
int raft_config_is_quorum(const struct raft_config *c, const uint64_t *ids,
                          size_t n);

/* Is moving from OLD to NEW allowed as one membership change? 0 when it is,
 * -PM_EINVAL otherwise. Rules: NEW is valid and has a voter; at most one
 * server is added, removed or changes role (the weighted flag may change
 * alone or together with that one server); and every quorum of OLD
 * intersects every quorum of NEW (checked exhaustively over the voters of
 * both). So {S} -> weighted {S,B} is allowed, weighted {S,B} -> {S,B,C} is
 * not ({S} vs {B,C}): leave weighted mode first (weighted {S,B} -> plain
 * {S,B} -> {S,B,C}); shrinking reverses it. */
int raft_config_check_transition(const struct raft_config *old_c,
                                 const struct raft_config *new_c);

/* Binary encoding of a configuration (fixed layout, little endian):
 * u8 version, u8 flags (bit0 weighted, bit1 forced), u64 tiebreaker,
 * u8 n, then n times (u64 id, u8 role), servers sorted by id.
 * raft_config_encoded_len() gives the exact size. raft_config_encode writes
 * into BUF (capacity CAP) and stores the length in *LEN; -PM_ETOOBIG if CAP
 * is too small, -PM_EINVAL for an invalid configuration. */
size_t raft_config_encoded_len(const struct raft_config *c);
int raft_config_encode(const struct raft_config *c, uint8_t *buf, size_t cap,
                       size_t *len);
/* Decode exactly LEN bytes. -PM_EVERSION for an unknown version,
 * -PM_ECORRUPT for truncated, trailing or invalid content. */
int raft_config_decode(const uint8_t *buf, size_t len, struct raft_config *c);

/* A CONFIG entry payload is: u32 (little endian) length L of the encoded
 * configuration, the L bytes, then the application blob (the FSM's member
 * record; opaque to the core, may be empty).
 * raft_config_payload_encode() returns a malloc'd payload in *OUT (caller
 * frees) of *LEN bytes. raft_config_payload_split() decodes the
 * configuration and points *APP into DATA (borrowed). -PM_ECORRUPT for a
 * malformed payload. */
int raft_config_payload_encode(const struct raft_config *c, const void *app,
                               uint32_t app_len, uint8_t **out,
                               uint32_t *len);
int raft_config_payload_split(const uint8_t *data, uint32_t len,
                              struct raft_config *c, const uint8_t **app,
                              uint32_t *app_len);

/* ----------------------------------------------------------------------- */
/* Messages                                                                */

enum raft_msg_type {
    RAFT_MSG_APPEND = 1,        /* AppendEntries (leader -> follower) */
    RAFT_MSG_APPEND_RESP = 2,
    RAFT_MSG_HEARTBEAT = 3,     /* leader -> follower, no entries */
    RAFT_MSG_HEARTBEAT_RESP = 4,
    RAFT_MSG_PREVOTE = 5,       /* thesis §9.6; term = the term it would use */
    RAFT_MSG_PREVOTE_RESP = 6,
    RAFT_MSG_VOTE = 7,          /* RequestVote */
    RAFT_MSG_VOTE_RESP = 8,
    RAFT_MSG_SNAPSHOT = 9,      /* InstallSnapshot: one chunk */
    RAFT_MSG_SNAPSHOT_RESP = 10,
    RAFT_MSG_TIMEOUT_NOW = 11,  /* leadership transfer (thesis §3.10) */
    RAFT_MSG_READ_INDEX = 12,   /* follower asks the leader for a read index */
    RAFT_MSG_READ_INDEX_RESP = 13,
};
#define RAFT_MSG_TYPE_MAX 13

/* One message. All fields are plain values; a field not listed for a type
 * is zero. `term`, `from`, `to` are always set.
 *
 * APPEND:         prev_index, prev_term, entries[n_entries], commit
 * APPEND_RESP:    reject; index = the sender's last log index after
 *                 appending (success: the match index) or, on reject, the
 *                 prev_index that was rejected; hint_index/hint_term = the
 *                 follower's conflict hint (its last index, or the first
 *                 index of the conflicting term, and that term)
 * HEARTBEAT:      commit (already capped at the follower's match), ctx
 * HEARTBEAT_RESP: ctx (echoed)
 * PREVOTE, VOTE:  last_index, last_term (candidate's log), transfer (1 when
 *                 the election was started by TimeoutNow: it bypasses the
 *                 leader lease of check-quorum)
 * PREVOTE_RESP,
 * VOTE_RESP:      reject
 * SNAPSHOT:       snap_index, snap_term, snap_size (total bytes), offset,
 *                 data[len] (the chunk), config[config_len] (the encoded
 *                 configuration at snap_index), done (1 on the last chunk)
 * SNAPSHOT_RESP:  snap_index, snap_term, offset = bytes of that snapshot the
 *                 receiver holds contiguously from 0 (the resume point);
 *                 reject = 1 when it will not accept this snapshot; done = 1
 *                 when installed (index then gives the index the receiver
 *                 now matches)
 * TIMEOUT_NOW:    (nothing else)
 * READ_INDEX:     ctx = the requester's request id
 * READ_INDEX_RESP: ctx (echoed), index = the read index, reject = 1 if the
 *                 leader could not serve it (not leader / no commit yet)
 *
 * Entry payloads, data and config are borrowed (see Lifetime above) in
 * messages produced by the core; a message fed to raft_step() is borrowed
 * for that call. Untrusted fields are validated by the core: a malformed
 * message is dropped with -PM_EPROTO and changes nothing. */
struct raft_message {
    uint8_t type; /* enum raft_msg_type */
    uint64_t term;
    uint64_t from;
    uint64_t to;

    uint64_t prev_index;
    uint64_t prev_term;
    const struct pm_entry *entries;
    uint32_t n_entries;
    uint64_t commit;

    uint8_t reject;
    uint64_t index;
    uint64_t hint_index;
    uint64_t hint_term;

    uint64_t last_index;
    uint64_t last_term;
    uint8_t transfer;

    uint64_t snap_index;
    uint64_t snap_term;
    uint64_t snap_size;
    uint64_t offset;
    const uint8_t *data;
    uint32_t len;
    const uint8_t *config;
    uint32_t config_len;
    uint8_t done;

    uint64_t ctx;
};

/* ----------------------------------------------------------------------- */
/* Options, state                                                          */

struct raft_options {
    uint32_t election_timeout_ms;  /* 0: 1000. Randomized in [t, 2t). */
    uint32_t heartbeat_ms;         /* 0: 100; must be < the election
                                      timeout (-PM_EINVAL) */
    uint32_t append_entries_max;   /* per APPEND message; 0: 64 */
    uint32_t append_bytes_max;     /* payload per APPEND; 0: 1 MiB */
    uint32_t inflight_max;         /* APPENDs in flight per follower; 0: 32;
                                      at most 256 (larger is clamped) */
    uint64_t inflight_bytes_max;   /* payload in flight per follower; 0: 8 MiB */
    uint32_t snapshot_chunk_bytes; /* per SNAPSHOT message; 0: 256 KiB */
    uint64_t snapshot_bytes_max;   /* largest snapshot accepted; 0: 1 GiB */
    uint64_t log_bytes_compact;    /* in-memory bytes of the log after the
                                      last snapshot (payloads + ~40 bytes per
                                      entry) above which the update asks for
                                      compaction; 0: 64 MiB */
    uint32_t reads_max;            /* pending ReadIndex requests; 0: 1024 */
    uint32_t proposal_bytes_max;   /* largest payload proposed; 0: 1 MiB */
    uint64_t seed;                 /* PRNG seed for election timeouts */
    /* Entries kept in memory below a compaction point (RAFT_EV_COMPACTED)
     * so that a follower a little behind is still served from the log
     * instead of needing a whole snapshot; also bounded to a quarter of
     * log_bytes_compact. 0: 512; RAFT_COMPACT_KEEP_NONE: drop all. */
    uint32_t compact_keep_entries;
    /* How long a leader holds back a commit-only APPEND after the commit
     * index last moved, so that the next APPEND carries the new commit
     * index instead: under steady load one message per entry rather than
     * two. Once commits pause this long, every follower not yet told is
     * sent one; followers apply that much later when the load stops.
     * RAFT_EV_NOTIFY_COMMIT tells one at once (the host uses it when a
     * follower waits to apply something, e.g. a forwarded proposal).
     * 0: at once, no holding back. */
    uint32_t commit_notice_ms;
};
#define RAFT_COMPACT_KEEP_NONE UINT32_MAX

enum raft_role {
    RAFT_FOLLOWER = 1,
    RAFT_PRECANDIDATE = 2,
    RAFT_CANDIDATE = 3,
    RAFT_LEADER = 4,
};

/* Raft's persistent state (Figure 2) plus the commit index. Matches
 * struct log_hard_state field for field. */
struct raft_hard_state {
    uint64_t term;
    uint64_t vote;   /* voted for in term; 0: none */
    uint64_t commit;
};

/* A snapshot: the FSM state at `index` (whose entry had `term`) and the
 * configuration in force there. `data` is the host's serialized FSM state. */
struct raft_snapshot {
    uint64_t index;
    uint64_t term;
    struct raft_config config;
    const uint8_t *data;
    uint64_t len;
};

/* Result of a ReadIndex request: once the host has applied up to `index`,
 * a read of local state is linearizable. status 0, or the request failed
 * (retry): -PM_ENOTLEADER (leadership lost or the leader refused),
 * -PM_ENOLEADER (no leader known, or it changed while the read was
 * forwarded), -PM_EBUSY (reads_max pending), -PM_ETIMEOUT (a forwarded
 * read got no answer within two election timeouts). Every request gets
 * exactly one result. */
struct raft_read {
    uint64_t id;
    uint64_t index;
    int status;
};

/* ----------------------------------------------------------------------- */
/* Events                                                                  */

enum raft_event_type {
    RAFT_EV_TICK = 1,      /* time passed; the core checks its timers */
    RAFT_EV_RECEIVE = 2,   /* a message arrived */
    RAFT_EV_PROPOSE = 3,   /* append a COMMAND (leader only) */
    RAFT_EV_CHANGE = 4,    /* propose a configuration (leader only) */
    RAFT_EV_PERSISTED = 5, /* entries up to index (term) are durable */
    RAFT_EV_SNAPSHOT = 6,  /* leader: the snapshot asked for by need_snapshot */
    RAFT_EV_SNAPSHOT_INSTALLED = 7, /* follower: the update's snapshot is in */
    RAFT_EV_COMPACTED = 8, /* host compacted its log up to index */
    RAFT_EV_READ_INDEX = 9,/* request a read index (any role) */
    RAFT_EV_TRANSFER = 10, /* leader: hand leadership to `target` */
    RAFT_EV_FORCE_RECOVER = 11, /* operator: continue alone (see below) */
    RAFT_EV_CAMPAIGN = 12, /* start an election now (tests, tools) */
    RAFT_EV_PROPOSE_BATCH = 13, /* append several COMMANDs at once */
    RAFT_EV_NOTIFY_COMMIT = 14, /* leader: tell `notify.to` the commit now */
};

struct raft_event {
    uint8_t type;    /* enum raft_event_type */
    uint64_t now_ms; /* the host's monotonic clock, never decreasing */
    union {
        /* RAFT_EV_RECEIVE */
        const struct raft_message *msg;
        /* RAFT_EV_PROPOSE: payload of a COMMAND entry (copied). The update's
         * proposed_index/proposed_term name the entry: the proposal took
         * effect iff the entry committed at that index has that term. It
         * is known lost as soon as an update's truncate_from is at or
         * below its index, or another term commits there; losing
         * leadership alone decides nothing (it may still commit). */
        struct {
            const uint8_t *data;
            uint32_t len;
        } propose;
        /* RAFT_EV_PROPOSE_BATCH: the payloads of N COMMAND entries
         * (payloads[i], lens[i]; copied into one allocation), appended
         * together and sent in as few APPENDs as the limits allow: the
         * host's group commit of client requests. They get the indexes
         * proposed_index .. proposed_index + n - 1, all in proposed_term.
         * All or nothing: -PM_ETOOBIG if one payload is over
         * proposal_bytes_max; -PM_EINVAL for n == 0 or n > 65536. */
        struct {
            const uint8_t *const *payloads;
            const uint32_t *lens;
            uint32_t n;
        } batch;
        /* RAFT_EV_CHANGE: the wanted configuration (must pass
         * raft_config_check_transition from the current latest one) and
         * the application blob stored beside it in the CONFIG entry. */
        struct {
            const struct raft_config *config;
            const uint8_t *app;
            uint32_t app_len;
        } change;
        /* RAFT_EV_PERSISTED: the host made durable every update up to the
         * one that ended with entry (index, term); index 0 when the
         * updates had no entries (hard state only). */
        struct {
            uint64_t index;
            uint64_t term;
        } persisted;
        /* RAFT_EV_SNAPSHOT: borrowed; index must be >= the core's snapshot
         * index and <= its commit index. */
        const struct raft_snapshot *snapshot;
        /* RAFT_EV_SNAPSHOT_INSTALLED, RAFT_EV_COMPACTED: the index. For
         * COMPACTED the host has made a snapshot of its FSM at `index` (its
         * applied index, which may be ahead of what this core handed out
         * since a restart; it must be a persisted entry of the log) and may
         * have deleted entries <= index; the core treats them as committed
         * and applied and drops them from memory, except the last
         * options.compact_keep_entries (raft_status().snapshot_index tells
         * where its in-memory log now starts). -PM_EINVAL past the log's
         * persisted end. */
        struct {
            uint64_t index;
        } at;
        /* RAFT_EV_READ_INDEX: a request id chosen by the host, echoed in
         * the struct raft_read result. */
        struct {
            uint64_t id;
        } read;
        /* RAFT_EV_TRANSFER: target voter id; 0 picks the most up-to-date
         * voter. */
        struct {
            uint64_t target;
        } transfer;
        /* RAFT_EV_FORCE_RECOVER: the new term is above this floor (0: no
         * floor), above the current term and above any term seen in a
         * message. Give the highest term any reachable server reports. */
        struct {
            uint64_t term_floor;
        } force;
        /* RAFT_EV_NOTIFY_COMMIT: the follower to tell the commit index at
         * once, if it was not told yet (see commit_notice_ms); 0: every
         * follower. -PM_ENOTLEADER unless leader; an unknown id is ignored. */
        struct {
            uint64_t to;
        } notify;
    };
};

/* ----------------------------------------------------------------------- */
/* Update                                                                  */

struct raft_update {
    /* Persist (see the file comment). truncate_from: delete entries with
     * index >= it first (0: none). entries: then append these, contiguous,
     * the first at the log's last index + 1 after the truncation. */
    uint64_t truncate_from;
    const struct pm_entry *entries;
    size_t n_entries;
    int hard_state_changed;            /* persist hard_state when set */
    struct raft_hard_state hard_state; /* always the current value */
    /* A snapshot received from the leader: install it (replace the FSM
     * state, make it the log's base: delete entries <= index), and once
     * that is durable report RAFT_EV_SNAPSHOT_INSTALLED with its index:
     * only then does the core tell the leader. NULL: none. The core has
     * already reset its log to start after it. */
    const struct raft_snapshot *snapshot;

    /* Messages. msgs: send any time. msgs_after: send only once everything
     * above is durable. */
    const struct raft_message *msgs;
    size_t n_msgs;
    const struct raft_message *msgs_after;
    size_t n_msgs_after;

    /* Newly committed entries to apply, in order (index/term/type/data).
     * CONFIG entries are included: the FSM records the member blob. Only
     * entries the host has reported persisted are listed. After
     * raft_restore the list starts again after the snapshot index: the host
     * skips entries at or below its FSM's stored applied index. */
    const struct pm_entry *committed;
    size_t n_committed;

    /* ReadIndex results. */
    const struct raft_read *reads;
    size_t n_reads;

    /* Set by RAFT_EV_PROPOSE / _PROPOSE_BATCH (the first of the batch) /
     * RAFT_EV_CHANGE / RAFT_EV_FORCE_RECOVER. */
    uint64_t proposed_index;
    uint64_t proposed_term;

    /* Leader: a follower needs a snapshot; answer with RAFT_EV_SNAPSHOT. */
    int need_snapshot;
    /* The in-memory log is over options.log_bytes_compact: the host should
     * snapshot and report RAFT_EV_COMPACTED. */
    int want_compact;

    /* Current state, always filled; state_changed when role, term or
     * leader changed during this step. */
    int state_changed;
    uint8_t role;    /* enum raft_role */
    uint64_t term;
    uint64_t leader; /* 0: unknown */
    uint64_t commit;

    /* Call raft_step with RAFT_EV_TICK at (or after) this time. */
    uint64_t next_tick_ms;
};

/* ----------------------------------------------------------------------- */
/* API                                                                     */

struct raft; /* opaque */

/* Create a core for server ID (nonzero). OPT may be NULL (defaults); zero
 * fields take their defaults. The core starts empty: term 0, no
 * configuration, follower. -PM_EINVAL, -PM_ENOMEM. */
int raft_new(uint64_t id, const struct raft_options *opt, struct raft **out);
void raft_free(struct raft *r);

/* Load persisted state before the first raft_step: HS (may be NULL: zero),
 * SNAP the latest snapshot's metadata (may be NULL; its data is not used),
 * and the log entries after it, ENTRIES[0..n) contiguous and starting at
 * snapshot index + 1 (or 1). Entries are copied. The configuration is the
 * last CONFIG entry in the log, else the snapshot's. To bootstrap a seed,
 * the host writes one CONFIG entry {index 1, term 1, the seed as sole voter
 * and tie-breaker} (raft_config_payload_encode) and restores it with
 * hs->commit = 1. -PM_EINVAL for non-contiguous entries or a bad config,
 * -PM_ESTATE if called after raft_step, -PM_ENOMEM. */
int raft_restore(struct raft *r, const struct raft_hard_state *hs,
                 const struct raft_snapshot *snap,
                 const struct pm_entry *entries, size_t n);

/* Feed one event. Fills *UP (always, also on error: then it describes no
 * changes except possibly messages and timers). Returns 0 or:
 *  -PM_ENOTLEADER  PROPOSE(_BATCH)/CHANGE/TRANSFER/SNAPSHOT on a non-leader;
 *  -PM_EBUSY       CHANGE while a config is uncommitted or the leader has not
 *                  yet committed an entry of its term; PROPOSE(_BATCH)/CHANGE
 *                  during a leadership transfer;
 *  -PM_EAGAIN      CHANGE promoting a learner that has not caught up yet
 *                  (its match index is more than append_entries_max behind
 *                  the leader's last index): retry later. A server that is
 *                  not a member yet must first be added as a learner
 *                  (-PM_EINVAL otherwise);
 *  -PM_EINVAL      an unsafe or invalid configuration, bad event fields,
 *                  TRANSFER to a non-voter, COMPACTED past the persisted
 *                  log, SNAPSHOT not matching the log;
 *  -PM_ETOOBIG     a payload over proposal_bytes_max, a snapshot over
 *                  snapshot_bytes_max;
 *  -PM_EPROTO      a malformed message (dropped);
 *  -PM_ESTATE      FORCE_RECOVER on a server that is not a voter, CAMPAIGN
 *                  on a leader or a server that may not stand;
 *  -PM_ENOMEM.
 *
 * A leader that elected itself alone (sole quorum, forced recovery) puts
 * every message in msgs_after until the host reports its first entry of the
 * new term persisted, so nothing of a term leaves before the term is
 * durable.
 *
 * Who stands for election: the voters of the latest configuration, and
 * (thesis §4.2.2) a server the latest, still uncommitted configuration
 * removed or demoted, if it was a voter before: it may hold the only
 * up-to-date log. It does not count its own vote then.
 *
 * RAFT_EV_FORCE_RECOVER: operator-only escape hatch when the tie-breaker
 * (or a quorum) is gone for good. The server takes a new term (see
 * ev.force.term_floor), becomes leader, and appends a CONFIG entry with
 * `forced` set in which it is the sole voter and the tie-breaker (other
 * voters are removed, learners kept). It bypasses quorum rules by design:
 * use only when the others will never return with their old state; entries
 * only they held are lost. The update's proposed_index names the entry. */
int raft_step(struct raft *r, const struct raft_event *ev,
              struct raft_update *up);

/* Read-only state. */
struct raft_status {
    uint64_t id;
    uint8_t role;
    uint64_t term;
    uint64_t vote;
    uint64_t leader;
    uint64_t commit;
    uint64_t applied;        /* last index handed out in committed[] */
    uint64_t persisted;      /* last index the host reported durable */
    uint64_t first_index;    /* first entry kept in memory */
    uint64_t last_index;
    uint64_t last_term;
    uint64_t snapshot_index; /* the log's base */
    uint64_t snapshot_term;
    uint64_t config_index;   /* index of the latest config (0: restored) */
    int config_committed;    /* the latest config is committed */
    uint64_t transfer_target; /* leader: transfer in progress to; 0 none */
};
void raft_status(const struct raft *r, struct raft_status *out);

/* The latest configuration (in force, maybe uncommitted). Borrowed: valid
 * until the next raft_step() or raft_free(). */
const struct raft_config *raft_config_latest(const struct raft *r);

/* Leader only: replication progress of server ID. 0 or -PM_ENOTLEADER /
 * -PM_ENOTFOUND. */
int raft_progress(const struct raft *r, uint64_t id, uint64_t *match_index,
                  uint64_t *next_index);

/* Name of a role / message type, for logs. Never NULL. */
const char *raft_role_name(int role);
const char *raft_msg_name(int type);

#endif
