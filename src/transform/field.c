/* field.c - what the transforms share: finding and setting a field by name
 * or JSON pointer, a value's text and number, their error messages. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transform_int.h"
#include "sluice/mapping.h"
#include "sluice/textfmt.h"

json_t *sl_tx_field(const json_t *obj, const char *name)
{
    if (!json_is_object(obj))
        return NULL;
    if (name[0] != '/')
        return json_object_get(obj, name);
    return sl_json_pointer(obj, name);
}

int sl_tx_field_set(json_t *obj, const char *name, json_t *v)
{
    if (name[0] != '/') {
        json_object_set_new(obj, name, v);
        return 0;
    }
    const char *last = strrchr(name, '/');
    json_t *parent = obj;
    if (last != name) {
        char *p = strndup(name, (size_t)(last - name));
        parent = sl_json_pointer(obj, p);
        free(p);
    }
    if (!json_is_object(parent)) {
        json_decref(v);
        return -1;
    }
    json_object_set_new(parent, last + 1, v);
    return 0;
}

void sl_tx_text(const json_t *v, sl_strbuf *out)
{
    switch (json_typeof(v)) {
    case JSON_STRING: sl_strbuf_append(out, json_string_value(v), json_string_length(v)); return;
    case JSON_INTEGER: sl_fmt_int(out, json_integer_value(v)); return;
    case JSON_REAL: sl_fmt_double(out, json_real_value(v)); return;
    case JSON_TRUE: sl_strbuf_puts(out, "true"); return;
    case JSON_FALSE: sl_strbuf_puts(out, "false"); return;
    case JSON_NULL: return;
    default: {
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        sl_strbuf_puts(out, s ? s : "");
        free(s);
    }
    }
}

bool sl_tx_number(const json_t *v, double *out)
{
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return true;
    }
    if (!json_is_string(v) || !json_string_length(v))
        return false;
    char *end;
    *out = strtod(json_string_value(v), &end);
    return *end == '\0';
}

int sl_tx_fail(const sl_tx *t, sl_error *err, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return sl_error_set(err, SL_ERR_DATA, "transforms[%zu] (%s): %s", t->index,
                        sl_tx_type_name(t->conf->type), msg);
}
