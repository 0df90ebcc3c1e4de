/* json.c - `format: json`: the value is a JSON object whose fields are the
 * row; a null value (tombstone) is a delete when the route asks for it. */
#include <string.h>

#include "sluice/cells.h"
#include "sluice/decoder.h"

static int json_decode(sl_decoder *d, const sl_record *rec, sl_change *out, sl_error *err)
{
    if (!rec->value)
        return sl_decode_tombstone(d, out);
    json_error_t je;
    /* JSON_ALLOW_NUL keeps "\u0000" inside strings instead of failing the
     * whole record; the mapper rejects it for text columns. */
    out->value = json_loadb(rec->value, rec->value_len, JSON_ALLOW_NUL, &je);
    if (!out->value)
        return sl_error_set(err, SL_ERR_DATA, "invalid JSON at byte %d: %s", je.position, je.text);
    if (!json_is_object(out->value))
        return sl_error_set(err, SL_ERR_DATA, "the value is JSON but not an object");
    out->op = SL_OP_UPSERT;
    return 0;
}

const sl_format_ops sl_format_json = {
    .name = "json",
    .decode = json_decode,
    .cells = &sl_json_cells_ops,
};
