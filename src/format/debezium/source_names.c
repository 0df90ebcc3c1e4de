/* source_names.c - the members db, schema and table of a Debezium event's
 * "source" block, found by one skip-scan of the payload's text without
 * parsing it, so that a route whose table template names them
 * (`${source.table}`) can pick its table before the direct reader maps the
 * row (cells.h).  The block comes after "after" in Debezium's events, so
 * the scan passes over the row's text, bracket by bracket.
 *
 * It only finds, never judges: the direct reader then parses the whole
 * payload, which declines anything that is not valid JSON.  What it cannot
 * read as the general path would (jansson's decoding of the payload, whose
 * members other than before/after become sl_change.meta) it declines: an
 * escape in a member name or in a value it returns (jansson would decode
 * it), a repeated "source" or a repeated member of it (jansson keeps the
 * last), a payload that is not an object. */
#include <string.h>

#include "dbz_int.h"

static size_t ws(const char *s, size_t i, size_t n)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* The string whose opening quote is s[*i]: its bytes in [*a, *b), *@esc
 * when it holds an escape; *@i past its closing quote.  false when it does
 * not end. */
static bool string_at(const char *s, size_t *i, size_t n, size_t *a, size_t *b, bool *esc)
{
    size_t j = *i + 1;
    *esc = false;
    *a = j;
    for (; j < n && s[j] != '"'; j++)
        if (s[j] == '\\') {
            *esc = true;
            j++;
        }
    if (j >= n)
        return false;
    *b = j;
    *i = j + 1;
    return true;
}

/* Past the value that starts at s[i] (after whitespace), or 0. */
static size_t skip_value(const char *s, size_t i, size_t n)
{
    i = ws(s, i, n);
    if (i >= n)
        return 0;
    size_t a, b;
    bool esc;
    if (s[i] == '"')
        return string_at(s, &i, n, &a, &b, &esc) ? i : 0;
    if (s[i] != '{' && s[i] != '[') {
        while (i < n && !strchr(",}] \t\r\n", s[i]))
            i++;
        return i;
    }
    size_t depth = 0;
    for (; i < n; i++) {
        char ch = s[i];
        if (ch == '"') {
            if (!string_at(s, &i, n, &a, &b, &esc))
                return 0;
            i--;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if ((ch == '}' || ch == ']') && --depth == 0) {
            return i + 1;
        }
    }
    return 0;
}

static bool key_is(const char *s, size_t a, size_t b, const char *name)
{
    return b - a == strlen(name) && !memcmp(s + a, name, b - a);
}

/* The members of the object at s[*i] ('{'), each handed to @member with
 * its name [a, b) and the offset of its value, which returns past the
 * value or 0 to decline. */
typedef size_t (*member_fn)(void *ctx, const char *s, size_t a, size_t b, size_t at, size_t n);

static bool object(const char *s, size_t *i, size_t n, member_fn member, void *ctx)
{
    size_t j = ws(s, *i, n);
    if (j >= n || s[j] != '{')
        return false;
    j = ws(s, j + 1, n);
    if (j < n && s[j] == '}') {
        *i = j + 1;
        return true;
    }
    for (;;) {
        size_t a, b;
        bool esc;
        if (j >= n || s[j] != '"' || !string_at(s, &j, n, &a, &b, &esc) || esc)
            return false;
        j = ws(s, j, n);
        if (j >= n || s[j] != ':')
            return false;
        if (!(j = member(ctx, s, a, b, j + 1, n)))
            return false;
        j = ws(s, j, n);
        if (j < n && s[j] == ',') {
            j = ws(s, j + 1, n);
            continue;
        }
        if (j < n && s[j] == '}') {
            *i = j + 1;
            return true;
        }
        return false;
    }
}

static const char *const names[SL_CELLS_NNAMES] = {"db", "schema", "table"};

typedef struct scan {
    sl_cells_names *out;
    bool seen_source;
    bool seen[SL_CELLS_NNAMES];
} scan;

static size_t source_member(void *ctx, const char *s, size_t a, size_t b, size_t at, size_t n)
{
    scan *sc = ctx;
    for (int k = 0; k < SL_CELLS_NNAMES; k++) {
        if (!key_is(s, a, b, names[k]))
            continue;
        if (sc->seen[k])
            return 0;
        sc->seen[k] = true;
        size_t i = ws(s, at, n), va, vb;
        bool esc;
        if (i < n && s[i] == '"') {
            if (!string_at(s, &i, n, &va, &vb, &esc) || esc)
                return 0;
            sc->out->v[k] = s + va;
            sc->out->n[k] = vb - va;
            return i;
        }
        return skip_value(s, i, n); /* not a string: no value for a template */
    }
    return skip_value(s, at, n);
}

static size_t payload_member(void *ctx, const char *s, size_t a, size_t b, size_t at, size_t n)
{
    scan *sc = ctx;
    if (!key_is(s, a, b, "source"))
        return skip_value(s, at, n);
    if (sc->seen_source)
        return 0;
    sc->seen_source = true;
    size_t i = ws(s, at, n);
    if (i < n && s[i] == '{')
        return object(s, &i, n, source_member, sc) ? i : 0;
    return skip_value(s, i, n);
}

int sl_dbz_source_names(const char *payload, size_t len, sl_cells_names *out)
{
    memset(out, 0, sizeof(*out));
    scan sc = {.out = out};
    size_t i = 0;
    if (!object(payload, &i, len, payload_member, &sc)) {
        memset(out, 0, sizeof(*out));
        return 0;
    }
    return 1;
}
