/* cell_put_int.h - one value into one cell of a row, as mapping.c would
 * convert it (cell_put.c), for the direct readers of binary formats. */
#ifndef SLUICE_CELL_PUT_INT_H
#define SLUICE_CELL_PUT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/row.h"
#include "sluice/table.h"
#include "sluice/config.h"

bool sl_cell_no_nul(const unsigned char *s, size_t n);
/* sl_cell_string_fits() - a string value (UTF-8, no NUL) that @col takes as it is. */
bool sl_cell_string_fits(const sl_column *col, const unsigned char *s, size_t n);
/* sl_cell_put_string() - the string @s into cell @i of column @col. */
bool sl_cell_put_string(sl_rowbuilder *b, uint32_t i, const sl_column *col, const unsigned char *s, size_t n);
/* sl_cell_end_text() - end cell @i, whose text was appended after
 * sl_rowbuilder_cell_begin(), if @col takes it as a string. */
bool sl_cell_end_text(sl_rowbuilder *b, uint32_t i, const sl_column *col);
bool sl_cell_put_integer(sl_rowbuilder *b, uint32_t i, const sl_column *col, sl_epoch_unit epoch, int64_t x);
/* sl_cell_put_real() - a finite double into a number or text column. */
bool sl_cell_put_real(sl_rowbuilder *b, uint32_t i, const sl_column *col, double d);

#endif
