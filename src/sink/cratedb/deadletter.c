/* deadletter.c - dead letters into a CrateDB target's dlq_table, created
 * when missing; written after the batch (CrateDB has no transactions), and
 * idempotent by (topic, partition, kafka_offset). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cratedb_int.h"
#include "sluice/textfmt.h"
#include "sluice/log.h"
#include "sluice/sql.h"

/* The dead-letter table: idempotent by (topic, partition, kafka_offset); the
 * record's key and value as text (hex with a \x prefix when not UTF-8). */
static const char *const dlq_cols[] = {"route", "topic", "partition", "kafka_offset", "record_key",
                                       "record_value", "error"};

static bool utf8_text(const unsigned char *p, size_t n)
{
    return sl_utf8_strict(p, n) && !memchr(p, 0, n);
}

static void dlq_bytes(sl_rowbuilder *rb, uint32_t i, const void *data, size_t len)
{
    if (!data) {
        sl_rowbuilder_set_null(rb, i);
        return;
    }
    if (utf8_text(data, len)) {
        sl_rowbuilder_set(rb, i, data, len);
        return;
    }
    sl_strbuf *sb = sl_rowbuilder_cell_begin(rb, i);
    sl_strbuf_puts(sb, "\\x");
    for (size_t k = 0; k < len; k++)
        sl_strbuf_printf(sb, "%02x", ((const unsigned char *)data)[k]);
    sl_rowbuilder_cell_end(rb, i);
}

int crate_write_deadletters(sl_sink *s, sl_flush *f, sl_error *err)
{
    crate_common *c = CRATE(s);
    int rc = 0;
    for (size_t i = 0; !rc && i < f->ndead; i++) {
        sl_deadletter *d = &f->dead[i];
        char *schema = NULL, *name = NULL;
        if (sl_split_table_name(d->route->dlq_table, s->conf->schema, &schema, &name))
            return sl_error_set(err, SL_ERR_FATAL, "dlq_table '%s' is not a valid table name", d->route->dlq_table);
        sl_table t = {0};
        sl_column cols[7];
        size_t key[3] = {1, 2, 3}, idx[7] = {0, 1, 2, 3, 4, 5, 6};
        memset(cols, 0, sizeof(cols));
        for (size_t k = 0; k < 7; k++) {
            cols[k].name = (char *)dlq_cols[k];
            cols[k].type = k == 2 ? SL_COL_INT4 : k == 3 ? SL_COL_INT8 : SL_COL_TEXT;
            cols[k].in_key = k >= 1 && k <= 3;
        }
        sl_strbuf q = SL_STRBUF_INIT;
        sl_sql_qname(&q, schema, name);
        t.qname = sl_strbuf_steal(&q);
        t.cols = cols;
        t.ncols = 7;
        t.key = key;
        t.nkey = 3;
        bool ready = false;
        for (size_t k = 0; k < c->ndlq_ready; k++)
            ready |= !strcmp(c->dlq_ready[k], t.qname);
        if (!ready) {
            sl_strbuf_printf(&q, "CREATE TABLE IF NOT EXISTS %s (\"route\" TEXT, \"topic\" TEXT NOT NULL,"
                                 " \"partition\" INTEGER NOT NULL, \"kafka_offset\" BIGINT NOT NULL,"
                                 " \"record_key\" TEXT, \"record_value\" TEXT, \"error\" TEXT,"
                                 " \"failed_at\" TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP,"
                                 " PRIMARY KEY (\"topic\", \"partition\", \"kafka_offset\"))",
                             t.qname);
            rc = c->tp->query(s, q.data, NULL, 0, NULL, err);
            sl_strbuf_free(&q);
            if (!rc) {
                c->dlq_ready = sl_xrealloc(c->dlq_ready, (c->ndlq_ready + 1) * sizeof(char *));
                c->dlq_ready[c->ndlq_ready++] = sl_xstrdup(t.qname);
            }
        }
        if (!rc) {
            sl_rowbuilder rb;
            sl_rowbuilder_init(&rb);
            sl_rowbuilder_start(&rb, 7);
            char part[16], off[24];
            snprintf(part, sizeof(part), "%d", d->partition);
            snprintf(off, sizeof(off), "%" PRId64, d->offset);
            sl_rowbuilder_set(&rb, 0, d->route->name, strlen(d->route->name));
            sl_rowbuilder_set(&rb, 1, d->topic, strlen(d->topic));
            sl_rowbuilder_set(&rb, 2, part, strlen(part));
            sl_rowbuilder_set(&rb, 3, off, strlen(off));
            dlq_bytes(&rb, 4, d->key, d->key_len);
            dlq_bytes(&rb, 5, d->value, d->value_len);
            sl_rowbuilder_set(&rb, 6, d->error, strlen(d->error));
            sl_row *row = sl_rowbuilder_finish(&rb, SL_OP_UPSERT, d->topic, d->partition, d->offset, NULL, 0,
                                               NULL, 0);
            sl_rowbuilder_free(&rb);
            sl_row *rows[1] = {row};
            sl_batch b = {0};
            b.route = d->route;
            b.table = &t;
            b.rows = rows;
            b.nrows = 1;
            b.live = 1;
            sl_strbuf_reset(&c->sql);
            crate_expect ex = crate_build_upsert(&c->sql, &t, idx, 7, false);
            size_t row0 = 0;
            crate_stmt st = {c->sql.data, &t, &b, idx, 7, &row0, 1, ex};
            crate_outcome o = {0};
            rc = c->tp->bulk(s, &st, &o, err);
            if (!rc && o.kind != CR_OK)
                rc = sl_error_set(err, o.kind == CR_DATA ? SL_ERR_FATAL : SL_ERR_RETRY,
                                  "dead letter %s[%d]@%" PRId64 " not written to %s: %s", d->topic, d->partition,
                                  d->offset, t.qname, o.msg[0] ? o.msg : "no reason given");
            free(row);
        }
        free(t.qname);
        free(schema);
        free(name);
    }
    return rc;
}
