/* test_node_disk.c: the node's free-space check that refuses new proposals
 * on a full disk (F3 of tests/chaos/FINDINGS.md). The held-batch retry of
 * a running node is exercised with real processes on a small tmpfs
 * (tests/disk/t_full.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/err.h"
#include "node/node_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct fx {
    char dir[64];
    char data[96];
    struct node *n;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/pmesh-test-disk-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    if (mkdir(f->data, 0700) != 0)
        return -1;
    f->n = calloc(1, sizeof *f->n); /* large: not on the stack */
    if (f->n == NULL)
        return -1;
    snprintf(f->n->home, sizeof f->n->home, "%s", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rmdir(f->data);
    rmdir(f->dir);
    free(f->n);
    free(f);
    return 0;
}

static uint64_t free_bytes(const char *path)
{
    struct statvfs vfs;
    assert_int_equal(statvfs(path, &vfs), 0);
    return (uint64_t)vfs.f_bavail * vfs.f_frsize;
}

static void room_for_a_write_is_accepted(void **state)
{
    struct fx *f = *state;
    if (free_bytes(f->data) < 4 * (uint64_t)NODE_DISK_MARGIN_BYTES)
        skip(); /* the test machine's /tmp itself is nearly full */
    char err[256] = "";
    assert_int_equal(node_disk_check(f->n, 1000, err, sizeof err), 0);
    assert_string_equal(err, "");
    assert_int_equal(node_disk_check(f->n, 0, NULL, 0), 0);
}

static void a_write_larger_than_the_free_space_is_refused(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    /* A few times the free space: no file system here has that much. */
    size_t bytes = (size_t)(free_bytes(f->data) / 2 + 1);
    assert_int_equal(node_disk_check(f->n, bytes, err, sizeof err),
                     -PM_ENOSPC);
    assert_non_null(strstr(err, "disk full"));
    assert_non_null(strstr(err, f->data)); /* names where */
    assert_int_equal(node_disk_check(f->n, bytes, NULL, 0), -PM_ENOSPC);
}

static void a_held_batch_refuses_every_write(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    f->n->disk_full = 1; /* the store could not write the last batch */
    assert_int_equal(node_disk_check(f->n, 0, err, sizeof err), -PM_ENOSPC);
    assert_non_null(strstr(err, "disk full"));
    f->n->disk_full = 0; /* written at last */
    if (free_bytes(f->data) >= 4 * (uint64_t)NODE_DISK_MARGIN_BYTES)
        assert_int_equal(node_disk_check(f->n, 0, NULL, 0), 0);
}

static void an_unreadable_data_directory_does_not_refuse(void **state)
{
    struct fx *f = *state;
    /* statvfs fails (no such directory): the store itself reports a real
     * failure later; the check must not invent "disk full". */
    snprintf(f->n->home, sizeof f->n->home, "%s/missing", f->dir);
    assert_int_equal(node_disk_check(f->n, 100, NULL, 0), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(room_for_a_write_is_accepted),
        T(a_write_larger_than_the_free_space_is_refused),
        T(a_held_batch_refuses_every_write),
        T(an_unreadable_data_directory_does_not_refuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
