/* runner.c - the one Check runner of sluice's tests (runner.h). */
#include "runner.h"

static int run(Suite *s, enum print_output mode)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, mode);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

int sl_run_suite(Suite *s)
{
    return run(s, CK_NORMAL);
}

int sl_run_tests(const char *name, const struct TTest *const *tests, size_t n, int timeout_s, int verbose)
{
    Suite *s = suite_create(name);
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout_s);
    for (size_t i = 0; i < n; i++)
        tcase_add_test(tc, tests[i]);
    suite_add_tcase(s, tc);
    return run(s, verbose ? CK_VERBOSE : CK_NORMAL) ? 1 : 0;
}
