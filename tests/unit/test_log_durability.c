/* test_log_durability.c: log_write() does not return success before the
 * data reached the disk: the environment runs with LMDB's default
 * durability (no NOSYNC, NOMETASYNC, MAPASYNC or WRITEMAP), and each
 * successful write calls fdatasync() before returning (counted by
 * interposing fdatasync/fsync in this binary: liblmdb.so's calls resolve
 * here first). */
#include <dlfcn.h>
#include <lmdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/err.h"
#include "log/log.h"
#include "log/log_impl.h" /* struct log: to inspect the env's flags */
#include "log/util.h"

static int syncs;

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    syncs++;
    return real(fd);
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    syncs++;
    return real(fd);
}

struct fx {
    char *dir;
    struct log *log;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = tl_mkdtemp("logd")) || log_open(f->dir, NULL, &f->log))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    log_close(f->log);
    tl_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void the_environment_uses_default_durability(void **state)
{
    struct fx *f = *state;
    unsigned flags = 0;
    assert_int_equal(mdb_env_get_flags(f->log->env, &flags), 0);
    assert_int_equal(flags & (MDB_NOSYNC | MDB_NOMETASYNC | MDB_MAPASYNC |
                              MDB_WRITEMAP | MDB_RDONLY),
                     0);
}

static void every_successful_write_syncs_before_returning(void **state)
{
    struct fx *f = *state;
    uint8_t buf[10 * 301];
    struct pm_entry e[10];
    uint64_t next = 1;
    for (int i = 0; i < 20; i++) {
        tl_make(next, 10, e, buf);
        struct log_hard_state hs = {.term = (uint64_t)i + 1};
        struct log_batch b = {.entries = e, .n_entries = 10, .hard_state = &hs};
        int before = syncs;
        assert_int_equal(log_write(f->log, &b), 0);
        assert_true(syncs > before);
        next += 10;
    }
    /* The hard state alone (a vote) is synced too. */
    struct log_hard_state hs = {.term = 99, .vote = 2};
    struct log_batch b = {.hard_state = &hs};
    int before = syncs;
    assert_int_equal(log_write(f->log, &b), 0);
    assert_true(syncs > before);
}

static void reads_and_failed_writes_do_not_sync(void **state)
{
    struct fx *f = *state;
    uint8_t buf[10 * 301];
    struct pm_entry e[10];
    tl_make(1, 10, e, buf);
    struct log_batch b = {.entries = e, .n_entries = 10};
    assert_int_equal(log_write(f->log, &b), 0);
    int before = syncs;
    struct log_entries es;
    assert_int_equal(log_read(f->log, 1, 10, SIZE_MAX, &es), 0);
    log_entries_free(&es);
    uint64_t t;
    assert_int_equal(log_term_at(f->log, 5, &t), 0);
    tl_make(11, 10, e, buf);
    log_test_fail_commit(f->log, 1, -PM_EIO);
    assert_int_equal(log_write(f->log, &b), -PM_EIO);
    assert_int_equal(syncs, before);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(the_environment_uses_default_durability),
        T(every_successful_write_syncs_before_returning),
        T(reads_and_failed_writes_do_not_sync),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
