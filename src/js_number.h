/*
 * js_number.h
 *	  Numbers as JavaScript sees them (js_number.c).
 */
#ifndef FANFARE_JS_NUMBER_H
#define FANFARE_JS_NUMBER_H

#include "postgres.h"

#include "utils/numeric.h"

extern double js_number_from_numeric(Numeric num);
extern double js_number_parse(const char *s, int len);
extern bool js_number_fits_numeric(const char *s, int len);
extern bool js_number_is_huge(Numeric num);
extern int	js_number_format(double d, char *buf);	/* buf >= 32 bytes */

/* the most bytes js_number_numeric_bytes writes (a numeric, no varlena header) */
#define JS_NUMBER_NUMERIC_MAX 24
extern int	js_number_numeric_bytes(double d, char *out);

#endif							/* FANFARE_JS_NUMBER_H */
