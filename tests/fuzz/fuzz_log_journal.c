/* fuzz_log_journal.c: libFuzzer target for the store's journal
 * (src/log/journal.c), the one file of the store that log_open parses
 * record by record (data.mdb is checked whole by verify.c first).
 *
 * A template store holds entries 1..50 in LMDB (made once per process).
 * Each input becomes the journal file beside a copy of that template;
 * then log_open() either refuses it with -PM_ECORRUPT or opens it, and an
 * opened store must
 *  - read back every entry in [first, last] with the right index, and
 *    answer log_term_at for each the same as log_read;
 *  - after log_close() (which commits the replayed tail to LMDB), reopen
 *    with the same bounds and hard state.
 * `make fuzz-log-journal` runs it (mk/log.mk); `make check` replays the
 * committed corpus tests/fuzz/corpus/log_journal. Its seeds are valid
 * journals written through log_write: FUZZ_LOG_JOURNAL_SEEDS=DIR makes
 * this harness write them to DIR before its first input. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/err.h"
#include "log/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BASE_ENTRIES 50

static char work[64];
static uint8_t *tmpl;
static size_t tmpl_len;

static void die(const char *what)
{
    fprintf(stderr, "fuzz_log_journal: %s\n", what);
    abort();
}

static void entry(uint64_t index, uint64_t term, uint8_t *buf, struct pm_entry *e)
{
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(index * 31 + term + (uint64_t)i);
    *e = (struct pm_entry){index, term, 1, buf, 8};
}

static void path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", work, name);
}

static void clear(void)
{
    char p[128];
    path(p, sizeof p, "journal");
    unlink(p);
    path(p, sizeof p, "data.mdb");
    unlink(p);
    path(p, sizeof p, "lock.mdb");
    unlink(p);
}

static void put_file(const char *name, const uint8_t *d, size_t n)
{
    char p[128];
    path(p, sizeof p, name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (n && write(fd, d, n) != (ssize_t)n))
        die("cannot write a scratch file");
    close(fd);
}

static const struct log_options opts = {.verify_skip = 1,
                                        .journal_bytes_max = 64 << 10};

static void cleanup(void)
{
    clear();
    char p[128];
    path(p, sizeof p, "owner.lock");
    unlink(p);
    rmdir(work);
}

/* The template: entries 1..50 committed to LMDB (applied set). */
static void setup(void)
{
    if (tmpl)
        return;
    const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(work, sizeof work, "%s/pmesh-fuzz-journal-XXXXXX", shm);
    if (!mkdtemp(work))
        die("mkdtemp");
    atexit(cleanup);
    struct log *log;
    if (log_open(work, &opts, &log) != 0)
        die("cannot create the template store");
    static uint8_t bufs[BASE_ENTRIES][8];
    struct pm_entry es[BASE_ENTRIES];
    for (uint64_t i = 0; i < BASE_ENTRIES; i++)
        entry(i + 1, 1, bufs[i], &es[i]);
    struct log_batch b = {.entries = es, .n_entries = BASE_ENTRIES,
                          .applied = BASE_ENTRIES};
    if (log_write(log, &b) != 0)
        die("cannot fill the template store");
    log_close(log);
    char p[128];
    path(p, sizeof p, "data.mdb");
    FILE *f = fopen(p, "rb");
    struct stat st;
    if (!f || stat(p, &st) != 0)
        die("cannot read the template");
    tmpl_len = (size_t)st.st_size;
    tmpl = malloc(tmpl_len);
    if (!tmpl || fread(tmpl, 1, tmpl_len, f) != tmpl_len)
        die("cannot read the template");
    fclose(f);
}

/* Seeds: valid journals written through log_write by a child that exits
 * without log_close (as a crash would), copied to DIR/seed-N. */
static void write_seeds(const char *dir)
{
    for (int s = 0; s < 4; s++) {
        clear();
        put_file("data.mdb", tmpl, tmpl_len);
        pid_t pid = fork();
        if (pid == 0) {
            struct log *log;
            if (log_open(work, &opts, &log) != 0)
                _exit(1);
            static uint8_t bufs[64][8];
            struct pm_entry es[64];
            uint64_t next = BASE_ENTRIES + 1;
            for (int r = 0; r < 2 + s; r++) {
                uint64_t from = s == 2 && r == 1 ? next - 20 : next;
                struct log_hard_state hs = {2 + (uint64_t)r, 1, from};
                for (int i = 0; i < 5 + r; i++)
                    entry(from + (uint64_t)i, 2 + (uint64_t)r, bufs[i], &es[i]);
                struct log_batch b = {.truncate_from = from < next ? from : 0,
                                      .entries = es,
                                      .n_entries = (size_t)(5 + r),
                                      .hard_state = &hs};
                if (log_write(log, &b) != 0)
                    _exit(1);
                next = from + (uint64_t)(5 + r);
            }
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            die("seed writer failed");
        char p[128], out[512];
        path(p, sizeof p, "journal");
        FILE *f = fopen(p, "rb");
        snprintf(out, sizeof out, "%s/seed-%d", dir, s);
        FILE *o = fopen(out, "wb");
        if (!f || !o)
            die("cannot copy a seed");
        /* Only the pages in use: the rest of the file is zeros. */
        uint8_t page[4096];
        for (int pg = 0; pg < 4 && fread(page, 1, sizeof page, f) == sizeof page; pg++)
            fwrite(page, 1, sizeof page, o);
        fclose(f);
        fclose(o);
    }
}

static void check_open(struct log *log)
{
    uint64_t first = log_first_index(log), last = log_last_index(log);
    if (first != log_base_index(log) + 1 || last + 1 < first)
        die("bounds out of order");
    for (uint64_t at = first; at <= last;) {
        struct log_entries es;
        if (log_read(log, at, 1000, SIZE_MAX, &es) != 0)
            die("an opened store fails a read inside its bounds");
        for (size_t i = 0; i < es.n; i++) {
            uint64_t t;
            const struct pm_entry *e = &es.entries[i];
            if (e->index != at + i || log_term_at(log, e->index, &t) != 0 ||
                t != e->term)
                die("an entry read back disagrees with its index or term");
        }
        at += es.n;
        log_entries_free(&es);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    static int seeded;
    if (!seeded) {
        seeded = 1;
        const char *dir = getenv("FUZZ_LOG_JOURNAL_SEEDS");
        if (dir)
            write_seeds(dir);
    }
    clear();
    put_file("data.mdb", tmpl, tmpl_len);
    put_file("journal", data, size);
    struct log *log;
    int rc = log_open(work, &opts, &log);
    if (rc != 0) {
        if (rc != -PM_ECORRUPT)
            die("log_open failed with something other than -PM_ECORRUPT");
        return 0;
    }
    check_open(log);
    uint64_t last = log_last_index(log);
    struct log_hard_state hs, hs2;
    log_hard_state(log, &hs);
    log_close(log);
    if (log_open(work, &opts, &log) != 0)
        die("a store that opened once does not reopen");
    log_hard_state(log, &hs2);
    if (log_last_index(log) != last || memcmp(&hs, &hs2, sizeof hs) != 0)
        die("reopening changed the bounds or the hard state");
    check_open(log);
    log_close(log);
    return 0;
}
