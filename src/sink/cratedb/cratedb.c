/* cratedb.c - the CrateDB target type: its options, the column types its
 * DDL declares, and the transport that serves a target (http.c for `url`,
 * pg.c for `dsn`). */
#include <stdio.h>
#include <string.h>

#include "cratedb_int.h"
#include "sluice/log.h"
#include "../pq_int.h"
#include "sluice/redact.h"

static int crate_check_conf(sl_target_conf *t, const char **key, sl_error *err)
{
    if (sl_pq_check_conf(t, key, err))
        return -2;
    *key = "url";
    if (!t->dsn == !t->url)
        return sl_error_set(err, SL_ERR_FATAL,
                            "a cratedb target needs exactly one of url (HTTP) or dsn (PostgreSQL wire protocol)");
    *key = "delivery";
    if ((int)t->delivery == SL_DELIVERY_EXACTLY_ONCE)
        return sl_error_set(err, SL_ERR_FATAL,
                            "CrateDB has no transactions: only at-least-once (with idempotent upserts) is possible");
    t->delivery = SL_DELIVERY_AT_LEAST_ONCE;
    *key = "session_replication_role";
    if (t->replication_role != SL_ROLE_ORIGIN)
        return sl_error_set(err, SL_ERR_FATAL, "session_replication_role is a PostgreSQL setting: CrateDB has no triggers or foreign keys");
    if (!t->schema)
        t->schema = sl_xstrdup("doc");
    return 0;
}

/* CrateDB has no bytea, uuid, time or storable date; decimals go to text to
 * stay exact. */
static const char *crate_scalar_type(const char *t, char *buf, size_t len)
{
    static const struct {
        const char *sluice, *crate;
    } map[] = {
        {"smallint", "SMALLINT"},  {"integer", "INTEGER"}, {"bigint", "BIGINT"},
        {"real", "REAL"},          {"double precision", "DOUBLE PRECISION"},
        {"boolean", "BOOLEAN"},    {"timestamptz", "TIMESTAMP WITH TIME ZONE"},
        {"timestamp", "TIMESTAMP WITHOUT TIME ZONE"}, {"date", "TIMESTAMP WITH TIME ZONE"},
        {"json", "OBJECT(DYNAMIC)"}, {"jsonb", "OBJECT(DYNAMIC)"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(map[i].sluice, t))
            return snprintf(buf, len, "%s", map[i].crate), buf;
    return snprintf(buf, len, "TEXT"), buf;
}

const char *crate_column_type(const json_t *field, char *buf, size_t len)
{
    const char *it, *t = sl_field_type(field, &it);
    char inner[64];
    if (!it)
        return crate_scalar_type(t, buf, len);
    snprintf(buf, len, "ARRAY(%s)", crate_scalar_type(*it ? it : "text", inner, sizeof(inner)));
    return buf;
}

static const sl_sink_ops *crate_choose_transport(const sl_target_conf *t)
{
    return t->url ? &sl_sink_cratedb_http : &sl_sink_cratedb_pg;
}

/* Over pgwire, the dsn's checks; over HTTP, the url's credentials and TLS. */
static void crate_guard_conf(const sl_target_conf *t, const char *path)
{
    if (t->dsn) {
        sl_pq_guard_conf(t, path);
        return;
    }
    char key[200];
    sl_secret_add(t->password);
    snprintf(key, sizeof(key), "targets.%s.url", t->name);
    sl_config_warn_url(path, key, t->url, t->user || t->password);
    if (t->insecure)
        log_warn("config", "%s:%d: targets.%s.insecure: TLS certificates are not verified: anyone on the "
                 "path can pose as the server", path, t->line, t->name);
}

const sl_sink_ops sl_sink_cratedb = {
    .name = "cratedb",
    .transactional = false,
    .check_conf = crate_check_conf,
    .guard_conf = crate_guard_conf,
    .column_type = crate_column_type,
    .transport = crate_choose_transport,
};
