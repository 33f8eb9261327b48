/* log.h: the node's durable store: the Raft log, the hard state, snapshot
 * metadata and the FSM's state, in one LMDB environment.
 *
 * This header is the contract. Only src/log includes LMDB; nothing here
 * exposes an LMDB type. All functions return 0 or a negative enum pm_err
 * code (base/err.h). The store is used from one thread (beside the thread
 * of its own that log_write_unflushed's flushes run on).
 *
 * Durability: log_write() makes everything it is given durable at once.
 * A batch that only truncates, appends entries and sets the hard state is
 * one record in the store's journal, flushed with one fdatasync; any other
 * batch goes, together with what the journal holds, into ONE LMDB write
 * transaction with LMDB's default durability (data pages synced, then the
 * meta page), after which the journal starts over. When log_write returns
 * 0, all of it survives a crash; when it returns an error, none of it was
 * written and the store is still usable. This is the group commit: the
 * node gathers everything ready in one event-loop turn (new entries, a
 * truncation, the term and vote, applied FSM state) into one struct
 * log_batch. Journaled entries are also kept in memory until they reach
 * LMDB, which the next batch with FSM state does (the node writes one at
 * least every few tens of milliseconds under load), or a record that would
 * take the journal past journal_bytes_max.
 *
 * Integrity: every entry is stored with a CRC32C over its index, term, type
 * and payload, every FSM state value with a CRC32C over its key and value,
 * and every meta record (hard state, base, applied, snapshot) with one over
 * its name and body; every read checks them and reports -PM_ECORRUPT
 * instead of data.
 *
 * Indexes: the log holds the contiguous range [first, last]. Entries at or
 * below the compaction point `base` are gone; base's term is kept so that the
 * Raft consistency check on the entry after it still works. An empty log has
 * first == base + 1 and last == base.
 */
#ifndef PM_LOG_H
#define PM_LOG_H

#include <stddef.h>
#include <stdint.h>

#include "base/entry.h"

struct log; /* opaque */

struct log_options {
    uint64_t map_bytes_initial; /* 0: default (64 MiB); grows when full;
                                   values under 64 KiB are raised to it */
    uint64_t map_bytes_max;     /* 0: default (64 GiB) */
    int verify_skip;            /* 1: skip log_open's full check of an
                                   existing store (benchmarks only; the
                                   node never sets it). See log_open. */
    int journal_off;            /* 1: every batch is an LMDB commit (no
                                   journal; benchmarks and tests). A store
                                   with journal records must not be opened
                                   so: they would be ignored */
    uint64_t journal_bytes_max; /* 0: default (4 MiB), the journal file's
                                   size, reserved when it is created (an
                                   existing smaller file is grown) */
    uint64_t journal_record_max;/* 0: default (256 KiB): a batch whose
                                   record would be larger goes to LMDB */
};

/* Raft's persistent state (Figure 2: currentTerm, votedFor) plus commit. */
struct log_hard_state {
    uint64_t term;
    uint64_t vote;   /* node id voted for in `term`; 0 = none */
    uint64_t commit; /* highest index known committed (may lag) */
};

/* One FSM state mutation. val == NULL deletes the key. */
struct log_kv {
    const void *key;
    uint32_t key_len;
    const void *val;
    uint32_t val_len;
};

/* Metadata of the latest snapshot. `config` is the membership at `index`
 * (bytes encoded by src/raft, opaque here). */
struct log_snapshot_meta {
    uint64_t index;
    uint64_t term;
    const uint8_t *config;
    uint32_t config_len;
};

/* Everything one write transaction applies, in this order:
 *   1. truncate_from: delete entries with index >= truncate_from (0: none);
 *   2. entries: append n_entries entries; the first must be last + 1 (after
 *      step 1) and the rest contiguous;
 *   3. hard_state: replace (NULL: unchanged);
 *   4. state_clear: delete every FSM state key (installing a snapshot);
 *      state: put/delete n_state keys; applied: the FSM's applied index
 *      (0: unchanged), stored with the state it describes;
 *   5. snapshot: replace the snapshot metadata (NULL: unchanged);
 *   6. compact_index/compact_term: delete entries <= compact_index and make
 *      (compact_index, compact_term) the new base (0: none). compact_index
 *      may exceed last (a follower installing a snapshot): the log is then
 *      empty after it, with first = compact_index + 1. If the entry at
 *      compact_index exists (after steps 1-2) with a different term, the
 *      entries after it are deleted too (Raft §7: they belong to a divergent
 *      history), leaving an empty log at the new base. compact_index ==
 *      base with base's term is a no-op.
 * Pointers are borrowed for the duration of the call. */
struct log_batch {
    uint64_t truncate_from;
    const struct pm_entry *entries;
    size_t n_entries;
    const struct log_hard_state *hard_state;
    int state_clear;
    const struct log_kv *state;
    size_t n_state;
    uint64_t applied;
    const struct log_snapshot_meta *snapshot;
    uint64_t compact_index;
    uint64_t compact_term;
};

/* Entries read back. One allocation holds the array and the payloads;
 * log_entries_free() releases it. */
struct log_entries {
    struct pm_entry *entries;
    size_t n;
    void *mem; /* private */
};

/* Open (creating if absent) the store in directory DIR (created mode 0700).
 * OPT may be NULL (defaults). On success *OUT is the handle; release it with
 * log_close(). A store is created only where none exists (no data file, or
 * one whose creation never committed); a store with data is never
 * completed with empty tables.
 *
 * An existing store is checked whole before this process maps any of it:
 * LMDB has no page checksums and trusts every page it reads, so a damaged
 * page could otherwise crash the caller (or a later commit overwrite live
 * data through a damaged free list). A forked child checks LMDB's meta
 * pages, every page of every table and of the free list, and every entry,
 * state and meta record's CRC (src/log/verify.c has the list); if it
 * finds damage, or crashes or hangs on the file, log_open returns
 * -PM_ECORRUPT after logging one "store damaged: ..." line, and this
 * process never touched the damaged pages. The cost is about 1 ms per MB
 * of store with the file cached, plus a fork (docs/reliability.md); it
 * bounds the store a node opens, which holds the log since its last
 * compaction plus the FSM state. Damage that appears while the store is
 * open is found by the record checks on read only. OPT->verify_skip turns
 * the check off (micro-benchmarks; never the node).
 *
 * Errors: -PM_ECORRUPT if the store is damaged ("store damaged": a page
 * LMDB would misread, a table or the format record missing, a record
 * failing its checksum, a meta record unknown, a gap or a mismatch between
 * the stored range and the compaction point, a truncated or empty data
 * file); -PM_EVERSION for a store of another format (older
 * formats are not converted); -PM_EBUSY if DIR is already open (in this or
 * another process: one handle per directory); -PM_EINVAL if map_bytes_max
 * < map_bytes_initial; errno-derived codes otherwise. */
int log_open(const char *dir, const struct log_options *opt, struct log **out);
void log_close(struct log *log); /* NULL is fine */

/* Group commit; see struct log_batch and Durability above. Returns 0 only
 * after the batch is durable (the journal record flushed, or
 * mdb_txn_commit returned). Errors, after which nothing of the
 * batch was written and the handle (bounds, hard state, applied) is
 * unchanged and still usable:
 *   -PM_EINVAL  the batch breaks contiguity (first entry != last + 1 after
 *               truncation, or a gap inside), truncate_from <= base,
 *               compact_index < base (or == base with a different term),
 *               a NULL pointer with a non-zero length, an empty state key;
 *   -PM_ETOOBIG a state key over LMDB's key limit (511 bytes), or a batch
 *               too large for one transaction;
 *   -PM_ENOSPC  the disk is full, or the map reached map_bytes_max;
 *   -PM_ECORRUPT the stored log is damaged where the batch touches it;
 *   -PM_EIO     other I/O failures. If LMDB reports a failed meta-page write
 *               (it then refuses all further writes with -PM_EIO), a
 *               journal flush failed (the same), or the map could not be
 *               remapped (reads fail with -PM_EIO too), close and reopen
 *               the store; the last write may or may not be durable.
 * The map grows by itself (doubling, up to map_bytes_max) when LMDB's map
 * is full; the batch is then retried transparently. truncate_from > last is
 * a no-op. A full disk or map meets a journaled batch later, at the LMDB
 * commit that takes it in: that commit's batch fails with -PM_ENOSPC, the
 * journaled entries stay readable and durable, and a commit after room
 * returns takes them in (as does the next log_open). */
int log_write(struct log *log, const struct log_batch *batch);

/* log_write, except that a batch written as one journal record is not yet
 * flushed when this returns 0: the store's flushing thread does it while
 * the caller goes on (the leader's hot path: its loop takes the
 * followers' acknowledgements meanwhile). Until log_flushed() returns 1
 * the batch may be lost in a crash, whole (never half: the record's CRC);
 * its entries read back at once. The next write of any kind, and
 * log_close, first wait for that flush, so records still become durable
 * in order, one at a time. A batch that goes to LMDB is durable on
 * return, as with log_write. Errors as log_write's. */
int log_write_unflushed(struct log *log, const struct log_batch *b);

/* Whether every batch written is durable: 1 yes, 0 a flush is running,
 * -PM_EIO it failed (the store then refuses writes until reopened, as
 * after a failed flush in log_write). Never blocks. */
int log_flushed(struct log *log);

/* FN(CTX) is called from the flushing thread each time a flush ends (to
 * wake the caller's loop: it must be safe from another thread). NULL FN:
 * none. When this returns, the FN set before is not running and will not
 * be called again. */
void log_set_flush_notify(struct log *log, void (*fn)(void *ctx), void *ctx);

/* Whether log_write(BATCH) would write it as one journal record (one page
 * write and one fdatasync) rather than as an LMDB commit: it only
 * truncates, appends and sets the hard state, and it fits in one record
 * and in what is left of the journal. Never fails; reads nothing. */
int log_write_journals(const struct log *log, const struct log_batch *batch);

/* Range bounds (see the file comment). Never fail. */
uint64_t log_first_index(const struct log *log);
uint64_t log_last_index(const struct log *log);
uint64_t log_base_index(const struct log *log);

/* Term of entry INDEX, or of base when INDEX == base.
 * -PM_ECOMPACTED below base, -PM_ERANGE above last, -PM_ECORRUPT. */
int log_term_at(struct log *log, uint64_t index, uint64_t *term);

/* Read entries from LO on, at most MAX_COUNT entries and at most MAX_BYTES
 * of payload, except that the first entry is always returned if LO exists
 * (so MAX_COUNT 0 reads one entry; pass SIZE_MAX for no limit).
 * On success OUT holds n >= 1 entries in index order; their data pointers
 * point into OUT's single allocation (NULL for an empty payload) and stay
 * valid until log_entries_free(OUT). -PM_ECOMPACTED if LO <= base,
 * -PM_ERANGE if LO > last, -PM_ECORRUPT if any entry read fails its
 * checksum or is missing (nothing is returned then: OUT is zeroed on any
 * error, and log_entries_free() on it is harmless). */
int log_read(struct log *log, uint64_t lo, size_t max_count, size_t max_bytes,
             struct log_entries *out);
void log_entries_free(struct log_entries *e);

/* The last hard state written (all zero if none). O(1): cached. */
int log_hard_state(struct log *log, struct log_hard_state *out);

/* Snapshot metadata; -PM_ENOTFOUND if none. *config is malloc'd (caller
 * frees) and may be NULL when config_len is 0; out->config == *config. */
int log_snapshot_meta(struct log *log, struct log_snapshot_meta *out,
                      uint8_t **config);

/* FSM state. log_state_get copies the value into a malloc'd buffer (caller
 * frees; never NULL on success, even for an empty value); -PM_ENOTFOUND if
 * absent. log_state_scan calls FN for every key in byte order (stops and
 * returns FN's value if it is non-zero); KEY and VAL point into the store
 * and are valid only during the call; FN must not call log_write(). Both
 * check each record's CRC32C and return -PM_ECORRUPT for a damaged one
 * (log_state_scan stops there, after FN saw the records before it; it also
 * reports -PM_ECORRUPT when fewer records are readable than stored). */
int log_state_get(struct log *log, const void *key, uint32_t key_len,
                  void **val, uint32_t *val_len);
int log_state_scan(struct log *log,
                   int (*fn)(void *ctx, const void *key, uint32_t key_len,
                             const void *val, uint32_t val_len),
                   void *ctx);
uint64_t log_applied(const struct log *log);

/* For tests only: make the Nth log_write() from now (counting calls that
 * pass validation; 1 = the next one) fail with ERR (negative pm_err;
 * 0 means -PM_EIO) after doing all its work but aborting instead of
 * committing; NTH 0 disables. */
void log_test_fail_commit(struct log *log, int nth, int err);

/* CRC32C (Castagnoli, as in iSCSI/ext4: reflected, init and final xor
 * 0xFFFFFFFF; crc32c("123456789") == 0xE3069283), the checksum of every
 * stored entry. Exposed so that tests and tools can check stored bytes. */
uint32_t log_crc32c(const void *buf, size_t len);

#endif
