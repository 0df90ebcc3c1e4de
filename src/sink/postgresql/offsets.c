/* offsets.c - the offsets table, sluice.offsets: created when missing, written
 * in the flush's transaction guarded by the offsets the batch began from
 * (exactly-once's fence), read at assignment, overwritten by `sluice offsets`. */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_int.h"
#include "sluice/log.h"
#include "sluice/sink.h"
#include "sluice/sql.h"
#include "sluice/strbuf.h"
#include "sluice/textfmt.h"

int ensure_offsets_table(sl_sink *s, sl_error *err)
{
    if (PG(s)->offsets_ready)
        return 0;
    /* The advisory lock keeps concurrent workers from racing on CREATE. */
    PGresult *res = PQexec(PG(s)->conn,
                           "BEGIN; SELECT pg_advisory_xact_lock(7405391);"
                           "CREATE SCHEMA IF NOT EXISTS sluice;"
                           "CREATE TABLE IF NOT EXISTS sluice.offsets ("
                           "  group_id text NOT NULL, topic text NOT NULL, partition int NOT NULL,"
                           "  next_offset bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(),"
                           "  PRIMARY KEY (group_id, topic, partition));"
                           "COMMIT");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_fail(s, res, "creating sluice.offsets", err);
        rollback(s);
        return -1;
    }
    PQclear(res);
    PG(s)->offsets_ready = true;
    return 0;
}

/* {"a","b"} array literal for a text[] parameter. */
static void text_array(sl_strbuf *b, const char *const *v, size_t n)
{
    sl_strbuf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            sl_strbuf_putc(b, ',');
        sl_strbuf_putc(b, '"');
        for (const char *p = v[i]; *p; p++) {
            if (*p == '"' || *p == '\\')
                sl_strbuf_putc(b, '\\');
            sl_strbuf_putc(b, *p);
        }
        sl_strbuf_putc(b, '"');
    }
    sl_strbuf_putc(b, '}');
}

static void int_array(sl_strbuf *b, const int64_t *v, size_t n)
{
    sl_strbuf_putc(b, '{');
    for (size_t i = 0; i < n; i++)
        sl_strbuf_printf(b, "%s%" PRId64, i ? "," : "", v[i]);
    sl_strbuf_putc(b, '}');
}

/* Advance the stored offsets; fenced when another consumer moved them. */
int write_offsets(sl_sink *s, const char *group, const sl_offset *offs, size_t n,
                         bool guarded, sl_error *err)
{
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0: rows that exist (expected >= 0); pass 1: new rows */
        const char **topics = sl_xcalloc(n ? n : 1, sizeof(char *));
        int64_t *parts = sl_xcalloc(n ? n : 1, sizeof(int64_t));
        int64_t *exp = sl_xcalloc(n ? n : 1, sizeof(int64_t));
        int64_t *next = sl_xcalloc(n ? n : 1, sizeof(int64_t));
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (guarded && (pass == 0) != (offs[i].expected >= 0))
                continue;
            if (!guarded && pass == 1)
                continue;
            topics[m] = offs[i].topic;
            parts[m] = offs[i].partition;
            exp[m] = offs[i].expected;
            next[m] = offs[i].next;
            m++;
        }
        int rc = 0;
        if (m) {
            sl_strbuf a1 = SL_STRBUF_INIT, a2 = SL_STRBUF_INIT, a3 = SL_STRBUF_INIT, a4 = SL_STRBUF_INIT;
            text_array(&a1, topics, m);
            int_array(&a2, parts, m);
            int_array(&a3, exp, m);
            int_array(&a4, next, m);
            const char *sql;
            if (!guarded)
                sql = "WITH w AS (INSERT INTO sluice.offsets AS o (group_id, topic, partition, next_offset)"
                      " SELECT $1, v.t, v.p, v.n FROM unnest($2::text[], $3::int[], $5::bigint[]) AS v(t, p, n)"
                      " ON CONFLICT (group_id, topic, partition) DO UPDATE"
                      " SET next_offset = EXCLUDED.next_offset, updated_at = now() RETURNING 1)"
                      " SELECT count(*) FROM w WHERE $4::bigint[] IS NOT NULL";
            else if (pass == 0)
                sql = "WITH w AS (UPDATE sluice.offsets AS o SET next_offset = v.n, updated_at = now()"
                      " FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[]) AS v(t, p, e, n)"
                      " WHERE o.group_id = $1 AND o.topic = v.t AND o.partition = v.p AND o.next_offset = v.e"
                      " RETURNING 1) SELECT count(*) FROM w";
            else
                sql = "WITH w AS (INSERT INTO sluice.offsets (group_id, topic, partition, next_offset)"
                      " SELECT $1, v.t, v.p, v.n FROM unnest($2::text[], $3::int[], $5::bigint[]) AS v(t, p, n)"
                      " ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM w WHERE $4::bigint[] IS NOT NULL";
            const char *params[] = {group, a1.data, a2.data, a3.data, a4.data};
            long long count = 0;
            rc = exec_count(s, sql, 5, params, "writing sluice.offsets", &count, err);
            if (!rc && guarded && (size_t)count != m) {
                rc = sl_error_set(err, SL_ERR_RETRY,
                                  "stored offsets of group '%s' moved underneath this worker (another consumer "
                                  "wrote %zu of its %zu partitions); rolling back and re-reading them",
                                  group, m - (size_t)count, m);
                err->fenced = true;
            }
            sl_strbuf_free(&a1);
            sl_strbuf_free(&a2);
            sl_strbuf_free(&a3);
            sl_strbuf_free(&a4);
        }
        free(topics);
        free(parts);
        free(exp);
        free(next);
        if (rc)
            return -1;
    }
    return 0;
}

int pg_read_offsets(sl_sink *s, const char *group, const char *topic, const int32_t *parts,
                           size_t n, int64_t *out, sl_error *err)
{
    for (size_t i = 0; i < n; i++)
        out[i] = -1;
    if (pg_open(s, err) || ensure_offsets_table(s, err))
        return -1;
    sl_strbuf a = SL_STRBUF_INIT;
    sl_strbuf_putc(&a, '{');
    for (size_t i = 0; i < n; i++)
        sl_strbuf_printf(&a, "%s%d", i ? "," : "", parts[i]);
    sl_strbuf_putc(&a, '}');
    const char *params[] = {group, topic, a.data};
    PGresult *res = PQexecParams(PG(s)->conn,
                                 "SELECT partition, next_offset FROM sluice.offsets"
                                 " WHERE group_id = $1 AND topic = $2 AND partition = ANY($3::int[])",
                                 3, NULL, params, NULL, NULL, 0);
    sl_strbuf_free(&a);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return pg_fail(s, res, "reading sluice.offsets", err);
    for (int r = 0; r < PQntuples(res); r++) {
        int32_t part = atoi(PQgetvalue(res, r, 0));
        for (size_t i = 0; i < n; i++)
            if (parts[i] == part)
                out[i] = strtoll(PQgetvalue(res, r, 1), NULL, 10);
    }
    PQclear(res);
    return 0;
}

int pg_set_offsets(sl_sink *s, const char *group, const sl_offset *offs, size_t n, sl_error *err)
{
    if (pg_open(s, err) || ensure_offsets_table(s, err))
        return -1;
    if (exec_ok(s, "BEGIN", 0, NULL, "BEGIN", err))
        return -1;
    if (write_offsets(s, group, offs, n, false, err) || exec_ok(s, "COMMIT", 0, NULL, "COMMIT", err)) {
        rollback(s);
        return -1;
    }
    return 0;
}
