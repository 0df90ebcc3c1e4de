/* runner.h - the one Check runner of sluice's tests: every test program's
 * main() ends in sl_run_suite() (or, for a list of tests in one case,
 * sl_run_tests()). */
#ifndef SLUICE_TEST_RUNNER_H
#define SLUICE_TEST_RUNNER_H

#include <check.h>
#include <stddef.h>

/* sl_run_suite() - run every test of @s (and free it) with Check's normal
 * output; returns how many failed. */
int sl_run_suite(Suite *s);

/* sl_run_tests() - @n tests in one case named @name with a timeout of
 * @timeout_s each; @verbose prints every test's result as it ends.  Returns
 * the exit status: 0 when all passed, else 1. */
int sl_run_tests(const char *name, const struct TTest *const *tests, size_t n, int timeout_s, int verbose);

#endif
