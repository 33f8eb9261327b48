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
 *   "state" key: the FSM's key, verbatim; value: CRC32C (4 bytes,
 *           big-endian, over key || FSM value) then the FSM's value.
 *
 * Format history: 1 stored FSM state values without a checksum, so a
 * damaged value was served as data; 2 adds the state CRC. A store of
 * another format is refused (-PM_EVERSION): there is no conversion.
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

#define LOG__FORMAT 2u
#define LOG__HDR_BYTES 16u
#define LOG__KEY_BYTES 8u
#define LOG__META_CRC_BYTES 4u
#define LOG__STATE_CRC_BYTES 4u
/* Upper bound on map doublings in one log_write(): 2^40 growth is more
 * than any map_bytes_max can ask for, so the retry loop is bounded. */
#define LOG__GROW_TRIES_MAX 40

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

/* --- verify.c ------------------------------------------------------------ */
/* Check the existing store in DIR (its data.mdb) in a forked child before
 * this process maps it: LMDB's structure (meta pages, every page of every
 * tree, the free list) and every record's CRC (verify.c says exactly what).
 * 0 if sound; -PM_ECORRUPT, with a "store damaged: ..." line logged, if
 * anything is damaged or the check crashed or hung on it; -PM_EIO or an
 * errno code if it could not run. */
int log__verify(const char *dir);

#endif
