/* env.c: opening and closing the LMDB environment, checking what is on disk
 * before anything trusts it, error translation and map growth. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/say.h"
#include "log/log_impl.h"

#define MAP_BYTES_INITIAL_DEFAULT (64ull << 20)
#define MAP_BYTES_MAX_DEFAULT (64ull << 30)
/* LMDB needs a few pages for its meta pages and the named-db records. */
#define MAP_BYTES_MIN (64ull << 10)

int log__err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS: return 0;
    case MDB_NOTFOUND: return -PM_ENOTFOUND;
    case MDB_KEYEXIST: return -PM_EEXIST;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
        return -PM_ECORRUPT;
    case MDB_MAP_FULL: return -PM_ENOSPC;
    case MDB_TXN_FULL:     /* too many dirty pages for one transaction */
    case MDB_BAD_VALSIZE:
    case MDB_PAGE_FULL:
        return -PM_ETOOBIG;
    case MDB_READERS_FULL: return -PM_EBUSY;
    case MDB_MAP_RESIZED: return -PM_EAGAIN;
    case MDB_PANIC:        /* a failed meta write: the env must be reopened */
    case MDB_DBS_FULL:
    case MDB_TLS_FULL:
    case MDB_CURSOR_FULL:
    case MDB_BAD_RSLOT:
    case MDB_BAD_TXN:
    case MDB_BAD_DBI:
        return -PM_EIO;
    default:
        return rc > 0 ? pm_from_errno(rc) : -PM_EIO;
    }
}

int log__grow(struct log *log)
{
    if (log->map_bytes >= log->map_bytes_max)
        return -PM_ENOSPC;
    uint64_t next = log->map_bytes * 2;
    if (next > log->map_bytes_max || next < log->map_bytes)
        next = log->map_bytes_max;
    int rc = mdb_env_set_mapsize(log->env, (size_t)next);
    if (rc != 0) {
        /* LMDB unmapped the old map before failing to map the new one
         * (e.g. out of address space): the handle cannot be used again. */
        pm_say(PM_ERROR, "log", "%s: growing the map to %llu bytes failed: %s;"
               " the store must be reopened", log->dir,
               (unsigned long long)next, mdb_strerror(rc));
        log->broken = 1;
        return -PM_EIO;
    }
    MDB_envinfo info;
    mdb_env_info(log->env, &info);
    log->map_bytes = info.me_mapsize;
    pm_say(PM_DEBUG, "log", "map grown to %llu bytes",
           (unsigned long long)log->map_bytes);
    return 0;
}

char *log__path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* One owner per directory: LMDB must not be opened twice in one process
 * (closing the second handle drops the first one's POSIX locks), and two
 * nodes sharing a store would corrupt each other's Raft state. flock() on
 * a separate file is independent of LMDB's own fcntl() locks. */
static int take_ownership(struct log *log)
{
    char *path = log__path_join(log->dir, "owner.lock");
    if (!path)
        return -PM_ENOMEM;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0)
        return pm_from_errno(errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        if (err == EWOULDBLOCK) {
            pm_say(PM_ERROR, "log", "%s is in use by another process or handle",
                   log->dir);
            return -PM_EBUSY;
        }
        return pm_from_errno(err);
    }
    log->owner_fd = fd;
    return 0;
}

/* LMDB initialises an empty data.mdb as a new environment, which would
 * silently turn a data file truncated to nothing into an empty log. Sets
 * *fresh when there is no data file yet. */
static int refuse_empty_data_file(const char *dir, int *fresh)
{
    char *path = log__path_join(dir, "data.mdb");
    if (!path)
        return -PM_ENOMEM;
    struct stat st;
    int rc = stat(path, &st);
    free(path);
    *fresh = rc != 0 && errno == ENOENT;
    if (rc == 0 && st.st_size == 0) {
        pm_say(PM_ERROR, "log", "%s/data.mdb is empty (truncated?)", dir);
        return -PM_ECORRUPT;
    }
    return 0;
}

int log__fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return pm_from_errno(errno);
    int rc = fsync(fd) == 0 ? 0 : pm_from_errno(errno);
    close(fd);
    return rc;
}

/* LMDB syncs the data file but never the directory holding it: after a
 * power cut right after the first commit, a new data.mdb (or the new store
 * directory itself) could be missing. Sync the names once, at creation. */
static int sync_new_names(const char *dir, int made_dir)
{
    int rc = log__fsync_dir(dir);
    if (rc == 0 && made_dir) {
        char *parent = strdup(dir);
        if (!parent)
            return -PM_ENOMEM;
        char *slash = strrchr(parent, '/');
        if (slash == parent)
            slash[1] = 0;      /* "/x" -> "/" */
        else if (slash)
            *slash = 0;
        else
            strcpy(parent, ".");
        rc = log__fsync_dir(parent);
        free(parent);
    }
    return rc;
}

/* LMDB reads b-tree pages through the map without checking them against
 * the file's length, so a truncated file would fault (SIGBUS) on the first
 * lookup. The meta page says which pages are in use; they must all exist. */
static int check_file_covers_pages(struct log *log)
{
    MDB_envinfo info;
    MDB_stat st;
    int fd;
    struct stat fst;
    if (mdb_env_info(log->env, &info) != 0 || mdb_env_stat(log->env, &st) != 0 ||
        mdb_env_get_fd(log->env, &fd) != 0 || fstat(fd, &fst) != 0)
        return -PM_EIO;
    uint64_t need = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    if ((uint64_t)fst.st_size < need) {
        pm_say(PM_ERROR, "log", "%s/data.mdb is truncated: %llu bytes, %llu in use",
               log->dir, (unsigned long long)fst.st_size, (unsigned long long)need);
        return -PM_ECORRUPT;
    }
    log->map_bytes = info.me_mapsize;
    return 0;
}

static int meta_get(MDB_txn *txn, struct log *log, const char *name,
                    const uint8_t **body, size_t *len)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, log->dbi_meta, &k, &v);
    if (rc != 0)
        return log__err(rc);
    rc = log__meta_decode(name, v.mv_data, v.mv_size, body, len);
    if (rc != 0)
        pm_say(PM_ERROR, "log", "meta record '%s' fails its checksum", name);
    return rc;
}

static int bad_meta(const char *name)
{
    pm_say(PM_ERROR, "log", "meta record '%s' has the wrong size", name);
    return -PM_ECORRUPT;
}

/* Translate an LMDB result of the setup transaction (aborting it when it
 * failed and is still open), noting a full map for the caller to grow. */
static int setup_rc(MDB_txn *txn, int rc, int *map_full)
{
    if (rc != 0 && txn)
        mdb_txn_abort(txn);
    *map_full = rc == MDB_MAP_FULL;
    return log__err(rc);
}

/* Every meta record must be one the store writes and pass its checksum,
 * and the table's count must match what a scan reaches: a torn page that
 * lost the hard state (term, vote) must not read as "no hard state yet". */
static int check_meta_table(MDB_txn *txn, struct log *log)
{
    MDB_stat st;
    MDB_cursor *cur;
    int rc = mdb_stat(txn, log->dbi_meta, &st);
    if (rc == 0)
        rc = mdb_cursor_open(txn, log->dbi_meta, &cur);
    if (rc != 0)
        return log__err(rc);
    MDB_val k, v;
    size_t seen = 0;
    int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (; mrc == 0 && seen < st.ms_entries; seen++) {
        size_t size;
        const char *name = log__meta_known(k.mv_data, k.mv_size, &size);
        const uint8_t *body;
        size_t len;
        if (!name || log__meta_decode(name, v.mv_data, v.mv_size, &body,
                                      &len) != 0) {
            mdb_cursor_close(cur);
            pm_say(PM_ERROR, "log", "%s: store damaged: meta record %zu "
                   "(%zu-byte name) is unknown or fails its checksum",
                   log->dir, seen + 1, k.mv_size);
            return -PM_ECORRUPT;
        }
        mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (mrc != 0 && mrc != MDB_NOTFOUND)
        return log__err(mrc);
    if (seen != st.ms_entries || mrc == 0) {
        pm_say(PM_ERROR, "log", "%s: store damaged: %zu meta records "
               "readable, the table counts %zu", log->dir, seen,
               (size_t)st.ms_entries);
        return -PM_ECORRUPT;
    }
    return 0;
}

/* An existing store: open its three tables (never create one: a missing
 * table means a damaged main database, and an empty stand-in would start
 * the node with term 0 and no log), then check its format record and its
 * meta table. TXN stays open; the caller ends it. */
static int open_existing(MDB_txn *txn, struct log *log, size_t n_tables)
{
    static const char *const names[] = {"log", "meta", "state"};
    MDB_dbi *dbis[] = {&log->dbi_log, &log->dbi_meta, &log->dbi_state};
    if (n_tables != 3) {
        pm_say(PM_ERROR, "log", "%s: store damaged: its main database names "
               "%zu tables, not 3", log->dir, n_tables);
        return -PM_ECORRUPT;
    }
    for (int i = 0; i < 3; i++) {
        int rc = mdb_dbi_open(txn, names[i], 0, dbis[i]);
        if (rc == MDB_NOTFOUND) {
            pm_say(PM_ERROR, "log", "%s: store damaged: table '%s' is missing",
                   log->dir, names[i]);
            return -PM_ECORRUPT;
        }
        if (rc != 0) {
            pm_say(PM_ERROR, "log", "%s: store damaged: table '%s': %s",
                   log->dir, names[i], mdb_strerror(rc));
            return log__err(rc);
        }
    }
    const uint8_t *body;
    size_t len;
    int rc = meta_get(txn, log, "format", &body, &len);
    if (rc == -PM_ENOTFOUND) {
        pm_say(PM_ERROR, "log", "%s: store damaged: it has data but no "
               "format record", log->dir);
        return -PM_ECORRUPT;
    }
    if (rc != 0)
        return rc;
    if (len != 4)
        return bad_meta("format");
    uint32_t format = log__get_be32(body);
    if (!log__format_readable(format)) {
        pm_say(PM_ERROR, "log", "%s: store format %u, this build reads "
               "formats %u-%u (no conversion: set this node up again)",
               log->dir, format, LOG__FORMAT_OLDEST, LOG__FORMAT);
        return -PM_EVERSION;
    }
    int rc2 = check_meta_table(txn, log);
    if (rc2 == 0 && format != LOG__FORMAT) {
        /* Format 2 is format 3 with an empty journal: stamp it 3 so that
         * a build without the journal refuses it from now on. */
        uint8_t rec[LOG__META_CRC_BYTES + 4];
        log__put_be32(rec + LOG__META_CRC_BYTES, LOG__FORMAT);
        rc2 = log__err(log__put_meta(txn, log, "format", rec, 4));
    }
    return rc2;
}

/* A brand-new store: create the three tables and stamp the format record
 * (the creation marker, log_impl.h) in one transaction. */
static int create_new(MDB_txn *txn, struct log *log)
{
    int rc;
    if ((rc = mdb_dbi_open(txn, "log", MDB_CREATE, &log->dbi_log)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &log->dbi_meta)) != 0 ||
        (rc = mdb_dbi_open(txn, "state", MDB_CREATE, &log->dbi_state)) != 0)
        return rc;
    uint8_t rec[LOG__META_CRC_BYTES + 4];
    log__put_be32(rec + LOG__META_CRC_BYTES, LOG__FORMAT);
    log__meta_seal("format", rec, 4);
    MDB_val k = {6, "format"}, v = {sizeof rec, rec};
    return mdb_put(txn, log->dbi_meta, &k, &v, 0);
}

/* Open the tables of an existing store, or create those of a new one. New
 * means LMDB's main database names no table and no page beyond the two
 * meta pages is in use (an environment just created, or one whose creating
 * transaction never committed); anything else must be a complete store. */
static int setup_dbs(struct log *log, int *map_full)
{
    MDB_txn *txn;
    *map_full = 0;
    int rc = mdb_txn_begin(log->env, NULL, 0, &txn);
    if (rc != 0)
        return setup_rc(NULL, rc, map_full);
    MDB_dbi main_dbi;
    MDB_stat ms;
    MDB_envinfo info;
    if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 ||
        (rc = mdb_stat(txn, main_dbi, &ms)) != 0 ||
        (rc = mdb_env_info(log->env, &info)) != 0)
        return setup_rc(txn, rc, map_full);
    if (ms.ms_entries > 0) {
        rc = open_existing(txn, log, ms.ms_entries);
        if (rc != 0) {
            mdb_txn_abort(txn);
            return rc;
        }
        /* Commit keeps the dbi handles (and an upgraded format record). */
        return setup_rc(NULL, mdb_txn_commit(txn), map_full);
    }
    if (info.me_last_pgno > 1) {
        mdb_txn_abort(txn);
        pm_say(PM_ERROR, "log", "%s: store damaged: %zu pages in use but no "
               "tables", log->dir, (size_t)info.me_last_pgno + 1);
        return -PM_ECORRUPT;
    }
    if ((rc = create_new(txn, log)) != 0)
        return setup_rc(txn, rc, map_full);
    /* mdb_txn_commit() frees the txn even when it fails. */
    return setup_rc(NULL, mdb_txn_commit(txn), map_full);
}

/* Derive the cached bounds from the data and check they agree: the first
 * stored index is base + 1, the last is at least that, and the count of
 * entries equals the span (so there is no gap anywhere). */
static int load_bounds(struct log *log)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(log->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0)
        return log__err(rc);
    const uint8_t *body;
    size_t len;
    MDB_cursor *cur = NULL;

    rc = meta_get(txn, log, "base", &body, &len);
    if (rc == 0) {
        if (len != 16) { rc = bad_meta("base"); goto out; }
        log->base = log__get_be64(body);
        log->base_term = log__get_be64(body + 8);
    } else if (rc != -PM_ENOTFOUND) {
        goto out;
    }
    rc = meta_get(txn, log, "hard", &body, &len);
    if (rc == 0) {
        if (len != 24) { rc = bad_meta("hard"); goto out; }
        log->hard.term = log__get_be64(body);
        log->hard.vote = log__get_be64(body + 8);
        log->hard.commit = log__get_be64(body + 16);
    } else if (rc != -PM_ENOTFOUND) {
        goto out;
    }
    rc = meta_get(txn, log, "applied", &body, &len);
    if (rc == 0) {
        if (len != 8) { rc = bad_meta("applied"); goto out; }
        log->applied = log__get_be64(body);
    } else if (rc != -PM_ENOTFOUND) {
        goto out;
    }
    log->j.seq = 1;
    rc = meta_get(txn, log, "journal", &body, &len);
    if (rc == 0) {
        if (len != 8) { rc = bad_meta("journal"); goto out; }
        log->j.seq = log__get_be64(body);
    } else if (rc != -PM_ENOTFOUND) {
        goto out;
    }
    rc = meta_get(txn, log, "snap", &body, &len);
    if (rc == 0) {
        if (len < 20 || len - 20 != log__get_be32(body + 16)) {
            rc = bad_meta("snap");
            goto out;
        }
    } else if (rc != -PM_ENOTFOUND) {
        goto out;
    }

    rc = log__err(mdb_cursor_open(txn, log->dbi_log, &cur));
    if (rc != 0)
        goto out;
    MDB_val k, v;
    int mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    if (mrc == MDB_NOTFOUND) {
        log->last = log->base;
        rc = 0;
        goto out;
    }
    if (mrc != 0) { rc = log__err(mrc); goto out; }
    if (k.mv_size != LOG__KEY_BYTES) goto bad_key;
    uint64_t first = log__get_be64(k.mv_data);
    mrc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
    if (mrc != 0) { rc = log__err(mrc); goto out; }
    if (k.mv_size != LOG__KEY_BYTES) goto bad_key;
    uint64_t last = log__get_be64(k.mv_data);
    MDB_stat st;
    mdb_stat(txn, log->dbi_log, &st);
    if (first != log->base + 1 || last < first ||
        st.ms_entries != last - first + 1) {
        pm_say(PM_ERROR, "log", "log range [%llu, %llu] with %zu entries "
               "does not follow base %llu",
               (unsigned long long)first, (unsigned long long)last,
               st.ms_entries, (unsigned long long)log->base);
        rc = -PM_ECORRUPT;
        goto out;
    }
    log->last = last;
    rc = 0;
    goto out;
bad_key:
    pm_say(PM_ERROR, "log", "log key of %zu bytes", k.mv_size);
    rc = -PM_ECORRUPT;
out:
    if (cur)
        mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return rc;
}

int log_open(const char *dir, const struct log_options *opt, struct log **out)
{
    if (!dir || !*dir || !out)
        return -PM_EINVAL;
    *out = NULL;
    uint64_t initial = opt && opt->map_bytes_initial ? opt->map_bytes_initial
                                                     : MAP_BYTES_INITIAL_DEFAULT;
    uint64_t max = opt && opt->map_bytes_max ? opt->map_bytes_max
                                             : MAP_BYTES_MAX_DEFAULT;
    if (initial < MAP_BYTES_MIN)
        initial = MAP_BYTES_MIN;
    if (max < initial || max > SIZE_MAX)
        return -PM_EINVAL;

    int made_dir = mkdir(dir, 0700) == 0, fresh = 0;
    if (!made_dir && errno != EEXIST)
        return pm_from_errno(errno);

    struct log *log = calloc(1, sizeof *log);
    if (!log)
        return -PM_ENOMEM;
    log->owner_fd = -1;
    log->j.fd = -1;
    log->map_bytes_max = max;
    log->dir = strdup(dir);
    int rc = log->dir ? 0 : -PM_ENOMEM;
    if (rc == 0)
        rc = take_ownership(log);
    if (rc == 0)
        rc = refuse_empty_data_file(dir, &fresh);
    /* LMDB trusts every page it reads: a damaged one could crash this
     * process. A child checks the whole store first (verify.c). */
    if (rc == 0 && !fresh && !(opt && opt->verify_skip))
        rc = log__verify(dir);
    if (rc == 0)
        rc = log__err(mdb_env_create(&log->env));
    if (rc != 0)
        goto fail;
    if ((rc = log__err(mdb_env_set_maxdbs(log->env, 3))) != 0 ||
        (rc = log__err(mdb_env_set_mapsize(log->env, (size_t)initial))) != 0)
        goto fail;
    /* Default durability on purpose: no MDB_NOSYNC / MDB_NOMETASYNC (either
     * can lose an acknowledged entry or a vote in a crash) and no
     * MDB_WRITEMAP (its p99 at large batches is poor; see FACTS.md).
     * MDB_NOTLS only ties the reused read transaction to this handle rather
     * than to the thread that opened it, so the owner may hand the store to
     * another thread between calls. */
    rc = mdb_env_open(log->env, dir, MDB_NOTLS, 0600);
    if (rc != 0) {
        pm_say(PM_ERROR, "log", "cannot open %s: %s", dir, mdb_strerror(rc));
        rc = log__err(rc);
        goto fail;
    }
    log->key_bytes_max = (unsigned)mdb_env_get_maxkeysize(log->env);
    if ((rc = check_file_covers_pages(log)) != 0)
        goto fail;
    for (int tries = 0;; tries++) {
        int map_full;
        rc = setup_dbs(log, &map_full);
        if (!map_full || tries >= LOG__GROW_TRIES_MAX)
            break;
        if ((rc = log__grow(log)) != 0)
            break;
    }
    if (rc == 0 && fresh)
        rc = sync_new_names(dir, made_dir);
    if (rc != 0 || (rc = load_bounds(log)) != 0)
        goto fail;
    log->lmdb_last = log->last;
    if (!(opt && opt->journal_off) &&
        (rc = log__journal_open(log, opt ? opt->journal_bytes_max : 0,
                                opt ? opt->journal_record_max : 0)) != 0)
        goto fail;
    *out = log;
    return 0;
fail:
    log_close(log);
    return rc;
}

void log_close(struct log *log)
{
    if (!log)
        return;
    log__journal_close(log);
    if (log->rtxn)
        mdb_txn_abort(log->rtxn);
    if (log->env)
        mdb_env_close(log->env);
    if (log->owner_fd >= 0)
        close(log->owner_fd);
    free(log->dir);
    free(log);
}

void log_test_fail_commit(struct log *log, int nth, int err)
{
    log->fail_countdown = nth > 0 ? nth : 0;
    log->fail_err = err;
}
