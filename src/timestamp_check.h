/*
 * timestamp_check.h
 *	  ISO timestamps: the rule, and the form JavaScript prints them in
 *	  (timestamp_check.c).
 */
#ifndef FANFARE_TIMESTAMP_CHECK_H
#define FANFARE_TIMESTAMP_CHECK_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern bool timestamp_parse_iso(const char *s, int len, TimestampTz *result);
extern int	timestamp_format_iso(TimestampTz ts, char *buf);	/* buf >= 32 bytes */

#endif							/* FANFARE_TIMESTAMP_CHECK_H */
