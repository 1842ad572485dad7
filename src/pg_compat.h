/*
 * pg_compat.h
 *	  The PostgreSQL versions fanfare builds against, and what differs
 *	  between them.
 */
#ifndef FANFARE_PG_COMPAT_H
#define FANFARE_PG_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 130000 || PG_VERSION_NUM >= 180000
#error "fanfare supports PostgreSQL 13 to 17"
#endif

#include "utils/numeric.h"

/* int64_to_numeric() is exported from PostgreSQL 14 on */
#if PG_VERSION_NUM < 140000
#include "utils/fmgrprotos.h"
#define int64_to_numeric(v) DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(v)))
#endif

#endif							/* FANFARE_PG_COMPAT_H */
