/* bench/log.c: the durable store against bare LMDB on the same workload.
 *
 * For batches of 1, 10, 100 and 1000 entries of 256 bytes, commit batches
 * through log_write() (batches up to 32 KiB become journal records, one
 * fdatasync each, and reach LMDB when the 1 MiB journal is full; the
 * 1000-entry batches are LMDB commits: src/log/journal.c) and,
 * interleaved transaction by transaction (alternating which goes first,
 * so disk drift favours neither), the same puts on bare LMDB
 * (8-byte big-endian keys, MDB_APPEND, default durability, one write txn
 * per batch). Both stores live side by side in one temporary directory on
 * the disk under test ($TMPDIR, /tmp, or -d DIR) with maps big enough that
 * neither grows during the run. One line per batch size:
 *
 *   log batch=100 log_eps=... lmdb_eps=... ratio=0.97 ratio_p50=0.98
 *       log_p50_ms=... log_p99_ms=... lmdb_p50_ms=... lmdb_p99_ms=...
 *
 * usage: log-bench [-d DIR] [-r ROUNDS] [-q]
 *   ROUNDS scales the transactions per batch size (default 16);
 *   -q is a short smoke run.
 */
#include <lmdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "log/log.h"

#define ENTRY_BYTES 256
#define MAP_BYTES (4ull << 30)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(uint64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_u64);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1e6;
}

struct side {
    uint64_t next;     /* next index to write */
    uint64_t busy_ns;  /* total time inside commits */
    uint64_t *lat_ns;
    size_t n_lat;
};

static uint8_t payload[ENTRY_BYTES];

static int log_round(struct log *log, struct side *s, size_t batch,
                     size_t txns, struct pm_entry *e)
{
    for (size_t t = 0; t < txns; t++) {
        for (size_t i = 0; i < batch; i++)
            e[i] = (struct pm_entry){.index = s->next + i, .term = 1,
                                     .type = PM_ENTRY_COMMAND, .data = payload,
                                     .len = ENTRY_BYTES};
        struct log_batch b = {.entries = e, .n_entries = batch};
        uint64_t t0 = now_ns();
        int rc = log_write(log, &b);
        uint64_t dt = now_ns() - t0;
        if (rc != 0) {
            fprintf(stderr, "log_write: %s\n", pm_strerror(rc));
            return -1;
        }
        s->busy_ns += dt;
        s->lat_ns[s->n_lat++] = dt;
        s->next += batch;
    }
    return 0;
}

static int lmdb_round(MDB_env *env, MDB_dbi dbi, struct side *s, size_t batch,
                      size_t txns)
{
    for (size_t t = 0; t < txns; t++) {
        uint64_t t0 = now_ns();
        MDB_txn *txn;
        int rc = mdb_txn_begin(env, NULL, 0, &txn);
        for (size_t i = 0; i < batch && rc == 0; i++) {
            uint8_t key[8];
            uint64_t idx = s->next + i;
            for (int j = 7; j >= 0; j--, idx >>= 8)
                key[j] = (uint8_t)idx;
            MDB_val k = {8, key}, v = {ENTRY_BYTES, payload};
            rc = mdb_put(txn, dbi, &k, &v, MDB_APPEND);
        }
        if (rc == 0)
            rc = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
        uint64_t dt = now_ns() - t0;
        if (rc != 0) {
            fprintf(stderr, "lmdb: %s\n", mdb_strerror(rc));
            return -1;
        }
        s->busy_ns += dt;
        s->lat_ns[s->n_lat++] = dt;
        s->next += batch;
    }
    return 0;
}

static void rm_store(const char *dir)
{
    char p[600];
    const char *files[] = {"data.mdb", "lock.mdb", "owner.lock"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(int argc, char **argv)
{
    const char *base = getenv("TMPDIR");
    int rounds = 16, quick = 0, opt;
    while ((opt = getopt(argc, argv, "d:r:q")) != -1) {
        switch (opt) {
        case 'd': base = optarg; break;
        case 'r': rounds = atoi(optarg); break;
        case 'q': quick = 1; break;
        default:
            fprintf(stderr, "usage: %s [-d DIR] [-r ROUNDS] [-q]\n", argv[0]);
            return 2;
        }
    }
    if (rounds < 2)
        rounds = 2;
    /* Piped into `head`: keep going to the cleanup instead of dying. */
    signal(SIGPIPE, SIG_IGN);
    char top[512], dlog[600], dlmdb[600];
    snprintf(top, sizeof top, "%s/pmesh-logbench-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(top)) {
        perror("mkdtemp");
        return 2;
    }
    snprintf(dlog, sizeof dlog, "%s/log", top);
    snprintf(dlmdb, sizeof dlmdb, "%s/lmdb", top);
    for (size_t i = 0; i < ENTRY_BYTES; i++)
        payload[i] = (uint8_t)(i * 31 + 7);

    struct log *log = NULL;
    MDB_env *env = NULL;
    MDB_txn *txn;
    MDB_dbi dbi;
    struct log_options o = {.map_bytes_initial = MAP_BYTES, .map_bytes_max = MAP_BYTES};
    int rc = log_open(dlog, &o, &log);
    if (rc != 0) {
        fprintf(stderr, "log_open: %s\n", pm_strerror(rc));
        return 1;
    }
    mkdir(dlmdb, 0700);
    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 1) ||
        mdb_env_set_mapsize(env, MAP_BYTES) || mdb_env_open(env, dlmdb, 0, 0600) ||
        mdb_txn_begin(env, NULL, 0, &txn) ||
        mdb_dbi_open(txn, "log", MDB_CREATE, &dbi) || mdb_txn_commit(txn)) {
        fprintf(stderr, "lmdb setup failed\n");
        return 1;
    }

    /* Transactions per round for each batch size: ~0.1-0.3 s per round. */
    const size_t batches[] = {1, 10, 100, 1000};
    const size_t txns_per_round[] = {400, 300, 200, 40};
    struct pm_entry *e = malloc(1000 * sizeof *e);
    struct side sl = {.next = 1}, sm = {.next = 1};
    int status = 0;
    printf("# log vs bare LMDB, %d-byte entries, default durability, dir %s\n",
           ENTRY_BYTES, top);
    for (size_t bi = 0; bi < 4 && status == 0; bi++) {
        size_t batch = batches[bi];
        size_t txns = quick ? 5 : txns_per_round[bi];
        int nr = quick ? 2 : rounds;
        sl.busy_ns = sm.busy_ns = 0;
        sl.n_lat = sm.n_lat = 0;
        sl.lat_ns = malloc((size_t)nr * txns * sizeof(uint64_t));
        sm.lat_ns = malloc((size_t)nr * txns * sizeof(uint64_t));
        /* Transaction by transaction, alternating which side goes first,
         * so that drift in the disk's speed (other tenants, write-back)
         * hits both sides alike. */
        for (size_t t = 0; t < (size_t)nr * txns && status == 0; t++) {
            if (t % 2 == 0)
                status = log_round(log, &sl, batch, 1, e) ||
                         lmdb_round(env, dbi, &sm, batch, 1);
            else
                status = lmdb_round(env, dbi, &sm, batch, 1) ||
                         log_round(log, &sl, batch, 1, e);
        }
        if (status == 0) {
            double leps = (double)(sl.n_lat * batch) / ((double)sl.busy_ns / 1e9);
            double meps = (double)(sm.n_lat * batch) / ((double)sm.busy_ns / 1e9);
            double lp50 = pct_ms(sl.lat_ns, sl.n_lat, 0.50);
            double lp99 = pct_ms(sl.lat_ns, sl.n_lat, 0.99);
            double mp50 = pct_ms(sm.lat_ns, sm.n_lat, 0.50);
            double mp99 = pct_ms(sm.lat_ns, sm.n_lat, 0.99);
            /* ratio: mean throughput (sensitive to a few slow syncs);
             * ratio_p50: from the median commit time (steadier). */
            printf("log batch=%zu log_eps=%.0f lmdb_eps=%.0f ratio=%.2f "
                   "ratio_p50=%.2f log_p50_ms=%.3f log_p99_ms=%.3f "
                   "lmdb_p50_ms=%.3f lmdb_p99_ms=%.3f txns=%zu\n", batch, leps,
                   meps, leps / meps, mp50 / lp50, lp50, lp99, mp50, mp99,
                   sl.n_lat);
            fflush(stdout);
        }
        free(sl.lat_ns);
        free(sm.lat_ns);
    }
    free(e);
    log_close(log);
    mdb_env_close(env);
    rm_store(dlog);
    rm_store(dlmdb);
    rmdir(top);
    return status ? 1 : 0;
}
