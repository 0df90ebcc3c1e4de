/* textfmt: the hand-written digit formatting spells dates, times,
 * timestamps, integers and doubles exactly as the printf formats they
 * replace do, across edge values and a deterministic spread of others. */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "sluice/textfmt.h"

/* a small deterministic generator (xorshift64*), so a failure replays */
static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

/* the printf spelling the formatting replaced */
static void ref_double(char *buf, size_t n, double d)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        if (strtod(buf, NULL) == d)
            break;
    }
}

static void check_double(double d)
{
    char want[64];
    ref_double(want, sizeof(want), d);
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_fmt_double(&sb, d);
    ck_assert_msg(!strcmp(sb.data, want), "%.17g: got %s, want %s", d, sb.data, want);
    sl_strbuf_free(&sb);
}

START_TEST(doubles_as_printf_writes_them)
{
    static const double edge[] = {0.0, -0.0, 1, -1, 0.1, 21.7, -21.7, 1e-4, 9.99e-5, 1e15, 999999999999999.0,
                                  1e15 - 0.5, 123456789012345.0, 0.30000000000000004, 1.0 / 3, 2.5, 1e300,
                                  -1e-300, 5e-324, 1.7976931348623157e308, 100, 1e14, 0.000123, 3.14159};
    for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
        check_double(edge[i]);
    check_double(NAN);
    check_double(INFINITY);
    check_double(-INFINITY);
    for (int i = 0; i < 200000; i++) {
        uint64_t r = next();
        switch (i % 4) {
        case 0: { /* any bit pattern */
            double d;
            memcpy(&d, &r, sizeof(d));
            check_double(d);
            break;
        }
        case 1: /* short decimals, as sensors send */
            check_double((double)(int64_t)(r % 2000001 - 1000000) / 10.0);
            break;
        case 2: /* decimals of up to 8 places and magnitudes up to 1e15 */
            check_double((double)(int64_t)(r % 1000000000000000ULL) / pow(10, (double)(r >> 60 & 15)));
            break;
        default: /* floats widened to double, as Avro's float is */
            check_double((double)(float)((double)(int64_t)(r % 2000001 - 1000000) / 100.0));
            break;
        }
    }
}
END_TEST

START_TEST(integers_as_printf_writes_them)
{
    static const int64_t edge[] = {0, 1, -1, 9, 10, -10, INT64_MAX, INT64_MIN, INT32_MAX, INT32_MIN};
    char want[32];
    for (int i = 0; i < 100000 + 10; i++) {
        int64_t x = i < 10 ? edge[i] : (int64_t)(next() >> (next() % 64));
        if (i % 2)
            x = -x;
        snprintf(want, sizeof(want), "%" PRId64, x);
        sl_strbuf sb = SL_STRBUF_INIT;
        sl_fmt_int(&sb, x);
        ck_assert_str_eq(sb.data, want);
        sl_strbuf_free(&sb);
    }
}
END_TEST

/* dates and times as the formats "%04d-%02u-%02u" and "%02d:%02d:%02d.%06d"
 * wrote them: the year of 1970-01-01 + days, and years of five digits */
START_TEST(dates_and_times_as_printf_writes_them)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    sl_fmt_date(&sb, 0);
    ck_assert_str_eq(sb.data, "1970-01-01");
    sl_strbuf_reset(&sb);
    sl_fmt_date(&sb, -719528); /* 0000-01-01 is 1 BC */
    ck_assert_str_eq(sb.data, "0001-01-01 BC");
    sl_strbuf_reset(&sb);
    sl_fmt_date(&sb, 2932897); /* 10000-01-01 */
    ck_assert_str_eq(sb.data, "10000-01-01");
    sl_strbuf_reset(&sb);
    sl_fmt_date(&sb, -1);
    ck_assert_str_eq(sb.data, "1969-12-31");
    sl_strbuf_reset(&sb);
    sl_fmt_time_us(&sb, 0);
    ck_assert_str_eq(sb.data, "00:00:00.000000");
    sl_strbuf_reset(&sb);
    sl_fmt_time_us(&sb, 86400000000LL);
    ck_assert_str_eq(sb.data, "24:00:00.000000");
    sl_strbuf_reset(&sb);
    sl_fmt_time_us(&sb, 49510123456LL);
    ck_assert_str_eq(sb.data, "13:45:10.123456");
    sl_strbuf_reset(&sb);
    sl_fmt_time_us(&sb, -1); /* not a time of day: printf's spelling */
    ck_assert_str_eq(sb.data, "00:00:00.-00001");
    sl_strbuf_reset(&sb);
    sl_fmt_timestamp_us(&sb, 1714564800123456LL, true);
    ck_assert_str_eq(sb.data, "2024-05-01T12:00:00.123456Z");
    sl_strbuf_reset(&sb);
    sl_fmt_timestamp_us(&sb, INT64_MIN, false);
    ck_assert_str_eq(sb.data, "290309-12-21T19:59:05.224192 BC");
    sl_strbuf_reset(&sb);
    sl_fmt_timestamp_us(&sb, INT64_MAX, true);
    ck_assert_str_eq(sb.data, "294247-01-10T04:00:54.775807Z");
    sl_strbuf_free(&sb);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("textfmt");
    TCase *tc = tcase_create("textfmt");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, doubles_as_printf_writes_them);
    tcase_add_test(tc, integers_as_printf_writes_them);
    tcase_add_test(tc, dates_and_times_as_printf_writes_them);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
