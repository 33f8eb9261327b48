/* log_impl.h: internals of src/log shared by its files (not a contract for
 * other modules; names carry the log__ prefix).
 *
 * On-disk layout (one LMDB environment, three named databases):
 *
 *   "log"   key: index, 8 bytes big-endian (so the default byte-wise
 *                comparator keeps index order and MDB_APPEND applies)
 *           value: a 16-byte header then the payload
 *                [0,4)  CRC32C, big-endian, over key (8 bytes) || value[4..]
 *                [4]    type
 *                [5,8)  zero (reserved; covered by the CRC)
 *                [8,16) term, big-endian
 *   "meta"  key: a short name; value: CRC32C (4 bytes, big-endian, over
 *           name || body) then a fixed body:
 *                "format"  u32 version (LOG__FORMAT)
 *                "hard"    term, vote, commit (3 x u64)
 *                "base"    base index, base term (2 x u64)
 *                "applied" u64
 *                "snap"    index, term (2 x u64), config_len (u32), config
 *                "journal" u64: sequence number of the next journal record
 *                          (the records before it are in these tables)
 *   "state" key: the FSM's key, verbatim; value: CRC32C (4 bytes,
 *           big-endian, over key || FSM value) then the FSM's value.
 *
 * Beside data.mdb, the file "journal" holds batches written since the last
 * LMDB commit (journal.c describes its records).
 *
 * Format history: 1 stored FSM state values without a checksum, so a
 * damaged value was served as data; 2 adds the state CRC; 3 adds the
 * journal. A format-2 store is a format-3 store with an empty journal and
 * is stamped 3 when opened (so that a build without the journal refuses it
 * from then on); any other format is refused (-PM_EVERSION).
 *
 * A new store versus a damaged one: the "format" record is the creation
 * marker. It is written in the transaction that creates the three tables,
 * so a store whose environment has pages in use always names the three
 * tables in LMDB's main database and holds a valid "format" record; if
 * anything of that is missing or unreadable the store is damaged (a torn
 * page), and log_open() refuses it rather than create empty tables, which
 * would start the node with term 0 and no log.
 *
 * All integers on disk are big-endian so that a file can be inspected (and
 * a future port read it) without guessing the writer's byte order.
 */
#ifndef PM_LOG_IMPL_H
#define PM_LOG_IMPL_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "log/log.h"

#define LOG__FORMAT 3u
#define LOG__FORMAT_OLDEST 2u /* the oldest format opened (and upgraded) */
#define LOG__HDR_BYTES 16u
#define LOG__KEY_BYTES 8u
#define LOG__META_CRC_BYTES 4u
#define LOG__STATE_CRC_BYTES 4u
/* Upper bound on map doublings in one log_write(): 2^40 growth is more
 * than any map_bytes_max can ask for, so the retry loop is bounded. */
#define LOG__GROW_TRIES_MAX 40

/* One entry of the journal's in-memory tail; its payload is at `off` in
 * the tail's arena (offsets, not pointers: the arena moves as it grows). */
struct log__tail_entry {
    uint64_t term;
    size_t off;
    uint32_t len;
    uint8_t type;
};

/* The journal (journal.c) and the tail: the entries and hard state it
 * holds that LMDB does not have yet. The tail is the last n entries of the
 * log, [last - n + 1, last]; LMDB entries at or after that first index are
 * stale (a journaled truncation) and go at the next LMDB commit. */
struct log__journal {
    int fd;                  /* -1: no journal; every batch goes to LMDB */
    int failed;              /* a record's write or flush failed: refuse
                                writes until reopened (its fate unknown) */
    uint64_t seq;            /* sequence number of the next record */
    uint64_t off;            /* where it goes; 0 after every LMDB commit */
    uint64_t bytes_max;      /* a record that would end past this goes to
                                LMDB (with the tail) instead */
    uint64_t record_max;     /* and so does a record larger than this */
    struct log__tail_entry *te;
    size_t n, cap;
    uint8_t *arena;          /* tail payloads, in index order */
    size_t used, acap;
    int hard_pending;        /* log->hard is newer than LMDB's */
    uint8_t *wbuf;           /* one record, encoded (reused) */
    size_t wcap;
    struct pm_entry *merged; /* tail + batch for the LMDB commit (reused) */
    size_t mcap;
    /* The background flush (flush.c): started at the first
     * log_write_unflushed(). */
    struct log__flusher *flusher;
    void (*flush_notify)(void *ctx);
    void *flush_ctx;
};

struct log {
    MDB_env *env;
    MDB_dbi dbi_log;
    MDB_dbi dbi_meta;
    MDB_dbi dbi_state;
    MDB_txn *rtxn;           /* reusable read-only txn (reset when idle) */
    int owner_fd;            /* flock'ed: one owner per directory */
    char *dir;

    /* Cached bounds and small records: the source of truth is the
     * database, these change only after a successful commit. */
    uint64_t base;           /* compaction point; first = base + 1 */
    uint64_t base_term;
    uint64_t last;           /* last index; == base when empty */
    uint64_t lmdb_last;      /* the last index in LMDB's table (>= last -
                                journal.n; more when a journaled truncation
                                has not reached LMDB yet) */
    uint64_t applied;
    struct log_hard_state hard;

    uint64_t map_bytes;      /* current map size */
    uint64_t map_bytes_max;
    unsigned key_bytes_max;  /* LMDB's key size limit (state keys) */

    /* Set when a failed map resize left LMDB without a mapping: every
     * later call that would touch the map returns -PM_EIO. */
    int broken;

    /* Fault injection (log_test_fail_commit). */
    int fail_countdown;
    int fail_err;

    struct log__journal j;
};

/* --- codec.c: byte order, CRC, record encoding --------------------------- */
static inline void log__put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static inline uint64_t log__get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static inline void log__put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t log__get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

/* Incremental CRC32C: state = log__crc_begin(); state = log__crc_add(...);
 * crc = log__crc_end(state). */
uint32_t log__crc_add(uint32_t state, const void *buf, size_t len);
static inline uint32_t log__crc_begin(void) { return 0xFFFFFFFFu; }
static inline uint32_t log__crc_end(uint32_t state) { return ~state; }

/* Fill a reserved entry value (LOG__HDR_BYTES + e->len bytes at VAL) for
 * entry E, CRC included. */
void log__entry_encode(const struct pm_entry *e, uint8_t *val);

/* Check the stored value of entry INDEX; on success fill *term, *type and
 * the payload view (pointing into VAL). -PM_ECORRUPT if it is too short or
 * its CRC does not match. */
int log__entry_decode(uint64_t index, const void *val, size_t val_len,
                      uint64_t *term, uint8_t *type, const uint8_t **payload,
                      uint32_t *len);

/* Meta records: REC holds LOG__META_CRC_BYTES then BODY_LEN body bytes,
 * already in place; seal writes the CRC in front. Decode checks the CRC and
 * returns the body view. */
void log__meta_seal(const char *name, uint8_t *rec, size_t body_len);
int log__meta_decode(const char *name, const void *val, size_t val_len,
                     const uint8_t **body, size_t *body_len);

/* The meta records a store may hold (the list at the top of this file):
 * the name of the one whose key is KEY (KEY_LEN bytes) and its body size
 * (*SIZE 0: "snap", whose config_len gives its size), or NULL for a key no
 * store writes. Both the open's check (env.c) and verify.c use it. */
const char *log__meta_known(const void *key, size_t key_len, size_t *size);

/* Whether a store of FORMAT can be opened (it may need an upgrade). */
static inline int log__format_readable(uint32_t format)
{
    return format >= LOG__FORMAT_OLDEST && format <= LOG__FORMAT;
}

/* State records: REC holds LOG__STATE_CRC_BYTES then VAL_LEN value bytes,
 * already in place; seal writes the CRC (over KEY and the value) in front.
 * Decode checks it and returns the value view (pointing into REC);
 * -PM_ECORRUPT if REC is too short or the CRC does not match. */
void log__state_seal(const void *key, size_t key_len, uint8_t *rec,
                     size_t val_len);
int log__state_decode(const void *key, size_t key_len, const void *rec,
                      size_t rec_len, const uint8_t **val, size_t *val_len);

/* --- env.c --------------------------------------------------------------- */
/* Translate an LMDB or errno code to a negative pm_err. */
int log__err(int rc);

/* Double the map (up to map_bytes_max). -PM_ENOSPC when already at max. */
int log__grow(struct log *log);

/* Write meta record NAME (REC: LOG__META_CRC_BYTES then BODY_LEN body
 * bytes) in TXN, sealing it first. Returns an LMDB code. (write.c) */
int log__put_meta(MDB_txn *txn, struct log *log, const char *name,
                  uint8_t *rec, size_t body_len);

/* fsync() the directory DIR (env.c). */
int log__fsync_dir(const char *dir);

/* DIR/NAME in a malloc'd string (caller frees); NULL without memory
 * (env.c). */
char *log__path_join(const char *dir, const char *name);

/* Make the array at *P (of *CAP elements of SIZE bytes) hold at least
 * NEED, doubling; -PM_ENOMEM leaves it as it was (journal.c). */
int log__grow_array(void **p, size_t *cap, size_t need, size_t size);

/* --- journal.c ----------------------------------------------------------- */
/* Open DIR/journal (creating it empty), replay the records LMDB lacks into
 * the tail and commit them to LMDB. -PM_ECORRUPT if a record in the middle
 * is damaged (a later one is intact); a torn last record is dropped (its
 * write was never acknowledged). Needs the bounds and j.seq loaded. */
int log__journal_open(struct log *log, uint64_t bytes_max,
                      uint64_t record_max);
void log__journal_close(struct log *log);

/* If batch B can go to the journal as one record (it only truncates,
 * appends and sets the hard state, and fits): the record's size in bytes,
 * without padding; else 0. */
size_t log__journal_fits(const struct log *log, const struct log_batch *b);

/* Write B (validated by log_write; NEED from log__journal_fits) as one
 * record, flush it (UNFLUSHED: have the flushing thread do it, whose
 * failure then shows at the next write or log_flushed), and apply it to
 * the tail and the cached bounds. On error nothing in memory changed;
 * -PM_ENOSPC leaves the journal usable (the caller commits to LMDB
 * instead, which starts the journal over). */
int log__journal_append(struct log *log, const struct log_batch *b,
                        size_t need, int unflushed);

/* --- flush.c -------------------------------------------------------------- */
/* Have the flushing thread fdatasync the journal (started if need be).
 * -PM_ENOMEM if no thread could be started (nothing was asked then). */
int log__flush_start(struct log *log);
/* Wait for a flush in progress: 0, or -PM_EIO if it failed (the store has
 * failed then: j->failed). Every write calls it before writing. */
int log__flush_wait(struct log *log);
/* Stop the thread (after the flush it may be doing). */
void log__flush_stop(struct log *log);

/* A journal flush failed with errno ERR (inline, or on the flushing
 * thread): the store fails (j->failed, one line said); -PM_EIO. */
int log__journal_flush_failed(struct log *log, int err);

/* After an LMDB commit that took in the whole tail: start over. */
void log__journal_committed(struct log *log);

/* The tail's first index (last + 1 when it is empty). */
static inline uint64_t log__tail_lo(const struct log *log)
{
    return log->last - log->j.n + 1;
}

/* The tail entry at INDEX (log__tail_lo <= INDEX <= last). */
static inline struct pm_entry log__tail_entry(const struct log *log,
                                              uint64_t index)
{
    const struct log__tail_entry *t = &log->j.te[index - log__tail_lo(log)];
    struct pm_entry e = {index, t->term, t->type,
                         t->len ? log->j.arena + t->off : NULL, t->len};
    return e;
}

/* --- verify.c ------------------------------------------------------------ */
/* Check the existing store in DIR (its data.mdb) in a forked child before
 * this process maps it: LMDB's structure (meta pages, every page of every
 * tree, the free list) and every record's CRC (verify.c says exactly what).
 * 0 if sound; -PM_ECORRUPT, with a "store damaged: ..." line logged, if
 * anything is damaged or the check crashed or hung on it; -PM_EIO or an
 * errno code if it could not run. */
int log__verify(const char *dir);

#endif
