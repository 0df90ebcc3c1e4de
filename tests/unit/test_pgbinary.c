/* pgbinary: every cell sluice sends in binary COPY format is byte for byte
 * what PostgreSQL's own input function and send function make of the same
 * text (int2send(text::int2), timestamptz_send(text::timestamptz), ...),
 * across edge values and a deterministic spread of others; texts outside
 * the plain forms are refused, so that the COPY goes as text instead. */
#include <check.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"
#include "pgbinary_int.h"
#include "support.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

static const struct {
    sl_pgbin_kind kind;
    const char *type;
    const char *send;
} kinds[] = {
    {SL_PGBIN_TEXT, "text", "textsend"},
    {SL_PGBIN_INT2, "int2", "int2send"},
    {SL_PGBIN_INT4, "int4", "int4send"},
    {SL_PGBIN_INT8, "int8", "int8send"},
    {SL_PGBIN_FLOAT8, "float8", "float8send"},
    {SL_PGBIN_BOOL, "bool", "boolsend"},
    {SL_PGBIN_TIMESTAMPTZ, "timestamptz", "timestamptz_send"},
    {SL_PGBIN_NUMERIC, "numeric", "numeric_send"},
};

/* sluice's field for @text must be PostgreSQL's send() of text::type. */
static void same_as_postgres(PGconn *c, sl_pgbin_kind k, const char *text)
{
    size_t ki = 0;
    while (kinds[ki].kind != k)
        ki++;
    sl_strbuf sb = SL_STRBUF_INIT;
    ck_assert_msg(sl_pgbin_cell(&sb, k, text, strlen(text)), "%s '%s' refused", kinds[ki].type, text);
    ck_assert_uint_ge(sb.len, 4);
    char ours[1200] = "";
    for (size_t i = 4; i < sb.len && 2 * (i - 4) + 2 < sizeof(ours); i++)
        snprintf(ours + 2 * (i - 4), 3, "%02x", (unsigned char)sb.data[i]);
    uint32_t len = ((uint32_t)(unsigned char)sb.data[0] << 24) | ((uint32_t)(unsigned char)sb.data[1] << 16) |
                   ((uint32_t)(unsigned char)sb.data[2] << 8) | (unsigned char)sb.data[3];
    ck_assert_uint_eq(len, sb.len - 4);
    char sql[128];
    snprintf(sql, sizeof(sql), "SELECT replace(encode(%s($1::%s), 'hex'), E'\\n', '')", kinds[ki].send, kinds[ki].type);
    char *theirs = ts_pg_text(c, sql, text, NULL);
    ck_assert_msg(!strcmp(ours, theirs), "%s '%s': sluice %s, PostgreSQL %s", kinds[ki].type, text, ours, theirs);
    free(theirs);
    sl_strbuf_free(&sb);
}

static void refused_n(sl_pgbin_kind k, const char *text, size_t n)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    ck_assert_msg(!sl_pgbin_cell(&sb, k, text, n), "'%s' was converted", text);
    ck_assert_uint_eq(sb.len, 0);
    sl_strbuf_free(&sb);
}

static void refused(sl_pgbin_kind k, const char *text)
{
    sl_strbuf sb = SL_STRBUF_INIT;
    ck_assert_msg(!sl_pgbin_cell(&sb, k, text, strlen(text)), "'%s' was converted", text);
    ck_assert_uint_eq(sb.len, 0);
    sl_strbuf_free(&sb);
}

START_TEST(cells_are_what_postgres_makes_of_their_text)
{
    PGconn *c = ts_pg_connect();
    ts_pg_exec(c, "SET TimeZone = 'America/St_Johns'", NULL); /* offsets in the text, not the session's, count */
    static const char *const ints[] = {"0", "-0", "1", "-1", "32767", "-32768", "2147483647", "-2147483648",
                                       "9223372036854775807", "-9223372036854775808", "007"};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        same_as_postgres(c, SL_PGBIN_INT8, ints[i]);
        if (strlen(ints[i]) <= 6 && strcmp(ints[i], "32767") && strcmp(ints[i], "-32768"))
            same_as_postgres(c, SL_PGBIN_INT2, ints[i]);
        if (strlen(ints[i]) <= 11 && strncmp(ints[i] + (ints[i][0] == '-'), "9223", 4))
            same_as_postgres(c, SL_PGBIN_INT4, ints[i]);
    }
    same_as_postgres(c, SL_PGBIN_INT2, "32767");
    same_as_postgres(c, SL_PGBIN_INT2, "-32768");
    static const char *const doubles[] = {"0", "-0", "21.7", "-21.7", "1e10", "1E-10", "2.5e+3", ".5", "5.",
                                          "-.25", "1.7976931348623157e308", "2.2250738585072014e-308",
                                          "0.1", "0.30000000000000004", "123456789012345678901234567890"};
    for (size_t i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++)
        same_as_postgres(c, SL_PGBIN_FLOAT8, doubles[i]);
    same_as_postgres(c, SL_PGBIN_BOOL, "t");
    same_as_postgres(c, SL_PGBIN_BOOL, "f");
    same_as_postgres(c, SL_PGBIN_TEXT, "dev-123");
    same_as_postgres(c, SL_PGBIN_TEXT, "");
    same_as_postgres(c, SL_PGBIN_TEXT, "tab\there, back\\slash, new\nline, \xc3\xa9");
    static const char *const stamps[] = {
        "2024-01-01T00:00:00Z", "2024-02-29T23:59:59.999999Z", "2000-01-01 00:00:00+00", "1999-12-31T23:59:59.5-01",
        "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999+14:00", "1970-01-01T00:00:00.1+05:30",
        "2021-03-14T02:30:00-09:30", "1900-02-28T12:00:00.000001-14:59", "2024-05-01T12:00:00.123456Z"};
    for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++)
        same_as_postgres(c, SL_PGBIN_TIMESTAMPTZ, stamps[i]);
    static const char *const numerics[] = {
        "0",     "-0",     "0.00",       "-0.00",     "000",       "1",          "-1",         "1.5",
        "0.0001", "0.00001", "-0.000100", "9999",     "10000",     "100000000",  "12345678",   "0.1000",
        "007.50", ".5",     "5.",         "-.25",      "99999.99",  "-99999.99",  "123456789.123456789",
        "1000000000000000000000000000000000000000.000000000000000000000000000000000000000001",
        "0.000000000000000000000000000000000000000000000000000000000000000000000000000000000001"};
    for (size_t i = 0; i < sizeof(numerics) / sizeof(numerics[0]); i++)
        same_as_postgres(c, SL_PGBIN_NUMERIC, numerics[i]);

    for (int n = 0; n < 1500; n++) {
        char buf[96];
        int64_t v = (int64_t)next();
        snprintf(buf, sizeof(buf), "%" PRId64, v >> (next() % 63));
        same_as_postgres(c, SL_PGBIN_INT8, buf);
        snprintf(buf, sizeof(buf), "%d", (int32_t)next());
        same_as_postgres(c, SL_PGBIN_INT4, buf);
        double d;
        do {
            uint64_t bits = next();
            memcpy(&d, &bits, sizeof(d));
        } while (!isfinite(d) || (d != 0 && fabs(d) < 2.2250738585072014e-308));
        snprintf(buf, sizeof(buf), "%.*g", 15 + (int)(next() % 3), d);
        same_as_postgres(c, SL_PGBIN_FLOAT8, buf);
        snprintf(buf, sizeof(buf), "%.6f", (double)(int64_t)(next() % 2000000) / 1000.0 - 1000.0);
        same_as_postgres(c, SL_PGBIN_FLOAT8, buf);
        int y = 1 + (int)(next() % 9999), mo = 1 + (int)(next() % 12), dd = 1 + (int)(next() % 28);
        int h = (int)(next() % 24), mi = (int)(next() % 60), se = (int)(next() % 60);
        int digits = (int)(next() % 7);
        char frac[16] = "";
        if (digits) {
            snprintf(frac, sizeof(frac), ".%06d", (int)(next() % 1000000));
            frac[1 + digits] = '\0';
        }
        char off[16];
        switch (next() % 3) {
        case 0: snprintf(off, sizeof(off), "Z"); break;
        case 1: snprintf(off, sizeof(off), "%c%02d", next() % 2 ? '+' : '-', (int)(next() % 15)); break;
        default:
            snprintf(off, sizeof(off), "%c%02d:%02d", next() % 2 ? '+' : '-', (int)(next() % 15), (int)(next() % 60));
        }
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d%c%02d:%02d:%02d%s%s", y, mo, dd, next() % 2 ? 'T' : ' ', h, mi, se,
                 frac, off);
        same_as_postgres(c, SL_PGBIN_TIMESTAMPTZ, buf);
        /* a numeric of 0 to 30 digits either side of its point, zeros often */
        size_t at = 0;
        if (next() % 2)
            buf[at++] = '-';
        for (int k = (int)(next() % 31); k > 0; k--)
            buf[at++] = next() % 3 ? (char)('0' + next() % 10) : '0';
        if (at == 0 || buf[at - 1] == '-' || next() % 2) {
            buf[at++] = '.';
            for (int k = 1 + (int)(next() % 30); k > 0; k--)
                buf[at++] = next() % 3 ? (char)('0' + next() % 10) : '0';
        }
        buf[at] = '\0';
        same_as_postgres(c, SL_PGBIN_NUMERIC, buf);
    }
    PQfinish(c);
}
END_TEST

/* COPY @body (@len bytes) into @table, binary or text; the SQLSTATE of its
 * failure ("" when it stored the rows). */
static void copy_in(PGconn *c, const char *table, bool binary, const char *body, size_t len, char state[6])
{
    char sql[128];
    snprintf(sql, sizeof(sql), "COPY %s FROM STDIN%s", table, binary ? " (FORMAT binary)" : "");
    PGresult *r = PQexec(c, sql);
    ck_assert_int_eq(PQresultStatus(r), PGRES_COPY_IN);
    PQclear(r);
    ck_assert_int_eq(PQputCopyData(c, body, (int)len), 1);
    ck_assert_int_eq(PQputCopyEnd(c, NULL), 1);
    r = PQgetResult(c);
    const char *st = PQresultStatus(r) == PGRES_COMMAND_OK ? "" : PQresultErrorField(r, PG_DIAG_SQLSTATE);
    snprintf(state, 6, "%s", st ? st : "?");
    PQclear(r);
    while ((r = PQgetResult(c)))
        PQclear(r);
}

/* A binary COPY stores in numeric(p,s), json and jsonb columns what a text
 * COPY of the same texts stores (numeric_recv() rounds to the column's scale
 * as numeric_in() does; jsonb keeps the last of duplicate keys), and refuses
 * what it refuses with the same SQLSTATE. */
START_TEST(binary_copy_stores_what_text_copy_stores)
{
    PGconn *c = ts_pg_connect();
    ts_pg_exec(c, "CREATE TEMP TABLE bin (i int, n numeric(6,2), u numeric, j jsonb, k json)", NULL);
    ts_pg_exec(c, "CREATE TEMP TABLE txt (LIKE bin)", NULL);
    static const char *const rows[][4] = {
        {"1.005", "1.005", "{\"a\": 1, \"b\": [1, 2.50, \"x\\u00e9\"], \"a\": 2}", "{\"a\": 1, \"a\": 2}"},
        {"-2.345", "-0.000", " [ ] ", "\"str\""},
        {"9999.994", "123456789012345678901234567890.5", "null", "1e400"},
        {"0.004", ".5", "{\"deep\": {\"x\": [true, false, null, -0.0]}}", " {} "},
        {"-0.005", "5.", "12345678901234567890.123", "[1,2]"},
    };
    sl_strbuf b = SL_STRBUF_INIT, t = SL_STRBUF_INIT;
    sl_pgbin_header(&b);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        sl_pgbin_row(&b, 5);
        sl_pgbin_int4(&b, (int32_t)i);
        static const sl_pgbin_kind k[] = {SL_PGBIN_NUMERIC, SL_PGBIN_NUMERIC, SL_PGBIN_JSONB, SL_PGBIN_TEXT};
        sl_strbuf_printf(&t, "%zu", i);
        for (int f = 0; f < 4; f++) {
            ck_assert_msg(sl_pgbin_cell(&b, k[f], rows[i][f], strlen(rows[i][f])), "'%s' refused", rows[i][f]);
            sl_strbuf_printf(&t, "\t%s", rows[i][f]); /* no tab, newline or backslash but \u00e9's */
        }
        sl_strbuf_putc(&t, '\n');
    }
    sl_pgbin_trailer(&b);
    char st[6];
    copy_in(c, "bin", true, b.data, b.len, st);
    ck_assert_str_eq(st, "");
    /* the text COPY reads a backslash as an escape: \\u00e9 in it stands for \u00e9 */
    sl_strbuf esc = SL_STRBUF_INIT;
    for (size_t i = 0; i < t.len; i++) {
        if (t.data[i] == '\\')
            sl_strbuf_putc(&esc, '\\');
        sl_strbuf_putc(&esc, t.data[i]);
    }
    copy_in(c, "txt", false, esc.data, esc.len, st);
    ck_assert_str_eq(st, "");
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM bin", NULL), 5);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM (SELECT i, n, u, j, k::text FROM bin EXCEPT "
                                  "SELECT i, n, u, j, k::text FROM txt) d", NULL), 0);
    ck_assert_int_eq(ts_pg_int(c, "SELECT count(*) FROM (SELECT i, n::text, u::text FROM txt EXCEPT "
                                  "SELECT i, n::text, u::text FROM bin) d", NULL), 0);
    char *v = ts_pg_text(c, "SELECT n::text || ' ' || (j->>'a') FROM bin WHERE i = 0", NULL);
    ck_assert_str_eq(v, "1.01 2");
    free(v);
    v = ts_pg_text(c, "SELECT n::text FROM bin WHERE i = 1", NULL);
    ck_assert_str_eq(v, "-2.35");
    free(v);

    /* refused alike: beyond numeric(6,2), and a jsonb that is no JSON */
    static const char *const bad[][2] = {{"10000.00", "{}"}, {"9999.995", "{}"}, {"1", "{\"a\": }"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sl_strbuf_reset(&b);
        sl_pgbin_header(&b);
        sl_pgbin_row(&b, 2);
        ck_assert(sl_pgbin_cell(&b, SL_PGBIN_NUMERIC, bad[i][0], strlen(bad[i][0])));
        ck_assert(sl_pgbin_cell(&b, SL_PGBIN_JSONB, bad[i][1], strlen(bad[i][1])));
        sl_pgbin_trailer(&b);
        char bst[6], tst[6];
        copy_in(c, "bin (n, j)", true, b.data, b.len, bst);
        sl_strbuf_reset(&t);
        sl_strbuf_printf(&t, "%s\t%s\n", bad[i][0], bad[i][1]);
        copy_in(c, "txt (n, j)", false, t.data, t.len, tst);
        ck_assert_msg(*bst && !strcmp(bst, tst), "'%s' '%s': binary %s, text %s", bad[i][0], bad[i][1], bst, tst);
    }
    sl_strbuf_free(&b);
    sl_strbuf_free(&t);
    sl_strbuf_free(&esc);
    PQfinish(c);
}
END_TEST

START_TEST(other_texts_are_left_to_postgres)
{
    static const char *const ints[] = {"", "-", "+1", " 1", "1 ", "1.0", "1e3", "0x10", "9223372036854775808",
                                       "-9223372036854775809", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        refused(SL_PGBIN_INT8, ints[i]);
    refused(SL_PGBIN_INT4, "2147483648");
    refused(SL_PGBIN_INT2, "-32769");
    static const char *const doubles[] = {"", "-", ".", "e5", "1e", "+1", " 1", "NaN", "Infinity", "-inf", "1e400",
                                          "1e-400", "4.9e-324", "0x1p3", "1,5"};
    for (size_t i = 0; i < sizeof(doubles) / sizeof(doubles[0]); i++)
        refused(SL_PGBIN_FLOAT8, doubles[i]);
    static const char *const bools[] = {"true", "false", "1", "0", "T", "yes", ""};
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++)
        refused(SL_PGBIN_BOOL, bools[i]);
    static const char *const stamps[] = {
        "2024-01-01T00:00:00",           /* the session's zone would count */
        "2024-01-01",                    "2024-01-01T00:00Z",          "2024-01-01T24:00:00Z",
        "2024-02-30T00:00:00Z",          "2023-02-29T00:00:00Z",       "2024-13-01T00:00:00Z",
        "0000-01-01T00:00:00Z",          "2024-01-01T00:00:60Z",       "2024-01-01T00:00:00.1234567Z",
        "2024-01-01T00:00:00.Z",         "2024-01-01T00:00:00z",       "2024-01-01t00:00:00Z",
        "2024-01-01T00:00:00+15",        "2024-01-01T00:00:00+0530",   "2024-01-01T00:00:00 UTC",
        "2024-01-01T00:00:00+05:3",      "10000-01-01T00:00:00Z",      "2024-01-01T00:00:00Z BC",
        "epoch",                         "2024-01-01T00:00:00+05:30:00"};
    for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++)
        refused(SL_PGBIN_TIMESTAMPTZ, stamps[i]);
    static const char *const numerics[] = {"", "-", ".", "-.", "+1", " 1", "1 ", "1e3", "1E-3", "NaN", "Infinity",
                                           "-Infinity", "1,5", "1.2.3", "--1", "0x10", "1_000"};
    for (size_t i = 0; i < sizeof(numerics) / sizeof(numerics[0]); i++)
        refused(SL_PGBIN_NUMERIC, numerics[i]);
    char wide[1100];
    memset(wide, '7', 1001);
    wide[1001] = '\0';
    refused(SL_PGBIN_NUMERIC, wide); /* 1,001 digits before the point */
    wide[0] = '.';
    wide[1001] = '7';
    wide[1002] = '\0';
    refused(SL_PGBIN_NUMERIC, wide); /* ... or after it */
    static const char nul[] = "{\"a\": \"\0\"}";
    refused_n(SL_PGBIN_JSONB, nul, sizeof(nul) - 1);
    refused_n(SL_PGBIN_TEXT, nul, sizeof(nul) - 1);
    refused(SL_PGBIN_NONE, "1");
}
END_TEST

START_TEST(kinds_follow_the_declared_type)
{
    static const struct {
        const char *name;
        sl_pgbin_kind kind;
    } cases[] = {{"bigint", SL_PGBIN_INT8},
                 {"double precision", SL_PGBIN_FLOAT8},
                 {"timestamp with time zone", SL_PGBIN_TIMESTAMPTZ},
                 {"text", SL_PGBIN_TEXT},
                 {"character varying(20)", SL_PGBIN_NONE},
                 {"timestamp without time zone", SL_PGBIN_NONE},
                 {"numeric(12,2)", SL_PGBIN_NUMERIC},
                 {"numeric", SL_PGBIN_NUMERIC},
                 {"numeric(5)", SL_PGBIN_NUMERIC},
                 {"numeric[]", SL_PGBIN_NONE},
                 {"numeric(12,2)[]", SL_PGBIN_NONE},
                 {"jsonb", SL_PGBIN_JSONB},
                 {"json", SL_PGBIN_TEXT},
                 {"jsonb[]", SL_PGBIN_NONE},
                 {"real", SL_PGBIN_NONE},
                 {"my_domain", SL_PGBIN_NONE}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sl_column col = {0};
        col.type_name = (char *)cases[i].name;
        ck_assert_int_eq(sl_pgbin_kind_of(&col), cases[i].kind);
    }
}
END_TEST

int main(void)
{
    ts_require_pg();
    Suite *s = suite_create("pgbinary");
    TCase *tc = tcase_create("pgbinary");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, other_texts_are_left_to_postgres);
    tcase_add_test(tc, kinds_follow_the_declared_type);
    tcase_add_test(tc, binary_copy_stores_what_text_copy_stores);
    tcase_add_test(tc, cells_are_what_postgres_makes_of_their_text);
    suite_add_tcase(s, tc);
    return sl_run_suite(s) ? 1 : 0;
}
