/*
 * validate.h
 *	  Walking a batch: every issue of every element, and the values of the
 *	  elements that pass.
 */
#ifndef VALIDATE_H
#define VALIDATE_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include "field_catalogue.h"
#include "issue_list.h"

/* A field of one consumer, as validated. */
typedef struct FieldValue
{
	bool		present;		/* key present with a non-null value */
	JsonValue	value;			/* the value as sent */
	double		number;			/* numbers: as JSON.parse reads them */
	TimestampTz timestamp;		/* timestamps: the instant */
	double		latitude;		/* geo */
	double		longitude;
	bool		rebuild;		/* metadata: its stored form is not the
								 * value itself (see staged_rows_metadata) */
} FieldValue;

/* One consumer that passed validation, in catalogue order. */
typedef struct ConsumerValues
{
	int			index;
	JsonValue	element;
	FieldValue	fields[FIELD_COUNT];
} ConsumerValues;

typedef void (*ConsumerSink) (void *arg, const ConsumerValues *consumer);

/*
 * Validate a body.  Issues go to *issues; while no issue has been found and
 * the batch is within fanfare.max_batch_size, each consumer that passes is
 * handed to sink (if not NULL), in a memory context reset after each one.
 * Returns the number of consumers (-1 when there is no consumers array).
 * The caller must check issues->total before using what the sink received.
 * The consumers array itself is returned in *consumers when there is one.
 */
extern int	validate_batch(const JsonValue *body, IssueList *issues,
						   ConsumerSink sink, void *sink_arg, JsonValue *consumers);

#endif							/* VALIDATE_H */
