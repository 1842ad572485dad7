/*
 * batch.h
 *	  One call of the API: what the server adds to each of its rows, and
 *	  the consumers staged so far.  Only the type, shared by every step of
 *	  the call; create_consumers.h declares its functions.
 */
#ifndef FANFARE_BATCH_H
#define FANFARE_BATCH_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "utils/uuid.h"

#include "json_value.h"

/* What the server adds to every row of the batch, and what it has staged. */
typedef struct BatchContext
{
	MemoryContext cxt;			/* where the arrays below live */
	pg_uuid_t	organization_id;
	char		organization_text[37];
	char	   *actor;
	TimestampTz created_at;
	char		created_at_text[32];
	/* the consumers staged so far, in input order */
	int			n;
	int			allocated;
	pg_uuid_t  *ids;			/* increasing */
	bool		ids_wanted;		/* false for a dry run */
	int			ids_given;		/* leading ids supplied by the caller */
	JsonValue  *elements;		/* the element each consumer came from */
	char	  **emails;			/* lower-cased; NULL when none */
	int		   *email_lens;
} BatchContext;

#endif							/* FANFARE_BATCH_H */
