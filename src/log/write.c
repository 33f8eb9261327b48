/* write.c: log_write(), the group commit. A batch that only truncates,
 * appends and sets the hard state becomes one journal record (journal.c);
 * any other goes, with the journal's tail in front of it, into ONE LMDB
 * write transaction. The cached bounds change only after the record is
 * flushed or mdb_txn_commit() returned 0, so a failed write leaves the
 * handle exactly as it was. */
#include <assert.h>
#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>

#include "base/err.h"
#include "base/say.h"
#include "log/log_impl.h"

/* What the batch will make of the cached bounds, computed up front so that
 * bad input is refused before a transaction exists. */
struct plan {
    uint64_t from_last;   /* the last index before the batch */
    uint64_t journal_seq; /* 0, or the "journal" record to write */
    uint64_t last_after_truncate;
    uint64_t last;        /* after the append */
    uint64_t base, base_term;
    uint64_t final_last;  /* after compaction */
    size_t bytes;         /* rough size of what is written (ENOSPC guess) */
};

/* Check B against a log that ends at LAST (the logical log for the
 * caller's batch; LMDB's table for the transaction built from it). */
static int validate(const struct log *log, const struct log_batch *b,
                    uint64_t last, struct plan *p)
{
    p->from_last = last;
    p->journal_seq = 0;
    p->last_after_truncate = last;
    if (b->truncate_from) {
        /* Entries at or below base are committed and compacted; no Raft
         * rule ever removes them (Figure 2 only truncates conflicts). */
        if (b->truncate_from <= log->base)
            return -PM_EINVAL;
        if (b->truncate_from <= last)
            p->last_after_truncate = b->truncate_from - 1;
    }
    if (b->n_entries && !b->entries)
        return -PM_EINVAL;
    p->bytes = 0;
    for (size_t i = 0; i < b->n_entries; i++) {
        const struct pm_entry *e = &b->entries[i];
        if (e->index != p->last_after_truncate + 1 + i || e->index == UINT64_MAX)
            return -PM_EINVAL;
        if (e->len && !e->data)
            return -PM_EINVAL;
        p->bytes += LOG__KEY_BYTES + LOG__HDR_BYTES + e->len + 16;
    }
    p->last = p->last_after_truncate + b->n_entries;
    if (b->n_state && !b->state)
        return -PM_EINVAL;
    for (size_t i = 0; i < b->n_state; i++) {
        const struct log_kv *kv = &b->state[i];
        if (!kv->key || kv->key_len == 0)
            return -PM_EINVAL;
        if (kv->key_len > log->key_bytes_max)
            return -PM_ETOOBIG;
        if (kv->val_len && !kv->val)
            return -PM_EINVAL;
        p->bytes += kv->key_len + LOG__STATE_CRC_BYTES +
                    (kv->val ? kv->val_len : 0) + 16;
    }
    if (b->snapshot) {
        if (b->snapshot->config_len && !b->snapshot->config)
            return -PM_EINVAL;
        p->bytes += b->snapshot->config_len;
    }
    p->base = log->base;
    p->base_term = log->base_term;
    p->final_last = p->last;
    if (b->compact_index) {
        /* first = base + 1 must stay representable. */
        if (b->compact_index < log->base || b->compact_index == UINT64_MAX)
            return -PM_EINVAL;
        if (b->compact_index == log->base && b->compact_term != log->base_term)
            return -PM_EINVAL;
        p->base = b->compact_index;
        p->base_term = b->compact_term;
        if (p->final_last < p->base)
            p->final_last = p->base;
    }
    return 0;
}

int log__put_meta(MDB_txn *txn, struct log *log, const char *name,
                  uint8_t *rec, size_t body_len)
{
    log__meta_seal(name, rec, body_len);
    MDB_val k = {strlen(name), (void *)name};
    MDB_val v = {LOG__META_CRC_BYTES + body_len, rec};
    return mdb_put(txn, log->dbi_meta, &k, &v, 0);
}

/* Delete log entries from LAST down to FROM (inclusive). */
static int truncate_suffix(MDB_txn *txn, struct log *log, uint64_t from,
                           uint64_t last)
{
    if (from == log->base + 1)
        return mdb_drop(txn, log->dbi_log, 0);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, log->dbi_log, &cur);
    if (rc != 0)
        return rc;
    for (uint64_t idx = last; idx >= from && rc == 0; idx--) {
        MDB_val k, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == 0 && (k.mv_size != LOG__KEY_BYTES ||
                        log__get_be64(k.mv_data) != idx))
            rc = MDB_CORRUPTED;
        if (rc == 0)
            rc = mdb_cursor_del(cur, 0);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

/* Delete log entries from the front up to and including UPTO. */
static int compact_prefix(MDB_txn *txn, struct log *log, uint64_t upto,
                          uint64_t last)
{
    if (upto >= last)
        return mdb_drop(txn, log->dbi_log, 0);
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, log->dbi_log, &cur);
    if (rc != 0)
        return rc;
    for (uint64_t idx = log->base + 1; idx <= upto && rc == 0; idx++) {
        MDB_val k, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc == 0 && (k.mv_size != LOG__KEY_BYTES ||
                        log__get_be64(k.mv_data) != idx))
            rc = MDB_CORRUPTED;
        if (rc == 0)
            rc = mdb_cursor_del(cur, 0);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
}

static int append(MDB_txn *txn, struct log *log, const struct log_batch *b)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, log->dbi_log, &cur);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < b->n_entries && rc == 0; i++) {
        const struct pm_entry *e = &b->entries[i];
        uint8_t key[LOG__KEY_BYTES];
        log__put_be64(key, e->index);
        MDB_val k = {sizeof key, key};
        MDB_val v = {LOG__HDR_BYTES + (size_t)e->len, NULL};
        /* MDB_RESERVE: the header and payload are written straight into
         * the page, so there is no per-entry buffer or extra copy. */
        rc = mdb_cursor_put(cur, &k, &v, MDB_APPEND | MDB_RESERVE);
        if (rc == 0)
            log__entry_encode(e, v.mv_data);
    }
    mdb_cursor_close(cur);
    return rc;
}

/* Does the entry at INDEX (inside the log) have term TERM? Returns an LMDB
 * code; *pm_rc = -PM_ECORRUPT if the entry cannot be read. */
static int term_matches(MDB_txn *txn, struct log *log, uint64_t index,
                        uint64_t term, int *match, int *pm_rc)
{
    uint8_t key[LOG__KEY_BYTES];
    log__put_be64(key, index);
    MDB_val k = {sizeof key, key}, v;
    int rc = mdb_get(txn, log->dbi_log, &k, &v);
    if (rc != 0)
        return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
    uint64_t t;
    uint8_t type;
    const uint8_t *payload;
    uint32_t len;
    *pm_rc = log__entry_decode(index, v.mv_data, v.mv_size, &t, &type,
                               &payload, &len);
    *match = *pm_rc == 0 && t == term;
    return 0;
}

/* Run the batch in one transaction. Returns 0 or a negative pm_err; sets
 * *map_full when LMDB ran out of map (the caller grows it and retries). */
static int apply(struct log *log, const struct log_batch *b,
                 struct plan *p, int inject, int *map_full)
{
    MDB_txn *txn;
    int pm_rc = 0;
    *map_full = 0;
    int rc = mdb_txn_begin(log->env, NULL, 0, &txn);
    if (rc != 0)
        goto out;
    if (b->truncate_from && b->truncate_from <= p->from_last &&
        (rc = truncate_suffix(txn, log, b->truncate_from, p->from_last)) != 0)
        goto abort;
    if (b->n_entries && (rc = append(txn, log, b)) != 0)
        goto abort;
    if (b->hard_state) {
        uint8_t rec[LOG__META_CRC_BYTES + 24];
        log__put_be64(rec + 4, b->hard_state->term);
        log__put_be64(rec + 12, b->hard_state->vote);
        log__put_be64(rec + 20, b->hard_state->commit);
        if ((rc = log__put_meta(txn, log, "hard", rec, 24)) != 0)
            goto abort;
    }
    if (b->state_clear && (rc = mdb_drop(txn, log->dbi_state, 0)) != 0)
        goto abort;
    for (size_t i = 0; i < b->n_state; i++) {
        const struct log_kv *kv = &b->state[i];
        MDB_val k = {kv->key_len, (void *)kv->key};
        if (kv->val) {
            /* MDB_RESERVE: the CRC and the value go straight into the
             * page (layout in log_impl.h). */
            MDB_val v = {LOG__STATE_CRC_BYTES + (size_t)kv->val_len, NULL};
            rc = mdb_put(txn, log->dbi_state, &k, &v, MDB_RESERVE);
            if (rc == 0) {
                uint8_t *rec = v.mv_data;
                if (kv->val_len)
                    memcpy(rec + LOG__STATE_CRC_BYTES, kv->val, kv->val_len);
                log__state_seal(kv->key, kv->key_len, rec, kv->val_len);
            }
        } else {
            rc = mdb_del(txn, log->dbi_state, &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
        }
        if (rc != 0)
            goto abort;
    }
    if (b->applied) {
        uint8_t rec[LOG__META_CRC_BYTES + 8];
        log__put_be64(rec + 4, b->applied);
        if ((rc = log__put_meta(txn, log, "applied", rec, 8)) != 0)
            goto abort;
    }
    if (b->snapshot) {
        const struct log_snapshot_meta *s = b->snapshot;
        size_t body = 20 + (size_t)s->config_len;
        MDB_val k = {4, "snap"}, v = {LOG__META_CRC_BYTES + body, NULL};
        if ((rc = mdb_put(txn, log->dbi_meta, &k, &v, MDB_RESERVE)) != 0)
            goto abort;
        uint8_t *rec = v.mv_data;
        log__put_be64(rec + 4, s->index);
        log__put_be64(rec + 12, s->term);
        log__put_be32(rec + 20, s->config_len);
        if (s->config_len)
            memcpy(rec + 24, s->config, s->config_len);
        log__meta_seal("snap", rec, body);
    }
    if (b->compact_index && b->compact_index > log->base) {
        uint64_t upto = b->compact_index;
        p->final_last = p->last > upto ? p->last : upto;
        if (upto < p->last) {
            /* Raft §7: entries after the snapshot's last included entry are
             * kept only if that entry's term agrees; otherwise the rest of
             * the log belongs to a divergent history and goes too. */
            int match = 0;
            rc = term_matches(txn, log, upto, b->compact_term, &match, &pm_rc);
            if (rc != 0 || pm_rc != 0)
                goto abort;
            if (!match) {
                pm_say(PM_WARN, "log", "entry %llu conflicts with the compaction "
                       "term %llu: discarding the log after it",
                       (unsigned long long)upto,
                       (unsigned long long)b->compact_term);
                upto = p->last;
                p->final_last = b->compact_index;
            }
        }
        if ((rc = compact_prefix(txn, log, upto, p->last)) != 0)
            goto abort;
        uint8_t rec[LOG__META_CRC_BYTES + 16];
        log__put_be64(rec + 4, b->compact_index);
        log__put_be64(rec + 12, b->compact_term);
        if ((rc = log__put_meta(txn, log, "base", rec, 16)) != 0)
            goto abort;
    }
    if (p->journal_seq) {
        uint8_t rec[LOG__META_CRC_BYTES + 8];
        log__put_be64(rec + 4, p->journal_seq);
        if ((rc = log__put_meta(txn, log, "journal", rec, 8)) != 0)
            goto abort;
    }
    if (inject) {
        /* Fault injection: all the work was done; now fail as a commit
         * would, leaving nothing behind. */
        mdb_txn_abort(txn);
        return inject;
    }
    rc = mdb_txn_commit(txn); /* aborts the txn itself on failure */
    goto out;
abort:
    mdb_txn_abort(txn);
out:
    if (pm_rc != 0)
        return pm_rc;
    if (rc == MDB_MAP_FULL) {
        *map_full = 1;
        return -PM_ENOSPC;
    }
    if (rc == MDB_KEYEXIST) /* MDB_APPEND found a key at or past ours */
        return -PM_ECORRUPT;
    return log__err(rc);
}

/* LMDB reports a short write() as EIO (mdb_page_flush), and a write that
 * fills the disk is exactly that: call it ENOSPC when the file system has
 * less room left than the batch needed. */
static int refine_eio(const struct log *log, const struct plan *p)
{
    struct statvfs vfs;
    if (statvfs(log->dir, &vfs) != 0)
        return -PM_EIO;
    uint64_t free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
    if (free_bytes < p->bytes + (256u << 10)) {
        /* Debug only: a caller that retries on a full disk would repeat
         * the line every attempt; the caller says when the state changes. */
        pm_say(PM_DEBUG, "log", "commit failed with %llu bytes free: disk full",
               (unsigned long long)free_bytes);
        return -PM_ENOSPC;
    }
    return -PM_EIO;
}

/* The LMDB transaction for B: the journal's tail first (with the cut of
 * LMDB's stale entries), then B. Fills *M (entries in log->j.merged). */
static int merge_tail(struct log *log, const struct log_batch *b,
                      struct log_batch *m)
{
    struct log__journal *j = &log->j;
    *m = *b;
    if (j->n == 0 && log->lmdb_last == log->last && !j->hard_pending)
        return 0;
    uint64_t lo = log__tail_lo(log);
    uint64_t tf = b->truncate_from && b->truncate_from <= log->last
                      ? b->truncate_from : 0;
    size_t keep = j->n;
    m->truncate_from = log->lmdb_last >= lo ? lo : 0;
    if (tf && tf >= lo) {
        keep = (size_t)(tf - lo);
    } else if (tf) {
        keep = 0;
        m->truncate_from = tf; /* below the tail: into LMDB's entries */
    }
    size_t need = keep + b->n_entries;
    int rc = log__grow_array((void **)&j->merged, &j->mcap, need,
                             sizeof *j->merged);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < keep; i++)
        j->merged[i] = log__tail_entry(log, lo + i);
    if (b->n_entries)
        memcpy(j->merged + keep, b->entries, b->n_entries * sizeof *b->entries);
    m->entries = need ? j->merged : NULL;
    m->n_entries = need;
    if (!m->hard_state && j->hard_pending)
        m->hard_state = &log->hard;
    return 0;
}

static int commit_lmdb(struct log *log, const struct log_batch *b, int inject)
{
    struct log_batch m;
    struct plan p;
    int rc = merge_tail(log, b, &m);
    if (rc == 0)
        rc = validate(log, &m, log->lmdb_last, &p);
    if (rc != 0)
        return rc;
    if (log->j.off)
        p.journal_seq = log->j.seq;
    for (int tries = 0;; tries++) {
        int map_full;
        rc = apply(log, &m, &p, inject, &map_full);
        if (!map_full || tries >= LOG__GROW_TRIES_MAX)
            break;
        int grc = log__grow(log);
        if (grc != 0) {
            if (grc == -PM_ENOSPC)
                pm_say(PM_WARN, "log", "store full at map_bytes_max %llu bytes",
                       (unsigned long long)log->map_bytes_max);
            rc = grc;
            break;
        }
    }
    if (rc == -PM_EIO && !inject && !log->broken)
        rc = refine_eio(log, &p);
    if (rc != 0)
        return rc;
    log->base = p.base;
    log->base_term = p.base_term;
    log->last = log->lmdb_last = p.final_last;
    assert(log->last >= log->base); /* empty log: last == base */
    if (m.hard_state)
        log->hard = *m.hard_state;
    if (b->applied)
        log->applied = b->applied;
    log__journal_committed(log);
    return 0;
}

int log_write_journals(const struct log *log, const struct log_batch *b)
{
    return log && b && !log->broken && !log->j.failed &&
           log__journal_fits(log, b) != 0;
}

/* log_write (UNFLUSHED 0) and log_write_unflushed (1). */
static int write_batch(struct log *log, const struct log_batch *b,
                       int unflushed)
{
    if (!log || !b)
        return -PM_EINVAL;
    /* Each record is flushed before the next is written (journal.c). */
    int rc = log__flush_wait(log);
    if (rc != 0)
        return rc;
    if (log->broken || log->j.failed)
        return -PM_EIO;
    struct plan p;
    rc = validate(log, b, log->last, &p);
    if (rc != 0)
        return rc;
    int inject = 0;
    if (log->fail_countdown > 0 && --log->fail_countdown == 0)
        inject = log->fail_err < 0 ? log->fail_err : -PM_EIO;
    size_t record = log__journal_fits(log, b);
    if (record) {
        /* Fault injection: fail as the record's write would, before it. */
        if (inject)
            return inject;
        rc = log__journal_append(log, b, record, unflushed);
        /* No memory for the tail (nothing was written then), or a full
         * disk: LMDB's commit needs neither and starts the journal over. */
        if (rc != -PM_ENOSPC && rc != -PM_ENOMEM)
            return rc;
    }
    return commit_lmdb(log, b, inject);
}

int log_write(struct log *log, const struct log_batch *b)
{
    return write_batch(log, b, 0);
}

int log_write_unflushed(struct log *log, const struct log_batch *b)
{
    return write_batch(log, b, 1);
}
