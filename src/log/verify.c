/* verify.c: log_open()'s check of an existing store, before the opening
 * process maps a single page of it.
 *
 * Why: LMDB has no page checksums and trusts what it reads. A damaged page
 * header or node pointer (a wrong page number, key count, offset or size)
 * makes it read outside the page or the map and kill the process (SIGSEGV,
 * SIGBUS, or abort() on an internal assertion); a damaged meta page can make
 * it pick a stale tree; a damaged free list makes a later commit hand out a
 * live page and overwrite it. The record CRCs (log_impl.h) catch damaged
 * values, but only once LMDB got that far.
 *
 * How: a forked child does the whole check and reports one line through a
 * pipe; the parent never touches the file until the child said it is sound.
 * A child killed by a signal (including the alarm that bounds its time)
 * counts as damage. The child checks, in this order:
 *
 *  1. the file's structure, read with pread() and bounds-checked (no map):
 *     both meta pages (LMDB's magic and version, transaction ids that
 *     alternate between the two as LMDB writes them, and an order that the
 *     older page's free list confirms, so that a damaged id cannot make
 *     LMDB pick the stale tree), then every page of every tree reachable
 *     from the newest meta (free list, main database, the three tables):
 *     page number, type, bounds, every node inside its page, key sizes,
 *     keys strictly ascending within each page and within the range its
 *     parent gives, every leaf at the tree's depth, overflow runs inside the
 *     file, no page used twice, the tree's counts equal to what the meta or
 *     main-database record says; and every page the free list names is a
 *     page of the file that no tree uses (so a commit never reuses a live
 *     page), listed once (a duplicate makes LMDB abort() in the next
 *     commit), under a transaction id no newer than the tree's;
 *  2. the data, through LMDB (opened read-only, without the lock file):
 *     every log entry, FSM state record and meta record is read and its
 *     CRC32C checked, log keys are contiguous and start after the
 *     compaction point, each key found by a cursor is found again by a
 *     lookup, and each table's count equals the records reached.
 *
 * A store of another format (a valid "format" record with another
 * version), or one whose tables are missing, passes step 2 untouched:
 * env.c refuses those with its own message (-PM_EVERSION, or the missing
 * table named).
 *
 * Cost: every page in use is read once by step 1 (the older meta page's
 * free list once more) and once more through the map by step 2, plus one
 * fork; see docs/reliability.md for the measured time per MB.
 *
 * Rules that hold in every store LMDB 0.9 writes (tests/log/crash.c
 * reopens through this check after hundreds of kill -9s): transaction T
 * writes meta page T % 2; T's free-list record (key T) lists the pages T
 * freed; T reuses only pages freed by transactions before T - 1, so the
 * trees of both meta pages stay intact and pages freed by T - 1 are in
 * neither T's tree nor T - 1's. No check requires that every page be used
 * or free: a leaked page is harmless.
 *
 * The LMDB file format read here is that of LMDB 0.9 (data version 1) on a
 * 64-bit host: page numbers and sizes are native 8-byte words. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "base/say.h"
#include "log/log_impl.h"

_Static_assert(sizeof(size_t) == 8, "the LMDB format read here is 64-bit");

/* LMDB 0.9's on-disk format. A page starts with a 16-byte header: page
 * number (8), pad (2), flags (2), then lower and upper bounds of the free
 * space (2 + 2; an overflow page's run length (4) instead), then the 2-byte
 * node offsets. A node: lo, hi, flags, key size (2 bytes each), key, data.
 * In a branch node (lo, hi, flags) is the child's page number; in a leaf
 * node (lo, hi) is the data size. */
#define PAGEHDR 16u
#define NODEHDR 8u
#define P_BRANCH 0x01u
#define P_LEAF 0x02u
#define P_OVERFLOW 0x04u
#define P_META 0x08u
#define F_BIGDATA 0x01u
#define F_SUBDATA 0x02u
#define MDB_MAGIC_ 0xBEEFC0DEu
#define MDB_DATA_VERSION_ 1u
#define MDB_INTEGERKEY_ 0x08u
#define PGNO_INVALID UINT64_MAX
/* The meta record after the page header: magic (4), version (4), address
 * (8), map size (8), the free and main database records (48 each), last
 * page (8), transaction id (8). */
#define META_MAGIC 0u
#define META_VERSION 4u
#define META_MAPSIZE 16u
#define META_DBS 24u
#define META_LAST_PG 120u
#define META_TXNID 128u
#define META_BYTES 136u
/* A database record: pad (4; the page size in the free database's record
 * of a meta page), flags (2), depth (2), branch, leaf and overflow page
 * counts, entries, root (8 each). */
#define DB_BYTES 48u
#define MAX_DEPTH 32u
/* The child's time limit: a walk that never ends is damage too. */
#define CHILD_SECS_MIN 30u
#define CHILD_BYTES_PER_SEC (32ull << 20)

static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

struct dbrec {
    uint16_t flags, depth;
    uint64_t branch, leaf, overflow, entries, root;
};

static void dbrec_read(const uint8_t *p, struct dbrec *d)
{
    d->flags = get16(p + 4);
    d->depth = get16(p + 6);
    d->branch = get64(p + 8);
    d->leaf = get64(p + 16);
    d->overflow = get64(p + 24);
    d->entries = get64(p + 32);
    d->root = get64(p + 40);
}

enum tree_kind { T_FREE, T_MAIN, T_TABLE };

struct tree {
    const char *name;
    enum tree_kind kind;
    size_t key_len;          /* exact key size, or 0: 1..key_max */
    struct dbrec rec;
    uint64_t branch, leaf, overflow, entries; /* counted */
};

#define N_TABLES 3
struct chk {
    int fd;
    uint32_t psize;
    uint64_t file_pages;
    uint64_t last_pg;        /* pages [0, last_pg] are in use */
    uint8_t *used;           /* bitmap: pages of some tree */
    uint8_t *freed;          /* bitmap: pages the free list names */
    uint64_t txn_max;        /* free-list keys (transaction ids) are <= */
    uint64_t mark_txn;       /* the record of this transaction id ... */
    uint8_t *mark;           /* ... names these pages (NULL: not wanted) */
    unsigned key_max;
    char tname[N_TABLES][8];
    struct dbrec trec[N_TABLES];
    int n_tables;
    char *why;
    size_t why_len;
};

static int bad(struct chk *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad(struct chk *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, c->why_len, fmt, ap);
    va_end(ap);
    return -PM_ECORRUPT;
}

static int read_pages(struct chk *c, uint64_t pgno, uint64_t n, uint8_t *buf)
{
    size_t len = (size_t)(n * c->psize);
    off_t off = (off_t)(pgno * c->psize);
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(c->fd, buf + done, len - done, off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return pm_from_errno(errno);
        if (r == 0)
            return bad(c, "page %llu is beyond the end of the file",
                       (unsigned long long)(pgno + done / c->psize));
        done += (size_t)r;
    }
    return 0;
}

/* Mark pages [pgno, pgno + n) as used by tree T; each page once. */
static int claim(struct chk *c, const struct tree *t, uint64_t pgno, uint64_t n)
{
    if (pgno < 2 || pgno > c->last_pg || n > c->last_pg - pgno + 1)
        return bad(c, "%s: page %llu (+%llu) outside the pages in use "
                   "(2..%llu)", t->name, (unsigned long long)pgno,
                   (unsigned long long)n, (unsigned long long)c->last_pg);
    for (uint64_t p = pgno; p < pgno + n; p++) {
        if (c->used[p / 8] & (1u << (p % 8)))
            return bad(c, "%s: page %llu is reached twice",
                       t->name, (unsigned long long)p);
        c->used[p / 8] |= (uint8_t)(1u << (p % 8));
    }
    return 0;
}

static int key_cmp(const struct tree *t, const uint8_t *a, size_t al,
                   const uint8_t *b, size_t bl)
{
    if (t->kind == T_FREE) { /* MDB_INTEGERKEY: native size_t */
        uint64_t x = get64(a), y = get64(b);
        return (x > y) - (x < y);
    }
    int r = memcmp(a, b, al < bl ? al : bl);
    return r ? r : (al > bl) - (al < bl);
}

static int key_ok(const struct chk *c, const struct tree *t, size_t len)
{
    return t->key_len ? len == t->key_len : len >= 1 && len <= c->key_max;
}

/* An overflow run holding DSIZE bytes starting at PGNO; its data is read
 * into *DATA (malloc'd) when DATA is not NULL. */
static int overflow(struct chk *c, struct tree *t, uint64_t pgno,
                    uint64_t dsize, uint8_t **data)
{
    if (pgno < 2 || pgno > c->last_pg)
        return claim(c, t, pgno, 1); /* names the bad page number */
    uint8_t *hdr = malloc(c->psize);
    if (!hdr)
        return -PM_ENOMEM;
    int rc = read_pages(c, pgno, 1, hdr);
    uint64_t need = (PAGEHDR - 1 + dsize) / c->psize + 1;
    uint64_t pages = rc == 0 ? get32(hdr + 12) : 0;
    if (rc == 0 && (get64(hdr) != pgno || get16(hdr + 10) != P_OVERFLOW ||
                    pages < need))
        rc = bad(c, "%s: overflow page %llu has a bad header", t->name,
                 (unsigned long long)pgno);
    free(hdr);
    if (rc == 0)
        rc = claim(c, t, pgno, pages);
    if (rc != 0)
        return rc;
    t->overflow += pages;
    if (data) {
        *data = malloc((size_t)(need * c->psize));
        if (!*data)
            return -PM_ENOMEM;
        if ((rc = read_pages(c, pgno, need, *data)) != 0) {
            free(*data);
            *data = NULL;
        }
    }
    return rc;
}

/* A free-list record: the transaction id that freed the pages (the key),
 * a count, then that many page numbers. */
static int free_record(struct chk *c, struct tree *t, uint64_t txn,
                       const uint8_t *d, uint64_t dsize)
{
    if (dsize < 8 || dsize % 8 != 0 || get64(d) != dsize / 8 - 1)
        return bad(c, "free list: a record of %llu bytes is malformed",
                   (unsigned long long)dsize);
    if (txn > c->txn_max)
        return bad(c, "free list: pages freed by transaction %llu in the "
                   "tree of transaction %llu", (unsigned long long)txn,
                   (unsigned long long)c->txn_max);
    for (uint64_t i = 1; i < dsize / 8; i++) {
        uint64_t p = get64(d + i * 8);
        if (p < 2 || p > c->last_pg || (c->freed[p / 8] & (1u << (p % 8))))
            return bad(c, "free list: page %llu is out of range or listed "
                       "twice", (unsigned long long)p);
        c->freed[p / 8] |= (uint8_t)(1u << (p % 8));
        if (c->mark && txn == c->mark_txn)
            c->mark[p / 8] |= (uint8_t)(1u << (p % 8));
    }
    (void)t;
    return 0;
}

/* A leaf node's value (INLINE: in the page; else an overflow run). */
static int leaf_value(struct chk *c, struct tree *t, const uint8_t *key,
                      size_t klen, const uint8_t *node, uint64_t dsize)
{
    unsigned nflags = get16(node + 4);
    const uint8_t *val = node + NODEHDR + klen;
    if (t->kind == T_MAIN) {
        if (nflags != F_SUBDATA || dsize != DB_BYTES)
            return bad(c, "main database: a record that is not a table");
        if (c->n_tables == N_TABLES || klen >= sizeof c->tname[0])
            return bad(c, "main database: more than %d tables, or a long "
                       "name", N_TABLES);
        memcpy(c->tname[c->n_tables], key, klen);
        c->tname[c->n_tables][klen] = 0;
        dbrec_read(val, &c->trec[c->n_tables++]);
        return 0;
    }
    if (nflags & ~F_BIGDATA)
        return bad(c, "%s: a record with node flags 0x%x", t->name, nflags);
    if (!(nflags & F_BIGDATA))
        return t->kind == T_FREE ? free_record(c, t, get64(key), val, dsize)
                                 : 0;
    uint8_t *data = NULL;
    int rc = overflow(c, t, get64(val), dsize,
                      t->kind == T_FREE ? &data : NULL);
    if (rc == 0 && data)
        rc = free_record(c, t, get64(key), data + PAGEHDR, dsize);
    free(data);
    return rc;
}

/* Walk the subtree at PGNO, LEVEL levels below the root (root: 1), whose
 * keys must lie in [LO, HI) (NULL: unbounded). */
static int walk(struct chk *c, struct tree *t, uint64_t pgno, unsigned level,
                const uint8_t *lo, size_t lo_len, const uint8_t *hi,
                size_t hi_len)
{
    int rc = claim(c, t, pgno, 1);
    if (rc != 0)
        return rc;
    uint8_t *p = malloc(c->psize);
    if (!p)
        return -PM_ENOMEM;
    if ((rc = read_pages(c, pgno, 1, p)) != 0)
        goto out;
    int leaf = level == t->rec.depth;
    unsigned flags = get16(p + 10), lower = get16(p + 12), upper = get16(p + 14);
    unsigned n = lower >= PAGEHDR ? (lower - PAGEHDR) / 2 : 0;
    if (get64(p) != pgno || flags != (leaf ? P_LEAF : P_BRANCH) ||
        lower < PAGEHDR || (lower - PAGEHDR) % 2 || lower > upper ||
        upper > c->psize || n < (leaf ? 1u : 2u)) {
        rc = bad(c, "%s: page %llu has a bad header (expected a %s page "
                 "at level %u)", t->name, (unsigned long long)pgno,
                 leaf ? "leaf" : "branch", level);
        goto out;
    }
    if (leaf)
        t->leaf++;
    else
        t->branch++;
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (unsigned i = 0; i < n; i++) {
        unsigned off = get16(p + PAGEHDR + 2 * i);
        if (off < upper || off % 2 || off > c->psize - NODEHDR) {
            rc = bad(c, "%s: page %llu: node %u at offset %u is outside the "
                     "page's node area", t->name, (unsigned long long)pgno,
                     i, off);
            goto out;
        }
        const uint8_t *node = p + off;
        size_t klen = get16(node + 6);
        uint64_t dsize = get16(node) | (uint64_t)get16(node + 2) << 16;
        unsigned nflags = get16(node + 4);
        uint64_t inline_len = !leaf ? 0 : (nflags & F_BIGDATA) ? 8 : dsize;
        if (NODEHDR + klen + inline_len > c->psize - off) {
            rc = bad(c, "%s: page %llu: node %u runs past the page",
                     t->name, (unsigned long long)pgno, i);
            goto out;
        }
        const uint8_t *key = node + NODEHDR;
        /* A branch page's first key is not used: its child holds keys from
         * the parent's lower bound on. */
        if (leaf || i > 0) {
            if (!key_ok(c, t, klen) ||
                (prev && key_cmp(t, prev, prev_len, key, klen) >= 0) ||
                (lo && key_cmp(t, lo, lo_len, key, klen) > 0) ||
                (hi && key_cmp(t, key, klen, hi, hi_len) >= 0)) {
                rc = bad(c, "%s: page %llu: key %u has a bad size or is out "
                         "of order", t->name, (unsigned long long)pgno, i);
                goto out;
            }
            prev = key;
            prev_len = klen;
        }
        if (leaf) {
            t->entries++;
            if ((rc = leaf_value(c, t, key, klen, node, dsize)) != 0)
                goto out;
            continue;
        }
        uint64_t child = dsize | (uint64_t)nflags << 32;
        const uint8_t *clo = lo, *chi = hi;
        size_t clo_len = lo_len, chi_len = hi_len;
        if (i > 0) {
            clo = key;
            clo_len = klen;
        }
        if (i + 1 < n) {
            /* The next separator; checked for bounds on the next turn,
             * but used here first: check it now. */
            unsigned noff = get16(p + PAGEHDR + 2 * (i + 1));
            if (noff < upper || noff % 2 || noff > c->psize - NODEHDR ||
                NODEHDR + get16(p + noff + 6) > c->psize - noff ||
                !key_ok(c, t, get16(p + noff + 6))) {
                rc = bad(c, "%s: page %llu: node %u is outside the page or "
                         "has a bad key size", t->name,
                         (unsigned long long)pgno, i + 1);
                goto out;
            }
            chi = p + noff + NODEHDR;
            chi_len = get16(p + noff + 6);
        }
        if ((rc = walk(c, t, child, level + 1, clo, clo_len, chi, chi_len)) != 0)
            goto out;
    }
out:
    free(p);
    return rc;
}

static int tree(struct chk *c, struct tree *t)
{
    const struct dbrec *r = &t->rec;
    if (r->root == PGNO_INVALID) {
        if (r->depth || r->branch || r->leaf || r->overflow || r->entries)
            return bad(c, "%s: an empty tree with non-zero counts", t->name);
        return 0;
    }
    if (r->depth < 1 || r->depth > MAX_DEPTH)
        return bad(c, "%s: depth %u", t->name, r->depth);
    int rc = walk(c, t, r->root, 1, NULL, 0, NULL, 0);
    if (rc != 0)
        return rc;
    if (t->branch != r->branch || t->leaf != r->leaf ||
        t->overflow != r->overflow || t->entries != r->entries)
        return bad(c, "%s: its record counts %llu entries in %llu/%llu/%llu "
                   "branch/leaf/overflow pages, the tree has %llu in "
                   "%llu/%llu/%llu", t->name,
                   (unsigned long long)r->entries,
                   (unsigned long long)r->branch, (unsigned long long)r->leaf,
                   (unsigned long long)r->overflow,
                   (unsigned long long)t->entries,
                   (unsigned long long)t->branch, (unsigned long long)t->leaf,
                   (unsigned long long)t->overflow);
    return 0;
}

/* The older meta page's tree is intact too (LMDB reuses no page that
 * either meta page's tree uses). Its free list says whether the two meta
 * pages are in the right order, which their transaction ids alone cannot
 * (one damaged id can swap them and still alternate): it holds no key
 * above its own id, and the pages its own transaction freed are no longer
 * in the newer tree (the newer transaction could not reuse them). NEWER
 * is the newer tree's used-page bitmap. */
static int check_older_free_list(struct chk *c, const uint8_t *meta,
                                 uint64_t txn, const uint8_t *newer,
                                 size_t bits)
{
    struct tree fr = {.name = "the older meta page's free list",
                      .kind = T_FREE, .key_len = 8};
    dbrec_read(meta + META_DBS, &fr.rec);
    uint64_t last_pg = c->last_pg;
    uint64_t old_last = get64(meta + META_LAST_PG);
    if (old_last < c->last_pg)
        c->last_pg = old_last; /* the older tree lies within its own */
    c->used = calloc(bits, 1);
    c->freed = calloc(bits, 1);
    c->mark = calloc(bits, 1);
    c->txn_max = txn;
    c->mark_txn = txn;
    int rc = c->used && c->freed && c->mark ? tree(c, &fr) : -PM_ENOMEM;
    for (size_t i = 0; rc == 0 && i < bits; i++)
        if (c->mark[i] & newer[i])
            rc = bad(c, "the meta pages are in the wrong order: the older "
                     "one's transaction freed pages the newer tree uses "
                     "(near page %zu)", i * 8);
    free(c->used);
    free(c->freed);
    free(c->mark);
    c->mark = NULL;
    c->last_pg = last_pg;
    return rc;
}

/* Step 1 (see the file comment). */
static int check_structure(struct chk *c, const char *path)
{
    struct stat st;
    if (fstat(c->fd, &st) != 0)
        return pm_from_errno(errno);
    uint8_t m[2][PAGEHDR + META_BYTES];
    c->psize = 4096; /* only to read page 0's header and meta */
    if ((uint64_t)st.st_size < PAGEHDR + META_BYTES)
        return bad(c, "%s is truncated: %llu bytes", path,
                   (unsigned long long)st.st_size);
    if (pread(c->fd, m[0], sizeof m[0], 0) != (ssize_t)sizeof m[0])
        return pm_from_errno(errno ? errno : EIO);
    uint32_t psize = get32(m[0] + PAGEHDR + META_DBS);
    if (psize < 512 || psize > 65536 || (psize & (psize - 1)))
        return bad(c, "meta page 0 names a page size of %u", psize);
    c->psize = psize;
    if ((uint64_t)st.st_size < 2ull * psize)
        return bad(c, "%s is truncated: %llu bytes", path,
                   (unsigned long long)st.st_size);
    if (pread(c->fd, m[1], sizeof m[1], psize) != (ssize_t)sizeof m[1])
        return pm_from_errno(errno ? errno : EIO);
    uint64_t txn[2];
    for (int i = 0; i < 2; i++) {
        const uint8_t *meta = m[i] + PAGEHDR;
        if (get64(m[i]) != (uint64_t)i || get16(m[i] + 10) != P_META ||
            get32(meta + META_MAGIC) != MDB_MAGIC_ ||
            get32(meta + META_VERSION) != MDB_DATA_VERSION_)
            return bad(c, "meta page %d is not an LMDB meta page", i);
        txn[i] = get64(meta + META_TXNID);
    }
    /* LMDB writes transaction T's meta into page T % 2, so the two ids are
     * consecutive with their parities in place (both 0 before the first
     * commit). Anything else is a damaged id, which could make LMDB take
     * the older page's stale tree. */
    if (!(txn[0] == 0 && txn[1] == 0) &&
        (txn[0] % 2 != 0 || (txn[1] % 2 != 1 && txn[1] != 0) ||
         (txn[0] > txn[1] ? txn[0] - txn[1] : txn[1] - txn[0]) != 1))
        return bad(c, "the meta pages' transaction ids %llu and %llu do not "
                   "alternate", (unsigned long long)txn[0],
                   (unsigned long long)txn[1]);
    int newest = txn[0] < txn[1]; /* LMDB's choice; 0 on a tie */
    const uint8_t *meta = m[newest] + PAGEHDR;
    c->txn_max = txn[newest];
    c->last_pg = get64(meta + META_LAST_PG);
    c->file_pages = (uint64_t)st.st_size / psize;
    if (c->last_pg < 1 || c->last_pg >= c->file_pages)
        return bad(c, "%s is truncated: %llu bytes, %llu pages in use", path,
                   (unsigned long long)st.st_size,
                   (unsigned long long)c->last_pg + 1);
    uint64_t mapsize = get64(meta + META_MAPSIZE);
    if (mapsize / psize < c->last_pg + 1 || mapsize > (1ull << 48))
        return bad(c, "the meta page's map size %llu is implausible",
                   (unsigned long long)mapsize);
    size_t bits = (size_t)(c->last_pg / 8 + 1);
    c->used = calloc(bits, 1);
    c->freed = calloc(bits, 1);
    if (!c->used || !c->freed)
        return -PM_ENOMEM;

    struct tree fr = {.name = "free list", .kind = T_FREE, .key_len = 8};
    struct tree mn = {.name = "main database", .kind = T_MAIN};
    dbrec_read(meta + META_DBS, &fr.rec);
    dbrec_read(meta + META_DBS + DB_BYTES, &mn.rec);
    if (fr.rec.flags != MDB_INTEGERKEY_ || mn.rec.flags != 0)
        return bad(c, "the meta page's database flags are 0x%x/0x%x",
                   fr.rec.flags, mn.rec.flags);
    int rc;
    if ((rc = tree(c, &mn)) != 0 || (rc = tree(c, &fr)) != 0)
        return rc;
    for (int i = 0; i < c->n_tables; i++) {
        struct tree t = {.name = c->tname[i], .kind = T_TABLE,
                         .key_len = strcmp(c->tname[i], "log") == 0 ? 8 : 0,
                         .rec = c->trec[i]};
        if (t.rec.flags != 0)
            return bad(c, "table '%s' has flags 0x%x", t.name, t.rec.flags);
        if ((rc = tree(c, &t)) != 0)
            return rc;
    }
    for (size_t i = 0; i < bits; i++)
        if (c->used[i] & c->freed[i])
            return bad(c, "free list: it names a page in use (near page %zu)",
                       i * 8);
    if (txn[0] == txn[1])
        return 0; /* no commit yet: both trees are empty */
    uint8_t *newer = c->used, *newer_freed = c->freed;
    rc = check_older_free_list(c, m[!newest] + PAGEHDR, txn[!newest], newer,
                               bits);
    c->used = newer;
    c->freed = newer_freed;
    return rc;
}

/* ---- step 2: the data, through LMDB ---------------------------------------- */

static int known_meta(const MDB_val *k, const uint8_t **body, size_t *len,
                      const MDB_val *v, char *name)
{
    size_t size;
    const char *known = log__meta_known(k->mv_data, k->mv_size, &size);
    if (!known)
        return 0;
    strcpy(name, known);
    if (log__meta_decode(known, v->mv_data, v->mv_size, body, len) != 0)
        return 0;
    if (size)
        return *len == size;
    return *len >= 20 && *len - 20 == log__get_be32(*body + 16);
}

/* Walk table DBI with a cursor; FN checks one record (0 or a pm_err). Each
 * key is looked up again, and the count must match the table's. */
static int scan(struct chk *c, MDB_txn *txn, MDB_dbi dbi, const char *name,
                int (*fn)(struct chk *, void *, const MDB_val *,
                          const MDB_val *),
                void *ctx)
{
    MDB_stat st;
    MDB_cursor *cur;
    int mrc = mdb_stat(txn, dbi, &st);
    if (mrc == 0)
        mrc = mdb_cursor_open(txn, dbi, &cur);
    if (mrc != 0)
        return bad(c, "table '%s': %s", name, mdb_strerror(mrc));
    MDB_val k, v, v2;
    size_t seen = 0;
    int rc = 0;
    mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; mrc == 0 && seen <= st.ms_entries; seen++) {
        if ((rc = fn(c, ctx, &k, &v)) != 0)
            break;
        if (mdb_get(txn, dbi, &k, &v2) != 0 || v2.mv_data != v.mv_data) {
            rc = bad(c, "table '%s': record %zu is not found by its key",
                     name, seen + 1);
            break;
        }
        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (rc == 0 && mrc != 0 && mrc != MDB_NOTFOUND)
        rc = bad(c, "table '%s': %s", name, mdb_strerror(mrc));
    if (rc == 0 && seen != st.ms_entries)
        rc = bad(c, "table '%s': %zu records readable, it counts %zu", name,
                 seen, (size_t)st.ms_entries);
    return rc;
}

struct log_walk {
    uint64_t base, next;
};

static int check_entry(struct chk *c, void *ctx, const MDB_val *k,
                       const MDB_val *v)
{
    struct log_walk *w = ctx;
    uint64_t idx = k->mv_size == LOG__KEY_BYTES ? log__get_be64(k->mv_data) : 0;
    if (idx == 0 || (w->next ? idx != w->next : idx != w->base + 1))
        return bad(c, "log: entry %llu where %llu belongs (a gap, or the "
                   "first entry does not follow base %llu)",
                   (unsigned long long)idx,
                   (unsigned long long)(w->next ? w->next : w->base + 1),
                   (unsigned long long)w->base);
    uint64_t term;
    uint8_t type;
    const uint8_t *payload;
    uint32_t len;
    if (log__entry_decode(idx, v->mv_data, v->mv_size, &term, &type,
                          &payload, &len) != 0)
        return bad(c, "log: entry %llu fails its checksum",
                   (unsigned long long)idx);
    w->next = idx + 1;
    return 0;
}

static int check_state(struct chk *c, void *ctx, const MDB_val *k,
                       const MDB_val *v)
{
    (void)ctx;
    const uint8_t *val;
    size_t len;
    if (k->mv_size == 0 ||
        log__state_decode(k->mv_data, k->mv_size, v->mv_data, v->mv_size,
                          &val, &len) != 0)
        return bad(c, "state: a record (%zu-byte key) fails its checksum",
                   k->mv_size);
    return 0;
}

static int check_meta(struct chk *c, void *ctx, const MDB_val *k,
                      const MDB_val *v)
{
    uint64_t *base = ctx;
    const uint8_t *body;
    size_t len;
    char name[8];
    if (!known_meta(k, &body, &len, v, name))
        return bad(c, "meta: a record (%zu-byte name) is unknown, fails its "
                   "checksum or has the wrong size", k->mv_size);
    if (strcmp(name, "base") == 0)
        *base = log__get_be64(body);
    return 0;
}

/* Step 2 (see the file comment). */
static int check_data(struct chk *c, const char *dir)
{
    MDB_env *env;
    MDB_txn *txn = NULL;
    MDB_dbi dbi[3];
    static const char *const names[] = {"log", "meta", "state"};
    int mrc = mdb_env_create(&env);
    if (mrc != 0)
        return log__err(mrc);
    int rc = 0;
    if ((mrc = mdb_env_set_maxdbs(env, 3)) != 0 ||
        (mrc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS,
                            0600)) != 0 ||
        (mrc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0) {
        rc = bad(c, "LMDB refuses it: %s", mdb_strerror(mrc));
        goto out;
    }
    for (int i = 0; i < 3; i++)
        if (mdb_dbi_open(txn, names[i], 0, &dbi[i]) != 0)
            goto out; /* env.c names the missing table */
    MDB_val fk = {6, "format"}, fv;
    const uint8_t *body;
    size_t len;
    if (mdb_get(txn, dbi[1], &fk, &fv) != 0 ||
        log__meta_decode("format", fv.mv_data, fv.mv_size, &body, &len) != 0 ||
        len != 4 || !log__format_readable(log__get_be32(body)))
        goto out; /* env.c reports a missing, damaged or other format */
    uint64_t base = 0;
    struct log_walk w = {0};
    if ((rc = scan(c, txn, dbi[1], "meta", check_meta, &base)) != 0)
        goto out;
    w.base = base;
    if ((rc = scan(c, txn, dbi[0], "log", check_entry, &w)) != 0 ||
        (rc = scan(c, txn, dbi[2], "state", check_state, NULL)) != 0)
        goto out;
out:
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc;
}

/* What the child reports. */
struct verdict {
    int rc;
    char why[240];
};

_Noreturn static void child(const char *dir, int out)
{
    struct verdict v = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    struct chk c = {.fd = open(path, O_RDONLY | O_CLOEXEC), .why = v.why,
                    .why_len = sizeof v.why, .key_max = 511};
    MDB_env *env;
    if (mdb_env_create(&env) == 0) { /* LMDB's key limit is built in */
        c.key_max = (unsigned)mdb_env_get_maxkeysize(env);
        mdb_env_close(env);
    }
    if (c.fd < 0) {
        v.rc = pm_from_errno(errno);
        snprintf(v.why, sizeof v.why, "cannot open data.mdb");
    } else {
        struct stat st;
        unsigned secs = CHILD_SECS_MIN;
        if (fstat(c.fd, &st) == 0)
            secs += (unsigned)((uint64_t)st.st_size / CHILD_BYTES_PER_SEC);
        alarm(secs);
        v.rc = check_structure(&c, path);
        if (v.rc == 0)
            v.rc = check_data(&c, dir);
        free(c.used);
        free(c.freed);
        close(c.fd);
    }
    ssize_t w = write(out, &v, sizeof v);
    _exit(w == (ssize_t)sizeof v ? 0 : 1);
}

/* The child holds none of the caller's descriptors: a killed caller's
 * flock()s (the store's owner.lock, the node's pid file) must not outlive
 * it in the child. */
static void close_inherited(int keep)
{
    if ((keep <= 3 || close_range(3, (unsigned)keep - 1, 0) == 0) &&
        close_range((unsigned)keep + 1, ~0u, 0) == 0)
        return;
    for (int fd = 3; fd < 4096; fd++) /* kernels before 5.9 */
        if (fd != keep)
            close(fd);
}

int log__verify(const char *dir)
{
    pid_t parent = getpid();
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return pm_from_errno(errno);
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(pfd[0]);
        close(pfd[1]);
        pm_say(PM_ERROR, "log", "%s: cannot check the store: fork: %s", dir,
               strerror(err));
        return pm_from_errno(err);
    }
    if (pid == 0) {
        /* The check is the caller's business only: it dies with it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        close_inherited(pfd[1]);
        /* Whatever the parent does with these (a test harness catching
         * SIGSEGV, say), here they must end the child. */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL,
                                   SIGALRM};
        sigset_t set;
        sigemptyset(&set);
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
            signal(sigs[i], SIG_DFL);
            sigaddset(&set, sigs[i]);
        }
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        child(dir, pfd[1]);
    }
    close(pfd[1]);
    struct verdict v;
    size_t got = 0;
    while (got < sizeof v) {
        ssize_t r = read(pfd[0], (char *)&v + got, sizeof v - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        pm_say(PM_ERROR, "log", "%s: store damaged: the check %s (signal %d, "
               "%s); the store was not opened", dir,
               sig == SIGALRM ? "did not finish in time" : "crashed on it",
               sig, strsignal(sig));
        return -PM_ECORRUPT;
    }
    if (got != sizeof v) {
        pm_say(PM_ERROR, "log", "%s: cannot check the store: the check "
               "ended without a verdict", dir);
        return -PM_EIO;
    }
    v.why[sizeof v.why - 1] = 0;
    if (v.rc == -PM_ECORRUPT)
        pm_say(PM_ERROR, "log", "%s: store damaged: %s", dir, v.why);
    else if (v.rc != 0)
        pm_say(PM_ERROR, "log", "%s: cannot check the store: %s: %s", dir,
               v.why, pm_strerror(v.rc));
    return v.rc;
}
