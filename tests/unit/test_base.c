/* test_base.c: the project-wide error codes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "base/err.h"

static void every_code_has_a_distinct_name(void **state)
{
    (void)state;
    for (int i = 1; i < PM_E__COUNT; i++) {
        assert_string_not_equal(pm_strerror(-i), "unknown error");
        assert_string_equal(pm_strerror(-i), pm_strerror(i));
        for (int j = 1; j < i; j++)
            assert_string_not_equal(pm_strerror(i), pm_strerror(j));
    }
    assert_string_equal(pm_strerror(PM_E__COUNT), "unknown error");
    assert_string_equal(pm_strerror(-10000), "unknown error");
}

static void errno_values_translate(void **state)
{
    (void)state;
    assert_int_equal(pm_from_errno(ENOSPC), -PM_ENOSPC);
    assert_int_equal(pm_from_errno(ENOENT), -PM_ENOTFOUND);
    assert_int_equal(pm_from_errno(EACCES), -PM_EIO);
    assert_int_equal(pm_from_errno(0), PM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_a_distinct_name),
        cmocka_unit_test(errno_values_translate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
