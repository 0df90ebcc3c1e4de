/* envelope.c - one pass over the text of a Debezium change event's payload
 * for the direct reader: where its "after" and "before" values are, its
 * op's letter, and the source block's db, schema and table; every other
 * member checked as jansson would read it (json_valid.c), "before" too, so
 * that only "after" is left to parse (json_cells.c parses it, and checks it
 * as the general path would).
 *
 * It declines (0) what only jansson's decoding can settle: an escape in a
 * member name of the payload or of "source", a repeated "after", "before",
 * "op", "source" or name member of "source" (jansson keeps the last), an op that
 * is not a string or holds an escape, a payload that is not an object.  A
 * name value with an escape is not returned (names_ok false), so that a
 * route whose table names it takes the general path. */
#include <string.h>

#include "../json_valid_int.h"
#include "dbz_int.h"

static const char *const names[SL_CELLS_NNAMES] = {"db", "schema", "table"};

/* The member name at s[*i] (a string without escapes): [*a, *b), *i past
 * the colon after it; false otherwise. */
static bool member_name(const char *s, size_t *i, size_t n, size_t *a, size_t *b)
{
    bool esc;
    size_t j = *i;
    if (j >= n || s[j] != '"')
        return false;
    size_t end = sl_json_string_end(s, j, n, true, &esc);
    if (!end || esc)
        return false;
    *a = j + 1;
    *b = end - 1;
    j = sl_json_ws(s, end, n);
    if (j >= n || s[j] != ':')
        return false;
    *i = j + 1;
    return true;
}

static bool name_is(const char *s, size_t a, size_t b, const char *name)
{
    return b - a == strlen(name) && !memcmp(s + a, name, b - a);
}

/* Past the "source" object at s[i] ('{'), its names into @e; 0 declines. */
static size_t source_block(const char *s, size_t i, size_t n, sl_dbz_envelope *e)
{
    bool seen[SL_CELLS_NNAMES] = {false};
    i = sl_json_ws(s, i + 1, n);
    if (i < n && s[i] == '}')
        return i + 1;
    for (;;) {
        size_t a, b;
        if (!member_name(s, &i, n, &a, &b))
            return 0;
        int k = SL_CELLS_NNAMES;
        for (int m = 0; m < SL_CELLS_NNAMES && k == SL_CELLS_NNAMES; m++)
            if (name_is(s, a, b, names[m]))
                k = m;
        size_t v = sl_json_ws(s, i, n);
        if (!(i = sl_json_valid_skip(s, v, n)))
            return 0;
        if (k < SL_CELLS_NNAMES) {
            if (seen[k])
                return 0;
            seen[k] = true;
            if (s[v] == '"') {
                bool esc;
                sl_json_string_end(s, v, n, false, &esc);
                if (esc) {
                    e->names_ok = false;
                } else {
                    e->names.v[k] = s + v + 1;
                    e->names.n[k] = i - v - 2;
                }
            }
        }
        i = sl_json_ws(s, i, n);
        if (i < n && s[i] == ',') {
            i = sl_json_ws(s, i + 1, n);
            continue;
        }
        return i < n && s[i] == '}' ? i + 1 : 0;
    }
}

/* Past the object at s[i] ('{') found by its brackets alone (strings
 * skipped whole), or 0; the parse of it checks it. */
static size_t object_span(const char *s, size_t i, size_t n)
{
    size_t depth = 0;
    bool esc;
    while (i < n) {
        char c = s[i];
        if (c == '"') {
            if (!(i = sl_json_string_end(s, i, n, false, &esc)))
                return 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return 0;
}

int sl_dbz_envelope_scan(const char *s, size_t n, sl_dbz_envelope *e)
{
    memset(e, 0, sizeof(*e));
    e->names_ok = true;
    bool seen_source = false;
    size_t i = sl_json_ws(s, 0, n);
    if (i >= n || s[i] != '{')
        return 0;
    i = sl_json_ws(s, i + 1, n);
    if (i < n && s[i] == '}')
        return sl_json_ws(s, i + 1, n) == n;
    for (;;) {
        size_t a, b;
        if (!member_name(s, &i, n, &a, &b))
            return 0;
        i = sl_json_ws(s, i, n);
        if (i >= n)
            return 0;
        if (name_is(s, a, b, "after")) {
            if (e->after)
                return 0;
            size_t end = s[i] == '{' ? object_span(s, i, n) : sl_json_valid_skip(s, i, n);
            if (!end)
                return 0;
            e->after = s + i;
            e->after_len = end - i;
            i = end;
        } else if (name_is(s, a, b, "before")) {
            size_t end = sl_json_valid_skip(s, i, n);
            if (e->before || !end)
                return 0;
            e->before = s + i;
            e->before_len = end - i;
            i = end;
        } else if (name_is(s, a, b, "op")) {
            bool esc;
            size_t end = s[i] == '"' ? sl_json_string_end(s, i, n, true, &esc) : 0;
            if (e->op || !end || esc)
                return 0;
            e->op = end - i == 3 ? s[i + 1] : '?';
            i = end;
        } else if (name_is(s, a, b, "source")) {
            if (seen_source)
                return 0;
            seen_source = true;
            if (!(i = s[i] == '{' ? source_block(s, i, n, e) : sl_json_valid_skip(s, i, n)))
                return 0;
        } else if (!(i = sl_json_valid_skip(s, i, n))) {
            return 0;
        }
        i = sl_json_ws(s, i, n);
        if (i < n && s[i] == ',') {
            i = sl_json_ws(s, i + 1, n);
            continue;
        }
        return i < n && s[i] == '}' && sl_json_ws(s, i + 1, n) == n;
    }
}
