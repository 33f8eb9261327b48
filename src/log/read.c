/* read.c: reading entries (every one CRC-checked), bounds, the hard state,
 * snapshot metadata and the FSM state. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/say.h"
#include "log/log_impl.h"

/* Reads reuse one read-only transaction handle (reset between calls, renewed
 * on use) so that a read costs no allocation. The store is single-threaded,
 * so one handle is enough. */
static int read_begin(struct log *log, MDB_txn **txn)
{
    int rc;
    if (log->broken)
        return -PM_EIO;
    if (log->rtxn) {
        rc = mdb_txn_renew(log->rtxn);
    } else {
        rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, &log->rtxn);
        if (rc != 0)
            log->rtxn = NULL;
    }
    *txn = log->rtxn;
    return log__err(rc);
}

static void read_end(struct log *log)
{
    mdb_txn_reset(log->rtxn);
}

uint64_t log_first_index(const struct log *log) { return log->base + 1; }
uint64_t log_last_index(const struct log *log) { return log->last; }
uint64_t log_base_index(const struct log *log) { return log->base; }
uint64_t log_applied(const struct log *log) { return log->applied; }

static int corrupt_entry(const struct log *log, uint64_t index)
{
    pm_say(PM_ERROR, "log", "%s: entry %llu fails its checksum or is malformed",
           log->dir, (unsigned long long)index);
    return -PM_ECORRUPT;
}

int log_term_at(struct log *log, uint64_t index, uint64_t *term)
{
    if (!log || !term)
        return -PM_EINVAL;
    if (index == log->base) {
        *term = log->base_term;
        return 0;
    }
    if (index < log->base)
        return -PM_ECOMPACTED;
    if (index > log->last)
        return -PM_ERANGE;
    if (index >= log__tail_lo(log) && !log->broken) {
        *term = log->j.te[index - log__tail_lo(log)].term;
        return 0;
    }
    MDB_txn *txn;
    int rc = read_begin(log, &txn);
    if (rc != 0)
        return rc;
    uint8_t key[LOG__KEY_BYTES];
    log__put_be64(key, index);
    MDB_val k = {sizeof key, key}, v;
    int mrc = mdb_get(txn, log->dbi_log, &k, &v);
    if (mrc == 0) {
        uint8_t type;
        const uint8_t *payload;
        uint32_t len;
        rc = log__entry_decode(index, v.mv_data, v.mv_size, term, &type,
                               &payload, &len);
        if (rc != 0)
            rc = corrupt_entry(log, index);
    } else {
        /* Inside [first, last] every index exists: a miss is damage. */
        rc = mrc == MDB_NOTFOUND ? corrupt_entry(log, index) : log__err(mrc);
    }
    read_end(log);
    return rc;
}

/* log_read's part for entries still in the journal's tail (memory). */
static int read_tail(struct log *log, uint64_t lo, size_t max_count,
                     size_t max_bytes, struct log_entries *out)
{
    uint64_t avail = log->last - lo + 1;
    size_t n_max = max_count == 0 ? 1 : max_count, n = 0, bytes = 0;
    if ((uint64_t)n_max > avail)
        n_max = (size_t)avail;
    const struct log__tail_entry *t = &log->j.te[lo - log__tail_lo(log)];
    for (; n < n_max; n++) {
        size_t len = t[n].len;
        if (n > 0 && (len > max_bytes || bytes > max_bytes - len))
            break;
        bytes += len;
    }
    size_t array = n * sizeof(struct pm_entry);
    uint8_t *mem = malloc(array + bytes);
    if (!mem)
        return -PM_ENOMEM;
    struct pm_entry *es = (struct pm_entry *)mem;
    uint8_t *dst = mem + array;
    for (size_t i = 0; i < n; i++) {
        es[i] = log__tail_entry(log, lo + i);
        if (es[i].len)
            es[i].data = memcpy(dst, es[i].data, es[i].len);
        dst += es[i].len;
    }
    out->entries = es;
    out->n = n;
    out->mem = mem;
    return 0;
}

int log_read(struct log *log, uint64_t lo, size_t max_count, size_t max_bytes,
             struct log_entries *out)
{
    if (!log || !out)
        return -PM_EINVAL;
    memset(out, 0, sizeof *out);
    if (lo <= log->base)
        return -PM_ECOMPACTED;
    if (lo > log->last)
        return -PM_ERANGE;
    if (lo >= log__tail_lo(log) && !log->broken)
        return read_tail(log, lo, max_count, max_bytes, out);
    /* LMDB's part only (a read never spans both: "at most"). */
    uint64_t avail = log__tail_lo(log) - lo;
    size_t n_max = max_count == 0 ? 1 : max_count;
    if ((uint64_t)n_max > avail)
        n_max = (size_t)avail;

    MDB_txn *txn;
    MDB_cursor *cur = NULL;
    int rc = read_begin(log, &txn);
    if (rc != 0)
        return rc;
    if ((rc = log__err(mdb_cursor_open(txn, log->dbi_log, &cur))) != 0)
        goto out;

    /* Pass 1: how many entries fit and how much payload they hold, so that
     * one allocation serves the whole batch. */
    uint8_t key[LOG__KEY_BYTES];
    log__put_be64(key, lo);
    MDB_val k = {sizeof key, key}, v;
    size_t n = 0, bytes = 0;
    int mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    while (mrc == 0 && n < n_max) {
        if (k.mv_size != LOG__KEY_BYTES || log__get_be64(k.mv_data) != lo + n ||
            v.mv_size < LOG__HDR_BYTES) {
            rc = corrupt_entry(log, lo + n);
            goto out;
        }
        size_t len = v.mv_size - LOG__HDR_BYTES;
        if (n > 0 && (len > max_bytes || bytes > max_bytes - len))
            break;
        bytes += len;
        n++;
        if (n < n_max)
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (mrc != 0) {
        rc = mrc == MDB_NOTFOUND ? corrupt_entry(log, lo + n) : log__err(mrc);
        goto out;
    }

    size_t array = n * sizeof(struct pm_entry);
    uint8_t *mem = malloc(array + bytes);
    if (!mem) {
        rc = -PM_ENOMEM;
        goto out;
    }
    struct pm_entry *es = (struct pm_entry *)mem;
    uint8_t *dst = mem + array;
    k.mv_size = sizeof key;
    k.mv_data = key;
    mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        const uint8_t *payload;
        if (mrc != 0 ||
            log__entry_decode(lo + i, v.mv_data, v.mv_size, &es[i].term,
                              &es[i].type, &payload, &es[i].len) != 0) {
            free(mem);
            rc = mrc != 0 && mrc != MDB_NOTFOUND ? log__err(mrc)
                                                 : corrupt_entry(log, lo + i);
            goto out;
        }
        es[i].index = lo + i;
        es[i].data = es[i].len ? dst : NULL;
        if (es[i].len)
            memcpy(dst, payload, es[i].len);
        dst += es[i].len;
    }
    assert(n >= 1 && dst == mem + array + bytes); /* pass 2 saw pass 1's data */
    out->entries = es;
    out->n = n;
    out->mem = mem;
    rc = 0;
out:
    if (cur)
        mdb_cursor_close(cur);
    read_end(log);
    return rc;
}

void log_entries_free(struct log_entries *e)
{
    if (!e)
        return;
    free(e->mem);
    memset(e, 0, sizeof *e);
}

int log_hard_state(struct log *log, struct log_hard_state *out)
{
    if (!log || !out)
        return -PM_EINVAL;
    *out = log->hard;
    return 0;
}

int log_snapshot_meta(struct log *log, struct log_snapshot_meta *out,
                      uint8_t **config)
{
    if (!log || !out || !config)
        return -PM_EINVAL;
    memset(out, 0, sizeof *out);
    *config = NULL;
    MDB_txn *txn;
    int rc = read_begin(log, &txn);
    if (rc != 0)
        return rc;
    MDB_val k = {4, "snap"}, v;
    const uint8_t *body;
    size_t len;
    rc = log__err(mdb_get(txn, log->dbi_meta, &k, &v));
    if (rc == 0)
        rc = log__meta_decode("snap", v.mv_data, v.mv_size, &body, &len);
    if (rc == 0 && (len < 20 || len - 20 != log__get_be32(body + 16)))
        rc = -PM_ECORRUPT;
    if (rc == 0) {
        out->index = log__get_be64(body);
        out->term = log__get_be64(body + 8);
        out->config_len = log__get_be32(body + 16);
        if (out->config_len) {
            *config = malloc(out->config_len);
            if (*config)
                memcpy(*config, body + 20, out->config_len);
            else
                rc = -PM_ENOMEM;
        }
        out->config = *config;
    }
    if (rc == -PM_ECORRUPT)
        pm_say(PM_ERROR, "log", "%s: snapshot metadata is damaged", log->dir);
    read_end(log);
    if (rc != 0)
        memset(out, 0, sizeof *out);
    return rc;
}

/* The key is FSM data (maybe binary): only its length is named. */
static int corrupt_state(const struct log *log, size_t key_len)
{
    pm_say(PM_ERROR, "log", "%s: an FSM state record (%zu-byte key) fails "
           "its checksum or is malformed", log->dir, key_len);
    return -PM_ECORRUPT;
}

int log_state_get(struct log *log, const void *key, uint32_t key_len,
                  void **val, uint32_t *val_len)
{
    if (!log || !key || key_len == 0 || !val || !val_len)
        return -PM_EINVAL;
    *val = NULL;
    *val_len = 0;
    if (key_len > log->key_bytes_max)
        return -PM_ENOTFOUND; /* cannot have been stored */
    MDB_txn *txn;
    int rc = read_begin(log, &txn);
    if (rc != 0)
        return rc;
    MDB_val k = {key_len, (void *)key}, v;
    const uint8_t *body = NULL;
    size_t len = 0;
    rc = log__err(mdb_get(txn, log->dbi_state, &k, &v));
    if (rc == 0 && log__state_decode(key, key_len, v.mv_data, v.mv_size,
                                     &body, &len) != 0)
        rc = corrupt_state(log, key_len);
    if (rc == 0) {
        /* Never NULL on success, even for an empty value. */
        *val = malloc(len ? len : 1);
        if (*val) {
            if (len)
                memcpy(*val, body, len);
            *val_len = (uint32_t)len;
        } else {
            rc = -PM_ENOMEM;
        }
    }
    read_end(log);
    return rc;
}

int log_state_scan(struct log *log,
                   int (*fn)(void *ctx, const void *key, uint32_t key_len,
                             const void *val, uint32_t val_len),
                   void *ctx)
{
    if (!log || !fn)
        return -PM_EINVAL;
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = read_begin(log, &txn);
    if (rc != 0)
        return rc;
    MDB_stat st;
    if ((rc = log__err(mdb_stat(txn, log->dbi_state, &st))) != 0 ||
        (rc = log__err(mdb_cursor_open(txn, log->dbi_state, &cur))) != 0) {
        read_end(log);
        return rc;
    }
    MDB_val k, v;
    int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    size_t i;
    for (i = 0; mrc == 0 && i < st.ms_entries; i++) {
        const uint8_t *body;
        size_t len;
        if (k.mv_size == 0 || k.mv_size > UINT32_MAX ||
            log__state_decode(k.mv_data, k.mv_size, v.mv_data, v.mv_size,
                              &body, &len) != 0) {
            rc = corrupt_state(log, k.mv_size);
            break;
        }
        rc = fn(ctx, k.mv_data, (uint32_t)k.mv_size, body, (uint32_t)len);
        if (rc != 0)
            break;
        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = log__err(mrc);
    /* The table's own count and the records reached must agree: fewer
     * means a damaged page hides some (their values would be lost). */
    if (rc == 0 && mrc == MDB_NOTFOUND && i < st.ms_entries) {
        pm_say(PM_ERROR, "log", "%s: %zu of %zu FSM state records readable",
               log->dir, i, (size_t)st.ms_entries);
        rc = -PM_ECORRUPT;
    }
    mdb_cursor_close(cur);
    read_end(log);
    return rc;
}
