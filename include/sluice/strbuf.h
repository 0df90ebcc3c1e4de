/* strbuf.h - a growable byte buffer.  Allocation failure aborts: sluice
 * bounds its memory by configuration, so running out is not a state it
 * can continue from. */
#ifndef SLUICE_STRBUF_H
#define SLUICE_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct sl_strbuf {
    char *data; /* always NUL-terminated when cap > 0 */
    size_t len;
    size_t cap;
} sl_strbuf;

#define SL_STRBUF_INIT {NULL, 0, 0}

void sl_strbuf_reserve(sl_strbuf *sb, size_t extra);
void sl_strbuf_append(sl_strbuf *sb, const void *data, size_t len);
void sl_strbuf_puts(sl_strbuf *sb, const char *s);
void sl_strbuf_putc(sl_strbuf *sb, char c);
void sl_strbuf_printf(sl_strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sl_strbuf_reset(sl_strbuf *sb);
void sl_strbuf_free(sl_strbuf *sb);
/* sl_strbuf_steal() - hand the buffer to the caller (never NULL). */
char *sl_strbuf_steal(sl_strbuf *sb);

void *sl_xmalloc(size_t n);
void *sl_xcalloc(size_t n, size_t m);
void *sl_xrealloc(void *p, size_t n);
char *sl_xstrdup(const char *s);

#endif
