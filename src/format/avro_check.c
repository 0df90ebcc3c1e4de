/* avro_check.c - the bounds check of an Avro binary datum.
 *
 * avro-c 1.11 allocates a string or bytes buffer of the length the data
 * claims before reading it, and leaks it when the read then fails; a
 * corrupt length can claim gigabytes.  So every datum is first walked here
 * against the schema, allocation-free, checking each length, count, union
 * branch and enum index against the bytes actually present (binary
 * encoding: Avro specification 1.11.1, "Binary Encoding"); avro-c only ever
 * sees data that fits. */
#include <stdint.h>

#include "avro_int.h"

bool sl_av_varint(sl_av_cursor *c, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (c->p >= c->end)
            return c->why = "truncated", false;
        unsigned char b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)((v >> 1) ^ -(v & 1)); /* zig-zag */
            return true;
        }
    }
    return c->why = "varint too long", false;
}

static bool skip(sl_av_cursor *c, int64_t n)
{
    if (n < 0 || n > c->end - c->p)
        return c->why = n < 0 ? "negative length" : "length beyond the end of the data", false;
    c->p += n;
    return true;
}

bool sl_av_check(sl_av_cursor *c, const sl_av_node *n, int depth)
{
    int64_t x;
    if (depth > 64)
        return c->why = "nested too deep", false;
    switch (n->kind) {
    case SL_AV_NULL: return true;
    case SL_AV_BOOLEAN: return skip(c, 1);
    case SL_AV_INT:
        if (!sl_av_varint(c, &x))
            return false;
        return (x >= INT32_MIN && x <= INT32_MAX) || (c->why = "int out of range", false);
    case SL_AV_LONG: return sl_av_varint(c, &x);
    case SL_AV_FLOAT: return skip(c, 4);
    case SL_AV_DOUBLE: return skip(c, 8);
    case SL_AV_BYTES:
    case SL_AV_STRING: return sl_av_varint(c, &x) && skip(c, x);
    case SL_AV_FIXED: return skip(c, n->size);
    case SL_AV_ENUM:
        if (!sl_av_varint(c, &x))
            return false;
        return (x >= 0 && (uint64_t)x < n->n) || (c->why = "enum index out of range", false);
    case SL_AV_UNION:
        if (!sl_av_varint(c, &x))
            return false;
        if (x < 0 || (uint64_t)x >= n->n)
            return c->why = "union branch out of range", false;
        return sl_av_check(c, n->child[x], depth + 1);
    case SL_AV_RECORD:
        for (size_t i = 0; i < n->n; i++)
            if (!sl_av_check(c, n->child[i], depth + 1))
                return false;
        return true;
    case SL_AV_ARRAY:
    case SL_AV_MAP: {
        for (;;) {
            int64_t count;
            if (!sl_av_varint(c, &count))
                return false;
            if (count == 0)
                return true;
            if (count > SL_AV_MAX_ITEMS || count < -SL_AV_MAX_ITEMS || c->items + (count < 0 ? -count : count) > SL_AV_MAX_ITEMS)
                return c->why = "more than 1000000 array or map items", false;
            if (count < 0) { /* a block with its byte size */
                int64_t size;
                if (!sl_av_varint(c, &size))
                    return false;
                count = -count;
            }
            c->items += count;
            for (int64_t i = 0; i < count; i++) {
                if (n->kind == SL_AV_MAP && !(sl_av_varint(c, &x) && skip(c, x)))
                    return false;
                if (!sl_av_check(c, n->child[0], depth + 1))
                    return false;
            }
        }
    }
    }
    return c->why = "unknown type", false;
}
