/*
 * batch.h
 *	  One call of create_consumers: the values shared by its rows, the rows
 *	  staged for the INSERT, the response being written, and the emails.
 */
#ifndef BATCH_H
#define BATCH_H

#include "access/tupdesc.h"
#include "utils/tuplestore.h"

#include "validate.h"

/* What the server adds to every row of the batch. */
typedef struct BatchContext
{
	pg_uuid_t	organization_id;
	char		organization_text[37];
	char	   *actor;
	TimestampTz created_at;
	char		created_at_text[32];
	int			n;				/* consumers in the batch */
	pg_uuid_t  *ids;			/* one per consumer, increasing */
	const JsonbContainer *consumers;	/* the consumers array */
} BatchContext;

extern void batch_context_init(BatchContext *batch, const Jsonb *payload, bool make_ids);

/* ---- response.c: the 200 body, written in jsonb's binary form ---- */
typedef struct ResponseWriter
{
	StringInfoData buf;			/* a Jsonb datum under construction */
	int			n;				/* elements announced */
	int			count;			/* elements written */
	int			data_start;		/* where the array's element data starts */
} ResponseWriter;

extern void response_begin(ResponseWriter *w, int n);
extern void response_add(ResponseWriter *w, const BatchContext *batch,
						 const ConsumerValues *consumer, const Jsonb *metadata);
extern Jsonb *response_finish(ResponseWriter *w);

/* ---- consumer_insert.c: the rows, and the one INSERT ---- */
typedef struct StagedRows
{
	TupleDesc	desc;
	Tuplestorestate *store;
	Datum		status_active;	/* enum values of consumer_status */
	Datum		status_inactive;
	Datum		created_by;
	Datum		zero_numeric;
	bool		consumed;		/* handed to the INSERT */
} StagedRows;

extern void staged_rows_begin(StagedRows *rows, const BatchContext *batch);
extern void staged_rows_add(StagedRows *rows, const BatchContext *batch,
							const ConsumerValues *consumer, const Jsonb *metadata);
extern Jsonb *metadata_for_storage(const FieldValue *fv);
extern uint64 staged_rows_insert(StagedRows *rows);

/* ---- email_uniqueness.c: "Email already exists" ---- */
extern bool email_duplicates_in_batch(const BatchContext *batch, bool *duplicate);
extern void email_duplicates_stored(const BatchContext *batch, bool *duplicate);
extern void email_duplicates_not_inserted(const BatchContext *batch, bool *duplicate);
extern void email_duplicate_issues(const BatchContext *batch, const bool *duplicate,
								   IssueList *issues);

#endif							/* BATCH_H */
