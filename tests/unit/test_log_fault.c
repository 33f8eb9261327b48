/* test_log_fault.c: a write that fails at commit leaves the store exactly as
 * it was and usable: injected failures (log_test_fail_commit) and a really
 * full disk (a small tmpfs, when this process may mount one). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "base/err.h"
#include "log/log.h"
#include "log/util.h"

struct fx {
    char *dir;
    char *mnt;      /* tmpfs mount point, if mounted */
    struct log *log;
    struct pm_entry e[500];
    uint8_t buf[500 * 301];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = tl_mkdtemp("logf")))
        return -1;
    if (log_open(f->dir, NULL, &f->log) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    log_close(f->log);
    if (f->mnt) {
        umount2(f->mnt, MNT_DETACH);
        rmdir(f->mnt);
        free(f->mnt);
    }
    tl_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static int append(struct fx *f, uint64_t lo, size_t n)
{
    tl_make(lo, n, f->e, f->buf);
    struct log_batch b = {.entries = f->e, .n_entries = n};
    return log_write(f->log, &b);
}

static void assert_entries(struct log *log, uint64_t lo, uint64_t hi)
{
    for (uint64_t next = lo; next <= hi;) {
        struct log_entries es;
        assert_int_equal(log_read(log, next, hi - next + 1, SIZE_MAX, &es), 0);
        for (size_t i = 0; i < es.n; i++) {
            assert_int_equal(es.entries[i].index, next + i);
            assert_true(tl_check(&es.entries[i]));
        }
        next += es.n;
        log_entries_free(&es);
    }
}

/* The known state written by fill_known() and checked by assert_known(). */
static void fill_known(struct fx *f)
{
    assert_int_equal(append(f, 1, 100), 0);
    struct log_hard_state hs = {.term = 4, .vote = 2, .commit = 60};
    struct log_kv kv[2] = {{"a", 1, "one", 3}, {"b", 1, "two", 3}};
    uint8_t cfg[3] = {9, 8, 7};
    struct log_snapshot_meta sm = {.index = 10, .term = 1, .config = cfg,
                                   .config_len = 3};
    struct log_batch b = {.hard_state = &hs, .state = kv, .n_state = 2,
                          .applied = 60, .snapshot = &sm, .compact_index = 10,
                          .compact_term = tl_term(10)};
    assert_int_equal(log_write(f->log, &b), 0);
}

static void assert_known(struct log *log)
{
    assert_int_equal(log_base_index(log), 10);
    assert_int_equal(log_first_index(log), 11);
    assert_int_equal(log_last_index(log), 100);
    assert_entries(log, 11, 100);
    uint64_t t;
    assert_int_equal(log_term_at(log, 10, &t), 0);
    assert_int_equal(t, tl_term(10));
    struct log_hard_state hs;
    assert_int_equal(log_hard_state(log, &hs), 0);
    assert_int_equal(hs.term, 4);
    assert_int_equal(hs.vote, 2);
    assert_int_equal(hs.commit, 60);
    assert_int_equal(log_applied(log), 60);
    void *v;
    uint32_t vl;
    assert_int_equal(log_state_get(log, "a", 1, &v, &vl), 0);
    assert_int_equal(vl, 3);
    assert_memory_equal(v, "one", 3);
    free(v);
    assert_int_equal(log_state_get(log, "z", 1, &v, &vl), -PM_ENOTFOUND);
    struct log_snapshot_meta sm;
    uint8_t *cfg;
    assert_int_equal(log_snapshot_meta(log, &sm, &cfg), 0);
    assert_int_equal(sm.index, 10);
    assert_int_equal(sm.config_len, 3);
    free(cfg);
}

/* A batch touching everything: truncation, new entries, hard state, a state
 * clear and put, applied, snapshot metadata and compaction. */
static int write_everything(struct fx *f)
{
    tl_make(50, 80, f->e, f->buf);
    struct log_hard_state hs = {.term = 9, .vote = 3, .commit = 120};
    struct log_kv kv = {"z", 1, "new", 3};
    struct log_snapshot_meta sm = {.index = 40, .term = 1};
    struct log_batch b = {.truncate_from = 50, .entries = f->e, .n_entries = 80,
                          .hard_state = &hs, .state_clear = 1, .state = &kv,
                          .n_state = 1, .applied = 120, .snapshot = &sm,
                          .compact_index = 40, .compact_term = tl_term(40)};
    return log_write(f->log, &b);
}

static void a_failed_commit_changes_nothing(void **state)
{
    struct fx *f = *state;
    fill_known(f);
    log_test_fail_commit(f->log, 1, -PM_EIO);
    assert_int_equal(write_everything(f), -PM_EIO);
    assert_known(f->log);
    /* The injection fires once; the same batch then succeeds. */
    assert_int_equal(write_everything(f), 0);
    assert_int_equal(log_base_index(f->log), 40);
    assert_int_equal(log_last_index(f->log), 129);
    assert_entries(f->log, 41, 129);
    assert_int_equal(log_applied(f->log), 120);
}

static void a_failed_commit_survives_reopen_unchanged(void **state)
{
    struct fx *f = *state;
    fill_known(f);
    log_test_fail_commit(f->log, 1, -PM_ENOSPC);
    assert_int_equal(write_everything(f), -PM_ENOSPC);
    log_close(f->log);
    f->log = NULL;
    assert_int_equal(log_open(f->dir, NULL, &f->log), 0);
    assert_known(f->log);
}

static void the_nth_write_fails_and_only_that_one(void **state)
{
    struct fx *f = *state;
    log_test_fail_commit(f->log, 3, -PM_EIO);
    assert_int_equal(append(f, 1, 5), 0);
    assert_int_equal(append(f, 6, 5), 0);
    assert_int_equal(append(f, 11, 5), -PM_EIO);
    assert_int_equal(log_last_index(f->log), 10);
    assert_int_equal(append(f, 11, 5), 0);
    assert_int_equal(append(f, 16, 5), 0);
    assert_entries(f->log, 1, 20);
    /* Disabled. */
    log_test_fail_commit(f->log, 1, -PM_EIO);
    log_test_fail_commit(f->log, 0, 0);
    assert_int_equal(append(f, 21, 5), 0);
    /* Bad input is refused before the injection counts. */
    log_test_fail_commit(f->log, 1, -PM_EIO);
    assert_int_equal(append(f, 99, 1), -PM_EINVAL);
    assert_int_equal(append(f, 26, 1), -PM_EIO);
    assert_int_equal(log_last_index(f->log), 25);
}

/* A really full disk: a 4 MiB tmpfs in a private mount namespace (so the
 * mount disappears with this process even if it is killed). */
static int mount_small_tmpfs(struct fx *f, const char **why)
{
    f->mnt = tl_mkdtemp("logfull");
    if (!f->mnt) {
        *why = "mkdtemp failed";
        return -1;
    }
    if (unshare(CLONE_NEWNS) != 0) {
        *why = "cannot unshare the mount namespace (not root?)";
        goto fail;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        *why = "cannot make mounts private";
        goto fail;
    }
    if (mount("tmpfs", f->mnt, "tmpfs", 0, "size=4m,mode=0700") != 0) {
        *why = "cannot mount tmpfs";
        goto fail;
    }
    return 0;
fail:
    rmdir(f->mnt);
    free(f->mnt);
    f->mnt = NULL;
    return -1;
}

static void a_full_disk_is_enospc_and_the_log_stays_usable(void **state)
{
    struct fx *f = *state;
    const char *why = NULL;
    if (mount_small_tmpfs(f, &why) != 0) {
        printf("SKIP full-disk test: %s (errno %d: %s)\n", why, errno,
               strerror(errno));
        skip();
    }
    char db[600], filler[600];
    snprintf(db, sizeof db, "%s/db", f->mnt);
    snprintf(filler, sizeof filler, "%s/filler", f->mnt);
    /* 1 MiB the test can give back later. */
    int fd = open(filler, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    static uint8_t mib[1 << 20];
    assert_int_equal(write(fd, mib, sizeof mib), (ssize_t)sizeof mib);
    close(fd);

    log_close(f->log);
    f->log = NULL;
    /* A journal smaller than the disk, so that LMDB fills it. */
    struct log_options o = {.map_bytes_initial = 1 << 20,
                            .journal_bytes_max = 256 << 10};
    assert_int_equal(log_open(db, &o, &f->log), 0);
    uint64_t next = 1;
    int rc = 0;
    for (int i = 0; i < 1000 && rc == 0; i++) {
        struct log_hard_state hs = {.term = (uint64_t)i + 1};
        tl_make(next, 200, f->e, f->buf);
        struct log_batch b = {.entries = f->e, .n_entries = 200, .hard_state = &hs};
        rc = log_write(f->log, &b);
        if (rc == 0)
            next += 200;
    }
    assert_int_equal(rc, -PM_ENOSPC);
    uint64_t last = next - 1;
    assert_true(last >= 1000);
    assert_int_equal(log_last_index(f->log), last);
    assert_entries(f->log, 1, last);
    struct log_hard_state hs;
    assert_int_equal(log_hard_state(f->log, &hs), 0);
    assert_int_equal(hs.term, last / 200);

    /* Room again: writing resumes where it stopped. */
    assert_int_equal(unlink(filler), 0);
    assert_int_equal(append(f, next, 200), 0);
    last += 200;
    log_close(f->log);
    f->log = NULL;
    assert_int_equal(log_open(db, &o, &f->log), 0);
    assert_int_equal(log_last_index(f->log), last);
    assert_entries(f->log, 1, last);
}

/* Bytes of address space in use now (VmSize), or 0. */
static __attribute__((unused)) uint64_t vm_bytes(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kb = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
            break;
    if (fp)
        fclose(fp);
    return (uint64_t)kb << 10;
}

/* In a child with little address space left, the map cannot be remapped
 * larger: the write fails with -PM_EIO, the handle refuses further work
 * with -PM_EIO instead of touching an unmapped environment, and the data
 * written before is intact on reopen. */
static void a_failed_map_resize_breaks_the_handle_cleanly(void **state)
{
    struct fx *f = *state;
#if defined(__SANITIZE_ADDRESS__)
    (void)f;
    printf("SKIP map-resize test: AddressSanitizer needs its address space\n");
    skip();
#else
    if (getenv("PMESH_ASAN")) {
        printf("SKIP map-resize test: sanitizer run (PMESH_ASAN)\n");
        skip();
    }
    log_close(f->log);
    f->log = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Die plainly on a fault rather than in cmocka's handlers. */
        signal(SIGSEGV, SIG_DFL);
        signal(SIGBUS, SIG_DFL);
        struct log *log;
        struct log_options o = {.map_bytes_initial = 1 << 20,
                                .map_bytes_max = 1ull << 34};
        if (log_open(f->dir, &o, &log) != 0)
            _exit(10);
        struct rlimit rl = {vm_bytes() + (6u << 20), vm_bytes() + (6u << 20)};
        if (rl.rlim_cur <= (6u << 20) || setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(11);
        uint64_t next = 1;
        int rc = 0;
        for (int i = 0; i < 400 && rc == 0; i++) {
            tl_make(next, 200, f->e, f->buf);
            struct log_batch b = {.entries = f->e, .n_entries = 200};
            rc = log_write(log, &b);
            if (rc == 0)
                next += 200;
        }
        struct log_entries es;
        uint64_t t;
        if (rc != -PM_EIO || log_last_index(log) != next - 1) {
            fprintf(stderr, "write failed with %s after %llu entries\n", pm_strerror(rc),
                   (unsigned long long)(next - 1));
            _exit(12);
        }
        int r1 = log_read(log, 1, 1, SIZE_MAX, &es);
        int r2 = log_term_at(log, 1, &t);
        tl_make(next, 1, f->e, f->buf);
        struct log_batch b = {.entries = f->e, .n_entries = 1};
        int r3 = log_write(log, &b);
        if (r1 != -PM_EIO || r2 != -PM_EIO || r3 != -PM_EIO) {
            fprintf(stderr, "after a failed resize: read %s, term_at %s, "
                    "write %s\n", pm_strerror(r1), pm_strerror(r2),
                    pm_strerror(r3));
            _exit(13);
        }
        log_close(log);
        printf("map resize failed after %llu entries, as intended\n",
               (unsigned long long)(next - 1));
        fflush(stdout);
        _exit(next > 1 ? 0 : 14);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(log_open(f->dir, NULL, &f->log), 0);
    assert_true(log_last_index(f->log) > 0);
    assert_entries(f->log, 1, log_last_index(f->log));
#endif
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(a_failed_commit_changes_nothing),
        T(a_failed_commit_survives_reopen_unchanged),
        T(the_nth_write_fails_and_only_that_one),
        T(a_full_disk_is_enospc_and_the_log_stays_usable),
        T(a_failed_map_resize_breaks_the_handle_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
