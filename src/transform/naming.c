/* naming.c - the table-name rules of a route (name_strip_prefix,
 * name_replace, name_case), applied to each value ${...} puts into its
 * table template, in that order.  The result is still one name part,
 * quoted by the template's expansion (src/worker/tables.c); a result that
 * is empty or holds control characters is refused (the record goes to
 * on_error, its coordinates named by the caller). */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/transform.h"

struct sl_name_rules {
    char *const *strip;
    size_t nstrip;
    regex_t *re;
    const sl_kv *rep;
    size_t nre;
    int name_case;
};

sl_name_rules *sl_name_rules_new(const sl_route_conf *r, const char **badkey, sl_error *err)
{
    if (!r->nname_strip_prefix && !r->nname_replace && r->name_case == SL_CASE_KEEP)
        return NULL;
    sl_name_rules *n = sl_xcalloc(1, sizeof(*n));
    n->strip = r->name_strip_prefix;
    n->nstrip = r->nname_strip_prefix;
    n->rep = r->name_replace;
    n->name_case = r->name_case;
    n->re = sl_xcalloc(r->nname_replace ? r->nname_replace : 1, sizeof(regex_t));
    for (; n->nre < r->nname_replace; n->nre++) {
        if (regcomp(&n->re[n->nre], r->name_replace[n->nre].key, REG_EXTENDED)) {
            *badkey = "name_replace";
            sl_error_set(err, SL_ERR_FATAL, "invalid regular expression '%s'", r->name_replace[n->nre].key);
            sl_name_rules_free(n);
            return NULL;
        }
    }
    return n;
}

void sl_name_rules_free(sl_name_rules *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nre; i++)
        regfree(&n->re[i]);
    free(n->re);
    free(n);
}

/* Every match of @re in @in replaced by @rep (\0..\9 its groups) into @out. */
static void replace_all(const regex_t *re, const char *rep, const char *in, sl_strbuf *out)
{
    regmatch_t m[10];
    const char *s = in;
    int flags = 0;
    while (*s && regexec(re, s, 10, m, flags) == 0) {
        sl_strbuf_append(out, s, (size_t)m[0].rm_so);
        for (const char *r = rep; *r; r++) {
            if (r[0] == '\\' && r[1] >= '0' && r[1] <= '9') {
                int g = r[1] - '0';
                if (m[g].rm_so >= 0)
                    sl_strbuf_append(out, s + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
                r++;
            } else {
                sl_strbuf_putc(out, *r);
            }
        }
        if (m[0].rm_eo == m[0].rm_so) { /* an empty match: step over one character */
            if (!s[m[0].rm_eo])
                break;
            sl_strbuf_putc(out, s[m[0].rm_eo]);
            s += m[0].rm_eo + 1;
        } else {
            s += m[0].rm_eo;
        }
        flags = REG_NOTBOL;
    }
    sl_strbuf_puts(out, s);
}

int sl_name_rules_apply(const sl_name_rules *n, const char *in, sl_strbuf *out, sl_error *err)
{
    sl_strbuf_reset(out);
    for (size_t i = 0; i < n->nstrip; i++) {
        size_t len = strlen(n->strip[i]);
        if (!strncmp(in, n->strip[i], len)) {
            in += len;
            break;
        }
    }
    sl_strbuf_puts(out, in);
    sl_strbuf tmp = SL_STRBUF_INIT;
    for (size_t i = 0; i < n->nre; i++) {
        sl_strbuf_reset(&tmp);
        replace_all(&n->re[i], n->rep[i].value, out->data ? out->data : "", &tmp);
        sl_strbuf_reset(out);
        sl_strbuf_append(out, tmp.data ? tmp.data : "", tmp.len);
    }
    sl_strbuf_free(&tmp);
    for (size_t i = 0; i < out->len; i++) {
        unsigned char ch = (unsigned char)out->data[i];
        if (n->name_case == SL_CASE_LOWER && ch >= 'A' && ch <= 'Z')
            out->data[i] = (char)(ch - 'A' + 'a');
        else if (n->name_case == SL_CASE_UPPER && ch >= 'a' && ch <= 'z')
            out->data[i] = (char)(ch - 'a' + 'A');
        if (ch < 0x20 || ch == 0x7f)
            return sl_error_set(err, SL_ERR_DATA, "the table-name rules made '%s' of '%s': a control character "
                                "in a table name", out->data, in);
    }
    if (!out->len)
        return sl_error_set(err, SL_ERR_DATA, "the table-name rules made an empty table name of '%s'", in);
    return 0;
}
