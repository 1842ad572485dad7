/*
 * errcodes.h
 *	  fanfare's own SQLSTATEs as ereport() codes.
 *
 * ERRCODE_FANFARE_<NAME>, from the table in sqlstates.h, which the gateway
 * is built from too.  The README's table lists them with the standard codes
 * fanfare also raises: 22023 (the batch has issues), 28000 (no tenant),
 * 22004 (null body), 54000 (response too large).
 */
#ifndef FANFARE_ERRCODES_H
#define FANFARE_ERRCODES_H

#include "postgres.h"

#include "sqlstates.h"

enum
{
#define FANFARE_ERRCODE(name, c1, c2, c3, c4, c5, status) \
	ERRCODE_FANFARE_##name = MAKE_SQLSTATE(c1, c2, c3, c4, c5),
	FANFARE_SQLSTATES(FANFARE_ERRCODE)
#undef FANFARE_ERRCODE
};

#endif							/* FANFARE_ERRCODES_H */
