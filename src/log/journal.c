/* journal.c: the write-ahead journal in front of LMDB.
 *
 * Why: an LMDB commit at default durability costs two synchronous flushes
 * (the data pages, then the meta page) and four to five page writes, and
 * with one request in flight every set costs each node one such commit
 * (the bench measured 45% of the leader's CPU inside it). A record
 * appended here costs one page write and one fdatasync. So a batch that
 * only truncates, appends entries and sets the hard state (every batch of
 * the replication hot path) is written here; its content stays in memory
 * (the tail, log_impl.h) until the next batch that LMDB must take (FSM
 * state, a snapshot, a compaction, or one that does not fit here), which
 * commits the tail and itself in one LMDB transaction. That transaction
 * stores the next record's sequence number ("journal" meta record), and
 * the journal starts over at offset 0.
 *
 * Record layout (integers big-endian), starting at a 4 KiB boundary and
 * padded with zeros to the next one (so a small record is one page write
 * and record starts can be found without trusting a length field):
 *   [0,4)   magic "PMJ1"
 *   [4,8)   CRC32C over [8, 64 + body_len)
 *   [8,16)  sequence number
 *   [16,20) body_len
 *   [20,24) number of entries
 *   [24,28) flags: bit 0, the hard state is set
 *   [28,32) zero
 *   [32,40) truncate_from (0: none)
 *   [40,64) hard state: term, vote, commit
 *   body: per entry index (8), term (8), type (1), zero (3), len (4), payload
 *
 * Recovery: the records from offset 0 on whose sequence numbers continue
 * LMDB's "journal" record are replayed in order; the first record that
 * does not (an older one left from before the last start-over, a torn
 * write, zeros) ends the journal. Only the last record can be torn, since
 * each is flushed before the next is written and before its batch is
 * acknowledged: so if any intact record with a later sequence number lies
 * past that end, an acknowledged record is damaged, and the store is
 * refused rather than opened without it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/say.h"
#include "log/log_impl.h"

#define J_MAGIC 0x504d4a31u /* "PMJ1" */
#define J_HDR 64u
#define J_ENT 24u
#define J_ALIGN 4096u
/* The file's size, written once (zeros) when the store is created, so that
 * a record never grows the file: a full disk then shows up as LMDB's
 * ENOSPC, as it did before the journal, never in the middle of a record.
 * The node commits to LMDB every ~20 ms under load (FSM state), which
 * starts the journal over: 4 MiB is 1,024 one-page records, or 16 of the
 * largest; 20 ms at 85k sets/s of 256-byte values is ~0.6 MiB. When it is
 * full, a commit to LMDB starts it over. */
#define J_BYTES_MAX_DEFAULT (4u << 20)
#define J_FLAG_HARD 1u
/* A larger batch goes straight to LMDB: past some size its commit's fixed
 * cost (the second flush, the tree pages) is small beside the batch's own
 * pages, which the journal writes twice (here, then into LMDB). Below it,
 * the journal wins: with a 256-client turn's batch (100-256 entries,
 * 35-90 KiB) a record instead of an LMDB commit (two flushes; 25% of the
 * leader's CPU in a profile), the 3-voter bench did 61.3k against 54.7k
 * sets/s at 256 clients, p50 3.1-3.5 against 3.7-5.3 ms (4 interleaved
 * pairs, with the 4 MiB journal; the limit was 32 KiB and the journal
 * 1 MiB before). */
#define J_RECORD_MAX_DEFAULT (256u << 10)

static size_t padded(size_t n) { return (n + J_ALIGN - 1) & ~(size_t)(J_ALIGN - 1); }

static size_t record_bytes(const struct log_batch *b)
{
    size_t n = J_HDR;
    for (size_t i = 0; i < b->n_entries; i++)
        n += J_ENT + b->entries[i].len;
    return n;
}

size_t log__journal_fits(const struct log *log, const struct log_batch *b)
{
    const struct log__journal *j = &log->j;
    if (j->fd < 0 || b->state_clear || b->n_state || b->applied ||
        b->snapshot || b->compact_index)
        return 0;
    if (!b->truncate_from && !b->n_entries && !b->hard_state)
        return 0; /* nothing to write: LMDB's path commits a pending tail */
    size_t bytes = record_bytes(b);
    return bytes <= j->record_max && j->off + padded(bytes) <= j->bytes_max
               ? bytes : 0;
}

int log__grow_array(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q)
        return -PM_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Room in the tail for N more entries with BYTES of payload (done before a
 * record is written, so that applying it cannot fail). */
static int reserve(struct log__journal *j, size_t n, size_t bytes)
{
    int rc = log__grow_array((void **)&j->te, &j->cap, j->n + n, sizeof *j->te);
    return rc ? rc : log__grow_array((void **)&j->arena, &j->acap, j->used + bytes, 1);
}

/* Apply a record's content to the tail and the cached bounds (room
 * reserved, contiguity checked). */
static void tail_apply(struct log *log, uint64_t truncate_from,
                       const struct pm_entry *es, size_t n,
                       const struct log_hard_state *hs)
{
    struct log__journal *j = &log->j;
    if (truncate_from && truncate_from <= log->last) {
        uint64_t lo = log__tail_lo(log);
        /* Below the tail the cut reaches LMDB's entries: they stay in LMDB
         * (stale, lmdb_last > last - n) until the next LMDB commit. */
        j->n = truncate_from >= lo ? (size_t)(truncate_from - lo) : 0;
        j->used = j->n ? j->te[j->n - 1].off + j->te[j->n - 1].len : 0;
        log->last = truncate_from - 1;
    }
    for (size_t i = 0; i < n; i++) {
        struct log__tail_entry *t = &j->te[j->n++];
        t->term = es[i].term;
        t->type = es[i].type;
        t->len = es[i].len;
        t->off = j->used;
        if (es[i].len)
            memcpy(j->arena + j->used, es[i].data, es[i].len);
        j->used += es[i].len;
    }
    log->last += n;
    if (hs) {
        log->hard = *hs;
        j->hard_pending = 1;
    }
}

/* Encode B, a record of NEED bytes, into j->wbuf; *OUT: with the
 * padding. */
static int encode(struct log__journal *j, const struct log_batch *b,
                  size_t need, size_t *out)
{
    size_t total = padded(need);
    int rc = log__grow_array((void **)&j->wbuf, &j->wcap, total, 1);
    if (rc != 0)
        return rc;
    uint8_t *w = j->wbuf;
    memset(w, 0, J_HDR);
    log__put_be32(w, J_MAGIC);
    log__put_be64(w + 8, j->seq);
    log__put_be32(w + 16, (uint32_t)(need - J_HDR));
    log__put_be32(w + 20, (uint32_t)b->n_entries);
    log__put_be64(w + 32, b->truncate_from);
    if (b->hard_state) {
        log__put_be32(w + 24, J_FLAG_HARD);
        log__put_be64(w + 40, b->hard_state->term);
        log__put_be64(w + 48, b->hard_state->vote);
        log__put_be64(w + 56, b->hard_state->commit);
    }
    uint8_t *p = w + J_HDR;
    for (size_t i = 0; i < b->n_entries; i++) {
        const struct pm_entry *e = &b->entries[i];
        log__put_be64(p, e->index);
        log__put_be64(p + 8, e->term);
        p[16] = e->type;
        p[17] = p[18] = p[19] = 0;
        log__put_be32(p + 20, e->len);
        if (e->len)
            memcpy(p + J_ENT, e->data, e->len);
        p += J_ENT + e->len;
    }
    memset(p, 0, total - need);
    log__put_be32(w + 4, log_crc32c(w + 8, need - 8));
    *out = total;
    return 0;
}

int log__journal_append(struct log *log, const struct log_batch *b,
                        size_t need, int unflushed)
{
    struct log__journal *j = &log->j;
    size_t len;
    /* The payloads: the record less its header and entry headers. */
    int rc = reserve(j, b->n_entries, need - J_HDR - b->n_entries * J_ENT);
    if (rc == 0)
        rc = encode(j, b, need, &len);
    if (rc != 0)
        return rc;
    ssize_t w = pwrite(j->fd, j->wbuf, len, (off_t)j->off);
    /* Cut short in the padding, the record is whole: it must then count as
     * written (a crash would replay it), so it goes on to the flush. */
    if (w < (ssize_t)need) {
        /* A short write is a full disk; what it left is not a valid record
         * (its CRC covers the whole record), and the next one overwrites
         * it at the same place with the same sequence number. */
        if (w >= 0 || errno == ENOSPC || errno == EDQUOT || errno == EFBIG)
            return -PM_ENOSPC;
        return pm_from_errno(errno);
    }
    if (unflushed && log__flush_start(log) == 0) {
        /* The thread flushes it; the next write waits for that. */
    } else if (fdatasync(j->fd) != 0) {
        return log__journal_flush_failed(log, errno);
    }
    j->off += len;
    j->seq++;
    tail_apply(log, b->truncate_from, b->entries, b->n_entries, b->hard_state);
    return 0;
}

int log__journal_flush_failed(struct log *log, int err)
{
    /* After a failed flush the kernel may have dropped the pages and would
     * report the next flush clean: nothing more is written until the store
     * is reopened (which replays what is durable). */
    if (!log->j.failed)
        pm_say(PM_ERROR, "log", "%s/journal: fdatasync failed: %s; the store "
               "must be reopened", log->dir, strerror(err));
    log->j.failed = 1;
    return -PM_EIO;
}

void log__journal_committed(struct log *log)
{
    struct log__journal *j = &log->j;
    j->n = 0;
    j->used = 0;
    j->hard_pending = 0;
    j->off = 0;
}

/* ---- recovery ------------------------------------------------------------ */

/* pread() exactly N bytes (the caller checked they are in the file). */
static int read_at(int fd, void *buf, size_t n, uint64_t off)
{
    ssize_t r = pread(fd, buf, n, (off_t)off);
    if (r == (ssize_t)n)
        return 0;
    return r < 0 ? pm_from_errno(errno) : -PM_EIO;
}

/* Read and check the record at OFF with sequence number SEQ into j->wbuf.
 * Sets *LEN to its padded length, or 0 if there is no such intact record.
 * A failed read or allocation is an error, never "no record": the replay
 * would stop there and the next LMDB commit would skip the records after
 * it for good. */
static int read_record(struct log__journal *j, uint64_t off, uint64_t size,
                       uint64_t seq, size_t *len)
{
    uint8_t h[J_HDR];
    int rc;
    *len = 0;
    if (off + J_HDR > size)
        return 0;
    if ((rc = read_at(j->fd, h, J_HDR, off)) != 0)
        return rc;
    if (log__get_be32(h) != J_MAGIC || log__get_be64(h + 8) != seq)
        return 0;
    uint64_t body = log__get_be32(h + 16);
    if (body > size - off - J_HDR)
        return 0;
    size_t need = J_HDR + (size_t)body;
    if ((rc = log__grow_array((void **)&j->wbuf, &j->wcap, need, 1)) != 0 ||
        (rc = read_at(j->fd, j->wbuf, need, off)) != 0)
        return rc;
    if (log__get_be32(j->wbuf + 4) == log_crc32c(j->wbuf + 8, need - 8))
        *len = padded(need);
    return 0;
}

/* Parse the record in j->wbuf and apply it. -PM_ECORRUPT if it is intact
 * (its CRC matched) but does not fit the log: written by a broken build. */
static int replay_one(struct log *log)
{
    struct log__journal *j = &log->j;
    const uint8_t *w = j->wbuf;
    uint32_t body = log__get_be32(w + 16), n = log__get_be32(w + 20);
    uint32_t flags = log__get_be32(w + 24);
    uint64_t tf = log__get_be64(w + 32);
    struct log_hard_state hs = {log__get_be64(w + 40), log__get_be64(w + 48),
                                log__get_be64(w + 56)};
    if (flags & ~J_FLAG_HARD || (tf && tf <= log->base) ||
        n > body / J_ENT)
        return -PM_ECORRUPT;
    struct pm_entry *es = n ? malloc(n * sizeof *es) : NULL;
    if (n && !es)
        return -PM_ENOMEM;
    uint64_t next = (tf && tf <= log->last ? tf : log->last + 1);
    const uint8_t *p = w + J_HDR, *end = p + body;
    size_t bytes = 0;
    int rc = 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
        if ((size_t)(end - p) < J_ENT) {
            rc = -PM_ECORRUPT;
            break;
        }
        es[i].index = log__get_be64(p);
        es[i].term = log__get_be64(p + 8);
        es[i].type = p[16];
        es[i].len = log__get_be32(p + 20);
        es[i].data = p + J_ENT;
        if (es[i].index != next + i || es[i].len > (size_t)(end - p) - J_ENT)
            rc = -PM_ECORRUPT;
        else
            p += J_ENT + es[i].len;
        bytes += es[i].len;
    }
    if (rc == 0 && p != end)
        rc = -PM_ECORRUPT;
    if (rc == 0)
        rc = reserve(j, n, bytes);
    if (rc == 0)
        tail_apply(log, tf, es, n, flags & J_FLAG_HARD ? &hs : NULL);
    free(es);
    return rc;
}

/* Make the file BYTES long with zeros (from SIZE on) and durable. */
static int reserve_file(struct log__journal *j, uint64_t size, uint64_t bytes)
{
    static const uint8_t zeros[64 << 10];
    while (size < bytes) {
        size_t n = bytes - size < sizeof zeros ? (size_t)(bytes - size)
                                               : sizeof zeros;
        ssize_t w = pwrite(j->fd, zeros, n, (off_t)size);
        if (w <= 0)
            return w < 0 ? pm_from_errno(errno) : -PM_ENOSPC;
        size += (uint64_t)w;
    }
    return fdatasync(j->fd) == 0 ? 0 : pm_from_errno(errno);
}

/* Give back what a failed reserve_file took (the disk is nearly full). */
static void unreserve_file(struct log__journal *j, uint64_t size)
{
    if (ftruncate(j->fd, (off_t)size) == 0)
        fdatasync(j->fd);
}

static int open_file(struct log *log)
{
    char *path = log__path_join(log->dir, "journal");
    if (!path)
        return -PM_ENOMEM;
    int rc = 0;
    log->j.fd = open(path, O_RDWR | O_CLOEXEC);
    if (log->j.fd < 0 && errno == ENOENT) {
        /* A missing journal is an empty one: records are written only once
         * the file's name is durable (the directory sync here). */
        log->j.fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (log->j.fd >= 0)
            rc = log__fsync_dir(log->dir);
    }
    if (log->j.fd < 0)
        rc = pm_from_errno(errno);
    free(path);
    return rc;
}

int log__journal_open(struct log *log, uint64_t bytes_max,
                      uint64_t record_max)
{
    struct log__journal *j = &log->j;
    j->record_max = record_max ? record_max : J_RECORD_MAX_DEFAULT;
    j->bytes_max = bytes_max ? bytes_max : J_BYTES_MAX_DEFAULT;
    j->bytes_max = padded(j->bytes_max < J_ALIGN ? J_ALIGN : j->bytes_max);
    int rc = open_file(log);
    struct stat st;
    if (rc == 0 && fstat(j->fd, &st) != 0)
        rc = pm_from_errno(errno);
    if (rc != 0)
        return rc;
    uint64_t size = (uint64_t)st.st_size, off = 0, first = j->seq;
    for (size_t len;;) {
        if ((rc = read_record(j, off, size, j->seq, &len)) != 0)
            goto read_failed;
        if (len == 0)
            break;
        if ((rc = replay_one(log)) != 0) {
            if (rc == -PM_ECORRUPT)
                pm_say(PM_ERROR, "log", "%s: store damaged: journal record "
                       "%llu is intact but does not continue the log",
                       log->dir, (unsigned long long)j->seq);
            return rc;
        }
        off += len;
        j->seq++;
    }
    for (uint64_t o = off + J_ALIGN; o + 16 <= size; o += J_ALIGN) {
        uint8_t h[16];
        size_t len = 0;
        if ((rc = read_at(j->fd, h, sizeof h, o)) != 0)
            goto read_failed;
        uint64_t s = log__get_be64(h + 8);
        if (log__get_be32(h) == J_MAGIC && s >= j->seq &&
            (rc = read_record(j, o, size, s, &len)) != 0)
            goto read_failed;
        if (len != 0) {
            pm_say(PM_ERROR, "log", "%s: store damaged: journal record %llu "
                   "is unreadable but record %llu after it is intact",
                   log->dir, (unsigned long long)j->seq,
                   (unsigned long long)s);
            return -PM_ECORRUPT;
        }
    }
    j->off = off;
    if (size < j->bytes_max && (rc = reserve_file(j, size, j->bytes_max)) != 0) {
        pm_say(PM_WARN, "log", "%s/journal: cannot reserve %llu bytes (%s): "
               "every write goes to LMDB", log->dir,
               (unsigned long long)j->bytes_max, pm_strerror(rc));
        unreserve_file(j, size);
        j->bytes_max = 0; /* nothing fits */
    }
    if (j->seq == first)
        return 0;
    pm_say(PM_INFO, "log", "%s: replayed journal records %llu-%llu (log now "
           "ends at %llu)", log->dir, (unsigned long long)first,
           (unsigned long long)(j->seq - 1), (unsigned long long)log->last);
    /* Into LMDB at once, so the next start begins from there. On a full
     * disk the records stay where they are (durable, in the tail) and go
     * to LMDB with a later commit: the store still opens. */
    struct log_batch none = {0};
    rc = log_write(log, &none);
    if (rc == -PM_ENOSPC) {
        pm_say(PM_WARN, "log", "%s: no room to move the journal into LMDB "
               "yet", log->dir);
        rc = 0;
    }
    return rc;
read_failed:
    pm_say(PM_ERROR, "log", "%s/journal: reading it failed: %s", log->dir,
           pm_strerror(rc));
    return rc;
}

void log__journal_close(struct log *log)
{
    struct log__journal *j = &log->j;
    /* A clean close leaves everything in LMDB, so that the next open (or
     * a tool reading data.mdb) needs no replay. If this commit fails the
     * records are still in the journal, and the next open replays them. */
    log__flush_wait(log);
    if (j->fd >= 0 && j->off && !j->failed && !log->broken) {
        struct log_batch none = {0};
        log_write(log, &none);
    }
    log__flush_stop(log);
    if (j->fd >= 0)
        close(j->fd);
    free(j->te);
    free(j->arena);
    free(j->wbuf);
    free(j->merged);
    memset(j, 0, sizeof *j);
    j->fd = -1;
}
