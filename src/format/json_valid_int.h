/* json_valid_int.h - JSON text checked as the general path's parser
 * (jansson, json.c) would accept it, without building values: for the
 * parts of a record that a direct reader passes over (json_valid.c). */
#ifndef SLUICE_JSON_VALID_INT_H
#define SLUICE_JSON_VALID_INT_H

#include <stdbool.h>
#include <stddef.h>

/* sl_json_number_refused() - a number token (@s, @n, already of JSON's
 * grammar) that jansson refuses: an integer beyond int64, a real beyond
 * double. */
bool sl_json_number_refused(const char *s, size_t n);

/* sl_json_number_end() - past the number token at @s[@i] by JSON's grammar
 * alone (no range check: sl_json_number_refused()), or 0; *@real when it
 * has a fraction or an exponent, *@exponent for the latter. */
size_t sl_json_number_end(const char *s, size_t i, size_t n, bool *real, bool *exponent);

/* sl_json_literal_end() - past @word (true, false, null) at @s[@i], or 0. */
size_t sl_json_literal_end(const char *s, size_t i, size_t n, const char *word);

/* sl_json_hex4() - the value of the four hex digits at @p, or -1. */
long sl_json_hex4(const char *p);

/**
 * sl_json_valid_skip() - past the JSON value that starts at @s[@i] (after
 * whitespace), checked as jansson reads it.
 * Return: the offset just past the value, or 0 when it is not one that
 * jansson takes with the same meaning, or one this check leaves to jansson
 * (declined, never guessed): an escape of NUL or of a UTF-16 surrogate,
 * nesting deeper than 64.  UTF-8 is the caller's to check (sl_utf8_strict()).
 */
size_t sl_json_valid_skip(const char *s, size_t i, size_t n);

/* sl_json_space() - JSON's whitespace (not \v or \f). */
static inline bool sl_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* sl_json_ws() - past the whitespace at @s[@i]. */
static inline size_t sl_json_ws(const char *s, size_t i, size_t n)
{
    while (i < n && sl_json_space(s[i]))
        i++;
    return i;
}

/**
 * sl_json_string_end() - the string whose opening quote is @s[@i]: the
 * offset just past its closing quote, *@esc set when it holds an escape.
 * With @check, as jansson reads it (no control bytes, valid escapes, none
 * declined as above); without, only where it ends.  0: it does not end, or
 * fails the check.
 */
size_t sl_json_string_end(const char *s, size_t i, size_t n, bool check, bool *esc);

#endif
