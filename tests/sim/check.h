/* check.h: the simulator's incremental Raft safety checker.
 *
 * Every check is incremental so that it can run after every simulated step:
 * the checker keeps one global record per log index that is known
 * committed (term, entry hash, prefix hash, FSM state hash after applying
 * it) and one record per (index, term) pair ever appended anywhere, and
 * each node event is compared against those records in O(1) (amortized).
 *
 * Entries are reduced to hashes: ehash = hash(type, payload) and the prefix
 * hash phash(i) = mix(phash(i - 1), term(i), ehash(i)), phash(base) taken
 * from the snapshot. Equal prefix hashes at an index mean equal logs up to
 * it, which is what Log Matching (Raft paper, Figure 3) promises for equal
 * (index, term).
 *
 * Functions returning int return 0 when the rule holds and -1 with a
 * description in chk->msg when it is violated.
 */
#ifndef SIM_CHECK_H
#define SIM_CHECK_H

#include <stddef.h>
#include <stdint.h>

struct chk_commit {
    uint64_t term;
    uint64_t ehash;
    uint64_t phash;
    uint64_t state;       /* FSM state hash after applying (0: unknown) */
    uint64_t seen_term;   /* lowest term in which a node reported it
                           * committed: leaders of later terms must hold it */
    uint8_t set;
};

struct chk_pair {
    uint64_t index, term, phash;
};

struct chk {
    struct chk_commit *c;  /* by index; c[0] unused */
    uint64_t c_cap;
    uint64_t committed;    /* highest index known committed */
    uint64_t *leader;      /* by term: the leader's id, 0 for none */
    uint64_t leader_cap;
    struct chk_pair *pairs; /* open addressing by (index, term) */
    size_t pairs_cap, pairs_n;
    uint64_t fork_index;   /* forced recovery: history above was dropped */
    uint64_t forks;
    char msg[512];
};

void chk_init(struct chk *c);
void chk_free(struct chk *c);

/* Prefix hash of the entry at (term, ehash) after a prefix hash PREV. */
uint64_t chk_phash_next(uint64_t prev, uint64_t term, uint64_t ehash);

/* Election Safety: at most one leader per term. */
int chk_leader(struct chk *c, uint64_t term, uint64_t id);

/* Log Matching: every (index, term) that ever left a node's memory (sent
 * in an APPEND or made durable) has one prefix. chk_pair records and
 * compares; chk_pair_match only compares (an entry still private to one
 * node's memory may vanish in a crash, and its term be reused safely). */
int chk_pair(struct chk *c, uint64_t index, uint64_t term, uint64_t phash);
int chk_pair_match(struct chk *c, uint64_t index, uint64_t term,
                   uint64_t phash);

/* A node reports INDEX committed while in term SEEN_TERM; its log holds
 * (term, ehash, phash) there. Committed entries never change. */
int chk_commit(struct chk *c, uint64_t index, uint64_t term, uint64_t ehash,
               uint64_t phash, uint64_t seen_term);

/* A node installed a snapshot at (index, term) holding FSM state hash
 * STATE: it must describe the committed prefix. */
int chk_snapshot(struct chk *c, uint64_t index, uint64_t term, uint64_t state);

/* State Machine Safety: after applying INDEX a node's FSM state hash is
 * STATE; the first applier defines it, every other must agree. */
int chk_applied(struct chk *c, uint64_t index, uint64_t term, uint64_t ehash,
                uint64_t state);

/* Leader Completeness: the highest index committed in a term before TERM
 * (0 when none), with its prefix hash in *phash. A new leader of TERM must
 * hold exactly that prefix. */
uint64_t chk_required(const struct chk *c, uint64_t term, uint64_t *phash);

/* Lookup of a committed index: 1 and the record, or 0 when not known. */
int chk_get(const struct chk *c, uint64_t index, struct chk_commit *out);

/* Forced recovery on a survivor whose log matches the committed history up
 * to KEEP: the history above KEEP is deliberately given up (the operator
 * accepted losing what only the dead tie-breaker had). */
void chk_fork(struct chk *c, uint64_t keep);
/* Forget every (index, term) pair: after a fork the caller re-registers the
 * logs of the nodes that survive it (what the lost ones held is gone). */
void chk_pairs_reset(struct chk *c);

/* --- per-node shadow log: hashes of a node's in-memory log --------------- */

struct chk_log {
    uint64_t base_index, base_term, base_phash; /* snapshot / compaction */
    uint64_t last;         /* last index; base_index when empty */
    uint64_t *term;        /* by (index - base_index - 1) */
    uint64_t *ehash;
    uint64_t *phash;
    uint64_t cap;
};

void chk_log_init(struct chk_log *l);
void chk_log_free(struct chk_log *l);
/* Reset to an empty log after (index, term) with prefix hash phash. */
void chk_log_reset(struct chk_log *l, uint64_t index, uint64_t term,
                   uint64_t phash);
/* Drop entries >= from (from > base_index). */
void chk_log_truncate(struct chk_log *l, uint64_t from);
/* Append the entry at last + 1; returns its prefix hash. */
uint64_t chk_log_append(struct chk_log *l, uint64_t term, uint64_t ehash);
/* Drop entries <= upto (upto <= last), keeping their successor's context. */
void chk_log_compact(struct chk_log *l, uint64_t upto);
/* 1 and the (term, ehash, phash) at index if base_index <= index <= last
 * (at base_index: ehash 0), else 0. */
int chk_log_get(const struct chk_log *l, uint64_t index, uint64_t *term,
                uint64_t *ehash, uint64_t *phash);

#endif
