/*
 * staged_rows.h
 *	  The rows of a batch, and the one INSERT (staged_rows.c).
 */
#ifndef FANFARE_STAGED_ROWS_H
#define FANFARE_STAGED_ROWS_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "batch.h"
#include "consumer_record.h"

typedef struct StagedRows
{
	TupleDesc	desc;
	Tuplestorestate *store;
	Datum		status_active;	/* enum values of consumer_status */
	Datum		status_inactive;
	Datum		created_by;
	Datum	   *defaults;		/* per field: its default as a column value */
	bool		consumed;		/* handed to the INSERT */
} StagedRows;

extern void staged_rows_begin(StagedRows *rows, const BatchContext *batch);
extern void staged_rows_add(StagedRows *rows, const BatchContext *batch,
							const ConsumerRecord *consumer, const Jsonb *metadata);
extern Jsonb *staged_rows_metadata(const ConsumerField *cf);
/*
 * Batches of at most this many rows whose caller raises when they fail go
 * in without a subtransaction (staged_rows.c): one row's subtransaction
 * costs about as much as sixteen rows' speculative insertions.
 */
#define STAGED_ROWS_SMALL_BATCH 16

extern bool staged_rows_insert(StagedRows *rows, int count, bool raises);

#endif							/* FANFARE_STAGED_ROWS_H */
