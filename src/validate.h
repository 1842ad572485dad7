/*
 * validate.h
 *	  Walking a batch: every issue of every element, and the values of the
 *	  elements that pass.
 */
#ifndef VALIDATE_H
#define VALIDATE_H

#include "fanfare.h"
#include "issue_list.h"

/* A field of one consumer, as validated. */
typedef struct FieldValue
{
	bool		present;		/* key present with a non-null value */
	JsonbNode	node;			/* the value as sent */
	double		number;			/* numbers: as JSON.parse reads them */
	bool		short_form;		/* numbers: the sent digits read back the same */
	TimestampTz timestamp;		/* timestamps: the instant */
	double		latitude;		/* geo */
	double		longitude;
	JsonbNode	latitude_node;
	JsonbNode	longitude_node;
	bool		rebuild;		/* metadata: must be rewritten before storing */
} FieldValue;

/* One consumer that passed validation, in catalogue order. */
typedef struct ConsumerValues
{
	int			index;
	FieldValue	fields[FIELD_COUNT];
} ConsumerValues;

typedef void (*ConsumerSink) (void *arg, const ConsumerValues *consumer);

/*
 * Validate a body.  Issues go to *issues; while no issue has been found,
 * each consumer that passes is handed to sink (if not NULL).  Returns the
 * number of consumers (-1 when there is no consumers array).  The caller
 * must check issues->total before using what the sink received.
 */
extern int	batch_walk(const Jsonb *payload, IssueList *issues,
					   ConsumerSink sink, void *sink_arg);

/* JavaScript's view of records (metadata) */
extern bool is_prototype_key(const char *key, int len);
extern bool is_array_index_key(const char *key, int len);

/* called per entry; returns false to stop */
typedef bool (*RecordEntryFn) (void *arg, const char *key, int keylen,
							   const JsonbNode *value);
extern bool record_foreach(const JsonbNode *record, RecordEntryFn fn, void *arg);

/* JsonbNode lookup of an object key (binary search over the sorted keys). */
extern bool object_lookup(const JsonbContainer *c, const char *key, int keylen,
						  JsonbNode *value);

#endif							/* VALIDATE_H */
