/*
 * uuidv7.h
 *	  Time-ordered ids, and the text form of any id (uuidv7.c).
 */
#ifndef FANFARE_UUIDV7_H
#define FANFARE_UUIDV7_H

#include "postgres.h"

#include "utils/uuid.h"

extern void uuidv7_generate(pg_uuid_t *ids, int n);
extern void uuid_format(const pg_uuid_t *id, char *buf);	/* buf >= 37 bytes */

#endif							/* FANFARE_UUIDV7_H */
